// convert.c — `trit convert`; see convert.h.
#include "pipeline/convert.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arch/arch.h"
#include "arch/config.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "base/util.h"
#include "infer/chat.h"
#include "infer/source.h"
#include "infer/synth.h"
#include "convert/gguf_export.h"
#include "model/eval.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/ggml_types.h"
#include "tok/tokenizer.h"
#include "train/data.h"
#include "train/blockwise.h"
#include "train/train_run.h"

void convert_job_default(ConvertJob *j) {
    *j = (ConvertJob){.group = 64, .keep_embedding = QKEEP_NONE, .calib_tokens = 32768, .seq_len = 512,
                      .block_seqs = 0, .block_epochs = 4, .block_batch = 1, .block_lr = 1e-3f, .e2e_steps = 250, .e2e_lr = 5e-4f,
                      .e2e_scale = SCALE_LEARNED, .e2e_scale_lr_mult = 4.0f,
                      .e2e_batch = 2, .e2e_seq = 256, .eval_tokens = 16384, .chat_tokens = 128,
                      .chat_share = 0.3f, .block_share = 0.3f};
}

// One stage's line of the report.
typedef struct {
    const char *name;
    double ppl, seconds;
    size_t tokens;
    int done;
} StageReport;

enum { ST_START, ST_CHAT, ST_BLOCKS, ST_E2E, N_STAGES };

typedef struct {
    const ConvertJob *j;
    char *work, *start_dir, *blocks_dir, *e2e_dir, *chat_path, *questions_path, *mix_path, *plan_path;
    Tokenizer *tok;
    int32_t *calib;   // the training text's tokens (the first are the calibration tokens)
    size_t n_calib;
    StageReport stage[N_STAGES];
    double block_seconds;  // the plan (minutes > 0): the blocks' budget, 0 until made
    long e2e_steps;        // e2e's steps, 0 until planned
    long e2e_every;        // e2e's checkpoint interval in steps (planned: ~5 minutes), 0 until planned
    double spent_before;   // the budget spent by earlier runs' stages (their recorded seconds)
    double t0;             // when this run began
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

// dir/name parsed, or NULL when it is absent or not JSON (the caller
// treats both as "not written yet").
static cJSON *read_json(const char *dir, const char *name) {
    char *p = path_join(dir, name), err[ERR_LEN];
    size_t len;
    char *text = read_file(p, &len, err);
    free(p);
    cJSON *js = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    return js;
}

// js[key] when it is a number in [0, max]: the state files are trit's own,
// but a damaged or hand-edited one must not become a negative block index or
// an out-of-range conversion; anything else reads as "not written yet".
static int json_count(const cJSON *js, const char *key, double max, double *out) {
    const cJSON *v = cJSON_GetObjectItem(js, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= max)) return 0;
    *out = v->valuedouble;
    return 1;
}

// The blocks a saved blocks stage has done (0 when there is none).
static int blocks_done(const char *dir) {
    cJSON *js = read_json(dir, "blocks.json");
    double n = 0.0;
    json_count(js, "next_block", 1e6, &n);
    cJSON_Delete(js);
    return (int)n;
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
    char name[64];
    snprintf(name, sizeof name, "%s.json", s->name);
    cJSON *js = read_json(k->work, name);
    double sec, tok;
    if (json_count(js, "seconds", 1e9, &sec) && json_count(js, "tokens", 1e15, &tok)) {
        s->seconds = sec;
        s->tokens = (size_t)tok;
        s->done = 1;
    }
    cJSON_Delete(js);
}

