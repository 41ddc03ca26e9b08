// test_tok_gguf.c — a GGUF vocabulary as a tokenizer.json (tok/gguf_vocab.h),
// run by trit's tokenizer, against llama.cpp's own tokenizer.
//
// Always: a small byte-level vocabulary built here goes through every
// supported pre-tokenizer and every input error; its smollm layout (digits
// split one by one) must give the ids HF tokenizers and llama.cpp gave
// (tests/fixtures/tok_gguf/tiny-smollm.ids).
// With the real SmolLM2 GGUF (models/SmolLM2-135M-Instruct.Q4_1.gguf, from
// scripts/fetch-smollm2.sh; MODELS= for another folder): its vocabulary,
// read with format/gguf.h, must give llama.cpp's ids on tricky strings and on all
// of wiki.test.raw (smollm2.ids). A missing GGUF is a SKIP, or a FAIL when
// CI=true.
// With the shared data (TRIT_DATA): the Qwen3 vocabulary, as a GGUF of it
// would hold it, with pre qwen2, llama-bpe and gpt-2 (qwen3-*.ids).
// The fixtures hold llama-cpp-python's ids and HF tokenizers' ids on the
// tokenizer.json this test writes when TRIT_TOK_GGUF_WRITE=DIR is set; see
// tools/reference/make_gguf_tokenizer_fixtures.py.
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "format/gguf.h"
#include "gpt2_bytes.h"
#include "test.h"
#include "tok/gguf_vocab.h"
#include "tok/tokenizer.h"

#define FIXTURES "tests/fixtures/tok_gguf"
#define SMOLLM2_GGUF "SmolLM2-135M-Instruct.Q4_1.gguf"

// Writes text to $TRIT_TOK_GGUF_WRITE/name when that is set.
static void maybe_write(const char *name, const char *text, size_t len) {
    const char *dir = getenv("TRIT_TOK_GGUF_WRITE");
    if (!dir) return;
    char err[ERR_LEN];
    char *path = path_join(dir, name);
    CHECK(write_file_atomic(path, text, len, err) == 0, "%s", err);
    free(path);
}

// ---------------------------------------------------------------------------
// A small vocabulary: ids 0..255 are the bytes (GPT-2 spelling, byte order),
// then merged tokens, then a control, a user-defined and an unknown token.

static const char *TINY_MERGES[][2] = {
    {"1", "2"}, {"\xC4\xA0", "1"}, {"h", "i"}, {"\xC4\xA0", "hi"}, {"'", "s"}, {"a", "a"}, {"\xC4\xA0", "\xC4\xA0"},
};
#define N_TINY_MERGES 7
#define N_TINY (256 + N_TINY_MERGES + 3)

typedef struct {
    char *tok[N_TINY + 2];
    size_t tok_len[N_TINY + 2];
    int32_t type[N_TINY + 2];
    char *merge[N_TINY_MERGES + 2];
    size_t merge_len[N_TINY_MERGES + 2];
    GgufVocab v;
} Tiny;

static void tiny_build(Tiny *t, const char *pre) {
    memset(t, 0, sizeof *t);
    for (int b = 0; b < 256; b++) {
        t->tok[b] = calloc(1, 4);
        byte_char(b, t->tok[b]);
    }
    for (int m = 0; m < N_TINY_MERGES; m++) {
        size_t na = strlen(TINY_MERGES[m][0]), nb = strlen(TINY_MERGES[m][1]);
        t->tok[256 + m] = malloc(na + nb + 1);
        snprintf(t->tok[256 + m], na + nb + 1, "%s%s", TINY_MERGES[m][0], TINY_MERGES[m][1]);
        t->merge[m] = malloc(na + nb + 2);
        snprintf(t->merge[m], na + nb + 2, "%s %s", TINY_MERGES[m][0], TINY_MERGES[m][1]);
        t->merge_len[m] = na + nb + 1;
    }
    t->tok[N_TINY - 3] = strdup("<|s|>");
    t->tok[N_TINY - 2] = strdup("<u>");
    t->tok[N_TINY - 1] = strdup("<unk>");
    for (int i = 0; i < N_TINY; i++) {
        t->tok_len[i] = strlen(t->tok[i]);
        t->type[i] = GGUF_TOKEN_NORMAL;
    }
    t->type[N_TINY - 3] = GGUF_TOKEN_CONTROL;
    t->type[N_TINY - 2] = GGUF_TOKEN_USER_DEFINED;
    t->type[N_TINY - 1] = GGUF_TOKEN_UNKNOWN;
    t->v = (GgufVocab){
        .n_tokens = N_TINY, .tokens = (const char *const *)t->tok, .token_lens = t->tok_len,
        .n_token_types = N_TINY, .token_types = t->type,
        .n_merges = N_TINY_MERGES, .merges = (const char *const *)t->merge, .merge_lens = t->merge_len,
        .model = "gpt2", .pre = pre, .bos_id = N_TINY - 3, .eos_id = N_TINY - 3, .unk_id = N_TINY - 1, .pad_id = -1,
        .add_bos = 0,
    };
}

