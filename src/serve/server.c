// server.c — see server.h.
#include "serve/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/util.h"
#include "chat_html.h"  // generated from src/serve/chat.html by tools/embed.py
#include "infer/chat.h"
#include "serve/api.h"
#include "serve/engine.h"

typedef struct {
    const ModelSource *src;
    const ServeOptions *o;
    Engine *engine;
    pthread_mutex_t mu;     // the fields below
    int in_flight, draining;
    long responses[6];      // by status class: [2] 2xx ... [5] 5xx
    uint64_t next_id;
} Server;

// One HTTP request, from its first byte to its last response byte.
typedef struct {
    Server *s;
    Buf body;
    int too_big;
    Job *job;
    ApiKind kind;
    const char *allow;      // a 405's Allow header: the route's method
    int stream, include_usage, role_sent, finished;
    size_t sent;            // bytes of the job's text taken
    Buf out;                // response bytes not yet handed to MHD
    size_t out_pos;
    char id[48];
    long created;
    int fd;
    struct MHD_Connection *conn;
} Req;

static void count_status(Server *s, int status) {
    pthread_mutex_lock(&s->mu);
    s->responses[status / 100 < 6 ? status / 100 : 5]++;
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result respond(Req *r, int status, const char *type, const char *body, size_t len,
                               const char *h1, const char *v1) {
    struct MHD_Response *res = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(res, "Content-Type", type);
    if (h1) MHD_add_response_header(res, h1, v1);
    const enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, res);
    MHD_destroy_response(res);
    count_status(r->s, status);
    return rc;
}

static enum MHD_Result respond_json(Req *r, int status, Buf *b) {
    enum MHD_Result rc = respond(r, status, "application/json", b->s, b->len, NULL, NULL);
    free(b->s);
    return rc;
}

static enum MHD_Result respond_error(Req *r, const ApiError *e) {
    char *body = api_error_json(e);
    const char *h = NULL, *v = NULL;
    if (e->status == 503) h = "Retry-After", v = "1";
    else if (e->status == 401) h = "WWW-Authenticate", v = "Bearer";
    else if (e->status == 405) h = "Allow", v = r->allow;
    enum MHD_Result rc = respond(r, e->status, "application/json", body, strlen(body), h, v);
    free(body);
    return rc;
}

// Whether the client has closed its end (a half-open connection reads as
// hung up too): a request it no longer waits for frees its slot.
static int client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// Waiting on the model is not an idle connection: the timeout restarts.
static void still_busy(Req *r) {
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)r->s->o->timeout);
}

// The answer's text as a JSON string: the text is valid UTF-8 but may hold
// any control character, NUL included.
static void json_text(Buf *b, const char *s, size_t n) {
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') buf_printf(b, "\\%c", c);
        else if (c == '\n') buf_puts(b, "\\n");
        else if (c == '\r') buf_puts(b, "\\r");
        else if (c == '\t') buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) buf_printf(b, "\\u%04x", c);
        else buf_put(b, &s[i], 1);
    }
    buf_put(b, "\"", 1);
}

static void json_head(Req *r, Buf *b, const char *object) {
    buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":", r->id, object, r->created);
    buf_json_str(b, r->s->o->name, 0);
}

static void json_usage(Buf *b, const JobStatus *st) {
    buf_printf(b, "\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"total_tokens\":%zu}",
               st->prompt_tokens, st->completion_tokens, st->prompt_tokens + st->completion_tokens);
}

