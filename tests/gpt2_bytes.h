// gpt2_bytes.h — the GPT-2 byte-to-unicode table, for tests and fuzzers that
// build small byte-level tokenizer.json files: byte b is written as the UTF-8
// of its printable stand-in (bytes that are printable map to themselves, the
// others to 256, 257, ... in order).
#ifndef TRIT_GPT2_BYTES_H
#define TRIT_GPT2_BYTES_H

static inline void byte_char(int b, char out[4]) {
    unsigned n = 0, cp = 0;
    for (int x = 0; x <= b; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
        cp = printable ? (unsigned)x : 256 + n++;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

#endif
