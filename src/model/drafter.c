// drafter.c — the DFlash drafter; see drafter.h.
#include "model/drafter.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "format/safetensors.h"
#include "kernels/head.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"

// ---------------------------------------------------------------------------
// The tensor table: every tensor's name, shape and place in the flat buffer.

#define DRAFTER_PER_LAYER 11

typedef struct {
    char name[80];
    int64_t rows, cols;  // cols == 0: a vector
    size_t offset;       // floats into params
    float **ptr;         // the field it sets, NULL for per-layer slices (set by point_layers)
} DTensor;

typedef enum { DL_IN_NORM, DL_WQ, DL_WK, DL_WV, DL_WO, DL_QNORM, DL_KNORM, DL_POST_NORM, DL_GATE, DL_UP, DL_DOWN } DLayerKind;

static const char *const layer_names[DRAFTER_PER_LAYER] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
    "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};

static void layer_shape(const ModelConfig *c, DLayerKind k, int64_t *rows, int64_t *cols) {
    const int64_t C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const int64_t QD = (int64_t)c->num_attention_heads * HD, KD = (int64_t)c->num_key_value_heads * HD;
    static const int is_matrix[DRAFTER_PER_LAYER] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1};
    const int64_t r[DRAFTER_PER_LAYER] = {C, QD, KD, KD, C, HD, HD, C, F, F, C};
    const int64_t cl[DRAFTER_PER_LAYER] = {0, C, C, C, QD, 0, 0, 0, C, C, F};
    *rows = r[k];
    *cols = is_matrix[k] ? cl[k] : 0;
}

// Fills t[] (room for 4 + 11 L) and returns the count; the offsets follow
// the order of the table, so the buffer is n_params floats.
static int drafter_table(Drafter *d, DTensor *t, size_t *n_params) {
    const ModelConfig *c = &d->dc.layer;
    const int64_t C = c->hidden_size;
    int n = 0;
    size_t off = 0;
#define ADD(nm, r, cl, p) do { snprintf(t[n].name, sizeof t[n].name, "%s", nm); t[n].rows = r; t[n].cols = cl; \
                               t[n].offset = off; t[n].ptr = p; off += (size_t)(r) * (size_t)((cl) != 0 ? (cl) : 1); n++; } while (0)
    ADD("fc.weight", C, (int64_t)d->dc.n_taps * C, &d->fc);
    ADD("hidden_norm.weight", C, 0, &d->hidden_norm);
    ADD("norm.weight", C, 0, &d->norm);
    if (d->dc.mask_token_id < 0) ADD("mask_embedding", C, 0, &d->mask_embedding);
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (int k = 0; k < DRAFTER_PER_LAYER; k++) {
            char nm[80];
            int64_t r, cl;
            snprintf(nm, sizeof nm, "layers.%d.%s", l, layer_names[k]);
            layer_shape(c, (DLayerKind)k, &r, &cl);
            ADD(nm, r, cl, NULL);
        }
#undef ADD
    *n_params = off;
    return n;
}

// Points every field and per-layer slice into d->params.
static void point_params(Drafter *d, DTensor *t, int n) {
    const ModelConfig *c = &d->dc.layer;
    d->mask_embedding = NULL;
    const int globals = n - DRAFTER_PER_LAYER * c->num_hidden_layers;
    for (int i = 0; i < globals; i++) *t[i].ptr = d->params + t[i].offset;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        float *p[DRAFTER_PER_LAYER];
        for (int k = 0; k < DRAFTER_PER_LAYER; k++) p[k] = d->params + t[globals + l * DRAFTER_PER_LAYER + k].offset;
        d->lp[l] = (LayerParams){.attn_norm = p[DL_IN_NORM], .wq = p[DL_WQ], .wk = p[DL_WK], .wv = p[DL_WV],
                                 .q_norm = p[DL_QNORM], .k_norm = p[DL_KNORM], .wo = p[DL_WO],
                                 .mlp_norm = p[DL_POST_NORM], .wgate = p[DL_GATE], .wup = p[DL_UP], .wdown = p[DL_DOWN]};
        const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
        const int QD = c->num_attention_heads * HD, KD = c->num_key_value_heads * HD;
        d->lw[l] = (LayerWeights){.attn_norm = p[DL_IN_NORM], .q_norm = p[DL_QNORM], .k_norm = p[DL_KNORM],
                                  .mlp_norm = p[DL_POST_NORM], .wq = wt_f32(p[DL_WQ], QD, C),
                                  .wk = wt_f32(p[DL_WK], KD, C), .wv = wt_f32(p[DL_WV], KD, C),
                                  .wo = wt_f32(p[DL_WO], C, QD), .wgate = wt_f32(p[DL_GATE], F, C),
                                  .wup = wt_f32(p[DL_UP], F, C), .wdown = wt_f32(p[DL_DOWN], C, F)};
    }
}

