// test_gguf_write.c — the GGUF writer (format/gguf_write.h), read back with the
// bounds-checked reader (format/gguf.h).
//
//  - every scalar and array type, written and read back value for value in
//    insertion order, with tensors of every type of the ggml table (F32, F16,
//    Q8_0, ... with ne[0] two blocks): name, type, shape, bytes and offsets.
//  - the layout: no general.alignment key by default and data aligned to 32;
//    general.alignment 64 and 1 honoured; the file ends padded as gguf-py's
//    writer leaves it.
//  - byte for byte: every GGUF that gguf-py's GGUFWriter wrote in the
//    fixtures and fuzz seeds (and the real SmolLM2 GGUF when models/ has it),
//    copied KV by KV and tensor by tensor through this writer, gives the same
//    file.
//  - errors: each refused add names the problem and adds nothing (duplicate
//    key, bad keys and strings, general.alignment of another type or not a
//    power of two, tensor names of 64 bytes, duplicate tensors, unknown types,
//    ne[0] not a multiple of the block size, bad dims); a path that cannot be
//    written leaves no file, and a failed rename leaves no temporary file.
// With TRIT_GGUF_WRITE_KEEP=DIR it leaves DIR/interop.gguf for
// tools/reference/check_gguf_writer.py, which reads it with gguf-py.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "quant/ggml_types.h"
#include "test.h"

static char tmpdir[] = "/tmp/trit_test_gguf_write_XXXXXX";

static char *tmp_path(const char *name) { return path_join(tmpdir, name); }

// --- every KV type -------------------------------------------------------------

static const uint8_t ARR_U8[] = {0, 7, 255};
static const int8_t ARR_I8[] = {-128, 0, 127};
static const uint16_t ARR_U16[] = {0, 65535};
static const int16_t ARR_I16[] = {-32768, 5};
static const uint32_t ARR_U32[] = {4294967295u, 1};
static const int32_t ARR_I32[] = {-1, 0, 7, 2147483647};
static const float ARR_F32[] = {0.5f, -2.25f, 1e-7f};
static const uint8_t ARR_BOOL[] = {1, 0, 1};
static const uint64_t ARR_U64[] = {UINT64_MAX, 0};
static const int64_t ARR_I64[] = {INT64_MIN, INT64_MAX};
static const double ARR_F64[] = {3.141592653589793, -0.0};
static const char *const ARR_STR[] = {"x", "", "yz", "h\xC3\xA9llo", "\xF0\x9F\xA6\x99"};
static const size_t ARR_STR_LEN[] = {1, 0, 2, 6, 4};

static const struct {
    const char *key;
    GgufType elem;
    const void *data;
    uint64_t n;
} ARRS[] = {
    {"arr.u8", GGUF_TYPE_UINT8, ARR_U8, 3},     {"arr.i8", GGUF_TYPE_INT8, ARR_I8, 3},
    {"arr.u16", GGUF_TYPE_UINT16, ARR_U16, 2},  {"arr.i16", GGUF_TYPE_INT16, ARR_I16, 2},
    {"arr.u32", GGUF_TYPE_UINT32, ARR_U32, 2},  {"arr.i32", GGUF_TYPE_INT32, ARR_I32, 4},
    {"arr.f32", GGUF_TYPE_FLOAT32, ARR_F32, 3}, {"arr.bool", GGUF_TYPE_BOOL, ARR_BOOL, 3},
    {"arr.u64", GGUF_TYPE_UINT64, ARR_U64, 2},  {"arr.i64", GGUF_TYPE_INT64, ARR_I64, 2},
    {"arr.f64", GGUF_TYPE_FLOAT64, ARR_F64, 2}, {"arr.empty_i32", GGUF_TYPE_INT32, ARR_I32, 0},
};
#define N_ARRS (int)(sizeof ARRS / sizeof ARRS[0])

// The keys in insertion order, as the reader must list them.
static const char *const SCALAR_KEYS[] = {
    "general.architecture", "s.u8", "s.i8", "s.u16", "s.i16", "s.u32", "s.i32", "s.f32", "s.bool_true",
    "s.bool_false", "s.str", "s.empty_str", "s.u64", "s.i64", "s.f64",
};
#define N_SCALARS (int)(sizeof SCALAR_KEYS / sizeof SCALAR_KEYS[0])

