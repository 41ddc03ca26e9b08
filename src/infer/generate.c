// generate.c — incremental decoding with a KV cache; see generate.h.
#include "infer/generate.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/vmath.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "model/block.h"

int kvcache_init_seqs(KVCache *kv, const ModelConfig *c, int max_T, int n_seq, char *err) {
    memset(kv, 0, sizeof *kv);
    if (config_validate(c, "config", err) != 0) return -1;
    if (max_T < 1 || max_T > c->max_position_embeddings)
        return set_err(err, "KV cache of %d positions: must be in [1, max_position_embeddings = %d]", max_T,
                       c->max_position_embeddings);
    if (n_seq < 1 || n_seq > KV_MAX_SEQS)
        return set_err(err, "KV cache of %d sequences: must be in [1, %d]", n_seq, KV_MAX_SEQS);
    const size_t L = (size_t)c->num_hidden_layers, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t n = L * (size_t)max_T * (size_t)n_seq * KD, half = (size_t)c->head_dim / 2;
    float *k = NULL, *v = NULL;
    if (posix_memalign((void **)&k, 64, sizeof(float) * n) != 0 || posix_memalign((void **)&v, 64, sizeof(float) * n) != 0) {
        free(k);
        return set_err(err, "cannot allocate %.2f GB for a KV cache of %d positions x %d sequences", 8e-9 * (double)n,
                       max_T, n_seq);
    }
    kv->config = *c;
    kv->max_T = max_T;
    kv->n_seq = n_seq;
    kv->k = k;
    kv->v = v;
    kv->rope_cos = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    kv->rope_sin = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    rope_config_tables(c, kv->rope_cos, kv->rope_sin, max_T);
    return 0;
}

int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err) {
    return kvcache_init_seqs(kv, c, max_T, 1, err);
}

void kvcache_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->rope_cos);
    free(kv->rope_sin);
    free(kv->scratch);
    memset(kv, 0, sizeof *kv);
}

// Floats of one position (all sequences) and of one layer.
static size_t kv_pos_floats(const KVCache *kv) {
    return (size_t)kv->n_seq * kv->config.num_key_value_heads * kv->config.head_dim;
}
static size_t kv_layer_floats(const KVCache *kv) { return (size_t)kv->max_T * kv_pos_floats(kv); }

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
        {&kv->up, R * F}, {&kv->h, R * F}, {&kv->row_cos, R * (size_t)c->head_dim},  // cos then sin, R x HD/2 each
    };
    free(kv->scratch);
    kv->scratch = carve_floats(parts, sizeof parts / sizeof parts[0], NULL);
    kv->cap = n;
}

static int check_tokens(const ModelConfig *c, const int32_t *tokens, int n, char *err) {
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return set_err(err, "token id %d is outside the vocabulary [0, %d)", (int)tokens[i], c->vocab_size);
    return 0;
}

