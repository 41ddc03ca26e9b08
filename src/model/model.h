// model.h — the model (Qwen3 or Llama) as parameters: its configuration and
// one flat fp32 buffer laid out by the architecture's tensor table
// (src/arch); load, save, initialisation and the ternary projection. The
// passes that run it (and their activations) are in forward.h.
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
        float *adapters[TK_COUNT - TK_WQ_A];  // (L, r, in) lora_A, (L, out, r) lora_B of each linear, in
                                              // TensorKind order; NULL without an adapter rank
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

typedef struct Model {
    ModelConfig config;
    ParamTensors params;
    float *params_memory;  // the flat buffer
    size_t n_params;       // floats in it (the tied head is counted once)
    TensorInfo *tensors;   // HF tensor list, in the order of the buffer
    int n_tensors;
} Model;

// Allocates parameters (uninitialised) for a validated config and builds the
// tensor list. Returns 0, or -1 with err.
int model_alloc(Model *m, const ModelConfig *c, char *err);
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
// Gives m adapters of rank r (lora_A, lora_B of every linear, zero: the
// model computes what it did), or drops them (r 0). -1 with err when the
// config refuses the rank (nothing changed then).
int model_set_adapter_rank(Model *m, int r, char *err);
// Writes config.json + safetensors in the config's torch_dtype.
int model_save(const Model *m, const char *dir, const char *quantization_note, char *err);
void model_free(Model *m);

// Points `w` at the tensors of a flat buffer laid out like m->params_memory
// (the gradients, or the ternary copy of the weights used in the forward).
void model_point_params(const Model *m, float *memory, ParamTensors *w);

#endif
