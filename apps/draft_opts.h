// draft_opts.h — --draft for trit generate and trit serve.
#ifndef TRIT_DRAFT_OPTS_H
#define TRIT_DRAFT_OPTS_H

#include "infer/decode.h"
#include "infer/spec.h"
#include "model/drafter.h"

// A DFlash drafter (recognised by its directory) is small, so it is loaded
// before anything else: its block sizes so->draft_tokens when --draft-tokens
// is not given (tokens_given 0), and so->dflash points at it. Then the
// library checks the speculative flags (spec_options_check without the
// target), so that a bad combination is a usage error before the target
// loads. path NULL: no --draft, nothing to do. Returns -1 when the command
// goes on, or the exit status of a usage error (dfl freed); a drafter that
// does not load dies with its message.
int draft_opts_setup(const char *path, int pack_given, int tokens_given, SpecOptions *so, const DecodeOptions *o,
                     Drafter *dfl);

#endif
