// test_gguf.c — the ggml type table, bit-exact dequantization, and the GGUF
// reader on good and corrupt files.
//
//  - the type table: ids, names, block sizes and bytes of every listed type,
//    NULL for unknown ids, which types have a dequantizer.
//  - dequantization of every type gguf-py knows (all but Q2_0) against gguf-py's numpy
//    reference (tests/fixtures/gguf/dequant.bin, made by
//    tools/reference/make_gguf_fixtures.py): the float32 bits must be
//    identical; also from a misaligned copy of the blocks.
//  - tiny.gguf (written by gguf.GGUFWriter): every KV of every value type
//    and array element type read back exactly, typed getters and their errors,
//    every tensor's name, type, shape and dequantized contents
//    (tiny_expected.bin), through gguf_open (mmap) and gguf_open_mem.
//  - corrupt variants of tiny.gguf made here in memory (truncated at every
//    length, bad magic / version, lying counts and lengths, unknown types,
//    bad shapes, misaligned / out-of-file / overlapping tensors, duplicates,
//    bad alignment, ...): each is refused with a message that names the file
//    and the specific problem. Each variant sits in a buffer of exactly its
//    size, so ASan (make san) catches any read past it.
//  - the real SmolLM2-135M-Instruct GGUF when models/ has it (a FAIL under
//    CI=true when it does not): tensor count, KVs, and token_embd.weight
//    (Q8_0) and blk.0.attn_q.weight (Q4_1) dequantized bit-exactly as gguf-py
//    does (hash and samples in tests/fixtures/gguf/smollm2.txt).
//  - `trit info tiny.gguf` prints the version, architecture, hyper-parameters
//    and tensor types (when the trit binary is there: TRIT_BIN or build/trit).
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "format/gguf.h"
#include "quant/ggml_types.h"
#include "test.h"

#define FIX "tests/fixtures/gguf"
#define MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t d2u(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

// Bit-exact comparison; on a mismatch prints the first one and the largest
// absolute difference.
static int same_bits(const float *got, const float *want, int64_t n, const char *what) {
    if (memcmp(got, want, (size_t)n * sizeof(float)) == 0) return 1;
    int64_t first = -1, nbad = 0;
    double maxd = 0;
    for (int64_t i = 0; i < n; i++) {
        if (f2u(got[i]) == f2u(want[i])) continue;
        if (first < 0) first = i;
        nbad++;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > maxd || d != d) maxd = d;
    }
    fprintf(stderr, "  %s: %lld of %lld values differ; first at %lld: got %.9g (%08x), want %.9g (%08x); max |diff| %.3g\n",
            what, (long long)nbad, (long long)n, (long long)first, got[first], f2u(got[first]), want[first],
            f2u(want[first]), maxd);
    return 0;
}

// ---------------------------------------------------------------------------
// The type table

