// ggml_blocks.h — ggml's type ids and the byte layouts of their blocks
// (ggml-common.h), apart from the type table (ggml_types.h) so that the
// packers beneath the table (tpack.c) can name the fields.
#ifndef TRIT_GGML_BLOCKS_H
#define TRIT_GGML_BLOCKS_H

#include <stdint.h>

// ggml's type ids (upstream ggml.h numbering). Ids 36..41 are left out on
// purpose: they mean different things in upstream ggml and in the BitNet /
// PrismML forks, so a file using them is refused as "unknown type" rather
// than misread.
enum {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_Q2_0 = 42,
};

#define GGML_QK 32     // weights per block of the legacy types (Q4_0 .. Q8_0)
#define GGML_QK_K 256  // weights per super-block of the K-quants and TQ1_0/TQ2_0
#define GGML_QK2_0 64  // weights per block of Q2_0

// --- block layouts ----------------------------------------------------------
// `uint16_t` fields named d / m / dmin are IEEE fp16 scales.

typedef struct { uint16_t d; uint8_t qs[GGML_QK / 2]; } GgmlBlockQ4_0;              // q in 0..15, w = d*(q-8)
typedef struct { uint16_t d, m; uint8_t qs[GGML_QK / 2]; } GgmlBlockQ4_1;           // w = d*q + m
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[GGML_QK / 2]; } GgmlBlockQ5_0;  // 5th bit in qh
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[GGML_QK / 2]; } GgmlBlockQ5_1;
typedef struct { uint16_t d; int8_t qs[GGML_QK]; } GgmlBlockQ8_0;                   // w = d*q
typedef struct {
    uint8_t scales[GGML_QK_K / 16];  // per 16 weights: low nibble scale, high nibble min
    uint8_t qs[GGML_QK_K / 4];       // 2-bit codes
    uint16_t d, dmin;
} GgmlBlockQ2_K;
typedef struct {
    uint8_t hmask[GGML_QK_K / 8];    // high bit of each 3-bit code (set = no -4 offset)
    uint8_t qs[GGML_QK_K / 4];       // low 2 bits
    uint8_t scales[12];              // 16 signed 6-bit scales, packed
    uint16_t d;
} GgmlBlockQ3_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];              // 8 6-bit scales and 8 6-bit mins, packed
    uint8_t qs[GGML_QK_K / 2];       // 4-bit codes
} GgmlBlockQ4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[GGML_QK_K / 8];       // 5th bit
    uint8_t qs[GGML_QK_K / 2];
} GgmlBlockQ5_K;
typedef struct {
    uint8_t ql[GGML_QK_K / 2];       // low 4 bits
    uint8_t qh[GGML_QK_K / 4];       // high 2 bits
    int8_t scales[GGML_QK_K / 16];   // per 16 weights
    uint16_t d;
} GgmlBlockQ6_K;
typedef struct {
    uint8_t qs[(GGML_QK_K - 4 * GGML_QK_K / 64) / 5];  // 5 trits per byte (elements 0..239)
    uint8_t qh[GGML_QK_K / 64];                      // 4 trits per byte (elements 240..255)
    uint16_t d;                                      // scale last
} GgmlBlockTQ1_0;
typedef struct {
    uint8_t qs[GGML_QK_K / 4];       // 2-bit codes t+1, byte m of each 32-byte half holds m, m+32, m+64, m+96
    uint16_t d;                      // scale last
} GgmlBlockTQ2_0;
typedef struct {
    uint16_t d;                      // scale first
    uint8_t qs[GGML_QK2_0 / 4];      // 2-bit codes t+1, four consecutive weights per byte, LSB first
} GgmlBlockQ2_0;

#endif
