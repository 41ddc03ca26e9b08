// gguf_config.c — see gguf_config.h.
#include "arch/gguf_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"
#include "tok/gguf_vocab.h"

// An optional integer KV "<arch>.<key>" into *out (kept when absent).
static int arch_u32(const GgufFile *g, const char *arch, const char *key, int required, int *out, char *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (!gguf_find_kv(g, full)) {
        if (required) return set_err(err, "%s: key '%s' is missing", g->name, full);
        return 0;
    }
    uint32_t v;
    if (gguf_get_u32(g, full, &v, err)) return -1;
    if (v < 1 || v > (1u << 30)) return set_err(err, "%s: %s is %u, must be in [1, 2^30]", g->name, full, v);
    *out = (int)v;
    return 0;
}

static int arch_f64(const GgufFile *g, const char *arch, const char *key, double *out, char *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (!gguf_find_kv(g, full)) return 0;
    return gguf_get_f64(g, full, out, err);
}

static int token_id(const GgufFile *g, const char *key, int *out, char *err) {
    *out = -1;
    if (!gguf_find_kv(g, key)) return 0;
    uint32_t v;
    if (gguf_get_u32(g, key, &v, err)) return -1;
    if (v > (1u << 30)) return set_err(err, "%s: %s is %u: not a token id", g->name, key, v);
    *out = (int)v;
    return 0;
}

int gguf_config(const GgufFile *g, ModelConfig *c, char *err) {
    memset(c, 0, sizeof *c);
    const char *s;
    size_t n;
    char arch_name[64];
    if (gguf_get_str(g, "general.architecture", &s, &n, err)) return -1;
    snprintf(arch_name, sizeof arch_name, "%.*s", (int)(n < 60 ? n : 60), s);
    const Arch *arch = arch_by_gguf(arch_name);
    if (!arch || strlen(arch_name) != n)
        return set_err(err, "%s: architecture '%s' is not supported (trit imports qwen3 and llama)", g->name,
                       arch_name);
    c->arch = arch->id;
    const char *A = arch->gguf_arch;
    if (arch_u32(g, A, "block_count", 1, &c->num_hidden_layers, err) ||
        arch_u32(g, A, "embedding_length", 1, &c->hidden_size, err) ||
        arch_u32(g, A, "feed_forward_length", 1, &c->intermediate_size, err) ||
        arch_u32(g, A, "attention.head_count", 1, &c->num_attention_heads, err))
        return -1;
    c->num_key_value_heads = c->num_attention_heads;
    c->head_dim = c->hidden_size / c->num_attention_heads;
    c->max_position_embeddings = arch->default_context;
    if (arch_u32(g, A, "attention.head_count_kv", 0, &c->num_key_value_heads, err) ||
        arch_u32(g, A, "attention.key_length", 0, &c->head_dim, err) ||
        arch_u32(g, A, "context_length", 0, &c->max_position_embeddings, err))
        return -1;
    int vdim = c->head_dim, rot = c->head_dim;
    if (arch_u32(g, A, "attention.value_length", 0, &vdim, err) || arch_u32(g, A, "rope.dimension_count", 0, &rot, err))
        return -1;
    if (vdim != c->head_dim)
        return set_err(err, "%s: attention.value_length %d differs from key_length %d (not supported)", g->name, vdim,
                       c->head_dim);
    if (rot != c->head_dim)
        return set_err(err, "%s: rope.dimension_count %d: partial rotary embeddings (< head_dim %d) are not supported",
                       g->name, rot, c->head_dim);
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", A);
    if (gguf_find_kv(g, key)) {
        if (gguf_get_str(g, key, &s, &n, err)) return -1;
        if (!(n == 4 && !memcmp(s, "none", 4)))
            return set_err(err, "%s: %s '%.*s' is not supported (no RoPE scaling in GGUF import)", g->name, key,
                           (int)(n < 40 ? n : 40), s);
    }
    if (gguf_find_tensor(g, "rope_freqs.weight"))
        return set_err(err, "%s: tensor 'rope_freqs.weight' (llama3 RoPE scaling factors) is not supported by "
                       "the import yet", g->name);
    double eps = 1e-6, theta = 10000.0;
    if (arch_f64(g, A, "attention.layer_norm_rms_epsilon", &eps, err) || arch_f64(g, A, "rope.freq_base", &theta, err))
        return -1;
    c->rms_norm_eps = (float)eps;
    c->rope_theta = theta;
    c->rope_scaling.type = ROPE_DEFAULT;
    // The vocabulary is the embedding's rows (it may be padded past the tokens).
    const GgufTensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return set_err(err, "%s: tensor 'token_embd.weight' is missing or not a matrix", g->name);
    if (emb->ne[1] > (1 << 30)) return set_err(err, "%s: token_embd.weight has %lld rows", g->name, (long long)emb->ne[1]);
    c->vocab_size = (int)emb->ne[1];
    c->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    if (token_id(g, "tokenizer.ggml.bos_token_id", &c->bos_token_id, err) ||
        token_id(g, "tokenizer.ggml.eos_token_id", &c->eos_token_id, err))
        return -1;
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "float32");
    return config_validate(c, g->name, err);
}

