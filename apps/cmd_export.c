// cmd_export.c — `trit export`: a model directory as a GGUF file that stock
// llama.cpp runs, the ternary matrices packed losslessly.
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"
#include "commands.h"
#include "convert/gguf_export.h"
#include "model/weights.h"
#include "opts.h"
#include "quant/ggml_types.h"

// The GGML type named v (auto: EXPORT_AUTO); 0, or a usage error (2).
static int parse_type(const char *flag, const char *v, int embed, uint32_t *type) {
    if (!strcmp(v, "auto")) { *type = EXPORT_AUTO; return 0; }
    // The types trit writes (a from_float in the type table); Q8_0 rounds, so
    // only the embedding may take it.
    if (weights_type_by_name(v, type) == 0 && ggml_type_find(*type)->from_float &&
        (*type != GGML_TYPE_Q8_0 || embed))
        return 0;
    return opts_error("%s must be auto, q2_0, tq2_0, tq1_0, f16, bf16%s or f32, not '%s'", flag,
                      embed ? ", q8_0" : "", v);
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *type = NULL, *embed_type = NULL;
    const Opt opts[] = {
        {"--model", OPT_STR, &model, "DIR", .required = 1,
         .help = "the model (config.json + *.safetensors + tokenizer.json)"},
        {"--out", OPT_STR, &out, "FILE", .required = 1, .help = "the GGUF file to write"},
        {"--type", OPT_STR, &type, "T",
         .help = "the matrices' format: auto|q2_0|tq2_0|tq1_0|f16|bf16|f32\n"
                 "(default auto: TQ2_0 if it holds the model losslessly, else\n"
                 "Q2_0); f16 / bf16 / f32 write any model"},
        {"--embedding-type", OPT_STR, &embed_type, "T",
         .help = "the token embedding / LM head: as --type, or q8_0 (default: as\n"
                 "--type; llama.cpp's own converter keeps it f16, which holds t*s\n"
                 "exactly; bf16 and q8_0 round it)"},
        {0}};
    const Command cmd = {
        .name = "export",
        .synopsis = "--model DIR --out FILE.gguf [--type T] [--embedding-type T]",
        .about = "Writes the model as GGUF v3 (qwen3 or llama) with its tokenizer and chat template.\n"
                 "Ternary matrices are packed losslessly: every block of 64 (Q2_0) or 256 (TQ2_0,\n"
                 "TQ1_0) weights must hold only 0 and +-s with s an fp16 value, as `trit train` makes\n"
                 "them with groups of 64 or 128 (Q2_0) or 256 (all three). The file is read back and\n"
                 "compared with the model bit for bit; FILE appears only once complete.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    ExportOptions o = {.type = EXPORT_AUTO, .embed_type = EXPORT_AUTO};
    if (type && parse_type("--type", type, 0, &o.type)) return 2;
    if (embed_type && parse_type("--embedding-type", embed_type, 1, &o.embed_type)) return 2;
    char err[ERR_LEN];
    ExportReport r;
    double t0 = now_seconds();
    if (gguf_export(model, out, &o, &r, err)) die("%s", err);
    char kept[96], kept_note[128] = "";
    arch_linear_list(r.kept_linear, kept, sizeof kept);
    if (r.kept_linear) snprintf(kept_note, sizeof kept_note, " (%s BF16)", kept);
    printf("wrote %s: %d tensors, matrices %s%s, embedding %s, %.4f bits per weight, %.1f MB in %.2f s\n", out,
           r.n_tensors, ggml_type_find(r.type)->name, kept_note, ggml_type_find(r.embed_type)->name,
           r.bits_per_weight, 1e-6 * (double)r.file_bytes, now_seconds() - t0);
    if (r.adapter_rank)
        printf("wrote %s: its rank-%d adapters, a LoRA adapter for llama.cpp (--lora); trit reads it beside %s\n",
               r.adapter_path, r.adapter_rank, out);
    printf("read back: %d of %d tensors equal the model exactly\n", r.n_lossless, r.n_tensors);
    return 0;
}
