// gguf.c — see gguf.h.
//
// One pass over the file with a bounds-checked cursor: header, KVs (keys
// copied, values left in the file with their extent checked), tensor infos;
// then general.alignment, the data section and each tensor's extent, then
// duplicates and overlaps. Counts read from the file are compared with the
// bytes left before anything is allocated for them, so a lying count costs
// an error message, not memory.
#define _POSIX_C_SOURCE 200809L
#include "format/gguf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const type_names[GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};
// Bytes of a scalar value; 0 for STRING and ARRAY.
static const unsigned char scalar_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(GgufType t) { return (unsigned)t < GGUF_TYPE_COUNT ? type_names[t] : "?"; }

static int is_int_type(GgufType t) {
    return t <= GGUF_TYPE_INT32 || t == GGUF_TYPE_BOOL || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}
static int is_signed_type(GgufType t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

// Little-endian unsigned value of `size` bytes at any address.
static uint64_t rd_le(const uint8_t *p, int size) {
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// ---------------------------------------------------------------------------
// The cursor

typedef struct {
    const uint8_t *buf;
    size_t len, pos;
    const char *name;   // the file, for messages
    char ctx[320];      // what is being read: "header", "KV 'general.name'", ...
    char *err;
} Rd;

static size_t left(const Rd *r) { return r->len - r->pos; }

// Takes n bytes; *p points at them.
static int take(Rd *r, uint64_t n, const uint8_t **p, const char *what) {
    if (n > left(r))
        return set_err(r->err, "%s: %s: %s (%llu bytes at offset %zu) runs past the end of the file (%zu bytes)",
                       r->name, r->ctx, what, (unsigned long long)n, r->pos, r->len);
    if (p) *p = r->buf + r->pos;
    r->pos += (size_t)n;
    return 0;
}

static int rd_u32(Rd *r, uint32_t *v, const char *what) {
    const uint8_t *p = NULL;
    if (take(r, 4, &p, what) != 0) return -1;
    *v = (uint32_t)rd_le(p, 4);
    return 0;
}

static int rd_u64(Rd *r, uint64_t *v, const char *what) {
    const uint8_t *p = NULL;
    if (take(r, 8, &p, what) != 0) return -1;
    *v = rd_le(p, 8);
    return 0;
}

// A string: u64 length, then the bytes. `idx` >= 0 names an array element.
static int rd_str(Rd *r, const uint8_t **s, uint64_t *len, const char *what, int64_t idx) {
    size_t at = r->pos;
    char w[96];
    if (idx >= 0) snprintf(w, sizeof w, "%s %lld", what, (long long)idx);
    else snprintf(w, sizeof w, "%s", what);
    if (rd_u64(r, len, w) != 0) return -1;
    if (*len > left(r))
        return set_err(r->err, "%s: %s: %s at offset %zu has length %llu, past the end of the file (%zu bytes)",
                       r->name, r->ctx, w, at, (unsigned long long)*len, r->len);
    *s = r->buf + r->pos;
    r->pos += (size_t)*len;
    return 0;
}

// A key or tensor name, copied NUL-terminated; NUL bytes inside would make
// it unreachable by strcmp lookups, so they are refused.
static int rd_name(Rd *r, char **out, const char *what) {
    const uint8_t *s = NULL;
    uint64_t n = 0;
    if (rd_str(r, &s, &n, what, -1) != 0) return -1;
    if (n == 0) return set_err(r->err, "%s: %s: %s is empty", r->name, r->ctx, what);
    if (memchr(s, 0, (size_t)n))
        return set_err(r->err, "%s: %s: %s contains a NUL byte", r->name, r->ctx, what);
    char *c = xmalloc((size_t)n + 1);
    memcpy(c, s, (size_t)n);
    c[n] = 0;
    *out = c;
    return 0;
}

// ---------------------------------------------------------------------------
// KVs

static int check_bools(Rd *r, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return set_err(r->err, "%s: %s: bool value %u at offset %zu is neither 0 nor 1", r->name, r->ctx,
                           p[i], (size_t)(p + i - r->buf));
    return 0;
}

static int parse_value(Rd *r, GgufKV *kv) {
    uint32_t t = 0;
    if (rd_u32(r, &t, "value type") != 0) return -1;
    if (t >= GGUF_TYPE_COUNT) return set_err(r->err, "%s: %s: unknown value type %u", r->name, r->ctx, t);
    kv->type = (GgufType)t;
    if (t == GGUF_TYPE_STRING) return rd_str(r, &kv->data, &kv->len, "string", -1);
    if (t != GGUF_TYPE_ARRAY) {
        if (take(r, scalar_size[t], &kv->data, "value") != 0) return -1;
        return t == GGUF_TYPE_BOOL ? check_bools(r, kv->data, 1) : 0;
    }
    uint32_t et = 0;
    if (rd_u32(r, &et, "array element type") != 0) return -1;
    if (et >= GGUF_TYPE_COUNT)
        return set_err(r->err, "%s: %s: unknown array element type %u", r->name, r->ctx, et);
    if (et == GGUF_TYPE_ARRAY)
        return set_err(r->err, "%s: %s: arrays of arrays are not supported", r->name, r->ctx);
    kv->arr_type = (GgufType)et;
    if (rd_u64(r, &kv->n, "array count") != 0) return -1;
    kv->data = r->buf + r->pos;
    if (et != GGUF_TYPE_STRING) {
        uint64_t sz = scalar_size[et];
        if (kv->n > left(r) / sz)
            return set_err(r->err, "%s: %s: array of %llu %s at offset %zu runs past the end of the file (%zu bytes)",
                           r->name, r->ctx, (unsigned long long)kv->n, type_names[et], r->pos, r->len);
        r->pos += (size_t)(kv->n * sz);
        return et == GGUF_TYPE_BOOL ? check_bools(r, kv->data, kv->n) : 0;
    }
    // Every string takes at least its 8-byte length: this bounds the index.
    if (kv->n > left(r) / 8)
        return set_err(r->err, "%s: %s: array of %llu strings at offset %zu runs past the end of the file (%zu bytes)",
                       r->name, r->ctx, (unsigned long long)kv->n, r->pos, r->len);
    if (kv->n == 0) return 0;
    kv->strs = xmalloc(sizeof *kv->strs * (size_t)kv->n);
    for (uint64_t i = 0; i < kv->n; i++) {
        const uint8_t *s = NULL;
        uint64_t len = 0;
        kv->strs[i] = r->buf + r->pos;
        if (rd_str(r, &s, &len, "string element", (int64_t)i) != 0) return -1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Sorted indices (lookup and duplicate checks)

typedef struct { const char *s; int i; } Named;

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const Named *)a)->s, ((const Named *)b)->s);
}

