// buf.c — see buf.h.
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"
#include "base/util.h"

void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
}

void buf_put(Buf *b, const void *s, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_json_str(Buf *b, const char *s, int ascii) {
    buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        uint32_t cp;
        int n;
        if (*p == '"') buf_puts(b, "\\\"");
        else if (*p == '\\') buf_puts(b, "\\\\");
        else if (*p == '\n') buf_puts(b, "\\n");
        else if (*p == '\t') buf_puts(b, "\\t");
        else if (*p == '\r') buf_puts(b, "\\r");
        else if (*p == '\b') buf_puts(b, "\\b");
        else if (*p == '\f') buf_puts(b, "\\f");
        else if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
        else if (*p < 0x7f || (*p == 0x7f && !ascii)) buf_put(b, (const char *)p, 1);
        else if ((n = utf8_decode_checked(p, &cp)) == 0)  // not UTF-8: the byte as a code point, or U+FFFD
            buf_printf(b, "\\u%04x", ascii ? *p : 0xfffd);
        else if (!ascii) {
            buf_put(b, (const char *)p, (size_t)n);
            p += n - 1;
        } else {
            if (cp >= 0x10000)
                buf_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
            else
                buf_printf(b, "\\u%04x", cp);
            p += n - 1;
        }
    }
    buf_puts(b, "\"");
}
