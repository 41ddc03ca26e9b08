// cmd_info.c — `trit info DIR`: a checkpoint's config, tensor and parameter
// counts by dtype and by part of the model, and a check of every tensor
// against config.json. `trit info FILE.gguf`: a GGUF file's version, its
// architecture's hyper-parameters, tokenizer, and tensors by ggml type.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/checkpoint.h"
#include "arch/config.h"
#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "format/gguf.h"
#include "format/safetensors.h"

// --- GGUF files ---------------------------------------------------------------

// A regular file named *.gguf or starting with the GGUF magic.
static int is_gguf_file(const char *path) {
    if (is_directory(path)) return 0;
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".gguf")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int yes = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return yes;
}

// One KV's value on the rest of the line; "(absent)" for NULL.
static void print_gguf_value(const GgufKV *kv) {
    int64_t i;
    uint64_t u;
    double d;
    if (!kv) printf("(absent)");
    else if (kv->type == GGUF_TYPE_BOOL) printf("%s", kv->data[0] ? "true" : "false");
    else if (gguf_kv_int(kv, &i) == 0) printf("%lld", (long long)i);
    else if (gguf_kv_uint(kv, &u) == 0) printf("%llu", (unsigned long long)u);
    else if (gguf_kv_float(kv, &d) == 0) printf("%g", d);
    else if (kv->type == GGUF_TYPE_STRING) printf("\"%.*s\"", kv->len > 200 ? 200 : (int)kv->len, (const char *)kv->data);
    else printf("[%llu x %s]", (unsigned long long)kv->n, gguf_type_name(kv->arr_type));
    printf("\n");
}

static int info_gguf(const char *path) {
    char err[ERR_LEN];
    GgufFile g;
    if (gguf_open(&g, path, err) != 0) {
        fprintf(stderr, "trit: error: %s\n", err);
        return 1;
    }
    printf("%s: GGUF version %u, %d KVs, %d tensors, alignment %u, data at byte %llu of %zu\n", path, g.version,
           gguf_n_kv(&g), gguf_n_tensors(&g), g.alignment, (unsigned long long)g.data_offset, g.size);
    const char *s;
    size_t n;
    char arch[128] = "";
    if (gguf_get_str(&g, "general.architecture", &s, &n, err) == 0)
        snprintf(arch, sizeof arch, "%.*s", n > 100 ? 100 : (int)n, s);
    printf("architecture %s", arch[0] ? arch : "(absent)");
    if (gguf_get_str(&g, "general.name", &s, &n, err) == 0) printf(" (\"%.*s\")", n > 200 ? 200 : (int)n, s);
    printf("\n");
    // The hyper-parameters llama.cpp reads as <arch>.<name>; the last ones
    // only when present (not every architecture has them).
    static const char *const hp[] = {
        "block_count", "embedding_length", "feed_forward_length", "attention.head_count",
        "attention.head_count_kv", "context_length", "rope.freq_base", "attention.layer_norm_rms_epsilon",
        "attention.key_length", "attention.value_length", "rope.dimension_count", "vocab_size",
    };
    for (int i = 0; i < (int)(sizeof hp / sizeof hp[0]); i++) {
        char key[200];
        snprintf(key, sizeof key, "%s.%s", arch, hp[i]);
        const GgufKV *kv = gguf_find_kv(&g, key);
        if (!kv && i >= 8) continue;
        printf("  %-34s ", hp[i]);
        print_gguf_value(kv);
    }
    const GgufKV *tok;
    if (gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tok, err) == 0)
        printf("  %-34s %llu (tokenizer.ggml.tokens)\n", "vocab size", (unsigned long long)tok->n);
    else
        printf("  %-34s (no tokenizer.ggml.tokens)\n", "vocab size");
    const char *model = "(absent)", *pre = "(absent)";
    size_t model_n = 8, pre_n = 8;
    gguf_get_str(&g, "tokenizer.ggml.model", &model, &model_n, err);
    gguf_get_str(&g, "tokenizer.ggml.pre", &pre, &pre_n, err);
    printf("tokenizer %.*s, pre %.*s\n", model_n > 100 ? 100 : (int)model_n, model, pre_n > 100 ? 100 : (int)pre_n, pre);

    int nt = ggml_type_count();
    long long *count = calloc((size_t)nt, sizeof *count), *params = calloc((size_t)nt, sizeof *params);
    unsigned long long *bytes = calloc((size_t)nt, sizeof *bytes), total_bytes = 0;
    long long total = 0;
    for (int i = 0; i < gguf_n_tensors(&g); i++) {
        const GgufTensor *t = gguf_tensor(&g, i);
        int k = 0;
        while (k < nt && ggml_type_at(k) != t->tt) k++;
        if (k == nt || !count || !params || !bytes) continue;
        count[k]++;
        params[k] += t->n_elements;
        bytes[k] += t->nbytes;
        total += t->n_elements;
        total_bytes += t->nbytes;
    }
    printf("tensors %d, %llu bytes of data\n", gguf_n_tensors(&g), total_bytes);
    for (int k = 0; k < nt && count && params && bytes; k++)
        if (count[k])
            printf("  %-6s %5lld tensors %13lld parameters %13llu bytes (%.3f bits per weight)\n", ggml_type_at(k)->name,
                   count[k], params[k], bytes[k], params[k] ? 8.0 * (double)bytes[k] / (double)params[k] : 0.0);
    if (total >= 1000000000LL) printf("parameters %lld (%.3f B)\n", total, (double)total / 1e9);
    else printf("parameters %lld (%.3f M)\n", total, (double)total / 1e6);
    free(count);
    free(params);
    free(bytes);
    gguf_close(&g);
    return 0;
}

