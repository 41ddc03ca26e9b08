// gguf_vocab.h — a GGUF file's vocabulary as a Hugging Face tokenizer.json.
//
// A GGUF carries no tokenizer.json: it stores the tokens, their types and the
// merges (tokenizer.ggml.*), and names the pre-tokenizer that llama.cpp then
// hard-codes. tokenizer_json_from_gguf writes the tokenizer.json that gives,
// in Hugging Face `tokenizers` and in trit's tokenizer alike, the ids that
// llama.cpp's own tokenizer gives for that GGUF (tokenize with
// parse_special = true, add_special = false; see gguf_vocab.c for the few
// known differences).
//
// Only byte-level BPE (tokenizer.ggml.model "gpt2") is supported, with the
// pre-tokenizers of these llama.cpp names (llama.cpp groups them by the same
// split rules):
//   smollm, starcoder, refact, command-r, codeshell, exaone, minerva-7b, mellum2
//       every number character alone, then the GPT-2 regex
//   qwen2, deepseek-r1-qwen, kormo, f2llmv2, megrez              the Qwen2 regex
//   llama3, llama-v3, llama-bpe, falcon3, falcon-h1, pixtral, midm-2.0, lfm2,
//   jina-v5-nano                          the Llama-3 regex, and ignore_merges
//   gpt-2, phi-2, gigachat, a.x-4.0, mellum, exaone4, mpt, olmo, jais, trillion,
//   granite-docling                                          the GPT-2 regex
// The input is plain C (no GGUF reader here): whoever reads the GGUF fills it.
#ifndef TRIT_GGUF_VOCAB_H
#define TRIT_GGUF_VOCAB_H

#include <stddef.h>
#include <stdint.h>

// llama.cpp's Qwen2 and Llama-3 split regexes, as it applies them (its
// contractions are '[sS]|'[tT]|... where HF's tokenizer.json has
// (?i:'s|'t|...)). The export (tok/gguf_vocab_export.h) recognises them.
extern const char GGUF_QWEN2_REGEX[];
extern const char GGUF_LLAMA3_REGEX[];

// The GPT-2 byte-to-unicode table that byte-level BPE spells bytes with:
// printable Latin-1 bytes stand for themselves, the other 68 get U+0100 and
// up, in byte order.
void gguf_byte_chars(unsigned cp[256]);

// llama.cpp's token types (tokenizer.ggml.token_type).
enum {
    GGUF_TOKEN_NORMAL = 1,
    GGUF_TOKEN_UNKNOWN = 2,
    GGUF_TOKEN_CONTROL = 3,
    GGUF_TOKEN_USER_DEFINED = 4,
    GGUF_TOKEN_UNUSED = 5,
    GGUF_TOKEN_BYTE = 6,
};

typedef struct {
    int n_tokens;                    // tokenizer.ggml.tokens: the string of id i
    const char *const *tokens;
    const size_t *token_lens;        // byte lengths (strings need no terminating NUL)
    int n_token_types;               // length of tokenizer.ggml.token_type (must be n_tokens)
    const int32_t *token_types;      // NULL when the file has none: every token normal
    int n_merges;                    // tokenizer.ggml.merges: "left right", best first
    const char *const *merges;
    const size_t *merge_lens;
    const char *model;               // tokenizer.ggml.model: "gpt2"
    const char *pre;                 // tokenizer.ggml.pre: "smollm", "qwen2", "llama-bpe", "gpt-2", ...
    int bos_id, eos_id, unk_id, pad_id;  // -1: absent
    int add_bos;                     // tokenizer.ggml.add_bos_token; -1: absent (llama.cpp's default for `pre`)
} GgufVocab;

// The tokenizer.json text (malloc'd, NUL-terminated, length in *len), or
// NULL with one message in err naming the problem: another model or `pre`,
// an array whose length differs from the token count, a token that is
// empty, not UTF-8 or listed twice, a merge that is not "a b" or names a
// token (or merges into one) that is not in the vocabulary, a special id out
// of range.
char *tokenizer_json_from_gguf(const GgufVocab *v, size_t *len, char *err);

// The tokenizer_config.json text that transformers' AutoTokenizer reads next
// to that tokenizer.json: the special tokens by name, add_bos_token, the
// chat template (NULL: none) and model_max_length (0: omitted).
char *tokenizer_config_from_gguf(const GgufVocab *v, const char *chat_template, int64_t model_max_length,
                                 size_t *len, char *err);

#endif