static void add_all_kvs(GgufWriter *w) {
    char err[ERR_LEN] = "";
    int rc = gguf_add_str(w, "general.architecture", "qwen3", 5, err) || gguf_add_u8(w, "s.u8", 200, err) ||
             gguf_add_i8(w, "s.i8", -100, err) || gguf_add_u16(w, "s.u16", 60000, err) ||
             gguf_add_i16(w, "s.i16", -30000, err) || gguf_add_u32(w, "s.u32", 4000000000u, err) ||
             gguf_add_i32(w, "s.i32", -2000000000, err) || gguf_add_f32(w, "s.f32", -1.5e-3f, err) ||
             gguf_add_bool(w, "s.bool_true", 7, err) || gguf_add_bool(w, "s.bool_false", 0, err) ||
             gguf_add_str(w, "s.str", "h\xC3\xA9llo, gguf", 12, err) || gguf_add_str(w, "s.empty_str", NULL, 0, err) ||
             gguf_add_u64(w, "s.u64", (1ull << 63) + 5, err) || gguf_add_i64(w, "s.i64", -(1ll << 62) - 3, err) ||
             gguf_add_f64(w, "s.f64", 0.1, err);
    CHECK(rc == 0, "scalar adds: %s", err);
    for (int i = 0; i < N_ARRS; i++)
        CHECK(gguf_add_arr(w, ARRS[i].key, ARRS[i].elem, ARRS[i].data, ARRS[i].n, err) == 0, "%s: %s", ARRS[i].key, err);
    CHECK(gguf_add_arr_str(w, "arr.str", ARR_STR, ARR_STR_LEN, 5, err) == 0, "arr.str: %s", err);
}

static int str_is(const GgufFile *g, const char *key, const char *want, size_t n) {
    const char *s;
    size_t len;
    char err[ERR_LEN];
    return gguf_get_str(g, key, &s, &len, err) == 0 && len == n && (n == 0 || !memcmp(s, want, n));
}