static int check_dc(const DrafterConfig *dc, const char *name, char *err) {
    const ModelConfig *c = &dc->layer;
    if (config_validate(c, name, err)) return -1;
    if (c->arch != ARCH_QWEN3) return set_err(err, "%s: a DFlash drafter's layers are Qwen3 layers (model_type \"qwen3\")", name);
    if (c->num_hidden_layers < 1 || c->num_hidden_layers > DRAFTER_MAX_LAYERS)
        return set_err(err, "%s: %d drafter layers, must be in [1, %d]", name, c->num_hidden_layers, DRAFTER_MAX_LAYERS);
    if (dc->block_size < 2 || dc->block_size > DRAFTER_MAX_BLOCK)
        return set_err(err, "%s: block_size %d, must be in [2, %d]", name, dc->block_size, DRAFTER_MAX_BLOCK);
    if (dc->n_taps < 1 || dc->n_taps > DRAFTER_MAX_TAPS)
        return set_err(err, "%s: %d target layers tapped, must be in [1, %d]", name, dc->n_taps, DRAFTER_MAX_TAPS);
    for (int i = 0; i < dc->n_taps; i++)
        if (dc->taps[i] < 0) return set_err(err, "%s: target_layer_ids[%d] = %d is negative", name, i, dc->taps[i]);
    if (dc->mask_token_id >= c->vocab_size)
        return set_err(err, "%s: mask_token_id %d is outside the vocabulary of %d", name, dc->mask_token_id,
                       c->vocab_size);
    return 0;
}

static void alloc_params(Drafter *d) {
    DTensor *t = xcalloc(4 + (size_t)DRAFTER_PER_LAYER * d->dc.layer.num_hidden_layers, sizeof *t);
    const int n = drafter_table(d, t, &d->n_params);
    d->params = xmalloc_aligned(sizeof(float) * d->n_params);
    d->lp = xcalloc((size_t)d->dc.layer.num_hidden_layers, sizeof *d->lp);
    d->lw = xcalloc((size_t)d->dc.layer.num_hidden_layers, sizeof *d->lw);
    point_params(d, t, n);
    free(t);
}

void drafter_default_taps(int L, int n, int *taps) {
    if (n == 1) {
        taps[0] = L / 2;
        return;
    }
    // Too shallow for the published spread (layers 1..L-3, distinct):
    // spread over every layer instead.
    const int lo = L - 4 >= n - 1 ? 1 : 0, span = L - 4 >= n - 1 ? L - 4 : L - 1;
    // Python's round: halves to even (30 layers, 5 taps: 7.5 -> 8, 20.5 -> 20).
    for (int i = 0; i < n; i++) taps[i] = (int)nearbyint(lo + (double)i * span / (double)(n - 1));
}

