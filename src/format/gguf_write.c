// gguf_write.c — see gguf_write.h.
//
// The KV section is serialised as each key is added (one growing buffer), so
// writing is a concatenation and a rejected add leaves nothing behind. Tensor
// data is not copied: a model's weights are written straight from where the
// caller holds them.
#include "format/gguf_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "base/util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c assumes a little-endian host (it writes little-endian GGUF from host values)"
#endif

#define GGUF_VERSION 3
#define MAX_KEY_LEN 65535   // the GGUF spec's limit on keys
#define MAX_TENSOR_NAME 63  // ggml's GGML_MAX_NAME (64) less the NUL

typedef struct {
    char name[MAX_TENSOR_NAME + 1];
    uint32_t type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
} WTensor;

struct GgufWriter {
    Buf kv;            // the KV section so far, in insertion order
    int n_kv;
    char **keys;       // for the duplicate check
    uint32_t alignment;
    int n_tensors, cap_tensors;
    WTensor *tensors;
};

GgufWriter *gguf_writer_new(void) {
    GgufWriter *w = xcalloc(1, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(GgufWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv.s);
    free(w->tensors);
    free(w);
}

// --- serialisation -----------------------------------------------------------

static void put_le(Buf *b, uint64_t v, int nbytes) {
    uint8_t bytes[8];
    for (int i = 0; i < nbytes; i++) bytes[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, bytes, (size_t)nbytes);
}

static void put_str(Buf *b, const char *s, size_t len) {
    put_le(b, len, 8);
    buf_put(b, s, len);
}

// Bytes of one element; 0 for STRING and ARRAY, which have no fixed size.
static size_t scalar_size(GgufType t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

// --- checks --------------------------------------------------------------------

static int check_key(const GgufWriter *w, const char *key, char *err) {
    size_t n = key ? strlen(key) : 0;
    if (n == 0) return set_err(err, "GGUF key: empty");
    if (n > MAX_KEY_LEN) return set_err(err, "GGUF key '%.64s...': %zu bytes, at most %d allowed", key, n, MAX_KEY_LEN);
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7E)
            return set_err(err, "GGUF key '%.200s': byte %zu (0x%02X) is not printable ASCII", key, i,
                           (unsigned char)key[i]);
    // Linear: a model has tens of keys, and the check runs once per add.
    for (int i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return set_err(err, "GGUF key '%.200s': added twice", key);
    return 0;
}

static int check_utf8(const char *key, const char *what, const char *s, size_t len, char *err) {
    const char *why;
    if (len && !s) return set_err(err, "GGUF key '%.200s': %s is NULL", key, what);
    if (len && memchr(s, 0, len)) return set_err(err, "GGUF key '%.200s': %s contains a NUL byte", key, what);
    size_t bad = len ? utf8_check((const uint8_t *)s, len, &why) : 0;
    if (bad != len) return set_err(err, "GGUF key '%.200s': %s is not UTF-8 at byte %zu (%s)", key, what, bad, why);
    return 0;
}

// general.alignment decides the data layout, so it is held to what
// llama.cpp accepts: UINT32, a power of two (gguf.h reads up to 2^30).
static int check_alignment(GgufWriter *w, const char *key, GgufType type, const void *v, char *err) {
    if (strcmp(key, "general.alignment")) return 0;
    if (type != GGUF_TYPE_UINT32)
        return set_err(err, "GGUF key general.alignment: type %s, llama.cpp requires UINT32", gguf_type_name(type));
    uint32_t a;
    memcpy(&a, v, sizeof a);
    if (a == 0 || (a & (a - 1)) || a > (1u << 30))
        return set_err(err, "GGUF key general.alignment = %u is not a power of two in [1, 2^30]", a);
    w->alignment = a;
    return 0;
}

// Takes a key that passed check_key: its bytes start the new KV.
static void begin_kv(GgufWriter *w, const char *key, GgufType type) {
    put_str(&w->kv, key, strlen(key));
    put_le(&w->kv, (uint32_t)type, 4);
    w->keys = xrealloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = xstrdup(key);
}

// --- key/values ----------------------------------------------------------------

static int add_scalar(GgufWriter *w, const char *key, GgufType type, const void *v, char *err) {
    if (check_key(w, key, err) || check_alignment(w, key, type, v, err)) return -1;
    begin_kv(w, key, type);
    buf_put(&w->kv, v, scalar_size(type));
    return 0;
}

int gguf_add_u8(GgufWriter *w, const char *key, uint8_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_UINT8, &v, err); }
int gguf_add_i8(GgufWriter *w, const char *key, int8_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_INT8, &v, err); }
int gguf_add_u16(GgufWriter *w, const char *key, uint16_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_UINT16, &v, err); }
int gguf_add_i16(GgufWriter *w, const char *key, int16_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_INT16, &v, err); }
int gguf_add_u32(GgufWriter *w, const char *key, uint32_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_UINT32, &v, err); }
int gguf_add_i32(GgufWriter *w, const char *key, int32_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_INT32, &v, err); }
int gguf_add_f32(GgufWriter *w, const char *key, float v, char *err) { return add_scalar(w, key, GGUF_TYPE_FLOAT32, &v, err); }
int gguf_add_u64(GgufWriter *w, const char *key, uint64_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_UINT64, &v, err); }
int gguf_add_i64(GgufWriter *w, const char *key, int64_t v, char *err) { return add_scalar(w, key, GGUF_TYPE_INT64, &v, err); }
int gguf_add_f64(GgufWriter *w, const char *key, double v, char *err) { return add_scalar(w, key, GGUF_TYPE_FLOAT64, &v, err); }

