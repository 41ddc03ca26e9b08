// cmd_train.c — `trit train`: quantization-aware fine-tuning.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "train/train_run.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: trit train --model DIR --data FILE --save-path OUT [--val FILE] [options]\n\n"
        "Fine-tunes the model with ternary weights (t*s, t in {-1,0,1}, one scale per group of\n"
        "input weights; straight-through gradients to fp32 latent weights), AdamW, cosine\n"
        "learning rate with warm-up, global-norm clipping. Writes OUT/: the trained model (HF\n"
        "layout, loads in transformers), train.jsonl, train.svg, ckpt-<step>/ checkpoints.\n\n"
        "  --model DIR            starting checkpoint (config.json + safetensors)\n"
        "  --data FILE            training text (.txt, or .jsonl with a \"text\" field)\n"
        "  --val FILE             validation text: perplexity at the start, every --eval-every\n"
        "                         steps and at the end\n"
        "  --save-path OUT        output directory\n"
        "  --tokenizer PATH       tokenizer.json or its directory (default DIR/tokenizer.json)\n"
        "  --steps N              optimizer steps (250)\n"
        "  --batch-size B         sequences per step (2)\n"
        "  --seq-len T            tokens per sequence (256)\n"
        "  --lr X                 peak learning rate (1e-4)\n"
        "  --min-lr X             final learning rate of the cosine decay (5e-6)\n"
        "  --warmup N             linear warm-up steps (25)\n"
        "  --weight-decay X       AdamW decoupled weight decay on matrices (0.01)\n"
        "  --beta1 X --beta2 X    AdamW betas (0.9, 0.95)\n"
        "  --clip X               global gradient-norm clip (1.0; 0 = off)\n"
        "  --quant ternary|none   ternary QAT, or plain full-precision training (ternary)\n"
        "  --group-size N         weights per scale group along the input dimension (128)\n"
        "  --scale absmean|absmax group scale (absmean)\n"
        "  --seed N               data order (0); the same seed repeats the run exactly\n"
        "  --eval-every N         validation interval in steps (50; 0 = start and end only)\n"
        "  --eval-tokens N        tokens per validation (0 = the whole file)\n"
        "  --checkpoint-every N   write OUT/ckpt-<step> every N steps and at the end (0 = never)\n"
        "  --resume CKPT          continue from a checkpoint (same model, data and flags)\n\n"
        "The recipe's levers:\n"
        "  --distill              loss = A*CE + (1-A)*T^2*KL(teacher || student) over the whole\n"
        "                         vocabulary; the teacher is the starting model in full precision,\n"
        "                         frozen, run on the same batch\n"
        "  --teacher DIR          another teacher with the same tokenizer (needs --distill)\n"
        "  --distill-alpha A      weight of the cross-entropy, in [0, 1] (0: KL only)\n"
        "  --distill-temp T       temperature of both softmaxes, > 0 (1)\n"
        "  --quant-ramp N         gradual quantization: the forward uses (1-l)*W + l*(t*s), l rising\n"
        "                         linearly from 0 to 1 over the first N steps (0 = ternary at once)\n"
        "  --keep-embedding fp32|bf16\n"
        "                         the embedding / LM head stay out of the ternary projection\n\n"
        "Speed:\n"
        "  --precision fp32|bf16  operands of the matrix products (fp32 sums either way; latent\n"
        "                         weights, gradients and AdamW state stay fp32); bf16 runs on\n"
        "                         oneDNN at about twice the fp32 rate (default: bf16 where the\n"
        "                         CPU has AVX512_BF16, else fp32)\n");
    if (dist_available())
        fprintf(f, "\nData parallel (OpenMPI): mpirun -np N trit train ... --batch-size B runs the global\n"
                   "batch of N*B sequences one process with --batch-size N*B would, B on each rank; each\n"
                   "rank keeps the AdamW state of 1/N of the parameters. Rank 0 writes OUT; resume with\n"
                   "the same N (every rank reads the checkpoint: a shared filesystem across machines).\n");
    else
        fprintf(f, "\n(built without MPI: make MPI=1 with libopenmpi-dev for data-parallel runs)\n");
}

