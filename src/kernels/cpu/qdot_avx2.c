// qdot_avx2.c — the kernels of qdot_x86.h for AVX2 (built with -mavx2 -mfma
// -mf16c, called only when cpuid says so). 32 products are summed by
// vpmaddubsw into 16-bit pairs, which cannot saturate: a pair is at most
// 2 * 3 * 127 = 762 and a GEMM block adds 16 of them (12192 < 32767); one
// vpmaddwd against ones then widens the pairs of each dword to int32. Q8_0's
// pairs reach 2 * 128 * 127 = 32512, so its GEMM widens after every one.
#include <immintrin.h>

typedef __m256i QXAcc;
#define QX_ZERO() _mm256_setzero_si256()
#define QX_DOT(acc, u8, s8) _mm256_add_epi16(_mm256_maddubs_epi16((u8), (s8)), (acc))
#define QX_DOT32(acc, u8, s8) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u8), (s8)), _mm256_set1_epi16(1)))
#define QX_I32(acc) _mm256_madd_epi16((acc), _mm256_set1_epi16(1))
#define QX_GEMM_W 4  // 4 x 2 accumulators + 2 activation vectors + 1 broadcast: 11 of 16 registers (the 8 float sums wait on the stack between blocks)
#define QX_GEMM_G 2
// The ternary GEMV prefetches its codes this many blocks (of 256 bytes)
// ahead: on 2 Zen 3 cores (AVX2 only) one thread streamed 32768 x 8192
// Q2_0 at 10-11 GB/s without, 17-18 with 12 blocks (8 and 16: 13-17).
#define QX_PREFETCH_BLOCKS 12
#define QX_ISA qisa_avx2
#define QX_NAME "avx2"

#include "kernels/cpu/qdot_x86.h"
