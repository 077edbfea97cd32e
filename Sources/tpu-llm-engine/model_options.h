/* The options every command that loads a model shares (--model, --tokenizer, --runtime-dir, --family, ...). */
#pragma once

#include <string>
#include <vector>

#include "command_line.h"
#include "tpu_llm_engine.h"

namespace tpu_cli {

/* --model --tokenizer --runtime-dir --family --layers --device --model-name */
const std::vector<std::string> &model_option_names();
/* Help lines for those options. */
const char *model_options_help();
/* EngineOptions from the command line; `need_tokenizer`: --tokenizer is required. */
tpu::EngineOptions engine_options(const CommandLine &line, bool need_tokenizer);
/* Messages from JSON text: an array of {"role","content"} objects (or of strings: user messages). A value
 * starting with '@' names a file to read. Throws UsageError. */
std::vector<tpu::ChatMessage> parse_messages(const std::string &json_or_file, const std::string &option);
/* JSON text of any string, invalid UTF-8 replaced. */
std::string json_string(const std::string &text);

}  // namespace tpu_cli
