// train.c — see train.h.
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/util.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/head.h"

void train_config_default(TrainConfig *c) {
    c->quant = 1;
    c->group_size = 128;
    c->scale = SCALE_ABSMEAN;
    c->scale_lr_mult = 1.0f;
    c->steps = 250;
    c->warmup = 25;
    c->lr = 1e-4f;
    c->min_lr = 5e-6f;
    c->weight_decay = 0.01f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->clip = 1.0f;
    c->quant_ramp = 0;
    c->keep_embedding = KEEP_NONE;
    c->keep_linear = 0;
    c->distill = 0;
    c->distill_alpha = 0.0f;
    c->distill_temp = 1.0f;
    c->distill_hidden = 0.0f;
    c->distill_reverse = 0.0f;
    c->precision = PREC_FP32;
}

// Rows projected at a time before rounding to bf16.
#define PROJ_ROWS 256

// The bf16 view of a parameter set: matrices in `w16` (the layout of the
// flat buffer, 2 bytes a value), norms fp32 in `f32`; kinds in `keep_f32`
// (the embedding / head kept in fp32) from `f32` as well; adapters (fp32)
// only with `adapters` (a student's are folded into its matrices).
static void view_bf16(ModelWeights *mw, const Model *m, const uint16_t *w16, const float *f32, int keep_f32_embed,
                      int adapters) {
    memset(mw, 0, sizeof *mw);
    mw->config = m->config;
    const void *base[TK_COUNT] = {0};
    uint32_t type[TK_COUNT];
    for (int k = 0; k < TK_COUNT; k++) type[k] = GGML_TYPE_F32;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (ti->layer != 0 || (tk_is_adapter(ti->kind) && !adapters)) continue;
        const int bf16 = ti->matrix && !(keep_f32_embed && tk_is_embedding(ti->kind));
        base[ti->kind] = bf16 ? (const void *)(w16 + ti->offset) : (const void *)(f32 + ti->offset);
        type[ti->kind] = bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32;
    }
    weights_assemble(mw, base, type, NULL);
}

static void round_matrices(uint16_t *dst, const Model *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (ti->matrix)
            bf16_round(dst + ti->offset, m->params_memory + ti->offset, (size_t)ti->rows * (size_t)ti->cols);
    }
}

// How a tensor is kept out of the projection: the embedding / LM head (their
// one or two tensors) as --keep-embedding says, kept linear kinds in bf16;
// KEEP_NONE when it is projected.
static KeepEmbedding kept(const TrainConfig *c, const TensorInfo *ti) {
    if (tk_is_embedding(ti->kind)) return c->keep_embedding;
    return (c->keep_linear >> ti->kind) & 1u ? KEEP_BF16 : KEEP_NONE;
}

// Learned scales: one per group of every projected tensor, starting as the
// MSE-optimal scale of the latent weights (a calibrated start's own scales).
static void init_scales(Trainer *t) {
    const Model *m = t->model;
    const int group = t->cfg.group_size;
    t->scale_off = xmalloc(sizeof(size_t) * (size_t)m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        t->scale_off[i] = SIZE_MAX;
        if (!ti->matrix || kept(&t->cfg, ti)) continue;
        t->scale_off[i] = t->n_scales;
        t->n_scales += (size_t)ti->rows * (size_t)(ti->cols / group);
    }
    const size_t n = t->n_scales ? t->n_scales : 1;
    t->scales = xmalloc_aligned(sizeof(float) * n);
    t->scale_grads = xmalloc_aligned(sizeof(float) * n);
    t->scale_m = xcalloc(n, sizeof(float));
    t->scale_v = xcalloc(n, sizeof(float));
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (t->scale_off[i] == SIZE_MAX) continue;
        const int64_t ng = ti->rows * (ti->cols / group);
        const float *w = m->params_memory + ti->offset;
        float *s = t->scales + t->scale_off[i];
#pragma omp parallel
        {
            int32_t *tmp = xmalloc(3 * sizeof(int32_t) * (size_t)group);
#pragma omp for schedule(static)
            for (int64_t g = 0; g < ng; g++) s[g] = ternary_mse_scale(w + g * group, NULL, group, tmp);
            free(tmp);
        }
    }
}

