/* Each family's chat format: the history (system, user/assistant rounds, the last user message) as ids. */
#pragma once

#include <vector>

#include "../runtime/net_catalog.h"
#include "tokenizer.h"
#include "tpu_llm_engine.h"

namespace tpu {

/* A history split into what the formats need. */
struct Conversation {
    std::string system;                                        /* empty: none */
    std::vector<std::pair<std::string, std::string>> rounds;   /* finished (user, assistant) rounds, oldest first */
    std::string question;                                      /* the last user message */
    /* The start of the answer to `question` when the conversation ends with an assistant message (a prefill, as
     * llama-server accepts it): the prompt ends with it instead of closing it, and the model continues it. */
    std::string prefill;
};

/* Throws EngineError(input) unless the messages are [system] (user assistant)* user [assistant]. */
Conversation split_conversation(const std::vector<ChatMessage> &messages);

/* The prompt ids for the family, exactly as fed to the model:
 *   chatglm2: [gMASK] sop + "[Round 1]\n\n问：q\n\n答：a\n\n[Round 2]\n\n问：q\n\n答：" (sop/gMASK = SP vocab + 3 / + 1)
 *   llama2:   per round BOS "[INST] (<<SYS>>\n s \n<</SYS>>\n\n) q [/INST] a " EOS, then BOS "[INST] q [/INST]"
 *   wizardcoder: the Alpaca instruction format;
 *   smollm2, qwen2: ChatML, "<|im_start|>role\ncontent<|im_end|>\n" per message, then "<|im_start|>assistant\n";
 *             stops on <|im_end|> (the tokenizer's eos_token); without a system message, the model's default one.
 * A prefill is the text the answer begins with: it follows the answer's cue where a finished round's answer would
 * ("答：", "[/INST] ", "### Response:", "<|im_start|>assistant\n"), encoded with the cue, never closed. */
std::vector<int> build_prompt(ModelFamily family, const Tokenizer &tokenizer, const Conversation &conversation);

}  // namespace tpu
