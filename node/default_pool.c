/* default_pool.c — the default IP pools' settings (default_pool.h): the
 * CALICO_IPV4POOL_* / CALICO_IPV6POOL_* variables and NO_DEFAULT_POOLS read and checked as
 * calico-node reads them, the IPPool they describe, and Calico's choice of the IPv4 CIDR
 * when none is given. The pools part (pools.c) creates the pools. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/selector.h"
#include "tabby/yaml.h"
#include "default_pool.h"

/* The variables of one family's pool; ipip -1: none (IPv6 pools have no IPIP). */
static const struct family_vars {
    int family;
    const char *name;
    int cidr, ipip, vxlan, nat, block, selector, no_export;
    int min_block, max_block;
} families[2] = {
    { 4, "default-ipv4-ippool", NODE_POOL4_CIDR, NODE_POOL4_IPIP, NODE_POOL4_VXLAN,
      NODE_POOL4_NAT, NODE_POOL4_BLOCK_SIZE, NODE_POOL4_NODE_SELECTOR,
      NODE_POOL4_NO_BGP_EXPORT, 20, 32 },
    { 6, "default-ipv6-ippool", NODE_POOL6_CIDR, -1, NODE_POOL6_VXLAN, NODE_POOL6_NAT,
      NODE_POOL6_BLOCK_SIZE, NODE_POOL6_NODE_SELECTOR, NODE_POOL6_NO_BGP_EXPORT, 116, 128 },
};

static const char *const mode_names[] = { [TBY_ENCAP_NEVER] = "Never",
                                          [TBY_ENCAP_ALWAYS] = "Always",
                                          [TBY_ENCAP_CROSS_SUBNET] = "CrossSubnet" };

/* ---- the settings ------------------------------------------------------------------------ */

/* Calico's spellings, in any case. */
static int parse_mode(int setting, const char *text, int *out, struct tby_error *err)
{
    if (!strcasecmp(text, "never") || !strcasecmp(text, "off"))
        *out = TBY_ENCAP_NEVER;
    else if (!strcasecmp(text, "always"))
        *out = TBY_ENCAP_ALWAYS;
    else if (!strcasecmp(text, "cross-subnet") || !strcasecmp(text, "crosssubnet"))
        *out = TBY_ENCAP_CROSS_SUBNET;
    else
        return tby_error_set(err, -EINVAL, "%s: \"%s\": must be always, cross-subnet or never",
                             node_config_name(setting), text);
    return 0;
}

/* calico-node takes any word but its false ones as true: tabby refuses them. */
static int parse_bool(int setting, const char *text, bool *out, struct tby_error *err)
{
    if (node_config_bool(text, out) < 0)
        return tby_error_set(err, -EINVAL, "%s: \"%s\": must be true or false",
                             node_config_name(setting), text);
    return 0;
}

static int parse_block(const struct family_vars *f, const char *text, int *out,
                       struct tby_error *err)
{
    char *end;
    long v = strtol(text, &end, 10);

    if (end == text || *end || v < f->min_block || v > f->max_block)
        return tby_error_set(err, -EINVAL, "%s: \"%s\": must be a number from %d to %d",
                             node_config_name(f->block), text, f->min_block, f->max_block);
    *out = (int)v;
    return 0;
}

static int parse_family(struct node_config *c, const struct family_vars *f,
                        struct node_default_pool *p, struct tby_error *err)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
    const char *cidr = c->v[f->cidr];
    struct tby_resource *res = NULL;
    int r;

    p->ipip_mode = TBY_ENCAP_NEVER;
    r = f->ipip < 0 ? 0 : parse_mode(f->ipip, c->v[f->ipip], &p->ipip_mode, err);
    if (r == 0)
        r = parse_mode(f->vxlan, c->v[f->vxlan], &p->vxlan_mode, err);
    if (r == 0)
        r = parse_bool(f->nat, c->v[f->nat], &p->nat_outgoing, err);
    if (r == 0)
        r = parse_bool(f->no_export, c->v[f->no_export], &p->disable_bgp_export, err);
    if (r == 0)
        r = parse_block(f, c->v[f->block], &p->block_size, err);
    if (r == 0 && (r = tby_sel_parse(c->v[f->selector], &sel, err)) < 0)
        tby_error_prefix(err, "%s: \"%s\"", node_config_name(f->selector), c->v[f->selector]);
    p->node_selector = c->v[f->selector];
    if (r < 0 || !cidr)
        return r;
    /* calico-node takes the address with host bits as its network */
    if (tby_cidr_parse(cidr, TBY_CIDR_MASK, &p->cidr, NULL) < 0 ||
        p->cidr.ip.family != f->family)
        return tby_error_set(err, -EINVAL, "%s: \"%s\": must be an IPv%d CIDR (like %s) or none",
                             node_config_name(f->cidr), cidr, f->family,
                             f->family == 4 ? "10.244.0.0/16" : "fd00:10:244::/48");
    p->has_cidr = true;
    /* what only the pool as a whole can say (a CIDR smaller than a block, IPIP with VXLAN) */
    r = node_default_pool_resource(p, f->family, &p->cidr, &res, err);
    tby_resource_free(res);
    return r;
}