// Sorts `n` names into idx; returns the index of a duplicate name or -1.
static int sort_names(Named *v, int n, int *idx) {
    qsort(v, (size_t)n, sizeof *v, cmp_named);
    int dup = -1;
    for (int k = 0; k < n; k++) {
        idx[k] = v[k].i;
        if (k > 0 && dup < 0 && !strcmp(v[k - 1].s, v[k].s)) dup = v[k].i;
    }
    return dup;
}


// ---------------------------------------------------------------------------
// Tensor infos

static int parse_tensor_info(Rd *r, GgufTensor *t, int i) {
    snprintf(r->ctx, sizeof r->ctx, "tensor info #%d", i);
    if (rd_name(r, &t->name, "name") != 0) return -1;
    snprintf(r->ctx, sizeof r->ctx, "tensor '%.200s'", t->name);
    uint32_t nd = 0, type = 0;
    if (rd_u32(r, &nd, "n_dims") != 0) return -1;
    if (nd > GGUF_MAX_DIMS)
        return set_err(r->err, "%s: %s: %u dimensions (at most %d)", r->name, r->ctx, nd, GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < (int)nd; d++) {
        uint64_t v = 0;
        if (rd_u64(r, &v, "ne") != 0) return -1;
        if (v > (uint64_t)INT64_MAX)
            return set_err(r->err, "%s: %s: ne[%d] = %llu is too large", r->name, r->ctx, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    if (rd_u32(r, &type, "ggml type") != 0) return -1;
    if (rd_u64(r, &t->offset, "offset") != 0) return -1;
    t->type = type;
    t->tt = ggml_type_find(type);
    if (!t->tt) return set_err(r->err, "%s: %s: unknown ggml type %u", r->name, r->ctx, type);
    const GgmlType *tt = t->tt;
    if (t->ne[0] % tt->block_size != 0)
        return set_err(r->err, "%s: %s: ne[0] = %lld is not a multiple of the %s block size %d", r->name, r->ctx,
                       (long long)t->ne[0], tt->name, tt->block_size);
    // Elements and bytes, checked for overflow; a zero dimension makes an
    // empty tensor whatever the others are.
    int64_t n = 1, nb = t->ne[0] / tt->block_size;
    int zero = 0;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) zero |= t->ne[d] == 0;
    if (zero) {
        n = nb = 0;
    } else {
        int over = __builtin_mul_overflow(nb, (int64_t)tt->type_size, &nb);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            over |= __builtin_mul_overflow(n, t->ne[d], &n);
            if (d > 0) over |= __builtin_mul_overflow(nb, t->ne[d], &nb);
        }
        if (over)
            return set_err(r->err, "%s: %s: shape [%lld, %lld, %lld, %lld] overflows (too many elements or bytes)",
                           r->name, r->ctx, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                           (long long)t->ne[3]);
    }
    t->n_elements = n;
    t->nbytes = (size_t)nb;  // <= INT64_MAX; checked against the file size below
    return 0;
}

