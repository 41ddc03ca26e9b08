// test_import.c — `trit import` (src/convert/gguf_import.c) on tiny GGUF models
// written as llama.cpp's converter lays them out (Llama with its permuted q/k
// rows, Qwen3; Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/F16/F32 tensors) by
// tools/reference/make_gguf_model_fixtures.py, against transformers' own
// GGUF loading of the same files: logits within 1e-4. Then the error paths:
// each broken file gives one message naming the file and the problem, and
// nothing appears at --out.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "convert/gguf_import.h"
#include "infer/chat.h"
#include "model/forward.h"
#include "model/model.h"
#include "reference.h"
#include "test.h"
#include "tok/tokenizer.h"

#define FIX "tests/fixtures/gguf_models"

static char tmp_root[64];

// Entries in tmp_root other than "." and "..": nothing may be left behind.
static int count_entries(void) {
    DIR *d = opendir(tmp_root);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void check_good(const char *arch, ModelArch want) {
    char gguf[256], ref[256], out[256], err[ERR_LEN];
    snprintf(gguf, sizeof gguf, FIX "/%s.gguf", arch);
    snprintf(ref, sizeof ref, FIX "/%s.reference.bin", arch);
    snprintf(out, sizeof out, "%s/%s", tmp_root, arch);
    int rc = gguf_import(gguf, out, "float32", 0, err);
    CHECK(rc == 0, "%s: %s", arch, err);
    if (rc) return;
    Reference r = {0};
    Model m;
    rc = read_reference(ref, &r);
    CHECK(rc == 0, "%s: reference unreadable", ref);
    if (rc) return;
    rc = model_load(&m, out, err);
    CHECK(rc == 0, "%s: %s", arch, err);
    if (rc) return;
    Workspace ws;
    workspace_init(&ws, &m.config);
    CHECK(m.config.arch == want && m.config.vocab_size == r.V, "%s: arch %d, vocab %d", arch, (int)m.config.arch,
          m.config.vocab_size);
    const size_t n = (size_t)r.B * r.T * r.V;
    float *logits = xmalloc(sizeof(float) * n);
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)r.B * r.T);
    for (int b = 0; b < r.B; b++)
        for (int t = 0; t < r.T; t++) x[b * r.T + t] = r.tokens[b * (r.T + 1) + t];
    forward_params(&ws, &m, &m.params, x, NULL, r.B, r.T, 0, logits, NULL);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(logits[i] - r.logits[i]));
    CHECK(worst <= 1e-4, "%s: max |logit - transformers' GGUF loading| = %.3g", arch, worst);
    printf("  %s: imported, max |logit diff| vs transformers' GGUF loading %.2e\n", arch, worst);
    // The tokenizer and the chat template came along.
    Tokenizer *tok = tokenizer_load_for(NULL, out, err);
    CHECK(tok != NULL, "%s: tokenizer: %s", arch, err);
    if (tok) {
        int32_t *ids;
        size_t nid;
        CHECK(tokenizer_encode(tok, "<|im_start|>the 123", 19, &ids, &nid, err) == 0 && nid >= 3 &&
              ids[0] == tokenizer_token_id(tok, "<|im_start|>"), "%s: encode: %s", arch, err);
        if (nid) free(ids);
        char *tmpl = NULL, *chat = NULL;
        CHECK(chat_template_load(out, &tmpl, err) == 0 && tmpl && (chat = chat_format(tmpl, tok, "hi", err)),
              "%s: chat template: %s", arch, err);
        free(tmpl);
        free(chat);
        tokenizer_free(tok);
    }
    free(logits);
    free(x);
    free(r.tokens);
    free(r.logits);
    workspace_free(&ws);
    model_free(&m);
    rm_rf(out);
}

// `path` must fail with a message containing the file name and `needle`,
// leaving nothing in tmp_root.
static void check_bad(const char *path, const char *needle) {
    char out[256], err[ERR_LEN] = "";
    snprintf(out, sizeof out, "%s/out", tmp_root);
    int rc = gguf_import(path, out, "float32", 0, err);
    CHECK(rc == -1 && strstr(err, needle) && (strstr(err, path) || strstr(err, out)), "%s: '%s' (want '%s')", path,
          err, needle);
    CHECK(count_entries() == 0, "%s: something was left in %s", path, tmp_root);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/trit_test_import_XXXXXX");
    if (!mkdtemp(tmp_root)) { perror("mkdtemp"); return 1; }
    check_good("llama", ARCH_LLAMA);
    check_good("qwen3", ARCH_QWEN3);

    check_bad(FIX "/bad_arch.gguf", "architecture 'falcon' is not supported");
    check_bad(FIX "/bad_types.gguf", "token_type");
    check_bad(FIX "/bad_pre.gguf", "no-such-pre");
    check_bad(FIX "/bad_missing.gguf", "blk.1.ffn_up.weight' is missing");
    check_bad(FIX "/no_such_file.gguf", "no_such_file.gguf");
    // Truncated copies: the header, the KVs, the tensor infos, the data.
    char err[ERR_LEN];
    size_t len;
    char *full = read_file(FIX "/llama.gguf", &len, err);
    CHECK(full != NULL, "%s", err);
    char cut[128];
    snprintf(cut, sizeof cut, "/tmp/trit_test_import_cut_%d.gguf", (int)getpid());
    const size_t lens[] = {0, 3, 20, 200, 4000, len / 2, len - 1};
    for (size_t i = 0; full && i < sizeof lens / sizeof lens[0]; i++) {
        CHECK(write_file_atomic(cut, full, lens[i], err) == 0, "%s", err);
        check_bad(cut, "");
    }
    unlink(cut);
    free(full);
    // An existing, non-empty --out is never overwritten.
    char out[256], keep[300];
    snprintf(out, sizeof out, "%s/out", tmp_root);
    snprintf(keep, sizeof keep, "%s/keep", out);
    CHECK(make_dir(out, err) == 0 && write_file_atomic(keep, "x", 1, err) == 0, "%s", err);
    CHECK(gguf_import(FIX "/llama.gguf", out, "float32", 0, err) == -1 && strstr(err, "already exists") &&
          file_exists(keep), "existing --out: %s", err);
    rm_rf(tmp_root);
    return test_finish("test_import");
}
