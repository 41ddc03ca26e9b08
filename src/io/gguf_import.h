// gguf_import.h — a GGUF model (llama.cpp's format) as a Hugging Face
// checkpoint directory: config.json, model.safetensors, tokenizer.json and
// tokenizer_config.json, which trit and transformers both load.
//
// The architecture comes from general.architecture (qwen3 or llama, through
// the tables in src/arch), the sizes from its KVs, the weights from the
// tensors, dequantized to fp32 (every type src/quant/ggml_types.c can
// dequantize) and, for Llama, with the Q/K row permutation of llama.cpp's
// converter undone. The tokenizer is rebuilt from tokenizer.ggml.* (see
// src/tok/gguf_vocab.h).
#ifndef TRIT_GGUF_IMPORT_H
#define TRIT_GGUF_IMPORT_H

#include "io/config.h"
#include "io/gguf.h"

// The config a GGUF describes (torch_dtype float32). -1 with err naming the
// file and the key when a required key is missing or the model is not one
// trit runs.
int gguf_config(const GgufFile *g, ModelConfig *c, char *err);

// The tokenizer.json and tokenizer_config.json texts (malloc'd) that
// tokenizer.ggml.* and tokenizer.chat_template describe, for the model c.
// -1 with err naming the file and the problem (both NULL then).
int gguf_tokenizer_files(const GgufFile *g, const ModelConfig *c, char **tok_json, size_t *tok_len, char **cfg_json,
                         size_t *cfg_len, char *err);

// Writes the checkpoint into out_dir, atomically: everything goes to a
// temporary sibling directory that is renamed to out_dir only once complete
// (out_dir must not exist, or be an empty directory). torch_dtype is
// "float32" or "bfloat16". Progress and a summary go to stderr when verbose.
int gguf_import(const char *gguf_path, const char *out_dir, const char *torch_dtype, int verbose, char *err);

#endif
