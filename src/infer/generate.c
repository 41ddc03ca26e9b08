// generate.c — incremental decoding with a KV cache; see generate.h.
#include "infer/generate.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/prof.h"
#include "base/util.h"
#include "base/vmath.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "model/block.h"

int kvcache_init_slots(KVCache *kv, const ModelConfig *c, int max_T, int n_slots, char *err) {
    memset(kv, 0, sizeof *kv);
    if (config_validate(c, "config", err) != 0) return -1;
    if (max_T < 1 || max_T > c->max_position_embeddings)
        return set_err(err, "KV cache of %d positions: must be in [1, max_position_embeddings = %d]", max_T,
                       c->max_position_embeddings);
    if (n_slots < 1 || n_slots > KV_MAX_SEQS)
        return set_err(err, "KV cache of %d sequences: must be in [1, %d]", n_slots, KV_MAX_SEQS);
    const size_t L = (size_t)c->num_hidden_layers, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t n = L * (size_t)max_T * (size_t)n_slots * KD, half = (size_t)c->head_dim / 2;
    float *k = NULL, *v = NULL;
    if (posix_memalign((void **)&k, 64, sizeof(float) * n) != 0 || posix_memalign((void **)&v, 64, sizeof(float) * n) != 0) {
        free(k);
        return set_err(err, "cannot allocate %.2f GB for a KV cache of %d positions x %d sequences", 8e-9 * (double)n,
                       max_T, n_slots);
    }
    kv->config = *c;
    kv->max_T = max_T;
    kv->n_slots = n_slots;
    kv->k = k;
    kv->v = v;
    kv->rope_cos = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    kv->rope_sin = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    rope_config_tables(c, kv->rope_cos, kv->rope_sin, max_T);
    return 0;
}

int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err) {
    return kvcache_init_slots(kv, c, max_T, 1, err);
}

void kvcache_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->rope_cos);
    free(kv->rope_sin);
    free(kv->scratch);
    memset(kv, 0, sizeof *kv);
}

int kvcache_set_taps(KVCache *kv, const int *taps, int n, char *err) {
    if (n < 0 || n > KV_MAX_TAPS) return set_err(err, "%d tapped layers: must be in [0, %d]", n, KV_MAX_TAPS);
    for (int t = 0; t < n; t++)
        if (taps[t] < 0 || taps[t] >= kv->config.num_hidden_layers)
            return set_err(err, "tapped layer %d: the model has layers 0..%d", taps[t], kv->config.num_hidden_layers - 1);
    if (n) memcpy(kv->taps, taps, sizeof(int) * (size_t)n);
    kv->n_taps = n;
    kv->cap = 0;  // the scratch is carved again with room for the taps
    return 0;
}

void kvcache_reset(KVCache *kv) { memset(kv->len, 0, sizeof kv->len); }

