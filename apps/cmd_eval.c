// cmd_eval.c — `trit eval`: perplexity of a model on a text file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "infer/source.h"
#include "model/eval.h"
#include "model/model.h"
#include "tok/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit eval --model DIR|FILE.gguf --data FILE [--tokenizer PATH] [--seq-len N]\n"
            "                 [--batch-size B] [--max-tokens N] [--pack q2_0|tq2_0|tq1_0|auto]\n\n"
            "Tokenizes FILE and prints the perplexity over non-overlapping windows of N tokens\n"
            "(each window predicts its next N tokens from a fresh context). The last line is\n"
            "`ppl <value>`; a progress bar (tokens/s, ETA) goes to stderr.\n\n"
            "  --model DIR       HF-layout checkpoint (config.json + *.safetensors), run in fp32,\n"
            "                    or a GGUF file (trit export), run on its packed blocks\n"
            "  --pack TYPE       pack DIR's exactly ternary weights at load and run them packed\n"
            "  --data FILE       UTF-8 text\n"
            "  --tokenizer PATH  tokenizer.json or its directory (default: the model's own)\n"
            "  --seq-len N       window length (default 512)\n"
            "  --batch-size B    windows per forward pass (default 1)\n"
            "  --max-tokens N    score at most N tokens (default: all)\n");
}

int cmd_eval(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL, *tok_path = NULL, *pack = NULL, *v;
    long seq_len = 512, batch = 1, max_tokens = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--model")) { if (!(model_dir = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--data")) { if (!(data = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokenizer")) { if (!(tok_path = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--pack")) { if (!(pack = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--seq-len")) {
            if (!(v = arg_value(argc, argv, &i)) || arg_long(a, v, 1, 1 << 20, &seq_len)) return 2;
        } else if (!strcmp(a, "--batch-size")) {
            if (!(v = arg_value(argc, argv, &i)) || arg_long(a, v, 1, 4096, &batch)) return 2;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!(v = arg_value(argc, argv, &i)) || arg_long(a, v, 1, 1L << 40, &max_tokens)) return 2;
        } else {
            fprintf(stderr, "trit: error: eval: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_dir || !data) {
        fprintf(stderr, "trit: error: eval needs --model and --data\n");
        usage(stderr);
        return 2;
    }
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