int cmd_train(int argc, char **argv) {
    TrainJob j;
    train_job_default(&j);
    // bf16 products where the cores multiply bf16 natively (measured: the
    // same perplexity as fp32 after 250 steps, at twice the speed); fp32
    // elsewhere, where oneDNN would emulate them.
    j.cfg.precision = __builtin_cpu_supports("avx512bf16") ? PREC_BF16 : PREC_FP32;
    int distill_flag = 0;  // --distill-alpha or --distill-temp given
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long lv;
        double dv;
        uint64_t uv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--distill")) { j.cfg.distill = 1; continue; }
        if (strncmp(a, "--", 2) != 0 || !(v = arg_value(argc, argv, &i))) {
            if (!v && !strncmp(a, "--", 2)) return 2;
            fprintf(stderr, "trit: error: train: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
#define LONG(name, lo, hi, dst) else if (!strcmp(a, name)) { if (arg_long(a, v, lo, hi, &lv)) return 2; dst = lv; }
#define REAL(name, lo, hi, dst) else if (!strcmp(a, name)) { if (arg_double(a, v, lo, hi, &dv)) return 2; dst = (float)dv; }
        if (!strcmp(a, "--model")) j.model_dir = v;
        else if (!strcmp(a, "--data")) j.data_path = v;
        else if (!strcmp(a, "--val")) j.val_path = v;
        else if (!strcmp(a, "--save-path")) j.out_dir = v;
        else if (!strcmp(a, "--tokenizer")) j.tokenizer_path = v;
        else if (!strcmp(a, "--resume")) j.resume = v;
        else if (!strcmp(a, "--teacher")) j.teacher_dir = v;
        LONG("--steps", 1, 100000000, j.cfg.steps)
        LONG("--batch-size", 0, 65536, j.batch_size)
        LONG("--seq-len", 0, 1 << 20, j.seq_len)
        LONG("--warmup", 0, 100000000, j.cfg.warmup)
        LONG("--group-size", 1, 1 << 20, j.cfg.group_size)
        LONG("--eval-every", 0, 100000000, j.eval_every)
        LONG("--checkpoint-every", 0, 100000000, j.checkpoint_every)
        LONG("--eval-tokens", 0, 1L << 40, j.eval_tokens)
        LONG("--quant-ramp", 0, 100000000, j.cfg.quant_ramp)
        else if (!strcmp(a, "--distill-alpha") || !strcmp(a, "--distill-temp")) {
            // Ranges are checked with the rest of the recipe (trainer_init).
            if (arg_double(a, v, -1e30, 1e30, &dv)) return 2;
            *(a[10] == 'a' ? &j.cfg.distill_alpha : &j.cfg.distill_temp) = (float)dv;
            distill_flag = 1;
        }
        REAL("--lr", 0, 10, j.cfg.lr)
        REAL("--min-lr", 0, 10, j.cfg.min_lr)
        REAL("--weight-decay", 0, 10, j.cfg.weight_decay)
        REAL("--beta1", 0, 0.999999, j.cfg.beta1)
        REAL("--beta2", 0, 0.999999, j.cfg.beta2)
        REAL("--clip", 0, 1e9, j.cfg.clip)
        else if (!strcmp(a, "--seed")) { if (arg_u64(a, v, &uv)) return 2; j.seed = uv; }
        else if (!strcmp(a, "--precision")) {
            if (!strcmp(v, "fp32")) j.cfg.precision = PREC_FP32;
            else if (!strcmp(v, "bf16")) j.cfg.precision = PREC_BF16;
            else { fprintf(stderr, "trit: error: --precision must be fp32 or bf16, not '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--keep-embedding")) {
            if (!strcmp(v, "fp32")) j.cfg.keep_embedding = KEEP_FP32;
            else if (!strcmp(v, "bf16")) j.cfg.keep_embedding = KEEP_BF16;
            else { fprintf(stderr, "trit: error: --keep-embedding must be fp32 or bf16, not '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--quant")) {
            if (!strcmp(v, "ternary")) j.cfg.quant = 1;
            else if (!strcmp(v, "none")) j.cfg.quant = 0;
            else { fprintf(stderr, "trit: error: --quant must be ternary or none, not '%s'\n", v); return 2; }
        } else if (!strcmp(a, "--scale")) {
            if (!strcmp(v, "absmean")) j.cfg.scale = SCALE_ABSMEAN;
            else if (!strcmp(v, "absmax")) j.cfg.scale = SCALE_ABSMAX;
            else { fprintf(stderr, "trit: error: --scale must be absmean or absmax, not '%s'\n", v); return 2; }
        } else {
            fprintf(stderr, "trit: error: train: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef LONG
#undef REAL
    }
    if (!j.model_dir || !j.data_path || !j.out_dir) {
        fprintf(stderr, "trit: error: train needs --model, --data and --save-path\n");
        usage(stderr);
        return 2;
    }
    if ((j.teacher_dir || distill_flag) && !j.cfg.distill) {
        fprintf(stderr, "trit: error: --teacher, --distill-alpha and --distill-temp need --distill\n");
        return 2;
    }
    char err[ERR_LEN];
    dist_init(&j.dist);
    if (train_run(&j, err)) {
        if (j.dist.size > 1) fprintf(stderr, "trit: error: rank %d: %s\n", j.dist.rank, err);
        else fprintf(stderr, "trit: error: %s\n", err);
        dist_abort(&j.dist);
    }
    dist_finalize(&j.dist);
    return 0;
}