static void tiny_free(Tiny *t) {
    for (int i = 0; i < N_TINY + 2; i++) free(t->tok[i]);
    for (int i = 0; i < N_TINY_MERGES + 2; i++) free(t->merge[i]);
}

static Tokenizer *load_generated(const GgufVocab *v, const char *what, const char *write_as) {
    char err[ERR_LEN] = "";
    size_t len = 0;
    char *json = tokenizer_json_from_gguf(v, &len, err);
    CHECK(json != NULL && len == strlen(json), "%s: tokenizer_json_from_gguf: %s", what, err);
    if (!json) return NULL;
    if (write_as) maybe_write(write_as, json, len);
    Tokenizer *t = tokenizer_load_json(json, len, what, err);
    CHECK(t != NULL, "%s: the generated tokenizer.json does not load: %s", what, err);
    free(json);
    return t;
}

static void check_ids(Tokenizer *t, const char *what, const char *s, size_t len, const int32_t *want, size_t nwant) {
    char err[ERR_LEN] = "";
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokenizer_encode(t, s, len, &ids, &n, err);
    CHECK(rc == 0, "%s: encode failed: %s", what, err);
    int same = rc == 0 && ids_equal(ids, n, want, nwant);
    CHECK(same, "%s: ids differ", what);
    if (!same && rc == 0) {
        size_t i = 0;
        while (i < n && i < nwant && ids[i] == want[i]) i++;
        fprintf(stderr, "  %zu ids, want %zu; first difference at %zu\n", n, nwant, i);
        print_ids("got ", ids + (i > 8 ? i - 8 : 0), n - (i > 8 ? i - 8 : 0));
        print_ids("want", want + (i > 8 ? i - 8 : 0), nwant - (i > 8 ? i - 8 : 0));
    }
    free(ids);
}

