// test_config.c — config.json parsing, validation and saving.
//
//  - the real Qwen3-0.6B config.json parses to its exact values (skipped
//    when the shared data is absent); the transformers 5.x configs of the
//    model fixtures (rope_parameters, "dtype") parse too;
//  - defaults are transformers' ModelConfig ones; eos lists, nulls, integer
//    rope_theta, "dtype" over "torch_dtype", rope_parameters over rope_theta;
//  - every unsupported or malformed config is one error naming the file;
//  - config_save writes the exact transformers layout (golden text) and
//    parses back to the same config, with or without a quantization note.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "base/util.h"
#include "test.h"

#define NAME "cfg.json"

static int parse(ModelConfig *c, const char *json, char *err) {
    return config_parse(c, json, strlen(json), NAME, err);
}

static int same_config(const ModelConfig *a, const ModelConfig *b) {
    return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
           a->intermediate_size == b->intermediate_size && a->num_hidden_layers == b->num_hidden_layers &&
           a->num_attention_heads == b->num_attention_heads && a->num_key_value_heads == b->num_key_value_heads &&
           a->head_dim == b->head_dim && a->rms_norm_eps == b->rms_norm_eps && a->rope_theta == b->rope_theta &&
           a->tie_word_embeddings == b->tie_word_embeddings &&
           a->max_position_embeddings == b->max_position_embeddings && a->bos_token_id == b->bos_token_id &&
           a->eos_token_id == b->eos_token_id && !strcmp(a->torch_dtype, b->torch_dtype);
}

