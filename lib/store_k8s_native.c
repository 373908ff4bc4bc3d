/* store_k8s_native.c — the kinds tabby shares with Kubernetes itself, one object each:
 * tabby's Kubernetes NetworkPolicy is networking.k8s.io/v1 NetworkPolicy (KDD-LAYOUT §3.5)
 * and tabby's Namespace is the core Namespace (§3.2). Their metadata is their own (no
 * conversion); a write changes labels, annotations and (for policies) the spec on top of
 * the object as it was, so everything else Kubernetes keeps there stays. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "store_k8s.h"

int k8s_locate_object(const struct k8s_map *m, const char *ns, const char *name,
                      struct k8s_loc *loc, struct tby_error *err)
{
    loc->res = m->types[0];
    loc->ns = ns ? strdup(ns) : NULL;
    loc->name = strdup(name);
    if (!loc->name || (ns && !loc->ns))
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* The object as a tabby document of m's kind. New reference. */
static json_t *native_doc(const struct k8s_map *m, const json_t *obj)
{
    const struct tby_kind_info *info = k8s_map_kind(m);
    const json_t *spec = json_object_get(obj, "spec");
    json_t *doc = json_object(), *meta = k8s_meta_native(obj);

    if (!doc || !meta) {
        json_decref(meta);
        return json_decref(doc), NULL;
    }
    json_object_set_new(doc, "apiVersion", json_string(info->api_version));
    json_object_set_new(doc, "kind", json_string(info->name));
    json_object_set_new(doc, "metadata", meta);
    if (json_is_object(spec) && m->kind != TBY_KIND_NAMESPACE)
        json_object_set_new(doc, "spec", json_deep_copy(spec));
    return doc;
}

static int native_read(struct k8s_codec *c, const struct k8s_map *m,
                       const struct tby_kube_resource *res, const json_t *obj,
                       struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = native_doc(m, obj);

    (void)res;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return k8s_entry_make(c, m, obj, doc, NULL, NULL, out, err);
}

/* Sets meta[field] to v (a copy), or removes it when v is absent or empty. */
static void replace_field(json_t *meta, const char *field, const json_t *v)
{
    if (v && (!json_is_object(v) || json_object_size(v)))
        json_object_set_new(meta, field, json_deep_copy(v));
    else
        json_object_del(meta, field);
}

static int native_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                      struct tby_error *err)
{
    const struct tby_kube_resource *res = w->loc->res;
    _cleanup_json_ json_t *old = w->raw ? native_doc(w->map, w->raw) : NULL;
    _cleanup_json_ json_t *v = k8s_value_onto(c, w->value, old);
    const json_t *vmeta = json_object_get(v, "metadata");
    json_t *body = w->raw ? json_deep_copy(w->raw) : json_object(), *meta;
    char api[128];

    if (!v || !body)
        return json_decref(body), tby_error_set(err, -ENOMEM, "out of memory");
    snprintf(api, sizeof(api), "%s%s%s", res->group, res->group[0] ? "/" : "", res->version);
    json_object_set_new(body, "apiVersion", json_string(api));
    json_object_set_new(body, "kind", json_string(res->kind));
    meta = json_object_get(body, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(body, "metadata", meta);
    }
    json_object_set_new(meta, "name", json_string(w->loc->name));
    if (res->namespaced)
        json_object_set_new(meta, "namespace", json_string(w->loc->ns));
    replace_field(meta, "labels", json_object_get(vmeta, "labels"));
    replace_field(meta, "annotations", json_object_get(vmeta, "annotations"));
    json_object_del(meta, "managedFields");
    if (!w->raw) {
        json_object_del(meta, "uid");
        json_object_del(meta, "creationTimestamp");
    }
    k8s_meta_set_rev(meta, w->expect);
    if (w->map->kind != TBY_KIND_NAMESPACE)
        replace_field(body, "spec", json_object_get(v, "spec"));
    out->verb = w->raw ? K8S_PUT : K8S_POST;
    out->body = body;
    return 0;
}

const struct k8s_conv k8s_conv_native = {
    .access = K8S_READ_WRITE,
    .locate = k8s_locate_object,
    .read = native_read,
    .put = native_put,
};