static void check_all_kvs(const GgufFile *g, int first) {
    char err[ERR_LEN] = "";
    CHECK(gguf_n_kv(g) == first + N_SCALARS + N_ARRS + 1, "n_kv %d", gguf_n_kv(g));
    for (int i = 0; i < N_SCALARS; i++)
        CHECK(gguf_kv(g, first + i) && !strcmp(gguf_kv(g, first + i)->key, SCALAR_KEYS[i]), "kv %d is %s", first + i,
              SCALAR_KEYS[i]);
    for (int i = 0; i < N_ARRS; i++) {
        const GgufKV *kv = gguf_kv(g, first + N_SCALARS + i);
        CHECK(kv && !strcmp(kv->key, ARRS[i].key) && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == ARRS[i].elem &&
              kv->n == ARRS[i].n, "array %s: key, type and length", ARRS[i].key);
    }
    static const GgufType scalar_types[] = {
        GGUF_TYPE_STRING, GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16, GGUF_TYPE_UINT32,
        GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL, GGUF_TYPE_BOOL, GGUF_TYPE_STRING, GGUF_TYPE_STRING,
        GGUF_TYPE_UINT64, GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64,
    };
    for (int i = 0; i < N_SCALARS; i++)
        CHECK(gguf_kv(g, first + i)->type == scalar_types[i], "%s has type %s", SCALAR_KEYS[i],
              gguf_type_name(gguf_kv(g, first + i)->type));

    int64_t i64 = 0;
    uint64_t u64 = 0;
    double f = 0;
    int b = -1;
    CHECK(str_is(g, "general.architecture", "qwen3", 5), "general.architecture");
    CHECK(gguf_kv_uint(gguf_find_kv(g, "s.u8"), &u64) == 0 && u64 == 200, "s.u8");
    CHECK(gguf_kv_int(gguf_find_kv(g, "s.i8"), &i64) == 0 && i64 == -100, "s.i8");
    CHECK(gguf_kv_uint(gguf_find_kv(g, "s.u16"), &u64) == 0 && u64 == 60000, "s.u16");
    CHECK(gguf_kv_int(gguf_find_kv(g, "s.i16"), &i64) == 0 && i64 == -30000, "s.i16");
    CHECK(gguf_kv_uint(gguf_find_kv(g, "s.u32"), &u64) == 0 && u64 == 4000000000u, "s.u32");
    CHECK(gguf_kv_int(gguf_find_kv(g, "s.i32"), &i64) == 0 && i64 == -2000000000, "s.i32");
    CHECK(gguf_kv_float(gguf_find_kv(g, "s.f32"), &f) == 0 && (float)f == -1.5e-3f, "s.f32");
    CHECK(gguf_get_bool(g, "s.bool_true", &b, err) == 0 && b == 1 && gguf_find_kv(g, "s.bool_true")->data[0] == 1,
          "s.bool_true is the byte 1: %s", err);
    CHECK(gguf_get_bool(g, "s.bool_false", &b, err) == 0 && b == 0, "s.bool_false: %s", err);
    CHECK(str_is(g, "s.str", "h\xC3\xA9llo, gguf", 12), "s.str");
    CHECK(str_is(g, "s.empty_str", "", 0), "s.empty_str");
    CHECK(gguf_get_u64(g, "s.u64", &u64, err) == 0 && u64 == (1ull << 63) + 5, "s.u64: %s", err);
    CHECK(gguf_get_i64(g, "s.i64", &i64, err) == 0 && i64 == -(1ll << 62) - 3, "s.i64: %s", err);
    CHECK(gguf_get_f64(g, "s.f64", &f, err) == 0 && f == 0.1, "s.f64: %s", err);

    for (int i = 0; i < N_ARRS; i++) {
        const GgufKV *kv = gguf_find_kv(g, ARRS[i].key);
        int ok = kv != NULL;
        for (uint64_t j = 0; ok && j < ARRS[i].n; j++) {
            int64_t v = 0;
            double d = 0;
            switch (ARRS[i].elem) {
            case GGUF_TYPE_UINT8: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_U8[j]; break;
            case GGUF_TYPE_INT8: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_I8[j]; break;
            case GGUF_TYPE_UINT16: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_U16[j]; break;
            case GGUF_TYPE_INT16: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_I16[j]; break;
            case GGUF_TYPE_UINT32: ok = gguf_arr_u32(kv, j) == ARR_U32[j]; break;
            case GGUF_TYPE_INT32: ok = gguf_arr_i32(kv, j) == ARR_I32[j]; break;
            case GGUF_TYPE_FLOAT32: ok = gguf_arr_f32(kv, j) == ARR_F32[j]; break;
            case GGUF_TYPE_BOOL: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_BOOL[j]; break;
            case GGUF_TYPE_UINT64: ok = !memcmp(kv->data + 8 * j, &ARR_U64[j], 8); break;  // above INT64_MAX
            case GGUF_TYPE_INT64: ok = gguf_arr_int(kv, j, &v) == 0 && v == ARR_I64[j]; break;
            case GGUF_TYPE_FLOAT64: ok = gguf_arr_float(kv, j, &d) == 0 && !memcmp(&d, &ARR_F64[j], 8); break;
            default: ok = 0;
            }
        }
        CHECK(ok, "array %s read back element for element", ARRS[i].key);
    }
    const GgufKV *kv = NULL;
    CHECK(gguf_get_arr(g, "arr.str", GGUF_TYPE_STRING, &kv, err) == 0 && kv->n == 5, "arr.str: %s", err);
    for (uint64_t j = 0; kv && j < kv->n; j++) {
        size_t len = 99;
        const char *s = gguf_arr_str(kv, j, &len);
        CHECK(s && len == ARR_STR_LEN[j] && !memcmp(s, ARR_STR[j], len), "arr.str[%llu]", (unsigned long long)j);
    }
}

// --- tensors of every type -----------------------------------------------------

typedef struct {
    char name[64];
    uint32_t type;
    int n_dims;
    int64_t ne[4];
    uint8_t *data;
    size_t nbytes;
} Want;

