// generate.h — incremental decoding of the model (Qwen3 or Llama) with a KV cache.
//
// The cache keeps, for every layer, the keys (after k_norm and RoPE) and the
// values of every position seen so far. generate_forward() runs the model on
// n new tokens at positions pos..pos+n-1: the projections and the MLP of the
// n rows are batched GEMMs (prefill: n = prompt length; decode: n = 1), the
// attention reads the cached keys/values of positions 0..pos-1 plus the new
// block (causal inside it). Only the last position's logits are computed.
//
// The weights come in as a ModelWeights (src/model/weights.h): fp32 views of
// a model's parameters, or packed ternary blocks.
#ifndef TRIT_GENERATE_H
#define TRIT_GENERATE_H

#include <stdint.h>

#include "io/config.h"
#include "model/weights.h"

typedef struct {
    ModelConfig config;
    int max_T;         // positions the cache holds (<= max_position_embeddings)
    int len;           // positions filled: 0..len-1 are valid
    float *k, *v;      // (L, max_T, NKV, HD): k after k_norm + RoPE
    float *rope_cos, *rope_sin;  // (max_T, HD/2)
    // Scratch of the forward pass, for up to `cap` rows (grown on demand).
    int cap;
    float *x, *ln, *q_raw, *q, *k_raw, *att, *lse, *tmp, *gate, *up, *h;
    float *scratch;
} KVCache;

// Allocates a cache for max_T positions of the model `c`. max_T must be in
// [1, max_position_embeddings]. Returns 0, or -1 with err.
// Memory: 2 * L * max_T * NKV * HD floats (Qwen3-0.6B: 28 layers × 8 × 128 × 2 × 4 bytes = 224 KiB a position).
int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err);
void kvcache_free(KVCache *kv);
// Forgets every position (len = 0); keeps the memory.
static inline void kvcache_reset(KVCache *kv) { kv->len = 0; }

// Runs the model on tokens[0..n) at positions pos..pos+n-1, writing their
// keys/values into the cache (positions from pos on are overwritten, so
// pos < kv->len rewinds), and the logits of position pos+n-1 into
// logits[V] (may be NULL). Requires 1 <= n, 0 <= pos <= kv->len and
// pos + n <= kv->max_T; tokens must be in [0, V). On error (-1, err set) the
// cache is unchanged. On success kv->len = pos + n.
int generate_forward(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err);
// The same; with all_rows the logits of every new position go to
// logits[n][V] (verifying several drafted tokens at once needs them).
int generate_forward_logits(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                            float *logits, int all_rows, char *err);

#endif
