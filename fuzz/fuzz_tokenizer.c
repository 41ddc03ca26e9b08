// fuzz_tokenizer.c — libFuzzer target for the tokenizer (build: make fuzz).
//
// Each input is used three ways:
//   1. as a tokenizer.json (untrusted file): load must succeed or fail with a
//      message, never crash; a loaded one must encode and decode a sample;
//   2. as text for a small valid tokenizer (all 256 byte tokens, a few merges,
//      added tokens plain / lstrip+rstrip / normalized): encode must succeed
//      exactly when the input is valid UTF-8, every id must be in range, and
//      decoding must give the input back whenever NFC leaves it unchanged
//      (no byte >= 0xCC) and no stripping token is in it;
//   3. as little-endian int32 ids: decode must succeed or fail cleanly;
//   4. as text for a tokenizer that tokenizer_json_from_gguf made from a
//      small GGUF-style vocabulary (smollm: digits split, GPT-2 regex, no
//      token for 'q' and 0x04): as in 2, and decoding gives the input back
//      without those two bytes;
//   5. as a GGUF vocabulary (first line the pre-tokenizer name, then one
//      token per line, "a b" lines are merges, '<' starts a control token,
//      '{' a user-defined one, blank lines are skipped):
//      tokenizer_json_from_gguf must succeed or fail with a message, and
//      what it writes trit must load.
// Run: build-fuzz/fuzz_tokenizer -max_total_time=60 fuzz/seeds/tokenizer
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/gpt2_bytes.h"
#include "base/util.h"
#include "tok/gguf_vocab.h"
#include "tok/tokenizer.h"

#define QWEN_REGEX \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

static Tokenizer *tiny, *from_gguf;

// Appends s as a JSON string with every non-alphanumeric character escaped.
static char *json_str(char *p, const char *s) {
    *p++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        unsigned cp;
        int n;
        if (*c < 0x80) { cp = *c; n = 1; }
        else { cp = (unsigned)(c[0] & 0x1F) << 6 | (c[1] & 0x3F); n = 2; }  // the byte map stays below U+0800
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) *p++ = (char)cp;
        else p += sprintf(p, "\\u%04X", cp);
        c += n;
    }
    *p++ = '"';
    return p;
}

static const char *MERGES[][2] = {{"t", "h"}, {"th", "e"}, {"\xC4\xA0", "the"}, {"i", "n"}, {"a", "a"}, {"aa", "aa"}, {"e", "r"}};
#define N_MERGES 7

static char *build_json(void) {
    char *buf = xmalloc(1 << 16), *p = buf;
    p += sprintf(p,
                 "{\"added_tokens\":["
                 "{\"id\":263,\"content\":\"<|x|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":true},"
                 "{\"id\":264,\"content\":\"<|s|>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":true,"
                 "\"normalized\":false,\"special\":false},"
                 "{\"id\":265,\"content\":\"e\\u0301t\\u00e9\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":true,\"special\":false}],"
                 "\"normalizer\":{\"type\":\"NFC\"},"
                 "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"" QWEN_REGEX
                 "\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                 "\"trim_offsets\":false,\"use_regex\":false}]},\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                 "\"trim_offsets\":false,\"use_regex\":false},"
                 "\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char(b, c);
        p = json_str(p, c);
        p += sprintf(p, ":%d,", b);
    }
    for (int m = 0; m < N_MERGES; m++) {
        char joined[16];
        snprintf(joined, sizeof joined, "%s%s", MERGES[m][0], MERGES[m][1]);
        p = json_str(p, joined);
        p += sprintf(p, ":%d%s", 256 + m, m + 1 < N_MERGES ? "," : "},\"merges\":[");
    }
    for (int m = 0; m < N_MERGES; m++) {
        *p++ = '[';
        p = json_str(p, MERGES[m][0]);
        *p++ = ',';
        p = json_str(p, MERGES[m][1]);
        p += sprintf(p, "]%s", m + 1 < N_MERGES ? "," : "]}}");
    }
    return buf;
}

