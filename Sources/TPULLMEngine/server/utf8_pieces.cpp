#include "utf8_pieces.h"

namespace tpu::server {
namespace {

/* How many bytes the sequence that starts with `lead` has; 1 for ASCII and for bytes that cannot start one. */
size_t sequence_length(unsigned char lead) {
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
    if (lead >= 0xC2) return 2;
    return 1;
}

}  // namespace

std::string Utf8Pieces::take(const std::string &piece) {
    pending_ += piece;
    /* Look back at most 3 bytes for the start of a sequence that is not finished yet. */
    size_t cut = pending_.size();
    for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
        unsigned char byte = static_cast<unsigned char>(pending_[pending_.size() - back]);
        if ((byte & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        if (sequence_length(byte) > back) cut = pending_.size() - back;
        break;
    }
    std::string ready = pending_.substr(0, cut);
    pending_.erase(0, cut);
    return ready;
}

std::string Utf8Pieces::flush() {
    std::string rest;
    rest.swap(pending_);
    return rest;
}

}  // namespace tpu::server
