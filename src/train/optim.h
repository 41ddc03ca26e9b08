// optim.h — AdamW, the learning-rate schedule and global-norm clipping.
//
// The update follows torch.optim.AdamW (decoupled weight decay) operation for
// operation, so a run can be compared step by step with a torch trainer:
//     w <- w * (1 - lr*wd)                       (wd only where decay[] says)
//     m <- m + (1-b1) (g - m);  v <- b2 v + (1-b2) g^2
//     w <- w - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
#ifndef TRIT_OPTIM_H
#define TRIT_OPTIM_H

#include <stddef.h>

typedef struct {
    float beta1, beta2, eps, weight_decay;
} AdamWConfig;

// One contiguous range of the flat parameter buffer and whether it decays.
typedef struct {
    size_t offset, n;
    int decay;
} ParamRange;

// One AdamW step (t counts from 1) over every range, on the gradient
// gscale·g (the clipping factor, applied here rather than in a pass of its
// own: the same float product torch's in-place clip makes). w, g, m, v share
// the flat layout; m and v start at zero.
void adamw_step(float *w, const float *g, float *m, float *v, const ParamRange *ranges, int n_ranges,
                const AdamWConfig *c, float lr, long t, float gscale);

// Learning rate at step (0-based): linear warm-up over `warmup` steps from
// lr/warmup to lr, then cosine decay to min_lr at step total-1.
float lr_cosine(long step, long total, long warmup, float lr, float min_lr);

// L2 norm of g[0..n) in double, summed in fixed blocks so the result does not
// depend on the number of threads.
double grad_global_norm(const float *g, size_t n);

// The factor that brings a gradient of this norm to at most max_norm, as
// torch's clip_grad_norm_: max_norm / (norm + 1e-6) when below 1, else 1.
float grad_clip_factor(double norm, double max_norm);

#endif
