/* sentencepiece's C++ API (Debian libsentencepiece-dev); only the engine's C++ code includes it. */
#pragma once
#ifdef __cplusplus
#include <sentencepiece_processor.h>
#endif
