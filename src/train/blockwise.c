// blockwise.c — block-wise reconstruction; see blockwise.h.
#include "train/blockwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "model/forward.h"
#include "model/weights.h"
#include "quant/ternary.h"
#include "train/optim.h"

// One layer's tensors as one contiguous buffer (latent weights, gradients,
// AdamW moments share the layout).
typedef struct {
    const TensorInfo *t[TK_COUNT];
    size_t off[TK_COUNT];
    int n;
    size_t size;
} Slab;

static int is_layer_kind(TensorKind k) { return k != TK_EMBED && k != TK_FINAL_NORM && k != TK_LM_HEAD; }

static void slab_of(const Model *m, int l, Slab *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        if (t->layer != l || !is_layer_kind(t->kind)) continue;
        s->t[s->n] = t;
        s->off[s->n++] = s->size;
        s->size += (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
    }
}

// The slab's pointers as the block's parameter struct.
static void slab_params(const Slab *s, float *base, LayerParams *p) {
    memset(p, 0, sizeof *p);
    for (int i = 0; i < s->n; i++) {
        float *x = base + s->off[i];
        switch (s->t[i]->kind) {
        case TK_ATTN_NORM: p->attn_norm = x; break;
        case TK_WQ: p->wq = x; break;
        case TK_WK: p->wk = x; break;
        case TK_WV: p->wv = x; break;
        case TK_Q_NORM: p->q_norm = x; break;
        case TK_K_NORM: p->k_norm = x; break;
        case TK_WO: p->wo = x; break;
        case TK_MLP_NORM: p->mlp_norm = x; break;
        case TK_WGATE: p->wgate = x; break;
        case TK_WUP: p->wup = x; break;
        case TK_WDOWN: p->wdown = x; break;
        default: break;
        }
    }
}

// The student's layer from the latent slab: matrices t·s (each group's MSE
// scale), kept kinds rounded to bf16, norms as they are.
static void slab_project(const Slab *s, const float *latent, Model *m, int group, uint32_t keep_linear) {
    for (int i = 0; i < s->n; i++) {
        const TensorInfo *t = s->t[i];
        float *dst = m->params_memory + t->offset;
        const float *src = latent + s->off[i];
        if ((keep_linear >> t->kind) & 1u)
            bf16_round_f32(dst, src, (size_t)t->rows * (size_t)t->cols);
        else if (t->matrix) ternary_project(dst, src, t->rows, t->cols, group, SCALE_MSE);
        else memcpy(dst, src, sizeof(float) * (size_t)t->rows);
    }
}

static void slab_read(const Slab *s, const Model *m, float *latent) {
    for (int i = 0; i < s->n; i++) {
        const TensorInfo *t = s->t[i];
        memcpy(latent + s->off[i], m->params_memory + t->offset, sizeof(float) * (size_t)t->rows * (t->cols ? t->cols : 1));
    }
}

typedef struct {
    Workspace ws;
    ModelWeights sw, pw;     // views of the student and the parent
    const BlockwiseOptions *o;
    int C, T, N, NV, NT;     // width, sequence length, sequences, held out, trained on
    float *xf, *xq, *y;      // (N·T, C): parent stream, student stream, target of the block
    float *xb, *yb, *out;    // (batch·T, C): a batch's input, target, output
} Run;

static size_t seq_floats(const Run *r) { return (size_t)r->T * r->C; }

// Layer l of w over sequences [s0, s1) of in into out (may be in).
static void run_block(Run *r, const ModelWeights *w, int l, const float *in, float *out, int s0, int s1) {
    for (int s = s0; s < s1; s += r->o->batch) {
        const int bs = s + r->o->batch <= s1 ? r->o->batch : s1 - s;
        forward_block(&r->ws, w, l, in + (size_t)s * seq_floats(r), out + (size_t)s * seq_floats(r), bs, r->T);
    }
}

