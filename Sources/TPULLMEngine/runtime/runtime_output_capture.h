/* Collects what a runtime call prints on stderr (libsophon logs its reasons there instead of returning them). */
#pragma once

#include <string>

namespace tpu {

class StderrCapture {
  public:
    StderrCapture();   /* from now on, fd 2 goes to a temporary file */
    ~StderrCapture();  /* restores fd 2 and replays what was captured */
    StderrCapture(const StderrCapture &) = delete;
    StderrCapture &operator=(const StderrCapture &) = delete;

    /* Restores fd 2 and returns everything captured (also replayed to the real stderr unless `quiet`). */
    std::string finish(bool quiet = false);
    /* The last non-empty line of `text`, without log prefixes such as "[BMRT][...] ERROR". */
    static std::string last_reason(const std::string &text);

  private:
    int saved_fd_ = -1;
    int file_fd_ = -1;
};

}  // namespace tpu
