// test_serve.c — trit serve below HTTP: the UTF-8 classification and the
// answer's text assembly (stop strings across tokens, what streaming may
// send), the request parser on good and bad bodies, and the engine's
// continuous batching on a tiny imported model: every answer, greedy or
// seeded, is exactly what decode_generate gives the same request alone,
// whatever else runs beside it; cancelled jobs free their slot; a full
// queue refuses.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/utf8.h"
#include "base/util.h"
#include "collect.h"
#include "convert/gguf_import.h"
#include "infer/chat.h"
#include "infer/decode.h"
#include "infer/source.h"
#include "serve/api.h"
#include "serve/engine.h"
#include "serve/text.h"
#include "test.h"

// Python's bytes.decode("utf-8", "replace") of each input, written out.
static void test_utf8_and_text(void) {
    static const struct { const char *in, *want; } cases[] = {
        {"\xe2\x82", "\xef\xbf\xbd"},                                          // cut short: one U+FFFD
        {"\xf0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},              // overlong lead: three
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},              // a surrogate: three
        {"a\xc3", "a\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // above U+10FFFF
        {"\xe2\x82\xac\xff", "\xe2\x82\xac\xef\xbf\xbd"},
        {"\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        // Byte by byte and whole: the same text.
        for (int whole = 0; whole < 2; whole++) {
            TextOut t;
            textout_init(&t, NULL, 0);
            const size_t n = strlen(cases[k].in);
            if (whole) textout_push(&t, cases[k].in, n);
            else for (size_t i = 0; i < n; i++) textout_push(&t, cases[k].in + i, 1);
            textout_finish(&t);
            CHECK(!strcmp(t.text.s, cases[k].want), "case %zu (%s): got %s", k, whole ? "whole" : "bytewise", t.text.s);
            textout_free(&t);
        }
    }
    CHECK(utf8_next((const uint8_t *)"\xe2\x82", 2) == 0, "a prefix waits");
    CHECK(utf8_next((const uint8_t *)"\xc0\xaf", 2) == -1, "C0 is never a lead");

    // A stop string across pieces; streaming holds back what may begin one.
    const char *stops[] = {"STOP", "\n\n"};
    TextOut t;
    textout_init(&t, stops, 2);
    CHECK(textout_push(&t, "Hello S", 7) == 0, "no stop yet");
    CHECK(textout_ready(&t, 0) == 6, "'S' may begin STOP: %zu ready", textout_ready(&t, 0));
    CHECK(textout_push(&t, "T", 1) == 0 && textout_ready(&t, 0) == 6, "'ST' held");
    CHECK(textout_push(&t, "OP and more", 11) == 1, "STOP found across three pieces");
    CHECK(!strcmp(t.text.s, "Hello ") && textout_ready(&t, 0) == 6, "cut before STOP: '%s'", t.text.s);
    CHECK(textout_push(&t, "x", 1) == 1 && t.text.len == 6, "nothing after a stop");
    textout_free(&t);
    textout_init(&t, stops, 2);
    textout_push(&t, "a\n", 2);
    CHECK(textout_ready(&t, 0) == 1 && textout_ready(&t, 1) == 2, "a held newline is sent at the end");
    CHECK(textout_push(&t, "\nb", 2) == 1 && !strcmp(t.text.s, "a"), "the earliest stop cuts: '%s'", t.text.s);
    textout_free(&t);
}

static void expect_bad(ApiKind kind, const char *body, const char *param, const char *needle) {
    ApiRequest r;
    ApiError e;
    int rc = api_parse(body, strlen(body), kind, &r, &e);
    CHECK(rc == -1 && e.status == 400 && !strcmp(e.type, "invalid_request_error") &&
              (param ? e.param && !strcmp(e.param, param) : !e.param) && strstr(e.message, needle),
          "%s: rc %d, param %s, message '%s'", body, rc, e.param ? e.param : "(none)", e.message);
    if (rc == 0) api_request_free(&r);
}

static void test_api(void) {
    ApiRequest r;
    ApiError e;
    const char *good = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\","
                       "\"text\":\"there\"}]},{\"role\":\"assistant\",\"content\":\"Hello\"},{\"role\":\"user\","
                       "\"content\":\"Bye\"}],\"max_completion_tokens\":7,\"temperature\":0,\"top_p\":0.5,"
                       "\"top_k\":3,\"seed\":-1,\"stop\":[\"a\",\"bc\"],\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"n\":1,\"frequency_penalty\":0}";
    CHECK(api_parse(good, strlen(good), API_CHAT, &r, &e) == 0, "good chat request: %s", e.message);
    CHECK(r.n_messages == 4 && !strcmp(r.messages[0].role, "system") && !strcmp(r.messages[1].content, "Hi there") &&
              !strcmp(r.messages[2].role, "assistant"),
          "messages read: developer as system, text parts joined");
    CHECK(r.max_tokens == 7 && r.temperature == 0 && r.top_p == 0.5 && r.top_k == 3 && r.has_seed &&
              r.seed == UINT64_MAX && r.n_stops == 2 && !strcmp(r.stops[1], "bc") && r.stream && r.include_usage,
          "fields read");
    api_request_free(&r);
    const char *plain = "{\"prompt\":[\"Once\"],\"stop\":\"x\"}";
    CHECK(api_parse(plain, strlen(plain), API_COMPLETION, &r, &e) == 0 && !strcmp(r.prompt, "Once") &&
              r.n_stops == 1 && r.temperature == 1.0 && r.top_p == 1.0 && !r.max_tokens && !r.stream,
          "completion request with the API's defaults: %s", e.message);
    api_request_free(&r);

    expect_bad(API_CHAT, "{\"messages\": [", NULL, "not valid JSON");
    expect_bad(API_CHAT, "[1,2]", NULL, "JSON object");
    expect_bad(API_CHAT, "{} {}", NULL, "after the JSON");
    expect_bad(API_CHAT, "{\"model\":\"m\"}", "messages", "required");
    expect_bad(API_CHAT, "{\"messages\":\"hi\"}", "messages", "non-empty list");
    expect_bad(API_CHAT, "{\"messages\":[]}", "messages", "non-empty list");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages", "no 'content'");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages", "not supported");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages",
               "text parts");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages", "string or a list");
    const char *m = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],";
    char b[512];
    static const struct { const char *field, *param, *needle; } bad[] = {
        {"\"max_tokens\":0}", "max_tokens", "between 1"},
        {"\"max_tokens\":-5}", "max_tokens", "between 1"},
        {"\"max_tokens\":1e12}", "max_tokens", "between 1"},
        {"\"max_tokens\":2.5}", "max_tokens", "integer"},
        {"\"max_completion_tokens\":\"10\"}", "max_completion_tokens", "integer"},
        {"\"temperature\":\"hot\"}", "temperature", "number"},
        {"\"temperature\":3}", "temperature", "between 0 and 2"},
        {"\"top_p\":0}", "top_p", "between"},
        {"\"top_k\":-1}", "top_k", "between"},
        {"\"seed\":\"x\"}", "seed", "integer"},
        {"\"stop\":5}", "stop", "string or a list"},
        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop", "at most 4"},
        {"\"stop\":[\"\"]}", "stop", "non-empty"},
        {"\"stream\":1}", "stream", "true or false"},
        {"\"stream_options\":{\"include_usage\":1}}", "stream_options", "boolean"},
        {"\"n\":2}", "n", "must be 1"},
        {"\"logprobs\":true}", "logprobs", "not supported"},
        {"\"presence_penalty\":0.5}", "presence_penalty", "not supported"},
        {"\"tools\":[{\"type\":\"function\"}]}", "tools", "not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(b, sizeof b, "%s%s", m, bad[i].field);
        expect_bad(API_CHAT, b, bad[i].param, bad[i].needle);
    }
    expect_bad(API_COMPLETION, "{\"prompt\":\"\"}", "prompt", "empty");
    expect_bad(API_COMPLETION, "{\"prompt\":[1,2]}", "prompt", "must be a string");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", "echo", "not supported");
    expect_bad(API_COMPLETION, "{\"prompt\":\"\xc3\x28\"}", NULL, "not UTF-8");

    api_error(&e, 503, "server_error", NULL, "server_busy", "busy \"now\"");
    char *j = api_error_json(&e);
    CHECK(!strcmp(j, "{\"error\":{\"message\":\"busy \\\"now\\\"\",\"type\":\"server_error\",\"param\":null,"
                     "\"code\":\"server_busy\"}}"),
          "the error object: %s", j);
    free(j);
}

