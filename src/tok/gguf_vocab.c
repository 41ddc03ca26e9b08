// gguf_vocab.c — a GGUF vocabulary as a tokenizer.json; see gguf_vocab.h.
//
// What llama.cpp does with a "gpt2" vocabulary (src/llama-vocab.cpp,
// unicode.cpp) and how each step is written for Hugging Face tokenizers:
//  - Control, unknown and user-defined tokens written in the text are cut
//    out first and become their ids (tokenizer_st_partition, with
//    parse_special). They are added tokens here, special except the
//    user-defined ones, as transformers' GGUF import marks them. Unknown
//    tokens are added too, since llama.cpp matches them like control tokens.
//  - The rest is split by the regexes llama.cpp hard-codes for the `pre`
//    name, applied one after another to each piece (unicode_regex_split).
//    Its Qwen2 and Llama-3 regexes spell the contractions as '[sS]... where
//    the original tokenizer.json has (?i:'s...); we write llama.cpp's form,
//    which differs from the original on letters that case-fold to s, t, ...
//    outside ASCII (e.g. "'ſ"). Its first smollm regex, \p{N}, is exactly HF's
//    Digits with individual_digits (char::is_numeric is Unicode N).
//  - No normalizer: llama.cpp normalises nothing for BPE.
//  - Each piece is byte-mapped (GPT-2 table) and merged lowest rank first,
//    leftmost on ties, as in HF. A pair listed twice keeps its first rank
//    (llama.cpp's bpe_ranks.emplace); HF would keep the last, so later
//    repeats are left out. The Llama-3 names set ignore_merges (a piece that
//    is itself a token is taken whole), as HF's Llama-3 tokenizer.json does.
//  - A byte without a token (SmolLM2 has none for six control bytes and the
//    bytes that never occur in UTF-8) is dropped: llama.cpp finds no token
//    for its symbol and none for its raw byte, and the symbol never merges.
//    HF's BPE drops it too when model.unk_token is null (so unk_token stays
//    null whatever the file's unknown_token_id, which tokenizer_config.json
//    still names), but would merge across it; a Split after ByteLevel makes
//    each such byte a piece of its own.
//  - BOS is added only when add_bos_token says so (the post_processor).
// Known differences, none of which touch ordinary text:
//  - llama.cpp's character classes are an older Unicode table than HF's 16.0
//    (letters and numbers new in 16.0, e.g. U+10D40, are neither to it).
//  - With ignore_merges, llama.cpp looks a piece up whole before any byte is
//    split off; they differ for a token holding a byte that has no token of
//    its own (none in real vocabularies).
//  - Overlapping special tokens: llama.cpp cuts out the longest token first
//    across the whole text, HF the leftmost-longest.
//  - llama.cpp promotes tokens by their text (e.g. "<|im_end|>", "<|eot_id|>")
//    to control even when the file says normal; a file that needs this is
//    mislabelled and is taken as it says here.
#include "tok/gguf_vocab.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/utf8.h"
#include "base/util.h"