// Floats of one position, of one slot and of one layer.
static size_t kv_pos_floats(const KVCache *kv) {
    return (size_t)kv->config.num_key_value_heads * kv->config.head_dim;
}
static size_t kv_slot_floats(const KVCache *kv) { return (size_t)kv->max_T * kv_pos_floats(kv); }
static size_t kv_layer_floats(const KVCache *kv) { return (size_t)kv->n_slots * kv_slot_floats(kv); }
// Where position p of slot s of layer l starts, in kv->k or kv->v.
static size_t kv_at(const KVCache *kv, int l, int s, int p) {
    return (size_t)l * kv_layer_floats(kv) + (size_t)s * kv_slot_floats(kv) + (size_t)p * kv_pos_floats(kv);
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
        {&kv->up, R * F}, {&kv->h, R * F}, {&kv->k_new, R * KD}, {&kv->v_new, R * KD},
        {&kv->row_cos, R * (size_t)c->head_dim},  // cos then sin, R x HD/2 each
        {&kv->tap_rows, R * (size_t)kv->n_taps * C},
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

// Where n rows go: one slot at positions pos.. (a causal run, or the nodes
// node0.. of a draft tree with parent), or (row_slot) one row each of
// several slots at their own positions.
typedef struct {
    int slot, pos;
    const int *parent;
    int node0;
    const int *row_slot, *row_pos;
} RowPlace;

// The layers over n rows placed as `at`, then the final norm and LM head on
// rows [first, n) into logits. rows_cos/sin: the RoPE tables of the rows.
static void forward_rows(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, const RowPlace *at,
                         const float *rows_cos, const float *rows_sin, float *logits, int first) {
    const ModelConfig *c = &kv->config;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    const size_t P = kv_pos_floats(kv);
    // A prefill from position 0 runs the tiled whole-sequence attention.
    const int fresh = at->pos == 0 && !at->parent && !at->row_slot;
    double t = prof_start();
    embedding_lookup(kv->x, tokens, n, &w->embed);
    prof_lap(PROF_EMBED, &t);
    for (int l = 0; l < L; l++) {
        // One layer's scratch; the new keys/values go straight into the
        // cache (rows of several slots: into k_new / v_new, stored after the
        // layer), the residual stream is updated in place, nothing is saved.
        const size_t base = kv_at(kv, l, at->row_slot ? 0 : at->slot, 0), row0 = (size_t)(at->pos + at->node0) * P;
        BlockBufs b = {.ln1 = kv->ln, .q_raw = kv->q_raw, .k_raw = kv->k_raw, .q = kv->q,
                       .k = at->row_slot ? kv->k_new : kv->k + base + row0,
                       .v = at->row_slot ? kv->v_new : kv->v + base + row0, .att = kv->att, .lse = kv->lse,
                       .mid = kv->x, .ln2 = kv->ln, .gate = kv->gate, .up = kv->up, .h = kv->h, .tmp = kv->tmp};
        const BlockCtx ctx = {.B = 1, .T = n, .pos = at->pos, .cos = rows_cos, .sin = rows_sin,
                              .k_all = fresh ? NULL : kv->k + base, .v_all = fresh ? NULL : kv->v + base,
                              .parent = at->parent, .first = at->node0, .row_slot = at->row_slot,
                              .row_pos = at->row_pos, .slot_stride = kv_slot_floats(kv)};
        block_forward(c, &w->layers[l], kv->x, kv->x, &b, &ctx);
        for (int tp = 0; tp < kv->n_taps; tp++)
            if (kv->taps[tp] == l)
                for (int i = 0; i < n; i++)
                    memcpy(kv->tap_rows + ((size_t)i * kv->n_taps + tp) * C, kv->x + (size_t)i * C, sizeof(float) * C);
        if (at->row_slot)
            for (int i = 0; i < n; i++) {
                const size_t dst = kv_at(kv, l, at->row_slot[i], at->row_pos[i]);
                memcpy(kv->k + dst, kv->k_new + (size_t)i * P, sizeof(float) * P);
                memcpy(kv->v + dst, kv->v_new + (size_t)i * P, sizeof(float) * P);
            }
    }
    if (logits && first < n) {
        const int rows = n - first;
        t = prof_start();
        rmsnorm_forward(kv->ln, NULL, kv->x + (size_t)first * C, w->final_norm, rows, C, c->rms_norm_eps);
        prof_lap(PROF_NORM, &t);
        linear_forward(logits, kv->ln, &w->lm_head, rows);
        prof_lap(PROF_HEAD, &t);
    }
}

int generate_forward_slot(KVCache *kv, const ModelWeights *w, int slot, const int32_t *tokens, int n, int pos,
                          float *logits, int all_rows, char *err) {
    const ModelConfig *c = &kv->config;
    if (slot < 0 || slot >= kv->n_slots)
        return set_err(err, "generate_forward: slot %d of a cache of %d", slot, kv->n_slots);
    if (n < 1) return set_err(err, "generate_forward: no tokens (n = %d)", n);
    if (pos < 0 || pos > kv->len[slot])
        return set_err(err, "generate_forward: position %d is past the %d cached positions", pos, kv->len[slot]);
    if ((long)pos + n > c->max_position_embeddings)
        return set_err(err, "sequence of %ld tokens exceeds max_position_embeddings = %d", (long)pos + n,
                       c->max_position_embeddings);
    if (pos + n > kv->max_T)
        return set_err(err, "sequence of %d tokens exceeds the KV cache's %d positions", pos + n, kv->max_T);
    if (check_tokens(c, tokens, n, err)) return -1;
    scratch_reserve(kv, n);
    const size_t half = (size_t)c->head_dim / 2;
    const RowPlace at = {.slot = slot, .pos = pos};
    forward_rows(kv, w, tokens, n, &at, kv->rope_cos + (size_t)pos * half, kv->rope_sin + (size_t)pos * half, logits,
                 all_rows ? 0 : n - 1);
    kv->len[slot] = pos + n;
    return 0;
}

int generate_forward_logits(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                            float *logits, int all_rows, char *err) {
    return generate_forward_slot(kv, w, 0, tokens, n, pos, logits, all_rows, err);
}

int generate_forward(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err) {
    return generate_forward_slot(kv, w, 0, tokens, n, pos, logits, 0, err);
}

int generate_forward_tree(KVCache *kv, const ModelWeights *w, const int32_t *tokens, const int *parent, int n,
                          int first, float *logits, char *err) {
    const ModelConfig *c = &kv->config;
    const int pos = kv->len[0], m = n - first;
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
    const RowPlace at = {.slot = 0, .pos = pos, .parent = parent, .node0 = first};
    forward_rows(kv, w, tokens + first, m, &at, cos_r, sin_r, logits, 0);
    return 0;
}

void kvcache_commit_path(KVCache *kv, const int *path, int m) {
    const size_t P = kv_pos_floats(kv);
    const int len = kv->len[0];
    for (int l = 0; l < kv->config.num_hidden_layers; l++)
        for (int d = 0; d < m; d++) {
            if (path[d] == d) continue;
            const size_t dst = kv_at(kv, l, 0, len + d), src = kv_at(kv, l, 0, len + path[d]);
            memmove(kv->k + dst, kv->k + src, sizeof(float) * P);
            memmove(kv->v + dst, kv->v + src, sizeof(float) * P);
        }
    kv->len[0] += m;
}

int generate_forward_rows(KVCache *kv, const ModelWeights *w, const int *slots, const int32_t *tokens, int n,
                          float *logits, char *err) {
    const ModelConfig *c = &kv->config;
    if (n < 1 || n > kv->n_slots) return set_err(err, "generate_forward_rows: %d rows for %d slots", n, kv->n_slots);
    int pos[KV_MAX_SEQS], seen[KV_MAX_SEQS] = {0};
    for (int i = 0; i < n; i++) {
        const int s = slots[i];
        if (s < 0 || s >= kv->n_slots || seen[s]++)
            return set_err(err, "generate_forward_rows: slot %d is outside [0, %d) or repeated", s, kv->n_slots);
        pos[i] = kv->len[s];
        if (pos[i] + 1 > kv->max_T) return set_err(err, "the KV cache's %d positions are full", kv->max_T);
    }
    if (check_tokens(c, tokens, n, err)) return -1;
    scratch_reserve(kv, n);
    const size_t half = (size_t)c->head_dim / 2;
    float *cos_r = kv->row_cos, *sin_r = kv->row_cos + (size_t)n * half;
    for (int i = 0; i < n; i++) {
        memcpy(cos_r + (size_t)i * half, kv->rope_cos + (size_t)pos[i] * half, sizeof(float) * half);
        memcpy(sin_r + (size_t)i * half, kv->rope_sin + (size_t)pos[i] * half, sizeof(float) * half);
    }
    const RowPlace at = {.row_slot = slots, .row_pos = pos};
    forward_rows(kv, w, tokens, n, &at, cos_r, sin_r, logits, 0);
    for (int i = 0; i < n; i++) kv->len[slots[i]]++;
    return 0;
}

void kvcache_reorder(KVCache *kv, const int *src) {
    const int S = kv->n_slots;
    int moved = 0, most = 0;
    for (int s = 0; s < S; s++) {
        moved |= src[s] != s;
        most = kv->len[src[s]] > most ? kv->len[src[s]] : most;
    }
    if (!moved) return;
    // Each layer's slots through one copy: a slot may be read after another
    // slot took its place.
    const size_t P = kv_pos_floats(kv);
    float *tmp = xmalloc(sizeof(float) * (size_t)S * most * P + 1);
    int len[KV_MAX_SEQS];
    for (int s = 0; s < S; s++) len[s] = kv->len[src[s]];
    float *planes[2] = {kv->k, kv->v};
    for (int pl = 0; pl < 2; pl++)
        for (int l = 0; l < kv->config.num_hidden_layers; l++) {
            for (int s = 0; s < S; s++)
                memcpy(tmp + (size_t)s * most * P, planes[pl] + kv_at(kv, l, src[s], 0), sizeof(float) * len[s] * P);
            for (int s = 0; s < S; s++)
                memcpy(planes[pl] + kv_at(kv, l, s, 0), tmp + (size_t)s * most * P, sizeof(float) * len[s] * P);
        }
    memcpy(kv->len, len, sizeof(int) * S);
    free(tmp);
}

void kvcache_copy_slot(KVCache *kv, int dst, int src) {
    if (dst == src) return;
    const size_t n = (size_t)kv->len[src] * kv_pos_floats(kv);
    for (int l = 0; l < kv->config.num_hidden_layers; l++) {
        memcpy(kv->k + kv_at(kv, l, dst, 0), kv->k + kv_at(kv, l, src, 0), sizeof(float) * n);
        memcpy(kv->v + kv_at(kv, l, dst, 0), kv->v + kv_at(kv, l, src, 0), sizeof(float) * n);
    }
    kv->len[dst] = kv->len[src];
}
