// test_safetensors.c — the safetensors reader/writer, the 16-bit float
// conversions it uses, and the config <-> tensor check.
//
//  - util.c's bf16/f16 conversions: all 65536 patterns of each widen exactly
//    and narrow back to themselves; fp32 -> bf16/f16 against an independent
//    round-to-nearest-even reference (nearest of the two neighbours, computed
//    in double) on crafted ties and ~1M spread fp32 patterns.
//  - write -> read round trips in F32 (bit-exact), BF16 and F16 (correctly
//    rounded), 0-dim and empty tensors, the header layout (sorted, padded to 8).
//  - sharded writing as transformers shards (greedy, oversized tensors alone),
//    the exact index.json text, stale files from an earlier save removed.
//  - files written by the reference library (tests/fixtures/safetensors/, made
//    by tools/reference/make_safetensors_fixtures.py with numpy and torch):
//    every dtype parses, values are exact, and trit's fp32 -> bf16/f16 equals
//    torch's / numpy's bit for bit; transformers' own sharded checkpoint.
//  - corrupt files and indexes each give one error naming the file, no crash.
//
// With TRIT_ST_EXPORT=DIR set it also writes files for the reference check
// (tools/reference/make_safetensors_fixtures.py --check-trit).
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/checkpoint.h"
#include "arch/config.h"
#include "base/util.h"
#include "format/safetensors.h"
#include "model/model.h"
#include "test.h"

#define FIXTURES "tests/fixtures/safetensors"
#define MODEL_FIXTURES "tests/fixtures/models"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static char tmpdir[64];

static char *tmp_path(const char *name) { return path_join(tmpdir, name); }

static void rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = path_join(dir, de->d_name);
        if (is_directory(p)) rm_rf(p); else unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0, ls = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l >= ls && !strcmp(de->d_name + l - ls, suffix);
    }
    closedir(d);
    return n;
}

// ---------------------------------------------------------------------------
// 16-bit conversions

// Independent references: the nearest representable value of the narrow
// format, found by comparing distances in double; ties go to the even pattern.
static double f16_value(uint16_t h) {  // finite patterns only
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

static uint16_t ref_f32_to_f16(float f) {
    uint16_t sign = (f2u(f) >> 16) & 0x8000;
    if (isnan(f)) return sign | 0x7e00;
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00;  // 65504 + half an ulp (16) and above: inf
    // Binary search the largest finite non-negative pattern <= a.
    int lo = 0, hi = 0x7bff;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f16_value((uint16_t)mid) <= a) lo = mid; else hi = mid - 1;
    }
    if (lo == 0x7bff) return sign | 0x7bff;  // 65504 <= a < 65520
    double d0 = a - f16_value((uint16_t)lo), d1 = f16_value((uint16_t)(lo + 1)) - a;
    int r = d0 < d1 ? lo : d1 < d0 ? lo + 1 : (lo & 1 ? lo + 1 : lo);
    return sign | (uint16_t)r;
}

static uint16_t ref_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if (isnan(f)) return 0xffff;  // only "is NaN" is compared
    uint32_t lo = u & 0xffff0000u;
    double a = fabs((double)f), v0 = fabs((double)u2f(lo));
    // The next bf16 magnitude up; above the largest finite one it is 2^128 (inf).
    double v1 = (lo & 0x7fffffffu) == 0x7f7f0000u ? ldexp(1, 128) : fabs((double)u2f(lo + 0x10000u));
    if ((lo & 0x7fffffffu) == 0x7f800000u) return (uint16_t)(lo >> 16);  // inf
    double d0 = a - v0, d1 = v1 - a;
    int up = d1 < d0 || (d1 == d0 && ((lo >> 16) & 1));
    return (uint16_t)((lo >> 16) + (up ? 1 : 0));
}

