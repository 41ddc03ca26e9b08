// cmd_eval.c — `trit eval`: perplexity of a model on a text file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "infer/source.h"
#include "model/eval.h"
#include "model/model.h"
#include "tok/tokenizer.h"

int cmd_eval(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL, *tok_path = NULL, *pack = NULL;
    long seq_len = 512, batch = 1, max_tokens = 0;
    const Opt opts[] = {
        {"--model", OPT_STR, &model_dir, "DIR", .required = 1,
         .help = "HF-layout checkpoint (config.json + *.safetensors), run in fp32,\n"
                 "or a GGUF file (trit export), run on its packed blocks"},
        {"--pack", OPT_STR, &pack, "TYPE", .help = "pack DIR's exactly ternary weights at load and run them packed\n"
                                                  "(q2_0|tq2_0|tq1_0|auto)"},
        {"--data", OPT_STR, &data, "FILE", .required = 1, .help = "UTF-8 text"},
        {"--tokenizer", OPT_STR, &tok_path, "PATH", .help = "tokenizer.json or its directory (default: the model's own)"},
        {"--seq-len", OPT_LONG, &seq_len, "N", 1, 1 << 20, .help = "window length (default 512)"},
        {"--batch-size", OPT_LONG, &batch, "B", 1, 4096, .help = "windows per forward pass (default 1)"},
        {"--max-tokens", OPT_LONG, &max_tokens, "N", 1, 1e12, .help = "score at most N tokens (default: all)"},
        {0}};
    const Command cmd = {
        .name = "eval",
        .synopsis = "--model DIR|FILE.gguf --data FILE [options]",
        .about = "Tokenizes FILE and prints the perplexity over non-overlapping windows of N tokens\n"
        "(each window predicts its next N tokens from a fresh context). The last line is\n"
        "`ppl <value>`; a progress bar (tokens/s, ETA) goes to stderr.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    char err[ERR_LEN];
    ModelSource src;
    double t0 = now_seconds();
    if (source_open(&src, model_dir, pack, tok_path, err)) die("%s", err);
    fprintf(stderr, "loaded %s: %s weights, %.1f MB in %.2f s\n", model_dir,
            ggml_type_find(src.w.layers[0].wq.type)->name, 1e-6 * (double)weights_bytes(&src.w), now_seconds() - t0);

    size_t len;
    char *text = read_file(data, &len, err);
    if (!text) die("%s", err);
    if (len == 0) die("%s: the file is empty", data);
    int32_t *ids;
    size_t n;
    t0 = now_seconds();
    if (tokenizer_encode(src.tok, text, len, &ids, &n, err)) die("%s: %s", data, err);
    fprintf(stderr, "tokenized %s: %zu bytes -> %zu tokens in %.2f s\n", data, len, n, now_seconds() - t0);
    free(text);

    EvalResult r;
    if (eval_perplexity(&src.w, ids, n, (int)seq_len, (int)batch, (size_t)max_tokens, 1, &r, err)) die("%s", err);
    printf("tokens %zu\nwindows %zu\nnll %.6f\nseconds %.2f\ntok/s %.1f\nppl %.4f\n", r.n_predicted, r.n_windows,
           r.nll_sum / (double)r.n_predicted, r.seconds, (double)r.n_predicted / r.seconds, r.ppl);
    free(ids);
    source_close(&src);
    return 0;
}
