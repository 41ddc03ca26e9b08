// test_drafter.c — the DFlash drafter (src/model/drafter.c) against a torch
// reference of the published architecture (tools/reference/make_dflash_fixtures.py,
// fixtures in tests/fixtures/dflash/: drafters written in the published
// layout by that script, not by trit).
//
//  (a) the default taps, as the published rule gives them;
//  (b) loading a published-layout drafter; its forward over N blocks at
//      their anchors, each seeing the context rows before its anchor and
//      itself both ways, against torch's (float64 sums; tolerance 2e-4 on
//      RMS-normed rows of magnitude ~1, fp32 here);
//  (c) the context fed in two calls equals it fed in one, and each block
//      run alone equals it run among the others, bit for bit (what the
//      decode loop and the training batch rely on);
//  (d) save and load round-trip every byte and the config;
//  (g) the training loss (decayed cross-entropy through the target's LM
//      head, and D-PACE's weighting) and the gradient of every drafter
//      tensor against torch's autograd (relative error of each tensor's
//      gradient < 1e-4);
//  (f) the response mask of training text: in a ChatML stream only the
//      assistant turns' tokens (with their <|im_end|>) are labels; plain text
//      is all labels;
//  (e) bad input: a drafter for another target (width, vocabulary, tapped
//      layer, layer count), a missing or misshapen tensor, a config that is
//      not a drafter or has a block size out of range: one clear error each.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "format/safetensors.h"
#include "model/block.h"
#include "model/drafter.h"
#include "test.h"
#include "tok/tokenizer.h"
#include "train/drafter_train.h"

#define FIX "tests/fixtures/dflash"

static float *read_tensor(const StArchive *a, const char *name, size_t *n) {
    const StTensor *t = st_find(a, name);
    if (!t) return NULL;
    float *out = xmalloc(sizeof(float) * (size_t)t->numel);
    char err[ERR_LEN];
    if (t->dtype == ST_I32) {
        for (int64_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, t->data + 4 * i, 4);
            out[i] = (float)v;
        }
    } else if (st_read_f32(t, out, err)) {
        free(out);
        return NULL;
    }
    if (n) *n = (size_t)t->numel;
    return out;
}

static void check_taps(void) {
    const int want36[5] = {1, 9, 17, 25, 33}, want30[5] = {1, 8, 14, 20, 27}, want24[5] = {1, 6, 11, 16, 21};
    int t[5];
    drafter_default_taps(36, 5, t);
    CHECK(!memcmp(t, want36, sizeof t), "taps of 36 layers: %d %d %d %d %d", t[0], t[1], t[2], t[3], t[4]);
    drafter_default_taps(30, 5, t);
    CHECK(!memcmp(t, want30, sizeof t), "taps of 30 layers: %d %d %d %d %d", t[0], t[1], t[2], t[3], t[4]);
    drafter_default_taps(24, 5, t);
    CHECK(!memcmp(t, want24, sizeof t), "taps of 24 layers: %d %d %d %d %d", t[0], t[1], t[2], t[3], t[4]);
    drafter_default_taps(30, 1, t);
    CHECK(t[0] == 15, "one tap of 30 layers: %d", t[0]);
}

// The target the fixtures' drafters were made for.
static ModelConfig fixture_target(const Drafter *d) {
    ModelConfig t = d->dc.layer;
    t.num_hidden_layers = 6;
    return t;
}

// Context rows into fresh per-layer arrays; returns them (k then v, L each).
static float **run_context(const Drafter *d, DrafterBufs *b, const float *feats, int S, int split, const float *cos,
                           const float *sin, int keep) {
    const ModelConfig *c = &d->dc.layer;
    const int L = c->num_hidden_layers, KD = c->num_key_value_heads * c->head_dim;
    float **kv = xcalloc(2 * (size_t)L, sizeof(float *));
    for (int i = 0; i < 2 * L; i++) kv[i] = xcalloc((size_t)S * KD, sizeof(float));
    const size_t row = (size_t)d->dc.n_taps * c->hidden_size;
    if (split > 0) {
        drafter_context(d, b, feats, split, 0, kv, kv + L, cos, sin, 0);
        drafter_context(d, b, feats + row * split, S - split, split, kv, kv + L, cos, sin, 0);
    } else {
        drafter_context(d, b, feats, S, 0, kv, kv + L, cos, sin, keep);
    }
    return kv;
}

static void free_kv(float **kv, int L) {
    for (int i = 0; i < 2 * L; i++) free(kv[i]);
    free(kv);
}

