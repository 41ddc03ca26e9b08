// opts.c — see opts.h.
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int opts_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    return 2;
}

// The index of v among the '|'-separated words of choices, or -1.
static int choice_index(const char *choices, const char *v) {
    const size_t n = strlen(v);
    int i = 0;
    for (const char *w = choices;; i++) {
        const char *bar = strchr(w, '|');
        const size_t len = bar ? (size_t)(bar - w) : strlen(w);
        if (len == n && !strncmp(w, v, n)) return i;
        if (!bar) return -1;
        w = bar + 1;
    }
}

// A whole number or a finite real in [min, max]; 0 or a usage error (2).
static int parse_number(const Opt *o, const char *v, double *out) {
    char *end;
    errno = 0;
    const int whole = o->kind == OPT_INT || o->kind == OPT_LONG;
    if (whole) {
        const long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || (double)x < o->min || (double)x > o->max)
            return opts_error("%s: '%s' is not a whole number in [%.0f, %.0f]", o->name, v, o->min, o->max);
        *out = (double)x;
        return 0;
    }
    const double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < o->min || x > o->max)
        return opts_error("%s: '%s' is not a number in [%g, %g]", o->name, v, o->min, o->max);
    *out = x;
    return 0;
}

// Stores v into o's destination; 0 or a usage error (2).
static int store(const Opt *o, const char *v) {
    double x;
    switch (o->kind) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_U64: {
        char *end;
        errno = 0;
        const unsigned long long u = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return opts_error("%s: '%s' is not a non-negative whole number", o->name, v);
        *(uint64_t *)o->dst = u;
        return 0;
    }
    case OPT_CHOICE: {
        const int i = choice_index(o->arg, v);
        if (i < 0) return opts_error("%s must be one of %s, not '%s'", o->name, o->arg, v);
        *(int *)o->dst = o->values ? o->values[i] : i;
        return 0;
    }
    case OPT_INT: if (parse_number(o, v, &x)) return 2; *(int *)o->dst = (int)x; return 0;
    case OPT_LONG: if (parse_number(o, v, &x)) return 2; *(long *)o->dst = (long)x; return 0;
    case OPT_FLOAT: if (parse_number(o, v, &x)) return 2; *(float *)o->dst = (float)x; return 0;
    case OPT_DOUBLE: if (parse_number(o, v, &x)) return 2; *(double *)o->dst = x; return 0;
    default: return 0;
    }
}

static const Opt *find(const Command *cmd, const char *name) {
    for (const Opt *o = cmd->opts; o->kind != OPT_END; o++)
        if (o->kind != OPT_SECTION && !strcmp(o->name, name)) return o;
    return NULL;
}

// A usage error with the command's help after it.
static int usage_error(const Command *cmd, const char *msg, const char *what) {
    fprintf(stderr, "trit: error: %s: %s%s\n\n", cmd->name, msg, what);
    opts_usage(cmd, stderr);
    return 2;
}

int opts_parse(const Command *cmd, int argc, char **argv) {
    int n_pos = 0, n_opts = 0;
    while (cmd->opts[n_opts].kind != OPT_END) n_opts++;
    char seen[n_opts + 1];  // which options appeared (for .required)
    memset(seen, 0, sizeof seen);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opts_usage(cmd, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {  // a bare argument ("-" alone is one: stdin)
            if (!cmd->positional) return usage_error(cmd, "unexpected argument ", a);
            if (n_pos++) return usage_error(cmd, "more than one argument: ", a);
            *cmd->pos_dst = a;
            continue;
        }
        const Opt *o = find(cmd, a);
        if (!o) return usage_error(cmd, "unknown option ", a);
        if (o->kind == OPT_RENAMED) return opts_error("%s is now %s", a, o->arg);
        if (o->given) *o->given = 1;
        seen[o - cmd->opts] = 1;
        if (o->kind == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) return opts_error("%s needs a value", a);
        if (store(o, argv[++i])) return 2;
    }
    for (const Opt *o = cmd->opts; o->kind != OPT_END; o++)
        if (o->required && !seen[o - cmd->opts]) return usage_error(cmd, "missing ", o->name);
    if (cmd->positional && cmd->pos_required && !n_pos) return usage_error(cmd, "missing ", cmd->positional);
    return -1;
}

// "  --name ARG        help", continuation lines aligned under the help.
static void print_opt(const Opt *o, FILE *f) {
    char left[64];
    if (o->kind == OPT_FLAG) snprintf(left, sizeof left, "%s", o->name);
    else snprintf(left, sizeof left, "%s %s", o->name, o->arg ? o->arg : "X");
    const int col = 24;
    if ((int)strlen(left) > col - 4) fprintf(f, "  %s\n%*s", left, col, "");
    else fprintf(f, "  %-*s", col - 2, left);
    for (const char *h = o->help ? o->help : ""; *h;) {
        const char *nl = strchr(h, '\n');
        const int len = nl ? (int)(nl - h) : (int)strlen(h);
        fprintf(f, "%.*s\n", len, h);
        if (!nl) return;
        h = nl + 1;
        fprintf(f, "%*s", col, "");
    }
    fputc('\n', f);
}

void opts_usage(const Command *cmd, FILE *f) {
    fprintf(f, "usage: trit %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->about);
    static const Opt help = {"-h, --help", OPT_FLAG, .help = "this message"};
    print_opt(&help, f);
    for (const Opt *o = cmd->opts; o->kind != OPT_END; o++) {
        if (o->kind == OPT_RENAMED) continue;
        if (o->kind == OPT_SECTION) fprintf(f, "\n%s\n", o->name);
        else print_opt(o, f);
    }
    if (cmd->epilogue) fprintf(f, "\n%s", cmd->epilogue);
}
