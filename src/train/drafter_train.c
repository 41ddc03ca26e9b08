// drafter_train.c — training a DFlash drafter; see drafter_train.h.
#include "train/drafter_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/util.h"
#include "kernels/linear.h"
#include "model/block.h"
#include "model/forward.h"
#include "train/optim.h"

#define CKPT_MAGIC 0x54445254u  // "TRDT"

typedef struct {
    const DrafterJob *j;
    Drafter d, g, m, v;        // weights, gradients, AdamW's moments
    DrafterBufs b;
    Workspace ws;              // the target's passes
    float *head;               // the target's LM head as fp32 (NULL: its own F32 data)
    WTensor E;
    float *mask_row;           // the masked slots' input row (C)
    int B, T, C, R, max_tap;
    long n_seqs;
    float **cache;             // per sequence: its context rows (T, n_taps * C), or NULL
    long cache_left;           // sequences the memory budget still takes
    float *feats, *x, *x_in, *dout, *dx, *w;
    int32_t *labels, *cand;
    int anchor[256];
    float *kv[2 * DRAFTER_MAX_LAYERS];
    float *cos, *sin;
    char *work, *ckpt, *log;
} DT;

void drafter_response_mask(const Tokenizer *tok, const int32_t *ids, long n, uint8_t *mask) {
    const int start = tokenizer_token_id(tok, "<|im_start|>"), end = tokenizer_token_id(tok, "<|im_end|>");
    int chat = 0;
    for (long i = 0; i < n && start >= 0; i++) chat |= ids[i] == start;
    if (!chat) {
        memset(mask, 1, (size_t)n);
        return;
    }
    memset(mask, 0, (size_t)n);
    for (long i = 0; i < n; i++) {
        if (ids[i] != start) continue;
        // The role: the text up to the turn's first newline.
        long nl = i + 1;
        Buf role = {0};
        for (; nl < n && nl < i + 8; nl++) {
            char *t;
            size_t len;
            char err[ERR_LEN];
            if (tokenizer_decode(tok, ids + nl, 1, &t, &len, err)) break;
            buf_printf(&role, "%.*s", (int)len, t);
            const int has_nl = memchr(t, '\n', len) != NULL;
            free(t);
            if (has_nl) break;
        }
        const int assistant = role.s && !strncmp(role.s, "assistant\n", 10);
        free(role.s);
        if (!assistant) continue;
        for (long k = nl + 1; k < n && ids[k] != start; k++) {
            mask[k] = 1;
            if (ids[k] == end) break;
        }
    }
}

// The target's tapped layers over sequence s: rows (T, n_taps * C).
static const float *seq_feats(DT *t, long s) {
    if (t->cache[s]) return t->cache[s];
    const DrafterJob *j = t->j;
    const int T = t->T, C = t->C, nt = t->d.dc.n_taps;
    const int32_t *tok = j->ids + s * T;
    forward_embed(&t->ws, j->target, tok, 1, T, t->x);
    for (int l = 0; l <= t->max_tap; l++) {
        forward_block(&t->ws, j->target, l, t->x, t->x, 1, T);
        for (int k = 0; k < nt; k++)
            if (t->d.dc.taps[k] == l)
                for (int r = 0; r < T; r++)
                    memcpy(t->feats + ((size_t)r * nt + k) * C, t->x + (size_t)r * C, sizeof(float) * C);
    }
    if (t->cache_left > 0) {
        t->cache_left--;
        t->cache[s] = xmalloc(sizeof(float) * (size_t)T * nt * C);
        memcpy(t->cache[s], t->feats, sizeof(float) * (size_t)T * nt * C);
        return t->cache[s];
    }
    return t->feats;
}

// Draws up to j->anchors distinct anchors of sequence s (response tokens,
// a <= T - B), sorted; returns how many.
static int draw_anchors(DT *t, long s, uint64_t *rng) {
    const DrafterJob *j = t->j;
    const int T = t->T, B = t->B;
    const int32_t base = (int32_t)(s * T);
    int n = 0;
    for (int a = 0; a <= T - B; a++)
        if (!j->response || j->response[base + a]) t->cand[n++] = a;
    const int k = n < j->anchors ? n : j->anchors;
    for (int i = 0; i < k; i++) {  // a partial Fisher-Yates shuffle
        const int r = i + (int)(splitmix64(rng) % (uint64_t)(n - i));
        const int32_t tmp = t->cand[i];
        t->cand[i] = t->cand[r];
        t->cand[r] = tmp;
    }
    for (int i = 0; i < k; i++) t->anchor[i] = t->cand[i];
    for (int i = 1; i < k; i++)  // insertion sort: k is small
        for (int q = i; q > 0 && t->anchor[q - 1] > t->anchor[q]; q--) {
            const int tmp = t->anchor[q];
            t->anchor[q] = t->anchor[q - 1];
            t->anchor[q - 1] = tmp;
        }
    return k;
}

