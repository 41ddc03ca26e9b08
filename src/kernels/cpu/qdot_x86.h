// qdot_x86.h — the SIMD kernels, written once for AVX2 and AVX-512 VNNI and
// compiled twice: qdot_avx2.c and qdot_avx512.c include this file after
// defining
//   QXAcc, QX_ZERO()          an integer accumulator and its zero
//   QX_DOT(acc, u8, s8)       acc plus the products of 32 unsigned weight
//                             codes and 32 signed activations
//   QX_I32(acc)               the int32 lanes: lane l = the sum of every
//                             product of bytes 4l..4l+3 that went in
//   QX_DOT32(acc, u8, s8)     the same into int32 lanes straight away, for
//                             Q8_0's products, too large to sum in int16
//   QX_GEMM_W, QX_GEMM_G      GEMM tile: weight rows x groups of 8 activation
//                             rows (what the register file holds)
//   QX_ISA, QX_NAME           the exported table and its name
//   QX_ZMM                    (AVX-512 only) the ternary GEMV and GEMM use
//                             512-bit registers.
//   QX_PREFETCH_BLOCKS        (optional) the ternary GEMV prefetches its
//                             codes this many blocks ahead.
// Everything else is AVX2 (+ F16C); the difference between the two files is
// how 32 byte products are summed (vpmaddubsw + vpmaddwd against one
// vpdpbusd) and how many registers a tile may use.
//
// Both kernels run the per-output sequence of qkernels.h on many outputs at
// a time, one per 32-bit float lane, never reassociating it:
//  - GEMV of the ternary types (one activation row), on the run layout of
//    qpack.h: a group of 16 weight rows, one row per lane from the start, so
//    no horizontal sums: per 4 columns and plane, one mask and one dot
//    instruction against the 4 activations broadcast.
//  - GEMV of Q8_0 (GGUF rows): 8 weight rows; per activation block each row
//    leaves 8 int32 partial sums that hsum8_i32 folds into one vector of 8
//    row totals, and the float update runs lane-wise.
//  - GEMM: QX_GEMM_W weight rows against groups of 8 activation rows stored
//    interleaved (qact.h lanes = 8): 4 codes of one weight row, broadcast,
//    meet 4 values of 8 activation rows (AVX-512: of 16, two groups side by
//    side), so every int32 lane is one output. The weights are decoded once
//    per call into a byte buffer (a group of 16 ternary rows, or QX_GEMM_W
//    Q8_0 rows) and reused for every activation row.
//  - F16 is plain fp32 arithmetic: lane l of a row's register is its partial
//    sum s_l, folded once at the end of the row; GEMM converts a tile of
//    weight rows to fp32 once and runs two activation rows against it.
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/cpu/qkernels.h"
#include "quant/ggml_types.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

// Four activation bytes at p in every dword.
ALWAYS_INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Signed weights w against signed activations q with the unsigned x signed
// byte products: |w| * (q * sign(w)). |w| <= 128 (vpabsb of -128 is 128 as
// an unsigned byte), so a pair of products stays within int16 (32512).
ALWAYS_INLINE __m256i sign_q(__m256i q, __m256i w) { return _mm256_sign_epi8(q, w); }

#define GEMV_ROWS 8
#define PREFETCH_TILES 2

// out[r .. min(r + 8, r1)) from the lanes of v.
ALWAYS_INLINE void store_rows(float *out, int r, int r1, __m256 v) {
    if (r1 - r >= GEMV_ROWS) {
        _mm256_storeu_ps(out + r, v);
    } else {
        _Alignas(32) float tmp[GEMV_ROWS];
        _mm256_store_ps(tmp, v);
        memcpy(out + r, tmp, sizeof(float) * (size_t)(r1 - r));
    }
}

// --- the ternary types: GEMV on the run layout (qpack.h) -------------------

