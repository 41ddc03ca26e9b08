// test_quantize.c — the calibrated ternary start (convert/quantize.c) on the
// tiny Qwen3 and Llama fixtures: every method's output is exactly ternary
// with one fp16 scale per group; layer 0's q_proj under gptq is what
// ternary_gptq makes of the Hessian of its inputs computed here
// independently (RMSNorm of the embedding rows, in double); with the
// embedding kept, the final hidden states of the gptq model on held-out
// tokens are closer to the parent's than the absmean and mse models';
// balancing the inputs (quant/balance.h) folds into the model without
// changing its function, and balanced gptq rounds q_proj·diag(b) on the
// Hessian of x / b; the errors a user can meet are clear.
#include "base/util.h"
#include "convert/quantize.h"
#include "kernels/ops.h"
#include "model/forward.h"
#include "model/weights.h"
#include "quant/gptq.h"
#include "test.h"

#define FIXTURES "tests/fixtures/models"
#define T 32
#define NSEQ 16

static int all_matrices_ternary(const Model *m, int group, int with_embedding) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        if (!t->matrix || (!with_embedding && tk_is_embedding(t->kind))) continue;
        TernaryCounts n = {0};
        if (ternary_verify(m->params_memory + t->offset, t->rows, t->cols, group, &n)) return 0;
    }
    return 1;
}

// Mean square distance of the final hidden states of m from the parent's.
static double hidden_error(const Model *m, const float *parent_h, const int32_t *ids) {
    Workspace ws;
    ModelWeights w;
    workspace_init(&ws, &m->config);
    weights_view(&w, m, &m->params);
    const float *h = forward_features(&ws, &w, ids, NSEQ, T);
    const size_t n = (size_t)NSEQ * T * m->config.hidden_size;
    double e = 0.0;
    for (size_t i = 0; i < n; i++) e += ((double)h[i] - parent_h[i]) * ((double)h[i] - parent_h[i]);
    weights_free(&w);
    workspace_free(&ws);
    return e / (double)n;
}

// XᵀX of layer 0's q/k/v inputs on the calibration ids, in double:
// RMSNorm(embedding rows) * attn_norm.
static double *layer0_hessian(const Model *parent, const int32_t *calib) {
    const ModelConfig *c = &parent->config;
    const int C = c->hidden_size;
    float *x = malloc(sizeof(float) * NSEQ * T * C), *rstd = malloc(sizeof(float) * NSEQ * T);
    for (int i = 0; i < NSEQ * T; i++) memcpy(x + (size_t)i * C, parent->params.embed + (size_t)calib[i] * C, sizeof(float) * C);
    rmsnorm_forward(x, rstd, x, parent->params.attn_norm, NSEQ * T, C, c->rms_norm_eps);
    double *H = calloc((size_t)C * C, sizeof(double));
    for (int i = 0; i < NSEQ * T; i++)
        for (int a = 0; a < C; a++)
            for (int b = 0; b < C; b++) H[a * C + b] += (double)x[(size_t)i * C + a] * x[(size_t)i * C + b];
    free(rstd);
    free(x);
    return H;
}

// How many values of m's layer-0 q_proj differ from what ternary_gptq
// makes of the parent's q_proj·diag(b) on the Hessian of x / b (b NULL:
// ones), x layer 0's inputs (layer0_hessian).
static size_t layer0_q_differ(const Model *parent, const Model *m, const int32_t *calib, const float *b, int group) {
    const ModelConfig *c = &parent->config;
    const int C = c->hidden_size, rows = c->num_attention_heads * c->head_dim;
    const size_t nq = (size_t)rows * C;
    double *H = layer0_hessian(parent, calib);
    float *q = malloc(sizeof(float) * nq);
    for (int a = 0; b && a < C; a++)
        for (int k = 0; k < C; k++) H[a * C + k] /= (double)b[a] * b[k];
    for (size_t i = 0; i < nq; i++) q[i] = parent->params.wq[i] * (b ? b[i % C] : 1.0f);
    char err[ERR_LEN];
    CHECK(ternary_gptq(q, rows, C, group, H, 0.01, err) == 0, "%s", err);
    size_t differ = 0;
    for (size_t i = 0; i < nq; i++) differ += q[i] != m->params.wq[i];
    free(q);
    free(H);
    return differ;
}

