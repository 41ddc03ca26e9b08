// cmd_init.c — `trit init`: a randomly initialised model in the HF layout.
#include <stdio.h>
#include <stdlib.h>

#include "arch/config.h"
#include "base/util.h"
#include "commands.h"
#include "model/model.h"
#include "opts.h"

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
    static const char *const dtypes[] = {"bfloat16", "float16", "float32"};
    const char *config_path = NULL, *out = NULL, *tokenizer = NULL;
    int dtype = -1;  // an index into dtypes; -1: the config's own
    uint64_t seed = 0;
    const Opt opts[] = {
        {"--config", OPT_STR, &config_path, "FILE", .required = 1,
         .help = "a Qwen3 config.json (e.g. ../shared/data/qwen3-0.6b/config.json)"},
        {"--out", OPT_STR, &out, "DIR", .required = 1, .help = "output directory (created if missing)"},
        {"--seed", OPT_U64, &seed, "N", .help = "random seed (default 0); the same seed gives the same weights"},
        {"--dtype", OPT_CHOICE, &dtype, "bfloat16|float16|float32",
         .help = "storage type (default: the config's torch_dtype)"},
        {"--tokenizer", OPT_STR, &tokenizer, "PATH", .help = "copy this tokenizer.json (file or directory) into DIR"},
        {0}};
    const Command cmd = {
        .name = "init",
        .synopsis = "--config FILE --out DIR [options]",
        .about = "Writes DIR/config.json and DIR/model.safetensors (sharded above 5 GB): weights drawn\n"
                 "from N(0, 0.02), norm weights 1, as transformers initialises Qwen3.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    char err[ERR_LEN];
    ModelConfig c;
    if (config_load(&c, config_path, err)) die("%s", err);
    if (dtype >= 0) snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", dtypes[dtype]);
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
