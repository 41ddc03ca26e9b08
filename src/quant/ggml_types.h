// ggml_types.h — the ggml tensor types that GGUF files use: one table of
// traits per type (id, name, weights per block, bytes per block, to_float,
// from_float, whether it is a ternary type). Which packed-weight kernels run
// a type is the kernels' own table (kernels/qmatmul.c), as in ggml's
// type_traits_cpu.
//
// A tensor of type T stores each row of ne[0] weights as ne[0] / block_size
// blocks of type_size bytes, back to back. The block layouts below are those
// of ggml (ggml-common.h) and of the reference dequantizers in the PyPI `gguf`
// package (gguf/quants.py); to_float reproduces the latter bit for bit,
// including the order of float32 operations (e.g. Q4_1 is (d * q) + m, two
// roundings, never one fused multiply-add).
//
// Multi-byte fields are little-endian and a block may sit at any address
// (GGUF only aligns tensors to general.alignment, which may be 1), so the
// dequantizers read fields byte-wise; the structs exist to pin the layouts
// down (sizeof checked at compile time) and to name the field offsets.
#ifndef TRIT_GGML_TYPES_H
#define TRIT_GGML_TYPES_H

#include <stdint.h>

#include "quant/ggml_blocks.h"

// Dequantizes n weights (a multiple of the type's block_size) from `blocks`
// (n / block_size * type_size bytes, any alignment) into out[n].
typedef void (*GgmlToFloat)(const void *blocks, float *out, int64_t n);
// Stores n weights x (a multiple of block_size) as blocks. 0, or -1 with
// *bad_block = the first block the type cannot hold: the ternary types
// refuse a block that is not exactly ternary with an fp16 scale
// (quant/tpack.h); the others round (F16, BF16 to nearest even; Q8_0 as
// ggml's quantize_row_q8_0_ref) and never refuse.
typedef int (*GgmlFromFloat)(const float *x, void *blocks, int64_t n, int64_t *bad_block);

typedef struct {
    uint32_t id;
    const char *name;        // as ggml and gguf-py spell it: "Q4_K", "BF16"
    int block_size;          // weights per block
    int type_size;           // bytes per block
    GgmlToFloat to_float;    // NULL: listed, but no dequantizer yet
    GgmlFromFloat from_float;  // NULL: trit does not write this type
    int is_ternary;          // codes t in {-1, 0, 1} times one fp16 scale a block (TQ1_0, TQ2_0, Q2_0)
} GgmlType;

// The type with that id; NULL for an id this table does not know.
const GgmlType *ggml_type_find(uint32_t id);
// The type with that name ("Q8_0"); NULL when unknown.
const GgmlType *ggml_type_find_name(const char *name);
// Every known type in id order, for listings: i in [0, ggml_type_count()).
int ggml_type_count(void);
const GgmlType *ggml_type_at(int i);

#endif
