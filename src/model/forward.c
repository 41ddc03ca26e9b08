// forward.c — see forward.h.
#include "model/forward.h"

#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"

void workspace_init(Workspace *ws, const ModelConfig *c) {
    memset(ws, 0, sizeof *ws);
    ws->config = *c;
}

void workspace_free(Workspace *ws) {
    free(ws->acts.memory);
    free(ws->scratch.memory);
    memset(ws, 0, sizeof *ws);
}

// ---------------------------------------------------------------------------
// Activations

static void acts_alloc(Workspace *ws, int B, int T, int train) {
    Activations *a = &ws->acts;
    int S = train ? ws->config.num_hidden_layers : 1;
    if (a->memory && a->B == B && a->T == T && a->n_saved_layers == S) return;
    free(a->memory);
    const ModelConfig *c = &ws->config;
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
static void layer_bufs(const Workspace *ws, size_t s, BlockBufs *b) {
    const ModelConfig *c = &ws->config;
    const Activations *a = &ws->acts;
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
static float *resid_at(const Workspace *ws, int l, int train) {
    const size_t BT = (size_t)ws->acts.B * ws->acts.T;
    return ws->acts.resid + (size_t)(train ? l : l & 1) * BT * (size_t)ws->config.hidden_size;
}

// Runs the embedding, every layer and the final norm; `train` keeps every
// layer's activations. The result is in ws->acts.lnf.
static void forward_layers(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T, int train,
                           float *layers) {
    acts_alloc(ws, B, T, train);
    const ModelConfig *c = &ws->config;
    Activations *a = &ws->acts;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    const BlockCtx ctx = {.B = B, .T = T, .pos = 0, .cos = a->rope_cos, .sin = a->rope_sin};
    embedding_lookup(a->resid, tokens, B * T, &w->embed);
    for (int l = 0; l < L; l++) {
        BlockBufs b;
        layer_bufs(ws, train ? (size_t)l : 0, &b);
        block_forward(c, &w->layers[l], resid_at(ws, l + 1, train), resid_at(ws, l, train), &b, &ctx);
        if (layers)
            memcpy(layers + (size_t)l * B * T * C, resid_at(ws, l + 1, train), sizeof(float) * (size_t)B * T * C);
    }
    rmsnorm_forward(a->lnf, a->rstdf, resid_at(ws, L, train), w->final_norm, B * T, C, c->rms_norm_eps);
}

void forward_embed(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T, float *x) {
    (void)ws;
    embedding_lookup(x, tokens, B * T, &w->embed);
}

void forward_block(Workspace *ws, const ModelWeights *w, int l, const float *x_in, float *x_out, int B, int T) {
    acts_alloc(ws, B, T, 0);
    const BlockCtx ctx = {.B = B, .T = T, .pos = 0, .cos = ws->acts.rope_cos, .sin = ws->acts.rope_sin};
    BlockBufs b;
    layer_bufs(ws, 0, &b);
    block_forward(&ws->config, &w->layers[l], x_out, x_in, &b, &ctx);
}

const float *forward_norm(Workspace *ws, const ModelWeights *w, const float *x, int B, int T) {
    acts_alloc(ws, B, T, 0);
    const ModelConfig *c = &ws->config;
    rmsnorm_forward(ws->acts.lnf, ws->acts.rstdf, x, w->final_norm, B * T, c->hidden_size, c->rms_norm_eps);
    return ws->acts.lnf;
}

void forward_hidden(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T) {
    forward_layers(ws, w, tokens, B, T, 1, NULL);
}

const float *forward_features(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T) {
    forward_layers(ws, w, tokens, B, T, 0, NULL);
    return ws->acts.lnf;
}

const float *forward_features_layers(Workspace *ws, const ModelWeights *w, const int32_t *tokens, int B, int T,
                                     float *layers) {
    forward_layers(ws, w, tokens, B, T, 0, layers);
    return ws->acts.lnf;
}

double forward_loss(Workspace *ws, const ModelWeights *w, const int32_t *tokens, const int32_t *targets, int B,
                    int T, int train, float *logits_out, size_t *count) {
    forward_layers(ws, w, tokens, B, T, train, NULL);
    Activations *a = &ws->acts;
    const int BT = B * T, C = ws->config.hidden_size, V = ws->config.vocab_size;
    int32_t *no_targets = NULL;
    if (!targets) {  // logits only: mark every row as not scored
        no_targets = xmalloc(sizeof(int32_t) * BT);
        for (int i = 0; i < BT; i++) no_targets[i] = -1;
    }
    size_t n = 0;
    double sum = lm_head_loss_forward(a->losses, logits_out, a->lnf, &w->lm_head, targets ? targets : no_targets,
                                      BT, C, V, 0, &n);
    free(no_targets);
    if (count) *count = n;
    return n ? sum / (double)n : 0.0;
}

double forward_params(Workspace *ws, const Model *m, const ParamTensors *w, const int32_t *tokens,
                      const int32_t *targets, int B, int T, int train, float *logits_out, size_t *count) {
    ModelWeights mw;
    weights_view(&mw, m, w);
    double loss = forward_loss(ws, &mw, tokens, targets, B, T, train, logits_out, count);
    weights_free(&mw);
    return loss;
}

// ---------------------------------------------------------------------------
// Backward pass

static void scratch_alloc(Workspace *ws, int BT) {
    GradScratch *g = &ws->scratch;
    free(g->memory);
    const ModelConfig *c = &ws->config;
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

void backward_block(Workspace *ws, const ModelWeights *w, int l, const float *x_in, const float *dx_out,
                    const LayerParams *g) {
    const Activations *a = &ws->acts;
    const int BT = a->B * a->T;
    if (ws->scratch.BT != BT) scratch_alloc(ws, BT);
    memcpy(ws->scratch.dresid, dx_out, sizeof(float) * (size_t)BT * ws->config.hidden_size);
    const BlockCtx ctx = {.B = a->B, .T = a->T, .pos = 0, .cos = a->rope_cos, .sin = a->rope_sin};
    BlockBufs b;
    layer_bufs(ws, 0, &b);
    block_backward(&ws->config, &w->layers[l], g, x_in, &b, &ctx, &ws->scratch);
}

// Rows of logits per chunk in the fused LM head: at Qwen3's vocabulary 256
// rows are 155 MB of logits and read the 622 MB head 110/256 as often as the
// forward's chunking (110 rows) would.
#define TRAIN_HEAD_ROWS 256

// The hidden-state term of layer l's output h over the counted rows: adds
// its gradient (scale · 2(h − t)/||t||² a row) into dh and returns the sum
// over rows of ||h − t||² / ||t||².
static double hidden_term(float *dh, const float *h, const float *t, const int32_t *targets, int BT, int C,
                          float scale) {
    double sum = 0.0;
    for (int r = 0; r < BT; r++) {
        if (targets[r] < 0) continue;
        const float *hr = h + (size_t)r * C, *tr = t + (size_t)r * C;
        float *dr = dh + (size_t)r * C;
        double e = 0.0, tt = 0.0;
        for (int c = 0; c < C; c++) {
            const double d = (double)hr[c] - tr[c];
            e += d * d;
            tt += (double)tr[c] * tr[c];
        }
        const double inv = 1.0 / (tt + 1e-6 * C);
        sum += e * inv;
        const float k = (float)(2.0 * scale * inv);
        for (int c = 0; c < C; c++) dr[c] += k * (hr[c] - tr[c]);
    }
    return sum;
}

double backward_loss(Workspace *ws, const ModelWeights *w, ParamTensors *g, const int32_t *tokens,
                     const int32_t *targets, float loss_scale, const HeadTeacher *teacher, const HiddenTarget *hidden,
                     HeadLossSums *means, double *hidden_mean, size_t *count) {
    const ModelConfig *c = &ws->config;
    Activations *a = &ws->acts;
    const int B = a->B, T = a->T, BT = B * T;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    if (a->n_saved_layers != L) die("backward_loss called without forward_hidden's activations");
    if (ws->scratch.BT != BT) scratch_alloc(ws, BT);
    GradScratch *d = &ws->scratch;

    size_t n = 0;
    for (int i = 0; i < BT; i++) n += targets[i] >= 0;
    if (count) *count = n;
    if (means) *means = (HeadLossSums){0.0, 0.0};
    if (hidden_mean) *hidden_mean = 0.0;
    if (n == 0) return 0.0;

    // LM head + loss, fused with their gradients: d lnf and d head.
    HeadLossSums sums;
    double loss_sum = lm_head_loss_backward(d->dln, g->lm_head, a->losses, a->lnf, &w->lm_head, targets, BT,
                                            loss_scale / (float)n, TRAIN_HEAD_ROWS, teacher, &sums, NULL);
    if (means) *means = (HeadLossSums){sums.ce / (double)n, sums.kl / (double)n};
    memset(d->dresid, 0, sizeof(float) * (size_t)BT * C);
    rmsnorm_backward(d->dresid, g->final_norm, d->dln, a->resid + (size_t)L * BT * C, w->final_norm, a->rstdf, BT, C);

    const BlockCtx ctx = {.B = B, .T = T, .pos = 0, .cos = a->rope_cos, .sin = a->rope_sin};
    double hidden_sum = 0.0;
    for (int l = L - 1; l >= 0; l--) {
        if (hidden)  // layer l's output: its gradient joins the one from above
            hidden_sum += hidden_term(d->dresid, resid_at(ws, l + 1, 1), hidden->layers + (size_t)l * BT * C, targets,
                                      BT, C, loss_scale * hidden->beta / ((float)n * L));
        LayerParams lg;
        BlockBufs b;
        layer_params(c, g, l, &lg);
        layer_bufs(ws, (size_t)l, &b);
        block_backward(c, &w->layers[l], &lg, resid_at(ws, l, 1), &b, &ctx, d);
    }
    embedding_backward(g->embed, d->dresid, tokens, BT, C);
    const double hidden_avg = hidden_sum / ((double)n * L);
    if (hidden_mean) *hidden_mean = hidden ? hidden_avg : 0.0;
    return loss_sum / (double)n + (hidden ? hidden->beta * hidden_avg : 0.0);
}