// (g) the loss and every gradient, against torch's.
static void check_grads(const Drafter *d, const StArchive *a, const char *name, const float *feats, int S,
                        const float *x_in, int N, const int *anchors, const float *cos, const float *sin,
                        DrafterLoss kind) {
    const char *loss_key = kind == DRAFTER_LOSS_CE ? "loss" : "loss_dpace";
    const char *prefix = kind == DRAFTER_LOSS_CE ? "grad." : "dgrad.";
    const size_t plen = strlen(prefix);
    const ModelConfig *c = &d->dc.layer;
    const int C = c->hidden_size, L = c->num_hidden_layers, B = d->dc.block_size, R = N * B, V = c->vocab_size;
    float *embed = read_tensor(a, "embed", NULL), *lab_f = read_tensor(a, "labels", NULL);
    float *w = read_tensor(a, "weights", NULL), *want_loss = read_tensor(a, loss_key, NULL);
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)R);
    for (int r = 0; r < R; r++) labels[r] = (int32_t)lab_f[r];
    DrafterBufs b = {0};
    drafter_bufs_reserve(d, &b, S, R, 1);
    float **kv = run_context(d, &b, feats, S, 0, cos, sin, 1);
    drafter_blocks(d, &b, x_in, N, anchors, (const float *const *)kv, (const float *const *)(kv + L), cos, sin, 1);
    const WTensor E = wt_f32(embed, V, C);
    float *dout = xmalloc(sizeof(float) * (size_t)R * C), *dx = xmalloc(sizeof(float) * (size_t)R * C);
    const double loss = drafter_loss(b.out, &E, labels, w, N, B, kind, dout);
    CHECK(fabs(loss - want_loss[0]) < 1e-4 * fabs(want_loss[0]), "%s: loss %.7f, torch %.7f", name, loss,
          (double)want_loss[0]);
    Drafter g;
    drafter_zeros_like(&g, d);
    drafter_backward(d, &g, &b, feats, S, dout, dx, N, anchors, (const float *const *)kv, (const float *const *)(kv + L),
                     cos, sin);
    if (g.mask_embedding)  // the masked slots' rows share the mask embedding
        for (int r = 0; r < R; r++)
            if (r % B)
                for (int i = 0; i < C; i++) g.mask_embedding[i] += dx[(size_t)r * C + i];
    // Each tensor of g against torch's grad.<name>, by the table's order.
    int checked = 0, bad = 0;
    double worst = 0;
    for (int i = 0; i < a->ntensors; i++) {
        const StTensor *t = &a->tensors[i];
        if (strncmp(t->name, prefix, plen)) continue;
        const char *tn = t->name + plen;
        float *want = read_tensor(a, t->name, NULL), *got = drafter_tensor(&g, tn);
        checked++;
        if (!got) {
            bad++;
            fprintf(stderr, "  %s: no tensor %s\n", name, tn);
            free(want);
            continue;
        }
        double num = 0, den = 0;
        for (int64_t k = 0; k < t->numel; k++) {
            num += ((double)got[k] - want[k]) * ((double)got[k] - want[k]);
            den += (double)want[k] * want[k];
        }
        const double rel = sqrt(num / (den + 1e-30));
        worst = fmax(worst, rel);
        if (rel > 1e-4) {
            bad++;
            fprintf(stderr, "  %s: grad %s relative error %.3g\n", name, tn, rel);
        }
        free(want);
    }
    CHECK(checked >= 3 + 11 * L && bad == 0, "%s: %d of %d gradients differ from torch's", name, bad, checked);
    printf("%s: %s %.6f (torch %.6f); %d gradients, worst relative error %.3g\n", name, loss_key, loss,
           (double)want_loss[0], checked, worst);
    drafter_free(&g);
    free_kv(kv, L);
    drafter_bufs_free(&b);
    free(embed); free(lab_f); free(w); free(want_loss); free(labels); free(dout); free(dx);
}

