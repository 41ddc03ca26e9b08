// test_tokenizer.c — the BPE tokenizer against Hugging Face `tokenizers`.
//
// Without the shared data: a tiny tokenizer.json built here (all 256 byte
// tokens, a few merges, two added tokens) checks merging, added tokens, NFC,
// invalid UTF-8 and every kind of broken tokenizer.json.
// With it (TRIT_DATA): the Qwen3 tokenizer must give exactly HF's ids on the
// 46 llama.cpp test vectors, on all of wiki.test.raw (tests/fixtures/
// wiki_test_raw.ids) and on tricky strings (tests/fixtures/tokenizer_cases.bin),
// both written by tools/reference/make_tokenizer_fixtures.py.
#include <stdint.h>

#include "base/util.h"
#include "gpt2_bytes.h"
#include "test.h"
#include "tok/tokenizer.h"

#define FIXTURES "tests/fixtures"
#define QWEN_REGEX \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

// ---------------------------------------------------------------------------
// A tiny tokenizer.json: ids 0..255 are the bytes (in byte order), then merges.

static const char *TINY_MERGES[][2] = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"\xC4\xA0", "w"}, {"o", "r"}, {"\xC4\xA0w", "or"}, {"a", "a"},
};
#define N_TINY_MERGES 8

// Appends s as a JSON string, every character outside [A-Za-z0-9] escaped.
static void json_str(char **p, const char *s) {
    *p += sprintf(*p, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        unsigned cp;
        int n;
        if (*c < 0x80) { cp = *c; n = 1; }
        else if (*c < 0xE0) { cp = (unsigned)(c[0] & 0x1F) << 6 | (c[1] & 0x3F); n = 2; }
        else { cp = (unsigned)(c[0] & 0x0F) << 12 | (unsigned)(c[1] & 0x3F) << 6 | (c[2] & 0x3F); n = 3; }
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) *p += sprintf(*p, "%c", cp);
        else *p += sprintf(*p, "\\u%04X", cp);
        c += n;
    }
    *p += sprintf(*p, "\"");
}

// merges_legacy: write merges as "a b" strings instead of [a, b] pairs.
static char *tiny_json(int merges_legacy) {
    char *buf = malloc(1 << 16), *p = buf;
    p += sprintf(p,
                 "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
                 "{\"id\":264,\"content\":\"<|x|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":true},"
                 "{\"id\":265,\"content\":\"<|xy|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":true},"
                 "{\"id\":266,\"content\":\"e\\u0301t\",\"single_word\":false,\"lstrip\":false,\"rstrip\":true,"
                 "\"normalized\":true,\"special\":false},"
                 "{\"id\":267,\"content\":\"<bo>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":false}],"
                 "\"normalizer\":{\"type\":\"NFC\"},"
                 "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"" QWEN_REGEX
                 "\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                 "\"trim_offsets\":false,\"use_regex\":false}]},"
                 "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                 "\"trim_offsets\":false,\"use_regex\":false},"
                 "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":\"\","
                 "\"end_of_word_suffix\":\"\",\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char(b, c);
        json_str(&p, c);
        p += sprintf(p, ":%d,", b);
    }
    for (int m = 0; m < N_TINY_MERGES; m++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", TINY_MERGES[m][0], TINY_MERGES[m][1]);
        json_str(&p, joined);
        p += sprintf(p, ":%d%s", 256 + m, m + 1 < N_TINY_MERGES ? "," : "},\"merges\":[");
    }
    for (int m = 0; m < N_TINY_MERGES; m++) {
        if (merges_legacy) {
            char both[32];
            snprintf(both, sizeof both, "%s %s", TINY_MERGES[m][0], TINY_MERGES[m][1]);
            json_str(&p, both);
        } else {
            p += sprintf(p, "[");
            json_str(&p, TINY_MERGES[m][0]);
            p += sprintf(p, ",");
            json_str(&p, TINY_MERGES[m][1]);
            p += sprintf(p, "]");
        }
        p += sprintf(p, "%s", m + 1 < N_TINY_MERGES ? "," : "]}}");
    }
    return buf;
}

// A copy of s with the first `from` replaced by `to`; NULL if `from` is absent.
static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) return NULL;
    size_t a = (size_t)(at - s), nf = strlen(from), nt = strlen(to), ns = strlen(s);
    char *r = malloc(ns - nf + nt + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, nt);
    memcpy(r + a + nt, at + nf, ns - a - nf + 1);
    return r;
}