static void print_count(const char *label, long long n, long long total) {
    printf("  %-10s %13lld  (%5.1f%%)\n", label, n, total ? 100.0 * (double)n / (double)total : 0.0);
}

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    const Opt opts[] = {{0}};
    const Command cmd = {
        .name = "info",
        .synopsis = "DIR|FILE.gguf",
        .about = "Prints DIR/config.json, then the safetensors checkpoint in DIR (model.safetensors or\n"
                 "model.safetensors.index.json and its shards): tensor count, parameters by dtype and\n"
                 "by part (embedding, attention, MLP, norms, lm_head), and checks that every tensor\n"
                 "config.json implies is there with its shape and that there are no others.\n"
                 "Exits 1 when the checkpoint cannot be read or does not match config.json.\n\n"
                 "With a GGUF file (named *.gguf, or starting with \"GGUF\"): the GGUF version, the\n"
                 "architecture and its hyper-parameters (<arch>.block_count, embedding_length, ...),\n"
                 "the vocabulary size, the tokenizer, tensors and bytes by ggml type, and the\n"
                 "parameter count. Exits 1 when the file is not a valid GGUF file.\n",
        .opts = opts,
        .positional = "DIR|FILE.gguf",
        .pos_dst = &dir,
        .pos_required = 1};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (is_gguf_file(dir)) return info_gguf(dir);
    char err[ERR_LEN];
    ModelConfig c;
    char *cfg_path = path_join(dir, "config.json");
    int rc = config_load(&c, cfg_path, err);
    if (rc != 0) {
        free(cfg_path);
        fprintf(stderr, "trit: error: %s\n", err);
        return 1;
    }
    printf("config (%s):\n", cfg_path);
    free(cfg_path);
    config_print(&c);

    StArchive a;
    if (st_open_dir(&a, dir, err) != 0) {
        fprintf(stderr, "trit: error: %s\n", err);
        return 1;
    }
    long long total = 0, by_kind[CK_NUM_KINDS] = {0}, dt_params[ST_NUM_DTYPES] = {0};
    int dt_count[ST_NUM_DTYPES] = {0};
    for (int i = 0; i < a.ntensors; i++) {
        const StTensor *t = &a.tensors[i];
        total += t->numel;
        by_kind[ck_kind_of(t->name)] += t->numel;
        dt_count[t->dtype]++;
        dt_params[t->dtype] += t->numel;
    }
    printf("\ntensors %d in %d file%s\n", a.ntensors, a.nfiles, a.nfiles == 1 ? "" : "s");
    if (total >= 1000000000LL) printf("parameters %lld (%.3f B)\n", total, (double)total / 1e9);
    else printf("parameters %lld (%.3f M)\n", total, (double)total / 1e6);
    printf("dtypes:\n");
    for (int d = 0; d < ST_NUM_DTYPES; d++)
        if (dt_count[d])
            printf("  %-10s %d tensors, %lld parameters\n", st_dtype_name((StDType)d), dt_count[d], dt_params[d]);
    printf("parameters by part:\n");
    for (int k = 0; k < CK_NUM_KINDS; k++) {
        if (k == CK_OTHER && by_kind[k] == 0) continue;
        if (k == CK_LM_HEAD && by_kind[k] == 0 && c.tie_word_embeddings) {
            printf("  %-10s %13s  (tied to the embedding)\n", "lm_head", "0");
            continue;
        }
        print_count(ck_kind_name((CkKind)k), by_kind[k], total);
    }
    rc = checkpoint_check(&c, &a, dir, err);
    if (rc == 0) printf("check ok: the %d tensors match config.json\n", a.ntensors);
    st_close(&a);
    if (rc != 0) {
        fprintf(stderr, "trit: error: %s\n", err);
        return 1;
    }
    return 0;
}
