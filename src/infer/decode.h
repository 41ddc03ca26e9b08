// decode.h — one sequence being decoded (Seq: its tokens, sampler and stop
// rules) and the one step loop that decodes several of them side by side
// (Decoder: a KV cache slot each, one row each a step). decode_generate is
// that loop with one sequence; synth (many samples), a server (many
// requests) run it with more; beam search and speculative decoding step
// their own way but keep a Seq's rules for choosing and stopping.
#ifndef TRIT_DECODE_H
#define TRIT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "infer/generate.h"
#include "infer/sample.h"
#include "model/weights.h"

typedef struct {
    long max_tokens;      // generate at most this many (0: none)
    float temperature;    // <= 0: greedy
    int top_k;            // 0: off
    float top_p;          // >= 1: off
    uint64_t seed;
    const int32_t *eos;   // tokens that end the sequence (not emitted)
    int n_eos;
    int vocab_limit;      // ids >= this are never produced (the embedding's padding rows); <= 0: none
} DecodeOptions;

typedef struct {
    size_t n_prompt;
    long n_generated;
    const char *stop;     // "eos", "max-tokens", "context full (max_position_embeddings)", "callback", "removed"
    int n_steps;          // decode forward passes (the prefill not counted)
    double t_prefill, t_decode, t_total;  // seconds: prefill, decode forwards, whole loop after the prefill
} DecodeStats;

// Whether t is one of the n end-of-sequence ids eos[].
int decode_is_eos(const int32_t *eos, int n, int32_t t);
// logits[limit..V) = -inf when limit > 0: ids the tokenizer cannot decode
// (the embedding's padding rows) are never produced.
void decode_mask_vocab(float *logits, int V, int limit);
// The prompt checks every decoder makes: not empty, within the context.
int decode_check_prompt(size_t n_prompt, int max_position_embeddings, char *err);

// Called with each generated token; a non-zero return stops the sequence.
typedef int (*DecodeTokenFn)(int32_t id, void *user);

// One sequence: ids[0..n) are the prompt, then every token emitted.
typedef struct {
    DecodeOptions o;      // a copy (eos still points at the caller's ids)
    int max_pos;          // the model's context
    int32_t *ids;
    size_t n, cap;
    Sampler sm;
    DecodeTokenFn fn;
    void *user;
    DecodeStats st;       // st.stop: NULL while the sequence goes on
    int32_t end_id;       // the EOS id that ended it (-1: none)
    int slot;             // its KV cache slot in a Decoder, -1 outside one
} Seq;

// Checks the prompt (decode_check_prompt) and the sampling settings, copies
// the prompt. Returns 0, or -1 with err.
int seq_init(Seq *s, const ModelConfig *c, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o,
             DecodeTokenFn fn, void *user, char *err);
void seq_free(Seq *s);
// The next token from logits[V] (masked to the vocabulary limit in place),
// by the sequence's sampler.
int32_t seq_choose(Seq *s, float *logits);
// Appends t to ids (an id the caller keeps, as synth keeps the EOS that
// ended a sample); no stop rule applies.
void seq_push(Seq *s, int32_t t);
// Takes t as decoding does: an EOS ends the sequence (not appended);
// otherwise t is appended and passed to the callback, and the sequence ends
// at max_tokens or when the context has no room to feed t back. Returns 1
// when the sequence has ended (st.stop says why).
int seq_emit(Seq *s, int32_t t);

// Sequences decoded side by side in one KV cache, a slot each.
typedef struct {
    const ModelWeights *w;
    KVCache kv;
    Seq *seq[KV_MAX_SEQS];  // the sequence in each slot (NULL: free)
    float *logits;          // (n_slots, V)
    int n_live;
} Decoder;

// A decoder of n_slots sequences of up to max_T positions each.
int decoder_init(Decoder *d, const ModelWeights *w, int n_slots, int max_T, char *err);
void decoder_free(Decoder *d);
// Puts s into a free slot: prefills its prompt alone (so its logits do not
// depend on the other slots) and chooses and emits its first token. A
// sequence that ends there does not keep the slot. Returns 0, or -1 with err
// (no free slot, a prompt the cache cannot hold).
int decoder_add(Decoder *d, Seq *s, char *err);
// Takes s out before it ends (a server's client that went away): its slot
// is free at once and st.stop says "removed" unless it had ended. A
// sequence in no slot of d is left as it is.
void decoder_remove(Decoder *d, Seq *s);
// One step: the last token of every live sequence through the model, one
// row each in one product per weight, then each chooses and emits its next.
// A sequence that ends leaves its slot (free for decoder_add). Returns the
// number of sequences still live, or -1 with err.
int decoder_step(Decoder *d, char *err);

// Generates from prompt[0..n_prompt) with the weights w (any storage type). Returns
// 0, or -1 with err (empty prompt, a token outside the vocabulary, a prompt
// longer than the context, bad sampling settings).
int decode_generate(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o, DecodeTokenFn fn,
                    void *user, DecodeStats *st, char *err);

#endif
