// test_beam.c — beam search (infer/beam.c) against transformers'
// generate(num_beams=N) on the fixture models (tests/fixtures/beam, made by
// tools/reference/make_beam_fixtures.py): every returned sequence's ids
// equal, its score within 1e-4; num_beams 1 is transformers' greedy search,
// checked against trit's greedy decoding.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "infer/beam.h"
#include "infer/decode.h"
#include "model/model.h"
#include "collect.h"
#include "test.h"


static cJSON *read_json(const char *path) {
    char err[ERR_LEN];
    size_t len;
    char *s = read_file(path, &len, err);
    if (!s) return NULL;
    cJSON *j = cJSON_ParseWithLength(s, len);
    free(s);
    return j;
}

static int json_ints(const cJSON *a, int32_t *out, int max) {
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (n < max) out[n++] = (int32_t)e->valuedouble;
    return n;
}

static void check_beams(const char *model) {
    char path[512], err[ERR_LEN];
    snprintf(path, sizeof path, "tests/fixtures/beam/%s.json", model);
    cJSON *j = read_json(path);
    CHECK(j != NULL, "%s: missing or bad (run tools/reference/make_beam_fixtures.py)", path);
    if (!j) return;
    snprintf(path, sizeof path, "tests/fixtures/models/%s", model);
    Model m;
    if (model_load(&m, path, err)) { CHECK(0, "%s", err); cJSON_Delete(j); return; }
    ModelWeights w;
    weights_view(&w, &m, &m.params);
    int cases = 0, bad_ids = 0, bad_score = 0, with_eos = 0, by_n[9] = {0};
    double worst = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(j, "cases")) {
        int32_t prompt[64], eos[8];
        const int P = json_ints(cJSON_GetObjectItem(cs, "prompt"), prompt, 64);
        const int n_eos = json_ints(cJSON_GetObjectItem(cs, "eos"), eos, 8);
        const int N = cJSON_GetObjectItem(cs, "num_beams")->valueint;
        const cJSON *es = cJSON_GetObjectItem(cs, "early_stopping");
        const int early = cJSON_IsString(es) ? BEAM_EARLY_NEVER : cJSON_IsTrue(es) ? BEAM_EARLY_TRUE : BEAM_EARLY_FALSE;
        const long M = cJSON_GetObjectItem(cs, "max_new_tokens")->valueint;
        const cJSON *seqs = cJSON_GetObjectItem(cs, "sequences"), *scores = cJSON_GetObjectItem(cs, "scores");
        const int K = cJSON_GetArraySize(seqs);
        cases++;
        if (N <= 8) by_n[N]++;
        int32_t got_ids[512];
        int got_n[16] = {0}, got_eos[16] = {0};
        float got_score[16] = {0};
        if (N == 1) {  // transformers runs greedy search
            DecodeOptions o = {.max_tokens = M, .temperature = 0.0f, .top_p = 1.0f, .eos = eos, .n_eos = n_eos};
            Collect c = {0};
            DecodeStats st;
            decode_generate(&w, prompt, (size_t)P, &o, collect, &c, &st, err);
            memcpy(got_ids, c.ids, sizeof(int32_t) * (size_t)c.n);
            got_n[0] = c.n;
            got_eos[0] = !strcmp(st.stop, "eos");
        } else {
            BeamOptions bo = {.num_beams = N, .length_penalty = (float)cJSON_GetObjectItem(cs, "length_penalty")->valuedouble,
                              .early_stopping = early, .num_return = K, .max_tokens = M, .eos = eos, .n_eos = n_eos};
            BeamResult r;
            if (beam_search(&w, prompt, (size_t)P, &bo, &r, err)) { CHECK(0, "%s: %s", model, err); continue; }
            for (int i = 0; i < r.n_hyp && i < 16; i++) {
                memcpy(got_ids + 32 * i, r.hyp[i].ids, sizeof(int32_t) * (size_t)r.hyp[i].n);
                got_n[i] = r.hyp[i].n;
                got_eos[i] = r.hyp[i].eos;
                got_score[i] = r.hyp[i].score;
            }
            beam_result_free(&r);
        }
        for (int i = 0; i < K && i < 16; i++) {
            int32_t want[64];
            int wn = json_ints(cJSON_GetArrayItem(seqs, i), want, 64);
            int weos = 0;
            for (int e = 0; e < n_eos && wn > 0; e++) weos |= want[wn - 1] == eos[e];
            wn -= weos;
            with_eos += weos;
            const int32_t *g = N == 1 ? got_ids : got_ids + 32 * i;
            if (wn != got_n[i] || weos != got_eos[i] || memcmp(want, g, sizeof(int32_t) * (size_t)wn)) {
                if (bad_ids < 3)
                    fprintf(stderr, "  %s case %d (N %d) seq %d: %d ids (eos %d) vs transformers %d (eos %d)\n", model,
                            cases - 1, N, i, got_n[i], got_eos[i], wn, weos);
                bad_ids++;
            }
            if (N > 1) {
                const double e = fabs((double)got_score[i] - cJSON_GetArrayItem(scores, i)->valuedouble);
                worst = e > worst ? e : worst;
                bad_score += !(e <= 1e-4);
            }
        }
    }
    CHECK(cases >= 16 && by_n[1] && by_n[2] && by_n[4] && by_n[8], "%s: %d cases", model, cases);
    CHECK(with_eos > 0, "%s: no case reaches EOS", model);
    CHECK(bad_ids == 0, "%s: %d returned sequences differ from transformers'", model, bad_ids);
    CHECK(bad_score == 0, "%s: %d sequence scores off by more than 1e-4 (worst %.2e)", model, bad_score, worst);
    printf("%s: %d beam cases equal transformers' (worst score diff %.1e)\n", model, cases, worst);
    cJSON_Delete(j);
    weights_free(&w);
    model_free(&m);
}

int main(void) {
    static const char *const models[] = {"tiny_tied_fp32", "tiny_untied_bf16", "llama_tied_fp32",
                                         "llama_untied_bf16_rope3"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) check_beams(models[i]);
    return test_finish("test_beam");
}
