/*
 * The one way the engine reaches libsophon: a table of function pointers filled by dlopen/dlsym from a
 * runtime directory (default /opt/sophon/libsophon-current/lib). The same table is filled from libsophon on a
 * board and from the simulated runtime (a library exporting the same symbols) everywhere else.
 */
#ifndef TPU_RUNTIME_API_H
#define TPU_RUNTIME_API_H

#include "tpu_bm_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TPU_RUNTIME_DEFAULT_DIR "/opt/sophon/libsophon-current/lib"

typedef struct TPURuntime {
    void *bmlib_library; /* dlopen handles, closed by tpu_runtime_close */
    void *bmrt_library;

    bm_status_t (*dev_request)(bm_handle_t *handle, int devid);
    void (*dev_free)(bm_handle_t handle);
    bm_status_t (*malloc_device_byte)(bm_handle_t handle, bm_device_mem_t *pmem, unsigned int size);
    void (*free_device)(bm_handle_t handle, bm_device_mem_t mem);
    bm_status_t (*memcpy_s2d)(bm_handle_t handle, bm_device_mem_t dst, void *src);
    bm_status_t (*memcpy_d2s)(bm_handle_t handle, void *dst, bm_device_mem_t src);
    bm_status_t (*memcpy_s2d_partial)(bm_handle_t handle, bm_device_mem_t dst, void *src, unsigned int size);
    bm_status_t (*memcpy_d2s_partial)(bm_handle_t handle, void *dst, bm_device_mem_t src, unsigned int size);
    bm_status_t (*memcpy_d2d_byte)(bm_handle_t handle, bm_device_mem_t dst, size_t dst_offset, bm_device_mem_t src,
                                   size_t src_offset, size_t size);
    bm_status_t (*thread_sync)(bm_handle_t handle);
    bm_status_t (*get_stat)(bm_handle_t handle, bm_dev_stat_t *stat); /* optional: NULL when absent */

    void *(*create)(bm_handle_t bm_handle);
    void (*destroy)(void *p_bmrt);
    bool (*load_bmodel)(void *p_bmrt, const char *bmodel_path);
    int (*get_network_number)(void *p_bmrt);
    void (*get_network_names)(void *p_bmrt, const char ***network_names);
    const bm_net_info_t *(*get_network_info)(void *p_bmrt, const char *net_name);
    void (*tensor_with_device)(bm_tensor_t *tensor, bm_device_mem_t device_mem, bm_data_type_t dtype, bm_shape_t shape);
    bool (*launch_tensor_ex)(void *p_bmrt, const char *net_name, const bm_tensor_t input_tensors[], int input_num,
                             bm_tensor_t output_tensors[], int output_num, bool user_mem, bool user_stmode);
} TPURuntime;

/*
 * Opens <directory>/libbmlib.so and <directory>/libbmrt.so (directory NULL: TPU_RUNTIME_DEFAULT_DIR) and fills
 * `runtime`. Returns 0 on success; otherwise non-zero, with a sentence naming the missing file or symbol in
 * `error` (at most error_size bytes, always NUL-terminated) and every library closed again.
 */
int tpu_runtime_open(const char *directory, TPURuntime *runtime, char *error, size_t error_size);
void tpu_runtime_close(TPURuntime *runtime);

#ifdef __cplusplus
}
#endif

#endif
