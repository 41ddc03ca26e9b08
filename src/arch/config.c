// config.c — see config.h.
//
// Defaults follow transformers' ModelConfig (5.x, same values as 4.51) for
// the fields a checkpoint's config.json may leave out, so that trit and
// transformers build the same model from the same file:
//   num_key_value_heads 32 (null: num_attention_heads), head_dim 128,
//   rms_norm_eps 1e-6, rope_theta 10000, tie_word_embeddings false,
//   max_position_embeddings 32768, bos/eos absent (-1), dtype float32.
// The five core sizes (vocab_size, hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads) are required: a config without them
// is not a real checkpoint's.
//
// Both layouts of the rotary settings are read: transformers 4.x's top-level
// "rope_theta" + "rope_scaling", and 5.x's "rope_parameters"
// {"rope_type": "default", "rope_theta": ...}, which wins when both appear (as
// in transformers). Likewise "dtype" (5.x) wins over "torch_dtype" (4.x).
#define _POSIX_C_SOURCE 200809L
#include "arch/config.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "base/buf.h"
#include "base/util.h"

// The value of `key` in object `o`; when a key repeats, the last one counts,
// as in Python's json (which transformers uses).
static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *e, *found = NULL;
    cJSON_ArrayForEach(e, o) if (e->string && !strcmp(e->string, key)) found = e;
    return found;
}

// Reads an optional integer field into *out (untouched when absent). A
// present field must be a whole JSON number in [min, INT_MAX].
static int get_int(const cJSON *root, const char *key, int min, int *out, int *present, const char *name,
                   char *err) {
    const cJSON *j = get(root, key);
    if (present) *present = j != NULL;
    if (!j) return 0;
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble))
        return set_err(err, "%s: \"%s\" must be an integer", name, key);
    if (j->valuedouble < min || j->valuedouble > INT_MAX)
        return set_err(err, "%s: \"%s\" is %.17g, must be between %d and %d", name, key, j->valuedouble, min,
                       INT_MAX);
    *out = (int)j->valuedouble;
    return 0;
}

static int get_bool(const cJSON *root, const char *key, int *out, const char *name, char *err) {
    const cJSON *j = get(root, key);
    if (!j) return 0;
    if (!cJSON_IsBool(j)) return set_err(err, "%s: \"%s\" must be true or false", name, key);
    *out = cJSON_IsTrue(j);
    return 0;
}

// A positive finite number (integer or not).
static int get_pos_number(const cJSON *j, const char *key, double *out, const char *name, char *err) {
    if (!cJSON_IsNumber(j)) return set_err(err, "%s: \"%s\" must be a number", name, key);
    if (!(j->valuedouble > 0) || !isfinite(j->valuedouble))
        return set_err(err, "%s: \"%s\" is %.17g, must be a positive number", name, key, j->valuedouble);
    *out = j->valuedouble;
    return 0;
}

// A token id: absent or null -> -1; an int; where allowed (eos) a list, of
// which the first is kept.
static int get_token_id(const cJSON *root, const char *key, int allow_list, int *out, const char *name, char *err) {
    const cJSON *j = get(root, key);
    *out = -1;
    if (!j || cJSON_IsNull(j)) return 0;
    if (allow_list && cJSON_IsArray(j)) {
        const cJSON *e;
        int first = 1;
        cJSON_ArrayForEach(e, j) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble > INT_MAX)
                return set_err(err, "%s: \"%s\" must be a token id or a list of token ids", name, key);
            if (first) *out = (int)e->valuedouble;
            first = 0;
        }
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < 0 ||
        j->valuedouble > INT_MAX)
        return set_err(err, "%s: \"%s\" must be a token id (a non-negative integer)%s", name, key,
                       allow_list ? " or a list of them" : "");
    *out = (int)j->valuedouble;
    return 0;
}

static int check_dtype_name(const char *s) {
    return !strcmp(s, "bfloat16") || !strcmp(s, "float16") || !strcmp(s, "float32");
}

