// ops.h — the layers of the transformer forward pass as plain functions over flat
// fp32 arrays, llm.c style: every function states its shapes; activations
// that the backward pass will need are written to caller-owned buffers.
//
// Shapes: B batch, T sequence, C hidden, NH query heads, NKV key/value heads,
// HD head dim, F MLP width, V vocabulary. Row-major; weights are stored as HF
// stores them, W[out][in].
#ifndef TRIT_OPS_H
#define TRIT_OPS_H

#include <stddef.h>
#include <stdint.h>

// RMSNorm over the last dim of N rows of width D:
// out = x / sqrt(mean(x^2) + eps) * w; rstd[n] saved for the backward pass.
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps);

// Rotary tables for positions 0..T-1, HF "rotate half" layout:
// cos/sin[t][i] for i < HD/2 with frequency theta^(-2i/HD).
void rope_tables(float *cos_t, float *sin_t, int T, int HD, double theta);
// The same from given frequencies inv_freq[half] (scaled RoPE variants).
void rope_tables_freq(float *cos_t, float *sin_t, int T, int half, const double *inv_freq);
// In place on x[B][T][H][HD]: pairs (i, i + HD/2) rotated by position t.
void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int HD);

// Causal grouped-query attention, flash-attention style: keys are visited in
// tiles with an online softmax, so memory is O(T) per head, never T×T.
// q[B][T][NH][HD], k,v[B][T][NKV][HD] -> out[B][T][NH][HD];
// lse[B][NH][T] = log-sum-exp of the scaled scores of each query row, saved
// so the backward pass can recompute the probabilities tile by tile.
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HD);

// Attention of n new queries of one sequence against its cached
// keys/values (positions KD = NKV*HD floats apart): the queries are at
// cache positions pos..pos+n-1 and query i sees the keys 0..pos-1 and,
// among the new ones, with parent == NULL every j <= i (causal), else query
// i is tree node first + i, at cache position pos + first + i, and sees its
// chain of nodes a = first + i, parent[a], parent[parent[a]], ... at
// positions pos + a (a draft tree: parent[a] < a, -1 for a root; nodes
// below `first` were cached by an earlier call). q[n][NH][HD] -> out[n][NH][HD].
// Every query visits its keys in increasing position order with the same
// arithmetic, so a row's result does not depend on the other rows: a draft
// token verified inside a tree equals the same token decoded alone.
// Scores are kept whole per (query, head): pos + n floats a thread.
void attention_forward_cached(float *out, const float *q, const float *k, const float *v, int n, int pos,
                              const int *parent, int first, int NH, int NKV, int HD);
// n queries of different sequences, one each (a batched decode step): query
// i sees the cached keys 0..row_pos[i]-1 of slot row_slot[i] (at k +
// row_slot[i] * slot_stride, positions KD floats apart), then its own new
// key k_new[i] (values likewise): the same keys in the same order, with the
// same arithmetic, as attention_forward_cached gives that query alone.
void attention_forward_rows(float *out, const float *q, const float *k_new, const float *v_new, const float *k,
                            const float *v, size_t slot_stride, const int *row_slot, const int *row_pos, int n, int NH,
                            int NKV, int HD);

// h = silu(gate) * up, elementwise over n values.
void swiglu_forward(float *h, const float *gate, const float *up, size_t n);

// out = a + b over n values (the residual connections).
void residual_forward(float *out, const float *a, const float *b, size_t n);

#endif
