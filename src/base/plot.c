// plot.c — see plot.h. Plain SVG written by hand: two line charts.
#include "base/plot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    double *x, *y;
    size_t n, cap;
} Series;

static void series_add(Series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = xrealloc(s->x, sizeof(double) * s->cap);
        s->y = xrealloc(s->y, sizeof(double) * s->cap);
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) for a span.
static double tick_step(double span) {
    double raw = span / 5, p = pow(10, floor(log10(raw))), r = raw / p;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * p;
}

// One line chart; `ref` (NaN for none) is drawn as a dashed level, e.g. the
// validation loss of the full-precision parent.
static void panel(FILE *f, const Series *s, double x0, double y0, double w, double h, double xmax,
                  const char *label, const char *color, int ppl_axis, double ref) {
    double ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        ymin = fmin(ymin, s->y[i]);
        ymax = fmax(ymax, s->y[i]);
    }
    if (isfinite(ref)) {
        ymin = fmin(ymin, ref);
        ymax = fmax(ymax, ref);
    }
    if (s->n == 0) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-9) { ymin -= 0.5; ymax += 0.5; }
    double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n", x0, y0, w, h);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='13' font-weight='bold'>%s</text>\n", x0, y0 - 8, label);
    double ys = tick_step(ymax - ymin);
    for (double t = ceil(ymin / ys) * ys; t <= ymax; t += ys) {
        double py = y0 + h - (t - ymin) / (ymax - ymin) * h;
        fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#eee'/>\n", x0, x0 + w, py, py);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>%g</text>\n", x0 - 4, py + 4, t);
        if (ppl_axis)
            fprintf(f, "<text x='%.1f' y='%.1f' font-size='11'>%.4g</text>\n", x0 + w + 4, py + 4, exp(t));
    }
    double xs = tick_step(xmax);
    for (double t = 0; t <= xmax; t += xs) {
        double px = x0 + t / xmax * w;
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%g</text>\n", px, y0 + h + 14, t);
    }
    if (isfinite(ref)) {
        double py = y0 + h - (ref - ymin) / (ymax - ymin) * h;
        fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#555' stroke-dasharray='5,4'/>\n", x0,
                x0 + w, py, py);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end' fill='#555'>parent (before "
                   "conversion): ppl %.4g</text>\n", x0 + w - 4, py - 4, exp(ref));
    }
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", color);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%.1f,%.1f ", x0 + s->x[i] / xmax * w, y0 + h - (s->y[i] - ymin) / (ymax - ymin) * h);
    fprintf(f, "'/>\n");
    if (s->n < 40)
        for (size_t i = 0; i < s->n; i++)
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>\n", x0 + s->x[i] / xmax * w,
                    y0 + h - (s->y[i] - ymin) / (ymax - ymin) * h, color);
}

int plot_training_svg(const char *log_path, const char *svg_path, const char *title, char *err) {
    size_t len;
    char *text = read_file(log_path, &len, err);
    if (!text) return -1;
    Series train = {0}, val = {0};
    double xmax = 1, parent = NAN;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItem(j, "step"), *loss = cJSON_GetObjectItem(j, "loss"),
                    *vl = cJSON_GetObjectItem(j, "val_loss"), *vp = cJSON_GetObjectItem(j, "val_loss_parent");
        if (cJSON_IsNumber(vp)) parent = vp->valuedouble;
        if (cJSON_IsNumber(step)) {
            if (cJSON_IsNumber(loss)) series_add(&train, step->valuedouble, loss->valuedouble);
            if (cJSON_IsNumber(vl)) series_add(&val, step->valuedouble, vl->valuedouble);
            xmax = fmax(xmax, step->valuedouble);
        }
        cJSON_Delete(j);
    }
    free(text);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='380' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n"
               "<text x='450' y='22' font-size='15' text-anchor='middle'>");
    for (const char *c = title; *c; c++) {  // the title may hold a path: escape XML
        if (*c == '<') fputs("&lt;", f);
        else if (*c == '>') fputs("&gt;", f);
        else if (*c == '&') fputs("&amp;", f);
        else if (*c == '\'') fputs("&apos;", f);
        else fputc(*c, f);
    }
    fputs("</text>\n", f);
    panel(f, &train, 60, 60, 360, 270, xmax, "training loss (nats/token) vs step", "#1f77b4", 0, NAN);
    // The parent line only matters when the model was converted (its loss differs).
    int converted = val.n > 0 && isfinite(parent) && fabs(val.y[0] - parent) > 1e-9;
    panel(f, &val, 500, 60, 340, 270, xmax, "validation loss vs step (right: perplexity)", "#d62728", 1,
          converted ? parent : NAN);
    fprintf(f, "</svg>\n");
    fclose(f);
    int rc = write_file_atomic(svg_path, buf, blen, err);
    free(buf);
    free(train.x); free(train.y); free(val.x); free(val.y);
    return rc;
}
