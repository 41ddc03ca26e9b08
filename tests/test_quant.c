// test_quant.c — packed ternary weights and the kernels that multiply them.
//
//  - Q2_0 dequantization on hand-made blocks (gguf-py has no Q2_0; TQ1_0 and
//    TQ2_0 are checked against gguf-py in test_gguf.c).
//  - ternary_pack: random exactly-ternary rows of each type come back from
//    to_float bit for bit (zeros of either sign as +0.0), all-zero blocks;
//    refusals (a non-ternary value, a scale not exact in fp16, NaN, infinity,
//    bad type or length) name the first bad block.
//  - the activation quantization: scales, round half to even, clamping,
//    zero and non-finite blocks, the interleaved layout.
//  - qpack, the ternary run layout: every byte against the layout's
//    definition written out from the dequantized GGUF rows, rows read back
//    (qpack_row_to_float) equal to_float's bit for bit, padding rows.
//  - qmatmul's reference path against an independent computation from the
//    packed ternary values (bit for bit), and against the fp32 product of the
//    dequantized weights (within the int8 activation error); Q8_0, F16, BF16
//    and F32 against their defined sequences written out from the raw blocks.
//  - every SIMD path this CPU runs against the reference, bit for bit, for
//    all seven weight types, on random raw blocks (the ternary ones packed by qpack) (codes 3, every TQ1_0 byte
//    value, Q8_0's -128, zero and negative scales) and odd shapes: rows not a multiple of any tile, n = 1..9 and
//    a few larger, the shortest and longer rows; one row of an n-row product
//    equals the 1-row product; 1 thread equals 2 threads.
//  - TRIT_QKERNELS chooses the path; an unknown name falls back to the best.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "kernels/cpu/qact.h"
#include "kernels/cpu/qpack.h"
#include "kernels/qmatmul.h"
#include "quant/ggml_types.h"
#include "quant/tpack.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) { return (uint32_t)(splitmix64(&rng) % n); }
static float uniform(void) { return (float)((splitmix64(&rng) >> 40) / 16777216.0) * 2.0f - 1.0f; }  // [-1, 1)

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int same_bits(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (f2u(a[i]) != f2u(b[i])) {
            fprintf(stderr, "  %s: first difference at %zu: %.9g (%08x) vs %.9g (%08x)\n", what, i, a[i], f2u(a[i]), b[i],
                    f2u(b[i]));
            return 0;
        }
    return 1;
}

static const uint32_t TYPES[] = {GGML_TYPE_Q2_0, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0};
#define NTYPES 3

// ---------------------------------------------------------------------------
// Q2_0 dequantization

static void test_q2_0_dequant(void) {
    uint8_t b[2 * sizeof(GgmlBlockQ2_0)];
    float want[128], got[128];
    const float d[2] = {0.375f, -2.0f};
    const uint16_t h[2] = {0x3600, 0xc000};  // fp16 0.375, -2.0
    for (int k = 0; k < 2; k++) {
        uint8_t *blk = b + k * sizeof(GgmlBlockQ2_0);
        blk[0] = (uint8_t)h[k];
        blk[1] = (uint8_t)(h[k] >> 8);
        memset(blk + 2, 0, 16);
        for (int j = 0; j < 64; j++) {
            int code = (j * 7 + k) % 4;  // every code, 3 (= +2d) included
            blk[2 + j / 4] |= (uint8_t)(code << (2 * (j % 4)));
            want[64 * k + j] = (float)(code - 1) * d[k];
        }
    }
    ggml_type_find(GGML_TYPE_Q2_0)->to_float(b, got, 128);
    CHECK(same_bits(got, want, 128, "Q2_0"), "Q2_0: scale first, weight j in bits 2(j%%4) of byte j/4, (code-1)*d");
}

// ---------------------------------------------------------------------------
// ternary_pack

// A random fp16-exact positive scale (normal or subnormal, up to 65504).
static float f16_scale(void) {
    uint16_t h;
    do h = (uint16_t)rnd(0x7c00); while (h == 0);
    return f16_to_f32(h);
}

