// buf.h — a growable, always NUL-terminated byte buffer, and JSON string
// literals written exactly as Python's json (and serde_json) write them.
#ifndef TRIT_BUF_H
#define TRIT_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *s;  // NUL-terminated; free() when done
    size_t len, cap;
} Buf;

// Room for `extra` more bytes (and the NUL) without another allocation.
void buf_reserve(Buf *b, size_t extra);
void buf_put(Buf *b, const void *s, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Appends `s` as a JSON string literal. With `ascii` (Python's default
// ensure_ascii) DEL and every non-ASCII character become \uXXXX escapes
// (surrogate pairs above U+FFFF), and bytes that are not UTF-8 are escaped
// as if Latin-1; without it UTF-8 is copied and a byte that is not UTF-8
// becomes \ufffd (as Python's decode(errors="replace")): the literal is
// always valid JSON text.
void buf_json_str(Buf *b, const char *s, int ascii);

#endif
