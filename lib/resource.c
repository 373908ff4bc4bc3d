/* resource.c — the kind table, the document envelope (apiVersion, kind, metadata), and
 * decode/encode/copy/equality of whole resources. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"

#define CALICO_V3 "projectcalico.org/v3"

static const char *const ippool_aliases[] = { "ippool", "pool", "pools", NULL };
static const char *const ipamconfig_aliases[] = { "ipamconfiguration", "ipamconfig",
                                                  "ipamconfigs", NULL };
static const char *const np_aliases[] = { "networkpolicy", "netpol", "netpols", "policy",
                                          "policies", "np", "cnp", NULL };
static const char *const gnp_aliases[] = { "globalnetworkpolicy", "gnp", "gnps",
                                           "globalpolicy", "globalpolicies", NULL };
static const char *const bgpconfig_aliases[] = { "bgpconfiguration", "bgpconfig",
                                                 "bgpconfigs", NULL };
static const char *const bgppeer_aliases[] = { "bgppeer", "peer", "peers", NULL };
static const char *const node_aliases[] = { "node", "no", NULL };
static const char *const wep_aliases[] = { "workloadendpoint", "wep", "weps", NULL };
static const char *const hep_aliases[] = { "hostendpoint", "hep", "heps", NULL };
static const char *const profile_aliases[] = { "profile", "pro", "pros", NULL };
static const char *const knp_aliases[] = { "networkpolicy.networking.k8s.io",
                                           "networkpolicies.networking.k8s.io",
                                           "k8snetworkpolicy", "k8snetworkpolicies", "knp",
                                           "knps", NULL };
static const char *const ns_aliases[] = { "namespace", "ns", NULL };
static const char *const bgpfilter_aliases[] = { "bgpfilter", "bgpfilters", NULL };
static const char *const networkset_aliases[] = { "networkset", "netset", "netsets", NULL };
static const char *const globalnetworkset_aliases[] = { "globalnetworkset", "gnetset",
                                                        "gnetsets", NULL };
static const char *const tier_aliases[] = { "tier", "tiers", NULL };
static const char *const felixconfig_aliases[] = { "felixconfiguration", "felixconfig",
                                                   "felixconfigs", NULL };
static const char *const ipreservation_aliases[] = { "ipreservation", "reservation",
                                                     "reservations", NULL };

static const struct tby_kind_info kind_table[TBY_KIND_COUNT] = {
    [TBY_KIND_IPPOOL] = { TBY_KIND_IPPOOL, "IPPool", CALICO_V3, "ippools", ippool_aliases,
                          false, "IP address pools for pods" },
    [TBY_KIND_IPAMCONFIG] = { TBY_KIND_IPAMCONFIG, "IPAMConfiguration", CALICO_V3,
                              "ipamconfigurations", ipamconfig_aliases, false,
                              "cluster-wide IPAM settings (name: default)" },
    [TBY_KIND_NETWORKPOLICY] = { TBY_KIND_NETWORKPOLICY, "NetworkPolicy", CALICO_V3,
                                 "networkpolicies", np_aliases, true,
                                 "Calico policy for the endpoints of one namespace" },
    [TBY_KIND_GLOBALNETWORKPOLICY] = { TBY_KIND_GLOBALNETWORKPOLICY, "GlobalNetworkPolicy",
                                       CALICO_V3, "globalnetworkpolicies", gnp_aliases, false,
                                       "Calico policy for endpoints of every namespace" },
    [TBY_KIND_BGPCONFIG] = { TBY_KIND_BGPCONFIG, "BGPConfiguration", CALICO_V3,
                             "bgpconfigurations", bgpconfig_aliases, false,
                             "BGP settings: AS number, mesh, advertised services" },
    [TBY_KIND_BGPPEER] = { TBY_KIND_BGPPEER, "BGPPeer", CALICO_V3, "bgppeers",
                           bgppeer_aliases, false, "BGP peers: routers and reflectors" },
    [TBY_KIND_NODE] = { TBY_KIND_NODE, "Node", CALICO_V3, "nodes", node_aliases, false,
                        "nodes: addresses, AS numbers, tunnel addresses" },
    [TBY_KIND_WORKLOADENDPOINT] = { TBY_KIND_WORKLOADENDPOINT, "WorkloadEndpoint", CALICO_V3,
                                    "workloadendpoints", wep_aliases, true,
                                    "pod interfaces, written by the CNI plugin" },
    [TBY_KIND_HOSTENDPOINT] = { TBY_KIND_HOSTENDPOINT, "HostEndpoint", CALICO_V3,
                                "hostendpoints", hep_aliases, false,
                                "host interfaces that policy applies to" },
    [TBY_KIND_PROFILE] = { TBY_KIND_PROFILE, "Profile", CALICO_V3, "profiles",
                           profile_aliases, false, "default rules and labels for endpoints" },
    [TBY_KIND_K8S_NETWORKPOLICY] = { TBY_KIND_K8S_NETWORKPOLICY, "NetworkPolicy",
                                     "networking.k8s.io/v1", "k8snetworkpolicies",
                                     knp_aliases, true, "Kubernetes NetworkPolicy" },
    [TBY_KIND_NAMESPACE] = { TBY_KIND_NAMESPACE, "Namespace", "v1", "namespaces", ns_aliases,
                             false, "namespaces (their labels)" },
    [TBY_KIND_BGPFILTER] = { TBY_KIND_BGPFILTER, "BGPFilter", CALICO_V3, "bgpfilters",
                             bgpfilter_aliases, false,
                             "routes a BGPPeer exports and imports (its filters)" },
    [TBY_KIND_FELIXCONFIG] = { TBY_KIND_FELIXCONFIG, "FelixConfiguration", CALICO_V3,
                               "felixconfigurations", felixconfig_aliases, false,
                               "tabby-node's settings (default, node.<name>)" },
    [TBY_KIND_NETWORKSET] = { TBY_KIND_NETWORKSET, "NetworkSet", CALICO_V3, "networksets",
                              networkset_aliases, true,
                              "labelled nets of one namespace, for rule selectors" },
    [TBY_KIND_GLOBALNETWORKSET] = { TBY_KIND_GLOBALNETWORKSET, "GlobalNetworkSet", CALICO_V3,
                                    "globalnetworksets", globalnetworkset_aliases, false,
                                    "labelled nets, for rule selectors" },
    [TBY_KIND_TIER] = { TBY_KIND_TIER, "Tier", CALICO_V3, "tiers", tier_aliases, false,
                        "ordered groups of policies (order, defaultAction)" },
    [TBY_KIND_IPRESERVATION] = { TBY_KIND_IPRESERVATION, "IPReservation", CALICO_V3,
                                 "ipreservations", ipreservation_aliases, false,
                                 "addresses IPAM does not choose for pods" },
};

/* A kind whose ops are NULL is known by name but not decoded yet. */
static const struct tby_kind_ops *const kind_ops[TBY_KIND_COUNT] = {
    [TBY_KIND_IPPOOL] = &tby_ippool_ops,
    [TBY_KIND_IPAMCONFIG] = &tby_ipamconfig_ops,
    [TBY_KIND_NETWORKPOLICY] = &tby_networkpolicy_ops,
    [TBY_KIND_GLOBALNETWORKPOLICY] = &tby_globalnetworkpolicy_ops,
    [TBY_KIND_PROFILE] = &tby_profile_ops,
    [TBY_KIND_K8S_NETWORKPOLICY] = &tby_k8s_networkpolicy_ops,
    [TBY_KIND_BGPCONFIG] = &tby_bgpconfig_ops,
    [TBY_KIND_BGPPEER] = &tby_bgppeer_ops,
    [TBY_KIND_NODE] = &tby_node_ops,
    [TBY_KIND_WORKLOADENDPOINT] = &tby_wep_ops,
    [TBY_KIND_HOSTENDPOINT] = &tby_hep_ops,
    [TBY_KIND_NAMESPACE] = &tby_namespace_ops,
    [TBY_KIND_BGPFILTER] = &tby_bgpfilter_ops,
    [TBY_KIND_FELIXCONFIG] = &tby_felixconfig_ops,
    [TBY_KIND_NETWORKSET] = &tby_networkset_ops,
    [TBY_KIND_GLOBALNETWORKSET] = &tby_networkset_ops,
    [TBY_KIND_TIER] = &tby_tier_ops,
    [TBY_KIND_IPRESERVATION] = &tby_ipreservation_ops,
};

