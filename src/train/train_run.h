// train_run.h — a whole training run: data, steps, logging, validation,
// checkpoints, and the trained model written in the HF layout.
#ifndef TRIT_TRAIN_RUN_H
#define TRIT_TRAIN_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "train/train.h"

typedef struct {
    const char *model_dir;       // HF checkpoint to start from
    const char *data_path;       // training text (.txt or .jsonl)
    const char *val_path;        // validation text (NULL: none)
    const char *out_dir;         // --out
    const char *tokenizer_path;  // NULL: model_dir/tokenizer.json
    const char *resume;          // a checkpoint directory, or NULL
    const char *teacher_dir;     // --teacher (distillation; NULL: model_dir itself)
    TrainConfig cfg;
    int batch_size, seq_len;     // 2, 256
    uint64_t seed;               // data order
    long eval_every;             // validate every N steps (0: only at the start and end)
    long checkpoint_every;       // 0: none
    int keep_last;               // 1: only the newest checkpoint stays (this run's, or the one resumed from)
    size_t eval_tokens;          // tokens per validation (0: the whole file)
    int quiet;                   // no progress line (tests)
    Dist dist;                   // the ranks of a data-parallel run (train.h); batch_size is per rank
} TrainJob;

void train_job_default(TrainJob *j);

// Runs the job (collectively on every rank of a data-parallel run: each
// loads the model, data and teacher itself, and they first check that they
// agree on all of it). Rank 0 writes into out_dir: train.jsonl (a line per step and per
// validation), train.svg (the curves), ckpt-<step>/ checkpoints, and the
// trained model (config.json with a quantization note, model.safetensors of
// the weights the forward uses — t*s for ternary —, tokenizer.json).
// Returns 0, or -1 with err (a non-finite loss names the step and the last
// good checkpoint; nothing already saved is touched).
int train_run(const TrainJob *j, char *err);

#endif