// The layers over n rows whose keys/values land at cache position pos (and
// on), then the final norm and LM head on rows [first, n) into logits.
// rows_cos/sin: the RoPE tables of the rows; parent, n_seq: see BlockCtx.
static void forward_rows(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                         const float *rows_cos, const float *rows_sin, const int *parent, int node0, float *logits,
                         int first) {
    const ModelConfig *c = &kv->config;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    const size_t P = kv_pos_floats(kv);
    const int S = kv->n_seq;
    // A prefill from position 0 runs the tiled whole-sequence attention.
    const int fresh = pos == 0 && !parent && S == 1;
    embedding_lookup(kv->x, tokens, n, &w->embed);
    for (int l = 0; l < L; l++) {
        float *kl = kv->k + (size_t)l * kv_layer_floats(kv), *vl = kv->v + (size_t)l * kv_layer_floats(kv);
        // One layer's scratch; the new keys/values go straight into the
        // cache, the residual stream is updated in place, nothing is saved.
        BlockBufs b = {.ln1 = kv->ln, .q_raw = kv->q_raw, .k_raw = kv->k_raw, .q = kv->q,
                       .k = kl + (size_t)(pos + node0) * P, .v = vl + (size_t)(pos + node0) * P, .att = kv->att, .lse = kv->lse,
                       .mid = kv->x, .ln2 = kv->ln, .gate = kv->gate, .up = kv->up, .h = kv->h, .tmp = kv->tmp};
        const BlockCtx ctx = {.B = S, .T = S > 1 ? 1 : n, .pos = pos, .cos = rows_cos, .sin = rows_sin,
                              .k_all = fresh ? NULL : kl, .v_all = fresh ? NULL : vl, .parent = parent, .first = node0,
                              .n_seq = S};
        block_forward(c, &w->layers[l], kv->x, kv->x, &b, &ctx);
    }
    if (logits && first < n) {
        const int rows = n - first;
        rmsnorm_forward(kv->ln, NULL, kv->x + (size_t)first * C, w->final_norm, rows, C, c->rms_norm_eps);
        linear_forward(logits, kv->ln, &w->lm_head, rows);
    }
}

int generate_forward_logits(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                            float *logits, int all_rows, char *err) {
    const ModelConfig *c = &kv->config;
    if (kv->n_seq != 1) return set_err(err, "generate_forward: the cache holds %d sequences", kv->n_seq);
    if (n < 1) return set_err(err, "generate_forward: no tokens (n = %d)", n);
    if (pos < 0 || pos > kv->len)
        return set_err(err, "generate_forward: position %d is past the %d cached positions", pos, kv->len);
    if ((long)pos + n > c->max_position_embeddings)
        return set_err(err, "sequence of %ld tokens exceeds max_position_embeddings = %d", (long)pos + n,
                       c->max_position_embeddings);
    if (pos + n > kv->max_T)
        return set_err(err, "sequence of %d tokens exceeds the KV cache's %d positions", pos + n, kv->max_T);
    if (check_tokens(c, tokens, n, err)) return -1;
    scratch_reserve(kv, n);
    const size_t half = (size_t)c->head_dim / 2;
    forward_rows(kv, w, tokens, n, pos, kv->rope_cos + (size_t)pos * half, kv->rope_sin + (size_t)pos * half, NULL, 0,
                 logits, all_rows ? 0 : n - 1);
    kv->len = pos + n;
    return 0;
}

int generate_forward(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err) {
    return generate_forward_logits(kv, w, tokens, n, pos, logits, 0, err);
}

int generate_forward_tree(KVCache *kv, const ModelWeights *w, const int32_t *tokens, const int *parent, int n,
                          int first, float *logits, char *err) {
    const ModelConfig *c = &kv->config;
    const int pos = kv->len, m = n - first;
    if (kv->n_seq != 1) return set_err(err, "generate_forward_tree: the cache holds %d sequences", kv->n_seq);
    if (first < 0 || m < 1) return set_err(err, "generate_forward_tree: no new nodes (%d of %d)", m, n);
    if (pos < 1) return set_err(err, "generate_forward_tree: nothing is cached yet (prefill first)");
    if (pos + n > kv->max_T)
        return set_err(err, "a tree of %d nodes after %d positions exceeds the KV cache's %d", n, pos, kv->max_T);
    for (int i = 0; i < n; i++)
        if (parent[i] < -1 || parent[i] >= i)
            return set_err(err, "draft tree: node %d has parent %d (must be -1 or an earlier node)", i, parent[i]);
    if (check_tokens(c, tokens + first, m, err)) return -1;
    scratch_reserve(kv, m);
    // Node i sits at cache slot pos + i and at RoPE position pos + depth(i).
    const size_t half = (size_t)c->head_dim / 2;
    float *cos_r = kv->row_cos, *sin_r = kv->row_cos + (size_t)m * half;
    for (int i = 0; i < m; i++) {
        int depth = 0;
        for (int a = parent[first + i]; a >= 0; a = parent[a]) depth++;
        memcpy(cos_r + (size_t)i * half, kv->rope_cos + (size_t)(pos + depth) * half, sizeof(float) * half);
        memcpy(sin_r + (size_t)i * half, kv->rope_sin + (size_t)(pos + depth) * half, sizeof(float) * half);
    }
    forward_rows(kv, w, tokens + first, m, pos, cos_r, sin_r, parent, first, logits, 0);
    return 0;
}