// m loaded from dir and rounded by gptq (embedding kept) with the given
// balance and QEP alpha; every matrix must come out ternary. Returns its
// hidden-state error on the held-out ids.
static double gptq_variant(Model *m, const char *dir, int group, const int32_t *calib, int balance, double qep,
                           const float *parent_h, const int32_t *held) {
    char err[ERR_LEN];
    CHECK(model_load(m, dir, err) == 0, "%s", err);
    QuantizeOptions o = {.method = QUANT_GPTQ, .group = group, .keep_embedding = QKEEP_BF16, .damp = 0.01,
                         .calib = calib, .n_calib = NSEQ * T, .seq_len = T, .batch = 4, .balance = balance, .qep = qep};
    CHECK(model_quantize(m, &o, err) == 0, "%s: balance %d, qep %g: %s", dir, balance, qep, err);
    CHECK(all_matrices_ternary(m, group, 0), "%s: balance %d, qep %g: not every matrix is ternary", dir, balance, qep);
    return hidden_error(m, parent_h, held);
}

static void check_model(const char *dir, int group) {
    char err[ERR_LEN];
    Model parent;
    if (model_load(&parent, dir, err)) {
        CHECK(0, "%s: %s", dir, err);
        return;
    }
    const ModelConfig *c = &parent.config;
    const int C = c->hidden_size;
    int32_t calib[NSEQ * T], held[NSEQ * T];
    random_ids(calib, NSEQ * T, c->vocab_size, 1);
    random_ids(held, NSEQ * T, c->vocab_size, 2);

    Workspace ws;
    ModelWeights w;
    workspace_init(&ws, c);
    weights_view(&w, &parent, &parent.params);
    const size_t nh = (size_t)NSEQ * T * C;
    float *parent_h = malloc(sizeof(float) * nh);
    memcpy(parent_h, forward_features(&ws, &w, held, NSEQ, T), sizeof(float) * nh);
    weights_free(&w);
    workspace_free(&ws);

    double e[3];
    const QuantMethod methods[3] = {QUANT_ABSMEAN, QUANT_MSE, QUANT_GPTQ};
    for (int k = 0; k < 3; k++) {
        Model m;
        CHECK(model_load(&m, dir, err) == 0, "%s", err);
        QuantizeOptions o = {.method = methods[k], .group = group, .damp = 0.01, .calib = calib, .keep_embedding = QKEEP_BF16,
                             .n_calib = NSEQ * T, .seq_len = T, .batch = 4};
        CHECK(model_quantize(&m, &o, err) == 0, "%s %s: %s", dir, quant_method_name(methods[k]), err);
        CHECK(all_matrices_ternary(&m, group, 0), "%s %s: not every matrix is ternary", dir, quant_method_name(methods[k]));
        e[k] = hidden_error(&m, parent_h, held);
        if (methods[k] == QUANT_GPTQ) {
            const size_t nq = (size_t)c->num_attention_heads * c->head_dim * C, differ = layer0_q_differ(&parent, &m, calib, NULL, group);
            CHECK(differ * 100 <= nq, "%s: layer 0 q_proj: %zu of %zu values differ from gptq on the inputs' Hessian",
                  dir, differ, nq);

            // Already ternary: refused.
            CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "already ternary"), "%s: %s", dir, err);
        }
        model_free(&m);
    }
    CHECK(e[2] < e[1] && e[2] < e[0], "%s: hidden-state error on held-out tokens: gptq %g, mse %g, absmean %g", dir,
          e[2], e[1], e[0]);

    // Rank-4 adapters fitted to each gptq rounding error: the matrices stay
    // exactly what gptq makes of them alone (the adapters are zero while a
    // layer is rounded, and the stream through it sees them after), the
    // adapters are not zero, and the model comes closer to the parent.
    Model m, g;
    CHECK(model_load(&m, dir, err) == 0 && model_load(&g, dir, err) == 0, "%s", err);
    CHECK(model_set_adapter_rank(&m, 4, err) == 0, "%s", err);
    QuantizeOptions oa = {.method = QUANT_GPTQ, .group = group, .damp = 0.01, .calib = calib,
                          .keep_embedding = QKEEP_BF16, .n_calib = NSEQ * T, .seq_len = T, .batch = 4};
    CHECK(model_quantize(&m, &oa, err) == 0 && model_quantize(&g, &oa, err) == 0, "%s", err);
    const size_t nq0 = (size_t)c->num_attention_heads * c->head_dim * C;
    size_t moved = 0, nonzero = 0;
    for (size_t i = 0; i < nq0; i++) moved += m.params.wq[i] != g.params.wq[i];
    for (size_t i = 0; i < (size_t)4 * C; i++) nonzero += m.params.adapters[0][i] != 0.0f;
    const double e_ad = hidden_error(&m, parent_h, held);
    CHECK(moved == 0 && nonzero > 0 && e_ad < e[2], "%s: adapters: layer 0 q_proj moved %zu, A nonzero %zu, hidden "
          "error %g against gptq's %g", dir, moved, nonzero, e_ad, e[2]);
    CHECK(model_quantize(&m, &oa, err) != 0 && strstr(err, "already ternary"), "%s: adapters, again: %s", dir, err);
    oa.keep_linear = 1u << TK_WV;
    CHECK(model_quantize(&m, &oa, err) != 0 && strstr(err, "do not combine"), "%s: adapters and kept v: %s", dir, err);
    model_free(&g);
    model_free(&m);

    // The embedding kept: bf16 values, not ternary; the linears ternary.
    CHECK(model_load(&m, dir, err) == 0, "%s", err);
    QuantizeOptions o = {.method = QUANT_GPTQ, .group = group, .keep_embedding = QKEEP_BF16, .damp = 0.01,
                         .calib = calib, .n_calib = NSEQ * T, .seq_len = T, .batch = 4};
    CHECK(model_quantize(&m, &o, err) == 0, "%s", err);
    const size_t ne = (size_t)c->vocab_size * C;
    CHECK(all_matrices_ternary(&m, group, 0) && f32_all_bf16(m.params.embed, ne) && !all_matrices_ternary(&m, group, 1),
          "%s: --keep-embedding bf16", dir);
    model_free(&m);

    // v_proj and down_proj kept: their bf16-rounded parent weights, exactly;
    // every other matrix ternary; a model ternary but for them is "already ternary".
    CHECK(model_load(&m, dir, err) == 0, "%s", err);
    o.keep_linear = 1u << TK_WV | 1u << TK_WDOWN;
    CHECK(model_quantize(&m, &o, err) == 0, "%s", err);
    int kept_ok = 1, other_ok = 1;
    for (int i = 0; i < m.n_tensors; i++) {
        const TensorInfo *t = &m.tensors[i];
        if (!t->matrix || tk_is_embedding(t->kind)) continue;
        const float *w = m.params_memory + t->offset, *p = parent.params_memory + t->offset;
        TernaryCounts n = {0};
        if (t->kind == TK_WV || t->kind == TK_WDOWN) {
            for (size_t j = 0; j < (size_t)t->rows * (size_t)t->cols; j++)
                kept_ok &= w[j] == bf16_to_f32(f32_to_bf16(p[j]));
        } else {
            other_ok &= ternary_verify(w, t->rows, t->cols, group, &n) == 0;
        }
    }
    CHECK(kept_ok && other_ok, "%s: --keep-linear v_proj,down_proj: kept %d, the rest ternary %d", dir, kept_ok,
          other_ok);
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "already ternary"), "%s: kept, again: %s", dir, err);
    model_free(&m);

    // Balanced gptq: every matrix ternary, the parent's function kept up to
    // the rounding (the hidden-state error no more than 10x gptq's), and
    // layer 0's q_proj what ternary_gptq makes of q_proj·diag(b) on the
    // Hessian of x / b, b read back from the attention norm (the parent's
    // over the model's; 1% of values may differ, as above, more from b's
    // float round trip).
    const double e_bal = gptq_variant(&m, dir, group, calib, 1, 0.0, parent_h, held);
    CHECK(e_bal < 10 * e[2], "%s: balanced gptq's hidden error %g against gptq's %g", dir, e_bal, e[2]);
    {
        const size_t nq = (size_t)c->num_attention_heads * c->head_dim * C;
        float *b = calloc((size_t)C, sizeof(float));
        int moved = 0;
        for (int i = 0; i < C; i++) {
            b[i] = parent.params.attn_norm[i] / m.params.attn_norm[i];
            moved |= fabsf(b[i] - 1.0f) > 1e-3f;
        }
        const size_t differ = layer0_q_differ(&parent, &m, calib, b, group);
        CHECK(moved && differ * 100 <= nq, "%s: balanced layer 0 q_proj: b moved %d, %zu of %zu values differ from "
              "gptq on the balanced Hessian", dir, moved, differ, nq);
        free(b);
    }
    model_free(&m);

    // QEP (alpha 1): every matrix ternary, and the model closer to the parent
    // than plain gptq's on held-out tokens: each layer is rounded from the
    // matrix that undoes the earlier layers' error on the calibration inputs.
    const double e_qep = gptq_variant(&m, dir, group, calib, 0, 1.0, parent_h, held);
    CHECK(e_qep < e[2], "%s: qep's hidden error %g against gptq's %g", dir, e_qep, e[2]);
    model_free(&m);

    // Bad input: gptq without calibration, fewer tokens than one sequence, a group that does not divide.
    CHECK(model_load(&m, dir, err) == 0, "%s", err);
    o = (QuantizeOptions){.method = QUANT_GPTQ, .group = group, .damp = 0.01};
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "calibration"), "gptq without calibration: %s", err);
    o = (QuantizeOptions){.method = QUANT_MSE, .group = group, .calib = calib, .n_calib = T - 1, .seq_len = T};
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "less than one sequence"), "short calibration: %s", err);
    o = (QuantizeOptions){.method = QUANT_MSE, .group = group, .balance = 1};
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "calibration"), "balance without calibration: %s", err);
    o = (QuantizeOptions){.method = QUANT_MSE, .group = group, .qep = 0.5};
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "calibration"), "qep without calibration: %s", err);
    o = (QuantizeOptions){.method = QUANT_MSE, .group = 7};
    CHECK(model_quantize(&m, &o, err) != 0 && strstr(err, "does not divide"), "group 7: %s", err);
    model_free(&m);
    free(parent_h);
    model_free(&parent);
}

