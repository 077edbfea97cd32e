#include "chat_endpoint.h"

#include <algorithm>
#include <cmath>

#include <httplib.h>

#include "chat_request.h"
#include "chat_response.h"
#include "client_connection.h"
#include "utf8_pieces.h"

namespace tpu::server {
namespace {

/* How often a waiting handler looks whether its client is still there. */
constexpr std::chrono::milliseconds poll_interval{100};

/* A streaming request still queued after this long gets its 200 and SSE comments while it waits: refusals found
 * when it reaches the device (a prompt too long for the context) then come as an error event. Short waits keep
 * their own status code. */
constexpr std::chrono::milliseconds stream_commit_after{1000};

/* How often a queued stream says it is still waiting: well under the 60 s idle timeouts of common proxies. */
constexpr std::chrono::milliseconds waiting_comment_interval{5000};

/* nginx's code for "the client closed the request": only ever seen in the log, the client is gone. */
constexpr int client_closed_request = 499;

struct Refusal {
    int status;
    std::string message, type, code, param;
};

/* The message a client sees for a prompt that does not fit, in OpenAI's words (litellm and LangChain recognise
 * "maximum context length" and the code context_length_exceeded), naming the message that must shrink: the
 * engine drops old rounds first, so what is left is the system prompt and the last user turn. */
std::string context_message(const std::string &engine_message, int seq_len, const std::vector<ChatMessage> &sent,
                            bool legacy) {
    std::string text = "This model's maximum context length is " + std::to_string(seq_len) + " tokens: " +
                       engine_message;
    if (legacy || sent.empty()) return text;
    size_t last_assistant = sent.size();
    /* A closing assistant message is a prefill: it stays with the last user turn. */
    const size_t answered = sent.back().role == "assistant" ? sent.size() - 1 : sent.size();
    for (size_t i = 0; i < answered; ++i)
        if (sent[i].role == "assistant") last_assistant = i;
    size_t longest = sent.size();
    for (size_t i = 0; i < sent.size(); ++i) {
        bool kept = sent[i].role == "system" || last_assistant == sent.size() || i > last_assistant;
        if (kept && (longest == sent.size() || sent[i].content.size() > sent[longest].content.size())) longest = i;
    }
    if (longest == sent.size()) return text;
    return text + " (the longest message kept is messages[" + std::to_string(longest) + "], " + sent[longest].role +
           ", " + std::to_string(sent[longest].content.size()) + " bytes)";
}

Refusal refusal_for(const GenerationFailure &failure, int seq_len, const std::vector<ChatMessage> &sent,
                    bool legacy) {
    switch (failure.kind) {
    case EngineError::Kind::input: return {400, failure.message, "invalid_request_error", "invalid_value", ""};
    case EngineError::Kind::context:
        return {400, context_message(failure.message, seq_len, sent, legacy), "invalid_request_error",
                "context_length_exceeded", legacy ? "prompt" : "messages"};
    case EngineError::Kind::cancelled: return {503, failure.message, "server_error", "server_shutting_down", ""};
    case EngineError::Kind::load:
    case EngineError::Kind::runtime: break;
    }
    return {500, failure.message, "server_error", "engine_error", ""};
}

void send_refusal(httplib::Response &response, const Refusal &refusal) {
    send_error(response, refusal.status, refusal.message, refusal.type, refusal.code, refusal.param);
}

/* Everything a streamed answer needs after the handler has returned. */
struct StreamState {
    std::shared_ptr<GenerationTicket> ticket;
    GenerationScheduler *scheduler;
    ClientConnection client;
    ChunkEvents events;
    bool include_usage = false;
    GenerationTicket::Progress first; /* may be empty: still queued */
    int seq_len = 0;
    std::vector<ChatMessage> sent_messages;
    std::string echo; /* legacy completions' `echo`: the prompt before the answer */
    Utf8Pieces utf8;
};

/* Writes the whole stream in one call of cpp-httplib's content provider; false stops it (client gone). */
bool write_stream(StreamState &state, httplib::DataSink &sink) {
    auto send = [&](const std::string &event) { return event.empty() || sink.write(event.data(), event.size()); };
    auto send_pieces = [&](const std::vector<std::string> &pieces) {
        for (const std::string &piece : pieces) {
            std::string text = state.utf8.take(piece);
            if (!text.empty() && !send(state.events.content(text))) return false;
        }
        return true;
    };
    GenerationTicket::Progress progress = std::move(state.first);
    /* Still queued: a comment now and every few seconds, so that the client sees the answer has begun. */
    auto next_comment = std::chrono::steady_clock::now();
    while (progress.pieces.empty() && !progress.finished()) {
        if (std::chrono::steady_clock::now() >= next_comment) {
            if (!send(ChunkEvents::waiting(state.scheduler->position(state.ticket)))) return false;
            next_comment += waiting_comment_interval;
        }
        if (state.client.closed()) return false;
        progress = state.ticket->wait(poll_interval);
    }
    if (progress.failure && progress.pieces.empty()) {
        Refusal refusal = refusal_for(*progress.failure, state.seq_len, state.sent_messages, state.events.legacy);
        if (!send(ChunkEvents::error(refusal.message, refusal.type, refusal.code))) return false;
        if (!send(ChunkEvents::done())) return false;
        sink.done();
        return true;
    }
    if (!send(state.events.role())) return false;
    if (!state.echo.empty() && !send(state.events.content(state.echo))) return false;
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
        if (!send(ChunkEvents::error(progress.failure->message, "server_error", "engine_error"))) return false;
    } else if (cancelled) {
        /* Not this client's doing (it is still here): the server is stopping. */
        if (!send(ChunkEvents::error("the server is shutting down; the answer is incomplete", "server_error",
                                     "server_shutting_down")))
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
                const std::string &code, const std::string &param) {
    response.status = status;
    response.set_content(error_body(message, type, code, param), "application/json");
}

bool ChatEndpoint::refuse_unless_ready(httplib::Response &response, HealthSnapshot &health) {
    health = health_.snapshot();
    if (health.status == HealthStatus::loading) {
        response.set_header("Retry-After", "1");
        send_error(response, 503, "the model is still loading; try again when /health says ready", "server_error",
                   "model_loading");
        return true;
    }
    if (health.status == HealthStatus::failed) {
        send_error(response, 503, "the model failed to load: " + health.reason, "server_error", "model_load_failed");
        return true;
    }
    return false;
}

void ChatEndpoint::handle(const httplib::Request &request, httplib::Response &response) {
    HealthSnapshot health;
    if (refuse_unless_ready(response, health)) return;
    try {
        ChatRequest chat = parse_chat_request(request.body);
        serve(request, response,
              Job{std::move(chat.messages), std::move(chat.sent_messages), std::move(chat.sampling), chat.stream,
                  chat.include_usage_in_stream, false, ""});
    } catch (const BadRequest &error) {
        send_error(response, 400, error.what(), "invalid_request_error", error.code, error.param);
    }
}

void ChatEndpoint::handle_completion(const httplib::Request &request, httplib::Response &response) {
    HealthSnapshot health;
    if (refuse_unless_ready(response, health)) return;
    try {
        CompletionRequest completion = parse_completion_request(request.body);
        std::string echo = completion.echo ? completion.prompt : "";
        serve(request, response,
              Job{{{"user", std::move(completion.prompt)}}, {}, std::move(completion.sampling), completion.stream,
                  completion.include_usage_in_stream, true, std::move(echo)});
    } catch (const BadRequest &error) {
        send_error(response, 400, error.what(), "invalid_request_error", error.code, error.param);
    }
}

void ChatEndpoint::serve(const httplib::Request &request, httplib::Response &response, Job job) {
    HealthSnapshot health = health_.snapshot();
    auto ticket = scheduler_.submit(job.messages, job.sampling, job.legacy);
    if (!ticket) {
        /* Past the queue: tell the client when the device should have room (the SDKs honour Retry-After). */
        double wait = scheduler_.expected_wait_seconds();
        response.set_header("Retry-After", std::to_string(std::max(1L, std::lround(std::ceil(wait)))));
        send_error(response, 429,
                   "the engine is busy: the queue of waiting requests is full (--queue); try again in about " +
                       std::to_string(std::max(1L, std::lround(std::ceil(wait)))) + " s",
                   "rate_limit_error", "queue_full");
        return;
    }

    /* Wait for the device and the first piece (or an early refusal such as a prompt too long for the context),
     * so that a refusal still gets its own status code; a stream stops waiting here after a while. */
    ClientConnection client(request);
    GenerationTicket::Progress first;
    auto waited_since = std::chrono::steady_clock::now();
    for (;;) {
        first = ticket->wait(poll_interval);
        if (!first.pieces.empty() || first.finished()) break;
        if (client.closed()) {
            ticket->cancel();
            response.status = client_closed_request;
            return;
        }
        if (job.stream && std::chrono::steady_clock::now() - waited_since >= stream_commit_after) break;
    }
    if (first.failure) {
        send_refusal(response, refusal_for(*first.failure, health.model.seq_len, job.sent_messages, job.legacy));
        return;
    }

    CompletionIdentity identity = CompletionIdentity::make(health.model_name, job.legacy ? "cmpl-" : "chatcmpl-");
    if (!job.stream) {
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
            send_refusal(response, refusal_for(*progress.failure, health.model.seq_len, job.sent_messages, job.legacy));
            return;
        }
        response.set_content(completion_body(identity, *progress.result, job.legacy, job.echo_prompt),
                             "application/json");
        return;
    }

    ChunkEvents events{identity, job.legacy};
    auto state = std::make_shared<StreamState>(StreamState{ticket, &scheduler_, client, events, job.include_usage,
                                                           std::move(first), health.model.seq_len,
                                                           std::move(job.sent_messages), job.echo_prompt, {}});
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
