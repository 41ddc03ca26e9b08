// fuzz_serve_request.c — libFuzzer target for what trit serve reads from a
// client: api_parse on arbitrary bytes (the first byte picks chat or
// completions) must fail with a 400 and a message, or give a request within
// its documented ranges; and the answer's text assembly (TextOut) on the
// rest of the bytes, cut into pieces where the input says, must give valid
// UTF-8 without the stop strings, the same whatever the cuts.
//
//   make fuzz && build-fuzz/fuzz_serve_request -max_total_time=90 fuzz/seeds/serve_request
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "serve/api.h"
#include "serve/text.h"

// The text of bytes[0..n) pushed in pieces (cut after each byte whose low
// bit `cuts` says), then finished.
static void assemble(TextOut *t, const uint8_t *b, size_t n, int whole) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (whole ? i + 1 < n : !(b[i] & 1) && i + 1 < n) continue;
        if (textout_push(t, (const char *)b + start, i + 1 - start)) return;
        if (textout_ready(t, 0) > t->text.len) abort();
        start = i + 1;
    }
    textout_finish(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const ApiKind kind = data[0] & 1 ? API_CHAT : API_COMPLETION;
    // The body runs to the first 0xff byte; the text's bytes follow it.
    const uint8_t *sep = memchr(data + 1, 0xff, size - 1);
    const size_t blen = sep ? (size_t)(sep - data - 1) : size - 1;
    char *body = malloc(blen ? blen : 1);  // not NUL-terminated: parsing must respect the length
    if (!body) return 0;
    memcpy(body, data + 1, blen);
    ApiRequest r;
    ApiError e;
    const char *stops[TEXT_MAX_STOPS] = {"\n\n", "ab"};
    int n_stops = 2;
    if (api_parse(body, blen, kind, &r, &e) == 0) {
        if (kind == API_CHAT && (r.n_messages < 1 || !r.messages)) abort();
        for (int i = 0; i < r.n_messages; i++)
            if (!r.messages[i].content || (strcmp(r.messages[i].role, "system") && strcmp(r.messages[i].role, "user") &&
                                           strcmp(r.messages[i].role, "assistant")))
                abort();
        if (kind == API_COMPLETION && (!r.prompt || !r.prompt[0])) abort();
        if (r.max_tokens < 0 || r.temperature < 0 || r.temperature > 2 || r.top_p <= 0 || r.top_p > 1 || r.top_k < 0 ||
            r.n_stops > TEXT_MAX_STOPS)
            abort();
        for (int i = 0; i < r.n_stops; i++)
            if (!r.stops[i][0]) abort();
        if (r.n_stops) {
            n_stops = r.n_stops;
            for (int i = 0; i < n_stops; i++) stops[i] = r.stops[i];
        }
    } else if (e.status != 400 || !e.message[0] || strcmp(e.type, "invalid_request_error")) {
        abort();
    } else {
        char *j = api_error_json(&e);
        if (!j) abort();
        free(j);
    }
    if (sep) {
        const uint8_t *tb = sep + 1;
        const size_t tn = size - (size_t)(tb - data);
        TextOut a, b;
        textout_init(&a, stops, n_stops);
        textout_init(&b, stops, n_stops);
        assemble(&a, tb, tn, 0);
        assemble(&b, tb, tn, 1);
        const char *why;
        if (a.text.len != b.text.len || memcmp(a.text.s, b.text.s, a.text.len) ||
            utf8_check((const uint8_t *)a.text.s, a.text.len, &why) != a.text.len || textout_ready(&a, 1) != a.text.len)
            abort();
        for (int i = 0; i < n_stops; i++)
            if (memmem(a.text.s, a.text.len, stops[i], strlen(stops[i]))) abort();
        textout_free(&a);
        textout_free(&b);
    }
    api_request_free(&r);
    free(body);
    return 0;
}