// q[n]: per block of bs values, 0 or ±s with s = the block's max (at least
// one ±s per block unless zero_block is set).
static void ternary_row(float *q, int64_t n, int bs, int zero_block) {
    for (int64_t b = 0; b < n / bs; b++) {
        float s = f16_scale();
        for (int i = 0; i < bs; i++) {
            int t = (int)rnd(3) - 1;
            q[b * bs + i] = b == zero_block ? 0.0f : (float)t * s;
        }
        if (b != zero_block) q[b * bs + rnd(bs)] = rnd(2) ? s : -s;
    }
}

static void test_pack(void) {
    for (int ti = 0; ti < NTYPES; ti++) {
        const GgmlType *t = ggml_type_find(TYPES[ti]);
        const int bs = t->block_size;
        const int64_t n = 6 * bs;
        float *q = xmalloc(sizeof(float) * n), *back = xmalloc(sizeof(float) * n);
        uint8_t *pk = xmalloc((size_t)(n / bs) * t->type_size + 1);
        int64_t bad = 99;
        for (int rep = 0; rep < 20; rep++) {
            ternary_row(q, n, bs, rep % 7);
            CHECK(ternary_pack(t->id, q, n, pk + 1, &bad) == 0, "%s: a ternary row packs", t->name);
            t->to_float(pk + 1, back, n);
            CHECK(same_bits(back, q, n, t->name), "%s: pack then to_float is the identity (rep %d)", t->name, rep);
        }
        // All-zero row, with a negative zero: d = 0, and +0.0 comes back.
        memset(q, 0, sizeof(float) * n);
        q[3] = -0.0f;
        CHECK(ternary_pack(t->id, q, n, pk, &bad) == 0, "%s: zeros pack", t->name);
        t->to_float(pk, back, n);
        int zeros = 1;
        for (int64_t i = 0; i < n; i++) zeros &= f2u(back[i]) == 0;
        CHECK(zeros, "%s: an all-zero block comes back as +0.0", t->name);
        // A negative zero among ±s is a zero.
        ternary_row(q, n, bs, -1);
        for (int64_t i = 0; i < n; i++)
            if (q[i] == 0.0f) q[i] = -0.0f;
        CHECK(ternary_pack(t->id, q, n, pk, &bad) == 0, "%s: -0.0 packs as 0", t->name);
        t->to_float(pk, back, n);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= q[i] == 0.0f ? f2u(back[i]) == 0 : f2u(back[i]) == f2u(q[i]);
        CHECK(ok, "%s: -0.0 comes back as +0.0, the rest bit for bit", t->name);

        // Refusals, each in block 4 of a good row.
        struct { const char *what; float v; int scale; } cases[] = {
            {"a value that is not 0 or ±s", 0.5f, 0},
            {"a NaN", NAN, 0},
            {"an infinity", INFINITY, 1},
            {"a scale that fp16 cannot hold", 1.0f + 0x1p-20f, 1},
            {"a scale above fp16's range", 131072.0f, 1},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            ternary_row(q, n, bs, -1);
            float *blk = q + 4 * bs;
            if (cases[c].scale) {  // the block becomes {0, ±v}
                for (int i = 0; i < bs; i++) blk[i] = blk[i] > 0 ? cases[c].v : blk[i] < 0 ? -cases[c].v : 0.0f;
                blk[5] = cases[c].v;
            } else {
                blk[7] = cases[c].v * fabsf(blk[1] != 0 ? blk[1] : blk[2] != 0 ? blk[2] : 1.0f);
            }
            bad = 99;
            CHECK(ternary_pack(t->id, q, n, pk, &bad) == -1 && bad == 4, "%s: %s refused at block 4 (got %lld)",
                  t->name, cases[c].what, (long long)bad);
        }
        ternary_row(q, n, bs, -1);
        CHECK(ternary_pack(t->id, q, n - 1, pk, &bad) == -1 && bad == -1, "%s: n not a multiple of %d", t->name, bs);
        free(q);
        free(back);
        free(pk);
    }
    float z[256] = {0};
    int64_t bad = 0;
    uint8_t out[256];
    CHECK(ternary_pack(GGML_TYPE_Q8_0, z, 256, out, &bad) == -1 && bad == -1, "Q8_0 is no ternary type");
}

