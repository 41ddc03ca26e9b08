// fuzz_config.c — libFuzzer target: config_parse on arbitrary bytes must
// fail with a message naming the file, or give a config that validates and
// survives config_save -> config_load unchanged.
//
//   make fuzz && build-fuzz/fuzz_config -max_total_time=90 fuzz/seeds/config
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/config.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);  // not NUL-terminated: parsing must respect size
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    ModelConfig c, d;
    char err[ERR_LEN];
    if (config_parse(&c, buf, size, "fuzz", err) == 0) {
        if (config_validate(&c, "fuzz", err) != 0) abort();
        static char path[64];
        if (!path[0])  // tmpfs when there is one: config_save fsyncs
            snprintf(path, sizeof path, "%s/fuzz_config_%ld.json", is_directory("/dev/shm") ? "/dev/shm" : "/tmp",
                     (long)getpid());
        if (config_save(&c, path, "fuzz", err) != 0) abort();
        if (config_load(&d, path, err) != 0) abort();
        unlink(path);
        if (c.vocab_size != d.vocab_size || c.hidden_size != d.hidden_size ||
            c.intermediate_size != d.intermediate_size || c.num_hidden_layers != d.num_hidden_layers ||
            c.num_attention_heads != d.num_attention_heads || c.num_key_value_heads != d.num_key_value_heads ||
            c.head_dim != d.head_dim || c.max_position_embeddings != d.max_position_embeddings ||
            c.rms_norm_eps != d.rms_norm_eps || c.rope_theta != d.rope_theta ||
            c.tie_word_embeddings != d.tie_word_embeddings || c.eos_token_id != d.eos_token_id ||
            c.bos_token_id != d.bos_token_id || strcmp(c.torch_dtype, d.torch_dtype) != 0)
            abort();
    } else if (strncmp(err, "fuzz: ", 6) != 0) {
        abort();
    }
    free(buf);
    return 0;
}
