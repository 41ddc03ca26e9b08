// tokenizer.c — byte-level BPE from a Hugging Face tokenizer.json; see tokenizer.h.
//
// Encoding follows HF `tokenizers` (TokenizerImpl::encode, add_special_tokens
// false) step by step, because every id must agree with what the model was
// trained on:
//   1. Added tokens written literally in the raw text are cut out first,
//      leftmost-longest (HF: aho-corasick LeftmostLongest) and become their ids.
//   2. Each remaining segment is NFC-normalised (utf8proc).
//   3. Added tokens marked normalized=true are cut out of the NFC text.
//   4. The pre-tokenizer regexes (PCRE2) split it into pieces. Behaviour
//      "Isolated": matches and the gaps between them are both pieces.
//   5. Each piece's bytes start as one symbol each (the GPT-2 byte-to-unicode
//      table only spells bytes as printable characters in the vocab; we work
//      on ids) and adjacent pairs are merged lowest rank first, leftmost on
//      ties, exactly as HF's Word::merge_all does.
// A cache maps piece bytes to ids, since natural text repeats its words.
//
// Supported tokenizer.json subset (anything else is a load error naming the
// field): model BPE without dropout, subword prefix or word suffix; normalizer
// NFC, a Sequence of NFC, or none; pre_tokenizer ByteLevel
// (add_prefix_space false, with or without its GPT-2 regex) alone or in a
// Sequence of Split stages (behaviour Isolated, invert false, pattern Regex
// or String) and Digits stages (individual or not), which after the
// ByteLevel see the GPT-2 spelling of the text, as in HF; decoder
// ByteLevel or none; truncation null; added tokens without single_word;
// byte_fallback only when every byte has a token (a byte without one becomes
// unk_token, or nothing when that is null, as in HF).
// The post_processor is ignored (it only adds tokens when
// add_special_tokens is true).
//
// Unicode versions (tables below): HF's regex engine (Oniguruma) knows Unicode
// 16.0 and PCRE2 10.42 knows 15.0, so \p{L} and \p{N} are given the letters
// and numbers added since; HF's NFC tables are Unicode 9.0
// (unicode-normalization-alignments) and utf8proc 2.8's are 15.0, so the
// characters NFC would act on that 9.0 did not have are left alone. With
// these, random strings over all of Unicode give HF's ids exactly.
//
// Known differences from HF, none of which touch Qwen's tokenizer.json:
//  - Decoding emits an added token's content verbatim (NFC-normalised if the
//    token is normalized=true) and returns raw bytes; HF passes added tokens
//    through the ByteLevel decoder too and converts the result with
//    from_utf8_lossy. They agree whenever the content is printable ASCII
//    without spaces (all of Qwen's added tokens).
//  - Regexes run on PCRE2, not Oniguruma. `\s` and `\S` are rewritten to
//    include U+0085 as Oniguruma does; `\w`, `\d`, `\b`, `\S` inside a
//    character class and \p{...} other than L and N keep PCRE2's meaning.
//  - HF looks for the next added token from where the previous match ended
//    before rstrip extended it; we continue after the stripped whitespace.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok/tokenizer.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/utf8.h"
#include "base/util.h"

#define MAX_ID (1 << 24)        // ids must be below this (arrays are indexed by id)
#define MAX_STAGES 8            // regex stages in the pre-tokenizer
#define CACHE_MAX_PIECE 256     // longer pieces are not cached (HF's BPE uses the same bound)
#define CACHE_MAX_ENTRIES (1u << 20)
#define NONE ((size_t)-1)

// The regex HF's ByteLevel pre-tokenizer applies when use_regex is true.
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// ---------------------------------------------------------------------------
// Small containers

typedef struct { int32_t *p; size_t n, cap; } IdVec;

static void ids_push(IdVec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->p = xrealloc(v->p, v->cap * sizeof(int32_t));
    }
    v->p[v->n++] = id;
}

// src->p[off, off + n) appended to v, by offset rather than by pointer:
// src->p is still NULL while src is empty, and NULL + 0 is already undefined.
static void ids_put(IdVec *v, const IdVec *src, size_t off, size_t n) {
    if (n == 0) return;
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n) cap *= 2;
        v->p = xrealloc(v->p, cap * sizeof(int32_t));
        v->cap = cap;
    }
    memcpy(v->p + v->n, src->p + off, n * sizeof(int32_t));
    v->n += n;
}


static size_t table_size_for(size_t n) {  // power of two, at most half full
    size_t s = 16;
    while (s < 2 * n) s *= 2;
    return s;
}

// ---------------------------------------------------------------------------
// UTF-8