int trainer_init(Trainer *t, Model *m, const TrainConfig *c, const Dist *d, char *err) {
    memset(t, 0, sizeof *t);
    if (c->steps < 1) return set_err(err, "--steps must be at least 1");
    if (c->warmup < 0) return set_err(err, "--warmup must not be negative");
    if (!(c->lr > 0) || !(c->min_lr >= 0) || c->min_lr > c->lr)
        return set_err(err, "need 0 <= --min-lr <= --lr and --lr > 0 (got %g, %g)", c->min_lr, c->lr);
    if (!(c->weight_decay >= 0)) return set_err(err, "--weight-decay must not be negative");
    if (c->quant_ramp < 0 || c->quant_ramp > c->steps)
        return set_err(err, "--quant-ramp %ld is longer than the run (--steps %ld)", c->quant_ramp, c->steps);
    if (!c->quant && (c->quant_ramp || c->keep_embedding != KEEP_NONE || c->keep_linear))
        return set_err(err, "--quant-ramp, --keep-embedding and --keep-linear need ternary training (not --quant "
                            "none)");
    if (!(c->distill_alpha >= 0 && c->distill_alpha <= 1))
        return set_err(err, "--distill-alpha must be in [0, 1] (got %g)", c->distill_alpha);
    if (!(c->distill_temp > 0) || !isfinite(c->distill_temp))
        return set_err(err, "--distill-temp must be positive (got %g)", c->distill_temp);
    if (!(c->distill_hidden >= 0) || !isfinite(c->distill_hidden))
        return set_err(err, "--distill-hidden must be >= 0 (got %g)", c->distill_hidden);
    if (!(c->distill_reverse >= 0 && c->distill_reverse <= 1))
        return set_err(err, "--distill-reverse must be in [0, 1] (got %g)", c->distill_reverse);
    if (c->distill_hidden > 0 && !c->distill)
        return set_err(err, "--distill-hidden needs --distill (the teacher's hidden states)");
    if (c->quant) {
        for (int i = 0; i < m->n_tensors; i++)
            if (m->tensors[i].matrix && ternary_check_shape(m->tensors[i].name, m->tensors[i].cols, c->group_size, err))
                return -1;
    }
    if (c->scale == SCALE_LEARNED && (!c->quant || c->quant_ramp))
        return set_err(err, "--scale learned needs ternary training without --quant-ramp");
    if (!(c->scale_lr_mult > 0) || !isfinite(c->scale_lr_mult))
        return set_err(err, "--scale-lr-mult must be positive (got %g)", c->scale_lr_mult);
    if (c->precision != PREC_FP32 && c->precision != PREC_BF16) return set_err(err, "unknown precision %d", c->precision);
    if (m->config.adapter_rank && (c->keep_linear || !c->quant || c->quant_ramp))
        return set_err(err, "a model with adapters trains as ternary matrices with their corrections: not with "
                            "--keep-linear, --quant none or --quant-ramp");
    if (c->precision == PREC_BF16 && gemm_bf16_check(err)) return -1;
    t->cfg = *c;
    t->model = m;
    workspace_init(&t->ws, &m->config);
    t->dist = d ? *d : (Dist){0, 1};
    const size_t n = m->n_params;
    dist_slice(n, t->dist.rank, t->dist.size, &t->lo, &t->n_slice);
    t->grads = xmalloc_aligned(sizeof(float) * n);
    t->m = xmalloc_aligned(sizeof(float) * (t->n_slice ? t->n_slice : 1));
    t->v = xmalloc_aligned(sizeof(float) * (t->n_slice ? t->n_slice : 1));
    memset(t->m, 0, sizeof(float) * t->n_slice);
    memset(t->v, 0, sizeof(float) * t->n_slice);
    model_point_params(m, t->grads, &t->g);
    if (c->precision == PREC_BF16) {
        int64_t widest = 1;
        for (int i = 0; i < m->n_tensors; i++)
            if (m->tensors[i].cols > widest) widest = m->tensors[i].cols;
        t->fwd16 = xmalloc_aligned(sizeof(uint16_t) * n);
        t->proj_tmp = xmalloc_aligned(sizeof(float) * PROJ_ROWS * (size_t)widest);
        view_bf16(&t->fw, m, t->fwd16, m->params_memory, c->quant && c->keep_embedding == KEEP_FP32, 0);
    } else {
        t->fwd = c->quant ? xmalloc_aligned(sizeof(float) * n) : m->params_memory;
        model_point_params(m, t->fwd, &t->w);
        ParamTensors folded = t->w;  // the adapters are folded into the matrices (project_rows)
        memset(folded.adapters, 0, sizeof folded.adapters);
        weights_view(&t->fw, m, &folded);
    }
    // Each tensor's part of this rank's slice, as ranges from lo.
    t->ranges = xcalloc((size_t)m->n_tensors, sizeof(ParamRange));
    const size_t hi = t->lo + t->n_slice;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const size_t a = ti->offset, b = a + (size_t)ti->rows * (size_t)(ti->cols ? ti->cols : 1);
        const size_t s0 = a > t->lo ? a : t->lo, s1 = b < hi ? b : hi;
        if (s0 < s1) t->ranges[t->n_ranges++] = (ParamRange){s0 - t->lo, s1 - s0, ti->matrix};
    }
    if (c->scale == SCALE_LEARNED) init_scales(t);
    return 0;
}