int node_default_pool_config(struct node_config *c, struct tby_error *err)
{
    bool none = false;
    int r = parse_bool(NODE_NO_DEFAULT_POOLS, c->v[NODE_NO_DEFAULT_POOLS], &none, err);

    memset(c->pool, 0, sizeof(c->pool));
    if (r < 0)
        return r;
    if (none && (c->v[NODE_POOL4_CIDR] || c->v[NODE_POOL6_CIDR]))
        return tby_error_set(err, -EINVAL, "NO_DEFAULT_POOLS=%s with %s=%s: give one of them",
                             c->v[NODE_NO_DEFAULT_POOLS],
                             node_config_name(c->v[NODE_POOL4_CIDR] ? NODE_POOL4_CIDR
                                                                    : NODE_POOL6_CIDR),
                             c->v[c->v[NODE_POOL4_CIDR] ? NODE_POOL4_CIDR : NODE_POOL6_CIDR]);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(families); i++) {
        const char *cidr = c->v[families[i].cidr];

        c->pool[i].enabled = !none && !(cidr && strcmp(cidr, "none") == 0);
        if (c->pool[i].enabled && (r = parse_family(c, &families[i], &c->pool[i], err)) < 0)
            return r;
    }
    return 0;
}

int node_default_pool_resource(const struct node_default_pool *pool, int family,
                               const struct tby_cidr *cidr, struct tby_resource **out,
                               struct tby_error *err)
{
    char text[TBY_CIDR_STRLEN];
    _cleanup_json_ json_t *doc = json_pack(
        "{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:s, s:s, s:b, s:s, s:b}}",
        "apiVersion", "projectcalico.org/v3", "kind", "IPPool",
        "metadata", "name", families[family == 6].name,
        "spec", "cidr", tby_cidr_format(cidr, text), "blockSize", pool->block_size,
        "ipipMode", mode_names[pool->ipip_mode], "vxlanMode", mode_names[pool->vxlan_mode],
        "natOutgoing", pool->nat_outgoing, "nodeSelector", pool->node_selector,
        "disableBGPExport", pool->disable_bgp_export);
    int r;

    *out = NULL;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_resource_decode(doc, out, err);
    if (r < 0)
        tby_error_prefix(err, "the default IPv%d pool (CALICO_IPV%dPOOL_*)", family, family);
    return r;
}

/* ---- Calico's choice of CIDR ------------------------------------------------------------ */

void node_default_pool_pick4(const struct tby_ip *addrs, size_t n, struct tby_cidr *out)
{
    struct tby_cidr preferred;

    tby_cidr_parse("192.168.0.0/16", TBY_CIDR_STRICT, &preferred, NULL);
    for (int second = 0; second <= 31; second = second ? second + 1 : 16) {
        struct tby_cidr try = preferred;
        bool taken = false;

        if (second) {
            try.ip.bytes[0] = 172;
            try.ip.bytes[1] = (uint8_t)second;
        }
        for (size_t i = 0; i < n && !taken; i++)
            taken = tby_cidr_contains(&try, &addrs[i]);
        if (!taken) {
            *out = try;
            return;
        }
    }
    *out = preferred;
}

/* ---- kubeadm's pod subnets ---------------------------------------------------------------- */

#define KUBEADM_FIELD "ClusterConfiguration: networking.podSubnet"

/* Each comma-separated entry of `list` (not empty) is a CIDR; the first of each family is
 * kept. */
static int kubeadm_subnets(const char *list, struct tby_cidr out[2], bool found[2],
                           struct tby_error *err)
{
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        char entry[TBY_CIDR_STRLEN];
        struct tby_cidr cidr;
        int i;

        if (n == 0)
            return tby_error_set(err, -EINVAL, "%s: \"%s\": an empty entry", KUBEADM_FIELD,
                                 list);
        snprintf(entry, sizeof(entry), "%.*s", (int)n, p);
        if (n >= sizeof(entry) || tby_cidr_parse(entry, TBY_CIDR_MASK, &cidr, NULL) < 0)
            return tby_error_set(err, -EINVAL, "%s: \"%s\": \"%s%s\" is not a CIDR",
                                 KUBEADM_FIELD, list, entry, n >= sizeof(entry) ? "…" : "");
        i = cidr.ip.family == 6;
        if (!found[i]) {
            out[i] = cidr;
            found[i] = true;
        }
        p += n;
        if (!*p)
            return 0;
    }
}

int node_default_pool_kubeadm(const char *text, size_t len, struct tby_cidr out[2],
                              bool found[2], struct tby_error *err)
{
    struct tby_yaml_docs docs = { 0 };
    const json_t *doc, *networking, *subnet;
    int r;

    found[0] = found[1] = false;
    if ((r = tby_yaml_load(text, len, "ClusterConfiguration", &docs, err)) < 0)
        return r;
    doc = json_array_get(docs.docs, 0);
    networking = json_object_get(doc, "networking");
    subnet = json_object_get(networking, "podSubnet");
    if (doc && !json_is_object(doc))
        r = tby_error_set(err, -EINVAL, "ClusterConfiguration: must be a mapping");
    else if (networking && !json_is_null(networking) && !json_is_object(networking))
        r = tby_error_set(err, -EINVAL, "ClusterConfiguration: networking: must be a mapping");
    else if (subnet && !json_is_null(subnet) && !json_is_string(subnet))
        r = tby_error_set(err, -EINVAL, "%s: must be a string", KUBEADM_FIELD);
    else if (json_is_string(subnet) && *json_string_value(subnet))
        r = kubeadm_subnets(json_string_value(subnet), out, found, err);
    if (r < 0)
        found[0] = found[1] = false;
    tby_yaml_docs_clear(&docs);
    return r;
}

const char *node_default_pool_name(int i)
{
    return families[i].name;
}

const char *node_default_pool_mode(int mode)
{
    return mode_names[mode];
}