// One tensor per type of the table but `skip` (UINT32_MAX: none), ne[0] two
// blocks, 1 to 3 dims, pseudo-random bytes (the writer does not look at
// them); then a 4-d F32 one. tools/reference/check_gguf_writer.py rebuilds
// the same names, shapes and bytes.
static int make_tensors(Want *t, int cap, uint32_t skip) {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int n = 0;
    for (int i = 0; i < ggml_type_count() && n < cap - 1; i++) {
        const GgmlType *tt = ggml_type_at(i);
        if (tt->id == skip) continue;
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.%s", i, tt->name);
        t[n].type = tt->id;
        t[n].n_dims = 1 + i % 3;
        int64_t dims[4] = {2 * tt->block_size, 3, 2, 1};
        memcpy(t[n].ne, dims, sizeof dims);
        t[n].nbytes = (size_t)(2 * tt->type_size);
        for (int d = 1; d < t[n].n_dims; d++) t[n].nbytes *= (size_t)dims[d];
        n++;
    }
    snprintf(t[n].name, sizeof t[n].name, "four.dims");
    t[n].type = GGML_TYPE_F32;
    t[n].n_dims = 4;
    int64_t four[4] = {5, 2, 3, 2};
    memcpy(t[n].ne, four, sizeof four);
    t[n].nbytes = 5 * 2 * 3 * 2 * 4;
    n++;
    for (int i = 0; i < n; i++) {
        t[i].data = malloc(t[i].nbytes);
        for (size_t k = 0; k < t[i].nbytes; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            t[i].data[k] = (uint8_t)(s >> 56);
        }
    }
    return n;
}

static void check_tensors(const GgufFile *g, const Want *t, int n, uint32_t alignment, size_t file_size) {
    CHECK(g->alignment == alignment, "alignment %u, want %u", g->alignment, alignment);
    CHECK(g->data_offset % alignment == 0, "data section at %llu", (unsigned long long)g->data_offset);
    CHECK(gguf_n_tensors(g) == n, "%d tensors, want %d", gguf_n_tensors(g), n);
    uint64_t end = 0;
    for (int i = 0; i < n && i < gguf_n_tensors(g); i++) {
        const GgufTensor *r = gguf_tensor(g, i);
        int ok = !strcmp(r->name, t[i].name) && r->type == t[i].type && r->n_dims == t[i].n_dims &&
                 r->nbytes == t[i].nbytes && !memcmp(r->data, t[i].data, t[i].nbytes) && r->offset % alignment == 0 &&
                 r->offset == end;
        for (int d = 0; d < t[i].n_dims; d++) ok = ok && r->ne[d] == t[i].ne[d];
        CHECK(ok, "tensor %d (%s): name, type, shape, bytes, offset %llu (want %llu)", i, t[i].name,
              (unsigned long long)r->offset, (unsigned long long)end);
        end = (r->offset + r->nbytes + alignment - 1) / alignment * alignment;
    }
    CHECK(g->data_offset + end == file_size, "file is %zu bytes, want data + padded tensors = %llu", file_size,
          (unsigned long long)(g->data_offset + end));
}

static size_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

// A writer holding every KV type and the tensors t[0..n).
static GgufWriter *full_writer(uint32_t alignment, const Want *t, int n) {
    char err[ERR_LEN] = "";
    GgufWriter *w = gguf_writer_new();
    if (alignment != GGUF_DEFAULT_ALIGNMENT)
        CHECK(gguf_add_u32(w, "general.alignment", alignment, err) == 0, "%s", err);
    add_all_kvs(w);
    for (int i = 0; i < n; i++)
        CHECK(gguf_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne, t[i].data, err) == 0, "%s: %s",
              t[i].name, err);
    return w;
}

static void write_and_check(uint32_t alignment, const char *name) {
    char err[ERR_LEN] = "";
    Want t[64];
    int n = make_tensors(t, 64, UINT32_MAX);
    GgufWriter *w = full_writer(alignment, t, n);
    char *path = tmp_path(name);
    CHECK(gguf_writer_write(w, path, err) == 0, "write %s: %s", path, err);
    gguf_writer_free(w);
    GgufFile g = {0};
    int rc = gguf_open(&g, path, err);
    CHECK(rc == 0, "read back %s: %s", path, err);
    if (rc == 0) {
        CHECK(g.version == 3, "version %u", g.version);
        CHECK((gguf_find_kv(&g, "general.alignment") != NULL) == (alignment != GGUF_DEFAULT_ALIGNMENT),
              "general.alignment written only when not the default (alignment %u)", alignment);
        check_all_kvs(&g, alignment != GGUF_DEFAULT_ALIGNMENT);
        check_tensors(&g, t, n, alignment, file_size(path));
    }
    gguf_close(&g);
    unlink(path);
    free(path);
    for (int i = 0; i < n; i++) free(t[i].data);
}