static void test_real_config(void) {
    const char *data = test_data_dir("test_config: the real Qwen3-0.6B config.json");
    if (!data) return;
    char path[4096], err[ERR_LEN];
    snprintf(path, sizeof path, "%s/qwen3-0.6b/config.json", data);
    ModelConfig c;
    int rc = config_load(&c, path, err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    CHECK(c.vocab_size == 151936 && c.hidden_size == 1024 && c.intermediate_size == 3072 &&
          c.num_hidden_layers == 28 && c.num_attention_heads == 16 && c.num_key_value_heads == 8 &&
          c.head_dim == 128, "Qwen3-0.6B sizes");
    CHECK(c.rms_norm_eps == 1e-6f && c.rope_theta == 1000000.0 && c.tie_word_embeddings == 1 &&
          c.max_position_embeddings == 40960, "Qwen3-0.6B eps %g theta %g tie %d maxpos %d", (double)c.rms_norm_eps,
          c.rope_theta, c.tie_word_embeddings, c.max_position_embeddings);
    CHECK(c.bos_token_id == 151643 && c.eos_token_id == 151645 && !strcmp(c.torch_dtype, "bfloat16"),
          "Qwen3-0.6B bos %d eos %d dtype %s", c.bos_token_id, c.eos_token_id, c.torch_dtype);
    // save -> parse round trip.
    char tmpl[] = "/tmp/trit_test_cfg_XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    ModelConfig d;
    CHECK(config_save(&c, tmpl, NULL, err) == 0, "%s", err);
    CHECK(config_load(&d, tmpl, err) == 0 && same_config(&c, &d), "real config save -> parse: %s", err);
    unlink(tmpl);
}

static void test_fixture_configs(void) {
    char err[ERR_LEN];
    ModelConfig c;
    // Written by transformers 5.x: "dtype", rope_parameters, layer_types, pad_token_id null.
    int rc = config_load(&c, "tests/fixtures/models/tiny_untied_fp32_sharded/config.json", err);
    CHECK(rc == 0, "%s", err);
    CHECK(rc || (c.vocab_size == 384 && c.hidden_size == 48 && c.intermediate_size == 96 && c.num_hidden_layers == 3 &&
                 c.num_attention_heads == 6 && c.num_key_value_heads == 3 && c.head_dim == 16 &&
                 c.rope_theta == 500000.0 && !c.tie_word_embeddings && !strcmp(c.torch_dtype, "float32") &&
                 c.bos_token_id == 1 && c.eos_token_id == 2 && c.max_position_embeddings == 256),
          "tiny_untied_fp32_sharded values");
    rc = config_load(&c, "tests/fixtures/models/tiny_tied_bf16/config.json", err);
    CHECK(rc == 0 && c.tie_word_embeddings && !strcmp(c.torch_dtype, "bfloat16") && c.head_dim == 16, "%s", err);
}

#define BASE "\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 128, " \
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4"

static void test_defaults(void) {
    char err[ERR_LEN];
    ModelConfig c;
    // Absent fields: transformers' ModelConfig defaults (num_key_value_heads 32, head_dim 128, ...).
    int rc = parse(&c, "{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64, "
                       "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 32}", err);
    CHECK(rc == 0, "%s", err);
    CHECK(c.num_attention_heads == 32 && c.num_key_value_heads == 32 && c.head_dim == 128 && c.rms_norm_eps == 1e-6f &&
          c.rope_theta == 10000.0 && c.tie_word_embeddings == 0 && c.max_position_embeddings == 32768 &&
          c.bos_token_id == -1 && c.eos_token_id == -1 && !strcmp(c.torch_dtype, "float32"),
          "defaults: nkv %d hd %d eps %g theta %g tie %d maxpos %d bos %d eos %d dtype %s", c.num_key_value_heads,
          c.head_dim, (double)c.rms_norm_eps, c.rope_theta, c.tie_word_embeddings, c.max_position_embeddings,
          c.bos_token_id, c.eos_token_id, c.torch_dtype);
    // With only 4 heads the default 32 KV heads do not divide: say so.
    CHECK(parse(&c, "{" BASE "}", err) != 0 && strstr(err, "num_key_value_heads 32"), "%s", err);
    // null num_key_value_heads: as many as the attention heads (MHA).
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": null}", err) == 0 && c.num_key_value_heads == 4, "%s", err);
    // eos as a list: the first; empty list or null: -1.
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"eos_token_id\": [151645, 151643]}", err) == 0 &&
          c.eos_token_id == 151645, "eos list: %s", err);
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"eos_token_id\": [], \"bos_token_id\": null}", err) == 0 &&
          c.eos_token_id == -1 && c.bos_token_id == -1, "eos []: %s", err);
    // rope_theta an integer; "dtype" wins over "torch_dtype"; rope_parameters over rope_theta.
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"rope_theta\": 1000000, \"torch_dtype\": \"float16\"}", err) == 0 &&
          c.rope_theta == 1e6 && !strcmp(c.torch_dtype, "float16"), "%s", err);
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"dtype\": \"bfloat16\", \"torch_dtype\": \"float16\"}", err) == 0 &&
          !strcmp(c.torch_dtype, "bfloat16"), "%s", err);
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"rope_theta\": 7, "
                    "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 5e5}}", err) == 0 &&
          c.rope_theta == 5e5, "%s", err);
    // A repeated key: the last one counts, as in Python's json.
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"hidden_size\": 96}", err) == 0 && c.hidden_size == 96, "%s", err);
    // Missing model_type is fine when architectures says Qwen3.
    CHECK(parse(&c, "{\"architectures\": [\"Qwen3ForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 8, "
                    "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                    "\"num_key_value_heads\": 1, \"head_dim\": 4}", err) == 0 && c.head_dim == 4, "%s", err);
    // Accepted but harmless: rope_scaling null, sliding_window given but off,
    // full-attention layer_types, unknown extra fields, the trit note.
    CHECK(parse(&c, "{" BASE ", \"num_key_value_heads\": 2, \"rope_scaling\": null, \"sliding_window\": 4096, "
                    "\"use_sliding_window\": false, \"layer_types\": [\"full_attention\", \"full_attention\"], "
                    "\"attention_bias\": false, \"hidden_act\": \"silu\", \"foo\": [1, {}], \"trit_quantization\": \"x\"}",
                err) == 0, "%s", err);
}