static void test_conversions(void) {
    int bad = 0;
    // Every f16 pattern: widens to the right value and narrows back to itself.
    for (uint32_t h = 0; h < 65536; h++) {
        float f = f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            int ok = (h & 1023) ? isnan(f) && (signbit(f) != 0) == ((h & 0x8000) != 0)
                                : isinf(f) && (f > 0) == !(h & 0x8000);
            uint16_t back = f32_to_f16(f);
            ok &= (h & 1023) ? (back & 0x7c00) == 0x7c00 && (back & 1023) && (back & 0x8000) == (h & 0x8000)
                             : back == h;
            bad += !ok;
        } else {
            bad += (double)f != f16_value((uint16_t)h) || f32_to_f16(f) != h;
        }
    }
    CHECK(bad == 0, "%d f16 patterns do not round-trip through f32", bad);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        int nan = ((h >> 7) & 0xff) == 0xff && (h & 0x7f);
        if (f2u(f) != h << 16) bad++;
        else if (nan) bad += !(isnan(f) && isnan(bf16_to_f32(f32_to_bf16(f))) && ((f32_to_bf16(f) ^ h) & 0x8000) == 0);
        else bad += f32_to_bf16(f) != h;
    }
    CHECK(bad == 0, "%d bf16 patterns do not round-trip through f32", bad);

    // Crafted rounding cases.
    struct { uint32_t in; uint16_t bf16; } bc[] = {
        {0x3f808000u, 0x3f80},  // 1 + 2^-8: tie, down to even
        {0x3f818000u, 0x3f82},  // 1 + 3*2^-8: tie, up to even
        {0x3f808001u, 0x3f81},  // just above the tie: up
        {0x3f807fffu, 0x3f80},  // just below: down
        {0x7f7fffffu, 0x7f80},  // FLT_MAX rounds to inf
        {0x7f7f7fffu, 0x7f7f},  // largest value that stays finite
        {0x00008000u, 0x0000},  // subnormal tie to even (zero)
        {0x00018000u, 0x0002},
        {0x80000000u, 0x8000},  // -0
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},  // +-inf
        {0x7fc00000u, 0x7fc0},  // quiet NaN
    };
    for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++)
        CHECK(f32_to_bf16(u2f(bc[i].in)) == bc[i].bf16, "bf16(0x%08x) = 0x%04x, want 0x%04x", bc[i].in,
              f32_to_bf16(u2f(bc[i].in)), bc[i].bf16);
    uint16_t snan = f32_to_bf16(u2f(0x7f800001u));  // signalling NaN with payload only in the low bits
    CHECK((snan & 0x7f80) == 0x7f80 && (snan & 0x7f), "sNaN must stay NaN in bf16, got 0x%04x", snan);
    struct { float in; uint16_t f16; } hc[] = {
        {1.0f + 0x1p-11f, 0x3c00},       // tie, down to even
        {1.0f + 3 * 0x1p-11f, 0x3c02},   // tie, up to even
        {65504.0f, 0x7bff}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00}, {70000.0f, 0x7c00}, {-70000.0f, 0xfc00},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {3 * 0x1p-25f, 0x0002}, {0x1.8p-24f, 0x0002},
        {0x1p-14f, 0x0400}, {0x1p-14f - 0x1p-24f, 0x03ff}, {-0.0f, 0x8000}, {1e-8f, 0x0000},
        {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++)
        CHECK(f32_to_f16(hc[i].in) == hc[i].f16, "f16(%a) = 0x%04x, want 0x%04x", (double)hc[i].in,
              f32_to_f16(hc[i].in), hc[i].f16);
    CHECK((f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (f32_to_f16(NAN) & 0x3ff), "f16(NaN) must be NaN");

    // ~1M fp32 patterns spread over all 2^32 (a stride prime to 2^32, plus
    // every pattern around the f16 and bf16 boundaries) against the references.
    int bad16 = 0, badb = 0;
    uint32_t u = 0;
    for (int i = 0; i < 1 << 20; i++, u += 4099u) {
        float f = u2f(u);
        if (isnan(f)) {
            bad16 += (f32_to_f16(f) & 0x7fff) <= 0x7c00;
            badb += (f32_to_bf16(f) & 0x7fff) <= 0x7f80;
            continue;
        }
        bad16 += f32_to_f16(f) != ref_f32_to_f16(f);
        badb += f32_to_bf16(f) != ref_f32_to_bf16(f);
    }
    const uint32_t edges[] = {0x477fe000u, 0x33000000u, 0x38800000u, 0x3f800000u, 0x7f7f0000u, 0x00000000u, 0x387fc000u};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) {
        for (uint32_t d = 0; d < 0x40000u; d++) {
            float f = u2f(edges[k] - 0x20000u + d), g = u2f((edges[k] - 0x20000u + d) | 0x80000000u);
            if (isnan(f)) continue;
            bad16 += f32_to_f16(f) != ref_f32_to_f16(f);
            bad16 += f32_to_f16(g) != ref_f32_to_f16(g);
            badb += f32_to_bf16(f) != ref_f32_to_bf16(f);
        }
    }
    CHECK(bad16 == 0, "%d fp32 values convert to f16 differently from the reference", bad16);
    CHECK(badb == 0, "%d fp32 values convert to bf16 differently from the reference", badb);
}

// ---------------------------------------------------------------------------
// Write -> read round trips

// Source values: specials and rounding ties first, then a deterministic spread.
#define NVAL 1000
static float values[NVAL];

static void make_values(void) {
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 3.14159265f, 1.0f + 0x1p-8f,
                             1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-11f, 65504.0f, 65520.0f, 70000.0f, 0x1p-24f,
                             0x1p-25f, 3 * 0x1p-25f, 0x1p-149f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN,
                             1e-8f, 1e30f, u2f(0x7f7f8000u), u2f(0x00018000u)};
    size_t ns = sizeof special / sizeof special[0];
    memcpy(values, special, sizeof special);
    uint64_t s = 12345;
    for (size_t i = ns; i < NVAL; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(s >> 32);
        // Mantissa and sign at random, exponent in a wide but finite range.
        uint32_t e = 127 - 40 + (r >> 24) % 60;
        values[i] = u2f((r & 0x807fffffu) | e << 23);
    }
}

static float narrow(StDType dt, float f) {
    return dt == ST_BF16 ? bf16_to_f32(f32_to_bf16(f)) : dt == ST_F16 ? f16_to_f32(f32_to_f16(f)) : f;
}

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || f2u(a) == f2u(b); }

static int write_set(const char *path, StDType dt, char *err) {
    StWriteTensor w[5] = {
        {.name = "values", .dtype = dt, .ndim = 1, .shape = {NVAL}, .data = values},
        {.name = "matrix", .dtype = dt, .ndim = 2, .shape = {7, 9}, .data = values},
        {.name = "scalar", .dtype = dt, .ndim = 0, .data = values + 5},
        {.name = "empty", .dtype = dt, .ndim = 2, .shape = {0, 3}, .data = NULL},
        {.name = "\xc3\xbcn\xc3\xaf/n\xc3\xa4me", .dtype = dt, .ndim = 1, .shape = {2}, .data = values},
    };
    const char *meta[] = {"format", "pt"};
    return st_write_file(path, w, 5, meta, 1, err);
}

