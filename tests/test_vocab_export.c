// test_vocab_export.c — a Hugging Face tokenizer as GGUF tokenizer keys
// (tok/gguf_vocab_export.h), the reverse of tok/gguf_vocab.h.
//
//  - SmolLM2 round trip (models/SmolLM2-135M-Instruct.Q4_1.gguf; a FAIL
//    under CI=true when missing): the GGUF's vocabulary imported as
//    tokenizer.json + tokenizer_config.json (convert/gguf_import.h), exported back
//    through a GGUF file, gives the original's tokens, token types, merges,
//    pre, bos / eos / unk / pad ids, add_bos_token and chat template exactly.
//  - Qwen3 (the shared data's tokenizer with qwen3-0.6b's config.json):
//    pre qwen2; the 151643 model tokens NORMAL and in id order; the 26 added
//    tokens CONTROL (special, or looking special like <|fim_prefix|>) or
//    USER_DEFINED (<think>, <tool_call>, ...); "[PAD<id>]" UNUSED up to 151936
//    rows; merges as "a b"; eos and pad from tokenizer_config.json, bos from
//    config.json; add_bos false; its chat template. Imported back through
//    tok/gguf_vocab.h, the exported vocabulary tokenizes a set of strings to
//    the ids the original tokenizer.json gives.
//  - small tokenizers built here: every recognised pre-tokenizer layout
//    (HF's and llama.cpp's regex spellings), ["a", "b"] merges with spaces,
//    U+2581 in user-defined tokens, {"content": ...} names, a name that is no
//    added token falling back to config.json, TemplateProcessing add_bos,
//    tokenizer_config.json overriding it, chat_template.jinja; and the
//    errors: unknown pre-tokenizer (named in the message), n_vocab below the
//    tokenizer's ids, malformed JSON in each file, other models, normalizers,
//    merges, id clashes, list chat templates, bad config ids.
// With TRIT_VOCAB_EXPORT_KEEP=DIR it leaves vocab-only GGUFs of both for
// tools/reference/check_gguf_vocab.py, which checks them with llama.cpp.
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/config.h"
#include "arch/gguf_config.h"
#include "base/buf.h"
#include "base/util.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "test.h"
#include "tok/gguf_vocab.h"
#include "tok/gguf_vocab_export.h"
#include "tok/tokenizer.h"

#define SMOLLM2_GGUF "SmolLM2-135M-Instruct.Q4_1.gguf"

static char tmpdir[] = "/tmp/trit_test_vocab_export_XXXXXX";

static void write_text(const char *dir, const char *name, const char *text, size_t len) {
    char err[ERR_LEN] = "";
    char *path = path_join(dir, name);
    CHECK(write_file_atomic(path, text, len, err) == 0, "%s", err);
    free(path);
}

static void remove_file(const char *dir, const char *name) {
    char *path = path_join(dir, name);
    unlink(path);
    free(path);
}

// Writes model_dir's tokenizer as a vocab-only GGUF in tmpdir and opens it.
static int export_to_gguf(const char *model_dir, int64_t n_vocab, GgufFile *g, char *err) {
    GgufWriter *w = gguf_writer_new();
    char *path = path_join(tmpdir, "vocab.gguf");
    int rc = gguf_write_tokenizer(w, model_dir, n_vocab, err) || gguf_writer_write(w, path, err) ||
             gguf_open(g, path, err);
    gguf_writer_free(w);
    unlink(path);  // the mapping stays valid
    free(path);
    return rc ? -1 : 0;
}

