// engine.c — see engine.h.
#include "serve/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "serve/text.h"

struct Job {
    Engine *e;
    Seq seq;
    TextOut out;
    char *stops[TEXT_MAX_STOPS];
    int n_stops;
    pthread_cond_t cv;      // signalled on new text and at the end
    int done, cancelled;
    size_t n_prompt, n_tokens;  // tokens in, tokens out (counted as they come, under the lock)
    const char *finish;
    char error[ERR_LEN];
    int refs;               // the engine's and the caller's
    Job *next;              // in the queue
};

struct Engine {
    const ModelWeights *w;
    const Tokenizer *tok;
    int32_t eos[8];
    int n_eos;
    EngineOptions o;
    Decoder d;
    pthread_t thread;
    pthread_mutex_t mu;     // everything below, and every job's state
    pthread_cond_t work;    // a job queued or cancelled, or the stop
    Job *head, *tail;
    int queued, stopping;
    Job *active[KV_MAX_SEQS];
    long requests, prompt_tokens, completion_tokens;
    double rate;
};

static void unref(Job *j) {  // with e->mu held
    if (--j->refs > 0) return;
    seq_free(&j->seq);
    textout_free(&j->out);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    pthread_cond_destroy(&j->cv);
    free(j);
}

// Each token as the sequence emits it (engine thread, no lock held): its
// bytes into the text. Non-zero (the sequence ends) at a stop string or
// when the client has gone.
static int on_token(int32_t id, void *user) {
    Job *j = user;
    Engine *e = j->e;
    char *piece = NULL, err[ERR_LEN];
    size_t len = 0;
    const int bad = tokenizer_decode(e->tok, &id, 1, &piece, &len, err);
    pthread_mutex_lock(&e->mu);
    int stop = j->cancelled;
    j->n_tokens++;
    if (bad) {  // an id the vocabulary cannot spell: end with an error
        snprintf(j->error, sizeof j->error, "%s", err);
        stop = 1;
    } else if (textout_push(&j->out, piece, len)) {
        stop = 1;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&e->mu);
    free(piece);
    return stop;
}

// j has ended (with e->mu held): its finish reason from why the sequence
// stopped, the counters, the waiter woken, the engine's reference dropped.
static void finish(Engine *e, Job *j, const char *error) {
    if (error && !j->error[0]) snprintf(j->error, sizeof j->error, "%s", error);
    const char *why = j->seq.st.stop ? j->seq.st.stop : "";
    if (j->error[0]) j->finish = NULL;
    else if (j->cancelled || !strcmp(why, "removed")) j->finish = "cancelled";
    else if (!strcmp(why, "eos") || !strcmp(why, "callback")) j->finish = "stop";
    else j->finish = "length";  // max-tokens, or the context full
    if (textout_finish(&j->out) && j->finish) j->finish = "stop";
    j->done = 1;
    e->requests++;
    e->prompt_tokens += (long)j->n_prompt;
    e->completion_tokens += (long)j->n_tokens;
    pthread_cond_broadcast(&j->cv);
    unref(j);
}

// j is the only request: speculative decoding, to its end (with e->mu
// held; released while it runs).
static void run_alone(Engine *e, Job *j) {
    char err[ERR_LEN];
    SpecStats ss;
    pthread_mutex_unlock(&e->mu);
    const int rc = spec_generate(e->w, j->seq.ids, j->seq.n, &j->seq.o, e->o.spec, on_token, j, &ss, err);
    pthread_mutex_lock(&e->mu);
    j->seq.st.stop = rc ? NULL : ss.d.stop;
    finish(e, j, rc ? err : NULL);
}

