// gguf_vocab_export.c — see gguf_vocab_export.h.
//
// The JSON is untrusted: every member is type-checked before use, every id
// range-checked against n_vocab, and each failure is one message naming the
// file and the member. Token strings are borrowed from the cJSON trees while
// parsing and copied into the HfVocab at the end.
#include "tok/gguf_vocab_export.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "tok/gguf_vocab.h"

#define MAX_VOCAB (1 << 24)  // far above any real vocabulary; bounds the allocations

// How HF writes the contractions that llama.cpp's regexes spell '[sS]|...
static const char HF_CONTRACTIONS[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
static const char LLAMA_CONTRACTIONS[] = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

// --- JSON helpers ----------------------------------------------------------------

static cJSON *member(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const char *str_member(const cJSON *o, const char *key) {
    const cJSON *j = member(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

// A bool member: 0 / 1, `absent` when missing or null, -1 when another type.
static int bool_member(const cJSON *o, const char *key, int absent) {
    const cJSON *j = member(o, key);
    if (!j || cJSON_IsNull(j)) return absent;
    return cJSON_IsBool(j) ? cJSON_IsTrue(j) : -1;
}

// An integral JSON number (exact in a double).
static int as_int(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (d != floor(d) || fabs(d) > 9007199254740991.0) return -1;
    *out = (int64_t)d;
    return 0;
}

static cJSON *parse_json(const char *text, size_t len, const char *file, char *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        set_err(err, "%s: not valid JSON (at byte %zu)", file, end && end >= text ? (size_t)(end - text) : (size_t)0);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_err(err, "%s: not a JSON object", file);
        return NULL;
    }
    return root;
}

// --- tokens ----------------------------------------------------------------------

typedef struct {
    int64_t n_vocab;
    const char **tok;   // [n_vocab], borrowed; NULL: no token has that id
    uint8_t *added;     // [n_vocab]: 0 not added, 1 added, 2 added and special
} Ids;

static int vocab_ids(Ids *ids, const cJSON *vocab, char *err) {
    if (!cJSON_IsObject(vocab)) return set_err(err, "tokenizer.json: model.vocab is missing or not an object");
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (as_int(e, &id) || id < 0)
            return set_err(err, "tokenizer.json: model.vocab['%.60s'] is not a token id", e->string);
        if (id >= ids->n_vocab)
            return set_err(err, "tokenizer.json: token '%.60s' has id %lld, not below n_vocab %lld (the embedding's rows)",
                           e->string, (long long)id, (long long)ids->n_vocab);
        if (!e->string[0]) return set_err(err, "tokenizer.json: model.vocab has an empty token (id %lld)", (long long)id);
        if (ids->tok[id])
            return set_err(err, "tokenizer.json: id %lld is both '%.60s' and '%.60s' in model.vocab", (long long)id,
                           ids->tok[id], e->string);
        ids->tok[id] = e->string;
    }
    return 0;
}

// Added tokens take their id (a new one, or the one model.vocab gives the
// same string).
static int added_ids(Ids *ids, const cJSON *added, char *err) {
    if (!added || cJSON_IsNull(added)) return 0;
    if (!cJSON_IsArray(added)) return set_err(err, "tokenizer.json: added_tokens is not an array");
    int i = 0;
    for (const cJSON *a = added->child; a; a = a->next, i++) {
        int64_t id;
        const char *content = str_member(a, "content");
        int special = bool_member(a, "special", 0);
        if (as_int(member(a, "id"), &id) || id < 0 || !content || !content[0] || special < 0)
            return set_err(err, "tokenizer.json: added_tokens[%d] needs an id >= 0, a non-empty content and a bool "
                           "special", i);
        if (id >= ids->n_vocab)
            return set_err(err, "tokenizer.json: added token '%.60s' has id %lld, not below n_vocab %lld (the "
                           "embedding's rows)", content, (long long)id, (long long)ids->n_vocab);
        if (ids->tok[id] && strcmp(ids->tok[id], content))
            return set_err(err, "tokenizer.json: added token '%.60s' has id %lld, which model.vocab gives '%.60s'",
                           content, (long long)id, ids->tok[id]);
        ids->tok[id] = content;
        ids->added[id] = special ? 2 : 1;
    }
    return 0;
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int ends(const char *s, const char *p) {
    size_t n = strlen(s), k = strlen(p);
    return n >= k && !memcmp(s + n - k, p, k);
}

// The converter's does_token_look_special: added tokens that some models
// leave unmarked but that are control tokens all the same.
static int looks_special(const char *t) {
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(t, exact[i])) return 1;
    return (starts(t, "<|") && ends(t, "|>")) || (starts(t, "<\xEF\xBD\x9C") && ends(t, "\xEF\xBD\x9C>")) ||
           (starts(t, "<unused") && ends(t, ">"));
}

// A copy of t with every U+2581 (SentencePiece's space) written as a space,
// as the converter pre-normalises user-defined tokens.
static char *spaces_restored(const char *t, size_t *len) {
    Buf b = {0};
    buf_reserve(&b, strlen(t));
    for (const char *p = t; *p;) {
        if (starts(p, "\xE2\x96\x81")) { buf_put(&b, " ", 1); p += 3; }
        else buf_put(&b, p++, 1);
    }
    *len = b.len;
    return b.s;
}

static void fill_tokens(HfVocab *v, const Ids *ids) {
    v->n_tokens = (int)ids->n_vocab;
    v->tokens = xcalloc((size_t)ids->n_vocab, sizeof *v->tokens);
    v->token_lens = xmalloc((size_t)ids->n_vocab * sizeof *v->token_lens);
    v->token_types = xmalloc((size_t)ids->n_vocab * sizeof *v->token_types);
    for (int64_t id = 0; id < ids->n_vocab; id++) {
        const char *t = ids->tok[id];
        if (!t) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%lld]", (long long)id);
            v->tokens[id] = xstrdup(pad);
            v->token_lens[id] = strlen(pad);
            v->token_types[id] = GGUF_TOKEN_UNUSED;
        } else if (ids->added[id] && (ids->added[id] == 2 || looks_special(t))) {
            v->tokens[id] = xstrdup(t);
            v->token_lens[id] = strlen(t);
            v->token_types[id] = GGUF_TOKEN_CONTROL;
        } else if (ids->added[id]) {
            v->tokens[id] = spaces_restored(t, &v->token_lens[id]);
            v->token_types[id] = GGUF_TOKEN_USER_DEFINED;
        } else {
            v->tokens[id] = xstrdup(t);
            v->token_lens[id] = strlen(t);
            v->token_types[id] = GGUF_TOKEN_NORMAL;
        }
    }
}