static void check_fixture(const char *name) {
    char dir[256], io_path[256], err[ERR_LEN];
    snprintf(dir, sizeof dir, FIX "/%s/drafter", name);
    snprintf(io_path, sizeof io_path, FIX "/%s/io.safetensors", name);
    Drafter d;
    if (drafter_load(&d, dir, err)) {
        CHECK(0, "%s: load: %s", name, err);
        return;
    }
    const ModelConfig target = fixture_target(&d);
    CHECK(drafter_check_target(&d.dc, &target, err) == 0, "%s: made for its target: %s", name, err);
    StArchive a;
    if (st_open_file(&a, io_path, err)) {
        CHECK(0, "%s: %s", name, err);
        drafter_free(&d);
        return;
    }
    const ModelConfig *c = &d.dc.layer;
    const int C = c->hidden_size, L = c->num_hidden_layers, B = d.dc.block_size;
    size_t nf, nx, na;
    float *feats = read_tensor(&a, "feats", &nf), *x_in = read_tensor(&a, "x_in", &nx);
    float *anc_f = read_tensor(&a, "anchors", &na), *want = read_tensor(&a, "out", NULL);
    const int S = (int)(nf / ((size_t)d.dc.n_taps * C)), N = (int)na;
    int anchors[16];
    for (int j = 0; j < N; j++) anchors[j] = (int)anc_f[j];
    CHECK(nx == (size_t)N * B * C, "%s: fixture shapes", name);
    const size_t half = (size_t)c->head_dim / 2;
    float *cos = xmalloc(sizeof(float) * 128 * half), *sin = xmalloc(sizeof(float) * 128 * half);
    rope_config_tables(c, cos, sin, 128);

    // (b) against torch.
    DrafterBufs b = {0};
    float **kv = run_context(&d, &b, feats, S, 0, cos, sin, 0);
    drafter_blocks(&d, &b, x_in, N, anchors, (const float *const *)kv, (const float *const *)(kv + L), cos, sin, 0);
    double worst = 0;
    for (size_t i = 0; i < nx; i++) worst = fmax(worst, fabs((double)b.out[i] - want[i]));
    CHECK(worst < 2e-4, "%s: drafter output differs from torch's by %.3g", name, worst);
    printf("%s: %d blocks of %d, %d context rows: max |trit - torch| = %.3g\n", name, N, B, S, worst);
    float *all = xmalloc(sizeof(float) * nx);
    memcpy(all, b.out, sizeof(float) * nx);

    // (c) the context in two calls; each block alone.
    float **kv2 = run_context(&d, &b, feats, S, 7, cos, sin, 0);
    int same = 1;
    for (int i = 0; i < 2 * L; i++)
        same &= !memcmp(kv[i], kv2[i], sizeof(float) * (size_t)S * c->num_key_value_heads * c->head_dim);
    CHECK(same, "%s: context fed in two calls differs from one call", name);
    same = 1;
    for (int j = 0; j < N; j++) {
        drafter_blocks(&d, &b, x_in + (size_t)j * B * C, 1, anchors + j, (const float *const *)kv2,
                       (const float *const *)(kv2 + L), cos, sin, 0);
        same &= !memcmp(b.out, all + (size_t)j * B * C, sizeof(float) * (size_t)B * C);
    }
    CHECK(same, "%s: a block run alone differs from it run among the others", name);

    // (d) save and load.
    char tmp[] = "/tmp/trit-drafter-XXXXXX";
    if (mkdtemp(tmp)) {
        char out[300];
        snprintf(out, sizeof out, "%s/d", tmp);
        Drafter e;
        const int ok = drafter_save(&d, out, err) == 0 && drafter_load(&e, out, err) == 0;
        CHECK(ok, "%s: save/load: %s", name, err);
        if (ok) {
            CHECK(e.n_params == d.n_params && !memcmp(e.params, d.params, sizeof(float) * d.n_params) &&
                      e.dc.block_size == d.dc.block_size && e.dc.n_taps == d.dc.n_taps &&
                      !memcmp(e.dc.taps, d.dc.taps, sizeof(int) * (size_t)d.dc.n_taps) &&
                      e.dc.mask_token_id == d.dc.mask_token_id && e.dc.num_target_layers == d.dc.num_target_layers,
                  "%s: save/load does not round-trip", name);
            CHECK(drafter_is_dir(out) && !drafter_is_dir(FIX), "%s: drafter_is_dir", name);
            drafter_free(&e);
        }
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd)) fprintf(stderr, "cannot remove %s\n", tmp);
    }
    check_grads(&d, &a, name, feats, S, x_in, N, anchors, cos, sin, DRAFTER_LOSS_CE);
    check_grads(&d, &a, name, feats, S, x_in, N, anchors, cos, sin, DRAFTER_LOSS_DPACE);
    free_kv(kv, L);
    free_kv(kv2, L);
    drafter_bufs_free(&b);
    free(all); free(cos); free(sin); free(feats); free(x_in); free(anc_f); free(want);
    st_close(&a);
    drafter_free(&d);
}

// A copy of a fixture drafter with its config.json's text edited
// (from -> to) or its weights truncated; returns the directory.
static void make_bad(const char *tmp, const char *from, const char *to, int truncate) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r " FIX "/mask_row/drafter %s", tmp, tmp);
    if (system(cmd)) return;
    char path[300], err[ERR_LEN];
    if (from) {
        snprintf(path, sizeof path, "%s/config.json", tmp);
        size_t len;
        char *s = read_file(path, &len, err), *at = s ? strstr(s, from) : NULL;
        if (at) {
            char *o = xmalloc(len + strlen(to) + 1);
            const size_t pre = (size_t)(at - s);
            memcpy(o, s, pre);
            strcpy(o + pre, to);
            strcat(o, at + strlen(from));
            write_file_atomic(path, o, strlen(o), err);
            free(o);
        }
        free(s);
    }
    if (truncate) {
        snprintf(cmd, sizeof cmd, "truncate -s 5000 %s/model.safetensors", tmp);
        if (system(cmd)) return;
    }
}