// Per 64-column block of a group: Σ code_k q_k of each of its 16 rows. Planes
// 0 and 2 are masked to the codes themselves, planes 1 and 3 to 4 x the
// codes (no shift for them), summed in two accumulators; the second is
// exactly 4 x its sum, so the shift back is exact. Each broadcast of 4
// activations serves all 16 rows. AVX2's 16-bit pairs stay in range: 8
// pairs of up to 2 * 12 * 127 in the second (24384 < 32767).
#ifdef QX_ZMM
// AVX-512: the 16 rows in one 512-bit register, lane l = row l.
typedef __m512i XRows;
typedef __m512 XRowsF;
ALWAYS_INLINE XRows x16_block(const uint8_t *blk, const int8_t *q) {
    const __m512i m03 = _mm512_set1_epi8(0x03), m0c = _mm512_set1_epi8(0x0c);
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
        int32_t a[4];
        for (int p = 0; p < 4; p++) memcpy(&a[p], q + 16 * p + 4 * c, 4);
        __m512i v = _mm512_loadu_si512(blk + 64 * c), v4 = _mm512_srli_epi16(v, 4);
        lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v, m03), _mm512_set1_epi32(a[0]));
        hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(v, m0c), _mm512_set1_epi32(a[1]));
        lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v4, m03), _mm512_set1_epi32(a[2]));
        hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(v4, m0c), _mm512_set1_epi32(a[3]));
    }
    return _mm512_add_epi32(lo, _mm512_srai_epi32(hi, 2));
}
ALWAYS_INLINE XRowsF xf_zero(void) { return _mm512_setzero_ps(); }
ALWAYS_INLINE XRowsF xf_scales(const uint8_t *sc) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc)); }
// acc + (dw * d) * (float)(isum - sum), lane-wise.
ALWAYS_INLINE XRowsF xf_step(XRowsF acc, XRowsF dw, float d, XRows isum, int32_t sum) {
    __m512 p = _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(d)),
                             _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_set1_epi32(sum))));
    return _mm512_add_ps(acc, p);
}
ALWAYS_INLINE void xf_store(float *out, int n, XRowsF v) { _mm512_mask_storeu_ps(out, (__mmask16)((1u << n) - 1), v); }
#else
// AVX2: two registers of 8 rows.
typedef struct { __m256i h[2]; } XRows;
typedef struct { __m256 h[2]; } XRowsF;
ALWAYS_INLINE XRows x16_block(const uint8_t *blk, const int8_t *q) {
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0c);
    QXAcc lo[2] = {QX_ZERO(), QX_ZERO()}, hi[2] = {QX_ZERO(), QX_ZERO()};
    for (int c = 0; c < 4; c++) {
        const __m256i a0 = bcast4(q + 4 * c), a1 = bcast4(q + 16 + 4 * c);
        const __m256i a2 = bcast4(q + 32 + 4 * c), a3 = bcast4(q + 48 + 4 * c);
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 64 * c + 32 * h)), v4 = _mm256_srli_epi16(v, 4);
            lo[h] = QX_DOT(lo[h], _mm256_and_si256(v, m03), a0);
            hi[h] = QX_DOT(hi[h], _mm256_and_si256(v, m0c), a1);
            lo[h] = QX_DOT(lo[h], _mm256_and_si256(v4, m03), a2);
            hi[h] = QX_DOT(hi[h], _mm256_and_si256(v4, m0c), a3);
            // GCC's pre-allocation scheduler otherwise computes every
            // product of the block first and spills them to the stack.
            __asm__("" : "+v"(lo[h]), "+v"(hi[h]));
        }
    }
    XRows r;
    for (int h = 0; h < 2; h++) r.h[h] = _mm256_add_epi32(QX_I32(lo[h]), _mm256_srai_epi32(QX_I32(hi[h]), 2));
    return r;
}
ALWAYS_INLINE XRowsF xf_zero(void) { return (XRowsF){{_mm256_setzero_ps(), _mm256_setzero_ps()}}; }
ALWAYS_INLINE XRowsF xf_scales(const uint8_t *sc) {
    return (XRowsF){{_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)sc)),
                     _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sc + 16)))}};
}
ALWAYS_INLINE XRowsF xf_step(XRowsF acc, XRowsF dw, float d, XRows isum, int32_t sum) {
    for (int h = 0; h < 2; h++) {
        __m256 p = _mm256_mul_ps(_mm256_mul_ps(dw.h[h], _mm256_set1_ps(d)),
                                 _mm256_cvtepi32_ps(_mm256_sub_epi32(isum.h[h], _mm256_set1_epi32(sum))));
        acc.h[h] = _mm256_add_ps(acc.h[h], p);
        __asm__("" : "+v"(acc.h[h]));  // kept in a register across blocks (as above)
    }
    return acc;
}
ALWAYS_INLINE void xf_store(float *out, int n, XRowsF v) {
    _Alignas(32) float tmp[16];
    _mm256_store_ps(tmp, v.h[0]);
    _mm256_store_ps(tmp + 8, v.h[1]);
    memcpy(out, tmp, sizeof(float) * (size_t)n);
}
#endif

