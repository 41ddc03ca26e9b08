// convert.c — `trit convert`; see convert.h.
#include "pipeline/convert.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "convert/gguf_export.h"
#include "model/eval.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/ggml_types.h"
#include "tok/tokenizer.h"
#include "train/blockwise.h"
#include "train/train_run.h"

void convert_job_default(ConvertJob *j) {
    *j = (ConvertJob){.group = 64, .keep_embedding = QKEEP_NONE, .calib_tokens = 32768, .seq_len = 512,
                      .block_seqs = 64, .block_epochs = 2, .block_lr = 1e-4f, .e2e_steps = 250, .e2e_lr = 1e-4f,
                      .e2e_batch = 4, .e2e_seq = 256, .eval_tokens = 16384};
}

// One stage's line of the report.
typedef struct {
    const char *name;
    double ppl, seconds;
    size_t tokens;
    int done;
} StageReport;

typedef struct {
    const ConvertJob *j;
    char *work, *start_dir, *blocks_dir, *e2e_dir;
    Tokenizer *tok;
    int32_t *calib;   // the calibration tokens (stages 1-2)
    size_t n_calib;
    StageReport stage[3];
    char note[320];
} Conv;

// m into dir as a whole (replacing what is there), with the parent's
// tokenizer files and, for the blocks stage, how many blocks are done.
static int save_stage(const Conv *k, const Model *m, const char *dir, int next_block, char *err) {
    AtomicDir d;
    if (atomic_dir_open(&d, dir, err)) return -1;
    int rc = model_save(m, d.tmp, k->note, err);
    if (rc == 0) rc = copy_file_if_present(k->j->parent_dir, d.tmp, "tokenizer.json", err);
    if (rc == 0) rc = copy_file_if_present(k->j->parent_dir, d.tmp, "tokenizer_config.json", err);
    if (rc == 0 && next_block >= 0) {
        char text[64], *p = path_join(d.tmp, "blocks.json");
        snprintf(text, sizeof text, "{\"next_block\": %d}\n", next_block);
        rc = write_file_atomic(p, text, strlen(text), err);
        free(p);
    }
    if (rc == 0) return atomic_dir_commit(&d, 1, err);
    atomic_dir_abort(&d);
    return -1;
}

// The blocks a saved blocks stage has done (0 when there is none).
static int blocks_done(const char *dir) {
    char *p = path_join(dir, "blocks.json"), err[ERR_LEN];
    size_t len;
    char *text = read_file(p, &len, err);
    free(p);
    int n = 0;
    cJSON *js = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *v = cJSON_GetObjectItem(js, "next_block");
    if (cJSON_IsNumber(v)) n = v->valueint;
    cJSON_Delete(js);
    free(text);
    return n;
}

static int stage_ppl(const Conv *k, const char *dir, StageReport *s, char *err) {
    if (!k->j->val_path) return 0;
    ModelWeights w;
    if (weights_open(&w, dir, NULL, err)) return -1;
    size_t len, n;
    int32_t *ids;
    char *text = read_file(k->j->val_path, &len, err);
    int rc = text ? tokenizer_encode(k->tok, text, len, &ids, &n, err) : -1;
    free(text);
    EvalResult r;
    const int window = w.config.max_position_embeddings < 512 ? w.config.max_position_embeddings : 512;
    if (rc == 0) {
        rc = eval_perplexity(&w, ids, n, window, 4, k->j->eval_tokens, 0, &r, err);
        free(ids);
    }
    if (rc == 0) s->ppl = r.ppl;
    weights_free(&w);
    if (rc == 0) fprintf(stderr, "convert: %-6s perplexity %.2f on %s\n", s->name, s->ppl, k->j->val_path);
    return rc;
}

static int has_model(const char *dir) {
    char *p = path_join(dir, "config.json");
    const int yes = file_exists(p);
    free(p);
    return yes;
}

// A stage's seconds and tokens, kept beside its result so that a resumed
// run reports them.
static int write_stage_info(const Conv *k, const StageReport *s, char *err) {
    char name[64], text[160];
    snprintf(name, sizeof name, "%s.json", s->name);
    char *p = path_join(k->work, name);
    snprintf(text, sizeof text, "{\"seconds\": %.1f, \"tokens\": %zu}\n", s->seconds, s->tokens);
    const int rc = write_file_atomic(p, text, strlen(text), err);
    free(p);
    return rc;
}

