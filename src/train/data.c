// data.c — see data.h.
#include "train/data.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"

#define CACHE_MAGIC "TRITTOKS"
#define CACHE_VERSION 1u
#define CACHE_HEADER 40

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void append_ids(TokenData *d, size_t *cap, const int32_t *ids, size_t n) {
    if (n == 0) return;  // d->ids is still NULL before the first ids, and NULL + 0 is undefined
    if (d->n + n > *cap) {
        *cap = (d->n + n) * 2;
        d->ids = xrealloc(d->ids, sizeof(int32_t) * *cap);
    }
    memcpy(d->ids + d->n, ids, sizeof(int32_t) * n);
    d->n += n;
}

static int tokenize_jsonl(TokenData *d, const char *path, char *text, size_t len, Tokenizer *tok, char *err) {
    size_t cap = 0;
    int32_t eot = tokenizer_token_id(tok, "<|endoftext|>");
    long line = 0;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        line++;
        *end = 0;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            cJSON *j = cJSON_ParseWithLength(p, (size_t)(end - p));
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
            if (!cJSON_IsString(t)) {
                cJSON_Delete(j);
                return set_err(err, "%s:%ld: not a JSON object with a string \"text\" field", path, line);
            }
            int32_t *ids;
            size_t n;
            if (tokenizer_encode(tok, t->valuestring, strlen(t->valuestring), &ids, &n, err)) {
                char inner[ERR_LEN];
                snprintf(inner, sizeof inner, "%s", err);
                cJSON_Delete(j);
                return set_err(err, "%s:%ld: %s", path, line, inner);
            }
            append_ids(d, &cap, ids, n);
            if (eot >= 0) append_ids(d, &cap, &eot, 1);
            free(ids);
            cJSON_Delete(j);
        }
        p = end + 1;
    }
    return 0;
}

static int read_cache(TokenData *d, const char *cache_path, uint64_t tok_hash, uint64_t src_hash) {
    size_t len;
    char err[ERR_LEN];
    if (!file_exists(cache_path)) return -1;
    char *buf = read_file(cache_path, &len, err);
    if (!buf) return -1;
    uint32_t ver;
    uint64_t th, sh, n;
    int ok = len >= CACHE_HEADER && memcmp(buf, CACHE_MAGIC, 8) == 0;
    if (ok) {
        memcpy(&ver, buf + 8, 4);
        memcpy(&th, buf + 16, 8);
        memcpy(&sh, buf + 24, 8);
        memcpy(&n, buf + 32, 8);
        ok = ver == CACHE_VERSION && th == tok_hash && sh == src_hash && n <= (len - CACHE_HEADER) / 4 &&
             len == CACHE_HEADER + 4 * n;
    }
    if (ok) {
        d->n = n;
        d->ids = xmalloc(sizeof(int32_t) * (n ? n : 1));
        memcpy(d->ids, buf + CACHE_HEADER, 4 * n);
    }
    free(buf);
    return ok ? 0 : -1;
}

static int write_cache(const TokenData *d, const char *cache_path, uint64_t tok_hash, uint64_t src_hash, char *err) {
    size_t len = CACHE_HEADER + 4 * d->n;
    char *buf = xcalloc(1, len);
    uint32_t ver = CACHE_VERSION;
    uint64_t n = d->n;
    memcpy(buf, CACHE_MAGIC, 8);
    memcpy(buf + 8, &ver, 4);
    memcpy(buf + 16, &tok_hash, 8);
    memcpy(buf + 24, &src_hash, 8);
    memcpy(buf + 32, &n, 8);
    if (d->n) memcpy(buf + CACHE_HEADER, d->ids, 4 * d->n);
    int rc = write_file_atomic(cache_path, buf, len, err);
    free(buf);
    return rc;
}

// A token file given as the data itself (trit synth's output).
static int load_token_file(TokenData *d, const char *path, const char *buf, size_t len, uint64_t tok_hash,
                           char *err) {
    uint32_t ver = 0;
    uint64_t th = 0, n = 0;
    if (len >= CACHE_HEADER) {
        memcpy(&ver, buf + 8, 4);
        memcpy(&th, buf + 16, 8);
        memcpy(&n, buf + 32, 8);
    }
    if (len < CACHE_HEADER || ver != CACHE_VERSION || n > (len - CACHE_HEADER) / 4 || len != CACHE_HEADER + 4 * n)
        return set_err(err, "%s: a truncated or malformed token file", path);
    if (th != tok_hash) return set_err(err, "%s: the token file was made with another tokenizer", path);
    if (n == 0) return set_err(err, "%s: no tokens", path);
    d->n = n;
    d->ids = xmalloc(sizeof(int32_t) * n);
    memcpy(d->ids, buf + CACHE_HEADER, 4 * n);
    return 0;
}

int data_save_tokens(const TokenData *d, const char *path, const Tokenizer *tok, char *err) {
    return write_cache(d, path, tokenizer_hash(tok), 0, err);
}

int data_load(TokenData *d, const char *path, Tokenizer *tok, const char *cache_path, char *err) {
    memset(d, 0, sizeof *d);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    if (len == 0) {
        free(text);
        return set_err(err, "%s: the file is empty", path);
    }
    const uint64_t tok_hash = tokenizer_hash(tok);
    if (len >= 8 && memcmp(text, CACHE_MAGIC, 8) == 0) {
        int rc = load_token_file(d, path, text, len, tok_hash, err);
        free(text);
        return rc;
    }
    const uint64_t src_hash = fnv1a64(text, len);
    if (cache_path && read_cache(d, cache_path, tok_hash, src_hash) == 0) {
        free(text);
        return 0;
    }
    int rc;
    if (ends_with(path, ".jsonl")) {
        rc = tokenize_jsonl(d, path, text, len, tok, err);
    } else {
        rc = tokenizer_encode(tok, text, len, &d->ids, &d->n, err);
        if (rc) {
            char inner[ERR_LEN];
            snprintf(inner, sizeof inner, "%s", err);
            set_err(err, "%s: %s", path, inner);
        }
    }
    free(text);
    if (rc == 0 && d->n == 0) rc = set_err(err, "%s: no tokens (the file holds no text)", path);
    if (rc == 0 && cache_path) rc = write_cache(d, cache_path, tok_hash, src_hash, err);
    if (rc) data_free(d);
    return rc;
}

void data_free(TokenData *d) {
    free(d->ids);
    memset(d, 0, sizeof *d);
}

int data_check(const TokenData *d, const char *name, int T, char *err) {
    if (d->n < (size_t)T + 1)
        return set_err(err, "%s: %zu tokens, fewer than one window of seq-len + 1 = %d", name, d->n, T + 1);
    return 0;
}

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void data_batch(const TokenData *d, uint64_t *rng, int B, int T, int32_t *x, int32_t *y) {
    const uint64_t n_starts = d->n - (size_t)T;  // windows of T+1 tokens
    for (int b = 0; b < B; b++) {
        // Multiply-shift maps 64 random bits to [0, n_starts) with negligible bias.
        uint64_t off = (uint64_t)(((unsigned __int128)next_u64(rng) * n_starts) >> 64);
        memcpy(x + (size_t)b * T, d->ids + off, sizeof(int32_t) * T);
        memcpy(y + (size_t)b * T, d->ids + off + 1, sizeof(int32_t) * T);
    }
}
