#include "chat_request.h"

#include <cmath>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "message_roles.h"

namespace tpu::server {
namespace {

using json = nlohmann::json;

[[noreturn]] void refuse(const std::string &field, const std::string &problem,
                         const std::string &code = "invalid_value") {
    throw BadRequest("'" + field + "' " + problem, field, code);
}

bool present(const json &body, const char *field) { return body.contains(field) && !body[field].is_null(); }

/* A message's content: a string, null (nothing), or OpenAI's array of parts of which only text parts are read. */
std::string message_content(const json &content, const std::string &field) {
    if (content.is_null()) return "";
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) refuse(field, "must be a string, null or an array of text parts");
    std::string text;
    for (size_t i = 0; i < content.size(); ++i) {
        const json &part = content[i];
        std::string part_field = field + "[" + std::to_string(i) + "]";
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
            !part["text"].is_string())
            refuse(part_field, "must be {\"type\":\"text\",\"text\":\"…\"}: this model reads text only",
                   "unsupported_value");
        text += part["text"].get<std::string>();
    }
    return text;
}

std::vector<ChatMessage> parse_messages(const json &body) {
    if (!body.contains("messages")) refuse("messages", "is required", "missing_required_parameter");
    const json &messages = body["messages"];
    if (!messages.is_array() || messages.empty()) refuse("messages", "must be a non-empty array");
    std::vector<ChatMessage> parsed;
    const char *roles = "must be \"system\", \"developer\", \"user\" or \"assistant\"";
    for (size_t i = 0; i < messages.size(); ++i) {
        std::string field = "messages[" + std::to_string(i) + "]";
        const json &message = messages[i];
        if (!message.is_object()) refuse(field, "must be an object with 'role' and 'content'");
        if (!message.contains("role") || !message["role"].is_string()) refuse(field + ".role", roles);
        std::string role = message["role"].get<std::string>();
        if (role == "tool" || role == "function")
            refuse(field + ".role", "is \"" + role + "\": this engine does not call tools", "unsupported_value");
        if (role == "developer") role = "system"; /* OpenAI's newer name for the system message */
        if (role != "system" && role != "user" && role != "assistant")
            refuse(field + ".role", std::string(roles) + ", not \"" + role + "\"");
        if (!message.contains("content") && !(role == "assistant" && message.contains("tool_calls")))
            refuse(field + ".content", "is required", "missing_required_parameter");
        if (role == "assistant" && present(message, "tool_calls"))
            refuse(field + ".tool_calls", "is not supported: this engine does not call tools", "unsupported_value");
        parsed.push_back({role, message_content(message.value("content", json()), field + ".content")});
    }
    return parsed;
}

/* Fields whose meaning this engine cannot honour: refused rather than silently ignored (llama-server does the
 * same for `n`), so a client never believes it got what it asked for. */
void refuse_unsupported(const json &body) {
    if (present(body, "n")) {
        const json &n = body["n"];
        if (!n.is_number() || n.get<double>() != 1)
            refuse("n", "must be 1: this engine returns one choice per request", "unsupported_value");
    }
    for (const char *field : {"tools", "functions"})
        if (present(body, field) && !(body[field].is_array() && body[field].empty()))
            refuse(field, "is not supported: this engine does not call tools or functions", "unsupported_parameter");
    for (const char *field : {"tool_choice", "function_call"})
        if (present(body, field) && body[field] != "none" && body[field] != "auto")
            refuse(field, "is not supported: this engine does not call tools or functions", "unsupported_parameter");
    if (present(body, "response_format")) {
        const json &format = body["response_format"];
        if (!format.is_object() || format.value("type", json()) != "text")
            refuse("response_format", "must be {\"type\":\"text\"}: this engine cannot constrain the answer to "
                   "JSON or a schema", "unsupported_value");
    }
    if (present(body, "logprobs") && body["logprobs"] != false && body["logprobs"] != 0)
        refuse("logprobs", "is not supported: this engine does not return token probabilities",
               "unsupported_parameter");
    if (present(body, "top_logprobs"))
        refuse("top_logprobs", "is not supported: this engine does not return token probabilities",
               "unsupported_parameter");
    if (present(body, "best_of") && body["best_of"] != 1)
        refuse("best_of", "must be 1: this engine returns one choice per request", "unsupported_value");
    if (present(body, "suffix")) refuse("suffix", "is not supported (no fill-in-the-middle)", "unsupported_parameter");
}

