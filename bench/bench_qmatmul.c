// bench_qmatmul.c — packed-weight matrix products (kernels/qmatmul.h) against
// fp32 OpenBLAS measured in the same run, on the Qwen3-0.6B shapes.
//
// usage: bench_qmatmul [reps] [layers]
//   decode (GEMV, n = 1): every matrix of `layers` layers (default 28, the
//     model's: ~100 MB packed, far past the 32 MB L3) and the tied LM head
//     151936 x 1024, each packed matrix read once per pass: GB/s of weight
//     bytes. Baseline: cblas_sgemv over fp32 copies of 4 layers (240 MB).
//     Q8_0 and F16, the formats of embeddings / LM heads, decode the LM head
//     only.
//   prefill (GEMM, n = 512): one layer's 7 matrices: Gop/s (2 n rows cols per
//     product). Baseline: cblas_sgemm, same shapes.
// Per type (TQ2_0, TQ1_0, Q2_0, Q8_0, F16) and kernel path (avx2, avx512
// where the CPU has it; the reference C path is too slow to time and only
// tested), with 2 threads and, for decode, 1. Best of `reps` passes.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "kernels/cpu/qpack.h"
#include "kernels/qmatmul.h"
#include "quant/ggml_types.h"

// (rows, cols) of one layer: q, k, v, o, gate, up, down.
static const int LAYER[7][2] = {{2048, 1024}, {1024, 1024}, {1024, 1024}, {1024, 2048},
                                {3072, 1024}, {3072, 1024}, {1024, 3072}};
#define VOCAB 151936
#define HIDDEN 1024
#define PREFILL 512

typedef struct {
    int rows, cols;
    void *w;
} Mat;

// Random blocks with finite fp16 scales (the kernels' speed does not depend
// on the values); F16 all 0.0625. The ternary types in their run layout.
static void *random_packed(const GgmlType *t, int rows, int cols, uint64_t *rng) {
    size_t nb = (size_t)rows * cols / t->block_size, bytes = nb * t->type_size;
    uint8_t *w = xmalloc_aligned(bytes);
    for (size_t i = 0; i < bytes; i += 8) {
        uint64_t r = splitmix64(rng);
        memcpy(w + i, &r, bytes - i < 8 ? bytes - i : 8);
    }
    size_t doff = t->id == GGML_TYPE_TQ1_0 || t->id == GGML_TYPE_TQ2_0 ? (size_t)t->type_size - 2 : 0;
    for (size_t k = 0; k < nb; k++) {
        w[k * t->type_size + doff] = 0x00;
        w[k * t->type_size + doff + 1] = 0x2c;  // fp16 0.0625
    }
    if (!qpack_type_ok(t->id)) return w;
    void *p = xmalloc_aligned(qpack_bytes(t->id, rows, cols));
    qpack(t->id, w, rows, cols, p);
    free(w);
    return p;
}

// The int8 compute bound: independent chains of the instructions the GEMM
// kernels multiply with, no loads, on every thread: AVX-512 VNNI's
// vpdpbusd on 512-bit registers (64 multiply-adds each), or AVX2's
// vpmaddubsw + vpaddw (32 each). Gop/s, 2 per multiply-add.
#define PEAK_ITERS 20000000L
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double peak_avx512(void) {
    double t = now_seconds();
#pragma omp parallel
    {
        __m512i acc[12], a = _mm512_set1_epi8(1), b = _mm512_set1_epi8((char)omp_get_thread_num());
        for (int k = 0; k < 12; k++) acc[k] = _mm512_setzero_si512();
        for (long i = 0; i < PEAK_ITERS / 12; i++)
            for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
        int sink = 0;
        for (int k = 0; k < 12; k++) sink += _mm512_reduce_add_epi32(acc[k]);
        if (sink == 1) printf(" ");
    }
    return 2.0 * 64 * (PEAK_ITERS / 12 * 12) * omp_get_max_threads() / (now_seconds() - t) / 1e9;
}
__attribute__((target("avx2"))) static double peak_avx2(void) {
    double t = now_seconds();
#pragma omp parallel
    {
        __m256i acc[12], a = _mm256_set1_epi8(1), b = _mm256_set1_epi8((char)omp_get_thread_num());
        for (int k = 0; k < 12; k++) acc[k] = _mm256_setzero_si256();
        for (long i = 0; i < PEAK_ITERS / 12; i++)
            for (int k = 0; k < 12; k++) acc[k] = _mm256_add_epi16(acc[k], _mm256_maddubs_epi16(a, b));
        int sink = 0;
        for (int k = 0; k < 12; k++) sink += _mm256_extract_epi16(acc[k], 0);
        if (sink == 1) printf(" ");
    }
    return 2.0 * 32 * (PEAK_ITERS / 12 * 12) * omp_get_max_threads() / (now_seconds() - t) / 1e9;
}

static double best_of(int reps, double (*run)(void *), void *ctx) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = run(ctx);
        best = t < best ? t : best;
    }
    return best;
}

typedef struct {
    const GgmlType *t;
    Mat *m;
    int nm, n;
    float *x, *y;
} Run;

static double run_packed(void *p) {
    Run *r = p;
    double t0 = now_seconds();
    for (int i = 0; i < r->nm; i++) qmatmul(r->y, r->x, r->m[i].w, r->t->id, r->m[i].rows, r->m[i].cols, r->n);
    return now_seconds() - t0;
}

static double run_sgemv(void *p) {
    Run *r = p;
    double t0 = now_seconds();
    for (int i = 0; i < r->nm; i++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, r->m[i].rows, r->m[i].cols, 1.0f, r->m[i].w, r->m[i].cols, r->x, 1,
                    0.0f, r->y, 1);
    return now_seconds() - t0;
}

