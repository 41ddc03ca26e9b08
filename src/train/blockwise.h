// blockwise.h — block-wise reconstruction (EfficientQAT's Block-AP for a
// ternary grid): each transformer block of a ternary student is trained, one
// block at a time, to reproduce its full-precision parent's block on
// calibration text, then frozen.
//
// Two streams of hidden states run through the calibration sequences: the
// parent's (x_fp) and the student's own (x_q, through the student's blocks
// already reconstructed). For block l the target is y = parent_block_l(x_fp);
// the student's block l, from its current ternary weights, trains its latent
// fp32 weights (straight-through, each group's MSE-optimal scale:
// SCALE_MSE keeps the start as it is) and its norms on the mean over tokens
// of ||student_block_l(x_q)_t − y_t||² / ||y_t||² (relative per token: a few
// tokens' massive activations would otherwise be the whole loss), AdamW
// without weight decay, a cosine
// learning rate over the block's steps; a held-out part of the sequences
// gives the validation loss after every epoch and the best epoch is kept.
// Then x_fp ← y and x_q ← student_block_l(x_q): later blocks see, and can
// correct, the error of the ones before. No LM head, no teacher logits.
#ifndef TRIT_BLOCKWISE_H
#define TRIT_BLOCKWISE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct BlockReport {
    double train_before, train_after;  // training loss of the block's output (first / last epoch's mean)
    double val_before, val_after;      // validation loss before training and of the kept epoch
    int epochs, best_epoch;            // epochs run; the kept one (0: the start was kept)
    double seconds;
} BlockReport;

typedef struct {
    int group;               // the student's group size
    uint32_t keep_linear;    // linear kinds (1u << TensorKind) kept in bf16, not projected
    int epochs;              // passes over the training sequences per block (2)
    double seconds;          // > 0: a time budget for blocks first_block.. instead; each
                             // block gets an equal share of what is left, and as many
                             // epochs (1..epochs) as its share buys at the speed measured
                             // so far (block first_block: a probe step)
    int batch;               // sequences per step (1)
    float lr, min_lr;        // each block's peak and final learning rate
    int val_seqs;            // sequences held out for the validation MSE (early stop)
    uint64_t seed;           // the order of the sequences
    const int32_t *tokens;   // n_seqs × seq_len calibration tokens
    int n_seqs, seq_len;
    int first_block;         // resume: blocks before it are already done
    int verbose;             // one line per block on stderr
    // Called after each block with the student as it now is (a checkpoint)
    // and the block's figures; a non-zero return stops the run with that error.
    int (*on_block)(int l, const Model *student, const struct BlockReport *rep, void *user, char *err);
    void *user;
} BlockwiseOptions;


// Trains student's blocks first_block..L-1 in place (its matrices stay
// exactly t·s with fp16 group scales). parent: the same architecture and
// shapes, full precision. reports (L entries, may be NULL) get each trained
// block's figures. -1 with err on bad options or shapes.
int blockwise_reconstruct(Model *student, const Model *parent, const BlockwiseOptions *o, BlockReport *reports,
                          char *err);

#endif