// What decode_generate gives one request alone: the text (as the engine
// assembles it) and how it stopped.
static void alone(const ModelSource *src, const int32_t *ids, size_t n, DecodeOptions o, const char *stop_str,
                  Buf *text, const char **finish, size_t *n_tokens) {
    char err[ERR_LEN];
    Collect c = {0};
    DecodeStats st;
    int32_t eos[3];
    o.n_eos = source_eos_ids(src, eos);
    o.eos = eos;
    CHECK(decode_generate(&src->w, ids, n, &o, collect, &c, &st, err) == 0, "decode_generate: %s", err);
    TextOut t;
    const char *stops[1] = {stop_str};
    textout_init(&t, stops, stop_str ? 1 : 0);
    int stopped = 0, k = 0;
    for (; k < c.n && !stopped; k++) {
        char *piece;
        size_t len;
        tokenizer_decode(src->tok, &c.ids[k], 1, &piece, &len, err);
        stopped = textout_push(&t, piece, len);
        free(piece);
    }
    stopped |= textout_finish(&t);
    *finish = stopped || !strcmp(st.stop, "eos") ? "stop" : "length";
    *n_tokens = (size_t)k;
    buf_put(text, t.text.s, t.text.len);
    textout_free(&t);
}

static void drain(Job *j, Buf *text, JobStatus *st) {
    size_t sent = 0;
    do job_wait(j, text, &sent, 1000, st);
    while (!st->done);
}

