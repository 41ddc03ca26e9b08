// cmd_train_drafter.c — `trit train-drafter`: a DFlash drafter for a target
// (train/drafter_train.h), its held-out τ measured with the real decoding
// loop (infer/spec.h).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"
#include "infer/chat.h"
#include "infer/decode.h"
#include "infer/source.h"
#include "infer/spec.h"
#include "opts.h"
#include "train/data.h"
#include "train/drafter_train.h"

typedef struct {
    const ModelSource *src;
    ChatPrompts prompts;
    int max_tokens;
    int32_t eos[3];
    int n_eos;
} Val;

static int discard(int32_t id, void *user) {
    (void)id;
    (void)user;
    return 0;
}

// Greedy decoding of each held-out prompt with the drafter: τ, the tokens
// a target pass commits, over all of them.
static double validate(const Drafter *d, void *user) {
    Val *v = user;
    const DecodeOptions o = {.max_tokens = v->max_tokens, .temperature = 0.0f, .top_p = 1.0f, .eos = v->eos,
                             .n_eos = v->n_eos, .vocab_limit = tokenizer_vocab_size(v->src->tok)};
    const SpecOptions so = {.dflash = d, .draft_tokens = d->dc.block_size - 1, .tree_width = 1};
    long tokens = 0, passes = 0;
    char err[ERR_LEN];
    for (int i = 0; i < v->prompts.n; i++) {
        SpecStats ss;
        if (spec_generate(&v->src->w, v->prompts.ids[i], (size_t)v->prompts.lens[i], &o, &so, discard, NULL, &ss,
                          err)) {
            fprintf(stderr, "trit: validation: %s\n", err);
            return -1.0;
        }
        tokens += ss.d.n_generated - 1;
        passes += ss.d.n_steps;
    }
    return passes ? (double)tokens / (double)passes : 0.0;
}

// Parses "1,8,14" into taps; -1 on a malformed list.
static int parse_taps(const char *s, int *taps, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        const long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 4096 || *n == DRAFTER_MAX_TAPS) return -1;
        taps[(*n)++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return *n ? 0 : -1;
}

