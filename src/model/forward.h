// forward.h — the passes that run a model: forward over B sequences of T
// tokens (evaluation, training, a distillation teacher) and the training
// backward, on weights of any storage type (ModelWeights). What they
// compute in goes into a Workspace, apart from the parameters: one model's
// weights can be run by several workspaces, and a packed model needs no
// fp32 Model at all.
#ifndef TRIT_FORWARD_H
#define TRIT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "arch/config.h"
#include "kernels/head.h"
#include "model/block.h"
#include "model/model.h"
#include "model/weights.h"

// Saved activations of one forward pass over B×T tokens. Training keeps all
// L layers (the backward pass reads them); evaluation keeps one layer's worth
// and reuses it (n_saved_layers == 1).
typedef struct {
    int B, T, n_saved_layers;
    float *resid;     // (L+1, BT, C)  input of each layer; last = output of the last
    float *ln1;       // (BT, C)       input RMSNorm output (the layer being run; recomputed by the backward)
    float *rstd1;     // (S, BT)
    float *q;         // (S, BT, NH*HD) after q_norm + RoPE
    float *k;         // (S, BT, NKV*HD) after k_norm + RoPE
    float *v;         // (S, BT, NKV*HD)
    float *q_raw;     // (S, BT, NH*HD) projections before the head norm
    float *k_raw;     // (S, BT, NKV*HD)
    float *rstd_q;    // (S, BT, NH)
    float *rstd_k;    // (S, BT, NKV)
    float *att;       // (S, BT, NH*HD) attention output before o_proj
    float *lse;       // (S, B, NH, T)  attention log-sum-exp
    float *resid_mid; // (S, BT, C)    x + attention
    float *ln2;       // (BT, C)       (as ln1)
    float *rstd2;     // (S, BT)
    float *gate;      // (S, BT, F)
    float *up;        // (S, BT, F)
    float *h;         // (BT, F)       silu(gate) * up (as ln1)
    float *lnf;       // (BT, C)       final norm output
    float *rstdf;     // (BT)
    float *losses;    // (BT)
    float *tmp;       // (BT, max(C, F)) scratch
    float *rope_cos, *rope_sin;  // (T, HD/2)
    float *memory;    // the one allocation
    size_t n_floats;
} Activations;

// The activations and gradient scratch of one model's passes, allocated on
// first use for the largest B×T seen. workspace_init takes no memory.
typedef struct {
    ModelConfig config;
    Activations acts;
    GradScratch scratch;  // allocated by the first backward_loss
} Workspace;

void workspace_init(Workspace *ws, const ModelConfig *c);
void workspace_free(Workspace *ws);

// Forward pass over tokens[B][T] with the weights w. If targets is not
// NULL, returns the mean cross-entropy over the positions whose target is
// >= 0 and writes the number of them into *count; if logits_out is not NULL
// it receives (B, T, V) logits. `train` keeps every layer's activations for
// the backward pass.
double forward_loss(Workspace *ws, const ModelWeights *w, const int32_t *tokens, const int32_t *targets, int B,
                    int T, int train, float *logits_out, size_t *count);

// The same over a flat fp32 parameter set laid out like m's (normally
// &m->params): forward_loss on weights_view(m, w).
double forward_params(Workspace *ws, const Model *m, const ParamTensors *w, const int32_t *tokens,
                      const int32_t *targets, int B, int T, int train, float *logits_out, size_t *count);

// The forward pass up to the final norm, keeping every layer's activations:
// the first half of a training step (the LM head and the loss are computed
// by backward_loss, fused with their gradients).
void forward_hidden(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T);

// The forward pass up to the final norm without keeping the layers'
// activations (a distillation teacher's pass): returns the (B·T, C) final-norm
// output, valid until the workspace's next forward.
const float *forward_features(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T);
// The same, also copying every layer's output into layers (L, B·T, C): a
// teacher's side of the hidden-state term (HiddenTarget).
const float *forward_features_layers(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T,
                                     float *layers);

// One block at a time, for work that goes layer by layer (calibration,
// block-wise reconstruction): the stream of B×T rows is the caller's.
// forward_embed writes the embedding rows of tokens into x (B·T × C);
// forward_block runs layer l from x_in into x_out (may be the same array),
// leaving the inputs of the layer's linears in ws->acts (ln1 for q/k/v,
// att for o, ln2 for gate/up, h for down) until the workspace's next pass;
// forward_norm writes the final norm of x into ws->acts.lnf (the LM head's
// input) and returns it.
void forward_embed(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T, float *x);
void forward_block(Workspace *ws, const ModelWeights *w, int l, const float *x_in, float *x_out, int B, int T);
const float *forward_norm(Workspace *ws, const ModelWeights *w, const float *x, int B, int T);

// The backward of the last forward_block in this workspace (same layer,
// weights and input x_in): from dx_out (B·T × C), ADDS the gradients of
// the layer's weights and norms into g (straight-through, as
// block_backward); the input's gradient is left in ws->scratch.dresid.
void backward_block(Workspace *ws, const ModelWeights *w, int l, const float *x_in, const float *dx_out,
                    const LayerParams *g);

// Backward pass after forward_hidden on the same tokens and weights w:
// computes the mean cross-entropy over targets >= 0 (returned; their number
// in *count) and ADDS the gradient of that mean, scaled by loss_scale, into
// the parameter gradients g (zero them first; a tied head adds into g->embed).
// With ternary weights, w is the projected copy and g the latent gradients
// (straight-through estimator).
//
// Distillation: teacher (NULL for plain cross-entropy) holds the teacher's
// final-norm output for the same tokens (forward_features) and its LM
// head; the loss is then α·CE + (1 − α)·τ²·KL (kernels/head.h). *means (may
// be NULL) gets the mean CE and the mean KL(teacher ‖ student) of the counted rows.
//
// Hidden-state distillation: hidden (NULL: none) adds to the loss β times
// the mean over layers and counted rows of ||h_l − t_l||² / ||t_l||², h_l
// the student's output of layer l and t_l the teacher's (relative per row:
// a few rows carry activations ~1e3 whose squared error would otherwise be
// the whole term); *hidden_mean (may be NULL) gets that mean, unweighted.
typedef struct {
    const float *layers;  // (L, B·T, C): the teacher's output of every layer
    float beta;
} HiddenTarget;

double backward_loss(Workspace *ws, const ModelWeights *w, ParamTensors *g, const int32_t *tokens,
                     const int32_t *targets, float loss_scale, const HeadTeacher *teacher, const HiddenTarget *hidden,
                     HeadLossSums *means, double *hidden_mean, size_t *count);

#endif
