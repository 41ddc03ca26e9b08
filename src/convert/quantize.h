// quantize.h — a model's calibrated ternary start, without training
// (`trit quantize`): every linear layer, and unless kept the embedding /
// LM head, becomes exactly t·s with one fp16 scale per group of input
// weights, by one of three methods:
//   absmean  BitNet b1.58's scale, t the nearest level (what training uses);
//   mse      each group's MSE-optimal scale and support; with calibration
//            text, the error weighted by the mean square of each input
//            (the diagonal of the layer's Hessian);
//   gptq     GPTQ with a ternary grid (quant/gptq.h) on the Hessian XᵀX of
//            each linear's inputs.
// With calibration, layers are converted in order and each one's inputs
// come from the calibration text run through the layers already converted
// (the quantized model's own stream), q/k/v before o, gate/up before down.
// The head is converted last, on the final norm's outputs. With `balance`,
// each stage's inputs are balanced before its matrices are rounded
// (quant/balance.h): the model's function is unchanged, the ternary grid
// sees weights scaled by each input's magnitude. With `qep`, before that,
// each matrix is corrected toward what the parent's layer makes of the
// parent's own inputs (qep_correct), the parent run beside on a copy.
// A model with adapters (model_set_adapter_rank) gets each linear's adapter
// fitted to its rounding error, weighted by the same Hessian (lowrank.h),
// before the stream runs through the layer.
#ifndef TRIT_QUANTIZE_H
#define TRIT_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef enum { QUANT_ABSMEAN, QUANT_MSE, QUANT_GPTQ } QuantMethod;
typedef enum { QKEEP_NONE, QKEEP_BF16 } QuantKeep;

typedef struct {
    QuantMethod method;
    int group;
    QuantKeep keep_embedding;  // BF16: the embedding / head rounded to bf16, not ternary
    uint32_t keep_linear;      // linear kinds (1u << TensorKind) rounded to bf16, not ternary
    int balance;               // with calibration: each stage's inputs balanced first (quant/balance.h)
    double qep;                // with calibration: QEP's alpha (quant/gptq.h qep_correct; 0: off)
    double damp;               // gptq: fraction of the mean Hessian diagonal added (0.01)
    const int32_t *calib;      // calibration tokens (NULL: none; gptq needs them)
    size_t n_calib;
    int seq_len;               // calibration sequence length
    int batch;                 // sequences per forward pass
    int verbose;               // a progress bar on stderr
} QuantizeOptions;

// The method's name ("absmean", "mse", "gptq").
const char *quant_method_name(QuantMethod m);

// The method with what ran before it, for the model's quantization note:
// "gptq", "gptq balanced", "gptq qep", "gptq balanced qep".
void quant_method_label(char *out, size_t n, QuantMethod m, int balance, double qep);

// Converts m in place. -1 with err: a group that does not divide a row, gptq
// without calibration, fewer calibration tokens than one sequence, a model
// whose matrices are all ternary already, a Hessian that is not positive
// definite.
int model_quantize(Model *m, const QuantizeOptions *o, char *err);

// Folds the balance b of the inputs of stage st of layer l (0: q/k/v,
// 1: o, 2: gate/up, 3: down; one value per input) into m: the stage's
// matrices' columns times b, what produces the input divided by it (the
// block's norm weight for stages 0 and 2; the converted rows of v_proj or
// up_proj for 1 and 3, each ternary group rescaled to fp16(s/b), a kept
// matrix rounded to bf16 again, an adapter's B rows with it). For stage 1
// the inputs that read one v row must share one b. The model computes the
// same function: exactly for powers of two, else up to that rounding.
void model_balance_fold(const Model *m, int l, int st, const float *b, const QuantizeOptions *o);

#endif
