/* etcd_codec.c — base64, string-encoded numbers and key/value records of etcd's JSON
 * gateway. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/base64.h"
#include "tabby/cleanup.h"
#include "etcd_codec.h"

json_t *etcd_json_bytes(const void *data, size_t len)
{
    _cleanup_free_ char *text = tby_base64_encode(data, len);

    return text ? json_string(text) : NULL;
}

json_t *etcd_json_key(const char *key)
{
    return etcd_json_bytes(key, strlen(key));
}

json_t *etcd_json_int64(int64_t value)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRId64, value);
    return json_string(buf);
}

int etcd_unbase64(const char *in, char **out, size_t *len)
{
    return tby_base64_decode(in, strlen(in), out, len);
}

int etcd_get_int64(const json_t *obj, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    const char *text;
    char *end;

    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    text = json_string_value(v);
    if (!text || !*text)
        return -EINVAL;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return (*end || errno) ? -EINVAL : 0;
}

bool etcd_get_bool(const json_t *obj, const char *name)
{
    return json_is_true(json_object_get(obj, name));
}

static int decode_field(const json_t *obj, const char *name, char **out, size_t *len)
{
    const char *text = json_string_value(json_object_get(obj, name));

    *out = NULL;
    *len = 0;
    if (!text)
        return json_object_get(obj, name) ? -EINVAL : 0;
    return etcd_unbase64(text, out, len);
}

int etcd_kv_from_json(const json_t *obj, struct tby_kv *kv)
{
    size_t key_len;
    int r;

    memset(kv, 0, sizeof(*kv));
    r = decode_field(obj, "key", &kv->key, &key_len);
    if (r == 0 && !kv->key)
        r = -EINVAL;
    if (r == 0)
        r = decode_field(obj, "value", &kv->value, &kv->value_len);
    /* A put of an empty value leaves "value" out; a record with a version has a value. */
    if (r == 0 && !kv->value && json_object_get(obj, "version")) {
        kv->value = calloc(1, 1);
        r = kv->value ? 0 : -ENOMEM;
    }
    if (r == 0)
        r = etcd_get_int64(obj, "create_revision", &kv->create_rev);
    if (r == 0)
        r = etcd_get_int64(obj, "mod_revision", &kv->mod_rev);
    if (r == 0)
        r = etcd_get_int64(obj, "version", &kv->version);
    if (r < 0)
        tby_kv_clear(kv);
    return r;
}

int etcd_header_revision(const json_t *answer, int64_t *rev)
{
    return etcd_get_int64(json_object_get(answer, "header"), "revision", rev);
}
