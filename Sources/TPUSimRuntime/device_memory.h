// The simulated device memory: real host buffers behind fake device addresses, every byte accounted against the
// board's three ion heaps the way libbmlib allocates on SoC (heap mask 7: the NPU heap first, then VPP, then
// VPU; one allocation inside one heap), the used bytes published for the simulated bm-smi and inspect.
#pragma once

#include "board_heap_use.h"
#include "tpu_bm_types.h"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace tpusim {

/// The heaps in libbmlib's order (bm_get_carveout_heap_id numbers them npu 0, vpp 1, vpu 2).
enum HeapIndex { kNPU = 0, kVPP = 1, kVPU = 2, kHeapCount = 3 };
const char *heap_name(int index);

/// The board's heaps: which exist and how big each is. `limited` false: no sizes known, memory is unlimited.
struct HeapLimits {
    bool limited = false;
    std::array<bool, kHeapCount> present{};
    std::array<uint64_t, kHeapCount> bytes{};

    /// The heaps libbmlib tries, in order: the first `count` of npu, vpp, vpu, where count is how many exist
    /// (bm_alloc_gmem loops i < heap_cnt), so without a VPP heap the VPU heap is never tried.
    int tried_count() const;
    uint64_t total() const;
};

/// Reads the heap sizes: $TPU_SIM_NPU_HEAP_BYTES / $TPU_SIM_VPP_HEAP_BYTES / $TPU_SIM_VPU_HEAP_BYTES when any is
/// set (an unset one: no such heap), else `npu=` / `vpp=` / `vpu=` in $TPU_SIM_STATE_DIR/live-heaps (what the
/// simulated board booted with), else unlimited (with a warning on stderr).
HeapLimits read_heap_limits(const std::string &state_directory);

/// $TPU_SIM_STATE_DIR or /run/tpudeploy-sim.
std::string state_directory();

/// One simulated NPU: its heaps, its allocations, and the accounting shared by every handle on it.
class Device {
public:
    Device(int id, HeapLimits limits, std::string state_directory);
    ~Device();
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    int id() const { return id_; }

    bm_status_t allocate(uint32_t size, bm_device_mem_t *memory);
    /// False when `memory` is not a live allocation's start.
    bool free(const bm_device_mem_t &memory);
    /// Host bytes for device range [address, address + length) if it lies inside one allocation; else null.
    uint8_t *resolve(uint64_t address, uint64_t length);

    /// Accounting without host memory (a model's neuron blocks and coefficients): the heap it went to, or -1 when
    /// no heap has room for all of it.
    int reserve(uint64_t bytes);
    void release(int heap, uint64_t bytes);

    /// Used bytes on the board (every process's), all heaps together.
    uint64_t used() const;
    uint64_t used(int heap) const;
    uint64_t free_bytes(int heap) const;
    HeapLimits limits() const { return limits_; }

private:
    struct Allocation {
        uint8_t *bytes;
        uint64_t size;
        int heap;
    };
    /// The first heap with room for `bytes` beside this process's use and `others` (every other process's).
    int place_locked(uint64_t bytes, const HeapCounts &others) const;
    HeapCounts board_use() const;

    const int id_;
    const HeapLimits limits_;
    const std::string state_directory_;
    mutable std::mutex mutex_;
    /// This process's use; the board's is this plus board_'s other shares.
    HeapCounts used_{};
    mutable BoardHeapUse board_;
    uint64_t next_address_ = 0x100000000ull;
    std::map<uint64_t, Allocation> allocations_;
};

} // namespace tpusim

/// What bm_dev_request hands out: a handle on one Device.
struct bm_context {
    std::shared_ptr<tpusim::Device> device;
};