// ---------------------------------------------------------------------------
// The whole file

static int parse(GgufFile *g, char *err) {
    Rd r = {.buf = g->base, .len = g->size, .name = g->name, .err = err};
    snprintf(r.ctx, sizeof r.ctx, "header");
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
        return set_err(err, "%s: not a GGUF file (it does not start with \"GGUF\")", g->name);
    r.pos = 4;
    uint32_t ver = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    if (rd_u32(&r, &ver, "version") != 0) return -1;
    uint32_t swapped = __builtin_bswap32(ver);
    if (ver != 2 && ver != 3) {
        if (swapped >= 1 && swapped <= 3)
            return set_err(err, "%s: GGUF version %u byte-swapped: a big-endian file, which is not supported",
                           g->name, swapped);
        if (ver == 1)
            return set_err(err, "%s: GGUF version 1 is not supported (it has 32-bit counts; only versions 2 and 3 "
                           "are read)", g->name);
        return set_err(err, "%s: GGUF version %u is not supported (only versions 2 and 3)", g->name, ver);
    }
    g->version = ver;
    if (rd_u64(&r, &n_tensors, "tensor_count") != 0 || rd_u64(&r, &n_kv, "kv_count") != 0) return -1;
    // Smallest KV: 8-byte key length, 1-byte key, 4-byte type, 1-byte value.
    // Smallest tensor info: 8-byte name length, 1-byte name, n_dims, type, offset.
    if (n_kv > left(&r) / 14 || n_kv > INT_MAX)
        return set_err(err, "%s: kv_count %llu is more than the file can hold (%zu bytes after the header)",
                       g->name, (unsigned long long)n_kv, left(&r));
    if (n_tensors > left(&r) / 25 || n_tensors > INT_MAX)
        return set_err(err, "%s: tensor_count %llu is more than the file can hold (%zu bytes after the header)",
                       g->name, (unsigned long long)n_tensors, left(&r));

    g->kv = xcalloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    for (int i = 0; i < (int)n_kv; i++) {
        GgufKV *kv = &g->kv[i];
        snprintf(r.ctx, sizeof r.ctx, "KV #%d", i);
        if (rd_name(&r, &kv->key, "key") != 0) return -1;
        g->n_kv = i + 1;  // owned from here on, freed by gguf_close
        snprintf(r.ctx, sizeof r.ctx, "KV '%.200s'", kv->key);
        if (parse_value(&r, kv) != 0) return -1;
    }
    g->kv_sorted = xmalloc(sizeof(int) * (n_kv ? (size_t)n_kv : 1));
    Named *names = xmalloc(sizeof *names * (n_kv ? (size_t)n_kv : 1));
    for (int i = 0; i < g->n_kv; i++) names[i] = (Named){g->kv[i].key, i};
    int dup = sort_names(names, g->n_kv, g->kv_sorted);
    free(names);
    if (dup >= 0) return set_err(err, "%s: key '%.200s' appears twice", g->name, g->kv[dup].key);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const GgufKV *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        uint64_t a = 0;
        int64_t sa = 0;
        if (!is_int_type(al->type) || al->type == GGUF_TYPE_BOOL)
            return set_err(err, "%s: general.alignment has type %s, expected an unsigned integer", g->name,
                           type_names[al->type]);
        if (gguf_kv_uint(al, &a) != 0 && gguf_kv_int(al, &sa) == 0)  // negative
            return set_err(err, "%s: general.alignment = %lld is not a power of two in [1, 2^30]", g->name,
                           (long long)sa);
        if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
            return set_err(err, "%s: general.alignment = %llu is not a power of two in [1, 2^30]", g->name,
                           (unsigned long long)a);
        g->alignment = (uint32_t)a;
    }

    snprintf(r.ctx, sizeof r.ctx, "tensor infos");
    if (n_tensors > left(&r) / 25)
        return set_err(err, "%s: tensor_count %llu is more than the rest of the file can hold (%zu bytes after "
                       "the KVs)", g->name, (unsigned long long)n_tensors, left(&r));
    g->tensors = xcalloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    for (int i = 0; i < (int)n_tensors; i++) {
        g->n_tensors = i + 1;
        g->tensors[i].file = g->name;
        if (parse_tensor_info(&r, &g->tensors[i], i) != 0) return -1;
    }

    // The data section starts at the next multiple of the alignment; a file
    // with only empty tensors may end before it.
    uint64_t al_mask = g->alignment - 1;
    g->data_offset = ((uint64_t)r.pos + al_mask) & ~al_mask;
    uint64_t data_size = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    const uint8_t *data = g->base + (g->data_offset <= g->size ? g->data_offset : g->size);
    for (int i = 0; i < g->n_tensors; i++) {
        GgufTensor *t = &g->tensors[i];
        if (t->offset & al_mask)
            return set_err(err, "%s: tensor '%.200s': offset %llu is not a multiple of the alignment %u", g->name,
                           t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            uint64_t b = g->data_offset + t->offset;
            if (b < t->offset || b + t->nbytes < b)  // wraps: report the relative offset
                return set_err(err, "%s: tensor '%.200s': data offset %llu (%zu bytes) runs past the end of the "
                               "file (%zu bytes)", g->name, t->name, (unsigned long long)t->offset, t->nbytes, g->size);
            return set_err(err, "%s: tensor '%.200s' data [%llu, %llu) runs past the end of the file (%zu bytes)",
                           g->name, t->name, (unsigned long long)b, (unsigned long long)(b + t->nbytes), g->size);
        }
        t->data = data + t->offset;
    }

    g->tensor_sorted = xmalloc(sizeof(int) * (n_tensors ? (size_t)n_tensors : 1));
    names = xmalloc(sizeof *names * (n_tensors ? (size_t)n_tensors : 1));
    for (int i = 0; i < g->n_tensors; i++) names[i] = (Named){g->tensors[i].name, i};
    dup = sort_names(names, g->n_tensors, g->tensor_sorted);
    free(names);
    if (dup >= 0) return set_err(err, "%s: tensor '%.200s' appears twice", g->name, g->tensors[dup].name);

    // No two tensors may share bytes (empty tensors occupy none).
    Span *sp = xmalloc(sizeof *sp * (n_tensors ? (size_t)n_tensors : 1));
    for (int i = 0; i < g->n_tensors; i++)
        sp[i] = (Span){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    int rc = 0, ia, ib;
    if (spans_overlap(sp, g->n_tensors, &ia, &ib)) {
        const GgufTensor *a = &g->tensors[ia], *b = &g->tensors[ib];
        rc = set_err(err, "%s: tensors '%.150s' and '%.150s' overlap (data [%llu, %llu) and [%llu, %llu))", g->name,
                     a->name, b->name, (unsigned long long)(g->data_offset + a->offset),
                     (unsigned long long)(g->data_offset + a->offset + a->nbytes),
                     (unsigned long long)(g->data_offset + b->offset),
                     (unsigned long long)(g->data_offset + b->offset + b->nbytes));
    }
    free(sp);
    return rc;
}

