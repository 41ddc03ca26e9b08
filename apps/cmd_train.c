// cmd_train.c — `trit train`: quantization-aware fine-tuning.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "train/train_run.h"

int cmd_train(int argc, char **argv) {
    TrainJob j;
    train_job_default(&j);
    // bf16 products where the cores multiply bf16 natively (measured: the
    // same perplexity as fp32 after 250 steps, at twice the speed); fp32
    // elsewhere, where oneDNN would emulate them. The enum fields are parsed
    // into ints and copied after.
    int precision = __builtin_cpu_supports("avx512bf16") ? PREC_BF16 : PREC_FP32;
    int scale = j.cfg.scale, keep_embedding = j.cfg.keep_embedding;
    long eval_tokens = (long)j.eval_tokens;  // size_t in the job
    const char *keep_list = "";
    int distill_flag = 0;                    // --distill-alpha or --distill-temp given
    static const int quant_values[] = {1, 0};
    static const int scale_values[] = {SCALE_ABSMEAN, SCALE_ABSMAX, SCALE_MSE, SCALE_LEARNED};
    static const int keep_values[] = {KEEP_FP32, KEEP_BF16};
    static const int prec_values[] = {PREC_FP32, PREC_BF16};
    const Opt opts[] = {
        {"--model", OPT_STR, &j.model_dir, "DIR", .required = 1,
         .help = "starting checkpoint (config.json + safetensors)"},
        {"--data", OPT_STR, &j.data_path, "FILE", .required = 1,
         .help = "training text (.txt, or .jsonl with a \"text\" field)"},
        {"--val", OPT_STR, &j.val_path, "FILE", .help = "validation text: perplexity at the start, every --eval-every\n"
                                                        "steps and at the end"},
        {"--out", OPT_STR, &j.out_dir, "DIR", .required = 1, .help = "output directory"},
        {"--save-path", OPT_RENAMED, .arg = "--out"},
        {"--tokenizer", OPT_STR, &j.tokenizer_path, "PATH",
         .help = "tokenizer.json or its directory (default: the model's own)"},
        {"--steps", OPT_LONG, &j.cfg.steps, "N", 1, 100000000, .help = "optimizer steps (250)"},
        {"--batch-size", OPT_INT, &j.batch_size, "B", 0, 65536, .help = "sequences per step (2)"},
        {"--seq-len", OPT_INT, &j.seq_len, "T", 0, 1 << 20, .help = "tokens per sequence (256)"},
        {"--lr", OPT_FLOAT, &j.cfg.lr, "X", 0, 10, .help = "peak learning rate (1e-4)"},
        {"--min-lr", OPT_FLOAT, &j.cfg.min_lr, "X", 0, 10, .help = "final learning rate of the cosine decay (5e-6)"},
        {"--warmup", OPT_LONG, &j.cfg.warmup, "N", 0, 100000000, .help = "linear warm-up steps (25)"},
        {"--weight-decay", OPT_FLOAT, &j.cfg.weight_decay, "X", 0, 10,
         .help = "AdamW decoupled weight decay on matrices (0.01)"},
        {"--beta1", OPT_FLOAT, &j.cfg.beta1, "X", 0, 0.999999, .help = "AdamW beta1 (0.9)"},
        {"--beta2", OPT_FLOAT, &j.cfg.beta2, "X", 0, 0.999999, .help = "AdamW beta2 (0.95)"},
        {"--clip", OPT_FLOAT, &j.cfg.clip, "X", 0, 1e9, .help = "global gradient-norm clip (1.0; 0 = off)"},
        {"--quant", OPT_CHOICE, &j.cfg.quant, "ternary|none", .values = quant_values,
         .help = "ternary QAT, or plain full-precision training (ternary)"},
        {"--group-size", OPT_INT, &j.cfg.group_size, "N", 1, 1 << 20,
         .help = "weights per scale group along the input dimension (128)"},
        {"--scale", OPT_CHOICE, &scale, "absmean|absmax|mse|learned", .values = scale_values,
         .help = "group scale (absmean); mse: each group's MSE-optimal scale, which keeps\n"
                 "a calibrated start (trit quantize) as it is; learned: parameters trained\n"
                 "beside the weights (LSQ's gradient, no weight decay), starting as mse's"},
        {"--scale-lr-mult", OPT_FLOAT, &j.cfg.scale_lr_mult, "X", 1e-6, 1e6,
         .help = "with --scale learned: the scales' learning rate over --lr (1)"},
        {"--seed", OPT_U64, &j.seed, "N", .help = "data order (0); the same seed repeats the run exactly"},
        {"--eval-every", OPT_LONG, &j.eval_every, "N", 0, 100000000,
         .help = "validation interval in steps (50; 0 = start and end only)"},
        {"--eval-tokens", OPT_LONG, &eval_tokens, "N", 0, (double)(1L << 40),
         .help = "tokens per validation (0 = the whole file)"},
        {"--checkpoint-every", OPT_LONG, &j.checkpoint_every, "N", 0, 100000000,
         .help = "write ckpt-<step>/ into --out every N steps and at the end\n(0 = never)"},
        {"--resume", OPT_STR, &j.resume, "CKPT", .help = "continue from a checkpoint (same model, data and flags)"},
        {.name = "The recipe's levers:", .kind = OPT_SECTION},
        {"--distill", OPT_FLAG, &j.cfg.distill,
         .help = "loss = A*CE + (1-A)*T^2*KL(teacher || student) over the whole\n"
                 "vocabulary; the teacher is the starting model in full precision,\n"
                 "frozen, run on the same batch"},
        {"--teacher", OPT_STR, &j.teacher_dir, "DIR",
         .help = "another teacher with the same tokenizer (needs --distill)"},
        // Their ranges are checked with the rest of the recipe (trainer_init).
        {"--distill-alpha", OPT_FLOAT, &j.cfg.distill_alpha, "A", -1e30, 1e30, .given = &distill_flag,
         .help = "weight of the cross-entropy, in [0, 1] (0: KL only)"},
        {"--distill-temp", OPT_FLOAT, &j.cfg.distill_temp, "T", -1e30, 1e30, .given = &distill_flag,
         .help = "temperature of both softmaxes, > 0 (1)"},
        {"--distill-hidden", OPT_FLOAT, &j.cfg.distill_hidden, "B", -1e30, 1e30, .given = &distill_flag,
         .help = "adds B times the mean over layers of each layer's output error\n"
                 "against the teacher's, ||h - t||^2 / ||t||^2 a token (0: off)"},
        {"--distill-reverse", OPT_FLOAT, &j.cfg.distill_reverse, "B", -1e30, 1e30, .given = &distill_flag,
         .help = "the KL becomes (1-B)*KL(teacher || student) + B*KL(student || teacher),\n"
                 "in [0, 1]: the reverse KL puts the student's mass on the teacher's\n"
                 "likeliest tokens (0: forward only)"},
        {"--quant-ramp", OPT_LONG, &j.cfg.quant_ramp, "N", 0, 100000000,
         .help = "gradual quantization: the forward uses (1-l)*W + l*(t*s),\n"
                 "l rising linearly from 0 to 1 over the first N steps\n"
                 "(0 = ternary at once)"},
        {"--keep-embedding", OPT_CHOICE, &keep_embedding, "fp32|bf16", .values = keep_values,
         .help = "the embedding / LM head stay out of the ternary projection"},
        {"--keep-linear", OPT_STR, &keep_list, "LIST", .help = KEEP_LINEAR_HELP},
        {.name = "Speed:", .kind = OPT_SECTION},
        {"--precision", OPT_CHOICE, &precision, "fp32|bf16", .values = prec_values,
         .help = "operands of the matrix products (fp32 sums either way; latent\n"
                 "weights, gradients and AdamW state stay fp32); bf16 runs on\n"
                 "oneDNN at about twice the fp32 rate (default: bf16 where the\n"
                 "CPU has AVX512_BF16, else fp32)"},
        {0}};
    const Command cmd = {
        .name = "train",
        .synopsis = "--model DIR --data FILE --out DIR [--val FILE] [options]",
        .about = "Fine-tunes the model with ternary weights (t*s, t in {-1,0,1}, one scale per group of\n"
                 "input weights; straight-through gradients to fp32 latent weights), AdamW, cosine\n"
                 "learning rate with warm-up, global-norm clipping. Writes into the --out directory:\n"
                 "the trained model (HF layout, loads in transformers), train.jsonl, train.svg,\n"
                 "ckpt-<step>/ checkpoints.\n",
        .opts = opts,
        .epilogue = dist_available()
                        ? "Data parallel (OpenMPI): mpirun -np N trit train ... --batch-size B runs the global\n"
                          "batch of N*B sequences one process with --batch-size N*B would, B on each rank; each\n"
                          "rank keeps the AdamW state of 1/N of the parameters. Rank 0 writes --out; resume\n"
                          "with the same N (every rank reads the checkpoint: a shared filesystem across\n"
                          "machines).\n"
                        : "(built without MPI: make MPI=1 with libopenmpi-dev for data-parallel runs)\n"};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if ((j.teacher_dir || distill_flag) && !j.cfg.distill)
        return opts_error("--teacher and the --distill-* options need --distill");
    j.cfg.precision = (Precision)precision;
    j.cfg.scale = (TernaryScale)scale;
    j.cfg.keep_embedding = (KeepEmbedding)keep_embedding;
    j.eval_tokens = (size_t)eval_tokens;
    char err[ERR_LEN];
    if (arch_linear_mask(keep_list, &j.cfg.keep_linear, err)) return opts_error("--keep-linear: %s", err);
    dist_init(&j.dist);
    if (train_run(&j, err)) {
        if (j.dist.size > 1) fprintf(stderr, "trit: error: rank %d: %s\n", j.dist.rank, err);
        else fprintf(stderr, "trit: error: %s\n", err);
        dist_abort(&j.dist);
    }
    dist_finalize(&j.dist);
    return 0;
}
