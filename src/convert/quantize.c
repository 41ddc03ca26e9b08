// quantize.c — a calibrated ternary start; see quantize.h.
#include "convert/quantize.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/forward.h"
#include "model/weights.h"
#include "quant/balance.h"
#include "quant/gptq.h"
#include "quant/lowrank.h"
#include "quant/ternary.h"

const char *quant_method_name(QuantMethod m) {
    return m == QUANT_GPTQ ? "gptq" : m == QUANT_MSE ? "mse" : "absmean";
}

void quant_method_label(char *out, size_t n, QuantMethod m, int balance, double qep) {
    snprintf(out, n, "%s%s%s", quant_method_name(m), balance ? " balanced" : "", qep > 0.0 ? " qep" : "");
}

static const TensorInfo *tensor_of(const Model *m, TensorKind kind, int layer) {
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].kind == kind && m->tensors[i].layer == layer) return &m->tensors[i];
    return NULL;
}

// 1 when every linear layer not kept already holds t·s with groups of `group`.
static int all_ternary(const Model *m, int group, uint32_t keep_linear) {
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        if (!t->matrix || tk_is_embedding(t->kind) || ((keep_linear >> t->kind) & 1u)) continue;
        TernaryCounts n = {0};
        if (ternary_verify(m->params_memory + t->offset, t->rows, t->cols, group, &n)) return 0;
    }
    return 1;
}

// Rounds one matrix by the method: H is its inputs' XᵀX (n = cols; NULL
// without calibration), consumed by gptq. A kept kind only to bf16.
static int quantize_matrix(const Model *m, const TensorInfo *t, const QuantizeOptions *o, double *H, char *err) {
    float *w = m->params_memory + t->offset;
    if ((o->keep_linear >> t->kind) & 1u) {
        bf16_round_f32(w, w, (size_t)t->rows * (size_t)t->cols);
        return 0;
    }
    if (o->method == QUANT_ABSMEAN) {
        ternary_project(w, w, t->rows, t->cols, o->group, SCALE_ABSMEAN);
        return 0;
    }
    if (o->method == QUANT_GPTQ) {
        if (ternary_gptq(w, t->rows, t->cols, o->group, H, o->damp, err)) return err_prefix(err, "%s", t->name);
        return 0;
    }
    float *h = NULL;
    if (H) {  // mse weighted by each input's mean square
        h = xmalloc(sizeof(float) * (size_t)t->cols);
        for (int64_t i = 0; i < t->cols; i++) h[i] = (float)H[i * t->cols + i];
    }
    ternary_project_mse(w, w, t->rows, t->cols, o->group, h);
    free(h);
    return 0;
}

// Rounds one linear (quantize_matrix on a copy of H) and, when the model
// has adapters, fits its adapter to the rounding error on H (lowrank.h),
// rounded to bf16 values.
static int quantize_linear(const Model *m, const TensorInfo *t, const QuantizeOptions *o, const double *H, char *err) {
    const size_t n = (size_t)t->cols * (size_t)t->cols, nw = (size_t)t->rows * (size_t)t->cols;
    const int r = m->config.adapter_rank;
    float *w = m->params_memory + t->offset, *orig = NULL;
    double *Hc = H ? xmalloc(sizeof(double) * n) : NULL;  // gptq consumes its copy
    if (Hc) memcpy(Hc, H, sizeof(double) * n);
    if (r) {
        orig = xmalloc(sizeof(float) * nw);
        memcpy(orig, w, sizeof(float) * nw);
    }
    int rc = quantize_matrix(m, t, o, Hc, err);
    if (rc == 0 && r) {
        const int a = tk_adapter_a(t->kind);
        for (size_t i = 0; i < nw; i++) orig[i] -= w[i];  // the rounding error
        float *A = m->params.k[a] + (size_t)t->layer * r * t->cols, *B = m->params.k[a + 1] + (size_t)t->layer * t->rows * r;
        rc = lowrank_fit(orig, t->rows, t->cols, H, o->damp, r, A, B, err);
        if (rc) err_prefix(err, "%s", t->name);
        bf16_round_f32(A, A, (size_t)r * (size_t)t->cols);  // as training runs them
        bf16_round_f32(B, B, (size_t)t->rows * (size_t)r);
    }
    free(orig);
    free(Hc);
    return rc;
}

