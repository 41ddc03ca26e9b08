// test_gradcheck.c — every backward kernel of ops_backward.c against
// numerical gradients of a double-precision reference forward written here.
//
// Method. Each op gets a scalar loss L = Σ r ∘ out with a fixed random r (the
// LM head: the mean cross-entropy itself). The reference forward runs in
// double on the same inputs, and the numerical gradient of a coordinate p is
// the central difference (L(p+h) − L(p−h)) / 2h with h = 1e-6·max(1, |p|).
// Where a coordinate only reaches some outputs (a row of a matmul, the rows
// i ≥ j of attention for key j) the reference recomputes only those outputs:
// the others are identical in L(p+h) and L(p−h) and cancel exactly.
// Error of the numerical gradient: rounding ~1e-16·|L|/h ≈ 1e-10·|L| plus
// truncation ~h² ≈ 1e-12, i.e. < 1e-8 here — far below fp32 noise, so the
// comparison measures the float kernels alone.
//
// Tolerance. A coordinate passes when |analytic − numeric| ≤ tol·(|numeric| +
// s), s the largest |numeric| of that tensor's checked coordinates: relative
// to the gradient's own scale, so a tiny entry (a softmax tail) is held to
// the same absolute error as the big ones. fp32 rounding of the kernels' sums
// gives 1e-8 to 7e-7 of that scale (measured maxima are printed per tensor);
// tol = 1e-5 (5e-5 for attention, whose scores go through exp and a
// subtraction dP − D) leaves a margin of ≥ 15× for other BLAS kernels and
// CPUs, while a wrong term, sign, mask or tile boundary shows up at ≥ 1e-2.
//
// Where there are too many coordinates for one-by-one differences: attention
// checks sampled coordinates, always including the tile boundaries, plus
// directional derivatives along random ±1 directions over each whole tensor,
// compared as |⟨g,u⟩ − numeric| ≤ 1e-6·Σ|g_i| (seen: ≤ 7e-9), tight enough
// that one wrong coordinate in ~10^4 fails it. The LM head checks rows at
// the chunk edges and vocabulary rows hit by targets in two chunks, by other
// targets, and by none (the softmax tail alone).
//
// Also: accumulation (+=) where the API promises it, "=" outputs fully
// written (pre-filled with NaN), and bit-identical results for 1, 2 and 3
// OpenMP threads.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/gemm.h"
#include "kernels/head.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"
#include "test.h"

// Rows of logits per LM-head chunk: several chunks at the tests' V = 70001
// (the default would be 239 rows).
#define TEST_HEAD_ROWS 59

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {  // uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / 8388608.0 - 1.0);
}
static int irand(int n) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (int)((rng >> 33) % (uint64_t)n);
}
static float *rand_array(size_t n, float scale) {
    float *p = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}
static double *to_double(const float *a, size_t n) {
    double *d = xmalloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}
static float *nan_array(size_t n) {  // for "=" outputs: any element left unwritten stays NaN
    float *p = xmalloc(sizeof(float) * n);
    memset(p, 0xff, sizeof(float) * n);
    return p;
}
static float *copy_array(const float *a, size_t n) {
    float *p = xmalloc(sizeof(float) * n);
    memcpy(p, a, sizeof(float) * n);
    return p;
}

// ---------------------------------------------------------------------------
// The numerical gradient machinery

#define ALL ((size_t)-1)
// Loss of the double reference; `which` names the input tensor whose
// coordinate `idx` is being perturbed (ALL: the whole loss).
typedef double (*LossFn)(void *ctx, int which, size_t idx);

static double numgrad(LossFn f, void *ctx, double *p, int which, size_t idx) {
    double x0 = p[idx], h = 1e-6 * fmax(1.0, fabs(x0));
    p[idx] = x0 + h;
    double lp = f(ctx, which, idx);
    p[idx] = x0 - h;
    double lm = f(ctx, which, idx);
    p[idx] = x0;
    return (lp - lm) / ((x0 + h) - (x0 - h));  // the step actually taken
}

// Compares g (analytic, float) with numerical gradients at the n coordinates
// idx[] of the reference input p. Prints the measured error.
static void check_coords(const char *what, LossFn f, void *ctx, double *p, int which, const float *g,
                         const size_t *idx, size_t n, double tol) {
    double *num = xmalloc(sizeof(double) * n), s = 0, worst = 0, worst_abs = 0;
    for (size_t i = 0; i < n; i++) {
        num[i] = numgrad(f, ctx, p, which, idx[i]);
        s = fmax(s, fabs(num[i]));
    }
    if (s == 0) s = 1;  // an all-zero gradient: then tol is an absolute bound
    int bad = 0;
    size_t bad_at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[idx[i]] - num[i]);
        double e = d / (fabs(num[i]) + s);
        if (!(d <= worst_abs)) worst_abs = d;
        if (!(e <= worst)) worst = e;
        if (!(e <= tol) && !bad) { bad = 1; bad_at = i; }
    }
    printf("  %-34s %6zu coords  scale %.3g  max abs err %.2e  max rel-to-scale %.2e\n", what, n, s, worst_abs,
           worst);
    CHECK(!bad, "%s: coordinate %zu: analytic %.9g numeric %.9g (scale %.3g, tol %.1e)", what,
          bad ? idx[bad_at] : 0, bad ? g[idx[bad_at]] : 0.0, bad ? num[bad_at] : 0.0, s, tol);
    free(num);
}

static void check_all(const char *what, LossFn f, void *ctx, double *p, int which, const float *g, size_t n,
                      double tol) {
    size_t *idx = xmalloc(sizeof(size_t) * n);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    check_coords(what, f, ctx, p, which, g, idx, n, tol);
    free(idx);
}