// With TRIT_VOCAB_EXPORT_KEEP=DIR: DIR/name, a vocab-only GGUF with
// general.architecture `arch` and the keys add() puts in, for
// tools/reference/check_gguf_vocab.py to load with llama.cpp (which needs no
// other key with vocab_only).
static void keep(const char *name, const char *arch, int (*add)(GgufWriter *, const void *, char *), const void *arg) {
    const char *dir = getenv("TRIT_VOCAB_EXPORT_KEEP");
    if (!dir) return;
    char err[ERR_LEN] = "";
    GgufWriter *w = gguf_writer_new();
    char *path = path_join(dir, name);
    CHECK(gguf_add_str(w, "general.architecture", arch, strlen(arch), err) == 0 && add(w, arg, err) == 0 &&
          gguf_writer_write(w, path, err) == 0, "keep %s: %s", path, err);
    free(path);
    gguf_writer_free(w);
}

static int add_dir(GgufWriter *w, const void *model_dir, char *err) {
    return gguf_write_tokenizer(w, model_dir, 49152, err);
}

static int add_vocab(GgufWriter *w, const void *v, char *err) { return gguf_add_hf_vocab(w, v, err); }

// Two GGUFs' values of one key, byte for byte (KV type, array type, contents).
static int same_kv(const GgufFile *a, const GgufFile *b, const char *key) {
    const GgufKV *x = gguf_find_kv(a, key), *y = gguf_find_kv(b, key);
    if (!x || !y) return !x && !y;
    if (x->type != y->type) return 0;
    if (x->type == GGUF_TYPE_STRING) return x->len == y->len && !memcmp(x->data, y->data, x->len);
    if (x->type != GGUF_TYPE_ARRAY) {
        int64_t i, j;
        return gguf_kv_int(x, &i) == 0 && gguf_kv_int(y, &j) == 0 && i == j;
    }
    if (x->arr_type != y->arr_type || x->n != y->n) return 0;
    for (uint64_t i = 0; i < x->n; i++) {
        size_t nx, ny;
        const char *sx, *sy;
        int64_t vx, vy;
        if (x->arr_type == GGUF_TYPE_STRING) {
            sx = gguf_arr_str(x, i, &nx);
            sy = gguf_arr_str(y, i, &ny);
            if (nx != ny || memcmp(sx, sy, nx)) return 0;
        } else if (gguf_arr_int(x, i, &vx) || gguf_arr_int(y, i, &vy) || vx != vy) {
            return 0;
        }
    }
    return 1;
}

// --- SmolLM2: GGUF -> tokenizer.json -> GGUF -------------------------------------

static void test_smollm2(void) {
    const char *models = getenv("MODELS") ? getenv("MODELS") : "models";
    char *path = path_join(models, SMOLLM2_GGUF);
    if (!file_exists(path)) {
        if (getenv("CI") && !strcmp(getenv("CI"), "true"))
            CHECK(0, "CI=true and %s is missing (scripts/fetch-smollm2.sh)", path);
        else
            fprintf(stderr, "SKIP test_vocab_export: the SmolLM2 round trip needs %s (scripts/fetch-smollm2.sh)\n", path);
        free(path);
        return;
    }
    char err[ERR_LEN] = "";
    GgufFile g = {0}, e = {0};
    ModelConfig c;
    char *tok = NULL, *cfg = NULL;
    size_t tl = 0, cl = 0;
    int rc = gguf_open(&g, path, err) || gguf_config(&g, &c, err) ||
             gguf_tokenizer_files(&g, &c, &tok, &tl, &cfg, &cl, err);
    CHECK(rc == 0, "import SmolLM2's vocabulary: %s", err);
    if (rc == 0) {
        write_text(tmpdir, "tokenizer.json", tok, tl);
        write_text(tmpdir, "tokenizer_config.json", cfg, cl);
        rc = export_to_gguf(tmpdir, c.vocab_size, &e, err);
        CHECK(rc == 0, "export SmolLM2's vocabulary: %s", err);
        CHECK(c.vocab_size == 49152, "SmolLM2 has 49152 rows");
        keep("smollm2.gguf", "llama", add_dir, tmpdir);
    }
    if (rc == 0) {
        // Every tokenizer key of the original comes back as it was, but
        // tokenizer.ggml.add_space_prefix (SentencePiece's flag, which the
        // converter writes for no byte-level vocabulary; false here, as
        // llama.cpp assumes for gpt2) and nothing else is added.
        int n_tok_keys = 0;
        for (int i = 0; i < gguf_n_kv(&g); i++) {
            const char *key = gguf_kv(&g, i)->key;
            if (strncmp(key, "tokenizer.", 10) || !strcmp(key, "tokenizer.ggml.add_space_prefix")) continue;
            n_tok_keys++;
            CHECK(same_kv(&g, &e, key), "SmolLM2 round trip: %s differs", key);
        }
        CHECK(n_tok_keys == 11 && gguf_n_kv(&e) == n_tok_keys, "%d tokenizer keys compared; the export has %d",
              n_tok_keys, gguf_n_kv(&e));
        const char *pre;
        size_t n;
        CHECK(gguf_get_str(&e, "tokenizer.ggml.pre", &pre, &n, err) == 0 && n == 6 && !memcmp(pre, "smollm", 6),
              "SmolLM2's pre is smollm: %s", err);
    }
    gguf_close(&e);
    gguf_close(&g);
    free(tok);
    free(cfg);
    remove_file(tmpdir, "tokenizer.json");
    remove_file(tmpdir, "tokenizer_config.json");
    free(path);
}

