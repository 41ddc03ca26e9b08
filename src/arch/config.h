// config.h — the model configuration (Qwen3 or Llama, arch/model_config.h),
// read from and written to the Hugging Face `config.json` through the
// architecture tables (arch.h): model_type, defaults, the parameter count.
#ifndef TRIT_CONFIG_H
#define TRIT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "arch/model_config.h"

// Parses config.json text. Checks that the model is a decoder trit can run
// (model_type qwen3 or llama, silu, no attention or MLP bias, no sliding
// window, RoPE default or llama3-scaled) and that every size is positive and
// consistent. `name` is used in
// messages (usually the path).
int config_parse(ModelConfig *c, const char *json, size_t len, const char *name, char *err);
int config_load(ModelConfig *c, const char *path, char *err);

// Checks sizes for consistency (also used after building a config by hand).
int config_validate(const ModelConfig *c, const char *name, char *err);

// Writes config.json in transformers' layout (sorted keys, 2-space indent),
// atomically. `quantization_note` may be NULL; when given it is stored as
// "trit_quantization" so the file still loads in transformers.
int config_save(const ModelConfig *c, const char *path, const char *quantization_note, char *err);

// The "trit_quantization" note of a ternary model, what `trit verify` reads
// back: "ternary g64 gptq, embedding bf16, kept bf16 v_proj: …". `how`: the
// rounding (absmean, mse, gptq); `embedding`: the kept embedding's precision
// ("bf16", "fp32"), or NULL when it is ternary too; keep_linear: linear kinds
// kept in bf16 (arch_linear_mask); adapter_rank: the rank of each linear's
// B·A correction (0: none); `by`: the command that made it.
void quant_note(char *out, size_t n, int group, const char *how, const char *embedding, uint32_t keep_linear,
                int adapter_rank, const char *by);
// The group size of a note (0 when it is no ternary note), the kept
// embedding's precision into embedding[8] ("" when ternary) and the kept
// linear kinds into *keep_linear.
int quant_note_parse(const char *note, char embedding[8], uint32_t *keep_linear);

// Prints the configuration, one field a line, to stdout.
void config_print(const ModelConfig *c);

#endif
