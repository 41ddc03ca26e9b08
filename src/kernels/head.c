// head.c — see head.h. The loss's sum over the vocabulary runs in double.
#include "kernels/head.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/vmath.h"

int lm_head_chunk_rows(int V) {
    const size_t rows = ((size_t)16 << 20) / (size_t)V;
    return rows < 1 ? 1 : rows > 256 ? 256 : (int)rows;
}

double lm_head_loss_forward(float *losses, float *logits_out, const float *x, const WTensor *Wh,
                            const int32_t *targets, int BT, int C, int V, int chunk_rows, size_t *count) {
    const int rows = chunk_rows > 0 ? chunk_rows : lm_head_chunk_rows(V);
    float *buf = xmalloc_aligned(sizeof(float) * (size_t)rows * V);
    double *row = xmalloc(sizeof(double) * (size_t)rows), total = 0.0;
    size_t counted = 0;
    for (int r0 = 0; r0 < BT; r0 += rows) {
        int n = r0 + rows <= BT ? rows : BT - r0;
        linear_forward(buf, x + (size_t)r0 * C, Wh, n);
        if (logits_out) memcpy(logits_out + (size_t)r0 * V, buf, sizeof(float) * (size_t)n * V);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < n; r++) {
            const float *lg = buf + (size_t)r * V;
            int tgt = targets[r0 + r];
            if (tgt < 0) { losses[r0 + r] = 0.0f; row[r] = 0.0; continue; }
            float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
            for (int i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
            // In double: near-uniform logits make every term about 1, and a
            // float lane of ~19 K such terms repeats one rounding error
            // (1.9e-4 off the loss at V = 151,936, test_ops).
            double sum = 0.0;
#pragma omp simd reduction(+ : sum)
            for (int i = 0; i < V; i++) sum += (double)vexpf(lg[i] - mx);
            row[r] = log(sum) + mx - lg[tgt];
            losses[r0 + r] = (float)row[r];
        }
        // Rows summed in order, so the total does not depend on the threads.
        for (int r = 0; r < n; r++)
            if (targets[r0 + r] >= 0) { total += row[r]; counted++; }
    }
    free(row);
    free(buf);
    if (count) *count = counted;
    return total;
}

// One row of the plain loss: the forward's cross-entropy (same exp, same
// double sum), each exp kept in place to become the softmax, then
// dlogits = (softmax − onehot)·dloss.
static double ce_row(float *lg, int tgt, int V, float dloss) {
    float mx = -FLT_MAX;
    for (int i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    const float lt = lg[tgt];
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < V; i++) {
        lg[i] = vexpf(lg[i] - mx);
        sum += (double)lg[i];
    }
    const double loss = log(sum) + mx - lt;
    const float f = (float)((double)dloss / sum);  // the 1/sum folded into one factor
#pragma omp simd
    for (int i = 0; i < V; i++) lg[i] *= f;
    lg[tgt] -= dloss;
    return loss;
}

// One row of the distillation loss α·CE + (1 − α)·τ²·D, p = softmax(logits/τ),
// D = (1 − β)·KL(p_t ‖ p_s) + β·KL(p_s ‖ p_t) (head.h has the gradient).
// lg (student logits) becomes dlogits; tl (teacher logits, the caller's
// scratch) may be overwritten. *ce_out and *kl_out get the row's CE and D.
// At τ = 1 and β = 0 (what trit convert distils with by default) the
// student's softmax is also the CE's, so each side needs one exp an element,
// kept in place between the passes: two exps an element instead of six.
static double distill_row(float *lg, float *tl, int tgt, int V, float dloss, float alpha, float tau, float beta,
                          double *ce_out, double *kl_out) {
    float mx = -FLT_MAX, mt = -FLT_MAX;
#pragma omp simd reduction(max : mx, mt)
    for (int i = 0; i < V; i++) {
        mx = lg[i] > mx ? lg[i] : mx;
        mt = tl[i] > mt ? tl[i] : mt;
    }
    const float fa = dloss * alpha, fk = dloss * (1.0f - alpha) * tau;
    if (tau == 1.0f && beta == 0.0f) {
        const float lt = lg[tgt];
        // KL = Σ p_t·(b − a) + log ss − log st with a, b the shifted logits,
        // and Σ p_t·(b − a) = u / st: the sums of one pass give both losses.
        double ss = 0.0, st = 0.0, u = 0.0;
#pragma omp simd reduction(+ : ss, st, u)
        for (int i = 0; i < V; i++) {
            const float a = lg[i] - mx, b = tl[i] - mt;
            const float es = vexpf(a), et = vexpf(b);
            ss += (double)es;
            st += (double)et;
            u += (double)(et * (b - a));
            lg[i] = es;
            tl[i] = et;
        }
        const float rs = (float)(1.0 / ss), rt = (float)(1.0 / st);
#pragma omp simd
        for (int i = 0; i < V; i++) {
            const float ps = lg[i] * rs;
            lg[i] = fa * ps + fk * (ps - tl[i] * rt);
        }
        lg[tgt] -= fa;
        *ce_out = log(ss) + mx - lt;
        *kl_out = u / st + log(ss) - log(st);
        return alpha * *ce_out + (1.0 - alpha) * *kl_out;
    }
    const float it = 1.0f / tau;
    double s1 = 0.0, ss = 0.0, st = 0.0;  // in double, as the forward's sum
#pragma omp simd reduction(+ : s1, ss, st)
    for (int i = 0; i < V; i++) {
        s1 += (double)vexpf(lg[i] - mx);
        ss += (double)vexpf((lg[i] - mx) * it);
        st += (double)vexpf((tl[i] - mt) * it);
    }
    const double ce = log(s1) + mx - lg[tgt];
    // log p_t − log p_s = a_t − a_s + (log ss − log st), with a = (logit − max)/τ.
    const float dlog = (float)(log(ss) - log(st));
    const float r1 = (float)(1.0 / s1), rs = (float)(1.0 / ss), rt = (float)(1.0 / st);
    // The reverse term's gradient β·p_s·(log p_s − log p_t − KL(p_s ‖ p_t))
    // needs that KL, known only after the pass: its p_s·β part waits in tl.
    const float fb = fk * beta, ff = fk - fb;
    double kl = 0.0, rkl = 0.0;
#pragma omp simd reduction(+ : kl, rkl)
    for (int i = 0; i < V; i++) {
        const float as = (lg[i] - mx) * it, at = (tl[i] - mt) * it;
        const float pt = vexpf(at) * rt, ps = vexpf(as) * rs;
        const float d = at - as + dlog;  // log p_t − log p_s
        kl += (double)(pt * d);
        rkl -= (double)(ps * d);
        lg[i] = fa * (vexpf(lg[i] - mx) * r1) + ff * (ps - pt) - fb * ps * d;
        tl[i] = fb * ps;
    }
    if (beta > 0.0f) {
        const float r = (float)rkl;
#pragma omp simd
        for (int i = 0; i < V; i++) lg[i] -= tl[i] * r;
    }
    lg[tgt] -= fa;
    const double div = (1.0 - beta) * kl + beta * rkl;
    *ce_out = ce;
    *kl_out = div;
    return alpha * ce + (1.0 - alpha) * (double)tau * tau * div;
}

