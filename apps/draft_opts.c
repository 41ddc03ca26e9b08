// draft_opts.c — see draft_opts.h.
#include "draft_opts.h"

#include "base/util.h"
#include "opts.h"

int draft_opts_setup(const char *path, int pack_given, int tokens_given, SpecOptions *so, const DecodeOptions *o,
                     Drafter *dfl) {
    if (!path) return -1;
    char err[ERR_LEN];
    if (drafter_is_dir(path)) {
        if (pack_given) return opts_error("--draft-pack packs a draft model; a DFlash drafter runs in fp32");
        if (drafter_load(dfl, path, err)) die("draft: %s", err);
        if (!tokens_given) so->draft_tokens = dfl->dc.block_size - 1;
        so->dflash = dfl;
    }
    if (spec_options_check(so, NULL, o, err)) {
        drafter_free(dfl);
        so->dflash = NULL;
        return opts_error("%s", err);
    }
    return -1;
}
