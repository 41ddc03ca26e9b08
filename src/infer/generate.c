// generate.c — incremental decoding with a KV cache; see generate.h.
#include "infer/generate.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "base/util.h"
#include "base/vmath.h"

int kvcache_init(KVCache *kv, const ModelConfig *c, int max_T, char *err) {
    memset(kv, 0, sizeof *kv);
    if (config_validate(c, "config", err) != 0) return -1;
    if (max_T < 1 || max_T > c->max_position_embeddings)
        return set_err(err, "KV cache of %d positions: must be in [1, max_position_embeddings = %d]", max_T,
                       c->max_position_embeddings);
    const size_t L = (size_t)c->num_hidden_layers, KD = (size_t)c->num_key_value_heads * c->head_dim;
    const size_t n = L * (size_t)max_T * KD, half = (size_t)c->head_dim / 2;
    float *k = NULL, *v = NULL;
    if (posix_memalign((void **)&k, 64, sizeof(float) * n) != 0 || posix_memalign((void **)&v, 64, sizeof(float) * n) != 0) {
        free(k);
        return set_err(err, "cannot allocate %.2f GB for a KV cache of %d positions", 8e-9 * (double)n, max_T);
    }
    kv->config = *c;
    kv->max_T = max_T;
    kv->k = k;
    kv->v = v;
    kv->rope_cos = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    kv->rope_sin = xmalloc_aligned(sizeof(float) * (size_t)max_T * half);
    rope_tables(kv->rope_cos, kv->rope_sin, max_T, c->head_dim, c->rope_theta);
    return 0;
}

void kvcache_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->rope_cos);
    free(kv->rope_sin);
    free(kv->scratch);
    memset(kv, 0, sizeof *kv);
}

// out[n][N] = inp[n][K] · W[N][K]^T. A decode step (n = 1) is a
// matrix-vector product: OpenBLAS's sgemv streams W about 2.5x faster than
// its sgemm does with one row (measured single-threaded, N=3072 K=1024:
// 0.81 vs 2.56 ms).
static void linear(float *out, const float *inp, const float *W, int n, int N, int K) {
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, inp, 1, 0.0f, out, 1);
    else
        matmul_forward(out, inp, W, n, N, K);
}

// Scratch for n rows of activations, carved out of one allocation.
static void scratch_reserve(KVCache *kv, int n) {
    if (n <= kv->cap) return;
    const ModelConfig *c = &kv->config;
    const size_t C = c->hidden_size, F = c->intermediate_size, NH = c->num_attention_heads;
    const size_t QD = NH * c->head_dim, KD = (size_t)c->num_key_value_heads * c->head_dim;
    struct { float **p; size_t n; } parts[] = {
        {&kv->x, C},  {&kv->ln, C},   {&kv->q_raw, QD},          {&kv->q, QD}, {&kv->k_raw, KD}, {&kv->att, QD},
        {&kv->lse, NH}, {&kv->tmp, C > F ? C : F}, {&kv->gate, F}, {&kv->up, F}, {&kv->h, F},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total += ((size_t)n * parts[i].n + 15) & ~(size_t)15;
    free(kv->scratch);
    kv->scratch = xmalloc_aligned(sizeof(float) * total);
    float *p = kv->scratch;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *parts[i].p = p;
        p += ((size_t)n * parts[i].n + 15) & ~(size_t)15;
    }
    kv->cap = n;
}

// Attention of n new queries (positions pos..pos+n-1) against the cached
// keys/values of positions 0..pos+n-1 of one layer, causal: query i sees keys
// j <= pos + i. q[n][NH][HD], k,v[max_T][NKV][HD] -> out[n][NH][HD].
// Scores are kept whole per (query, head): pos + n floats a thread.
static void attention_cached(float *out, const float *q, const float *k, const float *v, int n, int pos, int NH,
                             int NKV, int HD) {
    const int KD = NKV * HD, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD);
    // One thread for small work (a decode step of a tiny model): a parallel
    // region costs more than it saves there.
    const double work = (double)n * NH * (pos + n) * HD;
#pragma omp parallel if (work > 65536.0)
    {
        float *s = xmalloc(sizeof(float) * (size_t)(pos + n));
#pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < n; i++)
            for (int h = 0; h < NH; h++) {
                const int T = pos + i + 1;
                const float *qi = q + ((size_t)i * NH + h) * HD;
                const float *kb = k + (size_t)(h / group) * HD, *vb = v + (size_t)(h / group) * HD;
                float mx = -FLT_MAX;
                for (int j = 0; j < T; j++) {
                    const float *kj = kb + (size_t)j * KD;
                    float d = 0.0f;
#pragma omp simd reduction(+ : d)
                    for (int e = 0; e < HD; e++) d += qi[e] * kj[e];
                    s[j] = d * scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < T; j++) {
                    s[j] = vexpf(s[j] - mx);
                    sum += s[j];
                }
                float *o = out + ((size_t)i * NH + h) * HD;
                memset(o, 0, sizeof(float) * HD);
                for (int j = 0; j < T; j++) {
                    const float *vj = vb + (size_t)j * KD, p = s[j];
#pragma omp simd
                    for (int e = 0; e < HD; e++) o[e] += p * vj[e];
                }
                const float inv = 1.0f / sum;
                for (int e = 0; e < HD; e++) o[e] *= inv;
            }
        free(s);
    }
}