// Rust's char::is_whitespace (Unicode White_Space), which HF uses for lstrip/rstrip.
static int is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// For messages: at most 48 bytes of a token, control bytes escaped.
static const char *shown(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        if (i == 48) { k += (size_t)snprintf(buf + k, cap - k, "..."); break; }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

// ---------------------------------------------------------------------------
// Unicode version alignment with HF tokenizers 0.2x. Derived from the Unicode
// Character Database 16.0 (DerivedAge and DerivedGeneralCategory, as tabled in
// rust-lang/regex's regex-syntax/src/unicode_tables) checked code point by code
// point against PCRE2 10.42's \p{L}/\p{N} and utf8proc 2.8's properties.
// Inclusive ranges.

// Letters (L) in Unicode 16.0 that PCRE2's Unicode 15.0 tables lack.
static const uint32_t EXTRA_L[][2] = {
    {0x1C89, 0x1C8A}, {0xA7CB, 0xA7CD}, {0xA7DA, 0xA7DC}, {0x105C0, 0x105F3}, {0x10D4A, 0x10D65},
    {0x10D6F, 0x10D85}, {0x10EC2, 0x10EC4}, {0x1123F, 0x11240}, {0x11380, 0x11389}, {0x1138B, 0x1138B},
    {0x1138E, 0x1138E}, {0x11390, 0x113B5}, {0x113B7, 0x113B7}, {0x113D1, 0x113D1}, {0x113D3, 0x113D3},
    {0x11BC0, 0x11BE0}, {0x11F02, 0x11F02}, {0x11F04, 0x11F10}, {0x11F12, 0x11F33}, {0x1342F, 0x1342F},
    {0x13441, 0x13446}, {0x13460, 0x143FA}, {0x16100, 0x1611D}, {0x16D40, 0x16D6C}, {0x18CFF, 0x18CFF},
    {0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E4D0, 0x1E4EB},
    {0x1E5D0, 0x1E5ED}, {0x1E5F0, 0x1E5F0}, {0x2B739, 0x2B739}, {0x2EBF0, 0x2EE5D}, {0x31350, 0x323AF},
};
// Numbers (N) in Unicode 16.0 that PCRE2's tables lack.
static const uint32_t EXTRA_N[][2] = {
    {0x10D40, 0x10D49}, {0x116D0, 0x116E3}, {0x11BF0, 0x11BF9}, {0x11F50, 0x11F59}, {0x16130, 0x16139},
    {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9}, {0x1D2C0, 0x1D2D3}, {0x1E4F0, 0x1E4F9}, {0x1E5F1, 0x1E5FA},
};
// Code points assigned after Unicode 9.0 that utf8proc's NFC would act on
// (non-zero combining class, canonical decomposition or composition). HF's
// NFC treats them as unassigned: combining class 0, never composed. Such a
// character therefore splits the text into independently normalised parts.
static const uint32_t NFC_INERT[][2] = {
    {0x7FD, 0x7FD}, {0x898, 0x89F}, {0x8CA, 0x8D3}, {0x9FE, 0x9FE}, {0xC3C, 0xC3C}, {0xD3B, 0xD3C},
    {0xEBA, 0xEBA}, {0x1715, 0x1715}, {0x1ABF, 0x1ACE}, {0x1DF6, 0x1DFA}, {0xA82C, 0xA82C},
    {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85},
    {0x11070, 0x11070}, {0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11930, 0x11930},
    {0x11935, 0x11935}, {0x11938, 0x11938}, {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0},
    {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45},
    {0x11D97, 0x11D97}, {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136},
    {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
};

static int in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n) {
    for (size_t i = 0; i < n; i++)
        if (c >= r[i][0] && c <= r[i][1]) return 1;
    return 0;
}

// "\x{1C89}-\x{1C8A}..." for use inside a PCRE2 character class.
static void put_ranges(Buf *b, const uint32_t (*r)[2], size_t n) {
    char tmp[48];
    for (size_t i = 0; i < n; i++) buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x{%X}-\\x{%X}", r[i][0], r[i][1]));
}

// ---------------------------------------------------------------------------
// The tokenizer

typedef struct { uint32_t hash; int32_t id; } VocabSlot;                  // id -1: empty
typedef struct { uint64_t key; uint32_t rank; int32_t id; } MergeSlot;   // key ~0: empty
typedef struct { uint64_t hash; uint32_t key_off, key_len, ids_off, ids_len; } CacheSlot;  // key_len 0: empty

typedef struct {
    uint32_t off, len;  // content in added_pool
    int32_t id;
    uint8_t lstrip, rstrip, normalized;
} Added;

// Added tokens of one kind (raw or normalized), bucketed by first byte so that
// the scan for them costs one table look-up per byte of text.
typedef struct {
    int32_t *idx;          // indices into t->added
    uint32_t start[257];   // bucket b is idx[start[b] .. start[b+1])
} AddedSet;

// A pre-tokenizer regex, compiled twice: [1] with the Unicode 16.0 additions
// to \p{L} and \p{N}, [0] without them, which is faster and gives the same
// pieces for text without such characters (almost all text).
// A stage after ByteLevel (`mapped`) sees the piece as HF does there: each
// byte spelled by the GPT-2 table.
typedef struct {
    pcre2_code *re[2];
    int mapped;
} Stage;

struct Tokenizer {
    uint64_t hash;
    int n_ids;                       // 1 + largest id
    size_t n_vocab;                  // entries in model.vocab
    uint8_t *kind;                   // per id: 0 unused, 1 vocab, 2 added
    uint32_t *tok_off, *tok_len;     // per id: token string (as in the JSON) in tok_pool
    uint32_t *dec_off, *dec_len;     // per id: decoded bytes in dec_pool
    Buf tok_pool, dec_pool;

    VocabSlot *vocab; size_t vocab_mask;   // token string -> id (model vocab only)
    MergeSlot *merges; size_t merge_mask;  // (left id, right id) -> rank, merged id
    uint32_t byte_char[256];               // the GPT-2 byte-to-unicode table
    int32_t byte_id[256];                  // id of each single byte's token, -1 when it has none
    int32_t unk_id;                        // stands for a byte without a token; -1: such bytes are dropped
    int fuse_unk, ignore_merges;

    Added *added; size_t n_added;
    Buf added_pool;
    AddedSet raw_set, norm_set;

    int nfc;
    Stage stages[MAX_STAGES]; int n_stages;
};

// What one tokenizer_encode call writes, so that the tokenizer stays as it
// was loaded and any number of threads may encode with it at once: each
// stage's match data and its text in the GPT-2 spelling (map; back[offset
// in map] = offset in the piece), the JIT stack, the NFC buffer, BPE's
// symbols and heap, and the piece cache.
typedef struct {
    pcre2_match_data *md[2];
    Buf map;
    size_t *back, back_cap;
} StageScratch;

struct HeapEntry { uint32_t rank; int32_t id; size_t pos; };

typedef struct {
    const Tokenizer *t;
    StageScratch st[MAX_STAGES];
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    Buf nfc_buf;
    int32_t *sym_id; size_t *sym_prev, *sym_next; size_t sym_cap;
    struct HeapEntry *heap; size_t heap_cap;
    CacheSlot *cache; size_t cache_mask, cache_count;
    Buf cache_keys; IdVec cache_ids;
} Enc;

// The GPT-2 byte-to-unicode table: printable Latin-1 bytes stand for
// themselves, the other 68 bytes get code points 256 and up, in byte order.
static void byte_to_unicode(uint32_t map[256]) {
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = printable ? b : 256 + n++;
    }
}

// --- vocab map: token string -> id

static const char *tok_str(const Tokenizer *t, int32_t id) { return t->tok_pool.s + t->tok_off[id]; }

static int32_t vocab_find(const Tokenizer *t, const char *s, size_t n) {
    if (!t->vocab) return -1;
    uint32_t h = (uint32_t)fnv1a64(s, n);
    for (size_t i = h & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        const VocabSlot *e = &t->vocab[i];
        if (e->id < 0) return -1;
        if (e->hash == h && t->tok_len[e->id] == n && !memcmp(tok_str(t, e->id), s, n)) return e->id;
    }
}

static void vocab_insert(Tokenizer *t, int32_t id) {
    uint32_t h = (uint32_t)fnv1a64(tok_str(t, id), t->tok_len[id]);
    size_t i = h & t->vocab_mask;
    while (t->vocab[i].id >= 0) i = (i + 1) & t->vocab_mask;
    t->vocab[i] = (VocabSlot){h, id};
}

// --- merge map: (a, b) -> rank, merged id

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static const MergeSlot *merge_find(const Tokenizer *t, int32_t a, int32_t b) {
    uint64_t k = pair_key(a, b);
    for (size_t i = mix64(k) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const MergeSlot *e = &t->merges[i];
        if (e->key == k) return e;
        if (e->key == ~0ull) return NULL;
    }
}

// A pair listed twice keeps its later rank, as HF's HashMap collect does.
static void merge_insert(Tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t k = pair_key(a, b);
    size_t i = mix64(k) & t->merge_mask;
    while (t->merges[i].key != ~0ull && t->merges[i].key != k) i = (i + 1) & t->merge_mask;
    t->merges[i] = (MergeSlot){k, rank, id};
}

// ---------------------------------------------------------------------------
// Loading

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    free(t->kind); free(t->tok_off); free(t->tok_len); free(t->dec_off); free(t->dec_len);
    free(t->tok_pool.s); free(t->dec_pool.s);
    free(t->vocab); free(t->merges);
    free(t->added); free(t->added_pool.s);
    free(t->raw_set.idx); free(t->norm_set.idx);
    for (int i = 0; i < t->n_stages; i++)
        for (int v = 0; v < 2; v++) pcre2_code_free(t->stages[i].re[v]);
    free(t);
}

// JSON helpers: each returns -1 with a message naming the field.
static const cJSON *get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }
static int is_null(const cJSON *j) { return !j || cJSON_IsNull(j); }

// Reads an optional boolean (absent or null -> def).
static int get_bool(const cJSON *obj, const char *key, int def, int *out, const char *name, const char *where, char *err) {
    const cJSON *j = get(obj, key);
    if (is_null(j)) { *out = def; return 0; }
    if (!cJSON_IsBool(j)) return set_err(err, "%s: %s.%s: expected true or false", name, where, key);
    *out = cJSON_IsTrue(j);
    return 0;
}

static int get_id(const cJSON *j, int32_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0 && v < MAX_ID) || v != (double)(int32_t)v) return -1;
    *out = (int32_t)v;
    return 0;
}