static void test_roundtrip(StDType dt) {
    char err[ERR_LEN] = "";
    char name[64];
    snprintf(name, sizeof name, "rt_%s.safetensors", st_dtype_name(dt));
    char *path = tmp_path(name);
    CHECK(write_set(path, dt, err) == 0, "%s", err);
    // Raw layout: header length multiple of 8, padded with spaces, metadata first.
    size_t len;
    char *raw = read_file(path, &len, err);
    CHECK(raw != NULL, "%s", err);
    if (raw) {
        uint64_t n;
        memcpy(&n, raw, 8);
        size_t sz = st_dtype_size(dt);
        CHECK(n % 8 == 0 && len == 8 + n + sz * (NVAL + 63 + 1 + 0 + 2), "%s: header %llu, file %zu bytes", name,
              (unsigned long long)n, len);
        CHECK(!strncmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"empty\":", 40), "%s: header starts %.60s", name,
              raw + 8);
        CHECK(raw[8 + n - 1] == ' ' || raw[8 + n - 1] == '}', "%s: padding", name);
        free(raw);
    }
    StArchive a;
    int rc = st_open_file(&a, path, err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.ntensors == 5 && a.nfiles == 1, "%s: %d tensors", name, a.ntensors);
        for (int i = 1; i < a.ntensors; i++)
            CHECK(strcmp(a.tensors[i - 1].name, a.tensors[i].name) < 0, "%s: tensors not sorted", name);
        const StTensor *v = st_find(&a, "values"), *m = st_find(&a, "matrix"), *s = st_find(&a, "scalar"),
                       *e = st_find(&a, "empty"), *u = st_find(&a, "\xc3\xbcn\xc3\xaf/n\xc3\xa4me");
        CHECK(v && m && s && e && u, "%s: tensors missing", name);
        CHECK(st_find(&a, "nope") == NULL && st_find(&a, "") == NULL, "%s: st_find invents tensors", name);
        if (v && m && s && e && u) {
            CHECK(v->dtype == dt && v->ndim == 1 && v->shape[0] == NVAL && v->numel == NVAL &&
                  v->nbytes == NVAL * st_dtype_size(dt), "%s: values header", name);
            CHECK(m->ndim == 2 && m->shape[0] == 7 && m->shape[1] == 9 && m->numel == 63, "%s: matrix header", name);
            CHECK(s->ndim == 0 && s->numel == 1, "%s: scalar header", name);
            CHECK(e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->numel == 0 && e->nbytes == 0,
                  "%s: empty header", name);
            float *out = xmalloc(sizeof(float) * NVAL);
            CHECK(st_read_f32(v, out, err) == 0, "%s", err);
            int bad = 0;
            for (int i = 0; i < NVAL; i++) bad += !same_float(out[i], narrow(dt, values[i]));
            CHECK(bad == 0, "%s: %d values differ from the correctly rounded ones", name, bad);
            if (dt == ST_F32) {
                bad = 0;
                for (int i = 0; i < NVAL; i++) bad += f2u(out[i]) != f2u(values[i]);
                CHECK(bad == 0, "%s: F32 not bit-exact (%d)", name, bad);
            }
            if (dt == ST_BF16) CHECK(out[7] == 1.0f && out[8] == 1.0f + 0x1p-6f, "%s: bf16 ties", name);
            if (dt == ST_F16) CHECK(out[9] == 1.0f && isinf(out[11]) && isinf(out[12]) && out[14] == 0.0f, "%s: f16 ties", name);
            CHECK(isnan(out[21]) && isinf(out[19]) && out[19] > 0 && isinf(out[20]) && out[20] < 0, "%s: nan/inf", name);
            CHECK(signbit(out[1]) && out[1] == 0.0f, "%s: -0", name);
            CHECK(st_read_f32(m, out, err) == 0 && same_float(out[62], narrow(dt, values[62])), "%s: matrix", name);
            CHECK(st_read_f32(s, out, err) == 0 && same_float(out[0], narrow(dt, values[5])), "%s: scalar", name);
            CHECK(st_read_f32(e, out, err) == 0, "%s: empty", name);
            free(out);
        }
        st_close(&a);
        CHECK(a.ntensors == 0 && a.tensors == NULL, "st_close clears");
    }
    free(path);
}

static void test_write_errors(void) {
    char err[ERR_LEN];
    char *path = tmp_path("bad_write.safetensors");
    float x[4] = {0};
    StWriteTensor dup[2] = {{.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x},
                            {.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x}};
    CHECK(st_write_file(path, dup, 2, NULL, 0, err) != 0 && strstr(err, "'a'") && strstr(err, path), "dup: %s", err);
    StWriteTensor i32 = {.name = "a", .dtype = ST_I32, .ndim = 1, .shape = {4}, .data = x};
    CHECK(st_write_file(path, &i32, 1, NULL, 0, err) != 0 && strstr(err, "I32"), "dtype: %s", err);
    StWriteTensor neg = {.name = "a", .dtype = ST_F32, .ndim = 2, .shape = {4, -1}, .data = x};
    CHECK(st_write_file(path, &neg, 1, NULL, 0, err) != 0 && strstr(err, "negative"), "neg: %s", err);
    StWriteTensor meta = {.name = "__metadata__", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x};
    CHECK(st_write_file(path, &meta, 1, NULL, 0, err) != 0, "__metadata__ as a tensor name must fail");
    CHECK(!file_exists(path), "a failed write must leave no file");
    CHECK(count_files(tmpdir, ".tmp") == 0, "no temp file left");
    // Missing folders are made; below a regular file none can be.
    char *nodir = tmp_path("no/such/dir/x.safetensors");
    StWriteTensor ok = {.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x};
    CHECK(st_write_file(nodir, &ok, 1, NULL, 0, err) == 0 && file_exists(nodir), "new folders: %s", err);
    free(nodir);
    nodir = tmp_path("no/such/dir/x.safetensors/y.safetensors");
    CHECK(st_write_file(nodir, &ok, 1, NULL, 0, err) != 0 && strstr(err, "cannot create"), "below a file: %s", err);
    // No metadata at all is valid too.
    CHECK(st_write_file(path, &ok, 1, NULL, 0, err) == 0, "%s", err);
    StArchive a;
    CHECK(st_open_file(&a, path, err) == 0 && a.ntensors == 1, "%s", err);
    st_close(&a);
    unlink(path);
    free(path);
    free(nodir);
}

// ---------------------------------------------------------------------------
// Sharded writing