// The embedding / LM head: kept (bf16 values), or rounded by the method on
// the final norm's Hessian (H, for the head; NULL for an untied embedding).
static int quantize_embedding(const Model *m, const TensorInfo *t, const QuantizeOptions *o, double *H, char *err) {
    float *w = m->params_memory + t->offset;
    if (o->keep_embedding == QKEEP_BF16) {
        bf16_round_f32(w, w, (size_t)t->rows * (size_t)t->cols);
        return 0;
    }
    if (!H && o->method == QUANT_GPTQ) {  // an untied input embedding: a lookup, no inputs to weigh
        ternary_project_mse(w, w, t->rows, t->cols, o->group, NULL);
        return 0;
    }
    return quantize_matrix(m, t, o, H, err);
}

// The linears of one block in the order their inputs are computed: each
// stage's matrices read one activation of the block (forward.h).
typedef struct {
    TensorKind kinds[3];
    int n;
} Stage;
static const Stage STAGES[] = {
    {{TK_WQ, TK_WK, TK_WV}, 3}, {{TK_WO}, 1}, {{TK_WGATE, TK_WUP}, 2}, {{TK_WDOWN}, 1}};

static const float *stage_input(const Workspace *ws, int stage) {
    const Activations *a = &ws->acts;
    return stage == 0 ? a->ln1 : stage == 1 ? a->att : stage == 2 ? a->ln2 : a->h;
}

// H += xᵀx over rows of x (rows × n), the upper triangle summed in a float
// product per chunk, accumulated in double.
static void hessian_add(double *H, float *tmp, const float *x, int rows, int n) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows, 1.0f, x, n, 0.0f, tmp, n);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) H[(size_t)i * n + j] += tmp[(size_t)i * n + j];
}

static void hessian_mirror(double *H, int n) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) H[(size_t)j * n + i] = H[(size_t)i * n + j];
}

typedef struct {
    Workspace ws;
    ModelWeights mw;
    float *x;       // the calibration stream (n_seq·T × C): the converted layers' output
    float *scratch; // (rows of a chunk × C), a block's output when only its inputs are wanted
    float *tmp;     // (max n)² for hessian_add
    int n_seq, T, batch;
    // With QEP: the parent's own stream through its unconverted layers.
    Workspace pws;
    ModelWeights pw;
    float *parent;  // a copy of the parent's parameters
    float *xp;      // (n_seq·T × C)
} Calib;

// XᵀX of one stage's input over the whole calibration set, layer l run on
// the stream; with P (QEP) also *P = XpᵀX, Xp the parent's input of the
// stage on its own stream, each chunk's float product summed in double.
static double *stage_hessian(Calib *k, int l, int stage, int n, double **P) {
    const int C = k->ws.config.hidden_size;
    double *H = xcalloc((size_t)n * n, sizeof(double));
    if (P) *P = xcalloc((size_t)n * n, sizeof(double));
    for (int s0 = 0; s0 < k->n_seq; s0 += k->batch) {
        const int bs = s0 + k->batch <= k->n_seq ? k->batch : k->n_seq - s0;
        forward_block(&k->ws, &k->mw, l, k->x + (size_t)s0 * k->T * C, k->scratch, bs, k->T);
        const float *xs = stage_input(&k->ws, stage);
        hessian_add(H, k->tmp, xs, bs * k->T, n);
        if (!P) continue;
        forward_block(&k->pws, &k->pw, l, k->xp + (size_t)s0 * k->T * C, k->scratch, bs, k->T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, bs * k->T, 1.0f, stage_input(&k->pws, stage), n,
                    xs, n, 0.0f, k->tmp, n);
        for (size_t i = 0; i < (size_t)n * n; i++) (*P)[i] += k->tmp[i];
    }
    hessian_mirror(H, n);
    return H;
}

