// config.h — the Qwen3 model configuration, read from and written to the
// Hugging Face `config.json`.
#ifndef TRIT_CONFIG_H
#define TRIT_CONFIG_H

#include <stddef.h>

typedef struct {
    int vocab_size;               // V: rows of the embedding (151936 for Qwen3, incl. padding)
    int hidden_size;              // C
    int intermediate_size;        // F: SwiGLU width
    int num_hidden_layers;        // L
    int num_attention_heads;      // NH
    int num_key_value_heads;      // NKV (GQA: NH % NKV == 0)
    int head_dim;                 // HD (Qwen3: not necessarily C / NH)
    float rms_norm_eps;
    double rope_theta;
    int tie_word_embeddings;      // 1: the LM head is the embedding matrix
    int max_position_embeddings;
    int bos_token_id, eos_token_id;  // -1 when absent
    char torch_dtype[16];         // "bfloat16", "float16" or "float32": how weights are stored
} Qwen3Config;

// Parses config.json text. Checks that the model is a Qwen3 decoder trit can
// run (model_type qwen3, silu, no attention bias, no sliding window, no rope
// scaling) and that every size is positive and consistent. `name` is used in
// messages (usually the path).
int config_parse(Qwen3Config *c, const char *json, size_t len, const char *name, char *err);
int config_load(Qwen3Config *c, const char *path, char *err);

// Checks sizes for consistency (also used after building a config by hand).
int config_validate(const Qwen3Config *c, const char *name, char *err);

// Writes config.json in transformers' layout (sorted keys, 2-space indent),
// atomically. `quantization_note` may be NULL; when given it is stored as
// "trit_quantization" so the file still loads in transformers.
int config_save(const Qwen3Config *c, const char *path, const char *quantization_note, char *err);

// Prints the configuration, one field a line, to stdout.
void config_print(const Qwen3Config *c);

#endif
