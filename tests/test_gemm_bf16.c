// test_gemm_bf16.c — oneDNN's bf16 products (gemm_bf16.h) against the plain
// reference, in every transpose layout, across tile edges, accumulating or
// not, bit-identical for 1, 2 and 3 threads, and from two threads at once
// (each with its own oneDNN stream).
//
// Tolerance: products of bf16 values are exact in fp32, so the only error
// is the fp32 summation's, bounded by (K + 1)·2^-24·Σ_k |a_k·b_k| (+ the
// final add of C); the reference sums in double.
#include <omp.h>
#include <pthread.h>

#include "base/hash.h"
#include "base/util.h"
#include "kernels/gemm_bf16.h"
#include "test.h"

static uint64_t rng = 12345;

static uint16_t *rand_bf16(size_t n) {
    uint16_t *p = xmalloc(sizeof(uint16_t) * n);
    for (size_t i = 0; i < n; i++) {
        const float u = (float)((splitmix64(&rng) >> 40) & 0xffffff) / 16777216.0f;
        p[i] = f32_to_bf16(2.0f * u - 1.0f);
    }
    return p;
}

static double abs_dot(int ta, int tb, int i, int j, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb) {
    double s = 0;
    for (int k = 0; k < K; k++) {
        const uint16_t a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
        const uint16_t b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        s += fabs((double)bf16_to_f32(a) * (double)bf16_to_f32(b));
    }
    return s;
}

static void check_case(int ta, int tb, int M, int N, int K, int accumulate) {
    // Leading dimensions wider than the operands, as in a tile of a larger matrix.
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
    uint16_t *A = rand_bf16((size_t)(ta ? K : M) * lda), *B = rand_bf16((size_t)(tb ? N : K) * ldb);
    float *C0 = xmalloc(sizeof(float) * (size_t)M * ldc), *C = xmalloc(sizeof(float) * (size_t)M * ldc);
    float *R = xmalloc(sizeof(float) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = (float)(i % 17) * 0.25f - 2.0f;
    memcpy(R, C0, sizeof(float) * (size_t)M * ldc);
    gemm_bf16_ref(ta, tb, M, N, K, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, R, ldc);
    double worst = 0;
    float *first = NULL;
    int same = 1;
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
        gemm_bf16_det(ta, tb, M, N, K, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
        if (!first) {
            first = xmalloc(sizeof(float) * (size_t)M * ldc);
            memcpy(first, C, sizeof(float) * (size_t)M * ldc);
        } else {
            same &= !memcmp(first, C, sizeof(float) * (size_t)M * ldc);
        }
    }
    omp_set_num_threads(2);
    int untouched = 1;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            const size_t at = (size_t)i * ldc + j;
            const double bound = (K + 1) * 0x1p-24 * (abs_dot(ta, tb, i, j, K, A, lda, B, ldb) +
                                                      (accumulate ? fabs(C0[at]) : 0)) + 1e-30;
            worst = fmax(worst, fabs((double)first[at] - R[at]) / bound);
        }
        for (int j = N; j < ldc; j++) untouched &= first[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
    }
    CHECK(worst <= 1.0, "%s%s %dx%dx%d%s: worst error %.3g of the fp32 summation bound", ta ? "T" : "N",
          tb ? "T" : "N", M, N, K, accumulate ? " (+=)" : "", worst);
    CHECK(same, "%s%s %dx%dx%d: results differ between 1, 2 and 3 threads", ta ? "T" : "N", tb ? "T" : "N", M, N, K);
    CHECK(untouched, "%dx%d: a column past N was written", M, N);
    free(A); free(B); free(C0); free(C); free(R); free(first);
}

// Products run from two threads at once (two callers, as a server's would
// be) give what each gives alone.
typedef struct {
    const uint16_t *A, *B;
    float *C;
} Job;

static void *run_job(void *arg) {
    const Job *j = arg;
    for (int r = 0; r < 20; r++) gemm_bf16_det(0, 1, 96, 600, 64, j->A, 64, j->B, 64, 0.0f, j->C, 600);
    return NULL;
}

static void check_two_callers(void) {
    uint16_t *A[2] = {rand_bf16(96 * 64), rand_bf16(96 * 64)}, *B = rand_bf16(600 * 64);
    float *alone[2], *both[2];
    Job jobs[2];
    for (int i = 0; i < 2; i++) {
        alone[i] = xmalloc(sizeof(float) * 96 * 600);
        both[i] = xmalloc(sizeof(float) * 96 * 600);
        gemm_bf16_det(0, 1, 96, 600, 64, A[i], 64, B, 64, 0.0f, alone[i], 600);
        jobs[i] = (Job){A[i], B, both[i]};
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, run_job, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(!memcmp(alone[i], both[i], sizeof(float) * 96 * 600), "caller %d: products from two threads at once differ", i);
        free(A[i]);
        free(alone[i]);
        free(both[i]);
    }
    free(B);
}

int main(void) {
    char err[ERR_LEN];
    const int rc = gemm_bf16_check(err);
    if (rc == GEMM_BF16_UNSUPPORTED) {
        fprintf(stderr, "SKIP test_gemm_bf16: %s\n", err);
    } else if (rc) {
        CHECK(0, "%s", err);
    } else {
        // The layouts of training: forward NT (x·Wᵀ), dX NN, dW TN; NN and TT too.
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_case(ta, tb, 7, 5, 3, 0);
                check_case(ta, tb, 130, 70, 64, 1);
            }
        // Several tiles with ragged edges (tiles of 512, halved to 16 of them).
        check_case(0, 1, 600, 700, 96, 0);
        check_case(0, 0, 600, 260, 300, 1);
        check_case(1, 0, 300, 1030, 77, 1);
        // A sum longer than one oneDNN K block.
        check_case(0, 1, 33, 40, 2500, 0);
        check_two_callers();
        // Rounding: ties go to even, NaN stays NaN.
        const float in[5] = {1.00390625f /* 1 + 2^-8: a tie, down */, 1.01171875f /* 1 + 3·2^-8: up */, -0.0f,
                             INFINITY, NAN};
        uint16_t out[5];
        bf16_round(out, in, 5);
        CHECK(out[0] == 0x3f80 && out[1] == 0x3f82 && out[2] == 0x8000 && out[3] == 0x7f80 && (out[4] & 0x7f) != 0,
              "bf16_round: %04x %04x %04x %04x %04x", out[0], out[1], out[2], out[3], out[4]);
    }
    printf("test_gemm_bf16: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