const struct tby_kind_info *tby_kind_info(enum tby_kind kind)
{
    return kind < TBY_KIND_COUNT ? &kind_table[kind] : NULL;
}

const struct tby_kind_info *tby_kind_lookup(const char *name)
{
    for (int k = 0; k < TBY_KIND_COUNT; k++) {
        const struct tby_kind_info *info = &kind_table[k];

        /* "NetworkPolicy" alone is Calico's, as for calicoctl. */
        if (strcasecmp(info->plural, name) == 0 ||
            (k != TBY_KIND_K8S_NETWORKPOLICY && strcasecmp(info->name, name) == 0))
            return info;
        for (size_t i = 0; info->aliases[i]; i++)
            if (strcasecmp(info->aliases[i], name) == 0)
                return info;
    }
    return NULL;
}

const struct tby_kind_info *tby_kind_from_document(const char *api_version, const char *kind)
{
    for (int k = 0; k < TBY_KIND_COUNT; k++)
        if (strcmp(kind_table[k].api_version, api_version) == 0 &&
            strcmp(kind_table[k].name, kind) == 0)
            return &kind_table[k];
    return NULL;
}

int tby_kind_spec(struct tby_dec *d, const json_t *doc, const json_t **spec)
{
    return tby_dec_object(d, doc, "spec", spec);
}

