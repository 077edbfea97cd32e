#include "command_output.h"

#include <unistd.h>

namespace tpu_cli {

CommandOutput::CommandOutput() {
    std::fflush(stdout);
    int kept = dup(1);
    if (kept < 0) return;
    file_ = fdopen(kept, "w");
    if (file_ == nullptr) {
        close(kept);
        return;
    }
    if (dup2(2, 1) < 0) {
        std::fclose(file_);
        file_ = nullptr;
    }
}

CommandOutput::~CommandOutput() {
    if (file_ == nullptr) return;
    std::fflush(stdout);
    std::fflush(file_);
    dup2(fileno(file_), 1);
    std::fclose(file_);
}

}  // namespace tpu_cli