void trainer_free(Trainer *t) {
    free(t->grads);
    free(t->m);
    free(t->v);
    if (t->fwd != t->model->params_memory) free(t->fwd);
    free(t->fwd16);
    free(t->proj_tmp);
    weights_free(&t->fw);
    weights_free(&t->tw);
    workspace_free(&t->ws);
    workspace_free(&t->teacher_ws);
    free(t->teacher16);
    free(t->teacher_layers);
    free(t->ranges);
    free(t->scales);
    free(t->scale_grads);
    free(t->scale_m);
    free(t->scale_v);
    free(t->scale_off);
    memset(t, 0, sizeof *t);
}

int trainer_set_teacher(Trainer *t, Model *teacher, char *err) {
    if (teacher->config.vocab_size != t->model->config.vocab_size)
        return set_err(err, "the teacher has %d vocabulary rows, the student %d: distillation needs the same "
                       "vocabulary", teacher->config.vocab_size, t->model->config.vocab_size);
    t->teacher = teacher;
    workspace_init(&t->teacher_ws, &teacher->config);
    t->teacher_hash = fnv1a64(teacher->params_memory, sizeof(float) * teacher->n_params);
    if (t->cfg.precision == PREC_BF16) {  // frozen: rounded once
        t->teacher16 = xmalloc_aligned(sizeof(uint16_t) * teacher->n_params);
        round_matrices(t->teacher16, teacher);
        view_bf16(&t->tw, teacher, t->teacher16, teacher->params_memory, 0, 1);
    } else {
        weights_view(&t->tw, teacher, &teacher->params);
    }
    return 0;
}

float trainer_lambda(const TrainConfig *c, long step) {
    return c->quant_ramp > 0 && step < c->quant_ramp ? (float)step / (float)c->quant_ramp : 1.0f;
}

// Rows [r0, r1) of layer l's adapter tensor of kind k, rounded to bf16 (the
// adapters train like a kept bf16 tensor: fp32 latent, bf16 in the forward
// and in the saved model), in a new allocation.
static float *adapter_bf16(const Model *m, int k, int l, int64_t r0, int64_t r1) {
    const ArchTensor *e = arch_tensor(arch_get(m->config.arch), k);
    const int64_t rows = arch_dim(&m->config, e->rows), cols = arch_dim(&m->config, e->cols);
    float *out = xmalloc(sizeof(float) * (size_t)((r1 - r0) * cols));
    bf16_round_f32(out, m->params.k[k] + (size_t)(l * rows + r0) * cols, (size_t)((r1 - r0) * cols));
    return out;
}