// The JSON layout for each pre-tokenizer family.
static void test_layouts(void) {
    static const struct { const char *pre, *first, *second; int ignore_merges, bos; } cases[] = {
        {"smollm", "Digits", "ByteLevel", 0, 0},
        {"starcoder", "Digits", "ByteLevel", 0, 0},
        {"qwen2", "Split", "ByteLevel", 0, 0},
        {"llama-bpe", "Split", "ByteLevel", 1, 1},   // llama.cpp adds BOS unless the file says no
        {"gpt-2", NULL, NULL, 0, 0},                 // ByteLevel with its regex, alone
        {"olmo", NULL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Tiny t;
        tiny_build(&t, cases[i].pre);
        t.v.add_bos = -1;
        char err[ERR_LEN] = "";
        size_t len;
        char *json = tokenizer_json_from_gguf(&t.v, &len, err);
        CHECK(json != NULL, "%s: %s", cases[i].pre, err);
        cJSON *root = json ? cJSON_Parse(json) : NULL;
        CHECK(root != NULL, "%s: the output is not JSON", cases[i].pre);
        if (root) {
            const cJSON *pre = cJSON_GetObjectItem(root, "pre_tokenizer"), *model = cJSON_GetObjectItem(root, "model");
            const cJSON *list = cJSON_GetObjectItem(pre, "pretokenizers");
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(pre, "type"));
            if (cases[i].first) {
                const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "type"));
                const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "type"));
                const cJSON *bl = cJSON_GetArrayItem(list, 1);
                int regex = cJSON_IsTrue(cJSON_GetObjectItem(bl, "use_regex"));
                CHECK(type && !strcmp(type, "Sequence") && cJSON_GetArraySize(list) == 2 && a && !strcmp(a, cases[i].first) &&
                      b && !strcmp(b, cases[i].second) && regex == !strcmp(a, "Digits"),
                      "%s: pre_tokenizer layout", cases[i].pre);
            } else {
                CHECK(type && !strcmp(type, "ByteLevel") && cJSON_IsTrue(cJSON_GetObjectItem(pre, "use_regex")),
                      "%s: pre_tokenizer layout", cases[i].pre);
            }
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(model, "ignore_merges")) == cases[i].ignore_merges, "%s: ignore_merges",
                  cases[i].pre);
            const char *post = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "post_processor"), "type"));
            CHECK(post && !strcmp(post, cases[i].bos ? "TemplateProcessing" : "ByteLevel"), "%s: post_processor %s",
                  cases[i].pre, post ? post : "(none)");
            const cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
            CHECK(cJSON_GetArraySize(added) == 3, "%s: 3 added tokens", cases[i].pre);
            const cJSON *user = cJSON_GetArrayItem(added, 1);
            CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(user, "content")), "<u>") &&
                  cJSON_IsFalse(cJSON_GetObjectItem(user, "special")) &&
                  cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 0), "special")) &&
                  cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(added, 2), "special")),
                  "%s: control and unknown tokens are special, user-defined ones are not", cases[i].pre);
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(model, "merges")) == N_TINY_MERGES, "%s: merges", cases[i].pre);
        }
        cJSON_Delete(root);
        Tokenizer *tok = json ? tokenizer_load_json(json, len, cases[i].pre, err) : NULL;
        CHECK(tok != NULL, "%s: trit does not load the generated tokenizer.json: %s", cases[i].pre, err);
        tokenizer_free(tok);
        free(json);
        tiny_free(&t);
    }
}

// Digits before the GPT-2 regex (smollm) against the GPT-2 regex alone:
// "12" and " 1" merge only when digits are not split first. Byte ids are the
// byte values; merged tokens are 256 + their merge rank.
static void test_digits(void) {
    static const struct { const char *text; int32_t smollm[8], gpt2[8]; int n_smollm, n_gpt2; } cases[] = {
        {"12", {'1', '2'}, {256}, 2, 1},
        {" 12", {' ', '1', '2'}, {' ', 256}, 3, 2},      // "12" (rank 0) before "Ġ1" (rank 1)
        {"hi 1hi", {258, ' ', '1', 258}, {258, 257, 258}, 4, 3},
        {"\xD9\xA3" "12", {0xD9, 0xA3, '1', '2'}, {0xD9, 0xA3, 256}, 4, 3},  // U+0663 is a number too
        {"x's<|s|>aaa<u><unk>", {'x', 260, 263, 261, 'a', 264, 265}, {'x', 260, 263, 261, 'a', 264, 265}, 7, 7},
    };
    Tiny a, b;
    tiny_build(&a, "smollm");
    tiny_build(&b, "gpt-2");
    Tokenizer *ts = load_generated(&a.v, "tiny smollm", "tiny-smollm.tokenizer.json");
    Tokenizer *tg = load_generated(&b.v, "tiny gpt-2", NULL);
    for (size_t i = 0; ts && tg && i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "tiny smollm: '%s'", cases[i].text);
        check_ids(ts, what, cases[i].text, strlen(cases[i].text), cases[i].smollm, (size_t)cases[i].n_smollm);
        snprintf(what, sizeof what, "tiny gpt-2: '%s'", cases[i].text);
        check_ids(tg, what, cases[i].text, strlen(cases[i].text), cases[i].gpt2, (size_t)cases[i].n_gpt2);
    }
    tokenizer_free(ts);
    tokenizer_free(tg);
    tiny_free(&a);
    tiny_free(&b);
}

