#include "gpt2_pretokenizer.h"

#include <algorithm>
#include <cstdint>

namespace tpu {

namespace {

struct CodeRange {
    uint32_t first, last;
};
#include "unicode_classes.inc"

template <size_t N> bool in_ranges(const CodeRange (&ranges)[N], uint32_t code) {
    auto it = std::upper_bound(std::begin(ranges), std::end(ranges), code,
                               [](uint32_t value, const CodeRange &range) { return value < range.first; });
    return it != std::begin(ranges) && code <= (it - 1)->last;
}

bool is_letter(uint32_t c) { return in_ranges(kLetterRanges, c); }
bool is_number(uint32_t c) { return in_ranges(kNumberRanges, c); }
/* Unicode White_Space, what \s matches in the tokenizers' regex engine. */
bool is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool is_other(uint32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

/* The text as code points, each with its byte offset (invalid bytes become U+FFFD of one byte). */
struct Decoded {
    std::vector<uint32_t> codes;
    std::vector<size_t> offsets; /* offsets.size() == codes.size() + 1 */
};

Decoded decode_utf8(const std::string &text) {
    Decoded decoded;
    size_t i = 0;
    while (i < text.size()) {
        unsigned char lead = (unsigned char)text[i];
        uint32_t code = 0xFFFD;
        size_t length = 1;
        size_t need = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
        if (need == 1) {
            code = lead;
        } else if (need > 1 && i + need <= text.size()) {
            uint32_t value = lead & (0xFF >> (need + 1));
            bool ok = true;
            for (size_t k = 1; k < need; ++k) {
                unsigned char next = (unsigned char)text[i + k];
                ok = ok && (next & 0xC0) == 0x80;
                value = (value << 6) | (next & 0x3F);
            }
            if (ok) {
                code = value;
                length = need;
            }
        }
        decoded.codes.push_back(code);
        decoded.offsets.push_back(i);
        i += length;
    }
    decoded.offsets.push_back(text.size());
    return decoded;
}

}  // namespace

std::vector<std::string> gpt2_pretokenize(const std::string &text) {
    Decoded d = decode_utf8(text);
    const auto &c = d.codes;
    const size_t n = c.size();
    std::vector<std::string> pieces;
    size_t i = 0;
    auto run = [&](size_t from, bool (*cls)(uint32_t)) {
        size_t end = from;
        while (end < n && cls(c[end])) ++end;
        return end;
    };
    while (i < n) {
        size_t end = i;
        /* 's 't 're 've 'm 'll 'd */
        if (c[i] == '\'' && i + 1 < n) {
            if (c[i + 1] == 's' || c[i + 1] == 't' || c[i + 1] == 'm' || c[i + 1] == 'd') {
                end = i + 2;
            } else if (i + 2 < n && ((c[i + 1] == 'r' && c[i + 2] == 'e') || (c[i + 1] == 'v' && c[i + 2] == 'e') ||
                                     (c[i + 1] == 'l' && c[i + 2] == 'l'))) {
                end = i + 3;
            }
        }
        if (end == i) {
            /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' in that order */
            size_t start = c[i] == ' ' && i + 1 < n ? i + 1 : i;
            for (bool (*cls)(uint32_t) : {is_letter, is_number, is_other}) {
                size_t stop = run(start, cls);
                if (stop > start) {
                    end = stop;
                    break;
                }
                if (start != i) { /* the optional space may also be left out */
                    stop = run(i, cls);
                    if (stop > i) {
                        end = stop;
                        break;
                    }
                }
            }
        }
        if (end == i) {
            /* '\s+(?!\S)': the whitespace run, minus its last character when a non-space follows; else '\s+' */
            size_t stop = run(i, is_space);
            if (stop < n && stop - i >= 2) stop -= 1;
            end = stop;
        }
        if (end == i) end = i + 1; /* cannot happen: every character is space, letter, number or other */
        pieces.push_back(text.substr(d.offsets[i], d.offsets[end] - d.offsets[i]));
        i = end;
    }
    return pieces;
}

std::vector<std::string> qwen2_pretokenize(const std::string &text) {
    Decoded d = decode_utf8(text);
    const auto &c = d.codes;
    const size_t n = c.size();
    auto line_break = [](uint32_t code) { return code == '\r' || code == '\n'; };
    /* Case-insensitive letters of the contractions: Oniguruma's case folding also maps ſ (U+017F) to s. */
    auto is_char = [](uint32_t code, char lower) {
        return code == uint32_t(lower) || code == uint32_t(lower - 'a' + 'A') || (lower == 's' && code == 0x17F);
    };
    auto run = [&](size_t from, auto cls) {
        size_t end = from;
        while (end < n && cls(c[end])) ++end;
        return end;
    };
    std::vector<std::string> pieces;
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
        if (c[i] == '\'' && i + 1 < n) {
            if (is_char(c[i + 1], 's') || is_char(c[i + 1], 't') || is_char(c[i + 1], 'm') || is_char(c[i + 1], 'd'))
                end = i + 2;
            else if (i + 2 < n && ((is_char(c[i + 1], 'r') && is_char(c[i + 2], 'e')) ||
                                   (is_char(c[i + 1], 'v') && is_char(c[i + 2], 'e')) ||
                                   (is_char(c[i + 1], 'l') && is_char(c[i + 2], 'l'))))
                end = i + 3;
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (end == i) {
            if (!line_break(c[i]) && !is_letter(c[i]) && !is_number(c[i]) && i + 1 < n && is_letter(c[i + 1]))
                end = run(i + 1, is_letter);
            else if (is_letter(c[i]))
                end = run(i, is_letter);
        }
        /* \p{N} */
        if (end == i && is_number(c[i])) end = i + 1;
        /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
        if (end == i) {
            size_t start = c[i] == ' ' && i + 1 < n && is_other(c[i + 1]) ? i + 1 : i;
            if (is_other(c[start])) end = run(run(start, is_other), line_break);
        }
        if (end == i && is_space(c[i])) {
            const size_t spaces = run(i, is_space);
            /* \s*[\r\n]+: up to the last line break of the whitespace run */
            for (size_t k = spaces; k > i; --k)
                if (line_break(c[k - 1])) {
                    end = k;
                    break;
                }
            /* \s+(?!\S), else \s+ */
            if (end == i) end = spaces < n && spaces - i >= 2 ? spaces - 1 : spaces;
        }
        if (end == i) end = i + 1; /* cannot happen: every character is space, letter, number or other */
        pieces.push_back(text.substr(d.offsets[i], d.offsets[end] - d.offsets[i]));
        i = end;
    }
    return pieces;
}

std::vector<std::string> starcoder_pretokenize(const std::string &text) {
    Decoded d = decode_utf8(text);
    std::vector<std::string> pieces;
    size_t run_start = 0;
    auto flush = [&](size_t end) {
        if (end == run_start) return;
        for (std::string &piece : gpt2_pretokenize(text.substr(d.offsets[run_start], d.offsets[end] - d.offsets[run_start])))
            pieces.push_back(std::move(piece));
    };
    for (size_t i = 0; i < d.codes.size(); ++i) {
        if (!is_number(d.codes[i])) continue;
        flush(i);
        pieces.push_back(text.substr(d.offsets[i], d.offsets[i + 1] - d.offsets[i]));
        run_start = i + 1;
    }
    flush(d.codes.size());
    return pieces;
}

}  // namespace tpu
