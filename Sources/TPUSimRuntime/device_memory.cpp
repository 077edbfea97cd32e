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
    : id_(id), limits_(limits), state_directory_(std::move(state_directory)), board_(state_directory_, id) {
    std::lock_guard<std::mutex> lock(mutex_);
    board_.publish_and_unlock(used_, board_.lock_others());
}

Device::~Device() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &entry : allocations_) std::free(entry.second.bytes);
    allocations_.clear();
    used_.fill(0);
    board_.publish_and_unlock(used_, board_.lock_others());
}

// The first heap libbmlib tries that has room for all of `bytes`; unlimited memory counts as the NPU heap.
int Device::place_locked(uint64_t bytes, const HeapCounts &others) const {
    if (!limits_.limited) return kNPU;
    const int tried = limits_.tried_count();
    for (int i = 0; i < tried; i++) {
        size_t heap = size_t(i);
        if (!limits_.present[heap]) continue; // libbmlib would ask ion for an unset heap id: no memory there
        uint64_t taken = used_[heap] + others[heap];
        if (bytes <= limits_.bytes[heap] && taken <= limits_.bytes[heap] - bytes) return i;
    }
    return -1;
}

HeapCounts Device::board_use() const {
    HeapCounts all = board_.lock_others();
    board_.unlock();
    for (size_t heap = 0; heap < kHeapCount; heap++) all[heap] += used_[heap];
    return all;
}

int Device::reserve(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    HeapCounts others = board_.lock_others();
    int heap = place_locked(bytes, others);
    if (heap >= 0) used_[size_t(heap)] += bytes;
    board_.publish_and_unlock(used_, others);
    return heap;
}

void Device::release(int heap, uint64_t bytes) {
    if (heap < 0 || heap >= kHeapCount) return;
    std::lock_guard<std::mutex> lock(mutex_);
    HeapCounts others = board_.lock_others();
    uint64_t &used = used_[size_t(heap)];
    used = bytes > used ? 0 : used - bytes;
    board_.publish_and_unlock(used_, others);
}

uint64_t Device::used() const {
    std::lock_guard<std::mutex> lock(mutex_);
    HeapCounts all = board_use();
    return all[kNPU] + all[kVPP] + all[kVPU];
}

uint64_t Device::used(int heap) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return heap >= 0 && heap < kHeapCount ? board_use()[size_t(heap)] : 0;
}

uint64_t Device::free_bytes(int heap) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (heap < 0 || heap >= kHeapCount || !limits_.present[size_t(heap)]) return 0;
    uint64_t size = limits_.bytes[size_t(heap)], used = board_use()[size_t(heap)];
    return size > used ? size - used : 0;
}

bm_status_t Device::allocate(uint32_t size, bm_device_mem_t *memory) {
    if (size == 0) return BM_ERR_PARAM;
    std::lock_guard<std::mutex> lock(mutex_);
    HeapCounts others = board_.lock_others();
    int heap = place_locked(size, others);
    uint8_t *bytes = heap < 0 ? nullptr : static_cast<uint8_t *>(std::calloc(size, 1));
    if (bytes == nullptr) {
        board_.unlock();
        return BM_ERR_NOMEM;
    }
    uint64_t address = next_address_;
    next_address_ += (uint64_t(size) + kAddressAlignment - 1) / kAddressAlignment * kAddressAlignment;
    allocations_[address] = Allocation{bytes, size, heap};
    used_[size_t(heap)] += size;
    board_.publish_and_unlock(used_, others);
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
    HeapCounts others = board_.lock_others();
    used_[size_t(found->second.heap)] -= found->second.size;
    allocations_.erase(found);
    board_.publish_and_unlock(used_, others);
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

} // namespace tpusim
