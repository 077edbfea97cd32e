// The only process-wide state: which handles and runtimes are alive, and the simulated devices they share.
// Guarded by one mutex; lets the C entry points reject stale or foreign pointers instead of crashing.
#pragma once

#include "device_memory.h"

namespace tpusim {

class SimRuntime;

/// A new handle on device `id` (devices are shared by all handles on them). Null for an unknown device.
bm_context *open_context(int id);
/// False when `handle` is not a live handle.
bool close_context(bm_context *handle);
bool context_is_live(bm_context *handle);

void register_runtime(SimRuntime *runtime);
/// False when `runtime` was not registered.
bool unregister_runtime(SimRuntime *runtime);
bool runtime_is_live(const void *runtime);

} // namespace tpusim
