// test_generate.c — KV-cache decoding against the full forward pass, and the
// sampler.
//
// Models: every fixture in tests/fixtures/models/ (tied and untied heads,
// fp32 and bf16, GQA with 2:1 and 4:1 head groups, head_dim != C/NH).
// Tolerance: logits from the cache path and from forward_params over the
// whole sequence agree to max |diff| <= 1e-4 (the same bound test_model uses
// against transformers); the two paths differ only in GEMM shapes and in the
// attention kernel (tiled online softmax vs one pass over cached keys).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "infer/decode.h"
#include "infer/generate.h"
#include "infer/sample.h"
#include "model/forward.h"
#include "model/model.h"
#include "quant/ggml_types.h"
#include "collect.h"
#include "test.h"

#define FIXTURES "tests/fixtures/models"
#define TOL 1e-4

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= m)) m = e;  // NaN-safe
    }
    return m;
}

static void make_tokens(int32_t *t, int n, int V, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((seed >> 33) % (uint64_t)V);
    }
}

// ---------------------------------------------------------------------------
// (a), (b), (c): the cache path against forward_params.

static void check_model(const char *name, int T) {
    char dir[256], err[ERR_LEN];
    snprintf(dir, sizeof dir, "%s/%s", FIXTURES, name);
    Model m;
    int rc = model_load(&m, dir, err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) return;
    Workspace ws;
    workspace_init(&ws, &m.config);
    const int V = m.config.vocab_size;
    const size_t KD = (size_t)m.config.num_key_value_heads * m.config.head_dim, L = m.config.num_hidden_layers;
    int32_t *tok = xmalloc(sizeof(int32_t) * T);
    make_tokens(tok, T, V, 42);
    float *full = xmalloc(sizeof(float) * (size_t)T * V), *lg = xmalloc(sizeof(float) * V);
    forward_params(&ws, &m, &m.params, tok, NULL, 1, T, 0, full, NULL);
    ModelWeights mw;
    weights_view(&mw, &m, &m.params);

    KVCache kv;
    rc = kvcache_init(&kv, &m.config, T, err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) goto done;

    // (a) prefill of P tokens, then one token at a time: every position's
    // logits equal the full forward's. With P = 1 the decode steps cover
    // every position; the other P put the prefill's last row on other ones
    // (for T > 64, past the first 64-row attention tile).
    double err_a = 0;
    int ok_a = 1;
    const int Ps[4] = {1, T / 2 + 1, T - 1, T};
    for (int ip = 0; ip < 4; ip++) {
        const int P = Ps[ip];
        kvcache_reset(&kv);
        ok_a &= generate_forward(&kv, &mw, tok, P, 0, lg, err) == 0;
        double e = max_abs_diff(lg, full + (size_t)(P - 1) * V, V);
        err_a = e > err_a ? e : err_a;
        for (int t = P; t < T; t++) {
            ok_a &= generate_forward(&kv, &mw, tok + t, 1, t, lg, err) == 0;
            e = max_abs_diff(lg, full + (size_t)t * V, V);
            err_a = e > err_a ? e : err_a;
        }
        ok_a &= kv.len[0] == T;
    }
    CHECK(ok_a, "%s: generate_forward failed: %s", name, err);
    CHECK(err_a <= TOL, "%s: prefill+decode vs full forward, max |logit diff| %.3g > %g", name, err_a, TOL);
    printf("  %-26s T=%3d (a) prefill + decode vs forward_params: max |logit diff| %.2e\n", name, T, err_a);

    // Chunks of 3 after a prefill of 5: new blocks of several queries against
    // cached keys, causal inside the block.
    double err_c = 0;
    kvcache_reset(&kv);
    int ok_c = generate_forward(&kv, &mw, tok, 5, 0, lg, err) == 0;
    for (int p = 5; p < T; p += 3) {
        int n = p + 3 <= T ? 3 : T - p;
        ok_c &= generate_forward(&kv, &mw, tok + p, n, p, lg, err) == 0;
        double e = max_abs_diff(lg, full + (size_t)(p + n - 1) * V, V);
        err_c = e > err_c ? e : err_c;
    }
    CHECK(ok_c && err_c <= TOL, "%s: chunked prefill vs full forward, max |logit diff| %.3g (%s)", name, err_c,
          ok_c ? "ok" : err);
    // All rows' logits of a block of 4 new tokens after a prefill of T - 4
    // (what verifying 4 drafted tokens at once reads): each row equals the
    // full forward's at its position.
    if (T > 4) {
        float *rows = xmalloc(sizeof(float) * 4 * (size_t)V);
        kvcache_reset(&kv);
        int ok_r = generate_forward(&kv, &mw, tok, T - 4, 0, NULL, err) == 0 &&
                   generate_forward_logits(&kv, &mw, tok + T - 4, 4, T - 4, rows, 1, err) == 0;
        double er = max_abs_diff(rows, full + (size_t)(T - 4) * V, 4 * (size_t)V);
        CHECK(ok_r && er <= TOL, "%s: all-rows logits vs full forward, max |logit diff| %.3g (%s)", name, er,
              ok_r ? "ok" : err);
        free(rows);
    }

    // (b) the whole sequence at once vs token by token: same last logits and
    // same cached keys/values.
    float *lg1 = xmalloc(sizeof(float) * V);
    const size_t cache_n = L * (size_t)T * KD;
    float *k1 = xmalloc(sizeof(float) * cache_n), *v1 = xmalloc(sizeof(float) * cache_n);
    kvcache_reset(&kv);
    int ok_b = generate_forward(&kv, &mw, tok, T, 0, lg1, err) == 0;
    memcpy(k1, kv.k, sizeof(float) * cache_n);
    memcpy(v1, kv.v, sizeof(float) * cache_n);
    kvcache_reset(&kv);
    for (int t = 0; t < T; t++) ok_b &= generate_forward(&kv, &mw, tok + t, 1, t, lg, err) == 0;
    double eb = max_abs_diff(lg, lg1, V), ek = max_abs_diff(kv.k, k1, cache_n), ev = max_abs_diff(kv.v, v1, cache_n);
    CHECK(ok_b, "%s: %s", name, err);
    CHECK(eb <= TOL, "%s: one prefill vs token by token, max |logit diff| %.3g", name, eb);
    CHECK(ek <= 1e-5 && ev <= 1e-5, "%s: cached K/V differ: %.3g / %.3g", name, ek, ev);
    printf("  %-26s       (b) prefill vs token-by-token: logits %.2e, K %.2e, V %.2e; chunked %.2e\n", name, eb,
           ek, ev, err_c);

    // The weights are read only through `w`: a copy of the buffer gives the
    // same logits bit for bit.
    float *copy = xmalloc(sizeof(float) * m.n_params);
    memcpy(copy, m.params_memory, sizeof(float) * m.n_params);
    ParamTensors w2;
    model_point_params(&m, copy, &w2);
    ModelWeights mw2;
    weights_view(&mw2, &m, &w2);
    kvcache_reset(&kv);
    generate_forward(&kv, &mw2, tok, T, 0, lg, err);
    CHECK(memcmp(lg, lg1, sizeof(float) * V) == 0, "%s: logits through a copied ParamTensors differ", name);
    // ... and zeroing the copy's LM head changes them (the copy is used).
    if (!m.config.tie_word_embeddings) {
        memset(w2.lm_head, 0, sizeof(float) * (size_t)V * m.config.hidden_size);
        kvcache_reset(&kv);
        generate_forward(&kv, &mw2, tok, T, 0, lg, err);
        CHECK(max_abs_diff(lg, lg1, V) > 0.0 && lg[0] == 0.0f, "%s: w's lm_head not used", name);
    }
    weights_free(&mw2);
    free(copy);

    // (c) greedy generation with the cache = argmax of the full forward
    // recomputed on the growing sequence; and it is deterministic.
    enum { NP = 4, NG = 16 };
    int32_t seq[NP + NG], gen1[NG], gen2[NG];
    for (int run = 0; run < 2; run++) {
        int32_t *g = run ? gen2 : gen1;
        kvcache_reset(&kv);
        generate_forward(&kv, &mw, tok, NP, 0, lg, err);
        for (int i = 0; i < NG; i++) {
            g[i] = sample_argmax(lg, V);
            if (i + 1 < NG) generate_forward(&kv, &mw, &g[i], 1, NP + i, lg, err);
        }
    }
    memcpy(seq, tok, sizeof(int32_t) * NP);
    float *ref = xmalloc(sizeof(float) * (size_t)(NP + NG) * V);
    int same = 1, n_same = 0;
    for (int i = 0; i < NG; i++) {
        forward_params(&ws, &m, &m.params, seq, NULL, 1, NP + i, 0, ref, NULL);
        seq[NP + i] = sample_argmax(ref + (size_t)(NP + i - 1) * V, V);
        same &= seq[NP + i] == gen1[i];
        n_same += seq[NP + i] == gen1[i];
    }
    CHECK(same, "%s: greedy with cache matches the naive loop on %d of %d tokens", name, n_same, NG);
    CHECK(memcmp(gen1, gen2, sizeof gen1) == 0, "%s: greedy generation not deterministic", name);
    free(ref);
    free(lg1);
    free(k1);
    free(v1);
    kvcache_free(&kv);
done:
    free(tok);
    free(full);
    free(lg);
    weights_free(&mw);
    workspace_free(&ws);
    model_free(&m);
}