// --- Qwen3 -----------------------------------------------------------------------

static char *read_data(const char *data, const char *name, size_t *len) {
    char err[ERR_LEN] = "";
    char *path = path_join(data, name);
    char *s = read_file(path, len, err);
    CHECK(s != NULL, "%s", err);
    free(path);
    return s;
}

static const char *const QWEN3_USER_DEFINED[] = {"<tool_call>", "</tool_call>", "<tool_response>",
                                                 "</tool_response>", "<think>", "</think>"};

static int is_user_defined(const char *t) {
    for (size_t i = 0; i < sizeof QWEN3_USER_DEFINED / sizeof QWEN3_USER_DEFINED[0]; i++)
        if (!strcmp(t, QWEN3_USER_DEFINED[i])) return 1;
    return 0;
}

// The exported vocabulary, imported back (tok/gguf_vocab.h), must tokenize as
// the original tokenizer.json does.
static void check_reimport(const HfVocab *v, const char *tokenizer_path) {
    char err[ERR_LEN] = "";
    GgufVocab g = {.n_tokens = v->n_tokens, .tokens = (const char *const *)v->tokens, .token_lens = v->token_lens,
                   .n_token_types = v->n_tokens, .token_types = v->token_types, .n_merges = v->n_merges,
                   .merges = (const char *const *)v->merges, .merge_lens = v->merge_lens, .model = "gpt2",
                   .pre = v->pre, .bos_id = v->bos_id, .eos_id = v->eos_id, .unk_id = v->unk_id, .pad_id = v->pad_id,
                   .add_bos = v->add_bos};
    size_t len = 0;
    char *json = tokenizer_json_from_gguf(&g, &len, err);
    CHECK(json != NULL, "Qwen3 export imported back: %s", err);
    Tokenizer *back = json ? tokenizer_load_json(json, len, "re-imported Qwen3", err) : NULL;
    Tokenizer *orig = tokenizer_load(tokenizer_path, err);
    CHECK(back && orig, "load: %s", err);
    static const char *const texts[] = {
        "Hello, world! It's 2025 and we've 12345 tokens.",
        "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n7<|im_end|>",
        "  leading spaces\ttabs\r\n\r\nnewlines   \n",
        "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 "
        "\xF0\x9F\xA6\x99\xF0\x9F\x9A\x80 caf\xC3\xA9 na\xC3\xAF" "ve",
        "I'M SURE THEY'LL SAY 'HELLO' -- DON'T", "def f(x):\n    return x**2  # <tool_call>{\"a\": 1}</tool_call>",
        "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|><|endoftext|>",
    };
    for (size_t i = 0; back && orig && i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int rc = tokenizer_encode(orig, texts[i], strlen(texts[i]), &a, &na, err) ||
                 tokenizer_encode(back, texts[i], strlen(texts[i]), &b, &nb, err);
        CHECK(rc == 0 && ids_equal(a, na, b, nb), "Qwen3 text %zu: the exported vocabulary tokenizes differently: %s", i,
              err);
        if (rc == 0 && !ids_equal(a, na, b, nb)) {
            print_ids("original", a, na);
            print_ids("exported", b, nb);
        }
        free(a);
        free(b);
    }
    tokenizer_free(back);
    tokenizer_free(orig);
    free(json);
}

