// test_train_run.c — a whole `trit train` run on a tiny model with the real
// Qwen3 tokenizer and WikiText-2 text: the run is repeatable, resuming from a
// checkpoint ends byte-identical to the uninterrupted run, the saved model is
// exactly ternary, and bad input is refused with a clear message.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/safetensors.h"
#include "model/model.h"
#include "quant/ternary.h"
#include <omp.h>

#include "base/util.h"
#include "kernels/gemm_bf16.h"
#include "test.h"
#include "train/train_run.h"

static char root[256];

static char *tmp_path(const char *name) { return path_join(root, name); }

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char err[ERR_LEN];
    char *x = read_file(a, &la, err), *y = read_file(b, &lb, err);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void write_text(const char *path, const char *src, size_t max_bytes) {
    size_t len;
    char err[ERR_LEN];
    char *text = read_file(src, &len, err);
    CHECK(text != NULL, "%s", err);
    if (!text) return;
    CHECK(write_file_atomic(path, text, len < max_bytes ? len : max_bytes, err) == 0, "%s", err);
    free(text);
}

// A Qwen3 small enough to train in a blink, with the real vocabulary.
static void make_model(const char *dir, const char *tokenizer, int F) {
    ModelConfig c = {.vocab_size = 151936, .hidden_size = 32, .intermediate_size = F, .num_hidden_layers = 2,
                     .num_attention_heads = 2, .num_key_value_heads = 1, .head_dim = 16, .rms_norm_eps = 1e-6f,
                     .rope_theta = 1e6, .tie_word_embeddings = 1, .max_position_embeddings = 128,
                     .bos_token_id = 151643, .eos_token_id = 151645, .torch_dtype = "float32"};
    Model m;
    char err[ERR_LEN];
    CHECK(model_alloc(&m, &c, err) == 0, "%s", err);
    model_init_random(&m, 5);
    CHECK(model_save(&m, dir, NULL, err) == 0, "%s", err);
    char *dst = path_join(dir, "tokenizer.json");
    write_text(dst, tokenizer, (size_t)-1);
    free(dst);
    model_free(&m);
}

static TrainJob job(const char *model, const char *data, const char *val, const char *out) {
    TrainJob j;
    train_job_default(&j);
    j.model_dir = model;
    j.data_path = data;
    j.val_path = val;
    j.out_dir = out;
    j.cfg.steps = 8;
    j.cfg.warmup = 2;
    j.cfg.lr = 3e-3f;
    j.cfg.min_lr = 3e-4f;
    j.cfg.group_size = 32;
    j.batch_size = 2;
    j.seq_len = 24;
    j.eval_every = 4;
    j.eval_tokens = 200;
    j.checkpoint_every = 3;
    j.seed = 11;
    j.quiet = 1;
    return j;
}

// The elapsed_s of step `step`'s training line in the log at path (-1 if
// none), and in *lines how many training lines that step has.
static double log_elapsed(const char *path, long step, int *lines) {
    size_t len;
    char err[ERR_LEN], key[48];
    char *text = read_file(path, &len, err);
    double e = -1;
    *lines = 0;
    snprintf(key, sizeof key, "{\"step\":%ld,\"loss\":", step);
    for (char *l = text ? strtok(text, "\n") : NULL; l; l = strtok(NULL, "\n")) {
        const char *at = strstr(l, "\"elapsed_s\":");
        if (strncmp(l, key, strlen(key)) == 0 && at) {
            (*lines)++;
            e = atof(at + strlen("\"elapsed_s\":"));
        }
    }
    free(text);
    return e;
}

// Runs j again from checkpoint ckpt into out on `threads` threads; 1 when
// its model is byte for byte the uninterrupted run's (model_path).
static int resumes_same(TrainJob j, const char *ckpt, const char *out, int threads, const char *model_path) {
    char err[ERR_LEN];
    j.out_dir = out;
    j.resume = ckpt;
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    const int rc = train_run(&j, err);
    omp_set_num_threads(before);
    CHECK(rc == 0, "resumed run into %s: %s", out, err);
    char *m = path_join(out, "model.safetensors");
    const int same = rc == 0 && same_file(m, model_path);
    free(m);
    return same;
}

