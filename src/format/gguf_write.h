// gguf_write.h — writer for GGUF v3 files (the format format/gguf.h reads).
//
// A GgufWriter collects key/values in insertion order and tensors by
// pointer, then gguf_writer_write lays them out as llama.cpp and gguf-py do:
// header, KVs, tensor infos, zero padding to general.alignment, and each
// tensor's data at an aligned offset, zero-padded to the alignment after it.
// The file is written atomically (util.h AtomicFile): a failed write leaves
// the target path as it was.
//
// Every add checks its input at once and returns -1 with one message in err,
// adding nothing: a key that is empty, longer than 65535 bytes, not
// printable ASCII, or already added; a string that is not UTF-8; a tensor
// name that is empty, longer than 63 bytes (ggml's GGML_MAX_NAME is 64 with
// the NUL) or already added; an unknown ggml type; a shape whose ne[0] is not
// a multiple of the type's block size. general.alignment may be added only as
// a UINT32 power of two (llama.cpp refuses any other type); it then sets the
// tensor alignment, which is otherwise 32 and written as no key at all, as
// llama.cpp's own writer does.
#ifndef TRIT_GGUF_WRITE_H
#define TRIT_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "format/gguf.h"

typedef struct GgufWriter GgufWriter;

GgufWriter *gguf_writer_new(void);
void gguf_writer_free(GgufWriter *w);  // NULL is fine

// --- key/values (values are copied) ---------------------------------------

int gguf_add_u8(GgufWriter *w, const char *key, uint8_t v, char *err);
int gguf_add_i8(GgufWriter *w, const char *key, int8_t v, char *err);
int gguf_add_u16(GgufWriter *w, const char *key, uint16_t v, char *err);
int gguf_add_i16(GgufWriter *w, const char *key, int16_t v, char *err);
int gguf_add_u32(GgufWriter *w, const char *key, uint32_t v, char *err);
int gguf_add_i32(GgufWriter *w, const char *key, int32_t v, char *err);
int gguf_add_f32(GgufWriter *w, const char *key, float v, char *err);
int gguf_add_bool(GgufWriter *w, const char *key, int v, char *err);  // written as 0 or 1
int gguf_add_u64(GgufWriter *w, const char *key, uint64_t v, char *err);
int gguf_add_i64(GgufWriter *w, const char *key, int64_t v, char *err);
int gguf_add_f64(GgufWriter *w, const char *key, double v, char *err);
// `len` bytes of UTF-8 (no terminating NUL needed; a NUL byte is refused).
int gguf_add_str(GgufWriter *w, const char *key, const char *s, size_t len, char *err);

// An array of n numbers of type `elem` (any scalar type but STRING; BOOL
// elements must be 0 or 1), read from data as host-order C values: uint8_t
// for UINT8, int32_t for INT32, float for FLOAT32, ...
int gguf_add_arr(GgufWriter *w, const char *key, GgufType elem, const void *data, uint64_t n, char *err);
// An array of n strings, string i being lens[i] bytes of UTF-8 at strs[i].
int gguf_add_arr_str(GgufWriter *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n,
                     char *err);

// --- tensors (data kept by pointer until the write) ----------------------------

// ne[0..n_dims) in ggml order (ne[0] is the row length), 1 <= n_dims <= 4,
// each ne >= 1; `data` holds ne[0] / block_size * type_size * ne[1] * ...
// bytes of the ggml type `type` and must stay valid until gguf_writer_write.
int gguf_add_tensor(GgufWriter *w, const char *name, uint32_t type, int n_dims, const int64_t *ne, const void *data,
                    char *err);

// Writes the file. -1 with err naming the path when it cannot be written;
// the writer is unchanged either way and may be written again.
int gguf_writer_write(const GgufWriter *w, const char *path, char *err);

#endif