// Rows [r0, r1) (r0 a multiple of 16): one group of 16 rows at a time, the
// float sequence of qkernels.h lane-wise. The groups of a call are one
// sequential stream, which the hardware prefetcher follows: software
// prefetches on top measured slower (bench_decode, 2026-12-06: 26 against
// 29.5 GB/s of weights on 2 Zen 4 cores).
ALWAYS_INLINE void gemv_x16(const int qk, float *out, const QAct *a, const QMat *m, int r0, int r1) {
    const int cols = a->cols, bpw = qk / QA_BLOCK, nwb = cols / qk;
    for (int r = r0; r < r1; r += QPACK_ROWS) {
        const int g = r / QPACK_ROWS;
        const uint8_t *codes = m->w + (size_t)g * qpack_group_bytes(cols);
        const uint8_t *sc = m->scales + 2 * (size_t)g * nwb * QPACK_ROWS;
        XRowsF acc = xf_zero();
        for (int wb = 0; wb < nwb; wb++) {
            const XRowsF dw = xf_scales(sc + 2 * wb * QPACK_ROWS);
            for (int j = 0; j < bpw; j++) {
                const int b = wb * bpw + j;
                const uint8_t *blk = codes + (size_t)b * QPACK_BLOCK_BYTES;
#ifdef QX_PREFETCH_BLOCKS
                for (int l = 0; l < QPACK_BLOCK_BYTES; l += 64)
                    _mm_prefetch((const char *)(blk + QX_PREFETCH_BLOCKS * QPACK_BLOCK_BYTES + l), _MM_HINT_T0);
#endif
                acc = xf_step(acc, dw, a->d[b], x16_block(blk, a->q + (size_t)b * QA_BLOCK), a->sum[b]);
            }
        }
        xf_store(out + r, r1 - r < QPACK_ROWS ? r1 - r : QPACK_ROWS, acc);
    }
}

// --- GEMM -------------------------------------------------------------------

// The codes of a tile of weight rows, decoded once per tile to bytes (0..3
// for the ternary types, the int8 weights for Q8_0): the four codes of row
// w at columns 64b + 4c .. + 3 (c < 16) are the int32 at
// code + b * bstride + c * cstride + w * wstride. dw[w * nwb + k]: the
// scale of row w's weight block (Q8_0: half-block) k.
typedef struct {
    const uint8_t *code;
    size_t bstride, cstride, wstride;
    const float *dw;
    int nwb, qk, q8;
} WTile;