// With TRIT_GGUF_WRITE_KEEP=DIR: DIR/interop.gguf (alignment 64) for
// tools/reference/check_gguf_writer.py to read with gguf-py. Q2_0 is left
// out: gguf-py 0.19 has no type 42 and refuses the file.
static void write_interop(void) {
    const char *dir = getenv("TRIT_GGUF_WRITE_KEEP");
    if (!dir) return;
    char err[ERR_LEN] = "";
    Want t[64];
    int n = make_tensors(t, 64, GGML_TYPE_Q2_0);
    GgufWriter *w = full_writer(64, t, n);
    char *path = path_join(dir, "interop.gguf");
    CHECK(gguf_writer_write(w, path, err) == 0, "write %s: %s", path, err);
    free(path);
    gguf_writer_free(w);
    for (int i = 0; i < n; i++) free(t[i].data);
}

// --- byte for byte against gguf-py ---------------------------------------------

// Adds kv (read from a file) to w with the same type and value.
static int copy_kv(GgufWriter *w, const GgufKV *kv, char *err) {
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: gguf_kv_uint(kv, &u); return gguf_add_u8(w, kv->key, (uint8_t)u, err);
    case GGUF_TYPE_INT8: gguf_kv_int(kv, &i); return gguf_add_i8(w, kv->key, (int8_t)i, err);
    case GGUF_TYPE_UINT16: gguf_kv_uint(kv, &u); return gguf_add_u16(w, kv->key, (uint16_t)u, err);
    case GGUF_TYPE_INT16: gguf_kv_int(kv, &i); return gguf_add_i16(w, kv->key, (int16_t)i, err);
    case GGUF_TYPE_UINT32: gguf_kv_uint(kv, &u); return gguf_add_u32(w, kv->key, (uint32_t)u, err);
    case GGUF_TYPE_INT32: gguf_kv_int(kv, &i); return gguf_add_i32(w, kv->key, (int32_t)i, err);
    case GGUF_TYPE_FLOAT32: gguf_kv_float(kv, &f); return gguf_add_f32(w, kv->key, (float)f, err);
    case GGUF_TYPE_BOOL: gguf_kv_int(kv, &i); return gguf_add_bool(w, kv->key, (int)i, err);
    case GGUF_TYPE_UINT64: memcpy(&u, kv->data, 8); return gguf_add_u64(w, kv->key, u, err);
    case GGUF_TYPE_INT64: gguf_kv_int(kv, &i); return gguf_add_i64(w, kv->key, i, err);
    case GGUF_TYPE_FLOAT64: gguf_kv_float(kv, &f); return gguf_add_f64(w, kv->key, f, err);
    case GGUF_TYPE_STRING: return gguf_add_str(w, kv->key, (const char *)kv->data, kv->len, err);
    case GGUF_TYPE_ARRAY:
        if (kv->arr_type != GGUF_TYPE_STRING) return gguf_add_arr(w, kv->key, kv->arr_type, kv->data, kv->n, err);
        {
            const char **s = malloc((kv->n + 1) * sizeof *s);
            size_t *lens = malloc((kv->n + 1) * sizeof *lens);
            for (uint64_t j = 0; j < kv->n; j++) s[j] = gguf_arr_str(kv, j, &lens[j]);
            int rc = gguf_add_arr_str(w, kv->key, s, lens, kv->n, err);
            free(s);
            free(lens);
            return rc;
        }
    default: return set_err(err, "unexpected type");
    }
}

// Rewrites the GGUF at `path` through the writer and compares the bytes.
static void check_same_bytes(const char *path) {
    char err[ERR_LEN] = "";
    GgufFile g = {0};
    if (gguf_open(&g, path, err)) { CHECK(0, "%s", err); return; }
    GgufWriter *w = gguf_writer_new();
    int rc = 0;
    for (int i = 0; rc == 0 && i < gguf_n_kv(&g); i++) rc = copy_kv(w, gguf_kv(&g, i), err);
    for (int i = 0; rc == 0 && i < gguf_n_tensors(&g); i++) {
        const GgufTensor *t = gguf_tensor(&g, i);
        rc = gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, err);
    }
    char *out = tmp_path("copy.gguf");
    CHECK(rc == 0 && gguf_writer_write(w, out, err) == 0, "%s copied: %s", path, err);
    size_t n = 0;
    char *bytes = read_file(out, &n, err);
    size_t k = 0;
    while (bytes && k < n && k < g.size && bytes[k] == (char)g.base[k]) k++;
    CHECK(bytes && n == g.size && k == n, "%s rewritten: %zu bytes (want %zu), first difference at byte %zu", path, n,
          g.size, k);
    free(bytes);
    unlink(out);
    free(out);
    gguf_writer_free(w);
    gguf_close(&g);
}

