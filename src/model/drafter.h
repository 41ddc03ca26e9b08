// drafter.h — a DFlash drafter (arXiv 2602.06036): a few Qwen3-style layers
// that draft a whole block of B tokens in one pass from the target's own
// hidden states.
//
//   context row t (a position the target has verified):
//       c_t = hidden_norm(fc · [h_{tap_1,t} ; ... ; h_{tap_n,t}])
//       every layer turns c_t into keys/values with its own k_proj / v_proj
//       (k_norm and RoPE at position t on the keys), no norm, no residual
//   block [last token, MASK x (B-1)] at positions start..start+B-1:
//       x = the target's embedding of the block (masked slots: the mask
//           token's row, or the drafter's own mask embedding)
//       each layer: u = RMSNorm(x); q = RoPE(q_norm(W_q u));
//           keys/values = [context rows before start ; W_k u, W_v u of the
//           block], attended without a mask (the block sees itself both
//           ways); x += W_o att; x += MLP(RMSNorm(x))
//       out = RMSNorm(x); logits of rows 1..B-1 = the target's LM head
//
// h_{l,t} is the output of the target's decoder layer l (0-based: HF's
// hidden_states[l + 1]). The drafter owns no embedding and no LM head; it
// uses the target's, frozen. Tensor names and config keys are the published
// drafters' (z-lab/dflash): fc.weight, hidden_norm.weight, norm.weight,
// layers.N.{input_layernorm, post_attention_layernorm}.weight,
// layers.N.self_attn.{q,k,v,o}_proj.weight, layers.N.self_attn.{q,k}_norm.weight,
// layers.N.mlp.{gate,up,down}_proj.weight; config.json a Qwen3 config with
// "block_size", "num_target_layers" and "dflash_config": {"mask_token_id",
// "target_layer_ids"}. A target with no spare embedding row for the mask
// token gets "mask_embedding" (C floats, trained), and "mask_token_id": null.
#ifndef TRIT_DRAFTER_H
#define TRIT_DRAFTER_H

#include <stddef.h>
#include <stdint.h>

#include "arch/config.h"
#include "model/block.h"

#define DRAFTER_MAX_TAPS 16
#define DRAFTER_MAX_BLOCK 32
#define DRAFTER_MAX_LAYERS 64

typedef struct {
    ModelConfig layer;     // the layers' shape (the target's widths); num_hidden_layers = the drafter's
    int block_size;        // B: the block it was trained for
    int n_taps;
    int taps[DRAFTER_MAX_TAPS];  // target layers whose outputs make the context, 0-based
    int num_target_layers;       // the target's layer count it was made for
    int mask_token_id;           // the target's embedding row of the masked slots; -1: mask_embedding
} DrafterConfig;

typedef struct {
    DrafterConfig dc;
    float *params;          // one flat buffer, every tensor below a slice of it
    size_t n_params;
    float *fc;              // (C, n_taps * C)
    float *hidden_norm;     // (C)
    float *norm;            // (C)
    float *mask_embedding;  // (C), or NULL when mask_token_id >= 0
    LayerParams *lp;        // [layers]: writable slices (training)
    LayerWeights *lw;       // [layers]: the same as fp32 WTensors (the forward)
} Drafter;

// The published default taps: n spread from layer 1 to layer L - 3
// (round(1 + i (L - 4) / (n - 1)), halves to even as Python rounds), or
// [L / 2] for n = 1; a target too shallow for n distinct taps that way
// (L - 4 < n - 1) gets them spread over layers 0..L-1. n in [1, L].
void drafter_default_taps(int L, int n, int *taps);

// A drafter of `layers` layers for `target`, block B, the given taps,
// mask_token_id (-1: a mask embedding of its own), weights drawn as
// transformers' Qwen3 init does (normal, std 0.02; norms 1) from seed. -1
// with err on a shape it cannot make.
int drafter_init(Drafter *d, const ModelConfig *target, int layers, int B, const int *taps, int n_taps,
                 int mask_token_id, uint64_t seed, char *err);
// Loads DIR (config.json + safetensors, the published layout). -1 with err.
int drafter_load(Drafter *d, const char *dir, char *err);
// Writes DIR atomically (replacing it), fp32. -1 with err.
int drafter_save(const Drafter *d, const char *dir, char *err);
void drafter_free(Drafter *d);
// Whether the drafter was made for this target: widths, vocabulary, taps
// inside its layers, the mask row inside its embedding. -1 with err naming
// the mismatch.
int drafter_check_target(const DrafterConfig *dc, const ModelConfig *target, char *err);
// The slice of the tensor named `name` (the published names), NULL if none.
float *drafter_tensor(const Drafter *d, const char *name);
// Whether a directory holds a DFlash drafter (its config.json says so).
int drafter_is_dir(const char *dir);

