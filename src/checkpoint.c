// checkpoint.c — see checkpoint.h.
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

static void add(CkTensor *t, int *n, const char *name, int64_t rows, int64_t cols) {
    CkTensor *e = &t[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = cols ? 2 : 1;
    e->shape[0] = rows;
    e->shape[1] = cols;
    e->kind = ck_kind_of(name);
}

int ck_expected_tensors(const Qwen3Config *c, CkTensor **out) {
    const int64_t C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size, HD = c->head_dim;
    const int64_t QD = (int64_t)c->num_attention_heads * HD, KD = (int64_t)c->num_key_value_heads * HD;
    const int L = c->num_hidden_layers;
    CkTensor *t = xcalloc((size_t)L * 11 + 3, sizeof *t);
    int n = 0;
    char name[96];
    add(t, &n, "model.embed_tokens.weight", V, C);
    static const struct { const char *fmt; int rows, cols; } kinds[] = {
        // 0: C, 1: QD, 2: KD, 3: HD, 4: F (indices into dims below); cols -1: a vector
        {"model.layers.%d.self_attn.q_proj.weight", 1, 0},
        {"model.layers.%d.self_attn.k_proj.weight", 2, 0},
        {"model.layers.%d.self_attn.v_proj.weight", 2, 0},
        {"model.layers.%d.self_attn.o_proj.weight", 0, 1},
        {"model.layers.%d.self_attn.q_norm.weight", 3, -1},
        {"model.layers.%d.self_attn.k_norm.weight", 3, -1},
        {"model.layers.%d.mlp.gate_proj.weight", 4, 0},
        {"model.layers.%d.mlp.up_proj.weight", 4, 0},
        {"model.layers.%d.mlp.down_proj.weight", 0, 4},
        {"model.layers.%d.input_layernorm.weight", 0, -1},
        {"model.layers.%d.post_attention_layernorm.weight", 0, -1},
    };
    const int64_t dims[5] = {C, QD, KD, HD, F};
    for (int l = 0; l < L; l++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            snprintf(name, sizeof name, kinds[k].fmt, l);
            add(t, &n, name, dims[kinds[k].rows], kinds[k].cols < 0 ? 0 : dims[kinds[k].cols]);
        }
    }
    add(t, &n, "model.norm.weight", C, 0);
    if (!c->tie_word_embeddings) add(t, &n, "lm_head.weight", V, C);
    *out = t;
    return n;
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

static int cmp_ck_name(const void *x, const void *y) {
    return strcmp(((const CkTensor *)x)->name, ((const CkTensor *)y)->name);
}

int checkpoint_check(const Qwen3Config *c, const StArchive *a, const char *name, char *err) {
    if (config_validate(c, name, err) != 0) return -1;
    CkTensor *exp;
    int n = ck_expected_tensors(c, &exp), rc = 0;
    char want[96], got[160];
    for (int i = 0; i < n && rc == 0; i++) {
        const StTensor *t = st_find(a, exp[i].name);
        fmt_shape(want, sizeof want, exp[i].ndim, exp[i].shape);
        if (!t) {
            rc = set_err(err, "%s: tensor '%s' is missing (config.json implies it, shape %s)", name, exp[i].name, want);
        } else if (!shape_matches(t, &exp[i])) {
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            rc = set_err(err, "%s: tensor '%s' has shape %s, config.json implies %s", name, exp[i].name, got, want);
        }
    }
    // Nothing else: an extra tensor means the config and the weights disagree.
    if (rc == 0) {
        qsort(exp, (size_t)n, sizeof *exp, cmp_ck_name);
        for (int i = 0; i < a->ntensors && rc == 0; i++) {
            const StTensor *t = &a->tensors[i];
            CkTensor key;
            snprintf(key.name, sizeof key.name, "%s", t->name);
            if (strlen(t->name) < sizeof key.name && bsearch(&key, exp, (size_t)n, sizeof *exp, cmp_ck_name)) continue;
            if (c->tie_word_embeddings && !strcmp(t->name, "lm_head.weight")) {
                CkTensor head = {.ndim = 2, .shape = {c->vocab_size, c->hidden_size}};
                if (shape_matches(t, &head)) continue;
                fmt_shape(want, sizeof want, 2, head.shape);
                fmt_shape(got, sizeof got, t->ndim, t->shape);
                rc = set_err(err, "%s: tensor 'lm_head.weight' has shape %s, config.json implies %s", name, got, want);
                break;
            }
            rc = set_err(err, "%s: unexpected tensor '%.200s' (not part of the Qwen3 model config.json describes)",
                         name, t->name);
        }
    }
    free(exp);
    return rc;
}
