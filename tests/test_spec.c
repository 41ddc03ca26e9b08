// test_spec.c — speculative decoding and the KV-cache machinery under it.
//
// Models: random ones (transformers' N(0, 0.02) init: nearly flat logits,
// so near-ties between the best tokens are everywhere and any arithmetic
// difference between two paths would change greedy output), in fp32 and
// ternary packed (Q2_0) form; drafts are the target itself (every draft
// accepted), a perturbed copy (some accepted, some rejected), and prompt
// lookup.
//
//  (a) a draft tree scored in one pass gives every node the logits, bit for
//      bit, of its path decoded one token at a time; committing a path leaves
//      the cache exactly as decoding the path would;
//  (b) the greedy tree walk on hand-built trees;
//  (c) prompt lookup;
//  (d) greedy speculative output is identical to plain greedy decoding, for
//      many prompts, K = 1..8, chains and trees, EOS inside a draft,
//      max_tokens reached inside a draft, the context filling up;
//  (e) sampling: the second and third tokens' distributions against the
//      target's own, exactly computed, by a chi-square test over many seeds
//      (p < 0.001 critical value; the seeds are fixed, so the test is
//      deterministic);
//  (f) a DFlash drafter (model/drafter.h): greedy output identical to plain
//      greedy decoding (random drafters, blocks of 2..8, a mask row of the
//      embedding or a mask embedding of its own, EOS and max_tokens inside a
//      block, the context filling up), with drafters steered to the target's
//      own tokens so that whole blocks are accepted; sampling as in (e);
// (Beam search: test_beam.)
// Under the sanitizers (make san sets TRIT_SAN=1) (d) and (e) run a quarter
// of their cases: the same code paths, in CI's time budget.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "infer/decode.h"
#include "infer/generate.h"
#include "infer/sample.h"
#include "infer/spec.h"
#include "kernels/linear.h"
#include "model/drafter.h"
#include "model/model.h"
#include "collect.h"
#include "test.h"

