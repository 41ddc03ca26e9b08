// block.c — the transformer block; see block.h.
#include "model/block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/prof.h"
#include "base/util.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"

void layer_params(const ModelConfig *c, const ParamTensors *w, int l, LayerParams *p) {
    const size_t C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim, L = (size_t)l;
    const size_t QD = (size_t)c->num_attention_heads * HD, KD = (size_t)c->num_key_value_heads * HD;
    p->attn_norm = w->attn_norm + L * C;
    p->wq = w->wq + L * QD * C;
    p->wk = w->wk + L * KD * C;
    p->wv = w->wv + L * KD * C;
    p->q_norm = w->q_norm ? w->q_norm + L * HD : NULL;
    p->k_norm = w->k_norm ? w->k_norm + L * HD : NULL;
    p->wo = w->wo + L * C * QD;
    p->mlp_norm = w->mlp_norm + L * C;
    p->wgate = w->wgate + L * F * C;
    p->wup = w->wup + L * F * C;
    p->wdown = w->wdown + L * C * F;
}

void block_forward(const ModelConfig *c, const LayerWeights *w, float *x_out, const float *x, BlockBufs *b,
                   const BlockCtx *ctx) {
    const int B = ctx->B, T = ctx->T, n = B * T;
    const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const int NH = c->num_attention_heads, NKV = c->num_key_value_heads;
    const float eps = c->rms_norm_eps;

    // Attention: without head norms the projections land in q, k directly.
    double t = prof_start();
    rmsnorm_forward(b->ln1, b->rstd1, x, w->attn_norm, n, C, eps);
    prof_lap(PROF_NORM, &t);
    float *const qkv[3] = {w->q_norm ? b->q_raw : b->q, w->k_norm ? b->k_raw : b->k, b->v};
    const WTensor *const wqkv[3] = {&w->wq, &w->wk, &w->wv};
    linear_forward_multi(3, qkv, wqkv, b->ln1, n);
    prof_lap(PROF_QKV, &t);
    if (w->q_norm) rmsnorm_forward(b->q, b->rstd_q, b->q_raw, w->q_norm, n * NH, HD, eps);
    if (w->k_norm) rmsnorm_forward(b->k, b->rstd_k, b->k_raw, w->k_norm, n * NKV, HD, eps);
    prof_lap(PROF_NORM, &t);
    rope_forward(b->q, ctx->cos, ctx->sin, B, T, NH, HD);
    rope_forward(b->k, ctx->cos, ctx->sin, B, T, NKV, HD);
    prof_lap(PROF_ROPE, &t);
    if (!ctx->k_all)
        attention_forward(b->att, b->lse, b->q, b->k, b->v, B, T, NH, NKV, HD);
    else if (ctx->row_slot)
        attention_forward_rows(b->att, b->q, b->k, b->v, ctx->k_all, ctx->v_all, ctx->slot_stride, ctx->row_slot,
                               ctx->row_pos, n, NH, NKV, HD);
    else
        attention_forward_cached(b->att, b->q, ctx->k_all, ctx->v_all, n, ctx->pos, ctx->parent, ctx->first, NH, NKV,
                                 HD);
    prof_lap(PROF_ATTN, &t);
    linear_forward(b->tmp, b->att, &w->wo, n);
    prof_lap(PROF_O, &t);
    residual_forward(b->mid, x, b->tmp, (size_t)n * C);
    prof_lap(PROF_RESID, &t);

    // MLP.
    rmsnorm_forward(b->ln2, b->rstd2, b->mid, w->mlp_norm, n, C, eps);
    prof_lap(PROF_NORM, &t);
    float *const gu[2] = {b->gate, b->up};
    const WTensor *const wgu[2] = {&w->wgate, &w->wup};
    linear_forward_multi(2, gu, wgu, b->ln2, n);
    prof_lap(PROF_GATEUP, &t);
    swiglu_forward(b->h, b->gate, b->up, (size_t)n * F);
    prof_lap(PROF_SWIGLU, &t);
    linear_forward(b->tmp, b->h, &w->wdown, n);
    prof_lap(PROF_DOWN, &t);
    residual_forward(x_out, b->mid, b->tmp, (size_t)n * C);
    prof_lap(PROF_RESID, &t);
}

