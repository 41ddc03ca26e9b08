// model.h — the model (Qwen3 or Llama): configuration, parameters in one
// flat buffer laid out by the architecture's tensor table (src/arch),
// activations in another, the forward pass and the loss.
//
// Parameters are laid out as in llm.c: one fp32 allocation, with a pointer
// per tensor kind carved out of it; per-layer tensors of the same kind are
// contiguous across layers (wq is (L, NH*HD, C)). The gradient buffer and the
// optimizer moments of the training issue get exactly the same layout, so
// "for every parameter" is a loop over one array.
#ifndef TRIT_MODEL_H
#define TRIT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "kernels/head.h"
#include "quant/ternary.h"

// One pointer per tensor kind (src/arch/arch.h), by name or by kind: k[TK_WQ]
// is wq. Kinds the architecture lacks (Llama's q/k norms) are NULL.
typedef union {
    struct {
        float *embed;       // (V, C)        model.embed_tokens.weight
        float *attn_norm;   // (L, C)        input_layernorm
        float *wq;          // (L, NH*HD, C) self_attn.q_proj
        float *wk;          // (L, NKV*HD, C)
        float *wv;          // (L, NKV*HD, C)
        float *q_norm;      // (L, HD)       Qwen3 only
        float *k_norm;      // (L, HD)       Qwen3 only
        float *wo;          // (L, C, NH*HD)
        float *mlp_norm;    // (L, C)        post_attention_layernorm
        float *wgate;       // (L, F, C)
        float *wup;         // (L, F, C)
        float *wdown;       // (L, C, F)
        float *final_norm;  // (C)           model.norm
        float *lm_head;     // (V, C); == embed when the head is tied
    };
    float *k[TK_COUNT];
} ParamTensors;

// One named tensor of the checkpoint: where it lives in the flat buffer and
// its HF name and shape. `matrix` marks the weights that are projected to
// ternary and decayed by AdamW (everything but the norms).
typedef struct {
    char name[96];
    size_t offset;      // in floats, into the flat parameter buffer
    int64_t rows, cols; // cols == 0 for vectors
    int matrix;
    TensorKind kind;
    int layer;          // 0 for the global tensors
} TensorInfo;

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

// Gradient scratch of the backward pass (activation gradients), allocated
// with the activations: one layer's worth, reused from the top layer down.
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

typedef struct Model {
    ModelConfig config;
    ParamTensors params;
    float *params_memory;  // the flat buffer
    size_t n_params;       // floats in it (the tied head is counted once)
    TensorInfo *tensors;   // HF tensor list, in the order of the buffer
    int n_tensors;
    Activations acts;      // allocated lazily for the largest B×T seen
    GradScratch scratch;   // allocated by the first model_backward
} Model;

// Allocates parameters (uninitialised) for a validated config and builds the
// tensor list. Returns 0, or -1 with err.
int model_alloc(Model *m, const ModelConfig *c, char *err);
// A model without parameters: the config, tensor list and (lazily) the
// activations, for running weights held elsewhere (a packed ModelWeights).
int model_init_shell(Model *m, const ModelConfig *c, char *err);
// Reads config.json and the safetensors checkpoint in `dir` (any of
// bf16/fp16/fp32, single file or sharded). Shapes must match the config.
int model_load(Model *m, const char *dir, char *err);
// Random weights as transformers initialises Qwen3: N(0, 0.02) matrices, norm
// weights 1. Deterministic for a given seed, independent of thread count.
void model_init_random(Model *m, uint64_t seed);
// Replaces every ternary matrix by its projection t·s (src/quant/ternary.h):
// a model "ternary straight after conversion". -1 with err when the group
// does not divide a row (nothing changed then).
int model_project_ternary(Model *m, int group, TernaryScale mode, char *err);
// Writes config.json + safetensors in the config's torch_dtype.
int model_save(const Model *m, const char *dir, const char *quantization_note, char *err);
void model_free(Model *m);

// Points `w` at the tensors of a flat buffer laid out like m->params_memory
// (the gradients, or the ternary copy of the weights used in the forward).
void model_point_params(const Model *m, float *memory, ParamTensors *w);

// Forward pass over tokens[B][T] with the weights `w` (normally &m->params).
// If targets is not NULL, returns the mean cross-entropy over the positions
// whose target is >= 0 and writes the number of them into *count; if
// logits_out is not NULL it receives (B, T, V) logits. `train` keeps every
// layer's activations for the backward pass.
double model_forward(Model *m, const ParamTensors *w, const int32_t *tokens, const int32_t *targets,
                     int B, int T, int train, float *logits_out, size_t *count);

// The same with weights of any storage type (a packed model; the model m
// then only provides the config and the activations: see model_init_shell).
// The training passes below take ModelWeights too: weights_view of an fp32
// buffer, or the bf16 copy of --precision bf16 (train.h).
struct ModelWeights;
double model_forward_weights(Model *m, const struct ModelWeights *w, const int32_t *tokens, const int32_t *targets,
                             int B, int T, int train, float *logits_out, size_t *count);

// The forward pass up to the final norm, keeping every layer's activations:
// the first half of a training step (the LM head and the loss are computed
// by model_backward, fused with their gradients).
void model_forward_hidden(Model *m, const struct ModelWeights *w, const int32_t *tokens, int B, int T);

// The forward pass up to the final norm without keeping the layers'
// activations (a distillation teacher's pass): returns the (B·T, C) final-norm
// output, valid until the model's next forward.
const float *model_forward_features(Model *m, const struct ModelWeights *w, const int32_t *tokens, int B, int T);

// Backward pass after model_forward_hidden on the same tokens and weights w:
// computes the mean cross-entropy over targets >= 0 (returned; their number
// in *count) and ADDS the gradient of that mean, scaled by loss_scale, into
// the parameter gradients g (zero them first; a tied head adds into g->embed).
// With ternary weights, w is the projected copy and g the latent gradients
// (straight-through estimator).
//
// Distillation: teacher (NULL for plain cross-entropy) holds the teacher's
// final-norm output for the same tokens (model_forward_features) and its LM
// head; the loss is then α·CE + (1 − α)·τ²·KL (kernels/head.h). *means (may
// be NULL) gets the mean CE and the mean KL(teacher ‖ student) of the counted rows.
double model_backward(Model *m, const struct ModelWeights *w, ParamTensors *g, const int32_t *tokens,
                      const int32_t *targets, float loss_scale, const HeadTeacher *teacher, HeadLossSums *means,
                      size_t *count);

#endif
