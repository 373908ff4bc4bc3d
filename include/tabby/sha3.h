/* sha3.h — SHA3-256 (FIPS 202) and base32 text (RFC 4648, standard alphabet, no padding),
 * as Calico hashes a node name into its BlockAffinity label
 * projectcalico.org/hostname-hash.
 *
 * Owns nothing: the caller gives the buffers. Needs nothing.
 */
#ifndef TABBY_SHA3_H
#define TABBY_SHA3_H

#include <stddef.h>
#include <stdint.h>

#define TBY_SHA3_256_LEN 32
/* base32 text of n bytes, without padding: ceil(8n / 5) characters and a NUL. */
#define TBY_BASE32_LEN(n) (((n) * 8 + 4) / 5 + 1)

void tby_sha3_256(const void *data, size_t len, uint8_t out[TBY_SHA3_256_LEN]);
/* Writes TBY_BASE32_LEN(len) bytes into out (the text and its NUL); returns out. */
char *tby_base32(const void *data, size_t len, char *out);

#endif
