/* store_k8s_keys.c — the one table of the k8s: backend: which Kubernetes API type holds
 * each of tabby's key spaces, and which converter reads and writes it (store_k8s.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "tabby/log.h"
#include "store_k8s.h"

/* Calico's custom resources, as every KDD cluster has them (KDD-LAYOUT §2). */
#define CRD(plural, kind, namespaced) \
    { "crd.projectcalico.org", "v1", plural, kind, namespaced, false }

const struct tby_kube_resource k8s_crd_ippools = CRD("ippools", "IPPool", false);
const struct tby_kube_resource k8s_crd_ipamconfigs = CRD("ipamconfigs", "IPAMConfig", false);
const struct tby_kube_resource k8s_crd_networkpolicies =
    CRD("networkpolicies", "NetworkPolicy", true);
const struct tby_kube_resource k8s_crd_globalnetworkpolicies =
    CRD("globalnetworkpolicies", "GlobalNetworkPolicy", false);
const struct tby_kube_resource k8s_crd_bgpconfigurations =
    CRD("bgpconfigurations", "BGPConfiguration", false);
const struct tby_kube_resource k8s_crd_bgppeers = CRD("bgppeers", "BGPPeer", false);
const struct tby_kube_resource k8s_crd_bgpfilters = CRD("bgpfilters", "BGPFilter", false);
const struct tby_kube_resource k8s_crd_felixconfigurations =
    CRD("felixconfigurations", "FelixConfiguration", false);
const struct tby_kube_resource k8s_crd_networksets = CRD("networksets", "NetworkSet", true);
const struct tby_kube_resource k8s_crd_globalnetworksets =
    CRD("globalnetworksets", "GlobalNetworkSet", false);
const struct tby_kube_resource k8s_crd_tiers = CRD("tiers", "Tier", false);
const struct tby_kube_resource k8s_crd_ipreservations =
    CRD("ipreservations", "IPReservation", false);
const struct tby_kube_resource k8s_crd_hostendpoints = CRD("hostendpoints", "HostEndpoint", false);
const struct tby_kube_resource k8s_crd_ipamblocks = CRD("ipamblocks", "IPAMBlock", false);
const struct tby_kube_resource k8s_crd_blockaffinities =
    CRD("blockaffinities", "BlockAffinity", false);
const struct tby_kube_resource k8s_crd_ipamhandles = CRD("ipamhandles", "IPAMHandle", false);
const struct tby_kube_resource k8s_crd_clusterinformations =
    CRD("clusterinformations", "ClusterInformation", false);

#define V1 "/tabby/v1/"
#define IPAM V1 "ipam/"

/* Affinity keys are /tabby/v1/ipam/affinities/<node>/<block>: "namespaced" by node, which
 * for the cluster-scoped API type only narrows the keys. */
