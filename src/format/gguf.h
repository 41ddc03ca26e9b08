// gguf.h — reader for GGUF files (the llama.cpp / ggml model format), v3 and v2.
//
// Layout (all little-endian):
//   "GGUF", u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 value type, value },
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset },
//   zero padding to general.alignment (default 32), then the data section;
//   each tensor's offset is relative to the data section and aligned.
//   string = u64 length + bytes (no NUL); array = u32 element type + u64 count + elements.
// Version 2 has the same layout as 3 (v3 only added big-endian files, which
// announce themselves by a byte-swapped version); version 1 had 32-bit counts
// and is refused.
//
// The file is untrusted: every length, count, offset and shape is checked
// against the file before anything is exposed (no allocation larger than the
// file can justify), unknown value and tensor types, overlapping tensors and
// duplicate keys / tensor names are refused, and each failure is one message
// naming the file and the problem. After a successful open every pointer in a
// GgufKV / GgufTensor lies inside the file.
#ifndef TRIT_GGUF_H
#define TRIT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "quant/ggml_types.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,     // one byte, 0 or 1
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} GgufType;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    char *key;               // NUL-terminated copy (keys never contain NUL)
    GgufType type;
    // Scalars: the value's bytes in the file (little-endian, any alignment);
    // read them with gguf_kv_* below. STRING: `data` is the text, `len` bytes,
    // not NUL-terminated. ARRAY: `data` is the first element, `n` elements of
    // `arr_type` (never ARRAY); for string arrays `strs[i]` points at element
    // i's u64 length prefix (an index built at open time, so access is O(1)).
    const uint8_t *data;
    uint64_t len;
    GgufType arr_type;
    uint64_t n;
    const uint8_t **strs;
} GgufKV;

typedef struct {
    char *name;              // NUL-terminated copy
    const char *file;        // the GgufFile's name, for messages
    uint32_t type;           // ggml type id
    const GgmlType *tt;      // its table entry (never NULL after open)
    int n_dims;              // 0..4; dims past n_dims are 1
    int64_t ne[GGUF_MAX_DIMS];  // ggml order: ne[0] varies fastest (a row-major
                                // matrix [rows][cols] has ne[0] = cols, ne[1] = rows)
    int64_t n_elements;
    uint64_t offset;         // relative to the data section
    const uint8_t *data;     // inside the file, nbytes long
    size_t nbytes;
} GgufTensor;

typedef struct {
    char *name;              // the path (or the name given to gguf_open_mem)
    const uint8_t *base;     // the whole file
    size_t size;
    int mapped;              // base is an mmap we own
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;    // file offset of the data section
    int n_kv;
    GgufKV *kv;              // in file order
    int *kv_sorted;          // indices into kv, sorted by key
    int n_tensors;
    GgufTensor *tensors;     // in file order
    int *tensor_sorted;      // indices into tensors, sorted by name
} GgufFile;

// Opens a file read-only (mmap) and checks all of it. On failure *g is left
// closed (nothing to free) and err holds one message naming the path.
int gguf_open(GgufFile *g, const char *path, char *err);
// The same for a GGUF image in memory (len bytes, not copied: it must outlive
// g). `name` is used in messages. For the fuzzer and the tests.
int gguf_open_mem(GgufFile *g, const void *data, size_t len, const char *name, char *err);
// Frees everything; safe on a zeroed or failed GgufFile, and twice.
void gguf_close(GgufFile *g);

// "UINT32", "STRING", ...; "?" for an id out of range.
const char *gguf_type_name(GgufType t);

// --- key/value access --------------------------------------------------------

int gguf_n_kv(const GgufFile *g);
const GgufKV *gguf_kv(const GgufFile *g, int i);          // file order; NULL when out of range
const GgufKV *gguf_find_kv(const GgufFile *g, const char *key);  // binary search; NULL when absent

// Typed getters: 0 on success; -1 with a message naming the file and key when
// the key is missing, has another type, or its value does not fit.
// gguf_get_u32 / _u64 / _i64 take any integer type whose value fits;
// gguf_get_f32 takes FLOAT32, or FLOAT64 (rounded to float); gguf_get_f64
// takes either float type; gguf_get_str gives (pointer, length) into the file,
// not NUL-terminated.
int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *out, char *err);
int gguf_get_u64(const GgufFile *g, const char *key, uint64_t *out, char *err);
int gguf_get_i64(const GgufFile *g, const char *key, int64_t *out, char *err);
int gguf_get_f32(const GgufFile *g, const char *key, float *out, char *err);
int gguf_get_f64(const GgufFile *g, const char *key, double *out, char *err);
int gguf_get_bool(const GgufFile *g, const char *key, int *out, char *err);
int gguf_get_str(const GgufFile *g, const char *key, const char **s, size_t *len, char *err);
// An ARRAY whose elements have type `elem`; *out is its KV (use n, arr_type
// and gguf_arr_*).
int gguf_get_arr(const GgufFile *g, const char *key, GgufType elem, const GgufKV **out, char *err);

// A scalar KV's value: 0 on success, -1 when the type does not match or
// (integers) the value does not fit the output type.
int gguf_kv_int(const GgufKV *kv, int64_t *out);     // any integer type or BOOL
int gguf_kv_uint(const GgufKV *kv, uint64_t *out);   // any integer type >= 0 or BOOL
int gguf_kv_float(const GgufKV *kv, double *out);    // FLOAT32 or FLOAT64

// Array elements, O(1). The element type must match (else NULL / 0) and
// i < n (else NULL / 0).
const char *gguf_arr_str(const GgufKV *kv, uint64_t i, size_t *len);
int32_t gguf_arr_i32(const GgufKV *kv, uint64_t i);
uint32_t gguf_arr_u32(const GgufKV *kv, uint64_t i);
float gguf_arr_f32(const GgufKV *kv, uint64_t i);
// Element i of an array of any integer or bool type; -1 when not an integer
// array, out of range, or a UINT64 above INT64_MAX.
int gguf_arr_int(const GgufKV *kv, uint64_t i, int64_t *out);
// Element i of a FLOAT32 / FLOAT64 array; -1 otherwise.
int gguf_arr_float(const GgufKV *kv, uint64_t i, double *out);

// --- tensors -----------------------------------------------------------------

int gguf_n_tensors(const GgufFile *g);
const GgufTensor *gguf_tensor(const GgufFile *g, int i);  // file order; NULL when out of range
const GgufTensor *gguf_find_tensor(const GgufFile *g, const char *name);  // NULL when absent

// Dequantizes the whole tensor into out[t->n_elements] through the type
// table; -1 with a message for a type that has no dequantizer (yet).
int gguf_tensor_to_f32(const GgufTensor *t, float *out, char *err);

#endif