// Encodes s and compares with the expected ids; then decodes and compares
// with `decoded` (NULL: the input itself).
static void check_encode(Tokenizer *t, const char *what, const char *s, size_t len, const int32_t *want, size_t nwant,
                         const char *decoded, size_t ndecoded) {
    char err[ERR_LEN] = "";
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokenizer_encode(t, s, len, &ids, &n, err);
    CHECK(rc == 0, "%s: encode failed: %s", what, err);
    int same = rc == 0 && ids_equal(ids, n, want, nwant);
    CHECK(same, "%s: ids differ from HF", what);
    if (!same && rc == 0) { print_ids("got ", ids, n); print_ids("want", want, nwant); }
    char *out = NULL;
    size_t outlen = 0;
    if (!decoded) { decoded = s; ndecoded = len; }
    rc = tokenizer_decode(t, want, nwant, &out, &outlen, err);
    CHECK(rc == 0 && outlen == ndecoded && !memcmp(out, decoded, ndecoded), "%s: decode does not give back the text (%s)",
          what, rc ? err : "bytes differ");
    free(out);
    free(ids);
}

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

// ---------------------------------------------------------------------------

static void test_tiny(void) {
    char err[ERR_LEN] = "";
    char *json = tiny_json(0);
    Tokenizer *t = tokenizer_load_json(json, strlen(json), "tiny.json", err);
    CHECK(t != NULL, "tiny tokenizer does not load: %s", err);
    if (!t) { free(json); return; }
    CHECK(tokenizer_vocab_size(t) == 268, "vocab size %d, want 268", tokenizer_vocab_size(t));
    CHECK(tokenizer_hash(t) == fnv(json, strlen(json)), "tokenizer_hash is not FNV-1a 64 of the JSON");
    CHECK(tokenizer_token_id(t, "<|xy|>") == 265, "token_id(<|xy|>)");
    CHECK(tokenizer_token_id(t, "hello") == 259, "token_id(hello)");
    CHECK(tokenizer_token_id(t, "\xC4\xA0w") == 260, "token_id(Ġw)");
    CHECK(tokenizer_token_id(t, "nope") == -1, "token_id of an absent token");

    // "hello" merges fully; " world" -> Ġw+or -> Ġwor, then l, d.
    int32_t w1[] = {259, 262, 'l', 'd'};
    check_encode(t, "tiny: hello world", "hello world", 11, w1, 4, NULL, 0);
    int32_t w2[] = {263, 'a'};  // leftmost first on equal rank
    check_encode(t, "tiny: aaa", "aaa", 3, w2, 2, NULL, 0);
    int32_t w3[] = {263, 263};
    check_encode(t, "tiny: aaaa", "aaaa", 4, w3, 2, NULL, 0);
    // Added tokens: leftmost-longest, and a partial one is plain text.
    int32_t w4[] = {'a', 265, 264, '<', '|', 'x', 259};
    check_encode(t, "tiny: added tokens", "a<|xy|><|x|><|xhello", 20, w4, 7, NULL, 0);
    // rstrip on a normalized=true token (matched after NFC) and lstrip on a raw
    // one: they swallow the whitespace next to them. Ids from HF tokenizers
    // 0.23 on this very JSON; added tokens decode to the (NFC) text they match.
    const char *strip = "xe\xCC\x81t  y \xC3\xA9t\xC2\xA0z  <bo>q \t<bo><bo>";
    int32_t w6[] = {'x', 266, 'y', ' ', 266, 'z', 267, 'q', 267, 267};
    const char *strip_dec = "x\xC3\xA9ty \xC3\xA9tz<bo>q<bo><bo>";  // HF differs here: see tokenizer.c
    check_encode(t, "tiny: lstrip/rstrip/normalized", strip, strlen(strip), w6, 10, strip_dec, strlen(strip_dec));
    // NFC: e + U+0301 becomes U+00E9 (bytes C3 A9), so decoding gives the NFC form.
    int32_t w5[] = {0xC3, 0xA9};
    check_encode(t, "tiny: NFC", "e\xCC\x81", 3, w5, 2, "\xC3\xA9", 2);
    int32_t *ids = NULL;
    size_t n = 99;
    CHECK(tokenizer_encode(t, "", 0, &ids, &n, err) == 0 && n == 0, "empty input gives no ids");
    free(ids);

    // Invalid UTF-8: an error naming the offset, never a crash.
    static const struct { const char *s; size_t len, at; } bad[] = {
        {"ab\xE2\x82", 4, 2},          // truncated at the end
        {"ab\xE2\x82x", 5, 2},         // truncated in the middle
        {"x\xC0\xAF", 3, 1},           // overlong '/'
        {"x\xE0\x80\xAF", 4, 1},       // overlong, 3 bytes
        {"xy\xED\xA0\x80", 5, 2},      // UTF-16 surrogate
        {"\xFF", 1, 0},                // never valid
        {"abc\x80", 4, 3},             // lone continuation byte
        {"\xF4\x90\x80\x80", 4, 0},    // above U+10FFFF
        {"hello worl\xC3", 11, 10},    // truncated after the ASCII fast path
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", bad[i].at);
        err[0] = 0;
        ids = (int32_t *)1;
        int rc = tokenizer_encode(t, bad[i].s, bad[i].len, &ids, &n, err);
        CHECK(rc != 0 && ids == NULL && strstr(err, want), "invalid UTF-8 case %zu: rc %d, err '%s'", i, rc, err);
    }

    // Decoding ids outside the vocabulary is an error.
    char *out = NULL;
    size_t outlen;
    int32_t bad_ids[][2] = {{'a', -1}, {'a', 268}, {'a', 1 << 30}};
    for (int i = 0; i < 3; i++) {
        err[0] = 0;
        CHECK(tokenizer_decode(t, bad_ids[i], 2, &out, &outlen, err) != 0 && out == NULL && strstr(err, "position 1"),
              "decode of id %d: '%s'", bad_ids[i][1], err);
    }
    int32_t good[] = {264, 259, 262, 265};
    CHECK(tokenizer_decode(t, good, 4, &out, &outlen, err) == 0 && outlen == 20 && !strcmp(out, "<|x|>hello wor<|xy|>"),
          "decode of added + merged tokens: '%s'", out ? out : err);
    free(out);
    tokenizer_free(t);

    // A Split on a literal String (a regex metacharacter in it) instead of a Regex.
    char *lit = replace(json, "{\"Regex\":\"" QWEN_REGEX "\"}", "{\"String\":\"l(\"}");
    CHECK(lit != NULL, "no Regex pattern in the tiny JSON");
    t = lit ? tokenizer_load_json(lit, strlen(lit), "tiny-literal.json", err) : NULL;
    CHECK(t != NULL, "literal Split pattern does not load: %s", err);
    int32_t w7[] = {256, 108, 40, 108, 111, 260, 111, 108, 40, 114, 108, 100, 40};  // from HF
    if (t) check_encode(t, "tiny literal split", "hel(lo wol(rld(", 15, w7, 13, NULL, 0);
    tokenizer_free(t);
    free(lit);

    // A vocabulary without a token for 'z': HF's BPE drops the byte (and then
    // merges across it), or gives unk_token for it, once per run with fuse_unk.
    char *noz = replace(json, "\"z\":122", "\"zz\":122");
    static const struct { const char *from, *to, *fail; int32_t azzb[4]; size_t n; const char *decoded; } unk_cases[] = {
        {NULL, NULL, NULL, {'a', 'b'}, 2, "ab"},
        {"\"unk_token\":null", "\"unk_token\":\"aa\"", NULL, {'a', 263, 263, 'b'}, 4, "aaaaab"},
        {"\"fuse_unk\":false", "\"fuse_unk\":true", NULL, {'a', 263, 'b'}, 3, "aaab"},  // with unk_token "aa", below
        {"\"unk_token\":null", "\"unk_token\":\"<|x|>\"", "model.unk_token '<|x|>' is not in model.vocab", {0}, 0, NULL},
        {"\"byte_fallback\":false", "\"byte_fallback\":true", "model.byte_fallback: not supported", {0}, 0, NULL},
    };
    for (size_t i = 0; noz && i < sizeof unk_cases / sizeof unk_cases[0]; i++) {
        char *j1 = unk_cases[i].from ? replace(noz, unk_cases[i].from, unk_cases[i].to) : strdup(noz);
        char *j = i == 2 ? replace(j1, "\"unk_token\":null", "\"unk_token\":\"aa\"") : strdup(j1);
        t = j ? tokenizer_load_json(j, strlen(j), "noz.json", err) : NULL;
        if (unk_cases[i].fail) {
            CHECK(t == NULL && strstr(err, unk_cases[i].fail), "missing byte case %zu: got '%s'", i, t ? "(loaded)" : err);
        } else {
            CHECK(t != NULL, "missing byte case %zu: %s", i, err);
            char what[48];
            snprintf(what, sizeof what, "missing byte case %zu", i);
            if (t) check_encode(t, what, "azzb", 4, unk_cases[i].azzb, unk_cases[i].n, unk_cases[i].decoded, strlen(unk_cases[i].decoded));
            int32_t hello[] = {259};
            if (t && i == 0) check_encode(t, "missing byte: merge across it", "hezllo", 6, hello, 1, "hello", 5);
        }
        tokenizer_free(t);
        free(j);
        free(j1);
    }
    free(noz);

    // The older "a b" merges form gives the same tokenizer.
    char *legacy = tiny_json(1);
    t = tokenizer_load_json(legacy, strlen(legacy), "tiny-legacy.json", err);
    CHECK(t != NULL, "legacy merges do not load: %s", err);
    if (t) check_encode(t, "tiny legacy: hello world", "hello world", 11, w1, 4, NULL, 0);
    tokenizer_free(t);
    free(legacy);
    free(json);
}