int tby_kind_decode_spec(struct tby_dec *d, const json_t *doc, struct tby_resource *res,
                         size_t size, tby_spec_decode_fn decode_spec)
{
    void *out = calloc(1, size);
    const json_t *spec;
    size_t mark;
    int r;

    if (!out)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = tby_kind_spec(d, doc, &spec);
    mark = tby_dec_enter(d, "spec");
    if (r == 0)
        r = decode_spec(d, spec, res, out);
    tby_dec_leave(d, mark);
    if (r < 0) {
        kind_ops[res->info->kind]->free(out);
        return r;
    }
    res->spec.any = out;
    return 0;
}

/* ---- metadata --------------------------------------------------------------------- */

static void meta_clear(struct tby_meta *m)
{
    free(m->name);
    free(m->namespace);
    json_decref(m->labels);
    json_decref(m->annotations);
    free(m->uid);
    free(m->creation_timestamp);
    memset(m, 0, sizeof(*m));
}

static const char *const meta_fields[] = {
    "name", "namespace", "labels", "annotations", "uid", "resourceVersion",
    "creationTimestamp",
    /* Kubernetes bookkeeping that `kubectl get -o yaml` prints; accepted and ignored. */
    "generation", "managedFields", "ownerReferences", "finalizers", "generateName",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", NULL
};

static int decode_resource_version(struct tby_dec *d, const json_t *meta, int64_t *out)
{
    const json_t *v = tby_dec_get(meta, "resourceVersion");
    char *end;

    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        errno = 0;
        *out = strtoll(json_string_value(v), &end, 10);
        if (!errno && *out >= 0 && end != json_string_value(v) && !*end)
            return 0;
    }
    return tby_dec_fail_at(d, "resourceVersion", "must be a revision number");
}

static int decode_name(struct tby_dec *d, const struct tby_kind_info *info,
                       const json_t *meta, struct tby_meta *m)
{
    int r = tby_dec_string(d, meta, "name", true, &m->name);

    if (r < 0)
        return r;
    if (info->kind == TBY_KIND_NAMESPACE ? !tby_valid_dns1123_label(m->name)
                                         : !tby_valid_dns1123_subdomain(m->name))
        return tby_dec_fail_at(d, "name",
                               "\"%s\" is not a valid name (lower-case letters, digits, '-'%s; "
                               "starting and ending with a letter or digit)",
                               m->name, info->kind == TBY_KIND_NAMESPACE ? "" : " and '.'");
    return 0;
}