static float normal(uint64_t *s) {
    const float u1 = (float)((splitmix64(s) >> 40) + 1) / 16777216.0f;
    const float u2 = (float)(splitmix64(s) >> 40) / 16777216.0f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

int drafter_init(Drafter *d, const ModelConfig *target, int layers, int B, const int *taps, int n_taps,
                 int mask_token_id, uint64_t seed, char *err) {
    memset(d, 0, sizeof *d);
    DrafterConfig *dc = &d->dc;
    dc->layer = *target;
    dc->layer.arch = ARCH_QWEN3;
    dc->layer.num_hidden_layers = layers;
    dc->layer.tie_word_embeddings = 0;
    snprintf(dc->layer.torch_dtype, sizeof dc->layer.torch_dtype, "float32");
    dc->block_size = B;
    dc->n_taps = n_taps;
    if (n_taps >= 1 && n_taps <= DRAFTER_MAX_TAPS) memcpy(dc->taps, taps, sizeof(int) * (size_t)n_taps);
    dc->num_target_layers = target->num_hidden_layers;
    dc->mask_token_id = mask_token_id;
    if (check_dc(dc, "drafter", err) || drafter_check_target(dc, target, err)) return -1;
    alloc_params(d);
    DTensor *t = xcalloc(4 + (size_t)DRAFTER_PER_LAYER * layers, sizeof *t);
    size_t np;
    const int n = drafter_table(d, t, &np);
    uint64_t s = seed ^ 0x6a09e667f3bcc908ull;
    for (int i = 0; i < n; i++) {
        float *p = d->params + t[i].offset;
        const size_t m = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        const int vec = t[i].cols == 0 && strcmp(t[i].name, "mask_embedding") != 0;
        for (size_t j = 0; j < m; j++) p[j] = vec ? 1.0f : 0.02f * normal(&s);
    }
    free(t);
    return 0;
}

void drafter_free(Drafter *d) {
    free(d->params);
    free(d->lp);
    free(d->lw);
    memset(d, 0, sizeof *d);
}

float *drafter_tensor(const Drafter *d, const char *name) {
    Drafter view = *d;
    DTensor *t = xcalloc(4 + (size_t)DRAFTER_PER_LAYER * d->dc.layer.num_hidden_layers, sizeof *t);
    size_t np;
    const int n = drafter_table(&view, t, &np);
    float *p = NULL;
    for (int i = 0; i < n && !p; i++)
        if (!strcmp(t[i].name, name)) p = d->params + t[i].offset;
    free(t);
    return p;
}

int drafter_check_target(const DrafterConfig *dc, const ModelConfig *t, char *err) {
    const ModelConfig *c = &dc->layer;
    if (c->hidden_size != t->hidden_size)
        return set_err(err, "the drafter is %d wide, the target %d: it was made for another model", c->hidden_size,
                       t->hidden_size);
    if (c->vocab_size != t->vocab_size)
        return set_err(err, "the drafter's vocabulary has %d entries, the target's %d: it was made for another model",
                       c->vocab_size, t->vocab_size);
    if (dc->num_target_layers > 0 && dc->num_target_layers != t->num_hidden_layers)
        return set_err(err, "the drafter was made for a target of %d layers, this one has %d", dc->num_target_layers,
                       t->num_hidden_layers);
    for (int i = 0; i < dc->n_taps; i++)
        if (dc->taps[i] >= t->num_hidden_layers)
            return set_err(err, "the drafter taps target layer %d, the target has %d layers", dc->taps[i],
                           t->num_hidden_layers);
    if (c->rope_theta != t->rope_theta || c->head_dim != t->head_dim)
        return set_err(err, "the drafter's RoPE (theta %g, head_dim %d) is not the target's (%g, %d)", c->rope_theta,
                       c->head_dim, t->rope_theta, t->head_dim);
    return 0;
}

// ---------------------------------------------------------------------------
// config.json

static const cJSON *dflash_key(const cJSON *root, const char *key) {
    const cJSON *dcfg = cJSON_GetObjectItemCaseSensitive(root, "dflash_config");
    const cJSON *j = cJSON_IsObject(dcfg) ? cJSON_GetObjectItemCaseSensitive(dcfg, key) : NULL;
    return j ? j : cJSON_GetObjectItemCaseSensitive(root, key);
}

static int parse_drafter_config(DrafterConfig *dc, const char *path, char *err) {
    memset(dc, 0, sizeof *dc);
    size_t len;
    char *json = read_file(path, &len, err);
    if (!json) return -1;
    int rc = config_parse(&dc->layer, json, len, path, err);
    cJSON *root = rc ? NULL : cJSON_ParseWithLength(json, len);
    free(json);
    if (rc) return -1;
    if (!root) return set_err(err, "%s: not valid JSON", path);
    rc = -1;
    const cJSON *taps = dflash_key(root, "target_layer_ids"), *bs = dflash_key(root, "block_size");
    const cJSON *mask = dflash_key(root, "mask_token_id"), *ntl = cJSON_GetObjectItemCaseSensitive(root, "num_target_layers");
    if (!cJSON_IsArray(taps)) {
        set_err(err, "%s: no dflash_config.target_layer_ids: not a DFlash drafter", path);
        goto out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, taps) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble) {
            set_err(err, "%s: target_layer_ids must be whole numbers", path);
            goto out;
        }
        if (dc->n_taps == DRAFTER_MAX_TAPS) {
            set_err(err, "%s: more than %d target_layer_ids", path, DRAFTER_MAX_TAPS);
            goto out;
        }
        dc->taps[dc->n_taps++] = e->valueint;
    }
    dc->block_size = 16;  // the published drafters' default
    if (bs && !(cJSON_IsNumber(bs) && bs->valuedouble == (double)(int)bs->valuedouble)) {
        set_err(err, "%s: block_size must be a whole number", path);
        goto out;
    }
    if (bs) dc->block_size = bs->valueint;
    dc->mask_token_id = -1;
    if (mask && !cJSON_IsNull(mask)) {
        if (!cJSON_IsNumber(mask) || mask->valuedouble != (double)(int)mask->valuedouble || mask->valueint < 0) {
            set_err(err, "%s: mask_token_id must be a token id or null", path);
            goto out;
        }
        dc->mask_token_id = mask->valueint;
    }
    if (ntl && cJSON_IsNumber(ntl)) dc->num_target_layers = ntl->valueint;
    rc = check_dc(dc, path, err);
out:
    cJSON_Delete(root);
    return rc;
}

int drafter_is_dir(const char *dir) {
    char *path = path_join(dir, "config.json");
    size_t len;
    char err[256];
    char *json = is_directory(dir) ? read_file(path, &len, err) : NULL;
    free(path);
    if (!json) return 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    const int yes = root && cJSON_IsArray(dflash_key(root, "target_layer_ids"));
    cJSON_Delete(root);
    return yes;
}

// config_save's Qwen3 config with the DFlash keys added.
static int save_drafter_config(const DrafterConfig *dc, const char *path, char *err) {
    if (config_save(&dc->layer, path, NULL, err)) return -1;
    size_t len;
    char *json = read_file(path, &len, err);
    if (!json) return -1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    if (!root) return set_err(err, "%s: cannot read back", path);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "architectures", cJSON_CreateStringArray((const char *[]){"DFlashDraftModel"}, 1));
    cJSON_AddNumberToObject(root, "block_size", dc->block_size);
    cJSON_AddNumberToObject(root, "num_target_layers", dc->num_target_layers);
    cJSON_AddFalseToObject(root, "is_causal");
    cJSON *dcfg = cJSON_AddObjectToObject(root, "dflash_config");
    cJSON_AddNumberToObject(dcfg, "block_size", dc->block_size);
    if (dc->mask_token_id >= 0) cJSON_AddNumberToObject(dcfg, "mask_token_id", dc->mask_token_id);
    else cJSON_AddNullToObject(dcfg, "mask_token_id");
    cJSON_AddItemToObject(dcfg, "target_layer_ids", cJSON_CreateIntArray(dc->taps, dc->n_taps));
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    const int rc = write_file_atomic(path, out, strlen(out), err);
    free(out);
    return rc;
}

