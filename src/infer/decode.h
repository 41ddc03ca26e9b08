// decode.h — the decode loop: prefill the prompt once, then sample one token
// at a time with the KV cache until an end-of-sequence token, max_tokens or
// the model's context. The CLI (apps/cmd_generate.c) only parses arguments
// and prints; beam search and speculative decoding build on the same pieces.
#ifndef TRIT_DECODE_H
#define TRIT_DECODE_H

#include <stddef.h>
#include <stdint.h>

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
    const char *stop;     // "eos", "max-tokens", "context full (max_position_embeddings)", "callback"
    int n_steps;          // decode forward passes (the prefill not counted)
    double t_prefill, t_decode, t_total;  // seconds: prefill, decode forwards, whole loop after the prefill
} DecodeStats;

// Whether t is one of the n end-of-sequence ids eos[].
int decode_is_eos(const int32_t *eos, int n, int32_t t);
// logits[limit..V) = -inf when limit > 0: ids the tokenizer cannot decode
// (the embedding's padding rows) are never produced.
void decode_mask_vocab(float *logits, int V, int limit);

// Called with each generated token; a non-zero return stops the loop.
typedef int (*DecodeTokenFn)(int32_t id, void *user);

// Generates from prompt[0..n_prompt) with the weights w (any storage type). Returns
// 0, or -1 with err (empty prompt, a token outside the vocabulary, a prompt
// longer than the context, bad sampling settings).
int decode_generate(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o, DecodeTokenFn fn,
                    void *user, DecodeStats *st, char *err);

#endif
