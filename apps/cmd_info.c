// cmd_info.c — `trit info DIR`: a checkpoint's config, tensor and parameter
// counts by dtype and by part of the model, and a check of every tensor
// against config.json.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "commands.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "base/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trit info DIR\n\n"
            "Prints DIR/config.json, then the safetensors checkpoint in DIR (model.safetensors or\n"
            "model.safetensors.index.json and its shards): tensor count, parameters by dtype and\n"
            "by part (embedding, attention, MLP, norms, lm_head), and checks that every tensor\n"
            "config.json implies is there with its shape and that there are no others.\n"
            "Exits 1 when the checkpoint cannot be read or does not match config.json.\n");
}

static void print_count(const char *label, long long n, long long total) {
    printf("  %-10s %13lld  (%5.1f%%)\n", label, n, total ? 100.0 * (double)n / (double)total : 0.0);
}

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "trit: error: info: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "trit: error: info needs a checkpoint directory\n");
        usage(stderr);
        return 2;
    }
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
