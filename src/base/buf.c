// buf.c — see buf.h.
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

void buf_put(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
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
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int utf8_decode_multi(const unsigned char *p, uint32_t *cp) {
    int n = p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : p[0] >= 0xe0 && p[0] < 0xf0 ? 3 : p[0] >= 0xf0 && p[0] < 0xf5 ? 4 : 0;
    if (n == 0) return 0;
    uint32_t c = p[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;  // also stops at the NUL
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c < 0xe000))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    *cp = c;
    return n;
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
        else if (*p < 0x7f || !ascii) buf_put(b, (const char *)p, 1);
        else if ((n = utf8_decode_multi(p, &cp)) == 0) buf_printf(b, "\\u%04x", *p);  // not UTF-8: the byte as a code point
        else {
            if (cp >= 0x10000)
                buf_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
            else
                buf_printf(b, "\\u%04x", cp);
            p += n - 1;
        }
    }
    buf_puts(b, "\"");
}