// ---------------------------------------------------------------------------
// (e) max_position_embeddings and other errors.

static void check_limits(void) {
    char dir[256], err[ERR_LEN];
    snprintf(dir, sizeof dir, "%s/tiny_untied_bf16", FIXTURES);
    Model m;
    if (model_load(&m, dir, err)) { CHECK(0, "%s", err); return; }
    const int MP = m.config.max_position_embeddings, V = m.config.vocab_size;
    KVCache kv;
    err[0] = 0;
    CHECK(kvcache_init(&kv, &m.config, MP + 1, err) == -1 && strstr(err, "max_position_embeddings"),
          "cache beyond max_position_embeddings accepted (%s)", err);
    CHECK(kvcache_init(&kv, &m.config, 0, err) == -1, "cache of 0 positions accepted");
    if (kvcache_init(&kv, &m.config, MP, err)) { CHECK(0, "%s", err); model_free(&m); return; }
    ModelWeights mw;
    weights_view(&mw, &m, &m.params);
    int32_t *tok = xmalloc(sizeof(int32_t) * (MP + 1));
    make_tokens(tok, MP + 1, V, 7);
    float *lg = xmalloc(sizeof(float) * V);
    CHECK(generate_forward(&kv, &mw, tok, MP + 1, 0, lg, err) == -1 && strstr(err, "max_position_embeddings"),
          "prefill of max_position_embeddings + 1 tokens accepted (%s)", err);
    CHECK(kv.len[0] == 0, "failed call changed the cache length");
    CHECK(generate_forward(&kv, &mw, tok, MP - 1, 0, lg, err) == 0, "%s", err);
    CHECK(generate_forward(&kv, &mw, tok + MP - 1, 1, MP - 1, lg, err) == 0, "last position: %s", err);
    err[0] = 0;
    CHECK(generate_forward(&kv, &mw, tok + MP, 1, MP, lg, err) == -1 && strstr(err, "max_position_embeddings"),
          "decode at position max_position_embeddings accepted (%s)", err);
    CHECK(kv.len[0] == MP, "failed decode changed the cache length");
    kvcache_free(&kv);

    // A smaller cache, bad positions and ids.
    kvcache_init(&kv, &m.config, 4, err);
    generate_forward(&kv, &mw, tok, 4, 0, lg, err);
    CHECK(generate_forward(&kv, &mw, tok, 1, 4, lg, err) == -1 && strstr(err, "KV cache"), "cache overflow: %s",
          err);
    CHECK(generate_forward(&kv, &mw, tok, 1, 5, lg, err) == -1, "gap in positions accepted");
    CHECK(generate_forward(&kv, &mw, tok, 0, 0, lg, err) == -1, "n = 0 accepted");
    int32_t bad[2] = {0, V};
    CHECK(generate_forward(&kv, &mw, bad, 2, 0, lg, err) == -1 && strstr(err, "vocabulary"), "id V accepted");
    bad[1] = -1;
    CHECK(generate_forward(&kv, &mw, bad, 2, 0, lg, err) == -1, "id -1 accepted");
    // Rewinding is allowed: position 2 again after 4 were filled.
    CHECK(generate_forward(&kv, &mw, tok + 2, 1, 2, lg, err) == 0 && kv.len[0] == 3, "rewind: %s", err);
    kvcache_free(&kv);
    free(tok);
    free(lg);
    weights_free(&mw);
    model_free(&m);
}

