// utf8.h — the UTF-8 check shared by the tokenizer and the GGUF vocabulary
// import (both hand text to Hugging Face tokenizers, which takes only UTF-8).
#ifndef TRIT_UTF8_H
#define TRIT_UTF8_H

#include <stddef.h>
#include <stdint.h>

// Returns n when s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), otherwise the offset of the first byte
// of the first ill-formed sequence, with *why saying what is wrong.
size_t utf8_check(const uint8_t *s, size_t n, const char **why);

#endif