static void test_types(void) {
    static const struct { uint32_t id; const char *name; int bs, ts, deq; } want[] = {
        {0, "F32", 1, 4, 1},       {1, "F16", 1, 2, 1},       {2, "Q4_0", 32, 18, 1},
        {3, "Q4_1", 32, 20, 1},    {6, "Q5_0", 32, 22, 1},    {7, "Q5_1", 32, 24, 1},
        {8, "Q8_0", 32, 34, 1},    {10, "Q2_K", 256, 84, 1},  {11, "Q3_K", 256, 110, 1},
        {12, "Q4_K", 256, 144, 1}, {13, "Q5_K", 256, 176, 1}, {14, "Q6_K", 256, 210, 1},
        {30, "BF16", 1, 2, 1},     {34, "TQ1_0", 256, 54, 1}, {35, "TQ2_0", 256, 66, 1},
        {42, "Q2_0", 64, 18, 1},
    };
    int n = (int)(sizeof want / sizeof want[0]);
    CHECK(ggml_type_count() == n, "%d types listed, want %d", ggml_type_count(), n);
    for (int i = 0; i < n; i++) {
        const GgmlType *t = ggml_type_find(want[i].id);
        CHECK(t != NULL, "type %u missing", want[i].id);
        if (!t) continue;
        CHECK(t->id == want[i].id && !strcmp(t->name, want[i].name), "type %u: %s", want[i].id, t->name);
        CHECK(t->block_size == want[i].bs && t->type_size == want[i].ts, "%s: block %d x %d bytes", t->name,
              t->block_size, t->type_size);
        CHECK((t->to_float != NULL) == want[i].deq, "%s: to_float %s", t->name, t->to_float ? "set" : "NULL");
        CHECK(ggml_type_find_name(want[i].name) == t, "%s by name", want[i].name);
        CHECK(ggml_type_at(i) == t, "type %d in id order", i);
    }
    static const uint32_t unknown[] = {4, 5, 9, 15, 16, 29, 31, 33, 36, 37, 38, 39, 40, 41, 43, 142, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECK(ggml_type_find(unknown[i]) == NULL, "id %u should be unknown", unknown[i]);
    CHECK(ggml_type_find_name("Q8_1") == NULL && ggml_type_at(n) == NULL && ggml_type_at(-1) == NULL, "lookups past the table");
}

// ---------------------------------------------------------------------------
// Dequantization against gguf-py

static void test_dequant(void) {
    char err[ERR_LEN];
    size_t len;
    uint8_t *f = (uint8_t *)read_file(FIX "/dequant.bin", &len, err);
    CHECK(f != NULL, "%s", err);
    if (!f) return;
    CHECK(len >= 12 && !memcmp(f, "TRITGQ01", 8), "dequant.bin header");
    uint32_t ntypes = get32(f + 8);
    size_t pos = 12;
    int seen[64] = {0}, ok = 1;
    for (uint32_t k = 0; k < ntypes && ok; k++) {
        if (pos + 12 > len) { ok = 0; break; }
        uint32_t id = get32(f + pos), nw = get32(f + pos + 4), nb = get32(f + pos + 8);
        pos += 12;
        if (pos + nb + (size_t)nw * 4 > len) { ok = 0; break; }
        const uint8_t *blocks = f + pos, *vals = f + pos + nb;
        pos += nb + (size_t)nw * 4;
        const GgmlType *t = ggml_type_find(id);
        CHECK(t && t->to_float, "type %u in dequant.bin has no dequantizer", id);
        if (!t || !t->to_float) continue;
        CHECK((uint64_t)nw % (uint64_t)t->block_size == 0 &&
              (uint64_t)nw / (uint64_t)t->block_size * (uint64_t)t->type_size == nb, "%s: sizes", t->name);
        float *want = xmalloc((size_t)nw * 4), *got = xmalloc((size_t)nw * 4);
        memcpy(want, vals, (size_t)nw * 4);
        t->to_float(blocks, got, nw);
        CHECK(same_bits(got, want, nw, t->name), "%s: bit-exact against gguf.quants.dequantize (%u weights)", t->name, nw);
        // The same from an odd address: blocks in a file need no alignment.
        uint8_t *odd = xmalloc((size_t)nb + 1);
        memcpy(odd + 1, blocks, nb);
        memset(got, 0, (size_t)nw * 4);
        t->to_float(odd + 1, got, nw);
        CHECK(same_bits(got, want, nw, t->name), "%s: bit-exact from a misaligned buffer", t->name);
        free(odd);
        free(want);
        free(got);
        if (id < 64) seen[id] = 1;
    }
    CHECK(ok && pos == len, "dequant.bin is truncated or has trailing bytes");
    for (int i = 0; i < ggml_type_count(); i++) {
        const GgmlType *t = ggml_type_at(i);
        // gguf-py has no Q2_0; tests/test_quant.c checks it on hand-made blocks.
        if (t->to_float && t->id != GGML_TYPE_Q2_0)
            CHECK(t->id < 64 && seen[t->id], "%s has no fixture in dequant.bin", t->name);
    }
    free(f);
}

// ---------------------------------------------------------------------------
// tiny.gguf

#define TINY_N_KV 40
#define TINY_N_TENSORS 7

static void check_tiny_kvs(const GgufFile *g) {
    char err[ERR_LEN];
    CHECK(g->version == 3 && g->alignment == 64, "version %u alignment %u", g->version, g->alignment);
    CHECK(gguf_n_kv(g) == TINY_N_KV, "%d KVs", gguf_n_kv(g));
    CHECK(gguf_kv(g, 0) && !strcmp(gguf_kv(g, 0)->key, "general.architecture"), "first KV in file order");
    CHECK(gguf_kv(g, TINY_N_KV) == NULL && gguf_kv(g, -1) == NULL, "gguf_kv out of range");
    for (int i = 0; i < gguf_n_kv(g); i++)
        CHECK(gguf_find_kv(g, gguf_kv(g, i)->key) == gguf_kv(g, i), "find KV '%s'", gguf_kv(g, i)->key);
    CHECK(gguf_find_kv(g, "test.nope") == NULL && gguf_find_kv(g, "") == NULL, "absent keys");

    const char *s;
    size_t n;
    CHECK(gguf_get_str(g, "general.architecture", &s, &n, err) == 0 && n == 5 && !memcmp(s, "qwen3", 5), "arch");
    CHECK(gguf_get_str(g, "test.str", &s, &n, err) == 0 && n == 11 && !memcmp(s, "hello, gguf", 11), "test.str");
    CHECK(gguf_get_str(g, "test.empty_str", &s, &n, err) == 0 && n == 0, "empty string");

    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    int b;
    CHECK(gguf_get_u32(g, "general.alignment", &u32, err) == 0 && u32 == 64, "alignment KV");
    CHECK(gguf_get_u32(g, "qwen3.block_count", &u32, err) == 0 && u32 == 2, "block_count");
    CHECK(gguf_get_u32(g, "test.u8", &u32, err) == 0 && u32 == 200, "u8 as u32");
    CHECK(gguf_get_u32(g, "test.u16", &u32, err) == 0 && u32 == 60000, "u16 as u32");
    CHECK(gguf_get_u32(g, "test.u32", &u32, err) == 0 && u32 == 4000000000u, "u32");
    CHECK(gguf_get_u32(g, "test.small_i64", &u32, err) == 0 && u32 == 77, "i64 that fits, as u32");
    CHECK(gguf_get_i64(g, "test.i8", &i64, err) == 0 && i64 == -100, "i8");
    CHECK(gguf_get_i64(g, "test.i16", &i64, err) == 0 && i64 == -30000, "i16");
    CHECK(gguf_get_i64(g, "test.i32", &i64, err) == 0 && i64 == -2000000000, "i32");
    CHECK(gguf_get_i64(g, "test.i64", &i64, err) == 0 && i64 == -(INT64_C(1) << 62) - 3, "i64");
    CHECK(gguf_get_u64(g, "test.u64", &u64, err) == 0 && u64 == (UINT64_C(1) << 63) + 5, "u64");
    CHECK(gguf_get_f32(g, "test.f32", &f32, err) == 0 && f2u(f32) == f2u(-1.5e-3f), "f32");
    CHECK(gguf_get_f32(g, "qwen3.rope.freq_base", &f32, err) == 0 && f32 == 1e6f, "rope.freq_base");
    CHECK(gguf_get_f64(g, "test.f64", &f64, err) == 0 && d2u(f64) == d2u(0.1), "f64");
    CHECK(gguf_get_f32(g, "test.f64", &f32, err) == 0 && f2u(f32) == f2u(0.1f), "f64 as f32");
    CHECK(gguf_get_bool(g, "test.bool", &b, err) == 0 && b == 1, "bool");

    // Errors: value out of range, wrong type, missing key; each names the file and key.
    CHECK(gguf_get_u32(g, "test.i8", &u32, err) == -1 && strstr(err, "tiny.gguf: key 'test.i8' = -100 does not fit in uint32"), "%s", err);
    CHECK(gguf_get_u32(g, "test.u64", &u32, err) == -1 && strstr(err, "does not fit in uint32"), "%s", err);
    CHECK(gguf_get_i64(g, "test.u64", &i64, err) == -1 && strstr(err, "does not fit in int64"), "%s", err);
    CHECK(gguf_get_u64(g, "test.i64", &u64, err) == -1 && strstr(err, "does not fit in uint64"), "%s", err);
    CHECK(gguf_get_u32(g, "test.str", &u32, err) == -1 && strstr(err, "key 'test.str' has type STRING, expected an unsigned 32-bit integer"), "%s", err);
    CHECK(gguf_get_u32(g, "test.bool", &u32, err) == -1 && strstr(err, "has type BOOL"), "%s", err);
    CHECK(gguf_get_str(g, "test.u8", &s, &n, err) == -1 && strstr(err, "has type UINT8, expected STRING"), "%s", err);
    CHECK(gguf_get_f32(g, "test.u32", &f32, err) == -1 && strstr(err, "expected FLOAT32 or FLOAT64"), "%s", err);
    CHECK(gguf_get_bool(g, "test.u8", &b, err) == -1 && strstr(err, "expected BOOL"), "%s", err);
    CHECK(gguf_get_u32(g, "test.arr_u32", &u32, err) == -1 && strstr(err, "has type ARRAY of UINT32"), "%s", err);
    CHECK(gguf_get_u32(g, "qwen3.nope", &u32, err) == -1 && strstr(err, "tiny.gguf: key 'qwen3.nope' is missing"), "%s", err);

    // Arrays of every element type.
    const GgufKV *a;
    CHECK(gguf_get_arr(g, "test.arr_i32", GGUF_TYPE_STRING, &a, err) == -1 && strstr(err, "has type ARRAY of INT32, expected ARRAY of STRING"), "%s", err);
    CHECK(gguf_get_arr(g, "test.str", GGUF_TYPE_STRING, &a, err) == -1 && strstr(err, "has type STRING, expected ARRAY of STRING"), "%s", err);
    if (gguf_get_arr(g, "test.arr_i32", GGUF_TYPE_INT32, &a, err) == 0) {
        CHECK(a->n == 4 && gguf_arr_i32(a, 0) == -1 && gguf_arr_i32(a, 1) == 0 && gguf_arr_i32(a, 2) == 7 &&
              gguf_arr_i32(a, 3) == INT32_MAX, "arr_i32");
        CHECK(gguf_arr_i32(a, 4) == 0 && gguf_arr_u32(a, 0) == 0 && gguf_arr_str(a, 0, &n) == NULL, "arr_i32 misuse gives 0/NULL");
    } else CHECK(0, "%s", err);
    if (gguf_get_arr(g, "test.arr_u32", GGUF_TYPE_UINT32, &a, err) == 0)
        CHECK(a->n == 2 && gguf_arr_u32(a, 0) == UINT32_MAX && gguf_arr_u32(a, 1) == 1, "arr_u32");
    else CHECK(0, "%s", err);
    if (gguf_get_arr(g, "test.arr_f32", GGUF_TYPE_FLOAT32, &a, err) == 0)
        CHECK(a->n == 3 && gguf_arr_f32(a, 0) == 0.5f && gguf_arr_f32(a, 1) == -2.25f && f2u(gguf_arr_f32(a, 2)) == f2u(1e-7f), "arr_f32");
    else CHECK(0, "%s", err);
    if (gguf_get_arr(g, "test.arr_f64", GGUF_TYPE_FLOAT64, &a, err) == 0)
        CHECK(a->n == 2 && gguf_arr_float(a, 0, &f64) == 0 && f64 == 3.141592653589793 && gguf_arr_float(a, 1, &f64) == 0 &&
              d2u(f64) == d2u(-0.0) && gguf_arr_float(a, 2, &f64) == -1, "arr_f64");
    else CHECK(0, "%s", err);
    static const struct { const char *key; GgufType t; int n; int64_t v[4]; } ints[] = {
        {"test.arr_u8", GGUF_TYPE_UINT8, 3, {1, 2, 255}},
        {"test.arr_i8", GGUF_TYPE_INT8, 3, {-128, 0, 127}},
        {"test.arr_u16", GGUF_TYPE_UINT16, 2, {0, 65535}},
        {"test.arr_i16", GGUF_TYPE_INT16, 2, {-32768, 5}},
        {"test.arr_bool", GGUF_TYPE_BOOL, 3, {1, 0, 1}},
        {"test.arr_i64", GGUF_TYPE_INT64, 2, {INT64_MIN, INT64_MAX}},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        if (gguf_get_arr(g, ints[k].key, ints[k].t, &a, err) != 0) { CHECK(0, "%s", err); continue; }
        CHECK(a->n == (uint64_t)ints[k].n, "%s: %llu elements", ints[k].key, (unsigned long long)a->n);
        for (int i = 0; i < ints[k].n; i++)
            CHECK(gguf_arr_int(a, (uint64_t)i, &i64) == 0 && i64 == ints[k].v[i], "%s[%d] = %lld", ints[k].key, i, (long long)i64);
        CHECK(gguf_arr_int(a, (uint64_t)ints[k].n, &i64) == -1, "%s: past the end", ints[k].key);
    }
    if (gguf_get_arr(g, "test.arr_u64", GGUF_TYPE_UINT64, &a, err) == 0)
        CHECK(a->n == 2 && gguf_arr_int(a, 0, &i64) == -1 && gguf_arr_int(a, 1, &i64) == 0 && i64 == 0 &&
              get64(a->data) == UINT64_MAX, "arr_u64: 2^64-1 does not fit int64");
    else CHECK(0, "%s", err);
    static const char *const strs[] = {"x", "", "yz", "h\xc3\xa9llo"};
    if (gguf_get_arr(g, "test.arr_str", GGUF_TYPE_STRING, &a, err) == 0) {
        CHECK(a->n == 4, "arr_str: %llu", (unsigned long long)a->n);
        for (uint64_t i = 0; i < a->n && i < 4; i++) {
            s = gguf_arr_str(a, i, &n);
            CHECK(s && n == strlen(strs[i]) && !memcmp(s, strs[i], n), "arr_str[%llu]", (unsigned long long)i);
        }
        CHECK(gguf_arr_str(a, 4, &n) == NULL, "arr_str past the end");
    } else CHECK(0, "%s", err);
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &a, err) == 0)
        CHECK(a->n == 5 && (s = gguf_arr_str(a, 2, &n)) && n == 5 && !memcmp(s, "<|x|>", 5), "tokens");
    else CHECK(0, "%s", err);
}

