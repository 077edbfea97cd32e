#include "registry.h"

#include "diagnostics.h"

#include <map>
#include <mutex>
#include <set>

namespace tpusim {
namespace {

constexpr int kDeviceCount = 1; // a simulated board has one BM1684X

struct Registry {
    std::mutex mutex;
    std::set<bm_context *> contexts;
    std::map<int, std::weak_ptr<Device>> devices;
    std::set<const void *> runtimes;
};

Registry &registry() {
    static Registry *instance = new Registry(); // never destroyed: entry points may run during exit
    return *instance;
}

} // namespace

bm_context *open_context(int id) {
    if (id < 0 || id >= kDeviceCount) return nullptr;
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::shared_ptr<Device> device = r.devices[id].lock();
    if (device == nullptr) {
        std::string directory = state_directory();
        device = std::make_shared<Device>(id, read_heap_limits(directory), directory);
        r.devices[id] = device;
    }
    bm_context *handle = new bm_context{device};
    r.contexts.insert(handle);
    return handle;
}

bool close_context(bm_context *handle) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.contexts.erase(handle) == 0) return false;
    delete handle;
    return true;
}

bool context_is_live(bm_context *handle) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.contexts.count(handle) != 0;
}

void register_runtime(SimRuntime *runtime) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.runtimes.insert(runtime);
}

bool unregister_runtime(SimRuntime *runtime) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.runtimes.erase(runtime) != 0;
}

bool runtime_is_live(const void *runtime) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.runtimes.count(runtime) != 0;
}

} // namespace tpusim