static int open_common(GgufFile *g, const void *data, size_t len, int mapped, const char *name, char *err) {
    g->name = xstrdup(name);
    g->base = data;
    g->size = len;
    g->mapped = mapped;
    if (parse(g, err) != 0) {
        gguf_close(g);
        return -1;
    }
    return 0;
}

int gguf_open_mem(GgufFile *g, const void *data, size_t len, const char *name, char *err) {
    memset(g, 0, sizeof *g);
    static const uint8_t empty[1];
    return open_common(g, data ? data : empty, data ? len : 0, 0, name, err);
}

int gguf_open(GgufFile *g, const char *path, char *err) {
    memset(g, 0, sizeof *g);
    const void *map;
    size_t len;
    if (map_file(path, &map, &len, err)) return -1;
    if (len == 0) return set_err(err, "%s: empty file (0 bytes), not a GGUF file", path);
    return open_common(g, map, len, 1, path, err);
}

void gguf_close(GgufFile *g) {
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].strs);
    }
    free(g->kv);
    free(g->kv_sorted);
    for (int i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    free(g->tensor_sorted);
    if (g->mapped) unmap_file(g->base, g->size);
    free(g->name);
    memset(g, 0, sizeof *g);
}

// ---------------------------------------------------------------------------
// KV access

int gguf_n_kv(const GgufFile *g) { return g->n_kv; }

