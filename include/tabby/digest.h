/* digest.h — the hashes tabby must compute exactly as Calico does: SHA-1 (a pod's veth
 * name), SHA-256 (a long BlockAffinity name's suffix) and SHA3-256 (the hostname-hash
 * label of BlockAffinities), written out from FIPS 180-4 and FIPS 202 because nothing else
 * in tabby needs a cryptographic library.
 *
 * Owns nothing: pure functions writing into the caller's buffers.
 */
#ifndef TABBY_DIGEST_H
#define TABBY_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define TBY_SHA1_LEN 20
#define TBY_SHA256_LEN 32
#define TBY_SHA3_256_LEN 32

void tby_sha1(const void *data, size_t len, uint8_t out[TBY_SHA1_LEN]);
void tby_sha256(const void *data, size_t len, uint8_t out[TBY_SHA256_LEN]);
/* FIPS 202 SHA3-256 (padding 0x06), not the original Keccak-256 (0x01). */
void tby_sha3_256(const void *data, size_t len, uint8_t out[TBY_SHA3_256_LEN]);

/* Lower-case hex of `len` bytes into out (2 * len + 1 bytes). */
void tby_hex(const uint8_t *bytes, size_t len, char *out);
/* The value of a hex digit (either case), -1 for any other character. */
int tby_hex_digit(char c);

#endif
