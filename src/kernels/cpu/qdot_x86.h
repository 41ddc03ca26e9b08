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
//   QX_ISA, QX_NAME           the exported table and its name.
// Everything else is AVX2 (+ F16C); the difference between the two files is
// how 32 byte products are summed (vpmaddubsw + vpmaddwd against one
// vpdpbusd) and how many registers a tile may use.
//
// Both kernels run the per-output sequence of qkernels.h on 8 outputs at a
// time, one per 32-bit float lane:
//  - GEMV (one activation row): 8 weight rows. Per activation block each row
//    leaves 8 int32 partial sums; hsum8 folds the 8 rows' vectors into one
//    vector of 8 row totals (15 instructions for 8 rows), and the float
//    update runs lane-wise: lane r is weight row r.
//  - GEMM: QX_GEMM_W weight rows against groups of 8 activation rows stored
//    interleaved (qact.h lanes = 8): 4 codes of one weight row, broadcast,
//    meet 4 values of 8 activation rows, so every int32 lane is one output
//    and no horizontal sums are needed. Each weight row is decoded once per
//    tile into a byte buffer and reused for every activation row.
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

// --- decoders: one block to its codes (values 0..3), in the order of its
// activations (qact.h QOrder); `code` is 32-byte aligned -------------------

// Q2_0: 16 bytes, weight 4i + p in bits 2p of byte i. Shifting the whole
// 16 bytes by 2p and masking gives plane p (weights p, 4 + p, ...): the
// planes order, two planes per 256-bit register.
ALWAYS_INLINE void dec_q2_0(const uint8_t *b, uint8_t *code) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + offsetof(GgmlBlockQ2_0, qs))));
    __m256i p01 = _mm256_srlv_epi32(x, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2));
    __m256i p23 = _mm256_srlv_epi32(x, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6));
    _mm256_store_si256((__m256i *)code, _mm256_and_si256(p01, m3));
    _mm256_store_si256((__m256i *)(code + 32), _mm256_and_si256(p23, m3));
}

// TQ2_0: bits 2t of the 32 bytes of half h are weights 128h + 32t + m, so
// one shift per t gives 32 consecutive weights: natural order.
ALWAYS_INLINE void dec_tq2_0(const uint8_t *b, uint8_t *code) {
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(b + 32 * h));
        _mm256_store_si256((__m256i *)(code + 128 * h), _mm256_and_si256(x, m3));
        _mm256_store_si256((__m256i *)(code + 128 * h + 32), _mm256_and_si256(_mm256_srli_epi16(x, 2), m3));
        _mm256_store_si256((__m256i *)(code + 128 * h + 64), _mm256_and_si256(_mm256_srli_epi16(x, 4), m3));
        _mm256_store_si256((__m256i *)(code + 128 * h + 96), _mm256_and_si256(_mm256_srli_epi16(x, 6), m3));
    }
}

// floor(3x / 256) per byte, the top base-3 digit of x: with y = x - 1
// (saturating), avg(y, avg(y, 0)) is about 3y / 4 and its top two bits are
// the digit, exactly for all 256 x (ggml's TQ1_0 trick; the - 1 fixes
// x = 85, 170, 255).
ALWAYS_INLINE __m256i top_trit(__m256i x) {
    __m256i y = _mm256_subs_epu8(x, _mm256_set1_epi8(1));
    __m256i t = _mm256_avg_epu8(y, _mm256_avg_epu8(y, _mm256_setzero_si256()));
    return _mm256_and_si256(_mm256_srli_epi16(t, 6), _mm256_set1_epi8(3));
}

ALWAYS_INLINE __m256i times3(__m256i x) { return _mm256_add_epi8(_mm256_add_epi8(x, x), x); }

// TQ1_0: digit n of a byte is top_trit(byte * 3^n mod 256). qs[0..32) give
// weights 32n + m; qs[32..48) (low half of y) weights 160 + 16n + m; qh,
// repeated in the four dwords of y's high half, weights 240 + 4n + j, taken
// from dword n of digit n. Natural order.
ALWAYS_INLINE void dec_tq1_0(const uint8_t *b, uint8_t *code) {
    uint32_t qh;
    memcpy(&qh, b + offsetof(GgmlBlockTQ1_0, qh), 4);
    __m256i x = _mm256_loadu_si256((const __m256i *)b);
    __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b + 32))),
                                        _mm_set1_epi32((int)qh), 1);
    __m256i ty[5];
    for (int n = 0; n < 5; n++) {
        _mm256_store_si256((__m256i *)(code + 32 * n), top_trit(x));
        ty[n] = top_trit(y);
        _mm_store_si128((__m128i *)(code + 160 + 16 * n), _mm256_castsi256_si128(ty[n]));
        x = times3(x);
        y = times3(y);
    }
    __m256i h = _mm256_blend_epi32(_mm256_blend_epi32(_mm256_blend_epi32(ty[0], ty[1], 0x20), ty[2], 0x40), ty[3], 0x80);
    _mm_store_si128((__m128i *)(code + 240), _mm256_extracti128_si256(h, 1));
}