// Tensor ti of the forward weights in fp32 into dst (its own offset applied
// by the caller): copied (norms, an fp32-kept embedding, adapters), rounded
// through bf16 (a bf16-kept one), or projected and mixed with mix lambda,
// then with `fold` its adapter's B·A added; rows [r0, r1) only.
static void project_rows(const Trainer *t, int i, float lambda, int fold, int64_t r0, int64_t r1, float *dst) {
    const TensorInfo *ti = &t->model->tensors[i];
    const int64_t cols = ti->cols ? ti->cols : 1;
    const float *src = t->model->params_memory + ti->offset + (size_t)(r0 * cols);
    const size_t n = (size_t)((r1 - r0) * cols);
    if (tk_is_adapter(ti->kind)) {
        bf16_round_f32(dst, src, n);
    } else if (!t->cfg.quant || !ti->matrix || kept(&t->cfg, ti) == KEEP_FP32) {
        memcpy(dst, src, sizeof(float) * n);
    } else if (kept(&t->cfg, ti)) {
        bf16_round_f32(dst, src, n);
    } else if (t->cfg.scale == SCALE_LEARNED) {
        const float *s = t->scales + t->scale_off[i] + (size_t)(r0 * (cols / t->cfg.group_size));
        ternary_project_scales(dst, src, r1 - r0, cols, t->cfg.group_size, s);
    } else {
        ternary_project(dst, src, r1 - r0, cols, t->cfg.group_size, t->cfg.scale);
        if (lambda < 1.0f)
            for (size_t j = 0; j < n; j++) dst[j] = (1.0f - lambda) * src[j] + lambda * dst[j];
    }
    const int r = t->model->config.adapter_rank, a = tk_adapter_a(ti->kind);
    if (fold && r && a >= 0) {  // + B·A: the forward runs the corrected matrix
        float *A = adapter_bf16(t->model, a, ti->layer, 0, r), *Bm = adapter_bf16(t->model, a + 1, ti->layer, r0, r1);
        sgemm_det(0, 0, (int)(r1 - r0), (int)cols, r, 1.0f, Bm, r, A, (int)cols, 1.0f, dst, (int)cols);
        free(A);
        free(Bm);
    }
}

static void project_f32(const Trainer *t, float lambda, int fold, float *dst) {
    const Model *m = t->model;
    for (int i = 0; i < m->n_tensors; i++)
        project_rows(t, i, lambda, fold, 0, m->tensors[i].rows, dst + m->tensors[i].offset);
}

void trainer_project(Trainer *t, float lambda) {
    if (t->cfg.precision == PREC_FP32) {
        if (t->cfg.quant) project_f32(t, lambda, 1, t->fwd);
        return;
    }
    // bf16: every matrix the forward reads as bf16 (norms and an fp32-kept
    // embedding are read from the latent buffer), PROJ_ROWS rows at a time.
    const Model *m = t->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (!ti->matrix || kept(&t->cfg, ti) == KEEP_FP32) continue;
        for (int64_t r0 = 0; r0 < ti->rows; r0 += PROJ_ROWS) {
            const int64_t r1 = r0 + PROJ_ROWS < ti->rows ? r0 + PROJ_ROWS : ti->rows;
            project_rows(t, i, lambda, 1, r0, r1, t->proj_tmp);
            bf16_round(t->fwd16 + ti->offset + (size_t)(r0 * ti->cols), t->proj_tmp, (size_t)((r1 - r0) * ti->cols));
        }
    }
}

float *trainer_model_f32(Trainer *t) {
    float *dst = t->cfg.precision == PREC_FP32 ? t->fwd : t->grads;
    if (dst != t->model->params_memory) project_f32(t, 1.0f, 0, dst);
    return dst;
}

void trainer_adapter_grads(Trainer *t) {
    const Model *m = t->model;
    const int r = m->config.adapter_rank;
    for (int i = 0; i < m->n_tensors && r; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const int a = tk_adapter_a(ti->kind);
        if (a < 0) continue;
        const int rows = (int)ti->rows, cols = (int)ti->cols;
        const size_t la = (size_t)ti->layer * r * cols, lb = (size_t)ti->layer * rows * r;
        const float *dW = t->grads + ti->offset;
        float *A = adapter_bf16(m, a, ti->layer, 0, r), *Bm = adapter_bf16(m, a + 1, ti->layer, 0, rows);
        sgemm_det(1, 0, r, cols, rows, 1.0f, Bm, r, dW, cols, 0.0f, t->g.k[a] + la, cols);
        sgemm_det(0, 1, rows, r, cols, 1.0f, dW, cols, A, cols, 0.0f, t->g.k[a + 1] + lb, r);
        free(A);
        free(Bm);
    }
}

void trainer_scale_grads(Trainer *t) {
    const Model *m = t->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (t->scale_off[i] == SIZE_MAX) continue;
        ternary_scale_grad(t->scale_grads + t->scale_off[i], t->grads + ti->offset, m->params_memory + ti->offset,
                           t->scales + t->scale_off[i], ti->rows, ti->cols, t->cfg.group_size);
    }
}