// --- the pre-tokenizer -------------------------------------------------------------

static int is_type(const cJSON *j, const char *type) {
    const char *t = str_member(j, "type");
    return t && !strcmp(t, type);
}

// ByteLevel without a prefix space (HF's defaults: add_prefix_space and
// use_regex true), its regex on or off.
static int is_byte_level(const cJSON *j, int use_regex) {
    return is_type(j, "ByteLevel") && bool_member(j, "add_prefix_space", 1) == 0 &&
           bool_member(j, "use_regex", 1) == use_regex;
}

// The regex of an isolating Split; NULL for anything else.
static const char *split_regex(const cJSON *j) {
    if (!is_type(j, "Split")) return NULL;
    const char *behavior = str_member(j, "behavior");
    if (!behavior || strcmp(behavior, "Isolated") || bool_member(j, "invert", 0) != 0) return NULL;
    return str_member(member(j, "pattern"), "Regex");
}

// regex is `want` (llama.cpp's spelling) or HF's spelling of it.
static int same_regex(const char *regex, const char *want) {
    size_t h = strlen(HF_CONTRACTIONS), l = strlen(LLAMA_CONTRACTIONS);
    return !strcmp(regex, want) ||
           (starts(regex, HF_CONTRACTIONS) && starts(want, LLAMA_CONTRACTIONS) && !strcmp(regex + h, want + l));
}