// Directional derivative along a random ±1 direction u over all n entries.
static void check_direction(const char *what, LossFn f, void *ctx, double *p, int which, const float *g, size_t n,
                            double tol) {
    double *p0 = xmalloc(sizeof(double) * n), h = 1e-6, ana = 0, s = 0;
    signed char *u = xmalloc(n);
    memcpy(p0, p, sizeof(double) * n);
    for (size_t i = 0; i < n; i++) {
        u[i] = frand() < 0 ? -1 : 1;
        ana += (double)g[i] * u[i];
        s += fabs((double)g[i]);
    }
    for (size_t i = 0; i < n; i++) p[i] = p0[i] + h * u[i];
    double lp = f(ctx, which, ALL);
    for (size_t i = 0; i < n; i++) p[i] = p0[i] - h * u[i];
    double lm = f(ctx, which, ALL);
    memcpy(p, p0, sizeof(double) * n);
    double num = (lp - lm) / (2 * h), e = fabs(ana - num) / (s > 0 ? s : 1);  // s = 0: absolute
    printf("  %-34s direction over %zu  <g,u> %.6g  numeric %.6g  err/sum|g| %.2e\n", what, n, ana, num, e);
    CHECK(e <= tol, "%s: directional derivative %.9g vs numeric %.9g (rel %.2e)", what, ana, num, e);
    free(p0);
    free(u);
}

// Bit-identical results for 1, 2 and 3 threads: `run` recomputes everything
// into the buffers out[0..nout) from the same inputs each time.
typedef void (*RunFn)(void *ctx);
static void check_threads(const char *what, RunFn run, void *ctx, float **out, const size_t *len, int nout) {
    int saved = omp_get_max_threads();
    float *first[8];
    int same = 1;
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        run(ctx);
        for (int o = 0; o < nout; o++) {
            if (nt == 1) first[o] = copy_array(out[o], len[o]);
            else same &= memcmp(first[o], out[o], sizeof(float) * len[o]) == 0;
        }
    }
    omp_set_num_threads(saved);
    CHECK(same, "%s: results differ between 1, 2 and 3 threads", what);
    for (int o = 0; o < nout; o++) free(first[o]);
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

// ---------------------------------------------------------------------------
// matmul: out[M][N] = inp[M][K] · W[N][K]^T

typedef struct { int M, N, K; double *inp, *W, *r; } MatCtx;

static double mat_loss(void *vc, int which, size_t idx) {
    MatCtx *c = vc;
    // inp[m][k] reaches row m of out; W[n][k] reaches column n.
    int m0 = 0, m1 = c->M, n0 = 0, n1 = c->N;
    if (idx != ALL && which == 0) { m0 = (int)(idx / c->K); m1 = m0 + 1; }
    if (idx != ALL && which == 1) { n0 = (int)(idx / c->K); n1 = n0 + 1; }
    double L = 0;
    for (int m = m0; m < m1; m++)
        for (int n = n0; n < n1; n++) {
            double s = 0;
            for (int k = 0; k < c->K; k++) s += c->inp[(size_t)m * c->K + k] * c->W[(size_t)n * c->K + k];
            L += c->r[(size_t)m * c->N + n] * s;
        }
    return L;
}

typedef struct { float *dinp, *dW; const float *r, *x, *w; int M, N, K; } MatRun;
static void mat_run(void *vc) {
    MatRun *c = vc;
    memset(c->dinp, 0, sizeof(float) * c->M * c->K);
    memset(c->dW, 0, sizeof(float) * c->N * c->K);
    matmul_backward(c->dinp, c->dW, c->r, c->x, c->w, c->M, c->N, c->K);
}

static double t_last;
static void section(const char *name) {  // prints the time of the previous section
    double t = now_seconds();
    if (t_last > 0) printf("  (%.2f s)\n", t - t_last);
    if (name) printf("%s\n", name);
    t_last = t;
}

static void test_matmul(void) {
    section("matmul");
    const int M = 37, N = 29, K = 53;
    float *x = rand_array((size_t)M * K, 1), *w = rand_array((size_t)N * K, 1), *r = rand_array((size_t)M * N, 1);
    // Pre-filled gradients: the kernel must add to them.
    float *base_i = rand_array((size_t)M * K, 1), *base_w = rand_array((size_t)N * K, 1);
    float *dx = copy_array(base_i, (size_t)M * K), *dw = copy_array(base_w, (size_t)N * K);
    matmul_backward(dx, dw, r, x, w, M, N, K);
    float *gx = xmalloc(sizeof(float) * M * K), *gw = xmalloc(sizeof(float) * N * K);
    for (int i = 0; i < M * K; i++) gx[i] = dx[i] - base_i[i];
    for (int i = 0; i < N * K; i++) gw[i] = dw[i] - base_w[i];
    MatCtx c = {M, N, K, to_double(x, (size_t)M * K), to_double(w, (size_t)N * K), to_double(r, (size_t)M * N)};
    check_all("matmul dinp (+= onto random)", mat_loss, &c, c.inp, 0, gx, (size_t)M * K, 1e-5);
    check_all("matmul dW (+= onto random)", mat_loss, &c, c.W, 1, gw, (size_t)N * K, 1e-5);

    // Twice from zero = 2× once; NULL skips a product.
    float *d1 = xcalloc((size_t)N * K, 4), *d2 = xcalloc((size_t)N * K, 4), *di = xcalloc((size_t)M * K, 4);
    matmul_backward(NULL, d1, r, x, w, M, N, K);
    matmul_backward(NULL, d2, r, x, w, M, N, K);
    matmul_backward(NULL, d2, r, x, w, M, N, K);
    double e = 0;
    for (int i = 0; i < N * K; i++) e = fmax(e, fabs(d2[i] - 2.0 * d1[i]));
    CHECK(e <= 1e-6 * max_abs(d1, (size_t)N * K), "matmul dW twice vs 2x once: %.3g", e);
    matmul_backward(di, NULL, r, x, w, M, N, K);
    e = 0;
    for (int i = 0; i < M * K; i++) e = fmax(e, fabs(di[i] - gx[i]));
    CHECK(e <= 1e-5, "matmul dinp alone vs with dW: %.3g", e);

    // Determinism at a size where threaded OpenBLAS gives different bits for
    // 1 and 2 threads (dinp is a 100×1000×777 NN product).
    const int M2 = 100, N2 = 777, K2 = 1000;
    float *x2 = rand_array((size_t)M2 * K2, 1), *w2 = rand_array((size_t)N2 * K2, 1), *r2 = rand_array((size_t)M2 * N2, 1);
    MatRun mr = {xmalloc(4 * (size_t)M2 * K2), xmalloc(4 * (size_t)N2 * K2), r2, x2, w2, M2, N2, K2};
    float *outs[2] = {mr.dinp, mr.dW};
    size_t lens[2] = {(size_t)M2 * K2, (size_t)N2 * K2};
    check_threads("matmul_backward", mat_run, &mr, outs, lens, 2);

    free(x); free(w); free(r); free(base_i); free(base_w); free(dx); free(dw); free(gx); free(gw);
    free(c.inp); free(c.W); free(c.r); free(d1); free(d2); free(di);
    free(x2); free(w2); free(r2); free(mr.dinp); free(mr.dW);
}