static void test_qwen3(void) {
    const char *data = test_data_dir("test_vocab_export Qwen3");
    if (!data) return;
    char err[ERR_LEN] = "";
    size_t tl = 0, cl = 0, ml = 0;
    char *tok = read_data(data, "qwen3-tokenizer/tokenizer.json", &tl);
    char *cfg = read_data(data, "qwen3-tokenizer/tokenizer_config.json", &cl);
    char *config = read_data(data, "qwen3-0.6b/config.json", &ml);
    HfTokenizerTexts t = {tok, tl, cfg, cl, config, ml, NULL, 0};
    HfVocab v;
    int rc = hf_vocab_parse(&v, &t, 151936, err);
    CHECK(rc == 0, "Qwen3: %s", err);
    if (rc == 0) {
        CHECK(!strcmp(v.pre, "qwen2"), "Qwen3 pre %s", v.pre);
        CHECK(v.n_tokens == 151936 && v.n_merges == 151387, "%d tokens, %d merges", v.n_tokens, v.n_merges);
        int normal = 0, control = 0, user = 0, unused = 0, misplaced = 0;
        for (int id = 0; id < v.n_tokens; id++) {
            const char *s = v.tokens[id];
            int type = v.token_types[id];
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", id);
            normal += type == GGUF_TOKEN_NORMAL;
            control += type == GGUF_TOKEN_CONTROL;
            user += type == GGUF_TOKEN_USER_DEFINED;
            unused += type == GGUF_TOKEN_UNUSED;
            if (id < 151643) misplaced += type != GGUF_TOKEN_NORMAL;
            else if (id < 151669) misplaced += type != (is_user_defined(s) ? GGUF_TOKEN_USER_DEFINED : GGUF_TOKEN_CONTROL);
            else misplaced += type != GGUF_TOKEN_UNUSED || strcmp(s, pad);
            misplaced += strlen(s) != v.token_lens[id];
        }
        CHECK(normal == 151643 && control == 20 && user == 6 && unused == 267 && misplaced == 0,
              "Qwen3 types: %d normal, %d control, %d user-defined, %d unused, %d misplaced", normal, control, user,
              unused, misplaced);
        CHECK(!strcmp(v.tokens[0], "!") && !strcmp(v.tokens[151643], "<|endoftext|>") &&
              !strcmp(v.tokens[151668], "</think>") && !strcmp(v.tokens[151935], "[PAD151935]"),
              "Qwen3 tokens in id order");
        CHECK(!strcmp(v.merges[0], "\xC4\xA0 \xC4\xA0") && !strcmp(v.merges[2], "i n"), "merges '%s', '%s'",
              v.merges[0], v.merges[2]);
        CHECK(v.bos_id == 151643 && v.eos_id == 151645 && v.pad_id == 151643 && v.unk_id == -1,
              "Qwen3 ids: bos %d eos %d pad %d unk %d", v.bos_id, v.eos_id, v.pad_id, v.unk_id);
        CHECK(v.add_bos == 0 && v.add_eos == -1, "add_bos %d, add_eos %d", v.add_bos, v.add_eos);
        CHECK(v.chat_template && strstr(v.chat_template, "<|im_start|>") && strstr(v.chat_template, "enable_thinking"),
              "Qwen3 chat template");
        char *path = path_join(data, "qwen3-tokenizer/tokenizer.json");
        check_reimport(&v, path);
        keep("qwen3.gguf", "qwen3", add_vocab, &v);
        free(path);
    }
    hf_vocab_free(&v);
    free(tok);
    free(cfg);
    free(config);

    // Through a directory (no config.json there): written and read back.
    GgufFile g = {0};
    char *dir = path_join(data, "qwen3-tokenizer");
    rc = export_to_gguf(dir, 151936, &g, err);
    CHECK(rc == 0, "Qwen3 directory: %s", err);
    const GgufKV *kv = NULL;
    uint32_t id = 0;
    if (rc == 0) {
        CHECK(gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, err) == 0 && kv->n == 151936, "%s", err);
        CHECK(gguf_get_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &kv, err) == 0 &&
              gguf_arr_i32(kv, 151644) == GGUF_TOKEN_CONTROL && gguf_arr_i32(kv, 151667) == GGUF_TOKEN_USER_DEFINED &&
              gguf_arr_i32(kv, 151700) == GGUF_TOKEN_UNUSED, "token types in the file: %s", err);
        CHECK(gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &id, err) == 0 && id == 151645, "eos %u: %s", id, err);
        CHECK(!gguf_find_kv(&g, "tokenizer.ggml.bos_token_id"), "no config.json, no bos");
        CHECK(gguf_find_kv(&g, "tokenizer.ggml.padding_token_id")->type == GGUF_TYPE_UINT32, "ids are UINT32");
        CHECK(gguf_find_kv(&g, "tokenizer.ggml.add_bos_token")->type == GGUF_TYPE_BOOL, "add_bos_token is a BOOL");
    }
    gguf_close(&g);
    free(dir);
}

