#include "tpu_llm_engine.h"

namespace tpu {

const char *stop_reason_name(StopReason reason) {
    switch (reason) {
    case StopReason::eos: return "eos";
    case StopReason::length: return "length";
    case StopReason::stop: return "stop";
    case StopReason::cancelled: return "cancelled";
    }
    return "unknown";
}

}  // namespace tpu
