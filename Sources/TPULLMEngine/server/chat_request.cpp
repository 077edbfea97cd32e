#include "chat_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace tpu::server {
namespace {

using json = nlohmann::json;

[[noreturn]] void refuse(const std::string &field, const std::string &problem) {
    throw BadRequest("'" + field + "' " + problem);
}

/* A message's content: a string, or OpenAI's array of parts of which only text parts are accepted. */
std::string message_content(const json &content, const std::string &field) {
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) refuse(field, "must be a string or an array of text parts");
    std::string text;
    for (size_t i = 0; i < content.size(); ++i) {
        const json &part = content[i];
        std::string part_field = field + "[" + std::to_string(i) + "]";
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
            !part["text"].is_string())
            refuse(part_field, "must be {\"type\":\"text\",\"text\":\"…\"}: this model reads text only");
        text += part["text"].get<std::string>();
    }
    return text;
}

std::vector<ChatMessage> parse_messages(const json &body) {
    if (!body.contains("messages")) refuse("messages", "is required");
    const json &messages = body["messages"];
    if (!messages.is_array() || messages.empty()) refuse("messages", "must be a non-empty array");
    std::vector<ChatMessage> parsed;
    bool has_user = false;
    for (size_t i = 0; i < messages.size(); ++i) {
        std::string field = "messages[" + std::to_string(i) + "]";
        const json &message = messages[i];
        if (!message.is_object()) refuse(field, "must be an object with 'role' and 'content'");
        if (!message.contains("role") || !message["role"].is_string())
            refuse(field + ".role", "must be \"system\", \"user\" or \"assistant\"");
        std::string role = message["role"].get<std::string>();
        if (role != "system" && role != "user" && role != "assistant")
            refuse(field + ".role", "must be \"system\", \"user\" or \"assistant\", not \"" + role + "\"");
        if (!message.contains("content")) refuse(field + ".content", "is required");
        parsed.push_back({role, message_content(message["content"], field + ".content")});
        has_user = has_user || role == "user";
    }
    if (!has_user) refuse("messages", "must contain at least one \"user\" message");
    return parsed;
}

/* A number in [low, high], or (low, high] when low is excluded; `range` spells that for the message. */
double number_in(const json &body, const char *field, double low, bool low_inclusive, double high,
                 const char *range, double fallback) {
    if (!body.contains(field) || body[field].is_null()) return fallback;
    const json &value = body[field];
    if (!value.is_number()) refuse(field, std::string("must be a number in ") + range);
    double number = value.get<double>();
    bool above_low = low_inclusive ? number >= low : number > low;
    if (!std::isfinite(number) || !above_low || number > high) refuse(field, std::string("must be in ") + range);
    return number;
}

int parse_max_tokens(const json &body) {
    const char *field = body.contains("max_tokens") ? "max_tokens" : "max_completion_tokens";
    if (!body.contains(field) || body[field].is_null()) return -1;
    const json &value = body[field];
    if (!value.is_number_integer() || value.get<int64_t>() < 1) refuse(field, "must be an integer >= 1");
    int64_t tokens = value.get<int64_t>();
    return tokens > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(tokens);
}

std::vector<std::string> parse_stop(const json &body) {
    if (!body.contains("stop") || body["stop"].is_null()) return {};
    const json &stop = body["stop"];
    if (stop.is_string()) {
        if (stop.get<std::string>().empty()) refuse("stop", "must not be empty");
        return {stop.get<std::string>()};
    }
    if (!stop.is_array()) refuse("stop", "must be a string or an array of up to 4 strings");
    if (stop.size() > 4) refuse("stop", "has " + std::to_string(stop.size()) + " strings; at most 4 are allowed");
    std::vector<std::string> strings;
    for (size_t i = 0; i < stop.size(); ++i) {
        if (!stop[i].is_string() || stop[i].get<std::string>().empty())
            refuse("stop[" + std::to_string(i) + "]", "must be a non-empty string");
        strings.push_back(stop[i].get<std::string>());
    }
    return strings;
}

uint64_t parse_seed(const json &body) {
    if (!body.contains("seed") || body["seed"].is_null()) return 0;
    const json &seed = body["seed"];
    if (seed.is_number_unsigned()) return seed.get<uint64_t>();
    if (seed.is_number_integer()) return static_cast<uint64_t>(seed.get<int64_t>()); /* negative: wraps, still a seed */
    refuse("seed", "must be an integer");
}

bool parse_flag(const json &object, const char *field, const std::string &name) {
    if (!object.contains(field) || object[field].is_null()) return false;
    if (!object[field].is_boolean()) refuse(name, "must be true or false");
    return object[field].get<bool>();
}

}  // namespace

ChatRequest parse_chat_request(const std::string &text) {
    json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) throw BadRequest("the request body is not valid JSON");
    if (!body.is_object()) throw BadRequest("the request body must be a JSON object");

    ChatRequest request;
    request.messages = parse_messages(body);
    request.stream = parse_flag(body, "stream", "stream");
    if (body.contains("stream_options") && !body["stream_options"].is_null()) {
        if (!body["stream_options"].is_object()) refuse("stream_options", "must be an object");
        request.include_usage_in_stream =
            parse_flag(body["stream_options"], "include_usage", "stream_options.include_usage");
    }
    /* Absent sampling fields keep the engine's defaults (greedy), as `tpu-llm-engine generate` does. */
    SamplingOptions defaults;
    request.sampling.temperature =
        static_cast<float>(number_in(body, "temperature", 0, true, 2, "[0, 2]", defaults.temperature));
    request.sampling.top_p = static_cast<float>(number_in(body, "top_p", 0, false, 1, "(0, 1]", defaults.top_p));
    request.sampling.max_tokens = parse_max_tokens(body);
    request.sampling.stop = parse_stop(body);
    request.sampling.seed = parse_seed(body);
    return request;
}

}  // namespace tpu::server