int drafter_load(Drafter *d, const char *dir, char *err) {
    memset(d, 0, sizeof *d);
    char *cfg = path_join(dir, "config.json");
    const int rc = parse_drafter_config(&d->dc, cfg, err);
    free(cfg);
    if (rc) return -1;
    StArchive a;
    if (st_open_dir(&a, dir, err)) return -1;
    DTensor *t = xcalloc(4 + (size_t)DRAFTER_PER_LAYER * d->dc.layer.num_hidden_layers, sizeof *t);
    size_t np;
    const int n = drafter_table(d, t, &np);
    // Every tensor present with its shape before anything large is read.
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        const StTensor *s = st_find(&a, t[i].name);
        const int ndim = t[i].cols ? 2 : 1;
        if (!s) bad = set_err(err, "%s: tensor %s is missing", dir, t[i].name);
        else if (s->ndim != ndim || s->shape[0] != t[i].rows || (ndim == 2 && s->shape[1] != t[i].cols))
            bad = set_err(err, "%s: tensor %s has the wrong shape for the config", dir, t[i].name);
    }
    if (!bad) {
        alloc_params(d);
        for (int i = 0; i < n && !bad; i++) bad = st_read_f32(st_find(&a, t[i].name), d->params + t[i].offset, err);
    }
    free(t);
    st_close(&a);
    if (bad) {
        drafter_free(d);
        return -1;
    }
    return 0;
}

int drafter_save(const Drafter *d, const char *dir, char *err) {
    Drafter view = *d;  // the table only reads the config
    DTensor *t = xcalloc(4 + (size_t)DRAFTER_PER_LAYER * d->dc.layer.num_hidden_layers, sizeof *t);
    size_t np;
    const int n = drafter_table(&view, t, &np);
    StWriteTensor *w = xcalloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++)
        w[i] = (StWriteTensor){.name = t[i].name, .dtype = ST_F32, .ndim = t[i].cols ? 2 : 1,
                               .shape = {t[i].rows, t[i].cols}, .data = d->params + t[i].offset};
    AtomicDir ad;
    int rc = atomic_dir_open(&ad, dir, err);
    if (!rc) {
        char *cfg = path_join(ad.tmp, "config.json");
        rc = st_write_dir(ad.tmp, w, n, 0, err) || save_drafter_config(&d->dc, cfg, err);
        free(cfg);
        if (rc) atomic_dir_abort(&ad);
        else rc = atomic_dir_commit(&ad, 1, err);
    }
    free(w);
    free(t);
    return rc ? -1 : 0;
}

// ---------------------------------------------------------------------------
// The forward pass

void drafter_bufs_free(DrafterBufs *b) {
    free(b->memory);
    memset(b, 0, sizeof *b);
}

void drafter_bufs_reserve(const Drafter *d, DrafterBufs *b, int n_ctx, int rows, int keep) {
    int kept = keep ? d->dc.layer.num_hidden_layers : 1;
    if (n_ctx <= b->cap_ctx && rows <= b->cap_rows && kept <= b->layers_kept && b->memory) return;
    n_ctx = n_ctx > b->cap_ctx ? n_ctx : b->cap_ctx;
    rows = rows > b->cap_rows ? rows : b->cap_rows;
    kept = kept > b->layers_kept ? kept : b->layers_kept;
    const ModelConfig *c = &d->dc.layer;
    const size_t C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim, NH = c->num_attention_heads;
    const size_t NKV = c->num_key_value_heads, QD = NH * HD, KD = NKV * HD, X = (size_t)n_ctx, R = (size_t)rows;
    const size_t K = (size_t)kept;
    free(b->memory);
    const FloatPart parts[] = {
        {&b->c, X * C}, {&b->rstd_c, X}, {&b->fc_out, X * C}, {&b->kc_raw, K * X * KD}, {&b->rstd_kc, K * X * NKV},
        {&b->x, (K + 1) * R * C}, {&b->ln1, K * R * C}, {&b->rstd1, K * R}, {&b->q_raw, K * R * QD},
        {&b->rstd_q, K * R * NH}, {&b->q, K * R * QD}, {&b->k_raw, K * R * KD}, {&b->rstd_k, K * R * NKV},
        {&b->kb, K * R * KD}, {&b->vb, K * R * KD}, {&b->att, K * R * QD}, {&b->lse, K * R * NH},
        {&b->mid, K * R * C}, {&b->ln2, K * R * C}, {&b->rstd2, K * R}, {&b->gate, K * R * F}, {&b->up, K * R * F},
        {&b->h, K * R * F}, {&b->tmp, R * (C > F ? C : F)}, {&b->out, R * C}, {&b->rstd_out, R},
        {&b->row_cos, R * HD},
        // Gradient scratch, only when every layer is kept (training).
        {&b->dx, K > 1 || keep ? R * C : 0}, {&b->dmid, keep ? R * C : 0}, {&b->dln, keep ? R * C : 0},
        {&b->dh, keep ? R * F : 0}, {&b->dgate, keep ? R * F : 0}, {&b->dup, keep ? R * F : 0},
        {&b->datt, keep ? R * QD : 0}, {&b->dq, keep ? R * QD : 0}, {&b->dq_raw, keep ? R * QD : 0},
        {&b->dkb, keep ? R * KD : 0}, {&b->dk_raw, keep ? R * KD : 0}, {&b->dvb, keep ? R * KD : 0},
        {&b->dkc, keep ? X * KD : 0}, {&b->dvc, keep ? X * KD : 0}, {&b->dkc_raw, keep ? X * KD : 0},
        {&b->dc, keep ? X * C : 0}, {&b->dfc_out, keep ? X * C : 0},
    };
    b->memory = carve_floats(parts, sizeof parts / sizeof parts[0], NULL);
    b->cap_ctx = n_ctx;
    b->cap_rows = rows;
    b->layers_kept = kept;
}

