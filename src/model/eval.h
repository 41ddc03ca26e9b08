// eval.h — perplexity of a model over a token stream.
#ifndef TRIT_EVAL_H
#define TRIT_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/weights.h"

typedef struct {
    double nll_sum;     // summed negative log-likelihood (nats)
    size_t n_predicted; // tokens scored
    size_t n_windows;
    double ppl;         // exp(nll_sum / n_predicted)
    double seconds;
} EvalResult;

// Splits ids[0..n) into non-overlapping windows of seq_len inputs; window w
// reads ids[w*T .. w*T+T) and predicts ids[w*T+1 .. w*T+T], so every token
// but the first is predicted exactly once, each window from a fresh context.
// Windows go through the model `batch` at a time; the last one may be short.
// max_tokens > 0 limits the tokens scored. `progress` draws a bar on stderr.
// w: the weights to evaluate (fp32 views of a model's own or of a
// trainer's ternary forward copy, or packed blocks); the activations live in
// a workspace of the call's own.
int eval_perplexity(const ModelWeights *w, const int32_t *ids, size_t n, int seq_len, int batch,
                    size_t max_tokens, int progress, EvalResult *r, char *err);

#endif