// A vocabulary without a token for 'z' (SmolLM2 lacks some control bytes):
// llama.cpp drops the byte and merges nothing across it; so must the output.
static void test_missing_byte(void) {
    Tiny t;
    tiny_build(&t, "gpt-2");
    t.tok['z'][1] = 'z';  // "zz" instead of "z"
    t.tok_len['z'] = 2;
    char err[ERR_LEN] = "";
    size_t len;
    char *json = tokenizer_json_from_gguf(&t.v, &len, err);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *list = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pre_tokenizer"), "pretokenizers");
    const cJSON *last = cJSON_GetArrayItem(list, 1);
    const char *re = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(last, "pattern"), "Regex"));
    CHECK(cJSON_GetArraySize(list) == 2 && re && !strcmp(re, "[\\x{7A}]"), "missing byte: a Split after ByteLevel (got '%s')",
          re ? re : json ? json : err);
    cJSON_Delete(root);
    free(json);
    Tokenizer *tok = load_generated(&t.v, "tiny without z", NULL);
    static const struct { const char *text; int32_t ids[4]; size_t n; } cases[] = {
        {"aza", {'a', 'a'}, 2}, {"aa", {261}, 1}, {"zz z", {' '}, 1}, {"z", {0}, 0},
        // pieces with no ids at all, first and repeated (from the piece
        // cache): make san's UBSan found NULL + 0 here (fuzz/seeds/tokenizer/
        // regress_empty_piece_ids.txt)
        {"z!z z", {'!', ' '}, 2},
    };
    for (size_t i = 0; tok && i < sizeof cases / sizeof cases[0]; i++)
        check_ids(tok, cases[i].text, cases[i].text, strlen(cases[i].text), cases[i].ids, cases[i].n);
    tokenizer_free(tok);
    tiny_free(&t);
}