static double run_sgemm(void *p) {
    Run *r = p;
    double t0 = now_seconds();
    for (int i = 0; i < r->nm; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r->n, r->m[i].rows, r->m[i].cols, 1.0f, r->x,
                    r->m[i].cols, r->m[i].w, r->m[i].cols, 0.0f, r->y, r->m[i].rows);
    return now_seconds() - t0;
}

static double bytes_of(const GgmlType *t, const Mat *m, int nm) {
    double b = 0;
    for (int i = 0; i < nm; i++)
        b += qpack_type_ok(t->id) ? (double)qpack_bytes(t->id, m[i].rows, m[i].cols)
                                  : (double)m[i].rows * m[i].cols / t->block_size * t->type_size;
    return b;
}

static double ops_of(const Mat *m, int nm, int n) {
    double o = 0;
    for (int i = 0; i < nm; i++) o += 2.0 * n * m[i].rows * m[i].cols;
    return o;
}

// The matrices of `layers` layers (+ the LM head when head is set).
static Mat *layers_of(int layers, int head, int *nm) {
    *nm = 7 * layers + head;
    Mat *m = xcalloc((size_t)*nm, sizeof *m);
    for (int l = 0; l < layers; l++)
        for (int k = 0; k < 7; k++) m[7 * l + k] = (Mat){LAYER[k][0], LAYER[k][1], NULL};
    if (head) m[*nm - 1] = (Mat){VOCAB, HIDDEN, NULL};
    return m;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 3, layers = argc > 2 ? atoi(argv[2]) : 28;
    uint64_t rng = 1;
    float *x = xmalloc_aligned(sizeof(float) * PREFILL * 3072), *y = xmalloc_aligned(sizeof(float) * PREFILL * VOCAB);
    for (int i = 0; i < PREFILL * 3072; i++) x[i] = (float)((splitmix64(&rng) >> 40) / 16777216.0) - 0.5f;
    printf("threads %d; decode: %d layers + LM head, prefill: 1 layer, n = %d; best of %d\n", omp_get_max_threads(),
           layers, PREFILL, reps);

    // fp32 baselines.
    int nf;
    Mat *f = layers_of(4, 0, &nf);
    for (int i = 0; i < nf; i++) {
        size_t k = (size_t)f[i].rows * f[i].cols;
        float *w = xmalloc_aligned(sizeof(float) * k);
        for (size_t j = 0; j < k; j++) w[j] = 0.01f * (float)(j % 7);
        f[i].w = w;
    }
    Run fr = {NULL, f, nf, 1, x, y};
    double fbytes = 0;
    for (int i = 0; i < nf; i++) fbytes += 4.0 * f[i].rows * f[i].cols;
    double t = best_of(reps, run_sgemv, &fr);
    printf("%-6s %-7s decode %6.1f GB/s (%.2f ms for %.0f MB)\n", "F32", "sgemv", fbytes / t / 1e9, t * 1e3, fbytes / 1e6);
    fr.nm = 7;
    fr.n = PREFILL;
    t = best_of(reps, run_sgemm, &fr);
    printf("%-6s %-7s prefill %6.1f Gop/s (%.1f ms)\n", "F32", "sgemm", ops_of(f, 7, PREFILL) / t / 1e9, t * 1e3);
    for (int i = 0; i < nf; i++) free(f[i].w);
    free(f);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        printf("int8 peak (vpdpbusd zmm, no loads): %.1f Gop/s\n", peak_avx512());
    printf("int8 peak (vpmaddubsw + vpaddw ymm, no loads): %.1f Gop/s\n", peak_avx2());

    static const uint32_t types[] = {GGML_TYPE_TQ2_0, GGML_TYPE_TQ1_0, GGML_TYPE_Q2_0, GGML_TYPE_Q8_0, GGML_TYPE_F16};
    static const char *const paths[] = {"avx512", "avx2"};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const GgmlType *gt = ggml_type_find(types[ti]);
        const int head_only = gt->id == GGML_TYPE_Q8_0 || gt->id == GGML_TYPE_F16;
        int nm;
        // The decode set, then (the head-only types) one layer for prefill.
        Mat *m = layers_of(head_only ? 1 : layers, 1, &nm);
        for (int i = 0; i < nm; i++) m[i].w = random_packed(gt, m[i].rows, m[i].cols, &rng);
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            if (qkernels_force(paths[p])) continue;
            Run r = {gt, head_only ? m + 7 : m, head_only ? 1 : nm, 1, x, y};
            double b = bytes_of(gt, r.m, r.nm);
            double t2 = best_of(reps, run_packed, &r);
            omp_set_num_threads(1);
            double t1 = best_of(reps, run_packed, &r);
            omp_set_num_threads(2);
            r.m = m;
            r.nm = 7;
            r.n = PREFILL;
            double tg = best_of(reps, run_packed, &r);
            printf("%-6s %-7s decode %6.1f GB/s (%.2f ms for %.0f MB; 1 thread %.1f GB/s)  prefill %6.1f Gop/s (%.1f ms)\n",
                   gt->name, paths[p], b / t2 / 1e9, t2 * 1e3, b / 1e6, b / t1 / 1e9, ops_of(m, 7, PREFILL) / tg / 1e9,
                   tg * 1e3);
        }
        for (int i = 0; i < nm; i++) free(m[i].w);
        free(m);
    }
    qkernels_force("auto");
    free(x);
    free(y);
    return 0;
}
