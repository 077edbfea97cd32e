#include "runtime_session.h"

#include <cstdlib>

#include "runtime_log.h"
#include "runtime_output_capture.h"
#include "tpu_llm_engine.h"

namespace tpu {

namespace {

/* bm_get_stat's figures, for an out-of-memory message; empty when the runtime cannot say. On SoC the total is
 * the NPU, VPP and VPU heaps together. */
std::string device_memory_summary(const TPURuntime &api, bm_handle_t handle) {
    if (api.get_stat == nullptr || handle == nullptr) return {};
    bm_dev_stat_t stat{};
    if (api.get_stat(handle, &stat) != BM_SUCCESS || stat.mem_total <= 0) return {};
    return "bm_get_stat: " + std::to_string(stat.mem_total) + " MiB of device memory, " +
           std::to_string(stat.mem_used) + " MiB in use";
}

/* `what` failed; `captured` is what the runtime printed meanwhile. Its lines go into the error, which the engine
 * prints as one line on stderr (the log), rather than onto stderr a second time. */
EngineError load_error(const TPURuntime &api, bm_handle_t handle, const std::string &what, const std::string &captured) {
    std::string reason = runtime_reason(captured);
    if (reports_out_of_device_memory(captured)) {
        std::string memory = device_memory_summary(api, handle);
        return EngineError(EngineError::Kind::load,
                           what + ": out of device memory, the NPU heap is too small for this model" +
                               (memory.empty() ? "" : " (" + memory + ")") + "; the runtime said: " + reason);
    }
    return EngineError(EngineError::Kind::load, reason.empty() ? what : what + ": " + reason);
}

}  // namespace

RuntimeSession::RuntimeSession(const std::string &runtime_dir, int device, const std::string &model_path) {
    char error[1024];
    if (tpu_runtime_open(runtime_dir.empty() ? nullptr : runtime_dir.c_str(), &api_, error, sizeof error) != 0)
        throw EngineError(EngineError::Kind::load, error);
    api_open_ = true;
    try {
        {
            RuntimeOutputCapture capture;
            bm_status_t status = api_.dev_request(&handle_, device);
            if (status != BM_SUCCESS || handle_ == nullptr) {
                handle_ = nullptr;
                throw load_error(api_, nullptr,
                                 "cannot open TPU device " + std::to_string(device) + " (bm_dev_request status " +
                                     std::to_string(int(status)) + ")",
                                 capture.finish(true));
            }
        }
        {
            RuntimeOutputCapture capture;
            bmrt_ = api_.create(handle_);
            if (bmrt_ == nullptr)
                throw load_error(api_, handle_, "the runtime could not be created (bmrt_create)", capture.finish(true));
        }
        {
            RuntimeOutputCapture capture;
            if (!api_.load_bmodel(bmrt_, model_path.c_str()))
                throw load_error(api_, handle_, "the runtime refused to load " + model_path, capture.finish(true));
        }
    } catch (...) {
        release();
        throw;
    }
}

RuntimeSession::~RuntimeSession() { release(); }

void RuntimeSession::release() {
    if (bmrt_ != nullptr) api_.destroy(bmrt_);
    bmrt_ = nullptr;
    if (handle_ != nullptr) api_.dev_free(handle_);
    handle_ = nullptr;
    if (api_open_) tpu_runtime_close(&api_);
    api_open_ = false;
}

std::vector<std::string> RuntimeSession::net_names() const {
    int count = api_.get_network_number(bmrt_);
    std::vector<std::string> names;
    if (count <= 0) return names;
    const char **array = nullptr;
    api_.get_network_names(bmrt_, &array);
    if (array == nullptr) return names;
    for (int i = 0; i < count; ++i)
        if (array[i] != nullptr) names.emplace_back(array[i]);
    std::free(static_cast<void *>(array));
    return names;
}

const bm_net_info_t *RuntimeSession::net_info(const std::string &name) const {
    return api_.get_network_info(bmrt_, name.c_str());
}

void RuntimeSession::launch(const std::string &net, const std::vector<bm_tensor_t> &inputs,
                            std::vector<bm_tensor_t> &outputs) {
    bool ok = api_.launch_tensor_ex(bmrt_, net.c_str(), inputs.data(), int(inputs.size()), outputs.data(),
                                    int(outputs.size()), true, false);
    if (!ok) throw EngineError(EngineError::Kind::runtime, "the runtime failed to run net " + net);
    bm_status_t status = api_.thread_sync(handle_);
    if (status != BM_SUCCESS)
        throw EngineError(EngineError::Kind::runtime,
                          "the device failed while running net " + net + " (status " + std::to_string(int(status)) + ")");
}

void RuntimeSession::allocating(const std::function<void()> &allocate) {
    RuntimeOutputCapture capture;
    try {
        allocate();
    } catch (const EngineError &error) {
        std::string captured = capture.finish(true);
        std::string reason = runtime_reason(captured);
        if (reason.empty()) throw;
        std::string message = error.what();
        if (reports_out_of_device_memory(captured)) {
            std::string memory = device_memory_summary(api_, handle_);
            if (!memory.empty()) message += " (" + memory + ")";
        }
        throw EngineError(error.kind, message + "; the runtime said: " + reason);
    }
}

int64_t RuntimeSession::memory_used_bytes() const {
    if (api_.get_stat == nullptr) return -1;
    bm_dev_stat_t stat{};
    if (api_.get_stat(handle_, &stat) != BM_SUCCESS) return -1;
    return int64_t(stat.mem_used) * 1024 * 1024;
}

}  // namespace tpu
