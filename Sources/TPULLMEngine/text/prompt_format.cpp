#include "prompt_format.h"

namespace tpu {

namespace {

void append(std::vector<int> &ids, const std::vector<int> &more) { ids.insert(ids.end(), more.begin(), more.end()); }

std::vector<int> chatglm2_prompt(const Tokenizer &tokenizer, const Conversation &conversation) {
    const int gmask = tokenizer.piece_count() + 1, sop = tokenizer.piece_count() + 3;
    std::string text;
    if (!conversation.system.empty()) text += conversation.system + "\n\n";
    int round = 1;
    for (const auto &[question, answer] : conversation.rounds)
        text += "[Round " + std::to_string(round++) + "]\n\n问：" + question + "\n\n答：" + answer + "\n\n";
    text += "[Round " + std::to_string(round) + "]\n\n问：" + conversation.question + "\n\n答：" + conversation.prefill;
    std::vector<int> ids{gmask, sop};
    append(ids, tokenizer.encode(text));
    return ids;
}

std::vector<int> llama2_prompt(const Tokenizer &tokenizer, const Conversation &conversation) {
    std::vector<int> ids;
    bool first = true;
    auto user_text = [&](const std::string &question) {
        std::string text = question;
        if (first && !conversation.system.empty()) text = "<<SYS>>\n" + conversation.system + "\n<</SYS>>\n\n" + question;
        first = false;
        return text;
    };
    for (const auto &[question, answer] : conversation.rounds) {
        ids.push_back(tokenizer.bos_id());
        append(ids, tokenizer.encode("[INST] " + user_text(question) + " [/INST] " + answer + " "));
        ids.push_back(tokenizer.eos_id());
    }
    ids.push_back(tokenizer.bos_id());
    /* A finished round's answer follows "[/INST] " (with its space); a prefill is put where that answer would be. */
    const std::string cue = conversation.prefill.empty() ? " [/INST]" : " [/INST] " + conversation.prefill;
    append(ids, tokenizer.encode("[INST] " + user_text(conversation.question) + cue));
    return ids;
}

std::vector<int> wizardcoder_prompt(const Tokenizer &tokenizer, const Conversation &conversation) {
    std::string text = conversation.system.empty()
                           ? "Below is an instruction that describes a task. Write a response that appropriately "
                             "completes the request."
                           : conversation.system;
    for (const auto &[question, answer] : conversation.rounds)
        text += "\n\n### Instruction:\n" + question + "\n\n### Response:" + answer;
    text += "\n\n### Instruction:\n" + conversation.question + "\n\n### Response:" + conversation.prefill;
    return tokenizer.encode(text);
}

/* ChatML (SmolLM2's tokenizer.chat_template, also Qwen's): every message is
 *   <|im_start|> role "\n" content <|im_end|> "\n"
 * and the prompt ends with the generation prompt <|im_start|> "assistant\n". The two markers are control tokens,
 * put in by id: the text between them is encoded on its own, as Hugging Face's tokenizer does when it meets added
 * tokens in a text. Without a system message the template puts in the model's default one. A prefill follows the
 * generation prompt, left open (no <|im_end|>): what Hugging Face's apply_chat_template(continue_final_message=True)
 * and Qwen1.5's own template (no <|im_end|> after the last message) write, and what llama-server feeds the model
 * for such a conversation. */
std::vector<int> chatml_prompt(const Tokenizer &tokenizer, const Conversation &conversation, const std::string &default_system) {
    const int start = tokenizer.token_id("<|im_start|>"), end = tokenizer.token_id("<|im_end|>");
    if (start < 0 || end < 0)
        throw EngineError(EngineError::Kind::load, "the tokenizer has no <|im_start|>/<|im_end|> tokens: not a ChatML model");
    std::vector<int> ids;
    auto message = [&](const std::string &role, const std::string &content) {
        ids.push_back(start);
        append(ids, tokenizer.encode(role + "\n" + content));
        ids.push_back(end);
        append(ids, tokenizer.encode("\n"));
    };
    message("system", conversation.system.empty() ? default_system : conversation.system);
    for (const auto &[question, answer] : conversation.rounds) {
        message("user", question);
        message("assistant", answer);
    }
    message("user", conversation.question);
    ids.push_back(start);
    append(ids, tokenizer.encode("assistant\n" + conversation.prefill));
    return ids;
}

}  // namespace

Conversation split_conversation(const std::vector<ChatMessage> &messages) {
    auto bad = [](const std::string &why) { return EngineError(EngineError::Kind::input, why); };
    if (messages.empty()) throw bad("no messages: give at least one user message");
    Conversation conversation;
    size_t i = 0;
    if (messages[0].role == "system") {
        conversation.system = messages[0].content;
        i = 1;
    }
    /* A last assistant message after a user message is the start of the answer (a prefill). */
    size_t end = messages.size();
    if (end - i >= 2 && messages.back().role == "assistant" && messages[end - 2].role == "user") {
        conversation.prefill = messages.back().content;
        --end;
    }
    if (i == end || messages[end - 1].role != "user")
        throw bad("the last message must be a user message, or an assistant message (a prefill) after one");
    for (; i + 1 < end; i += 2) {
        if (messages[i].role != "user" || messages[i + 1].role != "assistant")
            throw bad("messages must alternate user and assistant after the optional system message (message " +
                      std::to_string(i + 1) + " is '" + messages[i].role + "')");
        conversation.rounds.emplace_back(messages[i].content, messages[i + 1].content);
    }
    conversation.question = messages[end - 1].content;
    return conversation;
}

std::vector<int> build_prompt(ModelFamily family, const Tokenizer &tokenizer, const Conversation &conversation) {
    switch (family) {
    case ModelFamily::chatglm2: return chatglm2_prompt(tokenizer, conversation);
    case ModelFamily::llama2: return llama2_prompt(tokenizer, conversation);
    case ModelFamily::wizardcoder: return wizardcoder_prompt(tokenizer, conversation);
    case ModelFamily::smollm2:
        return chatml_prompt(tokenizer, conversation, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
    /* The system message of LLM-TPU's Qwen1.5 and Qwen2 demos (python_demo/pipeline.py) and of Qwen2's template. */
    case ModelFamily::qwen2: return chatml_prompt(tokenizer, conversation, "You are a helpful assistant.");
    }
    return {};
}

}  // namespace tpu
