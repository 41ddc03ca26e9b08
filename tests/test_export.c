// test_export.c — which packed formats hold a model losslessly (what export
// and verify decide), Llama's rotary row order, and a model packed at load
// against its fp32 self: embedding rows exact, products within the int8
// activation error, the same logits from the packed decode path as from the
// packed batched path.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/gguf_config.h"
#include "base/util.h"
#include "convert/gguf_export.h"
#include "infer/generate.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/weights.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

// A small Qwen3 whose every row is 128 weights: groups of 64 or 128 fit Q2_0.
static ModelConfig tiny_config(void) {
    ModelConfig c = {0};
    char err[ERR_LEN];
    if (config_load(&c, "tests/fixtures/models/tiny_tied_fp32/config.json", err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    c.hidden_size = 128;
    c.intermediate_size = 256;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 32;
    c.vocab_size = 96;
    return c;
}

// Every ternary matrix t·s with one scale per `group`, each scale from
// scale_of(); norms 1.
static void fill(Model *m, int group, float (*scale_of)(void)) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        float *p = m->params_memory + t->offset;
        if (!t->matrix) {
            for (int64_t j = 0; j < t->rows; j++) p[j] = 1.0f;
            continue;
        }
        for (int64_t g = 0; g < t->rows * t->cols / group; g++) {
            const float s = scale_of();
            for (int j = 0; j < group; j++) p[g * group + j] = (float)((int)(next() % 3) - 1) * s;
        }
    }
}

static float fp16_scale(void) { return f16_to_f32(f32_to_f16(0.01f + 0.05f * (float)(next() % 1000) / 1000.0f)); }
static float f32_scale(void) { return 0.1f; }  // 0.1f is no fp16 value

static void check_fits(void) {
    ModelConfig c = tiny_config();
    Model m;
    char err[ERR_LEN];
    if (model_alloc(&m, &c, err)) { CHECK(0, "%s", err); return; }
    fill(&m, 64, fp16_scale);
    CHECK(gguf_export_fits(&m, GGML_TYPE_Q2_0, 1, err) == 0, "group 64, fp16 scales: Q2_0 refused: %s", err);
    CHECK(gguf_export_fits(&m, GGML_TYPE_TQ2_0, 1, err) != 0 && strstr(err, "not whole TQ2_0 blocks"),
          "rows of 128 as TQ2_0: %s", err);
    fill(&m, 128, fp16_scale);  // one scale over two Q2_0 blocks
    CHECK(gguf_export_fits(&m, GGML_TYPE_Q2_0, 1, err) == 0, "group 128 as Q2_0: %s", err);
    fill(&m, 64, f32_scale);  // exactly ternary, but the scale is no fp16 value
    CHECK(gguf_export_fits(&m, GGML_TYPE_Q2_0, 1, err) != 0 && strstr(err, "model.embed_tokens.weight: row 0") &&
              strstr(err, "fp16 scale"),
          "float32 scales accepted as Q2_0: %s", err);
    // One weight off the scale in the last row of the last matrix.
    fill(&m, 64, fp16_scale);
    const TensorInfo *last = &m.tensors[m.n_tensors - 2];  // down_proj of the last layer (the final norm is last)
    float *w = m.params_memory + last->offset + (last->rows - 1) * last->cols;
    w[3] = w[3] == 0.0f ? fp16_scale() * 0.5f : w[3] * 0.5f;
    char want[160];
    snprintf(want, sizeof want, "%s: row %lld ", last->name, (long long)last->rows - 1);
    CHECK(gguf_export_fits(&m, GGML_TYPE_Q2_0, 1, err) != 0 && strstr(err, want), "a half-scale weight: %s (want %s)",
          err, want);
    model_free(&m);
}

static void check_rotary(void) {
    // 2 heads of HD = 8, one float a row holding its HF row index.
    float w[16], back[16];
    for (int i = 0; i < 16; i++) w[i] = (float)i;
    memcpy(back, w, sizeof w);
    llama_rotary_rows(w, 2, 8, sizeof(float), 1);
    // GGUF row 2j + i of a head is HF row i * HD/2 + j.
    int ok = 1;
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 2; i++) ok &= w[h * 8 + 2 * j + i] == (float)(h * 8 + i * 4 + j);
    CHECK(ok, "rotary order to GGUF");
    llama_rotary_rows(w, 2, 8, sizeof(float), 0);
    CHECK(memcmp(w, back, sizeof w) == 0, "rotary order back to HF is not the identity");
}

static double rel_l2(const float *a, const float *b, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / s);
}

static void check_packed_run(void) {
    ModelConfig c = tiny_config();
    Model m;
    char err[ERR_LEN];
    if (model_alloc(&m, &c, err)) { CHECK(0, "%s", err); return; }
    fill(&m, 64, fp16_scale);
    ModelWeights fp, pk;
    weights_view(&fp, &m, &m.params);
    CHECK(weights_pack(&pk, &m, GGML_TYPE_TQ2_0, GGML_TYPE_TQ2_0, err) != 0 && strstr(err, "TQ2_0"),
          "TQ2_0 packing of rows of 128 accepted");
    if (weights_pack(&pk, &m, GGML_TYPE_Q2_0, GGML_TYPE_Q2_0, err)) { CHECK(0, "%s", err); return; }
    CHECK(weights_bytes(&pk) * 10 < weights_bytes(&fp), "packed %zu bytes, fp32 %zu", weights_bytes(&pk),
          weights_bytes(&fp));
    // Embedding rows come back exactly.
    const int32_t tok[6] = {0, 5, 17, 42, 95, 5};
    const int C = c.hidden_size, V = c.vocab_size, T = 6;
    float *e1 = xmalloc(sizeof(float) * T * C), *e2 = xmalloc(sizeof(float) * T * C);
    embedding_lookup(e1, tok, T, &fp.embed);
    embedding_lookup(e2, tok, T, &pk.embed);
    CHECK(memcmp(e1, e2, sizeof(float) * T * C) == 0, "packed embedding rows differ");
    // Logits: packed within the int8 activation error of fp32; the packed
    // KV-cache path (GEMV per token) against the packed batched path (GEMM).
    float *l_fp = xmalloc(sizeof(float) * T * V), *l_pk = xmalloc(sizeof(float) * T * V);
    float *l_kv = xmalloc(sizeof(float) * V);
    Workspace ws;
    workspace_init(&ws, &c);
    forward_params(&ws, &m, &m.params, tok, NULL, 1, T, 0, l_fp, NULL);
    forward_loss(&ws, &pk, tok, NULL, 1, T, 0, l_pk, NULL);
    double e = rel_l2(l_pk, l_fp, T * V);
    CHECK(e > 0 && e < 0.03, "packed logits %.4f from fp32 (want within 3 %%: int8 activations)", e);
    KVCache kv;
    kvcache_init(&kv, &c, T, err);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        generate_forward(&kv, &pk, tok + t, 1, t, l_kv, err);
        double et = rel_l2(l_kv, l_pk + (size_t)t * V, V);
        worst = et > worst ? et : worst;
    }
    CHECK(worst < 1e-5, "packed decode vs packed batched forward: %.2e", worst);
    printf("  packed Q2_0: logits %.4f rel. L2 from fp32; decode vs batched %.1e\n", e, worst);
    kvcache_free(&kv);
    workspace_free(&ws);
    free(e1); free(e2); free(l_fp); free(l_pk); free(l_kv);
    weights_free(&fp);
    weights_free(&pk);
    model_free(&m);
}

int main(void) {
    check_fits();
    check_rotary();
    check_packed_run();
    return test_finish("test_export");
}
