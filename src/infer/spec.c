// spec.c — speculative decoding; see spec.h.
//
// State between rounds: the Seq's ids[0..n) hold the prompt and every
// emitted token; the target's cache holds ids[0..n-1) (all but the last, the
// tree's root); the draft model's cache holds a prefix of ids that it
// catches up on at the start of the next round.
#include "infer/spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "infer/generate.h"
#include "infer/sample.h"
#include "kernels/linear.h"

#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_WIDTH 8

int spec_options_check(const SpecOptions *s, const ModelWeights *target, const DecodeOptions *o, char *err) {
    if (s->draft_tokens < 1 || s->draft_tokens > SPEC_MAX_DEPTH)
        return set_err(err, "--draft-tokens %d: must be in [1, %d]", s->draft_tokens, SPEC_MAX_DEPTH);
    if (s->tree_width < 1 || s->tree_width > SPEC_MAX_WIDTH)
        return set_err(err, "--draft-tree %d: must be in [1, %d]", s->tree_width, SPEC_MAX_WIDTH);
    if (s->tree_width * s->draft_tokens + 1 > SPEC_MAX_NODES)
        return set_err(err, "a draft tree of %d x %d tokens exceeds %d nodes", s->tree_width, s->draft_tokens,
                       SPEC_MAX_NODES - 1);
    if (o->temperature > 0.0f && s->tree_width > 1)
        return set_err(err, "draft trees verify greedy decoding only; sampling drafts a chain (--draft-tree 1)");
    if (s->dflash) {
        const int B = s->dflash->dc.block_size;
        if (s->draft) return set_err(err, "one drafter at a time: a draft model or a DFlash drafter");
        if (s->tree_width != 1) return set_err(err, "a DFlash drafter drafts a chain (--draft-tree 1)");
        if (s->draft_tokens != B - 1)
            return set_err(err, "the DFlash drafter was trained on blocks of %d: it drafts %d tokens, not %d", B,
                           B - 1, s->draft_tokens);
        if (target && drafter_check_target(&s->dflash->dc, &target->config, err)) return -1;
    }
    if (target && s->draft && s->draft->config.vocab_size != target->config.vocab_size)
        return set_err(err, "the draft model's vocabulary has %d entries, the target's %d: they must share a tokenizer",
                       s->draft->config.vocab_size, target->config.vocab_size);
    return 0;
}

int spec_tree_walk(const int32_t *tokens, const int *parent, int n, const int32_t *choice, int *path) {
    int m = 0, u = 0;
    path[m++] = 0;
    for (;;) {
        int next = -1;
        for (int c = u + 1; c < n && next < 0; c++)
            if (parent[c] == u && tokens[c] == choice[u]) next = c;
        if (next < 0) return m;
        path[m++] = u = next;
    }
}

int spec_lookup(const int32_t *seq, int n, int max_out, int width, int32_t *out, int *len) {
    for (int g = n - 1 < SPEC_LOOKUP_NGRAM ? n - 1 : SPEC_LOOKUP_NGRAM; g >= 1; g--) {
        const int32_t *suf = seq + n - g;
        int nb = 0;
        for (int j = n - g - 1; j >= 0 && nb < width; j--) {  // most recent occurrence first
            if (memcmp(seq + j, suf, sizeof(int32_t) * (size_t)g) != 0) continue;
            const int from = j + g, k = n - from < max_out ? n - from : max_out;
            int dup = 0;
            for (int b = 0; b < nb; b++) dup |= out[(size_t)b * max_out] == seq[from];
            if (dup) continue;
            memcpy(out + (size_t)nb * max_out, seq + from, sizeof(int32_t) * (size_t)k);
            len[nb++] = k;
        }
        if (nb) return nb;
    }
    return 0;
}

// The top w ids of logits[V] (w small), best first, ties to the lower id.
static void top_ids(const float *x, int V, int w, int32_t *ids) {
    for (int k = 0; k < w; k++) {
        int32_t best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= ids[j] == i;
            if (!taken && !isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
        }
        ids[k] = best < 0 ? 0 : best;
    }
}