static int run_start(Conv *k, char *err) {
    StageReport *s = &k->stage[ST_START];
    if (has_model(k->start_dir)) return 0;
    const double t0 = now_seconds();
    Model m;
    if (model_load(&m, k->j->parent_dir, err)) return -1;
    if (k->j->adapter_rank && model_set_adapter_rank(&m, k->j->adapter_rank, err)) {
        model_free(&m);
        return -1;
    }
    QuantizeOptions o = {.method = QUANT_GPTQ, .group = k->j->group, .keep_embedding = k->j->keep_embedding,
                         .keep_linear = k->j->keep_linear, .balance = k->j->balance, .qep = k->j->qep,
                         .damp = 0.01, .calib = k->calib, .n_calib = k->j->calib_tokens, .seq_len = k->j->seq_len,
                         .batch = 8, .verbose = 1};
    int rc = model_quantize(&m, &o, err);
    if (rc == 0) rc = save_stage(k, &m, k->start_dir, -1, err);
    model_free(&m);
    s->seconds = now_seconds() - t0;
    s->tokens = k->j->calib_tokens;
    return rc ? -1 : write_stage_info(k, s, err);
}

// The plan of a budgeted job, kept so that a resumed run keeps it.
static void read_plan(Conv *k) {
    cJSON *js = read_json(k->work, "plan.json");
    double b, e, c;
    if (json_count(js, "block_seconds", 1e9, &b)) k->block_seconds = b;
    if (json_count(js, "e2e_steps", 1e12, &e)) k->e2e_steps = (long)e;
    if (json_count(js, "e2e_checkpoint_every", 1e12, &c)) k->e2e_every = (long)c;
    cJSON_Delete(js);
}

static int write_plan(const Conv *k, char *err) {
    char text[160];
    snprintf(text, sizeof text, "{\"block_seconds\": %.1f, \"e2e_steps\": %ld, \"e2e_checkpoint_every\": %ld}\n",
             k->block_seconds, k->e2e_steps, k->e2e_every);
    return write_file_atomic(k->plan_path, text, strlen(text), err);
}

// Seconds of the budget not yet spent: by earlier runs' stages, and by
// everything this run has done so far (its stages, and what no stage counts:
// loading, tokenizing the data, the e2e probe).
static double budget_left(const Conv *k) {
    return k->j->minutes * 60.0 - k->spent_before - (now_seconds() - k->t0);
}

typedef struct {
    TokenData out;
    size_t cap;
    int32_t eot;
    Progress bar;
} ChatSink;

static int take_answer(long i, const int32_t *ids, size_t n, void *user) {
    ChatSink *c = user;
    if (c->out.n + n + 1 > c->cap) {
        c->cap = 2 * (c->out.n + n + 1);
        c->out.ids = xrealloc(c->out.ids, sizeof(int32_t) * c->cap);
    }
    memcpy(c->out.ids + c->out.n, ids, sizeof(int32_t) * n);
    c->out.n += n;
    if (c->eot >= 0 && ids[n - 1] != c->eot) c->out.ids[c->out.n++] = c->eot;
    progress_update(&c->bar, (double)(i + 1));
    return 0;
}

// A user message the parent wrote, as one line of a prompt file: blanks
// (newlines, tabs included) folded to single spaces, the ends trimmed.
static char *question_line(const char *text, size_t len) {
    char *out = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        const int blank = text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t';
        if (!blank) out[n++] = text[i];
        else if (n > 0 && out[n - 1] != ' ') out[n++] = ' ';
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = 0;
    return out;
}

typedef struct {
    const Tokenizer *tok;
    size_t prefix;   // ids of the user-turn opening each sample starts with
    int32_t im_end;  // the turn's end: a question is kept only when it got there
    char **line;     // kept questions by sample index (NULL: none)
    long done;
    Progress bar;
    char *err;
} QuestionSink;

static int take_question(long i, const int32_t *ids, size_t n, void *user) {
    QuestionSink *q = user;
    progress_update(&q->bar, (double)++q->done);
    if (n < q->prefix + 2 || ids[n - 1] != q->im_end) return 0;  // unfinished or empty
    char *text;
    size_t len;
    if (tokenizer_decode(q->tok, ids + q->prefix, n - q->prefix - 1, &text, &len, q->err)) return -1;
    const char *why;
    char *line = utf8_check((const uint8_t *)text, len, &why) == len ? question_line(text, len) : NULL;
    free(text);
    // A few words at least, and no ChatML markup of its own.
    if (line && (strlen(line) < 12 || strstr(line, "<|"))) {
        free(line);
        line = NULL;
    }
    q->line[i] = line;
    return 0;
}

