/* The simulated BM1684X runtime: a shared library exporting libsophon's C symbols (tpu_bm_types.h). */
#pragma once
#include "tpu_bm_types.h"