static void check_tiny_tensors(const GgufFile *g) {
    char err[ERR_LEN];
    size_t len;
    uint8_t *f = (uint8_t *)read_file(FIX "/tiny_expected.bin", &len, err);
    CHECK(f != NULL, "%s", err);
    if (!f) return;
    CHECK(len >= 12 && !memcmp(f, "TRITGT01", 8) && get32(f + 8) == TINY_N_TENSORS, "tiny_expected.bin header");
    CHECK(gguf_n_tensors(g) == TINY_N_TENSORS, "%d tensors", gguf_n_tensors(g));
    size_t pos = 12;
    for (int i = 0; i < TINY_N_TENSORS && pos + 4 <= len; i++) {
        uint32_t nl = get32(f + pos);
        pos += 4;
        if (pos + nl + 8 > len) break;
        char name[64] = {0};
        memcpy(name, f + pos, nl < 63 ? nl : 63);
        pos += nl;
        uint32_t type = get32(f + pos), nd = get32(f + pos + 4);
        pos += 8;
        int64_t ne[4] = {1, 1, 1, 1}, numel = 1;
        for (uint32_t d = 0; d < nd && d < 4; d++, pos += 8) { ne[d] = (int64_t)get64(f + pos); numel *= ne[d]; }
        if (pos + (size_t)numel * 4 > len) break;
        const GgufTensor *t = gguf_tensor(g, i);
        CHECK(t && !strcmp(t->name, name), "tensor %d is '%s', want '%s'", i, t ? t->name : "-", name);
        if (!t) continue;
        CHECK(gguf_find_tensor(g, name) == t, "find '%s'", name);
        CHECK(t->type == type && t->tt && t->tt->id == type, "%s: type %u, want %u", name, t->type, type);
        CHECK(t->n_dims == (int)nd && t->ne[0] == ne[0] && t->ne[1] == ne[1] && t->ne[2] == ne[2] && t->ne[3] == ne[3],
              "%s: shape [%lld %lld %lld %lld]", name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
              (long long)t->ne[3]);
        CHECK(t->n_elements == numel, "%s: %lld elements", name, (long long)t->n_elements);
        CHECK(t->nbytes == (size_t)(numel / t->tt->block_size * t->tt->type_size), "%s: %zu bytes", name, t->nbytes);
        CHECK(t->offset % 64 == 0 && t->data == g->base + g->data_offset + t->offset, "%s: data pointer", name);
        float *got = xmalloc((size_t)numel * 4), *want = xmalloc((size_t)numel * 4);
        memcpy(want, f + pos, (size_t)numel * 4);
        pos += (size_t)numel * 4;
        CHECK(gguf_tensor_to_f32(t, got, err) == 0, "%s", err);
        CHECK(same_bits(got, want, numel, name), "%s: contents bit-exact", name);
        free(got);
        free(want);
    }
    CHECK(pos == len, "tiny_expected.bin: read %zu of %zu bytes", pos, len);
    CHECK(gguf_find_tensor(g, "t.nope") == NULL && gguf_tensor(g, TINY_N_TENSORS) == NULL && gguf_tensor(g, -1) == NULL,
          "absent tensors");
    // The 3-D tensor: numpy shape (2, 3, 4) is ggml ne = {4, 3, 2}.
    const GgufTensor *t3 = gguf_find_tensor(g, "t.3d_");
    CHECK(t3 && t3->n_dims == 3 && t3->ne[0] == 4 && t3->ne[1] == 3 && t3->ne[2] == 2 && t3->ne[3] == 1, "ggml order");
    free(f);
}

