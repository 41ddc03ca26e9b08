// generate.c — incremental decoding with a KV cache; see generate.h.
#include "infer/generate.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/linear.h"
#include "kernels/ops.h"
#include "model/block.h"
#include "base/util.h"
#include "base/vmath.h"

int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err) {
    memset(kv, 0, sizeof *kv);
    if (config_validate(c, "config", err) != 0) return -1;
    if (max_T < 1 || max_T > c->max_position_embeddings)
        return set_err(err, "KV cache of %d positions: must be in [1, max_position_embeddings = %d]", max_T,
                       c->max_position_embeddings);
    const size_t L = (size_t)c->num_hidden_layers, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t n = L * (size_t)max_T * KD, half = (size_t)c->head_dim / 2;
    float *k = NULL, *v = NULL;
    if (posix_memalign((void **)&k, 64, sizeof(float) * n) != 0 || posix_memalign((void **)&v, 64, sizeof(float) * n) != 0) {
        free(k);
        return set_err(err, "cannot allocate %.2f GB for a KV cache of %d positions", 8e-9 * (double)n, max_T);
    }
    kv->config = *c;
    kv->max_T = max_T;
    kv->k = k;
    kv->v = v;
    kv->rope_cos = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    kv->rope_sin = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    rope_config_tables(c, kv->rope_cos, kv->rope_sin, max_T);
    return 0;
}

void kvcache_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->rope_cos);
    free(kv->rope_sin);
    free(kv->scratch);
    memset(kv, 0, sizeof *kv);
}

// Scratch for n rows of activations, carved out of one allocation.
static void scratch_reserve(KVCache *kv, int n) {
    if (n <= kv->cap) return;
    const ModelConfig *c = &kv->config;
    const size_t C = c->hidden_size, F = c->intermediate_size, NH = c->num_attention_heads;
    const size_t QD = NH * c->head_dim, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t R = (size_t)n;
    const FloatPart parts[] = {
        {&kv->x, R * C}, {&kv->ln, R * C}, {&kv->q_raw, R * QD}, {&kv->q, R * QD}, {&kv->k_raw, R * KD},
        {&kv->att, R * QD}, {&kv->lse, R * NH}, {&kv->tmp, R * (C > F ? C : F)}, {&kv->gate, R * F},
        {&kv->up, R * F}, {&kv->h, R * F},
    };
    free(kv->scratch);
    kv->scratch = carve_floats(parts, sizeof parts / sizeof parts[0], NULL);
    kv->cap = n;
}

int generate_forward_logits(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                            float *logits, int all_rows, char *err) {
    const ModelConfig *c = &kv->config;
    if (n < 1) return set_err(err, "generate_forward: no tokens (n = %d)", n);
    if (pos < 0 || pos > kv->len)
        return set_err(err, "generate_forward: position %d is past the %d cached positions", pos, kv->len);
    if ((long)pos + n > c->max_position_embeddings)
        return set_err(err, "sequence of %ld tokens exceeds max_position_embeddings = %d", (long)pos + n,
                       c->max_position_embeddings);
    if (pos + n > kv->max_T)
        return set_err(err, "sequence of %d tokens exceeds the KV cache's %d positions", pos + n, kv->max_T);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return set_err(err, "token id %d is outside the vocabulary [0, %d)", (int)tokens[i], c->vocab_size);
    scratch_reserve(kv, n);

    const int C = c->hidden_size, HD = c->head_dim, L = c->num_hidden_layers;
    const int KD = c->num_key_value_heads * HD, half = HD / 2;
    embedding_lookup(kv->x, tokens, n, &w->embed);
    for (int l = 0; l < L; l++) {
        float *kl = kv->k + (size_t)l * kv->max_T * KD, *vl = kv->v + (size_t)l * kv->max_T * KD;
        // One layer's scratch; the new keys/values go straight into the
        // cache, the residual stream is updated in place, nothing is saved.
        BlockBufs b = {.ln1 = kv->ln, .q_raw = kv->q_raw, .k_raw = kv->k_raw, .q = kv->q,
                       .k = kl + (size_t)pos * KD, .v = vl + (size_t)pos * KD, .att = kv->att, .lse = kv->lse,
                       .mid = kv->x, .ln2 = kv->ln, .gate = kv->gate, .up = kv->up, .h = kv->h, .tmp = kv->tmp};
        const BlockCtx ctx = {.B = 1, .T = n, .pos = pos, .cos = kv->rope_cos + (size_t)pos * half,
                              .sin = kv->rope_sin + (size_t)pos * half, .k_all = kl, .v_all = vl};
        block_forward(c, &w->layers[l], kv->x, kv->x, &b, &ctx);
    }
    kv->len = pos + n;
    if (logits) {  // final norm and LM head on the rows asked for
        const int first = all_rows ? 0 : n - 1, rows = n - first;
        rmsnorm_forward(kv->ln, NULL, kv->x + (size_t)first * C, w->final_norm, rows, C, c->rms_norm_eps);
        linear_forward(logits, kv->ln, &w->lm_head, rows);
    }
    return 0;
}

int generate_forward(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err) {
    return generate_forward_logits(kv, w, tokens, n, pos, logits, 0, err);
}