// Every bad input gives one message naming the problem.
static void test_errors(void) {
    char err[ERR_LEN];
    size_t len;
    for (int c = 0;; c++) {
        Tiny t;
        tiny_build(&t, "smollm");
        const char *want = NULL;
        switch (c) {
        case 0: t.v.pre = "gpt2"; want = "'gpt2' is not supported (llama.cpp's name for GPT-2's is 'gpt-2')"; break;
        case 1: t.v.pre = "deepseek-llm"; want = "tokenizer.ggml.pre 'deepseek-llm' is not supported"; break;
        case 2: t.v.pre = NULL; want = "tokenizer.ggml.pre: missing"; break;
        case 3: t.v.model = "llama"; want = "tokenizer.ggml.model 'llama' is not supported"; break;
        case 4: t.v.model = NULL; want = "tokenizer.ggml.model: missing"; break;
        case 5: t.v.n_token_types = N_TINY - 1; want = "token_type has 265 entries but tokenizer.ggml.tokens has 266"; break;
        case 6:
            free(t.merge[1]);
            t.merge[1] = strdup("\xC4\xA0 qq");
            t.merge_len[1] = strlen(t.merge[1]);
            want = "tokenizer.ggml.merges[1] '\xC4\xA0 qq': 'qq' is not in the vocabulary";
            break;
        case 7:
            free(t.merge[0]);
            t.merge[0] = strdup("12");
            t.merge_len[0] = 2;
            want = "tokenizer.ggml.merges[0] '12': expected two tokens separated by one space";
            break;
        case 8:
            free(t.merge[3]);
            t.merge[3] = strdup("x y");
            t.merge_len[3] = 3;
            want = "tokenizer.ggml.merges[3] 'x y': the merged token 'xy' is not in the vocabulary";
            break;
        case 9: t.merge_len[2] = 4; want = "tokenizer.ggml.merges[2] 'h i\\x00'"; break;  // "h i" + NUL: 'i\0' is no token
        case 10:
            free(t.tok[N_TINY - 2]);
            t.tok[N_TINY - 2] = strdup("hi");
            t.tok_len[N_TINY - 2] = 2;
            want = "tokenizer.ggml.tokens: 'hi' is both id 258 and id 264";
            break;
        case 11: t.tok_len[5] = 0; want = "tokenizer.ggml.tokens[5]: empty token"; break;
        case 12:
            free(t.tok[N_TINY - 1]);
            t.tok[N_TINY - 1] = strdup("bad\xC3");
            t.tok_len[N_TINY - 1] = 4;
            want = "tokenizer.ggml.tokens[265]: not UTF-8 at byte 3";
            break;
        case 13: t.v.bos_id = N_TINY; want = "tokenizer.ggml.bos_token_id 266 is not a token id"; break;
        case 14: t.v.pad_id = -7; want = "tokenizer.ggml.padding_token_id -7"; break;
        case 15: t.v.add_bos = 1; t.v.bos_id = -1; want = "add_bos_token is set but there is no bos_token_id"; break;
        case 16: t.type[7] = 9; want = "tokenizer.ggml.token_type[7]: 9 is not a llama.cpp token type"; break;
        case 17: t.v.n_tokens = 0; want = "tokenizer.ggml.tokens: missing or empty"; break;
        }
        if (!want) { tiny_free(&t); break; }
        err[0] = 0;
        char *json = tokenizer_json_from_gguf(&t.v, &len, err);
        CHECK(json == NULL && strstr(err, want), "error case %d: want '%s', got '%s'", c, want, json ? "(a tokenizer.json)" : err);
        free(json);
        tiny_free(&t);
    }
    // A repeated merge keeps its first rank, as in llama.cpp: the later copy is left out.
    Tiny t;
    tiny_build(&t, "smollm");
    t.merge[N_TINY_MERGES] = strdup("1 2");
    t.merge_len[N_TINY_MERGES] = 3;
    t.v.n_merges = N_TINY_MERGES + 1;
    char *json = tokenizer_json_from_gguf(&t.v, &len, err);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root && cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "merges")) == N_TINY_MERGES,
          "a repeated merge is written once");
    cJSON_Delete(root);
    free(json);
    // tokenizer_config.json: the special tokens by name and the chat template.
    json = tokenizer_config_from_gguf(&t.v, "{{ messages }}", 8192, &len, err);
    root = json ? cJSON_Parse(json) : NULL;
    CHECK(root != NULL, "tokenizer_config_from_gguf: %s", json ? "not JSON" : err);
    if (root) {
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(root, "bos_token")), "<|s|>") &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(root, "unk_token")), "<unk>") &&
              cJSON_IsNull(cJSON_GetObjectItem(root, "pad_token")) &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(root, "chat_template")), "{{ messages }}") &&
              cJSON_GetObjectItem(root, "model_max_length")->valuedouble == 8192 &&
              cJSON_IsFalse(cJSON_GetObjectItem(root, "add_bos_token")),
              "tokenizer_config.json fields");
    }
    cJSON_Delete(root);
    free(json);
    json = tokenizer_config_from_gguf(&t.v, "bad \xFF", 0, &len, err);
    CHECK(json == NULL && strstr(err, "chat_template: not UTF-8 at byte 4"), "bad chat template: '%s'", err);
    free(json);
    tiny_free(&t);
}

// ---------------------------------------------------------------------------
// Fixtures: see make_gguf_tokenizer_fixtures.py.
//   char magic[8] = "TRIT_TGG"; uint32 n_cases; then per case:
//   uint32 flags   bit 0: the text is a slice of wiki.test.raw
//                  bit 1: llama.cpp and HF disagree here (a known difference)
//   text           bit 0 set: uint64 offset, uint64 length; else uint32 length, bytes
//   uint32 n, int32 ids[n]   llama.cpp's ids
//   uint32 n, int32 ids[n]   HF tokenizers' ids; n = 0xFFFFFFFF: the same as llama.cpp's
// trit must give HF's ids everywhere (and so llama.cpp's wherever they agree).

typedef struct { const char *p, *end; int ok; } Rd;

static uint64_t rd(Rd *r, size_t n) {
    uint64_t v = 0;
    if (!r->ok || (size_t)(r->end - r->p) < n) { r->ok = 0; return 0; }
    memcpy(&v, r->p, n);  // little-endian host
    r->p += n;
    return v;
}

static const int32_t *rd_ids(Rd *r, uint32_t n) {
    const int32_t *p = (const int32_t *)r->p;
    if (!r->ok || (size_t)(r->end - r->p) / 4 < n) { r->ok = 0; return NULL; }
    r->p += 4 * (size_t)n;
    return p;
}

