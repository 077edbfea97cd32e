#include "api_key.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpu_llm_server.h"

namespace tpu::server {

bool constant_time_equal(const std::string &a, const std::string &b) {
    /* Walk the longer string in full; a length difference counts as a difference. */
    size_t length = a.size() > b.size() ? a.size() : b.size();
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < length; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        difference |= static_cast<unsigned char>(x ^ y);
    }
    return difference == 0;
}

bool APIKey::accepts(const std::string &authorization_header) const {
    if (!required()) return true;
    static const std::string scheme = "Bearer ";
    if (authorization_header.size() < scheme.size()) return false;
    /* The scheme name is case-insensitive (RFC 7235). */
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization_header[i])) !=
            std::tolower(static_cast<unsigned char>(scheme[i])))
            return false;
    return constant_time_equal(authorization_header.substr(scheme.size()), key_);
}

}  // namespace tpu::server

namespace tpu {

std::string read_api_key_file(const std::string &path) {
    auto fail = [&path](const std::string &what) {
        return std::runtime_error("--api-key-file " + path + ": " + what);
    };
    int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) throw fail(std::strerror(errno));
    struct stat status {};
    if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
        ::close(descriptor);
        throw fail("not a regular file");
    }
    /* Like ssh with a private key: a key others may read is no secret. */
    if ((status.st_mode & 077) != 0) {
        ::close(descriptor);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
        throw fail(std::string("other users may read it (mode ") + mode + "): chmod 600 it");
    }
    std::string text(4096, '\0');
    ssize_t got = ::read(descriptor, text.data(), text.size());
    ::close(descriptor);
    if (got < 0) throw fail(std::strerror(errno));
    text.resize(static_cast<size_t>(got));
    std::string key = text.substr(0, text.find('\n'));
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key.empty()) throw fail("the file is empty; write the key on its first line");
    for (unsigned char c : key)
        if (c < 0x21 || c > 0x7e)
            throw fail("the key holds a space or a character that cannot go in an HTTP header (printable ASCII only)");
    return key;
}

}  // namespace tpu
