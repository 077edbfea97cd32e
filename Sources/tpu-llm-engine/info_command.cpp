// `tpu-llm-engine info`: what a bmodel's nets say (family, layers, seq_len), as JSON.
#include <cstdio>

#include "command_line.h"
#include "command_output.h"
#include "commands.h"
#include "model_options.h"
#include "tpu_llm_tools.h"

namespace tpu_cli {

namespace {

const char *kHelp =
    "usage: tpu-llm-engine info --model M.bmodel [--runtime-dir DIR] [--family F] [--layers N] [--device N]\n"
    "\n"
    "Loads the bmodel through the runtime and prints {\"model\",\"family\",\"layout\",\"layers\",\"seq_len\",\"nets\"} as JSON.\n"
    "With --family/--layers, a model that does not match them is a load error (exit 3).\n\n%s";

}  // namespace

int run_info(int argc, char **argv) {
    try {
        CommandLine line(argc, argv, model_option_names(), {});
        if (line.help()) {
            std::printf(kHelp, model_options_help());
            return exit_ok;
        }
        tpu::EngineOptions options = engine_options(line, false);
        CommandOutput output;
        try {
            tpu::ModelDescription description = tpu::inspect_model(options);
            std::string nets = "[";
            for (size_t i = 0; i < description.nets.size(); ++i) nets += (i ? "," : "") + json_string(description.nets[i]);
            std::fprintf(output.file(), "{\"model\":%s,\"family\":\"%s\",\"layout\":%s,\"layers\":%d,\"seq_len\":%d,\"nets\":%s]}\n",
                         json_string(description.name).c_str(), description.family.c_str(),
                         json_string(description.layout).c_str(), description.layers, description.seq_len, nets.c_str());
            return exit_ok;
        } catch (const tpu::EngineError &error) {
            print_error(error.what());
            return exit_load_failed;
        }
    } catch (const UsageError &error) {
        print_error(error.what());
        return exit_usage;
    }
}

}  // namespace tpu_cli