// 256 byte tokens but 'q' and 0x04, merges, a control token.
static Tokenizer *build_from_gguf(void) {
    static const char *merges[] = {"t h", "th e", "\xC4\xA0 the", "1 2", "\xC4\xA0 1", "a a"};
    const char *tokens[256 + 7];
    char bytes[256][4];
    size_t lens[256 + 7], merge_lens[6];
    int32_t types[256 + 7];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        if (b == 'q' || b == 4) continue;
        byte_char(b, bytes[b]);
        tokens[n++] = bytes[b];
    }
    const char *more[] = {"th", "the", "\xC4\xA0the", "12", "\xC4\xA0\x31", "aa", "<|c|>"};
    for (int i = 0; i < 7; i++) tokens[n++] = more[i];
    for (int i = 0; i < n; i++) { lens[i] = strlen(tokens[i]); types[i] = i == n - 1 ? GGUF_TOKEN_CONTROL : GGUF_TOKEN_NORMAL; }
    for (int i = 0; i < 6; i++) merge_lens[i] = strlen(merges[i]);
    GgufVocab v = {.n_tokens = n, .tokens = tokens, .token_lens = lens, .n_token_types = n, .token_types = types,
                   .n_merges = 6, .merges = merges, .merge_lens = merge_lens, .model = "gpt2", .pre = "smollm",
                   .bos_id = -1, .eos_id = n - 1, .unk_id = -1, .pad_id = -1, .add_bos = 0};
    char err[ERR_LEN];
    size_t len;
    char *json = tokenizer_json_from_gguf(&v, &len, err);
    Tokenizer *t = json ? tokenizer_load_json(json, len, "from_gguf.json", err) : NULL;
    if (!t) { fprintf(stderr, "fuzz_tokenizer: the GGUF-made tokenizer does not load: %s\n", err); abort(); }
    free(json);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char err[ERR_LEN];
    from_gguf = build_from_gguf();
    char *json = build_json();
    tiny = tokenizer_load_json(json, strlen(json), "tiny.json", err);
    if (!tiny) { fprintf(stderr, "fuzz_tokenizer: the embedded tokenizer does not load: %s\n", err); abort(); }
    if (getenv("FUZZ_WRITE_SEED")) {  // writes the embedded tokenizer.json, a seed for the corpus
        FILE *f = fopen(getenv("FUZZ_WRITE_SEED"), "wb");
        if (f) { fputs(json, f); fclose(f); }
    }
    free(json);
    return 0;
}