static int decode_namespace(struct tby_dec *d, const struct tby_kind_info *info,
                            const json_t *meta, struct tby_meta *m)
{
    int r = tby_dec_string(d, meta, "namespace", false, &m->namespace);

    if (r < 0)
        return r;
    if (!info->namespaced) {
        if (m->namespace)
            return tby_dec_fail_at(d, "namespace", "%s is not namespaced: remove the namespace",
                                   info->name);
        return 0;
    }
    if (!m->namespace) {
        m->namespace = strdup("default");
        return m->namespace ? 0 : tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    if (!tby_valid_dns1123_label(m->namespace))
        return tby_dec_fail_at(d, "namespace", "\"%s\" is not a valid namespace name",
                               m->namespace);
    return 0;
}

static int decode_meta(struct tby_dec *d, const struct tby_kind_info *info, const json_t *doc,
                       struct tby_meta *m)
{
    const json_t *meta;
    size_t mark;
    int r = tby_dec_object(d, doc, "metadata", &meta);

    if (r < 0)
        return r;
    if (!meta)
        return tby_dec_fail_at(d, "metadata", "is required (with a name)");
    mark = tby_dec_enter(d, "metadata");
    r = tby_dec_known_fields(d, meta, meta_fields);
    if (r == 0)
        r = decode_name(d, info, meta, m);
    if (r == 0)
        r = decode_namespace(d, info, meta, m);
    if (r == 0)
        r = tby_dec_string_map(d, meta, "labels", true, &m->labels);
    if (r == 0)
        r = tby_dec_string_map(d, meta, "annotations", false, &m->annotations);
    if (r == 0)
        r = tby_dec_string(d, meta, "uid", false, &m->uid);
    if (r == 0)
        r = tby_dec_string(d, meta, "creationTimestamp", false, &m->creation_timestamp);
    if (r == 0)
        r = decode_resource_version(d, meta, &m->resource_version);
    tby_dec_leave(d, mark);
    return r;
}

static json_t *encode_meta(const struct tby_resource *res)
{
    const struct tby_meta *m = &res->meta;
    json_t *meta = json_object();

    tby_enc_string(meta, "name", m->name);
    tby_enc_string(meta, "namespace", m->namespace);
    if (m->resource_version > 0) {
        char rv[24];

        snprintf(rv, sizeof(rv), "%lld", (long long)m->resource_version);
        tby_enc_string(meta, "resourceVersion", rv);
    }
    tby_enc_string(meta, "uid", m->uid);
    tby_enc_string(meta, "creationTimestamp", m->creation_timestamp);
    if (m->labels)
        tby_enc_take(meta, "labels", json_deep_copy(m->labels));
    if (m->annotations)
        tby_enc_take(meta, "annotations", json_deep_copy(m->annotations));
    return meta;
}

/* ---- whole resources ---------------------------------------------------------------- */

static const char *const envelope_fields[] = { "apiVersion", "kind", "metadata", "spec",
                                               "status", NULL };

static int decode_envelope(struct tby_dec *d, const json_t *doc,
                           const struct tby_kind_info **info)
{
    const json_t *api = tby_dec_get(doc, "apiVersion");
    const json_t *kind = tby_dec_get(doc, "kind");

    if (!json_is_object(doc))
        return tby_dec_fail(d, "a resource must be a mapping with apiVersion, kind, metadata "
                               "and spec");
    if (!json_is_string(kind))
        return tby_dec_fail_at(d, "kind", "is required (a string such as IPPool)");
    if (!json_is_string(api))
        return tby_dec_fail_at(d, "apiVersion", "is required (projectcalico.org/v3 for %s)",
                               json_string_value(kind));
    *info = tby_kind_from_document(json_string_value(api), json_string_value(kind));
    if (!*info) {
        for (int k = 0; k < TBY_KIND_COUNT; k++)
            if (strcmp(kind_table[k].name, json_string_value(kind)) == 0)
                return tby_dec_fail_at(d, "apiVersion", "%s is not served for kind %s "
                                       "(use %s)", json_string_value(api),
                                       json_string_value(kind), kind_table[k].api_version);
        return tby_dec_fail_at(d, "kind", "unknown kind \"%s\"", json_string_value(kind));
    }
    return tby_dec_known_fields(d, doc, envelope_fields);
}

static int decode_with(struct tby_dec *d, const json_t *doc, struct tby_resource **out)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    const struct tby_kind_info *info = NULL;
    int r;

    r = decode_envelope(d, doc, &info);
    if (r < 0)
        return r;
    res = calloc(1, sizeof(*res));
    if (!res)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    res->info = info;
    if (!kind_ops[info->kind])
        return tby_dec_fail_at(d, "kind", "%s is not supported yet", info->name);
    r = decode_meta(d, info, doc, &res->meta);
    if (r < 0)
        return r;
    r = kind_ops[info->kind]->decode(d, doc, res);
    if (r < 0)
        return r;
    *out = TBY_STEAL(res);
    return 0;
}

int tby_resource_decode(const json_t *doc, struct tby_resource **out, struct tby_error *err)
{
    struct tby_dec d;

    tby_dec_init(&d, err);
    return decode_with(&d, doc, out);
}

int tby_resource_decode_lenient(const json_t *doc, tby_dec_unknown_fn unknown, void *ctx,
                                struct tby_resource **out, struct tby_error *err)
{
    struct tby_dec d;

    tby_dec_init(&d, err);
    tby_dec_set_lenient(&d, unknown, ctx);
    return decode_with(&d, doc, out);
}

