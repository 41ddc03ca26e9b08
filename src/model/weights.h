// weights.h — the weights an inference pass runs on, in any storage type.
//
// Training holds the model as one flat fp32 buffer (ParamTensors); a run
// from a GGUF file, or from an HF directory packed at load, holds packed
// ternary blocks instead and never expands them. ModelWeights is the one
// view both give the forward passes (eval, the KV-cache decode): every
// matrix a WTensor of its own type, the norms fp32.
#ifndef TRIT_WEIGHTS_H
#define TRIT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "arch/config.h"
#include "format/gguf.h"
#include "model/block.h"
#include "model/model.h"

typedef struct ModelWeights {
    ModelConfig config;
    WTensor embed, lm_head;   // lm_head == embed (same data) when tied
    const float *final_norm;
    LayerWeights *layers;     // [num_hidden_layers]
    // What the views point into, owned: packed blocks, the ternary matrices
    // in the run layout, fp32 norms, or a mapped GGUF file (any of them NULL).
    void *blocks;
    void *packed;
    float *norms;
    float *adapters;          // a GGUF model's adapters, read from its adapter file in fp32
    GgufFile *file;
    Model *model;             // the fp32 model views point into
} ModelWeights;

// fp32 views of a flat parameter set laid out like m's (the model's own
// weights, or a ternary forward copy); nothing is copied, w must outlive it.
void weights_view(ModelWeights *mw, const Model *m, const ParamTensors *w);

// The linear kinds (1u << TensorKind) kept out of the projection
// (`--keep-linear`): bf16 values throughout, and some layer's matrix not
// ternary even on Q2_0's blocks of 64, which hold every trained group size.
// None when no linear kind is ternary (a full-precision model).
uint32_t weights_kept_linear(const Model *m);

// Packs an exactly ternary fp32 model: every ternary matrix but the
// embedding / head into `type` (Q2_0, TQ2_0, TQ1_0, or F32 to keep it),
// the embedding (and an untied head) into `embed_type` (those, or F16),
// kept linear kinds (weights_kept_linear) beside ternary ones into BF16.
// Norms are copied, so m may be freed afterwards. -1 with err naming the
// first tensor a format cannot hold losslessly (F16 and F32 never refuse:
// an fp16 scale times t is an fp16 value).
int weights_pack(ModelWeights *mw, const Model *m, uint32_t type, uint32_t embed_type, char *err);

// Converts rows x cols fp32 values to `type` (dst: rows of whole blocks):
// F32, F16, BF16 and Q8_0 by rounding (F16 holds any fp16 scale times t
// exactly; BF16 and Q8_0 do not), the ternary types Q2_0 / TQ2_0 / TQ1_0 losslessly or not
// at all: -1 with *bad_row = the first row that is not exactly ternary with
// one fp16 scale per block.
int weights_convert(uint32_t type, const float *src, int64_t rows, int64_t cols, void *dst, int64_t *bad_row);
// 0 when `type` holds the matrix losslessly in rows of whole blocks, as
// weights_convert would write it; -1 otherwise (*bad_row -1 when the rows
// are not whole blocks, else the first row it cannot hold).
int weights_fits(uint32_t type, const float *src, int64_t rows, int64_t cols, int64_t *bad_row);

// The adapter file beside a GGUF model (gguf_export.h): PATH with its
// ".gguf" replaced by ".lora.gguf" (appended when it has none). Free it.
char *weights_adapter_path(const char *gguf_path);

// Every adapter of config c (its adapter_rank > 0) from an adapter file
// (gguf_export.h): fp32, kind after kind (TK_WQ_A .. TK_WDOWN_B), each an
// (L, rows, cols) slab, Llama's q/k B rows back in HF order; checked to be
// a LoRA adapter with exactly these tensors, shaped for the rank. NULL with
// err otherwise. Free it.
float *weights_read_adapters(const GgufFile *a, const ModelConfig *c, char *err);

// Opens a GGUF model for running: the config from its KVs, every tensor
// checked against the architecture's table and mapped in place (Llama's
// q/k rows, permuted by the GGUF convention, are copied back into HF order);
// one exported with adapters ("trit.adapter_rank") reads them from its
// adapter file (weights_adapter_path). -1 with err when a tensor is missing,
// misshapen or of a type trit cannot run, or the adapter file is.
int weights_load_gguf(ModelWeights *mw, const char *path, char *err);

// Fills embed / lm_head / final_norm / layers from one base pointer and one
// storage type per tensor kind (per-layer kinds: (L, rows, cols) slabs of
// GGUF blocks; a NULL base for kinds the architecture lacks). The ternary
// kinds are packed into the run layout (mw->packed), so their GGUF blocks
// may be freed afterwards; those of a kind with mapped[k] set (mapped may be
// NULL) lie in a map_file mapping and are released from memory at once.
// For the constructors above.
void weights_assemble(ModelWeights *mw, const void *const base[TK_COUNT], const uint32_t type[TK_COUNT],
                      const int *mapped);

// Opens what `trit eval` / `trit generate --model PATH` run: a GGUF file
// (weights_load_gguf), or an HF directory loaded in fp32 and, when `pack`
// is not NULL, packed at load ("q2_0", "tq2_0", "tq1_0", or "auto": TQ2_0
// where every matrix fits it losslessly, else Q2_0) with the embedding
// packed the same way, the fp32 copy freed. -1 with err.
int weights_open(ModelWeights *mw, const char *path, const char *pack, char *err);

// The ggml type a --pack / --type name means ("q2_0", "TQ2_0", "f16", ...,
// case-insensitive); 0 with *type set, or -1.
int weights_type_by_name(const char *name, uint32_t *type);

// Resident bytes of the weights (what a decode step streams).
size_t weights_bytes(const ModelWeights *mw);

void weights_free(ModelWeights *mw);

#endif