// Multiplies row r of a converted linear by c[r] and keeps its form: a
// ternary group's values become 0 or ±fp16(s·c) (s its old scale, its
// largest magnitude), a kept matrix is rounded to bf16 again, an adapter's
// B rows follow (bf16).
static void rescale_rows(const Model *m, const TensorInfo *t, const float *c, const QuantizeOptions *o) {
    float *w = m->params_memory + t->offset;
    const int64_t cols = t->cols;
    const int kept = (o->keep_linear >> t->kind) & 1u, r = m->config.adapter_rank;
    for (int64_t i = 0; i < t->rows; i++) {
        float *wr = w + i * cols;
        if (kept) {
            for (int64_t j = 0; j < cols; j++) wr[j] *= c[i];
            bf16_round_f32(wr, wr, (size_t)cols);
            continue;
        }
        for (int64_t g = 0; g < cols; g += o->group) {
            float s = 0.0f;
            for (int j = 0; j < o->group; j++) s = fabsf(wr[g + j]) > s ? fabsf(wr[g + j]) : s;
            const float s2 = ternary_scale_f16(s * c[i]);
            for (int j = 0; j < o->group; j++) wr[g + j] = wr[g + j] > 0.0f ? s2 : wr[g + j] < 0.0f ? -s2 : 0.0f;
        }
    }
    if (r) {
        float *B = m->params.k[tk_adapter_a(t->kind) + 1] + (size_t)t->layer * t->rows * r;
        for (int64_t i = 0; i < t->rows; i++) {
            for (int j = 0; j < r; j++) B[i * r + j] *= c[i];
            bf16_round_f32(B + i * r, B + i * r, (size_t)r);
        }
    }
}

// o_proj's input i = h·HD + d comes from v row (h / heads per kv)·HD + d.
static int v_row_of(const ModelConfig *c, int i) {
    return (i / c->head_dim) / (c->num_attention_heads / c->num_key_value_heads) * c->head_dim + i % c->head_dim;
}

void model_balance_fold(const Model *m, int l, int st, const float *b, const QuantizeOptions *o) {
    const Stage *s = &STAGES[st];
    const int n = (int)tensor_of(m, s->kinds[0], l)->cols;
    for (int i = 0; i < s->n; i++) {
        const TensorInfo *t = tensor_of(m, s->kinds[i], l);
        float *w = m->params_memory + t->offset;
        for (int64_t r = 0; r < t->rows; r++)
            for (int j = 0; j < n; j++) w[r * n + j] *= b[j];
    }
    float *inv = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) inv[st == 1 ? v_row_of(&m->config, i) : i] = 1.0f / b[i];
    if (st == 0 || st == 2) {
        float *g = m->params_memory + tensor_of(m, st == 0 ? TK_ATTN_NORM : TK_MLP_NORM, l)->offset;
        for (int i = 0; i < n; i++) g[i] *= inv[i];
    } else {
        rescale_rows(m, tensor_of(m, st == 1 ? TK_WV : TK_WUP, l), inv, o);
    }
    free(inv);
}