// Every broken variant must fail with a message naming the file and the field.
static void test_corrupt(void) {
    char *json = tiny_json(0);
    static const struct { const char *from, *to, *field; } cases[] = {
        {"\"model\":{", "\"modelx\":{", "model: missing"},
        {"\"model\":{", "\"model\":[],\"m\":{", "model: expected an object"},
        {"\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "model.type"},
        {"\"type\":\"BPE\"", "\"typo\":\"BPE\"", "model.type"},
        {"\"vocab\":{", "\"vocabx\":{", "model.vocab: missing"},
        {"\"vocab\":{", "\"vocab\":[],\"v\":{", "model.vocab: expected an object"},
        {"\"merges\":[", "\"mergesx\":[", "model.merges: missing"},
        {"\"merges\":[", "\"merges\":{},\"m\":[", "model.merges: expected an array"},
        {"\"merges\":[", "\"merges\":[[\"h\",\"qq\"],", "model.merges[0]"},               // unknown token
        {"\"merges\":[", "\"merges\":[[\"h\",\"h\"],", "model.merges[0]: merged token"},  // "hh" not in vocab
        {"\"merges\":[", "\"merges\":[[\"h\"],", "model.merges[0]"},                      // not a pair
        {"\"merges\":[", "\"merges\":[[1,2],", "model.merges[0]"},                        // wrong types
        {"\"merges\":[", "\"merges\":[\"hx\",", "model.merges[0]"},                       // legacy without a space
        {"\"merges\":[", "\"merges\":[7,", "model.merges[0]"},
        {"\"h\":104", "\"h\":-1", "model.vocab: token 'h'"},                               // negative id
        {"\"h\":104", "\"h\":1.5", "model.vocab: token 'h'"},                              // not an integer
        {"\"h\":104", "\"h\":\"104\"", "model.vocab: token 'h'"},                          // wrong type
        {"\"h\":104", "\"h\":99999999999", "model.vocab: token 'h'"},                      // too large
        {"\"h\":104", "\"h\":105", "model.vocab: id 105"},                                 // duplicate id
        {"\"unk_token\":null", "\"unk_token\":7", "model.unk_token: expected a string"},
        {"\"added_tokens\":[", "\"added_tokens\":{},\"a\":[", "added_tokens: expected an array"},
        {"\"id\":264", "\"id\":\"264\"", "added_tokens[0].id"},
        {"\"id\":264", "\"id\":-3", "added_tokens[0].id"},
        {"\"id\":264", "\"id\":265", "added_tokens[0].id: 265, but"},                    // HF would renumber
        {"\"id\":264", "\"id\":104", "added_tokens[0].id: 104, but"},                    // clashes with vocab 'h'
        {"\"id\":265", "\"id\":264", "added_tokens[1]: id 264"},                         // duplicate id
        {"\"rstrip\":false", "\"rstripx\":false", "added_tokens[0].rstrip: missing"},    // HF requires every flag
        {"\"content\":\"<|x|>\"", "\"content\":\"\"", "added_tokens[0].content"},
        {"\"content\":\"<|x|>\"", "\"content\":7", "added_tokens[0].content"},
        {"\"single_word\":false", "\"single_word\":true", "single_word"},
        {"\"lstrip\":false", "\"lstrip\":\"no\"", "lstrip"},
        {"{\"type\":\"NFC\"}", "{\"type\":\"NFKC\"}", "normalizer.type"},
        {"\"type\":\"Sequence\",\"pretokenizers\"", "\"type\":\"Whitespace\",\"pretokenizers\"", "pre_tokenizer.type"},
        {"\"pretokenizers\":[", "\"pretokenizers\":[{\"type\":\"Whitespace\"},", "pretokenizers[0].type"},
        {"\"pretokenizers\":[", "\"pretokenizers\":[{\"type\":\"Digits\"},", "pretokenizers[0].individual_digits: missing"},
        {"\"pretokenizers\":[", "\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":1},", "individual_digits: expected"},
        {"\"behavior\":\"Isolated\"", "\"behavior\":\"Removed\"", "behavior"},
        {"\"Regex\":\"(?i:", "\"Regex\":\"((?i:", "does not compile"},
        {"\"Regex\":", "\"Regexp\":", "pattern"},
        {"\"add_prefix_space\":false", "\"add_prefix_space\":true", "add_prefix_space"},
        {"\"use_regex\":false}]}", "\"use_regex\":false},{\"type\":\"ByteLevel\"}]}", "only one ByteLevel"},
        {"\"use_regex\":false}]}", "\"use_regex\":false},{\"type\":\"Split\"}]}", "pretokenizers[2].behavior"},
        {"\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"WordPiece\"", "decoder"},
        {"\"truncation\":null", "\"truncation\":{\"max_length\":5}", "truncation"},
        {"\"dropout\":null", "\"dropout\":0.1", "model.dropout"},
        {"\"continuing_subword_prefix\":\"\"", "\"continuing_subword_prefix\":\"##\"", "continuing_subword_prefix"},
        {"\"ignore_merges\":false", "\"ignore_merges\":0", "ignore_merges"},
        {"\"pre_tokenizer\":{", "\"pre_tokenizer\":null,\"p\":{", "pre_tokenizer: missing"},
        {"\"version\":\"1.0\"", "\"version\":\"1.0\xFF\"", "not UTF-8 at byte offset 15"},
        {"]}}", "]}", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = replace(json, cases[i].from, cases[i].to);
        CHECK(bad != NULL, "corrupt case %zu: '%s' not found in the tiny JSON", i, cases[i].from);
        if (!bad) continue;
        char err[ERR_LEN] = "";
        Tokenizer *t = tokenizer_load_json(bad, strlen(bad), "bad.json", err);
        CHECK(t == NULL && !strncmp(err, "bad.json: ", 10) && strstr(err, cases[i].field),
              "corrupt case %zu (%s): got '%s'", i, cases[i].field, t ? "(loaded)" : err);
        tokenizer_free(t);
        free(bad);
    }
    static const char *whole[] = {"", "not json", "[1,2,3]", "{}", "null", "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}"};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        char err[ERR_LEN] = "";
        Tokenizer *t = tokenizer_load_json(whole[i], strlen(whole[i]), "bad.json", err);
        CHECK(t == NULL && !strncmp(err, "bad.json: ", 10), "'%s' should not load (got '%s')", whole[i], err);
        tokenizer_free(t);
    }
    // Every proper prefix of a valid file is invalid JSON (a torn download).
    size_t len = strlen(json);
    int all = 1;
    for (size_t cut = 0; cut < len; cut += 7) {
        char err[ERR_LEN] = "";
        Tokenizer *t = tokenizer_load_json(json, cut, "cut.json", err);
        if (t || strncmp(err, "cut.json: ", 10)) { all = 0; fprintf(stderr, "  prefix %zu: '%s'\n", cut, err); }
        tokenizer_free(t);
    }
    CHECK(all, "every truncated tokenizer.json fails to load with a message");
    char err[ERR_LEN] = "";
    CHECK(tokenizer_load("/nonexistent/tokenizer.json", err) == NULL && strstr(err, "/nonexistent/tokenizer.json"),
          "a missing file names its path: '%s'", err);
    free(json);
}

// --- with the shared data

static char *read_or_fail(const char *path, size_t *len) {
    char err[ERR_LEN];
    char *s = read_file(path, len, err);
    CHECK(s != NULL, "%s", err);
    return s;
}

// llama.cpp's test vectors: .inp holds cases each followed by
// "\n__ggml_vocab_test__\n"; .out has one line of " id id ..." per case.
static void test_ggml_vectors(Tokenizer *t, const char *data) {
    char path[4096];
    size_t ninp, nout;
    snprintf(path, sizeof path, "%s/tokenizer-tests/ggml-vocab-qwen2.gguf.inp", data);
    char *inp = read_or_fail(path, &ninp);
    snprintf(path, sizeof path, "%s/tokenizer-tests/ggml-vocab-qwen2.gguf.out", data);
    char *out = read_or_fail(path, &nout);
    if (!inp || !out) { free(inp); free(out); return; }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = out;
    int cases = 0;
    for (;;) {
        char *end = strstr(p, sep);
        if (!end) break;
        char *nl = strchr(line, '\n');
        CHECK(nl != NULL, "ggml case %d: no expected line", cases);
        if (!nl) break;
        int32_t want[1024];
        size_t nw = 0;
        for (char *q = line; q < nl && nw < 1024;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            want[nw++] = (int32_t)v;
            q = e;
        }
        char what[64];
        snprintf(what, sizeof what, "ggml vector %d", cases);
        check_encode(t, what, p, (size_t)(end - p), want, nw, NULL, 0);
        cases++;
        p = end + strlen(sep);
        line = nl + 1;
    }
    CHECK(cases == 46, "%d ggml test vectors, want 46", cases);
    free(inp);
    free(out);
}

static void test_wiki(Tokenizer *t, const char *data) {
    char path[4096], err[ERR_LEN] = "";
    size_t len, nfix;
    snprintf(path, sizeof path, "%s/wikitext-2-raw/wiki.test.raw", data);
    char *text = read_or_fail(path, &len);
    char *fix = read_or_fail(FIXTURES "/wiki_test_raw.ids", &nfix);
    if (!text || !fix) { free(text); free(fix); return; }
    uint64_t count = 0;
    int header_ok = nfix >= 16 && !memcmp(fix, "TRIT_IDS", 8);
    if (header_ok) memcpy(&count, fix + 8, 8);
    header_ok = header_ok && count == (nfix - 16) / 4 && nfix == 16 + 4 * count;
    CHECK(header_ok && count == 299078, "wiki_test_raw.ids: bad header or count %llu", (unsigned long long)count);
    const int32_t *want = (const int32_t *)(fix + 16);  // little-endian uint32, ids < 2^31
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tokenizer_encode(t, text, len, &ids, &n, err) == 0, "wiki.test.raw: %s", err);
    if (ids && header_ok) {
        size_t i = 0;
        while (i < n && i < count && ids[i] == want[i]) i++;
        CHECK(n == count && i == n, "wiki.test.raw: %zu ids, want %llu; first mismatch at position %zu (got %d, want %d)", n,
              (unsigned long long)count, i, i < n ? ids[i] : -1, i < count ? want[i] : -1);
        char *dec = NULL;
        size_t dlen = 0;
        CHECK(tokenizer_decode(t, ids, n, &dec, &dlen, err) == 0 && dlen == len && !memcmp(dec, text, len),
              "wiki.test.raw: decode(encode(text)) != text");
        free(dec);
    }
    // Four threads encode slices of the text with the one tokenizer at once
    // (tokenizer_encode writes nothing in it): each slice's ids equal those
    // of encoding it alone. The cuts are at spaces before a letter, where
    // no piece spans the cut.
    enum { PARTS = 8 };
    size_t cut[PARTS + 1] = {0};
    for (int k = 1; k < PARTS; k++) {
        size_t c = len / PARTS * (size_t)k;
        while (c < len && !(text[c] == ' ' && c + 1 < len && text[c + 1] >= 'a' && text[c + 1] <= 'z')) c++;
        cut[k] = c;
    }
    cut[PARTS] = len;
    int32_t *alone[PARTS] = {0}, *together[PARTS] = {0};
    size_t n_alone[PARTS] = {0}, n_together[PARTS] = {0};
    int fails = 0;
    for (int k = 0; k < PARTS; k++)
        fails += tokenizer_encode(t, text + cut[k], cut[k + 1] - cut[k], &alone[k], &n_alone[k], err) != 0;
#pragma omp parallel for num_threads(4) schedule(dynamic, 1) reduction(+ : fails)
    for (int k = 0; k < PARTS; k++) {
        char e2[ERR_LEN];
        fails += tokenizer_encode(t, text + cut[k], cut[k + 1] - cut[k], &together[k], &n_together[k], e2) != 0;
    }
    int same = fails == 0;
    for (int k = 0; k < PARTS && same; k++)
        same = n_alone[k] == n_together[k] && !memcmp(alone[k], together[k], sizeof(int32_t) * n_alone[k]);
    CHECK(same, "wiki.test.raw in %d slices on 4 threads: not the ids of each slice alone", PARTS);
    for (int k = 0; k < PARTS; k++) {
        free(alone[k]);
        free(together[k]);
    }
    free(ids);
    free(text);
    free(fix);
}

