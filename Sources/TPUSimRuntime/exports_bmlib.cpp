// libbmlib's C entry points (tpu_bm_types.h), over the simulated device memory.
#include "tpu_sim_runtime.h"

#include "device_memory.h"
#include "diagnostics.h"
#include "registry.h"

#include <cstring>

#define TPU_SIM_EXPORT extern "C" __attribute__((visibility("default")))

using namespace tpusim;

namespace {

// Host bytes of [descriptor address + offset, + length), or null (with a message) when outside any allocation.
uint8_t *device_bytes(bm_handle_t handle, const bm_device_mem_t &memory, uint64_t offset, uint64_t length,
                      const char *call) {
    uint64_t address = memory.u.device.device_addr;
    uint8_t *bytes = address + offset < address ? nullptr : handle->device->resolve(address + offset, length);
    if (bytes == nullptr) {
        char text[160];
        std::snprintf(text, sizeof text, "%s: device range 0x%llx+%llu (%llu bytes) is not allocated memory", call,
                      static_cast<unsigned long long>(address), static_cast<unsigned long long>(offset),
                      static_cast<unsigned long long>(length));
        BMLIB_LOG("error", text);
    }
    return bytes;
}

bool live(bm_handle_t handle, const char *call) {
    if (handle != nullptr && context_is_live(handle)) return true;
    BMLIB_LOG("error", std::string(call) + ": invalid bm_handle");
    return false;
}

} // namespace

TPU_SIM_EXPORT bm_status_t bm_dev_request(bm_handle_t *handle, int devid) {
    if (handle == nullptr) return BM_ERR_PARAM;
    *handle = open_context(devid);
    if (*handle == nullptr) {
        BMLIB_RUNTIME_LOG("error", "open /dev/bm-sophon" + std::to_string(devid) + " failed: no such simulated device");
        return BM_ERR_DEVNOTREADY;
    }
    return BM_SUCCESS;
}

TPU_SIM_EXPORT void bm_dev_free(bm_handle_t handle) {
    if (handle != nullptr && !close_context(handle)) BMLIB_RUNTIME_LOG("error", "bm_dev_free: invalid bm_handle");
}

TPU_SIM_EXPORT bm_status_t bm_malloc_device_byte(bm_handle_t handle, bm_device_mem_t *pmem, unsigned int size) {
    if (!live(handle, "bm_malloc_device_byte") || pmem == nullptr) return BM_ERR_PARAM;
    bm_status_t status = handle->device->allocate(size, pmem);
    if (status == BM_ERR_NOMEM) BMLIB_LOG("error", alloc_gmem_failure(handle->device->id(), size));
    return status;
}

TPU_SIM_EXPORT void bm_free_device(bm_handle_t handle, bm_device_mem_t mem) {
    if (!live(handle, "bm_free_device")) return;
    if (!handle->device->free(mem)) BMLIB_LOG("error", "bm_free_device: not an allocated device address");
}

TPU_SIM_EXPORT bm_status_t bm_memcpy_s2d(bm_handle_t handle, bm_device_mem_t dst, void *src) {
    if (!live(handle, "bm_memcpy_s2d") || src == nullptr) return BM_ERR_PARAM;
    uint8_t *bytes = device_bytes(handle, dst, 0, dst.size, "bm_memcpy_s2d");
    if (bytes == nullptr) return BM_ERR_PARAM;
    std::memcpy(bytes, src, dst.size);
    return BM_SUCCESS;
}

TPU_SIM_EXPORT bm_status_t bm_memcpy_d2s(bm_handle_t handle, void *dst, bm_device_mem_t src) {
    if (!live(handle, "bm_memcpy_d2s") || dst == nullptr) return BM_ERR_PARAM;
    uint8_t *bytes = device_bytes(handle, src, 0, src.size, "bm_memcpy_d2s");
    if (bytes == nullptr) return BM_ERR_PARAM;
    std::memcpy(dst, bytes, src.size);
    return BM_SUCCESS;
}