const GgufKV *gguf_kv(const GgufFile *g, int i) { return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL; }

const GgufKV *gguf_find_kv(const GgufFile *g, const char *key) {
    if (!g->kv_sorted) return NULL;
    int lo = 0, hi = g->n_kv - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const GgufKV *kv = &g->kv[g->kv_sorted[mid]];
        int c = strcmp(kv->key, key);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

// The value of an integer element of type t at p, as sign + magnitude.
static void int_at(const uint8_t *p, GgufType t, int *neg, uint64_t *mag) {
    int size = scalar_size[t];
    uint64_t u = rd_le(p, size);
    *neg = 0;
    *mag = u;
    if (is_signed_type(t) && (u >> (8 * size - 1)) & 1) {
        // Two's complement of `size` bytes: magnitude = 2^(8 size) - u.
        uint64_t m = size == 8 ? ~u + 1 : ((uint64_t)1 << (8 * size)) - u;
        *neg = 1;
        *mag = m;
    }
}

static int to_i64(int neg, uint64_t mag, int64_t *out) {
    if (!neg) {
        if (mag > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX + 1) return -1;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    }
    return 0;
}

static double float_at(const uint8_t *p, GgufType t) {
    if (t == GGUF_TYPE_FLOAT32) {
        uint32_t u = (uint32_t)rd_le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    uint64_t u = rd_le(p, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

int gguf_kv_int(const GgufKV *kv, int64_t *out) {
    if (!kv || !is_int_type(kv->type)) return -1;
    int neg;
    uint64_t mag;
    int_at(kv->data, kv->type, &neg, &mag);
    return to_i64(neg, mag, out);
}

int gguf_kv_uint(const GgufKV *kv, uint64_t *out) {
    if (!kv || !is_int_type(kv->type)) return -1;
    int neg;
    uint64_t mag;
    int_at(kv->data, kv->type, &neg, &mag);
    if (neg && mag) return -1;
    *out = mag;
    return 0;
}

int gguf_kv_float(const GgufKV *kv, double *out) {
    if (!kv || (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)) return -1;
    *out = float_at(kv->data, kv->type);
    return 0;
}

// "STRING" or "ARRAY of INT32", for messages.
static const char *kv_type_desc(const GgufKV *kv, char *buf, size_t n) {
    if (kv->type == GGUF_TYPE_ARRAY) snprintf(buf, n, "ARRAY of %s", gguf_type_name(kv->arr_type));
    else snprintf(buf, n, "%s", gguf_type_name(kv->type));
    return buf;
}

static const GgufKV *need_kv(const GgufFile *g, const char *key, char *err) {
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv) set_err(err, "%s: key '%.200s' is missing", g->name, key);
    return kv;
}

static int wrong_type(const GgufFile *g, const GgufKV *kv, const char *want, char *err) {
    char b[48];
    return set_err(err, "%s: key '%.200s' has type %s, expected %s", g->name, kv->key, kv_type_desc(kv, b, sizeof b),
                   want);
}

// An integer KV as sign + magnitude, with the messages for missing / wrong type.
static int get_int(const GgufFile *g, const char *key, const char *want, int *neg, uint64_t *mag,
                   const GgufKV **kvp, char *err) {
    const GgufKV *kv = need_kv(g, key, err);
    if (!kv) return -1;
    if (!is_int_type(kv->type) || kv->type == GGUF_TYPE_BOOL) return wrong_type(g, kv, want, err);
    int_at(kv->data, kv->type, neg, mag);
    *kvp = kv;
    return 0;
}

static int out_of_range(const GgufFile *g, const GgufKV *kv, int neg, uint64_t mag, const char *want, char *err) {
    return set_err(err, "%s: key '%.200s' = %s%llu does not fit in %s", g->name, kv->key, neg ? "-" : "",
                   (unsigned long long)mag, want);
}

int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *out, char *err) {
    int neg;
    uint64_t mag;
    const GgufKV *kv;
    if (get_int(g, key, "an unsigned 32-bit integer", &neg, &mag, &kv, err) != 0) return -1;
    if ((neg && mag) || mag > UINT32_MAX) return out_of_range(g, kv, neg, mag, "uint32", err);
    *out = (uint32_t)mag;
    return 0;
}

int gguf_get_u64(const GgufFile *g, const char *key, uint64_t *out, char *err) {
    int neg;
    uint64_t mag;
    const GgufKV *kv;
    if (get_int(g, key, "an unsigned integer", &neg, &mag, &kv, err) != 0) return -1;
    if (neg && mag) return out_of_range(g, kv, neg, mag, "uint64", err);
    *out = mag;
    return 0;
}

int gguf_get_i64(const GgufFile *g, const char *key, int64_t *out, char *err) {
    int neg;
    uint64_t mag;
    const GgufKV *kv;
    if (get_int(g, key, "an integer", &neg, &mag, &kv, err) != 0) return -1;
    if (to_i64(neg, mag, out) != 0) return out_of_range(g, kv, neg, mag, "int64", err);
    return 0;
}

int gguf_get_f64(const GgufFile *g, const char *key, double *out, char *err) {
    const GgufKV *kv = need_kv(g, key, err);
    if (!kv) return -1;
    if (gguf_kv_float(kv, out) != 0) return wrong_type(g, kv, "FLOAT32 or FLOAT64", err);
    return 0;
}

int gguf_get_f32(const GgufFile *g, const char *key, float *out, char *err) {
    double d;
    if (gguf_get_f64(g, key, &d, err) != 0) return -1;
    *out = (float)d;  // exact for FLOAT32 values
    return 0;
}

int gguf_get_bool(const GgufFile *g, const char *key, int *out, char *err) {
    const GgufKV *kv = need_kv(g, key, err);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(g, kv, "BOOL", err);
    *out = kv->data[0];
    return 0;
}

int gguf_get_str(const GgufFile *g, const char *key, const char **s, size_t *len, char *err) {
    const GgufKV *kv = need_kv(g, key, err);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(g, kv, "STRING", err);
    *s = (const char *)kv->data;
    *len = (size_t)kv->len;
    return 0;
}

int gguf_get_arr(const GgufFile *g, const char *key, GgufType elem, const GgufKV **out, char *err) {
    const GgufKV *kv = need_kv(g, key, err);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem) {
        char want[48];
        snprintf(want, sizeof want, "ARRAY of %s", gguf_type_name(elem));
        return wrong_type(g, kv, want, err);
    }
    *out = kv;
    return 0;
}

// Element i of an array of element type t, or NULL.
static const uint8_t *elem(const GgufKV *kv, uint64_t i, GgufType t) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != t || i >= kv->n) return NULL;
    return kv->data + i * scalar_size[t];
}

