// text.h — a generated answer as text a client can be sent: token bytes
// joined into valid UTF-8, stop strings found across token boundaries, and
// how much of the text is final (streaming must not send what a stop string
// may still cut off, nor half a character).
#ifndef TRIT_SERVE_TEXT_H
#define TRIT_SERVE_TEXT_H

#include <stddef.h>

#include "base/buf.h"

#define TEXT_MAX_STOPS 4

typedef struct {
    Buf text;                          // the answer so far: valid UTF-8, cut at a stop string
    unsigned char raw[4];              // bytes of a character not yet complete
    size_t n_raw;
    const char *stops[TEXT_MAX_STOPS]; // the caller's strings (non-empty)
    int n_stops;
    size_t max_stop;                   // the longest stop string's length
    int stopped;                       // a stop string was found: text ends before it
} TextOut;

// stops[0..n) are borrowed and must outlive t.
void textout_init(TextOut *t, const char *const *stops, int n);
void textout_free(TextOut *t);
// Appends a token's bytes. Ill-formed bytes become U+FFFD (as Python's
// errors="replace"); an incomplete character at the end waits for the next
// piece. Returns 1 when a stop string is now in the text (the text is cut
// where it begins and takes nothing more), else 0.
int textout_push(TextOut *t, const char *s, size_t n);
// The end of the answer: a character left incomplete becomes U+FFFD (and
// may complete a stop string). Returns 1 when the text now holds one.
int textout_finish(TextOut *t);
// How many bytes of text are final: all but a tail that begins a stop
// string (which later pieces may complete). All of it once stopped or
// finished.
size_t textout_ready(const TextOut *t, int finished);

#endif
