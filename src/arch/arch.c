// arch.c — the per-architecture tensor tables; see arch.h.
#include "arch/arch.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"

#define MAT (TF_TERNARY | TF_DECAY)

// The rows both architectures share; Qwen3 adds an RMSNorm over each head of
// q and k. HF and GGUF (llama.cpp) names side by side.
#define EMBED {TK_EMBED, "model.embed_tokens.weight", "token_embd.weight", DIM_V, DIM_C, MAT}
#define ATTN_NORM {TK_ATTN_NORM, "model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", DIM_C, DIM_NONE, TF_LAYER}
#define WQ(f) {TK_WQ, "model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", DIM_QD, DIM_C, TF_LAYER | MAT | (f)}
#define WK(f) {TK_WK, "model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", DIM_KD, DIM_C, TF_LAYER | MAT | (f)}
#define WV {TK_WV, "model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", DIM_KD, DIM_C, TF_LAYER | MAT}
#define Q_NORM {TK_Q_NORM, "model.layers.%d.self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight", DIM_HD, DIM_NONE, TF_LAYER}
#define K_NORM {TK_K_NORM, "model.layers.%d.self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight", DIM_HD, DIM_NONE, TF_LAYER}
#define WO {TK_WO, "model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", DIM_C, DIM_QD, TF_LAYER | MAT}
#define MLP_NORM {TK_MLP_NORM, "model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", DIM_C, DIM_NONE, TF_LAYER}
#define WGATE {TK_WGATE, "model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", DIM_F, DIM_C, TF_LAYER | MAT}
#define WUP {TK_WUP, "model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", DIM_F, DIM_C, TF_LAYER | MAT}
#define WDOWN {TK_WDOWN, "model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", DIM_C, DIM_F, TF_LAYER | MAT}
#define FINAL_NORM {TK_FINAL_NORM, "model.norm.weight", "output_norm.weight", DIM_C, DIM_NONE, 0}
#define LM_HEAD {TK_LM_HEAD, "lm_head.weight", "output.weight", DIM_V, DIM_C, MAT | TF_UNTIED}

// The low-rank adapter pair of a linear: lora_A (r, in) and lora_B (out, r),
// PEFT's names without its "base_model.model." prefix, and llama.cpp's LoRA
// adapter names (a separate GGUF file, llama.cpp's --lora). B's rows are
// the linear's output rows, so Llama's q/k B are in the rotary order too.
#define ADAPTER(k, hf, gguf, out, in, f)                                                                             \
    {k##_A, "model.layers.%d." hf ".lora_A.weight", "blk.%d." gguf ".weight.lora_a", DIM_R, in, TF_LAYER | TF_ADAPTER}, \
    {k##_B, "model.layers.%d." hf ".lora_B.weight", "blk.%d." gguf ".weight.lora_b", out, DIM_R,                    \
     TF_LAYER | TF_ADAPTER | (f)}
#define ADAPTERS(f)                                                                                                  \
    ADAPTER(TK_WQ, "self_attn.q_proj", "attn_q", DIM_QD, DIM_C, f),                                                 \
    ADAPTER(TK_WK, "self_attn.k_proj", "attn_k", DIM_KD, DIM_C, f),                                                 \
    ADAPTER(TK_WV, "self_attn.v_proj", "attn_v", DIM_KD, DIM_C, 0),                                                 \
    ADAPTER(TK_WO, "self_attn.o_proj", "attn_output", DIM_C, DIM_QD, 0),                                            \
    ADAPTER(TK_WGATE, "mlp.gate_proj", "ffn_gate", DIM_F, DIM_C, 0),                                                \
    ADAPTER(TK_WUP, "mlp.up_proj", "ffn_up", DIM_F, DIM_C, 0),                                                      \
    ADAPTER(TK_WDOWN, "mlp.down_proj", "ffn_down", DIM_C, DIM_F, 0)

static const ArchTensor qwen3_tensors[] = {
    EMBED, ATTN_NORM, WQ(0), WK(0), WV, Q_NORM, K_NORM, WO, MLP_NORM, WGATE, WUP, WDOWN, FINAL_NORM, LM_HEAD, ADAPTERS(0),
};

// llama.cpp's converter stores Llama's q and k rows in its rotary order.
static const ArchTensor llama_tensors[] = {
    EMBED, ATTN_NORM, WQ(TF_ROPE_PERM), WK(TF_ROPE_PERM), WV, WO, MLP_NORM, WGATE, WUP, WDOWN, FINAL_NORM, LM_HEAD,
    ADAPTERS(TF_ROPE_PERM),
};

#define N(a) (int)(sizeof a / sizeof a[0])
static const Arch archs[] = {
    {ARCH_QWEN3, "qwen3", "Qwen3ForCausalLM", "qwen3", qwen3_tensors, N(qwen3_tensors), 32768,
     .default_kv_heads = 32, .default_head_dim = 128, .default_bos = -1, .default_eos = -1,
     .save_keys = ARCH_KEYS_SLIDING_WINDOW},
    {ARCH_LLAMA, "llama", "LlamaForCausalLM", "llama", llama_tensors, N(llama_tensors), 2048,
     .default_kv_heads = 0, .default_head_dim = 0, .default_bos = 1, .default_eos = 2,
     .save_keys = ARCH_KEYS_MLP_BIAS},
};

const Arch *arch_get(ModelArch id) {
    for (int i = 0; i < N(archs); i++)
        if (archs[i].id == id) return &archs[i];
    return NULL;
}

const Arch *arch_by_model_type(const char *s) {
    for (int i = 0; i < N(archs); i++)
        if (!strcmp(archs[i].model_type, s)) return &archs[i];
    return NULL;
}

const Arch *arch_by_hf_class(const char *s) {
    for (int i = 0; i < N(archs); i++)
        if (!strcmp(archs[i].hf_class, s)) return &archs[i];
    return NULL;
}

const Arch *arch_by_gguf(const char *s) {
    for (int i = 0; i < N(archs); i++)
        if (!strcmp(archs[i].gguf_arch, s)) return &archs[i];
    return NULL;
}

const ArchTensor *arch_tensor(const Arch *a, TensorKind kind) {
    for (int i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].kind == kind) return &a->tensors[i];
    return NULL;
}

