#include "runtime_output_capture.h"

#include <cstdio>
#include <unistd.h>

namespace tpu {

RuntimeOutputCapture::RuntimeOutputCapture() {
    std::fflush(stdout);
    std::fflush(stderr);
    char path[] = "/tmp/tpu-llm-engine-runtime-XXXXXX";
    file_fd_ = mkstemp(path);
    if (file_fd_ < 0) return; /* cannot capture: the runtime's words go where they would have gone */
    unlink(path);
    saved_stdout_ = dup(1);
    saved_stderr_ = dup(2);
    /* Both descriptors share the file's offset, so lines interleave in the order they were written. */
    if (saved_stdout_ < 0 || saved_stderr_ < 0 || dup2(file_fd_, 1) < 0 || dup2(file_fd_, 2) < 0) {
        if (saved_stdout_ >= 0) {
            dup2(saved_stdout_, 1);
            close(saved_stdout_);
        }
        if (saved_stderr_ >= 0) {
            dup2(saved_stderr_, 2);
            close(saved_stderr_);
        }
        close(file_fd_);
        saved_stdout_ = saved_stderr_ = file_fd_ = -1;
    }
}

RuntimeOutputCapture::~RuntimeOutputCapture() { finish(false); }

std::string RuntimeOutputCapture::finish(bool quiet) {
    if (file_fd_ < 0) return {};
    std::fflush(stdout);
    std::fflush(stderr);
    dup2(saved_stdout_, 1);
    dup2(saved_stderr_, 2);
    close(saved_stdout_);
    close(saved_stderr_);
    std::string text;
    char buffer[4096];
    lseek(file_fd_, 0, SEEK_SET);
    for (ssize_t n; (n = read(file_fd_, buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
    close(file_fd_);
    saved_stdout_ = saved_stderr_ = file_fd_ = -1;
    if (!quiet && !text.empty()) {
        ssize_t ignored = write(2, text.data(), text.size());
        (void)ignored;
    }
    return text;
}

}  // namespace tpu
