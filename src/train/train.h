// train.h — one optimizer step of quantization-aware training.
//
// The model's parameter buffer holds the latent fp32 weights. Each step:
//   1. project: fwd = t*s of every matrix (ternary.h), norms copied as they are
//      (with --quant none, fwd is the latent buffer itself). During a
//      quantization ramp of N steps fwd = (1 − λ)·W + λ·t*s, λ = step/N; a
//      kept embedding / LM head is copied (fp32) or rounded to bf16;
//   2. forward_hidden + backward_loss with the fwd weights, adding the
//      gradients into `grads` — the straight-through estimator: the gradient
//      of fwd is used as the gradient of the latent weight (d fwd / dW is 1
//      for every mix of W and t*s). With a teacher, its forward on the same
//      tokens first, and the loss is α·CE + (1 − α)·τ²·KL(teacher ‖ student);
//   3. global gradient norm (logged before clipping), stop on NaN/Inf, clip;
//   4. AdamW with the cosine learning rate of this step.
// With adapters (a config's adapter_rank) step 1 adds each linear's B·A to
// its projection, A and B rounded to bf16 (fp32 latent, like a kept bf16
// tensor, straight-through), and their gradients follow from the matrix's
// after step 2 (dA = Bᵀ·dW', dB = dW'·Aᵀ, the bf16 values); not decayed.
// With learned scales (SCALE_LEARNED) step 1 rounds with the trained scales,
// step 2 adds their LSQ gradients (ternary_scale_grad), the norm of step 3
// covers them too, and step 4 updates them without weight decay.
// grads, m, v and fwd have the parameter buffer's layout.
#ifndef TRIT_TRAIN_H
#define TRIT_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model/forward.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/ternary.h"
#include "train/dist.h"
#include "train/optim.h"

// The embedding / LM head: projected like every matrix (default), or kept
// out of the ternary projection in fp32 or bf16.
typedef enum { KEEP_NONE = 0, KEEP_FP32 = 1, KEEP_BF16 = 2 } KeepEmbedding;

// The operands of the forward and backward matrix products: fp32, or bf16
// with fp32 sums (oneDNN, gemm_bf16.h). Latent weights, gradients and the
// AdamW state are fp32 either way.
typedef enum { PREC_FP32 = 0, PREC_BF16 = 1 } Precision;

typedef struct {
    int quant;           // 1: ternary (default), 0: full precision
    int group_size;      // 128
    TernaryScale scale;  // absmean
    float scale_lr_mult; // SCALE_LEARNED: the scales' learning rate over the weights' (1)
    long steps, warmup;  // 250, 25
    float lr, min_lr;    // 1e-4, 5e-6
    float weight_decay;  // 0.01 (matrices only)
    float beta1, beta2, eps;
    float clip;          // 1.0 (<= 0: no clipping)
    long quant_ramp;     // 0: ternary from the first step; N: λ rises 0 -> 1 over N steps
    KeepEmbedding keep_embedding;
    uint32_t keep_linear; // linear kinds (1u << TensorKind) kept out of the projection, in bf16
    int distill;         // 1: the loss includes KL to a teacher (trainer_set_teacher)
    float distill_alpha; // weight of the cross-entropy (0: KL only)
    float distill_temp;  // softmax temperature of both distributions (1)
    float distill_hidden;  // β of the hidden-state term (forward.h HiddenTarget; 0: off)
    float distill_reverse; // the reverse KL's share of the divergence (head.h HeadTeacher; 0: forward KL)
    Precision precision; // PREC_FP32
} TrainConfig;

void train_config_default(TrainConfig *c);

typedef struct {
    TrainConfig cfg;
    Model *model;
    float *grads;          // same layout as model->params_memory
    float *m, *v;          // AdamW moments of this rank's slice [lo, lo + n_slice) only
    Dist dist;             // the ranks of a data-parallel run (size 1: one process)
    size_t lo, n_slice;    // the slice of the parameters this rank updates (all of them in one process)
    float *fwd;            // fp32: the weights the forward uses (== params when quant is 0); bf16: NULL
    uint16_t *fwd16;       // bf16: the matrices the forward uses, rounded once per step (layout of params)
    float *proj_tmp;       // bf16: rows being projected before they are rounded
    ParamTensors g, w;     // views into grads and fwd (w: fp32 only)
    ModelWeights fw;       // what the forward and backward run: fwd, or fwd16 with the norms (and a
                           // --keep-embedding fp32 embedding) from the latent buffer
    Workspace ws;          // their activations and gradient scratch
    ParamRange *ranges;    // one per tensor part in the slice, offsets from lo; matrices decay
    int n_ranges;
    long step;             // optimizer steps taken so far
    Model *teacher;        // distillation teacher (not owned), or NULL
    uint64_t teacher_hash; // of its weights, kept in checkpoints
    ModelWeights tw;       // the teacher's weights as its forward runs them (bf16: a rounded copy)
    Workspace teacher_ws;  // the teacher's activations
    uint16_t *teacher16;
    float *teacher_layers; // the teacher's layer outputs of a step (the hidden-state term)
    size_t teacher_layers_n;
    // SCALE_LEARNED: one scale per projected group, every tensor's groups in
    // tensor order from scale_off[i] (SIZE_MAX: tensor i is not projected);
    // fp32, the forward uses each one's fp16. Their gradient and AdamW
    // moments; every rank holds all of them (rank 0's update is broadcast).
    float *scales, *scale_grads, *scale_m, *scale_v;
    size_t n_scales, *scale_off;
} Trainer;

