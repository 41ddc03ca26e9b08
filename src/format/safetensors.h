// safetensors.h — reader and writer for Hugging Face safetensors checkpoints.
//
// Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {...}}, then the data block; offsets are relative to it.
// A checkpoint directory holds either `model.safetensors` or shards listed by
// `model.safetensors.index.json` ({"weight_map": {"tensor": "file", ...}}).
//
// The reader treats files as untrusted: every length, offset and shape is
// bounds-checked, overlapping tensors and unknown dtypes are rejected, and
// each failure is one message naming the file and the problem.
#ifndef TRIT_SAFETENSORS_H
#define TRIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_F32, ST_F16, ST_BF16, ST_F64,
    ST_I8, ST_U8, ST_I16, ST_U16, ST_I32, ST_U32, ST_I64, ST_U64, ST_BOOL,
    ST_F8_E4M3, ST_F8_E5M2,
    ST_NUM_DTYPES
} StDType;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    StDType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data;  // points into the mapped file, nbytes long
    size_t nbytes;
    int file;             // index into StArchive.paths
} StTensor;

typedef struct {
    int nfiles;
    char **paths;
    uint8_t **maps;       // mmap'd files
    size_t *sizes;
    int ntensors;
    StTensor *tensors;    // sorted by name
} StArchive;

const char *st_dtype_name(StDType t);   // "F32", "BF16", ...
size_t st_dtype_size(StDType t);        // bytes per element
// The dtype with that safetensors name ("BF16"); -1 when unknown.
int st_dtype_from_name(const char *s, StDType *out);

// Parses one safetensors image already in memory (the whole file, `len`
// bytes). Appends its tensors to `a` with file index `file`; data pointers
// point into `buf`, which must outlive `a`. Used by st_open_* and the fuzzer.
int st_parse(StArchive *a, const uint8_t *buf, size_t len, int file, const char *name, char *err);

// Opens one .safetensors file (mmap, read-only).
int st_open_file(StArchive *a, const char *path, char *err);
// Opens a checkpoint directory: model.safetensors, or the index and its shards.
// Tensor names must be unique across shards and the index must match them.
int st_open_dir(StArchive *a, const char *dir, char *err);
void st_close(StArchive *a);

// Binary search by name; NULL when absent.
const StTensor *st_find(const StArchive *a, const char *name);

// Converts a F32/F16/BF16 tensor to fp32 into out[numel]. Other dtypes: error.
int st_read_f32(const StTensor *t, float *out, char *err);

// --- writing -------------------------------------------------------------

typedef struct {
    const char *name;
    StDType dtype;        // F32, F16 or BF16: fp32 data is converted on write
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} StWriteTensor;

// Writes one safetensors file atomically (temp file + rename). Tensors are
// written in name order, header padded with spaces to a multiple of 8 bytes
// as the reference implementation does. `metadata` is a flat list of
// key/value string pairs (n_meta pairs), e.g. {"format", "pt"}.
int st_write_file(const char *path, const StWriteTensor *t, int n,
                  const char *const *metadata, int n_meta, char *err);

// Writes a checkpoint into `dir`: model.safetensors when the total size is at
// most max_shard_bytes (0 = no limit), otherwise model-0000k-of-0000n.safetensors
// shards plus model.safetensors.index.json, as transformers does.
int st_write_dir(const char *dir, const StWriteTensor *t, int n, size_t max_shard_bytes, char *err);

#endif
