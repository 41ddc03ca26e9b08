// source.h — what `trit generate` and `trit eval` run, from one --model PATH:
// the weights (an HF directory, fp32 or packed at load, or a GGUF file), the
// tokenizer that goes with them and the chat template.
//
// A GGUF carries its vocabulary (tokenizer.ggml.*) instead of tokenizer.json:
// it becomes a tokenizer.json in memory (src/tok/gguf_vocab), the one trit
// import would write.
#ifndef TRIT_SOURCE_H
#define TRIT_SOURCE_H

#include "model/weights.h"
#include "tok/tokenizer.h"

typedef struct {
    ModelWeights w;
    Tokenizer *tok;
    char *chat_template;  // NULL: the model has none
} ModelSource;

// path: an HF directory or a .gguf file; pack: NULL, or a --pack name
// (weights_open); tok_arg: --tokenizer (NULL: the model's own). -1 with err.
int source_open(ModelSource *s, const char *path, const char *pack, const char *tok_arg, char *err);
void source_close(ModelSource *s);

// The ids that end a generated sequence: the config's eos_token_id and the
// ChatML turn / document ends the tokenizer has. Returns how many (<= 3).
int source_eos_ids(const ModelSource *s, int32_t eos[3]);

#endif