static void test_sharded(void) {
    char err[ERR_LEN];
    char *dir = tmp_path("sharded");
    // Byte sizes (F32): a 40, b 200, c 40, d 40, e 8 with max 100: as
    // huggingface_hub: a -> shard A; b (> max) alone, listed first; c -> A
    // (80); d would make 120 -> A closed, B = {d, e}.  Order: [b], [a c], [d e].
    static float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i * 0.25f - 3.0f;
    StWriteTensor w[5] = {
        {.name = "z.a", .dtype = ST_F32, .ndim = 1, .shape = {10}, .data = data},
        {.name = "y.b", .dtype = ST_F32, .ndim = 2, .shape = {5, 10}, .data = data},
        {.name = "x.c", .dtype = ST_F32, .ndim = 1, .shape = {10}, .data = data + 1},
        {.name = "w.d", .dtype = ST_BF16, .ndim = 1, .shape = {20}, .data = data + 2},
        {.name = "v.e", .dtype = ST_F16, .ndim = 1, .shape = {4}, .data = data + 3},
    };
    CHECK(st_write_dir(dir, w, 5, 100, err) == 0, "%s", err);
    char *idx = path_join(dir, "model.safetensors.index.json");
    size_t len;
    char *text = read_file(idx, &len, err);
    const char *want =
        "{\n"
        "  \"metadata\": {\n"
        "    \"total_parameters\": 94,\n"
        "    \"total_size\": 328\n"
        "  },\n"
        "  \"weight_map\": {\n"
        "    \"v.e\": \"model-00003-of-00003.safetensors\",\n"
        "    \"w.d\": \"model-00003-of-00003.safetensors\",\n"
        "    \"x.c\": \"model-00002-of-00003.safetensors\",\n"
        "    \"y.b\": \"model-00001-of-00003.safetensors\",\n"
        "    \"z.a\": \"model-00002-of-00003.safetensors\"\n"
        "  }\n"
        "}\n";
    CHECK(text && !strcmp(text, want), "index.json:\n%s", text ? text : err);
    free(text);
    CHECK(count_files(dir, ".safetensors") == 3, "3 shards");
    StArchive a;
    int rc = st_open_dir(&a, dir, err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.ntensors == 5 && a.nfiles == 3, "%d tensors in %d files", a.ntensors, a.nfiles);
        float out[64];
        for (int i = 0; i < 5; i++) {
            const StTensor *t = st_find(&a, w[i].name);
            CHECK(t && t->dtype == w[i].dtype, "%s", w[i].name);
            if (!t) continue;
            CHECK(st_read_f32(t, out, err) == 0, "%s", err);
            int bad = 0;
            for (int64_t j = 0; j < t->numel; j++) bad += out[j] != narrow(w[i].dtype, w[i].data[j]);
            CHECK(bad == 0, "%s: %d values differ", w[i].name, bad);
            const char *base = strrchr(a.paths[t->file], '/') + 1;
            const char *shard = i == 1 ? "model-00001-of-00003.safetensors"
                              : i == 0 || i == 2 ? "model-00002-of-00003.safetensors" : "model-00003-of-00003.safetensors";
            CHECK(!strcmp(base, shard), "%s in %s, want %s", w[i].name, base, shard);
        }
        st_close(&a);
    }
    // Saving again without a limit: one file, and the stale shards and index go.
    CHECK(st_write_dir(dir, w, 5, 0, err) == 0, "%s", err);
    CHECK(count_files(dir, ".safetensors") == 1 && !file_exists(idx), "single save leaves stale shards or index");
    CHECK(st_open_dir(&a, dir, err) == 0 && a.ntensors == 5 && a.nfiles == 1, "%s", err);
    st_close(&a);
    // And sharded again (2 shards now): the single file must go, or it would shadow the index.
    CHECK(st_write_dir(dir, w, 5, 250, err) == 0, "%s", err);
    char *single = path_join(dir, "model.safetensors");
    CHECK(!file_exists(single) && file_exists(idx) && count_files(dir, ".safetensors") == 2,
          "sharded save after a single one");
    CHECK(st_open_dir(&a, dir, err) == 0 && a.ntensors == 5 && a.nfiles == 2, "%s", err);
    st_close(&a);
    // Total at most the limit: a single file, as transformers.
    CHECK(st_write_dir(dir, w, 5, 328, err) == 0 && file_exists(single) && !file_exists(idx), "%s", err);
    free(single);
    free(idx);
    rm_rf(dir);
    // Non-ASCII names: raw UTF-8 in the safetensors header (as the reference
    // writes it), \uXXXX escapes in index.json (as Python's json.dumps).
    StWriteTensor u[2] = {{.name = "a\xc3\xbc\"\\", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = data},
                          {.name = "b\xf0\x9f\x98\x80\x01\x7f", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = data}};
    CHECK(st_write_dir(dir, u, 2, 4, err) == 0, "%s", err);
    idx = path_join(dir, "model.safetensors.index.json");
    text = read_file(idx, &len, err);
    CHECK(text && strstr(text, "    \"a\\u00fc\\\"\\\\\": \"model-00001-of-00002.safetensors\",\n") &&
          strstr(text, "    \"b\\ud83d\\ude00\\u0001\\u007f\": \"model-00002-of-00002.safetensors\"\n"), "unicode index:\n%s", text);
    free(text);
    free(idx);
    CHECK(st_open_dir(&a, dir, err) == 0 && st_find(&a, u[0].name) && st_find(&a, u[1].name), "unicode names: %s", err);
    st_close(&a);
    rm_rf(dir);
    free(dir);
}

// ---------------------------------------------------------------------------
// Files written by the reference implementation

