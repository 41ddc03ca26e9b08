// test_gptq.c — calibrated ternary rounding (quant/ternary.c's MSE-optimal
// scales, quant/gptq.c, its QEP correction), the input balance's search (quant/balance.c) and
// the adapters' start (quant/lowrank.c) against the numpy reference written from the
// methods' definitions (tools/reference/make_quant_fixtures.py, float64,
// unblocked), and the properties that make the methods worth having.
#include "quant/balance.h"
#include "quant/gptq.h"
#include "quant/lowrank.h"
#include "quant/ternary.h"
#include "test.h"

typedef struct {
    int rows, cols, group, n;
    float *w, *x, *mse, *mse_h, *gptq;
    float *memory;
} Case;

static int load_case(Case *c, const char *path) {
    FILE *f = fopen(path, "rb");
    int32_t hdr[5];
    if (!f || fread(hdr, sizeof hdr, 1, f) != 1 || hdr[0] != 0x544E5154) {
        if (f) fclose(f);
        return -1;
    }
    c->rows = hdr[1], c->cols = hdr[2], c->group = hdr[3], c->n = hdr[4];
    const size_t wn = (size_t)c->rows * c->cols, xn = (size_t)c->n * c->cols, total = 4 * wn + xn;
    c->memory = malloc(sizeof(float) * total);
    const int ok = fread(c->memory, sizeof(float), total, f) == total;
    fclose(f);
    c->w = c->memory, c->x = c->w + wn, c->mse = c->x + xn, c->mse_h = c->mse + wn, c->gptq = c->mse_h + wn;
    return ok ? 0 : -1;
}

// sum over the calibration rows of ||(A - W) x||^2: the layer's output error.
static double output_error(const Case *c, const float *q) {
    double e = 0.0;
    for (int i = 0; i < c->n; i++)
        for (int r = 0; r < c->rows; r++) {
            double d = 0.0;
            for (int j = 0; j < c->cols; j++)
                d += ((double)q[(size_t)r * c->cols + j] - c->w[(size_t)r * c->cols + j]) * c->x[(size_t)i * c->cols + j];
            e += d * d;
        }
    return e;
}

static size_t differing(const float *a, const float *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += a[i] != b[i];
    return k;
}

static void check_case(const char *path) {
    Case c;
    if (load_case(&c, path)) {
        CHECK(0, "%s: missing or malformed (python3 tools/reference/make_quant_fixtures.py)", path);
        return;
    }
    const size_t wn = (size_t)c.rows * c.cols;
    float *q = malloc(sizeof(float) * wn);
    // mse: the same scales and codes, exactly.
    ternary_project_mse(q, c.w, c.rows, c.cols, c.group, NULL);
    CHECK(differing(q, c.mse, wn) == 0, "%s: mse: %zu of %zu values differ from numpy", path, differing(q, c.mse, wn), wn);
    TernaryCounts counts = {0};
    CHECK(ternary_verify(q, c.rows, c.cols, c.group, &counts) == 0, "%s: mse output is not ternary", path);
    float *absmean = malloc(sizeof(float) * wn);
    ternary_project(absmean, c.w, c.rows, c.cols, c.group, SCALE_ABSMEAN);
    double e_abs = 0, e_mse = 0;
    for (size_t i = 0; i < wn; i++) {
        e_abs += ((double)absmean[i] - c.w[i]) * ((double)absmean[i] - c.w[i]);
        e_mse += ((double)q[i] - c.w[i]) * ((double)q[i] - c.w[i]);
    }
    CHECK(e_mse < e_abs, "%s: the MSE-optimal weight error %g is not below absmean's %g", path, e_mse, e_abs);

    // mse weighted by the inputs' mean square.
    float *h = calloc((size_t)c.cols, sizeof(float));
    for (int j = 0; j < c.cols; j++) {
        double s = 0.0;
        for (int i = 0; i < c.n; i++) s += (double)c.x[(size_t)i * c.cols + j] * c.x[(size_t)i * c.cols + j];
        h[j] = (float)s;
    }
    ternary_project_mse(q, c.w, c.rows, c.cols, c.group, h);
    CHECK(differing(q, c.mse_h, wn) == 0, "%s: weighted mse: %zu of %zu values differ", path,
          differing(q, c.mse_h, wn), wn);
    const double e_mse_h = output_error(&c, q), e_mse_out = output_error(&c, c.mse);

    // gptq: float32 against float64, so a near-tie may round the other way
    // and carry a different error onwards: at most 1% of the values differ,
    // and the output error is the reference's within 2%.
    double *H = calloc((size_t)c.cols * c.cols, sizeof(double));
    for (int i = 0; i < c.n; i++)
        for (int a = 0; a < c.cols; a++)
            for (int b = 0; b < c.cols; b++)
                H[(size_t)a * c.cols + b] += (double)c.x[(size_t)i * c.cols + a] * c.x[(size_t)i * c.cols + b];
    memcpy(q, c.w, sizeof(float) * wn);
    char err[512];
    CHECK(ternary_gptq(q, c.rows, c.cols, c.group, H, 0.01, err) == 0, "%s: gptq: %s", path, err);
    const size_t nd = differing(q, c.gptq, wn);
    CHECK(nd * 100 <= wn, "%s: gptq: %zu of %zu values differ from numpy", path, nd, wn);
    memset(&counts, 0, sizeof counts);
    CHECK(ternary_verify(q, c.rows, c.cols, c.group, &counts) == 0, "%s: gptq output is not ternary", path);
    int dead_zero = 1;
    for (int r = 0; r < c.rows; r++) dead_zero &= q[(size_t)r * c.cols + 3] == 0.0f;
    CHECK(dead_zero, "%s: gptq: the column no input reaches is not 0", path);
    // Training with --scale mse from this start projects it onto itself.
    float *again = malloc(sizeof(float) * wn);
    ternary_project(again, q, c.rows, c.cols, c.group, SCALE_MSE);
    CHECK(differing(again, q, wn) == 0, "%s: the mse projection of a ternary matrix moved %zu values", path,
          differing(again, q, wn));
    free(again);
    const double e_gptq = output_error(&c, q), e_ref = output_error(&c, c.gptq);
    CHECK(fabs(e_gptq - e_ref) <= 0.02 * e_ref, "%s: gptq output error %g, numpy's %g", path, e_gptq, e_ref);
    CHECK(e_gptq < e_mse_h && e_mse_h < e_mse_out, "%s: output errors: gptq %g, weighted mse %g, mse %g", path, e_gptq,
          e_mse_h, e_mse_out);
    free(H);
    free(h);
    free(absmean);
    free(q);
    free(c.memory);
}

