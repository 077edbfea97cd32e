/* Reading what libsophon prints (sophgo/libsophon): libbmrt "[BMRT][function:line] LEVEL:text" (levels INFO,
 * WARNING, WRONG, FATAL), libbmlib "[bmlib_memory][error] text", the bmodel reader "[BMODEL][function:line] FATAL:
 * text"; anything else is a plain line. */
#pragma once

#include <string>

namespace tpu {

struct RuntimeLogLine {
    std::string text;    /* without the bracketed prefixes and the level */
    bool logged = false; /* it had a libsophon prefix */
    bool error = false;  /* logged at an error level: FATAL, WRONG, ERROR, PANIC */
};

RuntimeLogLine parse_runtime_line(const std::string &line);

/* What went wrong in the runtime's own words: its error lines joined by "; " in the order they were printed;
 * without any, its plain lines (the capture also holds what other threads printed meanwhile, such as a server's
 * request log, which is why error lines win); else the last line; empty for no output. */
std::string runtime_reason(const std::string &output);

/* True when the output holds one of the runtime's out-of-device-memory messages: libbmlib's "bm_alloc_gmem
 * failed", libbmrt's "coeff alloc failed" (weights) or "device mem alloc failed" (neuron and other buffers). */
bool reports_out_of_device_memory(const std::string &output);

}  // namespace tpu
