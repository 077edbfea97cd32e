/* Unicode Normalization Form C, as Hugging Face's NFC normaliser applies it before Qwen's pre-tokenizer. */
#pragma once

#include <string>

namespace tpu {

/* The NFC form of UTF-8 text (canonical decomposition, canonical ordering, canonical composition; UAX #15).
 * Text that is not valid UTF-8 is returned unchanged. */
std::string nfc_normalize(const std::string &text);

}  // namespace tpu
