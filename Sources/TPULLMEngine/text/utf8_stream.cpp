#include "utf8_stream.h"

namespace tpu {

namespace {

/* Bytes a character starting with `lead` occupies; 0 for a continuation byte or an invalid lead. */
size_t sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

}  // namespace

size_t complete_utf8_prefix(const std::string &bytes) {
    size_t i = 0;
    while (i < bytes.size()) {
        size_t length = sequence_length((unsigned char)bytes[i]);
        if (length == 0) { /* stray byte: nothing later can complete it */
            ++i;
            continue;
        }
        if (i + length > bytes.size()) {
            /* Incomplete at the end only if every byte so far is a continuation byte. */
            bool continuation = true;
            for (size_t j = i + 1; j < bytes.size(); ++j) continuation = continuation && ((unsigned char)bytes[j] & 0xC0) == 0x80;
            return continuation ? i : bytes.size();
        }
        i += length;
    }
    return i;
}

std::string Utf8TextStream::push(int id) {
    std::string bytes = tokenizer_.token_bytes(id, !started_);
    if (bytes.empty()) return {};
    started_ = true;
    pending_ += bytes;
    size_t complete = complete_utf8_prefix(pending_);
    std::string text = pending_.substr(0, complete);
    pending_.erase(0, complete);
    return text;
}

std::string Utf8TextStream::flush() {
    std::string text;
    if (!pending_.empty()) text = "\xEF\xBF\xBD";
    pending_.clear();
    return text;
}

}  // namespace tpu
