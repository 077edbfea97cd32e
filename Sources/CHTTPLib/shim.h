/* cpp-httplib (Debian libcpp-httplib-dev, linked through pkg-config cpp-httplib); C++ only. */
#pragma once
#ifdef __cplusplus
#include <httplib.h>
#endif