static void check(int ok, const char *what) {
    if (!ok) { fprintf(stderr, "fuzz_tokenizer: %s\n", what); abort(); }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[ERR_LEN];
    const char *text = (const char *)data;

    // 1. The input as a tokenizer.json.
    err[0] = 0;
    Tokenizer *t = tokenizer_load_json(text, size, "fuzz.json", err);
    check(t != NULL || err[0], "load failed without a message");
    if (t) {
        int32_t *ids;
        size_t n;
        if (tokenizer_encode(t, "Hello, world! 123 <|x|> \xC3\xA9", 26, &ids, &n, err) == 0) {
            char *out;
            size_t len;
            for (size_t i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(t), "id out of range");
            check(tokenizer_decode(t, ids, n, &out, &len, err) == 0, "decode of encoded ids failed");
            free(out);
            free(ids);
        }
        tokenizer_free(t);
    }

    // 2. The input as text.
    int32_t *ids = NULL;
    size_t n = 0;
    err[0] = 0;
    if (tokenizer_encode(tiny, text, size, &ids, &n, err) == 0) {
        for (size_t i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(tiny), "id out of range");
        char *out = NULL;
        size_t len = 0;
        check(tokenizer_decode(tiny, ids, n, &out, &len, err) == 0, "decode of encoded ids failed");
        int nfc_stable = 1, strips = memmem(data, size, "<|s|>", 5) != NULL;
        for (size_t i = 0; i < size; i++) nfc_stable &= data[i] < 0xCC;
        if (nfc_stable && !strips) check(len == size && !memcmp(out, data, size), "decode(encode(x)) != x");
        free(out);
        free(ids);
    } else {
        check(ids == NULL && strstr(err, "invalid UTF-8 at byte offset") != NULL, "encode failed on something other than bad UTF-8");
    }

    // 3. The input as ids.
    size_t nid = size / 4;
    int32_t *raw = xmalloc((nid ? nid : 1) * sizeof *raw);
    memcpy(raw, data, nid * 4);
    char *out = NULL;
    size_t len;
    if (tokenizer_decode(tiny, raw, nid, &out, &len, err) == 0) free(out);
    else check(out == NULL, "failed decode left output");
    free(raw);

    // 4. The input as text for the GGUF-made tokenizer.
    ids = NULL;
    if (tokenizer_encode(from_gguf, text, size, &ids, &n, err) == 0) {
        for (size_t i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(from_gguf), "id out of range");
        out = NULL;
        check(tokenizer_decode(from_gguf, ids, n, &out, &len, err) == 0, "decode of encoded ids failed");
        size_t k = 0, same = 1;
        for (size_t i = 0; i < size && same; i++) {
            if (data[i] == 'q' || data[i] == 4) continue;
            same = k < len && (uint8_t)out[k++] == data[i];
        }
        check(same && k == len, "decode(encode(x)) is not x without its 'q' and 0x04 bytes");
        free(out);
        free(ids);
    } else {
        check(ids == NULL && strstr(err, "invalid UTF-8 at byte offset") != NULL, "encode failed on something other than bad UTF-8");
    }

    // 5. The input as a GGUF vocabulary.
    size_t n_lines = 1;
    for (size_t i = 0; i < size; i++) n_lines += data[i] == '\n';
    const char **toks = xmalloc(n_lines * sizeof *toks), **merges = xmalloc(n_lines * sizeof *merges);
    size_t *tok_lens = xmalloc(n_lines * sizeof *tok_lens), *merge_lens = xmalloc(n_lines * sizeof *merge_lens);
    int32_t *types = xmalloc(n_lines * sizeof *types);
    char *pre = NULL;
    int nt = 0, nm = 0;
    for (size_t i = 0, start = 0; i <= size; i++) {
        if (i < size && data[i] != '\n') continue;
        const char *line = text + start;
        size_t ln = i - start;
        if (!pre) {
            pre = xmalloc(ln + 1);
            memcpy(pre, line, ln);
            pre[ln] = 0;
        } else if (ln == 0) {  // blank lines are not tokens, so that seeds can end in a newline
        } else if (ln > 1 && memchr(line + 1, ' ', ln - 1)) {
            merges[nm] = line;
            merge_lens[nm++] = ln;
        } else {
            toks[nt] = line;
            tok_lens[nt] = ln;
            types[nt++] = line[0] == '<' ? GGUF_TOKEN_CONTROL : line[0] == '{' ? GGUF_TOKEN_USER_DEFINED : GGUF_TOKEN_NORMAL;
        }
        start = i + 1;
    }
    GgufVocab v = {.n_tokens = nt, .tokens = toks, .token_lens = tok_lens, .n_token_types = nt, .token_types = types,
                   .n_merges = nm, .merges = merges, .merge_lens = merge_lens, .model = "gpt2", .pre = pre,
                   .bos_id = nt > 0 ? 0 : -1, .eos_id = -1, .unk_id = -1, .pad_id = -1, .add_bos = -1};
    err[0] = 0;
    char *json = tokenizer_json_from_gguf(&v, &len, err);
    check(json != NULL || err[0], "tokenizer_json_from_gguf failed without a message");
    if (json) {
        t = tokenizer_load_json(json, len, "from_gguf.json", err);
        if (!t) fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        check(t != NULL, "trit does not load what tokenizer_json_from_gguf wrote");
        const char *sample = "Hello, world! 123 \x04 <|x|>";
        if (tokenizer_encode(t, sample, strlen(sample), &ids, &n, err) == 0) {
            for (size_t i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(t), "id out of range");
            free(ids);
        }
        tokenizer_free(t);
        free(json);
    }
    free(toks); free(merges); free(tok_lens); free(merge_lens); free(types); free(pre);
    return 0;
}
