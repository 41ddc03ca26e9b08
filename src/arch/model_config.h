// model_config.h — ModelConfig: the hyperparameters of a model, the struct
// alone. The tables (arch.h) size tensors from it; config.h reads and writes
// it as config.json, gguf_config.h reads it from GGUF keys.
#ifndef TRIT_MODEL_CONFIG_H
#define TRIT_MODEL_CONFIG_H

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
    int vocab_size;               // V: rows of the embedding (151,936 for Qwen3, incl. padding)
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
    int adapter_rank;             // r of every linear's low-rank correction B·A ("trit_adapter_rank"; 0: none)
} ModelConfig;

#endif
