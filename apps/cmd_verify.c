// cmd_verify.c — `trit verify`: every ternary tensor is exactly {-1,0,+1}
// times one scale per group.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "convert/gguf_export.h"
#include "convert/gguf_import.h"
#include "format/gguf.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/ternary.h"

// The group size trit wrote into config.json (arch/config.h quant_note),
// or 0; *keep gets the embedding's kept precision ("bf16", "fp32"), or ""
// when it is ternary too, *keep_linear the linear kinds kept in bf16.
static int recorded_group_size(const char *dir, char keep[8], uint32_t *keep_linear) {
    char *path = path_join(dir, "config.json"), err[ERR_LEN];
    size_t len;
    char *text = read_file(path, &len, err);
    free(path);
    int g = 0;
    keep[0] = 0;
    *keep_linear = 0;
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *note = cJSON_GetObjectItem(j, "trit_quantization");
    if (cJSON_IsString(note)) g = quant_note_parse(note->valuestring, keep, keep_linear);
    cJSON_Delete(j);
    free(text);
    return g;
}

// A kept embedding / LM head: fp32 holds anything; bf16 must hold only
// values that bf16 represents exactly. Returns 1 when it does.
static int kept_ok(const float *p, size_t n, const char *keep) {
    return strcmp(keep, "bf16") != 0 || f32_all_bf16(p, n);
}

// The block size of a GGUF file's ternary matrices (its first ternary
// layer-0 linear's type), 0 when none is; the linear kinds stored as bf16
// beside them into *keep_linear, and a bf16 / f32 embedding into keep. -1
// with err.
static long gguf_block_group(const char *path, const Arch *a, char keep[8], uint32_t *keep_linear, char *err) {
    GgufFile g;
    if (gguf_open(&g, path, err)) return -1;
    long b = 0;
    uint32_t bf16 = 0;
    for (int k = 0; k < TK_COUNT; k++) {
        const ArchTensor *e = arch_tensor(a, (TensorKind)k);
        char name[96];
        if (!e || !(e->flags & TF_TERNARY)) continue;
        arch_gguf_name(e, 0, name, sizeof name);
        const GgufTensor *t = gguf_find_tensor(&g, name);
        if (!t) continue;
        if (tk_is_embedding((TensorKind)k)) {
            if (t->type == GGML_TYPE_BF16 || t->type == GGML_TYPE_F32)
                snprintf(keep, 8, "%s", t->type == GGML_TYPE_BF16 ? "bf16" : "fp32");
        } else if (t->tt->is_ternary && !b) {
            b = t->tt->block_size;
            printf("%s: matrices %s\n", path, t->tt->name);
        } else if (t->type == GGML_TYPE_BF16) {
            bf16 |= 1u << k;
        }
    }
    *keep_linear = b ? bf16 : 0;
    if (!b) keep[0] = 0;
    gguf_close(&g);
    return b;
}

// Which packed formats hold the (verified) model losslessly, and why not the others.
static void report_formats(const Model *m, const char *keep) {
    static const uint32_t types[] = {GGML_TYPE_TQ2_0, GGML_TYPE_TQ1_0, GGML_TYPE_Q2_0};
    char err[ERR_LEN], ok[64] = "";
    for (int i = 0; i < 3; i++) {
        const char *name = ggml_type_find(types[i])->name;
        if (gguf_export_fits(m, types[i], !keep[0], err) == 0)
            snprintf(ok + strlen(ok), sizeof ok - strlen(ok), "%s%s", ok[0] ? ", " : "", name);
        else
            printf("export: not %s: %s\n", name, err);
    }
    if (ok[0] && keep[0]) printf("export: lossless as %s with the embedding in %s (trit export)\n", ok, keep);
    else if (ok[0]) printf("export: lossless as %s (trit export)\n", ok);
    else printf("export: no packed format holds this model losslessly; trit export --type f32 writes it as it is\n");
}

