// checkpoint.h — what a checkpoint must contain, given its config (the
// tensors of its architecture's table, src/arch), and a check of a
// safetensors archive against them (used by `trit info` and the model loader).
#ifndef TRIT_CHECKPOINT_H
#define TRIT_CHECKPOINT_H

#include <stdint.h>

#include "arch/config.h"
#include "format/safetensors.h"

// What a tensor is, for parameter accounting.
typedef enum { CK_EMBEDDING, CK_ATTENTION, CK_MLP, CK_NORM, CK_LM_HEAD, CK_OTHER, CK_NUM_KINDS } CkKind;

// "embedding", "attention", "mlp", "norms", "lm_head", "other".
const char *ck_kind_name(CkKind k);

// The kind of a tensor, from its HF name alone (CK_OTHER when it is no
// tensor of a supported architecture).
CkKind ck_kind_of(const char *name);

// Checks `a` against the config: every tensor of the architecture's table is
// present with its exact shape, and there is no other tensor, except that a
// tied model may carry an lm_head.weight (ignored by transformers) as long as
// it is [V, C]. Returns -1 with one message naming `name` (the checkpoint
// directory), the tensor, and the expected and found shape. Dtypes are not
// checked here.
int checkpoint_check(const ModelConfig *c, const StArchive *a, const char *name, char *err);

#endif
