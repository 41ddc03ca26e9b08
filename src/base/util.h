// util.h — errors, checked allocation, files, timing and a progress bar.
//
// Library code never exits: a function that can fail on bad input returns
// non-zero and writes one message into a caller-supplied `char err[ERR_LEN]`.
// Only the CLI (apps/) turns such a message into "trit: error: ..." and exit 1.
// This keeps the parsers usable from tests and fuzzers.
#ifndef TRIT_UTIL_H
#define TRIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ERR_LEN 512

// printf into err (which may be NULL); always returns -1 so callers can
// `return set_err(err, "...")`.
int set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Puts a formatted prefix and ": " before the message already in err (which
// set_err cannot read while it writes err). Returns -1.
int err_prefix(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Print "trit: error: <msg>" and a newline to stderr: the one form every
// error of the command line takes (die, and apps' usage errors).
void print_error(const char *fmt, va_list ap);

// Print "trit: error: <msg>" to stderr and exit(1). For the CLI and for
// out-of-memory, which no caller can recover from.
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
// 64-byte aligned, for SIMD-friendly flat buffers; free with free().
void *xmalloc_aligned(size_t n);

// Reusable per-thread work buffers, one per slot, grown to the largest size
// asked for and kept (never freed): the buffers a kernel needs on every call
// without paying for a fresh allocation's page faults each time.
typedef enum {
    SCRATCH_BF16_X,     // linear_forward / linear_backward: the input rounded to bf16
    SCRATCH_BF16_DOUT,  // linear_backward: the output gradient rounded to bf16
    SCRATCH_HEAD,       // lm_head_loss_backward: a chunk's logits, then their gradient
    SCRATCH_HEAD_TEACHER,  // and the teacher's logits
    SCRATCH_LORA_U,     // linear_forward / linear_backward: the input through an adapter's A (n, r)
    SCRATCH_LORA_V,     // linear_forward: that through its B (n, rows)
    SCRATCH_SLOTS
} ScratchSlot;
void *scratch_get(ScratchSlot slot, size_t bytes);

// One 64-byte-aligned allocation carved into parts, each rounded up to 16
// floats so that every part stays 64-byte aligned: *parts[i].p points at
// part i. Returns the allocation (free() it); *total receives its floats.
typedef struct {
    float **p;
    size_t n;  // floats
} FloatPart;
float *carve_floats(const FloatPart *parts, size_t count, size_t *total);

// Byte ranges [begin, end) of the tensors of a file, for the overlap check
// both model-file readers make. spans_overlap sorts s and returns 1 with the
// idx of two overlapping non-empty ranges in *a, *b (a starts first), else 0.
typedef struct {
    uint64_t begin, end;
    int idx;
} Span;
int spans_overlap(Span *s, int n, int *a, int *b);

// Maps a regular file read-only (the model readers' untrusted input).
// Returns 0 with *map and *len (an empty file: *map NULL, nothing mapped),
// or -1 with err naming the path. Release with unmap_file.
int map_file(const char *path, const void **map, size_t *len, char *err);
void unmap_file(const void *map, size_t len);
// Drops the whole pages inside [p, p + len) of a map_file mapping from this
// process's memory (a later read maps them in again from the file): for
// parts that were read once and are no longer needed.
void map_release(const void *p, size_t len);

// Reads a whole file into a NUL-terminated buffer. Returns NULL and sets err
// (naming the path) on failure.
char *read_file(const char *path, size_t *len, char *err);

// Writes `len` bytes to `path` atomically: a temporary file in the same
// directory, fsync, rename over the target, fsync of the directory. A reader
// sees either the old file or the whole new one, never a torn write.
int write_file_atomic(const char *path, const void *data, size_t len, char *err);

// The same, streamed: open, write pieces, commit (or abort). A failed write
// (a full disk) is remembered and reported by commit, which then removes the
// temporary file and leaves the target untouched.
typedef struct {
    void *f;      // FILE *
    char *path, *tmp;
    int failed;   // errno of the first failed write, 0 if none
} AtomicFile;
int atomic_open(AtomicFile *a, const char *path, char *err);
void atomic_write(AtomicFile *a, const void *data, size_t len);
int atomic_commit(AtomicFile *a, char *err);
void atomic_abort(AtomicFile *a);
// fsync of the directory holding `path`, so a rename in it is durable.
int fsync_parent_dir(const char *path);

// A directory of files (a model, a checkpoint) made whole or not at all:
// its files are written into d->tmp, a fresh sibling of `path` (the same
// file system, so the final rename is atomic), which commit renames to path.
// With `replace`, an existing path is moved aside first and removed once
// the new one is in place; without, path must not exist (an empty directory
// is removed). abort (and a failed commit) removes d->tmp and what is in it.
// Files only: the directories this serves hold no subdirectories.
typedef struct {
    char *path, *tmp;
} AtomicDir;
int atomic_dir_open(AtomicDir *d, const char *path, char *err);
int atomic_dir_commit(AtomicDir *d, int replace, char *err);
void atomic_dir_abort(AtomicDir *d);
// Removes the files in dir, then dir (no subdirectories). -1 if it remains.
int remove_dir_files(const char *dir);

// Joins dir and name with one '/'; caller frees.
char *path_join(const char *dir, const char *name);
int file_exists(const char *path);
// Copies from_dir/name to to_dir/name (atomically) when it exists; 0 when it
// does not. For the tokenizer files a converted model carries along.
int copy_file_if_present(const char *from_dir, const char *to_dir, const char *name, char *err);
int is_directory(const char *path);
// mkdir -p: path and the folders above it; ok if it already exists.
int make_dir(const char *path, char *err);

double now_seconds(void);  // monotonic clock

// Little-endian conversions for 16-bit floats.
float bf16_to_f32(uint16_t h);
// Round to nearest even, NaN kept quiet. Inline: bf16_round calls it per
// element in a loop the compiler vectorises.
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// dst[i] = src[i] rounded to the nearest bf16 value, kept in fp32 (dst may be src).
void bf16_round_f32(float *dst, const float *src, size_t n);
// 1 when every p[0..n) is a bf16 value (survives the round trip unchanged).
int f32_all_bf16(const float *p, size_t n);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);   // round to nearest even, overflow to inf

// A progress bar on stderr: "label [#####     ] done/total  12.3 tok/s  ETA 0:42".
// Redraws at most 10 times a second; quiet when stderr is not a terminal
// unless `force` is set, then it prints a line every few seconds.
typedef struct {
    const char *label;
    const char *unit;
    double total;
    double t_start, t_last;
    int is_tty;
} Progress;
void progress_init(Progress *p, const char *label, const char *unit, double total);
void progress_update(Progress *p, double done);
void progress_finish(Progress *p, double done);

#endif