// ---------------------------------------------------------------------------
// Activation quantization

static void test_qact(void) {
    const int cols = 192, n = 11;
    float *x = xmalloc(sizeof(float) * n * cols);
    for (int i = 0; i < n * cols; i++) x[i] = uniform() * (float)(1 + i % 5);
    // Row 0, block 0: max 127, so d = 1 and the ties round to even.
    static const float ties[] = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f, -127.0f};
    static const int8_t tie_q[] = {127, 2, 4, -2, 0, 0, 2, -127};
    for (int k = 0; k < 64; k++) x[k] = k < 8 ? ties[k] : 0.25f;
    memset(x + 64, 0, 64 * sizeof(float));  // row 0, block 1: all zero
    x[1 * cols + 70] = NAN;                  // row 1, block 1
    x[2 * cols + 130] = -INFINITY;           // row 2, block 2
    QAct a;
    qact_quantize(&a, x, n, cols, 1);
    int ok = a.d[0] == 1.0f;
    for (int k = 0; k < 8; k++) ok &= a.q[k] == tie_q[k];
    CHECK(ok, "d = max/127 and q rounds half to even");
    CHECK(a.d[1] == 0.0f && a.sum[1] == 0, "an all-zero block: d = 0, q = 0");
    CHECK(isnan(a.d[1 * 3 + 1]) && isnan(a.d[2 * 3 + 2]) && isfinite(a.d[2 * 3 + 1]), "NaN and infinity make d NaN");
    // Every block: q = round(x / d), |q| <= 127, sum = Σq.
    int bad = 0;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 3; b++) {
            const float *xb = x + i * cols + b * 64;
            float m = 0;
            for (int k = 0; k < 64; k++) m = fmaxf(m, fabsf(xb[k]));
            float d = a.d[i * 3 + b];
            if (isnan(d)) continue;  // checked above
            if (d != m / 127.0f) bad++;
            int32_t s = 0;
            for (int k = 0; k < 64; k++) {
                int q = d > 0 ? (int)nearbyintf(xb[k] / d) : 0;
                if (a.q[i * cols + b * 64 + k] != q) bad++;
                s += q;
            }
            if (s != a.sum[i * 3 + b]) bad++;
        }
    CHECK(bad == 0, "%d mismatches against round(x / (max/127))", bad);
    // A block of tiny values whose d underflows to a subnormal: still |q| <= 127.
    float tiny[64];
    for (int k = 0; k < 64; k++) tiny[k] = (k % 2 ? 1 : -1) * 0x1p-140f * (float)(k + 1);
    QAct t;
    qact_quantize(&t, tiny, 1, 64, 1);
    int in_range = 1;
    for (int k = 0; k < 64; k++) in_range &= t.q[k] >= -127;
    CHECK(in_range && t.d[0] > 0, "subnormal scale: q stays in [-127, 127]");
    qact_free(&t);

    // The 8-row interleave holds the same values.
    QAct p;
    qact_quantize(&p, x, n, cols, 8);
    int same = p.lanes == 8;
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < cols; k++) {
            int8_t v = p.q[((i / 8) * cols / 4 + k / 4) * 32 + (i % 8) * 4 + k % 4];
            same &= v == (i < n ? a.q[i * cols + k] : 0);
        }
    for (int i = 0; i < 16; i++)
        for (int b = 0; b < 3; b++) {
            size_t s = ((size_t)(i / 8) * 3 + b) * 8 + i % 8;
            float dw = i < n ? a.d[i * 3 + b] : 0.0f;
            same &= (isnan(dw) ? isnan(p.d[s]) : p.d[s] == dw) && p.sum[s] == (i < n ? a.sum[i * 3 + b] : 0);
        }
    CHECK(same, "8-row interleave: the same values, zero padding rows");
    qact_free(&p);
    qact_free(&a);
    free(x);
}

