// gguf_import.c — see gguf_import.h.
#include "convert/gguf_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/gguf_config.h"
#include "base/util.h"
#include "model/model.h"

static int load_weights(const GgufFile *g, Model *m, char *err) {
    const ModelConfig *c = &m->config;
    const Arch *arch = arch_get(c->arch);
    char name[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        arch_gguf_name(arch_tensor(arch, ti->kind), ti->layer, name, sizeof name);
        float *dst = m->params_memory + ti->offset;
        if (gguf_tensor_to_f32(gguf_find_tensor(g, name), dst, err)) return -1;
        gguf_rope_rows(c, ti->kind, dst, sizeof(float) * (size_t)ti->cols, 0);
    }
    return 0;
}

int gguf_model_from(const GgufFile *g, Model *m, char *err) {
    memset(m, 0, sizeof *m);
    ModelConfig c;
    if (gguf_config(g, &c, err) || gguf_check_tensors(g, &c, err) || model_alloc(m, &c, err)) return -1;
    if (load_weights(g, m, err) == 0) return 0;
    model_free(m);
    return -1;
}

int gguf_load_model(const char *path, Model *m, char *err) {
    memset(m, 0, sizeof *m);
    GgufFile g;
    if (gguf_open(&g, path, err)) return -1;
    int rc = gguf_model_from(&g, m, err);
    gguf_close(&g);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text, size_t len, char *err) {
    char *p = path_join(dir, name);
    int rc = write_file_atomic(p, text, len, err);
    free(p);
    return rc;
}

int gguf_import(const char *gguf_path, const char *out_dir, const char *torch_dtype, int verbose, char *err) {
    if (strcmp(torch_dtype, "float32") && strcmp(torch_dtype, "bfloat16"))
        return set_err(err, "import: dtype '%s' (float32 or bfloat16)", torch_dtype);
    struct stat st;
    if (stat(out_dir, &st) == 0 && !(S_ISDIR(st.st_mode) && rmdir(out_dir) == 0))
        return set_err(err, "%s: already exists (and is not an empty directory); import writes a new directory",
                       out_dir);
    GgufFile g;
    if (gguf_open(&g, gguf_path, err)) return -1;
    ModelConfig c;
    Model m = {0};
    char *tok = NULL, *tcfg = NULL;
    size_t tok_len = 0, tcfg_len = 0;
    int rc = -1;
    double t0 = now_seconds();
    if (gguf_config(&g, &c, err) || gguf_check_tensors(&g, &c, err) ||
        gguf_tokenizer_files(&g, &c, &tok, &tok_len, &tcfg, &tcfg_len, err))
        goto done;
    if (gguf_find_kv(&g, "trit.adapter_rank")) {  // the ternary half of a model alone is not the model
        set_err(err, "%s was exported with adapters beside it (trit.adapter_rank), which import does not read: "
                "run it with trit or llama.cpp's --lora, or convert from the directory it was exported from",
                gguf_path);
        goto done;
    }
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", torch_dtype);
    if (model_alloc(&m, &c, err) || load_weights(&g, &m, err)) goto done;
    AtomicDir d;
    if (atomic_dir_open(&d, out_dir, err)) goto done;
    if (model_save(&m, d.tmp, NULL, err) || write_text(d.tmp, "tokenizer.json", tok, tok_len, err) ||
        write_text(d.tmp, "tokenizer_config.json", tcfg, tcfg_len, err)) {
        atomic_dir_abort(&d);
        goto done;
    }
    if (atomic_dir_commit(&d, 0, err)) goto done;
    if (verbose)
        fprintf(stderr, "imported %s -> %s: %s, %d layers, hidden %d, %zu parameters (%s) in %.1f s\n", gguf_path,
                out_dir, arch_get(c.arch)->hf_class, c.num_hidden_layers, c.hidden_size, m.n_params, torch_dtype,
                now_seconds() - t0);
    rc = 0;
done:
    free(tok);
    free(tcfg);
    model_free(&m);
    gguf_close(&g);
    return rc;
}
