#include "device_memory.h"

#include "diagnostics.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace tpusim {
namespace {

constexpr uint64_t kAddressAlignment = 4096;

bool parse_bytes(const std::string &text, uint64_t &value) {
    if (text.empty()) return false;
    char *end = nullptr;
    errno = 0;
    unsigned long long parsed = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0 || end == text.c_str() || *end != '\0' || text[0] == '-') return false;
    value = parsed;
    return true;
}

std::string trim(const std::string &text) {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    size_t last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

} // namespace

std::string state_directory() {
    const char *value = std::getenv("TPU_SIM_STATE_DIR");
    return (value != nullptr && value[0] != '\0') ? value : "/run/tpudeploy-sim";
}

HeapLimit read_heap_limit(const std::string &state_directory) {
    if (const char *value = std::getenv("TPU_SIM_NPU_HEAP_BYTES")) {
        uint64_t bytes;
        if (parse_bytes(trim(value), bytes)) return HeapLimit{true, bytes};
        log_plain(std::string("ignoring TPU_SIM_NPU_HEAP_BYTES=\"") + value + "\": not a number of bytes");
    }
    std::string path = state_directory + "/live-heaps";
    std::ifstream file(path);
    if (file) {
        std::string line;
        while (std::getline(file, line)) {
            line = trim(line);
            if (line.rfind("npu=", 0) != 0) continue;
            uint64_t bytes;
            if (parse_bytes(line.substr(4), bytes)) return HeapLimit{true, bytes};
            log_plain("ignoring \"" + line + "\" in " + path + ": not a number of bytes");
        }
    }
    log_plain("no NPU heap size (neither TPU_SIM_NPU_HEAP_BYTES nor npu= in " + path +
              "): device memory is unlimited");
    return HeapLimit{false, 0};
}

Device::Device(int id, HeapLimit limit, std::string state_directory)
    : id_(id), limit_(limit), state_directory_(std::move(state_directory)) {
    std::lock_guard<std::mutex> lock(mutex_);
    publish_locked();
}

Device::~Device() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &entry : allocations_) std::free(entry.second.bytes);
    allocations_.clear();
    used_ = 0;
    publish_locked();
}

bool Device::reserve(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit_.limited && (bytes > limit_.bytes || used_ > limit_.bytes - bytes)) return false;
    used_ += bytes;
    publish_locked();
    return true;
}

void Device::release(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    used_ = bytes > used_ ? 0 : used_ - bytes;
    publish_locked();
}

uint64_t Device::used() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return used_;
}

bm_status_t Device::allocate(uint32_t size, bm_device_mem_t *memory) {
    if (size == 0) return BM_ERR_PARAM;
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit_.limited && (size > limit_.bytes || used_ > limit_.bytes - size)) return BM_ERR_NOMEM;
    uint8_t *bytes = static_cast<uint8_t *>(std::calloc(size, 1));
    if (bytes == nullptr) return BM_ERR_NOMEM;
    uint64_t address = next_address_;
    next_address_ += (uint64_t(size) + kAddressAlignment - 1) / kAddressAlignment * kAddressAlignment;
    allocations_[address] = Allocation{bytes, size};
    used_ += size;
    publish_locked();
    std::memset(memory, 0, sizeof *memory);
    memory->u.device.device_addr = static_cast<unsigned long>(address);
    memory->flags.u.mem_type = BM_MEM_TYPE_DEVICE;
    memory->size = size;
    return BM_SUCCESS;
}

bool Device::free(const bm_device_mem_t &memory) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = allocations_.find(memory.u.device.device_addr);
    if (found == allocations_.end()) return false;
    std::free(found->second.bytes);
    used_ -= found->second.size;
    allocations_.erase(found);
    publish_locked();
    return true;
}

uint8_t *Device::resolve(uint64_t address, uint64_t length) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto after = allocations_.upper_bound(address);
    if (after == allocations_.begin()) return nullptr;
    auto found = std::prev(after);
    uint64_t offset = address - found->first;
    if (offset > found->second.size || length > found->second.size - offset) return nullptr;
    return found->second.bytes + offset;
}

// Atomically replaces <state dir>/npu_used_bytes when the state directory exists (a simulated board).
void Device::publish_locked() {
    if (used_ == published_) return;
    published_ = used_;
    struct stat info;
    if (stat(state_directory_.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return;
    std::string target = state_directory_ + "/npu_used_bytes";
    std::string temporary = target + ".tmp." + std::to_string(getpid()) + "." + std::to_string(id_);
    FILE *file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) return;
    bool written = std::fprintf(file, "%llu\n", static_cast<unsigned long long>(used_)) > 0;
    written = (std::fclose(file) == 0) && written;
    if (!written || std::rename(temporary.c_str(), target.c_str()) != 0) std::remove(temporary.c_str());
}

} // namespace tpusim
