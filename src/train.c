// train.c — see train.h.
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void train_config_default(TrainConfig *c) {
    c->quant = 1;
    c->group_size = 128;
    c->scale = SCALE_ABSMEAN;
    c->steps = 250;
    c->warmup = 25;
    c->lr = 1e-4f;
    c->min_lr = 5e-6f;
    c->weight_decay = 0.01f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->clip = 1.0f;
}

int trainer_init(Trainer *t, Qwen3 *m, const TrainConfig *c, char *err) {
    memset(t, 0, sizeof *t);
    if (c->steps < 1) return set_err(err, "--steps must be at least 1");
    if (c->warmup < 0) return set_err(err, "--warmup must not be negative");
    if (!(c->lr > 0) || !(c->min_lr >= 0) || c->min_lr > c->lr)
        return set_err(err, "need 0 <= --min-lr <= --lr and --lr > 0 (got %g, %g)", c->min_lr, c->lr);
    if (!(c->weight_decay >= 0)) return set_err(err, "--weight-decay must not be negative");
    if (c->quant) {
        for (int i = 0; i < m->n_tensors; i++)
            if (m->tensors[i].matrix && ternary_check_shape(m->tensors[i].name, m->tensors[i].cols, c->group_size, err))
                return -1;
    }
    t->cfg = *c;
    t->model = m;
    const size_t n = m->n_params;
    t->grads = xmalloc_aligned(sizeof(float) * n);
    t->m = xmalloc_aligned(sizeof(float) * n);
    t->v = xmalloc_aligned(sizeof(float) * n);
    memset(t->m, 0, sizeof(float) * n);
    memset(t->v, 0, sizeof(float) * n);
    t->fwd = c->quant ? xmalloc_aligned(sizeof(float) * n) : m->params_memory;
    model_point_params(m, t->grads, &t->g);
    model_point_params(m, t->fwd, &t->w);
    t->n_ranges = m->n_tensors;
    t->ranges = xcalloc((size_t)m->n_tensors, sizeof(ParamRange));
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        t->ranges[i].offset = ti->offset;
        t->ranges[i].n = (size_t)ti->rows * (size_t)(ti->cols ? ti->cols : 1);
        t->ranges[i].decay = ti->matrix;
    }
    return 0;
}

void trainer_free(Trainer *t) {
    free(t->grads);
    free(t->m);
    free(t->v);
    if (t->fwd != t->model->params_memory) free(t->fwd);
    free(t->ranges);
    memset(t, 0, sizeof *t);
}

void trainer_project(Trainer *t) {
    if (!t->cfg.quant) return;
    const Qwen3 *m = t->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const float *src = m->params_memory + ti->offset;
        float *dst = t->fwd + ti->offset;
        if (ti->matrix) ternary_project(dst, src, ti->rows, ti->cols, t->cfg.group_size, t->cfg.scale);
        else memcpy(dst, src, sizeof(float) * (size_t)ti->rows);
    }
}

int trainer_step(Trainer *t, const int32_t *x, const int32_t *y, int B, int T, StepStats *st, char *err) {
    Qwen3 *m = t->model;
    const long step = t->step;
    trainer_project(t);
    memset(t->grads, 0, sizeof(float) * m->n_params);
    model_forward_hidden(m, &t->w, x, B, T);
    st->loss = model_backward(m, &t->w, &t->g, x, y, 1.0f, &st->tokens);
    st->grad_norm = grad_global_norm(t->grads, m->n_params);
    st->lr = lr_cosine(step, t->cfg.steps, t->cfg.warmup, t->cfg.lr, t->cfg.min_lr);
    if (!isfinite(st->loss) || !isfinite(st->grad_norm))
        return set_err(err, "step %ld: the %s is not finite (loss %g, grad norm %g); weights left as they were",
                       step + 1, isfinite(st->loss) ? "gradient norm" : "loss", st->loss, st->grad_norm);
    if (t->cfg.clip > 0) grad_clip(t->grads, m->n_params, st->grad_norm, t->cfg.clip);
    AdamWConfig ac = {t->cfg.beta1, t->cfg.beta2, t->cfg.eps, t->cfg.weight_decay};
    adamw_step(m->params_memory, t->grads, t->m, t->v, t->ranges, t->n_ranges, &ac, st->lr, step + 1);
    t->step++;
    return 0;
}