const char *gguf_arr_str(const GgufKV *kv, uint64_t i, size_t *len) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || i >= kv->n) return NULL;
    *len = (size_t)rd_le(kv->strs[i], 8);
    return (const char *)kv->strs[i] + 8;
}

int32_t gguf_arr_i32(const GgufKV *kv, uint64_t i) {
    const uint8_t *p = elem(kv, i, GGUF_TYPE_INT32);
    return p ? (int32_t)(uint32_t)rd_le(p, 4) : 0;
}

uint32_t gguf_arr_u32(const GgufKV *kv, uint64_t i) {
    const uint8_t *p = elem(kv, i, GGUF_TYPE_UINT32);
    return p ? (uint32_t)rd_le(p, 4) : 0;
}

float gguf_arr_f32(const GgufKV *kv, uint64_t i) {
    const uint8_t *p = elem(kv, i, GGUF_TYPE_FLOAT32);
    return p ? (float)float_at(p, GGUF_TYPE_FLOAT32) : 0.0f;
}

int gguf_arr_int(const GgufKV *kv, uint64_t i, int64_t *out) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || !is_int_type(kv->arr_type) || i >= kv->n) return -1;
    int neg;
    uint64_t mag;
    int_at(kv->data + i * scalar_size[kv->arr_type], kv->arr_type, &neg, &mag);
    return to_i64(neg, mag, out);
}

