// fuzz_safetensors.c — libFuzzer target: st_parse on arbitrary bytes must
// either fail with a message or give tensors whose data lies inside the
// buffer, sorted by name, with nbytes == numel * dtype size; and reading any
// float tensor must stay in bounds.
//
//   make fuzz && build-fuzz/fuzz_safetensors -max_total_time=90 fuzz/seeds/safetensors
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A private copy so that ASan catches any read past `size`.
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    StArchive a;
    memset(&a, 0, sizeof a);
    char err[ERR_LEN];
    if (st_parse(&a, buf, size, 0, "fuzz", err) == 0) {
        for (int i = 0; i < a.ntensors; i++) {
            const StTensor *t = &a.tensors[i];
            if (t->data < buf || t->nbytes > size || t->data + t->nbytes > buf + size) abort();
            if (t->nbytes != (size_t)t->numel * st_dtype_size(t->dtype)) abort();
            if (i && strcmp(a.tensors[i - 1].name, t->name) >= 0) abort();
            if (st_find(&a, t->name) == NULL) abort();
            if ((t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) && t->numel <= (1 << 20)) {
                float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
                if (out && st_read_f32(t, out, err) != 0) abort();
                free(out);
            }
        }
    } else if (err[0] == 0 || strncmp(err, "fuzz: ", 6) != 0) {
        abort();  // every failure must name the file
    }
    st_close(&a);
    free(buf);
    return 0;
}