// ---------------------------------------------------------------------------
// Corrupt variants of tiny.gguf

static uint8_t *tiny;
static size_t tiny_len;
static size_t tiny_min_len;  // the shortest prefix that still holds every tensor's data

// Offset just past the string `s` (with its u64 length) in the tiny image:
// for a key, where its value type starts; for a tensor name, its n_dims.
static size_t after_str(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + 8 + n <= tiny_len; i++)
        if (get64(tiny + i) == n && !memcmp(tiny + i + 8, s, n)) return i + 8 + n;
    fprintf(stderr, "FAIL: '%s' not found in tiny.gguf\n", s);
    tests_failed++;
    return 0;
}

// Field offsets inside the tensor info of `name`.
static size_t ti_ndims(const char *name) { return after_str(name); }
static size_t ti_ne(const char *name, int d) { return after_str(name) + 4 + 8 * (size_t)d; }
static size_t ti_type(const char *name) { size_t p = after_str(name); return p + 4 + 8 * get32(tiny + p); }
static size_t ti_off(const char *name) { return ti_type(name) + 4; }

// Opens `len` bytes of `img` from a buffer of exactly that size; returns rc.
static int open_copy(const uint8_t *img, size_t len, char *err) {
    uint8_t *b = malloc(len ? len : 1);
    if (len) memcpy(b, img, len);
    GgufFile g;
    int rc = gguf_open_mem(&g, len ? b : NULL, len, "tiny.gguf", err);
    if (rc == 0) {
        // Everything the reader exposes must be readable.
        for (int i = 0; i < gguf_n_tensors(&g); i++) {
            const GgufTensor *t = gguf_tensor(&g, i);
            volatile uint8_t sink = 0;
            for (size_t k = 0; k < t->nbytes; k++) sink ^= t->data[k];
            (void)sink;
        }
    }
    gguf_close(&g);
    gguf_close(&g);  // twice is harmless
    free(b);
    return rc;
}

typedef void (*Mutate)(uint8_t *b);

// Applies `m` to a copy of tiny.gguf; the open must fail with `want` in the
// message, which must start with the file name.
static void refuse(const char *what, Mutate m, const char *want) {
    uint8_t *b = xmalloc(tiny_len);
    memcpy(b, tiny, tiny_len);
    m(b);
    char err[ERR_LEN] = "";
    int rc = open_copy(b, tiny_len, err);
    CHECK(rc == -1, "%s: accepted", what);
    CHECK(rc != -1 || (!strncmp(err, "tiny.gguf: ", 11) && strstr(err, want)), "%s: message '%s' lacks '%s'", what, err, want);
    free(b);
}

