/* etcd_codec.h — the etcd v3 JSON gateway's encoding (private to lib/).
 *
 * The gateway speaks protobuf-JSON: keys and values are base64 strings, int64 numbers are
 * decimal strings, and fields at their default (0, false, "") are left out. These helpers
 * build requests and read answers in that shape. Strings they return belong to the caller
 * (free()); JSON values follow jansson's reference counting.
 */
#ifndef TABBY_ETCD_CODEC_H
#define TABBY_ETCD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/store.h"

/* base64 of `len` bytes as a new JSON string; NULL when out of memory. */
json_t *etcd_json_bytes(const void *data, size_t len);
/* base64 of a NUL-terminated key as a new JSON string. */
json_t *etcd_json_key(const char *key);
/* An int64 as the gateway writes it: a decimal string. */
json_t *etcd_json_int64(int64_t value);

/* Decodes base64 into a new NUL-terminated buffer (*len excludes the NUL).
 * -EINVAL on bad input, -ENOMEM. */
int etcd_unbase64(const char *in, char **out, size_t *len);

/* obj[name] as an int64: a decimal string or a JSON integer; 0 when absent (the
 * gateway's default). -EINVAL when present but not a number. */
int etcd_get_int64(const json_t *obj, const char *name, int64_t *out);
/* obj[name] as a boolean; false when absent. */
bool etcd_get_bool(const json_t *obj, const char *name);

/* A mvccpb.KeyValue object into a record (value NULL when the object has none, as in
 * delete events and keys-only reads). -EINVAL on a malformed object, -ENOMEM. */
int etcd_kv_from_json(const json_t *obj, struct tby_kv *kv);

/* header.revision of an answer. */
int etcd_header_revision(const json_t *answer, int64_t *rev);

#endif
