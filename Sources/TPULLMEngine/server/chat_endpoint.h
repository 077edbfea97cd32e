/*
 * POST /v1/chat/completions: validate, take a place in the queue (429 when full), wait for the device, and answer
 * with one object or a stream of chunks. A client that goes away cancels its generation.
 */
#pragma once

#include <atomic>

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

    void handle(const httplib::Request &request, httplib::Response &response);

  private:
    GenerationScheduler &scheduler_;
    const EngineHealth &health_;
};

/* Writes an OpenAI error object with its status. */
void send_error(httplib::Response &response, int status, const std::string &message, const std::string &type,
                const std::string &code = "");

}  // namespace tpu::server
