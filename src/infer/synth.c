// synth.c — see synth.h.
#include "infer/synth.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "infer/decode.h"
#include "infer/generate.h"
#include "infer/sample.h"

static int check_options(const SynthOptions *o, size_t n_text, int max_pos, char *err) {
    if (o->samples < 1) return set_err(err, "synth: need at least one sample");
    if (o->n_seq < 1 || o->n_seq > KV_MAX_SEQS)
        return set_err(err, "synth: --batch-size must be in [1, %d] (got %d)", KV_MAX_SEQS, o->n_seq);
    if (o->prompt_tokens < 1 || o->new_tokens < 1)
        return set_err(err, "synth: --prompt-tokens and --max-tokens must be at least 1");
    if ((long)o->prompt_tokens + o->new_tokens > max_pos)
        return set_err(err, "synth: %d prompt + %d new tokens exceed the model's context of %d", o->prompt_tokens,
                       o->new_tokens, max_pos);
    if (!(o->temperature > 0)) return set_err(err, "synth: sampling needs a temperature > 0");
    if (n_text < (size_t)o->prompt_tokens)
        return set_err(err, "synth: the prompt text has %zu tokens, fewer than one window of %d", n_text,
                       o->prompt_tokens);
    return 0;
}

int synth_run(const ModelWeights *w, const int32_t *text, size_t n_text, const SynthOptions *o, SynthSampleFn fn,
              void *user, char *err) {
    const ModelConfig *c = &w->config;
    if (check_options(o, n_text, c->max_position_embeddings, err)) return -1;
    const int S = o->n_seq, P = o->prompt_tokens, G = o->new_tokens, V = c->vocab_size;
    for (size_t i = 0; i < n_text; i++)
        if (text[i] < 0 || text[i] >= V)
            return set_err(err, "synth: prompt token %d is outside the model's vocabulary of %d", (int)text[i], V);
    KVCache kv;
    if (kvcache_init_seqs(&kv, c, P + G, S, err)) return -1;
    Sampler *smp = xcalloc((size_t)S, sizeof *smp);
    int32_t *seq = xmalloc(sizeof(int32_t) * (size_t)S * (P + G)), *tok = xmalloc(sizeof(int32_t) * S);
    int *len = xmalloc(sizeof(int) * S), *done = xmalloc(sizeof(int) * S);
    float *logits = xmalloc_aligned(sizeof(float) * (size_t)S * V);
    int rc = 0;
    for (long first = 0; first < o->samples && rc == 0; first += S) {
        const int n = o->samples - first < S ? (int)(o->samples - first) : S;
        // Each sample's window and sampler come from (seed, index) alone.
        for (int s = 0; s < S; s++) {
            uint64_t st = o->seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)(first + s) * 0xd1b54a32d192ed03ull;
            size_t off = (size_t)(splitmix64(&st) % (uint64_t)(n_text - P + 1));
            memcpy(seq + (size_t)s * (P + G), text + off, sizeof(int32_t) * P);
            len[s] = P;
            done[s] = s >= n;  // the last round's spare rows run but are not kept
            sampler_free(&smp[s]);
            if (sampler_init(&smp[s], V, o->temperature, o->top_k, o->top_p, splitmix64(&st), err)) { rc = -1; break; }
        }
        kvcache_reset(&kv);
        // The prompt windows, one position of every sequence per pass, then
        // one sampled token per pass until every sequence has ended.
        for (int pos = 0; rc == 0 && pos < P + G - 1; pos++) {
            for (int s = 0; s < S; s++) tok[s] = seq[(size_t)s * (P + G) + (pos < len[s] ? pos : len[s] - 1)];
            if (generate_forward_seqs(&kv, w, tok, logits, err)) { rc = -1; break; }
            if (pos + 1 < P) continue;
            int live = 0;
            for (int s = 0; s < S; s++) {
                if (done[s]) continue;
                float *row = logits + (size_t)s * V;
                decode_mask_vocab(row, V, o->vocab_limit);
                int32_t t = sampler_sample(&smp[s], row);
                seq[(size_t)s * (P + G) + len[s]++] = t;
                done[s] = decode_is_eos(o->eos, o->n_eos, t) || len[s] == P + G;
                live += !done[s];
            }
            if (!live) break;
        }
        for (int s = 0; s < n && rc == 0; s++)
            if (fn(first + s, seq + (size_t)s * (P + G), (size_t)len[s], user)) rc = set_err(err, "synth: stopped");
    }
    for (int s = 0; s < S; s++) sampler_free(&smp[s]);
    free(smp);
    free(seq);
    free(tok);
    free(len);
    free(done);
    free(logits);
    kvcache_free(&kv);
    return rc;
}