static const struct k8s_map maps[] = {
    { V1 "ippools/", false, TBY_KIND_IPPOOL, { &k8s_crd_ippools }, &k8s_conv_calico },
    { V1 "ipamconfigurations/", false, TBY_KIND_IPAMCONFIG, { &k8s_crd_ipamconfigs },
      &k8s_conv_calico },
    { V1 "networkpolicies/", true, TBY_KIND_NETWORKPOLICY, { &k8s_crd_networkpolicies },
      &k8s_conv_calico },
    { V1 "globalnetworkpolicies/", false, TBY_KIND_GLOBALNETWORKPOLICY,
      { &k8s_crd_globalnetworkpolicies }, &k8s_conv_calico },
    { V1 "bgpconfigurations/", false, TBY_KIND_BGPCONFIG, { &k8s_crd_bgpconfigurations },
      &k8s_conv_calico },
    { V1 "bgppeers/", false, TBY_KIND_BGPPEER, { &k8s_crd_bgppeers }, &k8s_conv_calico },
    { V1 "bgpfilters/", false, TBY_KIND_BGPFILTER, { &k8s_crd_bgpfilters }, &k8s_conv_calico },
    { V1 "felixconfigurations/", false, TBY_KIND_FELIXCONFIG, { &k8s_crd_felixconfigurations },
      &k8s_conv_calico },
    { V1 "networksets/", true, TBY_KIND_NETWORKSET, { &k8s_crd_networksets }, &k8s_conv_calico },
    { V1 "globalnetworksets/", false, TBY_KIND_GLOBALNETWORKSET, { &k8s_crd_globalnetworksets },
      &k8s_conv_calico },
    { V1 "tiers/", false, TBY_KIND_TIER, { &k8s_crd_tiers }, &k8s_conv_calico },
    { V1 "ipreservations/", false, TBY_KIND_IPRESERVATION, { &k8s_crd_ipreservations },
      &k8s_conv_calico },
    { V1 "hostendpoints/", false, TBY_KIND_HOSTENDPOINT, { &k8s_crd_hostendpoints },
      &k8s_conv_calico },
    { V1 "nodes/", false, TBY_KIND_NODE, { &tby_kube_nodes }, &k8s_conv_node },
    { V1 "workloadendpoints/", true, TBY_KIND_WORKLOADENDPOINT, { &tby_kube_pods },
      &k8s_conv_pod },
    { V1 "profiles/", false, TBY_KIND_PROFILE,
      { &tby_kube_namespaces, &tby_kube_serviceaccounts }, &k8s_conv_profile },
    { V1 "k8snetworkpolicies/", true, TBY_KIND_K8S_NETWORKPOLICY, { &tby_kube_networkpolicies },
      &k8s_conv_native },
    { V1 "namespaces/", false, TBY_KIND_NAMESPACE, { &tby_kube_namespaces }, &k8s_conv_native },
    { IPAM "blocks/", false, -1, { &k8s_crd_ipamblocks }, &k8s_conv_ipam_block },
    { IPAM "affinities/", true, -1, { &k8s_crd_blockaffinities }, &k8s_conv_ipam_affinity },
    { IPAM "handles/", false, -1, { &k8s_crd_ipamhandles }, &k8s_conv_ipam_handle },
    { V1 "clusterinformations/", false, -1, { &k8s_crd_clusterinformations },
      &k8s_conv_clusterinfo },
    { TBY_EPS_PREFIX, true, -1, { &tby_kube_endpointslices }, &k8s_conv_endpointslice },
};

#define N_MAPS (sizeof(maps) / sizeof(maps[0]))

static const struct tby_kube_resource *const types[] = {
    &k8s_crd_ippools, &k8s_crd_ipamconfigs, &k8s_crd_networkpolicies,
    &k8s_crd_globalnetworkpolicies, &k8s_crd_bgpconfigurations, &k8s_crd_bgppeers,
    &k8s_crd_bgpfilters, &k8s_crd_felixconfigurations, &k8s_crd_networksets,
    &k8s_crd_globalnetworksets, &k8s_crd_tiers, &k8s_crd_ipreservations,
    &k8s_crd_hostendpoints, &tby_kube_nodes, &tby_kube_pods, &tby_kube_namespaces,
    &tby_kube_serviceaccounts, &tby_kube_networkpolicies, &k8s_crd_ipamblocks,
    &k8s_crd_blockaffinities, &k8s_crd_ipamhandles, &k8s_crd_clusterinformations,
    &tby_kube_endpointslices,
};

const struct k8s_map *k8s_maps(size_t *n)
{
    *n = N_MAPS;
    return maps;
}

const struct tby_kube_resource *const *k8s_types(size_t *n)
{
    *n = sizeof(types) / sizeof(types[0]);
    return types;
}

const struct tby_kind_info *k8s_map_kind(const struct k8s_map *m)
{
    return m->kind < 0 ? NULL : tby_kind_info((enum tby_kind)m->kind);
}

const struct k8s_map *k8s_map_of_key(const char *key, const char **ns, size_t *ns_len,
                                     const char **name)
{
    for (size_t i = 0; i < N_MAPS; i++) {
        const struct k8s_map *m = &maps[i];
        size_t len = strlen(m->prefix);
        const char *rest = key + len, *slash;

        if (strncmp(key, m->prefix, len) != 0)
            continue;
        *ns = NULL;
        *ns_len = 0;
        if (m->namespaced) {
            slash = strchr(rest, '/');
            if (!slash || slash == rest)
                return NULL;
            *ns = rest;
            *ns_len = (size_t)(slash - rest);
            rest = slash + 1;
        }
        if (!*rest || strchr(rest, '/'))
            return NULL;
        *name = rest;
        return m;
    }
    return NULL;
}

/* Whether s can be one part of a key: an object's name or namespace, which the API
 * never gives empty or with a '/'. */
static bool key_part(const char *s)
{
    return s && *s && !strchr(s, '/');
}