// llama.cpp's Qwen2 and Llama-3 regexes, as it applies them (see gguf_vocab.h).
const char GGUF_QWEN2_REGEX[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char GGUF_LLAMA3_REGEX[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// How a pre-tokenizer name splits text. regex NULL: HF ByteLevel's own
// regex, which is llama.cpp's GPT-2 regex (its custom GPT-2 splitter also
// covers the final `|\s+` that its pattern string leaves out). add_bos:
// llama.cpp's default when the file has no add_bos_token.
typedef struct {
    const char *names;  // the llama.cpp names, separated by spaces
    int digits;         // every \p{N} character is a piece of its own first
    const char *regex;
    int ignore_merges, add_bos;
} PreTokenizer;

static const PreTokenizer PRE_TOKENIZERS[] = {
    {"smollm starcoder refact command-r codeshell exaone minerva-7b mellum2", 1, NULL, 0, 0},
    {"qwen2 deepseek-r1-qwen kormo f2llmv2 megrez", 0, GGUF_QWEN2_REGEX, 0, 0},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano", 0, GGUF_LLAMA3_REGEX, 1, 1},
    {"gpt-2 phi-2 gigachat a.x-4.0 mellum exaone4 mpt olmo jais trillion granite-docling", 0, NULL, 0, 0},
};
#define N_PRE_TOKENIZERS (sizeof PRE_TOKENIZERS / sizeof PRE_TOKENIZERS[0])

static const PreTokenizer *find_pre(const char *pre) {
    size_t n = strlen(pre);
    for (size_t i = 0; i < N_PRE_TOKENIZERS; i++) {
        for (const char *p = PRE_TOKENIZERS[i].names; *p;) {
            size_t k = strcspn(p, " ");
            if (k == n && !memcmp(p, pre, n)) return &PRE_TOKENIZERS[i];
            p += k + (p[k] == ' ');
        }
    }
    return NULL;
}

// ---------------------------------------------------------------------------
// Token strings -> ids (open addressing; the vocab is fixed once built)

typedef struct {
    const GgufVocab *v;
    int32_t *slot;  // id, or -1 when empty
    size_t mask;
} TokenMap;

static size_t tok_len(const GgufVocab *v, int id) { return v->token_lens[id]; }

// The slot holding s, or the empty slot where it would go.
static size_t map_slot(const TokenMap *m, const char *s, size_t n) {
    size_t i = fnv1a64(s, n) & m->mask;
    while (m->slot[i] >= 0) {
        int id = m->slot[i];
        if (tok_len(m->v, id) == n && !memcmp(m->v->tokens[id], s, n)) break;
        i = (i + 1) & m->mask;
    }
    return i;
}

static int map_find(const TokenMap *m, const char *s, size_t n) { return m->slot[map_slot(m, s, n)]; }

// For messages: at most 48 bytes of a string, control bytes and quotes escaped.
static const char *shown(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        if (i == 48) { k += (size_t)snprintf(buf + k, cap - k, "..."); break; }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F || c == '\'') k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

static int token_type(const GgufVocab *v, int id) { return v->token_types ? v->token_types[id] : GGUF_TOKEN_NORMAL; }

// Checks everything tokenizer_json_from_gguf needs and builds the token map.
static int check_vocab(const GgufVocab *v, TokenMap *m, const PreTokenizer **pre, char *err) {
    char b1[128];
    if (!v->model) return set_err(err, "tokenizer.ggml.model: missing");
    if (strcmp(v->model, "gpt2"))
        return set_err(err, "tokenizer.ggml.model '%s' is not supported (only 'gpt2', byte-level BPE)",
                       shown(v->model, strlen(v->model), b1, sizeof b1));
    if (!v->pre) return set_err(err, "tokenizer.ggml.pre: missing (it names the pre-tokenizer llama.cpp applies)");
    if (!(*pre = find_pre(v->pre))) {
        const char *hint = !strcmp(v->pre, "gpt2") ? " (llama.cpp's name for GPT-2's is 'gpt-2')" : "";
        return set_err(err, "tokenizer.ggml.pre '%s' is not supported%s; supported: smollm, qwen2, llama-bpe, gpt-2 "
                       "and the names llama.cpp treats like them (see gguf_vocab.h)",
                       shown(v->pre, strlen(v->pre), b1, sizeof b1), hint);
    }
    if (v->n_tokens <= 0 || !v->tokens || !v->token_lens) return set_err(err, "tokenizer.ggml.tokens: missing or empty");
    if (v->token_types && v->n_token_types != v->n_tokens)
        return set_err(err, "tokenizer.ggml.token_type has %d entries but tokenizer.ggml.tokens has %d",
                       v->n_token_types, v->n_tokens);
    if (v->n_merges < 0 || (v->n_merges > 0 && (!v->merges || !v->merge_lens)))
        return set_err(err, "tokenizer.ggml.merges: missing");
    const struct { const char *key; int id; } ids[] = {
        {"bos_token_id", v->bos_id}, {"eos_token_id", v->eos_id}, {"unknown_token_id", v->unk_id}, {"padding_token_id", v->pad_id},
    };
    for (int i = 0; i < 4; i++)
        if (ids[i].id < -1 || ids[i].id >= v->n_tokens)
            return set_err(err, "tokenizer.ggml.%s %d is not a token id (the vocabulary has %d)", ids[i].key, ids[i].id,
                           v->n_tokens);

    size_t size = 16;
    while (size < 2 * (size_t)v->n_tokens) size *= 2;
    m->v = v;
    m->mask = size - 1;
    m->slot = xmalloc(size * sizeof *m->slot);
    for (size_t i = 0; i < size; i++) m->slot[i] = -1;
    for (int id = 0; id < v->n_tokens; id++) {
        const char *s = v->tokens[id], *why;
        size_t n = tok_len(v, id);
        int type = token_type(v, id);
        if (type < 0 || type > GGUF_TOKEN_BYTE)
            return set_err(err, "tokenizer.ggml.token_type[%d]: %d is not a llama.cpp token type (0-6)", id, type);
        if (!s || n == 0) return set_err(err, "tokenizer.ggml.tokens[%d]: empty token", id);
        if (memchr(s, 0, n)) return set_err(err, "tokenizer.ggml.tokens[%d]: contains a NUL byte", id);
        size_t bad = utf8_check((const uint8_t *)s, n, &why);
        if (bad != n) return set_err(err, "tokenizer.ggml.tokens[%d]: not UTF-8 at byte %zu (%s)", id, bad, why);
        size_t at = map_slot(m, s, n);
        if (m->slot[at] >= 0)
            return set_err(err, "tokenizer.ggml.tokens: '%s' is both id %d and id %d", shown(s, n, b1, sizeof b1),
                           m->slot[at], id);
        m->slot[at] = id;
    }
    return 0;
}

// Splits merge i as llama.cpp does (at the first space after the first
// byte) and checks that both halves and their concatenation are tokens.
static int merge_parts(const GgufVocab *v, const TokenMap *m, int i, int32_t *left, int32_t *right, char *err) {
    char b1[128], b2[128];
    const char *s = v->merges[i];
    size_t n = v->merge_lens[i];
    const char *sp = s && n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
    if (!sp || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return set_err(err, "tokenizer.ggml.merges[%d] '%s': expected two tokens separated by one space", i,
                       shown(s ? s : "", s ? n : 0, b1, sizeof b1));
    size_t na = (size_t)(sp - s), nb = n - na - 1;
    *left = map_find(m, s, na);
    *right = map_find(m, sp + 1, nb);
    if (*left < 0 || *right < 0) {
        const char *bad = *left < 0 ? s : sp + 1;
        return set_err(err, "tokenizer.ggml.merges[%d] '%s': '%s' is not in the vocabulary", i, shown(s, n, b1, sizeof b1),
                       shown(bad, *left < 0 ? na : nb, b2, sizeof b2));
    }
    char *joined = xmalloc(n);
    memcpy(joined, s, na);
    memcpy(joined + na, sp + 1, nb);
    int merged = map_find(m, joined, na + nb);
    if (merged < 0) set_err(err, "tokenizer.ggml.merges[%d] '%s': the merged token '%s' is not in the vocabulary", i,
                            shown(s, n, b1, sizeof b1), shown(joined, na + nb, b2, sizeof b2));
    free(joined);
    return merged < 0 ? -1 : 0;
}

// ---------------------------------------------------------------------------
// JSON

// A cJSON string from bytes that need not end in NUL.
static cJSON *str_n(const char *s, size_t n) {
    char *z = xmalloc(n + 1);
    memcpy(z, s, n);
    z[n] = 0;
    cJSON *j = cJSON_CreateString(z);
    free(z);
    return j;
}

static cJSON *token_json(const GgufVocab *v, int id) { return str_n(v->tokens[id], tok_len(v, id)); }

static cJSON *byte_level(int add_prefix_space, int trim_offsets, int use_regex) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "ByteLevel");
    cJSON_AddBoolToObject(j, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(j, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(j, "use_regex", use_regex);
    return j;
}

static cJSON *split_json(const char *regex) {
    cJSON *j = cJSON_CreateObject(), *pat = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "Split");
    cJSON_AddStringToObject(pat, "Regex", regex);
    cJSON_AddItemToObject(j, "pattern", pat);
    cJSON_AddStringToObject(j, "behavior", "Isolated");
    cJSON_AddBoolToObject(j, "invert", 0);
    return j;
}

// `missing`: a regex class of the GPT-2 spellings of the bytes without a
// token, or NULL. Split off after the ByteLevel step, each such byte is a
// piece of its own, which BPE then drops: llama.cpp's symbol for it never
// merges, so its neighbours do not merge across it either.
static cJSON *pre_tokenizer_json(const PreTokenizer *p, const char *missing) {
    // After Digits the GPT-2 regex still has to split; after a Split it must not.
    cJSON *bl = p->regex ? byte_level(0, 0, 0) : byte_level(0, 1, 1);
    if (!p->digits && !p->regex && !missing) return bl;
    cJSON *seq = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON_AddItemToObject(seq, "pretokenizers", list);
    if (p->digits) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "type", "Digits");
        cJSON_AddBoolToObject(d, "individual_digits", 1);
        cJSON_AddItemToArray(list, d);
    }
    if (p->regex) cJSON_AddItemToArray(list, split_json(p->regex));
    cJSON_AddItemToArray(list, bl);
    if (missing) cJSON_AddItemToArray(list, split_json(missing));
    return seq;
}

