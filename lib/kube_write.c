/* kube_write.c — changes through the Kubernetes API: create (POST), update (PUT,
 * conditional on metadata.resourceVersion), the three kinds of PATCH, status
 * subresources, delete with preconditions, and read-modify-write retried on conflict. */
#include <errno.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "kube_client.h"

#define DEFAULT_TRIES 5

static const char *meta_string(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

/* The namespace a write goes to: the one given, else the object's own. */
static const char *ns_of(const struct tby_kube_resource *res, const char *ns, const json_t *obj)
{
    if (!res->namespaced)
        return NULL;
    return ns && *ns ? ns : meta_string(obj, "namespace");
}

/* Path and message name of one object (name NULL: its collection); -EINVAL when a
 * namespaced type has no namespace. */
static int target(struct tby_buf *path, char *what, size_t size,
                  const struct tby_kube_resource *res, const char *ns, const char *name,
                  const char *shown_name, const char *subresource, struct tby_error *err)
{
    kube_what(what, size, res, ns, shown_name);
    if (res->namespaced && (!ns || !*ns))
        return tby_error_set(err, -EINVAL, "%s: no namespace given", what);
    if (tby_kube_path(path, res, ns, name, subresource) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int write_object(struct tby_kube_client *c, const char *method,
                        const struct tby_kube_resource *res, const char *ns, const char *name,
                        const char *shown_name, const char *subresource,
                        const char *content_type, const json_t *body, json_t **out,
                        struct tby_error *err)
{
    _cleanup_json_ json_t *answer = NULL;
    struct tby_buf path = { 0 };
    char what[512];
    int r;

    if (out)
        *out = NULL;
    r = target(&path, what, sizeof(what), res, ns, name, shown_name, subresource, err);
    if (r == 0)
        r = kube_call(c, method, path.data, content_type, body, what, out ? &answer : NULL,
                      err);
    tby_buf_clear(&path);
    if (r == 0 && out) {
        if (kube_fill_type(answer, res) < 0)
            return tby_error_set(err, -EIO, "%s: the server's answer is not an object", what);
        *out = TBY_STEAL(answer);
    }
    return r;
}

int tby_kube_create(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const json_t *obj, json_t **out, struct tby_error *err)
{
    const char *name = meta_string(obj, "name");

    if (!name)
        name = meta_string(obj, "generateName");
    return write_object(c, "POST", res, ns_of(res, ns, obj), NULL, name, NULL, NULL, obj, out,
                        err);
}

int tby_kube_create_subresource(struct tby_kube_client *c, const struct tby_kube_resource *res,
                                const char *ns, const char *name, const char *subresource,
                                const json_t *body, json_t **out, struct tby_error *err)
{
    char what[512];

    if (!name || !*name || !subresource || !*subresource) {
        kube_what(what, sizeof(what), res, ns, name);
        return tby_error_set(err, -EINVAL, "%s: a subresource needs a name", what);
    }
    return write_object(c, "POST", res, res->namespaced ? ns : NULL, name, name, subresource,
                        NULL, body, out, err);
}

static int put(struct tby_kube_client *c, const struct tby_kube_resource *res, const char *ns,
               const json_t *obj, const char *subresource, json_t **out, struct tby_error *err)
{
    const char *name = meta_string(obj, "name");
    char what[512];

    if (!name || !*name) {
        kube_what(what, sizeof(what), res, ns_of(res, ns, obj), NULL);
        return tby_error_set(err, -EINVAL, "%s: the object has no metadata.name", what);
    }
    return write_object(c, "PUT", res, ns_of(res, ns, obj), name, name, subresource, NULL, obj,
                        out, err);
}

int tby_kube_update(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const json_t *obj, json_t **out, struct tby_error *err)
{
    return put(c, res, ns, obj, NULL, out, err);
}

int tby_kube_update_status(struct tby_kube_client *c, const struct tby_kube_resource *res,
                           const char *ns, const json_t *obj, json_t **out,
                           struct tby_error *err)
{
    char type[256];

    if (!res->has_status)
        return tby_error_set(err, -EINVAL, "%s: no status subresource",
                             tby_kube_resource_name(res, type, sizeof(type)));
    return put(c, res, ns, obj, "status", out, err);
}

int tby_kube_patch(struct tby_kube_client *c, const struct tby_kube_resource *res,
                   const char *ns, const char *name, enum tby_kube_patch_type type,
                   const json_t *patch, const char *subresource, json_t **out,
                   struct tby_error *err)
{
    static const char *const content_types[] = {
        [TBY_KUBE_PATCH_MERGE] = "application/merge-patch+json",
        [TBY_KUBE_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
        [TBY_KUBE_PATCH_JSON] = "application/json-patch+json",
    };
    bool want_array = type == TBY_KUBE_PATCH_JSON;
    char what[512];

    if (!name || !*name || (unsigned)type >= TBY_ARRAY_SIZE(content_types) ||
        (want_array ? !json_is_array(patch) : !json_is_object(patch))) {
        kube_what(what, sizeof(what), res, ns, name);
        return tby_error_set(err, -EINVAL, "%s: a patch needs a name and %s", what,
                             want_array ? "a list of operations" : "an object");
    }
    return write_object(c, "PATCH", res, res->namespaced ? ns : NULL, name, name, subresource,
                        content_types[type], patch, out, err);
}

int tby_kube_delete(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const char *name, const struct tby_kube_preconditions *pre,
                    struct tby_error *err)
{
    _cleanup_json_ json_t *opts = NULL;
    json_t *conds;
    char what[512];

    if (!name || !*name) {
        kube_what(what, sizeof(what), res, ns, NULL);
        return tby_error_set(err, -EINVAL, "%s: no name given", what);
    }
    if (pre && (pre->uid || pre->resource_version)) {
        opts = json_pack("{s:s, s:s, s:{}}", "kind", "DeleteOptions", "apiVersion", "v1",
                         "preconditions");
        conds = json_object_get(opts, "preconditions");
        if (!conds ||
            (pre->uid && json_object_set_new(conds, "uid", json_string(pre->uid)) < 0) ||
            (pre->resource_version &&
             json_object_set_new(conds, "resourceVersion",
                                 json_string(pre->resource_version)) < 0))
            return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return write_object(c, "DELETE", res, res->namespaced ? ns : NULL, name, name, NULL, NULL,
                        opts, NULL, err);
}

int tby_kube_modify(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const char *name, tby_kube_mutate_fn mutate, void *ctx,
                    int tries, json_t **out, struct tby_error *err)
{
    int r = 0;

    if (out)
        *out = NULL;
    if (tries <= 0)
        tries = DEFAULT_TRIES;
    for (int attempt = 1; attempt <= tries; attempt++) {
        _cleanup_json_ json_t *obj = NULL;

        r = tby_kube_get(c, res, ns, name, &obj, err);
        if (r < 0)
            return r;
        r = mutate(obj, ctx, err);
        if (r < 0)
            return r;
        if (r == TBY_KUBE_UNCHANGED) {
            if (out)
                *out = TBY_STEAL(obj);
            return 0;
        }
        /* The PUT carries the resourceVersion read: it fails if anyone wrote since. */
        r = tby_kube_update(c, res, ns, obj, out, err);
        if (r != -ECANCELED)
            return r;
    }
    return tby_error_prefix(err, "gave up after %d conflicting writes", tries);
}