// ---------------------------------------------------------------------------
// The ternary run layout

static void random_weights(const GgmlType *t, uint8_t *W, size_t nblocks);

// The run layout of GGUF rows W (qpack), in a new buffer.
static uint8_t *pack(const GgmlType *t, const uint8_t *W, int rows, int cols) {
    uint8_t *P = xmalloc_aligned(qpack_bytes(t->id, rows, cols));
    qpack(t->id, W, rows, cols, P);
    return P;
}


static void test_qpack(void) {
    static const int shapes[][2] = {{8, 256}, {13, 512}, {1, 256}, {21, 768}};
    for (int ti = 0; ti < NTYPES; ti++) {
        const GgmlType *t = ggml_type_find(TYPES[ti]);
        int bad_bytes = 0, bad_rows = 0, bad_scales = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int rows = shapes[s][0], cols = shapes[s][1], nwb = cols / t->block_size;
            const size_t nblocks = (size_t)rows * nwb;
            uint8_t *W = xmalloc(nblocks * t->type_size);
            random_weights(t, W, nblocks);
            // Nonzero scales, so that each code is the dequantized value / d + 1.
            const size_t doff = t->id == GGML_TYPE_Q2_0 ? 0 : (size_t)t->type_size - 2;
            for (size_t k = 0; k < nblocks; k++) W[k * t->type_size + doff + 1] |= 0x04;
            float *deq = xmalloc(sizeof(float) * nblocks * t->block_size), *row = xmalloc(sizeof(float) * cols);
            t->to_float(W, deq, (int64_t)nblocks * t->block_size);
            uint8_t *P = pack(t, W, rows, cols);
            const uint8_t *sc = qpack_scales(P, rows, cols);
            const int groups = (rows + QPACK_ROWS - 1) / QPACK_ROWS;
            for (int g = 0; g < groups; g++)
                for (int l = 0; l < QPACK_ROWS; l++) {
                    const int r = QPACK_ROWS * g + l;
                    for (int wb = 0; wb < nwb; wb++) {
                        const uint8_t *blk = W + ((size_t)r * nwb + wb) * t->type_size + doff;
                        uint16_t want = r < rows ? (uint16_t)(blk[0] | blk[1] << 8) : 0;
                        bad_scales += qpack_scale(sc, ((size_t)g * nwb + wb) * QPACK_ROWS + l) != want;
                    }
                    for (int k = 0; k < cols; k++) {
                        const int b = k / 64, j = k % 64, p = j / 16, c = (j % 16) / 4, i = j % 4;
                        int want = 1;
                        if (r < rows) {
                            const float d = f16_to_f32(qpack_scale(sc, ((size_t)g * nwb + k / t->block_size) * QPACK_ROWS + l));
                            want = (int)(deq[(size_t)r * cols + k] / d) + 1;
                        }
                        const uint8_t byte = P[(size_t)g * cols * QPACK_ROWS / 4 + (size_t)b * 16 * QPACK_ROWS + 4 * QPACK_ROWS * c + 4 * l + i];
                        bad_bytes += ((byte >> (2 * p)) & 3) != want;
                    }
                    if (r < rows) {
                        qpack_row_to_float(P, rows, cols, t->block_size, r, row);
                        bad_rows += !same_bits(row, deq + (size_t)r * cols, (size_t)cols, "row");
                    }
                }
            CHECK(qpack_bytes(t->id, rows, cols) == (size_t)groups * QPACK_ROWS * (cols / 4 + nwb * 2), "%s: qpack_bytes",
                  t->name);
            free(W); free(deq); free(row); free(P);
        }
        CHECK(bad_bytes == 0, "%s: %d codes of the run layout differ from its definition", t->name, bad_bytes);
        CHECK(bad_scales == 0, "%s: %d scales misplaced (padding rows: 0)", t->name, bad_scales);
        CHECK(bad_rows == 0, "%s: %d rows read back differ from to_float", t->name, bad_rows);
    }
}

// ---------------------------------------------------------------------------
// qmatmul: the reference path

