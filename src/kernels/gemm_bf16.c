// gemm_bf16.c — see gemm_bf16.h.
#include "kernels/gemm_bf16.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/gemm.h"

// One primitive per tile shape and layout, created on first use and kept:
// creating a oneDNN primitive costs far more than running a small one.
typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, accumulate;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md;
} Prim;

#define MAX_PRIMS 4096
static Prim prims[MAX_PRIMS];
static int n_prims;
static pthread_mutex_t prims_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;

static int dnnl_ok(dnnl_status_t s) { return s == dnnl_success; }

// Strides of a logically rows×cols operand stored row-major with leading
// dimension ld, transposed (stored cols×rows) or not.
static void op_md(dnnl_memory_desc_t *md, int rows, int cols, int ld, int trans, dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols}, strides = {trans ? 1 : ld, trans ? ld : 1};
    dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

// The primitive for one tile shape, or NULL when oneDNN cannot make it.
// Created with the OpenMP thread count set to 1, so that oneDNN plans the
// product for one thread (no split of K, whose partial sums would make the
// result depend on the threads); it then runs inside our parallel loop.
static Prim *prim_get(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc, int accumulate) {
    pthread_mutex_lock(&prims_lock);
    Prim *p = NULL;
    for (int i = 0; i < n_prims && !p; i++) {
        Prim *q = &prims[i];
        if (q->ta == ta && q->tb == tb && q->m == m && q->n == n && q->k == k && q->lda == lda && q->ldb == ldb &&
            q->ldc == ldc && q->accumulate == accumulate)
            p = q;
    }
    if (!p && n_prims < MAX_PRIMS && (engine || dnnl_ok(dnnl_engine_create(&engine, dnnl_cpu, 0)))) {
        Prim q = {ta, tb, m, n, k, lda, ldb, ldc, accumulate, NULL, {0}, {0}, {0}};
        op_md(&q.a_md, m, k, lda, ta, dnnl_bf16);
        op_md(&q.b_md, k, n, ldb, tb, dnnl_bf16);
        op_md(&q.c_md, m, n, ldc, 0, dnnl_f32);
        dnnl_matmul_desc_t desc;
        dnnl_primitive_attr_t attr = NULL;
        dnnl_post_ops_t ops = NULL;
        dnnl_primitive_desc_t pd = NULL;
        const int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        int ok = dnnl_ok(dnnl_matmul_desc_init(&desc, &q.a_md, &q.b_md, NULL, &q.c_md)) &&
                 dnnl_ok(dnnl_primitive_attr_create(&attr));
        if (ok && accumulate)
            ok = dnnl_ok(dnnl_post_ops_create(&ops)) && dnnl_ok(dnnl_post_ops_append_sum(ops, 1.0f)) &&
                 dnnl_ok(dnnl_primitive_attr_set_post_ops(attr, ops));
        ok = ok && dnnl_ok(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL)) &&
             dnnl_ok(dnnl_primitive_create(&q.prim, pd));
        omp_set_num_threads(threads);
        if (pd) dnnl_primitive_desc_destroy(pd);
        if (ops) dnnl_post_ops_destroy(ops);
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (ok) {
            prims[n_prims] = q;
            p = &prims[n_prims++];
        }
    }
    pthread_mutex_unlock(&prims_lock);
    return p;
}

// A oneDNN stream per OS thread (a stream serialises what runs on it), so
// that products run from several threads at once (several OpenMP teams, a
// server's threads) never share one. Each is also kept in a global list, so
// that the streams of threads OpenMP retires stay reachable.
#define MAX_STREAMS 4096
static dnnl_stream_t streams[MAX_STREAMS];
static int n_streams;
static _Thread_local dnnl_stream_t my_stream;

static dnnl_stream_t thread_stream(void) {
    if (my_stream) return my_stream;
    pthread_mutex_lock(&prims_lock);
    if (n_streams == MAX_STREAMS) die("oneDNN: more than %d threads", MAX_STREAMS);
    if (!dnnl_ok(dnnl_stream_create(&my_stream, engine, dnnl_stream_default_flags)))
        die("oneDNN: cannot create a stream");
    streams[n_streams++] = my_stream;
    pthread_mutex_unlock(&prims_lock);
    return my_stream;
}