void kvcache_commit_path(KVCache *kv, const int *path, int m) {
    const size_t P = kv_pos_floats(kv), LF = kv_layer_floats(kv);
    for (int l = 0; l < kv->config.num_hidden_layers; l++)
        for (int d = 0; d < m; d++) {
            if (path[d] == d) continue;
            const size_t dst = (size_t)l * LF + (size_t)(kv->len + d) * P, src = (size_t)l * LF + (size_t)(kv->len + path[d]) * P;
            memmove(kv->k + dst, kv->k + src, sizeof(float) * P);
            memmove(kv->v + dst, kv->v + src, sizeof(float) * P);
        }
    kv->len += m;
}

int generate_forward_seqs(KVCache *kv, const ModelWeights *w, const int32_t *tokens, float *logits, char *err) {
    const ModelConfig *c = &kv->config;
    const int pos = kv->len, S = kv->n_seq;
    if (pos + 1 > kv->max_T) return set_err(err, "the KV cache's %d positions are full", kv->max_T);
    if (check_tokens(c, tokens, S, err)) return -1;
    scratch_reserve(kv, S);
    const size_t half = (size_t)c->head_dim / 2;
    forward_rows(kv, w, tokens, S, pos, kv->rope_cos + (size_t)pos * half, kv->rope_sin + (size_t)pos * half, NULL, 0,
                 logits, 0);
    kv->len = pos + 1;
    return 0;
}

void kvcache_reorder(KVCache *kv, const int *src) {
    const int S = kv->n_seq;
    const size_t KD = (size_t)kv->config.num_key_value_heads * kv->config.head_dim, P = kv_pos_floats(kv);
    int moved = 0;
    for (int s = 0; s < S; s++) moved |= src[s] != s;
    if (!moved) return;
    float *tmp = xmalloc(sizeof(float) * P);
    float *planes[2] = {kv->k, kv->v};
    for (int pl = 0; pl < 2; pl++)
        for (int l = 0; l < kv->config.num_hidden_layers; l++)
            for (int p = 0; p < kv->len; p++) {
                float *row = planes[pl] + (size_t)l * kv_layer_floats(kv) + (size_t)p * P;
                for (int s = 0; s < S; s++) memcpy(tmp + (size_t)s * KD, row + (size_t)src[s] * KD, sizeof(float) * KD);
                memcpy(row, tmp, sizeof(float) * P);
            }
    free(tmp);
}

int kvcache_broadcast(KVCache *dst, const KVCache *src, char *err) {
    if (src->n_seq != 1 || src->len > dst->max_T)
        return set_err(err, "kvcache_broadcast: %d positions of %d sequences into a cache of %d", src->len, src->n_seq,
                       dst->max_T);
    const size_t KD = (size_t)dst->config.num_key_value_heads * dst->config.head_dim;
    for (int l = 0; l < dst->config.num_hidden_layers; l++)
        for (int p = 0; p < src->len; p++)
            for (int s = 0; s < dst->n_seq; s++) {
                const size_t so = (size_t)l * kv_layer_floats(src) + (size_t)p * KD;
                const size_t d = (size_t)l * kv_layer_floats(dst) + ((size_t)p * dst->n_seq + s) * KD;
                memcpy(dst->k + d, src->k + so, sizeof(float) * KD);
                memcpy(dst->v + d, src->v + so, sizeof(float) * KD);
            }
    dst->len = src->len;
    return 0;
}
