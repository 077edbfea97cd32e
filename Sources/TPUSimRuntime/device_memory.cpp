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

const char *heap_name(int index) {
    static const char *names[kHeapCount] = {"npu", "vpp", "vpu"};
    return index >= 0 && index < kHeapCount ? names[index] : "?";
}

int HeapLimits::tried_count() const {
    int count = 0;
    for (bool exists : present) count += exists ? 1 : 0;
    return count;
}

uint64_t HeapLimits::total() const {
    uint64_t sum = 0;
    for (int i = 0; i < kHeapCount; i++) sum += present[size_t(i)] ? bytes[size_t(i)] : 0;
    return sum;
}

HeapLimits read_heap_limits(const std::string &state_directory) {
    static const char *variables[kHeapCount] = {"TPU_SIM_NPU_HEAP_BYTES", "TPU_SIM_VPP_HEAP_BYTES", "TPU_SIM_VPU_HEAP_BYTES"};
    HeapLimits limits;
    for (int i = 0; i < kHeapCount; i++) {
        const char *value = std::getenv(variables[i]);
        if (value == nullptr) continue;
        uint64_t bytes;
        if (!parse_bytes(trim(value), bytes)) {
            log_plain(std::string("ignoring ") + variables[i] + "=\"" + value + "\": not a number of bytes");
            continue;
        }
        limits.limited = true;
        limits.present[size_t(i)] = true;
        limits.bytes[size_t(i)] = bytes;
    }
    if (limits.limited) return limits;

    std::string path = state_directory + "/live-heaps";
    std::ifstream file(path);
    std::string line;
    while (file && std::getline(file, line)) {
        line = trim(line);
        size_t equals = line.find('=');
        if (equals == std::string::npos) continue;
        std::string name = line.substr(0, equals);
        for (int i = 0; i < kHeapCount; i++) {
            if (name != heap_name(i)) continue;
            uint64_t bytes;
            if (!parse_bytes(line.substr(equals + 1), bytes)) {
                log_plain("ignoring \"" + line + "\" in " + path + ": not a number of bytes");
                continue;
            }
            limits.limited = true;
            limits.present[size_t(i)] = true;
            limits.bytes[size_t(i)] = bytes;
        }
    }
    if (!limits.limited)
        log_plain("no heap sizes (neither TPU_SIM_NPU_HEAP_BYTES nor npu= in " + path + "): device memory is unlimited");
    return limits;
}

Device::Device(int id, HeapLimits limits, std::string state_directory)
    : id_(id), limits_(limits), state_directory_(std::move(state_directory)) {
    std::lock_guard<std::mutex> lock(mutex_);
    publish_locked();
}

Device::~Device() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &entry : allocations_) std::free(entry.second.bytes);
    allocations_.clear();
    used_.fill(0);
    publish_locked();
}

// The first heap libbmlib tries that has room for all of `bytes`; unlimited memory counts as the NPU heap.
int Device::place_locked(uint64_t bytes) const {
    if (!limits_.limited) return kNPU;
    const int tried = limits_.tried_count();
    for (int i = 0; i < tried; i++) {
        size_t heap = size_t(i);
        if (!limits_.present[heap]) continue; // libbmlib would ask ion for an unset heap id: no memory there
        if (bytes <= limits_.bytes[heap] && used_[heap] <= limits_.bytes[heap] - bytes) return i;
    }
    return -1;
}

int Device::reserve(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    int heap = place_locked(bytes);
    if (heap < 0) return -1;
    used_[size_t(heap)] += bytes;
    publish_locked();
    return heap;
}

void Device::release(int heap, uint64_t bytes) {
    if (heap < 0 || heap >= kHeapCount) return;
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t &used = used_[size_t(heap)];
    used = bytes > used ? 0 : used - bytes;
    publish_locked();
}

uint64_t Device::used() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return used_[kNPU] + used_[kVPP] + used_[kVPU];
}

uint64_t Device::used(int heap) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return heap >= 0 && heap < kHeapCount ? used_[size_t(heap)] : 0;
}

uint64_t Device::free_bytes(int heap) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (heap < 0 || heap >= kHeapCount || !limits_.present[size_t(heap)]) return 0;
    uint64_t size = limits_.bytes[size_t(heap)], used = used_[size_t(heap)];
    return size > used ? size - used : 0;
}

bm_status_t Device::allocate(uint32_t size, bm_device_mem_t *memory) {
    if (size == 0) return BM_ERR_PARAM;
    std::lock_guard<std::mutex> lock(mutex_);
    int heap = place_locked(size);
    if (heap < 0) return BM_ERR_NOMEM;
    uint8_t *bytes = static_cast<uint8_t *>(std::calloc(size, 1));
    if (bytes == nullptr) return BM_ERR_NOMEM;
    uint64_t address = next_address_;
    next_address_ += (uint64_t(size) + kAddressAlignment - 1) / kAddressAlignment * kAddressAlignment;
    allocations_[address] = Allocation{bytes, size, heap};
    used_[size_t(heap)] += size;
    publish_locked();
    std::memset(memory, 0, sizeof *memory);
    memory->u.device.device_addr = static_cast<unsigned long>(address);
    memory->flags.u.mem_type = BM_MEM_TYPE_DEVICE;
    memory->flags.u.gmem_heapid = unsigned(heap);
    memory->size = size;
    return BM_SUCCESS;
}

bool Device::free(const bm_device_mem_t &memory) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = allocations_.find(memory.u.device.device_addr);
    if (found == allocations_.end()) return false;
    std::free(found->second.bytes);
    used_[size_t(found->second.heap)] -= found->second.size;
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

namespace {

// Atomically replaces `target` with `value` and a newline (a temporary file renamed over it).
void write_count(const std::string &target, uint64_t value, int id) {
    std::string temporary = target + ".tmp." + std::to_string(getpid()) + "." + std::to_string(id);
    FILE *file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) return;
    bool written = std::fprintf(file, "%llu\n", static_cast<unsigned long long>(value)) > 0;
    written = (std::fclose(file) == 0) && written;
    if (!written || std::rename(temporary.c_str(), target.c_str()) != 0) std::remove(temporary.c_str());
}

} // namespace

// When the state directory exists (a simulated board): <state dir>/npu_used_bytes (all heaps together, what
// bm_get_stat and bm-smi count) and <state dir>/heap-used/{npu,vpp,vpu}.
void Device::publish_locked() {
    if (used_ == published_) return;
    published_ = used_;
    struct stat info;
    if (stat(state_directory_.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return;
    write_count(state_directory_ + "/npu_used_bytes", used_[kNPU] + used_[kVPP] + used_[kVPU], id_);
    std::string directory = state_directory_ + "/heap-used";
    if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) return;
    for (int i = 0; i < kHeapCount; i++) write_count(directory + "/" + heap_name(i), used_[size_t(i)], id_);
}

} // namespace tpusim
