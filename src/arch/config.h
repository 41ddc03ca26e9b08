// config.h — the model configuration (Qwen3 or Llama), read from and written
// to the Hugging Face `config.json`.
#ifndef TRIT_CONFIG_H
#define TRIT_CONFIG_H

#include <stddef.h>

typedef enum { ARCH_QWEN3, ARCH_LLAMA } ModelArch;

// RoPE frequency scaling. ROPE_LLAMA3 is Llama 3.1's: wavelengths longer than
// original_max_position_embeddings / low_freq_factor are divided by factor,
// those shorter than ... / high_freq_factor kept, and the band between
// interpolated smoothly (transformers' _compute_llama3_parameters).
typedef enum { ROPE_DEFAULT, ROPE_LLAMA3 } RopeType;
typedef struct {
    RopeType type;
    double factor, low_freq_factor, high_freq_factor;
    int original_max_position_embeddings;
} RopeScaling;

typedef struct {
    ModelArch arch;               // which tensor table (src/arch) and block variant
    int vocab_size;               // V: rows of the embedding (151936 for Model, incl. padding)
    int hidden_size;              // C
    int intermediate_size;        // F: SwiGLU width
    int num_hidden_layers;        // L
    int num_attention_heads;      // NH
    int num_key_value_heads;      // NKV (GQA: NH % NKV == 0)
    int head_dim;                 // HD (Qwen3: not necessarily C / NH)
    float rms_norm_eps;
    double rope_theta;
    RopeScaling rope_scaling;
    int tie_word_embeddings;      // 1: the LM head is the embedding matrix
    int max_position_embeddings;
    int bos_token_id, eos_token_id;  // -1 when absent
    char torch_dtype[16];         // "bfloat16", "float16" or "float32": how weights are stored
} ModelConfig;

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

// Prints the configuration, one field a line, to stdout.
void config_print(const ModelConfig *c);

#endif