typedef struct {
    double loss;           // mean training loss of the batch (before the update)
    double ce, kl;         // its mean cross-entropy and KL to the teacher (0 without one)
    double hidden;         // the hidden-state term's mean, unweighted (0 without it)
    float lambda;          // the quantization ramp's mix this step (1: fully ternary)
    double grad_norm;      // global norm before clipping
    float lr;
    size_t tokens;         // targets scored
    double comm_s;         // seconds in the gradient reduction and the weight broadcast (data parallel)
} StepStats;

// Checks the config against the model (group size divides every matrix row,
// positive steps, sane rates) and allocates the optimizer state (gradients,
// the moments of this rank's slice, a forward copy when ternary). d: the
// ranks of a data-parallel run (dist.h), or NULL for one process.
int trainer_init(Trainer *t, Model *m, const TrainConfig *c, const Dist *d, char *err);
void trainer_free(Trainer *t);

// Distillation: the frozen teacher whose logits the student learns (same
// vocabulary size; the caller checks the tokenizer). Hashes its weights.
int trainer_set_teacher(Trainer *t, Model *teacher, char *err);

// The ramp's mix at optimizer step `step` (0-based): step/N, 1 from step N on.
float trainer_lambda(const TrainConfig *c, long step);

// Writes the forward weights from the latent ones with mix lambda
// ((1 − λ)·W + λ·t*s; 1: the ternary model itself), or nothing to do; with
// bf16 they are then rounded to bf16.
void trainer_project(Trainer *t, float lambda);

// The trained model in fp32 (λ = 1, not rounded to bf16; adapters beside
// the matrices, not folded into them): fwd, or with bf16 the gradient
// buffer, overwritten (so only between steps). Its layout is the parameter
// buffer's. The forward weights are stale after it: trainer_project again.
float *trainer_model_f32(Trainer *t);

// SCALE_LEARNED: scale_grads from the matrices' gradients in grads (the
// gradient of the forward weights) and the latent weights.
void trainer_scale_grads(Trainer *t);

// Adapters: their gradients in grads from their matrices' there (the
// forward ran W' = t·s + B·A, A and B in bf16): dA = Bᵀ·dW', dB = dW'·Aᵀ.
void trainer_adapter_grads(Trainer *t);

// One step on x, y: the global batch of dist.size x B rows of T tokens,
// of which this rank runs rows [rank·B, rank·B + B). The loss is the mean
// over the whole global batch, as one process running all of it has; the
// gradients are summed over the ranks, each rank updates its slice and the
// slices are exchanged. Returns -1 with err when the loss or the gradient
// norm is not finite; the weights are then left untouched (on every rank:
// they see the same loss and norm).
int trainer_step(Trainer *t, const int32_t *x, const int32_t *y, int B, int T, StepStats *st, char *err);

// A hash of everything a run's ranks must agree on that the trainer knows:
// model shape, tokenizer, recipe, teacher, step and data position.
uint64_t trainer_state_hash(const Trainer *t, uint64_t data_rng, uint64_t tokenizer_hash);

#endif

// --- checkpoints ---------------------------------------------------------
// A checkpoint is a directory DIR holding config.json (the model's) and
// state.bin: "TRITCKPT", u32 version, then the step, the data RNG state, the
// tokenizer hash, a hash of the model's shape, the recipe, the number of
// ranks, and the latent weights, AdamW m and v (fp32, all of them: rank 0
// gathers the slices as it writes). It is written into a sibling DIR.partial-XXXXXX
// and renamed into place, so a kill during a save leaves the previous
// checkpoints as they were and no half-written DIR. Both calls are
// collective in a data-parallel run; each rank reads its own slice back, so
// every rank must see DIR (a shared filesystem, or one machine).
int trainer_save_checkpoint(const Trainer *t, const char *dir, uint64_t data_rng, uint64_t tokenizer_hash,
                            char *err);
// Restores weights, optimizer state, step and *data_rng from DIR. The model,
// tokenizer and recipe must be the ones the checkpoint was made with.
int trainer_load_checkpoint(Trainer *t, const char *dir, uint64_t *data_rng, uint64_t tokenizer_hash, char *err);
