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

int trainer_init(Trainer *t, Model *m, const TrainConfig *c, char *err) {
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
    const Model *m = t->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const float *src = m->params_memory + ti->offset;
        float *dst = t->fwd + ti->offset;
        if (ti->matrix) ternary_project(dst, src, ti->rows, ti->cols, t->cfg.group_size, t->cfg.scale);
        else memcpy(dst, src, sizeof(float) * (size_t)ti->rows);
    }
}

int trainer_step(Trainer *t, const int32_t *x, const int32_t *y, int B, int T, StepStats *st, char *err) {
    Model *m = t->model;
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

// ---------------------------------------------------------------------------
// Checkpoints

#define CKPT_MAGIC "TRITCKPT"
#define CKPT_VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t step, data_rng, tokenizer_hash, model_hash, n_params;
    int32_t quant, group_size, scale, pad;
    int64_t steps, warmup;
    float lr, min_lr, weight_decay, beta1, beta2, eps, clip, pad2;
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
    h->steps = c->steps;
    h->warmup = c->warmup;
    h->lr = c->lr;
    h->min_lr = c->min_lr;
    h->weight_decay = c->weight_decay;
    h->beta1 = c->beta1;
    h->beta2 = c->beta2;
    h->eps = c->eps;
    h->clip = c->clip;
}

static int remove_tree(const char *dir) {
    // Only our own two files live in a checkpoint directory.
    const char *files[] = {"state.bin", "config.json"};
    for (size_t i = 0; i < 2; i++) {
        char *p = path_join(dir, files[i]);
        remove(p);
        free(p);
    }
    return rmdir(dir);
}

int trainer_save_checkpoint(const Trainer *t, const char *dir, uint64_t data_rng, uint64_t tokenizer_hash,
                            char *err) {
    size_t n = strlen(dir) + 40;
    char *partial = xmalloc(n), *old = xmalloc(n);
    snprintf(partial, n, "%s.partial-%ld", dir, (long)getpid());
    snprintf(old, n, "%s.old-%ld", dir, (long)getpid());
    remove_tree(partial);
    int rc = make_dir(partial, err);
    char *cfg = path_join(partial, "config.json"), *state = path_join(partial, "state.bin");
    if (rc == 0) rc = config_save(&t->model->config, cfg, NULL, err);
    if (rc == 0) {
        AtomicFile f;
        rc = atomic_open(&f, state, err);
        if (rc == 0) {
            CkptHeader h;
            header_from(&h, t, data_rng, tokenizer_hash);
            const size_t bytes = sizeof(float) * t->model->n_params;
            atomic_write(&f, &h, sizeof h);
            atomic_write(&f, t->model->params_memory, bytes);
            atomic_write(&f, t->m, bytes);
            atomic_write(&f, t->v, bytes);
            rc = atomic_commit(&f, err);
        }
    }
    // Swap the finished directory into place; an older one of the same name
    // is moved aside first and removed only after the rename.
    if (rc == 0 && is_directory(dir) && rename(dir, old) != 0)
        rc = set_err(err, "%s: cannot replace the existing checkpoint: %s", dir, strerror(errno));
    if (rc == 0 && rename(partial, dir) != 0) rc = set_err(err, "%s: rename failed: %s", dir, strerror(errno));
    if (rc == 0) {
        fsync_parent_dir(dir);
        if (is_directory(old)) remove_tree(old);
    } else {
        remove_tree(partial);
    }
    free(cfg);
    free(state);
    free(partial);
    free(old);
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
        h.beta1 != want.beta1 || h.beta2 != want.beta2 || h.eps != want.eps || h.clip != want.clip) {
        rc = set_err(err, "%s: the checkpoint was made with another recipe (quant %d, group %d, steps %lld, warmup "
                     "%lld, lr %g, min-lr %g, weight-decay %g, clip %g); resume with the same flags", state, h.quant,
                     h.group_size, (long long)h.steps, (long long)h.warmup, h.lr, h.min_lr, h.weight_decay, h.clip);
        goto done;
    }
    const size_t n = t->model->n_params;
    if (fread(t->model->params_memory, sizeof(float), n, f) != n || fread(t->m, sizeof(float), n, f) != n ||
        fread(t->v, sizeof(float), n, f) != n || fgetc(f) != EOF) {
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