// One streamed chunk: new text, the role (chat's first), or the finish.
static void sse_chunk(Req *r, const char *text, size_t n, int role, const char *finish) {
    Buf *b = &r->out;
    buf_puts(b, "data: ");
    json_head(r, b, r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
    buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (r->kind == API_CHAT) {
        buf_puts(b, "\"delta\":{");
        if (role) buf_puts(b, "\"role\":\"assistant\",\"content\":\"\"");
        else if (text) buf_puts(b, "\"content\":"), json_text(b, text, n);
        buf_puts(b, "},");
    } else {
        buf_puts(b, "\"text\":");
        json_text(b, text ? text : "", text ? n : 0);
        buf_puts(b, ",\"logprobs\":null,");
    }
    if (finish) buf_printf(b, "\"finish_reason\":\"%s\"}]}\n\n", finish);
    else buf_puts(b, "\"finish_reason\":null}]}\n\n");
}

// Fills r->out with the next events of the stream; returns 0 when there is
// nothing yet (the job still runs).
static void stream_more(Req *r) {
    if (r->kind == API_CHAT && !r->role_sent) {
        sse_chunk(r, NULL, 0, 1, NULL);
        r->role_sent = 1;
        return;
    }
    Buf text = {0};
    JobStatus st;
    job_wait(r->job, &text, &r->sent, 250, &st);
    if (text.len) sse_chunk(r, text.s, text.len, 0, NULL);
    free(text.s);
    if (!st.done) return;
    if (!st.finish) {  // the model failed mid-answer: an error event, then the end
        ApiError e;
        api_error(&e, 500, "server_error", NULL, NULL, "%s", st.error);
        char *j = api_error_json(&e);
        buf_printf(&r->out, "data: %s\n\n", j);
        free(j);
    } else {
        sse_chunk(r, NULL, 0, 0, st.finish);
        if (r->include_usage) {
            buf_puts(&r->out, "data: ");
            json_head(r, &r->out, r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
            buf_puts(&r->out, ",\"choices\":[],");
            json_usage(&r->out, &st);
            buf_puts(&r->out, "}\n\n");
        }
    }
    buf_puts(&r->out, "data: [DONE]\n\n");
    r->finished = 1;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    Req *r = cls;
    while (r->out_pos == r->out.len) {
        if (r->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        r->out.len = r->out_pos = 0;
        stream_more(r);
        if (r->out.len == 0) {
            if (client_gone(r->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
            still_busy(r);
        }
    }
    size_t n = r->out.len - r->out_pos < max ? r->out.len - r->out_pos : max;
    memcpy(buf, r->out.s + r->out_pos, n);
    r->out_pos += n;
    return (ssize_t)n;
}

// The whole answer, then one JSON response.
static enum MHD_Result answer_whole(Req *r) {
    Buf text = {0};
    JobStatus st;
    for (;;) {
        job_wait(r->job, &text, &r->sent, 250, &st);
        if (st.done) break;
        if (client_gone(r->fd)) {
            free(text.s);
            return MHD_NO;  // closes the connection; the completed callback cancels the job
        }
        still_busy(r);
    }
    Buf b = {0};
    if (!st.finish) {
        ApiError e;
        api_error(&e, 500, "server_error", NULL, NULL, "%s", st.error);
        free(text.s);
        return respond_error(r, &e);
    }
    json_head(r, &b, r->kind == API_CHAT ? "chat.completion" : "text_completion");
    if (r->kind == API_CHAT) {
        buf_puts(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        json_text(&b, text.s ? text.s : "", text.len);
        buf_puts(&b, "},");
    } else {
        buf_puts(&b, ",\"choices\":[{\"index\":0,\"text\":");
        json_text(&b, text.s ? text.s : "", text.len);
        buf_puts(&b, ",");
    }
    buf_printf(&b, "\"logprobs\":null,\"finish_reason\":\"%s\"}],", st.finish);
    json_usage(&b, &st);
    buf_puts(&b, "}");
    free(text.s);
    return respond_json(r, 200, &b);
}

// The request's prompt as ids, checked against the context; fills the
// decoding options. Returns 0, or -1 with e.
static int prepare(Req *r, const ApiRequest *ar, int32_t **ids, size_t *n, DecodeOptions *o, ApiError *e) {
    const ModelSource *src = r->s->src;
    const int ctx = r->s->o->ctx;
    char err[ERR_LEN];
    char *text = ar->kind == API_CHAT
                     ? chat_format_messages(src->chat_template, src->tok, ar->messages, ar->n_messages, err)
                     : xstrdup(ar->prompt);
    if (!text) return api_error(e, 400, "invalid_request_error", "messages", NULL, "%s", err);
    const int rc = tokenizer_encode(src->tok, text, strlen(text), ids, n, err);
    free(text);
    if (rc) return api_error(e, 400, "invalid_request_error", NULL, NULL, "%s", err);
    if (*n == 0) return api_error(e, 400, "invalid_request_error", NULL, NULL, "the prompt encodes to no tokens");
    if (*n >= (size_t)ctx)
        return api_error(e, 400, "invalid_request_error", ar->kind == API_CHAT ? "messages" : "prompt",
                         "context_length_exceeded",
                         "the prompt has %zu tokens; the context holds %d (the prompt and at least one token)", *n,
                         ctx);
    const long room = ctx - (long)*n;
    if (ar->max_tokens > room)
        return api_error(e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                         "max_tokens %ld and the prompt's %zu tokens exceed the context of %d", ar->max_tokens, *n,
                         ctx);
    uint64_t seed = ar->seed;
    if (!ar->has_seed) {  // a seed of its own for each request
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        pthread_mutex_lock(&r->s->mu);
        seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ r->s->next_id++);
        pthread_mutex_unlock(&r->s->mu);
    }
    *o = (DecodeOptions){.max_tokens = ar->max_tokens ? ar->max_tokens : room,
                         .temperature = (float)ar->temperature,
                         .top_k = ar->top_k,
                         .top_p = (float)ar->top_p,
                         .seed = seed,
                         .vocab_limit = tokenizer_vocab_size(src->tok)};
    return 0;
}

static enum MHD_Result generate(Req *r) {
    ApiRequest ar;
    ApiError e;
    if (api_parse(r->body.s ? r->body.s : "", r->body.len, r->kind, &ar, &e)) return respond_error(r, &e);
    int32_t *ids = NULL;
    size_t n = 0;
    DecodeOptions o;
    if (prepare(r, &ar, &ids, &n, &o, &e)) {
        free(ids);
        api_request_free(&ar);
        return respond_error(r, &e);
    }
    int busy;
    char err[ERR_LEN];
    r->job = engine_submit(r->s->engine, ids, n, &o, ar.stops, ar.n_stops, &busy, err);
    free(ids);
    r->stream = ar.stream;
    r->include_usage = ar.include_usage;
    api_request_free(&ar);
    if (!r->job) {
        if (busy) api_error(&e, 503, "server_error", NULL, "server_busy", "%s; retry shortly", err);
        else api_error(&e, 400, "invalid_request_error", NULL, NULL, "%s", err);
        return respond_error(r, &e);
    }
    pthread_mutex_lock(&r->s->mu);
    snprintf(r->id, sizeof r->id, "%s-%016llx", r->kind == API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)mix64(r->s->next_id++ ^ (uint64_t)time(NULL)));
    pthread_mutex_unlock(&r->s->mu);
    r->created = (long)time(NULL);
    if (!r->stream) return answer_whole(r);
    struct MHD_Response *res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, r, NULL);
    MHD_add_response_header(res, "Content-Type", "text/event-stream");
    MHD_add_response_header(res, "Cache-Control", "no-cache");
    const enum MHD_Result rc = MHD_queue_response(r->conn, 200, res);
    MHD_destroy_response(res);
    count_status(r->s, 200);
    return rc;
}

static enum MHD_Result models(Req *r) {
    Buf b = {0};
    buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    buf_json_str(&b, r->s->o->name, 0);
    buf_printf(&b, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"trit\",\"context_length\":%d}]}",
               (long)time(NULL), r->s->o->ctx);
    return respond_json(r, 200, &b);
}

static enum MHD_Result health(Req *r) {
    Buf b = {0};
    buf_puts(&b, "{\"status\":\"ok\"}");
    return respond_json(r, 200, &b);
}

static enum MHD_Result page(Req *r) {
    return respond(r, 200, "text/html; charset=utf-8", chat_html, chat_html_len, "Content-Security-Policy",
                   "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
}

static enum MHD_Result metrics(Req *r) {
    const EngineStats st = engine_stats(r->s->engine);
    long resp[6];
    pthread_mutex_lock(&r->s->mu);
    memcpy(resp, r->s->responses, sizeof resp);
    pthread_mutex_unlock(&r->s->mu);
    Buf b = {0};
    buf_puts(&b, "# HELP trit_requests_total HTTP responses sent, by status class.\n"
                 "# TYPE trit_requests_total counter\n");
    for (int c = 2; c <= 5; c++) buf_printf(&b, "trit_requests_total{status=\"%dxx\"} %ld\n", c, resp[c]);
    buf_printf(&b,
               "# HELP trit_generations_total Generations the engine finished.\n"
               "# TYPE trit_generations_total counter\ntrit_generations_total %ld\n"
               "# HELP trit_prompt_tokens_total Prompt tokens of finished generations.\n"
               "# TYPE trit_prompt_tokens_total counter\ntrit_prompt_tokens_total %ld\n"
               "# HELP trit_completion_tokens_total Tokens generated.\n"
               "# TYPE trit_completion_tokens_total counter\ntrit_completion_tokens_total %ld\n"
               "# HELP trit_tokens_per_second Tokens generated a second over the last decode steps.\n"
               "# TYPE trit_tokens_per_second gauge\ntrit_tokens_per_second %.3f\n"
               "# HELP trit_queue_length Requests waiting for a slot.\n"
               "# TYPE trit_queue_length gauge\ntrit_queue_length %d\n"
               "# HELP trit_slots_busy Slots decoding a request.\n"
               "# TYPE trit_slots_busy gauge\ntrit_slots_busy %d\n"
               "# HELP trit_slots_total Slots (--parallel).\n"
               "# TYPE trit_slots_total gauge\ntrit_slots_total %d\n",
               st.requests, st.prompt_tokens, st.completion_tokens, st.tokens_per_second, st.queued, st.busy,
               st.n_slots);
    const enum MHD_Result rc = respond(r, 200, "text/plain; version=0.0.4", b.s, b.len, NULL, NULL);
    free(b.s);
    return rc;
}

// Constant-time comparison of the Authorization header with "Bearer KEY".
static int authorized(Req *r) {
    const char *key = r->s->o->api_key;
    if (!key) return 1;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    h += 7;
    const size_t a = strlen(h), b = strlen(key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(h[i < a ? i : 0] ^ key[i]);
    return diff == 0 && a > 0;
}

typedef enum MHD_Result (*Handler)(Req *);
static enum MHD_Result chat(Req *r) {
    r->kind = API_CHAT;
    return generate(r);
}
static enum MHD_Result completions(Req *r) {
    r->kind = API_COMPLETION;
    return generate(r);
}

static const struct {
    const char *path, *method;
    Handler fn;
    int auth;
} ROUTES[] = {
    {"/", "GET", page, 0},
    {"/health", "GET", health, 0},
    {"/metrics", "GET", metrics, 1},
    {"/v1/models", "GET", models, 1},
    {"/v1/chat/completions", "POST", chat, 1},
    {"/v1/completions", "POST", completions, 1},
};

static enum MHD_Result route(Req *r, const char *url, const char *method) {
    ApiError e;
    int path_known = 0;
    if (!strcmp(method, "HEAD")) method = "GET";
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
        if (strcmp(url, ROUTES[i].path)) continue;
        path_known = 1;
        r->allow = ROUTES[i].method;
        if (strcmp(method, ROUTES[i].method)) continue;
        if (ROUTES[i].auth && !authorized(r)) {
            api_error(&e, 401, "authentication_error", NULL, "invalid_api_key",
                      "this server needs 'Authorization: Bearer KEY' with its --api-key");
            return respond_error(r, &e);
        }
        if (r->too_big) {
            api_error(&e, 413, "invalid_request_error", NULL, "request_too_large",
                      "the body is over this server's --max-body of %zu bytes", r->s->o->max_body);
            return respond_error(r, &e);
        }
        return ROUTES[i].fn(r);
    }
    if (path_known) {
        api_error(&e, 405, "invalid_request_error", NULL, "method_not_allowed", "%s is not allowed on %s", method, url);
        return respond_error(r, &e);
    }
    api_error(&e, 404, "not_found_error", NULL, "not_found", "no route %.200s", url);
    return respond_error(r, &e);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    Server *s = cls;
    Req *r = *con_cls;
    if (!r) {  // the headers have arrived
        r = xcalloc(1, sizeof *r);
        r->s = s;
        r->conn = conn;
        r->fd = -1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) r->fd = ci->connect_fd;
        pthread_mutex_lock(&s->mu);
        s->in_flight++;
        pthread_mutex_unlock(&s->mu);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o->max_body) r->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) {  // a piece of the body
        if (!r->too_big && r->body.len + *upload_size <= s->o->max_body) buf_put(&r->body, upload, *upload_size);
        else r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->mu);
    const int draining = s->draining;
    pthread_mutex_unlock(&s->mu);
    if (draining) {
        ApiError e;
        api_error(&e, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        return respond_error(r, &e);
    }
    return route(r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    Server *s = cls;
    Req *r = *con_cls;
    if (!r) return;
    if (r->job) {
        job_cancel(r->job);  // a no-op for a job that has finished
        job_release(r->job);
    }
    free(r->body.s);
    free(r->out.s);
    free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&s->mu);
    s->in_flight--;
    pthread_mutex_unlock(&s->mu);
}

int serve_run(const ModelSource *src, const ServeOptions *o, char *err) {
    // Signals are taken by sigwait below, never by a handler: every thread
    // started from here on inherits the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage addr = {0};
    const int v6 = strchr(o->host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, o->host, &a->sin6_addr) != 1) return set_err(err, "--host %s: not an IPv6 address", o->host);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, o->host, &a->sin_addr) != 1)
            return set_err(err, "--host %s: not an IPv4 address (or IPv6 with ':')", o->host);
    }
    int32_t eos[3];
    const int n_eos = source_eos_ids(src, eos);
    const EngineOptions eo = {.n_slots = o->parallel, .max_queue = o->queue, .ctx = o->ctx, .spec = o->spec};
    Server s = {.src = src, .o = o};
    pthread_mutex_init(&s.mu, NULL);
    if (!(s.engine = engine_start(&src->w, src->tok, eos, n_eos, &eo, err))) return -1;
    const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                           MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, &s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->timeout, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)(4 * (o->parallel + o->queue) + 16), MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_END);
    if (!d) {
        engine_stop(s.engine);
        return set_err(err, "cannot listen on %s port %d (in use, or not an address of this machine)", o->host,
                       o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "trit serve: listening on http://%s%s%s:%u (model %s, %d slots)\n", v6 ? "[" : "", o->host,
            v6 ? "]" : "", di ? di->port : (unsigned)o->port, o->name, o->parallel);
    fflush(stderr);

    int sig;
    sigwait(&sigs, &sig);
    pthread_mutex_lock(&s.mu);
    s.draining = 1;
    fprintf(stderr, "trit serve: %s: finishing %d requests in flight\n", strsignal(sig), s.in_flight);
    pthread_mutex_unlock(&s.mu);
    const MHD_socket listener = MHD_quiesce_daemon(d);  // no new connections
    if (listener != MHD_INVALID_SOCKET) close(listener);
    // A second signal stops at once; otherwise wait for the requests in flight.
    const struct timespec tick = {0, 100 * 1000 * 1000};
    for (;;) {
        pthread_mutex_lock(&s.mu);
        const int left = s.in_flight;
        pthread_mutex_unlock(&s.mu);
        if (left == 0 || sigtimedwait(&sigs, NULL, &tick) > 0) break;
    }
    MHD_stop_daemon(d);
    engine_stop(s.engine);
    pthread_mutex_destroy(&s.mu);
    fprintf(stderr, "trit serve: stopped\n");
    return 0;
}