// ||(E - P) X^T||^2 (X NULL: ||E - P||^2).
static double residual(const float *E, const float *P, const float *X, int rows, int cols, int n) {
    double e = 0.0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < (X ? n : cols); i++) {
            double d = 0.0;
            if (!X) d = (double)E[(size_t)r * cols + i] - P[(size_t)r * cols + i];
            for (int j = 0; X && j < cols; j++)
                d += ((double)E[(size_t)r * cols + j] - P[(size_t)r * cols + j]) * X[(size_t)i * cols + j];
            e += d * d;
        }
    return e;
}

// lowrank_fit's B·A, weighted by the inputs and plain, against numpy's
// product (the factors' signs are free, the product is not): within 1e-4 of
// its largest value (float32 products against float64); each the better fit
// under its own measure.
static void check_lowrank(void) {
    const char *path = "tests/fixtures/quant/lowrank.bin";
    FILE *f = fopen(path, "rb");
    int32_t h[5];
    if (!f || fread(h, sizeof h, 1, f) != 1 || h[0] != 0x4B524C54) {
        if (f) fclose(f);
        CHECK(0, "%s: missing or malformed (python3 tools/reference/make_quant_fixtures.py)", path);
        return;
    }
    const int rows = h[1], cols = h[2], n = h[3], rank = h[4];
    const size_t wn = (size_t)rows * cols, total = 3 * wn + (size_t)n * cols;
    float *mem = malloc(sizeof(float) * total);
    const int ok = fread(mem, sizeof(float), total, f) == total;
    fclose(f);
    CHECK(ok, "%s: short", path);
    const float *E = mem, *X = E + wn, *ref_w = X + (size_t)n * cols, *ref_p = ref_w + wn;
    double *H = calloc((size_t)cols * cols, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int a = 0; a < cols; a++)
            for (int b = 0; b < cols; b++) H[a * cols + b] += (double)X[(size_t)i * cols + a] * X[(size_t)i * cols + b];
    float *A = malloc(sizeof(float) * rank * cols), *B = malloc(sizeof(float) * rows * rank), *P[2];
    char err[512];
    for (int k = 0; k < 2; k++) {
        CHECK(lowrank_fit(E, rows, cols, k ? NULL : H, 0.01, rank, A, B, err) == 0, "%s", err);
        P[k] = calloc(wn, sizeof(float));
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < rank; j++)
                for (int c = 0; c < cols; c++) P[k][(size_t)r * cols + c] += B[r * rank + j] * A[(size_t)j * cols + c];
        const float *ref = k ? ref_p : ref_w;
        double worst = 0.0, big = 0.0;
        for (size_t i = 0; i < wn; i++) {
            worst = fmax(worst, fabs((double)P[k][i] - ref[i]));
            big = fmax(big, fabs((double)ref[i]));
        }
        CHECK(worst <= 1e-4 * big, "lowrank %s: B·A differs from numpy's by %g (largest value %g)",
              k ? "plain" : "weighted", worst, big);
    }
    CHECK(residual(E, P[0], X, rows, cols, n) < residual(E, P[1], X, rows, cols, n) &&
              residual(E, P[1], NULL, rows, cols, n) < residual(E, P[0], NULL, rows, cols, n),
          "lowrank: each fit is not the better one under its own measure");
    CHECK(lowrank_fit(E, rows, cols, NULL, 0.01, cols + 1, A, B, err) != 0 && strstr(err, "rank"), "rank too big: %s",
          err);
    free(P[0]);
    free(P[1]);
    free(A);
    free(B);
    free(H);
    free(mem);
}

