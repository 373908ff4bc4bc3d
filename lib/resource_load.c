/* resource_load.c — reading files of resource documents (YAML or JSON, several
 * documents, Kubernetes-style lists) into decoded resources, all or nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "tabby/yaml.h"

/* Max size of one input file; resource files are small, a huge one is a mistake. */
#define MAX_INPUT (64u << 20)

int tby_resource_list_push(struct tby_resource_list *list, struct tby_resource *res)
{
    if (TBY_GROW(list->items, list->cap, list->n + 1) < 0)
        return -ENOMEM;
    list->items[list->n++] = res;
    return 0;
}

void tby_resource_list_clear(struct tby_resource_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        tby_resource_free(list->items[i]);
    free(list->items);
    *list = (struct tby_resource_list){ 0 };
}

/* "List", "IPPoolList", "NetworkPolicyList", … with an items array. */
static bool is_list(const json_t *doc)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    size_t len = kind ? strlen(kind) : 0;

    return len >= 4 && strcmp(kind + len - 4, "List") == 0;
}

static int decode_one(const json_t *doc, const char *where,
                      struct tby_resource_list *out, struct tby_error *err)
{
    struct tby_resource *res = NULL;
    char what[256];
    int r = tby_resource_decode(doc, &res, err);

    if (r < 0)
        return tby_error_prefix(err, "%s (%s)", where,
                                tby_resource_describe(doc, what, sizeof(what)));
    if (tby_resource_list_push(out, res) < 0) {
        tby_resource_free(res);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* A list's items, or a document that is a sequence of resources (calicoctl takes both:
 * `kind: IPPoolList` with items, and a YAML sequence of resources at the top level). */
static int decode_list(const json_t *doc, size_t doc_no, struct tby_resource_list *out,
                       struct tby_error *err)
{
    const json_t *items = json_is_array(doc) ? doc : json_object_get(doc, "items");
    const json_t *item;
    char where[64];
    size_t i;

    if (!json_is_array(items))
        return tby_error_set(err, -EINVAL, "document %zu (%s): items: must be a list of "
                                           "resources", doc_no,
                             json_string_value(json_object_get(doc, "kind")));
    json_array_foreach(items, i, item) {
        int r;

        snprintf(where, sizeof(where), "document %zu item %zu", doc_no, i + 1);
        r = decode_one(item, where, out, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int tby_resource_load(const char *text, size_t len, const char *source,
                      struct tby_resource_list *out, struct tby_error *err)
{
    struct tby_yaml_docs docs = { 0 };
    const json_t *doc;
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    r = tby_yaml_load(text, len, source, &docs, err);
    if (r < 0)
        return r;
    json_array_foreach(docs.docs, i, doc) {
        char where[64];

        snprintf(where, sizeof(where), "document %zu", i + 1);
        r = json_is_array(doc) || is_list(doc) ? decode_list(doc, i + 1, out, err) : decode_one(doc, where, out, err);
        if (r < 0)
            break;
    }
    tby_yaml_docs_clear(&docs);
    if (r < 0) {
        tby_resource_list_clear(out);
        return tby_error_prefix(err, "%s", source);
    }
    if (out->n == 0)
        return tby_error_set(err, -EINVAL, "%s: no resources found", source);
    return 0;
}

int tby_resource_load_file(const char *path, struct tby_resource_list *out,
                           struct tby_error *err)
{
    _cleanup_buf_ struct tby_buf text = { .max = MAX_INPUT };
    _cleanup_fclose_ FILE *f = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if (strcmp(path, "-") != 0) {
        f = fopen(path, "re");
        if (!f)
            return tby_error_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    r = tby_buf_read_stream(&text, f ? f : stdin);
    if (r == -EFBIG)
        return tby_error_set(err, r, "%s: larger than %u MiB", path, MAX_INPUT >> 20);
    if (r < 0)
        return tby_error_set(err, r, "%s: %s", path, strerror(-r));
    return tby_resource_load(text.data ? text.data : "", text.len,
                             strcmp(path, "-") == 0 ? "<stdin>" : path, out, err);
}
