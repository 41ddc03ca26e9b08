// test_blockwise.c — block-wise reconstruction (train/blockwise.c) on the
// tiny Qwen3 and Llama fixtures: the gradient of a block's loss through
// backward_block against central finite differences of the loss itself;
// training lowers each block's held-out loss (relative per token) and the
// student's distance from the parent on held-out tokens; the student stays
// exactly ternary; a run resumed after its first block ends with the same
// weights; bad options are refused.
#include "base/util.h"
#include "convert/quantize.h"
#include "model/forward.h"
#include "model/weights.h"
#include "test.h"
#include "train/blockwise.h"

#define FIXTURES "tests/fixtures/models"
#define T 16
#define NSEQ 12

// mean((block_0(x) - y)^2) with the model's current weights.
static double loss_of(Workspace *ws, const ModelWeights *w, const float *x, const float *y, float *out, int B) {
    forward_block(ws, w, 0, x, out, B, T);
    const size_t n = (size_t)B * T * ws->config.hidden_size;
    double e = 0.0;
    for (size_t i = 0; i < n; i++) e += ((double)out[i] - y[i]) * ((double)out[i] - y[i]);
    return e / (double)n;
}

// d loss / d (a few weights of wq, wdown and attn_norm of layer 0) by the
// backward against central differences.
static void check_gradient(const char *dir) {
    char err[ERR_LEN];
    Model m;
    if (model_load(&m, dir, err)) {
        CHECK(0, "%s", err);
        return;
    }
    const ModelConfig *c = &m.config;
    const int C = c->hidden_size, B = 2;
    int32_t ids[B * T];
    random_ids(ids, B * T, c->vocab_size, 7);
    Workspace ws;
    ModelWeights w;
    workspace_init(&ws, c);
    weights_view(&w, &m, &m.params);
    const size_t n = (size_t)B * T * C;
    float *x = calloc(n, sizeof(float)), *y = calloc(n, sizeof(float)), *out = calloc(n, sizeof(float));
    forward_embed(&ws, &w, ids, B, T, x);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * 0.5f + 0.01f * (float)(i % 7);  // some target
    loss_of(&ws, &w, x, y, out, B);
    for (size_t i = 0; i < n; i++) out[i] = 2.0f * (out[i] - y[i]) / (float)n;
    ParamTensors g;
    float *gmem = calloc(m.n_params, sizeof(float));
    model_point_params(&m, gmem, &g);
    LayerParams lg;
    layer_params(c, &g, 0, &lg);
    float *dout = malloc(sizeof(float) * n);
    memcpy(dout, out, sizeof(float) * n);
    backward_block(&ws, &w, 0, x, dout, &lg);
    struct { const char *name; float *p, *gp; } probes[] = {
        {"wq", m.params.wq + 5, lg.wq + 5}, {"wq", m.params.wq + 3 * C + 17, lg.wq + 3 * C + 17},
        {"wdown", m.params.wdown + 11, lg.wdown + 11}, {"attn_norm", m.params.attn_norm + 2, lg.attn_norm + 2},
        {"mlp_norm", m.params.mlp_norm + 9, lg.mlp_norm + 9}};
    for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
        const float v = *probes[k].p, h = 1e-2f * (fabsf(v) > 0.1f ? fabsf(v) : 0.1f);
        *probes[k].p = v + h;
        const double lp = loss_of(&ws, &w, x, y, out, B);
        *probes[k].p = v - h;
        const double lm = loss_of(&ws, &w, x, y, out, B);
        *probes[k].p = v;
        const double fd = (lp - lm) / (2.0 * h), an = *probes[k].gp;
        CHECK(fabs(fd - an) <= 3e-2 * fabs(fd) + 1e-7, "%s: d loss / d %s: backward %.6g, finite difference %.6g", dir,
              probes[k].name, an, fd);
    }
    free(dout);
    free(gmem);
    free(out);
    free(y);
    free(x);
    weights_free(&w);
    workspace_free(&ws);
    model_free(&m);
}

