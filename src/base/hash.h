// hash.h — the two hashes trit uses everywhere: splitmix64 (seeded random
// streams: weight init, sampling, data order) and 64-bit FNV-1a (identity of
// tokenizers, token caches and checkpoint shapes).
#ifndef TRIT_HASH_H
#define TRIT_HASH_H

#include <stddef.h>
#include <stdint.h>

// splitmix64's output function: a bijection that spreads the bits of x
// (hash-table keys).
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Advances *s and returns the next output of Vigna's splitmix64.
static inline uint64_t splitmix64(uint64_t *s) { return mix64(*s += 0x9e3779b97f4a7c15ull); }

#define FNV1A64_INIT 0xcbf29ce484222325ull

// FNV-1a over n bytes, continuing from h (FNV1A64_INIT to start).
static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static inline uint64_t fnv1a64(const void *data, size_t n) { return fnv1a64_update(FNV1A64_INIT, data, n); }

#endif