// ---------------------------------------------------------------------------
// (f) several sequences side by side, each in its own slot at its own
// position: every row's logits equal, bit for bit, its sequence's decoded
// alone, and so does every token the Decoder emits, greedy or sampled, for
// sequences that join at different steps and end at different lengths.

// The plain loop, written out: one cache, generate_forward one token at a
// time, the sampler on each position's logits.
static void decode_plain(const ModelWeights *mw, const int32_t *prompt, int P, const DecodeOptions *o, Collect *g) {
    char err[ERR_LEN];
    const int V = mw->config.vocab_size;
    KVCache kv;
    Sampler sm;
    float *lg = xmalloc(sizeof(float) * (size_t)V);
    kvcache_init(&kv, &mw->config, P + (int)o->max_tokens, err);
    sampler_init(&sm, V, o->temperature, o->top_k, o->top_p, o->seed, err);
    generate_forward(&kv, mw, prompt, P, 0, lg, err);
    for (g->n = 0; g->n < o->max_tokens; g->n++) {
        g->ids[g->n] = sampler_sample(&sm, lg);
        generate_forward(&kv, mw, &g->ids[g->n], 1, P + g->n, lg, err);
    }
    free(lg);
    sampler_free(&sm);
    kvcache_free(&kv);
}

static void check_slots_on(const char *name, const ModelWeights *mw) {
    char err[ERR_LEN];
    const ModelConfig *c = &mw->config;
    const int V = c->vocab_size;
    enum { NS = 3, G = 14 };
    const int plen[NS] = {5, 9, 2};
    int32_t prompt[NS][16];
    for (int s = 0; s < NS; s++) make_tokens(prompt[s], plen[s], V, 100 + (uint64_t)s);

    // Rows of two slots at positions 5 and 9 against each slot alone.
    KVCache two, one;
    float *lg = xmalloc(sizeof(float) * 2 * (size_t)V), *lone = xmalloc(sizeof(float) * (size_t)V);
    int ok = kvcache_init_slots(&two, c, 16, 2, err) == 0;
    ok &= generate_forward_slot(&two, mw, 0, prompt[0], plen[0], 0, NULL, 0, err) == 0;
    ok &= generate_forward_slot(&two, mw, 1, prompt[1], plen[1], 0, NULL, 0, err) == 0;
    const int slots[2] = {1, 0};
    const int32_t next[2] = {7, 3};
    ok &= generate_forward_rows(&two, mw, slots, next, 2, lg, err) == 0;
    CHECK(ok && two.len[0] == plen[0] + 1 && two.len[1] == plen[1] + 1, "%s: rows of two slots: %s", name, err);
    int same = 1;
    for (int r = 0; r < 2 && ok; r++) {
        const int s = slots[r];
        kvcache_init(&one, c, 16, err);
        generate_forward(&one, mw, prompt[s], plen[s], 0, NULL, err);
        generate_forward(&one, mw, &next[r], 1, plen[s], lone, err);
        same &= memcmp(lone, lg + (size_t)r * V, sizeof(float) * V) == 0;
        kvcache_free(&one);
    }
    CHECK(same, "%s: a row of a two-slot step differs from its sequence decoded alone", name);
    // A reorder swaps what the slots hold: the same step again, slots swapped.
    const int swap[2] = {1, 0}, slots2[2] = {0, 1};
    kvcache_reorder(&two, swap);
    float *lg2 = xmalloc(sizeof(float) * 2 * (size_t)V);
    ok = generate_forward_rows(&two, mw, slots2, (const int32_t[]){5, 5}, 2, lg2, err) == 0 && two.len[0] == plen[1] + 2 &&
         two.len[1] == plen[0] + 2;
    CHECK(ok, "%s: step after reorder: %s", name, err);
    // Bad rows: a slot twice, a slot out of range.
    err[0] = 0;
    CHECK(generate_forward_rows(&two, mw, (const int[]){0, 0}, next, 2, lg, err) == -1 && strstr(err, "repeated"),
          "%s: a slot twice accepted (%s)", name, err);
    CHECK(generate_forward_rows(&two, mw, (const int[]){2}, next, 1, lg, err) == -1, "%s: slot 2 of 2 accepted", name);
    kvcache_copy_slot(&two, 0, 1);
    CHECK(two.len[0] == two.len[1], "%s: copy_slot length", name);
    kvcache_free(&two);
    free(lg);
    free(lg2);
    free(lone);

    // The Decoder: three sequences joining at steps 0, 2, 3, against each
    // decoded alone; greedy, then sampled.
    for (int sampled = 0; sampled < 2; sampled++) {
        Collect alone[NS], side[NS];
        DecodeOptions o[NS];
        for (int s = 0; s < NS; s++) {
            o[s] = (DecodeOptions){.max_tokens = G - 3 * s, .temperature = sampled ? 0.9f : 0.0f, .top_p = 1.0f,
                                  .seed = 11 + (uint64_t)s};
            DecodeStats st;
            Collect one = {.n = 0};
            side[s].n = 0;
            decode_plain(mw, prompt[s], plen[s], &o[s], &alone[s]);
            CHECK(decode_generate(mw, prompt[s], (size_t)plen[s], &o[s], collect, &one, &st, err) == 0 &&
                      one.n == alone[s].n && !memcmp(one.ids, alone[s].ids, sizeof(int32_t) * one.n),
                  "%s: decode_generate differs from the plain loop (%s)", name, err);
        }
        Decoder d;
        Seq q[NS];
        memset(q, 0, sizeof q);
        ok = decoder_init(&d, mw, NS, 9 + G, err) == 0;
        for (int s = 0; s < NS && ok; s++) ok &= seq_init(&q[s], c, prompt[s], (size_t)plen[s], &o[s], collect, &side[s], err) == 0;
        const int join[NS] = {0, 2, 3};
        int live = 0;
        for (int step = 0; ok && (step <= join[NS - 1] || live > 0); step++) {
            for (int s = 0; s < NS; s++)
                if (join[s] == step) ok &= decoder_add(&d, &q[s], err) == 0;
            live = decoder_step(&d, err);
            ok &= live >= 0;
        }
        same = ok;
        for (int s = 0; s < NS; s++) {
            same &= side[s].n == alone[s].n && !memcmp(side[s].ids, alone[s].ids, sizeof(int32_t) * alone[s].n);
            same &= q[s].slot == -1 && q[s].st.stop && !strcmp(q[s].st.stop, "max-tokens");
        }
        CHECK(same, "%s: %s sequences decoded side by side differ from each decoded alone (%s)", name,
              sampled ? "sampled" : "greedy", err);
        // Every slot is free again; a fourth sequence takes one, a fifth with
        // all busy is refused.
        Seq extra[NS + 1];
        memset(extra, 0, sizeof extra);
        int added = 0;
        for (int s = 0; s < NS + 1; s++) {
            if (seq_init(&extra[s], c, prompt[0], (size_t)plen[0], &o[0], NULL, NULL, err)) break;
            added += decoder_add(&d, &extra[s], err) == 0;
        }
        CHECK(added == NS && strstr(err, "busy"), "%s: %d of %d sequences added to %d slots (%s)", name, added, NS + 1,
              NS, err);
        for (int s = 0; s < NS + 1; s++) seq_free(&extra[s]);
        for (int s = 0; s < NS; s++) seq_free(&q[s]);
        decoder_free(&d);
    }
}