static void m_magic(uint8_t *b) { b[3] = 'X'; }
static void m_v1(uint8_t *b) { put32(b + 4, 1); }
static void m_v99(uint8_t *b) { put32(b + 4, 99); }
static void m_big_endian(uint8_t *b) { put32(b + 4, 0x03000000u); }
static void m_huge_tensors(uint8_t *b) { put64(b + 8, UINT64_C(1) << 62); }
static void m_huge_kvs(uint8_t *b) { put64(b + 16, UINT64_C(1) << 62); }
static void m_one_more_kv(uint8_t *b) { put64(b + 16, get64(b + 16) + 1); }
static void m_one_more_tensor(uint8_t *b) { put64(b + 8, get64(b + 8) + 1); }
static void m_key_len(uint8_t *b) { put64(b + 24, UINT64_C(1) << 63); }
static void m_key_empty(uint8_t *b) { put64(b + 24, 0); }
static void m_key_nul(uint8_t *b) { b[after_str("test.u8") - 3] = 0; }
static void m_str_len(uint8_t *b) { put64(b + after_str("test.str") + 4, UINT64_C(1) << 40); }
static void m_arr_count(uint8_t *b) { put64(b + after_str("test.arr_i32") + 8, UINT64_C(1) << 61); }
static void m_arr_count_wrap(uint8_t *b) { put64(b + after_str("test.arr_i64") + 8, UINT64_C(1) << 61); }
static void m_str_arr_count(uint8_t *b) { put64(b + after_str("test.arr_str") + 8, UINT64_C(1) << 61); }
static void m_str_arr_elem(uint8_t *b) { put64(b + after_str("test.arr_str") + 16 + 9, UINT64_MAX); }
static void m_value_type(uint8_t *b) { put32(b + after_str("test.u32"), 13); }
static void m_value_type_neg(uint8_t *b) { put32(b + after_str("test.u32"), 0xFFFFFFFFu); }
static void m_elem_type(uint8_t *b) { put32(b + after_str("test.arr_i32") + 4, 13); }
static void m_nested(uint8_t *b) { put32(b + after_str("test.arr_i32") + 4, GGUF_TYPE_ARRAY); }
static void m_bool(uint8_t *b) { b[after_str("test.bool") + 4] = 2; }
static void m_bool_arr(uint8_t *b) { b[after_str("test.arr_bool") + 16 + 1] = 255; }
static void m_dup_key(uint8_t *b) { memcpy(b + after_str("test.i8") - 7, "test.u8", 7); }
static void m_align_48(uint8_t *b) { put32(b + after_str("general.alignment") + 4, 48); }
static void m_align_0(uint8_t *b) { put32(b + after_str("general.alignment") + 4, 0); }
static void m_align_neg(uint8_t *b) {
    put32(b + after_str("general.alignment"), GGUF_TYPE_INT32);
    put32(b + after_str("general.alignment") + 4, (uint32_t)-64);
}
static void m_align_float(uint8_t *b) { put32(b + after_str("general.alignment"), GGUF_TYPE_FLOAT32); }
static void m_align_huge(uint8_t *b) { put32(b + after_str("general.alignment") + 4, 0x80000000u); }
static void m_ggml_type(uint8_t *b) { put32(b + ti_type("t.q80"), 99); }
static void m_ggml_type_36(uint8_t *b) { put32(b + ti_type("t.q80"), 36); }
static void m_ndims5(uint8_t *b) { put32(b + ti_ndims("t.f32"), 5); }
static void m_ne_overflow(uint8_t *b) {
    put64(b + ti_ne("t.3d_", 0), UINT64_C(1) << 32);
    put64(b + ti_ne("t.3d_", 1), UINT64_C(1) << 32);
}
static void m_ne_bytes_overflow(uint8_t *b) {  // 2^61 elements fit, 2^63 bytes do not
    put64(b + ti_ne("t.3d_", 0), UINT64_C(1) << 31);
    put64(b + ti_ne("t.3d_", 1), UINT64_C(1) << 30);
}
static void m_ne_negative(uint8_t *b) { put64(b + ti_ne("t.f32", 1), UINT64_MAX); }
static void m_ne_block(uint8_t *b) { put64(b + ti_ne("t.q80", 0), 48); }
static void m_misaligned(uint8_t *b) { put64(b + ti_off("t.f16"), get64(b + ti_off("t.f16")) + 32); }
static void m_past_end(uint8_t *b) { put64(b + ti_off("t.3d_"), get64(b + ti_off("t.3d_")) + 64 * 100); }
static void m_past_end_wrap(uint8_t *b) { put64(b + ti_off("t.3d_"), UINT64_MAX - 63); }
static void m_overlap(uint8_t *b) { put64(b + ti_off("t.q41"), get64(b + ti_off("t.q80")) + 64); }
static void m_overlap_same(uint8_t *b) { put64(b + ti_off("t.f16"), get64(b + ti_off("t.f32"))); }
static void m_dup_tensor(uint8_t *b) { memcpy(b + ti_ndims("t.f16") - 5, "t.f32", 5); }
static void m_tensor_nul(uint8_t *b) { b[ti_ndims("t.f16") - 1] = 0; }

