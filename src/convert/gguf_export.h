// gguf_export.h — an HF-directory model as a GGUF v3 file that stock
// llama.cpp runs (`trit export`).
//
// Keys: general.architecture and the hyperparameters llama.cpp reads for
// qwen3 / llama, including the ones it would otherwise silently default
// (attention.key_length / value_length from head_dim, rope.freq_base,
// rope.dimension_count, the RMS epsilon); the tokenizer
// (tok/gguf_vocab_export.h). Tensors by the architecture's GGUF names
// (src/arch), Llama's q/k rows in llama.cpp's rotary order, norms F32.
//
// Ternary matrices are written losslessly in the block type that matches the
// trained group: each block of 64 (Q2_0) or 256 (TQ2_0, TQ1_0) weights must
// hold only 0 and ±s with s an fp16 value — what `trit train` produces with
// groups of 64 / 128 (Q2_0: a group of 128 is two blocks with one scale) or
// 256 (any type). Linear kinds kept out of the projection in bf16
// (`--keep-linear`, weights_kept_linear) are written as BF16 beside them;
// llama.cpp runs a file of mixed types. After writing, the file is read back
// and every tensor dequantized and compared with the model bit for bit.
//
// A model with adapters (each linear t·s + B·A) is two files: OUT holds the
// ternary model (and "trit.adapter_rank"), OUT with ".gguf" replaced by
// ".lora.gguf" (weights_adapter_path) the adapters as llama.cpp's LoRA
// adapter (general.type "adapter", adapter.type "lora", alpha = r so that
// its scale alpha / r is 1; lora_a (r, in), lora_b (out, r), Llama's q/k B
// rows in the rotary order), BF16 when every value is one, else F32:
// `llama-cli -m OUT --lora OUT.lora.gguf`; trit reads both from OUT.
#ifndef TRIT_GGUF_EXPORT_H
#define TRIT_GGUF_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#define EXPORT_AUTO UINT32_MAX  // (GGML_TYPE_F32 is 0)

typedef struct {
    uint32_t type;        // matrices: GGML_TYPE_Q2_0 / TQ2_0 / TQ1_0 / F16 / BF16 / F32; EXPORT_AUTO:
                          // TQ2_0 when it holds every matrix losslessly, else Q2_0
    uint32_t embed_type;  // token embedding (and untied head); EXPORT_AUTO: as the matrices
} ExportOptions;

typedef struct {
    uint32_t type, embed_type;  // what was written
    uint32_t kept_linear;       // linear kinds written as BF16 beside ternary ones (weights_kept_linear)
    int n_tensors;
    int n_lossless;             // tensors whose dequantized file data equals the model bit for bit
    uint64_t file_bytes;        // of both files
    double bits_per_weight;     // of the matrices (embedding and adapters included) per matrix weight
    int adapter_rank;           // 0: no adapter file
    char adapter_path[4096];
} ExportReport;

// Whether every ternary matrix of m (the embedding / LM head too when
// `embedding` is 1) converts to the packed `type` (Q2_0, TQ2_0, TQ1_0)
// losslessly; else -1 with the first that does not (tensor and row) in err.
// What `trit verify` reports and export's auto choice tries. Under
// --type auto an embedding that is not ternary (trit train --keep-embedding)
// is written as bf16 when it holds bf16 values, else f32.
struct Model;
int gguf_export_fits(const struct Model *m, uint32_t type, int embedding, char *err);

// Writes model_dir's model to out_path atomically (nothing at out_path on
// failure). -1 with err: a model no format holds losslessly (names the
// tensor, row and what would work), an unsupported model (llama3 RoPE
// scaling), a tokenizer llama.cpp cannot name, an I/O error.
int gguf_export(const char *model_dir, const char *out_path, const ExportOptions *o, ExportReport *r, char *err);

#endif