int cmd_train_drafter(int argc, char **argv) {
    const char *target = NULL, *data = NULL, *out = NULL, *taps_arg = NULL, *val_path = NULL;
    int layers = 1, block = 8, anchors = 32, seq_len = 512, batch = 1, mask_id = -1, val_tokens = 64;
    long steps = 200, ckpt = 50, val_every = 0;
    double minutes = 0.0, lr = 6e-4, gamma = 0.0, cache_gb = 4.0;
    uint64_t seed = 1;
    int loss = DRAFTER_LOSS_CE;
    static const int loss_values[] = {DRAFTER_LOSS_CE, DRAFTER_LOSS_DPACE};
    const Opt opts[] = {
        {"--target", OPT_STR, &target, "DIR|FILE.gguf", .required = 1,
         .help = "the model to draft for (frozen; HF directory in fp32, or a GGUF run packed)"},
        {"--data", OPT_STR, &data, "FILE[,FILE...]", .required = 1,
         .help = "training text: token files (trit synth --chat: the target's own answers;\n"
                 "only assistant turns are labels) or plain text / .jsonl (every token is)"},
        {"--out", OPT_STR, &out, "DIR", .required = 1,
         .help = "the drafter (published DFlash layout); DIR.work/ keeps checkpoints and the log"},
        {"--layers", OPT_INT, &layers, "N", 1, DRAFTER_MAX_LAYERS, .help = "drafter layers (1)"},
        {"--block", OPT_INT, &block, "B", 2, DRAFTER_MAX_BLOCK,
         .help = "tokens a block holds: the last committed one and B - 1 drafts (8)"},
        {"--taps", OPT_STR, &taps_arg, "LIST",
         .help = "target layers (0-based) whose outputs the drafter reads, e.g. 1,8,14,20,27\n"
                 "(default: 5 spread from layer 1 to L - 3, the published rule)"},
        {"--mask-token", OPT_INT, &mask_id, "ID", -1, 1 << 30,
         .help = "the target's embedding row of the masked slots (-1, default: a mask\n"
                 "embedding of the drafter's own, trained)"},
        {"--anchors", OPT_INT, &anchors, "K", 1, 256, .help = "blocks drawn per sequence (32)"},
        {"--seq-len", OPT_INT, &seq_len, "T", 16, 1 << 16, .help = "tokens per training sequence (512)"},
        {"--batch-size", OPT_INT, &batch, "S", 1, 64, .help = "sequences per step (1)"},
        {"--steps", OPT_LONG, &steps, "N", 1, 1L << 30, .help = "optimizer steps (200)"},
        {"--minutes", OPT_DOUBLE, &minutes, "M", 0.0, 1e6,
         .help = "a time budget instead: the steps it buys, measured here"},
        {"--lr", OPT_DOUBLE, &lr, "X", 0.0, 1.0, .help = "peak learning rate (6e-4; warm-up 4 %, cosine to 0)"},
        {"--gamma", OPT_DOUBLE, &gamma, "G", 0.0, 1000.0,
         .help = "block position k's loss weight exp(-(k-1)/G) (default B / 2)"},
        {"--loss", OPT_CHOICE, &loss, "ce|dpace", .values = loss_values,
         .help = "the decayed cross-entropy (ce, default) or D-PACE's acceptance-weighted one"},
        {"--seed", OPT_U64, &seed, "S", .help = "initialisation, sequence order and anchors (1)"},
        {"--checkpoint-every", OPT_LONG, &ckpt, "N", 0, 1L << 30,
         .help = "steps between checkpoints in DIR.work/ (50; a rerun resumes)"},
        {"--cache-gb", OPT_DOUBLE, &cache_gb, "G", 0.0, 1e4,
         .help = "the target's context rows kept in memory, at most (4); the rest recomputed"},
        {"--val-prompts", OPT_STR, &val_path, "FILE",
         .help = "held-out user messages (one a line): the drafter's tau with the real\n"
                 "decoding loop, greedy, in the target's chat template"},
        {"--val-tokens", OPT_INT, &val_tokens, "N", 1, 4096, .help = "tokens generated per held-out prompt (64)"},
        {"--val-every", OPT_LONG, &val_every, "N", 0, 1L << 30, .help = "steps between validations (0: at the end)"},
        {0}};
    const Command cmd = {
        .name = "train-drafter",
        .synopsis = "--target MODEL --data FILE --out DIR [options]",
        .about = "Trains a DFlash drafter (arXiv 2602.06036) for a frozen target: a few layers that\n"
                 "read the target's own hidden states and draft a block of tokens in one pass, for\n"
                 "lossless speculative decoding (trit generate --draft DIR). The target runs once per\n"
                 "training sequence; blocks start at random response tokens, each sees the context\n"
                 "before it and itself, and learns the decayed cross-entropy of the tokens that\n"
                 "follow. Rerunning the same command after a kill resumes from the last checkpoint.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    DrafterJob j = {.layers = layers, .block = block, .mask_token_id = mask_id, .seq_len = seq_len,
                    .anchors = anchors, .batch = batch, .steps = steps, .minutes = minutes, .lr = (float)lr,
                    .gamma = (float)gamma, .clip = 1.0f, .seed = seed, .checkpoint_every = ckpt,
                    .cache_gb = cache_gb, .val_every = val_every, .out = out, .loss = (DrafterLoss)loss};
    if (taps_arg && parse_taps(taps_arg, j.taps, &j.n_taps))
        return opts_error("--taps %s: a comma-separated list of layer numbers (at most %d)", taps_arg, DRAFTER_MAX_TAPS);
    if (seq_len < 2 * block) return opts_error("--seq-len %d must be at least twice --block %d", seq_len, block);

    char err[ERR_LEN];
    ModelSource src;
    if (source_open(&src, target, NULL, NULL, err)) die("%s", err);
    // The text: every file's ids, one stream; which tokens are responses is
    // decided per file (a chat file's assistant turns, a plain file whole).
    int32_t *ids = NULL;
    uint8_t *resp = NULL;
    long n = 0;
    char *list = xstrdup(data);
    for (char *f = strtok(list, ","); f; f = strtok(NULL, ",")) {
        TokenData td;
        if (data_load(&td, f, src.tok, NULL, err)) die("%s", err);
        for (size_t i = 0; i < td.n; i++)
            if (td.ids[i] < 0 || td.ids[i] >= src.w.config.vocab_size)
                die("%s: token %d is outside the target's vocabulary of %d", f, (int)td.ids[i],
                    src.w.config.vocab_size);
        ids = xrealloc(ids, sizeof(int32_t) * (size_t)(n + (long)td.n));
        resp = xrealloc(resp, (size_t)(n + (long)td.n) + 1);
        memcpy(ids + n, td.ids, sizeof(int32_t) * td.n);
        drafter_response_mask(src.tok, td.ids, (long)td.n, resp + n);
        n += (long)td.n;
        data_free(&td);
    }
    free(list);
    long n_resp = 0;
    for (long i = 0; i < n; i++) n_resp += resp[i];
    fprintf(stderr, "train-drafter: %ld tokens (%ld of them response tokens) in %ld sequences of %d\n", n, n_resp,
            n / seq_len, seq_len);
    j.target = &src.w;
    j.ids = ids;
    j.response = resp;
    j.n_ids = n;
    Val v = {.src = &src, .max_tokens = val_tokens};
    if (val_path) {
        if (chat_prompts_load(&v.prompts, val_path, src.chat_template, src.tok, err)) die("%s", err);
        v.n_eos = source_eos_ids(&src, v.eos);
        j.validate = validate;
        j.val_user = &v;
    }
    const int rc = drafter_train(&j, err);
    if (rc) fprintf(stderr, "trit: error: %s\n", err);
    else fprintf(stderr, "train-drafter: wrote %s\n", out);
    if (val_path) chat_prompts_free(&v.prompts);
    free(ids);
    free(resp);
    source_close(&src);
    return rc ? 1 : 0;
}
