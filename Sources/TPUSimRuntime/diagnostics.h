// What the simulated runtime prints. libsophon's libraries print to stdout (printf / std::cout), not stderr, so a
// program that wants their words must capture fd 1; the simulator does the same, in the same three formats
// (sophgo/libsophon):
//   [BMRT][function:line] LEVEL:text      libbmrt, tpu-runtime/include/bmruntime_common.h (BMRT_LOG)
//   [bmlib_memory][error] text            libbmlib, bmlib/src/bmlib_log.cpp (bmlib_log_default_callback)
//   [BMODEL][function:line] FATAL: text   the bmodel reader, tpu-bmodel/src/bmodel.cpp (BMODEL_LOG)
// libbmrt shows levels from BMRT_LOG_VERSION up (default WRONG: only WRONG and FATAL; tpu-runtime/src/bmruntime.cpp),
// so a successful load prints nothing unless BMRT_LOG_VERSION=0 asks for the INFO lines.
// Like the real libraries we never flush stdout: a caller capturing it must fflush(stdout) first.
// The simulator's own remarks, which no real board prints, go to stderr prefixed "tpu-sim-runtime:".
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tpusim {

/// libbmrt's BMRT_LogLevel: INFO 0, WARNING 1, WRONG 2 (its error level), FATAL 3. Our "ERROR" is shown as WRONG.
inline int bmrt_level(const std::string &name) {
    if (name == "INFO") return 0;
    if (name == "WARNING") return 1;
    if (name == "FATAL") return 3;
    return 2;
}

inline int bmrt_log_threshold() {
    static const int threshold = [] {
        const char *value = std::getenv("BMRT_LOG_VERSION");
        return value != nullptr ? std::atoi(value) : bmrt_level("WRONG");
    }();
    return threshold;
}

inline void bmrt_log(const std::string &level, const char *function, int line, const std::string &text) {
    int number = bmrt_level(level);
    if (number < bmrt_log_threshold()) return;
    const char *names[] = {"INFO", "WARNING", "WRONG", "FATAL"};
    std::printf("[BMRT][%s:%d] %s:%s\n", function, line, names[number], text.c_str());
}

/// `tag` is libbmlib's per-file tag ("bmlib_memory", "bmlib_runtime"); `level` its lower-case level ("error").
inline void bmlib_log(const char *tag, const char *level, const std::string &text) {
    std::printf("[%s][%s] %s\n", tag, level, text.c_str());
}

inline void bmodel_fatal(const char *function, int line, const std::string &text) {
    std::printf("[BMODEL][%s:%d] FATAL: %s\n", function, line, text.c_str());
}

/// libbmlib's words when the ion heaps cannot hold an allocation (bmlib/src/bmlib_memory.cpp). Its `0x%x` shows
/// only the low 32 bits of a 64-bit size, and so does this.
inline std::string alloc_gmem_failure(int dev_id, uint64_t size) {
    char text[96];
    std::snprintf(text, sizeof text, "bm_alloc_gmem failed, dev_id = %d, size = 0x%x", dev_id, unsigned(size));
    return text;
}

inline std::string hex_size(uint64_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

inline void log_plain(const std::string &text) { std::fprintf(stderr, "tpu-sim-runtime: %s\n", text.c_str()); }

} // namespace tpusim

/// BMRT_LOG("WRONG", text): a libbmrt line from the calling function; BMRT_LOG_IN names the function as libbmrt
/// does. BMLIB_LOG("error", text): a libbmlib line of its memory functions; BMLIB_RUNTIME_LOG of its device ones.
#define BMRT_LOG(level, text) ::tpusim::bmrt_log(level, __func__, __LINE__, text)
#define BMRT_LOG_IN(function, level, text) ::tpusim::bmrt_log(level, function, __LINE__, text)
#define BMLIB_LOG(level, text) ::tpusim::bmlib_log("bmlib_memory", level, text)
#define BMLIB_RUNTIME_LOG(level, text) ::tpusim::bmlib_log("bmlib_runtime", level, text)
#define BMODEL_FATAL(text) ::tpusim::bmodel_fatal("ModelCtx", __LINE__, text)
