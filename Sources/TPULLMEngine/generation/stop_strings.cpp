#include "stop_strings.h"

#include <algorithm>

namespace tpu {

StopStringFilter::StopStringFilter(std::vector<std::string> stops) {
    for (auto &stop : stops)
        if (!stop.empty()) stops_.push_back(std::move(stop));
}

StopStringFilter::Output StopStringFilter::push(const std::string &text) {
    held_ += text;
    Output output;
    size_t first = std::string::npos;
    for (const auto &stop : stops_) first = std::min(first, held_.find(stop));
    if (first != std::string::npos) {
        output.text = held_.substr(0, first);
        output.stopped = true;
        held_.clear();
        return output;
    }
    /* Hold the longest tail that is the beginning of some stop string. */
    size_t hold = 0;
    for (const auto &stop : stops_)
        for (size_t length = std::min(stop.size() - 1, held_.size()); length > hold; --length)
            if (held_.compare(held_.size() - length, length, stop, 0, length) == 0) {
                hold = length;
                break;
            }
    output.text = held_.substr(0, held_.size() - hold);
    held_.erase(0, held_.size() - hold);
    return output;
}

std::string StopStringFilter::flush() {
    std::string text;
    text.swap(held_);
    return text;
}

}  // namespace tpu