int gguf_add_bool(GgufWriter *w, const char *key, int v, char *err) {
    uint8_t b = v != 0;
    return add_scalar(w, key, GGUF_TYPE_BOOL, &b, err);
}

int gguf_add_str(GgufWriter *w, const char *key, const char *s, size_t len, char *err) {
    if (check_key(w, key, err) || check_alignment(w, key, GGUF_TYPE_STRING, NULL, err) ||
        check_utf8(key, "the string", s, len, err))
        return -1;
    begin_kv(w, key, GGUF_TYPE_STRING);
    put_str(&w->kv, s, len);
    return 0;
}

int gguf_add_arr(GgufWriter *w, const char *key, GgufType elem, const void *data, uint64_t n, char *err) {
    size_t size = scalar_size(elem);
    if (check_key(w, key, err) || check_alignment(w, key, GGUF_TYPE_ARRAY, NULL, err)) return -1;
    if (size == 0)
        return set_err(err, "GGUF key '%.200s': gguf_add_arr takes scalar elements, not %s", key, gguf_type_name(elem));
    if (n > SIZE_MAX / size) return set_err(err, "GGUF key '%.200s': %llu elements do not fit in memory", key,
                                            (unsigned long long)n);
    if (n && !data) return set_err(err, "GGUF key '%.200s': the array data is NULL", key);
    if (elem == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return set_err(err, "GGUF key '%.200s': element %llu is %u, a BOOL must be 0 or 1", key,
                               (unsigned long long)i, ((const uint8_t *)data)[i]);
    begin_kv(w, key, GGUF_TYPE_ARRAY);
    put_le(&w->kv, (uint32_t)elem, 4);
    put_le(&w->kv, n, 8);
    buf_put(&w->kv, data, (size_t)n * size);
    return 0;
}

int gguf_add_arr_str(GgufWriter *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n,
                     char *err) {
    if (check_key(w, key, err) || check_alignment(w, key, GGUF_TYPE_ARRAY, NULL, err)) return -1;
    if (n && (!strs || !lens)) return set_err(err, "GGUF key '%.200s': the string array is NULL", key);
    for (uint64_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "element %llu", (unsigned long long)i);
        if (check_utf8(key, what, strs[i], lens[i], err)) return -1;
    }
    begin_kv(w, key, GGUF_TYPE_ARRAY);
    put_le(&w->kv, GGUF_TYPE_STRING, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++) put_str(&w->kv, strs[i], lens[i]);
    return 0;
}