static void test_errors(void) {
    static const struct { const char *json, *needle; } cases[] = {
        {"", "not valid JSON"},
        {"{\"a\": ", "not valid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"\"qwen3\"", "not a JSON object"},
        {"{\"model_type\": \"mistral\", \"vocab_size\": 10}", "model_type 'mistral' is not supported"},
        {"{\"model_type\": 3}", "\"model_type\" must be a string"},
        {"{\"architectures\": [\"MistralForCausalLM\"], \"vocab_size\": 10}", "lists neither Qwen3ForCausalLM nor LlamaForCausalLM"},
        {"{\"vocab_size\": 10}", "lists neither"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10}", "missing required field \"hidden_size\""},
        {"{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4}", "missing required field \"vocab_size\""},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"intermediate_size\": 128, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4}", "missing required field \"hidden_size\""},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4}", "missing required field \"intermediate_size\""},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 128, "
         "\"num_attention_heads\": 4}", "missing required field \"num_hidden_layers\""},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2}", "missing required field \"num_attention_heads\""},
        {"{" BASE ", \"hidden_size\": \"64\"}", "\"hidden_size\" must be an integer"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64.5, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "\"hidden_size\" must be an integer"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": true, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "\"hidden_size\" must be an integer"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 0, \"hidden_size\": 64, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "vocab_size\" is 0"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": -5, \"hidden_size\": 64, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "vocab_size\" is -5"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 1e10, \"hidden_size\": 64, \"intermediate_size\": 128, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}", "vocab_size"},
        {"{" BASE ", \"num_key_value_heads\": 3}", "not a multiple of num_key_value_heads 3"},
        {"{" BASE ", \"num_key_value_heads\": 0}", "num_key_value_heads"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"head_dim\": 7}", "head_dim 7 must be even"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"head_dim\": null}", "\"head_dim\" must be an integer"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}",
         "rope_scaling.rope_type 'yarn' is not supported"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
         "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0}}", "original_max_position_embeddings: missing"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
         "\"low_freq_factor\": 4.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}",
         "low_freq_factor < high_freq_factor"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_scaling\": {\"factor\": 8.0}}", "rope_scaling.rope_type: missing"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"mlp_bias\": true}", "mlp_bias true"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e6}}",
         "rope_parameters.rope_type 'yarn' is not supported"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_parameters\": 5}", "\"rope_parameters\" must be an object"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"trit_adapter_rank\": -1}", "\"trit_adapter_rank\" is -1"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"trit_adapter_rank\": 65}", "narrowest linear layer's 64"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"trit_adapter_rank\": 2.5}", "\"trit_adapter_rank\" must be an integer"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_theta\": \"1e6\"}", "\"rope_theta\" must be a number"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rope_theta\": 0}", "must be a positive number"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rms_norm_eps\": -1e-6}", "must be a positive number"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e300}", "out of the float32 range"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-300}", "out of the float32 range"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"rms_norm_eps\": null}", "\"rms_norm_eps\" must be a number"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"hidden_act\": \"gelu\"}", "hidden_act 'gelu' is not supported"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"attention_bias\": true}", "attention_bias true"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"attention_bias\": 0}", "\"attention_bias\" must be true or false"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"use_sliding_window\": true}", "use_sliding_window true"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"layer_types\": [\"full_attention\", \"sliding_attention\"]}",
         "sliding_attention"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"tie_word_embeddings\": \"true\"}", "\"tie_word_embeddings\" must be true or false"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"eos_token_id\": \"x\"}", "\"eos_token_id\" must be a token id"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"eos_token_id\": [1, -2]}", "\"eos_token_id\" must be a token id"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"bos_token_id\": [1]}", "\"bos_token_id\" must be a token id"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"torch_dtype\": \"float64\"}", "torch_dtype 'float64' is not supported"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"dtype\": 16}", "\"dtype\" must be a string"},
        {"{" BASE ", \"num_key_value_heads\": 2, \"max_position_embeddings\": 0}", "max_position_embeddings"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 2147483647, \"hidden_size\": 2147483647, "
         "\"intermediate_size\": 2147483647, \"num_hidden_layers\": 2147483647, \"num_attention_heads\": 1, "
         "\"num_key_value_heads\": 1, \"head_dim\": 2}", "overflows"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 1000, \"hidden_size\": 2147483647, "
         "\"intermediate_size\": 2147483647, \"num_hidden_layers\": 2, \"num_attention_heads\": 1, "
         "\"num_key_value_heads\": 1, \"head_dim\": 2}", "overflows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ModelConfig c;
        char err[ERR_LEN] = "";
        int rc = parse(&c, cases[i].json, err);
        CHECK(rc != 0, "case %zu accepted: %s", i, cases[i].json);
        CHECK(strncmp(err, NAME ": ", strlen(NAME) + 2) == 0, "case %zu: message must start with the file name: %s", i, err);
        CHECK(strstr(err, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        CHECK(c.hidden_size == 0, "case %zu: a failed parse must leave a zeroed config", i);
    }
    char err[ERR_LEN];
    ModelConfig c;
    CHECK(config_load(&c, "/nonexistent/config.json", err) != 0 && strstr(err, "/nonexistent/config.json"), "%s", err);
    // Not NUL-terminated input: parsing stops at len.
    const char *json = "{" BASE ", \"num_key_value_heads\": 2}garbage";
    CHECK(config_parse(&c, json, strlen(json) - 7, NAME, err) == 0, "len-limited parse: %s", err);
}

static void test_validate(void) {
    char err[ERR_LEN];
    ModelConfig c = {.vocab_size = 100, .hidden_size = 64, .intermediate_size = 128, .num_hidden_layers = 2,
                     .num_attention_heads = 4, .num_key_value_heads = 2, .head_dim = 16, .rms_norm_eps = 1e-6f,
                     .rope_theta = 1e4, .max_position_embeddings = 64, .bos_token_id = -1, .eos_token_id = -1,
                     .torch_dtype = "float32"};
    CHECK(config_validate(&c, "hand", err) == 0, "%s", err);
    ModelConfig b = c;
    b.num_key_value_heads = 3;
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "hand: "), "%s", err);
    b = c;
    b.hidden_size = -1;
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "hidden_size is -1"), "%s", err);
    b = c;
    snprintf(b.torch_dtype, sizeof b.torch_dtype, "int8");
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "int8"), "%s", err);
    b = c;
    b.rope_theta = 0.0 / 0.0;
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "rope_theta"), "%s", err);
    b = c;
    b.eos_token_id = -7;
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "token ids"), "%s", err);
    b = c;
    b.vocab_size = b.hidden_size = b.intermediate_size = b.num_hidden_layers = 1 << 30;
    CHECK(config_validate(&b, "hand", err) != 0 && strstr(err, "overflows"), "%s", err);
}