int tby_resource_decode_survey(const json_t *doc, tby_dec_survey_fn survey, void *ctx,
                               struct tby_resource **out, struct tby_error *err)
{
    struct tby_dec d;

    tby_dec_init(&d, err);
    tby_dec_set_survey(&d, survey, ctx);
    return decode_with(&d, doc, out);
}

int tby_resource_ignored(const struct tby_resource *res, struct tby_strv *out)
{
    const struct tby_kind_ops *ops = kind_ops[res->info->kind];

    return ops && ops->ignored ? ops->ignored(res, out) : 0;
}

json_t *tby_resource_encode(const struct tby_resource *res)
{
    json_t *doc = json_object();

    if (!doc)
        return NULL;
    json_object_set_new(doc, "apiVersion", json_string(res->info->api_version));
    json_object_set_new(doc, "kind", json_string(res->info->name));
    json_object_set_new(doc, "metadata", encode_meta(res));
    kind_ops[res->info->kind]->encode(res, doc);
    return doc;
}

/* The document without the datastore's bookkeeping, for comparisons. */
static json_t *comparable(const struct tby_resource *res)
{
    json_t *doc = tby_resource_encode(res);
    json_t *meta = doc ? json_object_get(doc, "metadata") : NULL;

    if (meta) {
        json_object_del(meta, "uid");
        json_object_del(meta, "creationTimestamp");
        json_object_del(meta, "resourceVersion");
    }
    return doc;
}

bool tby_resource_equal(const struct tby_resource *a, const struct tby_resource *b)
{
    _cleanup_json_ json_t *ja = NULL;
    _cleanup_json_ json_t *jb = NULL;

    if (a->info != b->info)
        return false;
    ja = comparable(a);
    jb = comparable(b);
    return ja && jb && json_equal(ja, jb);
}

struct tby_resource *tby_resource_copy(const struct tby_resource *res)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    struct tby_resource *copy = NULL;

    if (!doc || tby_resource_decode(doc, &copy, NULL) < 0)
        return NULL;
    return copy;
}

void tby_resource_free(struct tby_resource *res)
{
    if (!res)
        return;
    if (res->spec.any)
        kind_ops[res->info->kind]->free(res->spec.any);
    meta_clear(&res->meta);
    free(res);
}

const char *tby_resource_describe(const json_t *doc, char *buf, size_t size)
{
    const json_t *meta = tby_dec_get(doc, "metadata");
    const char *kind = json_string_value(tby_dec_get(doc, "kind"));
    const char *name = json_string_value(tby_dec_get(meta, "name"));
    const char *ns = json_string_value(tby_dec_get(meta, "namespace"));
    const char *api = json_string_value(tby_dec_get(doc, "apiVersion"));
    const struct tby_kind_info *info = api && kind ? tby_kind_from_document(api, kind) : NULL;

    /* A namespaced resource without a namespace lands in "default": say so. */
    if (!ns && info && info->namespaced)
        ns = "default";
    snprintf(buf, size, "%s%s%s%s%s", kind ? kind : "resource", name ? " " : "",
             ns && name ? ns : "", ns && name ? "/" : "", name ? name : "");
    return buf;
}

char *tby_resource_prefix(const struct tby_kind_info *info, const char *namespace)
{
    char *key = NULL;

    if (namespace && info->namespaced)
        return asprintf(&key, "/tabby/v1/%s/%s/", info->plural, namespace) < 0 ? NULL : key;
    return asprintf(&key, "/tabby/v1/%s/", info->plural) < 0 ? NULL : key;
}

char *tby_resource_key(const struct tby_kind_info *info, const char *namespace,
                       const char *name)
{
    char *key = NULL;

    if (info->namespaced)
        return asprintf(&key, "/tabby/v1/%s/%s/%s", info->plural,
                        namespace ? namespace : "default", name) < 0 ? NULL : key;
    return asprintf(&key, "/tabby/v1/%s/%s", info->plural, name) < 0 ? NULL : key;
}

const char *tby_protocol_name(int number)
{
    switch (number) {
    case TBY_PROTO_ICMP: return "ICMP";
    case TBY_PROTO_TCP: return "TCP";
    case TBY_PROTO_UDP: return "UDP";
    case TBY_PROTO_ICMPV6: return "ICMPv6";
    case TBY_PROTO_SCTP: return "SCTP";
    case TBY_PROTO_UDPLITE: return "UDPLite";
    default: return NULL;
    }
}