static void check_slots(void) {
    char dir[256], err[ERR_LEN];
    // fp32 views of two fixtures, and packed ternary weights (Q2_0 kernels,
    // int8 activations) of one whose rows are whole blocks of 64.
    const struct { const char *name; int packed; } cases[] = {
        {"tiny_untied_bf16", 0}, {"llama_tied_fp32_rope3_v4", 0}, {"llama_untied_bf16_rope3", 1}};
    for (int i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", FIXTURES, cases[i].name);
        Model m;
        if (model_load(&m, dir, err)) { CHECK(0, "%s", err); continue; }
        ModelWeights mw;
        if (!cases[i].packed) {
            weights_view(&mw, &m, &m.params);
        } else if (model_project_ternary(&m, 64, SCALE_ABSMEAN, err) ||
                   weights_pack(&mw, &m, GGML_TYPE_Q2_0, GGML_TYPE_Q2_0, err)) {
            CHECK(0, "%s: pack: %s", cases[i].name, err);
            model_free(&m);
            continue;
        }
        check_slots_on(cases[i].name, &mw);
        weights_free(&mw);
        model_free(&m);
    }
    printf("  several sequences side by side: rows, reorder, Decoder (greedy, sampled) equal each alone\n");
}

// ---------------------------------------------------------------------------
// (d) the sampler.

