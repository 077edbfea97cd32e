// libbmrt's C entry points (tpu_bm_types.h), over SimRuntime.
#include "tpu_sim_runtime.h"

#include "diagnostics.h"
#include "net_info.h"
#include "registry.h"
#include "sim_runtime.h"

#include <cstdlib>
#include <cstring>

#define TPU_SIM_EXPORT extern "C" __attribute__((visibility("default")))

using namespace tpusim;

namespace {

SimRuntime *runtime_from(void *p_bmrt, const char *call) {
    if (p_bmrt != nullptr && runtime_is_live(p_bmrt)) return static_cast<SimRuntime *>(p_bmrt);
    BMRT_LOG("ERROR", std::string(call) + ": invalid runtime pointer");
    return nullptr;
}

} // namespace

TPU_SIM_EXPORT void *bmrt_create(bm_handle_t bm_handle) {
    if (bm_handle == nullptr || !context_is_live(bm_handle)) {
        BMRT_LOG("ERROR", "bmrt_create: invalid bm_handle");
        return nullptr;
    }
    try {
        SimRuntime *runtime = new SimRuntime(bm_handle->device);
        register_runtime(runtime);
        return runtime;
    } catch (const std::exception &failure) {
        BMRT_LOG("ERROR", std::string("bmrt_create: ") + failure.what());
        return nullptr;
    }
}

TPU_SIM_EXPORT void bmrt_destroy(void *p_bmrt) {
    if (p_bmrt == nullptr) return;
    SimRuntime *runtime = static_cast<SimRuntime *>(p_bmrt);
    if (!unregister_runtime(runtime)) {
        BMRT_LOG("ERROR", "bmrt_destroy: invalid runtime pointer");
        return;
    }
    delete runtime;
}

TPU_SIM_EXPORT bool bmrt_load_bmodel(void *p_bmrt, const char *bmodel_path) {
    SimRuntime *runtime = runtime_from(p_bmrt, "bmrt_load_bmodel");
    if (runtime == nullptr || bmodel_path == nullptr) return false;
    try {
        return runtime->load(bmodel_path);
    } catch (const std::exception &failure) {
        BMRT_LOG("FATAL", std::string("Load ") + bmodel_path + " failed: " + failure.what());
        return false;
    }
}

TPU_SIM_EXPORT int bmrt_get_network_number(void *p_bmrt) {
    SimRuntime *runtime = runtime_from(p_bmrt, "bmrt_get_network_number");
    return runtime == nullptr ? 0 : runtime->net_count();
}

TPU_SIM_EXPORT void bmrt_get_network_names(void *p_bmrt, const char ***network_names) {
    if (network_names == nullptr) return;
    *network_names = nullptr;
    SimRuntime *runtime = runtime_from(p_bmrt, "bmrt_get_network_names");
    if (runtime == nullptr || runtime->net_count() == 0) return;
    int count = runtime->net_count();
    const char **names = static_cast<const char **>(std::malloc(sizeof(char *) * size_t(count)));
    if (names == nullptr) return;
    for (int i = 0; i < count; i++) names[i] = runtime->net_name(i);
    *network_names = names;
}

TPU_SIM_EXPORT const bm_net_info_t *bmrt_get_network_info(void *p_bmrt, const char *net_name) {
    SimRuntime *runtime = runtime_from(p_bmrt, "bmrt_get_network_info");
    if (runtime == nullptr || net_name == nullptr) return nullptr;
    const bm_net_info_t *info = runtime->net_info(net_name);
    if (info == nullptr) BMRT_LOG("ERROR", std::string("net ") + net_name + " is not loaded");
    return info;
}

TPU_SIM_EXPORT void bmrt_tensor_with_device(bm_tensor_t *tensor, bm_device_mem_t device_mem, bm_data_type_t dtype,
                                            bm_shape_t shape) {
    if (tensor == nullptr) return;
    uint64_t bytes = shape_count(shape) * data_type_size(dtype);
    if (bytes > device_mem.size)
        BMRT_LOG("ERROR", "bmrt_tensor_with_device: shape " + shape_text(shape) + " needs " + std::to_string(bytes) +
                              " bytes, the device memory has " + std::to_string(device_mem.size));
    tensor->dtype = dtype;
    tensor->shape = shape;
    tensor->device_mem = device_mem;
    tensor->st_mode = BM_STORE_1N;
}

TPU_SIM_EXPORT size_t bmrt_tensor_bytesize(const bm_tensor_t *tensor) {
    if (tensor == nullptr) return 0;
    return size_t(shape_count(tensor->shape) * data_type_size(tensor->dtype));
}

TPU_SIM_EXPORT bool bmrt_launch_tensor_ex(void *p_bmrt, const char *net_name, const bm_tensor_t input_tensors[],
                                          int input_num, bm_tensor_t output_tensors[], int output_num, bool user_mem,
                                          bool user_stmode) {
    (void)user_stmode; // every sim tensor is BM_STORE_1N
    SimRuntime *runtime = runtime_from(p_bmrt, "bmrt_launch_tensor_ex");
    if (runtime == nullptr) return false;
    try {
        return runtime->launch(net_name, input_tensors, input_num, output_tensors, output_num, user_mem);
    } catch (const std::exception &failure) {
        BMRT_LOG("ERROR", std::string("bmrt_launch_tensor_ex: ") + failure.what());
        return false;
    }
}
