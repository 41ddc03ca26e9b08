// qmatmul.c — see qmatmul.h: the choice of kernel set, the activation
// quantization, and the split of the rows over threads.
#include "kernels/qmatmul.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
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

static int is_float(uint32_t type) {
    return type == GGML_TYPE_F16 || type == GGML_TYPE_BF16 || type == GGML_TYPE_F32;
}

static const QFloatKernels *float_kernels(const QIsa *k, uint32_t type) {
    return type == GGML_TYPE_F16 ? &k->f16 : type == GGML_TYPE_BF16 ? &k->bf16 : &k->f32;
}

static const QTypeKernels *type_kernels(const QIsa *k, uint32_t type) {
    if (qpack_type_ok(type)) return &k->ternary;
    return type == GGML_TYPE_Q8_0 ? &k->q8_0 : NULL;
}

int qmatmul_supported(uint32_t type) {
    return is_float(type) || type_kernels(&qisa_ref, type) != NULL;
}

int qmatmul_shape_ok(uint32_t type, int cols) {
    if (is_float(type)) return cols > 0 && cols % 8 == 0;
    return qmatmul_supported(type) && cols > 0 && cols % QA_BLOCK == 0 && cols % ggml_type_find(type)->block_size == 0;
}

// Chunk c of the concatenated rows of count matrices: matrix *i, rows [r0, r1).
static void chunk_at(int c, int count, const int *first, const int *rows, int chunk, int *i, int *r0, int *r1) {
    int k = 0;
    while (k + 1 < count && c >= first[k + 1]) k++;
    *i = k;
    *r0 = (c - first[k]) * chunk;
    *r1 = *r0 + chunk < rows[k] ? *r0 + chunk : rows[k];
}

// One qmatmul_multi call's work, shared with the pool's threads.
typedef struct {
    int count, chunk, n, cols;
    const int *first, *rows;
    float *const *out;
    const void *const *W;
    const QMat *m;
    const QAct *a;
    const QTypeKernels *t;
    const QFloatKernels *f;
    const float *inp;
} QJob;

static void qjob_chunk(void *ctx, int c, int thread) {
    const QJob *j = ctx;
    int i, r0, r1;
    chunk_at(c, j->count, j->first, j->rows, j->chunk, &i, &r0, &r1);
    if (j->t && j->n == 1) j->t->gemv(j->out[i], j->a, &j->m[i], r0, r1);
    else if (j->t) j->t->gemm(j->out[i], j->rows[i], j->a, &j->m[i], r0, r1);
    else if (j->n == 1) j->f->gemv(j->out[i], j->inp, j->cols, j->W[i], r0, r1);
    else j->f->gemm(j->out[i], j->rows[i], j->inp, j->n, j->cols, j->W[i], r0, r1);
}

void qmatmul_multi(int count, float *const out[], const void *const W[], const int rows[], uint32_t type,
                   const float *inp, int cols, int n) {
    if (count < 1 || count > QMATMUL_MAX_MULTI || !qmatmul_shape_ok(type, cols) || n < 1)
        die("qmatmul: unsupported weight type %u or shape: %d matrices of %d columns (n %d)", type, count, cols, n);
    const QIsa *k = isa();
    const QTypeKernels *t = type_kernels(k, type);
    const int chunk = n == 1 ? GEMV_CHUNK : GEMM_CHUNK;
    int first[QMATMUL_MAX_MULTI], nchunks = 0;
    QMat m[QMATMUL_MAX_MULTI];
    for (int i = 0; i < count; i++) {
        if (rows[i] < 0) die("qmatmul: %d rows", rows[i]);
        first[i] = nchunks;
        nchunks += (rows[i] + chunk - 1) / chunk;
        m[i] = (QMat){.w = W[i], .scales = qpack_type_ok(type) ? qpack_scales(W[i], rows[i], cols) : NULL,
                      .rows = rows[i], .cols = cols, .qk = ggml_type_find(type)->block_size};
    }
    // The packed types' activations are quantized once for every matrix;
    // BF16 rounds them to bf16 (qkernels.h); F16 and F32 read them as they are.
    QAct a = {0};
    float *rounded = NULL;
    if (t) qact_quantize(&a, inp, n, cols, n == 1 ? 1 : k->gemm_lanes);
    if (type == GGML_TYPE_BF16) {
        rounded = xmalloc(sizeof(float) * (size_t)n * cols);
        bf16_round_f32(rounded, inp, (size_t)n * cols);
        inp = rounded;
    }
    QJob j = {.count = count, .chunk = chunk, .n = n, .cols = cols, .first = first, .rows = rows, .out = out,
              .W = W, .m = m, .a = &a, .t = t, .f = float_kernels(k, type), .inp = inp};
    // A decode step's one row runs on base/pool (a step is ~150 short
    // products; pool.h says why not OpenMP there). More rows (prefill,
    // eval, verification, batches) are long enough for OpenMP, which the
    // norms and attention between them use too: a process that alternated
    // between the two pools ran at half speed (each one's idle threads spin
    // on the cores the other needs).
    if (n == 1) {
        pool_run(nchunks, qjob_chunk, &j);
    } else {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < nchunks; c++) qjob_chunk(&j, c, 0);
    }
    if (t) qact_free(&a);
    free(rounded);
}

void qmatmul(float *out, const float *inp, const void *W, uint32_t type, int rows, int cols, int n) {
    qmatmul_multi(1, &out, &W, &rows, type, inp, cols, n);
}