// QX_GEMM_W weight rows from r (columns r.. of out) against activation
// groups g..g+G (out rows 8g..).
ALWAYS_INLINE void gemm_tile(const int G, WTile t, const QAct *a, int g, float *out, int ldo, int r, int r1) {
    const int cols = a->cols, nb = cols / QA_BLOCK;
    // Parts of an activation block with their own weight scale (Q8_0: 2).
    const int parts = t.q8 ? QA_BLOCK / t.qk : 1, chunks = QA_BLOCK / 4 / parts;
    __m256 accf[QX_GEMM_G][QX_GEMM_W];
    for (int gg = 0; gg < G; gg++)
        for (int w = 0; w < QX_GEMM_W; w++) accf[gg][w] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        for (int part = 0; part < parts; part++) {
            QXAcc acc[QX_GEMM_G][QX_GEMM_W];
            for (int gg = 0; gg < G; gg++)
                for (int w = 0; w < QX_GEMM_W; w++) acc[gg][w] = QX_ZERO();
            // Group g + gg, block b: 16 chunks of (8 rows x 4 values).
            const int8_t *qa = a->q + (size_t)g * QGEMM_LANES * cols + (size_t)b * QA_BLOCK * QGEMM_LANES;
            for (int c = part * chunks; c < (part + 1) * chunks; c++) {
                __m256i av[QX_GEMM_G];
                for (int gg = 0; gg < G; gg++)
                    av[gg] = _mm256_load_si256((const __m256i *)(qa + (size_t)gg * QGEMM_LANES * cols + 32 * c));
                for (int w = 0; w < QX_GEMM_W; w++) {
                    int32_t four;
                    memcpy(&four, t.code + b * t.bstride + c * t.cstride + w * t.wstride, 4);
                    __m256i wv = _mm256_set1_epi32(four);
                    if (t.q8) {
                        __m256i u = _mm256_abs_epi8(wv);
                        for (int gg = 0; gg < G; gg++) acc[gg][w] = QX_DOT32(acc[gg][w], u, sign_q(av[gg], wv));
                    } else {
                        for (int gg = 0; gg < G; gg++) acc[gg][w] = QX_DOT(acc[gg][w], wv, av[gg]);
                    }
                }
#ifndef QX_ZMM
                // AVX2: in registers from chunk to chunk (GCC otherwise
                // moves or spills some of them every chunk).
                for (int gg = 0; gg < G; gg++)
                    for (int w = 0; w < QX_GEMM_W; w++) __asm__("" : "+v"(acc[gg][w]));
#endif
            }
            for (int gg = 0; gg < G; gg++) {
                const size_t s = ((size_t)(g + gg) * nb + b) * QGEMM_LANES;
                __m256i sum = _mm256_load_si256((const __m256i *)(a->sum + s));
                __m256 d = _mm256_load_ps(a->d + s);
                for (int w = 0; w < QX_GEMM_W; w++) {
                    __m256i isum = t.q8 ? acc[gg][w] : _mm256_sub_epi32(QX_I32(acc[gg][w]), sum);
                    float dwp = t.dw[w * t.nwb + (t.q8 ? parts * b + part : b / (t.qk / QA_BLOCK))];
                    __m256 p = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(dwp), d), _mm256_cvtepi32_ps(isum));
                    accf[gg][w] = _mm256_add_ps(accf[gg][w], p);
                }
            }
        }
    }
    for (int gg = 0; gg < G; gg++)
        for (int w = 0; w < QX_GEMM_W && r + w < r1; w++) {
            _Alignas(32) float tmp[QGEMM_LANES];
            _mm256_store_ps(tmp, accf[gg][w]);
            for (int l = 0; l < QGEMM_LANES && (g + gg) * QGEMM_LANES + l < a->n; l++)
                out[(size_t)((g + gg) * QGEMM_LANES + l) * ldo + r + w] = tmp[l];
        }
}

