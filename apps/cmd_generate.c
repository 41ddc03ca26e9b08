// cmd_generate.c — `trit generate`: text from a prompt, token by token, with
// the library's decode loop (src/infer/decode.h); this file parses the
// arguments and prints.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "commands.h"
#include "draft_opts.h"
#include "infer/beam.h"
#include "infer/chat.h"
#include "infer/decode.h"
#include "infer/generate.h"
#include "infer/source.h"
#include "infer/spec.h"
#include "opts.h"
#include "tok/tokenizer.h"

// How many of the n pending bytes can be written without splitting a UTF-8
// character: everything but an incomplete sequence at the end. Bytes that
// are not valid UTF-8 anyway are not held back.
static size_t utf8_flushable(const unsigned char *b, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = b[n - back];
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
        size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return back < need ? n - back : n;
    }
    return n;
}

typedef struct {
    unsigned char buf[64];
    size_t len;
} Utf8Out;

static void out_bytes(Utf8Out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (o->len == sizeof o->buf) {  // cannot happen with valid text: held back are < 4 bytes
            fwrite(o->buf, 1, o->len, stdout);
            o->len = 0;
        }
        o->buf[o->len++] = (unsigned char)s[i];
    }
    size_t k = utf8_flushable(o->buf, o->len);
    if (k) {
        fwrite(o->buf, 1, k, stdout);
        memmove(o->buf, o->buf + k, o->len - k);
        o->len -= k;
        fflush(stdout);
    }
}

typedef struct {
    Tokenizer *tok;
    Utf8Out out;
    int json;            // collect ids for one JSON object instead of streaming text
    int32_t *ids;
    size_t n, cap;
} Printer;

// Streams each token's text as it comes (or keeps its id, for --json).
static int print_token(int32_t id, void *user) {
    Printer *p = user;
    if (p->json) {
        if (p->n == p->cap) p->ids = xrealloc(p->ids, sizeof(int32_t) * (p->cap = p->cap ? 2 * p->cap : 64));
        p->ids[p->n++] = id;
        return 0;
    }
    char *piece, err[ERR_LEN];
    size_t plen;
    if (tokenizer_decode(p->tok, &id, 1, &piece, &plen, err)) die("%s", err);
    out_bytes(&p->out, piece, plen);
    free(piece);
    return 0;
}

// The logits of every prompt position, as one raw float32 file.
static int write_prompt_logits(const ModelWeights *w, const int32_t *ids, size_t n, const char *path, char *err) {
    const ModelConfig *c = &w->config;
    if (n > (size_t)c->max_position_embeddings)
        return set_err(err, "the prompt has %zu tokens; the model's max_position_embeddings is %d", n,
                       c->max_position_embeddings);
    KVCache kv;
    if (kvcache_init(&kv, c, (int)n, err)) return -1;
    float *lg = xmalloc(sizeof(float) * n * (size_t)c->vocab_size);
    int rc = generate_forward_logits(&kv, w, ids, (int)n, 0, lg, 1, err);
    if (rc == 0) rc = write_file_atomic(path, lg, sizeof(float) * n * (size_t)c->vocab_size, err);
    free(lg);
    kvcache_free(&kv);
    return rc;
}

static void json_ids(Buf *b, const char *key, const int32_t *ids, size_t n) {
    buf_printf(b, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) buf_printf(b, i ? ", %d" : "%d", (int)ids[i]);
    buf_puts(b, "]");
}

// {"prompt_ids": [...], "ids": [...], "text": "...", "stop": "..."[, "score": S]} on one line.
// A speculative run's figures as a JSON member: tau (tokens a target pass
// commits), the share of passes whose i-th drafted token was accepted,
// milliseconds in the drafter and in the target's passes.
static void json_spec(Buf *b, const SpecStats *ss, int drafts) {
    const int passes = ss->d.n_steps;
    buf_printf(b, ", \"spec\": {\"passes\": %d, \"tau\": %.4f, \"drafted\": %ld, \"accepted\": %ld, \"accepted_at\": [",
               passes, passes ? (double)(ss->d.n_generated - 1) / passes : 0.0, ss->drafted, ss->accepted);
    for (int i = 0; i < drafts; i++)
        buf_printf(b, "%s%.4f", i ? ", " : "", passes ? (double)ss->accepted_at[i] / passes : 0.0);
    buf_printf(b, "], \"draft_ms\": %.3f, \"verify_ms\": %.3f}", 1e3 * ss->t_draft, 1e3 * ss->t_verify);
}

