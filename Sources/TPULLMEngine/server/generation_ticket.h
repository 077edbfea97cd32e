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
    GenerationTicket(std::vector<ChatMessage> messages, SamplingOptions options);

    const std::vector<ChatMessage> &messages() const { return messages_; }
    const SamplingOptions &options() const { return options_; }

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
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> pieces_;
    std::optional<GenerationResult> result_;
    std::optional<GenerationFailure> failure_;
    bool cancelled_ = false;
};

}  // namespace tpu::server
