// ops_backward.h — the backward pass of every op in ops.h, same flat fp32
// arrays and shape letters (B, T, C, NH, NKV, HD, F, V; BT = B*T).
//
// Conventions, so that a training step can chain them without surprises:
//  * Parameter gradients (dW of a matmul, dw of a norm, dembed, dWh) are
//    ACCUMULATED (+=): zero the gradient buffer once per optimizer step and
//    micro-batches (and a tied embedding/LM head) add into it.
//  * Input gradients are accumulated (+=) too, unless the function says "="
//    below: the residual stream and the input of q/k/v all receive several
//    contributions. The ops whose input has a single consumer write (=) and
//    say so: swiglu_backward, attention_backward, rope_backward (in place),
//    lm_head_loss_backward (dx).
//  * Every result is bit-identical for any OpenMP thread count: no atomics,
//    no per-thread partial sums; every sum runs in an order fixed by the
//    shapes alone. Matrix products go through sgemm_det below, because
//    threaded OpenBLAS itself is not reproducible across thread counts.
//    tests/test_gradcheck.c checks 1, 2 and 3 threads.
//
// Residual connections (out = a + b) need no function: the gradient of the
// output flows unchanged into both inputs. In the model one buffer dresid
// (BT, C) carries the residual-stream gradient backwards; each block reads
// it as the dout of its last matmul (o_proj / down_proj) and its RMSNorm
// backward adds the branch's contribution into it (dx +=).
//
// Straight-through ternary weights: pass the W that the forward used (the
// ternary copy) to matmul_backward and point dW at the gradient of the
// latent fp32 weights; the estimator is the identity, nothing else to do.
#ifndef TRIT_OPS_BACKWARD_H
#define TRIT_OPS_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/linear.h"

// Row-major C[M][N] = alpha·op(A)[M][K]·op(B)[K][N] + beta·C, as cblas_sgemm
// (op(A) = A^T when transA, A then stored K×M), bit-identical for any thread
// count: C is cut into tiles chosen from M and N alone (512×512, smaller
// when C is small), each computed by a single-threaded sgemm over all of K,
// the tiles spread over OpenMP threads.
// Threaded OpenBLAS cuts C by the number of threads and its edge kernels sum
// in another order, so its results change with OMP_NUM_THREADS (seen with
// 0.3.21 on 100×1000×777). matmul_forward in ops.c has that problem too and
// should call this for reproducible training.
void sgemm_det(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, float *C, int ldc);
// The tile size sgemm_det cuts an M×N result into (gemm_bf16.h cuts the same).
void sgemm_det_tiles(int M, int N, int *tm, int *tn);

// For out[M][N] = inp[M][K] · W[N][K]^T:
//   dinp[M][K] += dout[M][N] · W[N][K]        (sgemm NN)
//   dW[N][K]   += dout[M][N]^T · inp[M][K]    (sgemm TN)
// Either of dinp, dW may be NULL to skip it. Both via sgemm_det.
void matmul_backward(float *dinp, float *dW, const float *dout, const float *inp, const float *W, int M, int N, int K);

// dembed[tokens[bt]][:] += dout[bt][:]. Parallel over column blocks, each
// summing the rows in order bt = 0..BT-1, so repeated tokens accumulate in a
// fixed order whatever the thread count.
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int BT, int C);

// RMSNorm over N rows of width D, y = x · rstd · w with the rstd saved by
// rmsnorm_forward:
//   dx[n][i] += rstd·(dout·w)[i] − x[n][i]·rstd³/D · Σ_j dout[n][j]·w[j]·x[n][j]
//   dw[i]    += Σ_n dout[n][i]·x[n][i]·rstd[n]
// dw is summed per fixed block of rows, then over the blocks in order (in
// double), so it does not depend on the thread count. Either of dx, dw may be
// NULL. The head norms are the same call with N = BT·NH (or BT·NKV), D = HD.
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int D);

// In place on dx[B][T][H][HD]: the inverse rotation of rope_forward (its
// transpose), turning d(rotated) into d(unrotated). Tables as rope_tables.
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H, int HD);