// Final hidden states' mean square distance between two models.
static double distance(const Model *a, const Model *b, const int32_t *ids, int B) {
    Workspace wa, wb;
    ModelWeights va, vb;
    workspace_init(&wa, &a->config);
    workspace_init(&wb, &b->config);
    weights_view(&va, a, &a->params);
    weights_view(&vb, b, &b->params);
    const float *ha = forward_features(&wa, &va, ids, B, T), *hb = forward_features(&wb, &vb, ids, B, T);
    const size_t n = (size_t)B * T * a->config.hidden_size;
    double e = 0.0;
    for (size_t i = 0; i < n; i++) e += ((double)ha[i] - hb[i]) * ((double)ha[i] - hb[i]);
    weights_free(&va);
    weights_free(&vb);
    workspace_free(&wa);
    workspace_free(&wb);
    return e / (double)n;
}

typedef struct {
    Model *copy;  // the student after block 0
} Saved;

static int save_after_first(int l, const Model *s, const BlockReport *rep, void *user, char *err) {
    (void)rep;
    Saved *k = user;
    if (l == 0) memcpy(k->copy->params_memory, s->params_memory, sizeof(float) * s->n_params);
    return 0;
}

static void check_reconstruction(const char *dir, int group) {
    char err[ERR_LEN];
    Model parent, student, resumed;
    if (model_load(&parent, dir, err) || model_load(&student, dir, err) || model_load(&resumed, dir, err)) {
        CHECK(0, "%s", err);
        return;
    }
    const ModelConfig *c = &parent.config;
    const int L = c->num_hidden_layers;
    int32_t calib[NSEQ * T], held[4 * T];
    random_ids(calib, NSEQ * T, c->vocab_size, 1);
    random_ids(held, 4 * T, c->vocab_size, 2);
    QuantizeOptions q = {.method = QUANT_GPTQ, .group = group, .keep_embedding = QKEEP_BF16, .damp = 0.01,
                         .calib = calib, .n_calib = NSEQ * T, .seq_len = T, .batch = 4};
    CHECK(model_quantize(&student, &q, err) == 0, "%s", err);
    const double before = distance(&parent, &student, held, 4);

    Saved saved = {&resumed};
    BlockwiseOptions o = {.group = group, .epochs = 3, .batch = 4, .lr = 1e-3f, .min_lr = 1e-4f, .val_seqs = 3,
                          .seed = 5, .tokens = calib, .n_seqs = NSEQ, .seq_len = T, .on_block = save_after_first,
                          .user = &saved};
    BlockReport rep[8];
    CHECK(blockwise_reconstruct(&student, &parent, &o, rep, err) == 0, "%s", err);
    int improved = 0;
    for (int l = 0; l < L; l++) improved += rep[l].val_after < rep[l].val_before;
    CHECK(improved == L, "%s: %d of %d blocks lowered their held-out loss", dir, improved, L);
    const double after = distance(&parent, &student, held, 4);
    CHECK(after < before, "%s: distance from the parent on held-out tokens %g before, %g after", dir, before, after);
    int ternary = 1;
    for (int i = 0; i < student.n_tensors; i++) {
        const TensorInfo *t = &student.tensors[i];
        TernaryCounts n = {0};
        if (t->matrix && !tk_is_embedding(t->kind))
            ternary &= ternary_verify(student.params_memory + t->offset, t->rows, t->cols, group, &n) == 0;
    }
    CHECK(ternary, "%s: a matrix is not ternary after reconstruction", dir);

    // Resumed after block 0: the same weights.
    o.first_block = 1;
    o.on_block = NULL;
    CHECK(blockwise_reconstruct(&resumed, &parent, &o, NULL, err) == 0, "%s", err);
    CHECK(!memcmp(resumed.params_memory, student.params_memory, sizeof(float) * student.n_params),
          "%s: the run resumed after block 0 ended elsewhere", dir);

    // Bad options.
    o.val_seqs = NSEQ;
    CHECK(blockwise_reconstruct(&resumed, &parent, &o, NULL, err) != 0 && strstr(err, "none to train on"), "%s", err);
    o.val_seqs = 3;
    o.first_block = L + 1;
    CHECK(blockwise_reconstruct(&resumed, &parent, &o, NULL, err) != 0 && strstr(err, "first block"), "%s", err);
    model_free(&resumed);
    model_free(&student);
    model_free(&parent);
}

int main(void) {
    check_gradient(FIXTURES "/tiny_tied_fp32");
    check_gradient(FIXTURES "/llama_tied_fp32");
    check_reconstruction(FIXTURES "/tiny_tied_fp32", 32);
    check_reconstruction(FIXTURES "/llama_tied_fp32", 32);
    printf("test_blockwise: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed != 0;
}
