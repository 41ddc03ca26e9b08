// safetensors.c — see safetensors.h.
//
// Reading: the file is mmap'd; st_parse checks the header (JSON) against the
// data block before any tensor is exposed, so a StTensor's data/nbytes are
// always inside the mapping. Writing streams each tensor (converted from fp32
// in chunks) to `path.tmp.<pid>`, then fsync and rename: one copy of the
// weights in memory, and a reader never sees a torn file.
#define _POSIX_C_SOURCE 200809L
#include "format/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

#define ST_MAX_HEADER ((uint64_t)100000000)  // the reference implementation's limit
#define ST_MAX_INT 9007199254740991.0         // 2^53 - 1: larger JSON numbers are not exact

static const char *const dtype_names[ST_NUM_DTYPES] = {
    [ST_F32] = "F32",   [ST_F16] = "F16",   [ST_BF16] = "BF16", [ST_F64] = "F64",
    [ST_I8] = "I8",     [ST_U8] = "U8",     [ST_I16] = "I16",   [ST_U16] = "U16",
    [ST_I32] = "I32",   [ST_U32] = "U32",   [ST_I64] = "I64",   [ST_U64] = "U64",
    [ST_BOOL] = "BOOL", [ST_F8_E4M3] = "F8_E4M3", [ST_F8_E5M2] = "F8_E5M2",
};
static const unsigned char dtype_sizes[ST_NUM_DTYPES] = {
    [ST_F32] = 4, [ST_F16] = 2, [ST_BF16] = 2, [ST_F64] = 8, [ST_I8] = 1, [ST_U8] = 1,
    [ST_I16] = 2, [ST_U16] = 2, [ST_I32] = 4, [ST_U32] = 4, [ST_I64] = 8, [ST_U64] = 8,
    [ST_BOOL] = 1, [ST_F8_E4M3] = 1, [ST_F8_E5M2] = 1,
};

const char *st_dtype_name(StDType t) { return (unsigned)t < ST_NUM_DTYPES ? dtype_names[t] : "?"; }
size_t st_dtype_size(StDType t) { return (unsigned)t < ST_NUM_DTYPES ? dtype_sizes[t] : 0; }

int st_dtype_from_name(const char *s, StDType *out) {
    for (int i = 0; i < ST_NUM_DTYPES; i++)
        if (strcmp(s, dtype_names[i]) == 0) { *out = (StDType)i; return 0; }
    return -1;
}

// ---------------------------------------------------------------------------
// Parsing

static int cmp_tensor_name(const void *x, const void *y) {
    return strcmp(((const StTensor *)x)->name, ((const StTensor *)y)->name);
}


// A JSON number that is a whole number in [0, 2^53).
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static void free_tensors(StTensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].name);
    free(t);
}

