// cmd_convert.c — `trit convert`: a parent model to a ternary model in
// stages (src/pipeline/convert.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "pipeline/convert.h"

// The repository's own prompt set, beside the executable (build/trit ->
// prompts/chat-train.txt); NULL when it is not there.
static char *default_prompts(void) {
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    char *p = path_join(exe, "../prompts/chat-train.txt");
    if (file_exists(p)) return p;
    free(p);
    return NULL;
}

int cmd_convert(int argc, char **argv) {
    ConvertJob j;
    convert_job_default(&j);
    j.precision = __builtin_cpu_supports("avx512bf16") ? PREC_BF16 : PREC_FP32;  // as trit train
    long calib_tokens = (long)j.calib_tokens, eval_tokens = (long)j.eval_tokens;
    const char *keep_list = "";
    int keep = QKEEP_NONE, precision = j.precision, e2e_scale = j.e2e_scale;
    static const int keeps[] = {QKEEP_NONE, QKEEP_BF16}, precisions[] = {PREC_FP32, PREC_BF16};
    static const int e2e_scales[] = {SCALE_LEARNED, SCALE_MSE};
    const char *data_dir = getenv("TRIT_DATA") ? getenv("TRIT_DATA") : "../shared/data";
    char *default_data = path_join(data_dir, "wikitext-2/train.txt"),
         *default_val = path_join(data_dir, "wikitext-2-raw/wiki.valid.raw");
    j.data_path = default_data;
    j.val_path = default_val;
    char *prompts_found = default_prompts();
    j.chat_prompts = prompts_found;
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
        {"--keep-linear", OPT_STR, &keep_list, "LIST", .help = KEEP_LINEAR_HELP},
        {"--adapter-rank", OPT_INT, &j.adapter_rank, "R", 0, 4096, .help = ADAPTER_RANK_HELP},
        {"--minutes", OPT_DOUBLE, &j.minutes, "M", 0, 1e6,
         .help = "a time budget for the whole job: the block epochs and e2e steps follow from it (0 = off: the "
                 "stage flags say)"},
        {.name = "Stage 1, the calibrated start (GPTQ on a ternary grid):", .kind = OPT_SECTION},
        {"--calib-tokens", OPT_LONG, &calib_tokens, "N", 2, 1L << 30, .help = "calibration tokens (32768)"},
        {"--seq-len", OPT_INT, &j.seq_len, "T", 2, 1 << 16, .help = "sequence length of stages 1 and 3 (512)"},
        {"--balance", OPT_FLAG, &j.balance, .help = BALANCE_HELP},
        {"--qep", OPT_DOUBLE, &j.qep, "A", 0, 1, .help = QEP_HELP},
        {.name = "Stage 2, the parent's chat answers (mixed into stage 4's text):", .kind = OPT_SECTION},
        {"--chat-prompts", OPT_STR, &j.chat_prompts, "FILE|none",
         .help = "user messages, one a line (default: the repository's prompts/chat-train.txt)"},
        {"--chat-questions", OPT_INT, &j.chat_questions, "N", 0, 1 << 20,
         .help = "user messages the parent writes itself (from the opening of a user turn), answered too (0)"},
        {"--chat-samples", OPT_INT, &j.chat_samples, "N", 0, 1 << 24, .help = "answers (0 = one per prompt)"},
        {"--chat-tokens", OPT_INT, &j.chat_tokens, "G", 1, 1 << 16, .help = "ids an answer has at most (128)"},
        {"--chat-share", OPT_FLOAT, &j.chat_share, "X", 0, 0.95, .help = "of stage 4's text, in tokens (0.3)"},
        {.name = "Stage 3, block-wise reconstruction:", .kind = OPT_SECTION},
        {"--block-seqs", OPT_INT, &j.block_seqs, "N", 0, 1 << 20,
         .help = "sequences each block trains on, 1/16 of them held out (0 = skip, the\n"
                 "default: at equal minutes distillation alone ends better; 64 to try)"},
        {"--block-epochs", OPT_INT, &j.block_epochs, "E", 1, 1000,
         .help = "passes over them per block (4; with --minutes, at most)"},
        {"--block-batch", OPT_INT, &j.block_batch, "B", 1, 65536,
         .help = "sequences per step (1: many small steps learn more from few sequences)"},
        {"--block-lr", OPT_FLOAT, &j.block_lr, "X", 1e-9, 1, .help = "peak learning rate, cosine to 1/20 (1e-3)"},
        {"--block-share", OPT_FLOAT, &j.block_share, "X", 0.01, 0.99,
         .help = "with --minutes: the blocks' share of what stages 1-2 leave (0.3)"},
        {.name = "Stage 4, end-to-end distillation from the parent:", .kind = OPT_SECTION},
        {"--e2e-steps", OPT_LONG, &j.e2e_steps, "N", 0, 1e8,
         .help = "optimizer steps (250; 0 = skip; with --minutes, the budget decides)"},
        {"--e2e-lr", OPT_FLOAT, &j.e2e_lr, "X", 1e-9, 1, .help = "peak learning rate (5e-4)"},
        {"--e2e-hidden", OPT_FLOAT, &j.e2e_hidden, "B", 0, 1e6,
         .help = "weight of the per-layer hidden-state term beside the KL (0 = off)"},
        {"--e2e-reverse", OPT_FLOAT, &j.e2e_reverse, "B", 0, 1,
         .help = "the reverse KL's share of the divergence, (1-B)*KL(parent || student) +\n"
                 "B*KL(student || parent) (0 = forward KL only)"},
        {"--e2e-scale", OPT_CHOICE, &e2e_scale, "learned|mse", .values = e2e_scales,
         .help = "group scales trained beside the weights from the start's (learned, the\n"
                 "default), or each step's MSE-optimal ones (mse); README: study_e2e.sh"},
        {"--e2e-scale-lr-mult", OPT_FLOAT, &j.e2e_scale_lr_mult, "X", 1e-6, 1e6,
         .help = "learned scales' learning rate over --e2e-lr (4)"},
        {"--batch-size", OPT_INT, &j.e2e_batch, "B", 1, 65536, .help = "sequences per step (2: more, smaller steps)"},
        {"--e2e-seq-len", OPT_INT, &j.e2e_seq, "T", 2, 1 << 20, .help = "tokens per sequence (256)"},
        {"--precision", OPT_CHOICE, &precision, "fp32|bf16", .values = precisions,
         .help = "operands of the matrix products (default: bf16 where the CPU has AVX512_BF16)"},
        {0}};
    const Command cmd = {
        .name = "convert",
        .synopsis = "--model PARENT --out DIR [options]",
        .about = "Makes a ternary model from a full-precision parent in stages, each from the one\n"
                 "before: a calibrated start (GPTQ with a ternary grid on the layers' input Hessians),\n"
                 "the parent's own answers to chat prompts (training text that keeps a chat model one),\n"
                 "block-wise reconstruction (each block trained to reproduce the parent's), and\n"
                 "end-to-end distillation from the parent on the text with the answers mixed in.\n"
                 "Writes DIR (HF layout, every matrix exactly t*s with one fp16 scale per group),\n"
                 "DIR.gguf (packed losslessly) and DIR/convert.json (each stage's perplexity on --val,\n"
                 "tokens and minutes). Rerunning the same command after a kill goes on from the last\n"
                 "stage, block or checkpoint written.\n",
        .opts = opts};
    int status = opts_parse(&cmd, argc, argv);
    if (status < 0 && j.block_seqs == 1)
        status = opts_error("--block-seqs 1 leaves nothing to hold out: use 0 or at least 2");
    if (status < 0 && j.chat_prompts && !strcmp(j.chat_prompts, "none")) j.chat_prompts = NULL;
    else if (status < 0 && !j.chat_prompts && j.e2e_steps > 0)
        status = opts_error("the repository's prompts/chat-train.txt is not beside this trit: give --chat-prompts "
                            "FILE (or none)");
    if (status >= 0) {
        free(default_data);
        free(default_val);
        free(prompts_found);
        return status;
    }
    j.calib_tokens = (size_t)calib_tokens;
    j.eval_tokens = (size_t)eval_tokens;
    j.keep_embedding = (QuantKeep)keep;
    j.precision = (Precision)precision;
    j.e2e_scale = (TernaryScale)e2e_scale;
    char err[ERR_LEN];
    const int rc = arch_linear_mask(keep_list, &j.keep_linear, err) ? opts_error("--keep-linear: %s", err)
                                                                     : convert_run(&j, err) ? -1 : 0;
    free(default_data);
    free(default_val);
    free(prompts_found);
    if (rc < 0) die("%s", err);
    return rc;
}
