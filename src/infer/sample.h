// sample.h — choosing the next token from logits: greedy, or sampling with
// temperature, top-k and top-p (nucleus), applied in that order as HF
// transformers' generate() does, from a seedable RNG.
//
//   temperature  logits / T; T <= 0 means greedy
//   top-k        keep the k largest logits (0 = off); exact ties at the k-th
//                place are broken by the lower id, so exactly k are kept
//                (HF keeps every tied logit; the two differ only on ties)
//   top-p        on the probabilities after temperature and top-k, sorted
//                descending: keep the smallest prefix whose mass is >= p
//                (p >= 1 = off); at least one token is always kept
//
// Greedy is argmax over the raw logits, ties to the lowest id. Sampling
// draws once per token from a splitmix64 stream, so the same seed, settings
// and logits give the same tokens on every machine.
#ifndef TRIT_SAMPLE_H
#define TRIT_SAMPLE_H

#include <stdint.h>

typedef struct {
    float v;     // logit, then probability
    int32_t id;
} SampleCand;

typedef struct {
    int V;              // vocabulary size (length of every logits array)
    float temperature;  // <= 0: greedy
    int top_k;          // 0: off
    float top_p;        // >= 1: off
    int greedy;         // set by sampler_init when temperature <= 0
    uint64_t rng;       // splitmix64 state
    SampleCand *cand;   // (V) scratch: the kept candidates, best first
} Sampler;

// Returns 0, or -1 with err for V < 1, top_k < 0, top_p not in (0, 1] or a
// non-finite temperature.
int sampler_init(Sampler *s, int V, float temperature, int top_k, float top_p, uint64_t seed, char *err);
void sampler_free(Sampler *s);

// The next token for logits[V].
int32_t sampler_sample(Sampler *s, const float *logits);

// The distribution sampler_sample draws from: probs[V] (zero for the tokens
// that temperature/top-k/top-p removed; for greedy a one at the argmax).
// Does not advance the RNG. Returns the number of tokens kept.
int sampler_distribution(Sampler *s, const float *logits, float *probs);

// argmax over n logits, ties to the lowest id (NaNs are never chosen unless
// every value is NaN, then 0).
int32_t sample_argmax(const float *logits, int n);

// Uniform in [0, 1) with 53 random bits; advances *state (splitmix64).
double sample_uniform(uint64_t *state);

#endif