// ---------------------------------------------------------------------------
// embedding: out[bt] = embed[tokens[bt]]

typedef struct { int BT, C; const int32_t *tok; double *embed, *r; } EmbCtx;

static double emb_loss(void *vc, int which, size_t idx) {
    EmbCtx *c = vc;
    double L = 0;
    for (int i = 0; i < c->BT; i++) {
        if (idx != ALL && (size_t)c->tok[i] != idx / (size_t)c->C) continue;
        for (int e = 0; e < c->C; e++) L += c->r[(size_t)i * c->C + e] * c->embed[(size_t)c->tok[i] * c->C + e];
    }
    return L;
}

typedef struct { float *d; const float *r; const int32_t *tok; int BT, C, V; } EmbRun;
static void emb_run(void *vc) {
    EmbRun *c = vc;
    memset(c->d, 0, sizeof(float) * c->V * c->C);
    embedding_backward(c->d, c->r, c->tok, c->BT, c->C);
}

static void test_embedding(void) {
    section("embedding");
    const int V = 20, BT = 50, C = 70;  // C crosses the 64-column blocks
    int32_t tok[50];
    for (int i = 0; i < BT; i++) tok[i] = i % 5 == 0 ? 7 : irand(V - 4);  // repeats; rows 16..19 unused
    float *emb = rand_array((size_t)V * C, 1), *r = rand_array((size_t)BT * C, 1);
    float *base = rand_array((size_t)V * C, 1), *d = copy_array(base, (size_t)V * C);
    embedding_backward(d, r, tok, BT, C);
    float *g = xmalloc(sizeof(float) * V * C);
    for (int i = 0; i < V * C; i++) g[i] = d[i] - base[i];
    EmbCtx c = {BT, C, tok, to_double(emb, (size_t)V * C), to_double(r, (size_t)BT * C)};
    check_all("embedding dembed (+= onto random)", emb_loss, &c, c.embed, 0, g, (size_t)V * C, 1e-5);
    int untouched = 1;
    for (int i = 16 * C; i < V * C; i++) untouched &= d[i] == base[i];
    CHECK(untouched, "embedding: rows of unused tokens changed");

    const int BT2 = 500, C2 = 200, V2 = 30;
    int32_t *tok2 = xmalloc(4 * BT2);
    for (int i = 0; i < BT2; i++) tok2[i] = irand(V2);
    float *r2 = rand_array((size_t)BT2 * C2, 1);
    EmbRun er = {xmalloc(4 * (size_t)V2 * C2), r2, tok2, BT2, C2, V2};
    size_t len = (size_t)V2 * C2;
    check_threads("embedding_backward", emb_run, &er, &er.d, &len, 1);

    free(emb); free(r); free(base); free(d); free(g); free(c.embed); free(c.r); free(tok2); free(r2); free(er.d);
}

// ---------------------------------------------------------------------------
// RMSNorm: out = x / sqrt(mean(x²) + eps) · w

typedef struct { int N, D; double eps, *x, *w, *r; } RmsCtx;

static double rms_loss(void *vc, int which, size_t idx) {
    RmsCtx *c = vc;
    int n0 = 0, n1 = c->N;
    if (idx != ALL && which == 0) { n0 = (int)(idx / c->D); n1 = n0 + 1; }  // x reaches its row only
    double L = 0;
    for (int n = n0; n < n1; n++) {
        const double *xr = c->x + (size_t)n * c->D;
        double ss = 0;
        for (int i = 0; i < c->D; i++) ss += xr[i] * xr[i];
        double rs = 1.0 / sqrt(ss / c->D + c->eps);
        for (int i = 0; i < c->D; i++) L += c->r[(size_t)n * c->D + i] * xr[i] * rs * c->w[i];
    }
    return L;
}

typedef struct { float *dx, *dw; const float *r, *x, *w, *rstd; int N, D; } RmsRun;
static void rms_run(void *vc) {
    RmsRun *c = vc;
    memset(c->dx, 0, sizeof(float) * c->N * c->D);
    memset(c->dw, 0, sizeof(float) * c->D);
    rmsnorm_backward(c->dx, c->dw, c->r, c->x, c->w, c->rstd, c->N, c->D);
}

static void test_rmsnorm_shape(int N, int D, float xscale) {
    char name[64];
    const float eps = 1e-6f;
    float *x = rand_array((size_t)N * D, xscale), *w = rand_array(D, 1), *r = rand_array((size_t)N * D, 1);
    float *y = xmalloc(sizeof(float) * N * D), *rstd = xmalloc(sizeof(float) * N);
    rmsnorm_forward(y, rstd, x, w, N, D, eps);
    float *base_x = rand_array((size_t)N * D, 1), *base_w = rand_array(D, 1);
    float *dx = copy_array(base_x, (size_t)N * D), *dw = copy_array(base_w, D);
    rmsnorm_backward(dx, dw, r, x, w, rstd, N, D);
    float *gx = xmalloc(sizeof(float) * N * D), *gw = xmalloc(sizeof(float) * D);
    for (int i = 0; i < N * D; i++) gx[i] = dx[i] - base_x[i];
    for (int i = 0; i < D; i++) gw[i] = dw[i] - base_w[i];
    RmsCtx c = {N, D, eps, to_double(x, (size_t)N * D), to_double(w, D), to_double(r, (size_t)N * D)};
    snprintf(name, sizeof name, "rmsnorm N%d D%d dx (+=)", N, D);
    check_all(name, rms_loss, &c, c.x, 0, gx, (size_t)N * D, 1e-5);
    snprintf(name, sizeof name, "rmsnorm N%d D%d dw (+=)", N, D);
    check_all(name, rms_loss, &c, c.w, 1, gw, D, 1e-5);

    // Twice = 2× once for dw (the blocks are summed in double, then added).
    float *w1 = xcalloc(D, 4), *w2 = xcalloc(D, 4);
    rmsnorm_backward(NULL, w1, r, x, w, rstd, N, D);
    rmsnorm_backward(NULL, w2, r, x, w, rstd, N, D);
    rmsnorm_backward(NULL, w2, r, x, w, rstd, N, D);
    double e = 0;
    for (int i = 0; i < D; i++) e = fmax(e, fabs(w2[i] - 2.0 * w1[i]));
    CHECK(e <= 1e-6 * max_abs(w1, D), "rmsnorm dw twice vs 2x once: %.3g", e);

    free(x); free(w); free(r); free(y); free(rstd); free(base_x); free(base_w); free(dx); free(dw); free(gx);
    free(gw); free(c.x); free(c.w); free(c.r); free(w1); free(w2);
}

