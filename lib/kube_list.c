/* kube_list.c — reading the Kubernetes API's List answers (items, resourceVersion,
 * continue token) and giving objects the kind and apiVersion lists leave out. No I/O:
 * the client and the informer hand it answers; the fuzzers hand it anything. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "kube_client.h"

int kube_fill_type(json_t *obj, const struct tby_kube_resource *res)
{
    char api_version[256];

    if (!json_is_object(obj))
        return -EINVAL;
    if (res->group[0])
        snprintf(api_version, sizeof(api_version), "%s/%s", res->group, res->version);
    else
        snprintf(api_version, sizeof(api_version), "%s", res->version);
    if (!json_object_get(obj, "apiVersion") &&
        json_object_set_new(obj, "apiVersion", json_string(api_version)) < 0)
        return -ENOMEM;
    if (!json_object_get(obj, "kind") &&
        json_object_set_new(obj, "kind", json_string(res->kind)) < 0)
        return -ENOMEM;
    return 0;
}

void tby_kube_list_clear(struct tby_kube_list *list)
{
    json_decref(list->items);
    free(list->resource_version);
    list->items = NULL;
    list->resource_version = NULL;
}

static int dup_meta(const json_t *meta, const char *field, char **out, struct tby_error *err)
{
    const json_t *v = json_object_get(meta, field);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return tby_error_set(err, -EINVAL, "list: metadata.%s is not a string", field);
    if (!*json_string_value(v))
        return 0;
    *out = strdup(json_string_value(v));
    return *out ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

int kube_list_take(const json_t *page, json_t *items, char **resource_version,
                   char **continue_token, struct tby_error *err)
{
    const json_t *list = json_object_get(page, "items");
    const json_t *meta = json_object_get(page, "metadata");
    const json_t *item;
    size_t i;
    int r;

    *resource_version = *continue_token = NULL;
    if (!json_is_object(page))
        return tby_error_set(err, -EINVAL, "list: not an object");
    if (list && !json_is_null(list) && !json_is_array(list))
        return tby_error_set(err, -EINVAL, "list: items is not a list");
    if (meta && !json_is_object(meta))
        return tby_error_set(err, -EINVAL, "list: metadata is not an object");
    json_array_foreach(list, i, item) {
        if (!json_is_object(item))
            return tby_error_set(err, -EINVAL, "list: items[%zu] is not an object", i);
    }
    json_array_foreach(list, i, item) {
        if (json_array_append(items, (json_t *)item) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = dup_meta(meta, "resourceVersion", resource_version, err);
    if (r == 0)
        r = dup_meta(meta, "continue", continue_token, err);
    if (r < 0) {
        free(*resource_version);
        *resource_version = NULL;
    }
    return r;
}

int tby_kube_list_decode(const char *body, size_t len, json_t *items, char **resource_version,
                         char **continue_token, struct tby_error *err)
{
    json_error_t jerr;
    _cleanup_json_ json_t *page = json_loadb(body, len, 0, &jerr);

    *resource_version = *continue_token = NULL;
    if (!page)
        return tby_error_set(err, -EINVAL, "list: not JSON: %s", jerr.text);
    return kube_list_take(page, items, resource_version, continue_token, err);
}