static void read_stage_info(const Conv *k, StageReport *s) {
    char name[64], err[ERR_LEN];
    snprintf(name, sizeof name, "%s.json", s->name);
    char *p = path_join(k->work, name);
    size_t len;
    char *text = read_file(p, &len, err);
    free(p);
    cJSON *js = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *sec = cJSON_GetObjectItem(js, "seconds"), *tok = cJSON_GetObjectItem(js, "tokens");
    if (cJSON_IsNumber(sec) && cJSON_IsNumber(tok)) {
        s->seconds = sec->valuedouble;
        s->tokens = (size_t)tok->valuedouble;
        s->done = 1;
    }
    cJSON_Delete(js);
    free(text);
}

static int run_start(Conv *k, char *err) {
    StageReport *s = &k->stage[0];
    if (has_model(k->start_dir)) return 0;
    const double t0 = now_seconds();
    Model m;
    if (model_load(&m, k->j->parent_dir, err)) return -1;
    QuantizeOptions o = {.method = QUANT_GPTQ, .group = k->j->group, .keep_embedding = k->j->keep_embedding,
                         .damp = 0.01, .calib = k->calib, .n_calib = k->j->calib_tokens, .seq_len = k->j->seq_len,
                         .batch = 8, .verbose = 1};
    int rc = model_quantize(&m, &o, err);
    if (rc == 0) rc = save_stage(k, &m, k->start_dir, -1, err);
    model_free(&m);
    s->seconds = now_seconds() - t0;
    s->tokens = k->j->calib_tokens;
    return rc ? -1 : write_stage_info(k, s, err);
}

typedef struct {
    Conv *k;
    double t0, before;  // when this run of the stage began; seconds of earlier runs
} BlockSaver;

static int save_block(int l, const Model *student, void *user, char *err) {
    BlockSaver *b = user;
    StageReport *s = &b->k->stage[1];
    s->seconds = b->before + now_seconds() - b->t0;
    return save_stage(b->k, student, b->k->blocks_dir, l + 1, err) || write_stage_info(b->k, s, err) ? -1 : 0;
}

static int run_blocks(Conv *k, char *err) {
    const ConvertJob *j = k->j;
    StageReport *s = &k->stage[1];
    Model parent, student;
    const int resumed = has_model(k->blocks_dir), first = resumed ? blocks_done(k->blocks_dir) : 0;
    if (model_load(&student, resumed ? k->blocks_dir : k->start_dir, err)) return -1;
    if (first >= student.config.num_hidden_layers) {
        model_free(&student);
        return 0;
    }
    if (model_load(&parent, j->parent_dir, err)) {
        model_free(&student);
        return -1;
    }
    if (resumed) fprintf(stderr, "convert: blocks: resuming after block %d\n", first);
    s->tokens = (size_t)j->block_seqs * (size_t)j->seq_len * (size_t)j->block_epochs;
    BlockSaver saver = {k, now_seconds(), s->seconds};
    BlockwiseOptions o = {.group = j->group, .epochs = j->block_epochs, .batch = 4, .lr = j->block_lr,
                          .min_lr = j->block_lr / 20.0f, .val_seqs = j->block_seqs / 16 > 1 ? j->block_seqs / 16 : 1,
                          .seed = 0, .tokens = k->calib, .n_seqs = j->block_seqs, .seq_len = j->seq_len,
                          .first_block = first, .verbose = 1, .on_block = save_block, .user = &saver};
    const int rc = blockwise_reconstruct(&student, &parent, &o, NULL, err);
    model_free(&parent);
    model_free(&student);
    return rc;
}

// The newest ckpt-<step> in dir, or NULL.
static char *last_checkpoint(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    long best = -1;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, "ckpt-", 5)) continue;
        const long s = strtol(e->d_name + 5, &end, 10);
        if (*end == 0 && s > best) best = s;
    }
    closedir(d);
    if (best < 0) return NULL;
    char name[32];
    snprintf(name, sizeof name, "ckpt-%ld", best);
    return path_join(dir, name);
}