double lm_head_loss_backward(float *dx, float *dWh, float *losses, const float *x, const WTensor *Wh,
                             const int32_t *targets, int BT, float dloss, int chunk_rows,
                             const HeadTeacher *teacher, HeadLossSums *sums, size_t *count) {
    const int C = Wh->cols, V = Wh->rows;
    const int rows = chunk_rows > 0 ? chunk_rows : lm_head_chunk_rows(V);
    // Kept between calls: at Qwen3's vocabulary each chunk buffer is 155 MB.
    float *buf = scratch_get(SCRATCH_HEAD, sizeof(float) * (size_t)rows * V);  // logits, then dlogits
    float *tbuf = teacher ? scratch_get(SCRATCH_HEAD_TEACHER, sizeof(float) * (size_t)rows * V) : NULL;
    double *rl = xmalloc(sizeof(double) * (size_t)rows * 3);           // row loss, CE and KL of the chunk
    double total = 0.0, ce_total = 0.0, kl_total = 0.0;
    size_t counted = 0;
    for (int r0 = 0; r0 < BT; r0 += rows) {
        const int n = r0 + rows <= BT ? rows : BT - r0;
        const float *xc = x + (size_t)r0 * C;
        linear_forward_det(buf, xc, Wh, n);  // logits = x·Wh^T
        if (teacher) linear_forward_det(tbuf, teacher->x + (size_t)r0 * teacher->Wh->cols, teacher->Wh, n);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < n; r++) {
            float *lg = buf + (size_t)r * V;
            const int tgt = targets[r0 + r];
            if (tgt < 0) {  // not scored: no loss, no gradient
                memset(lg, 0, sizeof(float) * V);
                rl[3 * r] = rl[3 * r + 1] = rl[3 * r + 2] = 0.0;
                if (losses) losses[r0 + r] = 0.0f;
                continue;
            }
            double *o = rl + 3 * r;
            if (teacher) {
                o[0] = distill_row(lg, tbuf + (size_t)r * V, tgt, V, dloss, teacher->alpha, teacher->temp,
                                   teacher->reverse, &o[1], &o[2]);
            } else {
                o[0] = o[1] = ce_row(lg, tgt, V, dloss);
                o[2] = 0.0;
            }
            if (losses) losses[r0 + r] = (float)o[0];
        }
        // Serial over rows in order: the summed loss does not depend on threads.
        for (int r = 0; r < n; r++) {
            if (targets[r0 + r] < 0) continue;
            total += rl[3 * r];
            ce_total += rl[3 * r + 1];
            kl_total += rl[3 * r + 2];
            counted++;
        }
        // dx (=) dlogits·Wh  (n × C);  dWh (+=) dlogits^T·x  (V × C). The
        // chunks are added into dWh one after another, in row order.
        if (dx) memset(dx + (size_t)r0 * C, 0, sizeof(float) * (size_t)n * C);
        linear_backward(dx ? dx + (size_t)r0 * C : NULL, dWh, buf, xc, Wh, n);
    }
    free(rl);
    if (count) *count = counted;
    if (sums) *sums = (HeadLossSums){ce_total, kl_total};
    return total;
}
