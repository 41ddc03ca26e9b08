// generate.h — incremental decoding of the model (Qwen3 or Llama) with a KV cache.
//
// The cache keeps, for every layer, the keys (after k_norm and RoPE) and the
// values of every position seen so far. generate_forward() runs the model on
// n new tokens at positions pos..pos+n-1: the projections and the MLP of the
// n rows are batched GEMMs (prefill: n = prompt length; decode: n = 1), the
// attention reads the cached keys/values of positions 0..pos-1 plus the new
// block (causal inside it). Only the last position's logits are computed.
// The same cache serves speculative decoding (a draft tree verified in one
// pass, then compacted to the accepted path), beam search (a slot a beam,
// reordered when beams move) and sequences decoded side by side (a slot
// each, one row each a step, each at its own position).
//
// The weights come in as a ModelWeights (src/model/weights.h): fp32 views of
// a model's parameters, or packed ternary blocks.
#ifndef TRIT_GENERATE_H
#define TRIT_GENERATE_H

#include <stdint.h>

#include "arch/config.h"
#include "model/weights.h"

// Most sequences (slots) one cache holds.
#define KV_MAX_SEQS 64
// Most layers whose outputs a cache captures (kvcache_set_taps).
#define KV_MAX_TAPS 16

// A KV cache of n_slots sequences, each in its own slot with its own length:
// one prompt decoding alone (1 slot), beams (one slot each), or independent
// requests decoded together, each at its own position.
typedef struct {
    ModelConfig config;
    int max_T;         // positions a slot holds (<= max_position_embeddings)
    int n_slots;       // sequences side by side
    int len[KV_MAX_SEQS];  // positions filled in each slot: 0..len[s]-1 are valid
    float *k, *v;      // (L, n_slots, max_T, NKV, HD): k after k_norm + RoPE
    float *rope_cos, *rope_sin;  // (max_T, HD/2)
    // Scratch of the forward pass, for up to `cap` rows (grown on demand).
    int cap;
    float *x, *ln, *q_raw, *q, *k_raw, *att, *lse, *tmp, *gate, *up, *h;
    float *k_new, *v_new;  // (cap, NKV*HD): the new keys/values of rows of several slots
    float *row_cos;    // (2, cap, HD/2): RoPE tables gathered per row (tree nodes, rows of several slots)
    // Captured layer outputs (a DFlash drafter's context): row i of the
    // last forward call at tap_rows + (i * n_taps + t) * C holds the output
    // of layer taps[t] (the residual stream after it, before any final norm).
    int n_taps;
    int taps[KV_MAX_TAPS];
    float *tap_rows;   // (cap, n_taps, C)
    float *scratch;    // the one allocation all of these point into
} KVCache;

// Allocates a cache for max_T positions of one sequence of the model `c`
// (kvcache_init_slots: of n_slots in [1, KV_MAX_SEQS] sequences). max_T must
// be in [1, max_position_embeddings]. Returns 0, or -1 with err.
// Memory: 2 * L * max_T * n_slots * NKV * HD floats (Qwen3-0.6B: 28 layers × 8 × 128 × 2 × 4 bytes = 224 KiB a position).
int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err);
int kvcache_init_slots(KVCache *kv, const ModelConfig *c, int max_T, int n_slots, char *err);
void kvcache_free(KVCache *kv);
// From now on every forward call captures the outputs of layers taps[0..n)
// (each in [0, L)) into kv->tap_rows, one row per new row of the call
// (tree nodes in node order). n = 0 stops capturing. -1 with err.
int kvcache_set_taps(KVCache *kv, const int *taps, int n, char *err);
// Forgets every position of every slot; keeps the memory.
void kvcache_reset(KVCache *kv);
// Rolls slot 0 back to its first len positions (len <= its length): what a
// rejected speculative draft leaves behind is forgotten.
static inline void kvcache_truncate(KVCache *kv, int len) { kv->len[0] = len < kv->len[0] ? len : kv->len[0]; }

// One sequence (slot 0): runs the model on tokens[0..n) at positions
// pos..pos+n-1, writing their keys/values into the cache (positions from
// pos on are overwritten, so pos < len rewinds), and the logits of position
// pos+n-1 into logits[V] (may be NULL). Requires 1 <= n, 0 <= pos <= len
// and pos + n <= kv->max_T; tokens must be in [0, V). On error (-1, err set)
// the cache is unchanged. On success the slot's length is pos + n.
int generate_forward(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err);
// The same; with all_rows the logits of every new position go to
// logits[n][V] (verifying several drafted tokens at once needs them).
int generate_forward_logits(KVCache *kv, const ModelWeights *w, const int32_t *tokens, int n, int pos,
                            float *logits, int all_rows, char *err);
// The same into slot `slot` (a prompt prefilled into one slot of many).
int generate_forward_slot(KVCache *kv, const ModelWeights *w, int slot, const int32_t *tokens, int n, int pos,
                          float *logits, int all_rows, char *err);

// A draft tree in one pass (slot 0): node i (token tokens[i], parent
// parent[i] < i or -1 for a root) is written at cache slot len + i, runs
// at RoPE position len + depth(i) and attends to positions 0..len-1 and
// to its own ancestors and itself, nothing else. Nodes [0, first) were run
// by an earlier call on the same tree (a drafter growing it level by
// level); this call runs nodes [first, n) and writes their logits to
// logits[n - first][V]. A chain (parent[i] = i - 1, first = 0) is exactly
// generate_forward_logits with all_rows. Each node's logits equal, bit for
// bit, those of its path decoded one token at a time (up to
// LINEAR_DECODE_ROWS nodes a call for fp32 weights). The length is
// unchanged: kvcache_commit_path keeps the accepted nodes.
int generate_forward_tree(KVCache *kv, const ModelWeights *w, const int32_t *tokens, const int *parent, int n,
                          int first, float *logits, char *err);
// Keeps nodes path[0..m) of the last tree (a root-to-node path: path[d] has
// depth d) as positions len..len+m-1 of slot 0, compacting their keys/values
// there; len += m. The rest of the tree is forgotten.
void kvcache_commit_path(KVCache *kv, const int *path, int m);

// n rows of n distinct slots in one n-row product per weight (a decode step
// of several sequences): row i is token tokens[i] at position len[slots[i]]
// of slot slots[i]; logits[n][V]; each of those slots' length grows by one.
// A row's logits equal, bit for bit, those of its slot decoded alone
// (generate_forward_slot with one token): every product and the attention
// sum each output in a fixed order whatever the other rows are.
int generate_forward_rows(KVCache *kv, const ModelWeights *w, const int *slots, const int32_t *tokens, int n,
                          float *logits, char *err);
// Slot s takes the cached positions of slot src[s], for every slot (a beam
// reorder).
void kvcache_reorder(KVCache *kv, const int *src);
// Slot dst takes a copy of slot src's positions: a prompt prefilled once,
// shared by all beams.
void kvcache_copy_slot(KVCache *kv, int dst, int src);

#endif