static void test_engine(const char *dir) {
    char err[ERR_LEN], path[512];
    snprintf(path, sizeof path, "%s/tiny", dir);
    CHECK(gguf_import("tests/fixtures/gguf_models/llama.gguf", path, "float32", 0, err) == 0, "import: %s", err);
    ModelSource src;
    if (source_open(&src, path, NULL, NULL, err)) {
        CHECK(0, "source_open: %s", err);
        return;
    }
    static const char *users[] = {"hello", "What is the capital of France?", "one two three four five six",
                                  "a", "Tell me a story about a dragon and a knight.", "xyz"};
    enum { N = 6 };
    int32_t *ids[N];
    size_t n[N];
    for (int i = 0; i < N; i++) {
        char *s = chat_format(src.chat_template, src.tok, users[i], err);
        CHECK(s && tokenizer_encode(src.tok, s, strlen(s), &ids[i], &n[i], err) == 0, "prompt %d: %s", i, err);
        free(s);
    }
    int32_t eos[3];
    const int n_eos = source_eos_ids(&src, eos);
    for (int sampled = 0; sampled < 2; sampled++) {
        // Six requests on three slots: three wait in the queue and join as
        // slots free, at other steps than they would alone.
        Engine *e = engine_start(&src.w, src.tok, eos, n_eos, &(EngineOptions){3, 8, 256, NULL}, err);
        CHECK(e != NULL, "engine_start: %s", err);
        if (!e) break;
        Job *jobs[N];
        DecodeOptions o[N];
        const char *stop = sampled ? NULL : "e";  // a stop string on the greedy pass
        for (int i = 0; i < N; i++) {
            o[i] = (DecodeOptions){.max_tokens = 8 + 5 * i, .temperature = sampled ? 0.9f : 0.0f, .top_k = 20,
                                   .top_p = 0.95f, .seed = 100u + (unsigned)i, .vocab_limit = tokenizer_vocab_size(src.tok)};
            int busy;
            char *stops[1] = {(char *)stop};
            jobs[i] = engine_submit(e, ids[i], n[i], &o[i], stops, stop ? 1 : 0, &busy, err);
            CHECK(jobs[i] != NULL, "submit %d: %s", i, err);
        }
        for (int i = 0; i < N; i++) {
            if (!jobs[i]) continue;
            Buf got = {0}, want = {0};
            JobStatus st;
            drain(jobs[i], &got, &st);
            const char *finish;
            size_t n_tok;
            alone(&src, ids[i], n[i], o[i], stop, &want, &finish, &n_tok);
            CHECK(got.len == want.len && (got.len == 0 || !memcmp(got.s, want.s, got.len)),
                  "%s request %d: the engine's answer '%s' differs from decoding it alone '%s'",
                  sampled ? "sampled" : "greedy", i, got.s ? got.s : "", want.s ? want.s : "");
            CHECK(st.finish && !strcmp(st.finish, finish) && st.completion_tokens == n_tok && st.prompt_tokens == n[i],
                  "request %d: finish %s (alone %s), %zu tokens (alone %zu)", i, st.finish ? st.finish : "(error)",
                  finish, st.completion_tokens, n_tok);
            job_release(jobs[i]);
            free(got.s);
            free(want.s);
        }
        EngineStats es = engine_stats(e);
        CHECK(es.requests == N && es.busy == 0 && es.queued == 0, "stats: %ld requests, %d busy, %d queued",
              es.requests, es.busy, es.queued);
        engine_stop(e);
    }

    // With a drafter (prompt lookup, and the model drafting for itself), a
    // request alone decodes speculatively: the same greedy answer.
    for (int self = 0; self < 2; self++) {
        const SpecOptions so = {.draft = self ? &src.w : NULL, .draft_tokens = 3, .tree_width = 1};
        Engine *e = engine_start(&src.w, src.tok, eos, n_eos, &(EngineOptions){2, 4, 256, &so}, err);
        CHECK(e != NULL, "engine_start: %s", err);
        for (int i = 0; e && i < N; i++) {
            DecodeOptions o = {.max_tokens = 30, .temperature = 0, .top_p = 1, .vocab_limit = tokenizer_vocab_size(src.tok)};
            int busy;
            Job *j = engine_submit(e, ids[i], n[i], &o, NULL, 0, &busy, err);
            Buf got = {0}, want = {0};
            JobStatus st;
            drain(j, &got, &st);
            job_release(j);
            const char *finish;
            size_t n_tok;
            alone(&src, ids[i], n[i], o, NULL, &want, &finish, &n_tok);
            CHECK(got.len == want.len && (got.len == 0 || !memcmp(got.s, want.s, got.len)) && st.finish &&
                      !strcmp(st.finish, finish) && st.completion_tokens == n_tok,
                  "%s drafting, request %d: '%s' against '%s' alone", self ? "self" : "lookup", i, got.s ? got.s : "",
                  want.s ? want.s : "");
            free(got.s);
            free(want.s);
        }
        if (e) engine_stop(e);
    }

    // One slot, a queue of one: a third request is refused; a cancelled
    // job leaves its slot, and the next request runs.
    Engine *e = engine_start(&src.w, src.tok, eos, n_eos, &(EngineOptions){1, 1, 256, NULL}, err);
    CHECK(e != NULL, "engine_start: %s", err);
    if (e) {
        DecodeOptions lo = {.max_tokens = 200, .temperature = 0, .top_p = 1, .vocab_limit = tokenizer_vocab_size(src.tok)};
        int busy;
        Job *a = engine_submit(e, ids[0], n[0], &lo, NULL, 0, &busy, err);
        CHECK(a != NULL, "submit: %s", err);
        if (!a) {
            engine_stop(e);
            return;
        }
        Buf t = {0};
        size_t sent = 0;
        JobStatus st;
        job_wait(a, &t, &sent, 5000, &st);  // a has its slot once it has text
        Job *b = engine_submit(e, ids[1], n[1], &lo, NULL, 0, &busy, err);
        Job *c = engine_submit(e, ids[2], n[2], &lo, NULL, 0, &busy, err);
        CHECK(a && b && !c && busy && strstr(err, "busy"), "the third request is refused: %s", err);
        job_cancel(a);
        job_cancel(b);
        drain(a, &t, &st);
        const char *fa = st.finish ? st.finish : "";
        drain(b, &t, &st);
        const char *fb = st.finish ? st.finish : "";
        // a may reach its own end before the cancel lands (its 200 tokens of
        // a tiny model take milliseconds, and this thread can be descheduled
        // that long under load); b, queued behind it, still runs then.
        CHECK(!strcmp(fa, "cancelled") || (!strcmp(fb, "cancelled") && (!strcmp(fa, "length") || !strcmp(fa, "stop"))),
              "a cancelled job ends as cancelled (a %s, b %s)", fa, fb);
        job_release(a);
        job_release(b);
        lo.max_tokens = 4;
        Job *d = engine_submit(e, ids[3], n[3], &lo, NULL, 0, &busy, err);
        drain(d, &t, &st);
        CHECK(st.finish && st.completion_tokens >= 1, "the slot serves the next request");
        job_release(d);
        EngineStats es = engine_stats(e);
        CHECK(es.busy == 0 && es.queued == 0, "no slot held after cancels: %d busy", es.busy);
        free(t.s);
        engine_stop(e);
    }
    for (int i = 0; i < N; i++) free(ids[i]);
    source_close(&src);
}

int main(void) {
    test_utf8_and_text();
    test_api();
    char dir[] = "/tmp/trit_test_serve_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_engine(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return test_finish("test_serve");
}