void drafter_context(const Drafter *d, DrafterBufs *b, const float *feats, int n, int pos, float *const *k_ctx,
                     float *const *v_ctx, const float *cos, const float *sin, int keep) {
    const ModelConfig *c = &d->dc.layer;
    const int C = c->hidden_size, HD = c->head_dim, NKV = c->num_key_value_heads, KD = NKV * HD;
    const int L = c->num_hidden_layers;
    drafter_bufs_reserve(d, b, n, b->cap_rows, keep);
    const WTensor fc = wt_f32(d->fc, C, d->dc.n_taps * C);
    linear_forward(b->fc_out, feats, &fc, n);
    rmsnorm_forward(b->c, b->rstd_c, b->fc_out, d->hidden_norm, n, C, c->rms_norm_eps);
    const size_t half = (size_t)HD / 2;
    for (int l = 0; l < L; l++) {
        const LayerWeights *w = &d->lw[l];
        float *kraw = b->kc_raw + (keep ? (size_t)l * b->cap_ctx * KD : 0);
        float *rstd = b->rstd_kc + (keep ? (size_t)l * b->cap_ctx * NKV : 0);
        float *k = k_ctx[l] + (size_t)pos * KD, *v = v_ctx[l] + (size_t)pos * KD;
        linear_forward(kraw, b->c, &w->wk, n);
        linear_forward(v, b->c, &w->wv, n);
        rmsnorm_forward(k, rstd, kraw, w->k_norm, n * NKV, HD, c->rms_norm_eps);
        rope_forward(k, cos + (size_t)pos * half, sin + (size_t)pos * half, 1, n, NKV, HD);
    }
}

// Attention of N blocks of B query rows: block j's rows see the context keys
// 0..anchor[j]-1 and the block's own B keys, no mask among them. Scores
// kept whole per (row, head); lse saved for the backward.
static void block_attention(float *out, float *lse, const float *q, const float *kb, const float *vb,
                            const float *kc, const float *vc, const int *anchor, int N, int B, int NH, int NKV,
                            int HD) {
    const int QD = NH * HD, KD = NKV * HD, G = NH / NKV;
    int most = 0;
    for (int j = 0; j < N; j++) most = anchor[j] > most ? anchor[j] : most;
    const float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel
    {
        float *s = xmalloc(sizeof(float) * (size_t)(most + B));
#pragma omp for schedule(static)
        for (long task = 0; task < (long)N * B * NH; task++) {
            const int h = (int)(task % NH), row = (int)(task / NH), j = row / B, g = h / G, A = anchor[j];
            const float *qr = q + (size_t)row * QD + (size_t)h * HD;
            float m = -INFINITY;
            for (int p = 0; p < A + B; p++) {
                const float *kr = p < A ? kc + (size_t)p * KD + (size_t)g * HD
                                        : kb + ((size_t)j * B + (p - A)) * KD + (size_t)g * HD;
                float dot = 0.0f;
                for (int i = 0; i < HD; i++) dot += qr[i] * kr[i];
                s[p] = dot * scale;
                m = s[p] > m ? s[p] : m;
            }
            float sum = 0.0f;
            for (int p = 0; p < A + B; p++) sum += s[p] = expf(s[p] - m);
            float *o = out + (size_t)row * QD + (size_t)h * HD;
            memset(o, 0, sizeof(float) * (size_t)HD);
            for (int p = 0; p < A + B; p++) {
                const float *vr = p < A ? vc + (size_t)p * KD + (size_t)g * HD
                                        : vb + ((size_t)j * B + (p - A)) * KD + (size_t)g * HD;
                const float wgt = s[p] / sum;
                for (int i = 0; i < HD; i++) o[i] += wgt * vr[i];
            }
            if (lse) lse[(size_t)row * NH + h] = m + logf(sum);
        }
        free(s);
    }
}

