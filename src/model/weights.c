// weights.c — the inference weights; see weights.h.
#include "model/weights.h"

#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/gguf_config.h"
#include "base/util.h"
#include "kernels/cpu/qpack.h"

// The WTensor of tensor kind k, layer l, in a set of per-kind base pointers
// (fp32 slabs, or packed slabs): per-layer kinds are (L, rows, cols) slabs.
static WTensor kind_tensor(const ModelConfig *c, const ArchTensor *e, const void *base, uint32_t type, int l) {
    WTensor t = {.type = type, .data = base, .rows = (int)arch_dim(c, e->rows), .cols = (int)arch_dim(c, e->cols)};
    if (e->flags & TF_LAYER) t.data = (const uint8_t *)base + (size_t)l * wt_bytes(&t);
    return t;
}

// The ternary kinds' slabs, GGUF blocks at base[k], packed into the run
// layout (kernels/cpu/qpack.h) in one new allocation, mw->packed; base[k]
// then points there. A kind read from a mapped file (mapped[k]) leaves this
// process's memory once packed, so the peak stays near one copy.
static void pack_ternary(ModelWeights *mw, const void *base[TK_COUNT], const uint32_t type[TK_COUNT],
                         const int *mapped) {
    const ModelConfig *c = &mw->config;
    const Arch *a = arch_get(c->arch);
    size_t off[TK_COUNT] = {0}, total = 0;
    int todo[TK_COUNT] = {0};
    for (int k = 0; k < TK_COUNT; k++) {
        const ArchTensor *e = arch_tensor(a, k);
        if (!base[k] || !e || !qpack_type_ok(type[k]) || (k == TK_LM_HEAD && c->tie_word_embeddings)) continue;
        const int L = (e->flags & TF_LAYER) ? c->num_hidden_layers : 1;
        todo[k] = 1;
        off[k] = total;
        total += ((size_t)L * qpack_bytes(type[k], (int)arch_dim(c, e->rows), (int)arch_dim(c, e->cols)) + 63) &
                 ~(size_t)63;
    }
    if (!total) return;
    uint8_t *packed = xmalloc_aligned(total);
    mw->packed = packed;
    for (int k = 0; k < TK_COUNT; k++) {
        if (!todo[k]) continue;
        const ArchTensor *e = arch_tensor(a, k);
        const GgmlType *t = ggml_type_find(type[k]);
        const int L = (e->flags & TF_LAYER) ? c->num_hidden_layers : 1;
        const int rows = (int)arch_dim(c, e->rows), cols = (int)arch_dim(c, e->cols);
        const size_t in = (size_t)rows * (size_t)(cols / t->block_size) * t->type_size;
        const size_t out = qpack_bytes(type[k], rows, cols);
        for (int l = 0; l < L; l++)
            qpack(type[k], (const uint8_t *)base[k] + (size_t)l * in, rows, cols, packed + off[k] + (size_t)l * out);
        if (mapped && mapped[k]) map_release(base[k], (size_t)L * in);
        base[k] = packed + off[k];
    }
}

// The adapter of linear kind k in layer l onto t: fp32 slabs of lora_A and
// lora_B at base (none without both).
static void attach_adapter(WTensor *t, const ModelConfig *c, const void *const base[TK_COUNT], TensorKind k, int l) {
    const int a = tk_adapter_a(k), r = c->adapter_rank;
    if (!r || !base[a] || !base[a + 1]) return;
    t->rank = r;
    t->lora_a = (const float *)base[a] + (size_t)l * r * t->cols;
    t->lora_b = (const float *)base[a + 1] + (size_t)l * t->rows * r;
}

