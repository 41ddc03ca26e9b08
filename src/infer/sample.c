// sample.c — greedy / temperature / top-k / top-p sampling; see sample.h.
#include "infer/sample.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "base/vmath.h"

double sample_uniform(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

int sampler_init(Sampler *s, int V, float temperature, int top_k, float top_p, uint64_t seed, char *err) {
    memset(s, 0, sizeof *s);
    if (V < 1) return set_err(err, "sampler: vocabulary size %d", V);
    if (!isfinite(temperature)) return set_err(err, "sampler: temperature must be finite");
    if (top_k < 0) return set_err(err, "sampler: top-k %d is negative", top_k);
    if (!(top_p > 0.0f && top_p <= 1.0f)) return set_err(err, "sampler: top-p %g is not in (0, 1]", (double)top_p);
    s->V = V;
    s->temperature = temperature;
    s->top_k = top_k >= V ? 0 : top_k;  // keeping all V is no filter
    s->top_p = top_p;
    s->greedy = temperature <= 0.0f;
    s->rng = seed;
    s->cand = xmalloc(sizeof(SampleCand) * (size_t)V);
    return 0;
}

void sampler_free(Sampler *s) {
    free(s->cand);
    memset(s, 0, sizeof *s);
}

int32_t sample_argmax(const float *logits, int n) {
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
    return best < 0 ? 0 : best;
}

// Candidate order: larger value first, then lower id; NaN after everything.
static int before(SampleCand a, SampleCand b) {
    if (a.v > b.v) return 1;
    if (a.v < b.v) return 0;
    if (isnan(a.v) != isnan(b.v)) return isnan(b.v);
    return a.id < b.id;
}

static int cmp_cand(const void *a, const void *b) {
    return before(*(const SampleCand *)a, *(const SampleCand *)b) ? -1 : 1;
}

// Sift-down in a heap whose root is the candidate that sorts last: the root
// is the worst of the k best seen so far.
static void heap_down(SampleCand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(h[w], h[l])) w = l;
        if (r < n && before(h[w], h[r])) w = r;
        if (w == i) return;
        SampleCand t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

static inline float exp_or_zero(float x) { return x > -87.0f ? vexpf(x) : 0.0f; }  // NaN -> 0

// Fills s->cand[0..n) with the kept tokens, best first, and their
// probabilities (summing to 1). Returns n >= 1.
static int prepare(Sampler *s, const float *logits) {
    const int V = s->V;
    SampleCand *c = s->cand;
    const float invT = 1.0f / s->temperature;
    int n;
    if (s->top_k > 0) {
        // The k largest logits by a heap of the k best so far: O(V log k).
        const int k = s->top_k;
        for (int i = 0; i < k; i++) c[i] = (SampleCand){logits[i], i};
        for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
        for (int i = k; i < V; i++) {
            SampleCand x = {logits[i], i};
            if (before(x, c[0])) {
                c[0] = x;
                heap_down(c, k, 0);
            }
        }
        for (int m = k - 1; m > 0; m--) {  // heap sort: the worst goes last
            SampleCand t = c[0]; c[0] = c[m]; c[m] = t;
            heap_down(c, m, 0);
        }
        n = k;
        const float mx = c[0].v;
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += c[i].v = exp_or_zero((c[i].v - mx) * invT);
        if (!(sum > 0.0)) goto degenerate;  // the best logit is NaN or -inf
        for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);
    } else {
        // Softmax over all V (vectorised), candidates in id order for now.
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
        if (!(mx > -INFINITY) || mx == INFINITY) goto degenerate;
        float sum = 0.0f;
        for (int i = 0; i < V; i++) c[i].id = i;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; i++) {
            c[i].v = exp_or_zero((logits[i] - mx) * invT);
            sum += c[i].v;
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < V; i++) c[i].v *= inv;
        n = V;
        if (s->top_p >= 1.0f) return n;
        // Only tokens with probability > (1 - p) / V can be in the nucleus: a
        // token with q <= (1 - p) / V has at most V q <= 1 - p of the mass at
        // or below it, hence >= p above it. Sort just those.
        const float thr = (1.0f - s->top_p) / (float)V;
        int m = 0;
        for (int i = 0; i < V; i++)
            if (c[i].v > thr) c[m++] = c[i];
        if (m == 0) {  // cannot happen with a normalised distribution; be safe
            c[0] = (SampleCand){1.0f, sample_argmax(logits, V)};
            return 1;
        }
        qsort(c, (size_t)m, sizeof *c, cmp_cand);
        n = m;
    }
    if (s->top_p < 1.0f) {
        double cum = 0.0;
        int keep = 0;
        while (keep < n && cum < (double)s->top_p) cum += c[keep++].v;
        n = keep;  // >= 1: cum starts below p
        for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / cum);
    }
    return n;
degenerate:
    c[0] = (SampleCand){1.0f, sample_argmax(logits, V)};
    return 1;
}

int sampler_distribution(Sampler *s, const float *logits, float *probs) {
    memset(probs, 0, sizeof(float) * (size_t)s->V);
    if (s->greedy) {
        probs[sample_argmax(logits, s->V)] = 1.0f;
        return 1;
    }
    int n = prepare(s, logits), kept = 0;
    for (int i = 0; i < n; i++) {
        probs[s->cand[i].id] = s->cand[i].v;
        kept += s->cand[i].v > 0.0f;
    }
    return kept;
}

int32_t sampler_sample(Sampler *s, const float *logits) {
    if (s->greedy) return sample_argmax(logits, s->V);
    const int n = prepare(s, logits);
    const double u = sample_uniform(&s->rng);
    double cum = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (!(s->cand[i].v > 0.0f)) continue;
        cum += s->cand[i].v;
        last = i;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[last].id;  // u beyond the rounded total
}
