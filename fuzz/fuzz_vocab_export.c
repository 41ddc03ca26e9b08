// fuzz_vocab_export.c — libFuzzer target for the HF tokenizer -> GGUF keys
// export (tok/gguf_vocab_export.h), whose inputs are untrusted JSON files.
//
// An input is tokenizer.json, then optionally a NUL byte and
// tokenizer_config.json, then optionally a NUL byte and config.json.
// hf_vocab_parse (for an embedding of 300 rows) must fail with a message
// naming one of the files, or give a vocabulary whose every array has 300
// tokens (non-empty, types NORMAL / CONTROL / USER_DEFINED / UNUSED), merges
// of two tokens and special ids in range; then its keys, written as a GGUF,
// must read back (format/gguf.h) with the same tokens, unless a token is not
// UTF-8, which the writer refuses by name.
//
//   make fuzz && build-fuzz/fuzz_vocab_export -max_total_time=60 fuzz/seeds/vocab_export
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "tok/gguf_vocab.h"
#include "tok/gguf_vocab_export.h"

#define N_VOCAB 300

static int named(const char *err) {
    return !strncmp(err, "tokenizer.json: ", 16) || !strncmp(err, "tokenizer_config.json: ", 23) ||
           !strncmp(err, "config.json: ", 13);
}

static void check_vocab(const HfVocab *v) {
    if (v->n_tokens != N_VOCAB || !v->pre || v->n_merges < 1) abort();
    for (int i = 0; i < v->n_tokens; i++) {
        int t = v->token_types[i];
        if (!v->token_lens[i] || strlen(v->tokens[i]) != v->token_lens[i]) abort();
        if (t != GGUF_TOKEN_NORMAL && t != GGUF_TOKEN_CONTROL && t != GGUF_TOKEN_USER_DEFINED && t != GGUF_TOKEN_UNUSED)
            abort();
    }
    for (int i = 0; i < v->n_merges; i++)
        if (!strchr(v->merges[i] + 1, ' ') || strlen(v->merges[i]) != v->merge_lens[i]) abort();
    const int ids[4] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= N_VOCAB) abort();
}

// The keys as a GGUF, read back: the same tokens.
static void check_written(const HfVocab *v) {
    static char path[64];
    if (!path[0])  // tmpfs when there is one: the write fsyncs
        snprintf(path, sizeof path, "%s/fuzz_vocab_export_%ld.gguf", is_directory("/dev/shm") ? "/dev/shm" : "/tmp",
                 (long)getpid());
    char err[ERR_LEN] = "";
    GgufWriter *w = gguf_writer_new();
    if (gguf_add_hf_vocab(w, v, err)) {
        if (!strstr(err, "is not UTF-8")) abort();
        gguf_writer_free(w);
        return;
    }
    GgufFile g = {0};
    const GgufKV *kv;
    if (gguf_writer_write(w, path, err) || gguf_open(&g, path, err) ||
        gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, err) || kv->n != (uint64_t)v->n_tokens)
        abort();
    for (int i = 0; i < v->n_tokens; i++) {
        size_t n;
        const char *s = gguf_arr_str(kv, (uint64_t)i, &n);
        if (n != v->token_lens[i] || memcmp(s, v->tokens[i], n)) abort();
    }
    gguf_close(&g);
    unlink(path);
    gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);  // not NUL-terminated: parsing must respect the lengths
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    const char *part[3] = {buf, NULL, NULL};
    size_t len[3] = {size, 0, 0};
    for (int k = 1; k < 3; k++) {
        const char *nul = memchr(part[k - 1], 0, len[k - 1]);
        if (!nul) break;
        part[k] = nul + 1;
        len[k] = len[k - 1] - (size_t)(part[k] - part[k - 1]);
        len[k - 1] = (size_t)(nul - part[k - 1]);
    }
    HfTokenizerTexts t = {part[0], len[0], part[1], len[1], part[2], len[2], NULL, 0};
    HfVocab v;
    char err[ERR_LEN] = "";
    if (hf_vocab_parse(&v, &t, N_VOCAB, err) == 0) {
        check_vocab(&v);
        check_written(&v);
    } else if (!named(err)) {
        abort();
    }
    hf_vocab_free(&v);
    free(buf);
    return 0;
}