/* A number in [low, high], or (low, high] when low is excluded; `range` spells that for the message. */
double number_in(const json &body, const char *field, double low, bool low_inclusive, double high,
                 const char *range, double fallback) {
    if (!present(body, field)) return fallback;
    const json &value = body[field];
    if (!value.is_number()) refuse(field, std::string("must be a number in ") + range);
    double number = value.get<double>();
    bool above_low = low_inclusive ? number >= low : number > low;
    if (!std::isfinite(number) || !above_low || number > high) refuse(field, std::string("must be in ") + range);
    return number;
}

/* An integer ≥ 1; a whole-number float such as 16.0 counts (some clients serialise every number as a float). */
int parse_max_tokens(const json &body) {
    const char *field = present(body, "max_tokens") ? "max_tokens" : "max_completion_tokens";
    if (!present(body, field)) return -1;
    const json &value = body[field];
    double number = value.is_number() ? value.get<double>() : 0;
    if (!value.is_number() || !std::isfinite(number) || number != std::floor(number) || number < 1)
        refuse(field, "must be an integer >= 1");
    if (value.is_number_integer())
        return value.get<int64_t>() > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max()
                                                                      : static_cast<int>(value.get<int64_t>());
    return number > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(number);
}

std::vector<std::string> parse_stop(const json &body) {
    if (!present(body, "stop")) return {};
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

/* Absent: a fresh random seed per request, as llama-server's default seed -1. */
uint64_t parse_seed(const json &body) {
    if (!present(body, "seed")) return std::random_device{}() * 4294967296ull + std::random_device{}();
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

json parse_body(const std::string &text) {
    json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) throw BadRequest("the request body is not valid JSON", "", "invalid_json");
    if (!body.is_object()) throw BadRequest("the request body must be a JSON object", "", "invalid_json");
    return body;
}

/* The fields chat and legacy completions share. Absent sampling fields take llama-server's defaults
 * (temperature 0.8, top_p 0.95, a random seed); `top_p: 0` keeps only the likeliest token, i.e. greedy. */
void parse_common(const json &body, SamplingOptions &sampling, bool &stream, bool &include_usage) {
    refuse_unsupported(body);
    stream = parse_flag(body, "stream", "stream");
    if (present(body, "stream_options")) {
        if (!body["stream_options"].is_object()) refuse("stream_options", "must be an object");
        include_usage = parse_flag(body["stream_options"], "include_usage", "stream_options.include_usage");
    }
    sampling.temperature = static_cast<float>(number_in(body, "temperature", 0, true, 2, "[0, 2]", 0.8));
    sampling.top_p = static_cast<float>(number_in(body, "top_p", 0, true, 1, "[0, 1]", 0.95));
    if (sampling.top_p == 0.0f) sampling.temperature = 0.0f, sampling.top_p = 1.0f;
    sampling.max_tokens = parse_max_tokens(body);
    sampling.stop = parse_stop(body);
    sampling.seed = parse_seed(body);
}

}  // namespace

ChatRequest parse_chat_request(const std::string &text) {
    json body = parse_body(text);
    ChatRequest request;
    request.sent_messages = parse_messages(body);
    parse_common(body, request.sampling, request.stream, request.include_usage_in_stream);
    request.messages = fold_messages(request.sent_messages);
    return request;
}

CompletionRequest parse_completion_request(const std::string &text) {
    json body = parse_body(text);
    CompletionRequest request;
    if (!body.contains("prompt")) refuse("prompt", "is required", "missing_required_parameter");
    const json &prompt = body["prompt"];
    if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string())
        request.prompt = prompt[0].get<std::string>();
    else if (prompt.is_string())
        request.prompt = prompt.get<std::string>();
    else
        refuse("prompt", "must be a string (or an array of one string): one prompt per request", "unsupported_value");
    parse_common(body, request.sampling, request.stream, request.include_usage_in_stream);
    request.echo = parse_flag(body, "echo", "echo");
    if (present(body, "max_tokens") == false && present(body, "max_completion_tokens") == false)
        request.sampling.max_tokens = 16; /* OpenAI's default for legacy completions */
    return request;
}

}  // namespace tpu::server