// The loss of rows rows of out against y: the mean over tokens of
// ||out_t - y_t||^2 / ||y_t||^2. Relative per token, because a few tokens
// carry "massive activations" (SmolLM2's reach ~1e3 from block 12 on) whose
// squared error would otherwise be the whole loss; what the next block and
// the head read is the RMS-normalised row. With grad, out becomes d loss / d out.
static double token_loss(float *out, const float *y, int rows, int C, int grad) {
    double sum = 0.0;
    for (int t = 0; t < rows; t++) {
        float *o = out + (size_t)t * C;
        const float *yt = y + (size_t)t * C;
        double e = 0.0, yy = 0.0;
        for (int c = 0; c < C; c++) {
            e += ((double)o[c] - yt[c]) * ((double)o[c] - yt[c]);
            yy += (double)yt[c] * yt[c];
        }
        const double w = 1.0 / (yy + 1e-6 * C);
        sum += e * w;
        if (grad)
            for (int c = 0; c < C; c++) o[c] = (float)(2.0 * w / rows) * (o[c] - yt[c]);
    }
    return sum / rows;
}

// The student's block l against the target over sequences [s0, s1).
static double block_loss(Run *r, int l, int s0, int s1) {
    double e = 0.0;
    for (int s = s0; s < s1; s += r->o->batch) {
        const int bs = s + r->o->batch <= s1 ? r->o->batch : s1 - s;
        forward_block(&r->ws, &r->sw, l, r->xq + (size_t)s * seq_floats(r), r->out, bs, r->T);
        e += token_loss(r->out, r->y + (size_t)s * seq_floats(r), bs * r->T, r->C, 0) * bs;
    }
    return e / (double)(s1 - s0);
}

// One step on the sequences idx[0..bs): returns the batch's loss.
static double train_step(Run *r, int l, const Slab *slab, const int *idx, int bs, float *grad, const LayerParams *gp) {
    const size_t sf = seq_floats(r);
    for (int i = 0; i < bs; i++) {
        memcpy(r->xb + i * sf, r->xq + (size_t)idx[i] * sf, sizeof(float) * sf);
        memcpy(r->yb + i * sf, r->y + (size_t)idx[i] * sf, sizeof(float) * sf);
    }
    forward_block(&r->ws, &r->sw, l, r->xb, r->out, bs, r->T);
    const double loss = token_loss(r->out, r->yb, bs * r->T, r->C, 1);
    memset(grad, 0, sizeof(float) * slab->size);
    backward_block(&r->ws, &r->sw, l, r->xb, r->out, gp);
    return loss;
}