// Below this a learned scale stops: a scale that reached 0 would freeze its
// group for good (zero scales get no gradient).
#define SCALE_FLOOR 1e-7f

// AdamW on the learned scales (no weight decay), rank 0's result for all.
static void update_scales(Trainer *t, float lr, float clip) {
    const AdamWConfig ac = {t->cfg.beta1, t->cfg.beta2, t->cfg.eps, 0.0f};
    const ParamRange all = {0, t->n_scales, 0};
    adamw_step(t->scales, t->scale_grads, t->scale_m, t->scale_v, &all, 1, &ac, lr * t->cfg.scale_lr_mult,
               t->step + 1, clip);
    for (size_t k = 0; k < t->n_scales; k++)
        if (t->scales[k] != 0.0f && !(t->scales[k] >= SCALE_FLOOR)) t->scales[k] = SCALE_FLOOR;
    if (t->dist.size > 1) dist_bcast(&t->dist, t->scales, sizeof(float) * t->n_scales, 0);
}

static size_t count_targets(const int32_t *y, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += y[i] >= 0;
    return c;
}

int trainer_step(Trainer *t, const int32_t *x, const int32_t *y, int B, int T, StepStats *st, char *err) {
    Model *m = t->model;
    const Dist *d = &t->dist;
    const long step = t->step;
    const size_t rows = (size_t)B * T;
    const int32_t *xr = x + (size_t)d->rank * rows, *yr = y + (size_t)d->rank * rows;
    st->lambda = trainer_lambda(&t->cfg, step);
    trainer_project(t, st->lambda);
    memset(t->grads, 0, sizeof(float) * m->n_params);
    HeadTeacher ht, *teacher = NULL;
    HiddenTarget hid, *hidden = NULL;
    if (t->teacher) {
        const float *features;
        if (t->cfg.distill_hidden > 0) {
            const size_t n = (size_t)m->config.num_hidden_layers * rows * (size_t)m->config.hidden_size;
            if (t->teacher_layers_n < n) {
                free(t->teacher_layers);
                t->teacher_layers = xmalloc_aligned(sizeof(float) * n);
                t->teacher_layers_n = n;
            }
            features = forward_features_layers(&t->teacher_ws, &t->tw, xr, B, T, t->teacher_layers);
            hid = (HiddenTarget){t->teacher_layers, t->cfg.distill_hidden};
            hidden = &hid;
        } else {
            features = forward_features(&t->teacher_ws, &t->tw, xr, B, T);
        }
        ht = (HeadTeacher){features, &t->tw.lm_head, t->cfg.distill_alpha, t->cfg.distill_temp,
                           t->cfg.distill_reverse};
        teacher = &ht;
    }
    // This rank's rows, their gradient scaled by their share of the global
    // batch's targets: the ranks' gradients then sum to the gradient of the
    // global mean.
    const size_t n_all = count_targets(y, rows * (size_t)d->size), n_mine = count_targets(yr, rows);
    const float share = d->size == 1 || n_all == 0 ? 1.0f : (float)n_mine / (float)n_all;
    forward_hidden(&t->ws, &t->fw, xr, B, T);
    HeadLossSums parts;
    st->loss = backward_loss(&t->ws, &t->fw, &t->g, xr, yr, share, teacher, hidden, &parts, &st->hidden, &st->tokens);
    st->ce = parts.ce;
    st->kl = parts.kl;
    st->comm_s = 0.0;
    double t0 = now_seconds();
    if (d->size > 1) {
        double sums[4] = {st->loss * (double)n_mine, st->ce * (double)n_mine, st->kl * (double)n_mine,
                          st->hidden * (double)n_mine};
        dist_sum_f64(d, sums, 4);
        st->loss = n_all ? sums[0] / (double)n_all : 0.0;
        st->ce = n_all ? sums[1] / (double)n_all : 0.0;
        st->kl = n_all ? sums[2] / (double)n_all : 0.0;
        st->hidden = n_all ? sums[3] / (double)n_all : 0.0;
        st->tokens = n_all;
        dist_sum_f32(d, t->grads, m->n_params);  // the one reduction of the step
        st->comm_s = now_seconds() - t0;
    }
    trainer_adapter_grads(t);  // from the summed gradients: the same on every rank
    st->grad_norm = grad_global_norm(t->grads, m->n_params);
    if (t->scales) {  // from the summed gradients: the same on every rank
        trainer_scale_grads(t);
        const double ns = grad_global_norm(t->scale_grads, t->n_scales);
        st->grad_norm = sqrt(st->grad_norm * st->grad_norm + ns * ns);
    }
    st->lr = lr_cosine(step, t->cfg.steps, t->cfg.warmup, t->cfg.lr, t->cfg.min_lr);
    if (!isfinite(st->loss) || !isfinite(st->grad_norm))
        return set_err(err, "step %ld: the %s is not finite (loss %g, grad norm %g); weights left as they were",
                       step + 1, isfinite(st->loss) ? "gradient norm" : "loss", st->loss, st->grad_norm);
    // ZeRO stage 1: clip and update this rank's slice, then every rank
    // broadcasts its slice into the others' weights.
    float *w = m->params_memory, *g = t->grads;
    const float clip = t->cfg.clip > 0 ? grad_clip_factor(st->grad_norm, t->cfg.clip) : 1.0f;
    AdamWConfig ac = {t->cfg.beta1, t->cfg.beta2, t->cfg.eps, t->cfg.weight_decay};
    adamw_step(w + t->lo, g + t->lo, t->m, t->v, t->ranges, t->n_ranges, &ac, st->lr, step + 1, clip);
    if (t->scales) update_scales(t, st->lr, clip);
    t0 = now_seconds();
    for (int r = 0; r < d->size && d->size > 1; r++) {
        size_t lo, n;
        dist_slice(m->n_params, r, d->size, &lo, &n);
        dist_bcast(d, w + lo, sizeof(float) * n, r);
    }
    if (d->size > 1) st->comm_s += now_seconds() - t0;
    t->step++;
    return 0;
}