// A draw from the (unnormalised, non-negative) weights p[V].
static int32_t draw(const float *p, int V, uint64_t *rng) {
    double total = 0.0;
    for (int i = 0; i < V; i++) total += p[i];
    const double u = sample_uniform(rng) * total;
    double cum = 0.0;
    int32_t last = 0;
    for (int i = 0; i < V; i++) {
        if (!(p[i] > 0.0f)) continue;
        cum += p[i];
        last = i;
        if (u < cum) return i;
    }
    return last;
}

typedef struct {
    const ModelWeights *target;
    const DecodeOptions *o;
    const SpecOptions *s;
    int V;
    Seq sq;           // the sequence: its ids, the target's sampler, the stop rules
    SpecStats *st;
    // The draft model.
    KVCache dkv;
    Sampler dsm;
    float *dlog, *q;  // draft logits (SPEC_MAX_NODES rows); the chain's q (SPEC_MAX_DEPTH rows)
    int levels_fed;   // tree levels (below the root) the draft model ran this round
    // The DFlash drafter: its context keys/values (a cache of its layers),
    // the target's tap rows of the committed positions it has not yet seen.
    KVCache dfc;
    DrafterBufs db;
    float *kc[DRAFTER_MAX_LAYERS], *vc[DRAFTER_MAX_LAYERS];  // each layer's context keys/values in dfc
    float *feats;     // (pending, n_taps * C)
    int pending, feats_cap;
    float *xin, *mask_row;  // the block's input rows (B, C); the masked slots' embedding (C)
} Spec;

// The DFlash drafter's state: a cache of its layers for the context (B
// positions beyond the target's, for the block), the target's cache
// capturing the tapped layers, the masked slots' input row.
static int dflash_init(Spec *g, KVCache *tkv, int max_T, char *err) {
    const Drafter *d = g->s->dflash;
    const ModelConfig *c = &d->dc.layer;
    const int B = d->dc.block_size, C = c->hidden_size;
    const long want = (long)max_T + B;
    if (kvcache_init(&g->dfc, c, want < c->max_position_embeddings ? (int)want : c->max_position_embeddings, err) ||
        kvcache_set_taps(tkv, d->dc.taps, d->dc.n_taps, err))
        return -1;
    const size_t layer = (size_t)g->dfc.max_T * c->num_key_value_heads * c->head_dim;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        g->kc[l] = g->dfc.k + (size_t)l * layer;
        g->vc[l] = g->dfc.v + (size_t)l * layer;
    }
    g->xin = xmalloc(sizeof(float) * (size_t)B * C);
    g->mask_row = xmalloc(sizeof(float) * (size_t)C);
    if (d->mask_embedding) {
        memcpy(g->mask_row, d->mask_embedding, sizeof(float) * (size_t)C);
    } else {
        const int32_t mask = d->dc.mask_token_id;
        embedding_lookup(g->mask_row, &mask, 1, &g->target->embed);
    }
    return 0;
}

static void dflash_free(Spec *g) {
    kvcache_free(&g->dfc);
    drafter_bufs_free(&g->db);
    free(g->feats);
    free(g->xin);
    free(g->mask_row);
}

// Appends the target's tap rows of its last pass, rows[0..m), to what the
// DFlash drafter has yet to see.
static void dflash_feed(Spec *g, const KVCache *tkv, int m) {
    const size_t row = (size_t)tkv->n_taps * tkv->config.hidden_size;
    if (g->pending + m > g->feats_cap) {
        g->feats_cap = 2 * (g->pending + m);
        g->feats = xrealloc(g->feats, sizeof(float) * row * (size_t)g->feats_cap);
    }
    memcpy(g->feats + row * (size_t)g->pending, tkv->tap_rows, sizeof(float) * row * (size_t)m);
    g->pending += m;
}