static void test_reference_fixtures(void) {
    char err[ERR_LEN];
    StArchive a;
    int rc = st_open_file(&a, FIXTURES "/numpy_mixed.safetensors", err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.ntensors == 13, "numpy_mixed: %d tensors", a.ntensors);
        const struct { const char *name; StDType dt; int ndim; int64_t d0, d1; } want[] = {
            {"f32.source", ST_F32, 2, 16, 16}, {"f16.values", ST_F16, 2, 16, 16}, {"f16.as_f32", ST_F32, 2, 16, 16},
            {"f64.values", ST_F64, 1, 3, 0},   {"i64.ids", ST_I64, 1, 4, 0},      {"i32.vals", ST_I32, 2, 2, 3},
            {"i16.vals", ST_I16, 1, 3, 0},     {"i8.vals", ST_I8, 1, 5, 0},       {"u8.vals", ST_U8, 1, 3, 0},
            {"bool.mask", ST_BOOL, 1, 3, 0},   {"scalar", ST_F32, 0, 0, 0},       {"empty", ST_F32, 2, 0, 4},
            {"\xc3\xbcn\xc3\xaf" "code/n\xc3\xa4me", ST_F32, 1, 2, 0},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            const StTensor *t = st_find(&a, want[i].name);
            CHECK(t && t->dtype == want[i].dt && t->ndim == want[i].ndim &&
                  (t->ndim < 1 || t->shape[0] == want[i].d0) && (t->ndim < 2 || t->shape[1] == want[i].d1),
                  "numpy_mixed: %s", want[i].name);
        }
        const StTensor *src = st_find(&a, "f32.source"), *h = st_find(&a, "f16.values"), *hw = st_find(&a, "f16.as_f32");
        if (src && h && hw) {
            float s[256], x[256], y[256];
            CHECK(st_read_f32(src, s, err) == 0 && st_read_f32(h, x, err) == 0 && st_read_f32(hw, y, err) == 0, "%s", err);
            int bad = 0, badconv = 0;
            for (int i = 0; i < 256; i++) {
                bad += !same_float(x[i], y[i]);  // trit's f16 widening == numpy's
                uint16_t theirs;
                memcpy(&theirs, h->data + 2 * i, 2);
                badconv += isnan(s[i]) ? !isnan(f16_to_f32(f32_to_f16(s[i]))) : f32_to_f16(s[i]) != theirs;
            }
            CHECK(bad == 0, "numpy_mixed: %d f16 values widen differently from numpy", bad);
            CHECK(badconv == 0, "numpy_mixed: %d fp32 values narrow to f16 differently from numpy", badconv);
        }
        const StTensor *sc = st_find(&a, "scalar"), *u = st_find(&a, "\xc3\xbcn\xc3\xaf" "code/n\xc3\xa4me");
        float v[2];
        CHECK(sc && st_read_f32(sc, v, err) == 0 && v[0] == 3.5f, "numpy_mixed: scalar");
        CHECK(u && st_read_f32(u, v, err) == 0 && v[0] == 1.25f && v[1] == -2.5f, "numpy_mixed: unicode name");
        const StTensor *ids = st_find(&a, "i64.ids");
        if (ids) {
            int64_t id[4];
            memcpy(id, ids->data, sizeof id);
            CHECK(id[0] == 0 && id[1] == 151643 && id[2] == -1 && id[3] == (int64_t)1 << 40, "numpy_mixed: i64 values");
            CHECK(st_read_f32(ids, v, err) != 0 && strstr(err, "i64.ids") && strstr(err, "I64"), "read I64: %s", err);
        }
        st_close(&a);
    }
    rc = st_open_file(&a, FIXTURES "/torch_bf16.safetensors", err);
    CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.ntensors == 10, "torch_bf16: %d tensors", a.ntensors);
        const char *dn[] = {"u16.vals", "U16", "u32.vals", "U32", "u64.vals", "U64", "f8_e4m3.vals", "F8_E4M3",
                            "f8_e5m2.vals", "F8_E5M2", "bf16.values", "BF16", "f16.values", "F16"};
        for (size_t i = 0; i < sizeof dn / sizeof dn[0]; i += 2) {
            const StTensor *t = st_find(&a, dn[i]);
            CHECK(t && !strcmp(st_dtype_name(t->dtype), dn[i + 1]), "torch_bf16: %s dtype", dn[i]);
        }
        const StTensor *src = st_find(&a, "f32.source"), *b = st_find(&a, "bf16.values"), *bw = st_find(&a, "bf16.as_f32"),
                       *h = st_find(&a, "f16.values"), *hw = st_find(&a, "f16.as_f32");
        if (src && b && bw && h && hw) {
            float s[256], x[256], y[256], p[256], q[256];
            CHECK(!st_read_f32(src, s, err) && !st_read_f32(b, x, err) && !st_read_f32(bw, y, err) &&
                  !st_read_f32(h, p, err) && !st_read_f32(hw, q, err), "%s", err);
            int bad = 0, badb = 0, badh = 0;
            for (int i = 0; i < 256; i++) {
                bad += !same_float(x[i], y[i]) + !same_float(p[i], q[i]);
                uint16_t tb, th;
                memcpy(&tb, b->data + 2 * i, 2);
                memcpy(&th, h->data + 2 * i, 2);
                if (isnan(s[i])) {
                    badb += !isnan(bf16_to_f32(f32_to_bf16(s[i])));
                    badh += !isnan(f16_to_f32(f32_to_f16(s[i])));
                } else {
                    badb += f32_to_bf16(s[i]) != tb;
                    badh += f32_to_f16(s[i]) != th;
                }
            }
            CHECK(bad == 0, "torch_bf16: %d bf16/f16 values widen differently from torch", bad);
            CHECK(badb == 0, "torch_bf16: %d fp32 values narrow to bf16 differently from torch", badb);
            CHECK(badh == 0, "torch_bf16: %d fp32 values narrow to f16 differently from torch", badh);
        }
        st_close(&a);
    }
}

