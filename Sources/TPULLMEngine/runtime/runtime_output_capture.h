/* Collects what runtime calls print. libbmrt and libbmlib print their reasons on stdout (printf), the bmodel reader
 * on std::cout, not on stderr (sophgo/libsophon: tpu-runtime/include/bmruntime_common.h, bmlib/src/bmlib_log.cpp,
 * tpu-bmodel/src/bmodel.cpp); so while a call runs, fd 1 and fd 2 both go to one temporary file, in the order the
 * lines were written, and nothing the runtime says can land in a command's JSON on stdout. The descriptors are the
 * process's: what other threads print meanwhile (a server's request log) is collected too and passed on after. */
#pragma once

#include <string>

namespace tpu {

class RuntimeOutputCapture {
  public:
    RuntimeOutputCapture();   /* from now on, fds 1 and 2 go to a temporary file */
    ~RuntimeOutputCapture();  /* finish(): restores them and passes what was captured on to stderr */
    RuntimeOutputCapture(const RuntimeOutputCapture &) = delete;
    RuntimeOutputCapture &operator=(const RuntimeOutputCapture &) = delete;

    /* Restores fds 1 and 2 and returns everything captured, also written to stderr (the engine's log) unless
     * `quiet`. The libraries' stdio buffers are flushed first: they share this process's stdout. */
    std::string finish(bool quiet = false);

  private:
    int saved_stdout_ = -1;
    int saved_stderr_ = -1;
    int file_fd_ = -1;
};

}  // namespace tpu