// Fills embed/head/final_norm/layers from one base pointer and storage type
// per kind. Kinds the architecture lacks have a NULL base.
void weights_assemble(ModelWeights *mw, const void *const gguf_base[TK_COUNT], const uint32_t type[TK_COUNT],
                      const int *mapped) {
    const ModelConfig *c = &mw->config;
    const Arch *a = arch_get(c->arch);
    const int L = c->num_hidden_layers;
    const void *base[TK_COUNT];
    memcpy(base, gguf_base, sizeof base);
    pack_ternary(mw, base, type, mapped);
    mw->layers = xcalloc((size_t)L, sizeof(LayerWeights));
    mw->embed = kind_tensor(c, arch_tensor(a, TK_EMBED), base[TK_EMBED], type[TK_EMBED], 0);
    mw->lm_head = c->tie_word_embeddings ? mw->embed
                                         : kind_tensor(c, arch_tensor(a, TK_LM_HEAD), base[TK_LM_HEAD], type[TK_LM_HEAD], 0);
    mw->final_norm = base[TK_FINAL_NORM];
    const size_t C = c->hidden_size, HD = c->head_dim;
    for (int l = 0; l < L; l++) {
        LayerWeights *w = &mw->layers[l];
#define MAT(field, kind)                                                      \
    w->field = kind_tensor(c, arch_tensor(a, kind), base[kind], type[kind], l); \
    attach_adapter(&w->field, c, base, kind, l)
        MAT(wq, TK_WQ); MAT(wk, TK_WK); MAT(wv, TK_WV); MAT(wo, TK_WO);
        MAT(wgate, TK_WGATE); MAT(wup, TK_WUP); MAT(wdown, TK_WDOWN);
#undef MAT
        w->attn_norm = (const float *)base[TK_ATTN_NORM] + (size_t)l * C;
        w->mlp_norm = (const float *)base[TK_MLP_NORM] + (size_t)l * C;
        w->q_norm = base[TK_Q_NORM] ? (const float *)base[TK_Q_NORM] + (size_t)l * HD : NULL;
        w->k_norm = base[TK_K_NORM] ? (const float *)base[TK_K_NORM] + (size_t)l * HD : NULL;
    }
}

void weights_view(ModelWeights *mw, const Model *m, const ParamTensors *w) {
    memset(mw, 0, sizeof *mw);
    mw->config = m->config;
    const void *base[TK_COUNT];
    uint32_t type[TK_COUNT];
    for (int k = 0; k < TK_COUNT; k++) {
        base[k] = w->k[k];
        type[k] = GGML_TYPE_F32;
    }
    weights_assemble(mw, base, type, NULL);
}

char *weights_adapter_path(const char *gguf_path) {
    const size_t n = strlen(gguf_path), stem = n >= 5 && !strcmp(gguf_path + n - 5, ".gguf") ? n - 5 : n;
    char *p = xmalloc(stem + 11);
    memcpy(p, gguf_path, stem);
    memcpy(p + stem, ".lora.gguf", 11);
    return p;
}

// Floats of adapter kind k's slab: every layer's tensor of that kind.
static size_t adapter_kind_floats(const ModelConfig *c, int k) {
    const ArchTensor *e = arch_tensor(arch_get(c->arch), k);
    return (size_t)c->num_hidden_layers * (size_t)arch_dim(c, e->rows) * (size_t)arch_dim(c, e->cols);
}

float *weights_read_adapters(const GgufFile *a, const ModelConfig *c, char *err) {
    const char *s;
    size_t n;
    if (gguf_get_str(a, "general.type", &s, &n, err) || n != 7 || memcmp(s, "adapter", 7)) {
        set_err(err, "%s: not a LoRA adapter (general.type is not \"adapter\")", a->name);
        return NULL;
    }
    if (a->n_tensors != 14 * c->num_hidden_layers) {
        set_err(err, "%s: %d tensors, not the %d adapters of this model", a->name, a->n_tensors,
                14 * c->num_hidden_layers);
        return NULL;
    }
    const Arch *ar = arch_get(c->arch);
    size_t total = 0;
    for (int k = TK_WQ_A; k <= TK_WDOWN_B; k++) total += adapter_kind_floats(c, k);
    float *out = xmalloc_aligned(sizeof(float) * total), *p = out;
    char name[96];
    for (int k = TK_WQ_A; k <= TK_WDOWN_B; k++) {
        const ArchTensor *e = arch_tensor(ar, k);
        const int64_t rows = arch_dim(c, e->rows), cols = arch_dim(c, e->cols);
        for (int l = 0; l < c->num_hidden_layers; l++, p += rows * cols) {
            arch_gguf_name(e, l, name, sizeof name);
            const GgufTensor *t = gguf_find_tensor(a, name);
            if (!t || t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows) {
                set_err(err, "%s: tensor '%s' is %s for rank %d", a->name, name, t ? "misshapen" : "missing",
                        c->adapter_rank);
                free(out);
                return NULL;
            }
            if (gguf_tensor_to_f32(t, p, err)) {
                free(out);
                return NULL;
            }
            gguf_rope_rows(c, k, p, sizeof(float) * (size_t)cols, 0);
        }
    }
    return out;
}

