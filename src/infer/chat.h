// chat.h — a conversation in the model's own chat template.
//
// trit does not run Jinja. It recognises ChatML templates (Qwen3, SmolLM2,
// and the many models that use <|im_start|>role\n...<|im_end|>), including a
// default system message that the template inserts when the conversation has
// none (SmolLM2's "You are a helpful AI assistant named SmolLM, ..."), and
// refuses any other template with a message saying so.
#ifndef TRIT_CHAT_H
#define TRIT_CHAT_H

#include <stdint.h>

#include "tok/tokenizer.h"

// The template of a model directory: "chat_template" of
// DIR/tokenizer_config.json (a string, or the list of named templates whose
// "default" entry is used). *tmpl is NULL (and 0 returned) when the file or
// the field is absent; -1 with err when the file is unreadable or malformed.
int chat_template_load(const char *model_dir, char **tmpl, char *err);

// One message of a conversation: role "system", "user" or "assistant".
typedef struct {
    const char *role;
    const char *content;
} ChatMessage;

// Formats a conversation for generation (the assistant's turn opened), as
// the template renders it: the template's default system message first when
// m[0] is not a system message; earlier assistant turns without their
// reasoning when the template drops it (Qwen3). Returns a malloc'd string, or
// NULL with err (a template trit cannot apply, another role).
char *chat_format_messages(const char *tmpl, const Tokenizer *tok, const ChatMessage *m, int n, char *err);

// Formats one user message for generation (the assistant's turn opened).
// tmpl NULL: plain ChatML, if the tokenizer has <|im_start|> and <|im_end|>.
// Returns a malloc'd string, or NULL with err when the template is not one
// trit can apply.
char *chat_format(const char *tmpl, const Tokenizer *tok, const char *user_message, char *err);

// The text that opens a user turn, the template's default system message
// first: "...<|im_start|>user\n". A chat model continued from it writes a
// user message of its own (Magpie's self-prompting), the way it learned
// users write. Returns a malloc'd string, or NULL with err as chat_format.
char *chat_user_prefix(const char *tmpl, const Tokenizer *tok, char *err);

// A file of user messages, each in the chat template as ids: one message a
// line (its first tab-separated column, so a prompt file with expected
// answers reads too); empty lines and lines starting with '#' are skipped.
typedef struct {
    int n;
    int32_t **ids;
    int *lens;
} ChatPrompts;

int chat_prompts_load(ChatPrompts *p, const char *path, const char *tmpl, Tokenizer *tok, char *err);
void chat_prompts_free(ChatPrompts *p);

// Moves src's prompts after dst's; src is left empty.
void chat_prompts_append(ChatPrompts *dst, ChatPrompts *src);

#endif
