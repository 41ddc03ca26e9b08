// utf8.h — UTF-8: the well-formedness check shared by the tokenizer and the
// GGUF vocabulary import (both hand text to Hugging Face tokenizers, which
// takes only UTF-8), the decoders of one code point and its encoder.
#ifndef TRIT_UTF8_H
#define TRIT_UTF8_H

#include <stddef.h>
#include <stdint.h>

// Returns n when s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), otherwise the offset of the first byte
// of the first ill-formed sequence, with *why saying what is wrong.
size_t utf8_check(const uint8_t *s, size_t n, const char **why);

// Decodes one code point of text already known to be well-formed UTF-8;
// returns its length (1..4).
size_t utf8_decode(const uint8_t *s, uint32_t *cp);

// Decodes one multi-byte sequence at p, checking it (the buffer must hold a
// NUL or enough bytes); returns its length (2..4), or 0 when p[0] is ASCII or
// the sequence is ill-formed (overlong, surrogate, above U+10FFFF, truncated).
int utf8_decode_checked(const unsigned char *p, uint32_t *cp);

// Classifies the UTF-8 sequence starting at s[0] (n >= 1 bytes there):
// its length (1..4) when it is complete and well-formed; 0 when s[0..n) is
// a proper prefix of a well-formed sequence (more bytes may complete it);
// -k when its first k bytes are an ill-formed sequence's maximal subpart,
// which one U+FFFD replaces (Unicode's substitution of maximal subparts, as
// Python's decode(errors="replace") does).
int utf8_next(const uint8_t *s, size_t n);

// Writes code point cp (at most U+10FFFF) as UTF-8 into out; returns its
// length (1..4). No NUL is written.
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
