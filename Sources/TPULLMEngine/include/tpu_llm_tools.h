/*
 * What the command line needs besides a LanguageModel: a model's description without a tokenizer (`info`) and
 * the tokenizer alone (`tokenize`, no device needed).
 */
#pragma once

#include <string>
#include <vector>

#include "tpu_llm_engine.h"

namespace tpu {

/* Loads the runtime and the bmodel and describes its nets; throws EngineError(load). */
ModelDescription inspect_model(const EngineOptions &options);

/* The ids of plain text (no BOS/EOS, no format). Throws EngineError(load) when the tokenizer cannot be read. */
std::vector<int> tokenize_text(const std::string &tokenizer_path, const std::string &family, const std::string &text);

/* The prompt ids the family's chat format gives for `messages` (no context policy applied). */
std::vector<int> tokenize_chat(const std::string &tokenizer_path, const std::string &family,
                               const std::vector<ChatMessage> &messages);

/* The text of ids as the engine would stream it. */
std::string detokenize(const std::string &tokenizer_path, const std::string &family, const std::vector<int> &ids);

}  // namespace tpu
