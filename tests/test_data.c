// test_data.c — text and JSONL loading, the token cache, random windows.
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "test.h"
#include "tok/tokenizer.h"
#include "train/data.h"

static char dir[] = "/tmp/trit_test_data_XXXXXX";

static char *put(const char *name, const char *text) {
    char *p = path_join(dir, name), err[ERR_LEN];
    CHECK(write_file_atomic(p, text, strlen(text), err) == 0, "%s", err);
    return p;
}

int main(void) {
    const char *data = test_data_dir("test_data");
    if (!data) return test_finish("test_data");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[1024], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/qwen3-tokenizer/tokenizer.json", data);
    Tokenizer *tok = tokenizer_load(path, err);
    CHECK(tok != NULL, "%s", err);
    if (!tok) return test_finish("test_data");
    int32_t eot = tokenizer_token_id(tok, "<|endoftext|>");

    // JSONL: documents in order, each followed by <|endoftext|>.
    char *jl = put("docs.jsonl", "{\"text\": \"Hello world\"}\n\n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\", \"id\": 3}\n");
    TokenData d;
    CHECK(data_load(&d, jl, tok, NULL, err) == 0, "%s", err);
    int32_t *a, *b;
    size_t na, nb;
    tokenizer_encode(tok, "Hello world", 11, &a, &na, err);
    tokenizer_encode(tok, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10, &b, &nb, err);
    int ok = d.n == na + nb + 2 && !memcmp(d.ids, a, 4 * na) && d.ids[na] == eot &&
             !memcmp(d.ids + na + 1, b, 4 * nb) && d.ids[d.n - 1] == eot;
    CHECK(ok, "JSONL ids (%zu tokens)", d.n);
    free(a); free(b);
    data_free(&d);

    // An empty document first: nothing but its <|endoftext|> (the ids buffer
    // is still empty when it is appended; a regression input of make san).
    char *lead = put("lead.jsonl", "{\"text\": \"\"}\n{\"text\": \"Hello world\"}\n");
    CHECK(data_load(&d, lead, tok, NULL, err) == 0, "%s", err);
    tokenizer_encode(tok, "Hello world", 11, &a, &na, err);
    CHECK(d.n == na + 2 && d.ids[0] == eot && !memcmp(d.ids + 1, a, 4 * na) && d.ids[d.n - 1] == eot,
          "leading empty document: %zu tokens", d.n);
    free(a);
    data_free(&d);

    // Bad JSONL names the line; empty files and invalid UTF-8 are refused.
    char *bad = put("bad.jsonl", "{\"text\": \"fine\"}\n{\"txt\": \"no text field\"}\n");
    CHECK(data_load(&d, bad, tok, NULL, err) != 0 && strstr(err, "bad.jsonl:2"), "bad JSONL: %s", err);
    char *notjson = put("nj.jsonl", "not json at all\n");
    CHECK(data_load(&d, notjson, tok, NULL, err) != 0 && strstr(err, "nj.jsonl:1"), "non-JSON: %s", err);
    char *empty = put("empty.txt", "");
    CHECK(data_load(&d, empty, tok, NULL, err) != 0 && strstr(err, "empty"), "empty: %s", err);
    char *inv = put("inv.txt", "ok \xff bad");
    CHECK(data_load(&d, inv, tok, NULL, err) != 0 && strstr(err, "inv.txt") && strstr(err, "UTF-8"), "utf8: %s", err);

    // The cache: written on the first load, read on the second (same ids),
    // rebuilt when the text changes or the cache is damaged.
    char *txt = put("t.txt", "The quick brown fox jumps over the lazy dog. The end.");
    char *cache = path_join(dir, "t.tokens");
    TokenData d1, d2;
    CHECK(data_load(&d1, txt, tok, cache, err) == 0 && file_exists(cache), "%s", err);
    CHECK(data_load(&d2, txt, tok, cache, err) == 0 && d2.n == d1.n && !memcmp(d1.ids, d2.ids, 4 * d1.n),
          "cached ids differ");
    data_free(&d2);
    size_t clen;
    char *cbuf = read_file(cache, &clen, err);
    CHECK(cbuf && clen == 40 + 4 * d1.n && !memcmp(cbuf, "TRITTOKS", 8), "cache layout");
    CHECK(write_file_atomic(cache, cbuf, clen - 3, err) == 0, "%s", err);
    free(cbuf);
    CHECK(data_load(&d2, txt, tok, cache, err) == 0 && d2.n == d1.n && !memcmp(d1.ids, d2.ids, 4 * d1.n),
          "a truncated cache was not rebuilt");
    data_free(&d2);
    free(txt);
    txt = put("t.txt", "A different text now.");
    CHECK(data_load(&d2, txt, tok, cache, err) == 0 && d2.n != d1.n, "a stale cache was used");
    data_free(&d2);

    // Windows: y is x shifted by one, inside the data, the same for a seed.
    int B = 3, T = 4;
    int32_t x[12], y[12], x2[12], y2[12];
    uint64_t r1 = 42, r2 = 42;
    CHECK(data_check(&d1, "t", T, err) == 0, "%s", err);
    CHECK(data_check(&d1, "t", (int)d1.n, err) != 0 && strstr(err, "fewer than one window"), "short data: %s", err);
    int shifted = 1;
    for (int k = 0; k < 50; k++) {
        data_batch(&d1, &r1, B, T, x, y);
        data_batch(&d1, &r2, B, T, x2, y2);
        shifted &= !memcmp(x, x2, sizeof x) && !memcmp(y, y2, sizeof y);
        for (int i = 0; i < B; i++) {
            // find the window's offset and check both rows against the data
            int found = 0;
            for (size_t o = 0; o + T < d1.n && !found; o++)
                found = !memcmp(x + i * T, d1.ids + o, 4 * T) && !memcmp(y + i * T, d1.ids + o + 1, 4 * T);
            shifted &= found;
        }
    }
    CHECK(shifted, "windows are not repeatable data slices with y = x shifted");
    data_free(&d1);

    tokenizer_free(tok);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    free(jl); free(lead); free(bad); free(notjson); free(empty); free(inv); free(txt); free(cache);
    return test_finish("test_data");
}
