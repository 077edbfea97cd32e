#ifndef TPUDEPLOY_CLIBFDT_SHIM_H
#define TPUDEPLOY_CLIBFDT_SHIM_H
#include <libfdt.h>

// libfdt exposes these as macros, which Swift cannot call; thin inline functions make them visible.
static inline uint32_t tpd_fdt_totalsize(const void *fdt) { return fdt_totalsize(fdt); }
static inline uint32_t tpd_fdt_magic(const void *fdt) { return fdt_magic(fdt); }
#endif
