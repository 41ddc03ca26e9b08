// arch.h — one table per model architecture: every tensor the model has,
// with its Hugging Face name, its GGUF name, its shape in terms of the
// config, and what training does with it.
//
// Everything that enumerates tensors reads this table: the flat parameter
// layout (model.c), the check of a checkpoint against its config
// (checkpoint.c), the parameter count (config_validate) and the HF <-> GGUF
// name map (import, export). A new architecture is a new table, not edits
// in four places (llama.cpp keeps its per-architecture tensor-name tables
// for the same reason).
#ifndef TRIT_ARCH_H
#define TRIT_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "arch/model_config.h"

// Every tensor kind any supported architecture has. The order is the order
// of the flat parameter buffer: embed, then each per-layer kind for all
// layers (kind-major), final norm, untied head.
typedef enum {
    TK_EMBED,
    TK_ATTN_NORM,
    TK_WQ,
    TK_WK,
    TK_WV,
    TK_Q_NORM,
    TK_K_NORM,
    TK_WO,
    TK_MLP_NORM,
    TK_WGATE,
    TK_WUP,
    TK_WDOWN,
    TK_FINAL_NORM,
    TK_LM_HEAD,
    // Low-rank corrections of the linear kinds (--adapter-rank): each
    // linear W (out, in) runs as W + B·A, A (r, in) and B (out, r); after
    // every other tensor so that a model without them keeps its layout.
    TK_WQ_A, TK_WQ_B, TK_WK_A, TK_WK_B, TK_WV_A, TK_WV_B, TK_WO_A, TK_WO_B,
    TK_WGATE_A, TK_WGATE_B, TK_WUP_A, TK_WUP_B, TK_WDOWN_A, TK_WDOWN_B,
    TK_COUNT
} TensorKind;

// The adapter kinds of a linear kind, in kind order of the linears: lora_a
// of TK_WQ is TK_WQ_A. -1 for a kind that is not a linear layer.
int tk_adapter_a(TensorKind linear);
static inline int tk_is_adapter(TensorKind k) { return k >= TK_WQ_A && k <= TK_WDOWN_B; }

// The token embedding and the (untied) LM head: the vocabulary-sized matrices.
static inline int tk_is_embedding(TensorKind k) { return k == TK_EMBED || k == TK_LM_HEAD; }

// A tensor dimension, as a function of the config.
typedef enum { DIM_NONE, DIM_C, DIM_QD, DIM_KD, DIM_HD, DIM_F, DIM_V, DIM_R } ArchDim;  // DIM_R: adapter rank

enum {
    TF_LAYER = 1,    // one per layer: names carry the layer index
    TF_TERNARY = 2,  // a matrix: projected to ternary by the QAT recipe
    TF_DECAY = 4,    // decayed by AdamW (the matrices; norms are not)
    TF_UNTIED = 8,   // present only when tie_word_embeddings is false
    TF_ROPE_PERM = 16,  // GGUF holds its rows in llama.cpp's rotary order (gguf_config.h)
    TF_ADAPTER = 32,    // present only with adapter_rank > 0; its GGUF name is llama.cpp's LoRA adapter's
};

typedef struct {
    TensorKind kind;
    const char *hf;    // printf format with %d for the layer: "model.layers.%d.self_attn.q_proj.weight"
    const char *gguf;  // llama.cpp's name: "blk.%d.attn_q.weight"
    ArchDim rows, cols;  // cols DIM_NONE: a vector
    unsigned flags;
} ArchTensor;

typedef struct {
    ModelArch id;
    const char *model_type;  // config.json "model_type": "qwen3", "llama"
    const char *hf_class;    // "architectures": "Qwen3ForCausalLM"
    const char *gguf_arch;   // GGUF general.architecture
    const ArchTensor *tensors;  // in buffer order (see TensorKind)
    int n_tensors;
    int default_context;     // max_position_embeddings when a config does not say (transformers' default)
    // What the architecture's transformers config class assumes when
    // config.json leaves a key out.
    int default_kv_heads;    // num_key_value_heads; 0: num_attention_heads
    int default_head_dim;    // head_dim; 0: hidden_size / num_attention_heads, and a null head_dim means it too
    int default_bos, default_eos;  // token ids (-1: none)
    unsigned save_keys;      // ARCH_KEYS_*: the class's own keys that config_save writes
} Arch;

// Keys one config class writes and another does not (config_save writes
// them as transformers does, so that the file diffs clean against its own).
enum {
    ARCH_KEYS_SLIDING_WINDOW = 1,  // max_window_layers, sliding_window, use_sliding_window (Qwen3Config)
    ARCH_KEYS_MLP_BIAS = 2,        // mlp_bias, pretraining_tp (LlamaConfig)
};

const Arch *arch_get(ModelArch id);
// By config.json model_type or HF class name, or by GGUF architecture name;
// NULL when trit does not support it.
const Arch *arch_by_model_type(const char *model_type);
const Arch *arch_by_hf_class(const char *hf_class);
const Arch *arch_by_gguf(const char *gguf_arch);
// The table entry of a kind; NULL when the architecture has no such tensor.
const ArchTensor *arch_tensor(const Arch *a, TensorKind kind);
// Whether the config has this tensor (an untied head only when untied,
// adapters only with a rank).
int arch_tensor_present(const ArchTensor *t, const ModelConfig *c);

// The size of a dimension under a config (1 for DIM_NONE).
int64_t arch_dim(const ModelConfig *c, ArchDim d);
// HF or GGUF name of tensor t for layer l (l ignored for global tensors).
void arch_hf_name(const ArchTensor *t, int layer, char *out, int n);
void arch_gguf_name(const ArchTensor *t, int layer, char *out, int n);

// The tensor an HF (or GGUF) name refers to, and its layer; NULL when it is
// none of this architecture's. With a config, layers must be below
// num_hidden_layers and an untied head only matches an untied model; with
// c NULL any layer number matches.
const ArchTensor *arch_find_hf(const Arch *a, const ModelConfig *c, const char *name, int *layer);
const ArchTensor *arch_find_gguf(const Arch *a, const ModelConfig *c, const char *name, int *layer);

// The per-layer linear kinds by their HF names' last part ("q_proj" …
// "down_proj"), as a bit mask (1u << kind): a comma-separated list into a
// mask (-1 with err naming what is not one; "" is 0), and back, in kind order
// (written into out, at most n bytes; "" for 0).
int arch_linear_mask(const char *list, uint32_t *mask, char *err);
void arch_linear_list(uint32_t mask, char *out, size_t n);

// Parameters of the model the config describes (the tied head counted
// once), or -1 when the count overflows int64.
int64_t arch_param_count(const ModelConfig *c);

#endif