// The DFlash proposal under the root tokens[0]: the drafter catches up on
// the committed positions, then drafts block [root, MASK x (B-1)] in one
// pass; a chain of up to B - 1 tokens (room - 1 when the target has less).
static int draft_dflash(Spec *g, int32_t *tokens, int *parent, int room) {
    const Drafter *d = g->s->dflash;
    const int B = d->dc.block_size, C = d->dc.layer.hidden_size, V = g->V;
    const double t0 = now_seconds();
    KVCache *kv = &g->dfc;
    if (kv->len[0] + g->pending + B > kv->max_T) return 1;  // past the drafter's positions: the target goes on alone
    if (g->pending) {
        drafter_context(d, &g->db, g->feats, g->pending, kv->len[0], g->kc, g->vc, kv->rope_cos, kv->rope_sin, 0);
        kv->len[0] += g->pending;
        g->pending = 0;
    }
    const int start = kv->len[0];
    embedding_lookup(g->xin, tokens, 1, &g->target->embed);
    for (int i = 1; i < B; i++) memcpy(g->xin + (size_t)i * C, g->mask_row, sizeof(float) * C);
    drafter_blocks(d, &g->db, g->xin, 1, &start, (const float *const *)g->kc, (const float *const *)g->vc,
                   kv->rope_cos, kv->rope_sin, 0);
    g->st->draft_passes++;
    const int nd = (room < B ? room : B) - 1;
    if (nd > 0) linear_forward(g->dlog, g->db.out + C, &g->target->lm_head, nd);
    for (int i = 0; i < nd; i++) {
        float *row = g->dlog + (size_t)i * V;
        decode_mask_vocab(row, V, g->o->vocab_limit);
        if (g->o->temperature > 0.0f) {
            float *q = g->q + (size_t)i * V;
            sampler_distribution(&g->dsm, row, q);
            tokens[1 + i] = draw(q, V, &g->dsm.rng);
        } else {
            tokens[1 + i] = sample_argmax(row, V);
        }
        parent[1 + i] = i;
    }
    g->st->t_draft += now_seconds() - t0;
    return 1 + nd;
}

// The draft model's proposal under the root tokens[0]: `width` first tokens,
// each continued to `depth` levels, level-major (nodes 1..w are level 1, the
// next w level 2, ...). Returns the number of nodes (root included).
static int draft_model(Spec *g, int32_t *tokens, int *parent, int room, char *err) {
    const int V = g->V, sampling = g->o->temperature > 0.0f;
    KVCache *kv = &g->dkv;
    // Catch up on the committed tokens up to the root.
    const int from = kv->len[0];
    double t0 = now_seconds();
    g->levels_fed = 0;
    const int n = (int)g->sq.n;
    if (n >= kv->max_T) return 1;  // past the draft's own context: the target goes on alone
    if (generate_forward_logits(kv, g->s->draft, g->sq.ids + from, n - from, from, g->dlog, 0, err)) return -1;
    g->st->draft_passes++;
    const int w = g->s->tree_width, space = kv->max_T - kv->len[0];
    int depth = g->s->draft_tokens;
    if (depth * w > room - 1) depth = (room - 1) / w;
    while (depth > 0 && (depth - 1) * w > space) depth--;  // the draft's own cache bounds the levels it runs
    int nn = 1;
    float *lg = g->dlog;
    if (depth < 1) goto out;
    for (int lv = 1; lv <= depth; lv++) {
        const int prev0 = lv == 1 ? 0 : 1 + (lv - 2) * w;  // the level these logits belong to
        for (int b = 0; b < w; b++) {
            const int par = lv == 1 ? 0 : prev0 + b;
            float *row = lg + (size_t)(lv == 1 ? 0 : b) * V;
            decode_mask_vocab(row, V, g->o->vocab_limit);
            int32_t t;
            if (lv == 1 && w > 1) {
                if (b == 0) top_ids(row, V, w, tokens + 1);
                t = tokens[1 + b];
            } else if (sampling) {
                float *q = g->q + (size_t)(lv - 1) * V;
                sampler_distribution(&g->dsm, row, q);
                t = draw(q, V, &g->dsm.rng);
            } else {
                t = sample_argmax(row, V);
            }
            tokens[nn] = t;
            parent[nn++] = par;
        }
        if (lv == depth) break;
        // Run this level in the draft's tree (its nodes are the target's
        // minus the root): logits of the next level.
        int dpar[SPEC_MAX_NODES];
        for (int i = 1; i < nn; i++) dpar[i - 1] = parent[i] - 1;
        if (generate_forward_tree(kv, g->s->draft, tokens + 1, dpar, nn - 1, nn - 1 - w, g->dlog, err)) return -1;
        g->st->draft_passes++;
        g->levels_fed = lv;
        lg = g->dlog;
    }
out:
    g->st->t_draft += now_seconds() - t0;
    return nn;
}

