// block.h — the one transformer block (Qwen3 and Llama), forward and
// backward side by side.
//
//   x -> RMSNorm -> q, k, v projections -> [q/k head RMSNorm: Qwen3] -> RoPE
//     -> causal GQA attention -> o_proj -> + x = mid
//   mid -> RMSNorm -> SwiGLU(gate, up) -> down_proj -> + mid = x_out
//
// The batched forward (eval, training) and the KV-cache decode path both run
// block_forward; they differ only in where the buffers point (saved
// per-layer activations, or one layer's scratch with k/v in the cache) and
// in whether attention sees earlier positions from a cache. A new
// architecture or weight type changes this file and the tables in src/arch,
// nothing else.
#ifndef TRIT_BLOCK_H
#define TRIT_BLOCK_H

#include "arch/config.h"
#include "kernels/linear.h"
#include "model/model.h"

// One layer's weights for the forward pass. The norms are always fp32;
// q_norm/k_norm are NULL for architectures without head norms.
typedef struct {
    const float *attn_norm, *q_norm, *k_norm, *mlp_norm;
    WTensor wq, wk, wv, wo, wgate, wup, wdown;
} LayerWeights;

// Where one layer's activations go, for n = B·T rows. The rstd pointers may
// be NULL (nothing to save: inference). q_raw / k_raw are the projections
// before the head norms (unused without them). `mid` may equal the block's
// input and output (an in-place residual stream).
typedef struct {
    float *ln1, *rstd1;
    float *q_raw, *k_raw, *rstd_q, *rstd_k;
    float *q, *k, *v;  // after head norm + RoPE; k and v may point into a KV cache
    float *att, *lse;  // attention output before o_proj; lse only for a fresh block
    float *mid, *ln2, *rstd2;
    float *gate, *up, *h;
    float *tmp;        // (n, max(C, F))
} BlockBufs;

// How attention sees the sequence. k_all == NULL: the block is a whole
// sequence (B of them), plain causal attention over it (training, eval, a
// prefill from position 0). Otherwise the rows attend to a KV cache
// (kernels/ops.h): with row_slot == NULL one sequence whose cache starts at
// k_all, into which b->k, b->v point at position pos (B = 1, rows at
// positions pos..pos+T-1, causal, or nodes first..first+T-1 of a draft tree
// with `parent`, b->k at position pos + first); with row_slot, T rows of
// as many sequences, row i at position row_pos[i] of cache slot
// row_slot[i] (slots slot_stride floats apart from k_all), whose new
// keys/values stay in b->k, b->v for the caller to store. cos/sin are the
// RoPE tables of the rows' positions, row t at cos + t * HD/2.
typedef struct {
    int B, T, pos;
    const float *cos, *sin;
    const float *k_all, *v_all;
    const int *parent;  // draft tree: parent of each node (-1: a root), NULL: causal
    int first;          // draft tree: the first node these rows are
    const int *row_slot, *row_pos;  // rows of several sequences: each row's cache slot and position
    size_t slot_stride;
} BlockCtx;

void block_forward(const ModelConfig *c, const LayerWeights *w, float *x_out, const float *x, BlockBufs *b,
                   const BlockCtx *ctx);

// Gradient scratch of the backward pass (activation gradients), allocated
// with a workspace's activations (forward.h): one layer's worth, reused from the top layer down.
typedef struct {
    float *dresid;   // (BT, C)  gradient of the residual stream
    float *dln;      // (BT, C)  gradient of a norm's output
    float *dh;       // (BT, F)
    float *dgate;    // (BT, F)
    float *dup;      // (BT, F)
    float *datt;     // (BT, NH*HD)
    float *dq;       // (BT, NH*HD)
    float *dq_raw;   // (BT, NH*HD)
    float *dk;       // (BT, NKV*HD)
    float *dk_raw;   // (BT, NKV*HD)
    float *dv;       // (BT, NKV*HD)
    float *memory;
    int BT;          // rows it was allocated for
} GradScratch;

// One layer's fp32 parameters or gradients (slices of a ParamTensors).
typedef struct {
    float *attn_norm, *wq, *wk, *wv, *q_norm, *k_norm, *wo, *mlp_norm, *wgate, *wup, *wdown;
} LayerParams;
void layer_params(const ModelConfig *c, const ParamTensors *w, int l, LayerParams *p);

// Backward of block_forward over the saved buffers `b` of that layer (x its
// input): on entry dresid holds d x_out; on exit d x. ADDS the weight
// gradients into g. Straight-through: w is the forward (ternary) copy, g the
// latent gradients; its matrices are F32 or BF16 (linear_backward). d is the
// activation-gradient scratch. b->ln1, ln2 and h are recomputed into (the
// model keeps one layer of them).
void block_backward(const ModelConfig *c, const LayerWeights *w, const LayerParams *g, const float *x,
                    const BlockBufs *b, const BlockCtx *ctx, GradScratch *d);

// RoPE frequencies of the config (HD/2 of them), llama3 scaling applied;
// and the cos/sin tables of positions 0..T-1 from them.
void rope_config_tables(const ModelConfig *c, float *cos_t, float *sin_t, int T);

#endif
