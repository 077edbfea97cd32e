/* SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104): the relay agent links nothing beyond glibc, so it carries
 * its own. */
#ifndef RELAY_SHA256_H
#define RELAY_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;      /* bytes hashed so far */
    uint8_t block[64];
    size_t used;          /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t size);
void sha256_final(sha256_ctx *ctx, uint8_t digest[32]);
/* Lower-case hex of a digest: 64 digits and a NUL. */
void sha256_hex(const uint8_t digest[32], char hex[65]);
void hmac_sha256(const void *key, size_t key_size, const void *message, size_t size, uint8_t mac[32]);

#endif
