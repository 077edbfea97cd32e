/* Stop strings over streamed text: text that could still become a stop string is held back until it cannot. */
#pragma once

#include <string>
#include <vector>

namespace tpu {

class StopStringFilter {
  public:
    explicit StopStringFilter(std::vector<std::string> stops);

    struct Output {
        std::string text;     /* safe to show now */
        bool stopped = false; /* a stop string appeared: `text` ends just before it */
    };
    Output push(const std::string &text);
    /* What was held back, at the end of a generation that did not stop on a stop string. */
    std::string flush();

  private:
    std::vector<std::string> stops_;
    std::string held_;
};

}  // namespace tpu
