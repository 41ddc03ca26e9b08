// cmd_import.c — `trit import`: a GGUF model as a Hugging Face checkpoint.
#include <stdio.h>

#include "base/util.h"
#include "commands.h"
#include "convert/gguf_import.h"
#include "opts.h"

int cmd_import(int argc, char **argv) {
    static const char *const dtypes[] = {"float32", "bfloat16"};
    const char *gguf = NULL, *out = NULL;
    int dtype = 0;  // an index into dtypes
    const Opt opts[] = {
        {"--gguf", OPT_STR, &gguf, "FILE", .required = 1, .help = "the GGUF model"},
        {"--out", OPT_STR, &out, "DIR", .required = 1, .help = "output directory (must not exist, or be empty)"},
        {"--dtype", OPT_CHOICE, &dtype, "float32|bfloat16",
         .help = "storage of the weights: float32 (default: the exact dequantized\n"
                 "values) or bfloat16"},
        {0}};
    const Command cmd = {
        .name = "import",
        .synopsis = "--gguf FILE --out DIR [--dtype float32|bfloat16]",
        .about = "Writes DIR/config.json, DIR/model.safetensors, DIR/tokenizer.json and\n"
                 "DIR/tokenizer_config.json (with the chat template) from a GGUF model (qwen3 or\n"
                 "llama architecture): every tensor dequantized (F32, F16, BF16, Q4_0, Q4_1, Q5_0,\n"
                 "Q5_1, Q8_0, Q2_K..Q6_K), Llama's Q/K rows put back in Hugging Face's order, the\n"
                 "tokenizer rebuilt from the GGUF vocabulary. DIR appears only once complete.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    char err[ERR_LEN];
    if (gguf_import(gguf, out, dtypes[dtype], 1, err)) die("%s", err);
    return 0;
}