void gguf_byte_chars(unsigned cp[256]) {
    unsigned next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp[b] = printable ? (unsigned)b : next++;
    }
}

// "[\x{104}\x{106}...]" for the bytes whose spelling is not a token; NULL if none.
static char *missing_bytes_class(const TokenMap *m) {
    unsigned cp[256];
    char buf[256 * 10 + 3];
    size_t k = 0;
    gguf_byte_chars(cp);
    buf[k++] = '[';
    for (int b = 0; b < 256; b++) {
        char s[4];
        size_t n = utf8_encode(cp[b], s);
        if (map_find(m, s, n) < 0) k += (size_t)snprintf(buf + k, sizeof buf - k, "\\x{%X}", cp[b]);
    }
    if (k == 1) return NULL;
    buf[k++] = ']';
    buf[k] = 0;
    return xstrdup(buf);
}

// "<bos> $A" and "<bos> $A <bos> $B", as HF writes a Llama-3 tokenizer.json.
static cJSON *bos_template(const GgufVocab *v) {
    cJSON *tp = cJSON_CreateObject();
    cJSON_AddStringToObject(tp, "type", "TemplateProcessing");
    const char *keys[] = {"single", "pair"};
    for (int k = 0; k < 2; k++) {
        cJSON *list = cJSON_CreateArray();
        for (int part = 0; part <= k; part++) {
            cJSON *special = cJSON_CreateObject(), *sp = cJSON_CreateObject();
            cJSON_AddItemToObject(sp, "id", token_json(v, v->bos_id));
            cJSON_AddNumberToObject(sp, "type_id", part);
            cJSON_AddItemToObject(special, "SpecialToken", sp);
            cJSON_AddItemToArray(list, special);
            cJSON *seq = cJSON_CreateObject(), *sq = cJSON_CreateObject();
            cJSON_AddStringToObject(sq, "id", part ? "B" : "A");
            cJSON_AddNumberToObject(sq, "type_id", part);
            cJSON_AddItemToObject(seq, "Sequence", sq);
            cJSON_AddItemToArray(list, seq);
        }
        cJSON_AddItemToObject(tp, keys[k], list);
    }
    cJSON *specials = cJSON_CreateObject(), *bos = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *toks = cJSON_CreateArray();
    cJSON_AddItemToObject(bos, "id", token_json(v, v->bos_id));
    cJSON_AddItemToArray(ids, cJSON_CreateNumber(v->bos_id));
    cJSON_AddItemToObject(bos, "ids", ids);
    cJSON_AddItemToArray(toks, token_json(v, v->bos_id));
    cJSON_AddItemToObject(bos, "tokens", toks);
    char *name = xmalloc(tok_len(v, v->bos_id) + 1);
    memcpy(name, v->tokens[v->bos_id], tok_len(v, v->bos_id));
    name[tok_len(v, v->bos_id)] = 0;
    cJSON_AddItemToObject(specials, name, bos);
    free(name);
    cJSON_AddItemToObject(tp, "special_tokens", specials);
    return tp;
}

