#include "context_policy.h"

#include <algorithm>

namespace tpu {

FittedPrompt fit_prompt(const Conversation &conversation, int seq_len, int max_tokens,
                        const std::function<std::vector<int>(const Conversation &)> &build) {
    const int reserve = max_tokens < 0 ? seq_len / 4 : std::min(max_tokens, seq_len / 4);
    const int budget = seq_len - reserve;
    Conversation trimmed = conversation;
    FittedPrompt fitted;
    for (;;) {
        fitted.ids = build(trimmed);
        if (int(fitted.ids.size()) <= budget) return fitted;
        if (trimmed.rounds.empty()) break;
        trimmed.rounds.erase(trimmed.rounds.begin());
        ++fitted.dropped_rounds;
    }
    throw EngineError(EngineError::Kind::context,
                      "the last message needs " + std::to_string(fitted.ids.size()) +
                          " prompt tokens but the context holds " + std::to_string(budget) + " (seq_len " +
                          std::to_string(seq_len) + " minus " + std::to_string(reserve) +
                          " reserved for the answer); shorten the message");
}

}  // namespace tpu
