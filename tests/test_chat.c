// test_chat.c — chat templates: chat_format and chat_format_messages against jinja2's rendering of
// the real Qwen3 and SmolLM2 templates (tests/fixtures/chat, written by
// tools/reference/make_chat_fixtures.py), tokenizer_config.json loading, and
// templates trit refuses.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "infer/chat.h"
#include "test.h"
#include "tok/tokenizer.h"

#define FIX "tests/fixtures/chat"
// (The literal is split to end the \xaf escape; the parentheses say so.)
static const char *messages[3] = {"What is the capital of France?", ("Line one\nline two, \xc3\xbcn\xc3\xaf" "code \xe2\x9c\x93"), ""};

// tools/reference/make_chat_fixtures.py's CONVERSATIONS.
static const ChatMessage conv0[] = {{"system", "You answer in one word."}, {"user", "Capital of Italy?"}};
static const ChatMessage conv1[] = {{"user", "Hi!"}, {"assistant", "Hello! How can I help?"}, {"user", "Name a colour."}};
static const ChatMessage conv2[] = {{"user", "2+2?"}, {"assistant", "<think>\nadd them\n</think>\n\n4"}, {"user", "And 3+3?"}};
static const ChatMessage conv3[] = {{"system", "Be brief."}, {"user", "a"}, {"assistant", "b"}, {"user", "c"}};
static const struct { const ChatMessage *m; int n; } convs[] = {{conv0, 2}, {conv1, 3}, {conv2, 3}, {conv3, 4}};

static void check_template(const Tokenizer *tok, const char *name) {
    char path[256], err[ERR_LEN];
    size_t len;
    snprintf(path, sizeof path, FIX "/%s.template", name);
    char *tmpl = read_file(path, &len, err);
    CHECK(tmpl != NULL, "%s", err);
    if (!tmpl) return;
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, FIX "/%s.%d.expected", name, k);
        char *want = read_file(path, &len, err);
        char *got = chat_format(tmpl, tok, messages[k], err);
        CHECK(want && got && !strcmp(want, got), "%s message %d: got '%s', jinja2 gives '%s' (%s)", name, k,
              got ? got : "(null)", want ? want : "(null)", err);
        free(want);
        free(got);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, FIX "/%s.conv%d.expected", name, k);
        char *want = read_file(path, &len, err);
        char *got = chat_format_messages(tmpl, tok, convs[k].m, convs[k].n, err);
        CHECK(want && got && !strcmp(want, got), "%s conversation %d: got '%s', jinja2 gives '%s' (%s)", name, k,
              got ? got : "(null)", want ? want : "(null)", err);
        free(want);
        free(got);
    }
    // The user turn's opening: message 0's rendering is it, the message, and
    // the turn's end with the assistant's turn opened.
    snprintf(path, sizeof path, FIX "/%s.0.expected", name);
    char *want = read_file(path, &len, err), *prefix = chat_user_prefix(tmpl, tok, err);
    const char *tail = "<|im_end|>\n<|im_start|>assistant\n";
    CHECK(want && prefix && strlen(want) == strlen(prefix) + strlen(messages[0]) + strlen(tail) &&
              !strncmp(want, prefix, strlen(prefix)) && !strncmp(want + strlen(prefix), messages[0], strlen(messages[0])) &&
              !strcmp(want + strlen(prefix) + strlen(messages[0]), tail),
          "%s user prefix: got '%s', jinja2's rendering is '%s' (%s)", name, prefix ? prefix : "(null)",
          want ? want : "(null)", err);
    free(want);
    free(prefix);
    free(tmpl);
}

int main(void) {
    char err[ERR_LEN], path[4096];
    const char *data = test_data_dir("test_chat");
    if (!data) return test_finish("test_chat");
    snprintf(path, sizeof path, "%s/qwen3-tokenizer/tokenizer.json", data);
    Tokenizer *tok = tokenizer_load(path, err);
    CHECK(tok != NULL, "%s", err);
    if (!tok) return test_finish("test_chat");
    check_template(tok, "qwen3");
    check_template(tok, "smollm2");

    // tokenizer_config.json: the real Qwen3 one, none, and malformed ones.
    char *tmpl = NULL;
    snprintf(path, sizeof path, "%s/qwen3-tokenizer", data);
    CHECK(chat_template_load(path, &tmpl, err) == 0 && tmpl && strstr(tmpl, "<|im_start|>"), "qwen3 template: %s", err);
    free(tmpl);
    char dir[] = "/tmp/trit_test_chat_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(chat_template_load(dir, &tmpl, err) == 0 && tmpl == NULL, "no tokenizer_config.json: no template");
    char *cfg = path_join(dir, "tokenizer_config.json");
    static const struct { const char *json, *needle; } bad[] = {
        {"[1]", "not a JSON object"}, {"{\"chat_template\": 5}", "must be a string"}, {"{", "not a JSON object"}};
    for (int i = 0; i < 3; i++) {
        CHECK(write_file_atomic(cfg, bad[i].json, strlen(bad[i].json), err) == 0, "%s", err);
        CHECK(chat_template_load(dir, &tmpl, err) == -1 && strstr(err, bad[i].needle), "bad config %d: %s", i, err);
    }
    const char *named = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                        "{\"name\": \"default\", \"template\": \"<|im_start|>{{ m }}<|im_end|>\"}]}";
    CHECK(write_file_atomic(cfg, named, strlen(named), err) == 0, "%s", err);
    CHECK(chat_template_load(dir, &tmpl, err) == 0 && tmpl && !strcmp(tmpl, "<|im_start|>{{ m }}<|im_end|>"),
          "named templates: the default one");
    free(tmpl);
    unlink(cfg);
    rmdir(dir);
    free(cfg);

    // No template: plain ChatML. A template that is not ChatML is refused.
    char *s = chat_format(NULL, tok, "hi", err);
    CHECK(s && !strcmp(s, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"), "plain ChatML: %s", s);
    free(s);
    s = chat_user_prefix(NULL, tok, err);
    CHECK(s && !strcmp(s, "<|im_start|>user\n"), "plain ChatML user prefix: %s", s);
    free(s);
    const char *llama3 = "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}";
    CHECK(chat_format(llama3, tok, "hi", err) == NULL && strstr(err, "not ChatML"), "llama3 template: %s", err);
    const ChatMessage tool[] = {{"user", "hi"}, {"tool", "{}"}};
    CHECK(chat_format_messages(NULL, tok, tool, 2, err) == NULL && strstr(err, "role 'tool'"), "tool role: %s", err);
    tokenizer_free(tok);
    return test_finish("test_chat");
}
