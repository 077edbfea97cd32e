#include "runtime_log.h"

#include <cctype>
#include <vector>

namespace tpu {

namespace {

std::string lowercase(std::string text) {
    for (char &c : text) c = char(std::tolower((unsigned char)c));
    return text;
}

bool is_error_level(const std::string &level) {
    return level == "fatal" || level == "wrong" || level == "error" || level == "panic";
}

bool is_level(const std::string &level) {
    return is_error_level(level) || level == "info" || level == "warning" || level == "debug" || level == "verbose" ||
           level == "quiet";
}

std::string trimmed(const std::string &text) {
    size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    size_t last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

std::vector<std::string> lines_of(const std::string &output) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < output.size()) {
        size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        lines.push_back(output.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

}  // namespace

RuntimeLogLine parse_runtime_line(const std::string &raw) {
    RuntimeLogLine line;
    std::string rest = trimmed(raw);
    std::string level;
    /* Leading "[...]" groups; libbmlib's second group is its level. */
    while (!rest.empty() && rest[0] == '[') {
        size_t close = rest.find(']');
        if (close == std::string::npos) break;
        std::string group = lowercase(rest.substr(1, close - 1));
        if (is_level(group)) level = group;
        rest.erase(0, close + 1);
        line.logged = true;
    }
    rest = trimmed(rest);
    /* libbmrt and the bmodel reader: "LEVEL:text". */
    size_t colon = rest.find(':');
    if (line.logged && level.empty() && colon != std::string::npos && is_level(lowercase(trimmed(rest.substr(0, colon))))) {
        level = lowercase(trimmed(rest.substr(0, colon)));
        rest = trimmed(rest.substr(colon + 1));
    }
    line.text = rest;
    line.error = is_error_level(level);
    return line;
}

std::string runtime_reason(const std::string &output) {
    std::string errors, plain, last;
    auto append = [](std::string &joined, const std::string &text) { joined += (joined.empty() ? "" : "; ") + text; };
    for (const std::string &raw : lines_of(output)) {
        RuntimeLogLine line = parse_runtime_line(raw);
        if (line.text.empty()) continue;
        last = line.text;
        if (line.error) append(errors, line.text);
        else if (!line.logged) append(plain, line.text);
    }
    if (!errors.empty()) return errors;
    return plain.empty() ? last : plain;
}

bool reports_out_of_device_memory(const std::string &output) {
    for (const char *message : {"bm_alloc_gmem failed", "coeff alloc failed", "device mem alloc failed"})
        if (output.find(message) != std::string::npos) return true;
    return false;
}

}  // namespace tpu