// A RoPE scaling object: transformers 4.x's "rope_scaling" or 5.x's
// "rope_parameters" (null, {"rope_type"|"type": "default"} or llama3 with its
// four parameters, all required as transformers' validation requires them).
static int parse_rope(ModelConfig *c, const cJSON *o, const char *key, const char *name, char *err) {
    if (!o || cJSON_IsNull(o)) return 0;
    if (!cJSON_IsObject(o)) return set_err(err, "%s: \"%s\" must be an object or null", name, key);
    const cJSON *t = get(o, "rope_type");
    if (!t) t = get(o, "type");
    if (!t || !cJSON_IsString(t)) return set_err(err, "%s: %s.rope_type: missing (a string)", name, key);
    if (!strcmp(t->valuestring, "default")) {
        c->rope_scaling.type = ROPE_DEFAULT;
        return 0;
    }
    if (strcmp(t->valuestring, "llama3"))
        return set_err(err, "%s: %s.rope_type '%.40s' is not supported (\"default\" or \"llama3\")", name, key,
                       t->valuestring);
    RopeScaling *r = &c->rope_scaling;
    r->type = ROPE_LLAMA3;
    static const char *const fields[3] = {"factor", "low_freq_factor", "high_freq_factor"};
    double *vals[3] = {&r->factor, &r->low_freq_factor, &r->high_freq_factor};
    char where[96];
    for (int i = 0; i < 3; i++) {
        snprintf(where, sizeof where, "%s.%s", key, fields[i]);
        const cJSON *j = get(o, fields[i]);
        if (!j) return set_err(err, "%s: %s: missing (llama3 RoPE scaling needs it)", name, where);
        if (get_pos_number(j, where, vals[i], name, err)) return -1;
    }
    int present;
    if (get_int(o, "original_max_position_embeddings", 1, &r->original_max_position_embeddings, &present, name, err))
        return -1;
    if (!present) return set_err(err, "%s: %s.original_max_position_embeddings: missing (llama3 RoPE scaling needs it)",
                                 name, key);
    return 0;
}

