// ops.c — forward kernels of the transformer block; see ops.h for shapes.
//
// Matrix products go to BLAS (OpenBLAS); everything else is a plain loop,
// parallel over rows with OpenMP (a decode step's attention on base/pool)
// and vectorised with `omp simd`.
#include "kernels/ops.h"

#include <cblas.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "base/vmath.h"

// Element-wise work below this many values runs on one thread, in a plain
// loop: a decode step's vectors (a few thousand values) take less time than
// the fork and join of a parallel region. Every value (row) is computed
// alone, so the split never changes a result.
#define PAR_MIN 32768

static inline void rmsnorm_row(float *o, float *rstd, const float *xr, const float *w, int D, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
    float r = 1.0f / sqrtf(ss / (float)D + eps);
    if (rstd) *rstd = r;
#pragma omp simd
    for (int i = 0; i < D; i++) o[i] = xr[i] * r * w[i];
}

// Small inputs take a plain loop rather than a parallel region with an if
// clause: GCC does not vectorise the body it outlines for the region.
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps) {
    if ((size_t)N * D < PAR_MIN) {
        for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * D, rstd ? rstd + n : NULL, x + (size_t)n * D, w, D, eps);
        return;
    }
#pragma omp parallel for
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * D, rstd ? rstd + n : NULL, x + (size_t)n * D, w, D, eps);
}

void rope_tables_freq(float *cos_t, float *sin_t, int T, int half, const double *inv_freq) {
    // HF computes inv_freq and the angles in fp32; we keep double until the
    // final cos/sin, which differs from it by < 1 ulp of fp32.
    for (int i = 0; i < half; i++)
        for (int t = 0; t < T; t++) {
            double a = (double)t * inv_freq[i];
            cos_t[(size_t)t * half + i] = (float)cos(a);
            sin_t[(size_t)t * half + i] = (float)sin(a);
        }
}

void rope_tables(float *cos_t, float *sin_t, int T, int HD, double theta) {
    const int half = HD / 2;
    double *inv_freq = xmalloc(sizeof(double) * (size_t)(half ? half : 1));
    for (int i = 0; i < half; i++) inv_freq[i] = 1.0 / pow(theta, (double)(2 * i) / (double)HD);
    rope_tables_freq(cos_t, sin_t, T, half, inv_freq);
    free(inv_freq);
}

static inline void rope_head(float *v, const float *c, const float *s, int half) {
#pragma omp simd
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c[i] - x2 * s[i];
        v[i + half] = x2 * c[i] + x1 * s[i];
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int HD) {
    const int half = HD / 2;
    if ((size_t)B * T * H * HD < PAR_MIN) {
        for (int bt = 0; bt < B * T; bt++)
            for (int h = 0; h < H; h++)
                rope_head(x + ((size_t)bt * H + h) * HD, cos_t + (size_t)(bt % T) * half, sin_t + (size_t)(bt % T) * half,
                          half);
        return;
    }
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                rope_head(x + (((size_t)b * T + t) * H + h) * HD, cos_t + (size_t)t * half, sin_t + (size_t)t * half, half);
}

// Attention works on blocks of ATT_BLOCK query rows against tiles of
// ATT_BLOCK keys: S = Q_blk K_tile^T and O += P V_tile are small GEMMs
// (64 x 64 x HD), done by BLAS inside the parallel loop (OpenBLAS runs them
// single-threaded there), so the whole kernel runs at GEMM speed while
// holding only a 64 x 64 score tile per thread — never T x T.
#define ATT_BLOCK 64

