// api.c — see api.h.
#include "serve/api.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

#define INVALID "invalid_request_error"

int api_error(ApiError *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *api_error_json(const ApiError *e) {
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type);
    if (e->param) cJSON_AddStringToObject(o, "param", e->param);
    else cJSON_AddNullToObject(o, "param");
    if (e->code) cJSON_AddStringToObject(o, "code", e->code);
    else cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void api_request_free(ApiRequest *r) {
    for (int i = 0; i < r->n_messages; i++) free((char *)r->messages[i].content);
    free(r->messages);
    free(r->prompt);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    memset(r, 0, sizeof *r);
}

// A JSON number that is a whole number within [lo, hi].
static int get_whole(const cJSON *v, const char *name, double lo, double hi, double *out, ApiError *e) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return api_error(e, 400, INVALID, name, NULL, "'%s' must be an integer", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return api_error(e, 400, INVALID, name, NULL, "'%s' must be between %.0f and %.0f, not %.0f", name, lo, hi,
                         v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

static int get_number(const cJSON *v, const char *name, double lo, double hi, double *out, ApiError *e) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return api_error(e, 400, INVALID, name, NULL, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return api_error(e, 400, INVALID, name, NULL, "'%s' must be between %g and %g, not %g", name, lo, hi,
                         v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

// A message's content: a string, or a list of {"type": "text", "text": ...}
// parts, joined.
static char *get_content(const cJSON *c, int i, ApiError *e) {
    if (cJSON_IsString(c)) return xstrdup(c->valuestring);
    if (!cJSON_IsArray(c)) {
        api_error(e, 400, INVALID, "messages", NULL, "messages[%d].content must be a string or a list of text parts", i);
        return NULL;
    }
    Buf b = {0};
    buf_reserve(&b, 0);
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
            free(b.s);
            api_error(e, 400, INVALID, "messages", NULL,
                      "messages[%d].content: trit reads text parts only ({\"type\": \"text\", \"text\": ...})", i);
            return NULL;
        }
        buf_puts(&b, text->valuestring);
    }
    return b.s;
}

static int get_messages(const cJSON *m, ApiRequest *r, ApiError *e) {
    if (!m) return api_error(e, 400, INVALID, "messages", NULL, "'messages' is required");
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
        return api_error(e, 400, INVALID, "messages", NULL, "'messages' must be a non-empty list");
    const int n = cJSON_GetArraySize(m);
    r->messages = xcalloc((size_t)n, sizeof *r->messages);
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) {
        const int i = r->n_messages;
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        if (!cJSON_IsObject(msg) || !cJSON_IsString(role))
            return api_error(e, 400, INVALID, "messages", NULL, "messages[%d] must be an object with a string 'role'", i);
        const char *rs = role->valuestring;
        if (!strcmp(rs, "developer")) rs = "system";  // the newer name of the system role
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant"))
            return api_error(e, 400, INVALID, "messages", NULL,
                             "messages[%d].role '%.64s' is not supported (system, developer, user, assistant)", i,
                             role->valuestring);
        if (cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
            return api_error(e, 400, INVALID, "messages", NULL, "messages[%d]: tool calls are not supported", i);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!c) return api_error(e, 400, INVALID, "messages", NULL, "messages[%d] has no 'content'", i);
        char *content = get_content(c, i, e);
        if (!content) return -1;
        r->messages[i] = (ChatMessage){strcmp(rs, "system") ? (!strcmp(rs, "user") ? "user" : "assistant") : "system",
                                       content};
        r->n_messages++;
    }
    return 0;
}

static int get_stop(const cJSON *s, ApiRequest *r, ApiError *e) {
    if (!s || cJSON_IsNull(s)) return 0;
    const cJSON *one = s, *item;
    int n = cJSON_IsArray(s) ? cJSON_GetArraySize(s) : 1;
    if (!cJSON_IsString(s) && !cJSON_IsArray(s))
        return api_error(e, 400, INVALID, "stop", NULL, "'stop' must be a string or a list of strings");
    if (n > TEXT_MAX_STOPS)
        return api_error(e, 400, INVALID, "stop", NULL, "'stop' holds at most %d strings", TEXT_MAX_STOPS);
    if (cJSON_IsArray(s)) one = NULL;
    for (int i = 0; i < n; i++) {
        item = one ? one : cJSON_GetArrayItem(s, i);
        if (!cJSON_IsString(item) || !item->valuestring[0])
            return api_error(e, 400, INVALID, "stop", NULL, "'stop' strings must be non-empty strings");
        r->stops[r->n_stops++] = xstrdup(item->valuestring);
    }
    return 0;
}

static int get_prompt(const cJSON *p, ApiRequest *r, ApiError *e) {
    if (!p) return api_error(e, 400, INVALID, "prompt", NULL, "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p))
        return api_error(e, 400, INVALID, "prompt", NULL, "'prompt' must be a string (or a list of one string)");
    if (!p->valuestring[0]) return api_error(e, 400, INVALID, "prompt", NULL, "'prompt' is empty");
    r->prompt = xstrdup(p->valuestring);
    return 0;
}

// Fields that ask for what trit does not do: refused, not ignored.
static int refuse_unsupported(const cJSON *root, ApiError *e) {
    static const char *const zero_ok[] = {"presence_penalty", "frequency_penalty"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, zero_ok[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
            return api_error(e, 400, INVALID, zero_ok[i], NULL, "'%s' is not supported (only 0)", zero_ok[i]);
    }
    static const char *const false_ok[] = {"logprobs", "echo"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, false_ok[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v))
            return api_error(e, 400, INVALID, false_ok[i], NULL, "'%s' is not supported", false_ok[i]);
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (tools && !cJSON_IsNull(tools) && !(cJSON_IsArray(tools) && cJSON_GetArraySize(tools) == 0))
        return api_error(e, 400, INVALID, "tools", NULL, "tools are not supported");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1))
        return api_error(e, 400, INVALID, "n", NULL, "'n' must be 1: one choice a request");
    return 0;
}

static int parse_fields(const cJSON *root, ApiKind kind, ApiRequest *r, ApiError *e) {
    if (!cJSON_IsObject(root)) return api_error(e, 400, INVALID, NULL, NULL, "the body must be a JSON object");
    if (refuse_unsupported(root, e)) return -1;
    if (kind == API_CHAT ? get_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"), r, e)
                         : get_prompt(cJSON_GetObjectItemCaseSensitive(root, "prompt"), r, e))
        return -1;
    double x = 0;
    static const char *const max_names[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, max_names[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (get_whole(v, max_names[i], 1, 1e9, &x, e)) return -1;
        r->max_tokens = (long)x;
    }
    const cJSON *v;
    r->temperature = 1.0;  // the API's defaults: plain sampling from the model
    r->top_p = 1.0;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "temperature")) && !cJSON_IsNull(v) &&
        get_number(v, "temperature", 0, 2, &r->temperature, e))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "top_p")) && !cJSON_IsNull(v) &&
        get_number(v, "top_p", 1e-9, 1, &r->top_p, e))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "top_k")) && !cJSON_IsNull(v)) {
        if (get_whole(v, "top_k", 0, 1e9, &x, e)) return -1;
        r->top_k = (int)x;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "seed")) && !cJSON_IsNull(v)) {
        // Any 64-bit integer a client sends (negative ones wrap).
        if (get_whole(v, "seed", -9.2e18, 1.8e19, &x, e)) return -1;
        r->seed = x < 0 ? (uint64_t)(int64_t)x : (uint64_t)x;
        r->has_seed = 1;
    }
    if (get_stop(cJSON_GetObjectItemCaseSensitive(root, "stop"), r, e)) return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "stream")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return api_error(e, 400, INVALID, "stream", NULL, "'stream' must be true or false");
        r->stream = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "stream_options")) && !cJSON_IsNull(v)) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(v, "include_usage");
        if (!cJSON_IsObject(v) || (u && !cJSON_IsBool(u)))
            return api_error(e, 400, INVALID, "stream_options", NULL,
                             "'stream_options' must be an object with a boolean 'include_usage'");
        r->include_usage = cJSON_IsTrue(u);
    }
    return 0;
}

int api_parse(const char *body, size_t len, ApiKind kind, ApiRequest *r, ApiError *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    const char *why;
    const size_t ok = utf8_check((const uint8_t *)body, len, &why);
    if (ok < len) return api_error(e, 400, INVALID, NULL, NULL, "the body is not UTF-8 (byte %zu: %s)", ok + 1, why);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return api_error(e, 400, INVALID, NULL, NULL, "the body is not valid JSON (near byte %zu)", at + 1);
    }
    // Text after the value is not JSON either ("{} x").
    while (end && end < body + len && strchr(" \t\r\n", *end) && *end) end++;
    int rc = end && end < body + len ? api_error(e, 400, INVALID, NULL, NULL, "the body has text after the JSON value")
                                     : parse_fields(root, kind, r, e);
    cJSON_Delete(root);
    if (rc) api_request_free(r);
    else r->kind = kind;
    return rc;
}