int main(void) {
    const char *data = test_data_dir("test_train_run");
    if (!data) return test_finish("test_train_run");
    snprintf(root, sizeof root, "/tmp/trit_test_train_XXXXXX");
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    char src[1024], err[ERR_LEN];
    char *model = tmp_path("model"), *train = tmp_path("train.txt"), *val = tmp_path("val.txt");
    snprintf(src, sizeof src, "%s/qwen3-tokenizer/tokenizer.json", data);
    make_model(model, src, 64);
    snprintf(src, sizeof src, "%s/wikitext-2/train.txt", data);
    write_text(train, src, 40000);
    snprintf(src, sizeof src, "%s/wikitext-2/valid.txt", data);
    write_text(val, src, 8000);

    // The uninterrupted run, and the same run again: identical bytes.
    char *a = tmp_path("a"), *b = tmp_path("b"), *c = tmp_path("c");
    TrainJob ja = job(model, train, val, a), jb = job(model, train, val, b);
    CHECK(train_run(&ja, err) == 0, "run a: %s", err);
    CHECK(train_run(&jb, err) == 0, "run b: %s", err);
    char *ma = path_join(a, "model.safetensors"), *mb = path_join(b, "model.safetensors");
    CHECK(same_file(ma, mb), "two runs with the same seed differ");

    // Resume from step 3 into another directory: byte-identical at the end.
    TrainJob jc = job(model, train, val, c);
    char *ck = path_join(a, "ckpt-3"), *mc = path_join(c, "model.safetensors");
    jc.resume = ck;
    CHECK(train_run(&jc, err) == 0, "resumed run: %s", err);
    CHECK(same_file(ma, mc), "the resumed run's model differs from the uninterrupted run's");
    char *sa = path_join(a, "ckpt-8/state.bin"), *sc = path_join(c, "ckpt-8/state.bin");
    CHECK(same_file(sa, sc), "the resumed run's final optimizer state differs");

    // Resume into the run's own directory, whose log got past the checkpoint:
    // the lines after step 3 go, and the training clock goes on from the
    // kept step 3's (set to 1000 s here) instead of restarting at 0.
    char *r = tmp_path("r"), *rlog = path_join(r, "train.jsonl");
    CHECK(make_dir(r, err) == 0, "%s", err);
    const char *fake = "{\"step\":3,\"loss\":1,\"grad_norm\":1,\"lr\":1,\"tokens_per_s\":1,\"elapsed_s\":1000.00}\n"
                       "{\"step\":5,\"loss\":1,\"grad_norm\":1,\"lr\":1,\"tokens_per_s\":1,\"elapsed_s\":2000.00}\n";
    CHECK(write_file_atomic(rlog, fake, strlen(fake), err) == 0, "%s", err);
    CHECK(resumes_same(job(model, train, val, r), ck, r, omp_get_max_threads(), ma),
          "the run resumed into its own directory differs from the uninterrupted run's");
    int n4, n5;
    const double e4 = log_elapsed(rlog, 4, &n4), e5 = log_elapsed(rlog, 5, &n5);
    CHECK(n4 == 1 && e4 >= 1000 && e4 < 1900, "resumed log: step 4 has %d lines, elapsed_s %g (want one, from 1000)",
          n4, e4);
    CHECK(n5 == 1 && e5 >= e4 && e5 < 2000, "resumed log: step 5 has %d lines, elapsed_s %g (the old line must go)",
          n5, e5);
    free(r);
    free(rlog);

    // The saved model is exactly ternary with one scale per group of 32.
    Model m;
    CHECK(model_load(&m, a, err) == 0, "%s", err);
    TernaryCounts tc = {0};
    int bad = 0;
    for (int i = 0; i < m.n_tensors; i++)
        if (m.tensors[i].matrix)
            bad += ternary_verify(m.params_memory + m.tensors[i].offset, m.tensors[i].rows, m.tensors[i].cols, 32,
                                  &tc) != 0;
    CHECK(bad == 0 && tc.neg > 0 && tc.zero > 0 && tc.pos > 0, "saved weights not ternary (%d bad tensors)", bad);
    model_free(&m);
    char *log = path_join(a, "train.jsonl"), *svg = path_join(a, "train.svg");
    CHECK(file_exists(log) && file_exists(svg), "log or picture missing");

    // Bad input: each refused with a message, nothing written over.
    TrainJob jd = job(model, train, val, c);
    jd.cfg.group_size = 48;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "does not divide"), "group 48 accepted: %s", err);
    jd = job(model, train, val, c);
    jd.seq_len = 129;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "max_position_embeddings"), "seq-len 129 accepted: %s", err);
    jd = job(model, train, val, c);
    jd.batch_size = 0;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "batch-size"), "batch 0 accepted: %s", err);
    char *tiny = tmp_path("tiny.txt");
    CHECK(write_file_atomic(tiny, "a few words", 11, err) == 0, "%s", err);
    jd = job(model, tiny, val, c);
    CHECK(train_run(&jd, err) != 0 && strstr(err, "fewer than one window"), "short data accepted: %s", err);
    jd = job(model, train, val, c);
    jd.resume = ck;
    jd.cfg.lr = 1e-2f;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "another recipe"), "resume with other flags: %s", err);
    jd = job(model, train, val, c);
    jd.resume = model;  // not a checkpoint
    CHECK(train_run(&jd, err) != 0 && strstr(err, "state.bin"), "resume from a model dir: %s", err);
    // A checkpoint of another model, or made with another tokenizer.
    char *other = tmp_path("other");
    snprintf(src, sizeof src, "%s/qwen3-tokenizer/tokenizer.json", data);
    make_model(other, src, 96);
    jd = job(other, train, val, c);
    jd.resume = ck;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "another model"), "checkpoint of another model: %s", err);
    size_t tlen;
    char *tj = read_file(src, &tlen, err), *tok2 = tmp_path("tokenizer2.json");
    tj = tj ? xrealloc(tj, tlen + 1) : NULL;
    if (tj) tj[tlen] = '\n';  // the same tokens, other bytes: another hash
    CHECK(tj && write_file_atomic(tok2, tj, tlen + 1, err) == 0, "%s", err);
    free(tj);
    jd = job(model, train, val, c);
    jd.resume = ck;
    jd.tokenizer_path = tok2;
    CHECK(train_run(&jd, err) != 0 && strstr(err, "another tokenizer"), "checkpoint with another tokenizer: %s", err);
    free(other);
    free(tok2);

    // A diverging run stops at the first non-finite loss and keeps its checkpoints.
    jd = job(model, train, val, c);
    jd.cfg.lr = 1e30f;
    jd.cfg.min_lr = 1e30f;
    jd.cfg.clip = 0;
    int rc = train_run(&jd, err);
    CHECK(rc != 0 && strstr(err, "not finite") && strstr(err, "last good checkpoint"), "divergence: %s", err);
    CHECK(same_file(mc, ma), "a failed run damaged the finished model in its directory");

    // Distillation (with a ramp and a kept bf16 embedding): a resumed run is
    // byte-identical to the uninterrupted one; the checkpoint knows its teacher.
    char *d1 = tmp_path("d1"), *d2 = tmp_path("d2"), *dck = path_join(d1, "ckpt-3");
    char *dm1 = path_join(d1, "model.safetensors");
    TrainJob je = job(model, train, val, d1);
    je.cfg.distill = 1;
    je.cfg.distill_alpha = 0.25f;
    je.cfg.distill_temp = 1.5f;
    je.cfg.quant_ramp = 4;
    je.cfg.keep_embedding = KEEP_BF16;
    CHECK(train_run(&je, err) == 0, "distillation run: %s", err);
    CHECK(!same_file(dm1, ma), "distillation changed nothing");
    CHECK(resumes_same(je, dck, d2, omp_get_max_threads(), dm1),
          "the resumed distillation run's model differs from the uninterrupted run's");
    TrainJob jf = je;
    jf.out_dir = d2;
    jf.resume = dck;
    char *other_t = tmp_path("other_teacher");
    snprintf(src, sizeof src, "%s/qwen3-tokenizer/tokenizer.json", data);
    make_model(other_t, src, 96);
    jf.teacher_dir = other_t;
    CHECK(train_run(&jf, err) != 0 && strstr(err, "another teacher"), "resume with another teacher: %s", err);
    jf = je;
    jf.out_dir = d2;
    jf.resume = ck;  // a checkpoint without distillation
    CHECK(train_run(&jf, err) != 0 && strstr(err, "another recipe"), "distilling from a plain checkpoint: %s", err);

    // Learned scales: the checkpoint carries them and their moments, so a
    // resumed run is byte-identical; the model it writes is exactly ternary;
    // other scale flags do not resume it; with a ramp it is refused.
    char *l1 = tmp_path("l1"), *l2 = tmp_path("l2"), *lck = path_join(l1, "ckpt-3");
    char *lm1 = path_join(l1, "model.safetensors");
    TrainJob jl = je;
    jl.out_dir = l1;
    jl.cfg.quant_ramp = 0;
    jl.cfg.scale = SCALE_LEARNED;
    jl.cfg.scale_lr_mult = 2.0f;
    CHECK(train_run(&jl, err) == 0, "learned-scale run: %s", err);
    CHECK(!same_file(lm1, dm1), "learned scales changed nothing");
    CHECK(resumes_same(jl, lck, l2, omp_get_max_threads(), lm1),
          "the resumed learned-scale run's model differs from the uninterrupted run's");
    {
        Model lm;
        TernaryCounts cnt = {0};
        CHECK(model_load(&lm, l1, err) == 0, "%s", err);
        for (int i = 0; i < lm.n_tensors; i++)
            if (lm.tensors[i].matrix && !tk_is_embedding(lm.tensors[i].kind))
                CHECK(ternary_verify(lm.params_memory + lm.tensors[i].offset, lm.tensors[i].rows, lm.tensors[i].cols,
                                     32, &cnt) == 0, "%s is not t*s after learned scales", lm.tensors[i].name);
        model_free(&lm);
    }
    TrainJob jm = jl;
    jm.out_dir = l2;
    jm.resume = lck;
    jm.cfg.scale_lr_mult = 1.0f;
    CHECK(train_run(&jm, err) != 0 && strstr(err, "another recipe"), "learned scales resumed at another rate: %s", err);
    jm.cfg.scale = SCALE_MSE;
    CHECK(train_run(&jm, err) != 0 && strstr(err, "another recipe"), "learned scales resumed as mse: %s", err);
    jm = jl;
    jm.out_dir = l2;
    jm.cfg.quant_ramp = 2;
    CHECK(train_run(&jm, err) != 0 && strstr(err, "--scale learned"), "learned scales with a ramp: %s", err);

    // --keep-linear v_proj: v_proj trained in bf16 (bf16 values, not t*s),
    // every other linear exactly ternary, the kinds in the note; its
    // checkpoint does not resume without the flag.
    char *k1 = tmp_path("k1"), *kck = path_join(k1, "ckpt-3");
    TrainJob jk = jl;
    jk.out_dir = k1;
    jk.cfg.keep_linear = 1u << TK_WV;
    CHECK(train_run(&jk, err) == 0, "--keep-linear run: %s", err);
    {
        Model km;
        int kept_ok = 1, other_ok = 1;
        CHECK(model_load(&km, k1, err) == 0, "%s", err);
        for (int i = 0; i < km.n_tensors; i++) {
            const TensorInfo *t = &km.tensors[i];
            if (!t->matrix || tk_is_embedding(t->kind)) continue;
            TernaryCounts cnt = {0};
            const int tern = ternary_verify(km.params_memory + t->offset, t->rows, t->cols, 32, &cnt) == 0;
            const size_t nw = (size_t)t->rows * (size_t)t->cols;
            if (t->kind == TK_WV) kept_ok &= !tern && f32_all_bf16(km.params_memory + t->offset, nw);
            else other_ok &= tern;
        }
        CHECK(kept_ok && other_ok, "--keep-linear v_proj: kept %d, the rest ternary %d", kept_ok, other_ok);
        model_free(&km);
        char *cfg = path_join(k1, "config.json");
        size_t len;
        char *text = read_file(cfg, &len, err);
        CHECK(text && strstr(text, ", kept bf16 v_proj: every linear layer but v_proj is t*s"), "note: %s",
              text ? text : err);
        free(text);
        free(cfg);
    }
    jm = jk;
    jm.out_dir = l2;
    jm.resume = kck;
    jm.cfg.keep_linear = 0;
    CHECK(train_run(&jm, err) != 0 && strstr(err, "another recipe"), "kept v_proj resumed without it: %s", err);
    free(k1); free(kck);
    free(l1); free(l2); free(lck); free(lm1);

    // --precision bf16, distilled: the resumed run, on one thread instead of
    // two, is byte-identical to the uninterrupted one; not the fp32 run; a
    // bf16 checkpoint does not resume as fp32.
    // Where this CPU has no bf16 product, the run stops with that message.
    char *h1 = tmp_path("h1");
    TrainJob jh = je;
    jh.out_dir = h1;
    jh.cfg.precision = PREC_BF16;
    if (gemm_bf16_check(err) == GEMM_BF16_UNSUPPORTED) {
        fprintf(stderr, "SKIP test_train_run bf16 resume: %s\n", err);
        CHECK(train_run(&jh, err) != 0 && strstr(err, "use --precision fp32"), "bf16 on a CPU without it: %s", err);
    } else {
        char *h2 = tmp_path("h2"), *hck = path_join(h1, "ckpt-3"), *hm1 = path_join(h1, "model.safetensors");
        CHECK(train_run(&jh, err) == 0, "bf16 run: %s", err);
        CHECK(!same_file(hm1, dm1), "bf16 training gave the fp32 run's model bit for bit");
        CHECK(resumes_same(jh, hck, h2, 1, hm1), "the resumed bf16 run (1 thread) differs from the uninterrupted one");
        TrainJob ji = jh;
        ji.out_dir = h2;
        ji.resume = hck;
        ji.cfg.precision = PREC_FP32;
        CHECK(train_run(&ji, err) != 0 && strstr(err, "precision bf16"), "bf16 checkpoint resumed as fp32: %s", err);
        free(h2); free(hck); free(hm1);
    }
    free(h1);
    free(d1); free(d2); free(dck); free(dm1); free(other_t);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0, "cleanup");
    free(model); free(train); free(val); free(a); free(b); free(c); free(ma); free(mb); free(mc); free(ck);
    free(sa); free(sc); free(log); free(svg); free(tiny);
    return test_finish("test_train_run");
}
