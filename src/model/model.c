// model.c — Qwen3: parameter layout, load/save/init, and the forward pass.
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/checkpoint.h"
#include "base/hash.h"
#include "base/util.h"
#include "format/safetensors.h"
#include "kernels/head.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"
#include "model/block.h"
#include "model/weights.h"
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

int model_init_shell(Model *m, const ModelConfig *c, char *err) {
    memset(m, 0, sizeof *m);
    if (config_validate(c, "config", err) != 0) return -1;
    m->config = *c;
    build_layout(m);
    return 0;
}

void model_free(Model *m) {
    free(m->params_memory);
    free(m->tensors);
    free(m->acts.memory);
    free(m->scratch.memory);
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

// ---------------------------------------------------------------------------
// Activations

static void acts_alloc(Model *m, int B, int T, int train) {
    Activations *a = &m->acts;
    int S = train ? m->config.num_hidden_layers : 1;
    if (a->memory && a->B == B && a->T == T && a->n_saved_layers == S) return;
    free(a->memory);
    const ModelConfig *c = &m->config;
    const size_t BT = (size_t)B * T, C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const size_t NH = c->num_attention_heads, NKV = c->num_key_value_heads;
    const size_t R = train ? (size_t)c->num_hidden_layers + 1 : 2;  // residual buffers
    const size_t QK = arch_tensor(arch_get(c->arch), TK_Q_NORM) != NULL;  // pre-norm q/k kept only with head norms
    const FloatPart parts[] = {
        {&a->resid, R * BT * C},         {&a->ln1, BT * C},             {&a->rstd1, S * BT},
        {&a->q, S * BT * NH * HD},       {&a->k, S * BT * NKV * HD},    {&a->v, S * BT * NKV * HD},
        {&a->q_raw, QK * S * BT * NH * HD}, {&a->k_raw, QK * S * BT * NKV * HD},
        {&a->rstd_q, QK * S * BT * NH},  {&a->rstd_k, QK * S * BT * NKV},    {&a->att, S * BT * NH * HD},
        {&a->lse, S * BT * NH},          {&a->resid_mid, S * BT * C},   {&a->ln2, BT * C},
        {&a->rstd2, S * BT},             {&a->gate, S * BT * F},        {&a->up, S * BT * F},
        {&a->h, BT * F},                 {&a->lnf, BT * C},             {&a->rstdf, BT},
        {&a->losses, BT},                {&a->tmp, BT * (C > F ? C : F)},
        {&a->rope_cos, (size_t)T * HD / 2}, {&a->rope_sin, (size_t)T * HD / 2},
    };
    a->memory = carve_floats(parts, sizeof parts / sizeof parts[0], &a->n_floats);
    a->B = B;
    a->T = T;
    a->n_saved_layers = S;
    rope_config_tables(c, a->rope_cos, a->rope_sin, T);
}

// ---------------------------------------------------------------------------
// Forward pass

// Slot s of the saved per-layer buffers as one layer's BlockBufs (training
// keeps slot l for layer l; evaluation reuses slot 0). The two norm outputs
// and silu(gate)·up have one slot for all layers: the backward recomputes
// them from what is kept (block_backward).
static void layer_bufs(const Model *m, size_t s, BlockBufs *b) {
    const ModelConfig *c = &m->config;
    const Activations *a = &m->acts;
    const size_t BT = (size_t)a->B * a->T, C = c->hidden_size, F = c->intermediate_size;
    const size_t NH = c->num_attention_heads, NKV = c->num_key_value_heads, QD = NH * c->head_dim,
                 KD = NKV * c->head_dim;
    *b = (BlockBufs){
        .ln1 = a->ln1, .rstd1 = a->rstd1 + s * BT,
        .q_raw = a->q_raw + s * BT * QD, .k_raw = a->k_raw + s * BT * KD,
        .rstd_q = a->rstd_q + s * BT * NH, .rstd_k = a->rstd_k + s * BT * NKV,
        .q = a->q + s * BT * QD, .k = a->k + s * BT * KD, .v = a->v + s * BT * KD,
        .att = a->att + s * BT * QD, .lse = a->lse + s * BT * NH,
        .mid = a->resid_mid + s * BT * C, .ln2 = a->ln2, .rstd2 = a->rstd2 + s * BT,
        .gate = a->gate + s * BT * F, .up = a->up + s * BT * F, .h = a->h, .tmp = a->tmp,
    };
}

// Input of layer l in the residual buffers (evaluation alternates two).
static float *resid_at(const Model *m, int l, int train) {
    const size_t BT = (size_t)m->acts.B * m->acts.T;
    return m->acts.resid + (size_t)(train ? l : l & 1) * BT * (size_t)m->config.hidden_size;
}

// Runs the embedding, every layer and the final norm; `train` keeps every
// layer's activations. The result is in m->acts.lnf.
static void forward_layers(Model *m, const ModelWeights *w, const int32_t *tokens, int B, int T, int train) {
    acts_alloc(m, B, T, train);
    const ModelConfig *c = &m->config;
    Activations *a = &m->acts;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    const BlockCtx ctx = {.B = B, .T = T, .pos = 0, .cos = a->rope_cos, .sin = a->rope_sin};
    embedding_lookup(a->resid, tokens, B * T, &w->embed);
    for (int l = 0; l < L; l++) {
        BlockBufs b;
        layer_bufs(m, train ? (size_t)l : 0, &b);
        block_forward(c, &w->layers[l], resid_at(m, l + 1, train), resid_at(m, l, train), &b, &ctx);
    }
    rmsnorm_forward(a->lnf, a->rstdf, resid_at(m, L, train), w->final_norm, B * T, C, c->rms_norm_eps);
}

void model_forward_hidden(Model *m, const ModelWeights *w, const int32_t *tokens, int B, int T) {
    forward_layers(m, w, tokens, B, T, 1);
}

const float *model_forward_features(Model *m, const ModelWeights *w, const int32_t *tokens, int B, int T) {
    forward_layers(m, w, tokens, B, T, 0);
    return m->acts.lnf;
}

double model_forward_weights(Model *m, const ModelWeights *w, const int32_t *tokens, const int32_t *targets, int B,
                             int T, int train, float *logits_out, size_t *count) {
    forward_layers(m, w, tokens, B, T, train);
    Activations *a = &m->acts;
    const int BT = B * T, C = m->config.hidden_size, V = m->config.vocab_size;
    int32_t *no_targets = NULL;
    if (!targets) {  // logits only: mark every row as not scored
        no_targets = xmalloc(sizeof(int32_t) * BT);
        for (int i = 0; i < BT; i++) no_targets[i] = -1;
    }
    size_t n = 0;
    double sum = lm_head_loss_forward(a->losses, logits_out, a->lnf, &w->lm_head, targets ? targets : no_targets,
                                      BT, C, V, &n);
    free(no_targets);
    if (count) *count = n;
    return n ? sum / (double)n : 0.0;
}

double model_forward(Model *m, const ParamTensors *w, const int32_t *tokens, const int32_t *targets,
                     int B, int T, int train, float *logits_out, size_t *count) {
    ModelWeights mw;
    weights_view(&mw, m, w);
    double loss = model_forward_weights(m, &mw, tokens, targets, B, T, train, logits_out, count);
    weights_free(&mw);
    return loss;
}

// ---------------------------------------------------------------------------
// Backward pass

static void scratch_alloc(Model *m, int BT) {
    GradScratch *g = &m->scratch;
    free(g->memory);
    const ModelConfig *c = &m->config;
    const size_t C = c->hidden_size, F = c->intermediate_size;
    const size_t QD = (size_t)c->num_attention_heads * c->head_dim, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t R = (size_t)BT;
    const FloatPart parts[] = {
        {&g->dresid, R * C}, {&g->dln, R * C}, {&g->dh, R * F}, {&g->dgate, R * F}, {&g->dup, R * F},
        {&g->datt, R * QD}, {&g->dq, R * QD}, {&g->dq_raw, R * QD}, {&g->dk, R * KD}, {&g->dk_raw, R * KD},
        {&g->dv, R * KD},
    };
    g->memory = carve_floats(parts, sizeof parts / sizeof parts[0], NULL);
    g->BT = BT;
}

// Rows of logits per chunk in the fused LM head: at Qwen3's vocabulary 256
// rows are 155 MB of logits and read the 622 MB head 110/256 as often as the
// forward's chunking (110 rows) would.
#define TRAIN_HEAD_ROWS 256

double model_backward(Model *m, const ModelWeights *w, ParamTensors *g, const int32_t *tokens,
                      const int32_t *targets, float loss_scale, const HeadTeacher *teacher, HeadLossSums *means,
                      size_t *count) {
    const ModelConfig *c = &m->config;
    Activations *a = &m->acts;
    const int B = a->B, T = a->T, BT = B * T;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    if (a->n_saved_layers != L) die("model_backward called without model_forward_hidden's activations");
    if (m->scratch.BT != BT) scratch_alloc(m, BT);
    GradScratch *d = &m->scratch;

    size_t n = 0;
    for (int i = 0; i < BT; i++) n += targets[i] >= 0;
    if (count) *count = n;
    if (means) *means = (HeadLossSums){0.0, 0.0};
    if (n == 0) return 0.0;

    // LM head + loss, fused with their gradients: d lnf and d head.
    HeadLossSums sums;
    double loss_sum = lm_head_loss_backward(d->dln, g->lm_head, a->losses, a->lnf, &w->lm_head, targets, BT,
                                            loss_scale / (float)n, TRAIN_HEAD_ROWS, teacher, &sums, NULL);
    if (means) *means = (HeadLossSums){sums.ce / (double)n, sums.kl / (double)n};
    memset(d->dresid, 0, sizeof(float) * (size_t)BT * C);
    rmsnorm_backward(d->dresid, g->final_norm, d->dln, a->resid + (size_t)L * BT * C, w->final_norm, a->rstdf, BT, C);

    const BlockCtx ctx = {.B = B, .T = T, .pos = 0, .cos = a->rope_cos, .sin = a->rope_sin};
    for (int l = L - 1; l >= 0; l--) {
        LayerParams lg;
        BlockBufs b;
        layer_params(c, g, l, &lg);
        layer_bufs(m, (size_t)l, &b);
        block_backward(c, &w->layers[l], &lg, resid_at(m, l, 1), &b, &ctx, d);
    }
    embedding_backward(g->embed, d->dresid, tokens, BT, C);
    return loss_sum / (double)n;
}
