// convert.h — `trit convert`: a parent model to a ternary model worth
// using, in stages that each start from the one before:
//   1. start   the calibrated ternary start (convert/quantize.h, gptq) on
//              calibration text;
//   2. chat    the parent's answers to a file of user messages, in its own
//              chat template (infer/synth.h), as training data that keeps a
//              chat model a chat model; with chat_questions, also to user
//              messages the parent writes itself (Magpie);
//   3. blocks  block-wise reconstruction of every block against the parent
//              (train/blockwise.h), on the calibration text; off by default
//              (block_seqs 0): at equal minutes on SmolLM2 the distillation
//              alone ended better (README);
//   4. e2e     end-to-end distillation from the parent (train/train_run.h,
//              --distill, group scales learned from the start's, or each
//              step's MSE-optimal ones) on the training text with the chat
//              answers mixed in;
// then the student in DIR (HF layout, verified) and DIR.gguf (packed,
// losslessly), and DIR/convert.json: each stage's perplexity on the
// validation text, tokens and seconds.
//
// Every stage keeps its result in DIR.work/<stage> (atomically replaced:
// the blocks after each block, e2e at its checkpoints; the chat answers as
// one token file, redone whole if killed), so rerunning the same command
// after a kill goes on from the last one written; once DIR/convert.json is
// there (written last) the job is complete and a rerun does nothing.
//
// With a time budget (minutes > 0) the sizes of stages 3 and 4 follow from
// it: what is left after stages 1-2 (less an estimate of the final
// evaluations) is split block_share : 1 - block_share; the blocks get as
// many epochs (up to block_epochs) as their share buys, and e2e as many
// steps as a probe of its step time says fit. The plan is kept in
// DIR.work/plan.json, so a resumed run keeps the step count it began with.
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
    uint32_t keep_linear;    // linear kinds (1u << TensorKind) kept in bf16 in every stage
    int adapter_rank;        // r of each linear's B·A correction, fitted at the start, trained in e2e (0: none)
    int balance;             // stage 1: each linear's inputs balanced before rounding (quantize.h; 0: off)
    double qep;              // stage 1: QEP's alpha (quantize.h; 0: off)
    size_t calib_tokens;     // stage 1: calibration tokens (32768)
    int seq_len;             // stages 1-2: sequence length (512)
    int block_seqs;          // stage 3: sequences (of seq_len) for block-wise training, 0 (default): skip the stage
    int block_epochs;        // 4 (with minutes: at most)
    int block_batch;         // sequences per step (1)
    float block_lr;          // 1e-3
    long e2e_steps;          // stage 3: optimizer steps, 0: skip the stage
    float e2e_lr;            // 5e-4
    float e2e_hidden;        // β of the hidden-state term (train.h distill_hidden; 0: off)
    float e2e_reverse;       // the reverse KL's share of the divergence (train.h distill_reverse; 0: off)
    TernaryScale e2e_scale;  // SCALE_LEARNED (default) or SCALE_MSE, both starting at the start's scales
    float e2e_scale_lr_mult; // learned scales' learning rate over e2e_lr (4)
    int e2e_batch, e2e_seq;  // 2, 256
    Precision precision;     // stage 3's products (train.h)
    size_t eval_tokens;      // tokens of val_path scored after each stage (0: all)
    const char *chat_prompts;  // stage 2: user messages, one a line (NULL: skip the stage)
    int chat_questions;      // stage 2a: user messages the parent writes itself, answered beside the file's (0: none)
    int chat_samples;        // answers (each prompt in turn; 0: one per prompt)
    int chat_tokens;         // at most this many ids an answer (128)
    float chat_share;        // of the e2e text, in tokens (0.3)
    double minutes;          // > 0: the budget of the whole job
    float block_share;       // of what the budget leaves stages 3-4 (0.3)
} ConvertJob;

void convert_job_default(ConvertJob *j);

// Runs (or resumes) the job. -1 with err.
int convert_run(const ConvertJob *j, char *err);

#endif