static void train_block(Run *r, Model *student, int l, int epochs, BlockReport *rep) {
    const BlockwiseOptions *o = r->o;
    const double t0 = now_seconds();
    Slab slab;
    slab_of(student, l, &slab);
    float *latent = xmalloc(sizeof(float) * slab.size), *best = xmalloc(sizeof(float) * slab.size);
    float *grad = xcalloc(slab.size, sizeof(float)), *m = xcalloc(slab.size, sizeof(float));
    float *v = xcalloc(slab.size, sizeof(float));
    slab_read(&slab, student, latent);
    memcpy(best, latent, sizeof(float) * slab.size);
    LayerParams gp;
    slab_params(&slab, grad, &gp);
    const ParamRange range = {0, slab.size, 0};
    const AdamWConfig ac = {0.9f, 0.95f, 1e-8f, 0.0f};

    int *idx = xmalloc(sizeof(int) * (size_t)r->NT);
    for (int i = 0; i < r->NT; i++) idx[i] = i;
    const int steps_per_epoch = (r->NT + o->batch - 1) / o->batch;
    const long total = (long)epochs * steps_per_epoch;
    double best_val = block_loss(r, l, r->NT, r->N);
    rep->val_before = best_val;
    rep->best_epoch = 0;
    rep->epochs = epochs;
    long step = 0;
    for (int e = 0; e < epochs; e++) {
        uint64_t rng = o->seed ^ ((uint64_t)l << 32) ^ (uint64_t)e * 0x9e3779b97f4a7c15ull;
        for (int i = r->NT - 1; i > 0; i--) {  // Fisher-Yates
            const int j = (int)(splitmix64(&rng) % (uint64_t)(i + 1)), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        double sum = 0.0;
        for (int s = 0; s < r->NT; s += o->batch, step++) {
            const int bs = s + o->batch <= r->NT ? o->batch : r->NT - s;
            slab_project(&slab, latent, student, o->group, o->keep_linear);
            sum += train_step(r, l, &slab, idx + s, bs, grad, &gp) * bs;
            adamw_step(latent, grad, m, v, &range, 1, &ac, lr_cosine(step, total, 0, o->lr, o->min_lr), step + 1, 1.0f);
        }
        if (e == 0) rep->train_before = sum / r->NT;
        rep->train_after = sum / r->NT;
        slab_project(&slab, latent, student, o->group, o->keep_linear);
        const double val = block_loss(r, l, r->NT, r->N);
        if (val < best_val) {
            best_val = val;
            rep->best_epoch = e + 1;
            memcpy(best, latent, sizeof(float) * slab.size);
        }
    }
    slab_project(&slab, best, student, o->group, o->keep_linear);
    rep->val_after = best_val;
    rep->seconds = now_seconds() - t0;
    free(idx);
    free(v);
    free(m);
    free(grad);
    free(best);
    free(latent);
}

// Seconds a block costs: fixed (streams and the first validation) plus
// per_epoch for each epoch; measured on the blocks done, or from one probe
// step before the first.
typedef struct {
    double fixed, per_epoch;
} BlockCost;

static BlockCost probe_cost(Run *r, Model *student, int l) {
    Slab slab;
    slab_of(student, l, &slab);
    float *grad = xcalloc(slab.size, sizeof(float));
    LayerParams gp;
    slab_params(&slab, grad, &gp);
    int *idx = xmalloc(sizeof(int) * (size_t)r->o->batch);
    for (int i = 0; i < r->o->batch; i++) idx[i] = i % r->NT;
    const double t0 = now_seconds();
    train_step(r, l, &slab, idx, r->o->batch, grad, &gp);  // the gradient is dropped
    const double step = now_seconds() - t0, fwd_seq = step / 3.0 / r->o->batch;  // backward ~ 2 forwards
    free(idx);
    free(grad);
    const double steps = (r->NT + r->o->batch - 1) / r->o->batch;
    return (BlockCost){.fixed = fwd_seq * (3.0 * r->N + r->NV), .per_epoch = steps * step + fwd_seq * r->NV};
}

// The epochs block l gets: its share of the seconds left, at cost c.
static int plan_epochs(const BlockwiseOptions *o, double left, int blocks_left, BlockCost c) {
    const double share = left / blocks_left, e = (share - c.fixed) / c.per_epoch;
    return e < 1.0 ? 1 : e > o->epochs ? o->epochs : (int)e;
}

static int check_options(const Model *s, const Model *p, const BlockwiseOptions *o, char *err) {
    const ModelConfig *a = &s->config, *b = &p->config;
    if (a->arch != b->arch || a->hidden_size != b->hidden_size || a->num_hidden_layers != b->num_hidden_layers ||
        a->intermediate_size != b->intermediate_size || a->num_attention_heads != b->num_attention_heads ||
        a->num_key_value_heads != b->num_key_value_heads || a->head_dim != b->head_dim || a->vocab_size != b->vocab_size)
        return set_err(err, "block-wise: the student and the parent differ in shape");
    if (a->adapter_rank) return set_err(err, "block-wise: a student with adapters is not trained block by block");
    if (o->epochs < 1 || o->batch < 1 || o->seq_len < 2 || !(o->lr > 0.0f))
        return set_err(err, "block-wise: epochs, batch and learning rate must be positive and sequences >= 2 tokens");
    if (o->val_seqs < 1 || o->n_seqs < o->val_seqs + 1)
        return set_err(err, "block-wise: %d calibration sequences leave none to train on after %d held out", o->n_seqs,
                       o->val_seqs);
    if (o->first_block < 0 || o->first_block > a->num_hidden_layers)
        return set_err(err, "block-wise: first block %d is not in [0, %d]", o->first_block, a->num_hidden_layers);
    for (int i = 0; i < s->n_tensors; i++)
        if (s->tensors[i].matrix && ternary_check_shape(s->tensors[i].name, s->tensors[i].cols, o->group, err))
            return -1;
    return 0;
}

int blockwise_reconstruct(Model *student, const Model *parent, const BlockwiseOptions *o, BlockReport *reports,
                          char *err) {
    if (check_options(student, parent, o, err)) return -1;
    const ModelConfig *c = &student->config;
    Run r = {.o = o, .C = c->hidden_size, .T = o->seq_len, .N = o->n_seqs, .NV = o->val_seqs};
    r.NT = r.N - r.NV;
    workspace_init(&r.ws, c);
    weights_view(&r.sw, student, &student->params);
    weights_view(&r.pw, parent, &parent->params);
    const size_t all = (size_t)r.N * seq_floats(&r), batch = (size_t)o->batch * seq_floats(&r);
    r.xf = xmalloc(sizeof(float) * all);
    r.xq = xmalloc(sizeof(float) * all);
    r.y = xmalloc(sizeof(float) * all);
    r.xb = xmalloc(sizeof(float) * batch);
    r.yb = xmalloc(sizeof(float) * batch);
    r.out = xmalloc(sizeof(float) * batch);
    for (int s = 0; s < r.N; s += o->batch) {
        const int bs = s + o->batch <= r.N ? o->batch : r.N - s;
        const int32_t *tok = o->tokens + (size_t)s * r.T;
        forward_embed(&r.ws, &r.pw, tok, bs, r.T, r.xf + (size_t)s * seq_floats(&r));
        forward_embed(&r.ws, &r.sw, tok, bs, r.T, r.xq + (size_t)s * seq_floats(&r));
    }
    int rc = 0;
    const int L = c->num_hidden_layers;
    double left = o->seconds;
    BlockCost cost = {0};
    for (int l = 0; l < L && rc == 0; l++) {
        if (l < o->first_block) {  // resume: the streams through the blocks already done
            run_block(&r, &r.pw, l, r.xf, r.xf, 0, r.N);
            run_block(&r, &r.sw, l, r.xq, r.xq, 0, r.N);
            continue;
        }
        const double t0 = now_seconds();
        run_block(&r, &r.pw, l, r.xf, r.y, 0, r.N);
        if (o->seconds > 0 && l == o->first_block) cost = probe_cost(&r, student, l);
        const int epochs = o->seconds > 0 ? plan_epochs(o, left, L - l, cost) : o->epochs;
        BlockReport rep;
        train_block(&r, student, l, epochs, &rep);
        if (reports) reports[l] = rep;
        run_block(&r, &r.sw, l, r.xq, r.xq, 0, r.N);
        const double spent = now_seconds() - t0;
        left -= spent;
        // The next block's cost: this one's, split as the probe split it.
        const double f = cost.fixed / (cost.fixed + epochs * cost.per_epoch + 1e-12);
        if (o->seconds > 0) cost = (BlockCost){.fixed = f * spent, .per_epoch = (1.0 - f) * spent / epochs};
        if (o->verbose) {
            const double eta = o->seconds > 0 ? (left > 0 ? left : 0) : spent * (L - l - 1);
            fprintf(stderr, "block %2d/%d: held-out error %.4g -> %.4g (%.1f%%), training %.4g -> %.4g, epoch %d of %d "
                    "kept, %.1f s, ETA %d:%02d\n", l + 1, L, rep.val_before, rep.val_after,
                    100.0 * (rep.val_after / rep.val_before - 1.0), rep.train_before, rep.train_after, rep.best_epoch,
                    epochs, spent, (int)eta / 60, (int)eta % 60);
        }
        float *t = r.xf;  // the parent's stream moves on to the block's output
        r.xf = r.y;
        r.y = t;
        if (o->on_block) rc = o->on_block(l, student, &rep, o->user, err);
    }
    free(r.out);
    free(r.yb);
    free(r.xb);
    free(r.y);
    free(r.xq);
    free(r.xf);
    weights_free(&r.pw);
    weights_free(&r.sw);
    workspace_free(&r.ws);
    return rc;
}