// Parses one tensor entry `e` (key e->string) into *t, checked against the
// data block.
static int parse_entry(const cJSON *e, StTensor *t, const uint8_t *data, uint64_t data_len,
                       const char *name, char *err) {
    const char *tn = e->string;
    if (!cJSON_IsObject(e))
        return set_err(err, "%s: tensor '%.200s': entry is not a JSON object", name, tn);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL, *f;
    cJSON_ArrayForEach(f, e) {
        const cJSON **slot = !strcmp(f->string, "dtype") ? &dtype
                           : !strcmp(f->string, "shape") ? &shape
                           : !strcmp(f->string, "data_offsets") ? &offs : NULL;
        if (!slot) continue;  // unknown fields are ignored, as the reference does
        if (*slot) return set_err(err, "%s: tensor '%.200s': field '%s' given twice", name, tn, f->string);
        *slot = f;
    }
    if (!dtype) return set_err(err, "%s: tensor '%.200s': missing \"dtype\"", name, tn);
    if (!shape) return set_err(err, "%s: tensor '%.200s': missing \"shape\"", name, tn);
    if (!offs) return set_err(err, "%s: tensor '%.200s': missing \"data_offsets\"", name, tn);
    if (!cJSON_IsString(dtype))
        return set_err(err, "%s: tensor '%.200s': \"dtype\" is not a string", name, tn);
    if (st_dtype_from_name(dtype->valuestring, &t->dtype) != 0)
        return set_err(err, "%s: tensor '%.200s': unknown dtype '%.40s'", name, tn, dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return set_err(err, "%s: tensor '%.200s': \"shape\" is not an array", name, tn);
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS)
        return set_err(err, "%s: tensor '%.200s': %d dimensions (at most %d supported)", name, tn, nd, ST_MAX_DIMS);
    t->ndim = nd;
    int d = 0, has_zero = 0;
    cJSON_ArrayForEach(f, shape) {
        uint64_t v;
        if (json_uint(f, &v) != 0)
            return set_err(err, "%s: tensor '%.200s': shape[%d] is not a non-negative integer", name, tn, d);
        t->shape[d++] = (int64_t)v;
        has_zero |= v == 0;
    }
    int64_t numel = 1;
    if (has_zero) {
        numel = 0;
    } else {
        for (int i = 0; i < nd; i++)
            if (__builtin_mul_overflow(numel, t->shape[i], &numel))
                return set_err(err, "%s: tensor '%.200s': shape overflows (too many elements)", name, tn);
    }
    int64_t nbytes;
    if (__builtin_mul_overflow(numel, (int64_t)dtype_sizes[t->dtype], &nbytes))
        return set_err(err, "%s: tensor '%.200s': shape overflows (too many bytes)", name, tn);
    t->numel = numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return set_err(err, "%s: tensor '%.200s': \"data_offsets\" is not an array [begin, end]", name, tn);
    uint64_t b, en;
    if (json_uint(offs->child, &b) != 0 || json_uint(offs->child->next, &en) != 0)
        return set_err(err, "%s: tensor '%.200s': data_offsets are not non-negative integers", name, tn);
    if (b > en)
        return set_err(err, "%s: tensor '%.200s': data_offsets [%llu, %llu] begin after end", name, tn,
                       (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return set_err(err, "%s: tensor '%.200s': data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
                       name, tn, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
    if (en - b != (uint64_t)nbytes)
        return set_err(err, "%s: tensor '%.200s': data_offsets [%llu, %llu] hold %llu bytes, but %s shape with %lld "
                       "elements needs %lld", name, tn, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)(en - b), dtype_names[t->dtype], (long long)numel, (long long)nbytes);
    t->data = data + b;
    t->nbytes = (size_t)nbytes;
    return 0;
}

static int check_metadata(const cJSON *m, const char *name, char *err) {
    if (!cJSON_IsObject(m)) return set_err(err, "%s: \"__metadata__\" is not a JSON object", name);
    const cJSON *f;
    cJSON_ArrayForEach(f, m) {
        if (!cJSON_IsString(f))
            return set_err(err, "%s: \"__metadata__\" value '%.200s' is not a string", name, f->string);
    }
    return 0;
}

int st_parse(StArchive *a, const uint8_t *buf, size_t len, int file, const char *name, char *err) {
    if (len < 8) return set_err(err, "%s: %zu bytes, too short to be a safetensors file (needs at least 8)", name, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > len - 8)
        return set_err(err, "%s: header length %llu past the end of the file (%zu bytes)", name,
                       (unsigned long long)n, len);
    if (n > ST_MAX_HEADER)
        return set_err(err, "%s: header length %llu is larger than the %llu-byte limit", name,
                       (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
    const char *hdr = (const char *)buf + 8;
    if (n < 2 || hdr[0] != '{') return set_err(err, "%s: header is not a JSON object (must start with '{')", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = ep && ep >= hdr && ep <= hdr + n ? (long)(ep - hdr) : -1;
        return set_err(err, "%s: header is not valid JSON (error near byte %ld of the header)", name, at);
    }
    for (const char *p = end; p < hdr + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return set_err(err, "%s: header has trailing bytes after the JSON object (at byte %ld)", name,
                           (long)(p - hdr));
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return set_err(err, "%s: header is not a JSON object", name);
    }
    const uint8_t *data = buf + 8 + n;
    uint64_t data_len = len - 8 - n;
    int cap = 0, nt = 0, nmeta = 0, rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) cap++;
    StTensor *ts = xcalloc((size_t)cap, sizeof *ts);
    Span *spans = xcalloc((size_t)cap, sizeof *spans);
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) {
            if (nmeta++) { rc = set_err(err, "%s: \"__metadata__\" given twice", name); break; }
            if ((rc = check_metadata(e, name, err)) != 0) break;
            continue;
        }
        StTensor *t = &ts[nt];
        if ((rc = parse_entry(e, t, data, data_len, name, err)) != 0) break;
        t->name = xstrdup(e->string);
        t->file = file;
        nt++;
    }
    cJSON_Delete(root);
    if (rc == 0) {
        qsort(ts, (size_t)nt, sizeof *ts, cmp_tensor_name);
        for (int i = 1; i < nt && rc == 0; i++)
            if (!strcmp(ts[i - 1].name, ts[i].name))
                rc = set_err(err, "%s: tensor '%.200s' appears twice in the header", name, ts[i].name);
    }
    // No two tensors may share bytes (empty tensors occupy none).
    if (rc == 0) {
        for (int i = 0; i < nt; i++) {
            spans[i].begin = (uint64_t)(ts[i].data - data);
            spans[i].end = spans[i].begin + ts[i].nbytes;
            spans[i].idx = i;
        }
        int ia, ib;
        if (spans_overlap(spans, nt, &ia, &ib))
            rc = set_err(err, "%s: tensors '%.150s' and '%.150s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                         name, ts[ia].name, ts[ib].name, (unsigned long long)(ts[ia].data - data),
                         (unsigned long long)(ts[ia].data - data + ts[ia].nbytes), (unsigned long long)(ts[ib].data - data),
                         (unsigned long long)(ts[ib].data - data + ts[ib].nbytes));
    }
    free(spans);
    if (rc != 0) {
        free_tensors(ts, nt);
        return -1;
    }
    // Merge into the archive, keeping it sorted; a name already there (from
    // another shard) is an error and leaves the archive unchanged.
    StTensor *all = xmalloc(sizeof *all * ((size_t)a->ntensors + (size_t)nt + 1));
    int i = 0, j = 0, k = 0;
    while (i < a->ntensors || j < nt) {
        int c = i == a->ntensors ? 1 : j == nt ? -1 : strcmp(a->tensors[i].name, ts[j].name);
        if (c == 0) {
            const char *other = a->tensors[i].file >= 0 && a->tensors[i].file < a->nfiles && a->paths
                                ? a->paths[a->tensors[i].file] : "another file";
            set_err(err, "%s: tensor '%.200s' is also in %.200s", name, ts[j].name, other);
            free(all);
            free_tensors(ts, nt);
            return -1;
        }
        all[k++] = c < 0 ? a->tensors[i++] : ts[j++];
    }
    free(a->tensors);
    free(ts);  // names now owned by `all`
    a->tensors = all;
    a->ntensors = k;
    return 0;
}

// ---------------------------------------------------------------------------
// Opening files and directories

const StTensor *st_find(const StArchive *a, const char *name) {
    int lo = 0, hi = a->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(a->tensors[mid].name, name);
        if (c == 0) return &a->tensors[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

void st_close(StArchive *a) {
    for (int i = 0; i < a->nfiles; i++) {
        if (a->maps) unmap_file(a->maps[i], a->sizes[i]);
        if (a->paths) free(a->paths[i]);
    }
    free(a->paths);
    free(a->maps);
    free(a->sizes);
    if (a->tensors) free_tensors(a->tensors, a->ntensors);
    memset(a, 0, sizeof *a);
}

// Maps `path` and parses it as file a->nfiles of the archive.
static int add_file(StArchive *a, const char *path, char *err) {
    const void *cmap;
    size_t len;
    if (map_file(path, &cmap, &len, err)) return -1;
    if (len < 8) {
        unmap_file(cmap, len);
        return set_err(err, "%s: %zu bytes, too short to be a safetensors file (needs at least 8)", path, len);
    }
    void *map = (void *)cmap;  // the archive keeps it to unmap at st_close
    int idx = a->nfiles;
    a->paths = xrealloc(a->paths, sizeof *a->paths * (size_t)(idx + 1));
    a->maps = xrealloc(a->maps, sizeof *a->maps * (size_t)(idx + 1));
    a->sizes = xrealloc(a->sizes, sizeof *a->sizes * (size_t)(idx + 1));
    a->paths[idx] = xstrdup(path);
    a->maps[idx] = map;
    a->sizes[idx] = len;
    a->nfiles = idx + 1;
    return st_parse(a, map, len, idx, path, err);
}

int st_open_file(StArchive *a, const char *path, char *err) {
    memset(a, 0, sizeof *a);
    if (add_file(a, path, err) != 0) { st_close(a); return -1; }
    return 0;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int open_index(StArchive *a, const char *dir, const char *index_path, char *err) {
    size_t len;
    char *text = read_file(index_path, &len, err);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return set_err(err, "%s: not valid JSON", index_path);
    int rc = 0;
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    char **files = NULL;
    int nfiles = 0, nentries = 0;
    if (!cJSON_IsObject(wm)) {
        rc = set_err(err, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e)) {
            rc = set_err(err, "%s: weight_map entry '%.200s' is not a file name string", index_path, e->string);
            goto done;
        }
        const char *f = e->valuestring;
        if (!*f || strchr(f, '/') || strchr(f, '\\') || !strcmp(f, ".") || !strcmp(f, "..")) {
            rc = set_err(err, "%s: weight_map entry '%.200s' names '%.200s', which is not a file name in the "
                         "checkpoint directory", index_path, e->string, f);
            goto done;
        }
        nentries++;
    }
    if (nentries == 0) { rc = set_err(err, "%s: weight_map is empty", index_path); goto done; }
    // The distinct shard files, sorted, each opened once.
    files = xmalloc(sizeof *files * (size_t)nentries);
    cJSON_ArrayForEach(e, wm) files[nfiles++] = e->valuestring;
    qsort(files, (size_t)nfiles, sizeof *files, cmp_str);
    int u = 0;
    for (int i = 0; i < nfiles; i++)
        if (u == 0 || strcmp(files[u - 1], files[i])) files[u++] = files[i];
    nfiles = u;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        char *p = path_join(dir, files[i]);
        rc = add_file(a, p, err);
        free(p);
    }
    if (rc != 0) goto done;
    // The index and the shards must agree exactly.
    int seen = 0;
    cJSON_ArrayForEach(e, wm) {
        const StTensor *t = st_find(a, e->string);
        if (!t) {
            rc = set_err(err, "%s: tensor '%.200s' is listed in the index but missing from %.200s", index_path,
                         e->string, e->valuestring);
            goto done;
        }
        const char *base = strrchr(a->paths[t->file], '/');
        base = base ? base + 1 : a->paths[t->file];
        if (strcmp(base, e->valuestring)) {
            rc = set_err(err, "%s: tensor '%.200s' is listed in %.200s but found in %.200s", index_path, e->string,
                         e->valuestring, base);
            goto done;
        }
        seen++;
    }
    if (seen != a->ntensors) {  // duplicate keys in the map, or tensors the map does not list
        for (int i = 0; i < a->ntensors; i++) {
            int n = 0;
            cJSON_ArrayForEach(e, wm) n += !strcmp(e->string, a->tensors[i].name);
            if (n != 1) {
                rc = n == 0 ? set_err(err, "%s: tensor '%.200s' in %.200s is not listed in the index", index_path,
                                      a->tensors[i].name, a->paths[a->tensors[i].file])
                            : set_err(err, "%s: tensor '%.200s' is listed %d times", index_path, a->tensors[i].name, n);
                goto done;
            }
        }
        rc = set_err(err, "%s: weight_map does not match the shards", index_path);
    }
done:
    free(files);
    cJSON_Delete(root);
    return rc;
}

int st_open_dir(StArchive *a, const char *dir, char *err) {
    memset(a, 0, sizeof *a);
    if (!is_directory(dir)) {
        struct stat st;
        return stat(dir, &st) == 0 ? set_err(err, "%s: not a directory", dir)
                                   : set_err(err, "%s: no such directory", dir);
    }
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    int rc;
    if (file_exists(single)) {
        rc = add_file(a, single, err);
    } else if (file_exists(index)) {
        rc = open_index(a, dir, index, err);
    } else {
        rc = set_err(err, "%s: no checkpoint (neither model.safetensors nor model.safetensors.index.json)", dir);
    }
    free(single);
    free(index);
    if (rc != 0) st_close(a);
    return rc;
}

// ---------------------------------------------------------------------------
// Conversion

int st_read_f32(const StTensor *t, float *out, char *err) {
    const uint8_t *p = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(out, p, (size_t)n * 4);
        return 0;
    case ST_BF16:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = bf16_to_f32(h);
        }
        return 0;
    case ST_F16:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
        }
        return 0;
    default:
        return set_err(err, "tensor '%.200s' has dtype %s; only F32, F16 and BF16 can be read as floats", t->name,
                       st_dtype_name(t->dtype));
    }
}

