// cmd_tokenize.c — `trit tokenize`: text to token ids, or ids back to text.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"
#include "opts.h"
#include "tok/tokenizer.h"

static int fail(const char *msg) {
    fprintf(stderr, "trit: error: %s\n", msg);
    return 1;
}

// The whole of stdin, NUL-terminated.
static char *read_stdin(size_t *len, char *err) {
    size_t n = 0, cap = 1 << 16;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - 1 - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        set_err(err, "stdin: read failed: %s", strerror(errno));
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

// Ids as text: whitespace-separated decimal numbers, each checked.
static int parse_ids(const char *s, size_t len, int32_t **ids, size_t *n, char *err) {
    size_t cap = 1024, k = 0;
    int32_t *v = xmalloc(cap * sizeof *v);
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') { i++; continue; }
        size_t start = i;
        long long x = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            x = x * 10 + (s[i] - '0');
            if (x > 0x7fffffff) break;
            i++;
        }
        int sep = i == len || s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        if (i == start || !sep || x > 0x7fffffff) {
            size_t e = start;
            while (e < len && e - start < 20 && s[e] != ' ' && s[e] != '\n' && s[e] != '\t' && s[e] != '\r') e++;
            free(v);
            return set_err(err, "--decode: '%.*s' at byte offset %zu is not a token id", (int)(e - start), s + start, start);
        }
        if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (int32_t)x;
    }
    *ids = v;
    *n = k;
    return 0;
}

// Prints ids separated by single spaces and a final newline, formatting by hand
// (printf per id would dominate the run time on large files).
static int print_ids(const int32_t *ids, size_t n) {
    size_t cap = 1 << 16, k = 0;
    char *buf = xmalloc(cap);
    for (size_t i = 0; i < n; i++) {
        if (k + 16 > cap) {
            if (fwrite(buf, 1, k, stdout) != k) { free(buf); return -1; }
            k = 0;
        }
        if (i) buf[k++] = ' ';
        char tmp[12];
        int m = 0;
        uint32_t x = (uint32_t)ids[i];
        do { tmp[m++] = (char)('0' + x % 10); x /= 10; } while (x);
        while (m) buf[k++] = tmp[--m];
    }
    buf[k++] = '\n';
    int rc = fwrite(buf, 1, k, stdout) == k ? 0 : -1;
    free(buf);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *tok_path = NULL, *file = NULL;
    int decode = 0, count = 0, timing = 0;
    const Opt opts[] = {
        {"--tokenizer", OPT_STR, &tok_path, "PATH", .required = 1, .help = "tokenizer.json, or a directory containing it"},
        {"--decode", OPT_FLAG, &decode, .help = "read whitespace-separated ids and write the decoded bytes"},
        {"--count", OPT_FLAG, &count, .help = "print only the number of tokens"},
        {"--time", OPT_FLAG, &timing, .help = "print the throughput (MB/s of text) to stderr"},
        {0}};
    const Command cmd = {
        .name = "tokenize",
        .synopsis = "--tokenizer PATH [--decode] [--count] [--time] [FILE]",
        .about = "Encodes FILE (or stdin) exactly as Hugging Face tokenizers does with\n"
                 "add_special_tokens=False and prints the ids as decimal numbers separated by\n"
                 "single spaces, then a newline. Added tokens such as <|im_end|> written in the\n"
                 "text become their ids. Invalid UTF-8 is an error naming its byte offset.\n",
        .opts = opts,
        .positional = "FILE",
        .pos_dst = &file};
    const int status = opts_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (decode && count) return opts_error("tokenize: --count does not go with --decode");
    char err[ERR_LEN];
    Tokenizer *tok = tokenizer_load_for(tok_path, NULL, err);
    if (!tok) return fail(err);

    size_t len;
    char *text = file && strcmp(file, "-") ? read_file(file, &len, err) : read_stdin(&len, err);
    if (!text) { tokenizer_free(tok); return fail(err); }

    int rc = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = now_seconds();
    if (decode) {
        char *out;
        size_t outlen;
        if (parse_ids(text, len, &ids, &n, err) || tokenizer_decode(tok, ids, n, &out, &outlen, err)) {
            rc = fail(err);
        } else {
            double dt = now_seconds() - t0;
            if (fwrite(out, 1, outlen, stdout) != outlen || fflush(stdout)) rc = fail("stdout: write failed");
            if (timing)
                fprintf(stderr, "decoded %zu tokens into %zu bytes in %.3f s (%.1f MB/s)\n", n, outlen, dt,
                        dt > 0 ? (double)outlen / dt / 1e6 : 0.0);
            free(out);
        }
    } else if (tokenizer_encode(tok, text, len, &ids, &n, err)) {
        char msg[ERR_LEN + 64];
        snprintf(msg, sizeof msg, "%s: %s", file ? file : "stdin", err);
        rc = fail(msg);
    } else {
        double dt = now_seconds() - t0;
        if (timing)
            fprintf(stderr, "tokenized %zu bytes into %zu tokens in %.3f s (%.1f MB/s)\n", len, n, dt,
                    dt > 0 ? (double)len / dt / 1e6 : 0.0);
        if (count ? printf("%zu\n", n) < 0 : print_ids(ids, n) != 0) rc = fail("stdout: write failed");
        if (fflush(stdout)) rc = fail("stdout: write failed");
    }
    free(ids);
    free(text);
    tokenizer_free(tok);
    return rc;
}
