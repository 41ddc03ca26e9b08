// prof.c — see prof.h.
#include "base/prof.h"

double *prof_seconds;
const char *const prof_names[PROF_COUNT] = {"embedding", "norms", "q/k/v", "rope", "attention", "o_proj",
                                            "residual", "gate/up", "swiglu", "down", "LM head"};
