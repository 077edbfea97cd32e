/* GPT-2's pre-tokenization, by hand: the text split the way the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * splits it (alternatives tried in that order at each position). */
#pragma once

#include <string>
#include <vector>

namespace tpu {

std::vector<std::string> gpt2_pretokenize(const std::string &text);

}  // namespace tpu

namespace tpu {

/* StarCoder's pre-tokenization (Hugging Face: Sequence[Digits(individual_digits=true), ByteLevel(use_regex)],
 * llama.cpp's "starcoder"/"smollm" pre-tokenizer): every \p{N} character is a piece of its own, and each run of
 * other characters between them is split by gpt2_pretokenize on its own (so " 42" is " ", "4", "2"). */
std::vector<std::string> starcoder_pretokenize(const std::string &text);

/* Qwen2's pre-tokenization (Qwen1.5 and Qwen2 tokenizer.json: Split on the regex below, behaviour Isolated, then
 * ByteLevel without its own regex; llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Unlike GPT-2's: one number character per piece, any one non-letter (not a line break) may lead a word, and line
 * breaks stick to the punctuation or spaces before them. */
std::vector<std::string> qwen2_pretokenize(const std::string &text);

}  // namespace tpu
