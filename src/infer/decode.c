// decode.c — see decode.h.
#include "infer/decode.h"

#include <math.h>
#include <stdlib.h>

#include "base/util.h"
#include "infer/generate.h"
#include "infer/sample.h"

int decode_is_eos(const int32_t *eos, int n, int32_t t) {
    for (int i = 0; i < n; i++)
        if (eos[i] == t) return 1;
    return 0;
}

void decode_mask_vocab(float *logits, int V, int limit) {
    if (limit > 0)
        for (int i = limit; i < V; i++) logits[i] = -INFINITY;
}

int decode_generate(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o, DecodeTokenFn fn,
                    void *user, DecodeStats *st, char *err) {
    const ModelConfig *c = &w->config;
    const int V = c->vocab_size;
    *st = (DecodeStats){.n_prompt = n_prompt, .stop = "max-tokens"};
    if (n_prompt == 0) return set_err(err, "the prompt encodes to no tokens");
    if (n_prompt > (size_t)c->max_position_embeddings)
        return set_err(err, "the prompt has %zu tokens; the model's max_position_embeddings is %d", n_prompt,
                       c->max_position_embeddings);
    // The cache holds the prompt and every generated token but the last
    // (which is never fed back), up to the model's context.
    long want = (long)n_prompt + (o->max_tokens > 0 ? o->max_tokens - 1 : 0);
    int max_T = want < c->max_position_embeddings ? (int)want : c->max_position_embeddings;
    KVCache kv;
    Sampler sm;
    if (kvcache_init(&kv, c, max_T, err)) return -1;
    if (sampler_init(&sm, V, o->temperature, o->top_k, o->top_p, o->seed, err)) {
        kvcache_free(&kv);
        return -1;
    }
    float *logits = xmalloc(sizeof(float) * (size_t)V);
    int rc = 0;
    double t0 = now_seconds();
    if (generate_forward(&kv, w, prompt, (int)n_prompt, 0, logits, err)) { rc = -1; goto done; }
    st->t_prefill = now_seconds() - t0;

    const double t_start = now_seconds();
    int pos = (int)n_prompt;
    while (st->n_generated < o->max_tokens) {
        decode_mask_vocab(logits, V, o->vocab_limit);
        int32_t next = sampler_sample(&sm, logits);
        if (decode_is_eos(o->eos, o->n_eos, next)) { st->stop = "eos"; break; }
        st->n_generated++;
        if (fn && fn(next, user)) { st->stop = "callback"; break; }
        if (st->n_generated == o->max_tokens) break;
        if (pos >= c->max_position_embeddings) { st->stop = "context full (max_position_embeddings)"; break; }
        t0 = now_seconds();
        if (generate_forward(&kv, w, &next, 1, pos, logits, err)) { rc = -1; goto done; }
        st->t_decode += now_seconds() - t0;
        st->n_steps++;
        pos++;
    }
    st->t_total = now_seconds() - t_start;
done:
    free(logits);
    sampler_free(&sm);
    kvcache_free(&kv);
    return rc;
}
