// gguf_export.c — see gguf_export.h.
#include "convert/gguf_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/gguf_config.h"
#include "base/util.h"
#include "format/gguf.h"
#include "format/gguf_write.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/ggml_types.h"
#include "tok/gguf_vocab_export.h"

// ggml's quantization version, required by llama.cpp when a tensor is quantized.
#define GGML_QNT_VERSION 2

static int is_ternary_type(uint32_t t) {
    const GgmlType *tt = ggml_type_find(t);
    return tt && tt->is_ternary;
}

static int add_arch_keys(GgufWriter *w, const ModelConfig *c, int quantized, char *err) {
    const char *A = arch_get(c->arch)->gguf_arch;
    char k[128];
#define KEY(name) (snprintf(k, sizeof k, "%s.%s", A, name), k)
    if (gguf_add_str(w, "general.architecture", A, strlen(A), err) ||
        gguf_add_str(w, "general.name", "trit", 4, err) ||
        (quantized && gguf_add_u32(w, "general.quantization_version", GGML_QNT_VERSION, err)) ||
        gguf_add_u32(w, KEY("context_length"), (uint32_t)c->max_position_embeddings, err) ||
        gguf_add_u32(w, KEY("embedding_length"), (uint32_t)c->hidden_size, err) ||
        gguf_add_u32(w, KEY("block_count"), (uint32_t)c->num_hidden_layers, err) ||
        gguf_add_u32(w, KEY("feed_forward_length"), (uint32_t)c->intermediate_size, err) ||
        gguf_add_u32(w, KEY("attention.head_count"), (uint32_t)c->num_attention_heads, err) ||
        gguf_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->num_key_value_heads, err) ||
        gguf_add_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim, err) ||
        gguf_add_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim, err) ||
        gguf_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->rms_norm_eps, err) ||
        gguf_add_f32(w, KEY("rope.freq_base"), (float)c->rope_theta, err) ||
        gguf_add_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err) ||
        gguf_add_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size, err))
        return -1;
#undef KEY
    return 0;
}

// Which ternary matrices a check covers.
enum { FIT_ALL, FIT_NOT_EMBEDDING, FIT_EMBEDDING };

// 0 when `type` holds matrix ti losslessly, else -1 with err.
static int tensor_fits(const Model *m, const TensorInfo *ti, uint32_t type, char *err) {
    const GgmlType *t = ggml_type_find(type);
    int64_t bad;
    if (weights_fits(type, m->params_memory + ti->offset, ti->rows, ti->cols, &bad) == 0) return 0;
    if (bad < 0)
        return set_err(err, "%s: rows of %lld weights are not whole %s blocks of %d", ti->name, (long long)ti->cols,
                       t->name, t->block_size);
    return set_err(err, "%s: row %lld is not exactly ternary with one fp16 scale per block of %d weights", ti->name,
                   (long long)bad, t->block_size);
}

static int fits(const Model *m, uint32_t type, int part, uint32_t kept, char *err) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        const int emb = tk_is_embedding(ti->kind);
        if (!ti->matrix || (part == FIT_NOT_EMBEDDING && emb) || (part == FIT_EMBEDDING && !emb) ||
            ((kept >> ti->kind) & 1u))
            continue;
        if (tensor_fits(m, ti, type, err)) return -1;
    }
    return 0;
}

int gguf_export_fits(const Model *m, uint32_t type, int embedding, char *err) {
    return fits(m, type, embedding ? FIT_ALL : FIT_NOT_EMBEDDING, weights_kept_linear(m), err);
}

// The type each tensor is written in: kept linear kinds beside ternary
// matrices in bf16.
static uint32_t tensor_type(const TensorInfo *ti, const ExportOptions *o, uint32_t kept, int adapters_bf16) {
    if (tk_is_adapter(ti->kind)) return adapters_bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32;
    if (!ti->matrix) return GGML_TYPE_F32;
    if (tk_is_embedding(ti->kind)) return o->embed_type;
    return (kept >> ti->kind) & 1u && is_ternary_type(o->type) ? GGML_TYPE_BF16 : o->type;
}

// Whether every value of the embedding / LM head (a `trit train
// --keep-embedding bf16` model), or of the adapters, is a bf16 value.
static int all_bf16(const Model *m, int (*is)(TensorKind)) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (!is(ti->kind)) continue;
        if (!f32_all_bf16(m->params_memory + ti->offset, (size_t)ti->rows * (size_t)ti->cols)) return 0;
    }
    return 1;
}

