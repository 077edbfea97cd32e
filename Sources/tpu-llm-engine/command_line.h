/* Options of one command: `--name value` pairs and `--flag`s, with errors that say what to type. */
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tpu_cli {

/* A mistake in the command line (exit 2). */
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class CommandLine {
  public:
    /* `valued`: options that take a value; `flags`: options that do not. Throws UsageError on anything else. */
    CommandLine(int argc, char **argv, const std::vector<std::string> &valued, const std::vector<std::string> &flags);

    bool has(const std::string &name) const { return values_.count(name) > 0; }
    bool help() const { return help_; }
    std::string text(const std::string &name, const std::string &fallback = "") const;
    std::vector<std::string> all(const std::string &name) const;
    std::string required(const std::string &name) const;
    int integer(const std::string &name, int fallback) const;
    double number(const std::string &name, double fallback) const;
    unsigned long long unsigned_integer(const std::string &name, unsigned long long fallback) const;

  private:
    std::string command_;
    std::multimap<std::string, std::string> values_;
    bool help_ = false;
};

/* "1,2, 3" → {1,2,3}; throws UsageError naming the option. */
std::vector<int> parse_id_list(const std::string &text, const std::string &option);

/* One line on stderr: "tpu-llm-engine: error: <message>". */
void print_error(const std::string &message);

}  // namespace tpu_cli
