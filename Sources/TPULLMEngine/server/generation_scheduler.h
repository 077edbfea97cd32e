/*
 * The device runs one generation at a time. Requests wait their turn in a bounded FIFO queue; when it is full a
 * request is refused at once (the HTTP layer answers 429 with the expected wait). The device thread calls run(), which takes tickets in
 * order until close().
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "generation_ticket.h"

namespace tpu::server {

class GenerationScheduler {
  public:
    /* `capacity`: how many requests may wait beyond the running one (`--queue N`). */
    /* `piece_delay`: a pause after each piece (tests: makes a fast sim model hold the device for a while). */
    explicit GenerationScheduler(int capacity, std::chrono::milliseconds piece_delay = {});

    /* A ticket for the request, or null when the queue is full or the scheduler is closed. */
    std::shared_ptr<GenerationTicket> submit(std::vector<ChatMessage> messages, SamplingOptions options,
                                             bool raw_prompt = false);

    /* Called after each generation that produced a result (for metrics), with its time in the queue. */
    using Observer = std::function<void(const GenerationResult &, double queue_seconds)>;
    /* Device thread: runs tickets one by one until close(). */
    void run(LanguageModel &model, const Observer &observer);

    /* Refuses new requests, cancels the running generation and fails the waiting ones. */
    void close();

    int waiting() const;
    /* Requests ahead of `ticket` (the running one included); -1 once it runs or is gone. */
    int position(const std::shared_ptr<GenerationTicket> &ticket) const;
    /* Seconds until the device is free for a new request, from the mean of recent generations' durations:
     * what Retry-After and the waiting comments say. */
    double expected_wait_seconds() const;

  private:
    void drop_cancelled();  /* mutex_ held */

    const size_t capacity_;
    const std::chrono::milliseconds piece_delay_;
    mutable std::mutex mutex_;
    std::condition_variable submitted_;
    std::deque<std::shared_ptr<GenerationTicket>> waiting_;
    std::shared_ptr<GenerationTicket> running_;
    bool closed_ = false;
    double mean_generation_seconds_ = 1.0; /* a moving average; 1 s until the first generation ends */
};

}  // namespace tpu::server
