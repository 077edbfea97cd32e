/*
 * Joins pieces of generated text so that each one handed on ends on a whole UTF-8 character: a byte-level
 * tokenizer may split a character across two tokens, and a JSON string cannot carry half of one.
 */
#pragma once

#include <string>

namespace tpu::server {

class Utf8Pieces {
  public:
    /* The complete characters of what came so far; an unfinished trailing sequence waits for the next piece. */
    std::string take(const std::string &piece);
    /* Whatever is left at the end (an unfinished sequence stays as it is). */
    std::string flush();

  private:
    std::string pending_;
};

}  // namespace tpu::server