static void test_rmsnorm(void) {
    section("rmsnorm");
    test_rmsnorm_shape(150, 96, 3);    // several 64-row blocks of the dw reduction, last one partial
    test_rmsnorm_shape(40, 128, 0.1f);  // head-norm width, small x (eps matters a little)

    const int N = 1000, D = 64;
    float *x = rand_array((size_t)N * D, 2), *w = rand_array(D, 1), *r = rand_array((size_t)N * D, 1);
    float *y = xmalloc(sizeof(float) * N * D), *rstd = xmalloc(sizeof(float) * N);
    rmsnorm_forward(y, rstd, x, w, N, D, 1e-6f);
    RmsRun rr = {xmalloc(4 * (size_t)N * D), xmalloc(4 * D), r, x, w, rstd, N, D};
    float *outs[2] = {rr.dx, rr.dw};
    size_t lens[2] = {(size_t)N * D, D};
    check_threads("rmsnorm_backward", rms_run, &rr, outs, lens, 2);
    free(x); free(w); free(r); free(y); free(rstd); free(rr.dx); free(rr.dw);
}

// ---------------------------------------------------------------------------
// RoPE, HF rotate_half: pairs (i, i + HD/2) rotated by t·theta^(-2i/HD)

typedef struct { int B, T, H, HD; double theta, *x, *r; } RopeCtx;

static double rope_loss(void *vc, int which, size_t idx) {
    RopeCtx *c = vc;
    const int half = c->HD / 2;
    size_t v0 = 0, v1 = (size_t)c->B * c->T * c->H;  // (b, t, h) vectors
    if (idx != ALL) { v0 = idx / c->HD; v1 = v0 + 1; }
    double L = 0;
    for (size_t vi = v0; vi < v1; vi++) {
        int t = (int)(vi / c->H % c->T);
        const double *x = c->x + vi * c->HD, *r = c->r + vi * c->HD;
        for (int i = 0; i < half; i++) {
            double a = t * pow(c->theta, -2.0 * i / c->HD);
            L += r[i] * (x[i] * cos(a) - x[i + half] * sin(a));
            L += r[i + half] * (x[i + half] * cos(a) + x[i] * sin(a));
        }
    }
    return L;
}

static void test_rope(void) {
    section("rope");
    const int B = 2, T = 23, H = 3, HD = 128;
    const double theta = 1e6;
    const size_t n = (size_t)B * T * H * HD;
    float *x = rand_array(n, 1), *r = rand_array(n, 1), *g = copy_array(r, n);
    float *ct = xmalloc(sizeof(float) * T * HD / 2), *st = xmalloc(sizeof(float) * T * HD / 2);
    rope_tables(ct, st, T, HD, theta);
    rope_backward(g, ct, st, B, T, H, HD);  // in place: dout -> dx
    RopeCtx c = {B, T, H, HD, theta, to_double(x, n), to_double(r, n)};
    check_all("rope dx (in place)", rope_loss, &c, c.x, 0, g, n, 1e-5);
    // Forward then backward is the identity (a rotation and its transpose).
    float *y = copy_array(x, n);
    rope_forward(y, ct, st, B, T, H, HD);
    rope_backward(y, ct, st, B, T, H, HD);
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(y[i] - x[i]));
    CHECK(e < 1e-6, "rope backward(forward(x)) != x: %.3g", e);
    free(x); free(r); free(g); free(ct); free(st); free(c.x); free(c.r); free(y);
}

// ---------------------------------------------------------------------------
// Attention: causal GQA, q[B][T][NH][HD], k, v[B][T][NKV][HD]

typedef struct { int B, T, NH, NKV, HD; double *q, *k, *v, *r, *s; } AttCtx;

// Σ_e r[b,i,h,e]·out[b,i,h,e] with out the softmax-weighted sum of v rows.
static double att_row_loss(AttCtx *c, int b, int i, int h) {
    const int HD = c->HD, kh = h / (c->NH / c->NKV);
    const double *qi = c->q + (((size_t)b * c->T + i) * c->NH + h) * HD;
    const double *ri = c->r + (((size_t)b * c->T + i) * c->NH + h) * HD;
    double mx = -1e300, sum = 0, L = 0;
    for (int j = 0; j <= i; j++) {
        const double *kj = c->k + (((size_t)b * c->T + j) * c->NKV + kh) * HD;
        double d = 0;
        for (int e = 0; e < HD; e++) d += qi[e] * kj[e];
        c->s[j] = d / sqrt((double)HD);
        mx = fmax(mx, c->s[j]);
    }
    for (int j = 0; j <= i; j++) {
        const double *vj = c->v + (((size_t)b * c->T + j) * c->NKV + kh) * HD;
        double w = exp(c->s[j] - mx), rv = 0;
        for (int e = 0; e < HD; e++) rv += ri[e] * vj[e];
        sum += w;
        L += w * rv;
    }
    return L / sum;
}

static double att_loss(void *vc, int which, size_t idx) {
    AttCtx *c = vc;
    const int group = c->NH / c->NKV;
    double L = 0;
    if (idx == ALL) {
        for (int b = 0; b < c->B; b++)
            for (int i = 0; i < c->T; i++)
                for (int h = 0; h < c->NH; h++) L += att_row_loss(c, b, i, h);
    } else if (which == 0) {  // q[b,i,h,:] reaches output row (b,i,h) only
        size_t row = idx / c->HD;
        int h = (int)(row % c->NH), i = (int)(row / c->NH % c->T), b = (int)(row / c->NH / c->T);
        L = att_row_loss(c, b, i, h);
    } else {  // k/v[b,j,g,:] reach rows i >= j of the query heads of group g
        size_t row = idx / c->HD;
        int g = (int)(row % c->NKV), j = (int)(row / c->NKV % c->T), b = (int)(row / c->NKV / c->T);
        for (int i = j; i < c->T; i++)
            for (int h = g * group; h < (g + 1) * group; h++) L += att_row_loss(c, b, i, h);
    }
    return L;
}