// ---------------------------------------------------------------------------
// Writing

typedef struct { const char *name; int idx; } NameIdx;
static int cmp_name_idx(const void *x, const void *y) {
    return strcmp(((const NameIdx *)x)->name, ((const NameIdx *)y)->name);
}

// The tensor indices in name order (names must be non-NULL); caller frees.
static int *name_order(const StWriteTensor *t, int n) {
    NameIdx *v = xmalloc(sizeof *v * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) v[i] = (NameIdx){t[i].name, i};
    qsort(v, (size_t)n, sizeof *v, cmp_name_idx);
    int *order = xmalloc(sizeof *order * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = v[i].idx;
    free(v);
    return order;
}

// Checks one tensor to write; its byte size goes to *nbytes.
static int check_write_tensor(const StWriteTensor *t, const char *path, size_t *nbytes, char *err) {
    if (!t->name) return set_err(err, "%s: a tensor has no name", path);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return set_err(err, "%s: tensor '%.200s': can only write F32, F16 or BF16, not %s", path, t->name,
                       st_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return set_err(err, "%s: tensor '%.200s': %d dimensions (0 to %d supported)", path, t->name, t->ndim,
                       ST_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return set_err(err, "%s: tensor '%.200s': negative shape[%d]", path, t->name, d);
        if (__builtin_mul_overflow(numel, t->shape[d], &numel))
            return set_err(err, "%s: tensor '%.200s': shape overflows", path, t->name);
    }
    int64_t nb;
    if (__builtin_mul_overflow(numel, (int64_t)dtype_sizes[t->dtype], &nb) || (uint64_t)nb > SIZE_MAX / 2)
        return set_err(err, "%s: tensor '%.200s': shape overflows", path, t->name);
    if (numel > 0 && !t->data) return set_err(err, "%s: tensor '%.200s': no data", path, t->name);
    *nbytes = (size_t)nb;
    return 0;
}

static int64_t write_numel(const StWriteTensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

#define WRITE_CHUNK ((int64_t)1 << 20)  // elements converted per fwrite

static void write_tensor_data(AtomicFile *f, const StWriteTensor *t, uint16_t *tmp) {
    int64_t n = write_numel(t);
    if (t->dtype == ST_F32) {
        atomic_write(f, t->data, 4 * (size_t)n);
        return;
    }
    for (int64_t s = 0; s < n; s += WRITE_CHUNK) {
        int64_t m = n - s < WRITE_CHUNK ? n - s : WRITE_CHUNK;
        const float *src = t->data + s;
        if (t->dtype == ST_BF16) {
#pragma omp parallel for schedule(static) if (m > 65536)
            for (int64_t i = 0; i < m; i++) tmp[i] = f32_to_bf16(src[i]);
        } else {
#pragma omp parallel for schedule(static) if (m > 65536)
            for (int64_t i = 0; i < m; i++) tmp[i] = f32_to_f16(src[i]);
        }
        atomic_write(f, tmp, 2 * (size_t)m);
    }
}

int st_write_file(const char *path, const StWriteTensor *t, int n, const char *const *metadata, int n_meta,
                  char *err) {
    if (n < 0 || n_meta < 0) return set_err(err, "%s: negative tensor or metadata count", path);
    size_t *nbytes = xcalloc((size_t)n, sizeof *nbytes);
    int *order = NULL;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = check_write_tensor(&t[i], path, &nbytes[i], err);
    for (int i = 0; i < n_meta && rc == 0; i++)
        if (!metadata[2 * i] || !metadata[2 * i + 1]) rc = set_err(err, "%s: NULL metadata key or value", path);
    if (rc == 0) {
        order = name_order(t, n);
        for (int i = 1; i < n && rc == 0; i++)
            if (!strcmp(t[order[i - 1]].name, t[order[i]].name))
                rc = set_err(err, "%s: tensor '%.200s' given twice", path, t[order[i]].name);
        for (int i = 0; i < n && rc == 0; i++)
            if (!strcmp(t[i].name, "__metadata__")) rc = set_err(err, "%s: a tensor cannot be named __metadata__", path);
    }
    if (rc != 0) { free(nbytes); free(order); return -1; }

    // Header, as the reference writes it: compact JSON, metadata first, then
    // the tensors (here in name order), padded with spaces to 8 bytes.
    Buf h = {0};
    buf_puts(&h, "{");
    if (n_meta > 0) {
        buf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) buf_puts(&h, ",");
            buf_json_str(&h, metadata[2 * i], 0);
            buf_puts(&h, ":");
            buf_json_str(&h, metadata[2 * i + 1], 0);
        }
        buf_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        const StWriteTensor *w = &t[order[k]];
        if (k || n_meta > 0) buf_puts(&h, ",");
        buf_json_str(&h, w->name, 0);
        buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[w->dtype]);
        for (int d = 0; d < w->ndim; d++) buf_printf(&h, "%s%lld", d ? "," : "", (long long)w->shape[d]);
        buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + nbytes[order[k]]));
        off += nbytes[order[k]];
    }
    buf_puts(&h, "}");
    while (h.len % 8) buf_puts(&h, " ");
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));

    AtomicFile f;
    rc = atomic_open(&f, path, err);
    if (rc == 0) {
        uint16_t *conv = xmalloc(sizeof *conv * (size_t)WRITE_CHUNK);
        atomic_write(&f, len8, 8);
        atomic_write(&f, h.s, h.len);
        for (int k = 0; k < n && !f.failed; k++) write_tensor_data(&f, &t[order[k]], conv);
        free(conv);
        rc = atomic_commit(&f, err);
    }
    free(h.s);
    free(nbytes);
    free(order);
    return rc;
}

