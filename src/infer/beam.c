// beam.c — see beam.h. Each step follows transformers' _beam_search
// (_get_top_k_continuations, _get_running_beams_for_next_iteration,
// _update_finished_beams, _check_early_stop_heuristic) in float32, the
// -1e9 penalties included, so the same candidates win.
#include "infer/beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "infer/decode.h"
#include "infer/generate.h"

#define PENALTY (-1.0e9f)

int beam_options_check(const BeamOptions *o, char *err) {
    if (o->num_beams < 2 || o->num_beams > KV_MAX_SEQS)
        return set_err(err, "--num-beams %d: beam search takes 2..%d beams (1 is greedy decoding)", o->num_beams,
                       KV_MAX_SEQS);
    if (o->num_return < 1 || o->num_return > o->num_beams)
        return set_err(err, "--num-return-sequences %d: must be in [1, num_beams = %d]", o->num_return, o->num_beams);
    if (o->max_tokens < 1) return set_err(err, "beam search needs --max-tokens >= 1");
    if (!isfinite(o->length_penalty)) return set_err(err, "--length-penalty must be a finite number");
    return 0;
}

// The k largest of x[0..n) into val/idx, best first; ties to the lower index.
static void topk(const float *x, size_t n, int k, float *val, int *idx) {
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        if (isnan(v) || (have == k && !(v > val[k - 1]))) continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && v > val[j - 1]) {
            val[j] = val[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        val[j] = v;
        idx[j] = (int)i;
    }
    for (; have < k; have++) {  // fewer than k candidates (NaNs): pad, never chosen
        val[have] = -INFINITY;
        idx[have] = 0;
    }
}

// In place: logits -> log-softmax (ids >= limit: -inf).
static void log_softmax(float *x, int V, int limit) {
    decode_mask_vocab(x, V, limit);
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
    const float lse = mx + (float)log(sum);
    for (int i = 0; i < V; i++) x[i] -= lse;
}