static int quick;  // TRIT_SAN: fewer prompts and seeds

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static ModelConfig small_config(int V, int max_pos) {
    ModelConfig c = {0};
    char err[ERR_LEN];
    if (config_load(&c, "tests/fixtures/models/tiny_tied_fp32/config.json", err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    c.hidden_size = 128;
    c.intermediate_size = 256;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 32;
    c.vocab_size = V;
    c.max_position_embeddings = max_pos;
    return c;
}

typedef struct {
    Model m;
    ModelWeights w;
    int packed;
} TestModel;

// A random model; noise > 0 perturbs a copy of seed's weights (a draft that
// mostly, not always, agrees); packed: ternary projection packed to Q2_0.
static void make_model(TestModel *t, const ModelConfig *c, uint64_t seed, float noise, int packed) {
    char err[ERR_LEN];
    if (model_alloc(&t->m, c, err)) { fprintf(stderr, "%s\n", err); exit(1); }
    model_init_random(&t->m, seed);
    uint64_t s = seed ^ 77;
    if (noise > 0)
        for (size_t i = 0; i < t->m.n_params; i++)
            t->m.params_memory[i] += noise * ((float)lcg(&s) / 2147483648.0f - 1.0f);
    t->packed = packed;
    if (packed) {
        if (model_project_ternary(&t->m, 64, SCALE_ABSMEAN, err) ||
            weights_pack(&t->w, &t->m, GGML_TYPE_Q2_0, GGML_TYPE_Q2_0, err)) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
    } else {
        weights_view(&t->w, &t->m, &t->m.params);
    }
}

static void free_model(TestModel *t) {
    weights_free(&t->w);
    model_free(&t->m);
}

// ---------------------------------------------------------------------------
// (a) tree forward and path commit against one-token-at-a-time decoding.

static void check_tree_forward(const TestModel *t, const char *name) {
    const ModelConfig *c = &t->w.config;
    const int V = c->vocab_size, P = 5, n = 14;
    // parent: two roots' worth of branches, depth up to 5, siblings.
    const int parent[14] = {-1, 0, 0, 1, 1, 2, 3, 3, 6, 5, 0, 8, 9, 11};
    int32_t prompt[5], tokens[14];
    uint64_t s = 9;
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)(lcg(&s) % V);
    for (int i = 0; i < n; i++) tokens[i] = (int32_t)(lcg(&s) % V);
    tokens[4] = tokens[3];  // the same token in two branches
    char err[ERR_LEN];
    KVCache kv, ref;
    kvcache_init(&kv, c, 64, err);
    kvcache_init(&ref, c, 64, err);
    float *lt = xmalloc(sizeof(float) * (size_t)n * V), *lr = xmalloc(sizeof(float) * V);
    int ok = generate_forward(&kv, &t->w, prompt, P, 0, NULL, err) == 0;
    // In two calls, as a drafter grows a tree: nodes [0, 6) then [6, n).
    ok &= generate_forward_tree(&kv, &t->w, tokens, parent, 6, 0, lt, err) == 0;
    ok &= generate_forward_tree(&kv, &t->w, tokens, parent, n, 6, lt + (size_t)6 * V, err) == 0;
    CHECK(ok && kv.len[0] == P, "%s: tree forward: %s", name, err);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int path[16], m = 0;
        for (int a = i; a >= 0; a = parent[a]) path[m++] = a;
        kvcache_reset(&ref);
        generate_forward(&ref, &t->w, prompt, P, 0, NULL, err);
        for (int d = m - 1; d >= 0; d--) generate_forward(&ref, &t->w, &tokens[path[d]], 1, ref.len[0], lr, err);
        bad += memcmp(lr, lt + (size_t)i * V, sizeof(float) * V) != 0;
    }
    CHECK(bad == 0, "%s: %d of %d tree nodes differ (bitwise) from their path decoded token by token", name, bad, n);
    // Commit the path 0 -> 1 -> 3 -> 6 -> 8 -> 11 -> 13: the cache equals the
    // path decoded as a chain, and decoding on from it agrees.
    const int path[7] = {0, 1, 3, 6, 8, 11, 13};
    kvcache_commit_path(&kv, path, 7);
    int32_t chain[7];
    for (int d = 0; d < 7; d++) chain[d] = tokens[path[d]];
    kvcache_reset(&ref);
    generate_forward(&ref, &t->w, prompt, P, 0, NULL, err);
    generate_forward(&ref, &t->w, chain, 7, P, NULL, err);
    const size_t KD = (size_t)c->num_key_value_heads * c->head_dim;
    int same = kv.len[0] == ref.len[0];
    for (int l = 0; l < c->num_hidden_layers && same; l++) {
        const size_t off = (size_t)l * kv.max_T * KD;
        same &= memcmp(kv.k + off, ref.k + off, sizeof(float) * ref.len[0] * KD) == 0 &&
                memcmp(kv.v + off, ref.v + off, sizeof(float) * ref.len[0] * KD) == 0;
    }
    CHECK(same, "%s: the committed path's keys/values differ from the chain's", name);
    const int32_t nxt = 3;
    float *l1 = xmalloc(sizeof(float) * V);
    generate_forward(&kv, &t->w, &nxt, 1, kv.len[0], l1, err);
    generate_forward(&ref, &t->w, &nxt, 1, ref.len[0], lr, err);
    CHECK(memcmp(l1, lr, sizeof(float) * V) == 0, "%s: decoding after the commit differs", name);
    // Rollback: truncating forgets positions; redoing them gives the same.
    kvcache_truncate(&kv, P + 2);
    generate_forward(&kv, &t->w, chain + 2, 5, P + 2, NULL, err);
    generate_forward(&kv, &t->w, &nxt, 1, kv.len[0], l1, err);
    CHECK(memcmp(l1, lr, sizeof(float) * V) == 0, "%s: truncate + redo differs", name);
    // Bad trees are refused.
    const int bad_parent[3] = {-1, 2, 0};
    CHECK(generate_forward_tree(&kv, &t->w, tokens, bad_parent, 3, 0, lt, err) != 0 && strstr(err, "parent"),
          "%s: a node whose parent comes later is refused", name);
    free(l1);
    free(lt);
    free(lr);
    kvcache_free(&kv);
    kvcache_free(&ref);
}

// ---------------------------------------------------------------------------
// (b) the greedy walk on hand-built trees.

