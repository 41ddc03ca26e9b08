// text.c — see text.h.
#include "serve/text.h"

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/util.h"

static const char REPLACEMENT[] = "\xef\xbf\xbd";  // U+FFFD

void textout_init(TextOut *t, const char *const *stops, int n) {
    memset(t, 0, sizeof *t);
    buf_reserve(&t->text, 64);
    for (int i = 0; i < n && i < TEXT_MAX_STOPS; i++) {
        t->stops[t->n_stops++] = stops[i];
        size_t len = strlen(stops[i]);
        if (len > t->max_stop) t->max_stop = len;
    }
}

void textout_free(TextOut *t) {
    free(t->text.s);
    memset(t, 0, sizeof *t);
}

// Looks for a stop string that may end in the bytes appended since `from`:
// it cuts the text at the earliest one. Returns 1 when one was found.
static int find_stop(TextOut *t, size_t from) {
    if (t->n_stops == 0) return 0;
    size_t start = from + 1 > t->max_stop ? from + 1 - t->max_stop : 0, cut = t->text.len;
    for (int i = 0; i < t->n_stops; i++) {
        const char *p = memmem(t->text.s + start, t->text.len - start, t->stops[i], strlen(t->stops[i]));
        if (p && (size_t)(p - t->text.s) < cut) cut = (size_t)(p - t->text.s);
    }
    if (cut == t->text.len) return 0;
    t->text.len = cut;
    t->text.s[cut] = 0;
    t->stopped = 1;
    return 1;
}

int textout_push(TextOut *t, const char *s, size_t n) {
    if (t->stopped) return 1;
    const size_t before = t->text.len;
    // The held bytes and the new ones as one run: a character may span pieces.
    const size_t len = t->n_raw + n;
    unsigned char *run = xmalloc(len + 1);
    memcpy(run, t->raw, t->n_raw);
    memcpy(run + t->n_raw, s, n);
    t->n_raw = 0;
    for (size_t i = 0; i < len;) {
        const int k = utf8_next(run + i, len - i);
        if (k == 0) {  // the start of a character (at most 3 bytes): held for the next piece
            t->n_raw = len - i;
            memcpy(t->raw, run + i, t->n_raw);
            break;
        }
        if (k > 0) buf_put(&t->text, run + i, (size_t)k);
        else buf_put(&t->text, REPLACEMENT, 3);
        i += (size_t)(k > 0 ? k : -k);
    }
    free(run);
    return find_stop(t, before);
}

int textout_finish(TextOut *t) {
    if (t->stopped) return 1;
    const size_t before = t->text.len;
    if (t->n_raw) buf_put(&t->text, REPLACEMENT, 3);  // a character cut short: one maximal subpart
    t->n_raw = 0;
    return find_stop(t, before);
}

size_t textout_ready(const TextOut *t, int finished) {
    if (t->stopped || finished) return t->text.len;
    // The longest tail of the text that is a proper prefix of a stop string.
    size_t hold = 0;
    for (int i = 0; i < t->n_stops; i++) {
        size_t len = strlen(t->stops[i]);
        for (size_t k = len - 1 < t->text.len ? len - 1 : t->text.len; k > hold; k--)
            if (!memcmp(t->text.s + t->text.len - k, t->stops[i], k)) {
                hold = k;
                break;
            }
    }
    return t->text.len - hold;
}
