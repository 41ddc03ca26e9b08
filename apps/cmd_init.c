// cmd_init.c — `trit init`: a randomly initialised model in the HF layout.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/config.h"
#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "model/model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit init --config FILE --out DIR [--seed N] [--dtype bfloat16|float16|float32]\n"
            "                 [--tokenizer PATH]\n\n"
            "Writes DIR/config.json and DIR/model.safetensors (sharded above 5 GB): weights drawn\n"
            "from N(0, 0.02), norm weights 1, as transformers initialises Qwen3.\n\n"
            "  --config FILE     a Qwen3 config.json (e.g. ../shared/data/qwen3-0.6b/config.json)\n"
            "  --out DIR         output directory (created if missing)\n"
            "  --seed N          random seed (default 0); the same seed gives the same weights\n"
            "  --dtype T         storage type; default: the config's torch_dtype\n"
            "  --tokenizer PATH  copy this tokenizer.json (file or directory) into DIR\n");
}

static int copy_tokenizer(const char *src, const char *out_dir, char *err) {
    char *path = is_directory(src) ? path_join(src, "tokenizer.json") : xstrdup(src);
    size_t len;
    char *data = read_file(path, &len, err);
    free(path);
    if (!data) return -1;
    char *dst = path_join(out_dir, "tokenizer.json");
    int rc = write_file_atomic(dst, data, len, err);
    free(dst);
    free(data);
    return rc;
}

int cmd_init(int argc, char **argv) {
    const char *config_path = NULL, *out = NULL, *dtype = NULL, *tokenizer = NULL;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--config")) { if (!(config_path = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--dtype")) { if (!(dtype = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokenizer")) { if (!(tokenizer = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--seed")) {
            if (!(v = arg_value(argc, argv, &i)) || arg_u64("--seed", v, &seed)) return 2;
        } else {
            fprintf(stderr, "trit: error: init: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path || !out) {
        fprintf(stderr, "trit: error: init needs --config and --out\n");
        usage(stderr);
        return 2;
    }
    char err[ERR_LEN];
    ModelConfig c;
    if (config_load(&c, config_path, err)) die("%s", err);
    if (dtype) {
        if (strcmp(dtype, "bfloat16") && strcmp(dtype, "float16") && strcmp(dtype, "float32"))
            die("--dtype must be bfloat16, float16 or float32, not '%s'", dtype);
        snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", dtype);
    }
    Model m;
    if (model_alloc(&m, &c, err)) die("%s", err);
    double t0 = now_seconds();
    model_init_random(&m, seed);
    if (make_dir(out, err) || model_save(&m, out, NULL, err)) die("%s", err);
    if (tokenizer && copy_tokenizer(tokenizer, out, err)) die("%s", err);
    fprintf(stderr, "wrote %s: %zu parameters (%s) in %.1f s\n", out, m.n_params, c.torch_dtype,
            now_seconds() - t0);
    model_free(&m);
    return 0;
}