static void check_walk(void) {
    int path[16];
    {   // the root's choice is none of its children: only the root.
        const int32_t tok[3] = {7, 1, 2};
        const int par[3] = {-1, 0, 0};
        const int32_t choice[3] = {5, 0, 0};
        CHECK(spec_tree_walk(tok, par, 3, choice, path) == 1 && path[0] == 0, "a rejected root level");
    }
    {   // a deep accepted branch next to a rejected sibling.
        //     0 -> 1(a) -> 3(c) -> 5(e)
        //       -> 2(b) -> 4(d)
        const int32_t tok[6] = {9, 10, 11, 12, 13, 14};
        const int par[6] = {-1, 0, 0, 1, 2, 3};
        const int32_t choice[6] = {10, 12, 13, 14, 0, 99};
        int m = spec_tree_walk(tok, par, 6, choice, path);
        CHECK(m == 4 && path[1] == 1 && path[2] == 3 && path[3] == 5 && choice[path[m - 1]] == 99,
              "deep branch: m %d", m);
        const int32_t choice2[6] = {11, 0, 13, 0, 42, 0};  // the other branch
        m = spec_tree_walk(tok, par, 6, choice2, path);
        CHECK(m == 3 && path[1] == 2 && path[2] == 4 && choice2[path[2]] == 42, "sibling branch: m %d", m);
    }
    {   // the same token in different branches: only the chosen parent's
        // child counts.
        //     0 -> 1(5) -> 3(8)
        //       -> 2(6) -> 4(5) -> 5(8)
        const int32_t tok[6] = {1, 5, 6, 8, 5, 8};
        const int par[6] = {-1, 0, 0, 1, 2, 4};
        const int32_t choice[6] = {6, 8, 5, 0, 8, 3};
        int m = spec_tree_walk(tok, par, 6, choice, path);
        CHECK(m == 4 && path[1] == 2 && path[2] == 4 && path[3] == 5 && choice[5] == 3, "duplicates: m %d", m);
    }
}

// ---------------------------------------------------------------------------
// (c) prompt lookup.

static void check_lookup(void) {
    int32_t out[3 * 4];
    int len[3];
    const int32_t seq[12] = {1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 2, 3};
    // Suffix "2 3" occurs at 6 (then 7 8 2 3) and at 1 (then 4 5 9 2):
    // most recent first, distinct first tokens.
    int nb = spec_lookup(seq, 12, 4, 3, out, len);
    CHECK(nb == 2 && len[0] == 4 && out[0] == 7 && out[1] == 8 && out[4] == 4 && out[7] == 2, "lookup: %d", nb);
    const int32_t seq2[6] = {1, 2, 3, 4, 5, 6};
    CHECK(spec_lookup(seq2, 6, 4, 3, out, len) == 0, "no earlier occurrence: no draft");
    const int32_t seq3[5] = {4, 4, 4, 4, 4};
    nb = spec_lookup(seq3, 5, 4, 2, out, len);
    CHECK(nb == 1 && len[0] == 1 && out[0] == 4, "overlapping match: %d len %d", nb, len[0]);
}

// ---------------------------------------------------------------------------
// (d) greedy: identical output.


static int same_output(const Collect *a, const DecodeStats *sa, const Collect *b, const DecodeStats *sb) {
    return a->n == b->n && !memcmp(a->ids, b->ids, sizeof(int32_t) * (size_t)a->n) && !strcmp(sa->stop, sb->stop);
}