// model-00001-of-00003.safetensors
static char *shard_name(int k, int n) {
    char buf[64];
    snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", k, n);
    return xstrdup(buf);
}

// Is `s` a name transformers gives shards: model-NNNNN-of-NNNNN.safetensors?
static int is_shard_name(const char *s) {
    const char *pat = "model-#####-of-#####.safetensors";
    if (strlen(s) != strlen(pat)) return 0;
    for (; *pat; pat++, s++)
        if (*pat == '#' ? (*s < '0' || *s > '9') : *s != *pat) return 0;
    return 1;
}

// Removes model.safetensors / shard files / the index left in `dir` by an
// earlier save that are not part of the checkpoint just written (`keep`).
static void remove_stale(const char *dir, char **keep, int nkeep, int keep_single, int keep_index) {
    // The single file first: a reader takes it over the index.
    const char *fixed[2] = {keep_single ? NULL : "model.safetensors",
                            keep_index ? NULL : "model.safetensors.index.json"};
    for (int i = 0; i < 2; i++) {
        if (!fixed[i]) continue;
        char *p = path_join(dir, fixed[i]);
        unlink(p);
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (!is_shard_name(s)) continue;
        int stale = 1;
        for (int i = 0; i < nkeep; i++) if (!strcmp(keep[i], s)) stale = 0;
        if (stale) {
            char *p = path_join(dir, s);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

int st_write_dir(const char *dir, const StWriteTensor *t, int n, size_t max_shard_bytes, char *err) {
    if (make_dir(dir, err) != 0) return -1;
    if (n < 0) return set_err(err, "%s: negative tensor count", dir);
    size_t *nbytes = xcalloc((size_t)n, sizeof *nbytes);
    int *shard = xcalloc((size_t)n, sizeof *shard);
    size_t total = 0;
    uint64_t total_params = 0;
    int rc = 0, nshards = 0, ngroups = 0, cur_group = -1;
    size_t cur = 0;
    // As huggingface_hub's split_state_dict_into_shards, in the caller's
    // order: a tensor that would tip the current shard over the limit closes
    // it; a tensor larger than the limit is a shard of its own, placed in the
    // shard list at once (before the shard still being filled).
    int *group = xcalloc((size_t)n, sizeof *group);
    int *pos = xcalloc((size_t)n + 1, sizeof *pos);  // group -> position in the shard list
    for (int i = 0; i < n && rc == 0; i++) {
        rc = check_write_tensor(&t[i], dir, &nbytes[i], err);
        if (rc) break;
        total += nbytes[i];
        total_params += (uint64_t)write_numel(&t[i]);
        if (max_shard_bytes > 0 && nbytes[i] > max_shard_bytes) {
            group[i] = ngroups;
            pos[ngroups++] = nshards++;
            continue;
        }
        if (max_shard_bytes > 0 && cur_group >= 0 && cur + nbytes[i] > max_shard_bytes) {
            pos[cur_group] = nshards++;
            cur_group = -1;
            cur = 0;
        }
        if (cur_group < 0) cur_group = ngroups++;
        group[i] = cur_group;
        cur += nbytes[i];
    }
    if (cur_group >= 0) pos[cur_group] = nshards++;
    if (nshards == 0) nshards = 1;  // no tensors: one empty file
    for (int i = 0; i < n && rc == 0; i++) shard[i] = pos[group[i]];
    free(group);
    free(pos);
    const char *meta[2] = {"format", "pt"};
    if (rc == 0 && nshards == 1) {
        char *p = path_join(dir, "model.safetensors");
        rc = st_write_file(p, t, n, meta, 1, err);
        free(p);
        if (rc == 0) remove_stale(dir, NULL, 0, 1, 0);
    } else if (rc == 0) {
        char **names = xcalloc((size_t)nshards, sizeof *names);
        StWriteTensor *sub = xmalloc(sizeof *sub * (size_t)(n ? n : 1));
        for (int s = 0; s < nshards && rc == 0; s++) {
            names[s] = shard_name(s + 1, nshards);
            int m = 0;
            for (int i = 0; i < n; i++) if (shard[i] == s) sub[m++] = t[i];
            char *p = path_join(dir, names[s]);
            rc = st_write_file(p, sub, m, meta, 1, err);
            free(p);
        }
        if (rc == 0) {
            // The index: json.dumps(index, indent=2, sort_keys=True) + "\n".
            int *order = name_order(t, n);
            Buf b = {0};
            buf_printf(&b, "{\n  \"metadata\": {\n    \"total_parameters\": %llu,\n    \"total_size\": %llu\n  },\n"
                       "  \"weight_map\": {\n", (unsigned long long)total_params, (unsigned long long)total);
            for (int k = 0; k < n; k++) {
                buf_puts(&b, "    ");
                buf_json_str(&b, t[order[k]].name, 1);
                buf_puts(&b, ": ");
                buf_json_str(&b, names[shard[order[k]]], 1);
                buf_puts(&b, k + 1 < n ? ",\n" : "\n");
            }
            buf_puts(&b, "  }\n}\n");
            char *p = path_join(dir, "model.safetensors.index.json");
            rc = write_file_atomic(p, b.s, b.len, err);
            free(p);
            free(b.s);
            free(order);
            // Then the old files go.
            if (rc == 0) remove_stale(dir, names, nshards, 0, 1);
        }
        for (int s = 0; s < nshards; s++) free(names[s]);
        free(names);
        free(sub);
    }
    free(nbytes);
    free(shard);
    return rc;
}
