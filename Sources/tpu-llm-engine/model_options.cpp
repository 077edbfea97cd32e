#include "model_options.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace tpu_cli {

const std::vector<std::string> &model_option_names() {
    static const std::vector<std::string> names{"model", "tokenizer", "runtime-dir", "family", "layers", "device", "model-name"};
    return names;
}

const char *model_options_help() {
    return "  --model M.bmodel       the LLM-TPU split bmodel (embedding, block_N, block_cache_N, lm_head nets)\n"
           "  --tokenizer T          sentencepiece tokenizer.model (chatglm2, llama2), or a directory / vocab.json\n"
           "                         with merges.txt (and tokenizer_config.json) beside it (wizardcoder, smollm2),\n"
           "                         or Qwen's token_config/ folder (tokenizer.json, tokenizer_config.json) (qwen2)\n"
           "  --runtime-dir DIR      where libbmlib.so and libbmrt.so are (default /opt/sophon/libsophon-current/lib)\n"
           "  --family F             chatglm2 | llama2 | wizardcoder | smollm2 | qwen2: what the deployment expects\n"
           "                         (default: inferred from the nets; smollm2 and qwen2 must be named)\n"
           "  --layers N             layer count the deployment expects (default: inferred from block_N)\n"
           "  --device N             TPU device id (default 0)\n"
           "  --model-name NAME      model id shown to clients (default: the bmodel's file stem)\n";
}

tpu::EngineOptions engine_options(const CommandLine &line, bool need_tokenizer) {
    tpu::EngineOptions options;
    options.model_path = line.required("model");
    options.tokenizer_path = need_tokenizer ? line.required("tokenizer") : line.text("tokenizer");
    options.runtime_dir = line.text("runtime-dir");
    options.expected_family = line.text("family");
    if (!options.expected_family.empty() && options.expected_family != "chatglm2" && options.expected_family != "llama2" &&
        options.expected_family != "wizardcoder" && options.expected_family != "smollm2" &&
        options.expected_family != "qwen2")
        throw UsageError("--family must be chatglm2, llama2, wizardcoder, smollm2 or qwen2, not '" +
                         options.expected_family + "'");
    options.expected_layers = line.integer("layers", 0);
    if (options.expected_layers < 0) throw UsageError("--layers must be positive");
    options.device = line.integer("device", 0);
    options.model_name = line.text("model-name");
    return options;
}

std::vector<tpu::ChatMessage> parse_messages(const std::string &json_or_file, const std::string &option) {
    std::string text = json_or_file;
    if (!text.empty() && text[0] == '@') {
        std::ifstream file(text.substr(1), std::ios::binary);
        if (!file) throw UsageError("--" + option + ": cannot read " + text.substr(1));
        std::stringstream buffer;
        buffer << file.rdbuf();
        text = buffer.str();
    }
    nlohmann::json value;
    try {
        value = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &error) {
        throw UsageError("--" + option + " is not valid JSON: " + std::string(error.what()));
    }
    if (!value.is_array()) throw UsageError("--" + option + " must be a JSON array of messages");
    std::vector<tpu::ChatMessage> messages;
    for (const auto &item : value) {
        if (item.is_string()) {
            messages.push_back({"user", item.get<std::string>()});
        } else if (item.is_object() && item.contains("role") && item["role"].is_string() && item.contains("content") &&
                   item["content"].is_string()) {
            std::string role = item["role"].get<std::string>();
            if (role != "system" && role != "user" && role != "assistant")
                throw UsageError("--" + option + ": role '" + role + "' is not system, user or assistant");
            messages.push_back({role, item["content"].get<std::string>()});
        } else {
            throw UsageError("--" + option + ": each message must be a string or {\"role\":…, \"content\":…}");
        }
    }
    return messages;
}

std::string json_string(const std::string &text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tpu_cli
