// train_run.c — see train_run.h.
#include "train/train_run.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/config.h"
#include "base/hash.h"
#include "base/plot.h"
#include "base/util.h"
#include "model/eval.h"
#include "model/weights.h"
#include "tok/tokenizer.h"
#include "train/data.h"

void train_job_default(TrainJob *j) {
    memset(j, 0, sizeof *j);
    train_config_default(&j->cfg);
    j->batch_size = 2;
    j->seq_len = 256;
    j->eval_every = 50;
    j->dist = (Dist){0, 1};
}

// Every rank must run the same command on the same files: a rank that
// disagrees is found here, before the first step, rather than as a hang or
// a silently different run.
static int ranks_agree(const TrainJob *j, const Trainer *t, const TokenData *train, const TokenData *val,
                       uint64_t rng, uint64_t tok_hash, char *err) {
    const Dist *d = &j->dist;
    if (d->size == 1) return 0;
    const Model *m = t->model;
    const int64_t job[] = {j->batch_size, j->seq_len, (int64_t)j->seed, j->eval_every, j->checkpoint_every,
                           (int64_t)j->eval_tokens};
    const struct { const char *what; uint64_t hash; } k[] = {
        {"the starting weights (--model, --resume)", fnv1a64(m->params_memory, sizeof(float) * m->n_params)},
        {"the training data (--data)", fnv1a64(train->ids, sizeof(int32_t) * train->n)},
        {"the validation data (--val)", fnv1a64(val->ids, sizeof(int32_t) * val->n)},
        {"the recipe, tokenizer, teacher or step (flags, --tokenizer, --teacher, --resume)",
         trainer_state_hash(t, rng, tok_hash)},
        {"--batch-size, --seq-len, --seed, --eval-every, --checkpoint-every or --eval-tokens",
         fnv1a64(job, sizeof job)},
        {"--out", fnv1a64(j->out_dir, strlen(j->out_dir))},
    };
    uint64_t *all = xmalloc(sizeof(uint64_t) * (size_t)d->size);
    int rc = 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0] && rc == 0; i++) {
        dist_gather_u64(d, k[i].hash, all);
        for (int r = 1; r < d->size && rc == 0; r++)
            if (all[r] != all[0])
                rc = set_err(err, "rank %d disagrees with rank 0 on %s: every rank must run the same command on the "
                             "same files", r, k[i].what);
    }
    free(all);
    return rc;
}

// A log line is appended and flushed at once, so a killed run keeps it.
static void log_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(FILE *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

// On resume, drops the log lines of steps after the checkpoint (the
// interrupted run may have got further than its last checkpoint) and gives
// the training clock the kept lines reached, so elapsed_s goes on counting
// across resumes instead of restarting (0 when there is no log: a resume
// into another directory starts a new one). The clock lives in the log, not
// in the checkpoint, which stays the same bytes however long a run took.
static int truncate_log(const char *path, long step, double *elapsed, char *err) {
    *elapsed = 0;
    if (!file_exists(path)) return 0;
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItem(j, "step");
        const cJSON *e = cJSON_GetObjectItem(j, "elapsed_s");
        int keep = !cJSON_IsNumber(s) || s->valuedouble <= (double)step;
        if (keep && cJSON_IsNumber(e) && e->valuedouble > *elapsed) *elapsed = e->valuedouble;
        cJSON_Delete(j);
        if (!keep) continue;
        size_t n = strlen(line);
        memcpy(out + o, line, n);
        out[o + n] = '\n';
        o += n + 1;
    }
    int rc = write_file_atomic(path, out, o, err);
    free(out);
    free(text);
    return rc;
}

// Perplexity of the weights w (the parent, or what the forward runs: with
// --precision bf16 the bf16-rounded model, as trained).
static int validate(Trainer *t, const TrainJob *j, const TokenData *val, const ModelWeights *w, double *loss,
                    double *ppl, char *err) {
    EvalResult r;
    if (eval_perplexity(w, val->ids, val->n, j->seq_len, j->batch_size, j->eval_tokens, 0, &r, err))
        return -1;
    *loss = r.nll_sum / (double)r.n_predicted;
    *ppl = r.ppl;
    return 0;
}

