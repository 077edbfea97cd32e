// `tpu-llm-engine generate`: one generation (or a multi-round chat) from the command line.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "command_line.h"
#include "command_output.h"
#include "commands.h"
#include "model_options.h"
#include "tpu_llm_engine.h"

namespace tpu_cli {

namespace {

const char *kHelp =
    "usage: tpu-llm-engine generate --model M.bmodel --tokenizer T INPUT [options]\n"
    "\n"
    "INPUT, one of:\n"
    "  --prompt TEXT          one user message, in the family's chat format\n"
    "  --messages JSON        a chat: [{\"role\":\"system|user|assistant\",\"content\":\"...\"}, ...] (or @FILE)\n"
    "  --ids 1,2,3            ready-made prompt ids, fed as they are (no format, no BOS added)\n"
    "  --rounds FILE          a JSON array of user messages: a multi-round chat where each answer joins the\n"
    "                         history; prints {\"rounds\":[{\"prompt_ids\",\"tokens\",\"text\",\"stop_reason\"}...]}\n"
    "\n"
    "options:\n"
    "%s"
    "  --max-tokens N         stop after N tokens (default: until EOS or the context is full)\n"
    "  --temperature T        0 (default) is greedy; above 0 samples\n"
    "  --top-p P              nucleus sampling mass (default 1)\n"
    "  --seed N               sampling seed (default 0)\n"
    "  --stop TEXT            stop before this text (repeatable)\n"
    "  --system TEXT          system message for --prompt and --rounds\n"
    "  --json                 print one JSON object at the end:\n"
    "                         {\"prompt_ids\":[...],\"tokens\":[...],\"text\":\"...\",\"stop_reason\":\"eos|length|stop\"}\n"
    "                         (without it the text streams to stdout and timings go to stderr)\n"
    "\n"
    "example:\n"
    "  tpu-llm-engine generate --model chatglm2-sim.bmodel --tokenizer tokenizer.model --prompt 'hello' --max-tokens 20\n";

std::string ids_json(const std::vector<int> &ids) {
    std::string text = "[";
    for (size_t i = 0; i < ids.size(); ++i) text += (i ? "," : "") + std::to_string(ids[i]);
    return text + "]";
}

std::string result_json(const tpu::GenerationResult &result) {
    char timing[160];
    std::snprintf(timing, sizeof timing,
                  ",\"dropped_rounds\":%d,\"time_to_first_token_seconds\":%.6f,\"decode_tokens_per_second\":%.3f",
                  result.dropped_rounds, result.time_to_first_token_seconds, result.decode_tokens_per_second);
    return "{\"prompt_ids\":" + ids_json(result.prompt_ids) + ",\"tokens\":" + ids_json(result.tokens) +
           ",\"text\":" + json_string(result.text) + ",\"stop_reason\":\"" + tpu::stop_reason_name(result.stop_reason) +
           "\"" + timing + "}";
}

std::string read_text_file(const std::string &path, const std::string &option) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw UsageError("--" + option + ": cannot read " + path);
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
}

}  // namespace

int run_generate(int argc, char **argv) {
    std::vector<std::string> valued = model_option_names();
    valued.insert(valued.end(), {"prompt", "messages", "ids", "rounds", "max-tokens", "temperature", "top-p", "seed",
                                 "stop", "system"});
    tpu::SamplingOptions sampling;
    tpu::EngineOptions options;
    int inputs = 0;
    bool json = false;
    try {
        CommandLine line(argc, argv, valued, {"json"});
        if (line.help()) {
            std::printf(kHelp, model_options_help());
            return exit_ok;
        }
        for (const char *input : {"prompt", "messages", "ids", "rounds"}) inputs += line.has(input) ? 1 : 0;
        if (inputs != 1) throw UsageError("generate: give exactly one of --prompt, --messages, --ids, --rounds");
        options = engine_options(line, true);
        sampling.max_tokens = line.integer("max-tokens", -1);
        if (line.has("max-tokens") && sampling.max_tokens < 1) throw UsageError("--max-tokens must be at least 1");
        sampling.temperature = float(line.number("temperature", 0.0));
        if (sampling.temperature < 0) throw UsageError("--temperature must not be negative");
        sampling.top_p = float(line.number("top-p", 1.0));
        if (sampling.top_p <= 0 || sampling.top_p > 1) throw UsageError("--top-p must be in (0, 1]");
        sampling.seed = line.unsigned_integer("seed", 0);
        sampling.stop = line.all("stop");
        json = line.has("json");

        /* Parse every input before the (slow) model load, so usage mistakes fail fast. */
        std::vector<int> ids;
        std::vector<tpu::ChatMessage> messages, rounds;
        std::string system = line.text("system");
        if (line.has("ids")) ids = parse_id_list(line.text("ids"), "ids");
        if (line.has("messages")) messages = parse_messages(line.text("messages"), "messages");
        if (line.has("prompt")) {
            if (!system.empty()) messages.push_back({"system", system});
            messages.push_back({"user", line.text("prompt")});
        }
        if (line.has("rounds")) {
            rounds = parse_messages(read_text_file(line.text("rounds"), "rounds"), "rounds");
            for (const auto &message : rounds)
                if (message.role != "user") throw UsageError("--rounds: every entry must be a user message");
            if (rounds.empty()) throw UsageError("--rounds: the file holds no messages");
        }

        CommandOutput output;
        std::FILE *out = output.file();
        std::unique_ptr<tpu::LanguageModel> model;
        try {
            model = tpu::load_language_model(options);
        } catch (const tpu::EngineError &error) {
            print_error(error.what());
            return error.kind == tpu::EngineError::Kind::load ? exit_load_failed : exit_generation_failed;
        }

        tpu::TextCallback stream = [&](const std::string &piece) {
            if (!json) {
                std::fwrite(piece.data(), 1, piece.size(), out);
                std::fflush(out);
            }
            return true;
        };
        try {
            if (line.has("rounds")) {
                std::vector<tpu::ChatMessage> history;
                if (!system.empty()) history.push_back({"system", system});
                std::string rounds_json = "{\"rounds\":[";
                for (size_t i = 0; i < rounds.size(); ++i) {
                    history.push_back(rounds[i]);
                    tpu::GenerationResult result = model->chat(history, sampling, stream);
                    if (!json) std::fputs("\n", out);
                    history.push_back({"assistant", result.text});
                    rounds_json += (i ? "," : "") + result_json(result);
                }
                if (json) std::fprintf(out, "%s]}\n", rounds_json.c_str());
                return exit_ok;
            }
            tpu::GenerationResult result =
                line.has("ids") ? model->generate_ids(ids, sampling, stream) : model->chat(messages, sampling, stream);
            if (json) {
                std::fprintf(out, "%s\n", result_json(result).c_str());
            } else {
                std::fputs("\n", out);
                std::fprintf(stderr, "[%zu prompt tokens, %zu generated, stop: %s, first token %.3f s, %.1f tokens/s]\n",
                             result.prompt_ids.size(), result.tokens.size(), tpu::stop_reason_name(result.stop_reason),
                             result.time_to_first_token_seconds, result.decode_tokens_per_second);
            }
            return exit_ok;
        } catch (const tpu::EngineError &error) {
            print_error(error.what());
            return error.kind == tpu::EngineError::Kind::load ? exit_load_failed : exit_generation_failed;
        }
    } catch (const UsageError &error) {
        print_error(error.what());
        return exit_usage;
    } catch (const tpu::EngineError &error) {
        print_error(error.what());
        return error.kind == tpu::EngineError::Kind::load ? exit_load_failed : exit_usage;
    }
}

}  // namespace tpu_cli