#ifdef QX_ZMM
// The ternary types' tile on AVX-512: activation groups g and g + 1 side by
// side in one 512-bit register (lanes 0-7 group g, 8-15 group g + 1), so
// each dot instruction covers 4 values of 16 activation rows; the float
// sequence per output is gemm_tile's.
ALWAYS_INLINE __m512i pair_i(const int32_t *lo, const int32_t *hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_load_si256((const __m256i *)lo)),
                              _mm256_load_si256((const __m256i *)hi), 1);
}
ALWAYS_INLINE void gemm_tile_pair(const int W, WTile t, const QAct *a, int g, float *out, int ldo, int r, int r1) {
    const int cols = a->cols, nb = cols / QA_BLOCK;
    __m512 accf[QX_GEMM_W];
    for (int w = 0; w < W; w++) accf[w] = _mm512_setzero_ps();
    const size_t gstride = (size_t)QGEMM_LANES * cols;  // bytes between two groups' activations
    for (int b = 0; b < nb; b++) {
        __m512i acc[QX_GEMM_W];
        for (int w = 0; w < W; w++) acc[w] = _mm512_setzero_si512();
        const int8_t *qa = a->q + (size_t)g * gstride + (size_t)b * QA_BLOCK * QGEMM_LANES;
        for (int c = 0; c < QA_BLOCK / 4; c++) {
            const __m512i av = pair_i((const int32_t *)(qa + 32 * c), (const int32_t *)(qa + gstride + 32 * c));
            for (int w = 0; w < W; w++) {
                int32_t four;
                memcpy(&four, t.code + b * t.bstride + c * t.cstride + w * t.wstride, 4);
                acc[w] = _mm512_dpbusd_epi32(acc[w], _mm512_set1_epi32(four), av);
            }
        }
        const size_t s0 = ((size_t)g * nb + b) * QGEMM_LANES, s1 = ((size_t)(g + 1) * nb + b) * QGEMM_LANES;
        const __m512i sum = pair_i(a->sum + s0, a->sum + s1);
        const __m512 d = _mm512_castsi512_ps(pair_i((const int32_t *)(a->d + s0), (const int32_t *)(a->d + s1)));
        for (int w = 0; w < W; w++) {
            const float dwp = t.dw[w * t.nwb + b / (t.qk / QA_BLOCK)];
            __m512 p = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(dwp), d),
                                     _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[w], sum)));
            accf[w] = _mm512_add_ps(accf[w], p);
        }
    }
    for (int w = 0; w < W && r + w < r1; w++) {
        _Alignas(64) float tmp[2 * QGEMM_LANES];
        _mm512_store_ps(tmp, accf[w]);
        for (int l = 0; l < 2 * QGEMM_LANES && g * QGEMM_LANES + l < a->n; l++)
            out[(size_t)(g * QGEMM_LANES + l) * ldo + r + w] = tmp[l];
    }
}
#endif

// Every activation group against the tile.
ALWAYS_INLINE void gemm_tiles(WTile t, float *out, int ldo, const QAct *a, int r, int r1) {
    const int groups = (a->n + QGEMM_LANES - 1) / QGEMM_LANES;
    int g = 0;
#ifdef QX_ZMM
    if (!t.q8)
        for (; g + 2 <= groups; g += 2) gemm_tile_pair(QX_GEMM_W, t, a, g, out, ldo, r, r1);
#endif
    for (; g + QX_GEMM_G <= groups; g += QX_GEMM_G) gemm_tile(QX_GEMM_G, t, a, g, out, ldo, r, r1);
    for (; g < groups; g++) gemm_tile(1, t, a, g, out, ldo, r, r1);
}

// The ternary types: each group of 16 rows decoded once, plane by plane,
// into (16 rows x 4 codes) stored in column-chunk order — chunk 4p + c of a
// block is plane p of its c-th 64 bytes — and run as 16 / QX_GEMM_W tiles.
ALWAYS_INLINE void gemm_x16(const int qk, float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1) {
    const int cols = a->cols, nb = cols / QA_BLOCK, nwb = cols / qk;
    uint8_t *code = xmalloc_aligned((size_t)QPACK_ROWS * cols);
    float *dw = xmalloc(sizeof(float) * QPACK_ROWS * (size_t)nwb);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int r = r0; r < r1; r += QPACK_ROWS) {
        const int g = r / QPACK_ROWS;
        const uint8_t *codes = m->w + (size_t)g * qpack_group_bytes(cols);
        for (int b = 0; b < nb; b++)
            for (int c = 0; c < 4; c++)
                for (int h = 0; h < 2; h++) {
                    __m256i v = _mm256_loadu_si256(
                        (const __m256i *)(codes + (size_t)b * QPACK_BLOCK_BYTES + 64 * c + 32 * h));
                    for (int p = 0; p < 4; p++)
                        _mm256_store_si256((__m256i *)(code + (size_t)b * 1024 + (4 * p + c) * 64 + 32 * h),
                                           _mm256_and_si256(_mm256_srli_epi16(v, 2 * p), m3));
                }
        for (int w = 0; w < QPACK_ROWS; w++)
            for (int wb = 0; wb < nwb; wb++)
                dw[w * nwb + wb] = _cvtsh_ss(qpack_scale(m->scales, ((size_t)g * nwb + wb) * QPACK_ROWS + w));
        for (int w0 = 0; w0 < QPACK_ROWS && r + w0 < r1; w0 += QX_GEMM_W) {
            const WTile t = {code + 4 * w0, 1024, 64, 4, dw + w0 * nwb, nwb, qk, 0};
            gemm_tiles(t, out, ldo, a, r + w0, r1);
        }
    }
    free(code);
    free(dw);
}