int beam_search(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const BeamOptions *o, BeamResult *r,
                char *err) {
    memset(r, 0, sizeof *r);
    if (beam_options_check(o, err)) return -1;
    const ModelConfig *c = &w->config;
    const int N = o->num_beams, V = c->vocab_size, K = (o->n_eos + 1 > 2 ? o->n_eos + 1 : 2) * N;
    if (decode_check_prompt(n_prompt, c->max_position_embeddings, err)) return -1;
    if (n_prompt == (size_t)c->max_position_embeddings)
        return set_err(err, "the prompt has %zu tokens: the model's max_position_embeddings (%d) leaves no room for "
                            "beams", n_prompt, c->max_position_embeddings);
    const int P = (int)n_prompt;
    // The generated length at which every continuation counts as finished.
    const int M = o->max_tokens < c->max_position_embeddings - P ? (int)o->max_tokens : c->max_position_embeddings - P;

    KVCache kv;  // a slot a beam
    if (kvcache_init_slots(&kv, c, P + M, N, err)) return -1;
    float *logits = xmalloc(sizeof(float) * (size_t)N * V);
    // Running and finished beams: M tokens each; the candidates' sequences.
    int32_t *run = xcalloc((size_t)N * M, sizeof(int32_t)), *fin = xcalloc((size_t)N * M, sizeof(int32_t));
    int32_t *cand = xcalloc((size_t)K * M, sizeof(int32_t)), *tmp = xcalloc((size_t)N * M, sizeof(int32_t));
    float *run_score = xmalloc(sizeof(float) * N), *fin_score = xmalloc(sizeof(float) * N);
    int *fin_len = xcalloc((size_t)N, sizeof(int)), *fin_done = xcalloc((size_t)N, sizeof(int));
    float *kval = xmalloc(sizeof(float) * K), *merged = xmalloc(sizeof(float) * (N + K));
    int *kidx = xmalloc(sizeof(int) * K), *hits = xmalloc(sizeof(int) * K), *sel = xmalloc(sizeof(int) * (N + K));
    int *src = xmalloc(sizeof(int) * N), *tmp_len = xmalloc(sizeof(int) * N), *tmp_done = xmalloc(sizeof(int) * N);
    float *tmp_score = xmalloc(sizeof(float) * N), *msel = xmalloc(sizeof(float) * (N + K));
    int32_t *next = xmalloc(sizeof(int32_t) * N);
    int slots[KV_MAX_SEQS];
    for (int b = 0; b < N; b++) {
        slots[b] = b;
        run_score[b] = b ? PENALTY : 0.0f;
        fin_score[b] = PENALTY;
    }
    int rc = 0, unsatisfied = 1;
    double t0 = now_seconds();
    if (generate_forward(&kv, w, prompt, P, 0, logits, err)) {
        rc = -1;
        goto done;
    }
    for (int b = 1; b < N; b++) kvcache_copy_slot(&kv, b, 0);
    r->t_prefill = now_seconds() - t0;
    for (int b = 1; b < N; b++) memcpy(logits + (size_t)b * V, logits, sizeof(float) * V);

    for (int cur = 0;; cur++) {  // cur: tokens generated so far by every running beam
        const double t_step = now_seconds();  // a step: selection, reorder, the N-row forward
        // Accumulated log-probabilities, flattened beam-major: N · V.
        for (int b = 0; b < N; b++) {
            float *lb = logits + (size_t)b * V;
            log_softmax(lb, V, o->vocab_limit);
            for (int v = 0; v < V; v++) lb[v] += run_score[b];
        }
        topk(logits, (size_t)N * V, K, kval, kidx);
        int all_hit = 1;
        for (int k = 0; k < K; k++) {
            const int b = kidx[k] / V;
            const int32_t t = kidx[k] % V;
            memcpy(cand + (size_t)k * M, run + (size_t)b * M, sizeof(int32_t) * cur);
            cand[(size_t)k * M + cur] = t;
            hits[k] = decode_is_eos(o->eos, o->n_eos, t) || cur + 1 >= M;
            all_hit &= hits[k];
        }
        // The next running beams: the best N that did not finish.
        for (int k = 0; k < K; k++) msel[k] = kval[k] + (hits[k] ? PENALTY : 0.0f);
        float *rs = merged;  // scratch: the running selection's scores
        int *ri = sel;
        topk(msel, (size_t)K, N, rs, ri);
        for (int b = 0; b < N; b++) {
            src[b] = kidx[ri[b]] / V;
            next[b] = cand[(size_t)ri[b] * M + cur];
            memcpy(tmp + (size_t)b * M, cand + (size_t)ri[b] * M, sizeof(int32_t) * (cur + 1));
            tmp_score[b] = rs[b];
        }
        memcpy(run, tmp, sizeof(int32_t) * (size_t)N * M);
        memcpy(run_score, tmp_score, sizeof(float) * N);

        // The finished set: the best N of the old set and the top-N
        // candidates that just finished.
        int all_done = 1;
        for (int b = 0; b < N; b++) all_done &= fin_done[b];
        const float norm = (float)pow((double)(cur + 1), (double)o->length_penalty);
        for (int b = 0; b < N; b++) merged[b] = fin_score[b];
        for (int k = 0; k < K; k++) {
            float s = kval[k] / norm;
            if (all_done && o->early_stopping == BEAM_EARLY_TRUE) s += PENALTY;
            if (!unsatisfied) s += PENALTY;
            if (!(hits[k] && k < N)) s += PENALTY;
            merged[N + k] = s;
        }
        topk(merged, (size_t)(N + K), N, msel, sel);
        for (int b = 0; b < N; b++) {
            const int j = sel[b];
            tmp_score[b] = msel[b];
            if (j < N) {
                memcpy(tmp + (size_t)b * M, fin + (size_t)j * M, sizeof(int32_t) * fin_len[j]);
                tmp_len[b] = fin_len[j];
                tmp_done[b] = fin_done[j];
            } else {
                memcpy(tmp + (size_t)b * M, cand + (size_t)(j - N) * M, sizeof(int32_t) * (cur + 1));
                tmp_len[b] = cur + 1;
                tmp_done[b] = hits[j - N] && j - N < N;
            }
        }
        memcpy(fin, tmp, sizeof(int32_t) * (size_t)N * M);
        memcpy(fin_score, tmp_score, sizeof(float) * N);
        memcpy(fin_len, tmp_len, sizeof(int) * N);
        memcpy(fin_done, tmp_done, sizeof(int) * N);

        // Whether the search goes on.
        const int len = cur + 1;
        const double best_len = o->early_stopping == BEAM_EARLY_NEVER && o->length_penalty > 0.0f ? M : len;
        const float best = run_score[0] / (float)pow(best_len, (double)o->length_penalty);
        float worst = fin_score[0];
        all_done = 1;
        for (int b = 0; b < N; b++) {
            worst = fin_score[b] < worst ? fin_score[b] : worst;
            all_done &= fin_done[b];
        }
        int improvable = 0;
        for (int b = 0; b < N; b++) improvable |= best > (fin_done[b] ? worst : PENALTY);
        unsatisfied &= improvable;
        if (!unsatisfied || (all_done && o->early_stopping == BEAM_EARLY_TRUE) || all_hit) break;

        kvcache_reorder(&kv, src);
        if (generate_forward_rows(&kv, w, slots, next, N, logits, err)) {
            rc = -1;
            goto done;
        }
        r->t_decode += now_seconds() - t_step;
        r->n_steps++;
    }

    r->n_hyp = o->num_return;
    r->hyp = xcalloc((size_t)r->n_hyp, sizeof(BeamHyp));
    for (int i = 0; i < r->n_hyp; i++) {
        BeamHyp *h = &r->hyp[i];
        const int32_t *s = fin + (size_t)i * M;
        h->n = fin_len[i];
        h->eos = h->n > 0 && decode_is_eos(o->eos, o->n_eos, s[h->n - 1]);
        h->n -= h->eos;
        h->ids = xmalloc(sizeof(int32_t) * (size_t)(h->n > 0 ? h->n : 1));
        memcpy(h->ids, s, sizeof(int32_t) * (size_t)h->n);
        h->score = fin_score[i];
    }
done:
    free(logits); free(run); free(fin); free(cand); free(tmp);
    free(run_score); free(fin_score); free(fin_len); free(fin_done);
    free(kval); free(merged); free(kidx); free(hits); free(sel); free(src);
    free(tmp_len); free(tmp_done); free(tmp_score); free(msel); free(next);
    kvcache_free(&kv);
    return rc;
}

void beam_result_free(BeamResult *r) {
    for (int i = 0; i < r->n_hyp; i++) free(r->hyp[i].ids);
    free(r->hyp);
    memset(r, 0, sizeof *r);
}