// ---------------------------------------------------------------------------
// Checkpoints

#define CKPT_MAGIC "TRITCKPT"
#define CKPT_VERSION 4u

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t step, data_rng, tokenizer_hash, model_hash, n_params;
    int32_t quant, group_size, scale, precision;
    int64_t steps, warmup;
    float lr, min_lr, weight_decay, beta1, beta2, eps, clip;
    float distill_hidden;  // was padding (0) before the hidden-state term: old checkpoints read as off
    int64_t quant_ramp;
    int32_t keep_embedding, distill;
    float distill_alpha, distill_temp;
    uint64_t teacher_hash;
    int32_t ranks;
    float scale_lr_mult;  // learned scales only (0 otherwise, as the padding it replaced)
    uint32_t keep_linear;
    float distill_reverse;  // was padding (0) before the reverse KL: old checkpoints read as off
} CkptHeader;

static uint64_t model_shape_hash(const Model *m) {
    const ModelConfig *c = &m->config;
    int64_t f[] = {c->vocab_size, c->hidden_size, c->intermediate_size, c->num_hidden_layers,
                   c->num_attention_heads, c->num_key_value_heads, c->head_dim, c->tie_word_embeddings,
                   (int64_t)m->n_params};
    return fnv1a64(f, sizeof f);
}

static void header_from(CkptHeader *h, const Trainer *t, uint64_t data_rng, uint64_t tok_hash) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CKPT_MAGIC, 8);
    h->version = CKPT_VERSION;
    h->header_bytes = sizeof *h;
    h->step = (uint64_t)t->step;
    h->data_rng = data_rng;
    h->tokenizer_hash = tok_hash;
    h->model_hash = model_shape_hash(t->model);
    h->n_params = t->model->n_params;
    const TrainConfig *c = &t->cfg;
    h->quant = c->quant;
    h->group_size = c->group_size;
    h->scale = (int32_t)c->scale;
    h->precision = (int32_t)c->precision;
    h->steps = c->steps;
    h->warmup = c->warmup;
    h->lr = c->lr;
    h->min_lr = c->min_lr;
    h->weight_decay = c->weight_decay;
    h->beta1 = c->beta1;
    h->beta2 = c->beta2;
    h->eps = c->eps;
    h->clip = c->clip;
    h->quant_ramp = c->quant_ramp;
    h->keep_embedding = (int32_t)c->keep_embedding;
    h->keep_linear = c->keep_linear;
    h->distill = c->distill;
    h->distill_alpha = c->distill_alpha;
    h->distill_temp = c->distill_temp;
    h->distill_hidden = c->distill_hidden;
    h->distill_reverse = c->distill_reverse;
    h->teacher_hash = t->teacher ? t->teacher_hash : 0;
    h->ranks = t->dist.size;
    h->scale_lr_mult = c->scale == SCALE_LEARNED ? c->scale_lr_mult : 0.0f;
}