// Folding an input balance into a model leaves its function unchanged:
// the absmean model (every linear t·s) with every stage of every layer
// folded with b of powers of two (1/4 … 4; o_proj's equal across the query
// heads that read one v row) gives the same final hidden states on random
// tokens, to 1e-6 of their largest magnitude (powers of two make every
// rescaling exact; only the order of float sums may differ). The rescaled
// rows of v_proj and up_proj stay exactly ternary.
static void check_fold(const char *dir, int group) {
    char err[ERR_LEN];
    Model m;
    if (model_load(&m, dir, err)) {
        CHECK(0, "%s: %s", dir, err);
        return;
    }
    const ModelConfig *c = &m.config;
    QuantizeOptions o = {.method = QUANT_ABSMEAN, .group = group, .keep_embedding = QKEEP_BF16};
    CHECK(model_quantize(&m, &o, err) == 0, "%s", err);
    int32_t ids[NSEQ * T];
    random_ids(ids, NSEQ * T, c->vocab_size, 3);
    Workspace ws;
    ModelWeights w;
    workspace_init(&ws, c);
    weights_view(&w, &m, &m.params);
    const size_t nh = (size_t)NSEQ * T * c->hidden_size;
    float *before = malloc(sizeof(float) * nh), b[4096];
    memcpy(before, forward_features(&ws, &w, ids, NSEQ, T), sizeof(float) * nh);
    const int QD = c->num_attention_heads * c->head_dim, per = c->num_attention_heads / c->num_key_value_heads;
    const int width[4] = {c->hidden_size, QD, c->hidden_size, c->intermediate_size};
    uint64_t rng = 11;
    int ternary = 1;
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (int k = 0; k < 4; k++) {
            // Stages 1 and 3 first: their producers' rows are rescaled as t·s,
            // which they are in quantize (converted before), and stop being
            // once stages 0 and 2 scale their columns.
            const int st = (k * 2 + 1) % 5;  // 1, 3, 0, 2
            for (int i = 0; i < width[st]; i++) {
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = ldexpf(1.0f, (int)(rng >> 61) % 5 - 2);
                if (st == 1 && (i / c->head_dim) % per) b[i] = b[i - (i / c->head_dim) % per * c->head_dim];
            }
            model_balance_fold(&m, l, st, b, &o);
            for (int i = 0; st == 3 && i < m.n_tensors; i++) {
                const TensorInfo *t = &m.tensors[i];
                TernaryCounts n = {0};
                if (t->layer == l && (t->kind == TK_WV || t->kind == TK_WUP))
                    ternary &= ternary_verify(m.params_memory + t->offset, t->rows, t->cols, group, &n) == 0;
            }
        }
    weights_free(&w);
    weights_view(&w, &m, &m.params);
    const float *after = forward_features(&ws, &w, ids, NSEQ, T);
    double worst = 0.0, top = 0.0;
    for (size_t i = 0; i < nh; i++) {
        const double d = fabs((double)after[i] - before[i]);
        worst = d > worst ? d : worst;
        top = fabs(before[i]) > top ? fabs(before[i]) : top;
    }
    CHECK(worst <= 1e-6 * top, "%s: folded balance moved the hidden states by %g (largest %g)", dir, worst, top);
    CHECK(ternary, "%s: a rescaled v_proj or up_proj is not t*s", dir);
    weights_free(&w);
    workspace_free(&ws);
    free(before);
    model_free(&m);
}

int main(void) {
    check_fold(FIXTURES "/tiny_tied_fp32", 32);
    check_fold(FIXTURES "/llama_tied_fp32", 32);
    check_fold(FIXTURES "/tiny_untied_fp32_sharded", 16);
    check_model(FIXTURES "/tiny_tied_fp32", 32);
    check_model(FIXTURES "/llama_tied_fp32", 32);
    check_model(FIXTURES "/tiny_untied_fp32_sharded", 16);
    printf("test_quantize: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed != 0;
}