// transformers' own checkpoints (save_pretrained), one sharded with an index.
static void test_model_fixtures(void) {
    char err[ERR_LEN];
    const char *names[] = {"tiny_tied_fp32", "tiny_untied_bf16", "tiny_untied_fp32_sharded", "tiny_tied_bf16"};
    const int counts[] = {35, 25, 36, 24}, files[] = {1, 1, 4, 1};
    for (int i = 0; i < 4; i++) {
        char dir[256], cfgp[300];
        snprintf(dir, sizeof dir, "%s/%s", MODEL_FIXTURES, names[i]);
        snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
        ModelConfig c;
        StArchive a;
        int rc = config_load(&c, cfgp, err);
        CHECK(rc == 0, "%s", err);
        rc |= st_open_dir(&a, dir, err);
        CHECK(rc == 0, "%s", err);
        if (rc) continue;
        CHECK(a.ntensors == counts[i] && a.nfiles == files[i], "%s: %d tensors in %d files", names[i], a.ntensors, a.nfiles);
        CHECK(checkpoint_check(&c, &a, dir, err) == 0, "%s", err);
        // The config disagreeing with the weights: one clear message.
        ModelConfig bad = c;
        bad.intermediate_size += 2;
        CHECK(checkpoint_check(&bad, &a, dir, err) != 0 && strstr(err, "mlp.gate_proj.weight") && strstr(err, dir) &&
              strstr(err, "has shape") && strstr(err, "implies"), "%s", err);
        bad = c;
        bad.num_hidden_layers += 1;
        CHECK(checkpoint_check(&bad, &a, dir, err) != 0 && strstr(err, "is missing"), "%s", err);
        bad = c;
        bad.num_hidden_layers -= 1;
        CHECK(checkpoint_check(&bad, &a, dir, err) != 0 && strstr(err, "unexpected tensor"), "%s", err);
        bad = c;
        bad.tie_word_embeddings = !c.tie_word_embeddings;
        // Untied weights read as tied: lm_head.weight [V, C] is tolerated (transformers ignores it).
        int r2 = checkpoint_check(&bad, &a, dir, err);
        CHECK(c.tie_word_embeddings ? r2 != 0 && strstr(err, "lm_head.weight") : r2 == 0, "%s: tie flipped: %s", names[i], err);
        st_close(&a);
    }
    // The architecture tables (src/arch) the layout and the check read.
    ModelConfig c = {.vocab_size = 10, .hidden_size = 8, .intermediate_size = 12, .num_hidden_layers = 2,
                     .num_attention_heads = 4, .num_key_value_heads = 2, .head_dim = 6, .rms_norm_eps = 1e-6f,
                     .rope_theta = 1e4, .max_position_embeddings = 16, .bos_token_id = -1, .eos_token_id = -1,
                     .torch_dtype = "float32"};
    Model m;
    CHECK(model_alloc(&m, &c, err) == 0, "%s", err);
    CHECK(m.n_tensors == 1 + 11 * 2 + 1 + 1, "qwen3 tensors: %d", m.n_tensors);
    int bad = 0, layer;
    for (int i = 0; i < m.n_tensors; i++) {
        const ArchTensor *e = arch_find_hf(arch_get(ARCH_QWEN3), &c, m.tensors[i].name, &layer);
        bad += !e || e->kind != m.tensors[i].kind || layer != m.tensors[i].layer ||
               arch_dim(&c, e->rows) != m.tensors[i].rows;
    }
    CHECK(bad == 0, "arch_find_hf disagrees with the layout (%d)", bad);
    CHECK(m.params.wq == m.params_memory + m.tensors[3].offset && m.tensors[3].rows == 24 && m.tensors[3].cols == 8 &&
          !strcmp(m.tensors[3].name, "model.layers.0.self_attn.q_proj.weight"), "q_proj %s", m.tensors[3].name);
    CHECK(!strcmp(m.tensors[m.n_tensors - 1].name, "lm_head.weight") && m.params.lm_head != m.params.embed, "lm_head last");
    model_free(&m);
    CHECK(ck_kind_of("model.embed_tokens.weight") == CK_EMBEDDING && ck_kind_of("model.layers.3.self_attn.o_proj.weight") == CK_ATTENTION &&
          ck_kind_of("model.layers.0.self_attn.q_norm.weight") == CK_NORM && ck_kind_of("model.layers.7.mlp.down_proj.weight") == CK_MLP &&
          ck_kind_of("lm_head.weight") == CK_LM_HEAD, "kinds");
    CHECK(ck_kind_of("model.layers.x.mlp.up_proj.weight") == CK_OTHER && ck_kind_of("foo") == CK_OTHER, "other kind");
    const Arch *q3 = arch_get(ARCH_QWEN3);
    CHECK(!arch_find_hf(q3, &c, "model.layers.01.mlp.up_proj.weight", NULL) && !arch_find_hf(q3, &c, "model.layers.2.mlp.up_proj.weight", NULL) &&
          !arch_find_hf(q3, &c, "model.layers.1.mlp.up_proj.bias", NULL) && !arch_find_hf(q3, &c, "model.layers.1mlp.up_proj.weight", NULL) &&
          !arch_find_hf(q3, &c, "model.layers.99999999999999999999.mlp.up_proj.weight", NULL) && !arch_find_hf(q3, &c, "model.layers.", NULL),
          "arch_find_hf accepts a wrong name");
    CHECK(arch_find_gguf(q3, &c, "blk.1.attn_q_norm.weight", &layer) && layer == 1, "gguf name");
    c.tie_word_embeddings = 1;
    CHECK(!arch_find_hf(q3, &c, "lm_head.weight", NULL) && arch_param_count(&c) == 8 * 10 + 2 * (8 + 24 * 8 + 2 * 12 * 8 + 6 + 6 + 8 * 24 + 8 + 3 * 12 * 8) + 8,
          "tied: no lm_head; count %lld", (long long)arch_param_count(&c));
    // Llama: the same without the head norms.
    c.arch = ARCH_LLAMA;
    CHECK(model_alloc(&m, &c, err) == 0 && m.n_tensors == 1 + 9 * 2 + 1 && m.params.q_norm == NULL, "llama layout");
    CHECK(!arch_find_hf(arch_get(ARCH_LLAMA), &c, "model.layers.0.self_attn.q_norm.weight", NULL), "llama has no q_norm");
    model_free(&m);
    // A config with absurdly many layers against a small checkpoint: a quick "missing".
    StArchive a;
    ModelConfig big;
    CHECK(config_load(&big, MODEL_FIXTURES "/tiny_tied_bf16/config.json", err) == 0, "%s", err);
    CHECK(st_open_dir(&a, MODEL_FIXTURES "/tiny_tied_bf16", err) == 0, "%s", err);
    big.num_hidden_layers = 2000000000;
    big.hidden_size = big.intermediate_size = big.vocab_size = 2;
    big.num_attention_heads = big.num_key_value_heads = 1;
    big.head_dim = 2;
    CHECK(checkpoint_check(&big, &a, "big", err) != 0 && strstr(err, "model.embed_tokens.weight"), "%s", err);
    st_close(&a);
}

// ---------------------------------------------------------------------------
// Corrupt inputs

// A safetensors image: 8-byte length, the header text, `data_len` zero bytes.
static uint8_t *image(const char *hdr, size_t data_len, size_t *len) {
    size_t n = strlen(hdr);
    uint8_t *b = xcalloc(8 + n + data_len + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, hdr, n);
    *len = 8 + n + data_len;
    return b;
}

static void expect_parse_error(const char *hdr, size_t data_len, const char *needle) {
    size_t len;
    uint8_t *b = image(hdr, data_len, &len);
    StArchive a;
    memset(&a, 0, sizeof a);
    char err[ERR_LEN] = "";
    int rc = st_parse(&a, b, len, 0, "corrupt.safetensors", err);
    CHECK(rc != 0, "header accepted: %s", hdr);
    CHECK(strstr(err, "corrupt.safetensors:") == err, "message must name the file: '%s'", err);
    CHECK(!needle || strstr(err, needle), "message '%s' lacks '%s' (header %s)", err, needle, hdr);
    CHECK(a.ntensors == 0, "a failed parse must add no tensors");
    st_close(&a);
    free(b);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    char err[ERR_LEN];
    CHECK(write_file_atomic(path, p, n, err) == 0, "%s", err);
}

