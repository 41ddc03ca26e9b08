// model.c — see model.h: the parameter layout, load / save / init, the ternary projection.
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/checkpoint.h"
#include "base/hash.h"
#include "base/util.h"
#include "format/safetensors.h"
#include "quant/ternary.h"

// ---------------------------------------------------------------------------
// Parameter layout

_Static_assert(sizeof(ParamTensors) == TK_COUNT * sizeof(float *), "ParamTensors: one pointer per TensorKind");

// The buffer holds the architecture's tensors in table order, each
// per-layer kind for all layers at once (attn_norm[0..L), wq[0..L), ...), so
// that a kind is one (L, rows, cols) array. The tensor list names every
// slice with its HF name.
static void build_layout(Model *m) {
    const ModelConfig *c = &m->config;
    const Arch *arch = arch_get(c->arch);
    const int L = c->num_hidden_layers;
    m->tensors = xcalloc((size_t)arch->n_tensors * (size_t)L, sizeof(TensorInfo));
    m->n_tensors = 0;
    size_t off = 0;
    for (int i = 0; i < arch->n_tensors; i++) {
        const ArchTensor *e = &arch->tensors[i];
        if (!arch_tensor_present(e, c)) continue;
        for (int l = 0; l < ((e->flags & TF_LAYER) ? L : 1); l++) {
            TensorInfo *t = &m->tensors[m->n_tensors++];
            arch_hf_name(e, l, t->name, sizeof t->name);
            t->offset = off;
            t->rows = arch_dim(c, e->rows);
            t->cols = e->cols == DIM_NONE ? 0 : arch_dim(c, e->cols);
            t->matrix = (e->flags & TF_TERNARY) != 0;
            t->kind = e->kind;
            t->layer = l;
            off += (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
        }
    }
    m->n_params = off;
}

void model_point_params(const Model *m, float *mem, ParamTensors *w) {
    memset(w, 0, sizeof *w);
    // The first tensor of each kind (layer 0) is where its slab starts.
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].layer == 0) w->k[m->tensors[i].kind] = mem + m->tensors[i].offset;
    if (m->config.tie_word_embeddings) w->lm_head = w->embed;
}

int model_alloc(Model *m, const ModelConfig *c, char *err) {
    memset(m, 0, sizeof *m);
    if (config_validate(c, "config", err) != 0) return -1;
    m->config = *c;
    build_layout(m);
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(float) * m->n_params) != 0) {
        free(m->tensors);
        return set_err(err, "cannot allocate %.1f GB for %zu parameters", 4e-9 * (double)m->n_params, m->n_params);
    }
    m->params_memory = mem;
    model_point_params(m, m->params_memory, &m->params);
    return 0;
}

void model_free(Model *m) {
    free(m->params_memory);
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------
// Loading and saving

int model_load(Model *m, const char *dir, char *err) {
    ModelConfig c;
    char *cfg_path = path_join(dir, "config.json");
    int rc = config_load(&c, cfg_path, err);
    free(cfg_path);
    if (rc != 0) return -1;
    StArchive a;
    if (st_open_dir(&a, dir, err) != 0) return -1;
    // Names and shapes first (checkpoint.c), so a config that does not
    // match the weights fails before anything large is allocated.
    if (checkpoint_check(&c, &a, dir, err) != 0 || model_alloc(m, &c, err) != 0) {
        st_close(&a);
        return -1;
    }
    for (int i = 0; i < m->n_tensors && rc == 0; i++)
        rc = st_read_f32(st_find(&a, m->tensors[i].name), m->params_memory + m->tensors[i].offset, err);
    st_close(&a);
    if (rc != 0) model_free(m);
    return rc;
}

int model_set_adapter_rank(Model *m, int r, char *err) {
    ModelConfig c = m->config;
    c.adapter_rank = r;
    Model n;
    if (model_alloc(&n, &c, err) != 0) return -1;
    memset(n.params_memory, 0, sizeof(float) * n.n_params);
    for (int i = 0; i < n.n_tensors; i++) {  // the tensors both have, by kind and layer
        const TensorInfo *t = &n.tensors[i];
        for (int j = 0; j < m->n_tensors; j++)
            if (m->tensors[j].kind == t->kind && m->tensors[j].layer == t->layer && !tk_is_adapter(t->kind))
                memcpy(n.params_memory + t->offset, m->params_memory + m->tensors[j].offset,
                       sizeof(float) * (size_t)t->rows * (size_t)(t->cols ? t->cols : 1));
    }
    model_free(m);
    *m = n;
    model_point_params(m, m->params_memory, &m->params);
    return 0;
}

static StDType dtype_of(const char *torch_dtype) {
    if (strcmp(torch_dtype, "bfloat16") == 0) return ST_BF16;
    if (strcmp(torch_dtype, "float16") == 0) return ST_F16;
    return ST_F32;
}

int model_save(const Model *m, const char *dir, const char *quantization_note, char *err) {
    if (make_dir(dir, err) != 0) return -1;
    StWriteTensor *w = xcalloc((size_t)m->n_tensors, sizeof *w);
    StDType dt = dtype_of(m->config.torch_dtype);
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        w[i].name = t->name;
        w[i].dtype = dt;
        w[i].ndim = t->cols ? 2 : 1;
        w[i].shape[0] = t->rows;
        w[i].shape[1] = t->cols;
        w[i].data = m->params_memory + t->offset;
    }
    // Shards of at most 5 GB, transformers' own default.
    int rc = st_write_dir(dir, w, m->n_tensors, (size_t)5 << 30, err);
    free(w);
    if (rc != 0) return -1;
    char *cfg = path_join(dir, "config.json");
    rc = config_save(&m->config, cfg, quantization_note, err);
    free(cfg);
    return rc;
}

int model_project_ternary(Model *m, int group, TernaryScale mode, char *err) {
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].matrix && ternary_check_shape(m->tensors[i].name, m->tensors[i].cols, group, err)) return -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params_memory + t->offset;
        if (t->matrix) ternary_project(p, p, t->rows, t->cols, group, mode);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Random initialisation

// Uniform in (0, 1], 24 random bits.
static float rand_unit(uint64_t *s) { return (float)((splitmix64(s) >> 40) + 1) / 16777216.0f; }

#define INIT_CHUNK 65536

void model_init_random(Model *m, uint64_t seed) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params_memory + t->offset;
        size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
        if (!t->matrix) {
            for (size_t j = 0; j < n; j++) p[j] = 1.0f;
            continue;
        }
        // Each chunk has its own stream, so the result does not depend on
        // how many threads fill it.
        size_t nchunks = (n + INIT_CHUNK - 1) / INIT_CHUNK;
#pragma omp parallel for schedule(static)
        for (size_t ch = 0; ch < nchunks; ch++) {
            uint64_t s = seed * 0x100000001b3ull ^ ((uint64_t)i << 40) ^ ch;
            splitmix64(&s);
            size_t end = (ch + 1) * INIT_CHUNK < n ? (ch + 1) * INIT_CHUNK : n;
            for (size_t j = ch * INIT_CHUNK; j < end; j += 2) {  // Box-Muller, two normals a draw
                float u1 = rand_unit(&s), u2 = rand_unit(&s);
                float r = sqrtf(-2.0f * logf(u1)) * 0.02f;
                p[j] = r * cosf(6.2831853f * u2);
                if (j + 1 < end) p[j + 1] = r * sinf(6.2831853f * u2);
            }
        }
    }
}
