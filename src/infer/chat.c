// chat.c — see chat.h.
#include "infer/chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "base/util.h"

int chat_template_load(const char *model_dir, char **tmpl, char *err) {
    *tmpl = NULL;
    char *path = path_join(model_dir, "tokenizer_config.json");
    if (!file_exists(path)) {
        free(path);
        return 0;
    }
    size_t len;
    char *text = read_file(path, &len, err);
    int rc = 0;
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (!text) {
        rc = -1;
    } else if (!cJSON_IsObject(root)) {
        rc = set_err(err, "%s: not a JSON object", path);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "chat_template"), *e;
        if (cJSON_IsArray(t)) {  // [{"name": "default", "template": "..."}, ...]
            const cJSON *found = NULL;
            cJSON_ArrayForEach(e, t) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
                if (cJSON_IsString(n) && !strcmp(n->valuestring, "default"))
                    found = cJSON_GetObjectItemCaseSensitive(e, "template");
            }
            t = found;
        }
        if (cJSON_IsString(t)) *tmpl = xstrdup(t->valuestring);
        else if (t && !cJSON_IsNull(t)) rc = set_err(err, "%s: \"chat_template\" must be a string", path);
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

// The default system message of a ChatML template: the literal
// '<|im_start|>system\n...<|im_end|>' it emits when messages[0] is not a
// system message. Returns a malloc'd copy of the message text with the
// template's \n escapes resolved, or NULL when there is none.
static char *default_system(const char *tmpl) {
    if (!strstr(tmpl, "!= 'system'") && !strstr(tmpl, "!= \"system\"")) return NULL;
    const char *p = strstr(tmpl, "<|im_start|>system");
    if (!p) return NULL;
    p += strlen("<|im_start|>system");
    if (p[0] == '\\' && p[1] == 'n') p += 2;
    else if (p[0] == '\n') p += 1;
    else return NULL;
    const char *end = strstr(p, "<|im_end|>");
    if (!end) return NULL;
    // A Jinja expression inside the message means it is not a literal.
    for (const char *q = p; q < end; q++)
        if (*q == '\'' || *q == '"' || (q[0] == '{' && (q[1] == '{' || q[1] == '%'))) return NULL;
    char *out = xmalloc((size_t)(end - p) + 1);
    size_t k = 0;
    for (const char *q = p; q < end; q++) {
        if (q[0] == '\\' && q + 1 < end && q[1] == 'n') { out[k++] = '\n'; q++; }
        else out[k++] = *q;
    }
    out[k] = 0;
    return out;
}

// An assistant turn as a template that keeps no reasoning in the history
// renders it: the text after the last </think>, leading newlines dropped
// (Qwen3's rule for earlier turns).
static const char *history_content(const char *tmpl, const char *role, const char *content) {
    if (!tmpl || strcmp(role, "assistant") || !strstr(tmpl, "reasoning_content")) return content;
    const char *p = content, *q;
    while ((q = strstr(p, "</think>"))) p = q + strlen("</think>");
    if (p == content) return content;
    while (*p == '\n') p++;
    return p;
}

char *chat_format_messages(const char *tmpl, const Tokenizer *tok, const ChatMessage *m, int n, char *err) {
    if (tokenizer_token_id(tok, "<|im_start|>") < 0 || tokenizer_token_id(tok, "<|im_end|>") < 0) {
        set_err(err, "chat: the tokenizer has no <|im_start|>/<|im_end|> tokens; trit applies ChatML chat "
                "templates only");
        return NULL;
    }
    if (tmpl && (!strstr(tmpl, "<|im_start|>") || !strstr(tmpl, "<|im_end|>"))) {
        set_err(err, "chat: the model's chat template is not ChatML (<|im_start|>role ... <|im_end|>); trit "
                "cannot apply it (it does not run Jinja)");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant")) {
            set_err(err, "chat: message %d has role '%s'; trit renders system, user and assistant messages", i,
                    m[i].role);
            return NULL;
        }
    Buf b = {0};
    char *system = tmpl && (n == 0 || strcmp(m[0].role, "system")) ? default_system(tmpl) : NULL;
    if (system) buf_printf(&b, "<|im_start|>system\n%s<|im_end|>\n", system);
    free(system);
    for (int i = 0; i < n; i++)
        buf_printf(&b, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, history_content(tmpl, m[i].role, m[i].content));
    buf_puts(&b, "<|im_start|>assistant\n");
    return b.s;
}