// Reads the written file back: every tensor dequantized equals the model's
// fp32 values (q/k rows back in HF order) bit for bit, for the lossless types.
// `adapters`: the adapter file, which holds the adapters alone.
static int check_written(const char *path, const Model *m, const ExportOptions *o, uint32_t kept, int adapters,
                         int adapters_bf16, ExportReport *r, char *err) {
    GgufFile g;
    if (gguf_open(&g, path, err)) return -1;
    const Arch *a = arch_get(m->config.arch);
    char name[96];
    int rc = 0;
    r->file_bytes += g.size;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (tk_is_adapter(ti->kind) != adapters) continue;
        arch_gguf_name(arch_tensor(a, ti->kind), ti->layer, name, sizeof name);
        const GgufTensor *t = gguf_find_tensor(&g, name);
        const size_t n = (size_t)ti->rows * (size_t)(ti->cols ? ti->cols : 1);
        float *x = xmalloc(sizeof(float) * n);
        rc = gguf_tensor_to_f32(t, x, err);
        if (rc == 0) gguf_rope_rows(&m->config, ti->kind, x, sizeof(float) * (size_t)ti->cols, 0);
        // Equal in value: a -0.0 in the model reads back as +0.0 from a
        // packed zero, which no product can tell apart.
        int same = rc == 0;
        for (size_t j = 0; j < n && same; j++) same = x[j] == m->params_memory[ti->offset + j];
        r->n_lossless += same;
        uint32_t ty = tensor_type(ti, o, kept, adapters_bf16);
        if (rc == 0 && !same && (ty == GGML_TYPE_F32 || is_ternary_type(ty)))
            rc = set_err(err, "%s: tensor '%s' read back differs from the model (a bug in trit's writer)", path, name);
        free(x);
    }
    gguf_close(&g);
    return rc;
}

// Adds the model's tensors to w, converted (data[i] holds tensor i's bytes
// until the write): the adapters alone (adapters 1, their own file), or all
// but them. Sums the matrices' bytes and weights.
static int add_tensors(GgufWriter *w, const Model *m, const ExportOptions *o, uint32_t kept, int adapters,
                       int adapters_bf16, void **data, uint64_t *bytes, uint64_t *weights, const char *model_dir,
                       char *err) {
    const ModelConfig *c = &m->config;
    const Arch *a = arch_get(c->arch);
    char name[96];
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *ti = &m->tensors[i];
        if (tk_is_adapter(ti->kind) != adapters) continue;
        const uint32_t ty = tensor_type(ti, o, kept, adapters_bf16);
        const GgmlType *t = ggml_type_find(ty);
        const int64_t cols = ti->cols ? ti->cols : ti->rows, rows = ti->cols ? ti->rows : 1;
        arch_gguf_name(arch_tensor(a, ti->kind), ti->layer, name, sizeof name);
        if (cols % t->block_size)
            return set_err(err, "%s: rows of %lld weights are not whole %s blocks of %d", ti->name, (long long)cols,
                           t->name, t->block_size);
        const size_t rb = (size_t)(cols / t->block_size) * t->type_size;
        data[i] = xmalloc_aligned(rb * (size_t)rows);
        int64_t bad;
        if (weights_convert(ty, m->params_memory + ti->offset, rows, cols, data[i], &bad))
            return set_err(err, "%s: row %lld is not exactly ternary with one fp16 scale per block of %d weights, so "
                           "%s cannot hold it losslessly; `trit verify %s` says which formats can", ti->name,
                           (long long)bad, t->block_size, t->name, model_dir);
        gguf_rope_rows(c, ti->kind, data[i], rb, 1);
        const int64_t ne[2] = {cols, rows};
        if (gguf_add_tensor(w, name, ty, ti->cols ? 2 : 1, ne, data[i], err)) return -1;
        if (ti->matrix || adapters) {
            *bytes += rb * (uint64_t)rows;
            *weights += (uint64_t)rows * (uint64_t)cols;
        }
    }
    return 0;
}