static void print_json(const Tokenizer *tok, const int32_t *prompt, size_t n_prompt, const int32_t *ids, size_t n,
                       const char *stop, const float *score, const SpecStats *ss, int drafts) {
    char *text, err[ERR_LEN];
    size_t len;
    if (tokenizer_decode(tok, ids, n, &text, &len, err)) die("%s", err);
    Buf b = {0};
    buf_puts(&b, "{");
    json_ids(&b, "prompt_ids", prompt, n_prompt);
    buf_puts(&b, ", ");
    json_ids(&b, "ids", ids, n);
    buf_puts(&b, ", \"text\": ");
    buf_json_str(&b, text, 0);
    buf_puts(&b, ", \"stop\": ");
    buf_json_str(&b, stop, 0);
    if (score) buf_printf(&b, ", \"score\": %.9g", (double)*score);
    if (ss) json_spec(&b, ss, drafts);
    buf_puts(&b, "}\n");
    fwrite(b.s, 1, b.len, stdout);
    free(b.s);
    free(text);
}

// Beam search: every returned sequence, best first.
static void run_beams(const ModelSource *src, const int32_t *ids, size_t n_prompt, const BeamOptions *bo, int json) {
    char err[ERR_LEN];
    BeamResult r;
    if (beam_search(&src->w, ids, n_prompt, bo, &r, err)) die("%s", err);
    for (int i = 0; i < r.n_hyp; i++) {
        const BeamHyp *h = &r.hyp[i];
        const char *stop = h->eos ? "eos" : "max-tokens";
        if (json) {
            print_json(src->tok, ids, n_prompt, h->ids, (size_t)h->n, stop, &h->score, NULL, 0);
            continue;
        }
        char *text;
        size_t len;
        if (tokenizer_decode(src->tok, h->ids, (size_t)h->n, &text, &len, err)) die("%s", err);
        if (r.n_hyp > 1) printf("--- beam %d (score %.6f, %d tokens, stop: %s)\n", i + 1, (double)h->score, h->n, stop);
        fwrite(text, 1, len, stdout);
        if (r.n_hyp > 1 || isatty(fileno(stdout))) fputc('\n', stdout);
        free(text);
    }
    fflush(stdout);
    fprintf(stderr,
            "\nprompt tokens:    %zu\n"
            "prefill:          %.1f tok/s (%.3f s)\n"
            "beam search:      %d beams, %d steps of %d rows, %.2f ms a step\n",
            n_prompt, (double)n_prompt / r.t_prefill, r.t_prefill, bo->num_beams, r.n_steps, bo->num_beams,
            r.n_steps ? 1e3 * r.t_decode / r.n_steps : 0.0);
    beam_result_free(&r);
}

