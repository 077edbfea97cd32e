#include "generation_scheduler.h"

#include <algorithm>
#include <thread>

namespace tpu::server {

namespace {
const char *const shutting_down = "the server is shutting down; send the request again when it is back";
}

GenerationScheduler::GenerationScheduler(int capacity, std::chrono::milliseconds piece_delay)
    : capacity_(capacity < 0 ? 0 : static_cast<size_t>(capacity)), piece_delay_(piece_delay) {}

void GenerationScheduler::drop_cancelled() {
    waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), [](auto &ticket) { return ticket->cancelled(); }),
                   waiting_.end());
}

std::shared_ptr<GenerationTicket> GenerationScheduler::submit(std::vector<ChatMessage> messages,
                                                              SamplingOptions options) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return nullptr;
    drop_cancelled();
    /* Room for `capacity_` waiting requests beyond the one on the device. */
    size_t in_flight = waiting_.size() + (running_ ? 1 : 0);
    if (in_flight >= capacity_ + 1) return nullptr;
    auto ticket = std::make_shared<GenerationTicket>(std::move(messages), std::move(options));
    waiting_.push_back(ticket);
    submitted_.notify_one();
    return ticket;
}

int GenerationScheduler::waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t count = 0;
    for (auto &ticket : waiting_) count += ticket->cancelled() ? 0 : 1;
    return static_cast<int>(count);
}

void GenerationScheduler::close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    if (running_) running_->cancel();
    for (auto &ticket : waiting_) ticket->fail(EngineError::Kind::cancelled, shutting_down);
    waiting_.clear();
    submitted_.notify_all();
}

void GenerationScheduler::run(LanguageModel &model, const Observer &observer) {
    for (;;) {
        std::shared_ptr<GenerationTicket> ticket;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            submitted_.wait(lock, [&] {
                drop_cancelled();
                return closed_ || !waiting_.empty();
            });
            if (closed_) return;
            ticket = waiting_.front();
            waiting_.pop_front();
            running_ = ticket;
        }
        try {
            GenerationResult result = model.chat(ticket->messages(), ticket->options(),
                                                 [&](const std::string &piece) {
                                                     bool go_on = ticket->deliver(piece);
                                                     if (go_on && piece_delay_.count() > 0)
                                                         std::this_thread::sleep_for(piece_delay_);
                                                     return go_on;
                                                 });
            observer(result);
            ticket->complete(std::move(result));
        } catch (const EngineError &error) {
            ticket->fail(error.kind, error.what());
        } catch (const std::exception &error) {
            ticket->fail(EngineError::Kind::runtime, error.what());
        }
        std::lock_guard<std::mutex> lock(mutex_);
        running_.reset();
    }
}

}  // namespace tpu::server
