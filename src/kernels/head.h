// head.h — the LM head and its loss: logits in chunks of rows (the BT×V
// logits never exist at once), cross-entropy, and distillation against a
// teacher's logits, forward and backward side by side.
#ifndef TRIT_HEAD_H
#define TRIT_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/linear.h"

// Rows of logits the LM head computes per BLAS call by default: as many as
// fit in 64 MB (110 rows at Qwen3's 151,936-token vocabulary), at most 256 —
// enough rows for an efficient GEMM, while the BT × V logits never exist at
// once. The passes below take chunk_rows (≤ 0: this default); tests pass
// fewer to force several chunks.
int lm_head_chunk_rows(int V);

// LM head + cross-entropy, computed in chunks of rows so that the BT×V
// logits never exist at once. x[BT][C] (after the final norm), Wh[V][C]
// in any storage type linear_forward runs.
// losses[bt] = -log softmax(x·Wh^T)[targets[bt]] (rows with target < 0 get 0
// and are not counted). If logits_out is not NULL the full logits are copied
// there (tests and small models only). Returns the summed loss over counted
// rows; *count receives their number.
double lm_head_loss_forward(float *losses, float *logits_out, const float *x, const WTensor *Wh,
                            const int32_t *targets, int BT, int C, int V, int chunk_rows, size_t *count);

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
// loss becomes α·CE + (1 − α)·τ²·D with p = softmax(logits/τ) over the whole
// vocabulary and D = (1 − β)·KL(p_t ‖ p_s) + β·KL(p_s ‖ p_t) (Hinton's τ²
// keeps the gradient's scale when τ changes). The forward KL spreads the
// student's mass over everything the teacher allows; the reverse one (β > 0,
// as in MiniLLM and BitDistiller's CAKLD) puts it on the teacher's likeliest
// tokens, which is what greedy answers read. Gradient:
//   dlogits = dloss·[α·(softmax − onehot) + (1 − α)·τ·((1 − β)·(p_s − p_t)
//             + β·p_s·(log p_s − log p_t − KL(p_s ‖ p_t)))].
// losses and the return value hold the combined loss; *sums (may be NULL)
// gets Σ CE and Σ D over the counted rows (D 0 without a teacher).
typedef struct {
    const float *x;       // the teacher's final-norm output (BT, C), C = Wh->cols
    const WTensor *Wh;    // its LM head (V, C), F32 or BF16
    float alpha, temp;    // α in [0, 1], τ > 0
    float reverse;        // β in [0, 1]: the reverse KL's share of D
} HeadTeacher;

typedef struct { double ce, kl; } HeadLossSums;

double lm_head_loss_backward(float *dx, float *dWh, float *losses, const float *x, const WTensor *Wh,
                             const int32_t *targets, int BT, float dloss, int chunk_rows,
                             const HeadTeacher *teacher, HeadLossSums *sums, size_t *count);

#endif
