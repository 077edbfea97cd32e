// The simulated NPU's device memory: real host buffers behind fake device addresses, every byte accounted
// against the NPU heap of the simulated board, the used total published for the simulated bm-smi.
#pragma once

#include "tpu_bm_types.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace tpusim {

/// Where the heap size came from and how big it is.
struct HeapLimit {
    bool limited = false;
    uint64_t bytes = 0;
};

/// Reads the NPU heap size: $TPU_SIM_NPU_HEAP_BYTES, else `npu=` in $TPU_SIM_STATE_DIR/live-heaps, else
/// unlimited (with a warning on stderr).
HeapLimit read_heap_limit(const std::string &state_directory);

/// $TPU_SIM_STATE_DIR or /run/tpudeploy-sim.
std::string state_directory();

/// One simulated NPU: its heap, its allocations, and the accounting shared by every handle on it.
class Device {
public:
    Device(int id, HeapLimit limit, std::string state_directory);
    ~Device();
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    int id() const { return id_; }

    bm_status_t allocate(uint32_t size, bm_device_mem_t *memory);
    /// False when `memory` is not a live allocation's start.
    bool free(const bm_device_mem_t &memory);
    /// Host bytes for device range [address, address + length) if it lies inside one allocation; else null.
    uint8_t *resolve(uint64_t address, uint64_t length);

    /// Accounting without host memory (a model's neuron area and coefficients). False when the heap is too small.
    bool reserve(uint64_t bytes);
    void release(uint64_t bytes);

    uint64_t used() const;
    HeapLimit limit() const { return limit_; }

private:
    struct Allocation {
        uint8_t *bytes;
        uint64_t size;
    };
    void publish_locked();

    const int id_;
    const HeapLimit limit_;
    const std::string state_directory_;
    mutable std::mutex mutex_;
    uint64_t used_ = 0;
    uint64_t published_ = UINT64_MAX;
    uint64_t next_address_ = 0x100000000ull;
    std::map<uint64_t, Allocation> allocations_;
};

} // namespace tpusim

/// What bm_dev_request hands out: a handle on one Device.
struct bm_context {
    std::shared_ptr<tpusim::Device> device;
};