// Grows the per-id arrays to hold ids below n.
static void reserve_ids(Tokenizer *t, int n) {
    if (n <= t->n_ids) return;
    size_t old = (size_t)t->n_ids, m = (size_t)n;
    t->kind = xrealloc(t->kind, m);
    memset(t->kind + old, 0, m - old);
    t->tok_off = xrealloc(t->tok_off, m * 4); t->tok_len = xrealloc(t->tok_len, m * 4);
    t->dec_off = xrealloc(t->dec_off, m * 4); t->dec_len = xrealloc(t->dec_len, m * 4);
    t->n_ids = n;
}

static int load_vocab(Tokenizer *t, const cJSON *model, const char *name, char *err) {
    const cJSON *vocab = get(model, "vocab");
    if (!vocab) return set_err(err, "%s: model.vocab: missing", name);
    if (!cJSON_IsObject(vocab)) return set_err(err, "%s: model.vocab: expected an object of token: id", name);
    int max_id = -1;
    size_t count = 0;
    const cJSON *e;
    char b1[128], b2[128];
    cJSON_ArrayForEach(e, vocab) {
        int32_t id;
        if (!e->string) return set_err(err, "%s: model.vocab: entry without a key", name);
        if (get_id(e, &id))
            return set_err(err, "%s: model.vocab: token '%s': id must be an integer in [0, %d)", name,
                           shown(e->string, strlen(e->string), b1, sizeof b1), MAX_ID);
        if (id > max_id) max_id = id;
        count++;
    }
    if (count == 0) return set_err(err, "%s: model.vocab: empty", name);
    reserve_ids(t, max_id + 1);
    t->n_vocab = count;
    t->vocab_mask = table_size_for(count) - 1;
    t->vocab = xmalloc((t->vocab_mask + 1) * sizeof(VocabSlot));
    for (size_t i = 0; i <= t->vocab_mask; i++) t->vocab[i].id = -1;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = 0;
        get_id(e, &id);
        size_t n = strlen(e->string);
        if (n == 0) return set_err(err, "%s: model.vocab: empty token string (id %d)", name, id);
        if (t->kind[id])
            return set_err(err, "%s: model.vocab: id %d is given to two tokens ('%s' and '%s')", name, id,
                           shown(tok_str(t, id), t->tok_len[id], b1, sizeof b1), shown(e->string, n, b2, sizeof b2));
        if (vocab_find(t, e->string, n) >= 0)
            return set_err(err, "%s: model.vocab: token '%s' appears twice", name, shown(e->string, n, b1, sizeof b1));
        if (t->tok_pool.len + n >= UINT32_MAX) return set_err(err, "%s: model.vocab: too large", name);
        t->kind[id] = 1;
        t->tok_off[id] = (uint32_t)t->tok_pool.len;
        t->tok_len[id] = (uint32_t)n;
        buf_put(&t->tok_pool, e->string, n);
        vocab_insert(t, id);
    }
    return 0;
}

// Splits one merges entry into its two token strings.
static int merge_parts(const cJSON *m, const char **a, size_t *na, const char **b, size_t *nb) {
    if (cJSON_IsArray(m)) {
        const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
        if (cJSON_GetArraySize(m) != 2 || !cJSON_IsString(x) || !cJSON_IsString(y)) return -1;
        *a = x->valuestring; *na = strlen(x->valuestring);
        *b = y->valuestring; *nb = strlen(y->valuestring);
        return 0;
    }
    if (cJSON_IsString(m)) {  // the older "a b" form
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) return -1;
        *a = s; *na = (size_t)(sp - s);
        *b = sp + 1; *nb = strlen(sp + 1);
        return 0;
    }
    return -1;
}

static int load_merges(Tokenizer *t, const cJSON *model, const char *name, char *err) {
    const cJSON *merges = get(model, "merges");
    if (!merges) return set_err(err, "%s: model.merges: missing", name);
    if (!cJSON_IsArray(merges)) return set_err(err, "%s: model.merges: expected an array", name);
    size_t count = (size_t)cJSON_GetArraySize(merges);
    t->merge_mask = table_size_for(count) - 1;
    t->merges = xmalloc((t->merge_mask + 1) * sizeof(MergeSlot));
    for (size_t i = 0; i <= t->merge_mask; i++) t->merges[i].key = ~0ull;
    Buf joined = {0};
    size_t rank = 0;
    char b1[128];
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t na, nb;
        if (merge_parts(m, &a, &na, &b, &nb) || !na || !nb) {
            free(joined.s);
            return set_err(err, "%s: model.merges[%zu]: expected [\"a\", \"b\"] or \"a b\" with two non-empty tokens", name, rank);
        }
        int32_t ia = vocab_find(t, a, na), ib = vocab_find(t, b, nb);
        joined.len = 0;
        buf_put(&joined, a, na);
        buf_put(&joined, b, nb);
        int32_t ic = vocab_find(t, joined.s, joined.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            const char *bad = ia < 0 ? a : ib < 0 ? b : joined.s;
            size_t nbad = ia < 0 ? na : ib < 0 ? nb : joined.len;
            int r = set_err(err, "%s: model.merges[%zu]: %s'%s' is not in model.vocab", name, rank,
                            ia < 0 || ib < 0 ? "token " : "merged token ", shown(bad, nbad, b1, sizeof b1));
            free(joined.s);
            return r;
        }
        merge_insert(t, ia, ib, (uint32_t)rank, ic);
        rank++;
    }
    free(joined.s);
    return 0;
}

static int load_model(Tokenizer *t, const cJSON *root, const char *name, char *err) {
    const cJSON *model = get(root, "model");
    if (!model) return set_err(err, "%s: model: missing", name);
    if (!cJSON_IsObject(model)) return set_err(err, "%s: model: expected an object", name);
    const cJSON *type = get(model, "type");
    if (!cJSON_IsString(type)) return set_err(err, "%s: model.type: missing (expected \"BPE\")", name);
    if (strcmp(type->valuestring, "BPE"))
        return set_err(err, "%s: model.type: '%s' is not supported (only BPE)", name, type->valuestring);
    const cJSON *j = get(model, "dropout");
    if (!is_null(j) && !(cJSON_IsNumber(j) && j->valuedouble == 0))
        return set_err(err, "%s: model.dropout: BPE dropout is not supported (must be null)", name);
    const char *empty_fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        j = get(model, empty_fields[i]);
        if (!is_null(j) && !(cJSON_IsString(j) && !j->valuestring[0]))
            return set_err(err, "%s: model.%s: not supported (must be empty or null)", name, empty_fields[i]);
    }
    const cJSON *unk = get(model, "unk_token");
    if (!is_null(unk) && !cJSON_IsString(unk)) return set_err(err, "%s: model.unk_token: expected a string or null", name);
    int byte_fallback = 0;
    if (get_bool(model, "byte_fallback", 0, &byte_fallback, name, "model", err) ||
        get_bool(model, "fuse_unk", 0, &t->fuse_unk, name, "model", err) ||
        get_bool(model, "ignore_merges", 0, &t->ignore_merges, name, "model", err))
        return -1;
    if (load_vocab(t, model, name, err) || load_merges(t, model, name, err)) return -1;

    // Some byte-level vocabularies lack a few bytes (SmolLM2: six control
    // bytes and those that never occur in UTF-8). HF's BPE gives unk_token
    // for a character it has no token for, or drops it when there is none;
    // unk_token and byte_fallback matter only then.
    int missing = -1;
    byte_to_unicode(t->byte_char);
    for (int b = 0; b < 256; b++) {
        char s[4];
        size_t n = utf8_encode(t->byte_char[b], s);
        if ((t->byte_id[b] = vocab_find(t, s, n)) < 0 && missing < 0) missing = b;
    }
    t->unk_id = -1;
    if (missing >= 0 && byte_fallback)
        return set_err(err, "%s: model.byte_fallback: not supported for a vocabulary without a token for byte 0x%02X", name,
                       missing);
    if (missing >= 0 && !is_null(unk) && (t->unk_id = vocab_find(t, unk->valuestring, strlen(unk->valuestring))) < 0) {
        char b1[128];
        return set_err(err, "%s: model.unk_token '%s' is not in model.vocab (it stands for bytes without a token, such as 0x%02X)",
                       name, shown(unk->valuestring, strlen(unk->valuestring), b1, sizeof b1), missing);
    }
    return 0;
}

