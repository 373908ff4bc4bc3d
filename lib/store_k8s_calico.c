/* store_k8s_calico.c — Calico's own kinds (IPPool, IPAMConfiguration, NetworkPolicy,
 * GlobalNetworkPolicy, BGPConfiguration, BGPPeer, HostEndpoint) as custom resources of
 * crd.projectcalico.org/v1, the group every KDD cluster has (KDD-LAYOUT §1, §2): the spec
 * is the v3 spec, the v3 metadata sits in the projectcalico.org/metadata annotation, and
 * policies keep the name Calico 3.31+ reads (§2.3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "store_k8s.h"

#define CALICO_V3 "projectcalico.org/v3"
#define CALICO_CRD "crd.projectcalico.org/v1"

static bool is_policy(const struct k8s_map *m)
{
    return m->kind == TBY_KIND_NETWORKPOLICY || m->kind == TBY_KIND_GLOBALNETWORKPOLICY;
}

static int calico_locate(const struct k8s_map *m, const char *ns, const char *name,
                         struct k8s_loc *loc, struct tby_error *err)
{
    loc->res = m->types[0];
    loc->ns = ns ? strdup(ns) : NULL;
    loc->name = strdup(name);
    /* A default-tier policy written by Calico 3.29–3.31 is stored as "default.<name>". */
    if (is_policy(m) && asprintf(&loc->alt_name, "default.%s", name) < 0)
        loc->alt_name = NULL;
    if (!loc->name || (ns && !loc->ns) || (is_policy(m) && !loc->alt_name))
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Old IPPools carry the v1-era `ipip: {enabled, mode}` and `nat-outgoing`; Calico reads
 * them as ipipMode and natOutgoing when those are absent, and so does tabby. */
static void fold_old_pool_fields(json_t *spec)
{
    const json_t *ipip = json_object_get(spec, "ipip");
    const json_t *nat = json_object_get(spec, "nat-outgoing");

    if (json_is_object(ipip) && !json_object_get(spec, "ipipMode")) {
        const char *mode = json_string_value(json_object_get(ipip, "mode"));

        json_object_set_new(spec, "ipipMode",
                            json_string(!json_is_true(json_object_get(ipip, "enabled")) ? "Never"
                                        : mode && strcmp(mode, "cross-subnet") == 0
                                            ? "CrossSubnet"
                                            : "Always"));
    }
    if (json_is_boolean(nat) && !json_object_get(spec, "natOutgoing"))
        json_object_set_new(spec, "natOutgoing", json_boolean(json_is_true(nat)));
}

/* The v3 document of a CR (what calicoctl would show). New reference. */
static json_t *cr_to_v3(const struct k8s_map *m, const json_t *cr)
{
    const json_t *spec = json_object_get(cr, "spec");
    json_t *doc = json_object();

    if (!doc)
        return NULL;
    json_object_set_new(doc, "apiVersion", json_string(CALICO_V3));
    json_object_set_new(doc, "kind", json_string(k8s_map_kind(m)->name));
    json_object_set_new(doc, "metadata", k8s_meta_from_cr(cr, is_policy(m)));
    if (json_is_object(spec)) {
        json_t *copy = json_deep_copy(spec);

        if (m->kind == TBY_KIND_IPPOOL)
            fold_old_pool_fields(copy);
        json_object_set_new(doc, "spec", copy);
    }
    return json_object_get(doc, "metadata") ? doc : (json_decref(doc), NULL);
}

static int calico_read(struct k8s_codec *c, const struct k8s_map *m,
                       const struct tby_kube_resource *res, const json_t *obj,
                       struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = cr_to_v3(m, obj);

    (void)res;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return k8s_entry_make(c, m, obj, doc, NULL, NULL, out, err);
}

static int calico_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                      struct tby_error *err)
{
    const struct tby_kube_resource *res = w->loc->res;
    _cleanup_json_ json_t *old = w->raw ? cr_to_v3(w->map, w->raw) : NULL;
    _cleanup_json_ json_t *v = k8s_value_onto(c, w->value, old);
    const char *cr_name = w->raw ? json_string_value(json_object_get(
                                       json_object_get(w->raw, "metadata"), "name"))
                                 : w->loc->name;
    json_t *body = json_object(), *meta, *spec;
    char api[128];

    if (!v || !body || (w->raw && !old))
        return json_decref(body), tby_error_set(err, -ENOMEM, "out of memory");
    meta = k8s_meta_to_cr(json_object_get(v, "metadata"), cr_name, is_policy(w->map), w->raw);
    spec = json_object_get(v, "spec");
    snprintf(api, sizeof(api), "%s/%s", res->group, res->version);
    json_object_set_new(body, "apiVersion", json_string(api));
    json_object_set_new(body, "kind", json_string(res->kind));
    json_object_set_new(body, "metadata", meta);
    json_object_set_new(body, "spec", spec ? json_incref(spec) : json_object());
    if (!meta)
        return json_decref(body), tby_error_set(err, -ENOMEM, "out of memory");
    k8s_meta_set_rev(meta, w->expect);
    out->verb = w->raw ? K8S_PUT : K8S_POST;
    out->body = body;
    return 0;
}

const struct k8s_conv k8s_conv_calico = {
    .access = K8S_READ_WRITE,
    .locate = calico_locate,
    .read = calico_read,
    .put = calico_put,
};