// Writes the trained model: the forward weights (t*s) in the HF layout.
static int save_trained(Trainer *t, const TrainJob *j, const char *tok_path, char *err) {
    Model *m = t->model;
    char note[320];
    const KeepEmbedding e = t->cfg.keep_embedding;
    quant_note(note, sizeof note, t->cfg.group_size, ternary_scale_name(t->cfg.scale),
               e == KEEP_NONE ? NULL : e == KEEP_BF16 ? "bf16" : "fp32", t->cfg.keep_linear,
               m->config.adapter_rank, "trit train");
    float *latent = m->params_memory;
    m->params_memory = trainer_model_f32(t);  // the ternary model itself
    int rc = model_save(m, j->out_dir, t->cfg.quant ? note : NULL, err);
    m->params_memory = latent;
    if (rc) return -1;
    size_t len;
    char *tok = read_file(tok_path, &len, err);
    if (!tok) return -1;
    char *dst = path_join(j->out_dir, "tokenizer.json");
    rc = write_file_atomic(dst, tok, len, err);
    free(dst);
    free(tok);
    return rc;
}

// The distillation teacher: --teacher, or the starting model itself, in
// full precision. Its tokenizer must be the student's vocabulary.
static int load_teacher(const TrainJob *j, const Tokenizer *tok, Model *teacher, char *err) {
    const char *dir = j->teacher_dir ? j->teacher_dir : j->model_dir;
    if (j->teacher_dir) {
        Tokenizer *tt = tokenizer_load_for(NULL, dir, err);
        if (!tt) return -1;
        int same = tokenizer_vocab_size(tt) == tokenizer_vocab_size(tok) && tokenizer_same_vocab(tt, tok);
        tokenizer_free(tt);
        if (!same)
            return set_err(err, "--teacher %s: its tokenizer is not the student's (distillation compares the two "
                           "models token by token, so both need the same vocabulary)", dir);
    }
    return model_load(teacher, dir, err);
}