// Prints how many ids were compared and how fast wiki.test.raw was encoded.
static void check_fixture(Tokenizer *t, const char *name, const char *wiki, size_t wiki_len) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%s.ids", name);
    size_t len;
    char err[ERR_LEN];
    char *f = read_file(path, &len, err);
    CHECK(f != NULL, "%s", err);
    if (!f) return;
    Rd r = {f + 8, f + len, len >= 12 && !memcmp(f, "TRIT_TGG", 8)};
    uint32_t n_cases = (uint32_t)rd(&r, 4);
    size_t compared = 0, quirks = 0, wiki_bytes = 0;
    double seconds = 0;
    for (uint32_t c = 0; r.ok && c < n_cases; c++) {
        uint32_t flags = (uint32_t)rd(&r, 4);
        const char *text;
        size_t tl;
        if (flags & 1) {
            uint64_t off = rd(&r, 8), n = rd(&r, 8);
            if (!wiki) { r.ok = 0; break; }
            CHECK(off <= wiki_len && n <= wiki_len - off, "%s case %u: slice past the end of wiki.test.raw", name, c);
            if (off > wiki_len || n > wiki_len - off) break;
            text = wiki + off;
            tl = n;
        } else {
            tl = (size_t)rd(&r, 4);
            text = r.p;
            if ((size_t)(r.end - r.p) < tl) { r.ok = 0; break; }
            r.p += tl;
        }
        uint32_t nl = (uint32_t)rd(&r, 4);
        const int32_t *llama = rd_ids(&r, nl);
        uint32_t nh = (uint32_t)rd(&r, 4);
        const int32_t *hf = nh == 0xFFFFFFFFu ? llama : rd_ids(&r, nh);
        if (nh == 0xFFFFFFFFu) nh = nl;
        if (!r.ok) break;
        CHECK(((flags & 2) == 0) == ids_equal(llama, nl, hf, nh), "%s case %u: the quirk flag does not match the ids", name, c);
        quirks += (flags & 2) != 0;
        char what[96];
        snprintf(what, sizeof what, "%s case %u%s", name, c, flags & 1 ? " (wiki.test.raw)" : "");
        double t0 = now_seconds();
        check_ids(t, what, text, tl, hf, nh);
        if (flags & 1) { seconds += now_seconds() - t0; wiki_bytes += tl; }
        compared += nh;
    }
    CHECK(r.ok && r.p == r.end, "%s: bad header, truncated or trailing bytes%s", path, wiki ? "" : " (or no wiki.test.raw)");
    printf("%s: %zu ids in %u cases compared with HF's; llama.cpp's differ in %zu known cases", name, compared, n_cases, quirks);
    if (wiki_bytes && seconds > 0) printf("; %zu bytes of wiki.test.raw at %.1f MB/s", wiki_bytes, wiki_bytes / seconds / 1e6);
    printf("\n");
    free(f);
}

static char *read_wiki(const char *data, size_t *len) {
    if (!data) return NULL;
    char path[4096], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/wikitext-2-raw/wiki.test.raw", data);
    char *s = read_file(path, len, err);
    CHECK(s != NULL, "%s", err);
    return s;
}

// --- the SmolLM2 GGUF