// Forward and backward of one sequence with N blocks at t->anchor; adds the
// gradients (scaled by `share`) into t->g; returns the loss.
static double seq_step(DT *t, long s, int N, float share) {
    const DrafterJob *j = t->j;
    const Drafter *d = &t->d;
    const int T = t->T, B = t->B, C = t->C, L = d->dc.layer.num_hidden_layers, R = N * B;
    const int32_t *tok = j->ids + s * T;
    const uint8_t *resp = j->response ? j->response + s * T : NULL;
    const float gamma = j->gamma > 0 ? j->gamma : (float)B / 2.0f;
    if (d->mask_embedding) memcpy(t->mask_row, d->mask_embedding, sizeof(float) * C);  // as it is this step
    for (int q = 0; q < N; q++) {
        const int a = t->anchor[q];
        embedding_lookup(t->x_in + (size_t)q * B * C, tok + a, 1, &j->target->embed);
        for (int k = 0; k < B; k++) {
            const int r = q * B + k;
            if (k) memcpy(t->x_in + (size_t)r * C, t->mask_row, sizeof(float) * C);
            t->labels[r] = a + k < T ? tok[a + k] : 0;
            t->w[r] = k >= 1 && a + k < T && (!resp || resp[a + k]) ? expf(-(float)(k - 1) / gamma) : 0.0f;
        }
    }
    const float *feats = seq_feats(t, s);
    drafter_context(d, &t->b, feats, T, 0, t->kv, t->kv + L, t->cos, t->sin, 1);
    drafter_blocks(d, &t->b, t->x_in, N, t->anchor, (const float *const *)t->kv, (const float *const *)(t->kv + L),
                   t->cos, t->sin, 1);
    const double loss = drafter_loss(t->b.out, &t->E, t->labels, t->w, N, B, j->loss, t->dout);
    if (share != 1.0f)
        for (size_t i = 0; i < (size_t)R * C; i++) t->dout[i] *= share;
    drafter_backward(d, &t->g, &t->b, feats, T, t->dout, t->dx, N, t->anchor, (const float *const *)t->kv,
                     (const float *const *)(t->kv + L), t->cos, t->sin);
    if (t->g.mask_embedding)  // the masked slots share the mask embedding
        for (int r = 0; r < R; r++)
            if (r % B)
                for (int i = 0; i < C; i++) t->g.mask_embedding[i] += t->dx[(size_t)r * C + i];
    return loss;
}

// ---------------------------------------------------------------------------
// Checkpoints: OUT.work/ckpt/ (the drafter as it saves, and state.bin: magic,
// step, steps, rng, then m and v).

static int save_ckpt(DT *t, long step, long steps, uint64_t rng, char *err) {
    if (drafter_save(&t->d, t->ckpt, err)) return -1;
    char *state = path_join(t->work, "state.bin");
    AtomicFile f;
    int rc = atomic_open(&f, state, err);
    if (!rc) {
        const uint32_t magic = CKPT_MAGIC;
        const uint64_t np = t->d.n_params;
        atomic_write(&f, &magic, sizeof magic);
        atomic_write(&f, &step, sizeof step);
        atomic_write(&f, &steps, sizeof steps);
        atomic_write(&f, &rng, sizeof rng);
        atomic_write(&f, &np, sizeof np);
        atomic_write(&f, t->m.params, sizeof(float) * np);
        atomic_write(&f, t->v.params, sizeof(float) * np);
        rc = atomic_commit(&f, err);
    }
    free(state);
    return rc;
}