TPU_SIM_EXPORT bm_status_t bm_memcpy_s2d_partial(bm_handle_t handle, bm_device_mem_t dst, void *src, unsigned int size) {
    if (!live(handle, "bm_memcpy_s2d_partial") || src == nullptr) return BM_ERR_PARAM;
    if (size > dst.size) {
        BMLIB_LOG("error", "bm_memcpy_s2d_partial: size " + std::to_string(size) + " exceeds the descriptor's " +
                               std::to_string(dst.size) + " bytes");
        return BM_ERR_PARAM;
    }
    uint8_t *bytes = device_bytes(handle, dst, 0, size, "bm_memcpy_s2d_partial");
    if (bytes == nullptr) return BM_ERR_PARAM;
    std::memcpy(bytes, src, size);
    return BM_SUCCESS;
}

TPU_SIM_EXPORT bm_status_t bm_memcpy_d2s_partial(bm_handle_t handle, void *dst, bm_device_mem_t src, unsigned int size) {
    if (!live(handle, "bm_memcpy_d2s_partial") || dst == nullptr) return BM_ERR_PARAM;
    if (size > src.size) {
        BMLIB_LOG("error", "bm_memcpy_d2s_partial: size " + std::to_string(size) + " exceeds the descriptor's " +
                               std::to_string(src.size) + " bytes");
        return BM_ERR_PARAM;
    }
    uint8_t *bytes = device_bytes(handle, src, 0, size, "bm_memcpy_d2s_partial");
    if (bytes == nullptr) return BM_ERR_PARAM;
    std::memcpy(dst, bytes, size);
    return BM_SUCCESS;
}

// Like libsophon: offsets and size are not checked against the descriptors' sizes, only against real memory.
TPU_SIM_EXPORT bm_status_t bm_memcpy_d2d_byte(bm_handle_t handle, bm_device_mem_t dst, size_t dst_offset,
                                              bm_device_mem_t src, size_t src_offset, size_t size) {
    if (!live(handle, "bm_memcpy_d2d_byte")) return BM_ERR_PARAM;
    uint8_t *to = device_bytes(handle, dst, dst_offset, size, "bm_memcpy_d2d_byte (dst)");
    uint8_t *from = device_bytes(handle, src, src_offset, size, "bm_memcpy_d2d_byte (src)");
    if (to == nullptr || from == nullptr) return BM_ERR_PARAM;
    std::memmove(to, from, size);
    return BM_SUCCESS;
}

TPU_SIM_EXPORT bm_status_t bm_thread_sync(bm_handle_t handle) {
    return live(handle, "bm_thread_sync") ? BM_SUCCESS : BM_ERR_PARAM;
}

// Like libbmlib on SoC (bmlib_runtime.cpp): one entry per heap it found, in MiB, and the totals the sum of all
// heaps (which is why bm-smi's memory figure is NPU + VPP + VPU).
TPU_SIM_EXPORT bm_status_t bm_get_stat(bm_handle_t handle, bm_dev_stat_t *stat) {
    if (!live(handle, "bm_get_stat") || stat == nullptr) return BM_ERR_PARAM;
    HeapLimits limits = handle->device->limits();
    std::memset(stat, 0, sizeof *stat);
    stat->tpu_util = 0;
    int entry = 0;
    for (int heap = 0; heap < kHeapCount; heap++) {
        bool counted = limits.limited ? limits.present[size_t(heap)] : heap == kNPU; // unlimited: total unknown, 0
        if (!counted) continue;
        uint64_t total = limits.limited ? limits.bytes[size_t(heap)] : 0;
        uint64_t used = handle->device->used(heap);
        uint64_t avail = total > used ? total - used : 0;
        stat->mem_total += int(total >> 20);
        stat->mem_used += int(used >> 20);
        stat->heap_stat[entry].mem_total = unsigned(total >> 20);
        stat->heap_stat[entry].mem_avail = unsigned(avail >> 20);
        stat->heap_stat[entry].mem_used = unsigned(used >> 20);
        entry++;
    }
    stat->heap_num = entry;
    return BM_SUCCESS;
}

TPU_SIM_EXPORT unsigned long long bm_mem_get_device_addr(struct bm_mem_desc mem) { return mem.u.device.device_addr; }

TPU_SIM_EXPORT unsigned int bm_mem_get_device_size(struct bm_mem_desc mem) { return mem.size; }