static void test_corrupt(void) {
    char err[ERR_LEN];
    tiny = (uint8_t *)read_file(FIX "/tiny.gguf", &tiny_len, err);
    CHECK(tiny != NULL, "%s", err);
    if (!tiny) return;
    GgufFile g;
    CHECK(gguf_open_mem(&g, tiny, tiny_len, "tiny.gguf", err) == 0, "%s", err);
    tiny_min_len = 0;
    for (int i = 0; i < gguf_n_tensors(&g); i++) {
        size_t end = (size_t)(gguf_tensor(&g, i)->data - g.base) + gguf_tensor(&g, i)->nbytes;
        if (end > tiny_min_len) tiny_min_len = end;
    }
    gguf_close(&g);

    // Every truncation that cuts into the header, the KVs, the tensor infos
    // or any tensor's data is refused; one that only drops trailing padding
    // is not.
    int bad_trunc = 0;
    for (size_t n = 0; n < tiny_len; n++) {
        err[0] = 0;
        int rc = open_copy(tiny, n, err);
        int want = n < tiny_min_len ? -1 : 0;
        if (rc != want || (rc == -1 && strncmp(err, "tiny.gguf: ", 11) != 0)) {
            if (bad_trunc++ < 5) fprintf(stderr, "  truncated to %zu bytes: rc %d (%s)\n", n, rc, err);
        }
    }
    CHECK(bad_trunc == 0, "%d truncations misjudged (%zu bytes, data ends at %zu)", bad_trunc, tiny_len, tiny_min_len);
    CHECK(open_copy(tiny, 0, err) == -1 && strstr(err, "not a GGUF file"), "%s", err);
    CHECK(open_copy(tiny, 10, err) == -1 && strstr(err, "header: tensor_count (8 bytes at offset 8) runs past the end of the file (10 bytes)"), "%s", err);
    {
        char want[160];
        size_t at = after_str("test.u32") + 4;  // the value
        snprintf(want, sizeof want, "tiny.gguf: KV 'test.u32': value (4 bytes at offset %zu) runs past the end of the file (%zu bytes)",
                 at, at + 2);
        CHECK(open_copy(tiny, at + 2, err) == -1 && !strcmp(err, want), "got '%s', want '%s'", err, want);
        at = after_str("test.str") + 4;  // the length
        snprintf(want, sizeof want, "tiny.gguf: KV 'test.str': string at offset %zu has length 11, past the end of the file (%zu bytes)",
                 at, at + 8 + 10);
        CHECK(open_copy(tiny, at + 8 + 10, err) == -1 && !strcmp(err, want), "got '%s', want '%s'", err, want);
    }
    CHECK(open_copy(tiny, tiny_min_len - 1, err) == -1 && strstr(err, "tensor 't.3d_' data") && strstr(err, "runs past the end of the file"), "%s", err);

    refuse("bad magic", m_magic, "not a GGUF file");
    refuse("version 1", m_v1, "GGUF version 1 is not supported");
    refuse("version 99", m_v99, "GGUF version 99 is not supported");
    refuse("big-endian", m_big_endian, "big-endian");
    refuse("huge tensor_count", m_huge_tensors, "tensor_count 4611686018427387904 is more than the file can hold");
    refuse("huge kv_count", m_huge_kvs, "kv_count 4611686018427387904 is more than the file can hold");
    refuse("kv_count one too many", m_one_more_kv, "tiny.gguf: ");
    refuse("tensor_count one too many", m_one_more_tensor, "tensor info #7");
    refuse("key length past the end", m_key_len, "KV #0: key at offset 24 has length 9223372036854775808, past the end");
    refuse("empty key", m_key_empty, "KV #0: key is empty");
    refuse("key with a NUL", m_key_nul, "key contains a NUL byte");
    refuse("string length past the end", m_str_len, "KV 'test.str': string at offset");
    refuse("array count past the end", m_arr_count, "KV 'test.arr_i32': array of 2305843009213693952 INT32");
    refuse("array bytes would wrap", m_arr_count_wrap, "KV 'test.arr_i64': array of 2305843009213693952 INT64");
    refuse("string array count past the end", m_str_arr_count, "array of 2305843009213693952 strings");
    refuse("string element past the end", m_str_arr_elem, "KV 'test.arr_str': string element 1 at offset");
    refuse("unknown value type", m_value_type, "KV 'test.u32': unknown value type 13");
    refuse("value type -1", m_value_type_neg, "unknown value type 4294967295");
    refuse("unknown element type", m_elem_type, "KV 'test.arr_i32': unknown array element type 13");
    refuse("nested array", m_nested, "KV 'test.arr_i32': arrays of arrays are not supported");
    refuse("bool 2", m_bool, "KV 'test.bool': bool value 2");
    refuse("bool array 255", m_bool_arr, "KV 'test.arr_bool': bool value 255");
    refuse("duplicate key", m_dup_key, "key 'test.u8' appears twice");
    refuse("alignment 48", m_align_48, "general.alignment = 48 is not a power of two");
    refuse("alignment 0", m_align_0, "general.alignment = 0 is not a power of two");
    refuse("alignment 2^31", m_align_huge, "general.alignment = 2147483648");
    refuse("alignment -64", m_align_neg, "general.alignment = -64 is not a power of two");
    refuse("alignment float", m_align_float, "general.alignment has type FLOAT32, expected an unsigned integer");
    refuse("unknown ggml type", m_ggml_type, "tensor 't.q80': unknown ggml type 99");
    refuse("ggml type 36", m_ggml_type_36, "tensor 't.q80': unknown ggml type 36");
    refuse("5 dimensions", m_ndims5, "tensor 't.f32': 5 dimensions (at most 4)");
    refuse("ne product overflow", m_ne_overflow, "tensor 't.3d_': shape [4294967296, 4294967296, 2, 1] overflows");
    refuse("byte count overflow", m_ne_bytes_overflow, "tensor 't.3d_': shape [2147483648, 1073741824, 2, 1] overflows");
    refuse("ne past INT64_MAX", m_ne_negative, "tensor 't.f32': ne[1] = 18446744073709551615 is too large");
    refuse("ne[0] not a multiple of the block", m_ne_block, "tensor 't.q80': ne[0] = 48 is not a multiple of the Q8_0 block size 32");
    refuse("misaligned offset", m_misaligned, "tensor 't.f16': offset 96 is not a multiple of the alignment 64");
    refuse("data past the end", m_past_end, "tensor 't.3d_' data [");
    refuse("data offset wraps", m_past_end_wrap, "tensor 't.3d_': data offset 18446744073709551552");
    refuse("overlapping tensors", m_overlap, "tensors 't.q80' and 't.q41' overlap");
    refuse("two tensors at one offset", m_overlap_same, "overlap");
    refuse("duplicate tensor name", m_dup_tensor, "tensor 't.f32' appears twice");
    refuse("tensor name with a NUL", m_tensor_nul, "tensor info #1: name contains a NUL byte");

    // The data message in full, as the CLI shows it.
    {
        GgufFile g2;
        gguf_open_mem(&g2, tiny, tiny_len, "x", err);
        const GgufTensor *t = gguf_find_tensor(&g2, "t.3d_");
        uint64_t b0 = g2.data_offset + (t ? t->offset : 0) + 64 * 100, n = t ? t->nbytes : 0;
        gguf_close(&g2);
        char want[200];
        snprintf(want, sizeof want, "tiny.gguf: tensor 't.3d_' data [%llu, %llu) runs past the end of the file (%zu bytes)",
                 (unsigned long long)b0, (unsigned long long)(b0 + n), tiny_len);
        uint8_t *b = xmalloc(tiny_len);
        memcpy(b, tiny, tiny_len);
        m_past_end(b);
        open_copy(b, tiny_len, err);
        CHECK(!strcmp(err, want), "got '%s', want '%s'", err, want);
        free(b);
    }

    // Accepted variants: version 2 (same layout), and a tensor retyped as
    // TQ2_0, which converts through its dequantizer.
    uint8_t *b = xmalloc(tiny_len);
    memcpy(b, tiny, tiny_len);
    put32(b + 4, 2);
    CHECK(gguf_open_mem(&g, b, tiny_len, "tiny.gguf", err) == 0 && g.version == 2, "version 2: %s", err);
    gguf_close(&g);
    memcpy(b, tiny, tiny_len);
    put32(b + ti_type("t.q4k"), GGML_TYPE_TQ2_0);  // 2 x 66 bytes, inside the Q4_K's 288
    CHECK(gguf_open_mem(&g, b, tiny_len, "tiny.gguf", err) == 0, "TQ2_0 tensor: %s", err);
    const GgufTensor *t = gguf_find_tensor(&g, "t.q4k");
    float out[512], want[512];
    CHECK(t && t->nbytes == 132 && gguf_tensor_to_f32(t, out, err) == 0, "TQ2_0 tensor converts: %s", err);
    if (t) {
        t->tt->to_float(t->data, want, t->n_elements);
        CHECK(same_bits(out, want, t->n_elements, "TQ2_0 tensor"), "TQ2_0 tensor: the type's dequantizer");
    }
    gguf_close(&g);
    free(b);

    // Minimal files: header only; one KV and no data section at all.
    static const uint8_t hdr[24] = {'G', 'G', 'U', 'F', 3};
    CHECK(gguf_open_mem(&g, hdr, sizeof hdr, "h.gguf", err) == 0 && g.n_kv == 0 && g.n_tensors == 0 &&
          gguf_find_kv(&g, "x") == NULL && gguf_find_tensor(&g, "x") == NULL, "header-only file: %s", err);
    gguf_close(&g);
    uint8_t one[24 + 8 + 1 + 4 + 1] = {'G', 'G', 'U', 'F', 3};
    one[16] = 1;                      // kv_count
    one[24] = 1; one[32] = 'k';       // key "k"
    one[33] = GGUF_TYPE_UINT8; one[37] = 9;
    uint32_t u;
    CHECK(gguf_open_mem(&g, one, sizeof one, "one.gguf", err) == 0 && gguf_get_u32(&g, "k", &u, err) == 0 && u == 9,
          "one-KV file: %s", err);
    gguf_close(&g);
    // An empty array is valid.
    uint8_t ea[24 + 9 + 4 + 4 + 8] = {'G', 'G', 'U', 'F', 3};
    ea[16] = 1; ea[24] = 1; ea[32] = 'a'; ea[33] = GGUF_TYPE_ARRAY; ea[37] = GGUF_TYPE_STRING;
    const GgufKV *kv;
    size_t len0;
    CHECK(gguf_open_mem(&g, ea, sizeof ea, "ea.gguf", err) == 0 && gguf_get_arr(&g, "a", GGUF_TYPE_STRING, &kv, err) == 0 &&
          kv->n == 0 && gguf_arr_str(kv, 0, &len0) == NULL, "empty array: %s", err);
    gguf_close(&g);
}

