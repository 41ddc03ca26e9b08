// args.c — see args.h.
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int arg_long(const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "trit: error: %s: '%s' is not a whole number in [%ld, %ld]\n", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_u64(const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "trit: error: %s: '%s' is not a non-negative whole number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_double(const char *opt, const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "trit: error: %s: '%s' is not a number in [%g, %g]\n", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

const char *arg_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "trit: error: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