// The codes of activation block j of a block straight into two registers,
// for GEMV, which uses each code once (no trip through memory). TQ1_0 has
// none: its base-3 digits come out 32 or 16 at a time in an order that does
// not split into 64-blocks cheaply, so GEMV decodes it whole.
ALWAYS_INLINE void codes_q2_0(const uint8_t *b, int j, __m256i *c0, __m256i *c1) {
    (void)j;  // one activation block per Q2_0 block
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + offsetof(GgmlBlockQ2_0, qs))));
    *c0 = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), m3);
    *c1 = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), m3);
}

ALWAYS_INLINE void codes_tq2_0(const uint8_t *b, int j, __m256i *c0, __m256i *c1) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i x = _mm256_loadu_si256((const __m256i *)(b + 32 * (j / 2)));
    if (j % 2) x = _mm256_srli_epi16(x, 4);
    *c0 = _mm256_and_si256(x, m3);
    *c1 = _mm256_and_si256(_mm256_srli_epi16(x, 2), m3);
}

// Q8_0: the int8 weights as they are (dot_signed takes them signed).
ALWAYS_INLINE void dec_q8_0(const uint8_t *b, uint8_t *code) {
    _mm256_store_si256((__m256i *)code, _mm256_loadu_si256((const __m256i *)(b + offsetof(GgmlBlockQ8_0, qs))));
}

// Signed weights w against signed activations q with the unsigned x signed
// byte products: |w| * (q * sign(w)). |w| <= 128 (vpabsb of -128 is 128 as
// an unsigned byte), so a pair of products stays within int16 (32512).
ALWAYS_INLINE __m256i sign_q(__m256i q, __m256i w) { return _mm256_sign_epi8(q, w); }

ALWAYS_INLINE uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

// The weight type as the kernels see it.
typedef void (*Decoder)(const uint8_t *block, uint8_t *code);
typedef void (*Codes)(const uint8_t *block, int j, __m256i *c0, __m256i *c1);
typedef struct {
    Decoder decode;     // a whole block into a buffer (GEMM; GEMV without `codes`)
    Codes codes;        // NULL: GEMV decodes through a buffer too
    int qk, ts, d_off;  // weights and bytes per block, offset of the fp16 scale
    int q8;             // Q8_0: signed int8 weights, two blocks per activation block
} WType8;

// --- GEMV ---------------------------------------------------------------

#define GEMV_ROWS 8
#define PREFETCH_TILES 2

// Lane r of the result = the sum of the 8 int32 lanes of v[r]. Every lane
// and every partial sum fits in int16 (a lane sums at most 8 products of a
// code <= 3 and |q| <= 127: 3048; a whole block at most 24384), so the tree
// alternates vpackssdw (two rows into one register, no saturation) with
// vpmaddwd against ones (adjacent pairs summed, back to int32): 15
// instructions for 8 rows, half of them on the multiply ports rather than
// the shuffle ports.
ALWAYS_INLINE __m256i hsum8(const __m256i v[GEMV_ROWS]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[4], u[2];
    for (int k = 0; k < 4; k++)  // [a01, a23, b01, b23] per 128-bit half
        s[k] = _mm256_madd_epi16(_mm256_packs_epi32(v[2 * k], v[2 * k + 1]), ones);
    for (int k = 0; k < 2; k++)  // [a, b, c, d] per half
        u[k] = _mm256_madd_epi16(_mm256_packs_epi32(s[2 * k], s[2 * k + 1]), ones);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u[0], u[1], 0x20), _mm256_permute2x128_si256(u[0], u[1], 0x31));
}

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