uint64_t trainer_state_hash(const Trainer *t, uint64_t data_rng, uint64_t tokenizer_hash) {
    CkptHeader h;
    header_from(&h, t, data_rng, tokenizer_hash);
    return fnv1a64(&h, sizeof h);
}

// Writes AdamW moments (m or v, by `which`) of every rank in rank order:
// rank 0 its own slice, then each other rank's as it arrives; the others
// send theirs. Collective.
static void write_moments(const Trainer *t, AtomicFile *f, int which) {
    const Dist *d = &t->dist;
    const float *mine = which ? t->v : t->m;
    if (d->rank != 0) {
        dist_send(d, mine, sizeof(float) * t->n_slice, 0);
        return;
    }
    atomic_write(f, mine, sizeof(float) * t->n_slice);
    if (d->size == 1) return;
    size_t lo, n, widest;
    dist_slice(t->model->n_params, 0, d->size, &lo, &widest);  // slice 0 is the largest
    float *buf = xmalloc_aligned(sizeof(float) * widest);
    for (int r = 1; r < d->size; r++) {
        dist_slice(t->model->n_params, r, d->size, &lo, &n);
        dist_recv(d, buf, sizeof(float) * n, r);
        atomic_write(f, buf, sizeof(float) * n);
    }
    free(buf);
}

int trainer_save_checkpoint(const Trainer *t, const char *dir, uint64_t data_rng, uint64_t tokenizer_hash,
                            char *err) {
    if (t->dist.rank != 0) {  // rank 0 writes; the others hand it their moments
        write_moments(t, NULL, 0);
        write_moments(t, NULL, 1);
        return 0;
    }
    AtomicDir ad;
    if (atomic_dir_open(&ad, dir, err)) return -1;
    char *cfg = path_join(ad.tmp, "config.json"), *state = path_join(ad.tmp, "state.bin");
    int rc = config_save(&t->model->config, cfg, NULL, err);
    if (rc == 0) {
        AtomicFile f;
        rc = atomic_open(&f, state, err);
        if (rc == 0) {
            CkptHeader h;
            header_from(&h, t, data_rng, tokenizer_hash);
            const size_t bytes = sizeof(float) * t->model->n_params;
            atomic_write(&f, &h, sizeof h);
            atomic_write(&f, t->model->params_memory, bytes);
            write_moments(t, &f, 0);
            write_moments(t, &f, 1);
            if (t->scales) {  // learned scales and their moments, after the weights' (rank 0 holds all)
                atomic_write(&f, t->scales, sizeof(float) * t->n_scales);
                atomic_write(&f, t->scale_m, sizeof(float) * t->n_scales);
                atomic_write(&f, t->scale_v, sizeof(float) * t->n_scales);
            }
            rc = atomic_commit(&f, err);
        }
    }
    free(cfg);
    free(state);
    // An older checkpoint of the same name is replaced only once this one is whole.
    if (rc == 0) return atomic_dir_commit(&ad, 1, err);
    atomic_dir_abort(&ad);
    return rc;
}

