// drafter_train.h — training a DFlash drafter (model/drafter.h) for a frozen
// target, as the published recipe does (SpecForge's DFlash trainer):
//
//   the text is cut into sequences of T tokens; for each, the target runs
//   once (up to its deepest tapped layer) and its tapped layers' outputs are
//   the context rows, kept in memory for the later epochs;
//   a step draws `anchors` distinct anchor positions a among the response
//   tokens (a <= T - B); block j is [token a_j, MASK x (B-1)] at positions
//   a_j.., seeing the context rows < a_j and itself both ways; row k >= 1
//   predicts token a_j + k (same position), weight exp(-(k-1)/gamma) where
//   that token is a response token; loss Σ w·CE / (Σ w + 1e-6);
//   AdamW without weight decay, linear warm-up over 4 % of the steps then
//   cosine to zero, gradients clipped to norm 1.
//
// Checkpoints (the drafter, AdamW's moments, the step, the random state)
// go to OUT.work/ every checkpoint_every steps; a rerun of the same job
// resumes from the last one and ends with the same bytes as a run that was
// never stopped (same thread count).
#ifndef TRIT_DRAFTER_TRAIN_H
#define TRIT_DRAFTER_TRAIN_H

#include <stdint.h>

#include "model/drafter.h"
#include "model/weights.h"
#include "tok/tokenizer.h"

typedef struct {
    const ModelWeights *target;   // frozen: fp32 views, packed, or a mapped GGUF
    const int32_t *ids;           // the training text as one stream of ids
    const uint8_t *response;      // per id: 1 where it may be a label (NULL: every id)
    long n_ids;
    const char *out;              // the drafter's directory; OUT.work/ for checkpoints and the log
    int layers, block;            // drafter layers (1), block size B (8)
    int n_taps;                   // 0: the published default spread of 5
    int taps[DRAFTER_MAX_TAPS];
    int mask_token_id;            // -1: a mask embedding of its own (trained)
    int seq_len;                  // T (512)
    int anchors;                  // blocks drawn per sequence (32)
    int batch;                    // sequences per step (1)
    long steps;                   // optimizer steps; with minutes > 0, what the budget buys
    double minutes;
    float lr, gamma, clip;        // 6e-4; exp decay of the weights (0: B / 2); 1.0
    DrafterLoss loss;             // the decayed cross-entropy, or D-PACE's weighting
    uint64_t seed;
    long checkpoint_every;        // steps (0: only at the end)
    double cache_gb;              // the context rows kept in memory at most (4)
    // Held-out τ with the real decoding loop: called every val_every steps
    // (0: only at the end) with the drafter as it is; returns τ (< 0: error).
    double (*validate)(const Drafter *d, void *user);
    void *val_user;
    long val_every;
    int quiet;                    // no progress bar
} DrafterJob;

// Runs (or resumes) the job and writes the drafter to j->out atomically.
// -1 with err.
int drafter_train(const DrafterJob *j, char *err);

// Which ids of a stream are response tokens: inside an assistant turn of a
// ChatML conversation (after "<|im_start|>assistant\n", up to and with its
// <|im_end|>) when the stream holds any <|im_start|>; otherwise all of them
// (plain text). mask[n].
void drafter_response_mask(const Tokenizer *tok, const int32_t *ids, long n, uint8_t *mask);

#endif
