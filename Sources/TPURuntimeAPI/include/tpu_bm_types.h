/*
 * Our own declarations of the libsophon subset tpu-llm-engine uses (BM1684X, libsophon 0.4.x-0.5.x).
 * Layouts and values follow libsophon's public headers (bmlib_runtime.h, bmdef.h, bmruntime_interface.h);
 * see docs/engine-research.md §1. Only fields up to bm_net_info_t.stages are declared: they are the same in
 * every libsophon version boards ship, the later ones are not.
 *
 * The prototypes below name the real C symbols. The engine never calls them directly (it goes through
 * TPURuntime, filled by dlsym); the simulated runtime defines them.
 */
#ifndef TPU_BM_TYPES_H
#define TPU_BM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BM_SUCCESS = 0,
    BM_ERR_DEVNOTREADY = 1,
    BM_ERR_FAILURE = 2,
    BM_ERR_TIMEOUT = 3,
    BM_ERR_PARAM = 4,
    BM_ERR_NOMEM = 5,
    BM_ERR_DATA = 6,
    BM_ERR_BUSY = 7,
    BM_ERR_NOFEATURE = 8,
    BM_NOT_SUPPORTED = 9
} bm_status_t;

typedef enum {
    BM_MEM_TYPE_DEVICE = 0,
    BM_MEM_TYPE_HOST = 1,
    BM_MEM_TYPE_SYSTEM = 2,
    BM_MEM_TYPE_INT8_DEVICE = 3,
    BM_MEM_TYPE_INVALID = 4
} bm_mem_type_t;

struct bm_context;
typedef struct bm_context *bm_handle_t;

typedef union {
    struct {
        unsigned int mem_type : 3;
        unsigned int gmem_heapid : 3;
        unsigned int reserved : 26;
    } u;
    unsigned int rawflags;
} bm_mem_flags_t;

/* Passed by value everywhere; 24 bytes on LP64 (x86_64 and aarch64). */
struct bm_mem_desc {
    union {
        struct {
            unsigned long device_addr;
            unsigned int reserved;
            int dmabuf_fd;
        } device;
        struct {
            void *system_addr;
            unsigned int reserved0;
            int reserved1;
        } system;
    } u;
    bm_mem_flags_t flags;
    unsigned int size;
};
typedef struct bm_mem_desc bm_device_mem_t;

struct bm_heap_stat {
    unsigned int mem_total;
    unsigned int mem_avail;
    unsigned int mem_used;
};

typedef struct bm_dev_stat {
    int mem_total; /* MiB */
    int mem_used;  /* MiB */
    int tpu_util;
    int heap_num;
    struct bm_heap_stat heap_stat[4];
} bm_dev_stat_t;

typedef enum {
    BM_FLOAT32 = 0,
    BM_FLOAT16 = 1,
    BM_INT8 = 2,
    BM_UINT8 = 3,
    BM_INT16 = 4,
    BM_UINT16 = 5,
    BM_INT32 = 6,
    BM_UINT32 = 7,
    BM_BFLOAT16 = 8,
    BM_INT4 = 9,
    BM_UINT4 = 10
} bm_data_type_t;

typedef enum { BM_STORE_1N = 0, BM_STORE_2N = 1, BM_STORE_4N = 2 } bm_store_mode_t;

#define BM_MAX_DIMS_NUM 8

typedef struct {
    int num_dims;
    int dims[BM_MAX_DIMS_NUM];
} bm_shape_t;

typedef struct {
    bm_data_type_t dtype;
    bm_shape_t shape;
    bm_device_mem_t device_mem;
    bm_store_mode_t st_mode;
} bm_tensor_t;

/* Only the first two fields: identical in every libsophon version (later ones append input_mems/output_mems),
 * so never index stages[i] for i > 0 through this declaration. */
typedef struct {
    bm_shape_t *input_shapes;
    bm_shape_t *output_shapes;
} bm_stage_info_t;

/* Fields up to `stages` only (layout-stable; the runtime owns the struct and may append more). */
typedef struct {
    const char *name;
    bool is_dynamic;
    int input_num;
    const char **input_names;
    bm_data_type_t *input_dtypes;
    float *input_scales;
    int output_num;
    const char **output_names;
    bm_data_type_t *output_dtypes;
    float *output_scales;
    int stage_num;
    bm_stage_info_t *stages;
} bm_net_info_t;

/* bmlib */
bm_status_t bm_dev_request(bm_handle_t *handle, int devid);
void bm_dev_free(bm_handle_t handle);
bm_status_t bm_malloc_device_byte(bm_handle_t handle, bm_device_mem_t *pmem, unsigned int size);
void bm_free_device(bm_handle_t handle, bm_device_mem_t mem);
bm_status_t bm_memcpy_s2d(bm_handle_t handle, bm_device_mem_t dst, void *src);
bm_status_t bm_memcpy_d2s(bm_handle_t handle, void *dst, bm_device_mem_t src);
bm_status_t bm_memcpy_s2d_partial(bm_handle_t handle, bm_device_mem_t dst, void *src, unsigned int size);
bm_status_t bm_memcpy_d2s_partial(bm_handle_t handle, void *dst, bm_device_mem_t src, unsigned int size);
bm_status_t bm_memcpy_d2d_byte(bm_handle_t handle, bm_device_mem_t dst, size_t dst_offset, bm_device_mem_t src,
                               size_t src_offset, size_t size);
bm_status_t bm_thread_sync(bm_handle_t handle);
bm_status_t bm_get_stat(bm_handle_t handle, bm_dev_stat_t *stat);
unsigned long long bm_mem_get_device_addr(struct bm_mem_desc mem);
unsigned int bm_mem_get_device_size(struct bm_mem_desc mem);

/* bmrt */
void *bmrt_create(bm_handle_t bm_handle);
void bmrt_destroy(void *p_bmrt);
bool bmrt_load_bmodel(void *p_bmrt, const char *bmodel_path);
int bmrt_get_network_number(void *p_bmrt);
void bmrt_get_network_names(void *p_bmrt, const char ***network_names); /* caller free()s the array only */
const bm_net_info_t *bmrt_get_network_info(void *p_bmrt, const char *net_name);
void bmrt_tensor_with_device(bm_tensor_t *tensor, bm_device_mem_t device_mem, bm_data_type_t dtype, bm_shape_t shape);
size_t bmrt_tensor_bytesize(const bm_tensor_t *tensor);
bool bmrt_launch_tensor_ex(void *p_bmrt, const char *net_name, const bm_tensor_t input_tensors[], int input_num,
                           bm_tensor_t output_tensors[], int output_num, bool user_mem, bool user_stmode);

#ifdef __cplusplus
}
#endif

#endif
