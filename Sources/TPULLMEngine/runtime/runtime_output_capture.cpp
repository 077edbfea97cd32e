#include "stderr_capture.h"

#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <vector>
#include <unistd.h>

namespace tpu {

StderrCapture::StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/tpu-llm-engine-stderr-XXXXXX";
    file_fd_ = mkstemp(path);
    if (file_fd_ < 0) return; /* cannot capture: the runtime's words go to stderr as usual */
    unlink(path);
    saved_fd_ = dup(2);
    if (saved_fd_ < 0 || dup2(file_fd_, 2) < 0) {
        if (saved_fd_ >= 0) close(saved_fd_);
        close(file_fd_);
        saved_fd_ = file_fd_ = -1;
    }
}

StderrCapture::~StderrCapture() { finish(false); }

std::string StderrCapture::finish(bool quiet) {
    if (file_fd_ < 0) return {};
    std::fflush(stderr);
    dup2(saved_fd_, 2);
    close(saved_fd_);
    std::string text;
    char buffer[4096];
    lseek(file_fd_, 0, SEEK_SET);
    for (ssize_t n; (n = read(file_fd_, buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
    close(file_fd_);
    saved_fd_ = file_fd_ = -1;
    if (!quiet && !text.empty()) {
        ssize_t ignored = write(2, text.data(), text.size());
        (void)ignored;
    }
    return text;
}

std::string StderrCapture::last_reason(const std::string &text) {
    /* Plain sentences first (a runtime's own summary), then the lines logged as FATAL or ERROR, with their
     * "[BMRT][func:123] ERROR:" prefixes dropped; the last line when there are neither. */
    std::vector<std::string> plain, errors;
    std::string last;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        bool logged = !line.empty() && line[0] == '[';
        while (!line.empty() && line[0] == '[') {
            size_t close_bracket = line.find(']');
            if (close_bracket == std::string::npos) break;
            line.erase(0, close_bracket + 1);
        }
        bool error = false, chatter = false;
        size_t colon = line.find(':');
        if (logged && colon != std::string::npos) {
            std::string level = line.substr(0, colon);
            for (char &c : level) c = char(std::tolower((unsigned char)c));
            level.erase(0, level.find_first_not_of(" \t"));
            if (level == "fatal" || level == "error") error = true;
            if (level == "info" || level == "warning" || level == "debug") chatter = true;
            if (error || chatter) line.erase(0, colon + 1);
        }
        size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        line = line.substr(first);
        last = line;
        if (error) errors.push_back(line);
        else if (!logged) plain.push_back(line);
    }
    plain.insert(plain.end(), errors.begin(), errors.end());
    if (plain.empty()) return last;
    std::string joined;
    for (const auto &line : plain) joined += (joined.empty() ? "" : "; ") + line;
    return joined;
}

}  // namespace tpu