static void test_corrupt(void) {
    char err[ERR_LEN];
    // Files too short to hold the length.
    char *p = tmp_path("short.safetensors");
    StArchive a;
    write_bytes(p, "", 0);
    CHECK(st_open_file(&a, p, err) != 0 && strstr(err, p) && strstr(err, "too short"), "empty: %s", err);
    write_bytes(p, "\x02\0\0\0\0\0\0", 7);
    CHECK(st_open_file(&a, p, err) != 0 && strstr(err, p) && strstr(err, "7 bytes"), "7 bytes: %s", err);
    CHECK(st_open_file(&a, "/nonexistent/x.safetensors", err) != 0 && strstr(err, "/nonexistent/x.safetensors"), "%s", err);
    CHECK(st_open_file(&a, tmpdir, err) != 0 && strstr(err, "not a regular file"), "dir: %s", err);
    free(p);
    uint8_t b8[16] = {8, 0, 0, 0, 0, 0, 0, 0};
    memset(&a, 0, sizeof a);
    CHECK(st_parse(&a, b8, 8, 0, "x.st", err) != 0 && strstr(err, "past the end"), "len past end: %s", err);
    memset(&a, 0, sizeof a);
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    CHECK(st_parse(&a, huge, 10, 0, "x.st", err) != 0 && strstr(err, "past the end"), "len 2^64-1: %s", err);
    uint8_t empty_obj[16] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(st_parse(&a, empty_obj, 10, 0, "x.st", err) == 0 && a.ntensors == 0, "{} is a valid empty file: %s", err);
    st_close(&a);

    expect_parse_error("not json at all", 0, "header is not a JSON object");
    expect_parse_error("{\"a\": {", 0, "not valid JSON");
    expect_parse_error("[1, 2, 3]", 0, "not a JSON object");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "trailing");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}{}", 4, "trailing");
    expect_parse_error("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'w': unknown dtype 'Q4'");
    expect_parse_error("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype");
    expect_parse_error("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "missing \"dtype\"");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\"");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\"");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "twice");
    expect_parse_error("{\"w\":[1,2]}", 4, "not a JSON object");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, "needs 24");
    expect_parse_error("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 6");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
                       "tensor 'w': data_offsets [0, 8] past the end of the data (7 bytes)");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "begin after end");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "[begin, end]");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "[begin, end]");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, "non-negative");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4.5]}}", 8, "non-negative");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 8, "non-negative");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 16, "overlap");  // contained
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "tensor 'a' appears twice");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a' appears twice");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0]");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0, "shape[0]");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,0]}}", 0, "not an array");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
                       "overflows");
    expect_parse_error("{\"w\":{\"dtype\":\"F64\",\"shape\":[2147483648,1073741824],\"data_offsets\":[0,0]}}", 0, "overflows");
    expect_parse_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", 0, "shape[0]");
    expect_parse_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "dimensions");
    expect_parse_error("{\"__metadata__\":{\"format\":1}}", 0, "not a string");
    expect_parse_error("{\"__metadata__\":[]}", 0, "__metadata__");
    expect_parse_error("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "twice");

    // Valid corner cases: empty tensors anywhere, zero-size shapes that would
    // overflow, 8-dim shapes, gaps between tensors, unknown fields ignored.
    const char *good[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740991,9007199254740991],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[6,8],\"extra\":[1]}}",
        "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[3,4]}}   \n ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t len;
        uint8_t *b = image(good[i], 8, &len);
        memset(&a, 0, sizeof a);
        CHECK(st_parse(&a, b, len, 0, "good", err) == 0 && a.ntensors == (i == 0 ? 2 : 1), "good[%zu]: %s", i, err);
        st_close(&a);
        free(b);
    }

    // Two parses into one archive (as shards): a name in both is an error that
    // names the second file and leaves the first file's tensors intact.
    {
        size_t l1, l2;
        uint8_t *b1 = image("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &l1);
        uint8_t *b2 = image("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &l2);
        memset(&a, 0, sizeof a);
        CHECK(st_parse(&a, b1, l1, 0, "one", err) == 0, "%s", err);
        CHECK(st_parse(&a, b2, l2, 1, "two", err) != 0 && strstr(err, "two:") && strstr(err, "'c'"), "%s", err);
        CHECK(a.ntensors == 2 && st_find(&a, "a") && st_find(&a, "c") && !st_find(&a, "b"), "archive after failed merge");
        st_close(&a);
        free(b1);
        free(b2);
    }
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static void test_corrupt_dirs(void) {
    char err[ERR_LEN];
    StArchive a;
    CHECK(st_open_dir(&a, "/nonexistent/dir", err) != 0 && strstr(err, "/nonexistent/dir") && strstr(err, "no such directory"),
          "%s", err);
    char *d = tmp_path("ckpt");
    CHECK(make_dir(d, err) == 0, "%s", err);
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, d) && strstr(err, "no checkpoint"), "%s", err);
    // Two shards written by trit, then the index edited in bad ways.
    float x[4] = {1, 2, 3, 4};
    StWriteTensor w[3] = {{.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x},
                          {.name = "b", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x},
                          {.name = "c", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = x}};
    CHECK(st_write_dir(d, w, 3, 16, err) == 0, "%s", err);
    CHECK(st_open_dir(&a, d, err) == 0 && a.ntensors == 3 && a.nfiles == 3, "%s", err);
    st_close(&a);
    char *idx = path_join(d, "model.safetensors.index.json");
    const char *s1 = "model-00001-of-00003.safetensors", *s2 = "model-00002-of-00003.safetensors";
    char text[1024];
    struct { const char *map, *needle; } cases[] = {
        {"\"a\": \"%s\", \"b\": \"%s\", \"c\": \"model-00009-of-00009.safetensors\"", "model-00009-of-00009.safetensors: cannot open"},
        {"\"a\": \"%s\", \"b\": \"%s\", \"x\": \"model-00003-of-00003.safetensors\"", "'x' is listed in the index but missing"},
        {"\"a\": \"%s\", \"b\": \"%s\"", "'c' in"},                                       // c in shard 3? not opened -> ok; see below
        {"\"a\": \"%2$s\", \"b\": \"%1$s\", \"c\": \"model-00003-of-00003.safetensors\"", "listed in"},
        {"\"a\": \"%s\", \"b\": \"../%s\", \"c\": \"model-00003-of-00003.safetensors\"", "not a file name"},
        {"\"a\": 1, \"b\": \"%s\"", "not a file name string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char map[512];
        snprintf(map, sizeof map, cases[i].map, s1, s2);
        snprintf(text, sizeof text, "{\"metadata\": {}, \"weight_map\": {%s}}", map);
        write_text(idx, text);
        int rc = st_open_dir(&a, d, err);
        if (i == 2) {  // an index that just leaves out a shard: only a and b are read, consistently
            CHECK(rc == 0 && a.ntensors == 2, "index without shard 3: %s", err);
            st_close(&a);
            continue;
        }
        CHECK(rc != 0 && strstr(err, cases[i].needle) && (strstr(err, idx) || strstr(err, d)), "case %zu: %s", i, err);
        CHECK(a.ntensors == 0 && a.nfiles == 0, "failed open leaves an empty archive");
    }
    // A shard holding a tensor the index does not list.
    snprintf(text, sizeof text, "{\"weight_map\": {\"a\": \"%s\", \"c\": \"model-00003-of-00003.safetensors\"}}", s1);
    write_text(idx, text);
    // Put b into shard 1 as well by rewriting shard 1 with a and b.
    char *p1 = path_join(d, s1);
    CHECK(st_write_file(p1, w, 2, NULL, 0, err) == 0, "%s", err);
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, "'b'") && strstr(err, "not listed"), "unlisted: %s", err);
    // The same tensor in two shards.
    snprintf(text, sizeof text, "{\"weight_map\": {\"a\": \"%s\", \"b\": \"%s\", \"c\": \"model-00003-of-00003.safetensors\"}}",
             s1, s2);
    write_text(idx, text);
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, "'b'") && strstr(err, "also in"), "two shards: %s", err);
    write_text(idx, "{\"weight_map\": [1]}");
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, "weight_map") && strstr(err, idx), "%s", err);
    write_text(idx, "{\"weight_map\": {}}");
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, "empty"), "%s", err);
    write_text(idx, "nope");
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, "not valid JSON") && strstr(err, idx), "%s", err);
    // A corrupt shard: the message names the shard.
    write_bytes(p1, "\x04\0\0\0\0\0\0\0{}}}", 12);
    snprintf(text, sizeof text, "{\"weight_map\": {\"a\": \"%s\"}}", s1);
    write_text(idx, text);
    CHECK(st_open_dir(&a, d, err) != 0 && strstr(err, p1), "corrupt shard: %s", err);
    free(p1);
    free(idx);
    rm_rf(d);
    free(d);
}

