// fuzz_adapters.c — libFuzzer target: an adapter file (FILE.lora.gguf, the
// LoRA adapter trit export writes beside a GGUF model) as trit reads it
// when it runs the model. On arbitrary bytes that gguf_open_mem accepts,
// weights_read_adapters for a fixed config (Llama, hidden 64, 1 layer,
// rank 2: q/k B rows un-permuted) gives every adapter float, all of them
// written, or fails with a message naming the file.
//
//   python3 fuzz/make_adapter_seeds.py   (the seeds)
//   make fuzz && build-fuzz/fuzz_adapters -max_total_time=60 build-fuzz/corpus-adapters fuzz/seeds/adapters
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/config.h"
#include "base/util.h"
#include "format/gguf.h"
#include "model/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ModelConfig c = {.arch = ARCH_LLAMA, .vocab_size = 32, .hidden_size = 64, .intermediate_size = 128,
                           .num_hidden_layers = 1, .num_attention_heads = 4, .num_key_value_heads = 2, .head_dim = 16,
                           .rms_norm_eps = 1e-6f, .rope_theta = 10000.0, .max_position_embeddings = 64,
                           .bos_token_id = -1, .eos_token_id = -1, .torch_dtype = "float32", .adapter_rank = 2};
    char err[ERR_LEN] = "";
    if (config_validate(&c, "fuzz config", err)) {
        fprintf(stderr, "the fuzz target's own config: %s\n", err);
        abort();
    }
    uint8_t *buf = malloc(size ? size : 1);  // a private copy: ASan catches any read past size
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    GgufFile g;
    if (gguf_open_mem(&g, buf, size, "fuzz", err) == 0) {
        float *a = weights_read_adapters(&g, &c, err);
        if (!a && strncmp(err, "fuzz", 4) != 0) {
            fprintf(stderr, "an error that does not name the file: %s\n", err);
            abort();
        }
        const size_t n = 2 * (64 + 64) + 2 * 2 * (64 + 32) + 2 * (64 + 64) + 2 * 2 * (64 + 128) + 2 * (128 + 64);
        volatile float sum = 0;  // every float written and readable (ASan, MSan-free: the buffer is malloc'd)
        for (size_t i = 0; a && i < n; i++) sum += a[i];
        free(a);
    }
    gguf_close(&g);
    free(buf);
    return 0;
}