// Backward of attention_forward (causal GQA, scale 1/sqrt(HD)), written (=)
// into dq[B][T][NH][HD], dk, dv[B][T][NKV][HD]. Needs the forward's out and
// lse. FlashAttention-2 style: D_i = rowsum(dO_i ∘ O_i); for each 64×64 tile
// of (query, key) it recomputes P = exp(S·scale − lse), then dV += P^T dO,
// dP = dO V^T, dS = P ∘ (dP − D), dQ += scale·dS K, dK += scale·dS^T Q, the
// products done by sgemm on the tile. Extra memory is O(T) per task (two
// 64×64 tiles and D), never T×T. One task per (batch, kv head) owns the dk
// and dv rows of that head and the dq rows of the query heads of its group,
// so no two threads write the same row; B·NKV tasks.
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *out, const float *lse, int B, int T, int NH, int NKV, int HD);

// Backward of h = silu(gate)·up over n values, written (=):
//   dgate = dh·up·silu'(gate),  silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
//   dup   = dh·silu(gate)
// Element i is read before it is written, so dgate may alias gate or dh and
// dup may alias up (to reuse the saved activations as gradient buffers).
void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, size_t n);

// Fused LM head + cross-entropy, forward and backward, for training.
// x[BT][C] (after the final norm), Wh[V][C] (F32, or BF16 for bf16 training:
// the products then run as linear_backward's). Rows go in chunks (chunk_rows
// rows at a time, ≤ 0 picks lm_head_chunk_rows(V), the forward's chunking:
// 64 MB of logits, at most 256 rows), so the BT×V logits never exist at once. For each chunk:
//   logits = x·Wh^T; loss_r = logsumexp(logits_r) − logits_r[target_r];
//   dlogits_r = (softmax(logits_r) − onehot(target_r))·dloss;
//   dx (=) dlogits·Wh;  dWh (+=) dlogits^T·x.
// Rows with target < 0 get loss 0 and dx 0 and add nothing to dWh. dloss is
// the gradient of the training loss with respect to each row's loss: 1/count
// for the mean over this batch (count = number of targets ≥ 0), 1/total_count
// when micro-batches are accumulated. A tied head passes dWh = dembed.
// losses[BT] (may be NULL) receives the per-row losses, computed as
// lm_head_loss_forward does (equal to its values up to the rounding of the
// logits, which its threaded sgemm makes thread-count dependent). Returns
// the summed loss, summed in row order (deterministic); *count (may be NULL)
// gets the number of counted rows. dx or dWh may be NULL to skip it.
//
// A chunk costs a pass over Wh (logits), another over Wh (dx) and a
// read-modify-write of dWh, so training at a large V wants more rows per
// chunk than the default: e.g. 256 rows at V = 151936 is 155 MB of logits
// and 110/256 of the passes over the 622 MB head that the default 110 rows take.
//
// Distillation (teacher not NULL): the teacher's logits for the same rows are
// computed chunk by chunk beside the student's (the teacher's final-norm
// output x[BT][C] and head Wh[V][C], C its own width), and each counted row's
// loss becomes α·CE + (1 − α)·τ²·KL(p_t ‖ p_s) with p = softmax(logits/τ)
// over the whole vocabulary (Hinton's τ² keeps the gradient's scale when τ
// changes). Its gradient: dlogits = dloss·[α·(softmax − onehot) + (1 − α)·τ·
// (p_s − p_t)]. losses and the return value hold the combined loss; *sums
// (may be NULL) gets Σ CE and Σ KL over the counted rows (KL 0 without a teacher).
typedef struct {
    const float *x;       // the teacher's final-norm output (BT, C), C = Wh->cols
    const WTensor *Wh;    // its LM head (V, C), F32 or BF16
    float alpha, temp;    // α in [0, 1], τ > 0
} HeadTeacher;

typedef struct { double ce, kl; } HeadLossSums;

double lm_head_loss_backward(float *dx, float *dWh, float *losses, const float *x, const WTensor *Wh,
                             const int32_t *targets, int BT, float dloss, int chunk_rows,
                             const HeadTeacher *teacher, HeadLossSums *sums, size_t *count);

#endif