// 1 resumed, 0 nothing to resume, -1 error.
static int load_ckpt(DT *t, long *step, long *steps, uint64_t *rng, char *err) {
    char *state = path_join(t->work, "state.bin");
    if (!file_exists(state) || !is_directory(t->ckpt)) {
        free(state);
        return 0;
    }
    size_t len;
    char *buf = read_file(state, &len, err);
    free(state);
    if (!buf) return -1;
    Drafter saved;
    int rc = drafter_load(&saved, t->ckpt, err);
    const size_t head = 4 + 8 * 4, np = t->d.n_params;
    uint32_t magic = 0;
    uint64_t nps = 0;
    if (!rc && len >= head) {
        memcpy(&magic, buf, 4);
        memcpy(step, buf + 4, 8);
        memcpy(steps, buf + 12, 8);
        memcpy(rng, buf + 20, 8);
        memcpy(&nps, buf + 28, 8);
    }
    if (!rc && (magic != CKPT_MAGIC || nps != np || len != head + 8 * np || saved.n_params != np ||
                memcmp(&saved.dc, &t->d.dc, sizeof saved.dc)))
        rc = set_err(err, "%s: a checkpoint of another job (its drafter's shape or taps differ); remove it or "
                     "choose another --out", t->work);
    if (!rc) {
        memcpy(t->d.params, saved.params, sizeof(float) * np);
        memcpy(t->m.params, buf + head, sizeof(float) * np);
        memcpy(t->v.params, buf + head + 4 * np, sizeof(float) * np);
    }
    if (saved.params) drafter_free(&saved);
    free(buf);
    return rc ? -1 : 1;
}

// ---------------------------------------------------------------------------

static void dt_free(DT *t) {
    drafter_free(&t->d);
    drafter_free(&t->g);
    drafter_free(&t->m);
    drafter_free(&t->v);
    drafter_bufs_free(&t->b);
    workspace_free(&t->ws);
    for (long s = 0; t->cache && s < t->n_seqs; s++) free(t->cache[s]);
    free(t->cache);
    for (int i = 0; i < 2 * DRAFTER_MAX_LAYERS; i++) free(t->kv[i]);
    free(t->head); free(t->mask_row); free(t->feats); free(t->x); free(t->x_in); free(t->dout); free(t->dx);
    free(t->w); free(t->labels); free(t->cand); free(t->cos); free(t->sin);
    free(t->work); free(t->ckpt); free(t->log);
}

