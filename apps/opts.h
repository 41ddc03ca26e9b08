// opts.h — the command line's one option table: each command describes its
// options as data (name, kind, destination, range or choices, help), and one
// parser reads argv against it and prints the command's --help from it, so a
// flag's spelling, range, error and help cannot drift apart between commands.
//
// Every usage error (unknown option, missing or malformed value, a value out
// of range or not among the choices, a missing required option) prints
// "trit: error: ..." and makes the command exit 2; failures of the work
// itself exit 1 (die).
#ifndef TRIT_OPTS_H
#define TRIT_OPTS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPT_END = 0,  // terminates a table
    OPT_STR,      // const char *: the value as given
    OPT_FLAG,     // int: set to 1, takes no value
    OPT_INT,      // int in [min, max]
    OPT_LONG,     // long in [min, max]
    OPT_U64,      // uint64_t, any non-negative whole number
    OPT_FLOAT,    // float in [min, max]
    OPT_DOUBLE,   // double in [min, max]
    OPT_CHOICE,   // int: values[i] (or i) for the i-th of arg's '|'-separated words
    OPT_SECTION,  // not an option: a heading in the help (name is its text)
    OPT_RENAMED,  // an old spelling: an error naming the new one (arg), not in the help
} OptKind;

typedef struct {
    const char *name;    // "--steps"
    OptKind kind;
    void *dst;
    const char *arg;     // the value's name in the help ("N", "DIR"); OPT_CHOICE: "fp32|bf16"
    double min, max;     // OPT_INT / OPT_LONG / OPT_FLOAT / OPT_DOUBLE
    const int *values;   // OPT_CHOICE: what each choice stores (NULL: its index)
    const char *help;    // '\n' starts a continuation line
    int required;
    int *given;          // set to 1 when the option appears (may be NULL)
} Opt;

typedef struct {
    const char *name;         // "eval"
    const char *synopsis;     // the usage line after "usage: trit <name> "
    const char *about;        // what the command does (paragraphs)
    const Opt *opts;          // ends with {0}
    const char *positional;   // the one bare argument's name in the help ("FILE"), or NULL
    const char **pos_dst;     // where it goes
    int pos_required;
    const char *epilogue;     // printed after the options, or NULL
} Command;

// Parses argv (argv[0] is the command) into the table's destinations.
// Returns -1 to go on, or the exit status to return at once: 0 after
// printing --help, 2 after printing a usage error.
int opts_parse(const Command *cmd, int argc, char **argv);

// The command's help, generated from its table.
void opts_usage(const Command *cmd, FILE *f);

// Prints "trit: error: <message>" for a usage error found after parsing
// (options that do not combine) and returns 2.
int opts_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// --keep-linear's help, the same in quantize, train and convert.
#define KEEP_LINEAR_HELP                                                     \
    "linear layers kept out of the ternary projection in every block, in\n" \
    "bf16: a list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj\n" \
    "(default: none)"

// --adapter-rank's help, the same in quantize and convert.
#define ADAPTER_RANK_HELP                                                       \
    "each linear layer runs as t*s + B*A: a rank-R correction in bf16, fitted\n" \
    "to the rounding error on the layer's inputs (and trained by convert);\n"   \
    "llama.cpp runs it as a LoRA adapter, DIR.lora.gguf (default 0: none)"

// --balance's help, the same in quantize and convert.
#define BALANCE_HELP                                                            \
    "before rounding, scale each linear's inputs by their magnitude to a power\n" \
    "chosen on the calibration set (AWQ's search), folded into the norm or the\n" \
    "matrix that makes them: the same function, another grid; a better start,\n"  \
    "but distillation from it ends worse (README; default: off)"

// --qep's help, the same in quantize and convert.
#define QEP_HELP                                                                \
    "QEP: before rounding, move each linear a share A toward the matrix that\n" \
    "maps the converted model's inputs to what the parent's layer makes of\n"  \
    "its own (undoing part of the earlier layers' error): the best start from\n" \
    "32768 calibration tokens, ruinous from 1024; distillation from it ends\n"  \
    "worse (README; 0 = off, default)"


#endif