char *chat_format(const char *tmpl, const Tokenizer *tok, const char *user_message, char *err) {
    const ChatMessage m = {"user", user_message};
    return chat_format_messages(tmpl, tok, &m, 1, err);
}

char *chat_user_prefix(const char *tmpl, const Tokenizer *tok, char *err) {
    char *s = chat_format(tmpl, tok, "", err);
    if (!s) return NULL;
    // The empty message's turn is the last "<|im_start|>user\n" and what
    // follows it; everything before belongs to the prefix.
    const char *open = "<|im_start|>user\n";
    char *last = NULL;
    for (char *p = s; (p = strstr(p, open)); p++) last = p;
    last[strlen(open)] = 0;
    return s;
}

void chat_prompts_append(ChatPrompts *dst, ChatPrompts *src) {
    dst->ids = xrealloc(dst->ids, sizeof *dst->ids * (size_t)(dst->n + src->n));
    dst->lens = xrealloc(dst->lens, sizeof *dst->lens * (size_t)(dst->n + src->n));
    memcpy(dst->ids + dst->n, src->ids, sizeof *src->ids * (size_t)src->n);
    memcpy(dst->lens + dst->n, src->lens, sizeof *src->lens * (size_t)src->n);
    dst->n += src->n;
    free(src->ids);
    free(src->lens);
    memset(src, 0, sizeof *src);
}

void chat_prompts_free(ChatPrompts *p) {
    for (int i = 0; i < p->n; i++) free(p->ids[i]);
    free(p->ids);
    free(p->lens);
    memset(p, 0, sizeof *p);
}

int chat_prompts_load(ChatPrompts *p, const char *path, const char *tmpl, Tokenizer *tok, char *err) {
    memset(p, 0, sizeof *p);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    int rc = 0, cap = 0, line = 0;
    for (char *s = text, *next; rc == 0 && s < text + len; s = next) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        next = nl ? nl + 1 : text + len;
        line++;
        size_t n = strcspn(s, "\t\r\n");
        if (n == 0 || s[0] == '#') continue;
        s[n] = 0;
        const char *why;
        const size_t ok = utf8_check((const uint8_t *)s, n, &why);
        if (ok < n) {
            rc = set_err(err, "%s:%d: invalid UTF-8 at byte %zu of the line (%s)", path, line, ok + 1, why);
            break;
        }
        char *msg = chat_format(tmpl, tok, s, err);
        size_t m = 0;
        int32_t *ids = NULL;
        rc = msg ? tokenizer_encode(tok, msg, strlen(msg), &ids, &m, err) : -1;
        free(msg);
        if (rc) {
            char inner[ERR_LEN];
            snprintf(inner, sizeof inner, "%s", err);
            set_err(err, "%s:%d: %s", path, line, inner);
        }
        if (rc == 0 && m > (size_t)1 << 20) rc = set_err(err, "%s:%d: the prompt is too long", path, line);
        if (rc) {
            free(ids);
            break;
        }
        if (p->n == cap) {
            cap = cap ? 2 * cap : 64;
            p->ids = xrealloc(p->ids, sizeof *p->ids * (size_t)cap);
            p->lens = xrealloc(p->lens, sizeof *p->lens * (size_t)cap);
        }
        p->ids[p->n] = ids;
        p->lens[p->n++] = (int)m;
    }
    free(text);
    if (rc == 0 && p->n == 0) rc = set_err(err, "%s: no prompts (one user message a line)", path);
    if (rc) chat_prompts_free(p);
    return rc;
}