// Which bytes have a token of their own (their GPT-2 spelling: one code
// point below U+0144, so one or two bytes of UTF-8).
static void bytes_present(const Ids *ids, const unsigned cp[256], uint8_t present[256]) {
    int byte_of[0x144];
    for (int c = 0; c < 0x144; c++) byte_of[c] = -1;
    for (int b = 0; b < 256; b++) byte_of[cp[b]] = b;
    memset(present, 0, 256);
    for (int64_t id = 0; id < ids->n_vocab; id++) {
        const unsigned char *t = (const unsigned char *)ids->tok[id];
        unsigned c = 0x144;
        if (t && t[0] && !t[1]) c = t[0];
        else if (t && (t[0] & 0xE0) == 0xC0 && (t[1] & 0xC0) == 0x80 && !t[2]) c = (t[0] & 0x1Fu) << 6 | (t[1] & 0x3Fu);
        if (c < 0x144 && byte_of[c] >= 0) present[byte_of[c]] = 1;
    }
}

// "[\x{104}\x{106}...]" naming only bytes without a token: the Split that
// tok/gguf_vocab.c appends so that HF, like llama.cpp, never merges across
// such a byte. llama.cpp drops those bytes anyway, so it needs no name.
static int is_missing_bytes_split(const cJSON *j, const Ids *ids) {
    const char *r = split_regex(j);
    size_t n = r ? strlen(r) : 0;
    if (n < 2 || r[0] != '[' || r[n - 1] != ']') return 0;
    unsigned cp[256];
    uint8_t present[256];
    gguf_byte_chars(cp);
    bytes_present(ids, cp, present);
    const char *p = r + 1;
    while (p < r + n - 1) {
        char *end;
        if (!starts(p, "\\x{") || !isxdigit((unsigned char)p[3])) return 0;
        unsigned long c = strtoul(p + 3, &end, 16);
        if (end == p + 3 || *end != '}') return 0;
        int b = 0;
        while (b < 256 && cp[b] != c) b++;
        if (b == 256 || present[b]) return 0;
        p = end + 1;
    }
    return p > r + 1;
}

// For the message when nothing matches: the steps' types, with flags and
// regexes.
static void describe(const cJSON *j, Buf *b) {
    const char *type = str_member(j, "type");
    if (!type) { buf_puts(b, cJSON_IsNull(j) || !j ? "none" : "(no type)"); return; }
    buf_puts(b, type);
    if (!strcmp(type, "Sequence")) {
        buf_puts(b, "[");
        const cJSON *list = member(j, "pretokenizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
            describe(e, b);
            if (e->next) buf_puts(b, ", ");
        }
        buf_puts(b, "]");
    } else if (!strcmp(type, "Split")) {
        const char *r = str_member(member(j, "pattern"), "Regex"), *s = str_member(member(j, "pattern"), "String");
        buf_printf(b, "(%s '%.80s%s', %s)", r ? "regex" : "string", r ? r : s ? s : "?",
                   strlen(r ? r : s ? s : "") > 80 ? "..." : "", str_member(j, "behavior") ? str_member(j, "behavior") : "?");
    } else if (!strcmp(type, "ByteLevel")) {
        buf_printf(b, "(add_prefix_space %d, use_regex %d)", bool_member(j, "add_prefix_space", 1),
                   bool_member(j, "use_regex", 1));
    } else if (!strcmp(type, "Digits")) {
        buf_printf(b, "(individual_digits %d)", bool_member(j, "individual_digits", 0));
    }
}

static const char *detect_pre(const cJSON *pt, const Ids *ids, char *err) {
    const cJSON *steps[4] = {0};
    int n = 0;
    if (is_type(pt, "Sequence")) {
        const cJSON *list = member(pt, "pretokenizers");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next)
            if (n++ < 4) steps[n - 1] = e;
    } else if (pt && !cJSON_IsNull(pt)) {
        steps[n++] = pt;
    }
    if (n >= 2 && n <= 4 && is_type(steps[n - 2], "ByteLevel") && is_missing_bytes_split(steps[n - 1], ids)) n--;
    const char *regex = n == 2 ? split_regex(steps[0]) : NULL;
    if (n == 1 && is_byte_level(steps[0], 1)) return "gpt-2";
    if (n == 2 && is_type(steps[0], "Digits") && bool_member(steps[0], "individual_digits", 0) == 1 &&
        is_byte_level(steps[1], 1))
        return "smollm";
    if (regex && is_byte_level(steps[1], 0) && same_regex(regex, GGUF_QWEN2_REGEX)) return "qwen2";
    if (regex && is_byte_level(steps[1], 0) && same_regex(regex, GGUF_LLAMA3_REGEX)) return "llama-bpe";
    Buf b = {0};
    describe(pt, &b);
    set_err(err, "tokenizer.json: pre_tokenizer %s is not one llama.cpp knows by name; supported: ByteLevel "
            "(gpt-2), Digits(individual_digits) + ByteLevel (smollm), Split(the Qwen2 regex) + ByteLevel (qwen2), "
            "Split(the Llama-3 regex) + ByteLevel (llama-bpe), each without add_prefix_space", b.s);
    free(b.s);
    return NULL;
}