static int vocab_from_gguf(const GgufFile *g, GgufVocab *v, const char ***tokens, size_t **lens, int32_t **types,
                           const char ***merges, size_t **merge_lens, char **model, char **pre, char *err) {
    const GgufKV *kt, *ky, *km;
    const char *s;
    size_t n;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kt, err) ||
        gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &ky, err) ||
        gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &km, err))
        return -1;
    *tokens = malloc(kt->n * sizeof **tokens);
    *lens = malloc(kt->n * sizeof **lens);
    *types = malloc(ky->n * sizeof **types);
    *merges = malloc(km->n * sizeof **merges);
    *merge_lens = malloc(km->n * sizeof **merge_lens);
    for (uint64_t i = 0; i < kt->n; i++) (*tokens)[i] = gguf_arr_str(kt, i, &(*lens)[i]);
    for (uint64_t i = 0; i < ky->n; i++) (*types)[i] = gguf_arr_i32(ky, i);
    for (uint64_t i = 0; i < km->n; i++) (*merges)[i] = gguf_arr_str(km, i, &(*merge_lens)[i]);
    *v = (GgufVocab){.n_tokens = (int)kt->n, .tokens = *tokens, .token_lens = *lens,
                     .n_token_types = (int)ky->n, .token_types = *types,
                     .n_merges = (int)km->n, .merges = *merges, .merge_lens = *merge_lens,
                     .bos_id = -1, .eos_id = -1, .unk_id = -1, .pad_id = -1, .add_bos = -1};
    if (gguf_get_str(g, "tokenizer.ggml.model", &s, &n, err)) return -1;
    *model = strndup(s, n);
    if (gguf_get_str(g, "tokenizer.ggml.pre", &s, &n, err)) return -1;
    *pre = strndup(s, n);
    v->model = *model;
    v->pre = *pre;
    const char *keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                          "tokenizer.ggml.padding_token_id"};
    int *ids[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    for (int i = 0; i < 4; i++) {
        uint32_t id;
        if (!gguf_find_kv(g, keys[i])) continue;
        if (gguf_get_u32(g, keys[i], &id, err)) return -1;
        *ids[i] = (int)id;
    }
    if (gguf_find_kv(g, "tokenizer.ggml.add_bos_token") && gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err))
        return -1;
    return 0;
}

static void test_smollm2(const char *data) {
    const char *dir = getenv("MODELS") ? getenv("MODELS") : "models";
    char *path = path_join(dir, SMOLLM2_GGUF);
    if (!file_exists(path)) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true")) {
            tests_failed++;
            fprintf(stderr, "FAIL SmolLM2 GGUF tokenizer: CI=true and %s is missing (scripts/fetch-smollm2.sh)\n", path);
        } else {
            fprintf(stderr, "SKIP SmolLM2 GGUF tokenizer: needs %s (scripts/fetch-smollm2.sh)\n", path);
        }
        free(path);
        return;
    }
    char err[ERR_LEN] = "";
    GgufFile g = {0};
    GgufVocab v;
    const char **tokens = NULL, **merges = NULL;
    char *model = NULL, *pre = NULL;
    size_t *lens = NULL, *merge_lens = NULL;
    int32_t *types = NULL;
    int rc = gguf_open(&g, path, err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        rc = vocab_from_gguf(&g, &v, &tokens, &lens, &types, &merges, &merge_lens, &model, &pre, err);
        CHECK(rc == 0, "%s: %s", path, err);
    }
    if (rc == 0) {
        CHECK(v.n_tokens == 49152 && v.n_merges == 48900 && !strcmp(v.pre, "smollm") && v.bos_id == 1 && v.eos_id == 2 &&
              v.unk_id == 0 && v.pad_id == 2 && v.add_bos == 0, "SmolLM2 vocabulary as expected");
        Tokenizer *t = load_generated(&v, "SmolLM2 tokenizer.json", "smollm2.tokenizer.json");
        const char *tmpl;
        size_t tl;
        if (getenv("TRIT_TOK_GGUF_WRITE") && gguf_get_str(&g, "tokenizer.chat_template", &tmpl, &tl, err) == 0) {
            char *ct = strndup(tmpl, tl), *cfg;
            size_t cl;
            cfg = tokenizer_config_from_gguf(&v, ct, 8192, &cl, err);
            CHECK(cfg != NULL, "SmolLM2 tokenizer_config.json: %s", err);
            if (cfg) maybe_write("smollm2.tokenizer_config.json", cfg, cl);
            free(cfg);
            free(ct);
        }
        if (t) {
            CHECK(tokenizer_vocab_size(t) == 49152 && tokenizer_token_id(t, "<|im_end|>") == 2, "SmolLM2 ids of the vocab");
            size_t wl = 0;
            char *wiki = read_wiki(data, &wl);
            if (wiki) check_fixture(t, "smollm2", wiki, wl);
            free(wiki);
        }
        tokenizer_free(t);
    }
    free(tokens); free(lens); free(types); free(merges); free(merge_lens); free(model); free(pre);
    gguf_close(&g);
    free(path);
}

// --- the Qwen3 vocabulary as a GGUF holds it: every token by id (the added
// ones after the vocab), control for special added tokens, user-defined for
// the others, merges as "a b".

