/*
 * What POST /v1/chat/completions answers, in OpenAI's shapes: a `chat.completion` object, or Server-Sent Events of
 * `chat.completion.chunk` objects (a role delta, content deltas, a final chunk with finish_reason, `[DONE]`), and
 * the `{"error":{…}}` objects of every refusal.
 */
#pragma once

#include <cstdint>
#include <string>

#include "tpu_llm_engine.h"

namespace tpu::server {

/* "stop" (EOS or a stop string) or "length" (max_tokens or a full context), as OpenAI names them. */
const char *finish_reason(StopReason reason);

/* `{"error":{"message":…,"type":…,"param":…,"code":…}}`, OpenAI's shape: `param` and `code` are always there,
 * null when empty. */
std::string error_body(const std::string &message, const std::string &type, const std::string &code = "",
                       const std::string &param = "");

/* One answer's identity, shared by its object or all its chunks. */
struct CompletionIdentity {
    std::string id;      /* chatcmpl-… */
    int64_t created = 0; /* Unix seconds */
    std::string model;

    /* `prefix`: "chatcmpl-" for chat, "cmpl-" for legacy completions. */
    static CompletionIdentity make(const std::string &model, const std::string &prefix = "chatcmpl-");
};

/* The non-streaming answer: a `chat.completion` object with `usage`; with `legacy`, POST /v1/completions'
 * `text_completion` object whose choice has `text` (preceded by `echo_prompt`). */
std::string completion_body(const CompletionIdentity &identity, const GenerationResult &result, bool legacy = false,
                            const std::string &echo_prompt = "");

/* The SSE events of a streamed answer, each `data: {…}\n\n`; with `legacy`, `text_completion` chunks whose
 * choice has `text` and no role event. */
struct ChunkEvents {
    CompletionIdentity identity;
    bool legacy = false;

    std::string role() const;                             /* delta {"role":"assistant","content":""}; legacy: "" */
    std::string content(const std::string &piece) const;  /* delta {"content":piece} */
    std::string finish(StopReason reason) const;          /* empty delta with finish_reason */
    std::string usage(const GenerationResult &result) const; /* choices [] and usage (stream_options.include_usage) */
    static std::string error(const std::string &message, const std::string &type, const std::string &code = "");
    static std::string done();                            /* data: [DONE] */
    static std::string waiting(int ahead);                /* an SSE comment while queued: ": waiting, N ahead" */
};

}  // namespace tpu::server