ALWAYS_INLINE void gemv_rows(WType8 t, float *out, const QAct *a, const uint8_t *W, int r0, int r1) {
    const int nwb = a->cols / t.qk, bpw = t.qk / QA_BLOCK;
    const size_t row_bytes = (size_t)nwb * t.ts;
    _Alignas(32) uint8_t code[GEMV_ROWS][GGML_QK_K];
    const size_t ahead = PREFETCH_TILES * GEMV_ROWS * row_bytes;
    for (int r = r0; r < r1; r += GEMV_ROWS) {
        const uint8_t *w[GEMV_ROWS];  // rows past r1 repeat the last one
        for (int k = 0; k < GEMV_ROWS; k++) w[k] = W + (size_t)(r + k < r1 ? r + k : r1 - 1) * row_bytes;
        __m256 acc = _mm256_setzero_ps();
        for (int wb = 0; wb < nwb; wb++) {
            _Alignas(16) uint16_t h[GEMV_ROWS];
            for (int k = 0; k < GEMV_ROWS; k++) {
                const uint8_t *blk = w[k] + (size_t)wb * t.ts;
                // The bytes PREFETCH_TILES tiles on, one request per block
                // (blocks are about a cache line): the hardware prefetcher
                // alone keeps too few DRAM reads in flight for 8 row streams.
                _mm_prefetch((const char *)(blk + ahead), _MM_HINT_T0);
                if (!t.codes) t.decode(blk, code[k]);
                h[k] = rd16(blk + t.d_off);
            }
            __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)h));
#pragma GCC unroll 4
            for (int j = 0; j < bpw; j++) {
                const int b = wb * bpw + j;
                const int8_t *q = a->q + (size_t)b * QA_BLOCK;
                __m256i q0 = _mm256_load_si256((const __m256i *)q), q1 = _mm256_load_si256((const __m256i *)(q + 32));
                __m256i s[GEMV_ROWS];
                for (int k = 0; k < GEMV_ROWS; k++) {
                    __m256i c0, c1;
                    if (t.codes) {
                        t.codes(w[k] + (size_t)wb * t.ts, j, &c0, &c1);
                    } else {
                        c0 = _mm256_load_si256((const __m256i *)(code[k] + j * QA_BLOCK));
                        c1 = _mm256_load_si256((const __m256i *)(code[k] + j * QA_BLOCK + 32));
                    }
                    s[k] = QX_I32(QX_DOT(QX_DOT(QX_ZERO(), c0, q0), c1, q1));
                }
                __m256i isum = _mm256_sub_epi32(hsum8(s), _mm256_set1_epi32(a->sum[b]));
                __m256 p = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a->d[b])), _mm256_cvtepi32_ps(isum));
                acc = _mm256_add_ps(acc, p);
            }
        }
        store_rows(out, r, r1, acc);
    }
}

// --- GEMM ---------------------------------------------------------------