// Sampled coordinates of a [B][T][H][HD] tensor: the rows around the tile
// boundaries (0, 63/64/65, 127/128/129, T-1) and a few random ones.
static size_t att_coords(size_t *idx, int B, int T, int H, int HD, int nrand) {
    int ts[16], nt = 0;
    const int special[] = {0, 1, 63, 64, 65, 127, 128, 129, T - 2, T - 1};
    for (size_t s = 0; s < sizeof special / sizeof special[0]; s++)
        if (special[s] >= 0 && special[s] < T) ts[nt++] = special[s];
    for (int s = 0; s < nrand; s++) ts[nt++] = irand(T);
    for (int s = 0; s < nt; s++) {
        int b = irand(B), h = irand(H), e = irand(HD);
        idx[s] = (((size_t)b * T + ts[s]) * H + h) * HD + e;
    }
    return (size_t)nt;
}

typedef struct { float *dq, *dk, *dv; const float *r, *q, *k, *v, *out, *lse; int B, T, NH, NKV, HD; } AttRun;
static void att_run(void *vc) {
    AttRun *c = vc;
    attention_backward(c->dq, c->dk, c->dv, c->r, c->q, c->k, c->v, c->out, c->lse, c->B, c->T, c->NH, c->NKV,
                       c->HD);
}

static void test_attention_shape(int B, int T, int NH, int NKV, int HD, float qk_scale, int threads_too) {
    char name[96], tag[48];
    snprintf(tag, sizeof tag, "B%d T%d NH%d NKV%d HD%d", B, T, NH, NKV, HD);
    const size_t nq = (size_t)B * T * NH * HD, nk = (size_t)B * T * NKV * HD;
    float *q = rand_array(nq, qk_scale), *k = rand_array(nk, qk_scale), *v = rand_array(nk, 1);
    float *r = rand_array(nq, 1), *out = xmalloc(sizeof(float) * nq), *lse = xmalloc(sizeof(float) * B * NH * T);
    attention_forward(out, lse, q, k, v, B, T, NH, NKV, HD);
    float *dq = nan_array(nq), *dk = nan_array(nk), *dv = nan_array(nk);  // "=": every element written
    attention_backward(dq, dk, dv, r, q, k, v, out, lse, B, T, NH, NKV, HD);

    AttCtx c = {B, T, NH, NKV, HD, to_double(q, nq), to_double(k, nk), to_double(v, nk), to_double(r, nq),
                xmalloc(sizeof(double) * T)};
    const double tol = 5e-5, tol_dir = 1e-6;
    if (nq <= 64) {  // tiny: every coordinate
        snprintf(name, sizeof name, "attention %s dq", tag);
        check_all(name, att_loss, &c, c.q, 0, dq, nq, tol);
        snprintf(name, sizeof name, "attention %s dk", tag);
        check_all(name, att_loss, &c, c.k, 1, dk, nk, tol);
        snprintf(name, sizeof name, "attention %s dv", tag);
        check_all(name, att_loss, &c, c.v, 2, dv, nk, tol);
    } else {
        size_t idx[32], n;
        n = att_coords(idx, B, T, NH, HD, 6);
        snprintf(name, sizeof name, "attention %s dq", tag);
        check_coords(name, att_loss, &c, c.q, 0, dq, idx, n, tol);
        n = att_coords(idx, B, T, NKV, HD, 2);
        snprintf(name, sizeof name, "attention %s dk", tag);
        check_coords(name, att_loss, &c, c.k, 1, dk, idx, n, tol);
        n = att_coords(idx, B, T, NKV, HD, 2);
        snprintf(name, sizeof name, "attention %s dv", tag);
        check_coords(name, att_loss, &c, c.v, 2, dv, idx, n, tol);
        snprintf(name, sizeof name, "attention %s dq", tag);
        check_direction(name, att_loss, &c, c.q, 0, dq, nq, tol_dir);
        snprintf(name, sizeof name, "attention %s dk", tag);
        check_direction(name, att_loss, &c, c.k, 1, dk, nk, tol_dir);
        snprintf(name, sizeof name, "attention %s dv", tag);
        check_direction(name, att_loss, &c, c.v, 2, dv, nk, tol_dir);
    }
    if (threads_too) {
        AttRun ar = {dq, dk, dv, r, q, k, v, out, lse, B, T, NH, NKV, HD};
        float *outs[3] = {dq, dk, dv};
        size_t lens[3] = {nq, nk, nk};
        snprintf(name, sizeof name, "attention_backward %s", tag);
        check_threads(name, att_run, &ar, outs, lens, 3);
    }
    free(q); free(k); free(v); free(r); free(out); free(lse); free(dq); free(dk); free(dv);
    free(c.q); free(c.k); free(c.v); free(c.r); free(c.s);
}

static void test_attention(void) {
    section("attention");
    test_attention_shape(1, 1, 2, 1, 8, 1, 0);      // a single token: dq = dk = 0, dv = dO summed
    test_attention_shape(2, 150, 4, 2, 32, 1, 1);   // GQA, 3 tiles (last partial), B > 1
    test_attention_shape(1, 70, 4, 1, 128, 2, 0);   // multi-query, Qwen3 head_dim, peaky softmax
    test_attention_shape(1, 129, 2, 2, 64, 1, 0);   // T = 2 tiles + 1
}

// ---------------------------------------------------------------------------
// SwiGLU: h = silu(gate)·up

typedef struct { double *g, *u, *r; size_t n; } SwiCtx;

static double swi_loss(void *vc, int which, size_t idx) {
    SwiCtx *c = vc;
    size_t i0 = idx == ALL ? 0 : idx, i1 = idx == ALL ? c->n : idx + 1;
    double L = 0;
    for (size_t i = i0; i < i1; i++) L += c->r[i] * c->g[i] / (1 + exp(-c->g[i])) * c->u[i];
    return L;
}