// A GGUF model exported with adapters: its adapter file read as trit runs
// it (weights_load_gguf), and named. 0 when it has none.
static int adapter_file(const char *path, char *err) {
    ModelWeights mw;
    if (weights_load_gguf(&mw, path, err)) return -1;
    if (mw.config.adapter_rank) {
        char *a = weights_adapter_path(path);
        printf("adapters: rank %d in %s beside it, read back whole (not ternary: llama.cpp runs them with --lora)\n",
               mw.config.adapter_rank, a);
        free(a);
    }
    weights_free(&mw);
    return 0;
}

int cmd_verify(int argc, char **argv) {
    const char *dir = NULL;
    long group = 0;
    int quiet = 0;
    const Opt opts[] = {
        {"--group-size", OPT_LONG, &group, "N", 1, 1 << 20,
         .help = "weights per scale group (default: config.json's, else 128;\n"
                 "a GGUF file's block size)"},
        {"--quiet", OPT_FLAG, &quiet, .help = "print only the verdict and the failures"},
        {0}};
    const Command cmd = {
        .name = "verify",
        .synopsis = "DIR|FILE.gguf [--group-size N] [--quiet]",
        .about = "Checks that every linear layer and the embedding / LM head of the checkpoint in DIR\n"
                 "(or of a GGUF file, its packed blocks dequantized) hold only 0 and +-s, with one s\n"
                 "per group of N consecutive input weights, bit for bit. Prints each tensor's shares of\n"
                 "-1 / 0 / +1 and the totals; exits 0 only if every tensor passes, naming those that\n"
                 "fail. N defaults to the group size recorded by `trit train` in config.json\n"
                 "(\"trit_quantization\": \"ternary g128 ...\"), else 128; for a GGUF file, the block\n"
                 "size of its ternary type (Q2_0 64, TQ1_0 / TQ2_0 256). For DIR it then names the GGUF\n"
                 "formats that hold the model losslessly (trit export). An embedding / LM head that\n"
                 "`trit train --keep-embedding` kept out of the projection (recorded in config.json)\n"
                 "is checked to hold bf16 values (bf16) or reported (fp32), and so are linear layers\n"
                 "kept by --keep-linear (bf16); in a GGUF file, kept tensors are those stored as BF16.\n"
                 "Adapters (--adapter-rank: each linear t*s + B*A) are checked to hold bf16 values, and\n"
                 "a GGUF file's adapter file (FILE.lora.gguf) to load.\n",
        .opts = opts,
        .positional = "DIR|FILE.gguf",
        .pos_dst = &dir,
        .pos_required = 1};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    char err[ERR_LEN], keep[8] = "";
    uint32_t keep_linear = 0;
    Model m;
    const int is_gguf = !is_directory(dir);
    if (is_gguf) {
        if (gguf_load_model(dir, &m, err)) die("%s", err);
        const long b = gguf_block_group(dir, arch_get(m.config.arch), keep, &keep_linear, err);
        if (b < 0) die("%s", err);
        if (!group) group = b;
    } else {
        if (model_load(&m, dir, err)) die("%s", err);
        // The kept embedding is read even when --group-size is given.
        const int recorded = recorded_group_size(dir, keep, &keep_linear);
        if (!group) group = recorded;
    }
    if (!group) group = 128;
    TernaryCounts total = {0};
    int checked = 0, failed = 0, skipped = 0, kept_n = 0, kept_bad = 0, kept_lin = 0, kept_lin_bad = 0, adapters = 0,
        adapters_bad = 0;
    if (!quiet) printf("%-52s %14s %7s %7s %7s  %s\n", "tensor", "shape", "-1", "0", "+1", "status");
    for (int i = 0; i < m.n_tensors; i++) {
        const TensorInfo *t = &m.tensors[i];
        if (tk_is_adapter(t->kind)) {
            const int ok = kept_ok(m.params_memory + t->offset, (size_t)t->rows * (size_t)t->cols, "bf16");
            if (!ok) printf("%-52s %14s %23s  FAIL: not all bf16\n", t->name, "", "");
            adapters++;
            adapters_bad += !ok;
            continue;
        }
        if (!t->matrix) { skipped++; continue; }
        char shape[40];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)t->rows, (long long)t->cols);
        if (keep[0] && tk_is_embedding(t->kind)) {
            int ok = kept_ok(m.params_memory + t->offset, (size_t)t->rows * (size_t)t->cols, keep);
            printf("%-52s %14s %23s  %s %s\n", t->name, shape, "", ok ? "kept" : "FAIL: not all", keep);
            kept_n++;
            kept_bad += !ok;
            continue;
        }
        if ((keep_linear >> t->kind) & 1u) {
            int ok = kept_ok(m.params_memory + t->offset, (size_t)t->rows * (size_t)t->cols, "bf16");
            if (!quiet || !ok) printf("%-52s %14s %23s  %s bf16\n", t->name, shape, "", ok ? "kept" : "FAIL: not all");
            kept_lin++;
            kept_lin_bad += !ok;
            continue;
        }
        if (ternary_check_shape(t->name, t->cols, (int)group, err)) {
            printf("%-52s %14s %7s %7s %7s  FAIL: %s\n", t->name, shape, "", "", "", err);
            failed++;
            checked++;
            continue;
        }
        TernaryCounts c = {0};
        int ok = ternary_verify(m.params_memory + t->offset, t->rows, t->cols, (int)group, &c) == 0;
        double n = (double)(c.neg + c.zero + c.pos);
        if (!quiet || !ok) {
            if (ok) printf("%-52s %14s %6.2f%% %6.2f%% %6.2f%%  ok\n", t->name, shape, 100 * c.neg / n,
                           100 * c.zero / n, 100 * c.pos / n);
            else printf("%-52s %14s %7s %7s %7s  FAIL: %llu of %lld groups are not {-s, 0, +s}\n", t->name, shape,
                        "", "", "", (unsigned long long)c.bad_groups, (long long)(t->rows * (t->cols / group)));
        }
        total.neg += c.neg;
        total.zero += c.zero;
        total.pos += c.pos;
        checked++;
        failed += !ok;
    }
    double n = (double)(total.neg + total.zero + total.pos);
    if (kept_n)
        printf("embedding / LM head kept out of the ternary projection in %s (trit train --keep-embedding): %d "
               "tensor%s, %d not %s\n", keep, kept_n, kept_n > 1 ? "s" : "", kept_bad, keep);
    if (kept_lin) {
        char list[96];
        arch_linear_list(keep_linear, list, sizeof list);
        printf("linear layers kept out of the ternary projection in bf16 (--keep-linear %s): %d tensor%s, %d not "
               "bf16\n", list, kept_lin, kept_lin > 1 ? "s" : "", kept_lin_bad);
    }
    if (adapters)
        printf("adapters: every linear layer is t*s + B*A, a rank-%d correction in bf16: %d tensors, %d not bf16\n",
               m.config.adapter_rank, adapters, adapters_bad);
    if (is_gguf && adapter_file(dir, err)) {
        fprintf(stderr, "trit: error: %s\n", err);
        failed++;
    }
    printf("checked %d ternary tensors (group size %ld; %d norm tensors stay full precision): %d passed, %d failed\n",
           checked, group, skipped, checked - failed, failed);
    if (n > 0)
        printf("total: %.2f%% -1, %.2f%% 0, %.2f%% +1 over %.0f weights\n", 100 * total.neg / n, 100 * total.zero / n,
               100 * total.pos / n, n);
    if (!is_gguf && failed == 0 && kept_bad == 0 && kept_lin_bad == 0 && adapters_bad == 0) report_formats(&m, keep);
    model_free(&m);
    return failed || kept_bad || kept_lin_bad || adapters_bad ? 1 : 0;
}