static int is_added(const GgufVocab *v, int id) {
    int type = token_type(v, id);
    return type == GGUF_TOKEN_CONTROL || type == GGUF_TOKEN_UNKNOWN || type == GGUF_TOKEN_USER_DEFINED;
}

static cJSON *added_token_json(const GgufVocab *v, int id, int with_id) {
    cJSON *a = cJSON_CreateObject();
    if (with_id) cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddItemToObject(a, "content", token_json(v, id));
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "special", token_type(v, id) != GGUF_TOKEN_USER_DEFINED);
    return a;
}

static char *print_json(cJSON *root, size_t *len) {
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!out) die("out of memory writing a tokenizer.json");
    *len = strlen(out);
    return out;
}

static int resolve_add_bos(const GgufVocab *v, const PreTokenizer *p, char *err) {
    int add_bos = v->add_bos < 0 ? p->add_bos : v->add_bos != 0;
    if (add_bos && v->bos_id < 0) return set_err(err, "tokenizer.ggml.add_bos_token is set but there is no bos_token_id");
    return add_bos;
}

char *tokenizer_json_from_gguf(const GgufVocab *v, size_t *len, char *err) {
    TokenMap m = {0};
    const PreTokenizer *pre = NULL;
    int add_bos;
    *len = 0;
    if (check_vocab(v, &m, &pre, err) || (add_bos = resolve_add_bos(v, pre, err)) < 0) { free(m.slot); return NULL; }

    // Merges first: they are the last input check.
    cJSON *merges = cJSON_CreateArray();
    size_t pairs_size = 16;
    while (pairs_size < 2 * (size_t)v->n_merges) pairs_size *= 2;
    uint64_t *pairs = xmalloc(pairs_size * sizeof *pairs);  // (left, right) seen so far; ~0: empty
    for (size_t i = 0; i < pairs_size; i++) pairs[i] = ~0ull;
    for (int i = 0; i < v->n_merges; i++) {
        int32_t a = -1, b = -1;
        if (merge_parts(v, &m, i, &a, &b, err)) { cJSON_Delete(merges); free(pairs); free(m.slot); return NULL; }
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        size_t at = (size_t)(fnv1a64(&key, sizeof key) & (pairs_size - 1));
        while (pairs[at] != ~0ull && pairs[at] != key) at = (at + 1) & (pairs_size - 1);
        if (pairs[at] == key) continue;  // a repeat: llama.cpp keeps the first rank
        pairs[at] = key;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, token_json(v, a));
        cJSON_AddItemToArray(pair, token_json(v, b));
        cJSON_AddItemToArray(merges, pair);
    }
    free(pairs);
    char *missing = missing_bytes_class(&m);
    free(m.slot);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int id = 0; id < v->n_tokens; id++)
        if (is_added(v, id)) cJSON_AddItemToArray(added, added_token_json(v, id, 1));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_tokenizer_json(pre, missing));
    free(missing);
    cJSON_AddItemToObject(root, "post_processor", add_bos ? bos_template(v) : byte_level(0, 0, 0));
    cJSON_AddItemToObject(root, "decoder", byte_level(1, 1, 1));  // HF's defaults; decoding ignores them

    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");  // see the top of this file
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", pre->ignore_merges);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int id = 0; id < v->n_tokens; id++) {
        size_t n = tok_len(v, id);
        char *key = xmalloc(n + 1);
        memcpy(key, v->tokens[id], n);
        key[n] = 0;
        cJSON_AddNumberToObject(vocab, key, id);
        free(key);
    }
    cJSON_AddItemToObject(model, "merges", merges);
    return print_json(root, len);
}