void drafter_blocks(const Drafter *d, DrafterBufs *b, const float *x_in, int N, const int *anchor,
                    const float *const *k_ctx, const float *const *v_ctx, const float *cos, const float *sin,
                    int keep) {
    const ModelConfig *c = &d->dc.layer;
    const int B = d->dc.block_size, R = N * B, L = c->num_hidden_layers;
    const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const int NH = c->num_attention_heads, NKV = c->num_key_value_heads, QD = NH * HD, KD = NKV * HD;
    const float eps = c->rms_norm_eps;
    drafter_bufs_reserve(d, b, b->cap_ctx, R, keep);
    // RoPE of each row's own position.
    const size_t half = (size_t)HD / 2, RR = (size_t)b->cap_rows;
    float *rc = b->row_cos, *rs = b->row_cos + (size_t)R * half;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < B; i++) {
            const size_t r = (size_t)j * B + i, p = (size_t)anchor[j] + i;
            memcpy(rc + r * half, cos + p * half, sizeof(float) * half);
            memcpy(rs + r * half, sin + p * half, sizeof(float) * half);
        }
    memcpy(b->x, x_in, sizeof(float) * (size_t)R * C);
    for (int l = 0; l < L; l++) {
        const LayerWeights *w = &d->lw[l];
        const size_t kl = keep ? (size_t)l : 0;
        float *x = b->x + (keep ? kl * RR * C : 0), *x_out = b->x + (keep ? (kl + 1) * RR * C : 0);
        float *ln1 = b->ln1 + kl * RR * C, *q_raw = b->q_raw + kl * RR * QD, *q = b->q + kl * RR * QD;
        float *k_raw = b->k_raw + kl * RR * KD, *kb = b->kb + kl * RR * KD, *vb = b->vb + kl * RR * KD;
        float *att = b->att + kl * RR * QD, *mid = b->mid + kl * RR * C, *ln2 = b->ln2 + kl * RR * C;
        float *gate = b->gate + kl * RR * F, *up = b->up + kl * RR * F, *h = b->h + kl * RR * F;
        rmsnorm_forward(ln1, b->rstd1 + kl * RR, x, w->attn_norm, R, C, eps);
        float *const qkv[3] = {q_raw, k_raw, vb};
        const WTensor *const wqkv[3] = {&w->wq, &w->wk, &w->wv};
        linear_forward_multi(3, qkv, wqkv, ln1, R);
        rmsnorm_forward(q, b->rstd_q + kl * RR * NH, q_raw, w->q_norm, R * NH, HD, eps);
        rmsnorm_forward(kb, b->rstd_k + kl * RR * NKV, k_raw, w->k_norm, R * NKV, HD, eps);
        rope_forward(q, rc, rs, 1, R, NH, HD);
        rope_forward(kb, rc, rs, 1, R, NKV, HD);
        block_attention(att, b->lse + kl * RR * NH, q, kb, vb, k_ctx[l], v_ctx[l], anchor, N, B, NH, NKV, HD);
        linear_forward(b->tmp, att, &w->wo, R);
        residual_forward(mid, x, b->tmp, (size_t)R * C);
        rmsnorm_forward(ln2, b->rstd2 + kl * RR, mid, w->mlp_norm, R, C, eps);
        float *const gu[2] = {gate, up};
        const WTensor *const wgu[2] = {&w->wgate, &w->wup};
        linear_forward_multi(2, gu, wgu, ln2, R);
        swiglu_forward(h, gate, up, (size_t)R * F);
        linear_forward(b->tmp, h, &w->wdown, R);
        residual_forward(x_out, mid, b->tmp, (size_t)R * C);
    }
    const float *last = b->x + (keep ? (size_t)L * RR * C : 0);
    rmsnorm_forward(b->out, b->rstd_out, last, d->norm, R, C, eps);
}

// ---------------------------------------------------------------------------
// The backward pass