// ---------------------------------------------------------------------------
// gguf_open on the files

static void test_tiny(void) {
    char err[ERR_LEN];
    GgufFile g;
    int rc = gguf_open(&g, FIX "/tiny.gguf", err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(!strcmp(g.name, FIX "/tiny.gguf") && g.mapped, "name and mmap");
        gguf_close(&g);
    }
    // The typed checks run on an in-memory copy named like the file, so that
    // the messages read "tiny.gguf: ...".
    size_t len;
    uint8_t *buf = (uint8_t *)read_file(FIX "/tiny.gguf", &len, err);
    CHECK(buf != NULL, "%s", err);
    if (!buf) return;
    uint8_t *copy = xmalloc(len);
    memcpy(copy, buf, len);
    rc = gguf_open_mem(&g, copy, len, "tiny.gguf", err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        check_tiny_kvs(&g);
        check_tiny_tensors(&g);
        gguf_close(&g);
    }
    free(copy);
    free(buf);

    CHECK(gguf_open(&g, FIX "/nope.gguf", err) == -1 && strstr(err, "nope.gguf: cannot open"), "%s", err);
    CHECK(gguf_open(&g, FIX, err) == -1 && strstr(err, "not a regular file"), "%s", err);
    CHECK(gguf_open(&g, FIX "/dequant.bin", err) == -1 && strstr(err, "dequant.bin: not a GGUF file"), "%s", err);
}

// ---------------------------------------------------------------------------
// The real model (not committed; scripts/fetch-smollm2.sh)

// The fixture's hash: sum of splitmix64(bits_i + i * golden) mod 2^64.
static uint64_t hash64(const float *v, int64_t n) {
    uint64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (uint64_t)f2u(v[i]) + (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15);
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        h += z ^ (z >> 31);
    }
    return h;
}

