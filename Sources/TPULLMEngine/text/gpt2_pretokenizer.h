/* GPT-2's pre-tokenization, by hand: the text split the way the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * splits it (alternatives tried in that order at each position). */
#pragma once

#include <string>
#include <vector>

namespace tpu {

std::vector<std::string> gpt2_pretokenize(const std::string &text);

}  // namespace tpu
