// checkpoint.c — see checkpoint.h.
#include "arch/checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"

static const char *const kind_names[CK_NUM_KINDS] = {"embedding", "attention", "mlp", "norms", "lm_head", "other"};

const char *ck_kind_name(CkKind k) { return (unsigned)k < CK_NUM_KINDS ? kind_names[k] : "?"; }

CkKind ck_kind_of(const char *name) {
    // Qwen3's table names every tensor Llama has, and its head norms.
    const ArchTensor *t = arch_find_hf(arch_get(ARCH_QWEN3), NULL, name, NULL);
    if (!t) return CK_OTHER;
    switch (t->kind) {
    case TK_EMBED: return CK_EMBEDDING;
    case TK_LM_HEAD: return CK_LM_HEAD;
    case TK_WQ: case TK_WK: case TK_WV: case TK_WO:
    case TK_WQ_A: case TK_WQ_B: case TK_WK_A: case TK_WK_B: case TK_WV_A: case TK_WV_B: case TK_WO_A: case TK_WO_B:
        return CK_ATTENTION;
    case TK_WGATE: case TK_WUP: case TK_WDOWN:
    case TK_WGATE_A: case TK_WGATE_B: case TK_WUP_A: case TK_WUP_B: case TK_WDOWN_A: case TK_WDOWN_B:
        return CK_MLP;
    default: return CK_NORM;
    }
}

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

// Expected shape of table entry t: ndim and shape[2].
static int expected_shape(const ModelConfig *c, const ArchTensor *t, int64_t shape[2]) {
    shape[0] = arch_dim(c, t->rows);
    shape[1] = t->cols == DIM_NONE ? 0 : arch_dim(c, t->cols);
    return t->cols == DIM_NONE ? 1 : 2;
}

static int shape_matches(const StTensor *t, int ndim, const int64_t *shape) {
    return t->ndim == ndim && t->shape[0] == shape[0] && (ndim == 1 || t->shape[1] == shape[1]);
}

int checkpoint_check(const ModelConfig *c, const StArchive *a, const char *name, char *err) {
    if (config_validate(c, name, err) != 0) return -1;
    const Arch *arch = arch_get(c->arch);
    char tname[96], want[96], got[160];
    int64_t shape[2];
    // Every tensor the config implies, layer by layer (a config with
    // absurdly many layers fails at the first missing one, cheaply).
    for (int i = 0; i < arch->n_tensors; i++) {
        const ArchTensor *e = &arch->tensors[i];
        if (!arch_tensor_present(e, c)) continue;
        int ndim = expected_shape(c, e, shape);
        fmt_shape(want, sizeof want, ndim, shape);
        for (int l = 0; l < ((e->flags & TF_LAYER) ? c->num_hidden_layers : 1); l++) {
            arch_hf_name(e, l, tname, sizeof tname);
            const StTensor *t = st_find(a, tname);
            if (!t)
                return set_err(err, "%s: tensor '%s' is missing (config.json implies it, shape %s)", name, tname, want);
            if (!shape_matches(t, ndim, shape)) {
                fmt_shape(got, sizeof got, t->ndim, t->shape);
                return set_err(err, "%s: tensor '%s' has shape %s, config.json implies %s", name, tname, got, want);
            }
        }
    }
    // Nothing else: an extra tensor means the config and the weights disagree.
    for (int i = 0; i < a->ntensors; i++) {
        const StTensor *t = &a->tensors[i];
        if (arch_find_hf(arch, c, t->name, NULL)) continue;
        if (c->tie_word_embeddings && !strcmp(t->name, "lm_head.weight")) {
            int ndim = expected_shape(c, arch_tensor(arch, TK_LM_HEAD), shape);
            if (shape_matches(t, ndim, shape)) continue;
            fmt_shape(want, sizeof want, ndim, shape);
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return set_err(err, "%s: tensor 'lm_head.weight' has shape %s, config.json implies %s", name, got, want);
        }
        return set_err(err, "%s: unexpected tensor '%.200s' (not part of the %s model config.json describes)", name,
                       t->name, arch->hf_class);
    }
    return 0;
}
