// eval.c — perplexity over non-overlapping windows; see eval.h.
#include "model/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/forward.h"

int eval_perplexity(const ModelWeights *w, const int32_t *ids, size_t n, int seq_len, int batch, size_t max_tokens,
                    int progress, EvalResult *r, char *err) {
    memset(r, 0, sizeof *r);
    const ModelConfig *c = &w->config;
    if (seq_len < 1 || batch < 1) return set_err(err, "seq-len and batch-size must be at least 1");
    if (seq_len > c->max_position_embeddings)
        return set_err(err, "seq-len %d exceeds the model's max_position_embeddings %d", seq_len,
                       c->max_position_embeddings);
    if (max_tokens > 0 && n > max_tokens + 1) n = max_tokens + 1;
    if (n < 2) return set_err(err, "the data has %zu token(s); at least 2 are needed to score one", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return set_err(err, "token %zu has id %d, outside the model's vocabulary (vocab_size %d): "
                           "model and tokenizer do not match", i, ids[i], c->vocab_size);

    const size_t T = (size_t)seq_len, n_pred = n - 1;
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)batch * T), *y = xmalloc(sizeof(int32_t) * (size_t)batch * T);
    Workspace ws;
    workspace_init(&ws, c);
    Progress bar;
    if (progress) progress_init(&bar, "eval", "tok", (double)n_pred);
    double t0 = now_seconds();
    size_t pos = 0;  // first input position of the next window
    while (pos < n_pred) {
        // A batch of full windows, or one final short window.
        size_t left = n_pred - pos;
        int b = left >= T ? (int)(left / T < (size_t)batch ? left / T : (size_t)batch) : 1;
        size_t t = left >= T ? T : left;
        for (int i = 0; i < b; i++) {
            memcpy(x + (size_t)i * t, ids + pos + (size_t)i * t, sizeof(int32_t) * t);
            memcpy(y + (size_t)i * t, ids + pos + (size_t)i * t + 1, sizeof(int32_t) * t);
        }
        size_t counted = 0;
        double mean = forward_loss(&ws, w, x, y, b, (int)t, 0, NULL, &counted);
        if (!isfinite(mean)) {
            free(x); free(y);
            workspace_free(&ws);
            return set_err(err, "the loss is not finite (%g) in the window at token %zu", mean, pos);
        }
        r->nll_sum += mean * (double)counted;
        r->n_predicted += counted;
        r->n_windows += (size_t)b;
        pos += (size_t)b * t;
        if (progress) progress_update(&bar, (double)pos);
    }
    if (progress) progress_finish(&bar, (double)pos);
    r->seconds = now_seconds() - t0;
    r->ppl = exp(r->nll_sum / (double)r->n_predicted);
    free(x);
    free(y);
    workspace_free(&ws);
    return 0;
}