// The adapters of a GGUF model exported with them ("trit.adapter_rank"),
// from its adapter file (weights_read_adapters) into mw->adapters, at base[].
// Sets mw->config.adapter_rank. Nothing to do without the key.
static int load_adapters(ModelWeights *mw, const GgufFile *g, const char *path, const void *base[TK_COUNT],
                         char *err) {
    if (!gguf_find_kv(g, "trit.adapter_rank")) return 0;
    ModelConfig *c = &mw->config;
    uint32_t r;
    if (gguf_get_u32(g, "trit.adapter_rank", &r, err)) return -1;
    c->adapter_rank = (int)(r > 1u << 20 ? 1u << 20 : r);
    if (r == 0 || config_validate(c, path, err)) return set_err(err, "%s: trit.adapter_rank %u is not a rank", path, r);
    char *apath = weights_adapter_path(path);
    GgufFile a;
    int rc = gguf_open(&a, apath, err);
    free(apath);
    if (rc) return err_prefix(err, "%s names rank-%u adapters, but its adapter file cannot be read", path, r);
    mw->adapters = weights_read_adapters(&a, c, err);
    gguf_close(&a);
    if (!mw->adapters) rc = -1;
    const float *p = mw->adapters;
    for (int k = TK_WQ_A; k <= TK_WDOWN_B && rc == 0; k++) {  // the slabs, kind after kind
        base[k] = p;
        p += adapter_kind_floats(c, k);
    }
    return rc;
}

int weights_load_gguf(ModelWeights *mw, const char *path, char *err) {
    memset(mw, 0, sizeof *mw);
    GgufFile *g = xcalloc(1, sizeof *g);
    if (gguf_open(g, path, err) != 0) {
        free(g);
        return -1;
    }
    mw->file = g;
    ModelConfig *c = &mw->config;
    if (gguf_config(g, c, err) != 0 || gguf_check_tensors(g, c, err) != 0) goto fail;
    const Arch *a = arch_get(c->arch);
    const void *base[TK_COUNT] = {0};
    uint32_t type[TK_COUNT];
    size_t copy_bytes = 0;  // Llama q/k, reordered into a copy
    int mapped[TK_COUNT] = {0};  // kinds used in place, in the mapped file
    int copy_other = 0;     // the copy holds a kind that is not ternary
    char name[96];
    // Each kind's layers must share one type (they are one slab view); the
    // slab is the file's tensors when they lie back to back, else a copy.
    for (int k = 0; k < TK_COUNT; k++) {
        type[k] = GGML_TYPE_F32;
        const ArchTensor *e = arch_tensor(a, k);
        if (!e || !arch_tensor_present(e, c)) continue;
        arch_gguf_name(e, 0, name, sizeof name);
        const GgufTensor *t0 = gguf_find_tensor(g, name);
        type[k] = t0->type;
        const int is_matrix = e->cols != DIM_NONE;
        if (is_matrix ? !wt_supported(t0->type, (int)t0->ne[0]) : t0->type != GGML_TYPE_F32) {
            set_err(err, "%s: tensor '%s' is %s with rows of %lld, which trit cannot run%s", path, name, t0->tt->name,
                    (long long)t0->ne[0],
                    is_matrix ? " (it runs F32, and Q2_0, TQ1_0, TQ2_0, F16, Q8_0 with rows of whole 64-blocks)"
                              : " (norms must be F32)");
            goto fail;
        }
        const int L = (e->flags & TF_LAYER) ? c->num_hidden_layers : 1;
        int contiguous = !gguf_rope_rows(c, k, NULL, 0, 0);  // permuted rows are copied back to HF order
        for (int l = 1; l < L; l++) {
            arch_gguf_name(e, l, name, sizeof name);
            const GgufTensor *t = gguf_find_tensor(g, name);
            if (t->type != t0->type) {
                set_err(err, "%s: tensor '%s' is %s but layer 0's is %s; trit runs one type per tensor kind", path,
                        name, t->tt->name, t0->tt->name);
                goto fail;
            }
            contiguous &= t->data == t0->data + (size_t)l * t0->nbytes;
        }
        if (contiguous) {
            base[k] = t0->data;
            mapped[k] = 1;
        } else {
            copy_other |= !qpack_type_ok(t0->type);
            copy_bytes += ((size_t)L * t0->nbytes + 63) & ~(size_t)63;
        }
    }
    uint8_t *copy = copy_bytes ? xmalloc_aligned(copy_bytes) : NULL;
    mw->blocks = copy;
    for (int k = 0; k < TK_COUNT; k++) {
        const ArchTensor *e = arch_tensor(a, k);
        if (!e || !arch_tensor_present(e, c) || base[k]) continue;
        const int L = (e->flags & TF_LAYER) ? c->num_hidden_layers : 1;
        size_t nb = 0;
        for (int l = 0; l < L; l++) {
            arch_gguf_name(e, l, name, sizeof name);
            const GgufTensor *t = gguf_find_tensor(g, name);
            memcpy(copy + (size_t)l * t->nbytes, t->data, t->nbytes);
            gguf_rope_rows(c, k, copy + (size_t)l * t->nbytes, t->nbytes / (size_t)t->ne[1], 0);
            nb = t->nbytes;
        }
        base[k] = copy;
        copy += ((size_t)L * nb + 63) & ~(size_t)63;
    }
    if (c->tie_word_embeddings) {
        base[TK_LM_HEAD] = base[TK_EMBED];
        type[TK_LM_HEAD] = type[TK_EMBED];
    }
    if (load_adapters(mw, g, path, base, err)) goto fail;
    weights_assemble(mw, base, type, mapped);
    if (!copy_other) {  // the copy held ternary kinds only, now packed
        free(mw->blocks);
        mw->blocks = NULL;
    }
    return 0;
fail:
    weights_free(mw);
    return -1;
}