// Stage 2a (chat_questions > 0): user messages written by the parent itself,
// continued from the opening of a user turn (Magpie: a chat model asked
// nothing writes what its users asked), sampled at temperature 1, top-p
// 0.95. Finished, distinct ones are kept in sample order, up to
// chat_questions of them, one a line in questions.txt (written once;
// reused on resume).
static int run_questions(Conv *k, ModelSource *src, char *err) {
    const ConvertJob *j = k->j;
    if (file_exists(k->questions_path)) return 0;
    char *prefix = chat_user_prefix(src->chat_template, src->tok, err);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!prefix || tokenizer_encode(src->tok, prefix, strlen(prefix), &ids, &n_ids, err)) {
        free(prefix);
        return -1;
    }
    free(prefix);
    int32_t eos[3];
    const int n_eos = source_eos_ids(src, eos);
    const int32_t im_end = tokenizer_token_id(src->tok, "<|im_end|>");
    // Half again as many samples as questions wanted: some do not finish
    // within 96 ids, some repeat.
    const long samples = j->chat_questions + j->chat_questions / 2 + 8;
    QuestionSink q = {.tok = src->tok, .prefix = n_ids, .im_end = im_end, .err = err};
    q.line = xcalloc((size_t)samples, sizeof *q.line);
    const int32_t *prompts[1] = {ids};
    const int lens[1] = {(int)n_ids};
    // 96 ids hold nearly every finished message; a short context holds fewer.
    const int room = src->w.config.max_position_embeddings - (int)n_ids, new_tokens = room < 96 ? room : 96;
    SynthOptions o = {.samples = samples, .n_seq = 32, .new_tokens = new_tokens, .temperature = 1.0f, .top_p = 0.95f,
                      .seed = 1, .eos = eos, .n_eos = n_eos, .vocab_limit = tokenizer_vocab_size(src->tok),
                      .prompts = prompts, .prompt_lens = lens, .n_prompts = 1};
    progress_init(&q.bar, "convert: chat questions", "messages", (double)samples);
    int rc = new_tokens < 1 ? set_err(err, "convert: the parent's context (%d) has no room for a user message after "
                                      "the %zu ids of a turn's opening", src->w.config.max_position_embeddings, n_ids)
                            : synth_run(&src->w, NULL, 0, &o, take_question, &q, err);
    if (rc == 0) progress_finish(&q.bar, (double)samples);
    Buf out = {0};
    int kept = 0, finished = 0;
    for (long i = 0; i < samples; i++) {
        if (!q.line[i]) continue;
        finished++;
        int seen = 0;
        for (long e = 0; e < i && !seen; e++) seen = q.line[e] && !strcasecmp(q.line[e], q.line[i]);
        if (!seen && kept < j->chat_questions) {
            buf_printf(&out, "%s\n", q.line[i]);
            kept++;
        }
    }
    if (rc == 0 && kept == 0)
        rc = set_err(err, "convert: the parent finished no user message of its own in %ld tries (is it a chat "
                     "model?); give --chat-questions 0", samples);
    if (rc == 0) rc = write_file_atomic(k->questions_path, out.s, out.len, err);
    if (rc == 0)
        fprintf(stderr, "convert: chat: %d user messages in %s (%d of %ld samples finished, the rest repeats)\n", kept,
                k->questions_path, finished, samples);
    for (long i = 0; i < samples; i++) free(q.line[i]);
    free(q.line);
    free(out.s);
    free(ids);
    return rc;
}

