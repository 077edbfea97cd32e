#include "allocation_failure.h"

#include "diagnostics.h"

namespace tpusim {

void print_model_allocation_failure(int dev_id, const std::vector<uint64_t> &coefficient_sizes, uint64_t neuron_bytes,
                                    uint64_t free_bytes) {
    uint64_t left = free_bytes;
    for (uint64_t size : coefficient_sizes) {
        if (size > left) {
            BMLIB_LOG("error", alloc_gmem_failure(dev_id, size));
            BMRT_LOG_IN("Register", "FATAL", "coeff alloc failed, size[" + hex_size(size) + "]");
            return;
        }
        left -= size;
    }
    BMLIB_LOG("error", alloc_gmem_failure(dev_id, neuron_bytes));
    char text[160];
    std::snprintf(text, sizeof text, "device mem alloc failed: size=%llu[0x%x] type_len=1 status=5 desc=neuron_mem0",
                  static_cast<unsigned long long>(neuron_bytes), unsigned(neuron_bytes));
    BMRT_LOG_IN("must_alloc_device_mem_u64", "FATAL", text);
}

} // namespace tpusim
