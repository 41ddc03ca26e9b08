// qmatmul.c — see qmatmul.h: the choice of kernel set, the activation
// quantization, and the split of the rows over threads.
#include "kernels/qmatmul.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/cpu/qact.h"
#include "kernels/cpu/qkernels.h"
#include "quant/ggml_types.h"

// Rows per parallel work item. Every output is computed whole inside one
// item, so the split changes nothing but the speed: GEMV items are long
// enough to stream the weights in order, GEMM items are a few tiles; both
// are whole groups of the ternary run layout (qpack.h).
#define GEMV_CHUNK 64
#define GEMM_CHUNK 32

static const QIsa *const all_isas[] = {&qisa_avx512, &qisa_avx2, &qisa_ref};  // best first

static int cpu_runs(const QIsa *k) {
    __builtin_cpu_init();
    // F16C is not asked for (clang cannot): every CPU with AVX2 has it, and
    // x86-64-v3 includes it.
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &qisa_avx2) return avx2;
    if (k == &qisa_avx512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
    return 1;
}

static const QIsa *isa_named(const char *name) {
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
        if (!strcmp(all_isas[i]->name, name)) return all_isas[i];
    return NULL;
}

static const QIsa *isa_best(void) {
    for (size_t i = 0;; i++)
        if (cpu_runs(all_isas[i])) return all_isas[i];
}

static _Atomic(const QIsa *) current;

// Chosen on first use. Two threads may both choose; they store the same.
static const QIsa *isa(void) {
    const QIsa *k = atomic_load(&current);
    if (k) return k;
    const char *env = getenv("TRIT_QKERNELS");
    k = env ? isa_named(env) : NULL;
    if (!k || !cpu_runs(k)) k = isa_best();
    atomic_store(&current, k);
    return k;
}

int qkernels_force(const char *name) {
    const QIsa *k = strcmp(name, "auto") ? isa_named(name) : isa_best();
    if (!k || !cpu_runs(k)) return -1;
    atomic_store(&current, k);
    return 0;
}

const char *qkernels_name(void) { return isa()->name; }

static const QTypeKernels *type_kernels(const QIsa *k, uint32_t type) {
    if (qpack_type_ok(type)) return &k->ternary;
    return type == GGML_TYPE_Q8_0 ? &k->q8_0 : NULL;
}

int qmatmul_supported(uint32_t type) {
    return type == GGML_TYPE_F16 || type == GGML_TYPE_F32 || type_kernels(&qisa_ref, type) != NULL;
}

// F16 and F32: no activation quantization, the same split of rows.
static void qmatmul_float(const QFloatKernels *f, float *out, const float *inp, const void *W, int rows, int cols, int n) {
    const int chunk = n == 1 ? GEMV_CHUNK : GEMM_CHUNK, nchunks = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nchunks; c++) {
        int r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        if (n == 1) f->gemv(out, inp, cols, W, r0, r1);
        else f->gemm(out, rows, inp, n, cols, W, r0, r1);
    }
}

int qmatmul_shape_ok(uint32_t type, int cols) {
    if (type == GGML_TYPE_F16 || type == GGML_TYPE_F32) return cols > 0 && cols % 8 == 0;
    return qmatmul_supported(type) && cols > 0 && cols % QA_BLOCK == 0 && cols % ggml_type_find(type)->block_size == 0;
}

void qmatmul(float *out, const float *inp, const void *W, uint32_t type, int rows, int cols, int n) {
    if (!qmatmul_shape_ok(type, cols) || rows < 0 || n < 1)
        die("qmatmul: unsupported weight type %u or shape %d x %d (n %d)", type, rows, cols, n);
    const QIsa *k = isa();
    const QTypeKernels *t = type_kernels(k, type);
    if (!t) {
        qmatmul_float(type == GGML_TYPE_F16 ? &k->f16 : &k->f32, out, inp, W, rows, cols, n);
        return;
    }
    const QMat m = {.w = W, .scales = qpack_type_ok(type) ? qpack_scales(W, rows, cols) : NULL, .rows = rows,
                    .cols = cols, .qk = ggml_type_find(type)->block_size};
    QAct a;
    qact_quantize(&a, inp, n, cols, n == 1 ? 1 : k->gemm_lanes);
    const int chunk = n == 1 ? GEMV_CHUNK : GEMM_CHUNK, nchunks = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nchunks; c++) {
        int r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        if (n == 1) t->gemv(out, &a, &m, r0, r1);
        else t->gemm(out, rows, &a, &m, r0, r1);
    }
    qact_free(&a);
}