static int parse_root(ModelConfig *c, const cJSON *root, const char *name, char *err) {
    const cJSON *j;
    // Which model this is.
    const Arch *arch = NULL;
    j = get(root, "model_type");
    if (j) {
        if (!cJSON_IsString(j)) return set_err(err, "%s: \"model_type\" must be a string", name);
        if (!(arch = arch_by_model_type(j->valuestring)))
            return set_err(err, "%s: model_type '%.100s' is not supported (trit runs \"qwen3\" and \"llama\")",
                           name, j->valuestring);
    } else {
        const cJSON *list = get(root, "architectures"), *e;
        if (cJSON_IsArray(list))
            cJSON_ArrayForEach(e, list) if (!arch && cJSON_IsString(e)) arch = arch_by_hf_class(e->valuestring);
        if (!arch)
            return set_err(err, "%s: no \"model_type\" and \"architectures\" lists neither Qwen3ForCausalLM nor "
                           "LlamaForCausalLM", name);
    }
    c->arch = arch->id;
    // Features trit does not implement.
    j = get(root, "hidden_act");
    if (j) {
        if (!cJSON_IsString(j)) return set_err(err, "%s: \"hidden_act\" must be a string", name);
        if (strcmp(j->valuestring, "silu"))
            return set_err(err, "%s: hidden_act '%.60s' is not supported (only \"silu\")", name, j->valuestring);
    }
    int flag = 0;
    if (get_bool(root, "attention_bias", &flag, name, err)) return -1;
    if (flag) return set_err(err, "%s: attention_bias true is not supported (q/k/v/o projections without bias only)", name);
    if (get_bool(root, "mlp_bias", &flag, name, err)) return -1;
    if (flag) return set_err(err, "%s: mlp_bias true is not supported (gate/up/down projections without bias only)", name);
    flag = 0;
    if (get_bool(root, "use_sliding_window", &flag, name, err)) return -1;
    if (flag) return set_err(err, "%s: use_sliding_window true is not supported (full attention only)", name);
    j = get(root, "layer_types");
    if (j && !cJSON_IsNull(j)) {
        const cJSON *e;
        if (!cJSON_IsArray(j)) return set_err(err, "%s: \"layer_types\" must be a list of strings", name);
        cJSON_ArrayForEach(e, j) {
            if (!cJSON_IsString(e)) return set_err(err, "%s: \"layer_types\" must be a list of strings", name);
            if (strcmp(e->valuestring, "full_attention"))
                return set_err(err, "%s: layer_types contains '%.60s' (only \"full_attention\" is supported)", name,
                               e->valuestring);
        }
    }

    // Sizes: the core five are required.
    static const struct { const char *key; size_t off; } req[] = {
        {"vocab_size", offsetof(ModelConfig, vocab_size)},
        {"hidden_size", offsetof(ModelConfig, hidden_size)},
        {"intermediate_size", offsetof(ModelConfig, intermediate_size)},
        {"num_hidden_layers", offsetof(ModelConfig, num_hidden_layers)},
        {"num_attention_heads", offsetof(ModelConfig, num_attention_heads)},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        int present;
        if (get_int(root, req[i].key, 1, (int *)((char *)c + req[i].off), &present, name, err)) return -1;
        if (!present) return set_err(err, "%s: missing required field \"%s\"", name, req[i].key);
    }
    // The config class's defaults (the table): Qwen3Config has 32 KV heads and
    // head_dim 128, LlamaConfig falls back to the attention heads and hidden / heads.
    j = get(root, "num_key_value_heads");
    c->num_key_value_heads = arch->default_kv_heads ? arch->default_kv_heads : c->num_attention_heads;
    if (j && cJSON_IsNull(j)) c->num_key_value_heads = c->num_attention_heads;
    else if (get_int(root, "num_key_value_heads", 1, &c->num_key_value_heads, NULL, name, err)) return -1;
    const int derived_head_dim = arch->default_head_dim == 0;
    c->head_dim = derived_head_dim ? c->hidden_size / c->num_attention_heads : arch->default_head_dim;
    j = get(root, "head_dim");
    if (!(derived_head_dim && cJSON_IsNull(j)) && get_int(root, "head_dim", 1, &c->head_dim, NULL, name, err))
        return -1;
    c->max_position_embeddings = arch->default_context;
    if (get_int(root, "max_position_embeddings", 1, &c->max_position_embeddings, NULL, name, err)) return -1;

    double eps = 1e-6;
    j = get(root, "rms_norm_eps");
    if (j && get_pos_number(j, "rms_norm_eps", &eps, name, err)) return -1;
    if (eps > FLT_MAX || (float)eps == 0.0f)
        return set_err(err, "%s: rms_norm_eps %g is out of the float32 range", name, eps);
    c->rms_norm_eps = (float)eps;

    c->rope_theta = 10000.0;
    j = get(root, "rope_theta");
    if (j && get_pos_number(j, "rope_theta", &c->rope_theta, name, err)) return -1;
    c->rope_scaling.type = ROPE_DEFAULT;
    if (parse_rope(c, get(root, "rope_scaling"), "rope_scaling", name, err)) return -1;
    const cJSON *rp = get(root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        if (parse_rope(c, rp, "rope_parameters", name, err)) return -1;
        j = get(rp, "rope_theta");
        if (j && get_pos_number(j, "rope_parameters.rope_theta", &c->rope_theta, name, err)) return -1;
    }

    c->tie_word_embeddings = 0;
    if (get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, name, err)) return -1;
    // The class's defaults (LlamaConfig: bos 1, eos 2); an explicit null is absent.
    c->bos_token_id = arch->default_bos;
    c->eos_token_id = arch->default_eos;
    if (get(root, "bos_token_id") && get_token_id(root, "bos_token_id", 0, &c->bos_token_id, name, err)) return -1;
    if (get(root, "eos_token_id") && get_token_id(root, "eos_token_id", 1, &c->eos_token_id, name, err)) return -1;

    c->adapter_rank = 0;
    if (get_int(root, "trit_adapter_rank", 0, &c->adapter_rank, NULL, name, err)) return -1;

    snprintf(c->torch_dtype, sizeof c->torch_dtype, "float32");
    j = get(root, "dtype");
    const char *dkey = "dtype";
    if (!j || cJSON_IsNull(j)) { j = get(root, "torch_dtype"); dkey = "torch_dtype"; }
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j)) return set_err(err, "%s: \"%s\" must be a string", name, dkey);
        if (!check_dtype_name(j->valuestring))
            return set_err(err, "%s: %s '%.40s' is not supported (bfloat16, float16 or float32)", name, dkey,
                           j->valuestring);
        snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", j->valuestring);
    }
    return config_validate(c, name, err);
}

