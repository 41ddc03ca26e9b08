// gguf_vocab_export.h — a Hugging Face tokenizer as GGUF tokenizer keys, as
// llama.cpp's convert_hf_to_gguf.py writes them for byte-level BPE (its
// get_vocab_base / _set_vocab_gpt2 and gguf-py's SpecialVocab). The reverse
// of tok/gguf_vocab.h.
//
// What is written:
//   tokenizer.ggml.model  "gpt2"
//   tokenizer.ggml.pre    the llama.cpp name of tokenizer.json's pre_tokenizer,
//                         recognised by its structure (the converter hashes
//                         the ids of a test string instead):
//       ByteLevel(use_regex)                                  "gpt-2"
//       Digits(individual_digits) + ByteLevel(use_regex)      "smollm"
//       Split(the Qwen2 regex) + ByteLevel(no regex)          "qwen2"
//       Split(the Llama-3 regex) + ByteLevel(no regex)        "llama-bpe"
//     the regexes in HF's (?i:'s|...) or llama.cpp's '[sS]... spelling; a
//     trailing Split of bytes that have no token (as tok/gguf_vocab.c writes
//     it) changes nothing in llama.cpp and is accepted. Anything else,
//     including add_prefix_space and normalizers other than NFC (which
//     llama.cpp does not apply either), is refused with what was found.
//   tokenizer.ggml.tokens / token_type  one per id below n_vocab (the
//     embedding's rows): an id without a token is "[PAD<id>]" UNUSED; an
//     added token is CONTROL when marked special or when it looks special
//     (<|...|>, <｜...｜>, <unused...>, <pad>, <mask>, <2mass>, [@BOS@]),
//     else USER_DEFINED with U+2581 written as a space; every other token
//     NORMAL. (The converter also re-encodes non-normalized added tokens
//     through the tokenizer, which gives each back unchanged: an added token
//     is matched whole before anything else.)
//   tokenizer.ggml.merges  "left right"; a ["left", "right"] pair is joined
//     with its spaces written as U+0120, as gguf-py does.
//   tokenizer.ggml.{bos,eos,unknown,padding}_token_id  (UINT32) from
//     tokenizer_config.json's bos_token / eos_token / unk_token / pad_token
//     (a string or {"content": ...}) when an added token has that content,
//     else config.json's bos_token_id / ... (or its text_config's).
//   tokenizer.ggml.add_bos_token / add_eos_token  (BOOL) from a
//     TemplateProcessing post-processor's leading / trailing special token,
//     overridden by tokenizer_config.json's add_bos_token / add_eos_token.
//   tokenizer.chat_template  tokenizer_config.json's chat_template, else the
//     directory's chat_template.jinja (only with a tokenizer_config.json).
// Not written: sep / cls / mask ids, add_sep_token, eot / eom, named
// (list-valued) chat templates; the last is refused.
#ifndef TRIT_GGUF_VOCAB_EXPORT_H
#define TRIT_GGUF_VOCAB_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "format/gguf_write.h"

typedef struct {
    int n_tokens;            // n_vocab
    char **tokens;           // NUL-terminated UTF-8, lengths in token_lens
    size_t *token_lens;
    int32_t *token_types;    // GGUF_TOKEN_* (tok/gguf_vocab.h)
    int n_merges;
    char **merges;           // "left right"
    size_t *merge_lens;
    const char *pre;         // static: "gpt-2", "smollm", "qwen2", "llama-bpe"
    int bos_id, eos_id, unk_id, pad_id;  // -1: absent
    int add_bos, add_eos;    // -1: absent
    char *chat_template;     // NULL: absent
} HfVocab;

// The texts of a model directory's tokenizer files; NULL (length 0) for a
// file that is not there. tokenizer_json is required.
typedef struct {
    const char *tokenizer_json;
    size_t tokenizer_json_len;
    const char *tokenizer_config;
    size_t tokenizer_config_len;
    const char *config;
    size_t config_len;
    const char *chat_template_jinja;
    size_t chat_template_jinja_len;
} HfTokenizerTexts;

// Builds v for an embedding of n_vocab rows. -1 with one message naming the
// file and the problem (v is then empty): JSON that does not parse or has
// the wrong shape, a model other than BPE, a pre-tokenizer or normalizer
// llama.cpp has no name for, a token id at or past n_vocab or listed twice,
// an empty token, a merge that is not two tokens, a special id out of range.
int hf_vocab_parse(HfVocab *v, const HfTokenizerTexts *t, int64_t n_vocab, char *err);
void hf_vocab_free(HfVocab *v);  // safe on a zeroed or failed HfVocab

// Adds v's keys to w (names and types as above); -1 when w refuses one, e.g.
// a token that is not UTF-8 (parsing passes any bytes JSON holds).
int gguf_add_hf_vocab(GgufWriter *w, const HfVocab *v, char *err);

// Reads model_dir's tokenizer.json, tokenizer_config.json, config.json and
// chat_template.jinja and adds the tokenizer keys to w; err names the
// directory.
int gguf_write_tokenizer(GgufWriter *w, const char *model_dir, int64_t n_vocab, char *err);

#endif