// Q8_0 (GGUF rows): QX_GEMM_W rows copied per tile.
static void gemm_q8_0(float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1) {
    const int cols = a->cols, nwb = cols / GGML_QK;
    const size_t ts = sizeof(GgmlBlockQ8_0), row_bytes = (size_t)nwb * ts;
    uint8_t *code = xmalloc_aligned((size_t)QX_GEMM_W * cols);
    float *dw = xmalloc(sizeof(float) * QX_GEMM_W * (size_t)nwb);
    for (int r = r0; r < r1; r += QX_GEMM_W) {
        for (int w = 0; w < QX_GEMM_W; w++) {
            const uint8_t *row = m->w + (size_t)(r + w < r1 ? r + w : r1 - 1) * row_bytes;
            for (int wb = 0; wb < nwb; wb++) {
                const uint8_t *blk = row + (size_t)wb * ts;
                memcpy(code + (size_t)w * cols + (size_t)wb * GGML_QK, blk + offsetof(GgmlBlockQ8_0, qs), GGML_QK);
                dw[w * nwb + wb] = _cvtsh_ss(rd16(blk + offsetof(GgmlBlockQ8_0, d)));
            }
        }
        const WTile t = {code, QA_BLOCK, 4, (size_t)cols, dw, nwb, GGML_QK, 1};
        gemm_tiles(t, out, ldo, a, r, r1);
    }
    free(code);
    free(dw);
}

// --- Q8_0 GEMV -------------------------------------------------------------

// Lane r = the sum of the 8 int32 lanes of v[r] (each four products of up
// to 128 * 127, too large for an int16 tree): unpack and add, 21
// instructions for 8 rows.
ALWAYS_INLINE __m256i hsum8_i32(const __m256i v[GEMV_ROWS]) {
    __m256i s[4], u[2];
    for (int k = 0; k < 4; k++)  // [a0+a2, b0+b2, a1+a3, b1+b3] per 128-bit half
        s[k] = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2 * k], v[2 * k + 1]),
                                _mm256_unpackhi_epi32(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 2; k++)  // [a, b, c, d] per half
        u[k] = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2 * k], s[2 * k + 1]),
                                _mm256_unpackhi_epi64(s[2 * k], s[2 * k + 1]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u[0], u[1], 0x20), _mm256_permute2x128_si256(u[0], u[1], 0x31));
}

static void gemv_q8_0(float *out, const QAct *a, const QMat *m, int r0, int r1) {
    const uint8_t *W = m->w;
    const int nb = a->cols / QA_BLOCK;
    const size_t ts = sizeof(GgmlBlockQ8_0), row_bytes = (size_t)(a->cols / GGML_QK) * ts;
    const size_t ahead = PREFETCH_TILES * GEMV_ROWS * row_bytes;
    for (int r = r0; r < r1; r += GEMV_ROWS) {
        const uint8_t *w[GEMV_ROWS];
        for (int k = 0; k < GEMV_ROWS; k++) w[k] = W + (size_t)(r + k < r1 ? r + k : r1 - 1) * row_bytes;
        __m256 acc = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const int8_t *q = a->q + (size_t)b * QA_BLOCK;
            for (int h = 0; h < 2; h++) {
                __m256i qh = _mm256_load_si256((const __m256i *)(q + GGML_QK * h)), s[GEMV_ROWS];
                _Alignas(16) uint16_t hd[GEMV_ROWS];
                for (int k = 0; k < GEMV_ROWS; k++) {
                    const uint8_t *blk = w[k] + (size_t)(2 * b + h) * ts;
                    _mm_prefetch((const char *)(blk + ahead), _MM_HINT_T0);
                    hd[k] = rd16(blk);
                    __m256i x = _mm256_loadu_si256((const __m256i *)(blk + offsetof(GgmlBlockQ8_0, qs)));
                    s[k] = QX_I32(QX_DOT(QX_ZERO(), _mm256_abs_epi8(x), sign_q(qh, x)));
                }
                __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)hd));
                __m256 p = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a->d[b])), _mm256_cvtepi32_ps(hsum8_i32(s)));
                acc = _mm256_add_ps(acc, p);
            }
        }
        store_rows(out, r, r1, acc);
    }
}

