// spec.h — lossless speculative decoding: a cheap drafter proposes tokens,
// the target model checks all of them in one forward pass over its KV cache.
//
// Drafters: a draft model with the same tokenizer (a ternary student of the
// target, say), or prompt lookup (the continuation of the longest n-gram of
// the text so far that occurred before in it; no second model).
//
// The proposal is a token tree whose root is the last committed token (the
// one the target has not yet seen). A chain (width 1) is K drafted tokens;
// a tree of width W puts the drafter's W best first tokens under the root
// and continues each greedily to depth K (a draft model), or W different
// earlier continuations (lookup). The target scores the whole tree at once
// (generate_forward_tree: each node sees the committed prefix and its
// ancestors, at position prefix + depth). A node is checked against the
// target's distribution at its parent (the first drafted tokens against the
// root's); the accepted path is committed and both caches are compacted to
// it (kvcache_commit_path), the rest is forgotten.
//
// Greedy: a drafted token is accepted iff it is the target's argmax there,
// and the target's own argmax follows the accepted path; since a node's
// logits equal those of plain decoding bit for bit, the output is identical
// to decode_generate's for every prompt and length.
// Sampling (chains only): rejection sampling — a drafted token d drawn from
// the drafter's q is kept with probability min(1, p(d) / q(d)), else the
// token is drawn from normalize(max(0, p − q)) and the round ends; after K
// accepted tokens a bonus token is drawn from p. p and q are the sampler's
// distributions (temperature, top-k, top-p: sample.h); lookup drafts are
// point masses. The output is distributed as the target's own sampler's.
#ifndef TRIT_SPEC_H
#define TRIT_SPEC_H

#include "infer/decode.h"
#include "model/drafter.h"

// Most nodes of one tree (root included), so that one verification pass is
// a decode-sized product (kernels/linear.h LINEAR_DECODE_ROWS).
#define SPEC_MAX_NODES 64
#define SPEC_LOOKUP_NGRAM 3  // longest n-gram prompt lookup tries

typedef struct {
    const ModelWeights *draft;  // NULL: prompt lookup (or a DFlash drafter)
    const Drafter *dflash;      // a DFlash drafter (model/drafter.h): a chain of B - 1 tokens
                                // drafted in one pass from the target's own hidden states
    int draft_tokens;           // K >= 1: tokens a branch drafts (DFlash: B - 1)
    int tree_width;             // W >= 1: branches under the root (1: a chain)
} SpecOptions;

typedef struct {
    DecodeStats d;       // n_steps: target verification passes
    long drafted;        // drafted tokens offered to the target (tree nodes but the root)
    long accepted;       // drafted tokens the target kept
    long draft_passes;   // forward passes of the draft model
    long accepted_at[SPEC_MAX_NODES];  // chains: rounds whose draft i (0-based) was accepted
    double t_draft, t_verify;  // seconds in the drafter and in the target's passes
} SpecStats;

// Checks the options (depth, width, node budget, trees only when greedy)
// and, given a target (may be NULL), the draft model's vocabulary (or the
// DFlash drafter's shape, taps and block) against it.
int spec_options_check(const SpecOptions *s, const ModelWeights *target, const DecodeOptions *o, char *err);

// As decode_generate, drafting with s. Returns 0, or -1 with err.
int spec_generate(const ModelWeights *target, const int32_t *prompt, size_t n_prompt, const DecodeOptions *o,
                  const SpecOptions *s, DecodeTokenFn fn, void *user, SpecStats *st, char *err);

// The greedy walk over a scored tree: from the root (node 0), follow the
// child whose token is the target's choice at the current node (choice[u],
// the argmax of node u's logits), while there is one. Writes the accepted
// path (node 0 first) to path and returns its length m >= 1; the token that
// follows the path is choice[path[m - 1]]. parent[i] < i, parent[0] = -1;
// among children with the same token the first is taken.
int spec_tree_walk(const int32_t *tokens, const int *parent, int n, const int32_t *choice, int *path);

// The longest suffix (up to SPEC_LOOKUP_NGRAM tokens) of seq[0..n) that
// occurred earlier in seq; writes up to max_out of the tokens that followed
// its most recent earlier occurrences, one branch per distinct first token,
// up to `width` branches: out[b * max_out ..], lengths in len[b]. Returns
// the number of branches (0: no match).
int spec_lookup(const int32_t *seq, int n, int max_out, int width, int32_t *out, int *len);

#endif