// Activations with blocks of very different magnitudes, an all-zero block
// and an outlier.
static void activations(float *x, int n, int cols) {
    for (int i = 0; i < n; i++)
        for (int b = 0; b < cols / 64; b++) {
            float mag = (float)ldexp(1.0, (int)rnd(12) - 6);
            for (int k = 0; k < 64; k++) x[(size_t)i * cols + b * 64 + k] = (i + b) % 5 == 3 ? 0.0f : uniform() * mag;
            if ((i + b) % 7 == 1) x[(size_t)i * cols + b * 64 + rnd(64)] = 50.0f * mag;
        }
}

static void test_ref(void) {
    CHECK(qkernels_force("ref") == 0 && !strcmp(qkernels_name(), "ref"), "the reference path can always be forced");
    const int rows = 13, cols = 512, n = 3;
    float *x = xmalloc(sizeof(float) * n * cols), *tq = xmalloc(sizeof(float) * rows * cols);
    float *got = xmalloc(sizeof(float) * n * rows), *want = xmalloc(sizeof(float) * n * rows);
    activations(x, n, cols);
    for (int ti = 0; ti < NTYPES; ti++) {
        const GgmlType *t = ggml_type_find(TYPES[ti]);
        const int bs = t->block_size;
        uint8_t *W = xmalloc((size_t)rows * cols / bs * t->type_size);
        for (int r = 0; r < rows; r++) {
            ternary_row(tq + (size_t)r * cols, cols, bs, r == 2 ? 1 : -1);
            int64_t bad;
            CHECK(ternary_pack(t->id, tq + (size_t)r * cols, cols, W + (size_t)r * cols / bs * t->type_size, &bad) == 0,
                  "%s: pack", t->name);
        }
        // Independently: the activation rule of qact.h, the integer sums from
        // the ternary values, the float sequence of qkernels.h. And against
        // the exact product: each activation is off by at most d/2, so the
        // error is at most Σ s d/2 over the nonzero weights (plus float
        // rounding, well below).
        int over = 0;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < rows; r++) {
                float acc = 0.0f;
                double exact = 0, bound = 0;
                for (int b = 0; b < cols / 64; b++) {
                    const float *xb = x + (size_t)i * cols + b * 64, *wb = tq + (size_t)r * cols + b * 64;
                    float m = 0, s = 0;
                    for (int k = 0; k < 64; k++) m = fmaxf(m, fabsf(xb[k]));
                    for (int k = 0; k < bs; k++) s = fmaxf(s, fabsf(tq[(size_t)r * cols + (b * 64 / bs) * bs + k]));
                    float d = m / 127.0f;
                    int32_t isum = 0;
                    for (int k = 0; k < 64; k++) {
                        int q = d > 0 ? (int)nearbyintf(xb[k] / d) : 0;
                        int tt = wb[k] == 0 ? 0 : wb[k] > 0 ? 1 : -1;
                        isum += tt * q;
                        exact += (double)wb[k] * xb[k];
                        bound += tt ? (double)s * d / 2 : 0;
                    }
                    float p = (s * d) * (float)isum;
                    acc = acc + p;
                }
                want[i * rows + r] = acc;
                over += fabs(acc - exact) > bound * (1 + 1e-5) + 1e-6 * fabs(exact);
            }
        uint8_t *P = pack(t, W, rows, cols);
        qmatmul(got, x, P, t->id, rows, cols, n);
        free(P);
        CHECK(same_bits(got, want, (size_t)n * rows, t->name), "%s: ref = the integer sums of the ternary values", t->name);
        CHECK(over == 0, "%s: %d outputs further from the exact product than the activation rounding allows", t->name, over);
        free(W);
    }
    free(x); free(tq); free(got); free(want);
}


