/* Device memory with one owner: freed when the buffer goes away. */
#pragma once

#include <cstddef>
#include <string>

#include "runtime_session.h"

namespace tpu {

class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    /* Allocates `bytes` on the session's device; throws EngineError(load) naming `purpose` when it cannot. */
    DeviceBuffer(RuntimeSession &session, size_t bytes, const std::string &purpose);
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer &&other) noexcept;
    DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;

    const bm_device_mem_t &memory() const { return memory_; }
    size_t size() const { return size_; }

    /* A tensor over this buffer (the shape's bytes must fit). */
    bm_tensor_t tensor(bm_data_type_t dtype, const bm_shape_t &shape) const;

    void upload(const void *data, size_t bytes);           /* host → device, from offset 0 */
    void download(void *data, size_t bytes) const;          /* device → host, from offset 0 */
    /* Device → device: `bytes` from `source` at `source_offset` to this buffer at `offset`. */
    void copy_from(const DeviceBuffer &source, size_t source_offset, size_t offset, size_t bytes);

  private:
    void release();
    RuntimeSession *session_ = nullptr;
    bm_device_mem_t memory_{};
    size_t size_ = 0;
};

}  // namespace tpu
