// qmatmul.h — matrix products with packed weights (GGUF block types) on the
// CPU: the inference path for ternary models.
//
// The activations are quantized to int8 once per call, in blocks of 64 with
// one float scale each (kernels/cpu/qact.h), and every output is a sum of
// exact integer dot products per block, scaled in a fixed order
// (kernels/cpu/qkernels.h). So the result is the same bit for bit whichever
// kernel path (reference C, AVX2, AVX-512 VNNI) and however many threads
// compute it, and one row of an n-row product equals the 1-row product of
// that row. It is not the fp32 product of the dequantized weights: the
// activation rounding costs about 0.4% relative error per block
// (1/127 of the block's largest value, at most half of it per value).
//
// One binary for every x86-64-v3 machine: the kernel set is chosen once from
// cpuid (AVX-512 VNNI if present, else AVX2, else the reference), or forced
// by TRIT_QKERNELS=ref|avx2|avx512 in the environment or qkernels_force.
#ifndef TRIT_QMATMUL_H
#define TRIT_QMATMUL_H

#include <stdint.h>

// out[i][r] = sum_k inp[i][k] * W[r][k] for i < n, r < rows. W: for the
// ternary types (Q2_0, TQ1_0, TQ2_0) the run layout that qpack makes from
// their GGUF blocks (kernels/cpu/qpack.h, 32-byte aligned); for Q8_0, F16
// and F32 `rows` rows of GGUF blocks (row-major, any alignment). cols must be
// a multiple of the type's block size and of 64 (F16, F32: of 8). n == 1 streams the weights once (decode);
// n > 1 reuses each decoded weight block for many activation rows (prefill).
// A type that qmatmul_supported rejects is a programming error (abort).
void qmatmul(float *out, const float *inp, const void *W, uint32_t type, int rows, int cols, int n);

// The same product for `count` matrices of one type and width that read the
// same input (q, k and v; gate and up): one activation quantization and one
// parallel loop over all their rows. out[i][n][rows[i]]. Each output is what
// qmatmul gives it.
#define QMATMUL_MAX_MULTI 4
void qmatmul_multi(int count, float *const out[], const void *const W[], const int rows[], uint32_t type,
                   const float *inp, int cols, int n);

// 1 for the types qmatmul takes: Q2_0, TQ1_0, TQ2_0 and, for embeddings /
// LM heads kept at higher precision, Q8_0 (int8 against the same activation
// blocks) and F16 (fp32 activations, no quantization); F32 for the
// decode-sized products of fp32 models (kernels/linear.h), in the F16 order.
int qmatmul_supported(uint32_t type);
// 1 when qmatmul takes rows of `cols` weights of `type`: a supported type
// and cols a positive multiple of 64 and of the type's block size (F16 and
// F32: of 8).
int qmatmul_shape_ok(uint32_t type, int cols);

// Forces the kernel set: "ref", "avx2", "avx512", or "auto" (the best this
// CPU runs). Returns 0, or -1 (nothing changed) when the CPU lacks the
// instructions or the name is unknown. Not to be called while a qmatmul
// runs on another thread.
int qkernels_force(const char *isa);
// The name of the kernel set in use.
const char *qkernels_name(void);

#endif
