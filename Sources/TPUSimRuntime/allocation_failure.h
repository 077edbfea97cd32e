// What libbmrt and libbmlib print when a model's device memory cannot be allocated, so that a simulated board's
// out-of-memory reads like a real one (sophgo/libsophon tpu-runtime/src/bmruntime_bmodel.cpp BmCoeff::Register,
// tpu-runtime/src/bmruntime.cpp must_alloc_device_mem_u64, bmlib/src/bmlib_memory.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace tpusim {

/// libbmrt loads a model by allocating each distinct coefficient range in turn ("coeff alloc failed" when one does
/// not fit) and then the neuron memory ("device mem alloc failed"); each failure is preceded by libbmlib's
/// "bm_alloc_gmem failed". Prints the lines of the first allocation that `free_bytes` cannot hold.
void print_model_allocation_failure(int dev_id, const std::vector<uint64_t> &coefficient_sizes, uint64_t neuron_bytes,
                                    uint64_t free_bytes);

} // namespace tpusim
