#include "nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tpu {

namespace {

struct CombiningClass {
    uint32_t code;
    uint8_t ccc;
};
struct Decomposition {
    uint32_t code, first, second; /* second 0: a one-code-point (singleton) decomposition */
};
struct Composition {
    uint32_t first, second, composite;
};
#include "unicode_normalization.inc"

/* Hangul syllables decompose and compose by arithmetic (Unicode §3.12), not by table. */
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(uint32_t code) {
    auto it = std::lower_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), code,
                               [](const CombiningClass &entry, uint32_t value) { return entry.code < value; });
    return it != std::end(kCombiningClasses) && it->code == code ? it->ccc : 0;
}

void decompose(uint32_t code, std::vector<uint32_t> &out) {
    if (code >= kSBase && code < kSBase + kSCount) {
        const uint32_t index = code - kSBase;
        out.push_back(kLBase + index / kNCount);
        out.push_back(kVBase + (index % kNCount) / kTCount);
        if (index % kTCount != 0) out.push_back(kTBase + index % kTCount);
        return;
    }
    auto it = std::lower_bound(std::begin(kDecompositions), std::end(kDecompositions), code,
                               [](const Decomposition &entry, uint32_t value) { return entry.code < value; });
    if (it == std::end(kDecompositions) || it->code != code) {
        out.push_back(code);
        return;
    }
    decompose(it->first, out);
    if (it->second != 0) decompose(it->second, out);
}

/* The primary composite of a pair, or 0. */
uint32_t compose(uint32_t first, uint32_t second) {
    if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
        return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
    if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
        second < kTBase + kTCount)
        return first + (second - kTBase);
    auto it = std::lower_bound(std::begin(kCompositions), std::end(kCompositions), std::make_pair(first, second),
                               [](const Composition &entry, const std::pair<uint32_t, uint32_t> &value) {
                                   return entry.first < value.first || (entry.first == value.first && entry.second < value.second);
                               });
    return it != std::end(kCompositions) && it->first == first && it->second == second ? it->composite : 0;
}

bool decode(const std::string &text, std::vector<uint32_t> &codes) {
    for (size_t i = 0; i < text.size();) {
        const unsigned char lead = (unsigned char)text[i];
        const size_t length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
        if (length == 0 || i + length > text.size()) return false;
        uint32_t code = length == 1 ? lead : lead & (0xFF >> (length + 1));
        for (size_t k = 1; k < length; ++k) {
            const unsigned char next = (unsigned char)text[i + k];
            if ((next & 0xC0) != 0x80) return false;
            code = (code << 6) | (next & 0x3F);
        }
        codes.push_back(code);
        i += length;
    }
    return true;
}

void encode(uint32_t code, std::string &out) {
    if (code < 0x80) {
        out += char(code);
    } else if (code < 0x800) {
        out += char(0xC0 | (code >> 6));
        out += char(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        out += char(0xE0 | (code >> 12));
        out += char(0x80 | ((code >> 6) & 0x3F));
        out += char(0x80 | (code & 0x3F));
    } else {
        out += char(0xF0 | (code >> 18));
        out += char(0x80 | ((code >> 12) & 0x3F));
        out += char(0x80 | ((code >> 6) & 0x3F));
        out += char(0x80 | (code & 0x3F));
    }
}

}  // namespace

std::string nfc_normalize(const std::string &text) {
    /* Below U+0300 every character is NFC and none combines with another: the common case costs one scan. */
    if (std::all_of(text.begin(), text.end(), [](char c) { return (unsigned char)c < 0xCC; })) return text;
    std::vector<uint32_t> codes;
    if (!decode(text, codes)) return text;
    std::vector<uint32_t> decomposed;
    for (uint32_t code : codes) decompose(code, decomposed);
    /* Canonical ordering: each run of non-starters sorted by combining class, stably. */
    for (size_t i = 0; i < decomposed.size();) {
        if (combining_class(decomposed[i]) == 0) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < decomposed.size() && combining_class(decomposed[end]) != 0) ++end;
        std::stable_sort(decomposed.begin() + long(i), decomposed.begin() + long(end),
                         [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
        i = end;
    }
    /* Canonical composition: each character joins the last starter unless blocked by one of the same or a
     * higher class (or by a starter) in between. */
    std::vector<uint32_t> composed;
    long starter = -1;
    uint8_t last_class = 0;
    for (uint32_t code : decomposed) {
        const uint8_t ccc = combining_class(code);
        if (starter >= 0) {
            const bool blocked = composed.size() > size_t(starter) + 1 && (last_class == 0 || last_class >= ccc);
            if (!blocked) {
                if (uint32_t composite = compose(composed[size_t(starter)], code)) {
                    composed[size_t(starter)] = composite;
                    continue;
                }
            }
        }
        if (ccc == 0) starter = long(composed.size());
        last_class = ccc;
        composed.push_back(code);
    }
    std::string out;
    out.reserve(text.size());
    for (uint32_t code : composed) encode(code, out);
    return out;
}

}  // namespace tpu
