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

/* A request the client got wrong: answered with 400 and this message. */
struct BadRequest : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ChatRequest {
    std::vector<ChatMessage> messages;
    SamplingOptions sampling;
    bool stream = false;
    bool include_usage_in_stream = false; /* stream_options.include_usage */
};

/* Parses and validates a request body; throws BadRequest naming the offending field. */
ChatRequest parse_chat_request(const std::string &body);

}  // namespace tpu::server