static void prim_run(const Prim *p, const uint16_t *a, const uint16_t *b, float *c) {
    dnnl_stream_t stream = thread_stream();
    dnnl_memory_t ma, mb, mc;
    if (!dnnl_ok(dnnl_memory_create(&ma, &p->a_md, engine, (void *)a)) ||
        !dnnl_ok(dnnl_memory_create(&mb, &p->b_md, engine, (void *)b)) ||
        !dnnl_ok(dnnl_memory_create(&mc, &p->c_md, engine, c)))
        die("oneDNN: cannot wrap the operands of a matmul");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    if (!dnnl_ok(dnnl_primitive_execute(p->prim, stream, 3, args))) die("oneDNN: a bf16 matmul failed");
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
}

int gemm_bf16_check(char *err) {
    const uint16_t a[4] = {0x3f80, 0x4000, 0x4040, 0x4080};  // 1 2 / 3 4
    float c[4] = {0};
    if (!prim_get(0, 0, 2, 2, 2, 2, 2, 2, 0)) {
        // Without AVX512_BF16 this is expected; with it, oneDNN is at fault.
        if (__builtin_cpu_supports("avx512bf16"))
            return set_err(err, "--precision bf16: oneDNN (libdnnl) cannot run a bf16 matrix product although "
                           "this CPU has AVX512_BF16");
        set_err(err, "--precision bf16: this CPU has no bf16 matrix product oneDNN can run (it needs "
                "AVX512_BF16); use --precision fp32");
        return GEMM_BF16_UNSUPPORTED;
    }
    gemm_bf16_det(0, 0, 2, 2, 2, a, 2, a, 2, 0.0f, c, 2);
    if (c[0] != 7 || c[1] != 10 || c[2] != 15 || c[3] != 22)
        return set_err(err, "--precision bf16: oneDNN's bf16 product is wrong on this machine ([%g %g; %g %g] "
                       "for [7 10; 15 22])", c[0], c[1], c[2], c[3]);
    return 0;
}

void gemm_bf16_det(int transA, int transB, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                   int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const int accumulate = beta != 0.0f;
    int tm, tn;
    sgemm_det_tiles(M, N, &tm, &tn);
    const int mt = (M + tm - 1) / tm, nt = (N + tn - 1) / tn;
    if (K <= 0) {  // an empty sum: C = beta·C
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    // At most four tile shapes (r, s: the last row / column of tiles, whose
    // tiles may be smaller), made before the parallel loop.
    const Prim *shape[2][2] = {{NULL, NULL}, {NULL, NULL}};
    for (int r = mt == 1; r < 2; r++)
        for (int s = nt == 1; s < 2; s++) {
            const int m = r ? M - (mt - 1) * tm : tm, n = s ? N - (nt - 1) * tn : tn;
            if (!(shape[r][s] = prim_get(transA, transB, m, n, K, lda, ldb, ldc, accumulate)))
                die("oneDNN: cannot create a %dx%dx%d bf16 matmul (run gemm_bf16_check first)", m, n, K);
        }
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < mt * nt; t++) {
        const int ti = t / nt, tj = t % nt, i0 = ti * tm, j0 = tj * tn;
        const uint16_t *a = transA ? A + i0 : A + (size_t)i0 * lda;
        const uint16_t *b = transB ? B + (size_t)j0 * ldb : B + j0;
        prim_run(shape[ti == mt - 1][tj == nt - 1], a, b, C + (size_t)i0 * ldc + j0);
    }
}

void bf16_round(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

void gemm_bf16_ref(int transA, int transB, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                   int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                const uint16_t a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                const uint16_t b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)bf16_to_f32(a) * (double)bf16_to_f32(b);
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(s + (beta != 0.0f ? (double)*c : 0.0));
        }
}
