// fuzz_gguf_import.c — libFuzzer target: what `trit import` and `trit verify
// FILE.gguf` make of a GGUF file that parses. On arbitrary bytes that
// gguf_open_mem accepts:
//   - gguf_model_from (config from the KVs, every tensor checked against it,
//     dequantized to fp32, Llama's q/k rows un-permuted) succeeds or fails
//     with a message naming the file, and a model it gives has the config's
//     parameter count, all of it written;
//   - the tokenizer files import writes (tokenizer.json from the GGUF
//     vocabulary) load in trit's own tokenizer, which then encodes and
//     decodes a sample with every id in range.
//
//   make fuzz && build-fuzz/fuzz_gguf_import -max_total_time=60 build-fuzz/corpus-gguf_import fuzz/seeds/gguf
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/gguf_config.h"
#include "base/util.h"
#include "convert/gguf_import.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tok/tokenizer.h"

static void named_or_abort(const char *err) {
    if (strncmp(err, "fuzz: ", 6) != 0) {
        fprintf(stderr, "an error that does not name the file: %s\n", err);
        abort();
    }
}

static void check_model(const GgufFile *g) {
    char err[ERR_LEN] = "";
    Model m;
    if (gguf_model_from(g, &m, err) != 0) {
        named_or_abort(err);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < m.n_tensors; i++) n += (size_t)m.tensors[i].rows * (size_t)(m.tensors[i].cols ? m.tensors[i].cols : 1);  // cols 0: a vector
    if (n != m.n_params) abort();
    volatile float sum = 0;  // every weight readable (ASan)
    for (size_t i = 0; i < m.n_params; i++) sum += m.params_memory[i];
    model_free(&m);
}

static void check_tokenizer(const GgufFile *g) {
    char err[ERR_LEN] = "";
    ModelConfig c;
    char *tj, *cj;
    size_t tl, cl;
    if (gguf_config(g, &c, err) != 0 || gguf_tokenizer_files(g, &c, &tj, &tl, &cj, &cl, err) != 0) {
        named_or_abort(err);
        return;
    }
    Tokenizer *tok = tokenizer_load_json(tj, tl, "fuzz tokenizer.json", err);
    if (!tok) {
        fprintf(stderr, "import wrote a tokenizer.json trit cannot load: %s\n", err);
        abort();
    }
    static const char sample[] = "Hello, world! 123 <|im_start|> caf\xC3\xA9 \xF0\x9F\x99\x82";
    int32_t *ids;
    size_t n;
    if (tokenizer_encode(tok, sample, sizeof sample - 1, &ids, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(tok)) abort();
        char *out;
        size_t len;
        if (tokenizer_decode(tok, ids, n, &out, &len, err) != 0) abort();
        free(out);
        free(ids);
    }
    tokenizer_free(tok);
    free(tj);
    free(cj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);  // a private copy: ASan catches any read past size
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    GgufFile g;
    char err[ERR_LEN];
    if (gguf_open_mem(&g, buf, size, "fuzz", err) == 0) {
        check_model(&g);
        check_tokenizer(&g);
    }
    gguf_close(&g);
    free(buf);
    return 0;
}