// Stage 2: the parent's answers to the prompt file (and to its own user
// messages, stage 2a), sampled (temperature 0.7, top-p 0.95: varied, but
// still the parent's likely answers), as one token file.
static int run_chat(Conv *k, char *err) {
    const ConvertJob *j = k->j;
    StageReport *s = &k->stage[ST_CHAT];
    if (file_exists(k->chat_path)) return 0;
    const double t0 = now_seconds();
    ModelSource src;
    if (source_open(&src, j->parent_dir, NULL, NULL, err)) return -1;
    ChatPrompts cp, own = {0};
    int rc = j->chat_questions > 0 ? run_questions(k, &src, err) : 0;
    if (rc == 0) rc = chat_prompts_load(&cp, j->chat_prompts, src.chat_template, src.tok, err);
    if (rc) {
        source_close(&src);
        return -1;
    }
    if (j->chat_questions > 0) {
        rc = chat_prompts_load(&own, k->questions_path, src.chat_template, src.tok, err);
        chat_prompts_append(&cp, &own);
    }
    int32_t eos[3];
    const int n_eos = source_eos_ids(&src, eos);
    const long samples = j->chat_samples > 0 ? j->chat_samples : cp.n;
    SynthOptions o = {.samples = samples, .n_seq = 32, .new_tokens = j->chat_tokens, .temperature = 0.7f,
                      .top_p = 0.95f, .seed = 0, .eos = eos, .n_eos = n_eos,
                      .vocab_limit = tokenizer_vocab_size(src.tok), .prompts = (const int32_t *const *)cp.ids,
                      .prompt_lens = cp.lens, .n_prompts = cp.n};
    ChatSink c = {.eot = tokenizer_token_id(src.tok, "<|endoftext|>")};
    if (rc == 0) {
        progress_init(&c.bar, "convert: chat answers", "answers", (double)samples);
        rc = synth_run(&src.w, NULL, 0, &o, take_answer, &c, err);
    }
    if (rc == 0) {
        progress_finish(&c.bar, (double)samples);
        rc = data_save_tokens(&c.out, k->chat_path, src.tok, err);
    }
    if (rc == 0)
        fprintf(stderr, "convert: chat: %ld answers to the %d prompts of %s%s, %zu tokens\n", samples, cp.n,
                j->chat_prompts, j->chat_questions > 0 ? " and the parent's own" : "", c.out.n);
    s->seconds = now_seconds() - t0;
    s->tokens = c.out.n;
    data_free(&c.out);
    chat_prompts_free(&cp);
    source_close(&src);
    return rc ? -1 : write_stage_info(k, s, err);
}

// The e2e training text: the training text's tokens, then the chat answers
// repeated until they are about chat_share of the whole (random windows of
// the file then draw them at that rate).
static int write_mix(Conv *k, char *err) {
    if (file_exists(k->mix_path)) return 0;
    TokenData chat;
    if (data_load(&chat, k->chat_path, k->tok, NULL, err)) return -1;
    const double f = k->j->chat_share;
    long reps = f > 0 ? (long)(f / (1.0 - f) * (double)k->n_calib / (double)chat.n + 0.5) : 0;
    if (f > 0 && reps < 1) reps = 1;
    TokenData mix = {.n = k->n_calib + (size_t)reps * chat.n};
    mix.ids = xmalloc(sizeof(int32_t) * mix.n);
    memcpy(mix.ids, k->calib, sizeof(int32_t) * k->n_calib);
    for (long r = 0; r < reps; r++) memcpy(mix.ids + k->n_calib + (size_t)r * chat.n, chat.ids, sizeof(int32_t) * chat.n);
    const int rc = data_save_tokens(&mix, k->mix_path, k->tok, err);
    if (rc == 0)
        fprintf(stderr, "convert: e2e text: %zu tokens of %s and the chat answers %ld times (%.0f%% of %zu)\n",
                k->n_calib, k->j->data_path, reps, 100.0 * (double)reps * chat.n / (double)mix.n, mix.n);
    data_free(&mix);
    data_free(&chat);
    return rc;
}

typedef struct {
    Conv *k;
    double t0, before;  // when this run of the stage began; seconds of earlier runs
} BlockSaver;