// A weight row of F16, BF16 or F32 times activations x, as qkernels.h
// defines it: 8 fused partial sums in column order, folded as one 8-lane
// register folds; BF16 meets the activations rounded to bf16.
static float float_dot(const GgmlType *t, const uint8_t *w, const float *x, int cols) {
    float s[8] = {0};
    for (int k = 0; k < cols; k++) {
        const uint8_t *p = w + (size_t)k * t->type_size;
        const uint16_t h = (uint16_t)(p[0] | p[1] << 8);
        float wk, xk = x[k];
        if (t->id == GGML_TYPE_F32) memcpy(&wk, p, 4);
        else wk = t->id == GGML_TYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        if (t->id == GGML_TYPE_BF16) xk = bf16_to_f32(f32_to_bf16(xk));
        s[k % 8] = fmaf(wk, xk, s[k % 8]);
    }
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

// Q8_0, F16, F32 and BF16 on the reference path, against the sequences of
// qkernels.h written out here from the raw blocks.
static void test_ref_q8_float(void) {
    qkernels_force("ref");
    const int rows = 11, cols = 320, n = 2;
    float *x = xmalloc(sizeof(float) * n * cols), *got = xmalloc(sizeof(float) * n * rows);
    activations(x, n, cols);
    const GgmlType *q8 = ggml_type_find(GGML_TYPE_Q8_0);
    uint8_t *W8 = xmalloc((size_t)rows * cols / 32 * q8->type_size);
    random_weights(q8, W8, (size_t)rows * cols / 32);
    int bad8 = 0;
    qmatmul(got, x, W8, GGML_TYPE_Q8_0, rows, cols, n);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) {
            float acc = 0.0f;
            for (int b = 0; b < cols / 64; b++) {
                const float *xb = x + (size_t)i * cols + b * 64;
                float m = 0;
                for (int k = 0; k < 64; k++) m = fmaxf(m, fabsf(xb[k]));
                float d = m / 127.0f;
                for (int h = 0; h < 2; h++) {
                    const uint8_t *blk = W8 + ((size_t)r * cols / 32 + 2 * b + h) * q8->type_size;
                    int32_t isum = 0;
                    for (int k = 0; k < 32; k++)
                        isum += (int8_t)blk[2 + k] * (d > 0 ? (int)nearbyintf(xb[32 * h + k] / d) : 0);
                    float p = (f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)) * d) * (float)isum;
                    acc = acc + p;
                }
            }
            bad8 += f2u(acc) != f2u(got[i * rows + r]);
        }
    static const uint32_t floats[] = {GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};
    for (int f = 0; f < 3; f++) {
        const GgmlType *t = ggml_type_find(floats[f]);
        uint8_t *W = xmalloc((size_t)rows * cols * t->type_size);
        random_weights(t, W, (size_t)rows * cols);
        qmatmul(got, x, W, t->id, rows, cols, n);
        int bad = 0;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < rows; r++)
                bad += f2u(float_dot(t, W + (size_t)r * cols * t->type_size, x + (size_t)i * cols, cols)) !=
                       f2u(got[i * rows + r]);
        CHECK(bad == 0, "%s: %d outputs differ from 8 fused partial sums folded as defined", t->name, bad);
        free(W);
    }
    CHECK(bad8 == 0, "Q8_0: %d outputs differ from the per-32 integer sums scaled in order", bad8);
    free(x); free(got); free(W8);
}

// ---------------------------------------------------------------------------
// qmatmul: SIMD paths against the reference

// Random raw blocks: any byte (Q8_0: -128 included), fp16 scales finite
// (some zero, some negative); F16: finite values of the same kind.
static void random_weights(const GgmlType *t, uint8_t *W, size_t nblocks) {
    size_t doff = t->id == GGML_TYPE_TQ1_0 || t->id == GGML_TYPE_TQ2_0 ? (size_t)t->type_size - 2 : 0;
    for (size_t k = 0; k < nblocks && t->id == GGML_TYPE_F32; k++) {
        float f = (float)((int)rnd(2001) - 1000) / 997.0f;
        memcpy(W + 4 * k, &f, 4);
    }
    for (size_t k = 0; k < nblocks && t->id == GGML_TYPE_BF16; k++) {
        const uint16_t h = f32_to_bf16((float)((int)rnd(2001) - 1000) / 997.0f);
        W[2 * k] = (uint8_t)h;
        W[2 * k + 1] = (uint8_t)(h >> 8);
    }
    for (size_t k = 0; k < nblocks && t->id != GGML_TYPE_F32 && t->id != GGML_TYPE_BF16; k++) {
        uint8_t *b = W + k * t->type_size;
        for (int i = 0; i < t->type_size; i++) b[i] = (uint8_t)(t->id == GGML_TYPE_TQ1_0 ? (k * 7 + i) : rnd(256));
        uint16_t h = k % 11 == 5 ? 0 : (uint16_t)(0x2000 + rnd(0x2400) + (rnd(2) << 15));  // ~2^-7 .. 2^2
        b[doff] = (uint8_t)h;
        b[doff + 1] = (uint8_t)(h >> 8);
    }
}