// tests/fixtures/tokenizer_cases.bin: see make_tokenizer_fixtures.py.
static void test_cases(Tokenizer *t) {
    size_t len;
    char *f = read_or_fail(FIXTURES "/tokenizer_cases.bin", &len);
    if (!f) return;
    size_t pos = 8;
    uint32_t ncase = 0;
    int ok = len >= 12 && !memcmp(f, "TRIT_TKC", 8);
    if (ok) { memcpy(&ncase, f + pos, 4); pos += 4; }
    CHECK(ok && ncase > 300, "tokenizer_cases.bin: bad header");
    for (uint32_t c = 0; ok && c < ncase; c++) {
        uint32_t tl, ni, dl;
        if (pos + 4 > len) break;
        memcpy(&tl, f + pos, 4); pos += 4;
        const char *text = f + pos; pos += tl;
        if (pos + 4 > len) break;
        memcpy(&ni, f + pos, 4); pos += 4;
        int32_t *want = malloc(4 * (size_t)ni + 4);
        if (pos + 4 * (size_t)ni > len) { free(want); break; }
        memcpy(want, f + pos, 4 * (size_t)ni); pos += 4 * (size_t)ni;
        if (pos + 4 > len) { free(want); break; }
        memcpy(&dl, f + pos, 4); pos += 4;
        const char *dec = f + pos; pos += dl;
        if (pos > len) { free(want); break; }
        char what[64];
        snprintf(what, sizeof what, "tokenizer_cases.bin case %u", c);
        check_encode(t, what, text, tl, want, ni, dec, dl);
        free(want);
    }
    CHECK(pos == len, "tokenizer_cases.bin: truncated or trailing bytes (%zu of %zu)", pos, len);
    free(f);
}