// Added tokens: ids, flags, and the two matching sets.
static void build_set(Tokenizer *t, AddedSet *set, int normalized) {
    size_t n = 0;
    memset(set->start, 0, sizeof set->start);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized) { set->start[(uint8_t)t->added_pool.s[t->added[i].off] + 1]++; n++; }
    for (int b = 0; b < 256; b++) set->start[b + 1] += set->start[b];
    set->idx = xmalloc((n ? n : 1) * sizeof(int32_t));
    uint32_t fill[256];
    memcpy(fill, set->start, sizeof fill);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized) set->idx[fill[(uint8_t)t->added_pool.s[t->added[i].off]]++] = (int32_t)i;
}

static int normalize(const Tokenizer *t, Buf *b, const char *s, size_t n, const char **out, size_t *outn, char *err);

static int load_added(Tokenizer *t, const cJSON *root, const char *name, char *err) {
    const cJSON *list = get(root, "added_tokens");
    if (!is_null(list) && !cJSON_IsArray(list)) return set_err(err, "%s: added_tokens: expected an array", name);
    size_t count = list ? (size_t)cJSON_GetArraySize(list) : 0;
    t->added = xcalloc(count ? count : 1, sizeof(Added));
    char b1[128], b2[128];
    int64_t max_added = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        size_t k = t->n_added;
        const cJSON *content = get(e, "content");
        int32_t id;
        if (!cJSON_IsObject(e)) return set_err(err, "%s: added_tokens[%zu]: expected an object", name, k);
        if (get_id(get(e, "id"), &id))
            return set_err(err, "%s: added_tokens[%zu].id: expected an integer in [0, %d)", name, k, MAX_ID);
        if (!cJSON_IsString(content) || !content->valuestring[0])
            return set_err(err, "%s: added_tokens[%zu].content: expected a non-empty string", name, k);
        int lstrip = 0, rstrip = 0, single = 0, normalized = 0, special = 0;
        // HF requires every flag (serde, no defaults); so do we.
        const char *flags[] = {"lstrip", "rstrip", "single_word", "normalized", "special"};
        int *vals[] = {&lstrip, &rstrip, &single, &normalized, &special};
        for (int f = 0; f < 5; f++) {
            const cJSON *j = get(e, flags[f]);
            if (!cJSON_IsBool(j)) return set_err(err, "%s: added_tokens[%zu].%s: %s", name, k, flags[f], j ? "expected true or false" : "missing");
            *vals[f] = cJSON_IsTrue(j);
        }
        if (single) return set_err(err, "%s: added_tokens[%zu].single_word: true is not supported", name, k);
        // Tokens matched after normalisation are matched in their NFC form, as HF does.
        const char *s = content->valuestring;
        char *nfc = NULL;
        if (normalized && t->nfc) {
            const char *p;
            size_t m;
            Buf b = {0};
            if (normalize(t, &b, s, strlen(s), &p, &m, err)) {
                free(b.s);
                return set_err(err, "%s: added_tokens[%zu].content: cannot be NFC-normalised", name, k);
            }
            nfc = memcpy(xmalloc(m + 1), p, m);
            nfc[m] = 0;
            free(b.s);
            s = nfc;
        }
        size_t n = strlen(s);
        for (size_t i = 0; i < k; i++) {
            const Added *o = &t->added[i];
            if (o->id == id || (o->len == n && !memcmp(t->added_pool.s + o->off, s, n))) {
                free(nfc);
                return set_err(err, "%s: added_tokens[%zu]: id %d / content '%s' repeats added_tokens[%zu]", name, k,
                               id, shown(content->valuestring, strlen(content->valuestring), b1, sizeof b1), i);
            }
        }
        // HF ignores the ids written in added_tokens: a token in the vocab keeps
        // its vocab id, any other gets the next id after the vocab and the
        // added tokens so far (AddedVocabulary::add_tokens). A file that says
        // otherwise would encode differently in HF than it reads, so refuse it.
        size_t cn = strlen(content->valuestring);
        int64_t want = vocab_find(t, content->valuestring, cn);
        if (want < 0)
            want = max_added < 0 ? (int64_t)t->n_vocab
                 : max_added >= (int64_t)t->n_vocab ? max_added + 1 : (int64_t)t->n_vocab;
        if (id != want) {
            free(nfc);
            return set_err(err, "%s: added_tokens[%zu].id: %d, but Hugging Face tokenizers would give '%s' id %lld "
                           "(added tokens continue the vocabulary in order)", name, k, id,
                           shown(content->valuestring, cn, b1, sizeof b1), (long long)want);
        }
        if (id > max_added) max_added = id;
        // An added token may also be in the vocab (GPT-2 does this), but only as itself.
        reserve_ids(t, id + 1);
        if (t->kind[id] == 1 && (t->tok_len[id] != cn || memcmp(tok_str(t, id), content->valuestring, cn))) {
            int r = set_err(err, "%s: added_tokens[%zu]: id %d is '%s' in added_tokens but '%s' in model.vocab", name, k, id,
                            shown(content->valuestring, cn, b1, sizeof b1), shown(tok_str(t, id), t->tok_len[id], b2, sizeof b2));
            free(nfc);
            return r;
        }
        if (t->added_pool.len + n >= UINT32_MAX || t->tok_pool.len + n >= UINT32_MAX) { free(nfc); return set_err(err, "%s: added_tokens: too large", name); }
        t->added[k] = (Added){(uint32_t)t->added_pool.len, (uint32_t)n, id, (uint8_t)lstrip, (uint8_t)rstrip, (uint8_t)normalized};
        buf_put(&t->added_pool, s, n);
        // tokenizer_token_id() finds the content as written (before NFC).
        t->kind[id] = 2;
        t->tok_off[id] = (uint32_t)t->tok_pool.len;
        t->tok_len[id] = (uint32_t)cn;
        buf_put(&t->tok_pool, content->valuestring, cn);
        t->n_added++;
        free(nfc);
    }
    build_set(t, &t->raw_set, 0);
    build_set(t, &t->norm_set, 1);
    return 0;
}

static int load_normalizer(Tokenizer *t, const cJSON *root, const char *name, char *err) {
    const cJSON *n = get(root, "normalizer");
    if (is_null(n)) return 0;
    const cJSON *type = get(n, "type");
    if (!cJSON_IsString(type)) return set_err(err, "%s: normalizer.type: missing", name);
    if (!strcmp(type->valuestring, "NFC")) { t->nfc = 1; return 0; }
    if (!strcmp(type->valuestring, "Sequence")) {  // accepted when it is only NFC, any number of times
        const cJSON *list = get(n, "normalizers"), *e;
        if (!cJSON_IsArray(list)) return set_err(err, "%s: normalizer.normalizers: expected an array", name);
        cJSON_ArrayForEach(e, list) {
            const cJSON *ty = get(e, "type");
            if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "NFC"))
                return set_err(err, "%s: normalizer.normalizers: only NFC is supported", name);
            t->nfc = 1;
        }
        return 0;
    }
    return set_err(err, "%s: normalizer.type: '%s' is not supported (only NFC or none)", name, type->valuestring);
}

