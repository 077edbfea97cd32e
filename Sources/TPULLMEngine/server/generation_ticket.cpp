#include "generation_ticket.h"

namespace tpu::server {

GenerationTicket::GenerationTicket(std::vector<ChatMessage> messages, SamplingOptions options, bool raw_prompt)
    : messages_(std::move(messages)), options_(std::move(options)), raw_prompt_(raw_prompt) {}

void GenerationTicket::mark_started() {
    std::lock_guard<std::mutex> lock(mutex_);
    started_at_ = std::chrono::steady_clock::now();
}

double GenerationTicket::queue_seconds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto until = started_at_ ? *started_at_ : std::chrono::steady_clock::now();
    return std::chrono::duration<double>(until - submitted_at_).count();
}

GenerationTicket::Progress GenerationTicket::wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !pieces_.empty() || result_ || failure_; });
    Progress progress;
    progress.pieces.assign(pieces_.begin(), pieces_.end());
    pieces_.clear();
    /* The outcome is handed over once, after the last piece. */
    if (result_) progress.result = std::move(result_), result_.reset();
    if (failure_) progress.failure = std::move(failure_), failure_.reset();
    return progress;
}

void GenerationTicket::cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
}

bool GenerationTicket::cancelled() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
}

bool GenerationTicket::deliver(const std::string &piece) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) return false;
    pieces_.push_back(piece);
    changed_.notify_all();
    return true;
}

void GenerationTicket::complete(GenerationResult result) {
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = std::move(result);
    changed_.notify_all();
}

void GenerationTicket::fail(EngineError::Kind kind, const std::string &message) {
    std::lock_guard<std::mutex> lock(mutex_);
    failure_ = GenerationFailure{kind, message};
    changed_.notify_all();
}

}  // namespace tpu::server
