/* Where `info` and `generate` write their results. libbmrt and libbmlib print on stdout (sophgo/libsophon), during
 * the load and during launches alike, so while a command runs fd 1 points at stderr (the log) and the command
 * writes to a copy of the real stdout it kept: a caller parsing the JSON never meets a runtime line. */
#pragma once

#include <cstdio>

namespace tpu_cli {

class CommandOutput {
  public:
    CommandOutput();   /* keeps the real stdout, then points fd 1 at stderr */
    ~CommandOutput();  /* flushes and puts the real stdout back on fd 1 */
    CommandOutput(const CommandOutput &) = delete;
    CommandOutput &operator=(const CommandOutput &) = delete;

    /* The real stdout (stdout itself when it could not be kept apart). */
    std::FILE *file() const { return file_ != nullptr ? file_ : stdout; }

  private:
    std::FILE *file_ = nullptr;
};

}  // namespace tpu_cli
