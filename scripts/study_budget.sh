#!/bin/sh
# The budget a perplexity goal needs, read off two finished runs of the same
# recipe at different budgets (each at the end of its own cosine schedule):
# fits ppl = c * tokens^-b through the two points and solves for the goal.
#   scripts/study_budget.sh TOKENS1 PPL1 TOKENS2 PPL2 GOAL_PPL
# A rough guide, not a law: two points fix a power law, they do not test it.
set -eu
[ $# -eq 5 ] || { echo "usage: $0 TOKENS1 PPL1 TOKENS2 PPL2 GOAL_PPL" >&2; exit 2; }
awk -v t1="$1" -v p1="$2" -v t2="$3" -v p2="$4" -v g="$5" 'BEGIN {
    if (t1 <= 0 || t2 <= 0 || t1 == t2 || p1 <= 0 || p2 <= 0 || g <= 0) { print "bad arguments" > "/dev/stderr"; exit 2 }
    b = log(p1 / p2) / log(t2 / t1)
    if (b <= 0) { print "perplexity does not fall with tokens: no budget reaches the goal" > "/dev/stderr"; exit 1 }
    need = t2 * exp(log(p2 / g) / b)
    printf "ppl ~ tokens^-%.3f: each doubling of tokens divides perplexity by %.3f; ppl %s needs ~%.3g tokens (%.0fx the second run)\n", b, exp(b * log(2)), g, need, need / t2
}'
