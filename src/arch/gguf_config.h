// gguf_config.h — what a GGUF file says about the model in it, read through
// the architecture tables: its ModelConfig, its tensors checked against the
// table, the tokenizer files its tokenizer.ggml.* keys describe, and the
// Llama q/k row order of llama.cpp's converter. Shared by the import
// (src/convert) and the runtime that maps a GGUF in place (src/model).
#ifndef TRIT_GGUF_CONFIG_H
#define TRIT_GGUF_CONFIG_H

#include <stddef.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "format/gguf.h"

// The config a GGUF describes (torch_dtype float32). -1 with err naming the
// file and the key when a required key is missing or the model is not one
// trit runs.
int gguf_config(const GgufFile *g, ModelConfig *c, char *err);

// Checks that the file holds exactly the tensors of the config's table, with
// their shapes and a type trit can dequantize.
int gguf_check_tensors(const GgufFile *g, const ModelConfig *c, char *err);

// The tokenizer.json and tokenizer_config.json texts (malloc'd) that
// tokenizer.ggml.* and tokenizer.chat_template describe, for the model c.
// -1 with err naming the file and the problem (both NULL then).
int gguf_tokenizer_files(const GgufFile *g, const ModelConfig *c, char **tok_json, size_t *tok_len, char **cfg_json,
                         size_t *cfg_len, char *err);

// llama.cpp's converter reorders the rows of each head of Llama's q_proj and
// k_proj from HF's rotate-half layout (pairs (j, j + HD/2)) to interleaved
// pairs (2j, 2j + 1): GGUF row 2j + i of a head is HF row i·HD/2 + j.
// Applies that order (to_gguf) or undoes it, in place, on rows = heads · HD
// rows of row_bytes bytes each (any storage type: a row moves whole).
void llama_rotary_rows(void *w, int heads, int HD, size_t row_bytes, int to_gguf);

// The rows of one layer of tensor kind k put into GGUF order (to_gguf) or
// back into HF order, in place, when the architecture's table marks the
// kind TF_ROPE_PERM (Llama's q and k); nothing otherwise. Returns whether
// the kind is permuted.
int gguf_rope_rows(const ModelConfig *c, TensorKind k, void *w, size_t row_bytes, int to_gguf);

#endif
