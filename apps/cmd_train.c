// cmd_train.c — `trit train`: quantization-aware fine-tuning.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "train/train_run.h"
#include "base/util.h"

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
        "  --resume CKPT          continue from a checkpoint (same model, data and flags)\n");
}

int cmd_train(int argc, char **argv) {
    TrainJob j;
    train_job_default(&j);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long lv;
        double dv;
        uint64_t uv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
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
        LONG("--steps", 1, 100000000, j.cfg.steps)
        LONG("--batch-size", 0, 65536, j.batch_size)
        LONG("--seq-len", 0, 1 << 20, j.seq_len)
        LONG("--warmup", 0, 100000000, j.cfg.warmup)
        LONG("--group-size", 1, 1 << 20, j.cfg.group_size)
        LONG("--eval-every", 0, 100000000, j.eval_every)
        LONG("--checkpoint-every", 0, 100000000, j.checkpoint_every)
        LONG("--eval-tokens", 0, 1L << 40, j.eval_tokens)
        REAL("--lr", 0, 10, j.cfg.lr)
        REAL("--min-lr", 0, 10, j.cfg.min_lr)
        REAL("--weight-decay", 0, 10, j.cfg.weight_decay)
        REAL("--beta1", 0, 0.999999, j.cfg.beta1)
        REAL("--beta2", 0, 0.999999, j.cfg.beta2)
        REAL("--clip", 0, 1e9, j.cfg.clip)
        else if (!strcmp(a, "--seed")) { if (arg_u64(a, v, &uv)) return 2; j.seed = uv; }
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
    char err[ERR_LEN];
    if (train_run(&j, err)) die("%s", err);
    return 0;
}