size_t weights_bytes(const ModelWeights *mw) {
    const ModelConfig *c = &mw->config;
    size_t n = wt_bytes(&mw->embed) + (c->tie_word_embeddings ? 0 : wt_bytes(&mw->lm_head));
    n += sizeof(float) * (size_t)c->hidden_size * (2 * (size_t)c->num_hidden_layers + 1);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const LayerWeights *w = &mw->layers[l];
        const WTensor *m[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->wgate, &w->wup, &w->wdown};
        for (int i = 0; i < 7; i++)
            n += wt_bytes(m[i]) + sizeof(float) * (size_t)m[i]->rank * (size_t)(m[i]->rows + m[i]->cols);
        if (w->q_norm) n += sizeof(float) * 2 * (size_t)c->head_dim;
    }
    return n;
}

void weights_free(ModelWeights *mw) {
    if (mw->model) model_free(mw->model);
    free(mw->model);
    free(mw->layers);
    free(mw->blocks);
    free(mw->packed);
    free(mw->norms);
    free(mw->adapters);
    if (mw->file) gguf_close(mw->file);
    free(mw->file);
    memset(mw, 0, sizeof *mw);
}

int weights_type_by_name(const char *name, uint32_t *type) {
    char up[16];
    size_t n = strlen(name);
    if (n >= sizeof up) return -1;
    for (size_t i = 0; i <= n; i++) up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    const GgmlType *t = ggml_type_find_name(up);
    if (!t) return -1;
    *type = t->id;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int weights_open(ModelWeights *mw, const char *path, const char *pack, char *err) {
    memset(mw, 0, sizeof *mw);
    if (!is_directory(path) && ends_with(path, ".gguf")) {
        if (pack) return set_err(err, "%s is a GGUF file, already packed: --pack is for HF directories", path);
        return weights_load_gguf(mw, path, err);
    }
    Model *m = xcalloc(1, sizeof *m);
    if (model_load(m, path, err) != 0) {
        free(m);
        return -1;
    }
    if (!pack) {
        weights_view(mw, m, &m->params);
        mw->model = m;
        return 0;
    }
    int rc;
    if (!strcmp(pack, "auto")) {
        rc = weights_pack(mw, m, GGML_TYPE_TQ2_0, GGML_TYPE_TQ2_0, err);
        if (rc != 0) rc = weights_pack(mw, m, GGML_TYPE_Q2_0, GGML_TYPE_Q2_0, err);
    } else {
        uint32_t type;
        if (weights_type_by_name(pack, &type) != 0 || !ggml_type_find(type)->is_ternary)
            rc = set_err(err, "--pack %s: the packed formats are q2_0, tq2_0, tq1_0 and auto", pack);
        else
            rc = weights_pack(mw, m, type, type, err);
    }
    model_free(m);
    free(m);
    return rc;
}
