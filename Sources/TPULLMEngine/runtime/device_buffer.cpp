#include "device_buffer.h"

#include <utility>

#include "tpu_llm_engine.h"

namespace tpu {

namespace {

void check(bm_status_t status, const char *what) {
    if (status != BM_SUCCESS)
        throw EngineError(EngineError::Kind::runtime,
                          std::string(what) + " failed on the device (status " + std::to_string(int(status)) + ")");
}

}  // namespace

DeviceBuffer::DeviceBuffer(RuntimeSession &session, size_t bytes, const std::string &purpose)
    : session_(&session), size_(bytes) {
    if (bytes > 0xFFFFFFFFull)
        throw EngineError(EngineError::Kind::load, purpose + " needs " + std::to_string(bytes) + " bytes: too large");
    bm_status_t status = session.api().malloc_device_byte(session.handle(), &memory_, unsigned(bytes));
    if (status != BM_SUCCESS) {
        session_ = nullptr;
        /* libbmlib has printed "bm_alloc_gmem failed" on stdout (the log); the fix for NOMEM is a bigger heap. */
        throw EngineError(EngineError::Kind::load,
                          "cannot allocate " + std::to_string(bytes) + " bytes of device memory for " + purpose +
                              " (status " + std::to_string(int(status)) + ")" +
                              (status == BM_ERR_NOMEM ? ": out of device memory, the NPU heap is too small for this model"
                                                      : "; is the NPU heap large enough?"));
    }
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : session_(std::exchange(other.session_, nullptr)), memory_(other.memory_), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
    if (this != &other) {
        release();
        session_ = std::exchange(other.session_, nullptr);
        memory_ = other.memory_;
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void DeviceBuffer::release() {
    if (session_ != nullptr) session_->api().free_device(session_->handle(), memory_);
    session_ = nullptr;
}

bm_tensor_t DeviceBuffer::tensor(bm_data_type_t dtype, const bm_shape_t &shape) const {
    bm_tensor_t tensor{};
    session_->api().tensor_with_device(&tensor, memory_, dtype, shape);
    return tensor;
}

void DeviceBuffer::upload(const void *data, size_t bytes) {
    check(session_->api().memcpy_s2d_partial(session_->handle(), memory_, const_cast<void *>(data), unsigned(bytes)),
          "copy to device");
}

void DeviceBuffer::download(void *data, size_t bytes) const {
    check(session_->api().memcpy_d2s_partial(session_->handle(), data, memory_, unsigned(bytes)), "copy from device");
}

void DeviceBuffer::copy_from(const DeviceBuffer &source, size_t source_offset, size_t offset, size_t bytes) {
    check(session_->api().memcpy_d2d_byte(session_->handle(), memory_, offset, source.memory_, source_offset, bytes),
          "device-to-device copy");
}

}  // namespace tpu