static void test_swiglu(void) {
    section("swiglu");
    const size_t n = 1000;
    float *g = rand_array(n, 8), *u = rand_array(n, 2), *r = rand_array(n, 1);
    g[0] = -100; g[1] = 100; g[2] = -89; g[3] = 0;  // saturated σ, exp overflow, zero
    float *dg = nan_array(n), *du = nan_array(n);
    swiglu_backward(dg, du, r, g, u, n);
    SwiCtx c = {to_double(g, n), to_double(u, n), to_double(r, n), n};
    check_all("swiglu dgate (=)", swi_loss, &c, c.g, 0, dg, n, 1e-5);
    check_all("swiglu dup (=)", swi_loss, &c, c.u, 1, du, n, 1e-5);
    // In place over the saved activations gives the same bits.
    float *g2 = copy_array(g, n), *u2 = copy_array(u, n);
    swiglu_backward(g2, u2, r, g2, u2, n);
    CHECK(memcmp(g2, dg, 4 * n) == 0 && memcmp(u2, du, 4 * n) == 0, "swiglu in place differs");
    free(g); free(u); free(r); free(dg); free(du); free(c.g); free(c.u); free(c.r); free(g2); free(u2);
}

// ---------------------------------------------------------------------------
// LM head + cross-entropy: L = (1/count) Σ_r [logsumexp(x_r·Wh^T) − x_r·Wh_t]

typedef struct {
    int BT, C, V;
    const int32_t *tg;
    double *x, *W, *W0, inv_count;
    double *m, *S;  // per row: max logit and Σ exp(logit − max) of the unperturbed reference
    double *logits; // scratch, V
} LmCtx;

static double dotd(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double lm_row_loss(LmCtx *c, int r, double *m_out, double *S_out) {
    const double *x = c->x + (size_t)r * c->C;
    double mx = -1e300, sum = 0;
    for (int j = 0; j < c->V; j++) {
        c->logits[j] = dotd(x, c->W + (size_t)j * c->C, c->C);
        mx = fmax(mx, c->logits[j]);
    }
    for (int j = 0; j < c->V; j++) sum += exp(c->logits[j] - mx);
    if (m_out) { *m_out = mx; *S_out = sum; }
    return mx + log(sum) - c->logits[c->tg[r]];
}

static double lm_loss(void *vc, int which, size_t idx) {
    LmCtx *c = vc;
    double L = 0;
    if (which == 0) {  // x[r][:] reaches row r's loss only: recompute its V logits
        int r = (int)(idx / c->C);
        return c->tg[r] < 0 ? 0.0 : lm_row_loss(c, r, NULL, NULL) * c->inv_count;
    }
    // Wh[v][:] changes logit v of every row: swap that one term of each row's
    // cached Σ exp (an exact rearrangement of the same double sum).
    int v = (int)(idx / c->C);
    for (int r = 0; r < c->BT; r++) {
        if (c->tg[r] < 0) continue;
        const double *x = c->x + (size_t)r * c->C;
        double l_old = dotd(x, c->W0 + (size_t)v * c->C, c->C), l_new = dotd(x, c->W + (size_t)v * c->C, c->C);
        double S = c->S[r] - exp(l_old - c->m[r]) + exp(l_new - c->m[r]);
        double lt = c->tg[r] == v ? l_new : dotd(x, c->W + (size_t)c->tg[r] * c->C, c->C);
        L += c->m[r] + log(S) - lt;
    }
    return L * c->inv_count;
}

typedef struct { float *dx, *dW, *losses; const float *x, *w; const int32_t *tg; int BT, C, V; float dloss; double total; } LmRun;
static void lm_run(void *vc) {
    LmRun *c = vc;
    memset(c->dW, 0, sizeof(float) * c->V * c->C);
    c->total = lm_head_loss_backward(c->dx, c->dW, c->losses, c->x, &(WTensor){.type = GGML_TYPE_F32, .data = c->w, .rows = c->V, .cols = c->C}, c->tg, c->BT, c->dloss, TEST_HEAD_ROWS, NULL, NULL, NULL);
}

static void test_lm_head(void) {
    section("lm head");
    // 4M / 70001 = 59 rows per chunk: chunks of 59, 59, 12 rows.
    const int BT = 130, C = 16, V = 70001;
    float *x = rand_array((size_t)BT * C, 1), *w = rand_array((size_t)V * C, 1);
    int32_t *tg = xmalloc(sizeof(int32_t) * BT);
    for (int i = 0; i < BT; i++) tg[i] = i % 7 == 3 ? -1 : (int32_t)((unsigned)(i * 7919) % (unsigned)V);
    tg[5] = tg[6] = tg[60] = 4242;  // a token that is the target of rows in two chunks
    size_t count_ref = 0;
    for (int i = 0; i < BT; i++) count_ref += tg[i] >= 0;
    const float dloss = 1.0f / (float)count_ref;

    float *dx = nan_array((size_t)BT * C), *dW = xcalloc((size_t)V * C, sizeof(float));
    float *losses = xmalloc(sizeof(float) * BT), *losses_fwd = xmalloc(sizeof(float) * BT);
    size_t count = 0, count_fwd = 0;
    double total = lm_head_loss_backward(dx, dW, losses, x, &(WTensor){.type = GGML_TYPE_F32, .data = w, .rows = V, .cols = C}, tg, BT, dloss, TEST_HEAD_ROWS, NULL, NULL, &count);
    const WTensor wt = wt_f32(w, V, C);
    double total_fwd = lm_head_loss_forward(losses_fwd, NULL, x, &wt, tg, BT, C, V, TEST_HEAD_ROWS, &count_fwd);

    LmCtx c = {BT, C, V, tg, to_double(x, (size_t)BT * C), to_double(w, (size_t)V * C), NULL, 1.0 / (double)count_ref,
               xmalloc(sizeof(double) * BT), xmalloc(sizeof(double) * BT), xmalloc(sizeof(double) * V)};
    c.W0 = to_double(w, (size_t)V * C);
    double total_ref = 0, lerr = 0;
    for (int r = 0; r < BT; r++) {
        if (tg[r] < 0) continue;
        double l = lm_row_loss(&c, r, &c.m[r], &c.S[r]);
        total_ref += l;
        lerr = fmax(lerr, fabs(l - losses[r]));
    }
    printf("  losses: max err %.2e, total %.9g vs reference %.9g\n", lerr, total, total_ref);
    CHECK(count == count_ref, "lm head count %zu vs %zu", count, count_ref);
    CHECK(lerr < 1e-4 && fabs(total - total_ref) < 1e-3, "lm head losses %.3g, total %.9g vs %.9g", lerr, total,
          total_ref);
    double ef = 0;
    for (int r = 0; r < BT; r++) ef = fmax(ef, fabs(losses[r] - losses_fwd[r]));
    printf("  losses vs lm_head_loss_forward: max diff %.2e (%s)\n", ef,
           memcmp(losses, losses_fwd, sizeof(float) * BT) ? "not bit-equal" : "bit-equal");
    CHECK(ef <= 1e-5 && count_fwd == count && fabs(total - total_fwd) <= 1e-6 * fabs(total_fwd),
          "lm head vs lm_head_loss_forward: losses %.3g, total %.17g vs %.17g", ef, total, total_fwd);
    int zero_rows = 1;
    for (int r = 0; r < BT; r++)
        for (int e = 0; e < C; e++) zero_rows &= tg[r] >= 0 || (dx[(size_t)r * C + e] == 0.0f && losses[r] == 0.0f);
    CHECK(zero_rows, "lm head: rows with target -1 have a gradient or a loss");

    // dx: rows at the chunk edges (58/59, 117/118), the last, an ignored one.
    const int rows[] = {0, 5, 58, 59, 60, 117, 118, 129, 3, 77};
    size_t idx[256], n = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) idx[n++] = (size_t)rows[i] * C + irand(C);
    check_coords("lm head dx (=)", lm_loss, &c, c.x, 0, dx, idx, n, 1e-5);
    // dWh: every column of the shared target 4242 and of a few other targets,
    // and random vocabulary rows (softmax tail only).
    n = 0;
    for (int e = 0; e < C; e++) idx[n++] = (size_t)4242 * C + e;
    for (int s = 0; s < 40; s++) idx[n++] = (size_t)tg[irand(BT) / 7 * 7] * C + irand(C);  // i%7 == 0: counted
    for (int s = 0; s < 40; s++) idx[n++] = (size_t)irand(V) * C + irand(C);
    idx[n++] = (size_t)(V - 1) * C + C - 1;
    check_coords("lm head dWh (+=)", lm_loss, &c, c.W, 1, dW, idx, n, 1e-5);

    // Accumulation: a second call adds the same again.
    float *dW1 = copy_array(dW, (size_t)V * C);
    lm_head_loss_backward(NULL, dW, NULL, x, &(WTensor){.type = GGML_TYPE_F32, .data = w, .rows = V, .cols = C}, tg, BT, dloss, TEST_HEAD_ROWS, NULL, NULL, NULL);
    double e = 0;
    for (size_t i = 0; i < (size_t)V * C; i++) e = fmax(e, fabs(dW[i] - 2.0 * dW1[i]));
    CHECK(e <= 1e-6 * max_abs(dW1, (size_t)V * C), "lm head dWh twice vs 2x once: %.3g", e);

    // Another chunking (many chunks, not dividing BT) gives the same gradients
    // up to rounding (the dWh sums are grouped differently).
    float *dx7 = nan_array((size_t)BT * C), *dW7 = xcalloc((size_t)V * C, sizeof(float));
    double total7 = lm_head_loss_backward(dx7, dW7, NULL, x, &(WTensor){.type = GGML_TYPE_F32, .data = w, .rows = V, .cols = C}, tg, BT, dloss, 7, NULL, NULL, NULL);
    double ex = 0, ew = 0;
    for (size_t i = 0; i < (size_t)BT * C; i++) ex = fmax(ex, fabs(dx7[i] - dx[i]));
    for (size_t i = 0; i < (size_t)V * C; i++) ew = fmax(ew, fabs(dW7[i] - dW1[i]));
    CHECK(ex <= 1e-6 * max_abs(dx, (size_t)BT * C) && ew <= 1e-6 * max_abs(dW1, (size_t)V * C) &&
              fabs(total7 - total) < 1e-6 * total,
          "lm head chunk 7 vs default: dx %.3g dWh %.3g total %.9g vs %.9g", ex, ew, total7, total);

    LmRun lr = {dx, dW, losses, x, w, tg, BT, C, V, dloss, 0};
    float *outs[3] = {dx, dW, losses};
    size_t lens[3] = {(size_t)BT * C, (size_t)V * C, BT};
    check_threads("lm_head_loss_backward", lm_run, &lr, outs, lens, 3);

    free(x); free(w); free(tg); free(dx); free(dW); free(losses); free(losses_fwd); free(c.x); free(c.W);
    free(c.W0); free(c.m); free(c.S); free(c.logits); free(dW1); free(dx7); free(dW7);
}