static void test_qwen(const char *data) {
    char path[4096], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/qwen3-tokenizer/tokenizer.json", data);
    Tokenizer *t = tokenizer_load(path, err);
    CHECK(t != NULL, "Qwen3 tokenizer: %s", err);
    if (!t) return;
    size_t jlen;
    char *json = read_or_fail(path, &jlen);
    CHECK(json && tokenizer_hash(t) == fnv(json, jlen), "tokenizer_hash is not FNV-1a 64 of tokenizer.json");
    free(json);
    CHECK(tokenizer_vocab_size(t) == 151669, "vocab size %d, want 151669", tokenizer_vocab_size(t));
    CHECK(tokenizer_token_id(t, "<|im_end|>") == 151645, "<|im_end|> id");
    CHECK(tokenizer_token_id(t, "<|endoftext|>") == 151643, "<|endoftext|> id");
    CHECK(tokenizer_token_id(t, "</think>") == 151668, "</think> id");
    CHECK(tokenizer_token_id(t, "Hello") == 9707, "Hello id");

    // Special tokens written in the text (ids checked against HF by hand).
    const char *chat = "<|im_start|>user\nHi<|im_end|>\n";
    int32_t want[] = {151644, 872, 198, 13048, 151645, 198};
    check_encode(t, "chat template", chat, strlen(chat), want, 6, NULL, 0);

    int32_t *ids = NULL;
    size_t n;
    CHECK(tokenizer_encode(t, "ok \xED\xBF\xBF", 6, &ids, &n, err) != 0 && strstr(err, "byte offset 3"),
          "surrogate in Qwen input: '%s'", err);

    test_ggml_vectors(t, data);
    test_cases(t);
    test_wiki(t, data);
    tokenizer_free(t);
}

int main(void) {
    test_tiny();
    test_corrupt();
    const char *data = test_data_dir("Qwen3 tokenizer tests");
    if (data) test_qwen(data);
    return test_finish("test_tokenizer");
}
