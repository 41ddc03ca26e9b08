// convert.h — `trit convert`: a parent model to a ternary model worth
// using, in stages that each start from the one before:
//   1. start   the calibrated ternary start (convert/quantize.h, gptq) on
//              calibration text;
//   2. blocks  block-wise reconstruction of every block against the parent
//              (train/blockwise.h), on the same text;
//   3. e2e     end-to-end distillation from the parent (train/train_run.h,
//              --distill, the MSE-scale projection that keeps the start);
// then the student in DIR (HF layout, verified) and DIR.gguf (packed,
// losslessly), and DIR/convert.json: each stage's perplexity on the
// validation text, tokens and seconds.
//
// Every stage keeps its result in DIR.work/<stage> (atomically replaced:
// the blocks after each block, e2e at its checkpoints), so rerunning the
// same command after a kill goes on from the last one written; once
// DIR/convert.json is there (written last) the job is complete and a rerun
// does nothing.
#ifndef TRIT_PIPELINE_CONVERT_H
#define TRIT_PIPELINE_CONVERT_H

#include <stddef.h>

#include "convert/quantize.h"
#include "train/train.h"

typedef struct {
    const char *parent_dir;  // full-precision HF checkpoint
    const char *out_dir;     // DIR
    const char *data_path;   // calibration and training text
    const char *val_path;    // held-out text for each stage's perplexity (NULL: none)
    int group;               // 64
    QuantKeep keep_embedding;
    size_t calib_tokens;     // stage 1: calibration tokens (32768)
    int seq_len;             // stages 1-2: sequence length (512)
    int block_seqs;          // stage 2: sequences (of seq_len) for block-wise training, 0: skip the stage
    int block_epochs;        // 2
    float block_lr;          // 1e-4
    long e2e_steps;          // stage 3: optimizer steps, 0: skip the stage
    float e2e_lr;            // 1e-4
    int e2e_batch, e2e_seq;  // 4, 256
    Precision precision;     // stage 3's products (train.h)
    size_t eval_tokens;      // tokens of val_path scored after each stage (0: all)
} ConvertJob;

void convert_job_default(ConvertJob *j);

// Runs (or resumes) the job. -1 with err.
int convert_run(const ConvertJob *j, char *err);

#endif
