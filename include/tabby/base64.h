/* base64.h — RFC 4648 base64 (the standard alphabet, with padding), both ways: etcd's
 * gateway carries keys and values in it, a kubeconfig its inline certificates and keys.
 *
 * Owns nothing; the strings returned are malloc'd and the caller's (free()). Needs nothing.
 */
#ifndef TABBY_BASE64_H
#define TABBY_BASE64_H

#include <stddef.h>

/* `len` bytes as base64, NUL-terminated; NULL when out of memory. */
char *tby_base64_encode(const void *data, size_t len);

/* Decodes `in` (`in_len` bytes) into a new buffer, NUL-terminated (*out_len excludes the
 * NUL). Line breaks (\r, \n) are skipped, as Go's decoder does for PEM-like text;
 * padding may be left out. -EINVAL on any other character outside the alphabet, on
 * padding anywhere but at the end, or on a length no encoder makes; -ENOMEM. *out is
 * NULL on failure. */
int tby_base64_decode(const char *in, size_t in_len, char **out, size_t *out_len);

#endif