int gguf_export(const char *model_dir, const char *out_path, const ExportOptions *opt, ExportReport *r, char *err) {
    memset(r, 0, sizeof *r);
    Model m;
    if (model_load(&m, model_dir, err)) return -1;
    const ModelConfig *c = &m.config;
    ExportOptions o = *opt;
    int rc = -1;
    GgufWriter *w = NULL, *aw = NULL;
    char *adapter_path = NULL;
    void **data = xcalloc((size_t)m.n_tensors, sizeof(void *));
    if (c->rope_scaling.type != ROPE_DEFAULT) {
        set_err(err, "%s: llama3 RoPE scaling needs llama.cpp's rope_freqs tensor, which trit does not write yet",
                model_dir);
        goto done;
    }
    const uint32_t kept = weights_kept_linear(&m);
    if (o.type == EXPORT_AUTO) {
        char e2[ERR_LEN];
        if (fits(&m, GGML_TYPE_TQ2_0, FIT_NOT_EMBEDDING, kept, e2) == 0) o.type = GGML_TYPE_TQ2_0;
        else if (fits(&m, GGML_TYPE_Q2_0, FIT_NOT_EMBEDDING, kept, err) == 0) o.type = GGML_TYPE_Q2_0;
        else {
            char e1[ERR_LEN];
            snprintf(e1, sizeof e1, "%s", err);
            set_err(err, "%s holds no ternary format losslessly (TQ2_0: %s; Q2_0: %s); `trit verify %s` says what "
                    "it is, `--type f16|bf16|f32` writes it unpacked", model_dir, e2, e1, model_dir);
            goto done;
        }
    }
    // The embedding follows the matrices, unless they are ternary and it is
    // not (kept out of the projection): then bf16 or f32, whichever holds it.
    if (o.embed_type == EXPORT_AUTO) {
        char e3[ERR_LEN];
        o.embed_type = o.type;
        if (is_ternary_type(o.type) && fits(&m, o.type, FIT_EMBEDDING, 0, e3) != 0)
            o.embed_type = all_bf16(&m, tk_is_embedding) ? GGML_TYPE_BF16 : GGML_TYPE_F32;
    }
    r->type = o.type;
    r->embed_type = o.embed_type;
    r->kept_linear = is_ternary_type(o.type) ? kept : 0;
    w = gguf_writer_new();
    const int quantized = is_ternary_type(o.type) || is_ternary_type(o.embed_type) || o.embed_type == GGML_TYPE_Q8_0;
    if (add_arch_keys(w, c, quantized, err) || gguf_write_tokenizer(w, model_dir, c->vocab_size, err)) goto done;
    uint64_t matrix_bytes = 0, matrix_weights = 0;
    if (add_tensors(w, &m, &o, kept, 0, 0, data, &matrix_bytes, &matrix_weights, model_dir, err)) goto done;
    if (c->adapter_rank && gguf_add_u32(w, "trit.adapter_rank", (uint32_t)c->adapter_rank, err)) goto done;
    const int ad_bf16 = all_bf16(&m, tk_is_adapter);
    if (c->adapter_rank) {  // first, so that a base that names its adapters is never without them
        adapter_path = weights_adapter_path(out_path);
        aw = gguf_writer_new();
        uint64_t ab = 0, unused = 0;
        const char *A = arch_get(c->arch)->gguf_arch;
        if (gguf_add_str(aw, "general.architecture", A, strlen(A), err) ||
            gguf_add_str(aw, "general.type", "adapter", 7, err) || gguf_add_str(aw, "adapter.type", "lora", 4, err) ||
            gguf_add_f32(aw, "adapter.lora.alpha", (float)c->adapter_rank, err) ||  // llama.cpp's scale alpha/r: 1
            add_tensors(aw, &m, &o, kept, 1, ad_bf16, data, &ab, &unused, model_dir, err) ||
            gguf_writer_write(aw, adapter_path, err))
            goto done;
        matrix_bytes += ab;
        r->adapter_rank = c->adapter_rank;
        snprintf(r->adapter_path, sizeof r->adapter_path, "%s", adapter_path);
        if (check_written(adapter_path, &m, &o, kept, 1, ad_bf16, r, err)) {
            remove(adapter_path);
            goto done;
        }
    }
    if (gguf_writer_write(w, out_path, err)) goto done;
    r->n_tensors = m.n_tensors;
    r->bits_per_weight = matrix_weights ? 8.0 * (double)matrix_bytes / (double)matrix_weights : 0.0;
    if (check_written(out_path, &m, &o, kept, 0, ad_bf16, r, err)) {
        remove(out_path);
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < m.n_tensors; i++) free(data[i]);
    free(data);
    gguf_writer_free(w);
    gguf_writer_free(aw);
    free(adapter_path);
    model_free(&m);
    return rc;
}
