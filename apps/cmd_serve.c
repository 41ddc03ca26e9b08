// cmd_serve.c — `trit serve`: the OpenAI-compatible server (src/serve); this
// file reads the options and loads the model.
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"
#include "draft_opts.h"
#include "infer/generate.h"
#include "infer/source.h"
#include "infer/spec.h"
#include "opts.h"
#include "serve/server.h"

int cmd_serve(int argc, char **argv) {
    const char *model = NULL, *pack = NULL, *host = "127.0.0.1", *api_key = NULL, *name = NULL;
    const char *draft = NULL, *draft_pack = NULL;
    int port = 8080, parallel = 4, queue = 16, ctx = 0, timeout = 60, draft_tokens = 4, draft_tree = 1;
    long max_body = 1 << 20;
    const Opt opts[] = {
        {"--model", OPT_STR, &model, "DIR|FILE.gguf", .required = 1,
         .help = "HF-layout checkpoint (run in fp32) or a GGUF file (run on its packed blocks)"},
        {"--pack", OPT_STR, &pack, "TYPE", .help = "pack DIR's exactly ternary weights at load (as trit generate)"},
        {"--host", OPT_STR, &host, "ADDR", .help = "address to listen on (127.0.0.1: this machine only)"},
        {"--port", OPT_INT, &port, "N", 0, 65535, .help = "TCP port (8080; 0 = any free one, printed)"},
        {"--parallel", OPT_INT, &parallel, "N", 1, KV_MAX_SEQS,
         .help = "requests decoded together, one KV cache slot each (4)"},
        {"--queue", OPT_INT, &queue, "N", 0, 1 << 20,
         .help = "requests that may wait for a slot; more get 503 with Retry-After (16)"},
        {"--ctx", OPT_INT, &ctx, "N", 0, 1 << 24,
         .help = "positions a request may use, prompt and answer\n"
                 "(default: the model's context, at most 4096)"},
        {"--api-key", OPT_STR, &api_key, "KEY",
         .help = "every API route then needs 'Authorization: Bearer KEY'"},
        {"--max-body", OPT_LONG, &max_body, "BYTES", 1024, 1L << 30, .help = "largest request body (1 MiB)"},
        {"--timeout", OPT_INT, &timeout, "S", 1, 86400,
         .help = "seconds a connection may be idle before it is closed (60)"},
        {"--name", OPT_STR, &name, "ID", .help = "the model id clients see (default: --model's last path part)"},
        {.name = "Speculative decoding for a request that runs alone (others wait while it runs):",
         .kind = OPT_SECTION},
        {"--draft", OPT_STR, &draft, "DIR|FILE.gguf|lookup",
         .help = "a draft model with the same tokenizer, a DFlash drafter, or prompt lookup\n(as trit generate)"},
        {"--draft-pack", OPT_STR, &draft_pack, "TYPE", .help = "pack the draft DIR's ternary weights at load"},
        {"--draft-tokens", OPT_INT, &draft_tokens, "K", 1, 32, .help = "tokens drafted per branch (4)"},
        {"--draft-tree", OPT_INT, &draft_tree, "W", 1, 8,
         .help = "W branches verified in one pass (1: a chain; trees serve greedy requests only)"},
        {0}};
    const Command cmd = {
        .name = "serve",
        .synopsis = "--model DIR|FILE.gguf [options]",
        .about = "Serves the model over HTTP with the OpenAI API: POST /v1/chat/completions (in the\n"
                 "model's chat template) and /v1/completions, streaming or not; GET /v1/models,\n"
                 "/health, /metrics (Prometheus) and / (a chat page). Requests are decoded\n"
                 "together, one row each a step (continuous batching); a greedy answer is the same\n"
                 "whatever runs beside it. SIGTERM or Ctrl-C: requests in flight finish, then exit 0.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (api_key && !api_key[0]) return opts_error("--api-key must not be empty");
    if (!draft && (draft_pack || draft_tokens != 4 || draft_tree != 1))
        return opts_error("--draft-tokens, --draft-tree and --draft-pack need --draft");
    SpecOptions spec = {.draft_tokens = draft_tokens, .tree_width = draft_tree};
    Drafter dfl = {0};
    const DecodeOptions greedy = {0};
    const int draft_status = draft_opts_setup(draft, draft_pack != NULL, draft_tokens != 4, &spec, &greedy, &dfl);
    if (draft_status >= 0) return draft_status;

    char err[ERR_LEN];
    ModelSource src;
    const double t0 = now_seconds();
    if (source_open(&src, model, pack, NULL, err)) die("%s", err);
    const int max_pos = src.w.config.max_position_embeddings;
    if (ctx == 0) ctx = max_pos < 4096 ? max_pos : 4096;
    if (ctx > max_pos) {
        source_close(&src);
        return opts_error("--ctx %d exceeds the model's context of %d", ctx, max_pos);
    }
    if (!name) {
        const char *slash = strrchr(model, '/');
        name = slash && slash[1] ? slash + 1 : model;
    }
    ModelSource dsrc = {0};
    if (spec.dflash) {
        if (spec_options_check(&spec, &src.w, &greedy, err)) die("draft: %s", err);
    } else if (draft && strcmp(draft, "lookup")) {
        if (source_open(&dsrc, draft, draft_pack, NULL, err)) die("draft: %s", err);
        if (!tokenizer_same_vocab(dsrc.tok, src.tok))
            die("the draft model %s has another tokenizer than the model: speculative decoding needs the same one",
                draft);
        spec.draft = &dsrc.w;
        const DecodeOptions greedy = {0};
        if (spec_options_check(&spec, &src.w, &greedy, err)) die("draft: %s", err);
    }
    fprintf(stderr, "trit serve: loaded %s in %.2f s\n", model, now_seconds() - t0);
    const ServeOptions so = {.host = host, .port = port, .parallel = parallel, .queue = queue, .ctx = ctx,
                             .api_key = api_key, .max_body = (size_t)max_body, .timeout = timeout, .name = name,
                             .spec = draft ? &spec : NULL};
    const int rc = serve_run(&src, &so, err);
    if (spec.draft) source_close(&dsrc);
    drafter_free(&dfl);
    source_close(&src);
    if (rc) die("%s", err);
    return 0;
}