int arch_tensor_present(const ArchTensor *t, const ModelConfig *c) {
    if (t->flags & TF_ADAPTER) return c->adapter_rank > 0;
    return !(t->flags & TF_UNTIED) || !c->tie_word_embeddings;
}

int64_t arch_dim(const ModelConfig *c, ArchDim d) {
    switch (d) {
    case DIM_C: return c->hidden_size;
    case DIM_QD: return (int64_t)c->num_attention_heads * c->head_dim;
    case DIM_KD: return (int64_t)c->num_key_value_heads * c->head_dim;
    case DIM_HD: return c->head_dim;
    case DIM_F: return c->intermediate_size;
    case DIM_V: return c->vocab_size;
    case DIM_R: return c->adapter_rank;
    case DIM_NONE: break;
    }
    return 1;
}

static void fmt_name(const char *fmt, unsigned flags, int layer, char *out, int n) {
    if (flags & TF_LAYER) snprintf(out, (size_t)n, fmt, layer);
    else snprintf(out, (size_t)n, "%s", fmt);
}

void arch_hf_name(const ArchTensor *t, int layer, char *out, int n) { fmt_name(t->hf, t->flags, layer, out, n); }
void arch_gguf_name(const ArchTensor *t, int layer, char *out, int n) { fmt_name(t->gguf, t->flags, layer, out, n); }

static const struct {
    TensorKind kind;
    const char *name;
} linear_names[] = {{TK_WQ, "q_proj"},       {TK_WK, "k_proj"},   {TK_WV, "v_proj"},    {TK_WO, "o_proj"},
                    {TK_WGATE, "gate_proj"}, {TK_WUP, "up_proj"}, {TK_WDOWN, "down_proj"}};

int tk_adapter_a(TensorKind linear) {
    for (int i = 0; i < N(linear_names); i++)
        if (linear_names[i].kind == linear) return TK_WQ_A + 2 * i;
    return -1;
}

int arch_linear_mask(const char *list, uint32_t *mask, char *err) {
    *mask = 0;
    for (const char *p = list; *p;) {
        const size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < N(linear_names) && !found; i++)
            if (strlen(linear_names[i].name) == len && !strncmp(p, linear_names[i].name, len)) {
                *mask |= 1u << linear_names[i].kind;
                found = 1;
            }
        if (!found)
            return set_err(err, "'%.*s' is not a linear layer: the names are q_proj, k_proj, v_proj, o_proj, "
                                "gate_proj, up_proj, down_proj", (int)len, p);
        p += len + (p[len] == ',');
    }
    return 0;
}

void arch_linear_list(uint32_t mask, char *out, size_t n) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < N(linear_names); i++)
        if ((mask >> linear_names[i].kind) & 1u && used < n)
            used += (size_t)snprintf(out + used, n - used, "%s%s", used ? "," : "", linear_names[i].name);
}

int64_t arch_param_count(const ModelConfig *c) {
    const Arch *a = arch_get(c->arch);
    if (!a) return -1;
    int64_t total = 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const ArchTensor *t = &a->tensors[i];
        if (!arch_tensor_present(t, c)) continue;
        int64_t n;
        if (__builtin_mul_overflow(arch_dim(c, t->rows), arch_dim(c, t->cols), &n) ||
            ((t->flags & TF_LAYER) && __builtin_mul_overflow(n, (int64_t)c->num_hidden_layers, &n)) ||
            __builtin_add_overflow(total, n, &total))
            return -1;
    }
    return total;
}

// Whether `name` is `fmt` with a layer number in place of its "%d" (decimal,
// no leading zeros, below max_layer when max_layer >= 0).
static int match_layer_name(const char *fmt, const char *name, int max_layer, int *layer) {
    const char *pct = strstr(fmt, "%d");
    size_t pre = (size_t)(pct - fmt);
    if (strncmp(name, fmt, pre) != 0) return 0;
    const char *p = name + pre;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return 0;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 1L << 30 || (max_layer >= 0 && v >= max_layer)) return 0;
    }
    if (strcmp(p, pct + 2) != 0) return 0;
    *layer = (int)v;
    return 1;
}

static const ArchTensor *find_name(const Arch *a, const ModelConfig *c, const char *name, int gguf, int *layer) {
    for (int i = 0; i < a->n_tensors; i++) {
        const ArchTensor *t = &a->tensors[i];
        const char *fmt = gguf ? t->gguf : t->hf;
        int l = 0;
        if (t->flags & TF_LAYER) {
            if (!match_layer_name(fmt, name, c ? c->num_hidden_layers : -1, &l)) continue;
        } else if (strcmp(fmt, name) != 0) {
            continue;
        }
        if (c && !arch_tensor_present(t, c)) continue;
        if (layer) *layer = l;
        return t;
    }
    return NULL;
}

const ArchTensor *arch_find_hf(const Arch *a, const ModelConfig *c, const char *name, int *layer) {
    return find_name(a, c, name, 0, layer);
}

const ArchTensor *arch_find_gguf(const Arch *a, const ModelConfig *c, const char *name, int *layer) {
    return find_name(a, c, name, 1, layer);
}