// A lookup proposal: branch-major chains under the root.
static int draft_lookup(Spec *g, int32_t *tokens, int *parent, int room) {
    int32_t out[SPEC_MAX_WIDTH * SPEC_MAX_DEPTH];
    int len[SPEC_MAX_WIDTH];
    const int K = g->s->draft_tokens;
    double t0 = now_seconds();
    const int nb = spec_lookup(g->sq.ids, (int)g->sq.n, K, g->s->tree_width, out, len);
    int nn = 1;
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < len[b] && nn < room; k++) {
            tokens[nn] = out[b * K + k];
            parent[nn] = k == 0 ? 0 : nn - 1;
            nn++;
        }
    g->st->t_draft += now_seconds() - t0;
    return nn;
}

// One round of sampling over a chain: returns the accepted length m (root
// included) and emits; *stop when generation ended.
static int sample_chain(Spec *g, uint64_t *rng, const int32_t *tokens, int nn, float *tlog, float *p,
                        int *stop) {
    const int V = g->V;
    for (int i = 0; i < nn; i++) {
        float *row = tlog + (size_t)i * V;
        decode_mask_vocab(row, V, g->o->vocab_limit);
        sampler_distribution(&g->sq.sm, row, p);
        if (i == nn - 1) {  // every draft kept: a bonus token from p
            *stop = seq_emit(&g->sq, draw(p, V, rng));
            return nn;
        }
        const int32_t d = tokens[i + 1];
        const int model_q = g->s->draft || g->s->dflash;
        const float qd = model_q ? g->q[(size_t)i * V + d] : 1.0f;
        if (sample_uniform(rng) * qd < p[d]) {
            g->st->accepted++;
            g->st->accepted_at[i]++;
            if ((*stop = seq_emit(&g->sq, d))) return i + 2;
            continue;
        }
        // Rejected: the residual max(0, p - q).
        if (model_q) {
            const float *q = g->q + (size_t)i * V;
            for (int v = 0; v < V; v++) p[v] = p[v] > q[v] ? p[v] - q[v] : 0.0f;
        } else {
            p[d] = 0.0f;
        }
        *stop = seq_emit(&g->sq, draw(p, V, rng));
        return i + 1;
    }
    return nn;
}