// Makes PCRE2 split like HF's Oniguruma: its \s also matches U+0085 (NEL),
// and (with unicode16) its \p{L} and \p{N} know Unicode 16.0. Rewrites \s,
// \S, \p{L}, \p{N}, \P{L} and \P{N} (the negated forms outside classes only).
// Returns NULL (compile the pattern as it is) for \Q...\E quoting.
static char *onig_compat(const char *p, size_t n, int unicode16, size_t *outn) {
    Buf b = {0};
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c == 'Q') {
                free(b.s);
                return NULL;
            }
            int prop = (c == 'p' || (c == 'P' && !in_class)) && i + 4 < n && p[i + 2] == '{' &&
                       (p[i + 3] == 'L' || p[i + 3] == 'N') && p[i + 4] == '}';
            if (prop) {
                int letter = p[i + 3] == 'L';
                if (!in_class) buf_put(&b, c == 'P' ? "[^" : "[", c == 'P' ? 2 : 1);
                buf_put(&b, letter ? "\\p{L}" : "\\p{N}", 5);
                if (unicode16 && letter) put_ranges(&b, EXTRA_L, sizeof EXTRA_L / sizeof EXTRA_L[0]);
                if (unicode16 && !letter) put_ranges(&b, EXTRA_N, sizeof EXTRA_N / sizeof EXTRA_N[0]);
                if (!in_class) buf_put(&b, "]", 1);
                i += 4;
                continue;
            }
            if (c == 's') buf_put(&b, in_class ? "\\s\\x{85}" : "[\\s\\x{85}]", in_class ? 8 : 10);
            else if (c == 'S' && !in_class) buf_put(&b, "[^\\s\\x{85}]", 11);
            else buf_put(&b, p + i, 2);
            i++;
            continue;
        }
        if (!in_class && p[i] == '[') {
            in_class = 1;
            buf_put(&b, p + i, 1);
            if (i + 1 < n && p[i + 1] == '^') buf_put(&b, p + ++i, 1);
            if (i + 1 < n && p[i + 1] == ']') buf_put(&b, p + ++i, 1);  // a leading ] is literal
            continue;
        }
        if (in_class && p[i] == '[' && i + 1 < n && p[i + 1] == ':') {  // [:alpha:]
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (p[j] == ':' && p[j + 1] == ']') { end = p + j + 2; break; }
            if (end) { buf_put(&b, p + i, (size_t)(end - (p + i))); i = (size_t)(end - p) - 1; continue; }
        }
        if (in_class && p[i] == ']') in_class = 0;
        buf_put(&b, p + i, 1);
    }
    *outn = b.len;
    buf_put(&b, "", 1);
    return b.s;
}

static int add_stage(Tokenizer *t, const char *pat, size_t len, int literal, const char *name, const char *where, char *err) {
    if (t->n_stages == MAX_STAGES) return set_err(err, "%s: %s: more than %d split stages", name, where, MAX_STAGES);
    Stage *st = &t->stages[t->n_stages++];
    for (int v = 0; v < 2; v++) {
        size_t n = len;
        char *rewritten = literal ? NULL : onig_compat(pat, len, v, &n);
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)(rewritten ? rewritten : pat), rewritten ? n : len,
                                       PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP), &code, &off, NULL);
        free(rewritten);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            return set_err(err, "%s: %s: the regex does not compile: %s", name, where, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // if JIT is unavailable, the interpreter runs
        st->re[v] = re;
    }
    return 0;
}

static int load_byte_level(Tokenizer *t, const cJSON *p, const char *name, const char *where, char *err) {
    int prefix = 0, use_regex = 0;
    if (get_bool(p, "add_prefix_space", 1, &prefix, name, where, err) ||
        get_bool(p, "use_regex", 1, &use_regex, name, where, err))
        return -1;
    if (prefix) return set_err(err, "%s: %s.add_prefix_space: true is not supported", name, where);
    if (use_regex) return add_stage(t, GPT2_PATTERN, strlen(GPT2_PATTERN), 0, name, where, err);
    return 0;
}

static int load_split(Tokenizer *t, const cJSON *p, const char *name, const char *where, char *err) {
    const cJSON *pat = get(p, "pattern"), *beh = get(p, "behavior");
    int invert = 0;
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated"))
        return set_err(err, "%s: %s.behavior: only \"Isolated\" is supported", name, where);
    if (get_bool(p, "invert", 0, &invert, name, where, err)) return -1;
    if (invert) return set_err(err, "%s: %s.invert: true is not supported", name, where);
    const cJSON *re = get(pat, "Regex"), *str = get(pat, "String");
    if (cJSON_IsString(re)) return add_stage(t, re->valuestring, strlen(re->valuestring), 0, name, where, err);
    if (cJSON_IsString(str)) return add_stage(t, str->valuestring, strlen(str->valuestring), 1, name, where, err);
    return set_err(err, "%s: %s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", name, where);
}

// HF's Digits splits on char::is_numeric (Unicode N, 16.0): each digit alone
// (individual_digits) or each run of digits, as an Isolated split on \p{N}
// does; the pattern goes through onig_compat, which adds the Unicode 16.0
// numbers PCRE2 lacks.
static int load_digits(Tokenizer *t, const cJSON *p, const char *name, const char *where, char *err) {
    const cJSON *j = get(p, "individual_digits");
    if (!cJSON_IsBool(j))  // HF requires it (serde, no default)
        return set_err(err, "%s: %s.individual_digits: %s", name, where, j ? "expected true or false" : "missing");
    const char *pat = cJSON_IsTrue(j) ? "\\p{N}" : "\\p{N}+";
    return add_stage(t, pat, strlen(pat), 0, name, where, err);
}

static int load_pre_tokenizer(Tokenizer *t, const cJSON *root, const char *name, char *err) {
    const cJSON *p = get(root, "pre_tokenizer");
    if (is_null(p)) return set_err(err, "%s: pre_tokenizer: missing; a byte-level BPE needs ByteLevel", name);
    const cJSON *type = get(p, "type");
    if (!cJSON_IsString(type)) return set_err(err, "%s: pre_tokenizer.type: missing", name);
    if (!strcmp(type->valuestring, "ByteLevel")) return load_byte_level(t, p, name, "pre_tokenizer", err);
    if (strcmp(type->valuestring, "Sequence"))
        return set_err(err, "%s: pre_tokenizer.type: '%s' is not supported (ByteLevel or Sequence)", name, type->valuestring);
    const cJSON *list = get(p, "pretokenizers");
    if (!cJSON_IsArray(list)) return set_err(err, "%s: pre_tokenizer.pretokenizers: expected an array", name);
    int i = 0, saw_byte_level = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        char where[64];
        snprintf(where, sizeof where, "pre_tokenizer.pretokenizers[%d]", i);
        const cJSON *ty = get(e, "type");
        if (!cJSON_IsString(ty)) return set_err(err, "%s: %s.type: missing", name, where);
        if (!strcmp(ty->valuestring, "Split")) {
            if (load_split(t, e, name, where, err)) return -1;
            t->stages[t->n_stages - 1].mapped = saw_byte_level;  // after ByteLevel it sees the GPT-2 spelling
        } else if (!strcmp(ty->valuestring, "Digits")) {
            if (load_digits(t, e, name, where, err)) return -1;
            t->stages[t->n_stages - 1].mapped = saw_byte_level;
        } else if (!strcmp(ty->valuestring, "ByteLevel")) {
            // A second one would spell the spelling again.
            if (saw_byte_level) return set_err(err, "%s: %s: only one ByteLevel pre-tokenizer is supported", name, where);
            if (load_byte_level(t, e, name, where, err)) return -1;
            saw_byte_level = 1;
        } else {
            return set_err(err, "%s: %s.type: '%s' is not supported (Split, Digits or ByteLevel)", name, where, ty->valuestring);
        }
        i++;
    }
    if (!saw_byte_level) return set_err(err, "%s: pre_tokenizer: no ByteLevel step; only byte-level BPE is supported", name);
    return 0;
}

