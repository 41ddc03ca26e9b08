// checkpoint.h — what a Qwen3 checkpoint must contain, given its config:
// the Hugging Face tensor names and shapes, and a check of a safetensors
// archive against them (used by `trit info` and the model loader).
#ifndef TRIT_CHECKPOINT_H
#define TRIT_CHECKPOINT_H

#include <stdint.h>

#include "io/config.h"
#include "io/safetensors.h"

// What a tensor is, for parameter accounting.
typedef enum { CK_EMBEDDING, CK_ATTENTION, CK_MLP, CK_NORM, CK_LM_HEAD, CK_OTHER, CK_NUM_KINDS } CkKind;

typedef struct {
    char name[96];          // e.g. "model.layers.3.self_attn.q_proj.weight"
    int ndim;               // 1 or 2
    int64_t shape[2];
    CkKind kind;
} CkTensor;

// "embedding", "attention", "mlp", "norms", "lm_head", "other".
const char *ck_kind_name(CkKind k);

// The kind of a tensor, from its HF name alone (CK_OTHER when not a Qwen3 name).
CkKind ck_kind_of(const char *name);

// The tensors the config implies, in transformers' state_dict order:
// embed_tokens, then per layer self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
// mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm, then
// model.norm, then lm_head when the embeddings are not tied. Returns the
// count and a malloc'd array in *out (caller frees); -1 (and NULL) when the
// count is absurd (> INT_MAX / 2). The config must be valid (config_validate).
int ck_expected_tensors(const Qwen3Config *c, CkTensor **out);

// How many tensors the config implies: 11 per layer, embed, norm, [lm_head].
int64_t ck_tensor_count(const Qwen3Config *c);

// Whether `name` is one of the tensors the config implies; if so and `out`
// is not NULL, its expected shape and kind go to *out. (A tied model's
// lm_head.weight is not one.)
int ck_lookup(const Qwen3Config *c, const char *name, CkTensor *out);

// Checks `a` against the config: every expected tensor is present with its
// exact shape, and there is no other tensor, except that a tied model may
// carry an lm_head.weight (ignored by transformers) as long as it is [V, C].
// Returns -1 with one message naming `name` (the checkpoint directory), the
// tensor, and the expected and found shape. Dtypes are not checked here.
int checkpoint_check(const Qwen3Config *c, const StArchive *a, const char *name, char *err);

#endif