static const char *const PATHS[] = {"avx2", "avx512"};
static const uint32_t ALL_TYPES[] = {GGML_TYPE_Q2_0, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0, GGML_TYPE_Q8_0, GGML_TYPE_F16,
                                     GGML_TYPE_BF16, GGML_TYPE_F32};

static void test_paths(void) {
    static const int shapes[][3] = {
        // rows, blocks per row (of 256: cols = 256 * k; types with blocks
        // of at most 64 also run cols = 64 * (2k - 1)), n
        {1, 1, 1}, {7, 1, 2}, {8, 2, 3}, {9, 3, 4}, {17, 1, 5}, {33, 2, 6}, {70, 4, 7}, {5, 2, 8}, {40, 3, 9},
        {65, 1, 16}, {23, 2, 17}, {130, 1, 1}, {67, 12, 1}, {50, 4, 33},
    };
    for (size_t p = 0; p < sizeof PATHS / sizeof PATHS[0]; p++) {
        if (qkernels_force(PATHS[p])) {
            fprintf(stderr, "SKIP %s: this CPU does not run it\n", PATHS[p]);
            continue;
        }
        for (size_t ti = 0; ti < sizeof ALL_TYPES / sizeof ALL_TYPES[0]; ti++) {
            const GgmlType *t = ggml_type_find(ALL_TYPES[ti]);
            int bad = 0, bad_row = 0, bad_thr = 0, runs = 0;
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                for (int q2 = 0; q2 < (t->block_size <= 64 ? 2 : 1); q2++) {
                    const int rows = shapes[s][0], n = shapes[s][2];
                    const int cols = q2 ? 64 * (2 * shapes[s][1] - 1) : 256 * shapes[s][1];
                    size_t nblocks = (size_t)rows * cols / t->block_size;
                    uint8_t *W = xmalloc(nblocks * t->type_size + 1);
                    random_weights(t, W + 1, nblocks);  // at an odd address
                    float *x = xmalloc(sizeof(float) * n * cols);
                    float *ref = xmalloc(sizeof(float) * n * rows), *got = xmalloc(sizeof(float) * n * rows);
                    float *one = xmalloc(sizeof(float) * rows);
                    activations(x, n, cols);
                    if (qpack_type_ok(t->id)) {  // the run layout, at an odd address too
                        uint8_t *P = pack(t, W + 1, rows, cols);
                        const size_t pb = qpack_bytes(t->id, rows, cols);
                        free(W);
                        W = xmalloc(pb + 1);
                        memcpy(W + 1, P, pb);
                        free(P);
                    }
                    qkernels_force("ref");
                    qmatmul(ref, x, W + 1, t->id, rows, cols, n);
                    qkernels_force(PATHS[p]);
                    qmatmul(got, x, W + 1, t->id, rows, cols, n);
                    if (!same_bits(got, ref, (size_t)n * rows, t->name)) {
                        fprintf(stderr, "  %s %s rows %d cols %d n %d\n", PATHS[p], t->name, rows, cols, n);
                        bad++;
                    }
                    int i = n / 2;
                    qmatmul(one, x + (size_t)i * cols, W + 1, t->id, rows, cols, 1);
                    bad_row += !same_bits(one, ref + (size_t)i * rows, rows, "one row");
                    omp_set_num_threads(1);
                    qmatmul(got, x, W + 1, t->id, rows, cols, n);
                    omp_set_num_threads(2);
                    bad_thr += !same_bits(got, ref, (size_t)n * rows, "1 thread");
                    runs++;
                    free(W); free(x); free(ref); free(got); free(one);
                }
            }
            CHECK(bad == 0, "%s %s: %d of %d shapes differ from ref", PATHS[p], t->name, bad, runs);
            CHECK(bad_row == 0, "%s %s: row i of an n-row product differs from the 1-row product (%d)", PATHS[p],
                  t->name, bad_row);
            CHECK(bad_thr == 0, "%s %s: 1 thread differs from 2 (%d)", PATHS[p], t->name, bad_thr);
        }
    }
    qkernels_force("auto");
}