// ---------------------------------------------------------------------------
// Files for tools/reference/make_safetensors_fixtures.py --check-trit

static int export_model(const char *dir, int tied, StDType dt, size_t max_shard, char *err) {
    ModelConfig c = {.vocab_size = 96, .hidden_size = 32, .intermediate_size = 48, .num_hidden_layers = 2,
                     .num_attention_heads = 4, .num_key_value_heads = 2, .head_dim = 12, .rms_norm_eps = 1e-5f,
                     .rope_theta = 1000000.0, .tie_word_embeddings = tied, .max_position_embeddings = 128,
                     .bos_token_id = 1, .eos_token_id = 2};
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", dt == ST_BF16 ? "bfloat16" : "float32");
    if (make_dir(dir, err)) return -1;
    Model m;
    if (model_alloc(&m, &c, err)) return -1;
    const int n = m.n_tensors;
    StWriteTensor *w = xcalloc((size_t)n, sizeof *w);
    for (size_t j = 0; j < m.n_params; j++) {
        float v = values[(j * 7) % NVAL];
        m.params_memory[j] = isfinite(v) && fabsf(v) < 1e4f ? v * 1e-3f : 0.01f;
    }
    for (int i = 0; i < n; i++) {
        const TensorInfo *t = &m.tensors[i];
        w[i] = (StWriteTensor){.name = t->name, .dtype = dt, .ndim = t->cols ? 2 : 1,
                               .shape = {t->rows, t->cols}, .data = m.params_memory + t->offset};
    }
    int rc = st_write_dir(dir, w, n, max_shard, err);
    char *cfg = path_join(dir, "config.json");
    if (rc == 0) rc = config_save(&c, cfg, "group absmean, g=\"128\"\nline 2", err);
    free(cfg);
    // What AutoConfig must report.
    char exp[512];
    snprintf(exp, sizeof exp,
             "{\"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 2, "
             "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 12, \"rms_norm_eps\": 1e-05, "
             "\"rope_theta\": 1000000.0, \"tie_word_embeddings\": %s, \"max_position_embeddings\": 128, "
             "\"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"%s\"}\n", tied ? "true" : "false", c.torch_dtype);
    char *ep = path_join(dir, "expected.json");
    if (rc == 0) rc = write_file_atomic(ep, exp, strlen(exp), err);
    free(ep);
    model_free(&m);
    free(w);
    return rc;
}

static void export_files(const char *dir) {
    char err[ERR_LEN];
    CHECK(make_dir(dir, err) == 0, "%s", err);
    char *p = path_join(dir, "values.f32");
    write_bytes(p, values, sizeof values);
    free(p);
    const StDType dts[3] = {ST_F32, ST_BF16, ST_F16};
    const char *names[3] = {"trit_f32.safetensors", "trit_bf16.safetensors", "trit_f16.safetensors"};
    for (int i = 0; i < 3; i++) {
        p = path_join(dir, names[i]);
        CHECK(write_set(p, dts[i], err) == 0, "%s", err);
        free(p);
    }
    StWriteTensor mixed[3] = {{.name = "x.f32", .dtype = ST_F32, .ndim = 1, .shape = {13}, .data = values},
                              {.name = "x.bf16", .dtype = ST_BF16, .ndim = 1, .shape = {7}, .data = values},
                              {.name = "x.f16", .dtype = ST_F16, .ndim = 1, .shape = {5}, .data = values}};
    const char *meta[] = {"format", "pt"};
    p = path_join(dir, "mixed.safetensors");
    CHECK(st_write_file(p, mixed, 3, meta, 1, err) == 0, "%s", err);
    free(p);
    p = path_join(dir, "model_sharded");
    CHECK(export_model(p, 0, ST_F32, 10000, err) == 0, "%s", err);
    free(p);
    p = path_join(dir, "model_single");
    CHECK(export_model(p, 1, ST_BF16, 0, err) == 0, "%s", err);
    free(p);
    printf("exported reference-check files to %s\n", dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/trit_test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    make_values();
    test_conversions();
    test_roundtrip(ST_F32);
    test_roundtrip(ST_BF16);
    test_roundtrip(ST_F16);
    test_write_errors();
    test_sharded();
    test_reference_fixtures();
    test_model_fixtures();
    test_corrupt();
    test_corrupt_dirs();
    const char *exp = getenv("TRIT_ST_EXPORT");
    if (exp) export_files(exp);
    rm_rf(tmpdir);
    return test_finish("test_safetensors");
}
