// util.c — see util.h.
#define _POSIX_C_SOURCE 200809L
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int set_err(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int err_prefix(char *err, const char *fmt, ...) {
    if (err) {
        char msg[ERR_LEN];
        snprintf(msg, sizeof msg, "%s", err);
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
        size_t used = n < 0 ? 0 : (size_t)n < ERR_LEN - 1 ? (size_t)n : ERR_LEN - 1;
        for (const char *p = ": "; *p && used < ERR_LEN - 1;) err[used++] = *p++;
        for (const char *p = msg; *p && used < ERR_LEN - 1;) err[used++] = *p++;  // truncated as set_err would
        err[used] = 0;
    }
    return -1;
}

void print_error(const char *fmt, va_list ap) {
    fputs("trit: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void *xmalloc_aligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) die("out of memory allocating %zu bytes", n);
    return p;
}

char *read_file(const char *path, size_t *len, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { set_err(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        set_err(err, "%s: not a regular file", path);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = xmalloc(n + 1);
    if (fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        set_err(err, "%s: read failed", path);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int fsync_parent_dir(const char *path) {
    char *tmp = xstrdup(path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    free(tmp);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int remove_dir_files(const char *dir) {
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char *p = path_join(dir, e->d_name);
                unlink(p);
                free(p);
            }
        closedir(dp);
    }
    return rmdir(dir);
}

// Creates the directories above path that do not exist yet (mkdir -p of
// its parent): an output path may name a new folder, as `--out runs/x`
// on a fresh clone does.
static int make_parents(const char *path, char *err) {
    char *p = xstrdup(path);
    int rc = 0;
    for (char *q = strchr(p + 1, '/'); q && rc == 0; q = strchr(q + 1, '/')) {
        *q = 0;
        if (!is_directory(p) && mkdir(p, 0755) != 0 && !(errno == EEXIST && is_directory(p)))
            rc = set_err(err, "%s: cannot create directory: %s", p,
                         errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
        *q = '/';
    }
    free(p);
    return rc;
}

int atomic_dir_open(AtomicDir *d, const char *path, char *err) {
    if (make_parents(path, err)) return -1;
    size_t n = strlen(path) + 32;
    d->path = xstrdup(path);
    d->tmp = xmalloc(n);
    snprintf(d->tmp, n, "%s.partial-XXXXXX", path);
    if (!mkdtemp(d->tmp)) {
        set_err(err, "%s: cannot create a temporary directory beside it: %s", path, strerror(errno));
        free(d->path);
        free(d->tmp);
        d->path = d->tmp = NULL;
        return -1;
    }
    mode_t mask = umask(0);  // mkdtemp makes it 0700; give it the mode mkdir would
    umask(mask);
    chmod(d->tmp, 0777 & ~mask);
    return 0;
}

void atomic_dir_abort(AtomicDir *d) {
    if (d->tmp) remove_dir_files(d->tmp);
    free(d->path);
    free(d->tmp);
    d->path = d->tmp = NULL;
}

int atomic_dir_commit(AtomicDir *d, int replace, char *err) {
    char *old = NULL;
    int rc = 0;
    if (is_directory(d->path)) {
        if (replace) {
            size_t n = strlen(d->path) + 32;
            old = xmalloc(n);
            snprintf(old, n, "%s.old-%ld", d->path, (long)getpid());
            remove_dir_files(old);
            if (rename(d->path, old) != 0)
                rc = set_err(err, "%s: cannot move the existing directory aside: %s", d->path, strerror(errno));
        } else if (rmdir(d->path) != 0) {
            rc = set_err(err, "%s: exists and is not an empty directory", d->path);
        }
    }
    if (rc == 0 && rename(d->tmp, d->path) != 0)
        rc = set_err(err, "%s: cannot rename %s to it: %s", d->path, d->tmp, strerror(errno));
    if (rc == 0) {
        fsync_parent_dir(d->path);
        if (old) remove_dir_files(old);
        free(d->tmp);
        d->tmp = NULL;
    }
    free(old);
    atomic_dir_abort(d);  // after a commit only frees; after a failure removes tmp
    return rc;
}

int atomic_open(AtomicFile *a, const char *path, char *err) {
    if (make_parents(path, err)) return -1;
    size_t n = strlen(path) + 32;
    a->path = xstrdup(path);
    a->tmp = xmalloc(n);
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->failed = 0;
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        set_err(err, "%s: cannot create: %s", a->tmp, strerror(errno));
        free(a->path);
        free(a->tmp);
        return -1;
    }
    return 0;
}

void atomic_write(AtomicFile *a, const void *data, size_t len) {
    if (a->failed || len == 0) return;
    if (fwrite(data, 1, len, a->f) != len) a->failed = errno ? errno : EIO;
}

void atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    unlink(a->tmp);
    free(a->path);
    free(a->tmp);
    a->f = NULL;
}

int atomic_commit(AtomicFile *a, char *err) {
    FILE *f = a->f;
    if (!a->failed && fflush(f) != 0) a->failed = errno ? errno : EIO;
    if (!a->failed && fsync(fileno(f)) != 0) a->failed = errno ? errno : EIO;
    if (fclose(f) != 0 && !a->failed) a->failed = errno ? errno : EIO;
    a->f = NULL;
    if (a->failed) {
        set_err(err, "%s: write failed: %s (nothing was replaced)", a->path, strerror(a->failed));
        atomic_abort(a);
        return -1;
    }
    if (rename(a->tmp, a->path) != 0) {
        set_err(err, "%s: rename failed: %s", a->path, strerror(errno));
        atomic_abort(a);
        return -1;
    }
    fsync_parent_dir(a->path);
    free(a->path);
    free(a->tmp);
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, char *err) {
    AtomicFile a;
    if (atomic_open(&a, path, err) != 0) return -1;
    atomic_write(&a, data, len);
    return atomic_commit(&a, err);
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = xmalloc(a + b + 2);
    memcpy(s, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int make_dir(const char *path, char *err) {
    if (make_parents(path, err)) return -1;
    if (mkdir(path, 0755) == 0 || (errno == EEXIST && is_directory(path))) return 0;
    return set_err(err, "%s: cannot create directory: %s", path,
                   errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void bf16_round_f32(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(f32_to_bf16(src[i]));
}

int f32_all_bf16(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (bf16_to_f32(f32_to_bf16(p[i])) != p[i]) return 0;
    return 1;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;           // NaN
    if (a >= 0x477ff000u) return sign | 0x7c00;          // overflow (rounds to >= 65520) -> inf
    if (a < 0x38800000u) {                               // subnormal or zero in f16
        if (a < 0x33000000u) return sign;                // below half the smallest subnormal
        uint32_t man = (a & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(a >> 23);                // 14..24: value / 2^-24 = man >> shift
        uint32_t r = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    uint32_t r = ((a >> 13) - (112u << 10));             // rebias exponent
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return sign | (uint16_t)r;
}

void progress_init(Progress *p, const char *label, const char *unit, double total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->t_start = p->t_last = now_seconds();
    p->is_tty = isatty(STDERR_FILENO);
}

static void progress_draw(Progress *p, double done, int final) {
    double el = now_seconds() - p->t_start;
    double rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (p->total - done) / rate : 0;
    if (eta < 0) eta = 0;
    int width = 30, fill = p->total > 0 ? (int)(width * done / p->total) : width;
    if (fill > width) fill = width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : ' ';
    bar[width] = 0;
    int es = (int)eta;
    fprintf(stderr, "%s%s [%s] %.0f/%.0f  %.1f %s/s  %s %d:%02d:%02d%s", p->is_tty ? "\r" : "",
            p->label, bar, done, p->total, rate, p->unit, final ? "took" : "ETA",
            final ? (int)el / 3600 : es / 3600, final ? ((int)el / 60) % 60 : (es / 60) % 60,
            final ? (int)el % 60 : es % 60, p->is_tty && !final ? "" : "\n");
    fflush(stderr);
}

void progress_update(Progress *p, double done) {
    double t = now_seconds();
    double every = p->is_tty ? 0.1 : 5.0;
    if (t - p->t_last < every) return;
    p->t_last = t;
    progress_draw(p, done, 0);
}

void progress_finish(Progress *p, double done) { progress_draw(p, done, 1); }

float *carve_floats(const FloatPart *parts, size_t count, size_t *total) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) n += (parts[i].n + 15) & ~(size_t)15;
    float *mem = xmalloc_aligned(sizeof(float) * (n ? n : 16)), *p = mem;
    for (size_t i = 0; i < count; i++) {
        *parts[i].p = p;
        p += (parts[i].n + 15) & ~(size_t)15;
    }
    if (total) *total = n;
    return mem;
}

static int cmp_span(const void *x, const void *y) {
    const Span *a = x, *b = y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return 0;
}

int spans_overlap(Span *s, int n, int *a, int *b) {
    qsort(s, (size_t)n, sizeof *s, cmp_span);
    int max_i = -1;  // the non-empty span reaching furthest so far
    for (int i = 0; i < n; i++) {
        if (s[i].begin == s[i].end) continue;
        if (max_i >= 0 && s[i].begin < s[max_i].end) {
            *a = s[max_i].idx;
            *b = s[i].idx;
            return 1;
        }
        if (max_i < 0 || s[i].end > s[max_i].end) max_i = i;
    }
    return 0;
}

int map_file(const char *path, const void **map, size_t *len, char *err) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return set_err(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return set_err(err, "%s: not a regular file", path);
    }
    *len = (size_t)st.st_size;
    if (*len == 0) {  // mmap refuses a length of 0
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        *len = 0;
        return set_err(err, "%s: cannot mmap: %s", path, strerror(e));
    }
    *map = m;
    return 0;
}

void unmap_file(const void *map, size_t len) {
    if (map && len) munmap((void *)map, len);
}

void map_release(const void *p, size_t len) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + len) & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static _Thread_local void *scratch[SCRATCH_SLOTS];
static _Thread_local size_t scratch_bytes[SCRATCH_SLOTS];

void *scratch_get(ScratchSlot slot, size_t bytes) {
    if (scratch_bytes[slot] < bytes) {
        free(scratch[slot]);
        scratch[slot] = xmalloc_aligned(bytes);
        scratch_bytes[slot] = bytes;
    }
    return scratch[slot];
}

int copy_file_if_present(const char *from_dir, const char *to_dir, const char *name, char *err) {
    char *src = path_join(from_dir, name), *dst = path_join(to_dir, name);
    int rc = 0;
    if (file_exists(src)) {
        size_t len;
        char *data = read_file(src, &len, err);
        rc = data ? write_file_atomic(dst, data, len, err) : -1;
        free(data);
    }
    free(src);
    free(dst);
    return rc;
}
