/* Fitting a chat into the context (docs/engine-interface.md): keep the system message and the last user
 * message, drop the oldest whole rounds until the prompt leaves `reserve` tokens for the answer. */
#pragma once

#include <functional>
#include <vector>

#include "../text/prompt_format.h"

namespace tpu {

struct FittedPrompt {
    std::vector<int> ids;
    int dropped_rounds = 0;
};

/* reserve = min(max_tokens, seq_len / 4) (max_tokens < 0: seq_len / 4). Throws EngineError(context) when
 * the last user message alone (with the system message and format tokens) does not fit. */
FittedPrompt fit_prompt(const Conversation &conversation, int seq_len, int max_tokens,
                        const std::function<std::vector<int>(const Conversation &)> &build);

}  // namespace tpu