// --- F16, BF16 and F32 ----------------------------------------------------------

// ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) of the 8 lanes.
ALWAYS_INLINE float fold8(__m256 s) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// Eight weights of a row from column c, as fp32.
ALWAYS_INLINE __m256 load8_f16(const uint8_t *row, int c) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * (size_t)c)));
}
ALWAYS_INLINE __m256 load8_bf16(const uint8_t *row, int c) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * (size_t)c)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}
ALWAYS_INLINE __m256 load8_f32(const uint8_t *row, int c) { return _mm256_loadu_ps((const float *)row + c); }

// The float types share the kernels: esize bytes a weight, load8 (inlined, so
// each type gets its own loop) reading them.
ALWAYS_INLINE void gemv_float(const int esize, __m256 (*load8)(const uint8_t *, int), float *out, const float *x,
                              int cols, const uint8_t *W, int r0, int r1) {
    const size_t row_bytes = (size_t)cols * esize, ahead = PREFETCH_TILES * GEMV_ROWS * row_bytes;
    for (int r = r0; r < r1; r += GEMV_ROWS) {
        const uint8_t *w[GEMV_ROWS];
        for (int k = 0; k < GEMV_ROWS; k++) w[k] = W + (size_t)(r + k < r1 ? r + k : r1 - 1) * row_bytes;
        __m256 s[GEMV_ROWS];
        for (int k = 0; k < GEMV_ROWS; k++) s[k] = _mm256_setzero_ps();
        for (int c = 0; c < cols; c += 8) {
            __m256 xv = _mm256_loadu_ps(x + c);
            for (int k = 0; k < GEMV_ROWS; k++) {
                if (c % (64 / esize) == 0) _mm_prefetch((const char *)(w[k] + (size_t)esize * c + ahead), _MM_HINT_T0);
                s[k] = _mm256_fmadd_ps(load8(w[k], c), xv, s[k]);
            }
        }
        for (int k = 0; k < GEMV_ROWS && r + k < r1; k++) out[r + k] = fold8(s[k]);
    }
}

// QX_GEMM_W weight rows (fp32) against two activation rows at a time. ahead
// > 0: prefetch that many bytes past each weight row (the first pass over a
// tile streamed from memory, as the GEMV does).
ALWAYS_INLINE void float_tile(const int J, const float *const *w, const float *x, int i, int cols, float *out,
                              int ldo, int r, int r1, size_t ahead) {
    __m256 s[2][QX_GEMM_W];
    for (int j = 0; j < J; j++)
        for (int k = 0; k < QX_GEMM_W; k++) s[j][k] = _mm256_setzero_ps();
    for (int c = 0; c < cols; c += 8) {
        __m256 xv[2];
        for (int j = 0; j < J; j++) xv[j] = _mm256_loadu_ps(x + (size_t)(i + j) * cols + c);
        for (int k = 0; k < QX_GEMM_W; k++) {
            if (ahead && c % 16 == 0) _mm_prefetch((const char *)(w[k] + c) + ahead, _MM_HINT_T0);
            __m256 wv = _mm256_loadu_ps(w[k] + c);
            for (int j = 0; j < J; j++) s[j][k] = _mm256_fmadd_ps(wv, xv[j], s[j][k]);
        }
    }
    for (int j = 0; j < J; j++)
        for (int k = 0; k < QX_GEMM_W && r + k < r1; k++) out[(size_t)(i + j) * ldo + r + k] = fold8(s[j][k]);
}

