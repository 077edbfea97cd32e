#ifndef TPUDEPLOY_CLIBCRYPTO_SHIM_H
#define TPUDEPLOY_CLIBCRYPTO_SHIM_H
// OpenSSL's libcrypto (already linked by libssh) for SHA-1/SHA-256, zlib for CRC-32: hashing boot images
// and multi-GB model files at memory speed.
#include <openssl/evp.h>
#include <zlib.h>
#endif
