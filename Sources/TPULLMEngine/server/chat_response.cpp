#include "chat_response.h"

#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

namespace tpu::server {
namespace {

using json = nlohmann::json;

/* Text from the model may end inside a UTF-8 sequence or hold invalid bytes: replace rather than throw. */
std::string dump(const json &value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_object(const GenerationResult &result) {
    size_t prompt = result.prompt_ids.size(), completion = result.tokens.size();
    return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json chunk(const CompletionIdentity &identity, json choices) {
    return {{"id", identity.id},
            {"object", "chat.completion.chunk"},
            {"created", identity.created},
            {"model", identity.model},
            {"choices", std::move(choices)}};
}

json choice(json delta, const char *finish) {
    return json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish ? json(finish) : json()}}});
}

std::string event(const json &data) { return "data: " + dump(data) + "\n\n"; }

}  // namespace

const char *finish_reason(StopReason reason) {
    switch (reason) {
    case StopReason::length: return "length";
    case StopReason::eos:
    case StopReason::stop:
    case StopReason::cancelled: return "stop";
    }
    return "stop";
}

std::string error_body(const std::string &message, const std::string &type, const std::string &code) {
    json error = {{"message", message}, {"type", type}};
    if (!code.empty()) error["code"] = code;
    return dump(json{{"error", error}});
}

CompletionIdentity CompletionIdentity::make(const std::string &model) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string id = "chatcmpl-";
    for (int i = 0; i < 24; ++i) id += digits[random() % 16];
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return {id, std::chrono::duration_cast<std::chrono::seconds>(now).count(), model};
}

std::string completion_body(const CompletionIdentity &identity, const GenerationResult &result) {
    json message = {{"role", "assistant"}, {"content", result.text}};
    json body = {{"id", identity.id},
                 {"object", "chat.completion"},
                 {"created", identity.created},
                 {"model", identity.model},
                 {"choices", json::array({{{"index", 0},
                                           {"message", message},
                                           {"finish_reason", finish_reason(result.stop_reason)}}})},
                 {"usage", usage_object(result)}};
    return dump(body);
}

std::string ChunkEvents::role() const {
    return event(chunk(identity, choice({{"role", "assistant"}, {"content", ""}}, nullptr)));
}

std::string ChunkEvents::content(const std::string &piece) const {
    return event(chunk(identity, choice({{"content", piece}}, nullptr)));
}

std::string ChunkEvents::finish(StopReason reason) const {
    return event(chunk(identity, choice(json::object(), finish_reason(reason))));
}

std::string ChunkEvents::usage(const GenerationResult &result) const {
    json data = chunk(identity, json::array());
    data["usage"] = usage_object(result);
    return event(data);
}

std::string ChunkEvents::error(const std::string &message, const std::string &type) {
    return "data: " + error_body(message, type) + "\n\n";
}

std::string ChunkEvents::done() { return "data: [DONE]\n\n"; }

}  // namespace tpu::server
