/* digest.h — the hashes tabby must compute exactly as Calico does: SHA-1 (a pod's veth
 * name) and SHA-256 (a long BlockAffinity name's suffix), written out from FIPS 180-4
 * because nothing else in tabby needs a cryptographic library (SHA3-256: sha3.h).
 *
 * Owns nothing: pure functions writing into the caller's buffers.
 */
#ifndef TABBY_DIGEST_H
#define TABBY_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define TBY_SHA1_LEN 20
#define TBY_SHA256_LEN 32

void tby_sha1(const void *data, size_t len, uint8_t out[TBY_SHA1_LEN]);
void tby_sha256(const void *data, size_t len, uint8_t out[TBY_SHA256_LEN]);

/* Lower-case hex of `len` bytes into out (2 * len + 1 bytes). */
void tby_hex(const uint8_t *bytes, size_t len, char *out);
/* The value of a hex digit (either case), -1 for any other character. */
int tby_hex_digit(char c);

#endif
