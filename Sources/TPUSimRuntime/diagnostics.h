// Messages on stderr in the style of libsophon's runtime ("[BMRT][function:line] LEVEL:text"), so logs of a
// simulated board read like those of a real one, plus our own plain sentences prefixed "tpu-sim-runtime:".
#pragma once

#include <cstdio>
#include <string>

namespace tpusim {

inline void log_libsophon(const char *library, const char *function, int line, const char *level,
                          const std::string &text) {
    std::fprintf(stderr, "[%s][%s:%d] %s:%s\n", library, function, line, level, text.c_str());
}

inline void log_plain(const std::string &text) { std::fprintf(stderr, "tpu-sim-runtime: %s\n", text.c_str()); }

} // namespace tpusim

#define BMRT_LOG(level, text) ::tpusim::log_libsophon("BMRT", __func__, __LINE__, level, text)
#define BMLIB_LOG(level, text) ::tpusim::log_libsophon("BMLIB", __func__, __LINE__, level, text)
