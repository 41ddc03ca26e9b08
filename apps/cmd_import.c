// cmd_import.c — `trit import`: a GGUF model as a Hugging Face checkpoint.
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "base/util.h"
#include "commands.h"
#include "convert/gguf_import.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit import --gguf FILE --out DIR [--dtype f32|bf16]\n\n"
            "Writes DIR/config.json, DIR/model.safetensors, DIR/tokenizer.json and\n"
            "DIR/tokenizer_config.json (with the chat template) from a GGUF model (qwen3 or\n"
            "llama architecture): every tensor dequantized (F32, F16, BF16, Q4_0, Q4_1, Q5_0,\n"
            "Q5_1, Q8_0, Q2_K..Q6_K), Llama's Q/K rows put back in Hugging Face's order, the\n"
            "tokenizer rebuilt from the GGUF vocabulary. DIR appears only once complete.\n\n"
            "  --gguf FILE     the GGUF model\n"
            "  --out DIR       output directory (must not exist, or be empty)\n"
            "  --dtype T       storage of the weights: f32 (default: exact dequantized values) or bf16\n");
}

int cmd_import(int argc, char **argv) {
    const char *gguf = NULL, *out = NULL, *dtype = "f32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--gguf")) { if (!(gguf = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = arg_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--dtype")) { if (!(dtype = arg_value(argc, argv, &i))) return 2; }
        else {
            fprintf(stderr, "trit: error: import: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!gguf || !out) {
        fprintf(stderr, "trit: error: import needs --gguf and --out\n");
        usage(stderr);
        return 2;
    }
    const char *torch_dtype = !strcmp(dtype, "f32") ? "float32" : !strcmp(dtype, "bf16") ? "bfloat16" : NULL;
    if (!torch_dtype) {
        fprintf(stderr, "trit: error: --dtype must be f32 or bf16, not '%s'\n", dtype);
        return 2;
    }
    char err[ERR_LEN];
    if (gguf_import(gguf, out, torch_dtype, 1, err)) die("%s", err);
    return 0;
}
