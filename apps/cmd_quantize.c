// cmd_quantize.c — `trit quantize`: a model's ternary projection, without
// training (post-training quantization; the starting point of QAT).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "model/model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit quantize --model DIR --out DIR [--group-size N] [--scale absmean|absmax]\n\n"
            "Writes the model with every linear layer and the embedding / LM head replaced by\n"
            "t*s (t in {-1,0,1}, one fp16 scale per group of N input weights), norms unchanged,\n"
            "in float32, with the group recorded in config.json for trit verify. The tokenizer\n"
            "files are copied. What `trit train` starts from, without its training.\n\n"
            "  --model DIR          the model (config.json + *.safetensors)\n"
            "  --out DIR            output directory (created if missing)\n"
            "  --group-size N       weights per scale group along the input dimension (default 128)\n"
            "  --scale absmean|absmax  group scale (default absmean)\n");
}

static int copy_if_present(const char *from_dir, const char *to_dir, const char *name, char *err) {
    char *src = path_join(from_dir, name), *dst = path_join(to_dir, name);
    int rc = 0;
    if (file_exists(src)) {
        size_t len;
        char *data = read_file(src, &len, err);
        rc = data ? write_file_atomic(dst, data, len, err) : -1;
        free(data);
    }
    free(src);
    free(dst);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *v;
    long group = 128;
    TernaryScale scale = SCALE_ABSMEAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--model")) { if (!(model = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--group-size")) {
            if (!(v = arg_value(argc, argv, &i)) || arg_long(a, v, 1, 1 << 20, &group)) return 2;
        } else if (!strcmp(a, "--scale")) {
            if (!(v = arg_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "absmean")) scale = SCALE_ABSMEAN;
            else if (!strcmp(v, "absmax")) scale = SCALE_ABSMAX;
            else { fprintf(stderr, "trit: error: --scale must be absmean or absmax, not '%s'\n", v); return 2; }
        } else {
            fprintf(stderr, "trit: error: quantize: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !out) {
        fprintf(stderr, "trit: error: quantize needs --model and --out\n");
        usage(stderr);
        return 2;
    }
    char err[ERR_LEN], note[160];
    Model m;
    double t0 = now_seconds();
    if (model_load(&m, model, err)) die("%s", err);
    if (model_project_ternary(&m, (int)group, scale, err)) die("%s", err);
    snprintf(note, sizeof note, "ternary g%ld %s: projected without training (trit quantize); norms full precision",
             group, scale == SCALE_ABSMEAN ? "absmean" : "absmax");
    snprintf(m.config.torch_dtype, sizeof m.config.torch_dtype, "float32");
    if (make_dir(out, err) || model_save(&m, out, note, err) ||
        copy_if_present(model, out, "tokenizer.json", err) || copy_if_present(model, out, "tokenizer_config.json", err))
        die("%s", err);
    printf("wrote %s: %zu parameters, ternary with groups of %ld in %.1f s\n", out, m.n_params, group,
           now_seconds() - t0);
    model_free(&m);
    return 0;
}
