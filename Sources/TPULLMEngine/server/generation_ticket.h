/*
 * One chat request's generation, shared by the HTTP handler that waits for it and the device thread that runs it:
 * text pieces flow one way, cancellation the other.
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpu_llm_engine.h"

namespace tpu::server {

struct GenerationFailure {
    EngineError::Kind kind;
    std::string message;
};

class GenerationTicket {
  public:
    /* A chat (messages through the model's prompt format) or, with `raw_prompt`, a legacy completion. */
    GenerationTicket(std::vector<ChatMessage> messages, SamplingOptions options, bool raw_prompt = false);

    const std::vector<ChatMessage> &messages() const { return messages_; }
    const SamplingOptions &options() const { return options_; }
    /* POST /v1/completions: messages()[0].content is the prompt text, fed without a chat format. */
    bool raw_prompt() const { return raw_prompt_; }

    /* When it joined the queue and when the device took it: the queue wait, counted in time to first token. */
    std::chrono::steady_clock::time_point submitted_at() const { return submitted_at_; }
    void mark_started();
    double queue_seconds() const;  /* so far while waiting */

    /* What happened since the last call: new pieces, and the outcome once there is one. */
    struct Progress {
        std::vector<std::string> pieces;
        std::optional<GenerationResult> result;
        std::optional<GenerationFailure> failure;
        bool finished() const { return result || failure; }
    };
    /* Waits up to `timeout` for pieces or the outcome (handler side). */
    Progress wait(std::chrono::milliseconds timeout);
    /* Stops the generation at its next piece, or before it starts. */
    void cancel();

    /* Device side. */
    bool deliver(const std::string &piece); /* false once cancelled: the TextCallback's answer */
    void complete(GenerationResult result);
    void fail(EngineError::Kind kind, const std::string &message);
    bool cancelled() const;

  private:
    const std::vector<ChatMessage> messages_;
    const SamplingOptions options_;
    const bool raw_prompt_;
    const std::chrono::steady_clock::time_point submitted_at_ = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> started_at_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> pieces_;
    std::optional<GenerationResult> result_;
    std::optional<GenerationFailure> failure_;
    bool cancelled_ = false;
};

}  // namespace tpu::server