// Queued jobs into free slots, each prompt prefilled alone (with e->mu held;
// released around the prefill).
static void admit(Engine *e) {
    char err[ERR_LEN];
    while (e->head && e->d.n_live < e->d.kv.n_slots) {
        Job *j = e->head;
        e->head = j->next;
        if (!e->head) e->tail = NULL;
        e->queued--;
        if (j->cancelled) {
            finish(e, j, NULL);
            continue;
        }
        if (e->o.spec && e->d.n_live == 0 && !e->head && spec_options_check(e->o.spec, NULL, &j->seq.o, err) == 0) {
            run_alone(e, j);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        const int rc = decoder_add(&e->d, &j->seq, err);
        pthread_mutex_lock(&e->mu);
        if (rc) finish(e, j, err);
        else if (j->seq.slot < 0) finish(e, j, NULL);  // ended at its first token
        else e->active[j->seq.slot] = j;
    }
}

// Jobs whose sequence ended in the last step, or whose client has gone.
static void reap(Engine *e) {
    for (int i = 0; i < e->d.kv.n_slots; i++) {
        Job *j = e->active[i];
        if (!j) continue;
        if (j->cancelled && j->seq.slot >= 0) decoder_remove(&e->d, &j->seq);
        if (j->seq.slot < 0) {
            e->active[i] = NULL;
            finish(e, j, NULL);
        }
    }
}

static void *engine_main(void *arg) {
    Engine *e = arg;
    char err[ERR_LEN];
    pthread_mutex_lock(&e->mu);
    for (;;) {
        reap(e);
        admit(e);
        if (e->d.n_live == 0) {
            if (e->stopping && !e->head) break;
            e->rate = 0;
            pthread_cond_wait(&e->work, &e->mu);
            continue;
        }
        const int rows = e->d.n_live;
        pthread_mutex_unlock(&e->mu);
        const double t0 = now_seconds();
        const int rc = decoder_step(&e->d, err);
        const double dt = now_seconds() - t0;
        pthread_mutex_lock(&e->mu);
        if (rc < 0) {  // the model failed: every live job ends with the error
            for (int i = 0; i < e->d.kv.n_slots; i++)
                if (e->active[i]) {
                    decoder_remove(&e->d, &e->active[i]->seq);
                    finish(e, e->active[i], err);
                    e->active[i] = NULL;
                }
        }
        if (dt > 0) e->rate = e->rate > 0 ? 0.8 * e->rate + 0.2 * rows / dt : rows / dt;
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

Engine *engine_start(const ModelWeights *w, const Tokenizer *tok, const int32_t *eos, int n_eos,
                     const EngineOptions *o, char *err) {
    if (o->n_slots < 1 || o->n_slots > KV_MAX_SEQS) {
        set_err(err, "the engine runs 1 to %d sequences at once, not %d", KV_MAX_SEQS, o->n_slots);
        return NULL;
    }
    Engine *e = xcalloc(1, sizeof *e);
    e->w = w;
    e->tok = tok;
    e->n_eos = n_eos < 8 ? n_eos : 8;
    memcpy(e->eos, eos, sizeof(int32_t) * (size_t)e->n_eos);
    e->o = *o;
    if (decoder_init(&e->d, w, o->n_slots, o->ctx, err)) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e)) {
        set_err(err, "cannot start the engine thread");
        decoder_free(&e->d);
        free(e);
        return NULL;
    }
    return e;
}

void engine_stop(Engine *e) {
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    decoder_free(&e->d);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work);
    free(e);
}

Job *engine_submit(Engine *e, const int32_t *prompt, size_t n, const DecodeOptions *o, char *const *stops,
                   int n_stops, int *busy, char *err) {
    *busy = 0;
    Job *j = xcalloc(1, sizeof *j);
    j->e = e;
    j->n_prompt = n;
    DecodeOptions oo = *o;
    oo.eos = e->eos;
    oo.n_eos = e->n_eos;
    if (seq_init(&j->seq, &e->w->config, prompt, n, &oo, on_token, j, err)) {
        free(j);
        return NULL;
    }
    for (int i = 0; i < n_stops && i < TEXT_MAX_STOPS; i++) j->stops[j->n_stops++] = xstrdup(stops[i]);
    textout_init(&j->out, (const char *const *)j->stops, j->n_stops);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2;
    pthread_mutex_lock(&e->mu);
    if (e->queued >= e->o.max_queue || e->stopping) {
        *busy = 1;
        set_err(err, e->stopping ? "the server is shutting down" : "all %d slots are busy and %d requests wait",
                e->d.kv.n_slots, e->queued);
        j->refs = 1;
        unref(j);
        pthread_mutex_unlock(&e->mu);
        return NULL;
    }
    if (e->tail) e->tail->next = j;
    else e->head = j;
    e->tail = j;
    e->queued++;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
    return j;
}

void job_wait(Job *j, Buf *out, size_t *sent, int timeout_ms, JobStatus *st) {
    Engine *e = j->e;
    pthread_mutex_lock(&e->mu);
    if (!j->done && textout_ready(&j->out, 0) <= *sent) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!j->done && textout_ready(&j->out, 0) <= *sent)
            if (pthread_cond_timedwait(&j->cv, &e->mu, &ts) == ETIMEDOUT) break;
    }
    const size_t ready = textout_ready(&j->out, j->done);
    if (ready > *sent) buf_put(out, j->out.text.s + *sent, ready - *sent);
    *sent = ready > *sent ? ready : *sent;
    st->done = j->done;
    st->finish = j->finish;
    snprintf(st->error, sizeof st->error, "%s", j->error);
    st->prompt_tokens = j->n_prompt;
    st->completion_tokens = j->n_tokens;
    pthread_mutex_unlock(&e->mu);
}

void job_cancel(Job *j) {
    Engine *e = j->e;
    pthread_mutex_lock(&e->mu);
    j->cancelled = 1;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
}

void job_release(Job *j) {
    Engine *e = j->e;
    pthread_mutex_lock(&e->mu);
    unref(j);
    pthread_mutex_unlock(&e->mu);
}

EngineStats engine_stats(Engine *e) {
    pthread_mutex_lock(&e->mu);
    int busy = 0;
    for (int i = 0; i < e->o.n_slots; i++) busy += e->active[i] != NULL;
    EngineStats s = {.requests = e->requests, .prompt_tokens = e->prompt_tokens,
                     .completion_tokens = e->completion_tokens, .queued = e->queued, .busy = busy,
                     .n_slots = e->o.n_slots, .tokens_per_second = busy ? e->rate : 0.0};
    pthread_mutex_unlock(&e->mu);
    return s;
}