// llama.cpp applies no normalizer to BPE vocabularies; NFC only changes text
// that is not in NFC already, so it is let through.
static int check_normalizer(const cJSON *nz, char *err) {
    if (!nz || cJSON_IsNull(nz) || is_type(nz, "NFC")) return 0;
    const char *type = str_member(nz, "type");
    return set_err(err, "tokenizer.json: normalizer %.60s is not supported: llama.cpp normalises nothing for "
                   "byte-level BPE (NFC alone is accepted)", type ? type : "(no type)");
}

// --- merges ------------------------------------------------------------------------

// One half of a ["left", "right"] pair, its spaces as U+0120 (gguf-py's rule).
static void put_merge_part(Buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == ' ') buf_put(b, "\xC4\xA0", 2);
        else buf_put(b, s, 1);
    }
}

static int fill_merges(HfVocab *v, const cJSON *merges, char *err) {
    int n = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (n == 0) return set_err(err, "tokenizer.json: model.merges is missing or empty (llama.cpp needs merges)");
    v->merges = xcalloc((size_t)n, sizeof *v->merges);
    v->merge_lens = xmalloc((size_t)n * sizeof *v->merge_lens);
    int i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        Buf b = {0};
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp || !sp[1] || strchr(sp + 1, ' '))
                return set_err(err, "tokenizer.json: model.merges[%d] '%.60s' is not two tokens separated by one space",
                               i, s);
            buf_puts(&b, s);
        } else if (cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next) &&
                   m->child->valuestring[0] && m->child->next->valuestring[0]) {
            put_merge_part(&b, m->child->valuestring);
            buf_put(&b, " ", 1);
            put_merge_part(&b, m->child->next->valuestring);
        } else {
            return set_err(err, "tokenizer.json: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        v->merges[i] = b.s;
        v->merge_lens[i] = b.len;
        v->n_merges = i + 1;
    }
    return 0;
}

// --- special tokens ------------------------------------------------------------------

// tokenizer_config.json's `<name>_token`: a string or {"content": "..."}.
static const char *special_name(const cJSON *cfg, const char *key) {
    const cJSON *j = member(cfg, key);
    return cJSON_IsString(j) ? j->valuestring : str_member(j, "content");
}

// The id of the first added token with that content, as gguf-py looks it up
// (only added tokens count); -1 if none.
static int added_id(const cJSON *added, const char *content) {
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a && content; a = a->next) {
        const char *c = str_member(a, "content");
        int64_t id;
        if (c && !strcmp(c, content) && as_int(member(a, "id"), &id) == 0) return (int)id;
    }
    return -1;
}

// gguf-py's reading of a TemplateProcessing post-processor: a leading
// special token means add_bos (when it is the BOS token), a trailing one
// add_eos. With a tokenizer_config.json naming another EOS, gguf-py renames
// tokens (eot / eom); that is refused here rather than half done.
static int template_flags(const cJSON *pp, int has_cfg, const char *bos, const char *eos, HfVocab *v, char *err) {
    const cJSON *list = member(pp, "processors");
    const cJSON *first_p = cJSON_IsArray(list) ? list->child : pp;
    for (const cJSON *p = first_p; p; p = cJSON_IsArray(list) ? p->next : NULL) {
        if (is_type(p, "RobertaProcessing"))
            return set_err(err, "tokenizer.json: a RobertaProcessing post_processor is not supported");
        const cJSON *single = member(p, "single");
        if (!is_type(p, "TemplateProcessing") || cJSON_GetArraySize(single) < 2) continue;
        const char *first = str_member(member(cJSON_GetArrayItem(single, 0), "SpecialToken"), "id");
        const char *last =
            str_member(member(cJSON_GetArrayItem(single, cJSON_GetArraySize(single) - 1), "SpecialToken"), "id");
        if (first) v->add_bos = !has_cfg || (bos && !strcmp(first, bos));
        if (last && has_cfg && (!eos || strcmp(last, eos)))
            return set_err(err, "tokenizer.json: the post_processor ends with '%.60s', which is not eos_token: not "
                           "supported", last);
        if (last) v->add_eos = 1;
    }
    return 0;
}