void block_backward(const ModelConfig *c, const LayerWeights *w, const LayerParams *g, const float *x,
                    const BlockBufs *b, const BlockCtx *ctx, GradScratch *d) {
    const int B = ctx->B, T = ctx->T, BT = B * T;
    const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim;
    const int NH = c->num_attention_heads, NKV = c->num_key_value_heads;
    const int QD = NH * HD, KD = NKV * HD;

    // ln1, ln2 and h are not kept per layer (model.h): recomputed here, by
    // the forward's own kernels, so bit for bit what the forward used.
    const float eps = c->rms_norm_eps;
    rmsnorm_forward(b->ln2, b->rstd2, b->mid, w->mlp_norm, BT, C, eps);
    swiglu_forward(b->h, b->gate, b->up, (size_t)BT * F);

    // MLP, x_out = mid + down(silu(gate(ln2)) * up(ln2)); dresid = d x_out.
    memset(d->dh, 0, sizeof(float) * (size_t)BT * F);
    linear_backward(d->dh, g->wdown, d->dresid, b->h, &w->wdown, BT);
    swiglu_backward(d->dgate, d->dup, d->dh, b->gate, b->up, (size_t)BT * F);
    memset(d->dln, 0, sizeof(float) * (size_t)BT * C);
    linear_backward(d->dln, g->wgate, d->dgate, b->ln2, &w->wgate, BT);
    linear_backward(d->dln, g->wup, d->dup, b->ln2, &w->wup, BT);
    // The residual passes d x_out straight to mid; the norm adds its branch.
    rmsnorm_backward(d->dresid, g->mlp_norm, d->dln, b->mid, w->mlp_norm, b->rstd2, BT, C);

    // Attention, mid = x + o_proj(attention(...)); dresid = d mid.
    memset(d->datt, 0, sizeof(float) * (size_t)BT * QD);
    linear_backward(d->datt, g->wo, d->dresid, b->att, &w->wo, BT);
    attention_backward(d->dq, d->dk, d->dv, d->datt, b->q, b->k, b->v, b->att, b->lse, B, T, NH, NKV, HD);
    rope_backward(d->dq, ctx->cos, ctx->sin, B, T, NH, HD);
    rope_backward(d->dk, ctx->cos, ctx->sin, B, T, NKV, HD);
    // Without head norms d q is already the projection's output gradient.
    const float *dq_proj = d->dq, *dk_proj = d->dk;
    if (w->q_norm) {
        memset(d->dq_raw, 0, sizeof(float) * (size_t)BT * QD);
        rmsnorm_backward(d->dq_raw, g->q_norm, d->dq, b->q_raw, w->q_norm, b->rstd_q, BT * NH, HD);
        dq_proj = d->dq_raw;
    }
    if (w->k_norm) {
        memset(d->dk_raw, 0, sizeof(float) * (size_t)BT * KD);
        rmsnorm_backward(d->dk_raw, g->k_norm, d->dk, b->k_raw, w->k_norm, b->rstd_k, BT * NKV, HD);
        dk_proj = d->dk_raw;
    }
    memset(d->dln, 0, sizeof(float) * (size_t)BT * C);
    rmsnorm_forward(b->ln1, b->rstd1, x, w->attn_norm, BT, C, eps);
    linear_backward(d->dln, g->wq, dq_proj, b->ln1, &w->wq, BT);
    linear_backward(d->dln, g->wk, dk_proj, b->ln1, &w->wk, BT);
    linear_backward(d->dln, g->wv, d->dv, b->ln1, &w->wv, BT);
    rmsnorm_backward(d->dresid, g->attn_norm, d->dln, x, w->attn_norm, b->rstd1, BT, C);
}

// transformers' _compute_llama3_parameters, in double: wavelengths longer
// than old_ctx / low_freq_factor are slowed down by `factor`, shorter than
// old_ctx / high_freq_factor kept, and the band between interpolated.
static double llama3_scale(const RopeScaling *r, double inv_freq) {
    const double old_ctx = r->original_max_position_embeddings;
    const double wavelen = 2.0 * M_PI / inv_freq;
    const double low_wavelen = old_ctx / r->low_freq_factor, high_wavelen = old_ctx / r->high_freq_factor;
    if (wavelen > low_wavelen) return inv_freq / r->factor;
    if (wavelen < high_wavelen) return inv_freq;
    const double smooth = (old_ctx / wavelen - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
    return (1.0 - smooth) * inv_freq / r->factor + smooth * inv_freq;
}

void rope_config_tables(const ModelConfig *c, float *cos_t, float *sin_t, int T) {
    const int half = c->head_dim / 2;
    double *inv_freq = xmalloc(sizeof(double) * (size_t)half);
    for (int i = 0; i < half; i++) {
        inv_freq[i] = 1.0 / pow(c->rope_theta, (double)(2 * i) / (double)c->head_dim);
        if (c->rope_scaling.type == ROPE_LLAMA3) inv_freq[i] = llama3_scale(&c->rope_scaling, inv_freq[i]);
    }
    rope_tables_freq(cos_t, sin_t, T, half, inv_freq);
    free(inv_freq);
}