int trainer_load_checkpoint(Trainer *t, const char *dir, uint64_t *data_rng, uint64_t tokenizer_hash, char *err) {
    char *state = path_join(dir, "state.bin");
    FILE *f = fopen(state, "rb");
    int rc = 0;
    CkptHeader h;
    if (!f) {
        rc = set_err(err, "%s: cannot open: %s", state, strerror(errno));
        goto done;
    }
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
        rc = set_err(err, "%s: not a trit checkpoint", state);
        goto done;
    }
    if (h.version != CKPT_VERSION || h.header_bytes != sizeof h) {
        rc = set_err(err, "%s: checkpoint version %u, this trit reads version %u", state, h.version, CKPT_VERSION);
        goto done;
    }
    CkptHeader want;
    header_from(&want, t, 0, tokenizer_hash);
    if (h.model_hash != want.model_hash || h.n_params != want.n_params) {
        rc = set_err(err, "%s: the checkpoint is of another model (%llu parameters; this model has %llu)", state,
                     (unsigned long long)h.n_params, (unsigned long long)want.n_params);
        goto done;
    }
    if (h.tokenizer_hash != tokenizer_hash) {
        rc = set_err(err, "%s: the checkpoint was trained with another tokenizer", state);
        goto done;
    }
    if (h.quant != want.quant || h.group_size != want.group_size || h.scale != want.scale || h.steps != want.steps ||
        h.warmup != want.warmup || h.lr != want.lr || h.min_lr != want.min_lr || h.weight_decay != want.weight_decay ||
        h.beta1 != want.beta1 || h.beta2 != want.beta2 || h.eps != want.eps || h.clip != want.clip ||
        h.quant_ramp != want.quant_ramp || h.keep_embedding != want.keep_embedding ||
        h.keep_linear != want.keep_linear || h.distill != want.distill ||
        h.distill_alpha != want.distill_alpha || h.distill_temp != want.distill_temp ||
        h.distill_hidden != want.distill_hidden || h.distill_reverse != want.distill_reverse ||
        h.precision != want.precision ||
        h.scale_lr_mult != want.scale_lr_mult) {
        rc = set_err(err, "%s: the checkpoint was made with another recipe (quant %d, group %d, steps %lld, warmup "
                     "%lld, lr %g, min-lr %g, weight-decay %g, clip %g, quant-ramp %lld, keep-embedding %d, "
                     "keep-linear %#x, distill %d, alpha %g, temp %g, hidden %g, reverse %g, precision %s); resume with the "
                     "same flags", state, h.quant, h.group_size, (long long)h.steps, (long long)h.warmup, h.lr,
                     h.min_lr, h.weight_decay, h.clip, (long long)h.quant_ramp, h.keep_embedding, h.keep_linear,
                     h.distill, h.distill_alpha, h.distill_temp, h.distill_hidden, h.distill_reverse,
                     h.precision == PREC_BF16 ? "bf16" : "fp32");
        goto done;
    }
    if (h.ranks != want.ranks) {
        rc = set_err(err, "%s: the checkpoint was made by a run of %d rank%s, this run has %d; resume with "
                     "mpirun -np %d (the global batch and the optimizer slices depend on it)", state, h.ranks,
                     h.ranks == 1 ? "" : "s", want.ranks, h.ranks);
        goto done;
    }
    if (h.teacher_hash != want.teacher_hash) {
        rc = set_err(err, "%s: the checkpoint was distilled from another teacher; resume with the same --model "
                     "and --teacher", state);
        goto done;
    }
    // The weights, then this rank's slice of m and of v, then any learned
    // scales with their m and v (all of them).
    const size_t n = t->model->n_params, k = t->n_slice, ns = t->n_scales;
    const off_t at_m = (off_t)sizeof h + (off_t)(sizeof(float) * n), at_v = at_m + (off_t)(sizeof(float) * n);
    const off_t at_s = at_v + (off_t)(sizeof(float) * n);
    if (fseeko(f, 0, SEEK_END) || ftello(f) != at_s + 3 * (off_t)(sizeof(float) * ns) ||
        fseeko(f, (off_t)sizeof h, SEEK_SET) || fread(t->model->params_memory, sizeof(float), n, f) != n ||
        fseeko(f, at_m + (off_t)(sizeof(float) * t->lo), SEEK_SET) || fread(t->m, sizeof(float), k, f) != k ||
        fseeko(f, at_v + (off_t)(sizeof(float) * t->lo), SEEK_SET) || fread(t->v, sizeof(float), k, f) != k ||
        fseeko(f, at_s, SEEK_SET) || fread(t->scales, sizeof(float), ns, f) != ns ||
        fread(t->scale_m, sizeof(float), ns, f) != ns || fread(t->scale_v, sizeof(float), ns, f) != ns) {
        rc = set_err(err, "%s: truncated or oversized checkpoint", state);
        goto done;
    }
    t->step = (long)h.step;
    *data_rng = h.data_rng;
done:
    if (f) fclose(f);
    free(state);
    return rc;
}
