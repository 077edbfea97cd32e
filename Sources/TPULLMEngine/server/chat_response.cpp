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

std::string error_body(const std::string &message, const std::string &type, const std::string &code,
                       const std::string &param) {
    json error = {{"message", message},
                  {"type", type},
                  {"param", param.empty() ? json() : json(param)},
                  {"code", code.empty() ? json() : json(code)}};
    return dump(json{{"error", error}});
}

CompletionIdentity CompletionIdentity::make(const std::string &model, const std::string &prefix) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string id = prefix;
    for (int i = 0; i < 24; ++i) id += digits[random() % 16];
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return {id, std::chrono::duration_cast<std::chrono::seconds>(now).count(), model};
}

std::string completion_body(const CompletionIdentity &identity, const GenerationResult &result, bool legacy,
                            const std::string &echo_prompt) {
    json answer = {{"index", 0}, {"finish_reason", finish_reason(result.stop_reason)}};
    if (legacy) {
        answer["text"] = echo_prompt + result.text;
        answer["logprobs"] = nullptr;
    } else {
        answer["message"] = {{"role", "assistant"}, {"content", result.text}};
    }
    json body = {{"id", identity.id},
                 {"object", legacy ? "text_completion" : "chat.completion"},
                 {"created", identity.created},
                 {"model", identity.model},
                 {"choices", json::array({answer})},
                 {"usage", usage_object(result)}};
    return dump(body);
}

static json legacy_chunk(const CompletionIdentity &identity, const std::string &text, const char *finish) {
    json data = chunk(identity, json::array({{{"index", 0},
                                              {"text", text},
                                              {"logprobs", nullptr},
                                              {"finish_reason", finish ? json(finish) : json()}}}));
    data["object"] = "text_completion";
    return data;
}

std::string ChunkEvents::role() const {
    if (legacy) return "";
    return event(chunk(identity, choice({{"role", "assistant"}, {"content", ""}}, nullptr)));
}

std::string ChunkEvents::content(const std::string &piece) const {
    if (legacy) return event(legacy_chunk(identity, piece, nullptr));
    return event(chunk(identity, choice({{"content", piece}}, nullptr)));
}

std::string ChunkEvents::finish(StopReason reason) const {
    if (legacy) return event(legacy_chunk(identity, "", finish_reason(reason)));
    return event(chunk(identity, choice(json::object(), finish_reason(reason))));
}

std::string ChunkEvents::usage(const GenerationResult &result) const {
    json data = chunk(identity, json::array());
    if (legacy) data["object"] = "text_completion";
    data["usage"] = usage_object(result);
    return event(data);
}

std::string ChunkEvents::error(const std::string &message, const std::string &type, const std::string &code) {
    return "data: " + error_body(message, type, code) + "\n\n";
}

std::string ChunkEvents::waiting(int ahead) {
    /* A comment line: ignored by SSE parsers, but bytes on the wire keep proxies and idle timers from closing. */
    return ": waiting for the device, " + std::to_string(ahead < 0 ? 0 : ahead) + " ahead\n\n";
}

std::string ChunkEvents::done() { return "data: [DONE]\n\n"; }

}  // namespace tpu::server
