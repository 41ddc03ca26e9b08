// tokenizer.h — byte-level BPE driven by a Hugging Face `tokenizer.json`.
//
// Encoding follows HF tokenizers exactly for Qwen2/Qwen3 and for the layouts
// tok/gguf_vocab.h writes for GGUF vocabularies: added tokens written in the
// text are matched first (leftmost-longest) and become their ids; the rest
// is NFC-normalised (utf8proc) if the file says so, split by the
// pre-tokenizer regexes and digit splits (PCRE2, UTF + UCP), mapped through
// the GPT-2 byte-to-unicode table and merged by merge rank. Decoding maps ids
// back to the original bytes.
#ifndef TRIT_TOKENIZER_H
#define TRIT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

Tokenizer *tokenizer_load(const char *path, char *err);
// Loads the tokenizer a command should use: `arg` (tokenizer.json, or a
// directory holding it) when given, else model_dir/tokenizer.json; when
// that is missing the message says to pass --tokenizer.
Tokenizer *tokenizer_load_for(const char *arg, const char *model_dir, char *err);
// The path tokenizer_load_for reads (malloc'd).
char *tokenizer_path_for(const char *arg, const char *model_dir);
// From JSON text in memory; `name` appears in messages. Used by the fuzzer.
Tokenizer *tokenizer_load_json(const char *json, size_t len, const char *name, char *err);
void tokenizer_free(Tokenizer *t);

// Encodes `len` bytes of UTF-8. Invalid UTF-8 is an error naming the byte
// offset (nothing is replaced silently). On success *ids is malloc'd. The
// tokenizer is not written (each call keeps its own scratch and word
// cache), so threads may encode with one tokenizer at once.
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, char *err);

// Decodes ids to bytes (malloc'd, NUL-terminated, length in *outlen).
// An id outside the vocabulary is an error.
int tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *outlen, char *err);

int tokenizer_vocab_size(const Tokenizer *t);   // 1 + the largest id (regular and added)
int tokenizer_token_id(const Tokenizer *t, const char *token);  // -1 when absent
// A 64-bit FNV-1a hash of the tokenizer.json bytes: identifies the tokenizer
// in cached token files and checkpoints.
uint64_t tokenizer_hash(const Tokenizer *t);
// 1 when both map every id below the smaller of their vocabulary sizes to
// the same bytes (the same vocabulary, whatever file it came from: a
// tokenizer.json, or a GGUF's padded with [PAD] entries up to the model's
// vocab_size): speculative decoding needs its draft and target to agree on
// what an id means.
int tokenizer_same_vocab(const Tokenizer *a, const Tokenizer *b);

#endif