// One block of query rows [i0, i1) of head h in batch row b.
static void attention_block(float *out, float *lse, const float *q, const float *k, const float *v, int b, int h,
                            int i0, int i1, int T, int NH, int NKV, int HD, float *S, float *acc, float *m,
                            float *l) {
    const int qs = NH * HD, ks = NKV * HD, kvh = h / (NH / NKV), nr = i1 - i0;
    const float scale = 1.0f / sqrtf((float)HD);
    const float *qb = q + ((size_t)b * T + i0) * qs + (size_t)h * HD;
    const float *kb = k + (size_t)b * T * ks + (size_t)kvh * HD;
    const float *vb = v + (size_t)b * T * ks + (size_t)kvh * HD;
    for (int r = 0; r < nr; r++) { m[r] = -FLT_MAX; l[r] = 0.0f; }
    memset(acc, 0, sizeof(float) * (size_t)nr * HD);
    for (int j0 = 0; j0 < i1; j0 += ATT_BLOCK) {
        const int nc = j0 + ATT_BLOCK < i1 ? ATT_BLOCK : i1 - j0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nc, HD, scale, qb, qs, kb + (size_t)j0 * ks, ks,
                    0.0f, S, ATT_BLOCK);
        for (int r = 0; r < nr; r++) {
            float *sr = S + (size_t)r * ATT_BLOCK;
            const int jmax = i0 + r - j0 + 1 < nc ? i0 + r - j0 + 1 : nc;  // causal: keys j <= i
            float mt = m[r];
#pragma omp simd reduction(max : mt)
            for (int j = 0; j < jmax; j++) mt = sr[j] > mt ? sr[j] : mt;
            // Online softmax: rescale what was accumulated under the old max.
            const float corr = vexpf(m[r] - mt);
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < jmax; j++) {
                sr[j] = vexpf(sr[j] - mt);
                sum += sr[j];
            }
            for (int j = jmax; j < nc; j++) sr[j] = 0.0f;
            l[r] = l[r] * corr + sum;
            m[r] = mt;
            float *ar = acc + (size_t)r * HD;
            if (corr != 1.0f)
                for (int e = 0; e < HD; e++) ar[e] *= corr;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, HD, nc, 1.0f, S, ATT_BLOCK,
                    vb + (size_t)j0 * ks, ks, 1.0f, acc, HD);
    }
    for (int r = 0; r < nr; r++) {
        float *o = out + ((size_t)b * T + i0 + r) * qs + (size_t)h * HD, inv = 1.0f / l[r];
        for (int e = 0; e < HD; e++) o[e] = acc[(size_t)r * HD + e] * inv;
        lse[((size_t)b * NH + h) * T + i0 + r] = m[r] + logf(l[r]);
    }
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HD) {
    const int nblocks = (T + ATT_BLOCK - 1) / ATT_BLOCK;
#pragma omp parallel
    {
        float *S = xmalloc_aligned(sizeof(float) * ATT_BLOCK * ATT_BLOCK);
        float *acc = xmalloc_aligned(sizeof(float) * ATT_BLOCK * (size_t)HD);
        float m[ATT_BLOCK], l[ATT_BLOCK];
        // Later blocks see more keys: hand them out first for balance.
#pragma omp for collapse(3) schedule(dynamic, 1)
        for (int blk = nblocks - 1; blk >= 0; blk--)
            for (int b = 0; b < B; b++)
                for (int h = 0; h < NH; h++) {
                    int i0 = blk * ATT_BLOCK, i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
                    attention_block(out, lse, q, k, v, b, h, i0, i1, T, NH, NKV, HD, S, acc, m, l);
                }
        free(S);
        free(acc);
    }
}

// One query row against T keys/values given by pointer, in that order:
// scores whole in s[T], then the softmax-weighted sum of the values.
#define ATT_AHEAD 8