// Balances the inputs of stage st of layer l before its matrices are
// rounded: b chosen on H over the matrices to be rounded (balance.h; the
// inputs that read one v row share theirs), folded into the model, and H
// turned into the Hessian of x / b.
static void balance_stage(const Model *m, int l, int st, double *H, const QuantizeOptions *o) {
    const ModelConfig *c = &m->config;
    const Stage *s = &STAGES[st];
    const int n = (int)tensor_of(m, s->kinds[0], l)->cols;
    const float *W[3];
    int64_t rows[3];
    int nmat = 0;
    for (int i = 0; i < s->n; i++) {
        const TensorInfo *t = tensor_of(m, s->kinds[i], l);
        if ((o->keep_linear >> t->kind) & 1u) continue;  // bf16 needs no balance
        W[nmat] = m->params_memory + t->offset;
        rows[nmat++] = t->rows;
    }
    if (nmat == 0) return;
    int *tie = NULL;
    if (st == 1) {
        tie = xmalloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) tie[i] = v_row_of(c, i);
    }
    float *b = xmalloc(sizeof(float) * (size_t)n);
    ternary_balance(W, rows, nmat, n, o->group, H, tie, tie ? c->num_key_value_heads * c->head_dim : n, b, NULL, NULL);
    model_balance_fold(m, l, st, b, o);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) H[(size_t)i * n + j] /= (double)b[i] * b[j];
    free(b);
    free(tie);
}

static int quantize_layer(Calib *k, const Model *m, int l, const QuantizeOptions *o, char *err) {
    const int C = m->config.hidden_size;
    for (int st = 0; st < 4; st++) {
        const Stage *s = &STAGES[st];
        const int n = (int)tensor_of(m, s->kinds[0], l)->cols;
        double *P = NULL, *H = stage_hessian(k, l, st, n, o->qep > 0.0 ? &P : NULL);
        int rc = 0;
        for (int i = 0; i < s->n && P && rc == 0; i++) {
            const TensorInfo *t = tensor_of(m, s->kinds[i], l);
            rc = qep_correct(m->params_memory + t->offset, t->rows, t->cols, H, P, o->qep, o->damp, err);
            if (rc) err_prefix(err, "%s", t->name);
        }
        free(P);
        if (rc == 0 && o->balance) balance_stage(m, l, st, H, o);
        for (int i = 0; i < s->n && rc == 0; i++) rc = quantize_linear(m, tensor_of(m, s->kinds[i], l), o, H, err);
        free(H);
        if (rc) return -1;
    }
    for (int s0 = 0; s0 < k->n_seq; s0 += k->batch) {  // the streams through the converted layer and the parent's
        const int bs = s0 + k->batch <= k->n_seq ? k->batch : k->n_seq - s0;
        float *x = k->x + (size_t)s0 * k->T * C;
        forward_block(&k->ws, &k->mw, l, x, x, bs, k->T);
        if (k->xp) forward_block(&k->pws, &k->pw, l, k->xp + (size_t)s0 * k->T * C, k->xp + (size_t)s0 * k->T * C, bs, k->T);
    }
    return 0;
}