static int dt_init(DT *t, const DrafterJob *j, char *err) {
    memset(t, 0, sizeof *t);
    t->j = j;
    const ModelConfig *tc = &j->target->config;
    if (j->seq_len < 2 * j->block || j->anchors < 1 || j->anchors > 256 || j->batch < 1)
        return set_err(err, "train-drafter: --seq-len %d must be at least twice --block %d; --anchors in [1, 256]",
                       j->seq_len, j->block);
    t->B = j->block;
    t->T = j->seq_len;
    t->C = tc->hidden_size;
    t->n_seqs = j->n_ids / j->seq_len;
    if (t->n_seqs < 1)
        return set_err(err, "train-drafter: the data has %ld tokens, fewer than one sequence of %d", j->n_ids, j->seq_len);
    long usable = 0;
    for (long i = 0; i < t->n_seqs * t->T; i++) usable += !j->response || j->response[i];
    if (usable < 2L * t->B)
        return set_err(err, "train-drafter: the data has %ld response tokens in whole sequences, too few to train on "
                       "(a chat text needs assistant turns; plain text counts whole)", usable);
    int taps[DRAFTER_MAX_TAPS], nt = j->n_taps;
    if (nt > 0) memcpy(taps, j->taps, sizeof(int) * (size_t)nt);
    else drafter_default_taps(tc->num_hidden_layers, nt = tc->num_hidden_layers < 5 ? tc->num_hidden_layers : 5, taps);
    if (drafter_init(&t->d, tc, j->layers, j->block, taps, nt, j->mask_token_id, j->seed, err)) return -1;
    drafter_zeros_like(&t->g, &t->d);
    drafter_zeros_like(&t->m, &t->d);
    drafter_zeros_like(&t->v, &t->d);
    for (int i = 0; i < nt; i++) t->max_tap = taps[i] > t->max_tap ? taps[i] : t->max_tap;
    const int V = tc->vocab_size, C = t->C, T = t->T, B = t->B, R = j->anchors * B;
    t->R = R;
    if (j->target->lm_head.type == GGML_TYPE_F32) {
        t->E = j->target->lm_head;
    } else {  // a packed head: its rows as fp32, once
        t->head = xmalloc(sizeof(float) * (size_t)V * C);
        int32_t *all = xmalloc(sizeof(int32_t) * (size_t)V);
        for (int i = 0; i < V; i++) all[i] = i;
        embedding_lookup(t->head, all, V, &j->target->lm_head);
        free(all);
        t->E = wt_f32(t->head, V, C);
    }
    t->mask_row = xmalloc(sizeof(float) * (size_t)C);
    if (j->mask_token_id >= 0) {
        const int32_t m = j->mask_token_id;
        embedding_lookup(t->mask_row, &m, 1, &j->target->embed);
    }
    workspace_init(&t->ws, tc);
    const size_t KD = (size_t)tc->num_key_value_heads * tc->head_dim;
    for (int i = 0; i < 2 * j->layers; i++) t->kv[i] = xmalloc(sizeof(float) * (size_t)T * KD);
    const size_t half = (size_t)tc->head_dim / 2;
    t->cos = xmalloc(sizeof(float) * (size_t)(T + B) * half);
    t->sin = xmalloc(sizeof(float) * (size_t)(T + B) * half);
    rope_config_tables(&t->d.dc.layer, t->cos, t->sin, T + B);
    t->feats = xmalloc(sizeof(float) * (size_t)T * nt * C);
    t->x = xmalloc(sizeof(float) * (size_t)T * C);
    t->x_in = xmalloc(sizeof(float) * (size_t)R * C);
    t->dout = xmalloc(sizeof(float) * (size_t)R * C);
    t->dx = xmalloc(sizeof(float) * (size_t)R * C);
    t->w = xmalloc(sizeof(float) * (size_t)R);
    t->labels = xmalloc(sizeof(int32_t) * (size_t)R);
    t->cand = xmalloc(sizeof(int32_t) * (size_t)T);
    t->cache = xcalloc((size_t)t->n_seqs, sizeof(float *));
    const double seq_bytes = 4.0 * T * nt * C;
    t->cache_left = (long)(j->cache_gb * 1e9 / seq_bytes);
    drafter_bufs_reserve(&t->d, &t->b, T, R, 1);
    t->work = xmalloc(strlen(j->out) + 8);
    sprintf(t->work, "%s.work", j->out);
    if (make_dir(t->work, err)) return -1;
    t->ckpt = path_join(t->work, "ckpt");
    t->log = path_join(t->work, "train.jsonl");
    return 0;
}

// The sequence of the step's i-th draw: a fresh permutation of the
// sequences each epoch, drawn from (seed, epoch) alone.
static long seq_of(const DT *t, long draw) {
    const long n = t->n_seqs, epoch = draw / n, k = draw % n;
    uint64_t s = t->j->seed ^ (0x5851f42d4c957f2dull * (uint64_t)(epoch + 1));
    // The k-th element of a random permutation: an affine map n -> n with a
    // multiplier coprime to n.
    uint64_t mult = (splitmix64(&s) % (uint64_t)n) | 1, off = splitmix64(&s) % (uint64_t)n;
    while (n > 1) {
        uint64_t a = mult, b = (uint64_t)n;
        while (b) { const uint64_t r = a % b; a = b; b = r; }
        if (a == 1) break;
        mult = (mult + 2) % (uint64_t)n | 1;
    }
    return (long)((mult * (uint64_t)k + off) % (uint64_t)n);
}

static double step_loss(DT *t, long step, uint64_t *rng) {
    const DrafterJob *j = t->j;
    double loss = 0.0;
    int used = 0;
    for (int k = 0; k < j->batch; k++) {
        const long s = seq_of(t, step * j->batch + k);
        const int N = draw_anchors(t, s, rng);
        if (N == 0) continue;
        loss += seq_step(t, s, N, 1.0f / (float)j->batch);
        used++;
    }
    return used ? loss / used : 0.0;
}

