// tpu-llm-engine: the resident LLM engine of a BM1684X board (and of simulated boards). See docs/engine-interface.md.
#include <cstdio>
#include <cstring>

#include "commands.h"

namespace {

const char *kUsage =
    "tpu-llm-engine: runs an LLM-TPU split bmodel (chatglm2, llama2) on a BM1684X through libsophon.\n"
    "\n"
    "usage:\n"
    "  tpu-llm-engine serve    --model M.bmodel --tokenizer T [options]   resident OpenAI-compatible server\n"
    "  tpu-llm-engine generate --model M.bmodel --tokenizer T (--prompt TEXT | --messages JSON | --ids 1,2,3\n"
    "                          | --rounds FILE) [options]                 one generation, printed as it streams\n"
    "  tpu-llm-engine tokenize --tokenizer T --family F (--text TEXT | --chat JSON | --ids 1,2,3)\n"
    "                                                                     ids (or text) as JSON, no device needed\n"
    "  tpu-llm-engine info     --model M.bmodel [--runtime-dir DIR]       nets, family, layers, seq_len as JSON\n"
    "\n"
    "`tpu-llm-engine COMMAND --help` lists a command's options.\n"
    "Exit codes: 0 ok, 2 usage, 3 model/tokenizer/runtime failed to load, 4 generation failed.\n";

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "help") == 0) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? tpu_cli::exit_usage : tpu_cli::exit_ok;
    }
    const char *command = argv[1];
    if (std::strcmp(command, "generate") == 0) return tpu_cli::run_generate(argc - 1, argv + 1);
    if (std::strcmp(command, "tokenize") == 0) return tpu_cli::run_tokenize(argc - 1, argv + 1);
    if (std::strcmp(command, "info") == 0) return tpu_cli::run_info(argc - 1, argv + 1);
    if (std::strcmp(command, "serve") == 0) return tpu_cli::run_serve(argc - 1, argv + 1);
    std::fprintf(stderr, "tpu-llm-engine: error: unknown command '%s': use serve, generate, tokenize or info (--help)\n",
                 command);
    return tpu_cli::exit_usage;
}