static void test_same_bytes(void) {
    // header_only.gguf is left out: it stops after the counts, with no padding
    // (gguf-py's writer pads the header), to exercise the reader's edge.
    const char *files[] = {"tests/fixtures/gguf/tiny.gguf", "fuzz/seeds/gguf/all_types.gguf",
                           "fuzz/seeds/gguf/import_llama.gguf", "fuzz/seeds/gguf/vocab.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_same_bytes(files[i]);
    const char *dir = getenv("MODELS") ? getenv("MODELS") : "models";
    char *model = path_join(dir, "SmolLM2-135M-Instruct.Q4_1.gguf");
    if (file_exists(model)) {
        check_same_bytes(model);
    } else if (getenv("CI") && !strcmp(getenv("CI"), "true")) {
        CHECK(0, "CI=true and %s is missing (scripts/fetch-smollm2.sh)", model);
    } else {
        fprintf(stderr, "SKIP test_gguf_write: the SmolLM2 rewrite needs %s (scripts/fetch-smollm2.sh)\n", model);
    }
    free(model);
}

// --- errors --------------------------------------------------------------------

// The number of KVs and tensors a writer writes, read back.
static void counts(const GgufWriter *w, int *n_kv, int *n_tensors) {
    char err[ERR_LEN] = "";
    char *path = tmp_path("counts.gguf");
    GgufFile g = {0};
    *n_kv = *n_tensors = -1;
    if (gguf_writer_write(w, path, err) == 0 && gguf_open(&g, path, err) == 0) {
        *n_kv = gguf_n_kv(&g);
        *n_tensors = gguf_n_tensors(&g);
    }
    CHECK(*n_kv >= 0, "%s", err);
    gguf_close(&g);
    unlink(path);
    free(path);
}

#define REFUSED(call, needle)                                                                    \
    do {                                                                                         \
        err[0] = 0;                                                                              \
        CHECK((call) == -1 && strstr(err, needle), "%s: want an error with '%s', got '%s'", #call, \
              needle, err);                                                                      \
    } while (0)

static void test_errors(void) {
    char err[ERR_LEN] = "";
    GgufWriter *w = gguf_writer_new();
    float data[64] = {0};
    int64_t ne[4] = {32, 2, 1, 1};
    CHECK(gguf_add_u32(w, "a.key", 1, err) == 0 && gguf_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, data, err) == 0,
          "%s", err);
    REFUSED(gguf_add_u32(w, "a.key", 2, err), "'a.key': added twice");
    REFUSED(gguf_add_str(w, "a.key", "x", 1, err), "'a.key': added twice");
    REFUSED(gguf_add_arr(w, "a.key", GGUF_TYPE_INT32, ARR_I32, 4, err), "'a.key': added twice");
    REFUSED(gguf_add_u32(w, "", 2, err), "GGUF key: empty");
    REFUSED(gguf_add_u32(w, "k\xC3\xA9", 2, err), "not printable ASCII");
    REFUSED(gguf_add_str(w, "s.bad", "\xC3(", 2, err), "not UTF-8 at byte 0");
    REFUSED(gguf_add_str(w, "s.nul", "a\0b", 3, err), "contains a NUL byte");
    const char *bad_strs[] = {"ok", "\xFF"};
    size_t bad_lens[] = {2, 1};
    REFUSED(gguf_add_arr_str(w, "arr.bad", bad_strs, bad_lens, 2, err), "element 1 is not UTF-8");
    REFUSED(gguf_add_arr(w, "arr.nested", GGUF_TYPE_ARRAY, ARR_I32, 1, err), "scalar elements, not ARRAY");
    REFUSED(gguf_add_arr(w, "arr.str", GGUF_TYPE_STRING, ARR_I32, 1, err), "scalar elements, not STRING");
    const uint8_t two[] = {0, 2};
    REFUSED(gguf_add_arr(w, "arr.bool", GGUF_TYPE_BOOL, two, 2, err), "element 1 is 2");
    REFUSED(gguf_add_u64(w, "general.alignment", 64, err), "type UINT64, llama.cpp requires UINT32");
    REFUSED(gguf_add_u32(w, "general.alignment", 48, err), "48 is not a power of two");
    REFUSED(gguf_add_u32(w, "general.alignment", 0, err), "0 is not a power of two");

    char name64[65];
    memset(name64, 'n', 64);
    name64[64] = 0;
    REFUSED(gguf_add_tensor(w, name64, GGML_TYPE_F32, 1, ne, data, err), "name is 64 bytes, ggml allows at most 63");
    name64[63] = 0;
    CHECK(gguf_add_tensor(w, name64, GGML_TYPE_F32, 1, ne, data, err) == 0, "a 63-byte name is fine: %s", err);
    REFUSED(gguf_add_tensor(w, "", GGML_TYPE_F32, 1, ne, data, err), "tensor name: empty");
    REFUSED(gguf_add_tensor(w, "t", GGML_TYPE_F32, 1, ne, data, err), "tensor 't': added twice");
    REFUSED(gguf_add_tensor(w, "u", 4, 1, ne, data, err), "unknown ggml type 4");
    int64_t ne33[2] = {33, 1};
    REFUSED(gguf_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne33, data, err), "ne[0] = 33 is not a multiple of Q8_0's block size 32");
    int64_t ne_k[1] = {128};
    REFUSED(gguf_add_tensor(w, "k", GGML_TYPE_Q4_K, 1, ne_k, data, err), "ne[0] = 128 is not a multiple of Q4_K's block size 256");
    REFUSED(gguf_add_tensor(w, "d0", GGML_TYPE_F32, 0, ne, data, err), "0 dimensions, expected 1 to 4");
    REFUSED(gguf_add_tensor(w, "d5", GGML_TYPE_F32, 5, ne, data, err), "5 dimensions, expected 1 to 4");
    int64_t ne0[2] = {32, 0};
    REFUSED(gguf_add_tensor(w, "z", GGML_TYPE_F32, 2, ne0, data, err), "ne[1] = 0, expected >= 1");
    int64_t huge[4] = {1ll << 40, 1ll << 40, 1ll << 40, 1};
    REFUSED(gguf_add_tensor(w, "huge", GGML_TYPE_F32, 3, huge, data, err), "size overflows");
    REFUSED(gguf_add_tensor(w, "null", GGML_TYPE_F32, 1, ne, NULL, err), "data is NULL");

    // Nothing of the refused adds was kept.
    int n_kv, n_tensors;
    counts(w, &n_kv, &n_tensors);
    CHECK(n_kv == 1 && n_tensors == 2, "after the refused adds: %d KVs, %d tensors (want 1, 2)", n_kv, n_tensors);

    // An unwritable path (below a regular file: no folder can be made
    // there): an error naming it, and no file.
    char *plain = tmp_path("plain");
    write_file_atomic(plain, "x", 1, err);
    char *missing = tmp_path("plain/sub/x.gguf");
    REFUSED(gguf_writer_write(w, missing, err), "plain: cannot create directory: a file of that name is in the way");
    CHECK(!file_exists(missing), "no file at %s", missing);
    free(missing);
    remove(plain);
    free(plain);
    // A target that is a directory: the data is written, the rename fails,
    // and the temporary file is removed.
    char *target = tmp_path("is_a_dir");
    CHECK(make_dir(target, err) == 0, "%s", err);
    REFUSED(gguf_writer_write(w, target, err), "rename failed");
    DIR *d = opendir(tmpdir);
    int leftovers = 0;
    for (struct dirent *e; d && (e = readdir(d));) leftovers += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    CHECK(leftovers == 0 && is_directory(target), "no temporary file left, the directory untouched");
    rmdir(target);
    free(target);
    gguf_writer_free(w);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "FAIL test_gguf_write: mkdtemp\n");
        return 1;
    }
    write_and_check(GGUF_DEFAULT_ALIGNMENT, "default.gguf");
    write_and_check(64, "align64.gguf");
    write_and_check(1, "align1.gguf");
    test_same_bytes();
    test_errors();
    write_interop();
    rmdir(tmpdir);
    return test_finish("test_gguf_write");
}
