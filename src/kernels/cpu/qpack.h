// qpack.h — the run layout of a ternary matrix: what the packed kernels
// read, made once at load from the GGUF blocks (Q2_0, TQ2_0, TQ1_0).
//
// GGUF keeps a matrix row by row, so a kernel that runs 8 rows in the 8
// 32-bit lanes of a register must sum each row's lanes horizontally once per
// block of activations: about as many instructions as the products
// themselves. Here rows come 16 at a time ("groups"; the last one padded
// with rows of scale 0) and each lane is a row from the start:
//
//   codes: for group g and each block b of 64 columns, 256 bytes; byte
//          64c + 4l + i holds, in bits 2p (p = 0..3), the code (t + 1) of
//          row 16g + l at column 64b + 16p + 4c + i.
//   scales: after every group's codes, the fp16 scales [g][wb][16 rows], one
//          per row and weight block (the type's qk columns: 64 for Q2_0, 256
//          for TQ1_0 / TQ2_0).
//
// So 64 bytes hold 4 columns of 16 rows in each of 4 planes; masked to one
// plane and multiplied with those 4 columns' activations broadcast, one dot
// instruction (AVX-512: one 64-byte register; AVX2: two 32-byte halves of 8
// rows) leaves each row's partial sum in its own lane, and each broadcast
// serves 16 rows. The bytes are
// TQ2_0's and Q2_0's (2 bits a weight and one fp16 a block); TQ1_0's 1.6875
// bits a weight become 2.0625 (its base-3 digits cost the kernels more to
// decode than the bytes save).
#ifndef TRIT_QPACK_H
#define TRIT_QPACK_H

#include <stddef.h>
#include <stdint.h>

#define QPACK_ROWS 16      // rows of a group
#define QPACK_BLOCK 64     // columns of a block of codes
#define QPACK_BLOCK_BYTES (16 * QPACK_ROWS)  // one block of a group

// 1 for the GGUF types packed into this layout: the type table's ternary
// ones (ggml_types.h is_ternary).
int qpack_type_ok(uint32_t type);

// Bytes of a rows x cols matrix of `type` in the run layout (cols a
// multiple of 64 and of the type's block size).
size_t qpack_bytes(uint32_t type, int rows, int cols);

// Bytes of one group's codes (2 bits a weight).
static inline size_t qpack_group_bytes(int cols) { return (size_t)cols * QPACK_ROWS / 4; }

// The scales of a packed matrix: fp16 [groups][cols / qk][QPACK_ROWS],
// little-endian, 2 bytes each at any alignment (qpack_scale reads one).
static inline const uint8_t *qpack_scales(const void *packed, int rows, int cols) {
    return (const uint8_t *)packed + (size_t)((rows + QPACK_ROWS - 1) / QPACK_ROWS) * qpack_group_bytes(cols);
}
static inline uint16_t qpack_scale(const uint8_t *scales, size_t i) {
    return (uint16_t)(scales[2 * i] | scales[2 * i + 1] << 8);
}

// Packs rows x cols weights of `type`, GGUF blocks row by row (any
// alignment), into dst (qpack_bytes, 32-byte aligned).
void qpack(uint32_t type, const void *blocks, int rows, int cols, void *dst);

// Row r of a packed matrix with scales per qk columns: its codes code[cols]
// (0..3) in column order and its scales dw[cols / qk] as floats.
void qpack_row(const void *packed, int rows, int cols, int qk, int r, uint8_t *code, float *dw);

// Row r as floats (t * scale): the embedding lookup of a packed embedding.
void qpack_row_to_float(const void *packed, int rows, int cols, int qk, int r, float *out);

#endif