static int run_e2e(Conv *k, const char *from, char *err) {
    const ConvertJob *j = k->j;
    StageReport *s = &k->stage[2];
    if (has_model(k->e2e_dir)) return 0;
    TrainJob t;
    train_job_default(&t);
    t.model_dir = from;
    t.teacher_dir = j->parent_dir;
    t.data_path = j->data_path;
    t.out_dir = k->e2e_dir;
    t.batch_size = j->e2e_batch;
    t.seq_len = j->e2e_seq;
    t.eval_every = 0;
    t.eval_tokens = 0;
    t.checkpoint_every = j->e2e_steps / 5 > 25 ? 25 : j->e2e_steps / 5 > 1 ? j->e2e_steps / 5 : 1;
    t.cfg.steps = j->e2e_steps;
    t.cfg.warmup = j->e2e_steps / 10;
    t.cfg.lr = j->e2e_lr;
    t.cfg.min_lr = j->e2e_lr / 20.0f;
    t.cfg.weight_decay = 0.0f;  // decay pulls latent weights into the dead zone
    t.cfg.group_size = j->group;
    t.cfg.scale = SCALE_MSE;    // the projection keeps the calibrated start as it is
    t.cfg.distill = 1;
    t.cfg.distill_alpha = 0.0f;
    t.cfg.keep_embedding = j->keep_embedding == QKEEP_BF16 ? KEEP_BF16 : KEEP_NONE;
    t.cfg.precision = j->precision;
    char *resume = last_checkpoint(k->e2e_dir);
    t.resume = resume;
    if (resume) fprintf(stderr, "convert: e2e: resuming from %s\n", resume);
    dist_init(&t.dist);
    const double t0 = now_seconds();
    const int rc = train_run(&t, err);
    free(resume);
    s->seconds += now_seconds() - t0;
    s->tokens = (size_t)j->e2e_steps * (size_t)j->e2e_batch * (size_t)j->e2e_seq;
    return rc ? -1 : write_stage_info(k, s, err);
}

// The student into DIR, checked exactly ternary, and DIR.gguf.
static int finish(Conv *k, const char *from, double *bpw, char *err) {
    const ConvertJob *j = k->j;
    Model m;
    if (model_load(&m, from, err)) return -1;
    int rc = 0;
    for (int i = 0; i < m.n_tensors && rc == 0; i++) {
        const TensorInfo *t = &m.tensors[i];
        TernaryCounts n = {0};
        if (t->matrix && !(tk_is_embedding(t->kind) && j->keep_embedding == QKEEP_BF16) &&
            ternary_verify(m.params_memory + t->offset, t->rows, t->cols, j->group, &n))
            rc = set_err(err, "%s: %s is not exactly ternary with groups of %d", from, t->name, j->group);
    }
    if (rc == 0) rc = save_stage(k, &m, j->out_dir, -1, err);
    model_free(&m);
    if (rc) return -1;
    char *gguf = xmalloc(strlen(j->out_dir) + 6);
    sprintf(gguf, "%s.gguf", j->out_dir);
    ExportOptions o = {.type = EXPORT_AUTO, .embed_type = j->keep_embedding == QKEEP_BF16 ? GGML_TYPE_BF16 : EXPORT_AUTO};
    ExportReport r;
    rc = gguf_export(j->out_dir, gguf, &o, &r, err);
    if (rc == 0)
        fprintf(stderr, "convert: wrote %s and %s (%.4f bits per weight, %d of %d tensors read back exactly)\n",
                j->out_dir, gguf, r.bits_per_weight, r.n_lossless, r.n_tensors);
    *bpw = r.bits_per_weight;
    free(gguf);
    return rc;
}

static int write_report(const Conv *k, double parent_ppl, double bpw, char *err) {
    cJSON *root = cJSON_CreateObject(), *stages = cJSON_AddArrayToObject(root, "stages");
    cJSON_AddStringToObject(root, "parent", k->j->parent_dir);
    if (k->j->val_path) cJSON_AddStringToObject(root, "validation", k->j->val_path);
    cJSON_AddNumberToObject(root, "parent_ppl", parent_ppl);
    cJSON_AddNumberToObject(root, "group", k->j->group);
    cJSON_AddStringToObject(root, "embedding", k->j->keep_embedding == QKEEP_BF16 ? "bf16" : "ternary");
    cJSON_AddNumberToObject(root, "bits_per_weight", bpw);
    fprintf(stderr, "\nconvert: %-7s %12s %10s %9s\n", "stage", "perplexity", "tokens", "minutes");
    fprintf(stderr, "convert: %-7s %12.2f %10s %9s\n", "parent", parent_ppl, "-", "-");
    for (int i = 0; i < 3; i++) {
        const StageReport *s = &k->stage[i];
        if (!s->done) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stage", s->name);
        cJSON_AddNumberToObject(o, "ppl", s->ppl);
        cJSON_AddNumberToObject(o, "tokens", (double)s->tokens);
        cJSON_AddNumberToObject(o, "seconds", s->seconds);
        cJSON_AddItemToArray(stages, o);
        fprintf(stderr, "convert: %-7s %12.2f %10zu %9.1f\n", s->name, s->ppl, s->tokens, s->seconds / 60.0);
    }
    char *text = cJSON_Print(root), *p = path_join(k->j->out_dir, "convert.json");
    const int rc = write_file_atomic(p, text, strlen(text), err);
    free(p);
    free(text);
    cJSON_Delete(root);
    return rc;
}

