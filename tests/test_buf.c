// test_buf.c — base/buf: JSON string literals as Python's json writes them,
// and always valid JSON text (a model's decoded text may end inside a
// character); base/util's err_prefix, which reads the message it rewrites.
#include "base/buf.h"
#include "base/util.h"
#include "test.h"

static void check_str(const char *in, int ascii, const char *want) {
    Buf b = {0};
    buf_json_str(&b, in, ascii);
    buf_puts(&b, "");
    CHECK(b.len == strlen(want) && !memcmp(b.s, want, b.len), "buf_json_str(%s, ascii %d) gave %.*s, want %s", in,
          ascii, (int)b.len, b.s, want);
    free(b.s);
}

static void check_err_prefix(void) {
    char err[ERR_LEN], big[ERR_LEN + 40];
    set_err(err, "inner %d", 7);
    CHECK(err_prefix(err, "%s %s", "file", "x.gguf") == -1 && !strcmp(err, "file x.gguf: inner 7"), "got '%s'", err);
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = 0;
    set_err(err, "inner");
    err_prefix(err, "%s", big);  // a prefix longer than the buffer: truncated, terminated
    CHECK(strlen(err) == ERR_LEN - 1 && err[0] == 'p', "long prefix: %zu bytes", strlen(err));
}

int main(void) {
    check_err_prefix();
    check_str("a\"b\\c\n\t\x01", 0, "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    // Valid UTF-8: copied, or escaped as json.dumps(ensure_ascii=True) does.
    check_str("caf\xc3\xa9 \xf0\x9f\x98\x80", 0, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    check_str("caf\xc3\xa9 \xf0\x9f\x98\x80", 1, "\"caf\\u00e9 \\ud83d\\ude00\"");
    // Not UTF-8 (a lone lead byte, a stray continuation byte): U+FFFD when
    // copying, so the literal stays valid; the byte as a code point in ASCII.
    check_str("x\xd1y\x80", 0, "\"x\\ufffdy\\ufffd\"");
    check_str("x\xd1y", 1, "\"x\\u00d1y\"");
    check_str("\x7f", 0, "\"\x7f\"");
    check_str("\x7f", 1, "\"\\u007f\"");
    return test_finish("test_buf");
}