// --- tensors -------------------------------------------------------------------

// The data size of a shape, overflow-checked.
static int tensor_bytes(const char *name, const GgmlType *tt, int n_dims, const int64_t *ne, size_t *nbytes,
                        char *err) {
    if (ne[0] % tt->block_size)
        return set_err(err, "tensor '%s': ne[0] = %lld is not a multiple of %s's block size %d", name,
                       (long long)ne[0], tt->name, tt->block_size);
    uint64_t bytes = (uint64_t)(ne[0] / tt->block_size) * (uint64_t)tt->type_size, elems = (uint64_t)ne[0];
    for (int d = 1; d < n_dims; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)ne[d], &bytes) ||
            __builtin_mul_overflow(elems, (uint64_t)ne[d], &elems))
            return set_err(err, "tensor '%s': the shape's size overflows", name);
    if (elems > INT64_MAX || bytes > SIZE_MAX) return set_err(err, "tensor '%s': the shape's size overflows", name);
    *nbytes = (size_t)bytes;
    return 0;
}

int gguf_add_tensor(GgufWriter *w, const char *name, uint32_t type, int n_dims, const int64_t *ne, const void *data,
                    char *err) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0) return set_err(err, "tensor name: empty");
    if (len > MAX_TENSOR_NAME)
        return set_err(err, "tensor '%.200s': name is %zu bytes, ggml allows at most %d", name, len, MAX_TENSOR_NAME);
    for (int i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name)) return set_err(err, "tensor '%s': added twice", name);
    const GgmlType *tt = ggml_type_find(type);
    if (!tt) return set_err(err, "tensor '%s': unknown ggml type %u", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return set_err(err, "tensor '%s': %d dimensions, expected 1 to %d", name, n_dims, GGUF_MAX_DIMS);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] < 1) return set_err(err, "tensor '%s': ne[%d] = %lld, expected >= 1", name, d, (long long)ne[d]);
    size_t nbytes = 0;
    if (tensor_bytes(name, tt, n_dims, ne, &nbytes, err)) return -1;
    if (!data) return set_err(err, "tensor '%s': data is NULL", name);

    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 64;
        w->tensors = xrealloc(w->tensors, (size_t)w->cap_tensors * sizeof *w->tensors);
    }
    WTensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    t->data = data;
    t->nbytes = nbytes;
    return 0;
}

// --- the file ------------------------------------------------------------------

static uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

static void write_zeros(AtomicFile *f, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        atomic_write(f, zeros, k);
        n -= k;
    }
}

// Header, KVs and tensor infos: everything before the data padding.
static void build_header(const GgufWriter *w, Buf *h) {
    buf_put(h, "GGUF", 4);
    put_le(h, GGUF_VERSION, 4);
    put_le(h, (uint64_t)w->n_tensors, 8);
    put_le(h, (uint64_t)w->n_kv, 8);
    buf_put(h, w->kv.s, w->kv.len);
    uint64_t offset = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        const WTensor *t = &w->tensors[i];
        put_str(h, t->name, strlen(t->name));
        put_le(h, (uint32_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(h, (uint64_t)t->ne[d], 8);
        put_le(h, t->type, 4);
        put_le(h, offset, 8);
        offset = align_up(offset + t->nbytes, w->alignment);
    }
}

int gguf_writer_write(const GgufWriter *w, const char *path, char *err) {
    Buf h = {0};
    build_header(w, &h);
    AtomicFile f;
    if (atomic_open(&f, path, err)) { free(h.s); return -1; }
    atomic_write(&f, h.s, h.len);
    write_zeros(&f, align_up(h.len, w->alignment) - h.len);
    free(h.s);
    for (int i = 0; i < w->n_tensors; i++) {
        const WTensor *t = &w->tensors[i];
        atomic_write(&f, t->data, t->nbytes);
        write_zeros(&f, align_up(t->nbytes, w->alignment) - t->nbytes);
    }
    return atomic_commit(&f, err);
}