// The balance's α and b as the reference chose them (the α exactly; b to
// float rounding, 1e-6 relative: exp and log in double both sides), its
// error and that of α = 0 (1e-4 relative: float products here, float64
// there), and the property that makes it safe: never worse than α = 0.
static void check_balance(const char *path) {
    FILE *f = fopen(path, "rb");
    int32_t h[8], rows[3];
    if (!f || fread(h, sizeof h, 1, f) != 1 || h[0] != 0x4C414254 || h[1] < 1 || h[1] > 3 ||
        fread(rows, sizeof(int32_t), (size_t)h[1], f) != (size_t)h[1]) {
        CHECK(0, "%s: missing or malformed (python3 tools/reference/make_quant_fixtures.py)", path);
        if (f) fclose(f);
        return;
    }
    const int nmat = h[1], n = h[2], group = h[3], ns = h[4], n_class = h[5], per = h[6], hd = h[7];
    size_t total = (size_t)ns * n + 1 + (size_t)n;
    for (int k = 0; k < nmat; k++) total += (size_t)rows[k] * n;
    float *mem = malloc(sizeof(float) * total), *W[3], *x, *b_ref, alpha_ref, b[512];
    double errs_ref[2], err, err0, *H = calloc((size_t)n * n, sizeof(double));
    int ok = fread(mem, sizeof(float), total, f) == total && fread(errs_ref, sizeof(double), 2, f) == 2 && n <= 512;
    fclose(f);
    float *p = mem;
    int64_t r64[3];
    for (int k = 0; k < nmat; k++) W[k] = p, p += (size_t)rows[k] * n, r64[k] = rows[k];
    x = p, p += (size_t)ns * n;
    alpha_ref = *p++, b_ref = p;
    CHECK(ok, "%s: short", path);
    if (ok) {
        for (int i = 0; i < ns; i++)
            for (int a = 0; a < n; a++)
                for (int c = 0; c < n; c++) H[a * n + c] += (double)x[(size_t)i * n + a] * x[(size_t)i * n + c];
        int *tie = NULL;
        if (n_class) {
            tie = malloc(sizeof(int) * (size_t)n);
            for (int i = 0; i < n; i++) tie[i] = (i / hd) / per * hd + i % hd;
        }
        const float alpha = ternary_balance((const float *const *)W, r64, nmat, n, group, H, tie, n_class, b, &err, &err0);
        double worst = 0.0;
        for (int i = 0; i < n; i++) {
            const double d = fabs((double)b[i] - b_ref[i]) / b_ref[i];
            worst = d > worst ? d : worst;
        }
        CHECK(alpha == alpha_ref && worst <= 1e-6, "%s: alpha %g (reference %g), b off by %g relative", path, alpha,
              alpha_ref, worst);
        CHECK(fabs(err - errs_ref[0]) <= 1e-4 * errs_ref[0] && fabs(err0 - errs_ref[1]) <= 1e-4 * errs_ref[1],
              "%s: error %.8g (reference %.8g), at alpha 0 %.8g (%.8g)", path, err, errs_ref[0], err0, errs_ref[1]);
        CHECK(err <= err0 && alpha > 0.0f, "%s: balance error %g, unbalanced %g (loud inputs: alpha > 0 expected)",
              path, err, err0);
        int shared = 1;  // every input has the b of its v row's first query head
        for (int i = 0; tie && i < n; i++) shared &= b[i] == b[tie[i] % hd + tie[i] / hd * hd * per];
        CHECK(shared, "%s: inputs tied to one v row have different b", path);
        free(tie);
    }
    free(H);
    free(mem);
}

