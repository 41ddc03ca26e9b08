// fuzz_gguf.c — libFuzzer target for the GGUF parser alone: gguf_open_mem
// on arbitrary bytes must either fail with a message naming the file, or
// give KVs and tensors whose every pointer lies inside the buffer: each KV
// is found again by its key, every string and array element is readable,
// tensors are found by name, do not overlap and have nbytes = n_elements /
// block_size * type_size. Nothing but the parser runs, so that it sees
// thousands of inputs a second; what import makes of a parsed file is
// fuzz_gguf_import's, the packed kernels on raw blocks fuzz_kernels'.
//
//   make fuzz && build-fuzz/fuzz_gguf -max_total_time=60 build-fuzz/corpus-gguf fuzz/seeds/gguf
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "format/gguf.h"

static const uint8_t *lo, *hi;  // the buffer

static void in_buf(const void *p, uint64_t n) {
    const uint8_t *q = p;
    if (n == 0) return;
    if (q < lo || q > hi || n > (uint64_t)(hi - q)) abort();
}

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n) {
    in_buf(p, n);
    const uint8_t *q = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++) s += q[i];
    sink += s;
}

static void walk_kv(const GgufFile *g, const GgufKV *kv) {
    if (gguf_find_kv(g, kv->key) != kv) abort();
    int64_t i;
    uint64_t u;
    double d;
    switch (kv->type) {
    case GGUF_TYPE_STRING:
        touch(kv->data, kv->len);
        break;
    case GGUF_TYPE_ARRAY:
        if (kv->arr_type == GGUF_TYPE_ARRAY || kv->arr_type >= GGUF_TYPE_COUNT) abort();
        for (uint64_t k = 0; k < kv->n; k++) {
            if (kv->arr_type == GGUF_TYPE_STRING) {
                size_t len;
                const char *s = gguf_arr_str(kv, k, &len);
                if (!s) abort();
                touch(s, len);
            } else if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64) {
                if (gguf_arr_float(kv, k, &d) != 0) abort();
                sink += (uint64_t)(d == d);
            } else {
                int rc = gguf_arr_int(kv, k, &i);
                if (rc != 0 && kv->arr_type != GGUF_TYPE_UINT64) abort();  // only u64 may not fit
                sink += (uint64_t)i;
            }
        }
        if (kv->arr_type == GGUF_TYPE_INT32 && kv->n) sink += (uint64_t)gguf_arr_i32(kv, kv->n - 1);
        break;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        if (gguf_kv_float(kv, &d) != 0) abort();
        break;
    default:
        if (gguf_kv_int(kv, &i) != 0 && gguf_kv_uint(kv, &u) != 0) abort();
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A private copy so that ASan catches any read past `size`.
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    lo = buf;
    hi = buf + size;
    GgufFile g;
    char err[ERR_LEN];
    if (gguf_open_mem(&g, buf, size, "fuzz", err) == 0) {
        for (int i = 0; i < gguf_n_kv(&g); i++) walk_kv(&g, gguf_kv(&g, i));
        if ((g.alignment & (g.alignment - 1)) != 0 || g.alignment == 0) abort();
        // The typed getters on whatever the architecture key says.
        uint32_t u32;
        float f32;
        const char *s;
        size_t n;
        (void)gguf_get_u32(&g, "general.alignment", &u32, err);
        (void)gguf_get_f32(&g, "llama.rope.freq_base", &f32, err);
        if (gguf_get_str(&g, "general.architecture", &s, &n, err) == 0) touch(s, n);
        for (int i = 0; i < gguf_n_tensors(&g); i++) {
            const GgufTensor *t = gguf_tensor(&g, i);
            if (gguf_find_tensor(&g, t->name) != t || !t->tt) abort();
            in_buf(t->data, t->nbytes);
            if (t->offset % g.alignment) abort();
            if (t->ne[0] % t->tt->block_size) abort();
            if ((uint64_t)t->nbytes != (uint64_t)t->n_elements / (uint64_t)t->tt->block_size * (uint64_t)t->tt->type_size)
                abort();
            for (int j = 0; j < i && g.n_tensors <= 256; j++) {  // pairwise overlap, small files only
                const GgufTensor *o = gguf_tensor(&g, j);
                if (t->nbytes && o->nbytes && t->data < o->data + o->nbytes && o->data < t->data + t->nbytes) abort();
            }
        }
    } else if (err[0] == 0 || strncmp(err, "fuzz: ", 6) != 0) {
        abort();  // every failure must name the file
    }
    gguf_close(&g);
    free(buf);
    return 0;
}
