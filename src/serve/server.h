// server.h — `trit serve`: the OpenAI API over HTTP (libmicrohttpd, a
// thread per connection) in front of the engine's continuous batching, with
// a chat page at / built into the binary.
#ifndef TRIT_SERVE_SERVER_H
#define TRIT_SERVE_SERVER_H

#include <stddef.h>

#include "infer/source.h"
#include "infer/spec.h"

typedef struct {
    const char *host;      // address to bind ("127.0.0.1"; IPv6 when it has a ':')
    int port;              // 0: any free port (printed)
    int parallel;          // sequences decoded together
    int queue;             // requests waiting for a slot before 503
    int ctx;               // positions per sequence
    const char *api_key;   // NULL: none
    size_t max_body;       // bytes of a request body
    int timeout;           // seconds a connection may stay idle
    const char *name;      // the model id clients see
    const SpecOptions *spec;  // NULL, or speculative decoding for a request that runs alone
} ServeOptions;

// Serves until SIGTERM or SIGINT, then lets every request in flight finish
// and returns 0; -1 with err when it cannot start.
int serve_run(const ModelSource *src, const ServeOptions *o, char *err);

#endif