// NaN in an activation block gives NaN outputs on every path; zero input
// gives +0.0.
static void test_special(void) {
    const int rows = 9, cols = 256, n = 3;
    const GgmlType *t = ggml_type_find(GGML_TYPE_TQ2_0);
    uint8_t *G = xmalloc((size_t)rows * t->type_size);
    random_weights(t, G, rows);
    uint8_t *W = pack(t, G, rows, cols);
    free(G);
    float x[3 * 256] = {0}, out[3 * 9];
    x[256 + 17] = NAN;
    const char *paths[] = {"ref", "avx2", "avx512"};
    for (int p = 0; p < 3; p++) {
        if (qkernels_force(paths[p])) continue;
        qmatmul(out, x, W, t->id, rows, cols, n);
        int ok = 1;
        for (int r = 0; r < rows; r++) ok &= f2u(out[r]) == 0 && isnan(out[rows + r]) && f2u(out[2 * rows + r]) == 0;
        CHECK(ok, "%s: zero rows give +0.0, a NaN row gives NaN", paths[p]);
    }
    CHECK(qkernels_force("sse9") == -1 && qkernels_force("auto") == 0, "unknown paths are refused");
    CHECK(qmatmul_supported(GGML_TYPE_Q2_0) && qmatmul_supported(GGML_TYPE_TQ1_0) && qmatmul_supported(GGML_TYPE_TQ2_0) &&
              qmatmul_supported(GGML_TYPE_Q8_0) && qmatmul_supported(GGML_TYPE_F16) &&
              qmatmul_supported(GGML_TYPE_F32) && qmatmul_supported(GGML_TYPE_BF16) &&
              !qmatmul_supported(GGML_TYPE_Q4_0) &&
              qmatmul_shape_ok(GGML_TYPE_F32, 8) && !qmatmul_shape_ok(GGML_TYPE_F32, 12),
          "qmatmul_supported");
    free(W);
}

// TRIT_QKERNELS picks the path at first use: this binary run again with
// it set and --kernels prints the name it got.
static void test_env(void) {
    static const char *const names[] = {"ref", "avx2", "bogus"};
    for (int i = 0; i < 3; i++) {
        char cmd[256], got[64] = "";
        snprintf(cmd, sizeof cmd, "TRIT_QKERNELS=%s /proc/%d/exe --kernels", names[i], (int)getpid());
        FILE *f = popen(cmd, "r");
        if (f) {
            if (!fgets(got, sizeof got, f)) got[0] = 0;
            pclose(f);
        }
        got[strcspn(got, "\n")] = 0;
        int ok = i == 0 ? !strcmp(got, "ref") : i == 1 ? !strcmp(got, "avx2") || qkernels_force("avx2") != 0
                                                       : strcmp(got, "bogus") && got[0];
        CHECK(ok, "TRIT_QKERNELS=%s gives '%s'", names[i], got);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--kernels")) {
        printf("%s\n", qkernels_name());
        return 0;
    }
    omp_set_num_threads(2);
    test_q2_0_dequant();
    test_pack();
    test_qact();
    test_qpack();
    test_ref();
    test_ref_q8_float();
    test_paths();
    test_special();
    test_env();
    qkernels_force("auto");
    printf("kernels: %s\n", qkernels_name());
    return test_finish("test_quant");
}