int spec_generate(const ModelWeights *target, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o,
                  const SpecOptions *s, DecodeTokenFn fn, void *user, SpecStats *st, char *err) {
    const ModelConfig *c = &target->config;
    const int V = c->vocab_size;
    memset(st, 0, sizeof *st);
    st->d = (DecodeStats){.n_prompt = n_prompt, .stop = "max-tokens"};
    if (spec_options_check(s, target, o, err)) return -1;
    Spec g = {.target = target, .o = o, .s = s, .V = V, .st = st};
    if (seq_init(&g.sq, c, prompt, n_prompt, o, fn, user, err)) return -1;
    if (g.sq.st.stop) {  // nothing to generate
        seq_free(&g.sq);
        return 0;
    }
    const int P = (int)n_prompt;
    // Room for the whole output plus one tree, within the context.
    long want = (long)P + o->max_tokens - 1 + SPEC_MAX_NODES;
    const int max_T = want < c->max_position_embeddings ? (int)want : c->max_position_embeddings;
    KVCache tkv;
    if (kvcache_init(&tkv, c, max_T, err)) {
        seq_free(&g.sq);
        return -1;
    }
    int rc = 0;
    if (s->draft || s->dflash) {
        int bad;
        if (s->draft) {
            const int dmax = s->draft->config.max_position_embeddings;
            bad = kvcache_init(&g.dkv, &s->draft->config, max_T < dmax ? max_T : dmax, err);
        } else {
            bad = dflash_init(&g, &tkv, max_T, err);
        }
        if (bad || sampler_init(&g.dsm, V, o->temperature, o->top_k, o->top_p, o->seed ^ 0x9e3779b97f4a7c15ull, err)) {
            kvcache_free(&g.dkv);
            dflash_free(&g);
            kvcache_free(&tkv);
            seq_free(&g.sq);
            return -1;
        }
        g.dlog = xmalloc(sizeof(float) * (size_t)SPEC_MAX_NODES * V);
        g.q = xmalloc(sizeof(float) * (size_t)SPEC_MAX_DEPTH * V);
    }
    uint64_t rng = o->seed ^ 0xd1b54a32d192ed03ull;  // acceptance and residual draws
    float *tlog = xmalloc(sizeof(float) * (size_t)SPEC_MAX_NODES * V), *p = xmalloc(sizeof(float) * (size_t)V);
    int32_t choice[SPEC_MAX_NODES], tokens[SPEC_MAX_NODES];
    int parent[SPEC_MAX_NODES], path[SPEC_MAX_NODES];

    // The prefill and the first token, exactly as decode_generate.
    double t0 = now_seconds();
    if (generate_forward(&tkv, target, prompt, P, 0, tlog, err)) { rc = -1; goto done; }
    if (s->dflash) dflash_feed(&g, &tkv, P);
    g.sq.st.t_prefill = now_seconds() - t0;
    const double t_start = now_seconds();
    int stop = seq_emit(&g.sq, seq_choose(&g.sq, tlog));
    while (!stop) {
        const int room = tkv.max_T - tkv.len[0] < SPEC_MAX_NODES ? tkv.max_T - tkv.len[0] : SPEC_MAX_NODES;
        tokens[0] = g.sq.ids[g.sq.n - 1];
        parent[0] = -1;
        int nn = 1;
        if (room > 1)
            nn = s->draft    ? draft_model(&g, tokens, parent, room, err)
                 : s->dflash ? draft_dflash(&g, tokens, parent, room)
                             : draft_lookup(&g, tokens, parent, room);
        if (nn < 0) { rc = -1; goto done; }
        st->drafted += nn - 1;
        t0 = now_seconds();
        if (generate_forward_tree(&tkv, target, tokens, parent, nn, 0, tlog, err)) { rc = -1; goto done; }
        st->t_verify += now_seconds() - t0;
        g.sq.st.n_steps++;
        int m;
        if (o->temperature > 0.0f) {
            m = sample_chain(&g, &rng, tokens, nn, tlog, p, &stop);
        } else {
            for (int u = 0; u < nn; u++) {
                decode_mask_vocab(tlog + (size_t)u * V, V, o->vocab_limit);
                choice[u] = sample_argmax(tlog + (size_t)u * V, V);
            }
            m = spec_tree_walk(tokens, parent, nn, choice, path);
            for (int d = 1; d < m && !stop; d++) {
                st->accepted++;
                st->accepted_at[d - 1]++;
                stop = seq_emit(&g.sq, tokens[path[d]]);
            }
            if (!stop) stop = seq_emit(&g.sq, choice[path[m - 1]]);
        }
        if (o->temperature > 0.0f)
            for (int d = 0; d < m; d++) path[d] = d;
        kvcache_commit_path(&tkv, path, m);
        if (s->dflash) dflash_feed(&g, &tkv, m);  // a chain: the path is rows 0..m-1
        if (s->draft) {
            // The draft cache keeps the accepted nodes it ran (levels up to
            // levels_fed), renumbered as its tree (the target's minus the root).
            int dpath[SPEC_MAX_NODES], dm = 0;
            for (int d = 1; d < m && d <= g.levels_fed; d++) dpath[dm++] = path[d] - 1;
            kvcache_commit_path(&g.dkv, dpath, dm);
        }
    }
    g.sq.st.t_decode = st->t_verify;
    g.sq.st.t_total = now_seconds() - t_start;
    st->d = g.sq.st;
done:
    free(tlog);
    free(p);
    free(g.dlog);
    free(g.q);
    if (s->draft || s->dflash) sampler_free(&g.dsm);
    kvcache_free(&g.dkv);
    dflash_free(&g);
    seq_free(&g.sq);
    kvcache_free(&tkv);
    return rc;
}