static int save_block(int l, const Model *student, const BlockReport *rep, void *user, char *err) {
    BlockSaver *b = user;
    StageReport *s = &b->k->stage[ST_BLOCKS];
    const ConvertJob *j = b->k->j;
    s->seconds = b->before + now_seconds() - b->t0;
    // Tokens: the block's epochs over its sequences, averaged over blocks.
    s->tokens += (size_t)rep->epochs * (size_t)j->block_seqs * (size_t)j->seq_len / (size_t)student->config.num_hidden_layers;
    return save_stage(b->k, student, b->k->blocks_dir, l + 1, err) || write_stage_info(b->k, s, err) ? -1 : 0;
}

static int run_blocks(Conv *k, char *err) {
    const ConvertJob *j = k->j;
    StageReport *s = &k->stage[ST_BLOCKS];
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
    if (!resumed) s->tokens = 0;
    if (j->minutes > 0 && k->block_seconds <= 0) {
        // What is left, less a twentieth of the budget for the final
        // evaluations and the export, split between the blocks and e2e.
        const double left = budget_left(k) - 0.05 * 60.0 * j->minutes;
        k->block_seconds = j->block_share * (left > 0 ? left : 0);
        if (write_plan(k, err)) {
            model_free(&parent);
            model_free(&student);
            return -1;
        }
    }
    BlockSaver saver = {k, now_seconds(), s->seconds};
    const double left = k->block_seconds - s->seconds;  // (a spent budget: one epoch a block)
    BlockwiseOptions o = {.group = j->group, .keep_linear = j->keep_linear, .epochs = j->block_epochs,
                          .seconds = j->minutes > 0 ? fmax(left, 1) : 0,
                          .batch = j->block_batch, .lr = j->block_lr,
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

// The e2e job from `from` for steps steps into out (the stage's settings).
static void e2e_job(const Conv *k, const char *from, const char *out, long steps, TrainJob *t) {
    const ConvertJob *j = k->j;
    train_job_default(t);
    t->model_dir = from;
    t->teacher_dir = j->parent_dir;
    t->data_path = j->chat_prompts ? k->mix_path : j->data_path;
    t->out_dir = out;
    t->batch_size = j->e2e_batch;
    t->seq_len = j->e2e_seq;
    t->eval_every = 0;
    t->eval_tokens = 0;
    // A checkpoint (latent weights and AdamW state, 1.6 GB for SmolLM2)
    // takes seconds to write: a planned stage spaces them by time, else
    // a fifth of the run apart, at most 25 steps.
    t->checkpoint_every = k->e2e_every > 0 ? k->e2e_every : steps / 5 > 25 ? 25 : steps / 5 > 1 ? steps / 5 : 1;
    t->keep_last = 1;  // the stage resumes from its newest checkpoint only
    t->cfg.steps = steps;
    t->cfg.warmup = steps / 10;
    t->cfg.lr = j->e2e_lr;
    t->cfg.min_lr = j->e2e_lr / 20.0f;
    t->cfg.weight_decay = 0.0f;  // decay pulls latent weights into the dead zone
    t->cfg.group_size = j->group;
    t->cfg.scale = j->e2e_scale;  // either starts where the calibrated start is
    t->cfg.scale_lr_mult = j->e2e_scale_lr_mult;
    t->cfg.distill = 1;
    t->cfg.distill_alpha = 0.0f;
    t->cfg.distill_hidden = j->e2e_hidden;
    t->cfg.distill_reverse = j->e2e_reverse;
    t->cfg.keep_embedding = j->keep_embedding == QKEEP_BF16 ? KEEP_BF16 : KEEP_NONE;
    t->cfg.keep_linear = j->keep_linear;
    t->cfg.precision = j->precision;
    dist_init(&t->dist);
}

// A train.jsonl's elapsed_s: of steps 1..n into at[1..n] (at may be NULL),
// and of its last step line (0 when there is none or no file). elapsed_s
// carries over resumes, so the last one is the training time of every
// segment so far.
static double log_elapsed(const char *log, double *at, int n) {
    size_t len;
    char err[ERR_LEN];
    char *text = read_file(log, &len, err);
    double last = 0.0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *js = cJSON_Parse(line);
        const cJSON *st = cJSON_GetObjectItem(js, "step"), *el = cJSON_GetObjectItem(js, "elapsed_s");
        if (cJSON_IsNumber(st) && cJSON_IsNumber(el)) {
            last = el->valuedouble;
            if (at && st->valueint >= 1 && st->valueint <= n) at[st->valueint] = el->valuedouble;
        }
        cJSON_Delete(js);
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(text);
    return last;
}

// Seconds an e2e step takes here, and what writing a checkpoint adds: five
// steps of a probe run, thrown away. Step 1 is warm-up; a checkpoint is
// written after step 3, so step 4's time holds it (steps 2, 3 and 5 are
// plain ones).
static int probe_step_seconds(const Conv *k, const char *from, double *sec, double *ckpt, char *err) {
    char *dir = path_join(k->work, "e2e-probe"), *log = path_join(dir, "train.jsonl");
    TrainJob t;
    e2e_job(k, from, dir, 5, &t);
    t.checkpoint_every = 3;
    t.quiet = 1;
    int rc = train_run(&t, err);
    double e[6] = {0};
    if (rc == 0) log_elapsed(log, e, 5);
    if (rc == 0 && !(e[5] > e[4] && e[4] > e[3] && e[3] > e[1]))
        rc = set_err(err, "convert: the e2e probe's log %s has no step times", log);
    *sec = (e[3] - e[1] + e[5] - e[4]) / 3.0;
    *ckpt = e[4] - e[3] > *sec ? e[4] - e[3] - *sec : 0.0;
    // Its checkpoint (train_run keeps only the newest), then the run itself;
    // a checkpoint that will not go stops the loop rather than repeat it.
    for (char *c; (c = last_checkpoint(dir));) {
        const int gone = remove_dir_files(c) == 0;
        free(c);
        if (!gone) break;
    }
    remove_dir_files(dir);
    free(log);
    free(dir);
    return rc;
}

// The e2e steps a budget buys: what is left, less the final evaluations
// (the parent's and each stage's with a model; each scored token ~ a
// quarter of a trained one: a teacher and a student forward and the
// backward make a step) and the export (a fiftieth).
static int plan_e2e(Conv *k, const char *from, char *err) {
    const ConvertJob *j = k->j;
    double step, ckpt;
    if (probe_step_seconds(k, from, &step, &ckpt, err)) return -1;
    const double per_token = step / ((double)j->e2e_batch * j->e2e_seq);
    const double evals = j->block_seqs > 0 ? 4.0 : 3.0;  // parent, start, (blocks,) e2e
    const double eval_tokens = j->val_path ? evals * (j->eval_tokens ? (double)j->eval_tokens : 300000.0) : 0.0;
    const double left = budget_left(k) - eval_tokens * per_token / 4.0 - 0.02 * 60.0 * j->minutes;
    // A kill loses at most about five minutes of steps.
    k->e2e_every = step < 300.0 ? (long)(300.0 / step) : 1;
    k->e2e_steps = left > 0 ? (long)(left / (step + ckpt / (double)k->e2e_every)) : 0;
    fprintf(stderr, "convert: e2e: %.2f s a step here, %.1f s a checkpoint (every %ld steps); the budget leaves "
            "%.1f minutes: %ld steps\n", step, ckpt, k->e2e_every, left > 0 ? left / 60.0 : 0.0, k->e2e_steps);
    if (k->e2e_steps < 10)
        return set_err(err, "convert: --minutes %g leaves %.1f minutes for end-to-end training, fewer than 10 steps "
                       "of %.1f s; give it at least %.0f more minutes (the stages done are kept)", j->minutes,
                       left > 0 ? left / 60.0 : 0.0, step, (10.0 * step - left) / 60.0 + 1.0);
    return write_plan(k, err);
}

static int run_e2e(Conv *k, const char *from, char *err) {
    const ConvertJob *j = k->j;
    StageReport *s = &k->stage[ST_E2E];
    if (has_model(k->e2e_dir)) return 0;
    if (j->minutes > 0 && k->e2e_steps <= 0 && plan_e2e(k, from, err)) return -1;
    const long steps = j->minutes > 0 ? k->e2e_steps : j->e2e_steps;
    TrainJob t;
    e2e_job(k, from, k->e2e_dir, steps, &t);
    char *resume = last_checkpoint(k->e2e_dir);
    t.resume = resume;
    if (resume) fprintf(stderr, "convert: e2e: resuming from %s\n", resume);
    // A resumed stage: the segments before it trained for what their log
    // says (steps redone after the last checkpoint included).
    char *log = path_join(k->e2e_dir, "train.jsonl");
    const double before = resume ? log_elapsed(log, NULL, 0) : 0.0, t0 = now_seconds();
    const int rc = train_run(&t, err);
    free(resume);
    free(log);
    s->seconds += before + now_seconds() - t0;
    s->tokens = (size_t)steps * (size_t)j->e2e_batch * (size_t)j->e2e_seq;
    return rc ? -1 : write_stage_info(k, s, err);
}

// The student into DIR, checked exactly ternary (the kept tensors bf16), and DIR.gguf.
static int finish(Conv *k, const char *from, double *bpw, char *err) {
    const ConvertJob *j = k->j;
    Model m;
    if (model_load(&m, from, err)) return -1;
    int rc = 0;
    for (int i = 0; i < m.n_tensors && rc == 0; i++) {
        const TensorInfo *t = &m.tensors[i];
        TernaryCounts n = {0};
        const size_t nw = (size_t)t->rows * (size_t)t->cols;
        if (!t->matrix) continue;
        if ((j->keep_linear >> t->kind) & 1u || (tk_is_embedding(t->kind) && j->keep_embedding == QKEEP_BF16)) {
            if (!f32_all_bf16(m.params_memory + t->offset, nw))
                rc = set_err(err, "%s: %s is kept in bf16 but holds other values", from, t->name);
        } else if (ternary_verify(m.params_memory + t->offset, t->rows, t->cols, j->group, &n)) {
            rc = set_err(err, "%s: %s is not exactly ternary with groups of %d", from, t->name, j->group);
        }
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
        fprintf(stderr, "convert: wrote %s and %s%s%s (%.4f bits per weight, %d of %d tensors read back exactly)\n",
                j->out_dir, gguf, r.adapter_rank ? " with its adapters " : "", r.adapter_rank ? r.adapter_path : "",
                r.bits_per_weight, r.n_lossless, r.n_tensors);
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
    char kept[96];
    arch_linear_list(k->j->keep_linear, kept, sizeof kept);
    cJSON_AddStringToObject(root, "kept_bf16", kept);
    cJSON_AddNumberToObject(root, "adapter_rank", k->j->adapter_rank);
    cJSON_AddNumberToObject(root, "bits_per_weight", bpw);
    fprintf(stderr, "\nconvert: %-7s %12s %10s %9s\n", "stage", "perplexity", "tokens", "minutes");
    fprintf(stderr, "convert: %-7s %12.2f %10s %9s\n", "parent", parent_ppl, "-", "-");
    for (int i = 0; i < N_STAGES; i++) {
        const StageReport *s = &k->stage[i];
        if (!s->done) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stage", s->name);
        if (isfinite(s->ppl)) cJSON_AddNumberToObject(o, "ppl", s->ppl);
        cJSON_AddNumberToObject(o, "tokens", (double)s->tokens);
        cJSON_AddNumberToObject(o, "seconds", s->seconds);
        cJSON_AddItemToArray(stages, o);
        char ppl[32] = "-";
        if (isfinite(s->ppl)) snprintf(ppl, sizeof ppl, "%.2f", s->ppl);
        fprintf(stderr, "convert: %-7s %12s %10zu %9.1f\n", s->name, ppl, s->tokens, s->seconds / 60.0);
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

static void conv_free(Conv *k) {
    free(k->calib);
    if (k->tok) tokenizer_free(k->tok);
    free(k->plan_path);
    free(k->mix_path);
    free(k->chat_path);
    free(k->questions_path);
    free(k->e2e_dir);
    free(k->blocks_dir);
    free(k->start_dir);
    free(k->work);
}

int convert_run(const ConvertJob *j, char *err) {
    if (j->group <= 0 || j->seq_len < 2 || j->calib_tokens < (size_t)j->seq_len || j->block_seqs < 0 ||
        j->block_seqs == 1 || j->e2e_steps < 0 || j->block_batch < 1 || j->minutes < 0 || j->chat_tokens < 1 ||
        !(j->chat_share >= 0 && j->chat_share < 1) || !(j->block_share > 0 && j->block_share < 1))
        return set_err(err, "convert: the stages' sizes are out of range");
    if (j->adapter_rank && (j->keep_linear || j->block_seqs > 0))
        return set_err(err, "convert: --adapter-rank does not combine with --keep-linear or block-wise reconstruction "
                            "(--block-seqs)");
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
    Conv k = {.j = j, .t0 = now_seconds()};
    const StageReport names[N_STAGES] = {{.name = "start"}, {.name = "chat"}, {.name = "blocks"}, {.name = "e2e"}};
    memcpy(k.stage, names, sizeof names);
    k.work = xmalloc(strlen(j->out_dir) + 6);
    sprintf(k.work, "%s.work", j->out_dir);
    k.start_dir = path_join(k.work, "start");
    k.blocks_dir = path_join(k.work, "blocks");
    k.e2e_dir = path_join(k.work, "e2e");
    k.chat_path = path_join(k.work, "chat.tokens");
    k.questions_path = path_join(k.work, "questions.txt");
    k.mix_path = path_join(k.work, "e2e-text.tokens");
    k.plan_path = path_join(k.work, "plan.json");
    char how[32];
    quant_method_label(how, sizeof how, QUANT_GPTQ, j->balance, j->qep);
    quant_note(k.note, sizeof k.note, j->group, how, j->keep_embedding == QKEEP_BF16 ? "bf16" : NULL,
               j->keep_linear, j->adapter_rank, "trit convert");
    int rc = make_dir(k.work, err);
    for (int i = 0; i < N_STAGES; i++) {
        read_stage_info(&k, &k.stage[i]);  // what earlier runs spent
        k.spent_before += k.stage[i].seconds;
    }
    read_plan(&k);
    const size_t need = (size_t)j->block_seqs * j->seq_len > j->calib_tokens ? (size_t)j->block_seqs * j->seq_len
                                                                            : j->calib_tokens;
    if (rc == 0 && !(k.tok = tokenizer_load_for(NULL, j->parent_dir, err))) rc = -1;
    if (rc == 0) rc = read_calibration(&k, need, err);
    if (rc == 0) rc = run_start(&k, err);
    if (rc == 0 && j->chat_prompts && j->e2e_steps > 0) rc = run_chat(&k, err);
    const char *last = k.start_dir;
    if (rc == 0 && j->block_seqs > 0) {
        rc = run_blocks(&k, err);
        last = k.blocks_dir;
    }
    if (rc == 0 && j->e2e_steps > 0) {
        if (j->chat_prompts) rc = write_mix(&k, err);
        if (rc == 0) rc = run_e2e(&k, last, err);
        last = k.e2e_dir;
    }
    double bpw = 0.0;
    if (rc == 0) rc = finish(&k, last, &bpw, err);
    const char *dirs[N_STAGES] = {k.start_dir, NULL, j->block_seqs > 0 ? k.blocks_dir : NULL,
                                  j->e2e_steps > 0 ? k.e2e_dir : NULL};
    for (int i = 0; i < N_STAGES && rc == 0; i++) {
        read_stage_info(&k, &k.stage[i]);
        k.stage[i].ppl = NAN;
        if (dirs[i] && k.stage[i].done) rc = stage_ppl(&k, dirs[i], &k.stage[i], err);
    }
    StageReport parent = {.name = "parent"};
    if (rc == 0) rc = stage_ppl(&k, j->parent_dir, &parent, err);
    if (rc == 0) rc = write_report(&k, parent.ppl, bpw, err);
    conv_free(&k);
    return rc;
}