// ---------------------------------------------------------------------------
// LM head with distillation: L = (1/count) Σ_r [α·CE_r + (1 − α)·τ²·D_r],
// D = (1 − β)·KL(p_t ‖ p_s) + β·KL(p_s ‖ p_t), p = softmax(logits/τ); the
// teacher's logits xt·Wt^T are inputs, not perturbed.

typedef struct {
    int BT, C, V, Ct;
    const int32_t *tg;
    double *x, *W, *tl;  // tl: the teacher's logits (BT, V), in double
    double alpha, tau, beta, inv_count;
    double *z;           // scratch, V
} DiCtx;

static double di_row(DiCtx *c, int r, double *kl_out) {
    const double *x = c->x + (size_t)r * c->C, *t = c->tl + (size_t)r * c->V;
    double mx = -1e300, mt = -1e300, s1 = 0, ss = 0, st = 0;
    for (int j = 0; j < c->V; j++) {
        c->z[j] = dotd(x, c->W + (size_t)j * c->C, c->C);
        mx = fmax(mx, c->z[j]);
        mt = fmax(mt, t[j]);
    }
    for (int j = 0; j < c->V; j++) {
        s1 += exp(c->z[j] - mx);
        ss += exp((c->z[j] - mx) / c->tau);
        st += exp((t[j] - mt) / c->tau);
    }
    double kl = 0, rkl = 0;
    for (int j = 0; j < c->V; j++) {
        double lpt = (t[j] - mt) / c->tau - log(st), lps = (c->z[j] - mx) / c->tau - log(ss);
        kl += exp(lpt) * (lpt - lps);
        rkl += exp(lps) * (lps - lpt);
    }
    kl = (1 - c->beta) * kl + c->beta * rkl;
    if (kl_out) *kl_out = kl;
    double ce = mx + log(s1) - c->z[c->tg[r]];
    return c->alpha * ce + (1 - c->alpha) * c->tau * c->tau * kl;
}