int gguf_arr_float(const GgufKV *kv, uint64_t i, double *out) {
    if (!kv || kv->type != GGUF_TYPE_ARRAY || i >= kv->n) return -1;
    if (kv->arr_type != GGUF_TYPE_FLOAT32 && kv->arr_type != GGUF_TYPE_FLOAT64) return -1;
    *out = float_at(kv->data + i * scalar_size[kv->arr_type], kv->arr_type);
    return 0;
}

// ---------------------------------------------------------------------------
// Tensors

int gguf_n_tensors(const GgufFile *g) { return g->n_tensors; }

const GgufTensor *gguf_tensor(const GgufFile *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const GgufTensor *gguf_find_tensor(const GgufFile *g, const char *name) {
    if (!g->tensor_sorted) return NULL;
    int lo = 0, hi = g->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const GgufTensor *t = &g->tensors[g->tensor_sorted[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

int gguf_tensor_to_f32(const GgufTensor *t, float *out, char *err) {
    if (!t->tt || !t->tt->to_float)
        return set_err(err, "%s: tensor '%.200s': type %s cannot be converted to float (no dequantizer yet)",
                       t->file ? t->file : "?", t->name, t->tt ? t->tt->name : "?");
    if (t->n_elements > 0) t->tt->to_float(t->data, out, t->n_elements);
    return 0;
}
