// cmd_export.c — `trit export`: a model directory as a GGUF file that stock
// llama.cpp runs, the ternary matrices packed losslessly.
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "convert/gguf_export.h"
#include "model/weights.h"
#include "quant/ggml_types.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit export --model DIR --out FILE.gguf [--type auto|q2_0|tq2_0|tq1_0|f16|bf16|f32]\n"
            "                   [--embedding-type auto|q2_0|tq2_0|tq1_0|f16|bf16|q8_0|f32]\n\n"
            "Writes the model as GGUF v3 (qwen3 or llama) with its tokenizer and chat template.\n"
            "Ternary matrices are packed losslessly: every block of 64 (Q2_0) or 256 (TQ2_0,\n"
            "TQ1_0) weights must hold only 0 and +-s with s an fp16 value, as `trit train` makes\n"
            "them with groups of 64 or 128 (Q2_0) or 256 (all three). The file is read back and\n"
            "compared with the model bit for bit; FILE appears only once complete.\n\n"
            "  --model DIR           the model (config.json + *.safetensors + tokenizer.json)\n"
            "  --out FILE            the GGUF file to write\n"
            "  --type T              the matrices' format (default auto: TQ2_0 if it holds the\n"
            "                        model losslessly, else Q2_0); f16 / bf16 / f32 write any model\n"
            "  --embedding-type T    the token embedding / LM head (default: as --type; llama.cpp's\n"
            "                        own converter keeps it f16, which holds t*s exactly; bf16 and\n"
            "                        q8_0 round it)\n");
}

static int parse_type(const char *flag, const char *v, int embed, uint32_t *type) {
    if (!strcmp(v, "auto")) { *type = EXPORT_AUTO; return 0; }
    // The types trit writes (a from_float in the type table); Q8_0 rounds, so
    // only the embedding may take it.
    if (weights_type_by_name(v, type) == 0 && ggml_type_find(*type)->from_float &&
        (*type != GGML_TYPE_Q8_0 || embed))
        return 0;
    fprintf(stderr, "trit: error: %s must be auto, q2_0, tq2_0, tq1_0, f16, bf16%s or f32, not '%s'\n", flag,
            embed ? ", q8_0" : "", v);
    return -1;
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *v;
    ExportOptions o = {.type = EXPORT_AUTO, .embed_type = EXPORT_AUTO};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--model")) { if (!(model = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--type")) {
            if (!(v = arg_value(argc, argv, &i)) || parse_type(a, v, 0, &o.type)) return 2;
        } else if (!strcmp(a, "--embedding-type")) {
            if (!(v = arg_value(argc, argv, &i)) || parse_type(a, v, 1, &o.embed_type)) return 2;
        } else {
            fprintf(stderr, "trit: error: export: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !out) {
        fprintf(stderr, "trit: error: export needs --model and --out\n");
        usage(stderr);
        return 2;
    }
    char err[ERR_LEN];
    ExportReport r;
    double t0 = now_seconds();
    if (gguf_export(model, out, &o, &r, err)) die("%s", err);
    printf("wrote %s: %d tensors, matrices %s, embedding %s, %.4f bits per weight, %.1f MB in %.2f s\n", out,
           r.n_tensors, ggml_type_find(r.type)->name, ggml_type_find(r.embed_type)->name, r.bits_per_weight,
           1e-6 * (double)r.file_bytes, now_seconds() - t0);
    printf("read back: %d of %d tensors equal the model exactly\n", r.n_lossless, r.n_tensors);
    return 0;
}