static void expect_load_error(const char *what, const char *from, const char *to, int truncate, const char *needle) {
    const char *tmp = "/tmp/trit-drafter-bad";
    make_bad(tmp, from, to, truncate);
    Drafter d;
    char err[ERR_LEN] = "";
    const int rc = drafter_load(&d, tmp, err);
    CHECK(rc == -1 && strstr(err, needle), "%s: want an error with '%s', got rc %d: %s", what, needle, rc, err);
    if (rc == 0) drafter_free(&d);
}

static void check_bad(void) {
    char err[ERR_LEN];
    Drafter d;
    if (drafter_load(&d, FIX "/mask_row/drafter", err)) {
        CHECK(0, "load: %s", err);
        return;
    }
    ModelConfig t = fixture_target(&d);
    t.hidden_size = 128;
    CHECK(drafter_check_target(&d.dc, &t, err) == -1 && strstr(err, "wide"), "another width: %s", err);
    t = fixture_target(&d);
    t.vocab_size = 100;
    CHECK(drafter_check_target(&d.dc, &t, err) == -1 && strstr(err, "vocabulary"), "another vocabulary: %s", err);
    t = fixture_target(&d);
    t.num_hidden_layers = 8;
    CHECK(drafter_check_target(&d.dc, &t, err) == -1 && strstr(err, "layers"), "another layer count: %s", err);
    DrafterConfig dc = d.dc;
    dc.num_target_layers = 0;  // unknown: the taps still bound it
    dc.taps[0] = 7;
    t = fixture_target(&d);
    CHECK(drafter_check_target(&dc, &t, err) == -1 && strstr(err, "taps target layer 7"), "a tap past the target: %s",
          err);
    drafter_free(&d);

    expect_load_error("truncated weights", NULL, NULL, 1, "model.safetensors");
    expect_load_error("not a drafter", "\"dflash_config\"", "\"other_config\"", 0, "not a DFlash drafter");
    expect_load_error("block size 1", "\"block_size\": 4", "\"block_size\": 1", 0, "block_size 1");
    expect_load_error("block size 99", "\"block_size\": 4", "\"block_size\": 99", 0, "block_size 99");
    expect_load_error("mask id past the vocabulary", "\"mask_token_id\": 95", "\"mask_token_id\": 96", 0,
                      "mask_token_id 96");
    expect_load_error("more layers than tensors", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", 0,
                      "layers.2.input_layernorm.weight is missing");
    expect_load_error("wider than its tensors", "\"intermediate_size\": 128", "\"intermediate_size\": 96", 0,
                      "wrong shape");
    expect_load_error("a llama layer", "\"qwen3\"", "\"llama\"", 0, "Qwen3 layers");
    const int rc = system("rm -rf /tmp/trit-drafter-bad");
    (void)rc;
}

static void check_response_mask(void) {
    const char *data = test_data_dir("response mask");
    if (!data) return;
    char path[4200], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/qwen3-tokenizer/tokenizer.json", data);
    Tokenizer *tok = tokenizer_load(path, err);
    if (!tok) {
        CHECK(0, "%s", err);
        return;
    }
    const char *pre = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
                      "<|im_start|>assistant\n";
    const char *answer = "Hello, friend.<|im_end|>";
    char text[512];
    snprintf(text, sizeof text, "%s%s\n%s%s", pre, answer, "<|im_start|>user\nBye<|im_end|>\n", "tail");
    int32_t *ids, *a_ids, *p_ids;
    size_t n, na, np;
    if (tokenizer_encode(tok, text, strlen(text), &ids, &n, err) ||
        tokenizer_encode(tok, pre, strlen(pre), &p_ids, &np, err) ||
        tokenizer_encode(tok, answer, strlen(answer), &a_ids, &na, err)) {
        CHECK(0, "%s", err);
        tokenizer_free(tok);
        return;
    }
    uint8_t *mask = xmalloc(n);
    drafter_response_mask(tok, ids, (long)n, mask);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= mask[i] == (i >= np && i < np + na);
    CHECK(ok, "ChatML: the labels are exactly the assistant's %zu tokens from %zu", na, np);
    drafter_response_mask(tok, a_ids, (long)na - 1, mask);  // no <|im_start|>: plain text
    ok = 1;
    for (size_t i = 0; i + 1 < na; i++) ok &= mask[i] == 1;
    CHECK(ok, "plain text: every token a label");
    free(mask); free(ids); free(a_ids); free(p_ids);
    tokenizer_free(tok);
}

int main(void) {
    check_taps();
    check_response_mask();
    check_fixture("mask_row");
    check_fixture("mask_embedding");
    check_bad();
    printf("test_drafter: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed != 0;
}