static void test_save(void) {
    char err[ERR_LEN];
    char tmpl[] = "/tmp/trit_test_cfg_XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    ModelConfig c = {.vocab_size = 151936, .hidden_size = 1024, .intermediate_size = 3072, .num_hidden_layers = 28,
                     .num_attention_heads = 16, .num_key_value_heads = 8, .head_dim = 128, .rms_norm_eps = 1e-6f,
                     .rope_theta = 1000000.0, .tie_word_embeddings = 1, .max_position_embeddings = 40960,
                     .bos_token_id = 151643, .eos_token_id = 151645, .torch_dtype = "bfloat16"};
    CHECK(config_save(&c, tmpl, "ternary absmean, group 128: \"q\"\\\n\t\x01", err) == 0, "%s", err);
    size_t len;
    char *text = read_file(tmpl, &len, err);
    // json.dumps(..., indent=2, sort_keys=True) + "\n" of what transformers needs.
    const char *want =
        "{\n"
        "  \"architectures\": [\n"
        "    \"Qwen3ForCausalLM\"\n"
        "  ],\n"
        "  \"attention_bias\": false,\n"
        "  \"attention_dropout\": 0.0,\n"
        "  \"bos_token_id\": 151643,\n"
        "  \"eos_token_id\": 151645,\n"
        "  \"head_dim\": 128,\n"
        "  \"hidden_act\": \"silu\",\n"
        "  \"hidden_size\": 1024,\n"
        "  \"initializer_range\": 0.02,\n"
        "  \"intermediate_size\": 3072,\n"
        "  \"max_position_embeddings\": 40960,\n"
        "  \"max_window_layers\": 28,\n"
        "  \"model_type\": \"qwen3\",\n"
        "  \"num_attention_heads\": 16,\n"
        "  \"num_hidden_layers\": 28,\n"
        "  \"num_key_value_heads\": 8,\n"
        "  \"rms_norm_eps\": 1e-06,\n"
        "  \"rope_scaling\": null,\n"
        "  \"rope_theta\": 1000000.0,\n"
        "  \"sliding_window\": null,\n"
        "  \"tie_word_embeddings\": true,\n"
        "  \"torch_dtype\": \"bfloat16\",\n"
        "  \"trit_quantization\": \"ternary absmean, group 128: \\\"q\\\"\\\\\\n\\t\\u0001\",\n"
        "  \"use_cache\": true,\n"
        "  \"use_sliding_window\": false,\n"
        "  \"vocab_size\": 151936\n"
        "}\n";
    CHECK(text && !strcmp(text, want), "config_save wrote:\n%s", text ? text : err);
    free(text);
    ModelConfig d;
    CHECK(config_load(&d, tmpl, err) == 0 && same_config(&c, &d), "save -> parse: %s", err);
    // Without a note, untied, no token ids, other floats.
    c.tie_word_embeddings = 0;
    c.bos_token_id = c.eos_token_id = -1;
    c.rms_norm_eps = 1e-5f;
    c.rope_theta = 12345.678;
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "float32");
    CHECK(config_save(&c, tmpl, NULL, err) == 0, "%s", err);
    text = read_file(tmpl, &len, err);
    CHECK(text && strstr(text, "\"bos_token_id\": null,") && strstr(text, "\"rms_norm_eps\": 1e-05,") &&
          strstr(text, "\"rope_theta\": 12345.678,") && !strstr(text, "trit_quantization") &&
          strstr(text, "\"vocab_size\": 151936\n}\n"), "%s", text ? text : err);
    free(text);
    CHECK(config_load(&d, tmpl, err) == 0 && same_config(&c, &d), "save -> parse 2: %s", err);
    // Non-ASCII in the note: \uXXXX escapes, as json.dumps("\u00fc\U0001F600\x7f") gives.
    CHECK(config_save(&c, tmpl, "\xc3\xbc\xf0\x9f\x98\x80\x7f", err) == 0, "%s", err);
    text = read_file(tmpl, &len, err);
    CHECK(text && strstr(text, "  \"trit_quantization\": \"\\u00fc\\ud83d\\ude00\\u007f\",\n"), "note: %s", text);
    free(text);
    // An invalid config is not written.
    c.num_key_value_heads = 5;
    CHECK(config_save(&c, tmpl, NULL, err) != 0 && strstr(err, tmpl), "%s", err);
    unlink(tmpl);

    // config_print: one "key value" line per field.
    fflush(stdout);
    char out[] = "/tmp/trit_test_cfgprint_XXXXXX";
    int ofd = mkstemp(out), saved = dup(1);
    if (ofd >= 0 && saved >= 0) {
        dup2(ofd, 1);
        c.num_key_value_heads = 8;
        config_print(&c);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        close(ofd);
        text = read_file(out, &len, err);
        int lines = 0;
        for (size_t i = 0; text && i < len; i++) lines += text[i] == '\n';
        CHECK(text && lines == 15 && strstr(text, "model_type qwen3\n") && strstr(text, "hidden_size 1024\n") && strstr(text, "rope_theta 12345.678\n") &&
              strstr(text, "torch_dtype float32\n") && strstr(text, "eos_token_id -1\n"), "config_print:\n%s", text);
        free(text);
        unlink(out);
    }
}