// bos, eos, unk, pad in HfVocab's order, with their GGUF and HF names.
static const char *const SPECIAL_HF[4] = {"bos", "eos", "unk", "pad"};

static int *special_slot(HfVocab *v, int i) {
    int *slots[4] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    return slots[i];
}

// tokenizer_config.json: special ids by name, add_* flags (they override the
// post-processor's), the chat template.
static int read_tokenizer_config(HfVocab *v, const cJSON *cfg, const cJSON *added, const char *jinja, size_t jinja_len,
                                 char *err) {
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "%s_token", SPECIAL_HF[i]);
        *special_slot(v, i) = added_id(added, special_name(cfg, key));
    }
    int add_bos = bool_member(cfg, "add_bos_token", -1), add_eos = bool_member(cfg, "add_eos_token", -1);
    if (add_bos >= 0) v->add_bos = add_bos;
    if (add_eos >= 0) v->add_eos = add_eos;
    const cJSON *ct = member(cfg, "chat_template");
    if (cJSON_IsString(ct)) {
        v->chat_template = xstrdup(ct->valuestring);
    } else if (ct && !cJSON_IsNull(ct)) {
        return set_err(err, "tokenizer_config.json: chat_template is not a string (named templates are not supported)");
    } else if (jinja) {
        v->chat_template = xmalloc(jinja_len + 1);
        memcpy(v->chat_template, jinja, jinja_len);
        v->chat_template[jinja_len] = 0;
    }
    return 0;
}

// config.json's <name>_token_id (or its text_config's) for the ids still unset.
static int read_model_config(HfVocab *v, const cJSON *config, char *err) {
    for (int i = 0; i < 4; i++) {
        char key[24];
        snprintf(key, sizeof key, "%s_token_id", SPECIAL_HF[i]);
        const cJSON *j = member(config, key);
        if (!j) j = member(member(config, "text_config"), key);
        int64_t id;
        if (*special_slot(v, i) >= 0 || as_int(j, &id)) continue;  // a list of EOS ids is not one id
        if (id < 0 || id >= v->n_tokens)
            return set_err(err, "config.json: %s %lld is not a token id below n_vocab %d", key, (long long)id, v->n_tokens);
        *special_slot(v, i) = (int)id;
    }
    return 0;
}

// --- the whole -----------------------------------------------------------------------

void hf_vocab_free(HfVocab *v) {
    for (int i = 0; v->tokens && i < v->n_tokens; i++) free(v->tokens[i]);
    for (int i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->token_lens);
    free(v->token_types);
    free(v->merges);
    free(v->merge_lens);
    free(v->chat_template);
    memset(v, 0, sizeof *v);
}

// Everything from tokenizer.json: tokens, pre, merges, post-processor flags.
static int from_tokenizer_json(HfVocab *v, const cJSON *root, const cJSON *cfg, int64_t n_vocab, char *err) {
    const cJSON *model = member(root, "model");
    const char *type = str_member(model, "type");
    if (!cJSON_IsObject(model)) return set_err(err, "tokenizer.json: model is missing or not an object");
    if (type && strcmp(type, "BPE"))
        return set_err(err, "tokenizer.json: model.type '%.60s' is not supported (only byte-level BPE)", type);
    Ids ids = {n_vocab, xcalloc((size_t)n_vocab, sizeof *ids.tok), xcalloc((size_t)n_vocab, 1)};
    int rc = vocab_ids(&ids, member(model, "vocab"), err) || added_ids(&ids, member(root, "added_tokens"), err) ||
             check_normalizer(member(root, "normalizer"), err) ||
             !(v->pre = detect_pre(member(root, "pre_tokenizer"), &ids, err)) ||
             fill_merges(v, member(model, "merges"), err);
    if (!rc) {
        fill_tokens(v, &ids);
        const cJSON *pp = member(root, "post_processor");
        rc = pp && template_flags(pp, cfg != NULL, special_name(cfg, "bos_token"), special_name(cfg, "eos_token"), v,
                                  err);
    }
    free(ids.tok);
    free(ids.added);
    return rc ? -1 : 0;
}