static void check_greedy(const TestModel *target, const TestModel *drafts[], const char *names[], int n_drafts,
                         const char *tname) {
    const ModelConfig *c = &target->w.config;
    const int V = c->vocab_size;
    char err[ERR_LEN];
    int runs = 0, bad = 0, fails = 0, eos_cases = 0, ctx_cases = 0;
    long accepted = 0, drafted = 0;
    for (int pr = 0; pr < 12; pr++) {
        if (quick && pr != 0 && pr != 3 && pr != 5) continue;
        int32_t prompt[40];
        uint64_t s = 100 + pr;
        const int P = 1 + (int)(lcg(&s) % 30);
        // Repetitive prompts give lookup something to find.
        for (int i = 0; i < P; i++) prompt[i] = pr % 3 == 0 && i >= 4 ? prompt[i - 4] : (int32_t)(lcg(&s) % V);
        const long max_tokens = pr == 5 ? 400 : 10 + (long)(lcg(&s) % 40);  // pr 5 fills the context
        DecodeOptions o = {.max_tokens = max_tokens, .temperature = 0.0f, .top_p = 1.0f};
        Collect plain = {0};
        DecodeStats ps;
        if (decode_generate(&target->w, prompt, (size_t)P, &o, collect, &plain, &ps, err)) { fails++; continue; }
        // An EOS the plain output reaches (its 6th token), for half the prompts.
        int32_t eos = plain.n > 6 ? plain.ids[5] : -1;
        Collect plain_eos = {0};
        DecodeStats pes;
        DecodeOptions oe = o;
        if (eos >= 0 && pr % 2 == 1) {
            oe.eos = &eos;
            oe.n_eos = 1;
            decode_generate(&target->w, prompt, (size_t)P, &oe, collect, &plain_eos, &pes, err);
            eos_cases += !strcmp(pes.stop, "eos");
        }
        ctx_cases += !strncmp(ps.stop, "context", 7);
        for (int d = 0; d < n_drafts; d++)
            for (int K = 1; K <= 8; K += quick ? 3 : 1)
                for (int W = 1; W <= 3; W += 2) {
                    if (W > 1 && K > 4) continue;
                    SpecOptions so = {.draft = drafts[d] ? &drafts[d]->w : NULL, .draft_tokens = K, .tree_width = W};
                    const DecodeOptions *oo = oe.n_eos ? &oe : &o;
                    Collect got = {0};
                    SpecStats ss;
                    if (spec_generate(&target->w, prompt, (size_t)P, oo, &so, collect, &got, &ss, err)) {
                        fprintf(stderr, "  %s: %s\n", tname, err);
                        fails++;
                        continue;
                    }
                    runs++;
                    accepted += ss.accepted;
                    drafted += ss.drafted;
                    const Collect *want = oe.n_eos ? &plain_eos : &plain;
                    if (!same_output(want, oe.n_eos ? &pes : &ps, &got, &ss.d)) {
                        if (bad < 3)
                            fprintf(stderr, "  %s draft %s K %d W %d prompt %d: %d vs %d tokens, stop %s vs %s\n",
                                    tname, names[d], K, W, pr, got.n, want->n, ss.d.stop,
                                    (oe.n_eos ? &pes : &ps)->stop);
                        bad++;
                    }
                }
    }
    CHECK(fails == 0, "%s: %d runs failed", tname, fails);
    CHECK(bad == 0, "%s: %d of %d speculative runs differ from plain greedy decoding", tname, bad, runs);
    CHECK(eos_cases >= (quick ? 1 : 3) && ctx_cases >= 1, "%s: cases that stop at EOS %d, at the context %d", tname, eos_cases,
          ctx_cases);
    CHECK(accepted > 0 && accepted < drafted, "%s: %ld of %ld drafted tokens accepted (want some, not all)", tname,
          accepted, drafted);
    printf("%s: %d speculative runs identical to plain greedy; %ld of %ld drafted tokens accepted\n", tname, runs,
           accepted, drafted);
}

// ---------------------------------------------------------------------------
// (e) sampling: chi-square against the target's exact distributions.

// The target sampler's distribution after prefix[0..n).
static void target_dist(const ModelWeights *w, Sampler *sm, const int32_t *prefix, int n, float *p) {
    char err[ERR_LEN];
    KVCache kv;
    kvcache_init(&kv, &w->config, n, err);
    float *lg = xmalloc(sizeof(float) * w->config.vocab_size);
    generate_forward(&kv, w, prefix, n, 0, lg, err);
    sampler_distribution(sm, lg, p);
    free(lg);
    kvcache_free(&kv);
}

// Critical value of chi-square with df degrees of freedom at p = 0.001
// (Wilson-Hilferty).
static double chi2_crit(int df) {
    const double z = 3.090, a = 2.0 / (9.0 * df);
    return df * pow(1.0 - a + z * sqrt(a), 3.0);
}

// Pools bins with expected count < 5 into one; returns chi-square, df.
static double chi2(const double *expect, const long *count, int n, int *df) {
    double x = 0, pe = 0, pc = 0;
    int bins = 0;
    for (int i = 0; i < n; i++) {
        if (expect[i] < 5.0) { pe += expect[i]; pc += (double)count[i]; continue; }
        x += (count[i] - expect[i]) * (count[i] - expect[i]) / expect[i];
        bins++;
    }
    if (pe >= 5.0) { x += (pc - pe) * (pc - pe) / pe; bins++; }
    *df = bins - 1;
    return x;
}