int config_parse(ModelConfig *c, const char *json, size_t len, const char *name, char *err) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = ep && ep >= json && ep <= json + len ? (long)(ep - json) : -1;
        return set_err(err, "%s: not valid JSON (error near byte %ld)", name, at);
    }
    int rc;
    if (!cJSON_IsObject(root)) rc = set_err(err, "%s: not a JSON object", name);
    else rc = parse_root(c, root, name, err);
    cJSON_Delete(root);
    if (rc != 0) memset(c, 0, sizeof *c);
    return rc;
}

int config_load(ModelConfig *c, const char *path, char *err) {
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    int rc = config_parse(c, text, len, path, err);
    free(text);
    return rc;
}

int config_validate(const ModelConfig *c, const char *name, char *err) {
    static const struct { const char *key; size_t off; } pos[] = {
        {"vocab_size", offsetof(ModelConfig, vocab_size)},
        {"hidden_size", offsetof(ModelConfig, hidden_size)},
        {"intermediate_size", offsetof(ModelConfig, intermediate_size)},
        {"num_hidden_layers", offsetof(ModelConfig, num_hidden_layers)},
        {"num_attention_heads", offsetof(ModelConfig, num_attention_heads)},
        {"num_key_value_heads", offsetof(ModelConfig, num_key_value_heads)},
        {"head_dim", offsetof(ModelConfig, head_dim)},
        {"max_position_embeddings", offsetof(ModelConfig, max_position_embeddings)},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        int v = *(const int *)((const char *)c + pos[i].off);
        if (v <= 0) return set_err(err, "%s: %s is %d, must be positive", name, pos[i].key, v);
    }
    if (c->num_attention_heads % c->num_key_value_heads != 0)
        return set_err(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name,
                       c->num_attention_heads, c->num_key_value_heads);
    if (c->head_dim % 2 != 0) return set_err(err, "%s: head_dim %d must be even (rotary embedding)", name, c->head_dim);
    if (!(c->rms_norm_eps > 0) || !isfinite(c->rms_norm_eps))
        return set_err(err, "%s: rms_norm_eps %g must be a positive number", name, (double)c->rms_norm_eps);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return set_err(err, "%s: rope_theta %g must be a positive number", name, c->rope_theta);
    if (c->bos_token_id < -1 || c->eos_token_id < -1)
        return set_err(err, "%s: token ids must be -1 (absent) or non-negative", name);
    if (memchr(c->torch_dtype, 0, sizeof c->torch_dtype) == NULL || !check_dtype_name(c->torch_dtype))
        return set_err(err, "%s: torch_dtype '%.16s' is not supported (bfloat16, float16 or float32)", name,
                       c->torch_dtype);
    const RopeScaling *r = &c->rope_scaling;
    if (r->type == ROPE_LLAMA3 &&
        (!(r->factor > 0) || !isfinite(r->factor) || !(r->low_freq_factor > 0) || !isfinite(r->low_freq_factor) ||
         !(r->high_freq_factor > r->low_freq_factor) || !isfinite(r->high_freq_factor) ||
         r->original_max_position_embeddings < 1))
        return set_err(err, "%s: llama3 RoPE scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                       "original_max_position_embeddings >= 1", name);
    if (!arch_get(c->arch)) return set_err(err, "%s: unknown architecture id %d", name, (int)c->arch);
    // Every tensor size and the total parameter count must fit in int64,
    // and the fp32 copy must be addressable.
    int64_t total = arch_param_count(c);
    if (total < 0 || (uint64_t)total > SIZE_MAX / sizeof(float))
        return set_err(err, "%s: sizes too large: the parameter count overflows (vocab_size %d, hidden_size %d, "
                       "intermediate_size %d, num_hidden_layers %d, heads %d/%d, head_dim %d)", name, c->vocab_size,
                       c->hidden_size, c->intermediate_size, c->num_hidden_layers, c->num_attention_heads,
                       c->num_key_value_heads, c->head_dim);
    int64_t narrowest = c->hidden_size;  // of every linear's sides (their sizes fit, checked above)
    const int64_t sides[3] = {(int64_t)c->num_attention_heads * c->head_dim,
                              (int64_t)c->num_key_value_heads * c->head_dim, c->intermediate_size};
    for (int i = 0; i < 3; i++)
        if (sides[i] < narrowest) narrowest = sides[i];
    if (c->adapter_rank < 0 || c->adapter_rank > narrowest)
        return set_err(err, "%s: trit_adapter_rank %d must be between 0 and the narrowest linear layer's %lld", name,
                       c->adapter_rank, (long long)narrowest);
    return 0;
}

// ---------------------------------------------------------------------------
// Writing

// A float as Python's repr writes it: the shortest digits that read back to
// the same value (as a float32 when `single`), fixed notation between 1e-4
// and 1e16 with at least one decimal ("0.02", "1000000.0"), else "1e-06".
static void py_float(char *out, size_t n, double v, int single) {
    char digits[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(digits, sizeof digits, "%.*e", p - 1, v);
        if (single ? strtof(digits, NULL) == (float)v : strtod(digits, NULL) == v) break;
    }
    if (p > 17) p = 17;
    snprintf(digits, sizeof digits, "%.*e", p - 1, v);
    int exp = atoi(strchr(digits, 'e') + 1);
    if (exp < -4 || exp >= 16) {
        snprintf(out, n, "%s", digits);  // "1e-06", "1.5e-07" as Python
        return;
    }
    int decimals = p - 1 - exp;
    if (decimals < 1) decimals = 1;
    snprintf(out, n, "%.*f", decimals, v);
}

typedef struct { const char *key; char val[320]; } Field;

static int cmp_field(const void *x, const void *y) { return strcmp(((const Field *)x)->key, ((const Field *)y)->key); }

int config_save(const ModelConfig *c, const char *path, const char *quantization_note, char *err) {
    if (config_validate(c, path, err) != 0) return -1;
    Field f[40];
    int n = 0;
#define FIELD(k, ...) do { f[n].key = k; snprintf(f[n].val, sizeof f[n].val, __VA_ARGS__); n++; } while (0)
    char num[64];
    const Arch *arch = arch_get(c->arch);
    const int sliding = arch->save_keys & ARCH_KEYS_SLIDING_WINDOW, mlp_bias = arch->save_keys & ARCH_KEYS_MLP_BIAS;
    FIELD("architectures", "[\n    \"%s\"\n  ]", arch->hf_class);
    FIELD("attention_bias", "false");
    FIELD("attention_dropout", "0.0");
    if (c->bos_token_id >= 0) FIELD("bos_token_id", "%d", c->bos_token_id); else FIELD("bos_token_id", "null");
    if (c->eos_token_id >= 0) FIELD("eos_token_id", "%d", c->eos_token_id); else FIELD("eos_token_id", "null");
    FIELD("head_dim", "%d", c->head_dim);
    FIELD("hidden_act", "\"silu\"");
    FIELD("hidden_size", "%d", c->hidden_size);
    FIELD("initializer_range", "0.02");
    FIELD("intermediate_size", "%d", c->intermediate_size);
    FIELD("max_position_embeddings", "%d", c->max_position_embeddings);
    if (sliding) FIELD("max_window_layers", "%d", c->num_hidden_layers);
    if (mlp_bias) FIELD("mlp_bias", "false");
    FIELD("model_type", "\"%s\"", arch->model_type);
    FIELD("num_attention_heads", "%d", c->num_attention_heads);
    FIELD("num_hidden_layers", "%d", c->num_hidden_layers);
    FIELD("num_key_value_heads", "%d", c->num_key_value_heads);
    py_float(num, sizeof num, c->rms_norm_eps, 1);
    FIELD("rms_norm_eps", "%s", num);
    if (mlp_bias) FIELD("pretraining_tp", "1");
    if (c->rope_scaling.type == ROPE_LLAMA3) {
        char fac[32], lo[32], hi[32];
        py_float(fac, sizeof fac, c->rope_scaling.factor, 0);
        py_float(lo, sizeof lo, c->rope_scaling.low_freq_factor, 0);
        py_float(hi, sizeof hi, c->rope_scaling.high_freq_factor, 0);
        FIELD("rope_scaling",
              "{\n    \"factor\": %s,\n    \"high_freq_factor\": %s,\n    \"low_freq_factor\": %s,\n"
              "    \"original_max_position_embeddings\": %d,\n    \"rope_type\": \"llama3\"\n  }",
              fac, hi, lo, c->rope_scaling.original_max_position_embeddings);
    } else {
        FIELD("rope_scaling", "null");
    }
    py_float(num, sizeof num, c->rope_theta, 0);
    FIELD("rope_theta", "%s", num);
    if (sliding) FIELD("sliding_window", "null");
    FIELD("tie_word_embeddings", "%s", c->tie_word_embeddings ? "true" : "false");
    FIELD("torch_dtype", "\"%s\"", c->torch_dtype);
    if (c->adapter_rank) FIELD("trit_adapter_rank", "%d", c->adapter_rank);
    FIELD("use_cache", "true");
    if (sliding) FIELD("use_sliding_window", "false");
    FIELD("vocab_size", "%d", c->vocab_size);
#undef FIELD
    qsort(f, (size_t)n, sizeof *f, cmp_field);
    // The note is free text: JSON-escape it into its own buffer.
    Buf nb = {0};
    if (quantization_note) buf_json_str(&nb, quantization_note, 1);  // as Python's json.dumps
    char *note = nb.s;
    size_t cap = 4096 + (note ? strlen(note) : 0), len = 0;
    char *out = xmalloc(cap);
    len += (size_t)snprintf(out + len, cap - len, "{\n");
    int note_done = note == NULL;
    for (int i = 0; i < n; i++) {
        // "trit_quantization" sorts between "torch_dtype" and "use_cache".
        if (!note_done && strcmp("trit_quantization", f[i].key) < 0) {
            len += (size_t)snprintf(out + len, cap - len, "  \"trit_quantization\": %s,\n", note);
            note_done = 1;
        }
        len += (size_t)snprintf(out + len, cap - len, "  \"%s\": %s%s\n", f[i].key, f[i].val,
                                i + 1 < n || !note_done ? "," : "");
    }
    if (!note_done) len += (size_t)snprintf(out + len, cap - len, "  \"trit_quantization\": %s\n", note);
    len += (size_t)snprintf(out + len, cap - len, "}\n");
    free(note);
    int rc = write_file_atomic(path, out, len, err);
    free(out);
    return rc;
}

void config_print(const ModelConfig *c) {
    printf("model_type %s\n", arch_get(c->arch)->model_type);
    printf("vocab_size %d\n", c->vocab_size);
    printf("hidden_size %d\n", c->hidden_size);
    printf("intermediate_size %d\n", c->intermediate_size);
    printf("num_hidden_layers %d\n", c->num_hidden_layers);
    printf("num_attention_heads %d\n", c->num_attention_heads);
    printf("num_key_value_heads %d\n", c->num_key_value_heads);
    printf("head_dim %d\n", c->head_dim);
    char num[64];
    py_float(num, sizeof num, c->rms_norm_eps, 1);
    printf("rms_norm_eps %s\n", num);
    py_float(num, sizeof num, c->rope_theta, 0);
    printf("rope_theta %s\n", num);
    if (c->rope_scaling.type == ROPE_LLAMA3)
        printf("rope_scaling llama3 (factor %g, low_freq_factor %g, high_freq_factor %g, "
               "original_max_position_embeddings %d)\n", c->rope_scaling.factor, c->rope_scaling.low_freq_factor,
               c->rope_scaling.high_freq_factor, c->rope_scaling.original_max_position_embeddings);
    printf("tie_word_embeddings %s\n", c->tie_word_embeddings ? "true" : "false");
    printf("max_position_embeddings %d\n", c->max_position_embeddings);
    printf("bos_token_id %d\n", c->bos_token_id);
    printf("eos_token_id %d\n", c->eos_token_id);
    printf("torch_dtype %s\n", c->torch_dtype);
    if (c->adapter_rank) printf("trit_adapter_rank %d\n", c->adapter_rank);
}

void quant_note(char *out, size_t n, int group, const char *how, const char *embedding, uint32_t keep_linear,
                int adapter_rank, const char *by) {
    char kept[128] = "", emb[32] = "", list[96], ad[32] = "", plus[48] = "";
    arch_linear_list(keep_linear, list, sizeof list);
    if (embedding) snprintf(emb, sizeof emb, ", embedding %s", embedding);
    if (keep_linear) snprintf(kept, sizeof kept, ", kept bf16 %s", list);
    if (adapter_rank) {
        snprintf(ad, sizeof ad, ", adapters r%d", adapter_rank);
        snprintf(plus, sizeof plus, " + B*A (a rank-%d correction)", adapter_rank);
    }
    snprintf(out, n, "ternary g%d %s%s%s%s: every linear layer%s%s%s is t*s%s, t in {-1,0,1}, one scale per group of "
             "%d input weights (%s); %s", group, how, emb, kept, ad, keep_linear ? " but " : "", list,
             embedding ? "" : " and the embedding", plus, group, by,
             embedding || keep_linear || adapter_rank ? "the rest is not ternary" : "norms full precision");
}

int quant_note_parse(const char *note, char embedding[8], uint32_t *keep_linear) {
    int g = 0;
    embedding[0] = 0;
    *keep_linear = 0;
    if (sscanf(note, "ternary g%d", &g) != 1 || g <= 0) return 0;
    const char *head_end = strchr(note, ':');
    const size_t head = head_end ? (size_t)(head_end - note) : strlen(note);
    const char *e = strstr(note, ", embedding ");
    if (e && (size_t)(e - note) < head && (!strncmp(e + 12, "bf16", 4) || !strncmp(e + 12, "fp32", 4)))
        snprintf(embedding, 8, "%.4s", e + 12);
    const char *k = strstr(note, ", kept bf16 ");
    if (k && (size_t)(k - note) < head) {
        char list[96], err[ERR_LEN];
        const size_t len = strcspn(k + 12, ":");
        snprintf(list, sizeof list, "%.*s", (int)(len < sizeof list ? len : sizeof list - 1), k + 12);
        if (arch_linear_mask(list, keep_linear, err)) *keep_linear = 0;
    }
    return g;
}
