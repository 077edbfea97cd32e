#include "chat_endpoint.h"

#include <httplib.h>

#include "chat_request.h"
#include "chat_response.h"
#include "client_connection.h"
#include "utf8_pieces.h"

namespace tpu::server {
namespace {

/* How often a waiting handler looks whether its client is still there. */
constexpr std::chrono::milliseconds poll_interval{100};

/* nginx's code for "the client closed the request": only ever seen in the log, the client is gone. */
constexpr int client_closed_request = 499;

void send_failure(httplib::Response &response, const GenerationFailure &failure) {
    switch (failure.kind) {
    case EngineError::Kind::input: send_error(response, 400, failure.message, "invalid_request_error"); return;
    case EngineError::Kind::context:
        send_error(response, 400, failure.message, "invalid_request_error", "context_length_exceeded");
        return;
    case EngineError::Kind::cancelled: send_error(response, 503, failure.message, "server_error"); return;
    case EngineError::Kind::load:
    case EngineError::Kind::runtime: send_error(response, 500, failure.message, "server_error"); return;
    }
}

/* Everything a streamed answer needs after the handler has returned. */
struct StreamState {
    std::shared_ptr<GenerationTicket> ticket;
    ClientConnection client;
    ChunkEvents events;
    bool include_usage = false;
    GenerationTicket::Progress first;
    Utf8Pieces utf8;
};

/* Writes the whole stream in one call of cpp-httplib's content provider; false stops it (client gone). */
bool write_stream(StreamState &state, httplib::DataSink &sink) {
    auto send = [&](const std::string &event) { return sink.write(event.data(), event.size()); };
    auto send_pieces = [&](const std::vector<std::string> &pieces) {
        for (const std::string &piece : pieces) {
            std::string text = state.utf8.take(piece);
            if (!text.empty() && !send(state.events.content(text))) return false;
        }
        return true;
    };
    if (!send(state.events.role())) return false;
    GenerationTicket::Progress progress = std::move(state.first);
    for (;;) {
        if (!send_pieces(progress.pieces)) return false;
        if (progress.finished()) break;
        if (state.client.closed()) return false;
        progress = state.ticket->wait(poll_interval);
    }
    bool cancelled = progress.result && progress.result->stop_reason == StopReason::cancelled;
    std::string rest = state.utf8.flush(); /* half a character is dropped when the answer was cut short */
    if (!rest.empty() && !cancelled && !send(state.events.content(rest))) return false;
    if (progress.failure) {
        if (!send(ChunkEvents::error(progress.failure->message, "server_error"))) return false;
    } else if (cancelled) {
        /* Not this client's doing (it is still here): the server is stopping. */
        if (!send(ChunkEvents::error("the server is shutting down; the answer is incomplete", "server_error")))
            return false;
    } else {
        if (!send(state.events.finish(progress.result->stop_reason))) return false;
        if (state.include_usage && !send(state.events.usage(*progress.result))) return false;
    }
    if (!send(ChunkEvents::done())) return false;
    sink.done();
    return true;
}

}  // namespace

void send_error(httplib::Response &response, int status, const std::string &message, const std::string &type,
                const std::string &code) {
    response.status = status;
    response.set_content(error_body(message, type, code), "application/json");
}

void ChatEndpoint::handle(const httplib::Request &request, httplib::Response &response) {
    HealthSnapshot health = health_.snapshot();
    if (health.status == HealthStatus::loading) {
        response.set_header("Retry-After", "1");
        send_error(response, 503, "the model is still loading; try again when /health says ready", "server_error");
        return;
    }
    if (health.status == HealthStatus::failed) {
        send_error(response, 503, "the model failed to load: " + health.reason, "server_error");
        return;
    }

    ChatRequest chat;
    try {
        chat = parse_chat_request(request.body);
    } catch (const BadRequest &error) {
        send_error(response, 400, error.what(), "invalid_request_error");
        return;
    }

    auto ticket = scheduler_.submit(chat.messages, chat.sampling);
    if (!ticket) {
        response.set_header("Retry-After", "1");
        send_error(response, 429, "the engine is busy: the queue of waiting requests is full; try again shortly",
                   "rate_limit_error");
        return;
    }

    /* Wait for the device and the first piece (or an early refusal such as a prompt too long for the context),
     * so that a refusal still gets its own status code. */
    ClientConnection client(request);
    GenerationTicket::Progress first;
    for (;;) {
        first = ticket->wait(poll_interval);
        if (!first.pieces.empty() || first.finished()) break;
        if (client.closed()) {
            ticket->cancel();
            response.status = client_closed_request;
            return;
        }
    }
    if (first.failure) {
        send_failure(response, *first.failure);
        return;
    }

    CompletionIdentity identity = CompletionIdentity::make(health.model_name);
    if (!chat.stream) {
        GenerationTicket::Progress progress = std::move(first);
        while (!progress.finished()) {
            if (client.closed()) {
                ticket->cancel();
                response.status = client_closed_request;
                return;
            }
            progress = ticket->wait(poll_interval);
        }
        if (progress.failure) {
            send_failure(response, *progress.failure);
            return;
        }
        response.set_content(completion_body(identity, *progress.result), "application/json");
        return;
    }

    auto state = std::make_shared<StreamState>(
        StreamState{ticket, client, ChunkEvents{identity}, chat.include_usage_in_stream, std::move(first), {}});
    response.set_header("Cache-Control", "no-cache");
    response.set_header("X-Accel-Buffering", "no");
    response.set_chunked_content_provider(
        "text/event-stream",
        [state](size_t, httplib::DataSink &sink) {
            if (write_stream(*state, sink)) return true;
            state->ticket->cancel();
            return false;
        },
        [state](bool) { state->ticket->cancel(); });
}

}  // namespace tpu::server