static int check_other_fields(const cJSON *root, const char *name, char *err) {
    const cJSON *d = get(root, "decoder");
    if (!is_null(d)) {
        const cJSON *type = get(d, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "ByteLevel"))
            return set_err(err, "%s: decoder: only ByteLevel is supported", name);
    }
    if (!is_null(get(root, "truncation")))
        return set_err(err, "%s: truncation: not supported (must be null)", name);
    return 0;
}

// Bytes that decoding a token gives. Vocab tokens as HF's ByteLevel decoder
// does it: the inverse byte map when every character is in it, else the
// string itself. Added tokens: the text they are matched against (NFC of the
// content for normalized=true), so that decode(encode(x)) == NFC(x).
static void build_decode(Tokenizer *t) {
    uint32_t map[256];
    int16_t inv[512];
    byte_to_unicode(map);
    for (int i = 0; i < 512; i++) inv[i] = -1;
    for (int b = 0; b < 256; b++) inv[map[b]] = (int16_t)b;
    for (int id = 0; id < t->n_ids; id++) {
        if (!t->kind[id]) continue;
        const uint8_t *s = (const uint8_t *)tok_str(t, id);
        size_t n = t->tok_len[id], start = t->dec_pool.len;
        int ok = 1;
        if (t->kind[id] == 2) continue;  // below
        for (size_t i = 0; ok && i < n;) {
            uint32_t cp;
            i += utf8_decode(s + i, &cp);
            if (cp >= 512 || inv[cp] < 0) { ok = 0; break; }
            char byte = (char)inv[cp];
            buf_put(&t->dec_pool, &byte, 1);
        }
        if (!ok) {
            t->dec_pool.len = start;
            buf_put(&t->dec_pool, s, n);
        }
        t->dec_off[id] = (uint32_t)start;
        t->dec_len[id] = (uint32_t)(t->dec_pool.len - start);
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const Added *a = &t->added[i];
        t->dec_off[a->id] = (uint32_t)t->dec_pool.len;
        t->dec_len[a->id] = a->len;
        buf_put(&t->dec_pool, t->added_pool.s + a->off, a->len);
    }
}

Tokenizer *tokenizer_load_json(const char *json, size_t len, const char *name, char *err) {
    if (!name) name = "tokenizer.json";
    if (len == 0) { set_err(err, "%s: empty file", name); return NULL; }
    if (len >= UINT32_MAX) { set_err(err, "%s: too large", name); return NULL; }
    // HF reads the file as a Rust String, so it must be UTF-8. Checking here
    // also means every token string below is valid UTF-8.
    const char *why;
    size_t bad = utf8_check((const uint8_t *)json, len, &why);
    if (bad != len) { set_err(err, "%s: not UTF-8 at byte offset %zu (%s)", name, bad, why); return NULL; }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        set_err(err, "%s: not valid JSON (error near byte offset %zu)", name, at);
        return NULL;
    }
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->hash = fnv1a64(json, len);
    int rc = -1;
    if (!cJSON_IsObject(root)) { set_err(err, "%s: expected a JSON object at the top level", name); goto done; }
    if (load_normalizer(t, root, name, err) || load_model(t, root, name, err) || load_added(t, root, name, err) ||
        load_pre_tokenizer(t, root, name, err) || check_other_fields(root, name, err))
        goto done;
    build_decode(t);
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) { tokenizer_free(t); return NULL; }
    return t;
}

Tokenizer *tokenizer_load(const char *path, char *err) {
    size_t len;
    char *json = read_file(path, &len, err);
    if (!json) return NULL;
    Tokenizer *t = tokenizer_load_json(json, len, path, err);
    free(json);
    return t;
}

// ---------------------------------------------------------------------------
// Encoding

