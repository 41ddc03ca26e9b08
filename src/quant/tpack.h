// tpack.h — exact ternary rows packed into the GGUF ternary block types.
//
// A row that is already ternary (every value 0 or ±s_b, one s_b per block,
// as the ternary projection in quant/ternary.h makes them) is written into
// TQ1_0, TQ2_0 or Q2_0 blocks with d = fp16(s_b) and codes t + 1, so that
// the type's to_float (quant/ggml_types.h) gives back the same values. This
// is no quantizer: a block that would lose anything is refused, never
// rounded, because an exported model must compute what the trained one did.
//
// Block sizes: TQ1_0 and TQ2_0 256 weights, Q2_0 64. A ternary group of 128
// (the training default) therefore packs into Q2_0 always, into TQ1_0/TQ2_0
// only when both 128-groups of each 256-block share one scale.
#ifndef TRIT_TPACK_H
#define TRIT_TPACK_H

#include <stdint.h>

// Packs q[n] (n a multiple of the type's block size) into n / block_size
// blocks at out (any alignment). Each block of q must hold only 0 and ±s,
// s = max|q| over the block, s finite and exactly representable in fp16
// (f16_to_f32(f32_to_f16(s)) == s). Zeros of either sign are code 1 and
// come back as +0.0; every other value comes back bit for bit.
// Returns 0, or -1 with *bad_block = the first block that breaks the rule
// (out then holds unspecified bytes); -1 with *bad_block = -1 for a type
// other than the three, or n not a multiple of its block size.
int ternary_pack(uint32_t ggml_type, const float *q, int64_t n, void *out, int64_t *bad_block);

// The same for one type: the from_float of its row in the type table.
int tq1_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block);
int tq2_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block);
int q2_0_pack(const float *q, void *out, int64_t n, int64_t *bad_block);

#endif