int gguf_check_tensors(const GgufFile *g, const ModelConfig *c, char *err) {
    const Arch *arch = arch_get(c->arch);
    char name[96];
    for (int i = 0; i < arch->n_tensors; i++) {
        const ArchTensor *e = &arch->tensors[i];
        if (!arch_tensor_present(e, c)) continue;
        const int64_t rows = arch_dim(c, e->rows), cols = e->cols == DIM_NONE ? 0 : arch_dim(c, e->cols);
        for (int l = 0; l < ((e->flags & TF_LAYER) ? c->num_hidden_layers : 1); l++) {
            arch_gguf_name(e, l, name, sizeof name);
            const GgufTensor *t = gguf_find_tensor(g, name);
            if (!t) return set_err(err, "%s: tensor '%s' is missing", g->name, name);
            int ok = cols ? t->n_dims == 2 && t->ne[0] == cols && t->ne[1] == rows : t->n_dims == 1 && t->ne[0] == rows;
            if (!ok)
                return set_err(err, "%s: tensor '%s' has shape [%lld, %lld] (ggml order), the config implies [%lld, %lld]",
                               g->name, name, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                               (long long)(cols ? cols : rows), (long long)(cols ? rows : 1));
            if (!t->tt->to_float)
                return set_err(err, "%s: tensor '%s' is %s, which trit cannot dequantize yet", g->name, name,
                               t->tt->name);
        }
    }
    for (int i = 0; i < g->n_tensors; i++)
        if (!arch_find_gguf(arch, c, g->tensors[i].name, NULL))
            return set_err(err, "%s: unexpected tensor '%.200s' (not part of a %s model)", g->name,
                           g->tensors[i].name, arch->gguf_arch);
    return 0;
}

void llama_rotary_rows(void *w, int heads, int HD, size_t row_bytes, int to_gguf) {
    uint8_t *tmp = xmalloc((size_t)HD * row_bytes);
    const int half = HD / 2;
    for (int h = 0; h < heads; h++) {
        uint8_t *head = (uint8_t *)w + (size_t)h * HD * row_bytes;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < half; j++) {
                const size_t hf = (size_t)i * half + j, gg = (size_t)2 * j + i;
                memcpy(tmp + (to_gguf ? gg : hf) * row_bytes, head + (to_gguf ? hf : gg) * row_bytes, row_bytes);
            }
        memcpy(head, tmp, (size_t)HD * row_bytes);
    }
    free(tmp);
}

int gguf_rope_rows(const ModelConfig *c, TensorKind k, void *w, size_t row_bytes, int to_gguf) {
    const ArchTensor *t = arch_tensor(arch_get(c->arch), k);
    if (!t || !(t->flags & TF_ROPE_PERM)) return 0;
    if (w) llama_rotary_rows(w, (int)(arch_dim(c, t->rows) / c->head_dim), c->head_dim, row_bytes, to_gguf);
    return 1;
}

// A string array KV as pointer/length arrays (into the file).
static int str_array(const GgufFile *g, const char *key, int *n, const char ***s, size_t **lens, char *err) {
    const GgufKV *kv;
    if (gguf_get_arr(g, key, GGUF_TYPE_STRING, &kv, err)) return -1;
    if (kv->n > (1u << 30)) return set_err(err, "%s: %s has %llu entries", g->name, key, (unsigned long long)kv->n);
    *n = (int)kv->n;
    *s = xmalloc(sizeof(char *) * (kv->n ? kv->n : 1));
    *lens = xmalloc(sizeof(size_t) * (kv->n ? kv->n : 1));
    for (uint64_t i = 0; i < kv->n; i++) (*s)[i] = gguf_arr_str(kv, i, &(*lens)[i]);
    return 0;
}