static void check_sampling(const TestModel *target, const TestModel *draft, const Drafter *dflash, const char *name) {
    const ModelConfig *c = &target->w.config;
    const int V = c->vocab_size, NS = quick ? 1500 : 6000, P = 24;
    // Many distinct ids, so that lookup finds the first token in it.
    int32_t prompt[24];
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)((i * 7) % V);
    DecodeOptions o = {.max_tokens = 3, .temperature = 0.7f, .top_k = 12, .top_p = 0.9f};
    char err[ERR_LEN];
    Sampler sm;
    sampler_init(&sm, V, o.temperature, o.top_k, o.top_p, 1, err);
    // Exact marginals of tokens 2 and 3 under the target's sampler.
    float *p1 = xmalloc(sizeof(float) * V), *p2 = xmalloc(sizeof(float) * V), *p3 = xmalloc(sizeof(float) * V);
    double *m2 = xcalloc((size_t)V, sizeof(double)), *m3 = xcalloc((size_t)V, sizeof(double));
    target_dist(&target->w, &sm, prompt, P, p1);
    int32_t pre[26];
    memcpy(pre, prompt, sizeof prompt);
    for (int a = 0; a < V; a++) {
        if (!(p1[a] > 0)) continue;
        pre[P] = a;
        target_dist(&target->w, &sm, pre, P + 1, p2);
        for (int b = 0; b < V; b++) {
            if (!(p2[b] > 0)) continue;
            m2[b] += (double)p1[a] * p2[b];
            pre[P + 1] = b;
            target_dist(&target->w, &sm, pre, P + 2, p3);
            for (int t = 0; t < V; t++) m3[t] += (double)p1[a] * p2[b] * p3[t];
        }
    }
    long *c2 = xcalloc((size_t)V, sizeof(long)), *c3 = xcalloc((size_t)V, sizeof(long));
    long accepted = 0, drafted = 0;
    SpecOptions so = {.draft = draft ? &draft->w : NULL, .dflash = dflash, .tree_width = 1,
                      .draft_tokens = dflash ? dflash->dc.block_size - 1 : 3};
    int fails = 0;
    for (int i = 0; i < NS; i++) {
        o.seed = 1000 + (uint64_t)i;
        Collect got = {0};
        SpecStats ss;
        if (spec_generate(&target->w, prompt, (size_t)P, &o, &so, collect, &got, &ss, err) || got.n != 3) {
            fails++;
            continue;
        }
        c2[got.ids[1]]++;
        c3[got.ids[2]]++;
        accepted += ss.accepted;
        drafted += ss.drafted;
    }
    // The same test run on the draft model's own samples (another
    // distribution) must reject them: the test has power at this size.
    long *cq = xcalloc((size_t)V, sizeof(long));
    if (draft)
        for (int i = 0; i < NS; i++) {
            o.seed = 1000 + (uint64_t)i;
            Collect got = {0};
            DecodeStats ds;
            if (!decode_generate(&draft->w, prompt, (size_t)P, &o, collect, &got, &ds, err) && got.n == 3) cq[got.ids[1]]++;
        }
    for (int t = 0; t < V; t++) { m2[t] *= NS; m3[t] *= NS; }
    if (draft) {
        int dfq;
        const double xq = chi2(m2, cq, V, &dfq);
        CHECK(xq > chi2_crit(dfq), "%s: the draft's own samples pass as the target's (chi2 %.1f, crit %.1f)", name, xq,
              chi2_crit(dfq));
        printf("%s: the draft's own samples: chi2 %.1f (df %d, crit %.1f), rejected\n", name, xq, dfq, chi2_crit(dfq));
    }
    free(cq);
    int df2, df3;
    const double x2 = chi2(m2, c2, V, &df2), x3 = chi2(m3, c3, V, &df3);
    CHECK(fails == 0, "%s: %d runs failed", name, fails);
    CHECK(df2 >= 3 && x2 < chi2_crit(df2), "%s: token 2: chi2 %.1f, df %d, critical %.1f", name, x2, df2,
          chi2_crit(df2));
    CHECK(df3 >= 3 && x3 < chi2_crit(df3), "%s: token 3: chi2 %.1f, df %d, critical %.1f", name, x3, df3,
          chi2_crit(df3));
    CHECK(accepted > 0 && accepted < drafted, "%s: %ld of %ld drafted accepted (want both outcomes)", name, accepted,
          drafted);
    printf("%s: %d seeds, chi2 token 2 %.1f (df %d, crit %.1f), token 3 %.1f (df %d, crit %.1f); %ld/%ld accepted\n",
           name, NS, x2, df2, chi2_crit(df2), x3, df3, chi2_crit(df3), accepted, drafted);
    sampler_free(&sm);
    free(p1); free(p2); free(p3); free(m2); free(m3); free(c2); free(c3);
}