// BPE on one piece, HF's Word::merge_all: a min-heap of candidate merges
// ordered by (rank, position); an entry is stale when the pair at its
// position no longer merges into the same id. O(n log n) in the piece length.
static int heap_less(const struct HeapEntry *a, const struct HeapEntry *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(Enc *e, size_t *hn, uint32_t rank, int32_t id, size_t pos) {
    size_t i = (*hn)++;
    const struct HeapEntry x = {rank, id, pos};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&x, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = x;
}

static struct HeapEntry heap_pop(Enc *e, size_t *hn) {
    struct HeapEntry top = e->heap[0], last = e->heap[--*hn];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!heap_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static void try_pair(Enc *e, size_t *hn, size_t pos, size_t next) {
    const MergeSlot *m = merge_find(e->t, e->sym_id[pos], e->sym_id[next]);
    if (m) heap_push(e, hn, m->rank, m->id, pos);
}

static void bpe(Enc *e, const uint8_t *s, size_t n, IdVec *out) {
    const Tokenizer *t = e->t;
    if (n == 1 && t->byte_id[s[0]] >= 0) { ids_push(out, t->byte_id[s[0]]); return; }
    if (t->ignore_merges) {  // HF: a piece that is itself a token is taken whole
        Buf w = {0};
        for (size_t i = 0; i < n; i++) { char c[4]; buf_put(&w, c, utf8_encode(t->byte_char[s[i]], c)); }
        int32_t id = vocab_find(t, w.s, w.len);
        free(w.s);
        if (id >= 0) { ids_push(out, id); return; }
    }
    if (n > e->sym_cap) {
        e->sym_cap = n;
        e->sym_id = xrealloc(e->sym_id, n * sizeof *e->sym_id);
        e->sym_prev = xrealloc(e->sym_prev, n * sizeof *e->sym_prev);
        e->sym_next = xrealloc(e->sym_next, n * sizeof *e->sym_next);
    }
    // Each merge pushes at most two entries; n for the start, 2n for merges.
    if (3 * n > e->heap_cap) {
        e->heap_cap = 3 * n;
        e->heap = xrealloc(e->heap, e->heap_cap * sizeof *e->heap);
    }
    int32_t *id = e->sym_id;
    size_t *prev = e->sym_prev, *next = e->sym_next, hn = 0, m = 0;
    int unknown = 0;  // the previous byte had no token (for fuse_unk)
    for (size_t i = 0; i < n; i++) {
        int32_t b = t->byte_id[s[i]];
        if (b < 0) {  // HF's BPE: unk_token (once for a run with fuse_unk), or nothing
            int fused = unknown && t->fuse_unk;
            unknown = 1;
            if (t->unk_id < 0 || fused) continue;
            b = t->unk_id;
        } else {
            unknown = 0;
        }
        id[m++] = b;
    }
    if (m == 0) return;
    for (size_t i = 0; i < m; i++) {
        prev[i] = i ? i - 1 : NONE;
        next[i] = i + 1 < m ? i + 1 : NONE;
    }
    for (size_t i = 0; i + 1 < m; i++) try_pair(e, &hn, i, i + 1);
    while (hn) {
        const struct HeapEntry top = heap_pop(e, &hn);
        size_t p = top.pos, q = next[p];
        if (id[p] < 0 || q == NONE) continue;
        const MergeSlot *m = merge_find(t, id[p], id[q]);
        if (!m || m->id != top.id) continue;  // stale entry
        id[p] = top.id;
        id[q] = -1;
        next[p] = next[q];
        if (next[q] != NONE) prev[next[q]] = p;
        if (prev[p] != NONE) try_pair(e, &hn, prev[p], p);
        if (next[p] != NONE) try_pair(e, &hn, p, next[p]);
    }
    for (size_t i = 0; i != NONE; i = next[i]) ids_push(out, id[i]);
}

// --- piece cache: piece bytes -> ids

static void cache_clear(Enc *e) {
    free(e->cache);
    e->cache = NULL;
    e->cache_mask = e->cache_count = 0;
    e->cache_keys.len = e->cache_ids.n = 0;
}

static void cache_grow(Enc *e) {
    size_t size = e->cache ? 2 * (e->cache_mask + 1) : 1 << 14;
    CacheSlot *old = e->cache;
    size_t old_size = e->cache ? e->cache_mask + 1 : 0;
    e->cache = xcalloc(size, sizeof(CacheSlot));
    e->cache_mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (!old[i].key_len) continue;
        size_t j = old[i].hash & e->cache_mask;
        while (e->cache[j].key_len) j = (j + 1) & e->cache_mask;
        e->cache[j] = old[i];
    }
    free(old);
}

static void encode_piece(Enc *e, const char *s, size_t n, IdVec *out) {
    if (n > CACHE_MAX_PIECE) { bpe(e, (const uint8_t *)s, n, out); return; }
    if (e->cache_count >= CACHE_MAX_ENTRIES) cache_clear(e);  // bounded memory on endless input
    if (!e->cache || 2 * (e->cache_count + 1) > e->cache_mask + 1) cache_grow(e);
    uint64_t h = fnv1a64(s, n);
    size_t i = h & e->cache_mask;
    for (; e->cache[i].key_len; i = (i + 1) & e->cache_mask) {
        const CacheSlot *c = &e->cache[i];
        if (c->hash == h && c->key_len == n && !memcmp(e->cache_keys.s + c->key_off, s, n)) {
            ids_put(out, &e->cache_ids, c->ids_off, c->ids_len);
            return;
        }
    }
    size_t before = out->n;
    bpe(e, (const uint8_t *)s, n, out);
    CacheSlot *c = &e->cache[i];
    *c = (CacheSlot){h, (uint32_t)e->cache_keys.len, (uint32_t)n, (uint32_t)e->cache_ids.n, (uint32_t)(out->n - before)};
    buf_put(&e->cache_keys, s, n);
    ids_put(&e->cache_ids, out, before, out->n - before);
    e->cache_count++;
}

static int split(Enc *e, int k, int v, const char *s, size_t n, IdVec *out, char *err);

// The piece [a, b) of the text stage k matched against (s itself, or its
// GPT-2 spelling when back maps offsets in that spelling to offsets in s).
static int piece(Enc *e, int k, int v, const char *s, const size_t *back, size_t a, size_t b, IdVec *out, char *err) {
    if (back) { a = back[a]; b = back[b]; }
    return split(e, k + 1, v, s + a, b - a, out, err);
}

// Pre-tokenizer stage `k` on s[0..n): each match and each gap between matches
// is a piece for the next stage (the next regex sees only that piece, as in
// HF). Empty matches are dropped; an empty match right where the previous
// match ended is skipped by one character, as Oniguruma's find_iter does.
// v picks the regex variant (see Stage). A mapped stage matches against the
// GPT-2 spelling of the piece and cuts the piece where the spelling is cut.
static int split(Enc *e, int k, int v, const char *s, size_t n, IdVec *out, char *err) {
    const Tokenizer *t = e->t;
    if (k == t->n_stages) { encode_piece(e, s, n, out); return 0; }
    const Stage *st = &t->stages[k];
    StageScratch *ss = &e->st[k];
    const char *subject = s;
    size_t len = n, *back = NULL;
    if (st->mapped) {
        ss->map.len = 0;
        buf_reserve(&ss->map, 2 * n);  // the table's code points are below U+0800
        if (2 * n + 1 > ss->back_cap) {
            ss->back_cap = 2 * n + 1;
            ss->back = xrealloc(ss->back, ss->back_cap * sizeof *ss->back);
        }
        for (size_t i = 0; i < n; i++) {
            ss->back[ss->map.len] = i;
            ss->map.len += utf8_encode(t->byte_char[(uint8_t)s[i]], ss->map.s + ss->map.len);
        }
        ss->back[ss->map.len] = n;
        subject = ss->map.s;
        len = ss->map.len;
        back = ss->back;
    }
    pcre2_code *re = st->re[v];
    pcre2_match_data *md = ss->md[v];
    size_t pos = 0, gap = 0, last_end = NONE;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)subject, len, pos, PCRE2_NO_UTF_CHECK, md, e->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return set_err(err, "pre-tokenizer regex failed on a %zu-byte piece: %s", n, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b < a || b > len || a < gap) return set_err(err, "pre-tokenizer regex gave a bad match (\\K in a lookaround?)");
        if (a == b && b == last_end) {
            if (pos >= len) break;
            pos++;
            while (pos < len && ((uint8_t)subject[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (gap < a && piece(e, k, v, s, back, gap, a, out, err)) return -1;
        if (a < b && piece(e, k, v, s, back, a, b, out, err)) return -1;
        gap = pos = last_end = b;
    }
    if (gap < len && piece(e, k, v, s, back, gap, len, out, err)) return -1;
    return 0;
}

// Leftmost-longest search for an added token of `set` in s[from..n).
// On a hit, [*a, *b) is the text it takes (with lstrip/rstrip whitespace).
static int find_added(const Tokenizer *t, const AddedSet *set, const char *s, size_t n, size_t from,
                      size_t *a, size_t *b, int32_t *id) {
    if (set->start[256] == 0) return 0;
    const char *pool = t->added_pool.s;
    for (size_t i = from; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        const Added *best = NULL;
        for (uint32_t j = set->start[c]; j < set->start[c + 1]; j++) {
            const Added *x = &t->added[set->idx[j]];
            if (x->len <= n - i && (!best || x->len > best->len) && !memcmp(pool + x->off, s + i, x->len)) best = x;
        }
        if (!best) continue;
        size_t start = i, stop = i + best->len;
        if (best->lstrip) {  // take the whitespace before it, not reaching back past `from`
            while (start > from) {
                size_t p = start - 1;
                while (p > from && ((uint8_t)s[p] & 0xC0) == 0x80) p--;
                uint32_t cp;
                utf8_decode((const uint8_t *)s + p, &cp);
                if (!is_white_space(cp)) break;
                start = p;
            }
        }
        if (best->rstrip) {
            while (stop < n) {
                uint32_t cp;
                size_t l = utf8_decode((const uint8_t *)s + stop, &cp);
                if (!is_white_space(cp)) break;
                stop += l;
            }
        }
        *a = start; *b = stop; *id = best->id;
        return 1;
    }
    return 0;
}

static int nfc_part(Buf *b, const char *s, size_t n, size_t at, char *err) {
    if (n == 0) return 0;
    utf8proc_uint8_t *nf = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nf, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return set_err(err, "NFC failed at byte offset %zu: %s", at, utf8proc_errmsg(m));
    buf_put(b, nf, (size_t)m);
    free(nf);
    return 0;
}

// NFC of s[0..n), in e->nfc_buf unless it is already NFC. Code points below
// U+0300 (lead bytes below 0xCC) are unchanged by NFC and never combine with
// what precedes them, and nothing combines across an ASCII character; so only
// the stretch between the ASCII characters around a byte >= 0xCC goes through
// utf8proc, which keeps plain English text at memcpy speed.
static int normalize(const Tokenizer *t, Buf *b, const char *s, size_t n, const char **out, size_t *outn, char *err) {
    size_t i = 0;
    if (t->nfc)
        while (i < n && (uint8_t)s[i] < 0xCC) i++;
    if (!t->nfc || i == n) { *out = s; *outn = n; return 0; }
    b->len = 0;
    size_t done = 0;
    while (i < n) {
        size_t lo = i, hi = i;
        while (lo > done && (uint8_t)s[lo - 1] >= 0x80) lo--;
        if (lo > done) lo--;  // the ASCII character before may be a base that combines
        while (hi < n && (uint8_t)s[hi] >= 0x80) hi++;
        buf_put(b, s + done, lo - done);
        // Characters HF's Unicode 9.0 NFC does not know are copied as they are,
        // and the text on either side is normalised on its own.
        size_t part = lo;
        for (size_t k = lo; k <= hi;) {
            uint32_t cp = 0;
            size_t l = k < hi ? utf8_decode((const uint8_t *)s + k, &cp) : 0;
            int inert = k < hi && cp >= 0x7FD && in_ranges(cp, NFC_INERT, sizeof NFC_INERT / sizeof NFC_INERT[0]);
            if (k == hi || inert) {
                if (nfc_part(b, s + part, k - part, part, err)) return -1;
                buf_put(b, s + k, l);
                part = k + l;
            }
            if (k == hi) break;
            k += l;
        }
        done = hi;
        i = hi;
        while (i < n && (uint8_t)s[i] < 0xCC) i++;
    }
    buf_put(b, s + done, n - done);
    *out = b->s;
    *outn = b->len;
    return 0;
}

// Whether s holds a letter or number that only Unicode 16.0 knows (all are
// at U+1C89 or above: lead byte 0xE1 or more).
static int has_unicode16(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if ((uint8_t)s[i] < 0xE1) continue;
        uint32_t cp;
        i += utf8_decode((const uint8_t *)s + i, &cp) - 1;
        if (cp >= 0x1C89 && (in_ranges(cp, EXTRA_L, sizeof EXTRA_L / sizeof EXTRA_L[0]) ||
                             in_ranges(cp, EXTRA_N, sizeof EXTRA_N / sizeof EXTRA_N[0])))
            return 1;
    }
    return 0;
}

// One stretch of raw text between added tokens.
static int encode_segment(Enc *e, const char *s, size_t n, IdVec *out, char *err) {
    const Tokenizer *t = e->t;
    const char *p = s;
    size_t m = n, pos = 0, a, b;
    int32_t id;
    if (normalize(t, &e->nfc_buf, s, n, &p, &m, err)) return -1;
    int v = has_unicode16(p, m);
    while (find_added(t, &t->norm_set, p, m, pos, &a, &b, &id)) {
        if (a > pos && split(e, 0, v, p + pos, a - pos, out, err)) return -1;
        ids_push(out, id);
        pos = b;
    }
    return pos < m ? split(e, 0, v, p + pos, m - pos, out, err) : 0;
}

static void enc_init(Enc *e, const Tokenizer *t) {
    memset(e, 0, sizeof *e);
    e->t = t;
    for (int k = 0; k < t->n_stages; k++)
        for (int v = 0; v < 2; v++) e->st[k].md[v] = pcre2_match_data_create_from_pattern(t->stages[k].re[v], NULL);
    // A deep-enough JIT stack for long whitespace runs; match limits stay at
    // PCRE2's defaults so a pathological regex fails instead of hanging.
    e->mctx = pcre2_match_context_create(NULL);
    e->jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    if (e->jit_stack) pcre2_jit_stack_assign(e->mctx, NULL, e->jit_stack);
}

static void enc_free(Enc *e) {
    for (int k = 0; k < e->t->n_stages; k++) {
        for (int v = 0; v < 2; v++) pcre2_match_data_free(e->st[k].md[v]);
        free(e->st[k].map.s);
        free(e->st[k].back);
    }
    pcre2_match_context_free(e->mctx);
    if (e->jit_stack) pcre2_jit_stack_free(e->jit_stack);
    free(e->nfc_buf.s);
    free(e->sym_id); free(e->sym_prev); free(e->sym_next); free(e->heap);
    free(e->cache); free(e->cache_keys.s); free(e->cache_ids.p);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, char *err) {
    *ids = NULL;
    *n = 0;
    const char *why;
    size_t bad = utf8_check((const uint8_t *)text, len, &why);
    if (bad != len) return set_err(err, "invalid UTF-8 at byte offset %zu (%s)", bad, why);
    Enc e;
    enc_init(&e, t);
    IdVec out = {0};
    size_t pos = 0, a, b;
    int32_t id;
    int rc = 0;
    while (rc == 0 && find_added(t, &t->raw_set, text, len, pos, &a, &b, &id)) {
        if (a > pos && encode_segment(&e, text + pos, a - pos, &out, err)) rc = -1;
        ids_push(&out, id);
        pos = b;
    }
    if (rc == 0 && pos < len && encode_segment(&e, text + pos, len - pos, &out, err)) rc = -1;
    enc_free(&e);
    if (rc) {
        free(out.p);
        return -1;
    }
    *ids = out.p ? out.p : xmalloc(sizeof(int32_t));
    *n = out.n;
    return 0;
}

// ---------------------------------------------------------------------------
// Decoding and look-ups

int tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *outlen, char *err) {
    *out = NULL;
    if (outlen) *outlen = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->kind[id])
            return set_err(err, "token id %d (at position %zu) is not in the vocabulary (size %d)", id, i, t->n_ids);
        total += t->dec_len[id];
    }
    char *buf = xmalloc(total + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + k, t->dec_pool.s + t->dec_off[ids[i]], t->dec_len[ids[i]]);
        k += t->dec_len[ids[i]];
    }
    buf[k] = 0;
    *out = buf;
    if (outlen) *outlen = k;
    return 0;
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->n_ids; }

