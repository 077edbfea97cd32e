#include "command_line.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace tpu_cli {

CommandLine::CommandLine(int argc, char **argv, const std::vector<std::string> &valued,
                         const std::vector<std::string> &flags)
    : command_(argc > 0 ? argv[0] : "") {
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--help" || argument == "-h") {
            help_ = true;
            continue;
        }
        std::string name = argument, value;
        size_t equals = argument.find('=');
        bool inline_value = argument.rfind("--", 0) == 0 && equals != std::string::npos;
        if (inline_value) {
            name = argument.substr(0, equals);
            value = argument.substr(equals + 1);
        }
        if (name.rfind("--", 0) != 0)
            throw UsageError(command_ + ": unexpected argument '" + argument + "' (see `tpu-llm-engine " + command_ + " --help`)");
        name = name.substr(2);
        if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
            if (inline_value) throw UsageError(command_ + ": --" + name + " takes no value");
            values_.emplace(name, "");
        } else if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
            if (!inline_value) {
                if (i + 1 >= argc) throw UsageError(command_ + ": --" + name + " needs a value");
                value = argv[++i];
            }
            values_.emplace(name, value);
        } else {
            throw UsageError(command_ + ": unknown option --" + name + " (see `tpu-llm-engine " + command_ + " --help`)");
        }
    }
}

std::string CommandLine::text(const std::string &name, const std::string &fallback) const {
    auto range = values_.equal_range(name);
    if (range.first == range.second) return fallback;
    return std::prev(range.second)->second; /* the last one wins */
}

std::vector<std::string> CommandLine::all(const std::string &name) const {
    std::vector<std::string> result;
    for (auto range = values_.equal_range(name); range.first != range.second; ++range.first) result.push_back(range.first->second);
    return result;
}

std::string CommandLine::required(const std::string &name) const {
    if (!has(name)) throw UsageError(command_ + ": --" + name + " is required");
    return text(name);
}

int CommandLine::integer(const std::string &name, int fallback) const {
    if (!has(name)) return fallback;
    std::string value = text(name);
    char *end = nullptr;
    errno = 0;
    long parsed = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || parsed < -2147483647L || parsed > 2147483647L)
        throw UsageError(command_ + ": --" + name + " wants an integer, not '" + value + "'");
    return int(parsed);
}

unsigned long long CommandLine::unsigned_integer(const std::string &name, unsigned long long fallback) const {
    if (!has(name)) return fallback;
    std::string value = text(name);
    char *end = nullptr;
    errno = 0;
    unsigned long long parsed = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || value[0] == '-' || *end != '\0' || errno != 0)
        throw UsageError(command_ + ": --" + name + " wants a non-negative integer, not '" + value + "'");
    return parsed;
}

double CommandLine::number(const std::string &name, double fallback) const {
    if (!has(name)) return fallback;
    std::string value = text(name);
    char *end = nullptr;
    double parsed = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') throw UsageError(command_ + ": --" + name + " wants a number, not '" + value + "'");
    return parsed;
}

std::vector<int> parse_id_list(const std::string &text, const std::string &option) {
    std::vector<int> ids;
    size_t i = 0;
    while (i < text.size()) {
        size_t comma = text.find(',', i);
        std::string item = text.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        char *end = nullptr;
        long id = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || id < 0 || id > 2147483647L)
            throw UsageError("--" + option + " wants comma-separated token ids like 1,2,3, not '" + text + "'");
        ids.push_back(int(id));
        if (comma == std::string::npos) break;
        i = comma + 1;
    }
    if (ids.empty()) throw UsageError("--" + option + " needs at least one token id");
    return ids;
}

void print_error(const std::string &message) {
    std::string line = message;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::fprintf(stderr, "tpu-llm-engine: error: %s\n", line.c_str());
}

}  // namespace tpu_cli