ALWAYS_INLINE void float_tiles(const float *const *w, float *out, int ldo, const float *x, int n, int cols, int r,
                               int r1, size_t ahead) {
    int i = 0;
    for (; i + 2 <= n; i += 2) float_tile(2, w, x, i, cols, out, ldo, r, r1, ahead);
    if (i < n) float_tile(1, w, x, i, cols, out, ldo, r, r1, ahead);
}

static void gemv_f16(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemv_float(2, load8_f16, out, x, cols, W, r0, r1);
}

// Each tile's QX_GEMM_W weight rows (2 bytes a weight) are converted to
// fp32 once.
ALWAYS_INLINE void gemm_half(__m256 (*load8)(const uint8_t *, int), float *out, int ldo, const float *x, int n, int cols,
                             const uint8_t *W, int r0, int r1) {
    float *wf = xmalloc_aligned(sizeof(float) * QX_GEMM_W * (size_t)cols);
    const float *w[QX_GEMM_W];
    for (int k = 0; k < QX_GEMM_W; k++) w[k] = wf + (size_t)k * cols;
    for (int r = r0; r < r1; r += QX_GEMM_W) {
        for (int k = 0; k < QX_GEMM_W; k++) {
            const uint8_t *row = W + (size_t)(r + k < r1 ? r + k : r1 - 1) * cols * 2;
            for (int c = 0; c < cols; c += 8) _mm256_store_ps(wf + (size_t)k * cols + c, load8(row, c));
        }
        float_tiles(w, out, ldo, x, n, cols, r, r1, 0);
    }
    free(wf);
}

static void gemm_f16(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    gemm_half(load8_f16, out, ldo, x, n, cols, W, r0, r1);
}

static void gemv_bf16(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemv_float(2, load8_bf16, out, x, cols, W, r0, r1);
}

static void gemm_bf16(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    gemm_half(load8_bf16, out, ldo, x, n, cols, W, r0, r1);
}

// F32: the decode-sized products of fp32 models (kernels/linear.h), where a
// row's result must not depend on how many rows share the call.
static void gemv_f32(float *out, const float *x, int cols, const uint8_t *W, int r0, int r1) {
    gemv_float(4, load8_f32, out, x, cols, W, r0, r1);
}

static void gemm_f32(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    const size_t ahead = PREFETCH_TILES * QX_GEMM_W * (size_t)cols * 4;
    for (int r = r0; r < r1; r += QX_GEMM_W) {
        const float *w[QX_GEMM_W];
        for (int k = 0; k < QX_GEMM_W; k++) w[k] = (const float *)W + (size_t)(r + k < r1 ? r + k : r1 - 1) * cols;
        float_tiles(w, out, ldo, x, n, cols, r, r1, ahead);
    }
}

// --- the table ------------------------------------------------------------

static void gemv_ternary(float *out, const QAct *a, const QMat *m, int r0, int r1) {
    if (m->qk == QA_BLOCK) gemv_x16(QA_BLOCK, out, a, m, r0, r1);
    else gemv_x16(GGML_QK_K, out, a, m, r0, r1);
}

static void gemm_ternary(float *out, int ldo, const QAct *a, const QMat *m, int r0, int r1) {
    if (m->qk == QA_BLOCK) gemm_x16(QA_BLOCK, out, ldo, a, m, r0, r1);
    else gemm_x16(GGML_QK_K, out, ldo, a, m, r0, r1);
}

const QIsa QX_ISA = {
    .name = QX_NAME,
    .gemm_lanes = QGEMM_LANES,
    .ternary = {gemv_ternary, gemm_ternary},
    .q8_0 = {gemv_q8_0, gemm_q8_0},
    .f16 = {gemv_f16, gemm_f16},
    .bf16 = {gemv_bf16, gemm_bf16},
    .f32 = {gemv_f32, gemm_f32},
};
