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

// Samples in flight: assigned to a slot in order, handed to the sink in
// order, so a window of 2·n_seq of them (a long sample holds back the
// delivery of the ones after it, not the decoding).
typedef struct {
    const SynthOptions *o;
    const int32_t *text;
    size_t n_text;
    const ModelConfig *c;
    Seq *win;         // sample i in win[i % n_win]
    int n_win;
    int32_t *prompt;  // one prompt's scratch
    long next, done;  // the next sample to start; samples handed to the sink
} Flight;

// Starts sample i in the decoder.
static int start(Flight *f, Decoder *d, long i, char *err) {
    const SynthOptions *o = f->o;
    uint64_t st = o->seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)i * 0xd1b54a32d192ed03ull;
    const int n = sample_prompt(o, f->text, f->n_text, i, &st, f->prompt);
    const DecodeOptions dopt = {.max_tokens = o->new_tokens, .temperature = o->temperature, .top_k = o->top_k,
                                .top_p = o->top_p, .seed = splitmix64(&st), .eos = o->eos, .n_eos = o->n_eos,
                                .vocab_limit = o->vocab_limit};
    Seq *s = &f->win[i % f->n_win];
    if (seq_init(s, f->c, f->prompt, (size_t)n, &dopt, NULL, NULL, err)) return -1;
    return decoder_add(d, s, err);
}

int synth_run(const ModelWeights *w, const int32_t *text, size_t n_text, const SynthOptions *o, SynthSampleFn fn,
              void *user, char *err) {
    const ModelConfig *c = &w->config;
    if (check_options(o, n_text, c->max_position_embeddings, err)) return -1;
    const int S = o->n_seq, V = c->vocab_size, P = longest_prompt(o);
    if (o->n_prompts <= 0 && check_ids(text, n_text, V, err)) return -1;
    for (int i = 0; i < o->n_prompts; i++)
        if (check_ids(o->prompts[i], (size_t)o->prompt_lens[i], V, err)) return -1;
    Decoder d;
    // A slot holds the prompt and every sampled token but the last.
    if (decoder_init(&d, w, S, P + o->new_tokens - 1 > 0 ? P + o->new_tokens - 1 : 1, err)) return -1;
    Flight f = {.o = o, .text = text, .n_text = n_text, .c = c, .n_win = 2 * S};
    f.win = xcalloc((size_t)f.n_win, sizeof(Seq));
    f.prompt = xmalloc(sizeof(int32_t) * (size_t)P);
    int rc = 0;
    while (rc == 0 && f.done < o->samples) {
        // Fill the free slots, within the window.
        while (rc == 0 && d.n_live < S && f.next < o->samples && f.next < f.done + f.n_win)
            rc = start(&f, &d, f.next++, err);
        // Hand over the finished samples at the head, in order.
        while (rc == 0 && f.done < f.next && f.win[f.done % f.n_win].st.stop) {
            Seq *s = &f.win[f.done % f.n_win];
            if (s->end_id >= 0) seq_push(s, s->end_id);  // an EOS stays as the sample's last id
            if (fn(f.done, s->ids, s->n, user)) rc = set_err(err, "synth: stopped");
            seq_free(s);
            f.done++;
        }
        if (rc == 0 && d.n_live > 0 && decoder_step(&d, err) < 0) rc = -1;
    }
    for (int i = 0; i < f.n_win; i++) seq_free(&f.win[i]);
    free(f.win);
    free(f.prompt);
    decoder_free(&d);
    return rc;
}