// The quantization note trit writes is the one trit verify reads back, and
// the kept linear kinds survive as a list.
static void test_quant_note(void) {
    char err[ERR_LEN], note[320], emb[8], list[96];
    uint32_t mask, got;
    CHECK(arch_linear_mask("v_proj,down_proj", &mask, err) == 0 && mask == (1u << TK_WV | 1u << TK_WDOWN),
          "mask %#x: %s", mask, err);
    arch_linear_list(mask, list, sizeof list);
    CHECK(!strcmp(list, "v_proj,down_proj"), "list: %s", list);
    CHECK(arch_linear_mask("", &mask, err) == 0 && mask == 0, "empty list: %#x", mask);
    CHECK(arch_linear_mask("v_proj,lm_head", &mask, err) != 0 && strstr(err, "'lm_head' is not a linear layer"),
          "bad kind: %s", err);
    CHECK(arch_linear_mask("v_proj,", &mask, err) == 0 && mask == 1u << TK_WV, "trailing comma: %#x", mask);
    quant_note(note, sizeof note, 64, "gptq", "bf16", 1u << TK_WV | 1u << TK_WDOWN, 0, "trit convert");
    CHECK(quant_note_parse(note, emb, &got) == 64 && !strcmp(emb, "bf16") && got == (1u << TK_WV | 1u << TK_WDOWN),
          "round trip of '%s': embedding '%s', kept %#x", note, emb, got);
    quant_note(note, sizeof note, 64, "gptq", "bf16", 0, 16, "trit convert");
    CHECK(strstr(note, ", adapters r16:") && strstr(note, "is t*s + B*A (a rank-16 correction)") &&
              quant_note_parse(note, emb, &got) == 64 && !strcmp(emb, "bf16") && got == 0,
          "adapters: '%s'", note);
    quant_note(note, sizeof note, 128, "absmean", NULL, 0, 0, "trit train");
    CHECK(quant_note_parse(note, emb, &got) == 128 && !emb[0] && got == 0, "all ternary '%s'", note);
    CHECK(quant_note_parse("ternary g32 mse, embedding fp32: text", emb, &got) == 32 && !strcmp(emb, "fp32") && !got,
          "an older note");
    CHECK(quant_note_parse("float32 weights", emb, &got) == 0, "not a ternary note");
}

int main(void) {
    test_real_config();
    test_fixture_configs();
    test_defaults();
    test_errors();
    test_validate();
    test_save();
    test_quant_note();
    return test_finish("test_config");
}
