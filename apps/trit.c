// trit.c — the command line: `trit <command> [options]`.
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"init", cmd_init, "write a randomly initialised Qwen3 or Llama model for a config.json"},
    {"import", cmd_import, "a GGUF model (qwen3, llama) as a Hugging Face checkpoint directory"},
    {"convert", cmd_convert, "a ternary model worth using: calibrated start, block-wise, distillation"},
    {"quantize", cmd_quantize, "a model's ternary projection t*s without training (fp16 group scales)"},
    {"export", cmd_export, "a model as a GGUF file for llama.cpp, ternary matrices packed losslessly"},
    {"info", cmd_info, "print a checkpoint's config, parameter counts and dtypes"},
    {"tokenize", cmd_tokenize, "text to token ids (or back, with --decode)"},
    {"eval", cmd_eval, "perplexity of a model on a text file"},
    {"train", cmd_train, "quantization-aware fine-tuning to ternary weights"},
    {"train-drafter", cmd_train_drafter, "a DFlash drafter for a model: lossless speculative decoding, a block a pass"},
    {"verify", cmd_verify, "check that every ternary tensor is exactly {-1,0,+1} x its group scale"},
    {"generate", cmd_generate, "text from a prompt, token by token (KV cache, sampling)"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with continuous batching and a chat page"},
    {"synth", cmd_synth, "text sampled from a model, as a token file of training data (distillation)"},
};

static void usage(FILE *f) {
    fprintf(f, "trit — make and run ternary Qwen3 and Llama models\n\nusage: trit <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`trit <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "trit: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