static void attend_keys(float *o, const float *qi, const float *const *kp, const float *const *vp, int T, float scale,
                        int HD, float *s) {
    float mx = -FLT_MAX;
    int j = 0;
    // Four keys at a time: four independent sums, each in the one-key order.
    // The rows of a decode step come from DRAM, one head's slice of each
    // position, HD floats a key/value stride apart, which the hardware
    // prefetcher does not follow: the keys ATT_AHEAD on, and the values the
    // second loop reads, are asked for while these are scored.
    for (; j + 4 <= T; j += 4) {
        for (int a = j; a < j + 4; a++)
            for (int e = 0; e < HD; e += 16) {
                if (a + ATT_AHEAD < T) _mm_prefetch((const char *)(kp[a + ATT_AHEAD] + e), _MM_HINT_T0);
                _mm_prefetch((const char *)(vp[a] + e), _MM_HINT_T0);
            }
        const float *k0 = kp[j], *k1 = kp[j + 1], *k2 = kp[j + 2], *k3 = kp[j + 3];
        float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
        for (int e = 0; e < HD; e++) {
            d0 += qi[e] * k0[e];
            d1 += qi[e] * k1[e];
            d2 += qi[e] * k2[e];
            d3 += qi[e] * k3[e];
        }
        s[j] = d0 * scale;
        s[j + 1] = d1 * scale;
        s[j + 2] = d2 * scale;
        s[j + 3] = d3 * scale;
    }
    for (; j < T; j++) {
        const float *kj = kp[j];
        float d = 0.0f;
#pragma omp simd reduction(+ : d)
        for (int e = 0; e < HD; e++) d += qi[e] * kj[e];
        s[j] = d * scale;
    }
    for (j = 0; j < T; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (j = 0; j < T; j++) {
        s[j] = vexpf(s[j] - mx);
        sum += s[j];
    }
    memset(o, 0, sizeof(float) * HD);
    // Four values per pass over o, added in key order.
    for (j = 0; j + 4 <= T; j += 4) {
        const float *v0 = vp[j], *v1 = vp[j + 1], *v2 = vp[j + 2], *v3 = vp[j + 3];
        const float p0 = s[j], p1 = s[j + 1], p2 = s[j + 2], p3 = s[j + 3];
#pragma omp simd
        for (int e = 0; e < HD; e++) o[e] = (((o[e] + p0 * v0[e]) + p1 * v1[e]) + p2 * v2[e]) + p3 * v3[e];
    }
    for (; j < T; j++) {
        const float *vj = vp[j], p = s[j];
#pragma omp simd
        for (int e = 0; e < HD; e++) o[e] += p * vj[e];
    }
    const float inv = 1.0f / sum;
    for (int e = 0; e < HD; e++) o[e] *= inv;
}

// Fills kp/vp with the keys/values query row i of head h sees, in order;
// returns how many.
typedef int (*KeysFn)(const void *ctx, int i, int h, const float **kp, const float **vp);

// One attend_rows call: its inputs and per-thread scratch (scores, and the
// key/value pointers of one row).
typedef struct {
    float *out, *s;
    const float *q, **kp;
    int NH, HD, most;
    float scale;
    KeysFn keys;
    const void *ctx;
} AttendJob;

static void attend_item(void *p, int item, int thread) {
    const AttendJob *j = p;
    const int i = item / j->NH, h = item % j->NH;
    const float **kp = j->kp + (size_t)thread * 2 * j->most, **vp = kp + j->most;
    const int T = j->keys(j->ctx, i, h, kp, vp);
    attend_keys(j->out + ((size_t)i * j->NH + h) * j->HD, j->q + ((size_t)i * j->NH + h) * j->HD, kp, vp, T, j->scale,
                j->HD, j->s + (size_t)thread * j->most);
}

// Every (row, head) of n query rows against the keys `keys` lists: one
// thread for small work (a decode step of a tiny model: handing out items
// costs more than it saves), base/pool for a decode step's one row (as
// qmatmul does, so that a step enters no OpenMP region), OpenMP for more.
// `most`: keys a row sees at most.
static void attend_rows(float *out, const float *q, int n, int NH, int HD, int most, double work, KeysFn keys,
                        const void *ctx) {
    const int threads = work <= 65536.0 ? 1 : n == 1 ? pool_threads() : omp_get_max_threads();
    AttendJob j = {.out = out, .q = q, .NH = NH, .HD = HD, .most = most, .scale = 1.0f / sqrtf((float)HD),
                   .keys = keys, .ctx = ctx, .s = xmalloc(sizeof(float) * (size_t)most * threads),
                   .kp = xmalloc(sizeof(float *) * 2 * (size_t)most * threads)};
    if (threads == 1) {
        for (int item = 0; item < n * NH; item++) attend_item(&j, item, 0);
    } else if (n == 1) {
        pool_run(NH, attend_item, &j);
    } else {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int item = 0; item < n * NH; item++) attend_item(&j, item, omp_get_thread_num());
    }
    free(j.kp);
    free(j.s);
}