int tokenizer_token_id(const Tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)  // HF looks at added tokens first
        if (t->tok_len[t->added[i].id] == n && !memcmp(tok_str(t, t->added[i].id), token, n)) return t->added[i].id;
    return vocab_find(t, token, n);
}

uint64_t tokenizer_hash(const Tokenizer *t) { return t->hash; }

int tokenizer_same_vocab(const Tokenizer *a, const Tokenizer *b) {
    const int va = tokenizer_vocab_size(a), vb = tokenizer_vocab_size(b), V = va < vb ? va : vb;
    for (int32_t id = 0; id < V; id++) {
        char *sa = NULL, *sb = NULL, err[ERR_LEN];
        size_t na = 0, nb = 0;
        const int ra = tokenizer_decode(a, &id, 1, &sa, &na, err), rb = tokenizer_decode(b, &id, 1, &sb, &nb, err);
        const int same = ra == rb && (ra != 0 || (na == nb && !memcmp(sa, sb, na)));
        free(sa);
        free(sb);
        if (!same) return 0;
    }
    return 1;
}

char *tokenizer_path_for(const char *arg, const char *model_dir) {
    if (!arg) return path_join(model_dir, "tokenizer.json");
    return is_directory(arg) ? path_join(arg, "tokenizer.json") : xstrdup(arg);
}

Tokenizer *tokenizer_load_for(const char *arg, const char *model_dir, char *err) {
    char *path = tokenizer_path_for(arg, model_dir);
    Tokenizer *t = NULL;
    if (!arg && !file_exists(path))
        set_err(err, "%s has no tokenizer.json; pass --tokenizer PATH (e.g. ../shared/data/qwen3-tokenizer)",
                model_dir);
    else
        t = tokenizer_load(path, err);
    free(path);
    return t;
}
