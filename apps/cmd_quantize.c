// cmd_quantize.c — `trit quantize`: a model's calibrated ternary start,
// without training (src/convert/quantize.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "convert/quantize.h"
#include "model/model.h"
#include "tok/tokenizer.h"

// The first n_want tokens of a calibration text file, or NULL with err.
static int32_t *calibration_tokens(const char *path, const char *model_dir, size_t n_want, char *err) {
    Tokenizer *tok = tokenizer_load_for(NULL, model_dir, err);
    if (!tok) return NULL;
    size_t len, n = 0;
    int32_t *ids = NULL;
    char *text = read_file(path, &len, err);
    if (text && tokenizer_encode(tok, text, len, &ids, &n, err) == 0 && n < n_want) {
        set_err(err, "%s: %zu tokens, fewer than the --calib-tokens %zu asked for", path, n, n_want);
        free(ids);
        ids = NULL;
    }
    free(text);
    tokenizer_free(tok);
    return ids;
}

int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *calib = NULL, *keep_list = "";
    long group = 128, calib_tokens = 32768, seq_len = 512;
    int method = -1, keep = QKEEP_NONE, batch = 8, rank = 0, balance = 0;
    double damp = 0.01, qep = 0.0;
    static const int methods[] = {QUANT_ABSMEAN, QUANT_MSE, QUANT_GPTQ}, keeps[] = {QKEEP_NONE, QKEEP_BF16};
    const Opt opts[] = {
        {"--model", OPT_STR, &model, "DIR", .required = 1, .help = "the model (config.json + *.safetensors)"},
        {"--out", OPT_STR, &out, "DIR", .required = 1, .help = "output directory (created if missing)"},
        {"--method", OPT_CHOICE, &method, "absmean|mse|gptq", .values = methods,
         .help = "absmean: BitNet's group scale (what training projects with)\n"
                 "mse: each group's MSE-optimal scale, weighted by the inputs' mean\n"
                 "square with --calib\n"
                 "gptq: GPTQ with a ternary grid on each linear's input Hessian (needs --calib)\n"
                 "(default: gptq with --calib, else mse)"},
        {"--group-size", OPT_LONG, &group, "N", 1, 1 << 20,
         .help = "weights per scale group along the input dimension (default 128)"},
        {"--keep-embedding", OPT_CHOICE, &keep, "none|bf16", .values = keeps,
         .help = "none: the embedding / LM head ternary too (default); bf16: kept,\n"
                 "rounded to bf16 values"},
        {"--keep-linear", OPT_STR, &keep_list, "LIST", .help = KEEP_LINEAR_HELP},
        {"--adapter-rank", OPT_INT, &rank, "R", 0, 4096, .help = ADAPTER_RANK_HELP},
        {.name = "Calibration (each layer's inputs: the text run through the layers converted before it):", .kind = OPT_SECTION},
        {"--calib", OPT_STR, &calib, "FILE", .help = "UTF-8 text, tokenized with the model's tokenizer"},
        {"--calib-tokens", OPT_LONG, &calib_tokens, "N", 1, 1L << 30,
         .help = "its first N tokens (default 32768)"},
        {"--seq-len", OPT_LONG, &seq_len, "T", 2, 1 << 16, .help = "in sequences of T tokens (default 512)"},
        {"--batch-size", OPT_INT, &batch, "B", 1, 4096, .help = "sequences per forward pass (default 8)"},
        {"--balance", OPT_FLAG, &balance, .help = BALANCE_HELP},
        {"--qep", OPT_DOUBLE, &qep, "A", 0, 1, .help = QEP_HELP},
        {"--damp", OPT_DOUBLE, &damp, "X", 0, 10, .help = "gptq: fraction of the mean Hessian diagonal added (0.01)"},
        {"--scale", OPT_RENAMED, .arg = "--method (absmean|mse|gptq)"},
        {0}};
    const Command cmd = {
        .name = "quantize",
        .synopsis = "--model DIR --out DIR [--method absmean|mse|gptq] [--calib FILE] [options]",
        .about = "Writes the model with every linear layer (and the embedding / LM head unless kept)\n"
                 "replaced by t*s (t in {-1,0,1}, one fp16 scale per group of N input weights),\n"
                 "norms unchanged, in float32, with the method and group recorded in config.json\n"
                 "for trit verify. The tokenizer files are copied. No training: the start that\n"
                 "`trit train` (or block-wise reconstruction) goes on from.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (method < 0) method = calib ? QUANT_GPTQ : QUANT_MSE;
    if (method == QUANT_GPTQ && !calib) return opts_error("--method gptq needs --calib FILE");
    if ((balance || qep > 0.0) && (!calib || method == QUANT_ABSMEAN))
        return opts_error("--%s needs --calib FILE and --method mse or gptq", balance ? "balance" : "qep");
    if (calib && calib_tokens < seq_len)
        return opts_error("--calib-tokens %ld is less than one sequence of --seq-len %ld", calib_tokens, seq_len);

    char err[ERR_LEN], note[320];
    uint32_t keep_linear;
    if (arch_linear_mask(keep_list, &keep_linear, err)) return opts_error("--keep-linear: %s", err);
    if (rank && keep_linear) return opts_error("--adapter-rank and --keep-linear do not combine");
    double t0 = now_seconds();
    QuantizeOptions o = {.method = (QuantMethod)method, .group = (int)group, .keep_embedding = (QuantKeep)keep,
                         .keep_linear = keep_linear, .balance = balance, .qep = qep, .damp = damp, .seq_len = (int)seq_len, .batch = batch,
                         .verbose = 1};
    int32_t *ids = NULL;
    if (calib && method != QUANT_ABSMEAN) {
        if (!(ids = calibration_tokens(calib, model, (size_t)calib_tokens, err))) die("%s", err);
        o.calib = ids;
        o.n_calib = (size_t)calib_tokens;
    }
    Model m;
    if (model_load(&m, model, err)) die("%s", err);
    if (rank && model_set_adapter_rank(&m, rank, err)) die("--adapter-rank: %s", err);
    if (model_quantize(&m, &o, err)) die("%s", err);
    char how[32];
    quant_method_label(how, sizeof how, o.method, balance, qep);
    quant_note(note, sizeof note, (int)group, how, keep == QKEEP_BF16 ? "bf16" : NULL,
               keep_linear, rank, "trit quantize");
    snprintf(m.config.torch_dtype, sizeof m.config.torch_dtype, "float32");
    if (make_dir(out, err) || model_save(&m, out, note, err) ||
        copy_file_if_present(model, out, "tokenizer.json", err) || copy_file_if_present(model, out, "tokenizer_config.json", err))
        die("%s", err);
    printf("wrote %s: %zu parameters, ternary (%s) with groups of %ld in %.1f s\n", out, m.n_params,
           quant_method_name(o.method), group, now_seconds() - t0);
    model_free(&m);
    free(ids);
    return 0;
}
