// decode.c — see decode.h.
#include "infer/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int decode_is_eos(const int32_t *eos, int n, int32_t t) {
    for (int i = 0; i < n; i++)
        if (eos[i] == t) return 1;
    return 0;
}

void decode_mask_vocab(float *logits, int V, int limit) {
    if (limit > 0)
        for (int i = limit; i < V; i++) logits[i] = -INFINITY;
}

int decode_check_prompt(size_t n_prompt, int max_position_embeddings, char *err) {
    if (n_prompt == 0) return set_err(err, "the prompt encodes to no tokens");
    if (n_prompt > (size_t)max_position_embeddings)
        return set_err(err, "the prompt has %zu tokens; the model's max_position_embeddings is %d", n_prompt,
                       max_position_embeddings);
    return 0;
}

int seq_init(Seq *s, const ModelConfig *c, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o,
             DecodeTokenFn fn, void *user, char *err) {
    memset(s, 0, sizeof *s);
    if (decode_check_prompt(n_prompt, c->max_position_embeddings, err)) return -1;
    if (sampler_init(&s->sm, c->vocab_size, o->temperature, o->top_k, o->top_p, o->seed, err)) return -1;
    s->o = *o;
    s->max_pos = c->max_position_embeddings;
    s->cap = n_prompt + 16;
    s->ids = xmalloc(sizeof(int32_t) * s->cap);
    memcpy(s->ids, prompt, sizeof(int32_t) * n_prompt);
    s->n = n_prompt;
    s->fn = fn;
    s->user = user;
    s->st.n_prompt = n_prompt;
    s->end_id = -1;
    s->slot = -1;
    if (o->max_tokens <= 0) s->st.stop = "max-tokens";
    return 0;
}

void seq_free(Seq *s) {
    free(s->ids);
    sampler_free(&s->sm);
    memset(s, 0, sizeof *s);
}

int32_t seq_choose(Seq *s, float *logits) {
    decode_mask_vocab(logits, s->sm.V, s->o.vocab_limit);
    return sampler_sample(&s->sm, logits);
}

void seq_push(Seq *s, int32_t t) {
    if (s->n == s->cap) {
        s->cap *= 2;
        s->ids = xrealloc(s->ids, sizeof(int32_t) * s->cap);
    }
    s->ids[s->n++] = t;
}

int seq_emit(Seq *s, int32_t t) {
    if (decode_is_eos(s->o.eos, s->o.n_eos, t)) {
        s->end_id = t;
        s->st.stop = "eos";
        return 1;
    }
    seq_push(s, t);
    s->st.n_generated++;
    if (s->fn && s->fn(t, s->user)) s->st.stop = "callback";
    else if (s->st.n_generated >= s->o.max_tokens) s->st.stop = "max-tokens";
    // t is fed back at position n - 1: none past the context.
    else if (s->n - 1 >= (size_t)s->max_pos) s->st.stop = "context full (max_position_embeddings)";
    return s->st.stop != NULL;
}

int decoder_init(Decoder *d, const ModelWeights *w, int n_slots, int max_T, char *err) {
    memset(d, 0, sizeof *d);
    if (kvcache_init_slots(&d->kv, &w->config, max_T, n_slots, err)) return -1;
    d->w = w;
    d->logits = xmalloc_aligned(sizeof(float) * (size_t)n_slots * w->config.vocab_size);
    return 0;
}

void decoder_free(Decoder *d) {
    kvcache_free(&d->kv);
    free(d->logits);
    memset(d, 0, sizeof *d);
}

// s leaves its slot: the slot's positions are forgotten.
static void leave(Decoder *d, Seq *s) {
    d->kv.len[s->slot] = 0;
    d->seq[s->slot] = NULL;
    s->slot = -1;
    d->n_live--;
}

int decoder_add(Decoder *d, Seq *s, char *err) {
    int slot = 0;
    while (slot < d->kv.n_slots && d->seq[slot]) slot++;
    if (slot == d->kv.n_slots) return set_err(err, "decoder: all %d slots are busy", d->kv.n_slots);
    const double t0 = now_seconds();
    if (generate_forward_slot(&d->kv, d->w, slot, s->ids, (int)s->n, 0, d->logits, 0, err)) return -1;
    s->st.t_prefill = now_seconds() - t0;
    s->slot = slot;
    d->seq[slot] = s;
    d->n_live++;
    if (s->st.stop || seq_emit(s, seq_choose(s, d->logits))) leave(d, s);
    return 0;
}

void decoder_remove(Decoder *d, Seq *s) {
    if (s->slot < 0 || d->seq[s->slot] != s) return;
    if (!s->st.stop) s->st.stop = "removed";
    leave(d, s);
}

int decoder_step(Decoder *d, char *err) {
    const int V = d->w->config.vocab_size;
    int slots[KV_MAX_SEQS], n = 0;
    int32_t tok[KV_MAX_SEQS];
    for (int i = 0; i < d->kv.n_slots; i++)
        if (d->seq[i]) {
            slots[n] = i;
            tok[n++] = d->seq[i]->ids[d->seq[i]->n - 1];
        }
    if (n == 0) return 0;
    const double t0 = now_seconds();
    if (generate_forward_rows(&d->kv, d->w, slots, tok, n, d->logits, err)) return -1;
    const double dt = now_seconds() - t0;
    for (int i = 0; i < n; i++) {
        Seq *s = d->seq[slots[i]];
        s->st.t_decode += dt;
        s->st.n_steps++;
        if (seq_emit(s, seq_choose(s, d->logits + (size_t)i * V))) leave(d, s);
    }
    return d->n_live;
}

int decode_generate(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o, DecodeTokenFn fn,
                    void *user, DecodeStats *st, char *err) {
    const ModelConfig *c = &w->config;
    *st = (DecodeStats){.n_prompt = n_prompt, .stop = "max-tokens"};
    Seq s;
    if (seq_init(&s, c, prompt, n_prompt, o, fn, user, err)) return -1;
    // The cache holds the prompt and every generated token but the last
    // (which is never fed back), up to the model's context.
    long want = (long)n_prompt + (o->max_tokens > 0 ? o->max_tokens - 1 : 0);
    int max_T = want < c->max_position_embeddings ? (int)want : c->max_position_embeddings;
    Decoder d;
    if (decoder_init(&d, w, 1, max_T, err)) {
        seq_free(&s);
        return -1;
    }
    int rc = decoder_add(&d, &s, err);
    const double t_start = now_seconds();
    while (rc == 0 && d.n_live > 0) rc = decoder_step(&d, err) < 0 ? -1 : 0;
    s.st.t_total = now_seconds() - t_start;
    if (rc == 0) *st = s.st;
    decoder_free(&d);
    seq_free(&s);
    return rc;
}
