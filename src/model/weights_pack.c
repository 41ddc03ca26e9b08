// weights_pack.c — an exactly ternary fp32 model packed into GGUF block
// types for running; see weights.h.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "base/util.h"
#include "kernels/cpu/qpack.h"
#include "model/weights.h"
#include "quant/ggml_types.h"

// The storage a ternary kind gets under (type, embed_type) and the kept kinds.
static uint32_t kind_type(TensorKind k, uint32_t type, uint32_t embed_type, uint32_t kept) {
    if (k == TK_EMBED || k == TK_LM_HEAD) return embed_type;
    return (kept >> k) & 1u && ggml_type_find(type)->is_ternary ? GGML_TYPE_BF16 : type;
}

int weights_convert(uint32_t type, const float *src, int64_t rows, int64_t cols, void *dst, int64_t *bad_row) {
    const GgmlType *t = ggml_type_find(type);
    *bad_row = -1;
    if (!t || !t->from_float) return -1;
    const size_t rb = (size_t)(cols / t->block_size) * (size_t)t->type_size;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        uint8_t *y = (uint8_t *)dst + (size_t)r * rb;
        int64_t blk;
        if (t->from_float(x, y, cols, &blk) != 0) bad = 1;
    }
    if (!bad) return 0;
    for (int64_t r = 0; r < rows && *bad_row < 0; r++) {  // name the first bad row (rare path)
        int64_t blk;
        uint8_t *tmp = xmalloc(rb);
        if (t->from_float(src + r * cols, tmp, cols, &blk) != 0) *bad_row = r;
        free(tmp);
    }
    return -1;
}

int weights_fits(uint32_t type, const float *src, int64_t rows, int64_t cols, int64_t *bad_row) {
    const GgmlType *t = ggml_type_find(type);
    *bad_row = -1;
    if (cols % t->block_size) return -1;
    void *tmp = xmalloc((size_t)rows * (size_t)(cols / t->block_size) * t->type_size);
    const int rc = weights_convert(type, src, rows, cols, tmp, bad_row);
    free(tmp);
    return rc;
}

uint32_t weights_kept_linear(const Model *m) {
    uint32_t bf16 = ~0u, not_ternary = 0, present = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (!ti->matrix || tk_is_embedding(ti->kind)) continue;
        const uint32_t bit = 1u << ti->kind;
        const float *w = m->params_memory + ti->offset;
        present |= bit;
        if (!(bf16 & bit)) continue;
        if (!f32_all_bf16(w, (size_t)ti->rows * (size_t)ti->cols)) {
            bf16 &= ~bit;
        } else if (!(not_ternary & bit)) {
            int64_t bad;
            if (weights_fits(GGML_TYPE_Q2_0, w, ti->rows, ti->cols, &bad)) not_ternary |= bit;
        }
    }
    const uint32_t kept = bf16 & not_ternary & present;
    return kept == present ? 0 : kept;
}

int weights_pack(ModelWeights *mw, const Model *m, uint32_t type, uint32_t embed_type, char *err) {
    memset(mw, 0, sizeof *mw);
    const ModelConfig *c = &m->config;
    const uint32_t kept = weights_kept_linear(m);
    mw->config = *c;
    // Sizes first: one allocation for every packed matrix, one for the norms.
    size_t kind_bytes[TK_COUNT] = {0}, total = 0, norm_floats = 0;
    uint32_t ktype[TK_COUNT];
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        ktype[ti->kind] = ti->matrix ? kind_type(ti->kind, type, embed_type, kept) : GGML_TYPE_F32;
        const GgmlType *t = ggml_type_find(ktype[ti->kind]);
        if (ti->matrix && ti->cols % t->block_size != 0)
            return set_err(err, "%s: rows of %lld weights are not whole %s blocks of %d", ti->name,
                           (long long)ti->cols, t->name, t->block_size);
        if (ti->matrix) kind_bytes[ti->kind] += (size_t)ti->rows * (size_t)(ti->cols / t->block_size) * t->type_size;
        else norm_floats += (size_t)ti->rows * (size_t)(ti->cols ? ti->cols : 1);  // norms, adapters
    }
    for (int k = 0; k < TK_COUNT; k++) total += (kind_bytes[k] + 63) & ~(size_t)63;
    uint8_t *blocks = xmalloc_aligned(total ? total : 64);
    float *norms = xmalloc_aligned(sizeof(float) * (norm_floats ? norm_floats : 1));
    const void *base[TK_COUNT] = {0};
    size_t boff = 0, noff = 0;
    for (int k = 0; k < TK_COUNT; k++) {
        if (!kind_bytes[k]) continue;
        base[k] = blocks + boff;
        boff += (kind_bytes[k] + 63) & ~(size_t)63;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const float *src = m->params_memory + ti->offset;
        if (!ti->matrix) {  // norms and adapters, fp32: slabs in the same order as the flat buffer
            const size_t n = (size_t)ti->rows * (size_t)(ti->cols ? ti->cols : 1);
            if (ti->layer == 0) base[ti->kind] = norms + noff;
            memcpy(norms + noff, src, sizeof(float) * n);
            noff += n;
            continue;
        }
        const GgmlType *t = ggml_type_find(ktype[ti->kind]);
        const size_t bytes = (size_t)ti->rows * (size_t)(ti->cols / t->block_size) * t->type_size;
        uint8_t *dst = (uint8_t *)base[ti->kind] + (size_t)ti->layer * bytes;
        int64_t bad_row;
        if (weights_convert(ktype[ti->kind], src, ti->rows, ti->cols, dst, &bad_row) != 0) {
            free(blocks);
            free(norms);
            return set_err(err, "%s: row %lld is not exactly ternary with fp16 scales in blocks of %d, so %s "
                           "cannot hold it losslessly (trit verify names the formats that can)",
                           ti->name, (long long)bad_row, t->block_size, t->name);
        }
    }
    if (c->tie_word_embeddings) base[TK_LM_HEAD] = base[TK_EMBED];
    ktype[TK_LM_HEAD] = c->tie_word_embeddings ? ktype[TK_EMBED] : ktype[TK_LM_HEAD];
    for (int k = 0; k < TK_COUNT; k++)
        if (!base[k]) ktype[k] = GGML_TYPE_F32;
    mw->blocks = blocks;
    mw->norms = norms;
    weights_assemble(mw, base, ktype, NULL);
    int other = 0;  // a matrix kind that runs from `blocks` (not packed again by weights_assemble)
    for (int k = 0; k < TK_COUNT; k++) other |= kind_bytes[k] && !qpack_type_ok(ktype[k]);
    if (!other) {
        free(mw->blocks);
        mw->blocks = NULL;
    }
    return 0;
}

