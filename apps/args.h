// args.h — strict parsing of option values for the CLI: a value that is not
// a whole number in range is an error, never silently 0.
#ifndef TRIT_ARGS_H
#define TRIT_ARGS_H

#include <stdint.h>

// Returns 0 and stores the value, or prints "trit: error: --opt: ..." and
// returns -1.
int arg_long(const char *opt, const char *s, long min, long max, long *out);
int arg_u64(const char *opt, const char *s, uint64_t *out);
int arg_double(const char *opt, const char *s, double min, double max, double *out);

// For `--opt VALUE` loops: the value after argv[*i], or NULL with a message
// when it is missing (advances *i).
const char *arg_value(int argc, char **argv, int *i);

#endif