static void check_sampler(void) {
    char err[ERR_LEN];
    Sampler s;
    enum { V = 1000 };
    static float lg[V], probs[V];
    uint64_t st = 3;
    for (int i = 0; i < V; i++) lg[i] = (float)(sample_uniform(&st) * 10.0 - 5.0);
    int am = 0;
    for (int i = 1; i < V; i++) am = lg[i] > lg[am] ? i : am;

    // Greedy = argmax; ties go to the lowest id.
    sampler_init(&s, V, 0.0f, 40, 0.95f, 1, err);
    CHECK(sampler_sample(&s, lg) == am, "greedy != argmax");
    CHECK(sampler_distribution(&s, lg, probs) == 1 && probs[am] == 1.0f, "greedy distribution");
    float tie[6] = {1, 3, 2, 3, -1, 3};
    CHECK(sample_argmax(tie, 6) == 1, "argmax tie -> %d", sample_argmax(tie, 6));
    float nan_first[3] = {NAN, -2, -1};
    CHECK(sample_argmax(nan_first, 3) == 2, "argmax with NaN");
    sampler_free(&s);

    // top-k = 1 is greedy whatever the temperature/top-p/seed, ties included.
    int all = 1;
    for (uint64_t seed = 0; seed < 50; seed++) {
        sampler_init(&s, V, 1.5f, 1, 0.9f, seed, err);
        all &= sampler_sample(&s, lg) == am;
        sampler_free(&s);
    }
    sampler_init(&s, 6, 1.0f, 1, 1.0f, 9, err);
    for (int i = 0; i < 20; i++) all &= sampler_sample(&s, tie) == 1;
    sampler_free(&s);
    CHECK(all, "top-k=1 is not greedy");

    // Temperature -> 0: the argmax whenever the gap is >= 1 (other probs < e^-100).
    float gap[V];
    for (int i = 0; i < V; i++) gap[i] = (float)(i % 97) * 0.01f;
    gap[517] = 2.0f;
    sampler_init(&s, V, 0.01f, 0, 1.0f, 5, err);
    all = 1;
    for (int i = 0; i < 1000; i++) all &= sampler_sample(&s, gap) == 517;
    CHECK(all, "temperature 0.01 did not always pick the argmax");
    CHECK(sampler_distribution(&s, gap, probs) == 1 && probs[517] == 1.0f, "T=0.01 distribution p=%g", probs[517]);
    sampler_free(&s);

    // A crafted distribution: p = .4 .3 .2 .1 at ids 5, 2, 7, 0 of 8 (three
    // ids with probability 0 via -inf).
    const int ids[4] = {5, 2, 7, 0};
    const double p4[4] = {0.4, 0.3, 0.2, 0.1};
    float c8[8];
    for (int i = 0; i < 8; i++) c8[i] = -INFINITY;
    for (int i = 0; i < 4; i++) c8[ids[i]] = (float)log(p4[i]) + 3.0f;
    float pr[8];
    // top-p keeps the smallest prefix with mass >= p, renormalised.
    const struct { float p; int keep; } cases[] = {{0.35f, 1}, {0.5f, 2}, {0.65f, 2}, {0.85f, 3}, {0.95f, 4}, {1.0f, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sampler_init(&s, 8, 1.0f, 0, cases[c].p, 1, err);
        int n = sampler_distribution(&s, c8, pr);
        double mass = 0, e = 0;
        for (int i = 0; i < cases[c].keep; i++) mass += p4[i];
        for (int i = 0; i < 4; i++) {
            double want = i < cases[c].keep ? p4[i] / mass : 0.0;
            e = fmax(e, fabs(pr[ids[i]] - want));
        }
        CHECK(n == cases[c].keep && e <= 1e-6, "top-p %.2f: kept %d (want %d), max |p diff| %.2g", (double)cases[c].p, n,
              cases[c].keep, e);
        sampler_free(&s);
    }
    // top-k then top-p: k = 3 renormalises to .444 .333 .222, then p = .75
    // keeps two: .571 .429.
    sampler_init(&s, 8, 1.0f, 3, 0.75f, 1, err);
    int n = sampler_distribution(&s, c8, pr);
    CHECK(n == 2 && fabs(pr[5] - 4.0 / 7) < 1e-6 && fabs(pr[2] - 3.0 / 7) < 1e-6 && pr[7] == 0,
          "top-k 3 + top-p .75: n=%d %g %g %g", n, pr[5], pr[2], pr[7]);
    sampler_free(&s);
    // The order is temperature first: T = 2 flattens to p^(1/2)/Z before top-p.
    // sqrt(.4,.3,.2,.1)/Z = .3254 .2818 .2301 .1627 (Z = 1.9436): p = .62 keeps
    // 3 (.6072 < .62), where at T = 1 it would keep 2 (.7 >= .62).
    sampler_init(&s, 8, 2.0f, 0, 0.62f, 1, err);
    n = sampler_distribution(&s, c8, pr);
    double z3 = sqrt(0.4) + sqrt(0.3) + sqrt(0.2);
    CHECK(n == 3 && fabs(pr[5] - sqrt(0.4) / z3) < 1e-6 && fabs(pr[7] - sqrt(0.2) / z3) < 1e-6,
          "T=2 + top-p .62: n=%d p=%g", n, pr[5]);
    sampler_free(&s);
    // The nucleus with a long tail: 4 heavy tokens and 996 light ones (the
    // pre-filter on (1-p)/V must not change the result).
    float big[V];
    for (int i = 0; i < V; i++) big[i] = -4.0f + (float)(i % 13) * 0.01f;
    for (int i = 0; i < 4; i++) big[100 * ids[i] + 3] = (float)log(p4[i]) + 5.0f;
    sampler_init(&s, V, 1.0f, 0, 0.5f, 1, err);
    n = sampler_distribution(&s, big, probs);
    double e_big = fabs(probs[503] + probs[203] - 1.0);
    CHECK(n == 2 && probs[503] > probs[203] && e_big < 1e-6, "long-tail top-p .5: n=%d", n);
    sampler_free(&s);

    // Same seed, same draws; another seed, other draws.
    Sampler s1, s2, s3;
    sampler_init(&s1, V, 1.0f, 0, 1.0f, 1234, err);
    sampler_init(&s2, V, 1.0f, 0, 1.0f, 1234, err);
    sampler_init(&s3, V, 1.0f, 0, 1.0f, 1235, err);
    int same = 1, diff = 0;
    for (int i = 0; i < 200; i++) {
        int a = sampler_sample(&s1, lg), b = sampler_sample(&s2, lg), c = sampler_sample(&s3, lg);
        same &= a == b;
        diff += a != c;
    }
    CHECK(same, "same seed gave different samples");
    CHECK(diff > 100, "different seeds agreed on %d of 200 draws", 200 - diff);
    sampler_free(&s1);
    sampler_free(&s2);
    sampler_free(&s3);

    // Empirical frequencies over N draws against the probabilities. The
    // bound 0.005 on max |freq - p| is > 4.5 standard deviations (sd <=
    // sqrt(.25/N) = 0.0011); the chi-square with k-1 dof must stay under its
    // 0.999 quantile (7 dof: 24.32; 2 dof: 13.82). The seed is fixed, so the
    // result is deterministic.
    enum { N = 200000 };
    float d8[8] = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.0f, 1.5f, 0.2f};
    const struct { float T; int k; float p; double chi_crit; } cfg[] = {{1.0f, 0, 1.0f, 24.32},
                                                                        {0.7f, 3, 1.0f, 13.82},
                                                                        {1.3f, 0, 0.8f, 0}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        sampler_init(&s, 8, cfg[c].T, cfg[c].k, cfg[c].p, 99 + c, err);
        int kept = sampler_distribution(&s, d8, pr);
        // Independent expectation for the unfiltered case.
        if (cfg[c].k == 0 && cfg[c].p >= 1.0f) {
            double z = 0, e = 0;
            for (int i = 0; i < 8; i++) z += exp(d8[i] / cfg[c].T);
            for (int i = 0; i < 8; i++) e = fmax(e, fabs(pr[i] - exp(d8[i] / cfg[c].T) / z));
            CHECK(e < 1e-6, "softmax probabilities off by %.2g", e);
        }
        long cnt[8] = {0};
        for (int i = 0; i < N; i++) cnt[sampler_sample(&s, d8)]++;
        double maxdev = 0, chi = 0;
        int df = -1, stray = 0;
        for (int i = 0; i < 8; i++) {
            double f = (double)cnt[i] / N;
            maxdev = fmax(maxdev, fabs(f - pr[i]));
            if (pr[i] > 0) {
                chi += (cnt[i] - N * (double)pr[i]) * (cnt[i] - N * (double)pr[i]) / (N * (double)pr[i]);
                df++;
            } else {
                stray += cnt[i] != 0;
            }
        }
        CHECK(maxdev < 0.005 && !stray, "config %zu: max |freq - p| %.4f, %d filtered ids drawn", c, maxdev, stray);
        CHECK(df + 1 == kept && (cfg[c].chi_crit == 0 || chi < cfg[c].chi_crit), "config %zu: chi2 %.2f (%d dof)", c,
              chi, df);
        printf("  sampler T=%.1f top-k %d top-p %.1f: %d kept, %d draws, max |freq - p| %.4f, chi2 %.2f (%d dof)\n",
               (double)cfg[c].T, cfg[c].k, (double)cfg[c].p, kept, N, maxdev, chi, df);
        sampler_free(&s);
    }

    // Bad settings.
    CHECK(sampler_init(&s, 8, 1.0f, -1, 1.0f, 0, err) == -1, "top-k -1 accepted");
    CHECK(sampler_init(&s, 8, 1.0f, 0, 0.0f, 0, err) == -1, "top-p 0 accepted");
    CHECK(sampler_init(&s, 8, 1.0f, 0, 1.5f, 0, err) == -1, "top-p 1.5 accepted");
    CHECK(sampler_init(&s, 8, NAN, 0, 1.0f, 0, err) == -1, "NaN temperature accepted");
}

int main(void) {
    check_model("tiny_tied_fp32", 20);
    check_model("tiny_tied_bf16", 20);
    check_model("tiny_untied_bf16", 20);
    check_model("tiny_untied_fp32_sharded", 20);
    check_model("llama_untied_bf16_rope3", 20);
    check_model("llama_tied_fp32_rope3_v4", 40);
    check_model("tiny_tied_fp32", 100);  // several 64-row attention tiles in the prefill
    check_limits();
    check_slots();
    check_sampler();
    return test_finish("test_generate");
}