int cmd_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt = NULL, *tok_path = NULL, *pack = NULL, *logits_path = NULL;
    const char *draft_path = NULL, *draft_pack = NULL;
    long max_tokens = 128, top_k = 40, num_beams = 1, num_return = 1, draft_tokens = 4, draft_tree = 1;
    double temperature = 0.8, top_p = 0.95, length_penalty = 1.0;
    uint64_t seed = 0;
    int have_seed = 0, greedy = 0, chat = 0, json = 0, early = BEAM_EARLY_FALSE;
    int temperature_set = 0, top_k_set = 0, top_p_set = 0, beams_set = 0, draft_tokens_set = 0;
    int return_set = 0, penalty_set = 0, early_set = 0;
    static const int early_values[] = {BEAM_EARLY_TRUE, BEAM_EARLY_FALSE, BEAM_EARLY_NEVER};
    const Opt opts[] = {
        {"--model", OPT_STR, &model_dir, "DIR", .required = 1,
         .help = "HF-layout checkpoint (config.json + *.safetensors), run in fp32,\n"
                 "or a GGUF file (trit export), run on its packed blocks"},
        {"--pack", OPT_STR, &pack, "TYPE",
         .help = "pack DIR's exactly ternary weights at load and run them packed\n"
                 "(auto: TQ2_0 where it holds the model losslessly, else Q2_0)"},
        {"--prompt", OPT_STR, &prompt, "TEXT", .required = 1, .help = "the prompt (UTF-8)"},
        {"--max-tokens", OPT_LONG, &max_tokens, "N", 0, 1L << 30, .help = "generate at most N tokens (default 128)"},
        {"--temperature", OPT_DOUBLE, &temperature, "T", 0.0, 1000.0, .given = &temperature_set,
         .help = "softmax temperature (default 0.8; 0 = greedy)"},
        {"--top-k", OPT_LONG, &top_k, "K", 0, 1L << 30, .given = &top_k_set,
         .help = "keep the K most likely tokens (default 40; 0 = off)"},
        {"--top-p", OPT_DOUBLE, &top_p, "P", 0.0, 1.0, .given = &top_p_set,
         .help = "then the smallest set with probability >= P (default 0.95; 1 = off)"},
        {"--seed", OPT_U64, &seed, "S", .given = &have_seed,
         .help = "sampling seed (default: from the clock; printed on stderr)"},
        {"--greedy", OPT_FLAG, &greedy, .help = "always the most likely token (same as --temperature 0)"},
        {"--chat", OPT_FLAG, &chat,
         .help = "the prompt as a user message in the model's ChatML chat template\n"
                 "(DIR/tokenizer_config.json or the GGUF's; with its default system message):\n"
                 "<|im_start|>user\\nTEXT<|im_end|>\\n<|im_start|>assistant\\n"},
        {"--tokenizer", OPT_STR, &tok_path, "PATH", .help = "tokenizer.json or its directory (default: the model's own)"},
        {"--logits", OPT_STR, &logits_path, "FILE",
         .help = "also write the prompt's logits, every position (float32,\n"
                 "n_prompt x vocab_size, little-endian), for comparisons"},
        {"--json", OPT_FLAG, &json,
         .help = "print one JSON object instead of the text: prompt_ids, ids\n"
                 "(generated), text (generated), stop; with beams, one per sequence,\n"
                 "with its score"},
        {.name = "Beam search (transformers' generate(num_beams=N, do_sample=False) semantics):", .kind = OPT_SECTION},
        {"--num-beams", OPT_LONG, &num_beams, "N", 1, KV_MAX_SEQS, .given = &beams_set,
         .help = "N beams decoded together\n(1 = greedy decoding; default: sampling, see --temperature)"},
        {"--length-penalty", OPT_DOUBLE, &length_penalty, "X", -100.0, 100.0, .given = &penalty_set,
         .help = "finished beams score sum_logprobs / length^X (default 1)"},
        {"--early-stopping", OPT_CHOICE, &early, "true|false|never", .values = early_values, .given = &early_set,
         .help = "when to stop (default false)"},
        {"--num-return-sequences", OPT_LONG, &num_return, "K", 1, KV_MAX_SEQS, .given = &return_set,
         .help = "the K best finished beams (default 1)"},
        {.name = "Speculative decoding (the output is the target's own: identical when greedy,\n"
                 "distributed as the target's sampler otherwise):",
         .kind = OPT_SECTION},
        {"--draft", OPT_STR, &draft_path, "DIR|FILE.gguf|lookup",
         .help = "a draft model with the same tokenizer, a DFlash drafter of the target\n"
                 "(trit train-drafter; a block of tokens drafted in one pass), or prompt\n"
                 "lookup (continuations of the text's own earlier n-grams)"},
        {"--draft-pack", OPT_STR, &draft_pack, "TYPE", .help = "pack the draft DIR's ternary weights at load (as --pack)"},
        {"--draft-tokens", OPT_LONG, &draft_tokens, "K", 1, 32, .given = &draft_tokens_set,
         .help = "tokens drafted per branch (default 4; a DFlash drafter: its block - 1)"},
        {"--draft-tree", OPT_LONG, &draft_tree, "W", 1, 8,
         .help = "W branches under the last token, verified in one pass\n"
                 "(default 1: a chain; trees need greedy decoding)"},
        {0}};
    const Command cmd = {
        .name = "generate",
        .synopsis = "--model DIR|FILE.gguf --prompt TEXT [options]",
        .about = "Encodes TEXT, runs the model over it once (prefill), then samples one token at a\n"
                 "time with a KV cache, printing the text as it comes. Stops at an end-of-sequence\n"
                 "token (config eos_token_id, <|im_end|>, <|endoftext|>) or after N tokens. Timings\n"
                 "go to stderr.\n",
        .opts = opts};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (top_p_set && top_p <= 0.0) return opts_error("--top-p must be > 0");
    if (greedy) temperature = 0.0;
    const int sampling_set = (temperature_set && temperature > 0.0) || top_k_set || top_p_set;
    // --num-beams N is transformers' num_beams=N, do_sample=False: beam
    // search, or greedy decoding for N = 1 (which a draft may speed up).
    if (beams_set) {
        if (sampling_set && !greedy)
            return opts_error("beam search does not sample: drop --temperature/--top-k/--top-p "
                              "(beam sampling is not supported)");
        if (num_beams > 1 && draft_path)
            return opts_error("--num-beams and --draft do not combine: speculative decoding runs greedy "
                              "or sampled decoding of one sequence");
        if (num_beams > 1 && num_return > num_beams)
            return opts_error("--num-return-sequences %ld exceeds --num-beams %ld", num_return, num_beams);
        temperature = 0.0;
    }
    if (num_beams < 2 && (return_set || penalty_set || early_set) &&
        (num_return > 1 || length_penalty != 1.0 || early != BEAM_EARLY_FALSE))
        return opts_error("--num-return-sequences, --length-penalty and --early-stopping need --num-beams >= 2");
    if (!draft_path && (draft_pack || draft_tokens_set || draft_tree != 1))
        return opts_error("--draft-tokens, --draft-tree and --draft-pack need --draft");
    Drafter dfl = {0};
    SpecOptions so = {.draft_tokens = (int)draft_tokens, .tree_width = (int)draft_tree};
    const DecodeOptions checked = {.temperature = (float)temperature};
    const int draft_status = draft_opts_setup(draft_path, draft_pack != NULL, draft_tokens_set, &so, &checked, &dfl);
    if (draft_status >= 0) return draft_status;
    const int dflash = so.dflash != NULL;
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }

    char err[ERR_LEN];
    ModelSource src;
    double t0 = now_seconds();
    if (source_open(&src, model_dir, pack, tok_path, err)) die("%s", err);
    fprintf(stderr, "loaded %s: %s weights, %.1f MB in %.2f s\n", model_dir, ggml_type_find(src.w.layers[0].wq.type)->name,
            1e-6 * (double)weights_bytes(&src.w), now_seconds() - t0);
    Tokenizer *tok = src.tok;
    char *text;
    if (chat) {
        if (!(text = chat_format(src.chat_template, tok, prompt, err))) die("%s", err);
    } else {
        text = xstrdup(prompt);
    }
    int32_t *ids;
    size_t n_prompt;
    if (tokenizer_encode(tok, text, strlen(text), &ids, &n_prompt, err)) die("prompt: %s", err);
    free(text);

    const ModelConfig *c = &src.w.config;
    for (size_t i = 0; i < n_prompt; i++)
        if (ids[i] >= c->vocab_size)
            die("prompt token %d is outside the model's vocabulary of %d", (int)ids[i], c->vocab_size);

    // End-of-sequence ids: the config's, and the ChatML turn / document ends.
    int32_t eos[3];
    const int n_eos = source_eos_ids(&src, eos);
    if (temperature > 0.0)
        fprintf(stderr, "sampling: temperature %g, top-k %ld, top-p %g, seed %llu\n", temperature, top_k, top_p,
                (unsigned long long)seed);
    else
        fprintf(stderr, "sampling: greedy\n");

    // Ids the tokenizer cannot decode (the embedding's padding rows) are
    // never sampled.
    DecodeOptions o = {.max_tokens = max_tokens, .temperature = (float)temperature, .top_k = (int)top_k,
                       .top_p = (float)top_p, .seed = seed, .eos = eos, .n_eos = n_eos,
                       .vocab_limit = tokenizer_vocab_size(tok)};
    if (logits_path && write_prompt_logits(&src.w, ids, n_prompt, logits_path, err)) die("%s", err);
    if (num_beams > 1) {
        BeamOptions bo = {.num_beams = (int)num_beams, .length_penalty = (float)length_penalty,
                          .early_stopping = early, .num_return = (int)num_return, .max_tokens = max_tokens,
                          .eos = eos, .n_eos = n_eos, .vocab_limit = o.vocab_limit};
        run_beams(&src, ids, n_prompt, &bo, json);
        free(ids);
        source_close(&src);
        return 0;
    }
    ModelSource dsrc = {0};
    if (dflash) {
        fprintf(stderr, "draft %s: DFlash drafter, %d layers, blocks of %d, %d target layers tapped, %.1f MB\n",
                draft_path, dfl.dc.layer.num_hidden_layers, dfl.dc.block_size, dfl.dc.n_taps,
                4e-6 * (double)dfl.n_params);
    } else if (draft_path && strcmp(draft_path, "lookup")) {
        if (source_open(&dsrc, draft_path, draft_pack, tok_path, err)) die("draft: %s", err);
        if (!tokenizer_same_vocab(dsrc.tok, tok))
            die("the draft model %s has another tokenizer than the target: speculative decoding needs the same one",
                draft_path);
        so.draft = &dsrc.w;
        fprintf(stderr, "draft %s: %s weights, %.1f MB\n", draft_path, ggml_type_find(dsrc.w.layers[0].wq.type)->name,
                1e-6 * (double)weights_bytes(&dsrc.w));
    }
    Printer pr = {.tok = tok, .json = json};
    DecodeStats st;
    SpecStats ss;
    if (draft_path) {
        if (spec_generate(&src.w, ids, n_prompt, &o, &so, print_token, &pr, &ss, err)) die("%s", err);
        st = ss.d;
    } else if (decode_generate(&src.w, ids, n_prompt, &o, print_token, &pr, &st, err)) {
        die("%s", err);
    }
    if (pr.out.len) fwrite(pr.out.buf, 1, pr.out.len, stdout);  // an incomplete character at the very end
    if (json) print_json(tok, ids, n_prompt, pr.ids, pr.n, st.stop, NULL, draft_path ? &ss : NULL, so.draft_tokens);
    else if (isatty(fileno(stdout))) fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr,
            "\nprompt tokens:    %zu\n"
            "prefill:          %.1f tok/s (%.3f s)\n"
            "generated tokens: %ld (stop: %s)\n",
            n_prompt, (double)n_prompt / st.t_prefill, st.t_prefill, st.n_generated, st.stop);
    if (draft_path)
        fprintf(stderr,
                "speculative:      %d target passes, %.2f tokens per pass; %ld of %ld drafted tokens accepted "
                "(%.0f%%); draft %.3f s (%ld passes), verify %.3f s\n"
                "decode:           %.2f tok/s\n",
                st.n_steps, st.n_steps ? (double)(st.n_generated - 1) / st.n_steps : 0.0, ss.accepted, ss.drafted,
                ss.drafted ? 100.0 * (double)ss.accepted / (double)ss.drafted : 0.0, ss.t_draft, ss.draft_passes,
                ss.t_verify, st.t_total > 0 ? (double)st.n_generated / st.t_total : 0.0);
    if (draft_path && so.tree_width == 1) {
        fprintf(stderr, "accepted by draft position (share of passes):");
        for (int i = 0; i < so.draft_tokens; i++)
            fprintf(stderr, " %.2f", st.n_steps ? (double)ss.accepted_at[i] / st.n_steps : 0.0);
        fputc('\n', stderr);
    }
    if (!draft_path)
        fprintf(stderr, "decode:           %.2f tok/s (%d forward steps, %.2f ms each; %.2f tok/s with sampling)\n",
                st.n_steps ? (double)st.n_steps / st.t_decode : 0.0, st.n_steps,
                st.n_steps ? 1e3 * st.t_decode / st.n_steps : 0.0,
                st.t_total > 0 ? (double)st.n_generated / st.t_total : 0.0);
    if (so.draft) source_close(&dsrc);
    drafter_free(&dfl);
    free(ids);
    free(pr.ids);
    source_close(&src);
    return 0;
}