char *tokenizer_config_from_gguf(const GgufVocab *v, const char *chat_template, int64_t model_max_length,
                                 size_t *len, char *err) {
    TokenMap m = {0};
    const PreTokenizer *pre = NULL;
    int add_bos;
    *len = 0;
    if (check_vocab(v, &m, &pre, err) || (add_bos = resolve_add_bos(v, pre, err)) < 0) { free(m.slot); return NULL; }
    free(m.slot);
    const char *why;
    size_t n = chat_template ? strlen(chat_template) : 0, bad = 0;
    if (chat_template && (bad = utf8_check((const uint8_t *)chat_template, n, &why)) != n) {
        set_err(err, "tokenizer.chat_template: not UTF-8 at byte %zu (%s)", bad, why);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "add_bos_token", add_bos);
    cJSON *decoder = cJSON_AddObjectToObject(root, "added_tokens_decoder");
    for (int id = 0; id < v->n_tokens; id++) {
        if (!is_added(v, id)) continue;
        char key[16];
        snprintf(key, sizeof key, "%d", id);
        cJSON_AddItemToObject(decoder, key, added_token_json(v, id, 0));
    }
    const struct { const char *name; int id; } specials[] = {
        {"bos_token", v->bos_id}, {"eos_token", v->eos_id}, {"unk_token", v->unk_id}, {"pad_token", v->pad_id},
    };
    for (int i = 0; i < 4; i++) {
        if (specials[i].id >= 0) cJSON_AddItemToObject(root, specials[i].name, token_json(v, specials[i].id));
        else cJSON_AddNullToObject(root, specials[i].name);
    }
    if (chat_template) cJSON_AddStringToObject(root, "chat_template", chat_template);
    cJSON_AddBoolToObject(root, "clean_up_tokenization_spaces", 0);
    if (model_max_length > 0) cJSON_AddNumberToObject(root, "model_max_length", (double)model_max_length);
    cJSON_AddStringToObject(root, "tokenizer_class", "PreTrainedTokenizerFast");
    return print_json(root, len);
}
