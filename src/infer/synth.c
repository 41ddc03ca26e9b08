// synth.c — see synth.h.
#include "infer/synth.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "infer/decode.h"
#include "infer/generate.h"
#include "infer/sample.h"

// The longest prompt a sample starts from.
static int longest_prompt(const SynthOptions *o) {
    if (o->n_prompts <= 0) return o->prompt_tokens;
    int n = 0;
    for (int i = 0; i < o->n_prompts; i++) n = o->prompt_lens[i] > n ? o->prompt_lens[i] : n;
    return n;
}

static int check_options(const SynthOptions *o, size_t n_text, int max_pos, char *err) {
    if (o->samples < 1) return set_err(err, "synth: need at least one sample");
    if (o->n_seq < 1 || o->n_seq > KV_MAX_SEQS)
        return set_err(err, "synth: --batch-size must be in [1, %d] (got %d)", KV_MAX_SEQS, o->n_seq);
    if (o->new_tokens < 1 || (o->n_prompts <= 0 && o->prompt_tokens < 1))
        return set_err(err, "synth: --prompt-tokens and --max-tokens must be at least 1");
    for (int i = 0; i < o->n_prompts; i++)
        if (o->prompt_lens[i] < 1) return set_err(err, "synth: prompt %d is empty", i + 1);
    const int P = longest_prompt(o);
    if ((long)P + o->new_tokens > max_pos)
        return set_err(err, "synth: %d prompt + %d new tokens exceed the model's context of %d", P, o->new_tokens,
                       max_pos);
    if (!(o->temperature > 0)) return set_err(err, "synth: sampling needs a temperature > 0");
    if (o->n_prompts <= 0 && n_text < (size_t)o->prompt_tokens)
        return set_err(err, "synth: the prompt text has %zu tokens, fewer than one window of %d", n_text,
                       o->prompt_tokens);
    return 0;
}

// Sample i's prompt into seq; returns its length. The window's offset and
// the sampler's seed come from (seed, i) alone, through *st.
static int sample_prompt(const SynthOptions *o, const int32_t *text, size_t n_text, long i, uint64_t *st,
                         int32_t *seq) {
    if (o->n_prompts > 0) {
        const int k = (int)(i % o->n_prompts), n = o->prompt_lens[k];
        memcpy(seq, o->prompts[k], sizeof(int32_t) * (size_t)n);
        return n;
    }
    const int P = o->prompt_tokens;
    const size_t off = (size_t)(splitmix64(st) % (uint64_t)(n_text - P + 1));
    memcpy(seq, text + off, sizeof(int32_t) * (size_t)P);
    return P;
}

static int check_ids(const int32_t *ids, size_t n, int V, char *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return set_err(err, "synth: prompt token %d is outside the model's vocabulary of %d", (int)ids[i], V);
    return 0;
}

int synth_run(const ModelWeights *w, const int32_t *text, size_t n_text, const SynthOptions *o, SynthSampleFn fn,
              void *user, char *err) {
    const ModelConfig *c = &w->config;
    if (check_options(o, n_text, c->max_position_embeddings, err)) return -1;
    const int S = o->n_seq, G = o->new_tokens, V = c->vocab_size, L = longest_prompt(o) + G;
    if (o->n_prompts <= 0 && check_ids(text, n_text, V, err)) return -1;
    for (int i = 0; i < o->n_prompts; i++)
        if (check_ids(o->prompts[i], (size_t)o->prompt_lens[i], V, err)) return -1;
    KVCache kv;
    if (kvcache_init_seqs(&kv, c, L, S, err)) return -1;
    Sampler *smp = xcalloc((size_t)S, sizeof *smp);
    int32_t *seq = xmalloc(sizeof(int32_t) * (size_t)S * L), *tok = xmalloc(sizeof(int32_t) * S);
    int *len = xmalloc(sizeof(int) * S), *end = xmalloc(sizeof(int) * S), *done = xmalloc(sizeof(int) * S);
    float *logits = xmalloc_aligned(sizeof(float) * (size_t)S * V);
    int rc = 0;
    for (long first = 0; first < o->samples && rc == 0; first += S) {
        const int n = o->samples - first < S ? (int)(o->samples - first) : S;
        for (int s = 0; s < S; s++) {
            uint64_t st = o->seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)(first + s) * 0xd1b54a32d192ed03ull;
            len[s] = sample_prompt(o, text, n_text, first + s, &st, seq + (size_t)s * L);
            end[s] = len[s] + G;
            done[s] = s >= n;  // the last round's spare rows run but are not kept
            sampler_free(&smp[s]);
            if (sampler_init(&smp[s], V, o->temperature, o->top_k, o->top_p, splitmix64(&st), err)) { rc = -1; break; }
        }
        kvcache_reset(&kv);
        // One position of every sequence per pass: a sequence reads its
        // prompt, then samples one token per pass, until every one has ended.
        for (int pos = 0; rc == 0 && pos < L - 1; pos++) {
            for (int s = 0; s < S; s++) tok[s] = seq[(size_t)s * L + (pos < len[s] ? pos : len[s] - 1)];
            if (generate_forward_seqs(&kv, w, tok, logits, err)) { rc = -1; break; }
            int live = 0;
            for (int s = 0; s < S; s++) {
                if (done[s]) continue;
                if (pos + 1 < len[s]) {  // still reading its prompt
                    live++;
                    continue;
                }
                float *row = logits + (size_t)s * V;
                decode_mask_vocab(row, V, o->vocab_limit);
                int32_t t = sampler_sample(&smp[s], row);
                seq[(size_t)s * L + len[s]++] = t;
                done[s] = decode_is_eos(o->eos, o->n_eos, t) || len[s] == end[s];
                live += !done[s];
            }
            if (!live) break;
        }
        for (int s = 0; s < n && rc == 0; s++)
            if (fn(first + s, seq + (size_t)s * L, (size_t)len[s], user)) rc = set_err(err, "synth: stopped");
    }
    for (int s = 0; s < S; s++) sampler_free(&smp[s]);
    free(smp);
    free(seq);
    free(tok);
    free(len);
    free(end);
    free(done);
    free(logits);
    kvcache_free(&kv);
    return rc;
}