static void test_model(void) {
    if (!file_exists(MODEL)) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true")) {
            tests_failed++;
            fprintf(stderr, "FAIL test_gguf: CI=true and %s is missing (scripts/fetch-smollm2.sh fetches it)\n", MODEL);
        } else {
            fprintf(stderr, "SKIP test_gguf: the SmolLM2 checks need %s (scripts/fetch-smollm2.sh)\n", MODEL);
        }
        return;
    }
    char err[ERR_LEN];
    GgufFile g;
    if (gguf_open(&g, MODEL, err) != 0) { CHECK(0, "%s", err); return; }
    FILE *f = fopen(FIX "/smollm2.txt", "r");
    CHECK(f != NULL, "cannot open %s/smollm2.txt", FIX);
    char line[4096];
    int n_checked = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *save, *kind = strtok_r(line, " ", &save), *key = strtok_r(NULL, " ", &save);
        if (!kind || !key) continue;
        if (!strcmp(kind, "tensors")) {
            CHECK(gguf_n_tensors(&g) == atoi(key), "%d tensors, want %s", gguf_n_tensors(&g), key);
        } else if (!strcmp(kind, "str")) {
            const char *want = save, *s;  // the rest of the line
            size_t n;
            CHECK(gguf_get_str(&g, key, &s, &n, err) == 0 && n == strlen(want) && !memcmp(s, want, n), "%s: %s", key, err);
        } else if (!strcmp(kind, "u32")) {
            uint32_t v = 0;
            CHECK(gguf_get_u32(&g, key, &v, err) == 0 && v == (uint32_t)strtoul(save, NULL, 10), "%s = %u (%s)", key, v, err);
        } else if (!strcmp(kind, "n_tokens")) {
            const GgufKV *a;
            CHECK(gguf_get_arr(&g, key, GGUF_TYPE_STRING, &a, err) == 0 && a->n == strtoull(save, NULL, 10), "%s", err);
        } else if (!strcmp(kind, "tensor")) {
            const GgufTensor *t = gguf_find_tensor(&g, key);
            CHECK(t != NULL, "tensor %s missing", key);
            char *type = strtok_r(NULL, " ", &save);
            int nd = atoi(strtok_r(NULL, " ", &save));
            if (!t || !type) continue;
            CHECK(!strcmp(t->tt->name, type) && t->n_dims == nd, "%s: %s, %d dims", key, t->tt->name, t->n_dims);
            for (int d = 0; d < nd; d++) {
                long long ne = atoll(strtok_r(NULL, " ", &save));
                CHECK(t->ne[d] == ne, "%s: ne[%d] = %lld, want %lld", key, d, (long long)t->ne[d], ne);
            }
            long long n = atoll(strtok_r(NULL, " ", &save));
            uint64_t want_hash = strtoull(strtok_r(NULL, " ", &save), NULL, 16);
            CHECK(t->n_elements == n, "%s: %lld elements", key, (long long)t->n_elements);
            float *v = xmalloc(sizeof(float) * (size_t)t->n_elements);
            double t0 = now_seconds();
            CHECK(gguf_tensor_to_f32(t, v, err) == 0, "%s", err);
            double dt = now_seconds() - t0;
            uint64_t h = hash64(v, t->n_elements);
            CHECK(h == want_hash, "%s: hash %016" PRIx64 ", want %016" PRIx64 " (not bit-exact with gguf-py)", key, h, want_hash);
            char *tok;
            while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
                long long i = atoll(tok);
                uint32_t bits = (uint32_t)strtoul(strchr(tok, ':') + 1, NULL, 16);
                CHECK(i >= 0 && i < t->n_elements && f2u(v[i]) == bits, "%s[%lld] = %08x, want %08x", key, i,
                      i >= 0 && i < t->n_elements ? f2u(v[i]) : 0, bits);
            }
            printf("  %s (%s, %lld weights): bit-exact with gguf-py, dequantized in %.0f ms\n", key, type, n, dt * 1e3);
            free(v);
            n_checked++;
        }
    }
    if (f) fclose(f);
    CHECK(n_checked == 2, "%d tensors checked", n_checked);
    // Every tensor of the real file dequantizes (F32, Q8_0, Q4_1).
    int bad = 0;
    for (int i = 0; i < gguf_n_tensors(&g); i++) {
        const GgufTensor *t = gguf_tensor(&g, i);
        if (t->n_elements > (1 << 24)) continue;  // token_embd was done above
        float *v = xmalloc(sizeof(float) * (size_t)(t->n_elements ? t->n_elements : 1));
        if (gguf_tensor_to_f32(t, v, err) != 0) bad++;
        for (int64_t k = 0; k < t->n_elements; k++) if (!isfinite(v[k])) { bad++; break; }
        free(v);
    }
    CHECK(bad == 0, "%d tensors of %s failed to dequantize to finite values", bad, MODEL);
    gguf_close(&g);
}

// ---------------------------------------------------------------------------
// `trit info FILE.gguf`

static void test_cli(void) {
    const char *bin = getenv("TRIT_BIN");
    if (!bin) bin = "build/trit";
    if (!file_exists(bin)) {
        fprintf(stderr, "SKIP test_gguf: no trit binary at %s for the `trit info` check\n", bin);
        return;
    }
    char cmd[4200], out[16384];
    snprintf(cmd, sizeof cmd, "'%s' info " FIX "/tiny.gguf 2>&1", bin);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    if (!p) return;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    CHECK(rc == 0, "trit info tiny.gguf exited %d:\n%s", rc, out);
    static const char *const want[] = {
        "GGUF version 3", "40 KVs", "7 tensors", "alignment 64", "architecture qwen3",
        "block_count", "embedding_length", "feed_forward_length", "head_count_kv", "context_length",
        "1e+06", "1e-06", "vocab size", "tokenizer gpt2, pre qwen2", "Q4_K", "Q8_0", "BF16",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(out, want[i]) != NULL, "trit info output lacks '%s':\n%s", want[i], out);
    // A corrupt GGUF is one error line and exit status 1.
    char tmp[] = "/tmp/trit_gguf_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    if (write(fd, "GGUF\1\0\0\0", 8) != 8) CHECK(0, "write");
    close(fd);
    snprintf(cmd, sizeof cmd, "'%s' info %s 2>&1", bin, tmp);
    p = popen(cmd, "r");
    n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    rc = p ? pclose(p) : -1;
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && strstr(out, "trit: error: ") && strstr(out, "GGUF version 1"),
          "corrupt GGUF: exit %d, output:\n%s", rc, out);
    unlink(tmp);
}

int main(void) {
    test_types();
    test_dequant();
    test_tiny();
    test_corrupt();
    test_model();
    test_cli();
    free(tiny);
    return test_finish("test_gguf");
}