double drafter_loss(const float *out, const WTensor *E, const int32_t *labels, const float *w, int N, int B,
                    DrafterLoss kind, float *dout) {
    const int R = N * B, C = E->cols;
    int32_t *targets = xmalloc(sizeof(int32_t) * (size_t)R);
    float *losses = xmalloc(sizeof(float) * (size_t)R), *share = xmalloc(sizeof(float) * (size_t)R);
    double wsum = 0.0;
    for (int r = 0; r < R; r++) {
        targets[r] = w[r] > 0.0f ? labels[r] : -1;
        wsum += w[r] > 0.0f ? w[r] : 0.0f;
    }
    // Each row's gradient at weight 1, then scaled by the row's weight
    // (held constant: D-PACE's weights come from the detached probabilities).
    lm_head_loss_backward(dout, NULL, losses, out, E, targets, R, 1.0f, 0, NULL, NULL, NULL);
    double loss = 0.0;
    if (kind == DRAFTER_LOSS_CE) {
        for (int r = 0; r < R; r++) {
            share[r] = targets[r] >= 0 ? (float)(w[r] / (wsum + 1e-6)) : 0.0f;
            loss += targets[r] >= 0 ? (double)share[r] * losses[r] : 0.0;
        }
    } else {
        for (int j = 0; j < N; j++) {
            const int r0 = j * B;
            double P[DRAFTER_MAX_BLOCK], run = 1.0;
            for (int k = 0; k < B; k++) {
                const int r = r0 + k;
                if (targets[r] < 0) { P[k] = 0.0; continue; }
                run *= 0.5 * (exp(-(double)losses[r]) + 1.0);
                P[k] = run;
            }
            double tail = 0.0;
            for (int k = B - 1; k >= 0; k--) {
                const int r = r0 + k;
                tail += P[k];
                share[r] = targets[r] >= 0 ? (float)tail : 0.0f;
                loss += targets[r] >= 0 ? (double)share[r] * losses[r] : 0.0;
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < C; i++) dout[(size_t)r * C + i] *= share[r];
    free(targets);
    free(losses);
    free(share);
    return loss;
}

void drafter_zeros_like(Drafter *g, const Drafter *d) {
    memset(g, 0, sizeof *g);
    g->dc = d->dc;
    alloc_params(g);
    memset(g->params, 0, sizeof(float) * g->n_params);
}

// Backward of block_attention: dq, dkb, dvb written (=), dkc, dvc (the
// context rows' keys/values, shared by every block) accumulated (+=). One
// task per key/value head owns every row it writes, visiting blocks, heads
// and keys in a fixed order: the sums do not depend on the thread count.
static void block_attention_backward(float *dq, float *dkb, float *dvb, float *dkc, float *dvc, const float *datt,
                                     const float *q, const float *kb, const float *vb, const float *kc,
                                     const float *vc, const float *att, const float *lse, const int *anchor, int N,
                                     int B, int NH, int NKV, int HD) {
    const int QD = NH * HD, KD = NKV * HD, G = NH / NKV, R = N * B;
    const float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for schedule(static, 1)
    for (int g = 0; g < NKV; g++) {
        for (int r = 0; r < R; r++) {
            memset(dkb + (size_t)r * KD + (size_t)g * HD, 0, sizeof(float) * (size_t)HD);
            memset(dvb + (size_t)r * KD + (size_t)g * HD, 0, sizeof(float) * (size_t)HD);
            for (int h = g * G; h < (g + 1) * G; h++) memset(dq + (size_t)r * QD + (size_t)h * HD, 0, sizeof(float) * (size_t)HD);
        }
        for (int j = 0; j < N; j++) {
            const int A = anchor[j];
            for (int h = g * G; h < (g + 1) * G; h++)
                for (int i = 0; i < B; i++) {
                    const size_t r = (size_t)j * B + i, qo = r * QD + (size_t)h * HD;
                    const float *qr = q + qo, *o = att + qo, *dov = datt + qo;
                    float *dqr = dq + qo, D = 0.0f;
                    for (int e = 0; e < HD; e++) D += dov[e] * o[e];
                    const float l = lse[r * NH + h];
                    for (int p = 0; p < A + B; p++) {
                        const size_t ko = p < A ? (size_t)p * KD + (size_t)g * HD
                                                : ((size_t)j * B + (p - A)) * KD + (size_t)g * HD;
                        const float *kr = (p < A ? kc : kb) + ko, *vr = (p < A ? vc : vb) + ko;
                        float *dk = (p < A ? dkc : dkb) + ko, *dv = (p < A ? dvc : dvb) + ko;
                        float sc = 0.0f, dp = 0.0f;
                        for (int e = 0; e < HD; e++) {
                            sc += qr[e] * kr[e];
                            dp += dov[e] * vr[e];
                        }
                        const float P = expf(sc * scale - l), dS = P * (dp - D) * scale;
                        for (int e = 0; e < HD; e++) {
                            dqr[e] += dS * kr[e];
                            dk[e] += dS * qr[e];
                            dv[e] += P * dov[e];
                        }
                    }
                }
        }
    }
}

void drafter_backward(const Drafter *d, Drafter *g, DrafterBufs *b, const float *feats, int S, const float *dout,
                      float *dx_in, int N, const int *anchor, const float *const *k_ctx, const float *const *v_ctx,
                      const float *cos, const float *sin) {
    const ModelConfig *c = &d->dc.layer;
    const int B = d->dc.block_size, R = N * B, L = c->num_hidden_layers;
    const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const int NH = c->num_attention_heads, NKV = c->num_key_value_heads, QD = NH * HD, KD = NKV * HD;
    const size_t RR = (size_t)b->cap_rows, XX = (size_t)b->cap_ctx, half = (size_t)HD / 2;
    const float *rc = b->row_cos, *rs = b->row_cos + (size_t)R * half;
    // The final norm: dx = d x_L.
    memset(b->dx, 0, sizeof(float) * (size_t)R * C);
    rmsnorm_backward(b->dx, g->norm, dout, b->x + (size_t)L * RR * C, d->norm, b->rstd_out, R, C);
    memset(b->dkc, 0, sizeof(float) * (size_t)S * KD);
    memset(b->dc, 0, sizeof(float) * (size_t)S * C);
    for (int l = L - 1; l >= 0; l--) {
        const LayerWeights *w = &d->lw[l];
        const LayerParams *gl = &g->lp[l];
        const size_t kl = (size_t)l;
        const float *x = b->x + kl * RR * C, *ln1 = b->ln1 + kl * RR * C, *q_raw = b->q_raw + kl * RR * QD;
        const float *q = b->q + kl * RR * QD, *k_raw = b->k_raw + kl * RR * KD, *kb = b->kb + kl * RR * KD;
        const float *vb = b->vb + kl * RR * KD, *att = b->att + kl * RR * QD, *mid = b->mid + kl * RR * C;
        const float *ln2 = b->ln2 + kl * RR * C, *gate = b->gate + kl * RR * F, *up = b->up + kl * RR * F;
        const float *h = b->h + kl * RR * F;
        // MLP: x_out = mid + down(silu(gate) * up); b->dx holds d x_out.
        memcpy(b->dmid, b->dx, sizeof(float) * (size_t)R * C);
        memset(b->dh, 0, sizeof(float) * (size_t)R * F);
        linear_backward(b->dh, gl->wdown, b->dx, h, &w->wdown, R);
        swiglu_backward(b->dgate, b->dup, b->dh, gate, up, (size_t)R * F);
        memset(b->dln, 0, sizeof(float) * (size_t)R * C);
        linear_backward(b->dln, gl->wgate, b->dgate, ln2, &w->wgate, R);
        linear_backward(b->dln, gl->wup, b->dup, ln2, &w->wup, R);
        rmsnorm_backward(b->dmid, gl->mlp_norm, b->dln, mid, w->mlp_norm, b->rstd2 + kl * RR, R, C);
        // Attention: mid = x + o(att).
        memset(b->datt, 0, sizeof(float) * (size_t)R * QD);
        linear_backward(b->datt, gl->wo, b->dmid, att, &w->wo, R);
        memset(b->dvc, 0, sizeof(float) * (size_t)S * KD);
        memset(b->dkc, 0, sizeof(float) * (size_t)S * KD);
        block_attention_backward(b->dq, b->dkb, b->dvb, b->dkc, b->dvc, b->datt, q, kb, vb, k_ctx[l], v_ctx[l], att,
                                 b->lse + kl * RR * NH, anchor, N, B, NH, NKV, HD);
        rope_backward(b->dq, rc, rs, 1, R, NH, HD);
        rope_backward(b->dkb, rc, rs, 1, R, NKV, HD);
        memset(b->dq_raw, 0, sizeof(float) * (size_t)R * QD);
        memset(b->dk_raw, 0, sizeof(float) * (size_t)R * KD);
        rmsnorm_backward(b->dq_raw, gl->q_norm, b->dq, q_raw, w->q_norm, b->rstd_q + kl * RR * NH, R * NH, HD);
        rmsnorm_backward(b->dk_raw, gl->k_norm, b->dkb, k_raw, w->k_norm, b->rstd_k + kl * RR * NKV, R * NKV, HD);
        memset(b->dln, 0, sizeof(float) * (size_t)R * C);
        linear_backward(b->dln, gl->wq, b->dq_raw, ln1, &w->wq, R);
        linear_backward(b->dln, gl->wk, b->dk_raw, ln1, &w->wk, R);
        linear_backward(b->dln, gl->wv, b->dvb, ln1, &w->wv, R);
        memcpy(b->dx, b->dmid, sizeof(float) * (size_t)R * C);
        rmsnorm_backward(b->dx, gl->attn_norm, b->dln, x, w->attn_norm, b->rstd1 + kl * RR, R, C);
        // The context rows' keys/values of this layer, from c.
        rope_backward(b->dkc, cos, sin, 1, S, NKV, HD);
        memset(b->dkc_raw, 0, sizeof(float) * (size_t)S * KD);
        rmsnorm_backward(b->dkc_raw, gl->k_norm, b->dkc, b->kc_raw + kl * XX * KD, w->k_norm,
                         b->rstd_kc + kl * XX * NKV, S * NKV, HD);
        linear_backward(b->dc, gl->wk, b->dkc_raw, b->c, &w->wk, S);
        linear_backward(b->dc, gl->wv, b->dvc, b->c, &w->wv, S);
    }
    memcpy(dx_in, b->dx, sizeof(float) * (size_t)R * C);
    // c = hidden_norm(fc · feats).
    memset(b->dfc_out, 0, sizeof(float) * (size_t)S * C);
    rmsnorm_backward(b->dfc_out, g->hidden_norm, b->dc, b->fc_out, d->hidden_norm, b->rstd_c, S, C);
    const WTensor fc = wt_f32(d->fc, C, d->dc.n_taps * C);
    linear_backward(NULL, g->fc, b->dfc_out, feats, &fc, S);
}