// --- small tokenizers --------------------------------------------------------------

#define BL(regex) "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":" regex "}"
#define SPLIT(re) "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"" re "\"},\"behavior\":\"Isolated\",\"invert\":false}"
#define SEQ(...) "{\"type\":\"Sequence\",\"pretokenizers\":[" __VA_ARGS__ "]}"
#define DIGITS "{\"type\":\"Digits\",\"individual_digits\":true}"
#define ADDED(id, content, special) \
    "{\"id\":" #id ",\"content\":\"" content "\",\"normalized\":false,\"special\":" #special "}"

// JSON spellings of the two regexes.
#define QWEN2_HF "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"
#define LLAMA3_CPP "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

typedef struct {
    const char *pre, *normalizer, *post, *added, *merges, *model_type;
} Tiny;

// A tokenizer.json with the vocabulary a b ab Ġ Ġa (ids 0..4) and the parts
// of t (NULL: a default).
static char *tiny_json(const Tiny *t) {
    Buf b = {0};
    buf_printf(&b,
               "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":%s,\"post_processor\":%s,"
               "\"model\":{\"type\":\"%s\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\\u0120\":3,\"\\u0120a\":4},"
               "\"merges\":%s}}",
               t->added ? t->added : "", t->normalizer ? t->normalizer : "null", t->pre ? t->pre : BL("true"),
               t->post ? t->post : "null", t->model_type ? t->model_type : "BPE",
               t->merges ? t->merges : "[\"a b\",\"\\u0120 a\"]");
    return b.s;
}

static int parse_tiny(HfVocab *v, const Tiny *t, const char *cfg, const char *config, const char *jinja,
                      int64_t n_vocab, char *err) {
    char *json = tiny_json(t);
    HfTokenizerTexts texts = {json, strlen(json), cfg, cfg ? strlen(cfg) : 0, config, config ? strlen(config) : 0,
                              jinja, jinja ? strlen(jinja) : 0};
    int rc = hf_vocab_parse(v, &texts, n_vocab, err);
    free(json);
    return rc;
}

