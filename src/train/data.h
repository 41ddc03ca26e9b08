// data.h — training and validation text as token ids.
//
// A data file is plain UTF-8 text, or `.jsonl` with one JSON object a line
// whose "text" field holds a document (documents are separated by the
// tokenizer's <|endoftext|> token when it has one). It is tokenized once and
// cached as a token file:
//     "TRITTOKS" | u32 version (1) | u32 0 | u64 tokenizer hash |
//     u64 source hash (FNV-1a of the file bytes) | u64 n | u32 ids[n]
// A cache whose hashes do not match the tokenizer and the file is rebuilt.
// A token file may also be the data itself (trit synth writes one, source
// hash 0): it is read as it is, and must have been made with the tokenizer.
#ifndef TRIT_DATA_H
#define TRIT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tok/tokenizer.h"

typedef struct {
    int32_t *ids;
    size_t n;
} TokenData;

// Loads `path`, using and (re)writing `cache_path` when it is not NULL.
// Empty data, invalid UTF-8 and malformed JSONL are errors naming the file
// (and line).
int data_load(TokenData *d, const char *path, Tokenizer *tok, const char *cache_path, char *err);
void data_free(TokenData *d);
// Writes d as a token file (atomically) that data_load reads as data.
int data_save_tokens(const TokenData *d, const char *path, const Tokenizer *tok, char *err);

// Fills x[B][T] and y[B][T] (y = x shifted by one) from B windows of T+1
// tokens starting at uniformly random offsets drawn from *rng (splitmix64;
// the state is all a checkpoint needs to resume the same sequence).
// The data must hold at least T+1 tokens (check with data_check).
void data_batch(const TokenData *d, uint64_t *rng, int B, int T, int32_t *x, int32_t *y);
int data_check(const TokenData *d, const char *name, int T, char *err);


#endif
