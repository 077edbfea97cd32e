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
                                                              SamplingOptions options, bool raw_prompt) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return nullptr;
    drop_cancelled();
    /* Room for `capacity_` waiting requests beyond the one on the device. */
    size_t in_flight = waiting_.size() + (running_ ? 1 : 0);
    if (in_flight >= capacity_ + 1) return nullptr;
    auto ticket = std::make_shared<GenerationTicket>(std::move(messages), std::move(options), raw_prompt);
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

int GenerationScheduler::position(const std::shared_ptr<GenerationTicket> &ticket) const {
    std::lock_guard<std::mutex> lock(mutex_);
    int ahead = running_ ? 1 : 0;
    for (auto &waiting : waiting_) {
        if (waiting == ticket) return ahead;
        ahead += waiting->cancelled() ? 0 : 1;
    }
    return -1;
}

double GenerationScheduler::expected_wait_seconds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t ahead = waiting_.size() + (running_ ? 1 : 0);
    return static_cast<double>(ahead) * mean_generation_seconds_;
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
        ticket->mark_started();
        auto started = std::chrono::steady_clock::now();
        try {
            auto on_text = [&](const std::string &piece) {
                bool go_on = ticket->deliver(piece);
                if (go_on && piece_delay_.count() > 0) std::this_thread::sleep_for(piece_delay_);
                return go_on;
            };
            GenerationResult result = ticket->raw_prompt()
                                          ? model.complete(ticket->messages().at(0).content, ticket->options(), on_text)
                                          : model.chat(ticket->messages(), ticket->options(), on_text);
            observer(result, ticket->queue_seconds());
            ticket->complete(std::move(result));
        } catch (const EngineError &error) {
            ticket->fail(error.kind, error.what());
        } catch (const std::exception &error) {
            ticket->fail(EngineError::Kind::runtime, error.what());
        }
        std::lock_guard<std::mutex> lock(mutex_);
        running_.reset();
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        mean_generation_seconds_ = 0.7 * mean_generation_seconds_ + 0.3 * seconds;
    }
}

}  // namespace tpu::server