// The first n tokens of the data, which must have that many.
static int read_calibration(Conv *k, size_t n, char *err) {
    size_t len;
    char *text = read_file(k->j->data_path, &len, err);
    if (!text) return -1;
    int rc = tokenizer_encode(k->tok, text, len, &k->calib, &k->n_calib, err);
    free(text);
    if (rc == 0 && k->n_calib < n)
        rc = set_err(err, "%s: %zu tokens, fewer than the %zu the calibration and block-wise stages need",
                     k->j->data_path, k->n_calib, n);
    return rc;
}

int convert_run(const ConvertJob *j, char *err) {
    if (j->group <= 0 || j->seq_len < 2 || j->calib_tokens < (size_t)j->seq_len || j->block_seqs < 0 ||
        j->block_seqs == 1 || j->e2e_steps < 0)
        return set_err(err, "convert: the stages' sizes are out of range");
    // A finished job (its report written last) is not converted, exported
    // or evaluated again.
    char *report = path_join(j->out_dir, "convert.json");
    const int finished = file_exists(report);
    free(report);
    if (finished) {
        fprintf(stderr, "convert: %s is complete (its convert.json is there); remove it to convert again\n",
                j->out_dir);
        return 0;
    }
    Conv k = {.j = j};
    const StageReport names[3] = {{.name = "start"}, {.name = "blocks"}, {.name = "e2e"}};
    memcpy(k.stage, names, sizeof names);
    k.work = xmalloc(strlen(j->out_dir) + 6);
    sprintf(k.work, "%s.work", j->out_dir);
    k.start_dir = path_join(k.work, "start");
    k.blocks_dir = path_join(k.work, "blocks");
    k.e2e_dir = path_join(k.work, "e2e");
    snprintf(k.note, sizeof k.note, "ternary g%d gptq%s: every linear layer%s is t*s, t in {-1,0,1}, one scale per group "
             "of %d input weights (trit convert)%s", j->group, j->keep_embedding == QKEEP_BF16 ? ", embedding bf16" : "",
             j->keep_embedding == QKEEP_BF16 ? "" : " and the embedding", j->group,
             j->keep_embedding == QKEEP_BF16 ? "; the embedding / LM head and the norms are not ternary" : "; norms full precision");
    int rc = make_dir(k.work, err);
    const size_t need = (size_t)j->block_seqs * j->seq_len > j->calib_tokens ? (size_t)j->block_seqs * j->seq_len
                                                                            : j->calib_tokens;
    if (rc == 0 && !(k.tok = tokenizer_load_for(NULL, j->parent_dir, err))) rc = -1;
    if (rc == 0) rc = read_calibration(&k, need, err);
    if (rc == 0) rc = run_start(&k, err);
    const char *last = k.start_dir;
    if (rc == 0 && j->block_seqs > 0) {
        rc = run_blocks(&k, err);
        last = k.blocks_dir;
    }
    if (rc == 0 && j->e2e_steps > 0) {
        rc = run_e2e(&k, last, err);
        last = k.e2e_dir;
    }
    double bpw = 0.0, parent_ppl = 0.0;
    if (rc == 0) rc = finish(&k, last, &bpw, err);
    const char *dirs[3] = {k.start_dir, j->block_seqs > 0 ? k.blocks_dir : NULL, j->e2e_steps > 0 ? k.e2e_dir : NULL};
    for (int i = 0; i < 3 && rc == 0; i++) {
        read_stage_info(&k, &k.stage[i]);
        if (dirs[i] && k.stage[i].done) rc = stage_ppl(&k, dirs[i], &k.stage[i], err);
    }
    StageReport parent = {.name = "parent"};
    if (rc == 0) rc = stage_ppl(&k, j->parent_dir, &parent, err);
    parent_ppl = parent.ppl;
    if (rc == 0) rc = write_report(&k, parent_ppl, bpw, err);
    free(k.calib);
    if (k.tok) tokenizer_free(k.tok);
    free(k.e2e_dir);
    free(k.blocks_dir);
    free(k.start_dir);
    free(k.work);
    return rc;
}
