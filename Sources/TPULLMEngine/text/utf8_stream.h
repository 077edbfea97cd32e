/* Turns generated ids into text pieces as soon as they are complete UTF-8 (a character may span several
 * byte-fallback or byte-level tokens). */
#pragma once

#include <string>

#include "tokenizer.h"

namespace tpu {

class Utf8TextStream {
  public:
    explicit Utf8TextStream(const Tokenizer &tokenizer) : tokenizer_(tokenizer) {}
    /* Adds a token; returns the text that became complete (possibly empty). */
    std::string push(int id);
    /* The bytes still pending at the end, each incomplete character replaced by U+FFFD. */
    std::string flush();

  private:
    const Tokenizer &tokenizer_;
    std::string pending_;
    bool started_ = false;
};

/* Length of the longest prefix of `bytes` made of complete UTF-8 characters; invalid bytes count as complete. */
size_t complete_utf8_prefix(const std::string &bytes);

}  // namespace tpu