int drafter_train(const DrafterJob *j, char *err) {
    DT t;
    if (dt_init(&t, j, err)) {
        dt_free(&t);
        return -1;
    }
    long step = 0, steps = j->steps;
    uint64_t rng = j->seed ^ 0x2545f4914f6cdd1dull;
    const int resumed = load_ckpt(&t, &step, &steps, &rng, err);
    if (resumed < 0) {
        dt_free(&t);
        return -1;
    }
    const double t_start = now_seconds();
    if (!resumed && j->minutes > 0) {
        // What a step costs here: the first step's sequences run the target
        // (their context rows then stay in memory), the same step again
        // trains alone; gradients thrown away. The first pass over the data
        // runs the target for every sequence; later passes only for those
        // the memory budget did not keep (a share `miss` of the draws), so
        // past the first pass a run of S steps costs S·(train + batch·miss·
        // feat) + kept·feat.
        uint64_t probe = rng;
        const double t0 = now_seconds();
        step_loss(&t, 0, &probe);
        const double t1 = now_seconds();
        probe = rng;
        step_loss(&t, 0, &probe);
        const double train = now_seconds() - t1, feat = fmax(0.0, (t1 - t0) - train) / j->batch;
        const double left = 60.0 * j->minutes - (now_seconds() - t_start);
        const long kept = t.n_seqs < t.cache_left + j->batch ? t.n_seqs : t.cache_left + j->batch;
        const double miss = (double)(t.n_seqs - kept) / (double)t.n_seqs;
        steps = left > 0 ? (long)((left - feat * (double)kept) / (train + feat * j->batch * miss)) : 0;
        if (steps * j->batch < t.n_seqs) steps = left > 0 ? (long)(left / (train + feat * j->batch)) : 0;
        memset(t.g.params, 0, sizeof(float) * t.g.n_params);
        const double sec = train;
        fprintf(stderr, "train-drafter: %.2f s a step here, %.2f s a sequence's target pass, %ld of %ld sequences' "
                "taps kept in memory; %.1f minutes buy %ld steps\n", train, feat, kept, t.n_seqs, j->minutes, steps);
        if (steps < 1) {
            dt_free(&t);
            return set_err(err, "train-drafter: --minutes %g buys no step of %.1f s", j->minutes, sec);
        }
    }
    if (resumed) fprintf(stderr, "train-drafter: resuming at step %ld of %ld from %s\n", step, steps, t.work);
    ParamRange all = {.offset = 0, .n = t.d.n_params, .decay = 0};
    const AdamWConfig ac = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    const long warmup = (long)ceil(0.04 * (double)steps);
    Progress pr;
    if (!j->quiet) progress_init(&pr, "train-drafter", "steps", (double)steps);
    FILE *log = fopen(t.log, resumed ? "a" : "w");
    int rc = 0;
    while (step < steps) {
        memset(t.g.params, 0, sizeof(float) * t.g.n_params);
        const double loss = step_loss(&t, step, &rng);
        const double norm = grad_global_norm(t.g.params, t.g.n_params);
        const float lr = lr_cosine(step, steps, warmup > 0 ? warmup : 1, j->lr, 0.0f);
        adamw_step(t.d.params, t.g.params, t.m.params, t.v.params, &all, 1, &ac, lr, step + 1,
                   grad_clip_factor(norm, j->clip));
        step++;
        if (!j->quiet) progress_update(&pr, (double)step);
        double tau = -1.0;
        if (j->validate && ((j->val_every > 0 && step % j->val_every == 0) || step == steps))
            tau = j->validate(&t.d, j->val_user);
        if (log) {
            fprintf(log, "{\"step\": %ld, \"loss\": %.6f, \"grad_norm\": %.4f, \"lr\": %.6g, \"elapsed_s\": %.2f", step,
                    loss, norm, lr, now_seconds() - t_start);
            if (tau >= 0) fprintf(log, ", \"val_tau\": %.4f", tau);
            fprintf(log, "}\n");
            fflush(log);
        }
        if (tau >= 0 && !j->quiet) fprintf(stderr, "\ntrain-drafter: step %ld: loss %.4f, held-out tau %.3f\n", step, loss, tau);
        if ((j->checkpoint_every > 0 && step % j->checkpoint_every == 0 && step < steps) &&
            save_ckpt(&t, step, steps, rng, err)) {
            rc = -1;
            break;
        }
    }
    if (!j->quiet) progress_finish(&pr, (double)step);
    if (log) fclose(log);
    // The end as a checkpoint too: rerunning a finished job writes the same drafter.
    if (!rc) rc = save_ckpt(&t, step, steps, rng, err);
    if (!rc) rc = drafter_save(&t.d, j->out, err);
    dt_free(&t);
    return rc;
}