static void test_qwen3(const char *data) {
    char path[4096], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/qwen3-tokenizer/tokenizer.json", data);
    size_t len;
    char *json = read_file(path, &len, err);
    CHECK(json != NULL, "%s", err);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!root) return;
    const cJSON *model = cJSON_GetObjectItem(root, "model"), *e;
    const cJSON *vocab = cJSON_GetObjectItem(model, "vocab"), *mlist = cJSON_GetObjectItem(model, "merges");
    const cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
    int n = 0;
    cJSON_ArrayForEach(e, vocab) if ((int)e->valuedouble + 1 > n) n = (int)e->valuedouble + 1;
    cJSON_ArrayForEach(e, added) if ((int)cJSON_GetObjectItem(e, "id")->valuedouble + 1 > n) n = (int)cJSON_GetObjectItem(e, "id")->valuedouble + 1;
    const char **tokens = calloc((size_t)n, sizeof *tokens);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    cJSON_ArrayForEach(e, vocab) {
        int id = (int)e->valuedouble;
        tokens[id] = e->string;
        types[id] = GGUF_TOKEN_NORMAL;
    }
    cJSON_ArrayForEach(e, added) {
        int id = (int)cJSON_GetObjectItem(e, "id")->valuedouble;
        tokens[id] = cJSON_GetObjectItem(e, "content")->valuestring;
        types[id] = cJSON_IsTrue(cJSON_GetObjectItem(e, "special")) ? GGUF_TOKEN_CONTROL : GGUF_TOKEN_USER_DEFINED;
    }
    int complete = 1;
    for (int i = 0; i < n; i++) {
        if (!tokens[i]) complete = 0;
        else lens[i] = strlen(tokens[i]);
    }
    CHECK(complete && n == 151669, "Qwen3 vocabulary: ids 0..%d without gaps", n - 1);
    int n_merges = cJSON_GetArraySize(mlist), k = 0;
    char **merges = malloc((size_t)n_merges * sizeof *merges);
    size_t *merge_lens = malloc((size_t)n_merges * sizeof *merge_lens);
    cJSON_ArrayForEach(e, mlist) {
        const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
        merge_lens[k] = strlen(a) + 1 + strlen(b);
        merges[k] = malloc(merge_lens[k] + 1);
        snprintf(merges[k], merge_lens[k] + 1, "%s %s", a, b);
        k++;
    }
    static const char *pres[] = {"qwen2", "llama-bpe", "gpt-2"};
    size_t wl = 0;
    char *wiki = read_wiki(data, &wl);
    for (int p = 0; complete && wiki && p < 3; p++) {
        GgufVocab v = {.n_tokens = n, .tokens = tokens, .token_lens = lens, .n_token_types = n, .token_types = types,
                       .n_merges = n_merges, .merges = (const char *const *)merges, .merge_lens = merge_lens,
                       .model = "gpt2", .pre = pres[p], .bos_id = 151643, .eos_id = 151645, .unk_id = -1, .pad_id = 151643,
                       .add_bos = 0};
        char name[64], file[96];
        snprintf(name, sizeof name, "qwen3-%s", pres[p]);
        snprintf(file, sizeof file, "%s.tokenizer.json", name);
        Tokenizer *t = load_generated(&v, name, file);
        if (t) check_fixture(t, name, wiki, wl);
        tokenizer_free(t);
    }
    free(wiki);
    for (int i = 0; i < n_merges; i++) free(merges[i]);
    free(merges); free(merge_lens); free(tokens); free(lens); free(types);
    cJSON_Delete(root);
}

int main(void) {
    test_layouts();
    test_digits();
    test_missing_byte();
    test_errors();
    Tiny t;
    tiny_build(&t, "smollm");
    Tokenizer *tiny = load_generated(&t.v, "tiny smollm", NULL);
    if (tiny) check_fixture(tiny, "tiny-smollm", NULL, 0);
    tokenizer_free(tiny);
    tiny_free(&t);

    const char *data = test_data_dir("GGUF tokenizer tests on WikiText-2 and Qwen3");
    test_smollm2(data);
    if (data) test_qwen3(data);
    return test_finish("test_tok_gguf");
}
