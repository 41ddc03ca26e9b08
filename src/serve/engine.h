// engine.h — continuous batching: one thread owns a Decoder and its KV cache
// slots and steps every live request together (one row each, one product
// per weight); requests wait in a bounded queue, join between steps (their
// prompt prefilled alone, so a greedy answer is the same bytes whatever runs
// beside it) and leave the moment they end or their client goes away.
// Callers on any thread submit jobs and wait for their text.
#ifndef TRIT_SERVE_ENGINE_H
#define TRIT_SERVE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/util.h"
#include "infer/decode.h"
#include "infer/spec.h"
#include "model/weights.h"
#include "tok/tokenizer.h"

typedef struct Engine Engine;
typedef struct Job Job;

typedef struct {
    int n_slots;    // sequences decoded together (<= KV_MAX_SEQS)
    int max_queue;  // requests waiting for a slot before submits are refused
    int ctx;        // positions a slot holds (prompt + answer)
    // NULL, or a drafter: a request that finds no other running or waiting
    // decodes alone with speculative decoding (greedy: the same answer;
    // sampled: the same distribution); requests that come meanwhile wait.
    const SpecOptions *spec;
} EngineOptions;

// What a job has become, as job_wait reports it.
typedef struct {
    int done;
    const char *finish;   // when done: "stop", "length", or NULL after an error
    char error[ERR_LEN];  // when done with finish NULL
    size_t prompt_tokens, completion_tokens;
} JobStatus;

typedef struct {
    long requests, prompt_tokens, completion_tokens;
    int queued, busy, n_slots;
    double tokens_per_second;  // completion tokens a second over the last steps
} EngineStats;

// Starts the engine thread. w and tok must outlive it; eos[0..n_eos) are
// copied. Returns NULL with err.
Engine *engine_start(const ModelWeights *w, const Tokenizer *tok, const int32_t *eos, int n_eos,
                     const EngineOptions *o, char *err);
// Lets every submitted job finish, then stops the thread and frees e.
void engine_stop(Engine *e);

// Queues a generation of prompt[0..n) (copied) with o (its eos ignored: the
// engine's are used) and the stop strings stops[0..n_stops) (copied).
// Returns the job, or NULL with err and *busy = 1 when the queue is full
// (*busy = 0: a bad request, e.g. sampling settings seq_init refuses).
Job *engine_submit(Engine *e, const int32_t *prompt, size_t n, const DecodeOptions *o, char *const *stops,
                   int n_stops, int *busy, char *err);
// Waits up to timeout_ms for text beyond the *sent bytes already taken (or
// the end); appends what is final to out and advances *sent. Fills st.
void job_wait(Job *j, Buf *out, size_t *sent, int timeout_ms, JobStatus *st);
// The client went away: the job leaves its slot (or the queue) at the next
// step.
void job_cancel(Job *j);
// The caller is done with j (after or instead of waiting to the end).
void job_release(Job *j);

EngineStats engine_stats(Engine *e);

#endif
