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
//    shapes alone. Matrix products go through sgemm_det (gemm.h), because
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

#endif
