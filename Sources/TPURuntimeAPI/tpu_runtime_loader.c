#include "tpu_runtime_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void *open_library(const char *directory, const char *file, char *error, size_t error_size) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", directory, file) >= (int)sizeof path) {
        snprintf(error, error_size, "runtime directory path too long: %s", directory);
        return NULL;
    }
    void *library = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(error, error_size, "cannot load %s (%s); is libsophon installed there? (--runtime-dir)", path,
                 reason ? reason : "unknown reason");
    }
    return library;
}

/* Looks a symbol up in libbmrt first, then libbmlib: libbmrt links libbmlib, either may export it. */
static void *symbol(TPURuntime *runtime, const char *name, int required, char *error, size_t error_size) {
    void *address = dlsym(runtime->bmrt_library, name);
    if (address == NULL) address = dlsym(runtime->bmlib_library, name);
    if (address == NULL && required)
        snprintf(error, error_size, "the runtime libraries lack %s: libsophon too old or not libsophon", name);
    return address;
}

int tpu_runtime_open(const char *directory, TPURuntime *runtime, char *error, size_t error_size) {
    memset(runtime, 0, sizeof *runtime);
    if (error_size > 0) error[0] = '\0';
    if (directory == NULL || directory[0] == '\0') directory = TPU_RUNTIME_DEFAULT_DIR;
    runtime->bmlib_library = open_library(directory, "libbmlib.so", error, error_size);
    if (runtime->bmlib_library == NULL) return 1;
    runtime->bmrt_library = open_library(directory, "libbmrt.so", error, error_size);
    if (runtime->bmrt_library == NULL) {
        tpu_runtime_close(runtime);
        return 1;
    }
#define REQUIRE(field, name)                                                       \
    do {                                                                           \
        *(void **)(&runtime->field) = symbol(runtime, name, 1, error, error_size); \
        if (runtime->field == NULL) {                                              \
            tpu_runtime_close(runtime);                                            \
            return 1;                                                              \
        }                                                                          \
    } while (0)
    REQUIRE(dev_request, "bm_dev_request");
    REQUIRE(dev_free, "bm_dev_free");
    REQUIRE(malloc_device_byte, "bm_malloc_device_byte");
    REQUIRE(free_device, "bm_free_device");
    REQUIRE(memcpy_s2d, "bm_memcpy_s2d");
    REQUIRE(memcpy_d2s, "bm_memcpy_d2s");
    REQUIRE(memcpy_s2d_partial, "bm_memcpy_s2d_partial");
    REQUIRE(memcpy_d2s_partial, "bm_memcpy_d2s_partial");
    REQUIRE(memcpy_d2d_byte, "bm_memcpy_d2d_byte");
    REQUIRE(thread_sync, "bm_thread_sync");
    REQUIRE(create, "bmrt_create");
    REQUIRE(destroy, "bmrt_destroy");
    REQUIRE(load_bmodel, "bmrt_load_bmodel");
    REQUIRE(get_network_number, "bmrt_get_network_number");
    REQUIRE(get_network_names, "bmrt_get_network_names");
    REQUIRE(get_network_info, "bmrt_get_network_info");
    REQUIRE(tensor_with_device, "bmrt_tensor_with_device");
    REQUIRE(launch_tensor_ex, "bmrt_launch_tensor_ex");
#undef REQUIRE
    *(void **)(&runtime->get_stat) = symbol(runtime, "bm_get_stat", 0, error, error_size);
    return 0;
}

void tpu_runtime_close(TPURuntime *runtime) {
    /* libbmrt before libbmlib: it depends on it. */
    if (runtime->bmrt_library != NULL) dlclose(runtime->bmrt_library);
    if (runtime->bmlib_library != NULL) dlclose(runtime->bmlib_library);
    memset(runtime, 0, sizeof *runtime);
}