// Activations of one drafter pass: n_ctx new context rows and N blocks of B
// rows (R = N * B). For training every layer's buffers are kept (the
// backward reads them); for inference layer 0's are reused.
typedef struct {
    int cap_ctx, cap_rows, layers_kept;
    float *c, *rstd_c, *fc_out;       // (n_ctx, C): the context vectors, before the norm
    float *x;                         // (layers_kept + 1, R, C): residual stream into each layer, then out of the last
    float *ln1, *rstd1, *q_raw, *rstd_q, *q, *k_raw, *rstd_k, *kb, *vb;  // per kept layer, block rows
    float *kc_raw, *rstd_kc;          // per kept layer, context rows: k before k_norm
    float *att, *lse, *mid, *ln2, *rstd2, *gate, *up, *h;
    float *tmp, *out, *rstd_out;      // (R, max(C, F)); the final norm's output (R, C)
    float *row_cos;                   // (2, R, HD/2): RoPE of each block row's position
    // The backward's gradient scratch (training only: keep).
    float *dx, *dmid, *dln, *dh, *dgate, *dup, *datt, *dq, *dq_raw, *dkb, *dk_raw, *dvb;  // block rows
    float *dkc, *dvc, *dkc_raw, *dc, *dfc_out;                                          // context rows
    float *memory;
} DrafterBufs;

// Room for n_ctx context rows and `rows` block rows, every layer's
// activations kept when keep (a training step reserves before its forward:
// growing later would lose what the backward reads). The passes below grow
// the buffers themselves when they must.
void drafter_bufs_reserve(const Drafter *d, DrafterBufs *b, int n_ctx, int rows, int keep);
void drafter_bufs_free(DrafterBufs *b);

// The context rows: feats[n][n_taps * C] (the taps' hidden states, in tap
// order) at positions pos..pos+n-1 become every layer's keys and values,
// written at k_ctx[l] + p * KD for p = pos.. (KD = NKV * HD; keys after
// k_norm and RoPE). cos/sin: RoPE tables of positions 0.., HD/2 floats a
// position. With keep, each layer's keys before k_norm stay in b.
void drafter_context(const Drafter *d, DrafterBufs *b, const float *feats, int n, int pos, float *const *k_ctx,
                     float *const *v_ctx, const float *cos, const float *sin, int keep);

// N blocks of B rows whose input embeddings are x_in[N * B][C]: block j
// sits at positions anchor[j]..anchor[j]+B-1 and sees the context keys of
// positions 0..anchor[j]-1 (k_ctx / v_ctx as drafter_context wrote them)
// and its own B rows, both ways. Writes the final-normed hidden rows to
// b->out (R, C). With keep, each layer's activations stay in b for the
// backward.
void drafter_blocks(const Drafter *d, DrafterBufs *b, const float *x_in, int N, const int *anchor,
                    const float *const *k_ctx, const float *const *v_ctx, const float *cos, const float *sin,
                    int keep);

// The drafter's training loss on R = N * B rows out (R, C) (final-normed,
// N blocks of B): logits = out · E^T with the target's LM head E (V, C;
// F32 or BF16), row r predicting labels[r] where w[r] > 0.
//   DRAFTER_LOSS_CE: Σ w·CE / (Σ w + 1e-6), DFlash's decayed cross-entropy
//     when w[r] = exp(-(k-1)/γ) at block position k >= 1;
//   DRAFTER_LOSS_DPACE (arXiv 2605.18810): per block, with q_k the draft's
//     probability of its label (held constant), s_k = (q_k + 1) / 2,
//     P_k = Π s_j over the scored positions j <= k, the weight of position
//     k is Σ P_j over the scored j >= k; the loss Σ weight·CE over every
//     block (w only marks the scored rows).
// Writes dout = d loss / d out (R, C); returns the loss.
typedef enum { DRAFTER_LOSS_CE, DRAFTER_LOSS_DPACE } DrafterLoss;
double drafter_loss(const float *out, const WTensor *E, const int32_t *labels, const float *w, int N, int B,
                    DrafterLoss kind, float *dout);

// A zeroed buffer of the drafter's shape (its gradients, optimizer moments).
void drafter_zeros_like(Drafter *g, const Drafter *d);

// The backward of drafter_context (keep) + drafter_blocks (keep) as last
// run in b, over S context rows feats at positions 0..S-1: dout (R, C) the
// gradient of the final-normed rows; ADDS every parameter's gradient into
// g (drafter_zeros_like) and writes (=) the gradient of the blocks' input
// rows to dx_in (R, C) (the caller owns the inputs: a mask embedding's
// gradient is the sum of its rows'). k_ctx / v_ctx as the forward read them.
void drafter_backward(const Drafter *d, Drafter *g, DrafterBufs *b, const float *feats, int S, const float *dout,
                      float *dx_in, int N, const int *anchor, const float *const *k_ctx, const float *const *v_ctx,
                      const float *cos, const float *sin);

#endif
