// api.h — the OpenAI API's requests and errors as trit reads them: a JSON
// body (untrusted: any bytes) to a generation request, every field checked
// for type and range, and the error object a client is sent when it fails.
#ifndef TRIT_SERVE_API_H
#define TRIT_SERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "infer/chat.h"
#include "serve/text.h"

typedef enum { API_CHAT, API_COMPLETION } ApiKind;

// An error for the client: HTTP status, the OpenAI error object's type,
// the offending field (NULL: none) and code (NULL: none).
typedef struct {
    int status;
    const char *type;   // "invalid_request_error", "authentication_error", "not_found_error", ...
    const char *param;
    const char *code;
    char message[ERR_LEN];
} ApiError;

typedef struct {
    ApiKind kind;
    ChatMessage *messages;  // API_CHAT: roles system / user / assistant ("developer" read as system)
    int n_messages;
    char *prompt;           // API_COMPLETION
    long max_tokens;        // 0: not given (the room left in the context)
    double temperature;     // 0: greedy
    double top_p;           // 1: off
    int top_k;              // 0: off
    uint64_t seed;
    int has_seed;
    char *stops[TEXT_MAX_STOPS];
    int n_stops;
    int stream, include_usage;
} ApiRequest;

// Parses body[0..len) as a request of the given kind. Returns 0, or -1 with
// e filled (status 400). Fields trit does not use are ignored unless they
// ask for what it does not do (n > 1, logprobs, tools, penalties, echo),
// which is an error rather than a silent difference.
int api_parse(const char *body, size_t len, ApiKind kind, ApiRequest *r, ApiError *e);
void api_request_free(ApiRequest *r);

// Fills e and returns -1 (for `return api_error(...)`).
int api_error(ApiError *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
// {"error": {"message", "type", "param", "code"}} as a malloc'd string.
char *api_error_json(const ApiError *e);

#endif
