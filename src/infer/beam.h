// beam.h — beam search with the semantics of Hugging Face transformers'
// generate(num_beams=N, do_sample=False) (its vectorised _beam_search, 5.x):
//
//   * the N running beams start as one prompt, with scores (0, -1e9, ...), so
//     the first step draws every candidate from one beam;
//   * a step adds each beam's log-softmax to its score and keeps the top
//     K = max(2, 1 + n_eos) · N continuations over all N · V;
//   * a continuation "finishes" when its token is an EOS or the generated
//     length reaches max_tokens; among the K only the first N may enter the
//     finished set, scored sum_logprobs / generated_len^length_penalty
//     (generated_len counts the new token, an EOS included); the finished set
//     keeps the best N ever seen;
//   * the N best unfinished continuations are the next running beams (the
//     KV cache is reordered to them);
//   * early_stopping: TRUE stops once N hypotheses are finished; FALSE stops
//     when the best running beam's score / current_len^lp cannot beat the
//     worst finished one; NEVER does the same with max_tokens as the length
//     when length_penalty > 0 (the canonical beam search);
//   * the result is the best num_return finished hypotheses, best first.
// The beams decode together: one KV cache holding N interleaved sequences,
// one N-row product per weight a step. num_beams == 1 is plain greedy
// decoding (decode.h), as transformers does.
#ifndef TRIT_BEAM_H
#define TRIT_BEAM_H

#include <stddef.h>
#include <stdint.h>

#include "model/weights.h"

enum { BEAM_EARLY_FALSE = 0, BEAM_EARLY_TRUE = 1, BEAM_EARLY_NEVER = 2 };

typedef struct {
    int num_beams;         // >= 2
    float length_penalty;  // transformers' default 1.0
    int early_stopping;    // BEAM_EARLY_*; transformers' default FALSE
    int num_return;        // in [1, num_beams]
    long max_tokens;       // >= 1: generated tokens at most (EOS counted)
    const int32_t *eos;
    int n_eos;
    int vocab_limit;       // ids >= this are never produced; <= 0: none
} BeamOptions;

typedef struct {
    int32_t *ids;  // generated ids, the EOS excluded
    int n;
    int eos;       // 1: ended with an EOS token (not in ids)
    float score;   // sum of log-probabilities (EOS included) / (n + eos)^length_penalty
} BeamHyp;

typedef struct {
    BeamHyp *hyp;  // num_return of them, best first
    int n_hyp;
    int n_steps;           // N-row decode passes after the prefill
    double t_prefill;
    double t_decode;       // the steps: candidate selection, KV reorder and the N-row forward
} BeamResult;

// Returns 0, or -1 with err (bad options, an empty or too long prompt).
int beam_search(const ModelWeights *w, const int32_t *prompt, size_t n_prompt, const BeamOptions *o, BeamResult *r,
                char *err);
void beam_result_free(BeamResult *r);

// The checks beam_search makes on its options, for the CLI to call first.
int beam_options_check(const BeamOptions *o, char *err);

#endif