static char *kv_strdup(const GgufFile *g, const char *key, char *err) {
    const char *s;
    size_t n;
    if (gguf_get_str(g, key, &s, &n, err)) return NULL;
    if (memchr(s, 0, n)) {
        set_err(err, "%s: %s contains a NUL byte", g->name, key);
        return NULL;
    }
    char *out = xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

int gguf_tokenizer_files(const GgufFile *g, const ModelConfig *c, char **tok_json, size_t *tok_len, char **cfg_json,
                         size_t *cfg_len, char *err) {
    GgufVocab v = {0};
    const char **tokens = NULL, **merges = NULL;
    size_t *tok_lens = NULL, *merge_lens = NULL;
    int32_t *types = NULL;
    char *model = NULL, *pre = NULL, *tmpl = NULL;
    int rc = -1;
    *tok_json = *cfg_json = NULL;
    if (str_array(g, "tokenizer.ggml.tokens", &v.n_tokens, &tokens, &tok_lens, err)) goto done;
    if (str_array(g, "tokenizer.ggml.merges", &v.n_merges, &merges, &merge_lens, err)) goto done;
    if (!(model = kv_strdup(g, "tokenizer.ggml.model", err))) goto done;
    if (gguf_find_kv(g, "tokenizer.ggml.pre")) {
        if (!(pre = kv_strdup(g, "tokenizer.ggml.pre", err))) goto done;
    } else {
        pre = xstrdup("default");
    }
    if (gguf_find_kv(g, "tokenizer.ggml.token_type")) {
        const GgufKV *kv = gguf_find_kv(g, "tokenizer.ggml.token_type");
        if (kv->type != GGUF_TYPE_ARRAY || kv->n > (1u << 30)) {
            set_err(err, "%s: tokenizer.ggml.token_type must be an integer array", g->name);
            goto done;
        }
        v.n_token_types = (int)kv->n;
        types = xmalloc(sizeof(int32_t) * (kv->n ? kv->n : 1));
        for (uint64_t i = 0; i < kv->n; i++) {
            int64_t t;
            if (gguf_arr_int(kv, i, &t) || t < INT32_MIN || t > INT32_MAX) {
                set_err(err, "%s: tokenizer.ggml.token_type[%llu] is not an integer", g->name, (unsigned long long)i);
                goto done;
            }
            types[i] = (int32_t)t;
        }
        v.token_types = types;
    }
    v.tokens = tokens;
    v.token_lens = tok_lens;
    v.merges = merges;
    v.merge_lens = merge_lens;
    v.model = model;
    v.pre = pre;
    if (token_id(g, "tokenizer.ggml.bos_token_id", &v.bos_id, err) ||
        token_id(g, "tokenizer.ggml.eos_token_id", &v.eos_id, err) ||
        token_id(g, "tokenizer.ggml.unknown_token_id", &v.unk_id, err) ||
        token_id(g, "tokenizer.ggml.padding_token_id", &v.pad_id, err))
        goto done;
    v.add_bos = -1;
    if (gguf_find_kv(g, "tokenizer.ggml.add_bos_token") && gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v.add_bos, err))
        goto done;
    if (v.n_tokens > c->vocab_size) {
        set_err(err, "%s: %d tokens but the embedding has only %d rows", g->name, v.n_tokens, c->vocab_size);
        goto done;
    }
    if (gguf_find_kv(g, "tokenizer.chat_template") && !(tmpl = kv_strdup(g, "tokenizer.chat_template", err))) goto done;
    char why[ERR_LEN];
    if (!(*tok_json = tokenizer_json_from_gguf(&v, tok_len, why)) ||
        !(*cfg_json = tokenizer_config_from_gguf(&v, tmpl, c->max_position_embeddings, cfg_len, why))) {
        set_err(err, "%s: %s", g->name, why);  // the vocabulary module does not know the file
        goto done;
    }
    rc = 0;
done:
    if (rc) { free(*tok_json); *tok_json = NULL; }
    free(tokens); free(tok_lens); free(merges); free(merge_lens); free(types);
    free(model); free(pre); free(tmpl);
    return rc;
}