int k8s_key_of_object(const struct k8s_map *m, const char *ns, const char *name, char **out)
{
    const char *type = m->types[0] ? m->types[0]->plural : m->prefix;

    *out = NULL;
    if (!key_part(name) || (m->namespaced && !key_part(ns))) {
        tby_log(TBY_LOG_WARNING, "k8s", "object left out: no usable metadata.%s type=%s "
                "name=\"%s\" namespace=\"%s\"", key_part(name) ? "namespace" : "name", type,
                name ? name : "", ns ? ns : "");
        return K8S_SKIP;
    }
    *out = k8s_key(m, ns, name);
    return *out ? 0 : -ENOMEM;
}

char *k8s_key(const struct k8s_map *m, const char *ns, const char *name)
{
    char *key = NULL;

    if (m->namespaced)
        return asprintf(&key, "%s%s/%s", m->prefix, ns ? ns : "", name) < 0 ? NULL : key;
    return asprintf(&key, "%s%s", m->prefix, name) < 0 ? NULL : key;
}

bool k8s_map_under(const struct k8s_map *m, const char *prefix, char **ns)
{
    size_t len = strlen(prefix), plen = strlen(m->prefix);
    const char *rest, *slash;

    *ns = NULL;
    if (len <= plen)
        return strncmp(m->prefix, prefix, len) == 0;
    if (strncmp(prefix, m->prefix, plen) != 0)
        return false;
    rest = prefix + plen;
    slash = strchr(rest, '/');
    if (m->namespaced && slash && slash > rest)
        *ns = strndup(rest, (size_t)(slash - rest));
    return true;
}

void k8s_loc_clear(struct k8s_loc *loc)
{
    free(loc->ns);
    free(loc->name);
    free(loc->alt_name);
    memset(loc, 0, sizeof(*loc));
}

void k8s_entry_clear(struct k8s_entry *e)
{
    free(e->key);
    json_decref(e->value);
    memset(e, 0, sizeof(*e));
}

void k8s_request_clear(struct k8s_request *req)
{
    json_decref(req->body);
    free(req->uid);
    free(req->resource_version);
    memset(req, 0, sizeof(*req));
}

static bool map_reads(const struct k8s_map *m, const struct tby_kube_resource *res)
{
    for (size_t i = 0; i < K8S_MAX_TYPES; i++)
        if (m->types[i] == res)
            return true;
    return false;
}

int k8s_read_object(struct k8s_codec *c, const struct tby_kube_resource *res,
                    const json_t *obj, const char *prefix, struct k8s_entry **out, size_t *n,
                    size_t *cap, struct tby_error *err)
{
    for (size_t i = 0; i < N_MAPS; i++) {
        const struct k8s_map *m = &maps[i];
        struct k8s_entry e = { 0 };
        char *ns = NULL;
        int r;

        if (!map_reads(m, res) || (prefix && !k8s_map_under(m, prefix, &ns)))
            continue;
        free(ns);
        r = m->conv->read(c, m, res, obj, &e, err);
        if (r < 0)
            return r;
        if (r == K8S_SKIP || (prefix && strncmp(e.key, prefix, strlen(prefix)) != 0)) {
            k8s_entry_clear(&e);
            continue;
        }
        if (TBY_GROW(*out, *cap, *n + 1) < 0) {
            k8s_entry_clear(&e);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
        e.res = res;
        (*out)[(*n)++] = e;
    }
    return 0;
}

bool k8s_type_wanted(const struct tby_kube_resource *res, const char *const *prefixes,
                     size_t n_prefixes, char **ns)
{
    bool any = false, all_ns = false;

    *ns = NULL;
    for (size_t i = 0; i < N_MAPS; i++) {
        for (size_t p = 0; p < n_prefixes && map_reads(&maps[i], res); p++) {
            char *map_ns = NULL;

            if (!k8s_map_under(&maps[i], prefixes[p], &map_ns))
                continue;
            if (!map_ns || !res->namespaced || (*ns && strcmp(*ns, map_ns) != 0))
                all_ns = true;
            if (!*ns && map_ns && res->namespaced)
                *ns = TBY_STEAL(map_ns);
            free(map_ns);
            any = true;
        }
    }
    if (all_ns) {
        free(*ns);
        *ns = NULL;
    }
    return any;
}

bool k8s_under_any(const char *key, const char *const *prefixes, size_t n_prefixes)
{
    for (size_t p = 0; p < n_prefixes; p++)
        if (strncmp(key, prefixes[p], strlen(prefixes[p])) == 0)
            return true;
    return false;
}