int generate_forward(KVCache *kv, const ParamTensors *w, const int32_t *tokens, int n, int pos, float *logits,
                     char *err) {
    const ModelConfig *c = &kv->config;
    if (n < 1) return set_err(err, "generate_forward: no tokens (n = %d)", n);
    if (pos < 0 || pos > kv->len)
        return set_err(err, "generate_forward: position %d is past the %d cached positions", pos, kv->len);
    if ((long)pos + n > c->max_position_embeddings)
        return set_err(err, "sequence of %ld tokens exceeds max_position_embeddings = %d", (long)pos + n,
                       c->max_position_embeddings);
    if (pos + n > kv->max_T)
        return set_err(err, "sequence of %d tokens exceeds the KV cache's %d positions", pos + n, kv->max_T);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return set_err(err, "token id %d is outside the vocabulary [0, %d)", (int)tokens[i], c->vocab_size);
    scratch_reserve(kv, n);

    const int C = c->hidden_size, F = c->intermediate_size, HD = c->head_dim, V = c->vocab_size;
    const int NH = c->num_attention_heads, NKV = c->num_key_value_heads, L = c->num_hidden_layers;
    const int QD = NH * HD, KD = NKV * HD, half = HD / 2;
    const float eps = c->rms_norm_eps;
    const float *cos_p = kv->rope_cos + (size_t)pos * half, *sin_p = kv->rope_sin + (size_t)pos * half;

    embedding_forward(kv->x, tokens, w->embed, n, C);
    for (int l = 0; l < L; l++) {
        float *kl = kv->k + (size_t)l * kv->max_T * KD, *vl = kv->v + (size_t)l * kv->max_T * KD;
        float *k_new = kl + (size_t)pos * KD, *v_new = vl + (size_t)pos * KD;

        // Attention block; the new keys/values go straight into the cache.
        rmsnorm_forward(kv->ln, NULL, kv->x, w->attn_norm + (size_t)l * C, n, C, eps);
        linear(kv->q_raw, kv->ln, w->wq + (size_t)l * QD * C, n, QD, C);
        linear(kv->k_raw, kv->ln, w->wk + (size_t)l * KD * C, n, KD, C);
        linear(v_new, kv->ln, w->wv + (size_t)l * KD * C, n, KD, C);
        rmsnorm_forward(kv->q, NULL, kv->q_raw, w->q_norm + (size_t)l * HD, n * NH, HD, eps);
        rmsnorm_forward(k_new, NULL, kv->k_raw, w->k_norm + (size_t)l * HD, n * NKV, HD, eps);
        rope_forward(kv->q, cos_p, sin_p, 1, n, NH, HD);
        rope_forward(k_new, cos_p, sin_p, 1, n, NKV, HD);
        if (pos == 0)  // a fresh prefill is plain causal attention over the block
            attention_forward(kv->att, kv->lse, kv->q, kl, vl, 1, n, NH, NKV, HD);
        else
            attention_cached(kv->att, kv->q, kl, vl, n, pos, NH, NKV, HD);
        linear(kv->tmp, kv->att, w->wo + (size_t)l * C * QD, n, C, QD);
        residual_forward(kv->x, kv->x, kv->tmp, (size_t)n * C);

        // MLP block.
        rmsnorm_forward(kv->ln, NULL, kv->x, w->mlp_norm + (size_t)l * C, n, C, eps);
        linear(kv->gate, kv->ln, w->wgate + (size_t)l * F * C, n, F, C);
        linear(kv->up, kv->ln, w->wup + (size_t)l * F * C, n, F, C);
        swiglu_forward(kv->h, kv->gate, kv->up, (size_t)n * F);
        linear(kv->tmp, kv->h, w->wdown + (size_t)l * C * F, n, C, F);
        residual_forward(kv->x, kv->x, kv->tmp, (size_t)n * C);
    }
    kv->len = pos + n;
    if (logits) {  // final norm and LM head on the last row only
        rmsnorm_forward(kv->ln, NULL, kv->x + (size_t)(n - 1) * C, w->final_norm, 1, C, eps);
        linear(logits, kv->ln, w->lm_head, 1, V, C);
    }
    return 0;
}
