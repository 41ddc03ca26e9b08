// checkpoint.c — see checkpoint.h.
#include "io/checkpoint.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const kind_names[CK_NUM_KINDS] = {"embedding", "attention", "mlp", "norms", "lm_head", "other"};

const char *ck_kind_name(CkKind k) { return (unsigned)k < CK_NUM_KINDS ? kind_names[k] : "?"; }

CkKind ck_kind_of(const char *name) {
    if (!strcmp(name, "model.embed_tokens.weight")) return CK_EMBEDDING;
    if (!strcmp(name, "lm_head.weight")) return CK_LM_HEAD;
    if (!strcmp(name, "model.norm.weight")) return CK_NORM;
    if (strncmp(name, "model.layers.", 13) != 0) return CK_OTHER;
    const char *p = name + 13;
    if (*p < '0' || *p > '9') return CK_OTHER;
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != '.') return CK_OTHER;
    if (!strcmp(p, "input_layernorm.weight") || !strcmp(p, "post_attention_layernorm.weight") ||
        !strcmp(p, "self_attn.q_norm.weight") || !strcmp(p, "self_attn.k_norm.weight"))
        return CK_NORM;
    if (!strncmp(p, "self_attn.", 10)) return CK_ATTENTION;
    if (!strncmp(p, "mlp.", 4)) return CK_MLP;
    return CK_OTHER;
}

// Per layer, in transformers' state_dict order. Dims: 0 C, 1 NH*HD, 2 NKV*HD,
// 3 HD, 4 F; cols -1: a vector.
static const struct { const char *suffix; int rows, cols; } layer_kinds[11] = {
    {"self_attn.q_proj.weight", 1, 0},
    {"self_attn.k_proj.weight", 2, 0},
    {"self_attn.v_proj.weight", 2, 0},
    {"self_attn.o_proj.weight", 0, 1},
    {"self_attn.q_norm.weight", 3, -1},
    {"self_attn.k_norm.weight", 3, -1},
    {"mlp.gate_proj.weight", 4, 0},
    {"mlp.up_proj.weight", 4, 0},
    {"mlp.down_proj.weight", 0, 4},
    {"input_layernorm.weight", 0, -1},
    {"post_attention_layernorm.weight", 0, -1},
};

static void set(CkTensor *e, const char *name, int64_t rows, int64_t cols) {
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = cols ? 2 : 1;
    e->shape[0] = rows;
    e->shape[1] = cols;
    e->kind = ck_kind_of(e->name);
}

static void set_layer(const Qwen3Config *c, CkTensor *e, int layer, int kind) {
    const int64_t HD = c->head_dim;
    const int64_t dims[5] = {c->hidden_size, (int64_t)c->num_attention_heads * HD, (int64_t)c->num_key_value_heads * HD,
                             HD, c->intermediate_size};
    char name[96];
    snprintf(name, sizeof name, "model.layers.%d.%s", layer, layer_kinds[kind].suffix);
    set(e, name, dims[layer_kinds[kind].rows], layer_kinds[kind].cols < 0 ? 0 : dims[layer_kinds[kind].cols]);
}

int64_t ck_tensor_count(const Qwen3Config *c) {
    return 11 * (int64_t)c->num_hidden_layers + 2 + !c->tie_word_embeddings;
}

// The k-th expected tensor, 0 <= k < ck_tensor_count(c).
static void expected_at(const Qwen3Config *c, int64_t k, CkTensor *e) {
    const int64_t L = c->num_hidden_layers;
    if (k == 0) set(e, "model.embed_tokens.weight", c->vocab_size, c->hidden_size);
    else if (k <= 11 * L) set_layer(c, e, (int)((k - 1) / 11), (int)((k - 1) % 11));
    else if (k == 11 * L + 1) set(e, "model.norm.weight", c->hidden_size, 0);
    else set(e, "lm_head.weight", c->vocab_size, c->hidden_size);
}

int ck_expected_tensors(const Qwen3Config *c, CkTensor **out) {
    int64_t n = ck_tensor_count(c);
    if (n > INT_MAX / 2) { *out = NULL; return -1; }
    CkTensor *t = xcalloc((size_t)n, sizeof *t);
    for (int64_t k = 0; k < n; k++) expected_at(c, k, &t[k]);
    *out = t;
    return (int)n;
}

int ck_lookup(const Qwen3Config *c, const char *name, CkTensor *out) {
    CkTensor e;
    if (!strcmp(name, "model.embed_tokens.weight")) expected_at(c, 0, &e);
    else if (!strcmp(name, "model.norm.weight")) expected_at(c, 11 * (int64_t)c->num_hidden_layers + 1, &e);
    else if (!strcmp(name, "lm_head.weight") && !c->tie_word_embeddings)
        expected_at(c, 11 * (int64_t)c->num_hidden_layers + 2, &e);
    else if (!strncmp(name, "model.layers.", 13)) {
        // "model.layers.<N>.<suffix>", N in decimal without leading zeros.
        const char *p = name + 13;
        int64_t layer = 0;
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            layer = layer * 10 + (*p - '0');
            if (layer >= c->num_hidden_layers) return 0;
        }
        if (*p++ != '.') return 0;
        int kind = -1;
        for (int k = 0; k < 11 && kind < 0; k++)
            if (!strcmp(p, layer_kinds[k].suffix)) kind = k;
        if (kind < 0) return 0;
        set_layer(c, &e, (int)layer, kind);
    } else {
        return 0;
    }
    if (out) *out = e;
    return 1;
}

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static int shape_matches(const StTensor *t, const CkTensor *e) {
    return t->ndim == e->ndim && t->shape[0] == e->shape[0] && (e->ndim == 1 || t->shape[1] == e->shape[1]);
}

int checkpoint_check(const Qwen3Config *c, const StArchive *a, const char *name, char *err) {
    if (config_validate(c, name, err) != 0) return -1;
    char want[96], got[160];
    // Every tensor the config implies, generated one at a time (a config
    // with absurdly many layers fails at the first missing one, cheaply).
    int64_t n = ck_tensor_count(c);
    for (int64_t k = 0; k < n; k++) {
        CkTensor e;
        expected_at(c, k, &e);
        const StTensor *t = st_find(a, e.name);
        fmt_shape(want, sizeof want, e.ndim, e.shape);
        if (!t)
            return set_err(err, "%s: tensor '%s' is missing (config.json implies it, shape %s)", name, e.name, want);
        if (!shape_matches(t, &e)) {
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return set_err(err, "%s: tensor '%s' has shape %s, config.json implies %s", name, e.name, got, want);
        }
    }
    // Nothing else: an extra tensor means the config and the weights disagree.
    for (int i = 0; i < a->ntensors; i++) {
        const StTensor *t = &a->tensors[i];
        if (ck_lookup(c, t->name, NULL)) continue;
        if (c->tie_word_embeddings && !strcmp(t->name, "lm_head.weight")) {
            CkTensor head = {.ndim = 2, .shape = {c->vocab_size, c->hidden_size}};
            if (shape_matches(t, &head)) continue;
            fmt_shape(want, sizeof want, 2, head.shape);
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return set_err(err, "%s: tensor 'lm_head.weight' has shape %s, config.json implies %s", name, got, want);
        }
        return set_err(err, "%s: unexpected tensor '%.200s' (not part of the Qwen3 model config.json describes)", name,
                       t->name);
    }
    return 0;
}
