/*
 * POST /v1/chat/completions and POST /v1/completions: validate, take a place in the queue (429 past it, with the
 * expected wait in Retry-After), wait for the device, and answer with one object or a stream of chunks. A
 * streaming request that waits long sends SSE comments meanwhile. A client that goes away cancels its generation.
 */
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine_health.h"
#include "generation_scheduler.h"

namespace httplib {
struct Request;
struct Response;
}

namespace tpu::server {

class ChatEndpoint {
  public:
    ChatEndpoint(GenerationScheduler &scheduler, const EngineHealth &health)
        : scheduler_(scheduler), health_(health) {}

    void handle(const httplib::Request &request, httplib::Response &response);            /* chat */
    void handle_completion(const httplib::Request &request, httplib::Response &response); /* legacy */

  private:
    /* What the two endpoints share once the request is parsed. */
    struct Job {
        std::vector<ChatMessage> messages;      /* the folded chat, or the prompt as one message */
        std::vector<ChatMessage> sent_messages; /* to name a message too long for the context */
        SamplingOptions sampling;
        bool stream = false;
        bool include_usage = false;
        bool legacy = false;
        std::string echo_prompt;
    };
    void serve(const httplib::Request &request, httplib::Response &response, Job job);
    bool refuse_unless_ready(httplib::Response &response, HealthSnapshot &health);

    GenerationScheduler &scheduler_;
    const EngineHealth &health_;
};

/* Writes an OpenAI error object with its status. */
void send_error(httplib::Response &response, int status, const std::string &message, const std::string &type,
                const std::string &code = "", const std::string &param = "");

}  // namespace tpu::server
