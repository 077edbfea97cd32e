// `tpu-llm-engine tokenize`: the tokenizer alone, no device needed.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command_line.h"
#include "commands.h"
#include "model_options.h"
#include "tpu_llm_tools.h"

namespace tpu_cli {

namespace {

const char *kHelp =
    "usage: tpu-llm-engine tokenize --tokenizer T --family F (--text TEXT | --chat JSON | --ids 1,2,3)\n"
    "\n"
    "  --tokenizer T      sentencepiece tokenizer.model (chatglm2, llama2) or a directory / vocab.json with\n"
    "                     merges.txt beside it (wizardcoder)\n"
    "  --family F         chatglm2 | llama2 | wizardcoder | smollm2 | qwen2\n"
    "  --text TEXT        prints the ids of the plain text (no BOS, no chat format) as a JSON array\n"
    "  --text-file FILE   the same for a file's text; with --summary prints {\"bytes\",\"ids\",\"seconds\"} (encoding only)\n"
    "  --chat JSON        prints the prompt ids the family's chat format gives for the messages\n"
    "                     ([{\"role\":\"user\",\"content\":\"hi\"}], or @FILE)\n"
    "  --ids 1,2,3        prints the text of the ids as a JSON string\n";

}  // namespace

/* --text-file: the ids of a whole file; with --summary only their count and the time encoding took (the
 * tokenizer benchmark: process start and tokenizer load are not counted). */
int tokenize_file(const std::string &tokenizer, const std::string &family, const std::string &path, bool summary) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw UsageError("--text-file: cannot read " + path);
    std::stringstream buffer;
    buffer << file.rdbuf();
    const std::string text = buffer.str();
    tpu::tokenize_text(tokenizer, family, "warm up");  // loads the tokenizer outside the timed part
    auto started = std::chrono::steady_clock::now();
    std::vector<int> ids = tpu::tokenize_text(tokenizer, family, text);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (summary) {
        std::printf("{\"bytes\":%zu,\"ids\":%zu,\"seconds\":%.6f}\n", text.size(), ids.size(), seconds);
        return exit_ok;
    }
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    std::printf("%s]\n", out.c_str());
    return exit_ok;
}

int run_tokenize(int argc, char **argv) {
    try {
        CommandLine line(argc, argv, {"tokenizer", "family", "text", "text-file", "chat", "ids"}, {"summary"});
        if (line.help()) {
            std::fputs(kHelp, stdout);
            return exit_ok;
        }
        std::string tokenizer = line.required("tokenizer");
        std::string family = line.required("family");
        int inputs = int(line.has("text")) + int(line.has("text-file")) + int(line.has("chat")) + int(line.has("ids"));
        if (inputs != 1) throw UsageError("tokenize: give exactly one of --text, --text-file, --chat, --ids");
        if (family != "chatglm2" && family != "llama2" && family != "wizardcoder" && family != "smollm2" &&
            family != "qwen2")
            throw UsageError("--family must be chatglm2, llama2, wizardcoder, smollm2 or qwen2, not '" + family + "'");
        try {
            if (line.has("ids")) {
                std::printf("%s\n", json_string(tpu::detokenize(tokenizer, family, parse_id_list(line.text("ids"), "ids"))).c_str());
                return exit_ok;
            }
            if (line.has("text-file")) return tokenize_file(tokenizer, family, line.text("text-file"), line.has("summary"));
            std::vector<int> ids = line.has("text") ? tpu::tokenize_text(tokenizer, family, line.text("text"))
                                                    : tpu::tokenize_chat(tokenizer, family, parse_messages(line.text("chat"), "chat"));
            std::string text = "[";
            for (size_t i = 0; i < ids.size(); ++i) text += (i ? "," : "") + std::to_string(ids[i]);
            std::printf("%s]\n", text.c_str());
            return exit_ok;
        } catch (const tpu::EngineError &error) {
            print_error(error.what());
            return error.kind == tpu::EngineError::Kind::load ? exit_load_failed : exit_usage;
        }
    } catch (const UsageError &error) {
        print_error(error.what());
        return exit_usage;
    }
}

}  // namespace tpu_cli