typedef struct {
    const float *k, *v;
    int pos, first, KD, group, HD;
    const int *parent;
} CachedKeys;

// The positions row i sees, in increasing order: the cached prefix, then
// the new rows on its chain (filled from the end).
static int cached_keys(const void *ctx, int i, int h, const float **kp, const float **vp) {
    const CachedKeys *c = ctx;
    const size_t off = (size_t)(h / c->group) * c->HD, KD = (size_t)c->KD;
    int T = c->pos;
    if (!c->parent) {
        T += i + 1;
        for (int j = i, t = T - 1; j >= 0; j--, t--) kp[t] = c->k + (size_t)(c->pos + j) * KD + off;
    } else {
        for (int a = c->first + i; a >= 0; a = c->parent[a]) T++;
        for (int a = c->first + i, t = T - 1; a >= 0; a = c->parent[a], t--) kp[t] = c->k + (size_t)(c->pos + a) * KD + off;
    }
    for (int j = 0; j < c->pos; j++) kp[j] = c->k + (size_t)j * KD + off;
    for (int j = 0; j < T; j++) vp[j] = c->v + (kp[j] - c->k);
    return T;
}

void attention_forward_cached(float *out, const float *q, const float *k, const float *v, int n, int pos,
                              const int *parent, int first, int NH, int NKV, int HD) {
    const CachedKeys c = {.k = k, .v = v, .pos = pos, .first = first, .KD = NKV * HD, .group = NH / NKV, .HD = HD,
                          .parent = parent};
    const int most = pos + first + n + 1;
    attend_rows(out, q, n, NH, HD, most, (double)n * NH * most * HD, cached_keys, &c);
}

typedef struct {
    const float *k_new, *v_new, *k, *v;
    size_t slot_stride;
    const int *row_slot, *row_pos;
    int KD, group, HD;
} SlotKeys;

// The slot's cached positions 0..pos-1, then the row's own key.
static int slot_keys(const void *ctx, int i, int h, const float **kp, const float **vp) {
    const SlotKeys *c = ctx;
    const size_t off = (size_t)(h / c->group) * c->HD, base = (size_t)c->row_slot[i] * c->slot_stride + off;
    const int P = c->row_pos[i];
    for (int j = 0; j < P; j++) {
        kp[j] = c->k + base + (size_t)j * c->KD;
        vp[j] = c->v + base + (size_t)j * c->KD;
    }
    kp[P] = c->k_new + (size_t)i * c->KD + off;
    vp[P] = c->v_new + (size_t)i * c->KD + off;
    return P + 1;
}

void attention_forward_rows(float *out, const float *q, const float *k_new, const float *v_new, const float *k,
                            const float *v, size_t slot_stride, const int *row_slot, const int *row_pos, int n, int NH,
                            int NKV, int HD) {
    const SlotKeys c = {.k_new = k_new, .v_new = v_new, .k = k, .v = v, .slot_stride = slot_stride,
                        .row_slot = row_slot, .row_pos = row_pos, .KD = NKV * HD, .group = NH / NKV, .HD = HD};
    int most = 1;
    double work = 0.0;
    for (int i = 0; i < n; i++) {
        most = row_pos[i] + 1 > most ? row_pos[i] + 1 : most;
        work += (double)NH * (row_pos[i] + 1) * HD;
    }
    attend_rows(out, q, n, NH, HD, most, work, slot_keys, &c);
}

static inline float swiglu(float g, float u) { return g / (1.0f + vexpf(-g)) * u; }

void swiglu_forward(float *h, const float *gate, const float *up, size_t n) {
    if (n < PAR_MIN) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) h[i] = swiglu(gate[i], up[i]);
        return;
    }
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) h[i] = swiglu(gate[i], up[i]);
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    if (n < PAR_MIN) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