static void check_pre(const char *pre_json, const char *want) {
    char err[ERR_LEN] = "";
    HfVocab v;
    Tiny t = {.pre = pre_json};
    int rc = parse_tiny(&v, &t, NULL, NULL, NULL, 5, err);
    CHECK(rc == 0 && !strcmp(v.pre, want), "pre %s: want %s: %s", pre_json, want, rc ? err : v.pre);
    hf_vocab_free(&v);
}

static void test_layouts(void) {
    check_pre(BL("true"), "gpt-2");
    check_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", "gpt-2");  // use_regex defaults to true
    check_pre(SEQ(DIGITS "," BL("true")), "smollm");
    check_pre(SEQ(SPLIT(QWEN2_HF) "," BL("false")), "qwen2");
    check_pre(SEQ(SPLIT(LLAMA3_CPP) "," BL("false")), "llama-bpe");
    // The Split tok/gguf_vocab.c appends for bytes without a token: here all
    // but a, b and Ġ (U+0120, the space) have none; \x{21} is '!'.
    check_pre(SEQ(BL("true") "," SPLIT("[\\\\x{21}\\\\x{63}]")), "gpt-2");
}

static void test_tokens_and_specials(void) {
    char err[ERR_LEN] = "";
    HfVocab v;
    Tiny t = {.added = ADDED(5, "<|s|>", true) "," ADDED(6, "<|look|>", false) "," ADDED(7, "<u>", false) ","
                       ADDED(8, "\\u2581x\\u2581", false) "," ADDED(9, "<unused3>", false) "," ADDED(2, "ab", false),
              .merges = "[[\"a\",\"b\"],[\"\\u0120\",\"a\"],[\"a b\",\"c\"]]"};
    const char *cfg = "{\"bos_token\":{\"content\":\"<|s|>\",\"lstrip\":false},\"eos_token\":\"<u>\",\"pad_token\":\"a\","
                      "\"add_eos_token\":true,\"chat_template\":\"{{ x }}\"}";
    const char *config = "{\"pad_token_id\":3,\"bos_token_id\":1,\"unk_token_id\":[1,2]}";
    int rc = parse_tiny(&v, &t, cfg, config, "ignored: tokenizer_config.json has one", 12, err);
    CHECK(rc == 0, "tiny: %s", err);
    if (rc == 0) {
        static const int32_t want_types[12] = {1, 1, 4, 1, 1, 3, 3, 4, 4, 3, 5, 5};
        static const char *const want_tokens[12] = {"a", "b", "ab", "\xC4\xA0", ("\xC4\xA0" "a"), "<|s|>", "<|look|>",
                                                    "<u>", " x ", "<unused3>", "[PAD10]", "[PAD11]"};
        for (int i = 0; i < 12; i++)
            CHECK(v.token_types[i] == want_types[i] && !strcmp(v.tokens[i], want_tokens[i]) &&
                  v.token_lens[i] == strlen(want_tokens[i]), "tiny token %d: '%s' type %d", i, v.tokens[i],
                  v.token_types[i]);
        CHECK(v.n_merges == 3 && !strcmp(v.merges[0], "a b") && !strcmp(v.merges[1], "\xC4\xA0 a") &&
              !strcmp(v.merges[2], "a\xC4\xA0" "b c"), "pair merges, spaces as U+0120: '%s'", v.merges[2]);
        // bos by {"content"}; eos by name; "a" is no added token, so pad
        // comes from config.json; config.json's bos does not override; a list
        // is no unk id.
        CHECK(v.bos_id == 5 && v.eos_id == 7 && v.pad_id == 3 && v.unk_id == -1, "ids bos %d eos %d pad %d unk %d",
              v.bos_id, v.eos_id, v.pad_id, v.unk_id);
        CHECK(v.add_bos == -1 && v.add_eos == 1 && v.chat_template && !strcmp(v.chat_template, "{{ x }}"),
              "flags and template");
    }
    hf_vocab_free(&v);

    // TemplateProcessing's leading BOS sets add_bos, tokenizer_config.json's
    // add_bos_token overrides it; chat_template.jinja when the config has none.
    const char *post = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|s|>\",\"type_id\":0}},"
                       "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{}}";
    Tiny tp = {.added = ADDED(5, "<|s|>", true), .post = post};
    rc = parse_tiny(&v, &tp, "{\"bos_token\":\"<|s|>\"}", NULL, "{{ jinja }}", 6, err);
    CHECK(rc == 0 && v.add_bos == 1 && v.bos_id == 5 && v.chat_template && !strcmp(v.chat_template, "{{ jinja }}"),
          "TemplateProcessing add_bos, chat_template.jinja: %s", err);
    hf_vocab_free(&v);
    rc = parse_tiny(&v, &tp, "{\"bos_token\":\"<|s|>\",\"add_bos_token\":false}", NULL, NULL, 6, err);
    CHECK(rc == 0 && v.add_bos == 0 && !v.chat_template, "add_bos_token overrides: %s", err);
    hf_vocab_free(&v);
    rc = parse_tiny(&v, &tp, NULL, NULL, "{{ no config, no template }}", 6, err);
    CHECK(rc == 0 && v.add_bos == 1 && v.bos_id == -1 && !v.chat_template,
          "without tokenizer_config.json: add_bos from the template, no ids by name, no template: %s", err);
    hf_vocab_free(&v);
}

