// cmd_convert.c — `trit convert`: a parent model to a ternary model in
// stages (src/pipeline/convert.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "pipeline/convert.h"

int cmd_convert(int argc, char **argv) {
    ConvertJob j;
    convert_job_default(&j);
    j.precision = __builtin_cpu_supports("avx512bf16") ? PREC_BF16 : PREC_FP32;  // as trit train
    long calib_tokens = (long)j.calib_tokens, eval_tokens = (long)j.eval_tokens;
    int keep = QKEEP_NONE, precision = j.precision;
    static const int keeps[] = {QKEEP_NONE, QKEEP_BF16}, precisions[] = {PREC_FP32, PREC_BF16};
    const char *data_dir = getenv("TRIT_DATA") ? getenv("TRIT_DATA") : "../shared/data";
    char *default_data = path_join(data_dir, "wikitext-2/train.txt"),
         *default_val = path_join(data_dir, "wikitext-2-raw/wiki.valid.raw");
    j.data_path = default_data;
    j.val_path = default_val;
    const Opt opts[] = {
        {"--model", OPT_STR, &j.parent_dir, "DIR", .required = 1, .help = "the full-precision parent (HF layout)"},
        {"--out", OPT_STR, &j.out_dir, "DIR", .required = 1,
         .help = "the ternary model (HF layout); also DIR.gguf, and DIR.work/ for resuming"},
        {"--data", OPT_STR, &j.data_path, "FILE",
         .help = "calibration and training text (default: $TRIT_DATA/wikitext-2/train.txt)"},
        {"--val", OPT_STR, &j.val_path, "FILE",
         .help = "held-out text scored after each stage (default: wikitext-2-raw/wiki.valid.raw)"},
        {"--eval-tokens", OPT_LONG, &eval_tokens, "N", 0, 1e12, .help = "its first N tokens (16384; 0 = all)"},
        {"--group-size", OPT_INT, &j.group, "G", 1, 1 << 20, .help = "weights per fp16 scale (64)"},
        {"--keep-embedding", OPT_CHOICE, &keep, "none|bf16", .values = keeps,
         .help = "the embedding / LM head ternary too (none, default) or kept in bf16"},
        {.name = "Stage 1, the calibrated start (GPTQ on a ternary grid):", .kind = OPT_SECTION},
        {"--calib-tokens", OPT_LONG, &calib_tokens, "N", 2, 1L << 30, .help = "calibration tokens (32768)"},
        {"--seq-len", OPT_INT, &j.seq_len, "T", 2, 1 << 16, .help = "sequence length of stages 1 and 2 (512)"},
        {.name = "Stage 2, block-wise reconstruction:", .kind = OPT_SECTION},
        {"--block-seqs", OPT_INT, &j.block_seqs, "N", 0, 1 << 20,
         .help = "sequences each block trains on, 1/16 of them held out (64; 0 = skip)"},
        {"--block-epochs", OPT_INT, &j.block_epochs, "E", 1, 1000, .help = "passes over them per block (2)"},
        {"--block-lr", OPT_FLOAT, &j.block_lr, "X", 1e-9, 1, .help = "peak learning rate, cosine to 1/20 (1e-4)"},
        {.name = "Stage 3, end-to-end distillation from the parent:", .kind = OPT_SECTION},
        {"--e2e-steps", OPT_LONG, &j.e2e_steps, "N", 0, 1e8, .help = "optimizer steps (250; 0 = skip)"},
        {"--e2e-lr", OPT_FLOAT, &j.e2e_lr, "X", 1e-9, 1, .help = "peak learning rate (1e-4)"},
        {"--batch-size", OPT_INT, &j.e2e_batch, "B", 1, 65536, .help = "sequences per step (4)"},
        {"--e2e-seq-len", OPT_INT, &j.e2e_seq, "T", 2, 1 << 20, .help = "tokens per sequence (256)"},
        {"--precision", OPT_CHOICE, &precision, "fp32|bf16", .values = precisions,
         .help = "operands of the matrix products (default: bf16 where the CPU has AVX512_BF16)"},
        {0}};
    const Command cmd = {
        .name = "convert",
        .synopsis = "--model PARENT --out DIR [options]",
        .about = "Makes a ternary model from a full-precision parent in three stages, each from the one\n"
                 "before: a calibrated start (GPTQ with a ternary grid on the layers' input Hessians),\n"
                 "block-wise reconstruction (each block trained to reproduce the parent's), and\n"
                 "end-to-end distillation from the parent. Writes DIR (HF layout, every matrix exactly\n"
                 "t*s with one fp16 scale per group), DIR.gguf (packed losslessly) and DIR/convert.json\n"
                 "(each stage's perplexity on --val, tokens and minutes). Rerunning the same command\n"
                 "after a kill goes on from the last stage, block or checkpoint written.\n",
        .opts = opts};
    int status = opts_parse(&cmd, argc, argv);
    if (status < 0 && j.block_seqs == 1)
        status = opts_error("--block-seqs 1 leaves nothing to hold out: use 0 or at least 2");
    if (status >= 0) {
        free(default_data);
        free(default_val);
        return status;
    }
    j.calib_tokens = (size_t)calib_tokens;
    j.eval_tokens = (size_t)eval_tokens;
    j.keep_embedding = (QuantKeep)keep;
    j.precision = (Precision)precision;
    char err[ERR_LEN];
    const int rc = convert_run(&j, err);
    free(default_data);
    free(default_val);
    if (rc) die("%s", err);
    return 0;
}