// Weight rows r..r+QX_GEMM_W (codes: QX_GEMM_W rows of cols bytes, dw: their
// block scales) against activation groups g..g+G: out rows 8g.. , columns r..
ALWAYS_INLINE void gemm_tile(const int G, WType8 t, const uint8_t *code, const float *dw, const QAct *a, int g,
                             float *out, int ldo, int r, int r1) {
    const int cols = a->cols, nb = cols / QA_BLOCK, nwb = cols / t.qk;
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
                    memcpy(&four, code + (size_t)w * cols + b * QA_BLOCK + 4 * c, 4);
                    __m256i wv = _mm256_set1_epi32(four);
                    if (t.q8) {
                        __m256i u = _mm256_abs_epi8(wv);
                        for (int gg = 0; gg < G; gg++) acc[gg][w] = QX_DOT32(acc[gg][w], u, sign_q(av[gg], wv));
                    } else {
                        for (int gg = 0; gg < G; gg++) acc[gg][w] = QX_DOT(acc[gg][w], wv, av[gg]);
                    }
                }
            }
            for (int gg = 0; gg < G; gg++) {
                const size_t s = ((size_t)(g + gg) * nb + b) * QGEMM_LANES;
                __m256i sum = _mm256_load_si256((const __m256i *)(a->sum + s));
                __m256 d = _mm256_load_ps(a->d + s);
                for (int w = 0; w < QX_GEMM_W; w++) {
                    __m256i isum = t.q8 ? acc[gg][w] : _mm256_sub_epi32(QX_I32(acc[gg][w]), sum);
                    float dwp = dw[w * nwb + (t.q8 ? parts * b + part : b / (t.qk / QA_BLOCK))];
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

ALWAYS_INLINE void gemm_rows(WType8 t, float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) {
    const int cols = a->cols, nwb = cols / t.qk, groups = (a->n + QGEMM_LANES - 1) / QGEMM_LANES;
    const size_t row_bytes = (size_t)nwb * t.ts;
    uint8_t *code = xmalloc_aligned((size_t)QX_GEMM_W * cols);
    float *dw = xmalloc(sizeof(float) * QX_GEMM_W * (size_t)nwb);
    for (int r = r0; r < r1; r += QX_GEMM_W) {
        for (int w = 0; w < QX_GEMM_W; w++) {
            const uint8_t *row = W + (size_t)(r + w < r1 ? r + w : r1 - 1) * row_bytes;
            for (int wb = 0; wb < nwb; wb++) {
                const uint8_t *blk = row + (size_t)wb * t.ts;
                t.decode(blk, code + (size_t)w * cols + (size_t)wb * t.qk);
                dw[w * nwb + wb] = _cvtsh_ss(rd16(blk + t.d_off));
            }
        }
        int g = 0;
        for (; g + QX_GEMM_G <= groups; g += QX_GEMM_G) gemm_tile(QX_GEMM_G, t, code, dw, a, g, out, ldo, r, r1);
        for (; g < groups; g++) gemm_tile(1, t, code, dw, a, g, out, ldo, r, r1);
    }
    free(code);
    free(dw);
}

// --- Q8_0 GEMV -------------------------------------------------------------

// Lane r = the sum of the 8 int32 lanes of v[r], for Q8_0, whose lanes (four
// products of up to 128 * 127) do not fit the int16 tree of hsum8: unpack and
// add, 21 instructions for 8 rows.
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

static void gemv_q8_0(float *out, const QAct *a, const uint8_t *W, int r0, int r1) {
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

// --- F16 and F32 ----------------------------------------------------------

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
ALWAYS_INLINE __m256 load8_f32(const uint8_t *row, int c) { return _mm256_loadu_ps((const float *)row + c); }

// F16 and F32 share the kernels: esize bytes a weight, load8 (inlined, so
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

// Each tile's QX_GEMM_W weight rows are converted to fp32 once.
static void gemm_f16(float *out, int ldo, const float *x, int n, int cols, const uint8_t *W, int r0, int r1) {
    float *wf = xmalloc_aligned(sizeof(float) * QX_GEMM_W * (size_t)cols);
    const float *w[QX_GEMM_W];
    for (int k = 0; k < QX_GEMM_W; k++) w[k] = wf + (size_t)k * cols;
    for (int r = r0; r < r1; r += QX_GEMM_W) {
        for (int k = 0; k < QX_GEMM_W; k++) {
            const uint8_t *row = W + (size_t)(r + k < r1 ? r + k : r1 - 1) * cols * 2;
            for (int c = 0; c < cols; c += 8) _mm256_store_ps(wf + (size_t)k * cols + c, load8_f16(row, c));
        }
        float_tiles(w, out, ldo, x, n, cols, r, r1, 0);
    }
    free(wf);
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

#define QX_TYPE(name, codes, qk, block)                                                              \
    static const WType8 wt_##name = {dec_##name, codes, qk, sizeof(block), offsetof(block, d), 0};   \
    static void gemv_##name(float *out, const QAct *a, const uint8_t *W, int r0, int r1) {          \
        gemv_rows(wt_##name, out, a, W, r0, r1);                                                     \
    }                                                                                                \
    static void gemm_##name(float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) { \
        gemm_rows(wt_##name, out, ldo, a, W, r0, r1);                                                \
    }
QX_TYPE(q2_0, codes_q2_0, GGML_QK2_0, GgmlBlockQ2_0)
QX_TYPE(tq1_0, NULL, GGML_QK_K, GgmlBlockTQ1_0)
QX_TYPE(tq2_0, codes_tq2_0, GGML_QK_K, GgmlBlockTQ2_0)

static const WType8 wt_q8_0 = {dec_q8_0, NULL, GGML_QK, sizeof(GgmlBlockQ8_0), offsetof(GgmlBlockQ8_0, d), 1};
static void gemm_q8_0(float *out, int ldo, const QAct *a, const uint8_t *W, int r0, int r1) {
    gemm_rows(wt_q8_0, out, ldo, a, W, r0, r1);
}

const QIsa QX_ISA = {
    .name = QX_NAME,
    .gemm_lanes = QGEMM_LANES,
    .q2_0 = {gemv_q2_0, gemm_q2_0},
    .tq1_0 = {gemv_tq1_0, gemm_tq1_0},
    .tq2_0 = {gemv_tq2_0, gemm_tq2_0},
    .q8_0 = {gemv_q8_0, gemm_q8_0},
    .f16 = {gemv_f16, gemm_f16},
    .f32 = {gemv_f32, gemm_f32},
};
