// ops.c — forward kernels of the Qwen3 block; see ops.h for shapes.
//
// Matrix products go to BLAS (OpenBLAS); everything else is a plain loop,
// parallel over rows with OpenMP and vectorised with `omp simd`.
#include "ops.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void matmul_forward(float *out, const float *inp, const float *W, int M, int N, int K) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, W, K, 0.0f, out, N);
}

void embedding_forward(float *out, const int32_t *tokens, const float *embed, int BT, int C) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) memcpy(out + (size_t)i * C, embed + (size_t)tokens[i] * C, sizeof(float) * C);
}

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        float *o = out + (size_t)n * D;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        if (rstd) rstd[n] = r;
#pragma omp simd
        for (int i = 0; i < D; i++) o[i] = xr[i] * r * w[i];
    }
}

void rope_tables(float *cos_t, float *sin_t, int T, int HD, double theta) {
    int half = HD / 2;
    for (int i = 0; i < half; i++) {
        // HF computes inv_freq = 1 / theta^(2i/HD) in fp32; we keep double
        // until the final cos/sin, which differs from it by < 1 ulp of fp32.
        double inv_freq = 1.0 / pow(theta, (double)(2 * i) / (double)HD);
        for (int t = 0; t < T; t++) {
            double a = (double)t * inv_freq;
            cos_t[(size_t)t * half + i] = (float)cos(a);
            sin_t[(size_t)t * half + i] = (float)sin(a);
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int HD) {
    int half = HD / 2;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
            for (int h = 0; h < H; h++) {
                float *v = x + (((size_t)b * T + t) * H + h) * HD;
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * c[i] - x2 * s[i];
                    v[i + half] = x2 * c[i] + x1 * s[i];
                }
            }
        }
    }
}

// Query rows handled by one task, and keys visited per tile. A key tile of
// 64 × 128 floats (32 KiB) stays in L1/L2 while the task's rows use it.
#define ATT_ROWS 16
#define ATT_TILE 64
#define ATT_MAX_HD 512

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HD) {
    const float scale = 1.0f / sqrtf((float)HD);
    const int group = NH / NKV, nblocks = (T + ATT_ROWS - 1) / ATT_ROWS;
    const size_t qs = (size_t)NH * HD, ks = (size_t)NKV * HD;  // row strides
#pragma omp parallel for collapse(3) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int blk = 0; blk < nblocks; blk++) {
                const float *kb = k + (size_t)b * T * ks + (size_t)(h / group) * HD;
                const float *vb = v + (size_t)b * T * ks + (size_t)(h / group) * HD;
                int i_end = (blk + 1) * ATT_ROWS < T ? (blk + 1) * ATT_ROWS : T;
                for (int i = blk * ATT_ROWS; i < i_end; i++) {
                    const float *qi = q + ((size_t)b * T + i) * qs + (size_t)h * HD;
                    float acc[ATT_MAX_HD], s[ATT_TILE];
                    memset(acc, 0, sizeof(float) * HD);
                    float m = -FLT_MAX, l = 0.0f;
                    for (int j0 = 0; j0 <= i; j0 += ATT_TILE) {
                        int j1 = j0 + ATT_TILE < i + 1 ? j0 + ATT_TILE : i + 1;  // causal
                        float mt = -FLT_MAX;
                        for (int j = j0; j < j1; j++) {
                            const float *kj = kb + (size_t)j * ks;
                            float d = 0.0f;
#pragma omp simd reduction(+ : d)
                            for (int e = 0; e < HD; e++) d += qi[e] * kj[e];
                            s[j - j0] = d * scale;
                            if (s[j - j0] > mt) mt = s[j - j0];
                        }
                        // Online softmax: rescale what was accumulated under
                        // the old maximum before adding this tile.
                        float mnew = mt > m ? mt : m, corr = expf(m - mnew);
                        l *= corr;
#pragma omp simd
                        for (int e = 0; e < HD; e++) acc[e] *= corr;
                        for (int j = j0; j < j1; j++) {
                            float p = expf(s[j - j0] - mnew);
                            const float *vj = vb + (size_t)j * ks;
                            l += p;
#pragma omp simd
                            for (int e = 0; e < HD; e++) acc[e] += p * vj[e];
                        }
                        m = mnew;
                    }
                    float *o = out + ((size_t)b * T + i) * qs + (size_t)h * HD, inv = 1.0f / l;
#pragma omp simd
                    for (int e = 0; e < HD; e++) o[e] = acc[e] * inv;
                    lse[((size_t)b * NH + h) * T + i] = m + logf(l);
                }
            }
        }
    }
}

void swiglu_forward(float *h, const float *gate, const float *up, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        h[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// Rows of logits computed per BLAS call: enough to keep the GEMM efficient,
// few enough that the chunk (rows × V floats) stays around 16 MB.
static int lm_head_chunk_rows(int V) {
    int rows = (int)((4u << 20) / (unsigned)V);
    return rows < 1 ? 1 : rows > 256 ? 256 : rows;
}

double lm_head_loss_forward(float *losses, float *logits_out, const float *x, const float *Wh,
                            const int32_t *targets, int BT, int C, int V, size_t *count) {
    int rows = lm_head_chunk_rows(V);
    float *buf = xmalloc_aligned(sizeof(float) * (size_t)rows * V);
    double total = 0.0;
    size_t counted = 0;
    for (int r0 = 0; r0 < BT; r0 += rows) {
        int n = r0 + rows <= BT ? rows : BT - r0;
        matmul_forward(buf, x + (size_t)r0 * C, Wh, n, V, C);
        if (logits_out) memcpy(logits_out + (size_t)r0 * V, buf, sizeof(float) * (size_t)n * V);
#pragma omp parallel for reduction(+ : total, counted)
        for (int r = 0; r < n; r++) {
            const float *lg = buf + (size_t)r * V;
            int tgt = targets[r0 + r];
            if (tgt < 0) { losses[r0 + r] = 0.0f; continue; }
            float mx = -FLT_MAX;
            for (int i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
            double sum = 0.0;
            for (int i = 0; i < V; i++) sum += expf(lg[i] - mx);
            double loss = log(sum) + mx - lg[tgt];
            losses[r0 + r] = (float)loss;
            total += loss;
            counted++;
        }
    }
    free(buf);
    if (count) *count = counted;
    return total;
}
