// qdot_avx512.c — the kernels of qdot_x86.h for AVX-512 VNNI (built with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq, called only when
// cpuid says so). vpdpbusd sums four unsigned x signed byte products
// straight into int32, one instruction where AVX2 needs two plus an add.
// The vectors stay 256 bits wide: Zen 4 runs a 512-bit operation as two
// 256-bit halves, so wider registers would not add throughput but would
// double the horizontal work of GEMV; what AVX-512 adds here is VNNI and
// 32 vector registers, which let the GEMM tile grow to 8 x 2.
#include <immintrin.h>

typedef __m256i QXAcc;
#define QX_ZERO() _mm256_setzero_si256()
#define QX_DOT(acc, u8, s8) _mm256_dpbusd_epi32((acc), (u8), (s8))
#define QX_DOT32(acc, u8, s8) _mm256_dpbusd_epi32((acc), (u8), (s8))
#define QX_I32(acc) (acc)
#define QX_GEMM_W 8  // 8 x 2 accumulators + 2 activation vectors + 1 broadcast: 19 of 32 registers
#define QX_GEMM_G 2
#define QX_ZMM  // the ternary GEMV: 16 rows in one 512-bit register
#define QX_ISA qisa_avx512
#define QX_NAME "avx512"

#include "kernels/cpu/qdot_x86.h"
