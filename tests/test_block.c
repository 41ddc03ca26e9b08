// test_block.c — the transformer block (model/block.c) alone: block_backward
// against numerical derivatives of block_forward, through forward_block /
// backward_block (model/forward.h), for a Qwen3 block (q/k head norms) and a
// Llama block, on the fixture models' real weights.
//
// Method. L(θ, x) = Σ r ∘ block(θ, x) with a fixed random r; its gradient
// with respect to every tensor of the layer and to the input x comes from
// one backward_block with d x_out = r. Each tensor is checked along random
// ±1 directions u over all its entries: the central difference
// (L(θ + εu) − L(θ − εu)) / 2ε against ⟨g, u⟩, whose size is about |g| (the
// L2 norm), plus its largest-gradient coordinate alone. The forward runs in
// fp32, so the difference carries its rounding over 2ε; with ε = 1e-3 and L
// summed in double the errors seen are ≤ 6e-4 of |g| for a direction and ≤
// 1e-3 of the coordinate's own gradient, while a term off by 10 % (a wrong
// sign, a missing factor) is ~1e-1: the tolerance is 5e-3.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "model/block.h"
#include "model/forward.h"
#include "model/model.h"
#include "test.h"

enum { B = 2, T = 5 };
#define TOL 5e-3

typedef struct {
    Model m;
    ModelWeights w;
    Workspace ws;
    int C, l;
    float *x, *r, *out;
} Case;

static float urand(uint64_t *s) { return (float)((splitmix64(s) >> 40) / 8388608.0 - 1.0); }

// Σ r ∘ block_l(x) in double.
static double loss(Case *k) {
    forward_block(&k->ws, &k->w, k->l, k->x, k->out, B, T);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)B * T * k->C; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

// The directional check of one tensor p[0..n) against its gradient g.
static void check_tensor(Case *k, const char *what, float *p, const float *g, size_t n, uint64_t *seed) {
    const float eps = 1e-3f;
    double g2 = 0.0;
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        g2 += (double)g[i] * g[i];
        if (fabs(g[i]) > fabs(g[top])) top = i;
    }
    const double gnorm = sqrt(g2);  // the size of <g, u> for a random ±1 direction u
    CHECK(gnorm > 0.0, "%s: the gradient is zero", what);
    float *u = xmalloc(sizeof(float) * n), *keep = xmalloc(sizeof(float) * n);
    memcpy(keep, p, sizeof(float) * n);
    double worst = 0.0;
    for (int d = 0; d < 3; d++) {
        double dot = 0.0;
        for (size_t i = 0; i < n; i++) {
            u[i] = splitmix64(seed) & 1 ? 1.0f : -1.0f;
            dot += (double)u[i] * g[i];
        }
        for (size_t i = 0; i < n; i++) p[i] = keep[i] + eps * u[i];
        const double lp = loss(k);
        for (size_t i = 0; i < n; i++) p[i] = keep[i] - eps * u[i];
        const double lm = loss(k);
        memcpy(p, keep, sizeof(float) * n);
        worst = fmax(worst, fabs((lp - lm) / (2.0 * eps) - dot) / gnorm);
    }
    p[top] = keep[top] + eps;
    const double lp = loss(k);
    p[top] = keep[top] - eps;
    const double lm = loss(k);
    p[top] = keep[top];
    const double one = fabs((lp - lm) / (2.0 * eps) - g[top]) / fabs(g[top]);
    CHECK(worst <= TOL && one <= TOL, "%s: directional error %.2e of |g|, largest coordinate's %.2e of itself", what,
          worst, one);
    printf("  %-10s directions %.1e of |g|, top coordinate %.1e of itself (|g| %.3g)\n", what, worst, one, gnorm);
    free(u);
    free(keep);
}

static void check_model(const char *dir, int l) {
    Case k = {.l = l};
    char err[ERR_LEN];
    if (model_load(&k.m, dir, err)) {
        CHECK(0, "%s", err);
        return;
    }
    const ModelConfig *c = &k.m.config;
    k.C = c->hidden_size;
    workspace_init(&k.ws, c);
    weights_view(&k.w, &k.m, &k.m.params);
    const size_t rows = (size_t)B * T * k.C;
    k.x = xmalloc(sizeof(float) * rows);
    k.r = xmalloc(sizeof(float) * rows);
    k.out = xmalloc(sizeof(float) * rows);
    uint64_t seed = 0x5eed + (uint64_t)l;
    for (size_t i = 0; i < rows; i++) {
        k.x[i] = urand(&seed);
        k.r[i] = urand(&seed);
    }
    // The analytic gradients: one backward from d x_out = r.
    float *gmem = xcalloc(k.m.n_params, sizeof(float));
    ParamTensors gt;
    model_point_params(&k.m, gmem, &gt);
    LayerParams g, p;
    layer_params(c, &gt, l, &g);
    layer_params(c, &k.m.params, l, &p);
    loss(&k);
    backward_block(&k.ws, &k.w, l, k.x, k.r, &g);
    float *dx = xmalloc(sizeof(float) * rows);
    memcpy(dx, k.ws.scratch.dresid, sizeof(float) * rows);

    printf("%s, layer %d:\n", dir, l);
    const size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, HD = (size_t)c->head_dim;
    const size_t QD = (size_t)c->num_attention_heads * HD, KD = (size_t)c->num_key_value_heads * HD;
    const struct {
        const char *name;
        float *p, *g;
        size_t n;
    } t[] = {
        {"attn_norm", p.attn_norm, g.attn_norm, C}, {"wq", p.wq, g.wq, QD * C},   {"wk", p.wk, g.wk, KD * C},
        {"wv", p.wv, g.wv, KD * C},                 {"q_norm", p.q_norm, g.q_norm, HD},
        {"k_norm", p.k_norm, g.k_norm, HD},         {"wo", p.wo, g.wo, C * QD},   {"mlp_norm", p.mlp_norm, g.mlp_norm, C},
        {"wgate", p.wgate, g.wgate, F * C},         {"wup", p.wup, g.wup, F * C}, {"wdown", p.wdown, g.wdown, C * F},
        {"x", k.x, dx, rows},
    };
    int checked = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!t[i].p) continue;  // no head norms (Llama)
        check_tensor(&k, t[i].name, t[i].p, t[i].g, t[i].n, &seed);
        checked++;
    }
    CHECK(checked == (p.q_norm ? 12 : 10), "%s: %d tensors checked", dir, checked);
    free(dx);
    free(gmem);
    free(k.out);
    free(k.r);
    free(k.x);
    weights_free(&k.w);
    workspace_free(&k.ws);
    model_free(&k.m);
}

int main(void) {
    check_model("tests/fixtures/models/tiny_tied_fp32", 0);
    check_model("tests/fixtures/models/tiny_tied_fp32", 1);
    check_model("tests/fixtures/models/llama_tied_fp32", 1);
    return test_finish("test_block");
}
