#include "prompt_format.h"
#include "tokenizer.h"
#include "tpu_llm_tools.h"
#include "utf8_stream.h"

namespace tpu {

std::vector<int> tokenize_text(const std::string &tokenizer_path, const std::string &family, const std::string &text) {
    parse_family(family);
    return load_tokenizer(tokenizer_path, family)->encode(text);
}

std::vector<int> tokenize_chat(const std::string &tokenizer_path, const std::string &family,
                               const std::vector<ChatMessage> &messages) {
    ModelFamily parsed = parse_family(family);
    auto tokenizer = load_tokenizer(tokenizer_path, family);
    return build_prompt(parsed, *tokenizer, split_conversation(messages));
}

std::string detokenize(const std::string &tokenizer_path, const std::string &family, const std::vector<int> &ids) {
    parse_family(family);
    auto tokenizer = load_tokenizer(tokenizer_path, family);
    Utf8TextStream stream(*tokenizer);
    std::string text;
    for (int id : ids) text += stream.push(id);
    return text + stream.flush();
}

}  // namespace tpu