static double di_loss(void *vc, int which, size_t idx) {
    DiCtx *c = vc;
    if (which == 0 && idx != ALL) {  // x[r][:] reaches row r only
        int r = (int)(idx / c->C);
        return c->tg[r] < 0 ? 0.0 : di_row(c, r, NULL) * c->inv_count;
    }
    double L = 0;
    for (int r = 0; r < c->BT; r++)
        if (c->tg[r] >= 0) L += di_row(c, r, NULL);
    return L * c->inv_count;
}

typedef struct { float *dx, *dW; const float *x, *w; const int32_t *tg; int BT, C, V; float dloss; const HeadTeacher *t; } DiRun;
static void di_run(void *vc) {
    DiRun *c = vc;
    memset(c->dW, 0, sizeof(float) * c->V * c->C);
    lm_head_loss_backward(c->dx, c->dW, NULL, c->x, &(WTensor){.type = GGML_TYPE_F32, .data = c->w, .rows = c->V, .cols = c->C}, c->tg, c->BT, c->dloss, 7, c->t, NULL, NULL);
}

static void test_distill_case(float alpha, float tau, float beta) {
    // Chunks of 7 rows (6 of them, the last short); the teacher is narrower.
    const int BT = 40, C = 16, Ct = 12, V = 3001;
    float *x = rand_array((size_t)BT * C, 1), *w = rand_array((size_t)V * C, 1);
    float *xt = rand_array((size_t)BT * Ct, 1), *wt = rand_array((size_t)V * Ct, 1);
    int32_t *tg = xmalloc(sizeof(int32_t) * BT);
    size_t count_ref = 0;
    for (int i = 0; i < BT; i++) {
        tg[i] = i % 9 == 4 ? -1 : irand(V);
        count_ref += tg[i] >= 0;
    }
    const float dloss = 1.0f / (float)count_ref;
    const WTensor wtt = wt_f32(wt, V, Ct);
    const HeadTeacher ht = {xt, &wtt, alpha, tau, beta};
    float *dx = nan_array((size_t)BT * C), *dW = xcalloc((size_t)V * C, sizeof(float)), *losses = nan_array(BT);
    HeadLossSums sums;
    size_t count = 0;
    double total = lm_head_loss_backward(dx, dW, losses, x, &(WTensor){.type = GGML_TYPE_F32, .data = w, .rows = V, .cols = C}, tg, BT, dloss, 7, &ht, &sums, &count);

    DiCtx c = {BT, C, V, Ct, tg, to_double(x, (size_t)BT * C), to_double(w, (size_t)V * C),
               xmalloc(sizeof(double) * BT * V), alpha, tau, beta, 1.0 / (double)count_ref, xmalloc(sizeof(double) * V)};
    for (int r = 0; r < BT; r++)
        for (int j = 0; j < V; j++) {
            double s = 0;
            for (int e = 0; e < Ct; e++) s += (double)xt[(size_t)r * Ct + e] * wt[(size_t)j * Ct + e];
            c.tl[(size_t)r * V + j] = s;
        }
    double total_ref = 0, kl_ref = 0, lerr = 0;
    for (int r = 0; r < BT; r++) {
        if (tg[r] < 0) { lerr = fmax(lerr, fabs(losses[r])); continue; }
        double kl, l = di_row(&c, r, &kl);
        total_ref += l;
        kl_ref += kl;
        lerr = fmax(lerr, fabs(l - losses[r]));
    }
    char what[64];
    printf("  alpha %.2g tau %.2g beta %.2g: losses max err %.2e, total %.9g vs %.9g, KL %.9g vs %.9g\n", alpha, tau,
           beta, lerr, total, total_ref, sums.kl, kl_ref);
    CHECK(count == count_ref, "distill count %zu vs %zu", count, count_ref);
    CHECK(lerr < 1e-4 && fabs(total - total_ref) < 1e-4 * fmax(1, total_ref) &&
              fabs(sums.kl - kl_ref) < 1e-4 * fmax(1, kl_ref),
          "distill losses %.3g, total %.9g vs %.9g, kl %.9g vs %.9g", lerr, total, total_ref, sums.kl, kl_ref);
    snprintf(what, sizeof what, "distill a%.2g t%.2g b%.2g dx (=)", alpha, tau, beta);
    check_all(what, di_loss, &c, c.x, 0, dx, (size_t)BT * C, 1e-5);
    // dWh: the targets' rows (including one hit by two rows) and random rows.
    size_t idx[200], n = 0;
    for (int s2 = 0; s2 < 60; s2++) idx[n++] = (size_t)(tg[s2 % BT] < 0 ? 0 : tg[s2 % BT]) * C + irand(C);
    for (int s2 = 0; s2 < 60; s2++) idx[n++] = (size_t)irand(V) * C + irand(C);
    snprintf(what, sizeof what, "distill a%.2g t%.2g b%.2g dWh (+=)", alpha, tau, beta);
    check_coords(what, di_loss, &c, c.W, 1, dW, idx, n, 1e-5);

    DiRun dr = {dx, dW, x, w, tg, BT, C, V, dloss, &ht};
    float *outs[2] = {dx, dW};
    size_t lens[2] = {(size_t)BT * C, (size_t)V * C};
    check_threads("lm_head_loss_backward (distill)", di_run, &dr, outs, lens, 2);
    free(x); free(w); free(xt); free(wt); free(tg); free(dx); free(dW); free(losses);
    free(c.x); free(c.W); free(c.tl); free(c.z);
}

static void test_distill(void) {
    section("lm head + distillation");
    test_distill_case(0.0f, 1.0f, 0.0f);  // KL only
    test_distill_case(0.3f, 2.0f, 0.0f);
    test_distill_case(0.7f, 0.5f, 0.0f);
    test_distill_case(0.0f, 1.0f, 1.0f);  // the reverse KL only
    test_distill_case(0.2f, 1.0f, 0.5f);
    test_distill_case(0.4f, 0.7f, 0.3f);
}

int main(void) {
    double t0 = now_seconds();
    test_matmul();
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_swiglu();
    test_lm_head();
    test_distill();
    section(NULL);
    printf("test_gradcheck: %.2f s\n", now_seconds() - t0);
    return test_finish("test_gradcheck");
}
