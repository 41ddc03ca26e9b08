// gguf_import.h — a GGUF model (llama.cpp's format) as a Hugging Face
// checkpoint directory: config.json, model.safetensors, tokenizer.json and
// tokenizer_config.json, which trit and transformers both load.
//
// The architecture comes from general.architecture (qwen3 or llama, through
// the tables in src/arch), the sizes from its KVs, the weights from the
// tensors, dequantized to fp32 (every type src/quant/ggml_types.c can
// dequantize) and, for Llama, with the Q/K row permutation of llama.cpp's
// converter undone. The config, the tensor check and the tokenizer files
// come from src/arch/gguf_config.h.
#ifndef TRIT_GGUF_IMPORT_H
#define TRIT_GGUF_IMPORT_H

#include "format/gguf.h"

// The whole model of a GGUF file dequantized into a Model (fp32), q/k rows
// in HF order: what `trit verify FILE.gguf` checks. -1 with err.
struct Model;
int gguf_load_model(const char *path, struct Model *m, char *err);
// The same from a file already open (gguf_open_mem for bytes in memory).
int gguf_model_from(const GgufFile *g, struct Model *m, char *err);

// Writes the checkpoint into out_dir, atomically: everything goes to a
// temporary sibling directory that is renamed to out_dir only once complete
// (out_dir must not exist, or be an empty directory). torch_dtype is
// "float32" or "bfloat16". Progress and a summary go to stderr when verbose.
int gguf_import(const char *gguf_path, const char *out_dir, const char *torch_dtype, int verbose, char *err);

#endif