int train_run(const TrainJob *j, char *err) {
    int rc = -1;
    Tokenizer *tok = NULL;
    Model m = {0};
    Trainer t = {0};
    Model teacher = {0};
    TokenData train = {0}, val = {0};
    FILE *log = NULL;
    int32_t *x = NULL, *y = NULL;
    const Dist *dist = &j->dist;
    const int lead = dist->rank == 0;   // logs, validates and writes
    const int quiet = j->quiet || !lead;
    char *tok_path = tokenizer_path_for(j->tokenizer_path, j->model_dir), *log_path = path_join(j->out_dir, "train.jsonl");
    char *svg_path = path_join(j->out_dir, "train.svg"), *cache = NULL, last_ckpt[4096] = "none", title[256];
    snprintf(title, sizeof title, "trit train: %s (%s)", j->out_dir, j->cfg.quant ? "ternary" : "full precision");

    if (j->batch_size < 1) { set_err(err, "--batch-size must be at least 1"); goto done; }
    if (j->seq_len < 1) { set_err(err, "--seq-len must be at least 1"); goto done; }
    if (!(tok = tokenizer_load_for(j->tokenizer_path, j->model_dir, err))) goto done;
    if (model_load(&m, j->model_dir, err)) goto done;
    if (j->seq_len > m.config.max_position_embeddings) {
        set_err(err, "--seq-len %d exceeds the model's context (max_position_embeddings %d)", j->seq_len,
                m.config.max_position_embeddings);
        goto done;
    }
    if (tokenizer_vocab_size(tok) > m.config.vocab_size) {
        set_err(err, "the tokenizer has %d tokens but the model only %d embedding rows", tokenizer_vocab_size(tok),
                m.config.vocab_size);
        goto done;
    }
    if (lead && make_dir(j->out_dir, err)) goto done;
    // Only rank 0 writes the token caches (the others tokenize for themselves).
    cache = lead ? path_join(j->out_dir, "train.tokens") : NULL;
    if (data_load(&train, j->data_path, tok, cache, err) || data_check(&train, j->data_path, j->seq_len, err)) goto done;
    free(cache);
    cache = lead ? path_join(j->out_dir, "val.tokens") : NULL;
    if (j->val_path && (data_load(&val, j->val_path, tok, cache, err) || data_check(&val, j->val_path, 1, err)))
        goto done;
    if (trainer_init(&t, &m, &j->cfg, dist, err)) goto done;
    if (j->cfg.distill && load_teacher(j, tok, &teacher, err)) goto done;
    if (j->cfg.distill && trainer_set_teacher(&t, &teacher, err)) goto done;

    uint64_t rng = j->seed * 0x9e3779b97f4a7c15ull + 1;
    double carried_s = 0;  // training seconds before this segment (a resume)
    if (j->resume) {
        if (trainer_load_checkpoint(&t, j->resume, &rng, tokenizer_hash(tok), err)) goto done;
        if (lead && truncate_log(log_path, t.step, &carried_s, err)) goto done;
        snprintf(last_ckpt, sizeof last_ckpt, "%s", j->resume);
        if (!quiet) fprintf(stderr, "resumed from %s at step %ld\n", j->resume, t.step);
    } else if (lead) {
        remove(log_path);
    }
    if (ranks_agree(j, &t, &train, &val, rng, tokenizer_hash(tok), err)) goto done;
    if (lead && !(log = fopen(log_path, "a"))) { set_err(err, "%s: cannot open for writing", log_path); goto done; }
    if (!quiet && dist->size > 1)
        fprintf(stderr, "data parallel: %d ranks x batch %d = global batch %d; each rank updates 1/%d of the "
                "parameters\n", dist->size, j->batch_size, dist->size * j->batch_size, dist->size);
    if (!quiet) {
        fprintf(stderr, "train: %zu tokens (%s)%s%s, model %zu parameters, %s, %ld steps of %d x %d, %s products\n",
                train.n, j->data_path, val.n ? ", validation " : "", val.n ? j->val_path : "", m.n_params,
                t.cfg.quant ? "ternary" : "full precision", t.cfg.steps, j->batch_size, j->seq_len,
                t.cfg.precision == PREC_BF16 ? "bf16" : "fp32");
        if (t.teacher)
            fprintf(stderr, "distillation from %s (%zu parameters): alpha %g, temperature %g, hidden %g, reverse %g\n",
                    j->teacher_dir ? j->teacher_dir : j->model_dir, teacher.n_params, t.cfg.distill_alpha,
                    t.cfg.distill_temp, t.cfg.distill_hidden, t.cfg.distill_reverse);
    }

    double vloss, vppl;
    if (lead && t.step == 0 && val.n) {
        // The parent (latent weights) and the model straight after conversion.
        ModelWeights parent;
        weights_view(&parent, &m, &m.params);
        rc = validate(&t, j, &val, &parent, &vloss, &vppl, err);
        weights_free(&parent);
        if (rc) goto done;
        rc = -1;
        log_line(log, "{\"step\":0,\"val_loss_parent\":%.6f,\"val_ppl_parent\":%.4f}", vloss, vppl);
        if (!quiet) fprintf(stderr, "validation before training: parent ppl %.3f", vppl);
        if (t.cfg.quant) {
            trainer_project(&t, 1.0f);
            if (validate(&t, j, &val, &t.fw, &vloss, &vppl, err)) goto done;
            if (!quiet) fprintf(stderr, ", ternary straight after conversion ppl %.3f", vppl);
        }
        if (!quiet) fputc('\n', stderr);
        log_line(log, "{\"step\":0,\"val_loss\":%.6f,\"val_ppl\":%.4f}", vloss, vppl);
    }

    // The global batch: what one process with --batch-size ranks·B draws.
    const int B = j->batch_size, T = j->seq_len, GB = B * dist->size;
    x = xmalloc(sizeof(int32_t) * (size_t)GB * T);
    y = xmalloc(sizeof(int32_t) * (size_t)GB * T);
    double t0 = now_seconds();
    long first = t.step;
    while (t.step < t.cfg.steps) {
        StepStats st;
        data_batch(&train, &rng, GB, T, x, y);
        double ts = now_seconds();
        if (trainer_step(&t, x, y, B, T, &st, err)) {
            char inner[ERR_LEN];
            snprintf(inner, sizeof inner, "%s", err);
            set_err(err, "%s; stopped (last good checkpoint: %s)", inner, last_ckpt);
            goto done;
        }
        double now = now_seconds(), tps = (double)GB * T / (now - ts);
        double eta = (now - t0) / (double)(t.step - first) * (double)(t.cfg.steps - t.step);
        char extra[128] = "";
        if (t.teacher) snprintf(extra, sizeof extra, ",\"ce\":%.6f,\"kl\":%.6f", st.ce, st.kl);
        if (t.cfg.distill_hidden > 0)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\"hidden\":%.6f", st.hidden);
        if (t.cfg.quant_ramp)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\"lambda\":%.6g", st.lambda);
        if (dist->size > 1)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\"comm_s\":%.3f", st.comm_s);
        if (lead) log_line(log, "{\"step\":%ld,\"loss\":%.6f,\"grad_norm\":%.6f,\"lr\":%.6g,\"tokens_per_s\":%.1f,"
                      "\"elapsed_s\":%.2f%s}", t.step, st.loss, st.grad_norm, st.lr, tps, carried_s + now - t0, extra);
        if (!quiet) {
            char parts[64] = "";
            if (t.teacher && t.cfg.distill_hidden > 0)
                snprintf(parts, sizeof parts, " (ce %.4f, kl %.4f, hidden %.4f)", st.ce, st.kl, st.hidden);
            else if (t.teacher)
                snprintf(parts, sizeof parts, " (ce %.4f, kl %.4f)", st.ce, st.kl);
            fprintf(stderr, "step %ld/%ld | loss %.4f%s | grad norm %.3f | lr %.3g | %.0f tok/s | ETA %d:%02d:%02d\n",
                    t.step, t.cfg.steps, st.loss, parts, st.grad_norm, st.lr, tps, (int)eta / 3600,
                    ((int)eta / 60) % 60, (int)eta % 60);
        }
        int last = t.step == t.cfg.steps;
        if (lead && val.n && ((j->eval_every > 0 && t.step % j->eval_every == 0) || last)) {
            trainer_project(&t, 1.0f);
            if (validate(&t, j, &val, &t.fw, &vloss, &vppl, err)) goto done;
            log_line(log, "{\"step\":%ld,\"val_loss\":%.6f,\"val_ppl\":%.4f}", t.step, vloss, vppl);
            if (!quiet) fprintf(stderr, "step %ld: validation ppl %.3f\n", t.step, vppl);
            plot_training_svg(log_path, svg_path, title, NULL);
        }
        if (j->checkpoint_every > 0 && (t.step % j->checkpoint_every == 0 || last)) {
            char name[64];
            snprintf(name, sizeof name, "ckpt-%ld", t.step);
            char *dir = path_join(j->out_dir, name);
            int r = trainer_save_checkpoint(&t, dir, rng, tokenizer_hash(tok), err);
            // keep_last: the one before goes once this one is whole (each
            // holds the weights and both AdamW moments: 1.6 GB at 135 M).
            if (r == 0 && lead && j->keep_last && strcmp(last_ckpt, "none") && strcmp(last_ckpt, dir))
                remove_dir_files(last_ckpt);
            if (r == 0) snprintf(last_ckpt, sizeof last_ckpt, "%s", dir);
            free(dir);
            if (r) goto done;
        }
    }
    if (lead) {
        if (save_trained(&t, j, tok_path, err)) goto done;
        fclose(log);
        log = NULL;
        if (plot_training_svg(log_path, svg_path, title, err)) goto done;
    }
    if (!quiet) fprintf(stderr, "wrote %s (model, train.jsonl, train.svg)\n", j->out_dir);
    rc = 0;
done:
    if (log) fclose(log);
    free(x);
    free(y);
    free(cache);
    free(tok_path);
    free(log_path);
    free(svg_path);
    data_free(&train);
    data_free(&val);
    if (t.model) trainer_free(&t);
    if (teacher.params_memory) model_free(&teacher);
    if (m.params_memory) model_free(&m);
    if (tok) tokenizer_free(tok);
    return rc;
}