int hf_vocab_parse(HfVocab *v, const HfTokenizerTexts *t, int64_t n_vocab, char *err) {
    memset(v, 0, sizeof *v);
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = -1;
    v->add_bos = v->add_eos = -1;
    if (n_vocab < 1 || n_vocab > MAX_VOCAB)
        return set_err(err, "n_vocab %lld is out of range [1, %d]", (long long)n_vocab, MAX_VOCAB);
    if (!t->tokenizer_json) return set_err(err, "tokenizer.json: missing");
    cJSON *root = parse_json(t->tokenizer_json, t->tokenizer_json_len, "tokenizer.json", err), *cfg = NULL,
          *config = NULL;
    int rc = !root;
    if (!rc && t->tokenizer_config)
        rc = !(cfg = parse_json(t->tokenizer_config, t->tokenizer_config_len, "tokenizer_config.json", err));
    if (!rc && t->config) rc = !(config = parse_json(t->config, t->config_len, "config.json", err));
    if (!rc) rc = from_tokenizer_json(v, root, cfg, n_vocab, err);
    if (!rc && cfg)
        rc = read_tokenizer_config(v, cfg, member(root, "added_tokens"), t->chat_template_jinja,
                                   t->chat_template_jinja_len, err);
    if (!rc && config) rc = read_model_config(v, config, err);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    cJSON_Delete(config);
    if (rc) hf_vocab_free(v);
    return rc ? -1 : 0;
}

int gguf_add_hf_vocab(GgufWriter *w, const HfVocab *v, char *err) {
    if (gguf_add_str(w, "tokenizer.ggml.model", "gpt2", 4, err) ||
        gguf_add_str(w, "tokenizer.ggml.pre", v->pre, strlen(v->pre), err) ||
        gguf_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->token_lens,
                         (uint64_t)v->n_tokens, err) ||
        gguf_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->token_types, (uint64_t)v->n_tokens, err) ||
        gguf_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, v->merge_lens,
                         (uint64_t)v->n_merges, err))
        return -1;
    static const char *const keys[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    const int ids[4] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] >= 0 && gguf_add_u32(w, keys[i], (uint32_t)ids[i], err)) return -1;
    if ((v->add_bos >= 0 && gguf_add_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos, err)) ||
        (v->add_eos >= 0 && gguf_add_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos, err)))
        return -1;
    if (v->chat_template &&
        gguf_add_str(w, "tokenizer.chat_template", v->chat_template, strlen(v->chat_template), err))
        return -1;
    return 0;
}

// model_dir/name's text, or NULL (length 0) when there is no such file.
static int read_optional(const char *model_dir, const char *name, char **text, size_t *len, char *err) {
    char *path = path_join(model_dir, name);
    *text = NULL;
    *len = 0;
    int rc = file_exists(path) && !(*text = read_file(path, len, err));
    free(path);
    return rc ? -1 : 0;
}

int gguf_write_tokenizer(GgufWriter *w, const char *model_dir, int64_t n_vocab, char *err) {
    char *texts[4] = {0}, why[ERR_LEN] = "";
    size_t lens[4] = {0};
    static const char *const names[4] = {"tokenizer.json", "tokenizer_config.json", "config.json", "chat_template.jinja"};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) rc = read_optional(model_dir, names[i], &texts[i], &lens[i], err);
    if (!rc && !texts[0]) rc = set_err(err, "%s: no tokenizer.json", model_dir);
    if (!rc) {
        HfTokenizerTexts t = {texts[0], lens[0], texts[1], lens[1], texts[2], lens[2], texts[3], lens[3]};
        HfVocab v;
        rc = hf_vocab_parse(&v, &t, n_vocab, why) || gguf_add_hf_vocab(w, &v, why);
        if (rc) set_err(err, "%s: %s", model_dir, why);
        hf_vocab_free(&v);
    }
    for (int i = 0; i < 4; i++) free(texts[i]);
    return rc ? -1 : 0;
}