// QEP's correction against the reference at alpha 1 and 0.5 (1e-4 of the
// largest weight: float inputs, double products both sides), and what it is
// for: the corrected matrix maps X closer to W·Xp than W does.
static void check_qep(void) {
    const char *path = "tests/fixtures/quant/qep.bin";
    FILE *f = fopen(path, "rb");
    int32_t h[4];
    if (!f || fread(h, sizeof h, 1, f) != 1 || h[0] != 0x50455154) {
        CHECK(0, "%s: missing or malformed (python3 tools/reference/make_quant_fixtures.py)", path);
        if (f) fclose(f);
        return;
    }
    const int rows = h[1], cols = h[2], n = h[3];
    const size_t wn = (size_t)rows * cols, xn = (size_t)n * cols, total = 3 * wn + 2 * xn;
    float *mem = malloc(sizeof(float) * total), *w = mem, *x = w + wn, *xp = x + xn, *ref[2] = {xp + xn, xp + xn + wn};
    const int ok = fread(mem, sizeof(float), total, f) == total;
    fclose(f);
    CHECK(ok, "%s: short", path);
    double *H = calloc((size_t)cols * cols, sizeof(double)), *P = calloc((size_t)cols * cols, sizeof(double));
    for (int i = 0; ok && i < n; i++)
        for (int a = 0; a < cols; a++)
            for (int b = 0; b < cols; b++) {
                H[a * cols + b] += (double)x[(size_t)i * cols + a] * x[(size_t)i * cols + b];
                P[a * cols + b] += (double)xp[(size_t)i * cols + a] * x[(size_t)i * cols + b];
            }
    const double alphas[2] = {1.0, 0.5};
    float *q = malloc(sizeof(float) * wn);
    char err[512];
    for (int k = 0; ok && k < 2; k++) {
        memcpy(q, w, sizeof(float) * wn);
        CHECK(qep_correct(q, rows, cols, H, P, alphas[k], 0.01, err) == 0, "qep: %s", err);
        double worst = 0.0, top = 0.0;
        for (size_t i = 0; i < wn; i++) {
            worst = fabs((double)q[i] - ref[k][i]) > worst ? fabs((double)q[i] - ref[k][i]) : worst;
            top = fabs((double)ref[k][i]) > top ? fabs((double)ref[k][i]) : top;
        }
        CHECK(worst <= 1e-4 * top, "qep alpha %g: off the reference by %g (largest %g)", alphas[k], worst, top);
        if (k == 0) {  // sum ||A x − W xp||² over the rows, A = W and the corrected
            double e_w = 0.0, e_q = 0.0;
            for (int i = 0; i < n; i++)
                for (int r = 0; r < rows; r++) {
                    double t = 0.0, yw = 0.0, yq = 0.0;
                    for (int j = 0; j < cols; j++) {
                        t += (double)w[(size_t)r * cols + j] * xp[(size_t)i * cols + j];
                        yw += (double)w[(size_t)r * cols + j] * x[(size_t)i * cols + j];
                        yq += (double)q[(size_t)r * cols + j] * x[(size_t)i * cols + j];
                    }
                    e_w += (yw - t) * (yw - t);
                    e_q += (yq - t) * (yq - t);
                }
            CHECK(e_q < 0.8 * e_w, "qep: the corrected matrix's error %g against W's %g", e_q, e_w);
        }
    }
    double Z[4] = {0};
    CHECK(qep_correct(q, 1, 2, Z, Z, 1.0, 0.01, err) != 0 && strstr(err, "zero"), "qep, zero Hessian: %s", err);
    free(q);
    free(P);
    free(H);
    free(mem);
}

int main(void) {
    check_lowrank();
    check_qep();
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "tests/fixtures/quant/balance%d.bin", i);
        check_balance(path);
    }
    const char *cases[] = {"tests/fixtures/quant/case0.bin", "tests/fixtures/quant/case1.bin",
                           "tests/fixtures/quant/case2.bin"};
    for (int i = 0; i < 3; i++) check_case(cases[i]);

    // Bad input: a group that does not divide the row, a Hessian of zeros.
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    double H[64] = {0};
    char err[512];
    CHECK(ternary_gptq(w, 1, 8, 3, H, 0.01, err) != 0 && strstr(err, "does not divide"), "group 3 of 8: %s", err);
    CHECK(ternary_gptq(w, 1, 8, 4, H, 0.01, err) != 0 && strstr(err, "zero"), "zero Hessian: %s", err);
    printf("test_gptq: %d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed != 0;
}