static int quantize_calibrated(Model *m, const QuantizeOptions *o, char *err) {
    const ModelConfig *c = &m->config;
    const int C = c->hidden_size, L = c->num_hidden_layers;
    Calib k = {.n_seq = (int)(o->n_calib / (size_t)o->seq_len), .T = o->seq_len,
               .batch = o->batch > 0 ? o->batch : 1};
    if (k.batch > k.n_seq) k.batch = k.n_seq;
    const int widest = c->intermediate_size > C ? c->intermediate_size : C;
    const int qd = c->num_attention_heads * c->head_dim, nmax = widest > qd ? widest : qd;
    workspace_init(&k.ws, c);
    weights_view(&k.mw, m, &m->params);
    k.x = xmalloc(sizeof(float) * (size_t)k.n_seq * k.T * C);
    k.scratch = xmalloc(sizeof(float) * (size_t)k.batch * k.T * C);
    k.tmp = xmalloc(sizeof(float) * (size_t)nmax * nmax);
    for (int s0 = 0; s0 < k.n_seq; s0 += k.batch) {
        const int bs = s0 + k.batch <= k.n_seq ? k.batch : k.n_seq - s0;
        forward_embed(&k.ws, &k.mw, o->calib + (size_t)s0 * k.T, bs, k.T, k.x + (size_t)s0 * k.T * C);
    }
    if (o->qep > 0.0) {  // the parent's stream starts where the converted one does: the embedding is converted last
        ParamTensors pt;
        k.parent = xmalloc(sizeof(float) * m->n_params);
        memcpy(k.parent, m->params_memory, sizeof(float) * m->n_params);
        model_point_params(m, k.parent, &pt);
        weights_view(&k.pw, m, &pt);
        workspace_init(&k.pws, c);
        k.xp = xmalloc(sizeof(float) * (size_t)k.n_seq * k.T * C);
        memcpy(k.xp, k.x, sizeof(float) * (size_t)k.n_seq * k.T * C);
    }
    Progress p;
    if (o->verbose) progress_init(&p, quant_method_name(o->method), "layers", L + 1);
    int rc = 0;
    for (int l = 0; l < L && rc == 0; l++) {
        rc = quantize_layer(&k, m, l, o, err);
        if (o->verbose) progress_update(&p, l + 1);
    }
    if (rc == 0) {  // the head on the final norm's outputs; an untied embedding without inputs
        double *H = NULL;
        if (o->keep_embedding == QKEEP_NONE && o->method != QUANT_ABSMEAN) {
            H = xcalloc((size_t)C * C, sizeof(double));
            for (int s0 = 0; s0 < k.n_seq; s0 += k.batch) {
                const int bs = s0 + k.batch <= k.n_seq ? k.batch : k.n_seq - s0;
                hessian_add(H, k.tmp, forward_norm(&k.ws, &k.mw, k.x + (size_t)s0 * k.T * C, bs, k.T), bs * k.T, C);
            }
            hessian_mirror(H, C);
        }
        const TensorInfo *head = tensor_of(m, TK_LM_HEAD, 0), *embed = tensor_of(m, TK_EMBED, 0);
        if (head) rc = quantize_embedding(m, head, o, H, err);
        if (rc == 0) rc = quantize_embedding(m, embed, o, head ? NULL : H, err);
        free(H);
    }
    if (o->verbose) progress_finish(&p, L + 1);
    if (k.xp) {
        free(k.xp);
        free(k.parent);
        weights_free(&k.pw);
        workspace_free(&k.pws);
    }
    free(k.tmp);
    free(k.scratch);
    free(k.x);
    weights_free(&k.mw);
    workspace_free(&k.ws);
    return rc;
}

int model_quantize(Model *m, const QuantizeOptions *o, char *err) {
    if (m->config.adapter_rank && o->keep_linear)
        return set_err(err, "adapters correct ternary matrices: --keep-linear and --adapter-rank do not combine");
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].matrix && ternary_check_shape(m->tensors[i].name, m->tensors[i].cols, o->group, err))
            return -1;
    if (all_ternary(m, o->group, o->keep_linear))
        return set_err(err, "every linear layer is already ternary with groups of %d: quantize the model it was "
                            "made from", o->group);
    if (o->calib && o->seq_len > 0 && o->n_calib / (size_t)o->seq_len >= 1) return quantize_calibrated(m, o, err);
    if (o->balance || o->qep > 0.0)
        return set_err(err, "%s needs calibration text of at least one sequence", o->balance ? "balancing the inputs" : "qep");
    if (o->method == QUANT_GPTQ) return set_err(err, "gptq needs calibration text of at least one sequence");
    if (o->calib) return set_err(err, "%zu calibration tokens is less than one sequence of %d", o->n_calib, o->seq_len);
    for (int i = 0; i < m->n_tensors; i++) {
        const TensorInfo *t = &m->tensors[i];
        if (t->matrix && (tk_is_embedding(t->kind) ? quantize_embedding(m, t, o, NULL, err)
                                                   : quantize_linear(m, t, o, NULL, err)))
            return -1;
    }
    return 0;
}