// ---------------------------------------------------------------------------
// (f) DFlash drafters.

// A random drafter of blocks of B for the target (mask: a row of its
// embedding, or its own mask embedding), its taps the published default.
static void dflash_drafter(Drafter *d, const TestModel *t, int B, int own_mask, uint64_t seed) {
    const ModelConfig *c = &t->w.config;
    int taps[2];
    drafter_default_taps(c->num_hidden_layers, 2, taps);
    char err[ERR_LEN];
    if (drafter_init(d, c, 1, B, taps, 2, own_mask ? -1 : c->vocab_size - 1, seed, err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
}

// Steers a drafter to draft token y at every masked slot: its layers add
// nothing (o_proj and down_proj zero, so the output is the final norm of
// the input rows) and its mask embedding is y's row of the target's
// embedding, whose LM head logit is then, on these random tied models, the
// largest.
static void steer(Drafter *d, const TestModel *t, int32_t y) {
    const ModelConfig *c = &d->dc.layer;
    const size_t C = c->hidden_size, QD = (size_t)c->num_attention_heads * c->head_dim, F = c->intermediate_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        memset(d->lp[l].wo, 0, sizeof(float) * C * QD);
        memset(d->lp[l].wdown, 0, sizeof(float) * C * F);
    }
    embedding_lookup(d->mask_embedding, &y, 1, &t->w.embed);
}

static void check_dflash(const TestModel *target, const char *tname) {
    const ModelConfig *c = &target->w.config;
    const int V = c->vocab_size;
    char err[ERR_LEN];
    int runs = 0, bad = 0, fails = 0, eos_cases = 0, ctx_cases = 0;
    long accepted = 0, drafted = 0, whole = 0;
    for (int pr = 0; pr < 10; pr++) {
        if (quick && pr != 0 && pr != 3 && pr != 5) continue;
        int32_t prompt[40];
        uint64_t s = 300 + pr;
        const int P = 1 + (int)(lcg(&s) % 30);
        for (int i = 0; i < P; i++) prompt[i] = (int32_t)(lcg(&s) % V);
        const long max_tokens = pr == 5 ? 400 : 10 + (long)(lcg(&s) % 40);
        DecodeOptions o = {.max_tokens = max_tokens, .temperature = 0.0f, .top_p = 1.0f};
        Collect plain = {0};
        DecodeStats ps;
        if (decode_generate(&target->w, prompt, (size_t)P, &o, collect, &plain, &ps, err)) { fails++; continue; }
        int32_t eos = plain.n > 6 ? plain.ids[5] : -1;
        if (eos >= 0 && pr % 2 == 1 && pr != 5) {  // prompt 5 fills the context
            o.eos = &eos;
            o.n_eos = 1;
            plain.n = 0;
            decode_generate(&target->w, prompt, (size_t)P, &o, collect, &plain, &ps, err);
            eos_cases += !strcmp(ps.stop, "eos");
        }
        ctx_cases += !strncmp(ps.stop, "context", 7);
        // The plain output's most frequent token, for a steered drafter.
        int32_t y = plain.ids[0];
        int most = 0;
        for (int i = 0; i < plain.n; i++) {
            int k = 0;
            for (int j = 0; j < plain.n; j++) k += plain.ids[j] == plain.ids[i];
            if (k > most) { most = k; y = plain.ids[i]; }
        }
        for (int B = 2; B <= 8; B += quick ? 6 : 2)
            for (int kind = 0; kind < 3; kind++) {  // a mask row, a mask embedding, steered
                Drafter d;
                dflash_drafter(&d, target, B, kind > 0, 11 + (uint64_t)pr);
                if (kind == 2) steer(&d, target, y);
                SpecOptions so = {.dflash = &d, .draft_tokens = B - 1, .tree_width = 1};
                Collect got = {0};
                SpecStats ss;
                if (spec_generate(&target->w, prompt, (size_t)P, &o, &so, collect, &got, &ss, err)) {
                    fprintf(stderr, "  %s: %s\n", tname, err);
                    fails++;
                    drafter_free(&d);
                    continue;
                }
                runs++;
                accepted += ss.accepted;
                drafted += ss.drafted;
                whole += ss.accepted_at[B - 2];
                if (!same_output(&plain, &ps, &got, &ss.d)) {
                    if (bad < 3)
                        fprintf(stderr, "  %s DFlash B %d kind %d prompt %d: %d vs %d tokens, stop %s vs %s\n", tname,
                                B, kind, pr, got.n, plain.n, ss.d.stop, ps.stop);
                    bad++;
                }
                drafter_free(&d);
            }
    }
    CHECK(fails == 0, "%s: %d DFlash runs failed", tname, fails);
    CHECK(bad == 0, "%s: %d of %d DFlash runs differ from plain greedy decoding", tname, bad, runs);
    CHECK(eos_cases >= 1 && ctx_cases >= 1, "%s: DFlash cases that stop at EOS %d, at the context %d", tname,
          eos_cases, ctx_cases);
    CHECK(accepted > 0 && accepted < drafted && whole > 0,
          "%s: %ld of %ld DFlash drafts accepted, %ld whole blocks (want some, not all)", tname, accepted, drafted,
          whole);
    printf("%s: %d DFlash runs identical to plain greedy; %ld of %ld drafted tokens accepted, %ld whole blocks\n",
           tname, runs, accepted, drafted, whole);
}

// The chi-square check itself can fail: counts drawn from another
// distribution (the expected one shifted by one token) are rejected.
static void check_chi2_power(void) {
    double expect[8];
    long count[8];
    for (int i = 0; i < 8; i++) expect[i] = 1000.0 / 8 * (1 + (i % 2));
    double tot = 0;
    for (int i = 0; i < 8; i++) tot += expect[i];
    for (int i = 0; i < 8; i++) { expect[i] *= 1000.0 / tot; count[i] = (long)expect[(i + 1) % 8]; }
    int df;
    const double x = chi2(expect, count, 8, &df);
    CHECK(x > chi2_crit(df), "chi2 rejects a shifted distribution (%.1f vs %.1f)", x, chi2_crit(df));
}

int main(void) {
    quick = getenv("TRIT_SAN") != NULL;
    check_walk();
    check_lookup();
    check_chi2_power();

    const ModelConfig c = small_config(512, 96);
    TestModel fp, fp_draft, pk, pk_draft;
    make_model(&fp, &c, 1, 0.0f, 0);
    make_model(&fp_draft, &c, 1, 0.02f, 0);
    make_model(&pk, &c, 2, 0.0f, 1);
    make_model(&pk_draft, &c, 2, 0.004f, 1);
    check_tree_forward(&fp, "fp32");
    check_tree_forward(&pk, "q2_0");

    const TestModel *fd[3] = {&fp, &fp_draft, NULL}, *pd[3] = {&pk, &pk_draft, NULL};
    const char *names[3] = {"self", "perturbed", "lookup"};
    check_greedy(&fp, fd, names, 3, "fp32 target");
    check_greedy(&pk, pd, names, 3, "q2_0 target");
    // A packed student drafting for the fp32 target (different arithmetic).
    const TestModel *mixed[1] = {&pk};
    TestModel pk1;
    make_model(&pk1, &c, 1, 0.0f, 1);
    mixed[0] = &pk1;
    const char *mname[1] = {"ternary student"};
    check_greedy(&fp, mixed, mname, 1, "fp32 target, q2_0 draft");

    // Sampling on a small vocabulary (exact marginals need V^2 forwards).
    const ModelConfig cs = small_config(64, 64);
    TestModel st, st_draft;
    make_model(&st, &cs, 5, 0.0f, 0);
    make_model(&st_draft, &cs, 5, 0.05f, 0);
    check_sampling(&st, &st_draft, NULL, "sampling, draft model");
    check_sampling(&st, NULL, NULL, "sampling, lookup");
    check_dflash(&fp, "fp32 target");
    check_dflash(&pk, "q2_0 target");
    Drafter sd;
    dflash_drafter(&sd, &st, 4, 1, 7);
    check_sampling(&st, NULL, &sd, "sampling, DFlash drafter");
    drafter_free(&sd);

    free_model(&fp); free_model(&fp_draft); free_model(&pk); free_model(&pk_draft); free_model(&pk1);
    free_model(&st); free_model(&st_draft);
    printf("test_spec: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed != 0;
}
