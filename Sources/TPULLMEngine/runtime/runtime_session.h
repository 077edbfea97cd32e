/* One device and one bmrt instance with a bmodel loaded, reached only through the TPURuntime table. */
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tpu_runtime_api.h"

namespace tpu {

class RuntimeSession {
  public:
    /* Opens the runtime libraries in `runtime_dir`, requests `device`, creates bmrt and loads `model_path`; what the
     * runtime prints meanwhile (on stdout, as libsophon does) is captured: passed on to stderr when all went well,
     * else made part of the error.
     * Throws EngineError(load) naming the step that failed and the runtime's own words when it printed any. */
    RuntimeSession(const std::string &runtime_dir, int device, const std::string &model_path);
    ~RuntimeSession();
    RuntimeSession(const RuntimeSession &) = delete;
    RuntimeSession &operator=(const RuntimeSession &) = delete;

    const TPURuntime &api() const { return api_; }
    bm_handle_t handle() const { return handle_; }
    void *bmrt() const { return bmrt_; }

    std::vector<std::string> net_names() const;
    /* The runtime's description of a net, or nullptr when the model has no such net. */
    const bm_net_info_t *net_info(const std::string &name) const;

    /* Runs a net on caller-owned tensors and waits for it; throws EngineError(runtime) on failure. */
    void launch(const std::string &net, const std::vector<bm_tensor_t> &inputs, std::vector<bm_tensor_t> &outputs);

    /* Device memory in use in bytes, -1 when the runtime cannot say. */
    int64_t memory_used_bytes() const;

    /* Runs `allocate` (the engine's own device buffers: KV cache, inputs, outputs) with what the runtime prints
     * captured, as the load's calls are: libbmlib says "bm_alloc_gmem failed, …" on stdout when a heap is full, so
     * an EngineError `allocate` throws is thrown again carrying the runtime's words (and bm_get_stat's figures when
     * the device ran out of memory); when all went well, what was printed is passed on to stderr. */
    void allocating(const std::function<void()> &allocate);

  private:
    void release();

    TPURuntime api_{};
    bool api_open_ = false;
    bm_handle_t handle_ = nullptr;
    void *bmrt_ = nullptr;
};

}  // namespace tpu
