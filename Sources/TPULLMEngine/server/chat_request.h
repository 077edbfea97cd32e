/*
 * The body of POST /v1/chat/completions, validated: every field the server uses is checked here, and a bad one is
 * refused with a message that names it. Unknown fields are ignored, as OpenAI clients send many.
 */
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "tpu_llm_engine.h"

namespace tpu::server {

/* A request the client got wrong: answered with 400, this message, the field (`param`) and a code. */
struct BadRequest : std::runtime_error {
    explicit BadRequest(const std::string &message, std::string field = "", std::string error_code = "invalid_value")
        : std::runtime_error(message), param(std::move(field)), code(std::move(error_code)) {}
    std::string param; /* e.g. "messages[2].role"; empty for the body as a whole */
    std::string code;  /* OpenAI's codes: invalid_value, missing_required_parameter, unsupported_parameter… */
};

struct ChatRequest {
    std::vector<ChatMessage> messages;        /* normalized: [system] (user assistant)* user, see message_roles.h */
    std::vector<ChatMessage> sent_messages;   /* as sent (roles mapped), to name a message in an error */
    SamplingOptions sampling;
    bool stream = false;
    bool include_usage_in_stream = false; /* stream_options.include_usage */
};

/* Parses and validates a request body; throws BadRequest naming the offending field. */
ChatRequest parse_chat_request(const std::string &body);

/* POST /v1/completions: a prompt string instead of messages (no chat template). */
struct CompletionRequest {
    std::string prompt;
    SamplingOptions sampling;
    bool stream = false;
    bool include_usage_in_stream = false;
    bool echo = false;
};
CompletionRequest parse_completion_request(const std::string &body);

}  // namespace tpu::server
