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

// Checks that the file holds exactly the tensors of the config's table, with
// their shapes and a type trit can dequantize.
int gguf_check_tensors(const GgufFile *g, const ModelConfig *c, char *err);

// The whole model of a GGUF file dequantized into a Model (fp32), q/k rows
// in HF order: what `trit verify FILE.gguf` checks. -1 with err.
struct Model;
int gguf_load_model(const char *path, struct Model *m, char *err);

// llama.cpp's converter reorders the rows of each head of Llama's q_proj and
// k_proj from HF's rotate-half layout (pairs (j, j + HD/2)) to interleaved
// pairs (2j, 2j + 1): GGUF row 2j + i of a head is HF row i·HD/2 + j.
// Applies that order (to_gguf) or undoes it, in place, on rows = heads · HD
// rows of row_bytes bytes each (any storage type: a row moves whole).
void llama_rotary_rows(void *w, int heads, int HD, size_t row_bytes, int to_gguf);

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