#define REFUSED(t, cfg, config, n_vocab, needle)                                                     \
    do {                                                                                              \
        HfVocab v_;                                                                                   \
        err[0] = 0;                                                                                   \
        int rc_ = parse_tiny(&v_, t, cfg, config, NULL, n_vocab, err);                                \
        CHECK(rc_ == -1 && strstr(err, needle) && v_.tokens == NULL, "want an error with '%s', got '%s'", \
              needle, err);                                                                           \
        hf_vocab_free(&v_);                                                                           \
    } while (0)

static void test_errors(void) {
    char err[ERR_LEN] = "";
    Tiny meta = {.pre = "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\"}"};
    REFUSED(&meta, NULL, NULL, 5, "pre_tokenizer Metaspace is not one llama.cpp knows by name");
    Tiny other_re = {.pre = SEQ(SPLIT("\\\\p{L}+") "," BL("false"))};
    REFUSED(&other_re, NULL, NULL, 5, "Sequence[Split(regex '\\p{L}+', Isolated), ByteLevel(add_prefix_space 0, use_regex 0)]");
    Tiny prefix = {.pre = "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}"};
    REFUSED(&prefix, NULL, NULL, 5, "ByteLevel(add_prefix_space 1, use_regex 1) is not one llama.cpp knows");
    Tiny double_split = {.pre = SEQ(SPLIT(QWEN2_HF) "," BL("true"))};
    REFUSED(&double_split, NULL, NULL, 5, "not one llama.cpp knows");
    Tiny present = {.pre = SEQ(BL("true") "," SPLIT("[\\\\x{61}]"))};  // 'a' has a token: not a missing-bytes split
    REFUSED(&present, NULL, NULL, 5, "not one llama.cpp knows");
    Tiny none = {.pre = "null"};
    REFUSED(&none, NULL, NULL, 5, "pre_tokenizer none is not one");

    Tiny plain = {0};
    REFUSED(&plain, NULL, NULL, 4, "token '\xC4\xA0" "a' has id 4, not below n_vocab 4");
    Tiny added = {.added = ADDED(9, "<x>", true)};
    REFUSED(&added, NULL, NULL, 9, "added token '<x>' has id 9, not below n_vocab 9");
    REFUSED(&plain, NULL, NULL, 0, "n_vocab 0 is out of range");

    HfVocab v;
    HfTokenizerTexts bad = {"{\"model\": {\"vocab\": ", 20, NULL, 0, NULL, 0, NULL, 0};
    CHECK(hf_vocab_parse(&v, &bad, 5, err) == -1 && strstr(err, "tokenizer.json: not valid JSON"), "%s", err);
    HfTokenizerTexts arr = {"[1, 2]", 6, NULL, 0, NULL, 0, NULL, 0};
    CHECK(hf_vocab_parse(&v, &arr, 5, err) == -1 && strstr(err, "tokenizer.json: not a JSON object"), "%s", err);
    REFUSED(&plain, "{\"bos_token\": ", NULL, 5, "tokenizer_config.json: not valid JSON");
    REFUSED(&plain, NULL, "{\"bos_token_id\": 1,}", 5, "config.json: not valid JSON");

    Tiny wordpiece = {.model_type = "WordPiece"};
    REFUSED(&wordpiece, NULL, NULL, 5, "model.type 'WordPiece' is not supported");
    Tiny lower = {.normalizer = "{\"type\":\"Lowercase\"}"};
    REFUSED(&lower, NULL, NULL, 5, "normalizer Lowercase is not supported");
    Tiny nfc = {.normalizer = "{\"type\":\"NFC\"}"};
    CHECK(parse_tiny(&v, &nfc, NULL, NULL, NULL, 5, err) == 0, "NFC is accepted: %s", err);
    hf_vocab_free(&v);
    Tiny no_merges = {.merges = "[]"};
    REFUSED(&no_merges, NULL, NULL, 5, "model.merges is missing or empty");
    Tiny one_token = {.merges = "[\"ab\"]"};
    REFUSED(&one_token, NULL, NULL, 5, "model.merges[0] 'ab' is not two tokens");
    Tiny triple = {.merges = "[[\"a\",\"b\",\"c\"]]"};
    REFUSED(&triple, NULL, NULL, 5, "model.merges[0] is neither");
    Tiny clash = {.added = ADDED(1, "<x>", true)};
    REFUSED(&clash, NULL, NULL, 5, "added token '<x>' has id 1, which model.vocab gives 'b'");
    Tiny no_id = {.added = "{\"content\":\"<x>\",\"special\":true}"};
    REFUSED(&no_id, NULL, NULL, 6, "added_tokens[0] needs an id");
    REFUSED(&plain, "{\"chat_template\":[{\"name\":\"default\",\"template\":\"x\"}]}", NULL, 5,
            "chat_template is not a string");
    REFUSED(&plain, NULL, "{\"eos_token_id\":-1}", 5, "config.json: eos_token_id -1 is not a token id");
    REFUSED(&plain, NULL, "{\"text_config\":{\"bos_token_id\":7}}", 5, "config.json: bos_token_id 7 is not a token id");
    Tiny eos_tail = {.added = ADDED(5, "<e>", true),
                     .post = "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}},"
                             "{\"SpecialToken\":{\"id\":\"<e>\"}}]}"};
    REFUSED(&eos_tail, "{\"eos_token\":\"b\"}", NULL, 6, "ends with '<e>', which is not eos_token");

    // A directory without a tokenizer.json, and a token that is no UTF-8 (the
    // GGUF writer refuses it).
    GgufWriter *w = gguf_writer_new();
    CHECK(gguf_write_tokenizer(w, tmpdir, 5, err) == -1 && strstr(err, "no tokenizer.json"), "%s", err);
    const char *latin1 = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xE9\":0},\"merges\":[\"a b\"]},"
                         "\"pre_tokenizer\":" BL("true") "}";
    write_text(tmpdir, "tokenizer.json", latin1, strlen(latin1));
    CHECK(gguf_write_tokenizer(w, tmpdir, 5, err) == -1 && strstr(err, tmpdir) &&
          strstr(err, "tokenizer.ggml.tokens': element 0 is not UTF-8"), "%s", err);
    remove_file(tmpdir, "tokenizer.json");
    gguf_writer_free(w);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "FAIL test_vocab_export: mkdtemp\n");
        return 1;
    }
    test_layouts();
    test_tokens_and_specials();
    test_errors();
    test_smollm2();
    test_qwen3();
    rmdir(tmpdir);
    return test_finish("test_vocab_export");
}
