// source.c — see source.h.
#include "infer/source.h"

#include <stdlib.h>
#include <string.h>

#include "arch/gguf_config.h"
#include "base/util.h"
#include "infer/chat.h"

// The tokenizer and chat template a GGUF file carries.
static int gguf_tokenizer(ModelSource *s, const char *path, char *err) {
    char *tok_json = NULL, *cfg_json = NULL;
    size_t tok_len = 0, cfg_len = 0;
    if (gguf_tokenizer_files(s->w.file, &s->w.config, &tok_json, &tok_len, &cfg_json, &cfg_len, err) != 0) return -1;
    free(cfg_json);
    s->tok = tokenizer_load_json(tok_json, tok_len, path, err);
    free(tok_json);
    if (!s->tok) return -1;
    const char *t;
    size_t n;
    if (gguf_find_kv(s->w.file, "tokenizer.chat_template")) {
        if (gguf_get_str(s->w.file, "tokenizer.chat_template", &t, &n, err) != 0) return -1;
        s->chat_template = xmalloc(n + 1);
        memcpy(s->chat_template, t, n);
        s->chat_template[n] = 0;
    }
    return 0;
}

int source_open(ModelSource *s, const char *path, const char *pack, const char *tok_arg, char *err) {
    memset(s, 0, sizeof *s);
    if (weights_open(&s->w, path, pack, err) != 0) return -1;
    int rc;
    if (s->w.file && !tok_arg) {
        rc = gguf_tokenizer(s, path, err);
    } else {
        const char *dir = s->w.file ? "." : path;
        rc = (s->tok = tokenizer_load_for(tok_arg, dir, err)) ? 0 : -1;
        if (rc == 0 && !s->w.file) rc = chat_template_load(path, &s->chat_template, err);
    }
    if (rc != 0) source_close(s);
    return rc;
}

void source_close(ModelSource *s) {
    weights_free(&s->w);
    if (s->tok) tokenizer_free(s->tok);
    free(s->chat_template);
    memset(s, 0, sizeof *s);
}

int source_eos_ids(const ModelSource *s, int32_t eos[3]) {
    const int cand[3] = {s->w.config.eos_token_id, tokenizer_token_id(s->tok, "<|im_end|>"),
                         tokenizer_token_id(s->tok, "<|endoftext|>")};
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (cand[i] >= 0) eos[n++] = cand[i];
    return n;
}
