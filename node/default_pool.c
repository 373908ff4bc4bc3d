/* default_pool.c — the default IP pools, a part (node.h), as calico-node makes them at
 * start: for each family whose pool is not turned off (CALICO_IPV4POOL_CIDR=none,
 * CALICO_IPV6POOL_CIDR=none, NO_DEFAULT_POOLS=true), when the datastore holds no pool of
 * that family, the pool "default-ipv4-ippool" (or "default-ipv6-ippool") with the
 * CALICO_IPV{4,6}POOL_* settings, Calico's defaults where they are unset. IPv6's only
 * where the kernel has IPv6, as calico-node checks (/proc/sys/net/ipv6).
 *
 * Nodes starting together may all find no pool: each creates the pool under its one name,
 * a create that fails when the name exists, so one wins and the others take its pool
 * (which is why the CIDR an unset CALICO_IPV4POOL_CIDR picks may be another node's
 * choice, as with calico-node). The settings are checked with the others at start, so a
 * bad one stops tabby-node before anything is written; the pool itself is written once
 * the datastore has been read, and tried again with backoff while it cannot be (the node
 * is not ready meanwhile). */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/selector.h"
#include "default_pool.h"
#include "node.h"

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

/* The IPv4 addresses of this network namespace's links. */
static void pick4(struct tby_cidr *out)
{
    struct ifaddrs *list = NULL;
    struct tby_ip addrs[256];
    size_t n = 0;

    if (getifaddrs(&list) == 0) {
        for (struct ifaddrs *a = list; a && n < TBY_ARRAY_SIZE(addrs); a = a->ifa_next) {
            if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
                continue;
            addrs[n] = (struct tby_ip){ .family = 4 };
            memcpy(addrs[n++].bytes, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, 4);
        }
        freeifaddrs(list);
    }
    node_default_pool_pick4(addrs, n, out);
}

/* RFC 4193: fd00::/8 and 40 random bits, a /48. */
static int pick6(struct tby_cidr *out)
{
    *out = (struct tby_cidr){ .ip = { .family = 6, .bytes = { 0xfd } }, .prefix_len = 48 };
    return getrandom(&out->ip.bytes[1], 5, 0) == 5 ? 0 : -EIO;
}

/* ---- the part ------------------------------------------------------------------------------ */

struct node_pools {
    struct tby_store *store;
    const struct node_config *cfg;
    bool done[2];             /* the family has a pool, or is to have none */
    int64_t next_at;
    struct node_backoff backoff;
    uint64_t failures;
    char last_error[TBY_ERROR_MAX];
};

static void pools_stop(void *state)
{
    free(state);
}

static int pools_start(struct node *n, void **state, struct tby_error *err)
{
    const struct node_config *cfg = &n->cfg;
    struct node_pools *p;

    *state = NULL;
    if (!cfg->pool[0].enabled && !cfg->pool[1].enabled)
        return 0;
    if (!(p = calloc(1, sizeof(*p))))
        return tby_error_set(err, -ENOMEM, "out of memory");
    p->store = n->store;
    p->cfg = cfg;
    p->backoff = (struct node_backoff){ .first_ms = 1000, .max_ms = 30000 };
    for (int i = 0; i < 2; i++)
        p->done[i] = !cfg->pool[i].enabled;
    if (!p->done[1] && access("/proc/sys/net/ipv6", F_OK) < 0) {
        tby_log(TBY_LOG_INFO, "pools", "no default IPv6 pool: the kernel has no IPv6");
        p->done[1] = true;
    }
    *state = p;
    return 0;
}

static int has_family(void *ctx, const char *key, const struct tby_resource *res)
{
    (void)key;
    return res && res->info->kind == TBY_KIND_IPPOOL &&
           res->spec.ippool->cidr.ip.family == *(const int *)ctx;
}

/* Creates family i's pool: 0 (also when another node made it first) or the failure. */
static int create(struct node_pools *p, int i, struct tby_error *err)
{
    const struct node_default_pool *pool = &p->cfg->pool[i];
    struct tby_resource_list list = { 0 };
    struct tby_resource *res = NULL;
    struct tby_cidr cidr = pool->cidr;
    char text[TBY_CIDR_STRLEN];
    int r = 0;

    if (!pool->has_cidr && families[i].family == 4)
        pick4(&cidr);
    else if (!pool->has_cidr && pick6(&cidr) < 0)
        return tby_error_set(err, -EIO, "no random bytes for an IPv6 ULA prefix");
    r = node_default_pool_resource(pool, families[i].family, &cidr, &res, err);
    if (r == 0 && (r = tby_resource_list_push(&list, res)) < 0) {
        tby_resource_free(res);
        r = tby_error_set(err, r, "out of memory");
    }
    if (r == 0)
        r = tby_catalog_write(p->store, &list, TBY_WRITE_CREATE, NULL, err);
    tby_resource_list_clear(&list);
    if (r == -EEXIST || r == -ECANCELED) {
        tby_log(TBY_LOG_INFO, "pools", "default pool made by another node name=%s",
                families[i].name);
        return 0;
    }
    if (r == 0)
        tby_log(TBY_LOG_INFO, "pools", "default pool created name=%s cidr=%s blockSize=%d "
                "ipipMode=%s vxlanMode=%s natOutgoing=%s nodeSelector=\"%s\"",
                families[i].name, tby_cidr_format(&cidr, text), pool->block_size,
                mode_names[pool->ipip_mode], mode_names[pool->vxlan_mode],
                pool->nat_outgoing ? "true" : "false", pool->node_selector);
    return r;
}

static void pools_run(void *state, const struct node *n)
{
    struct node_pools *p = state;
    int64_t now = node_now_ms();

    if ((p->done[0] && p->done[1]) || now < p->next_at)
        return;
    for (int i = 0; i < 2; i++) {
        struct tby_error err = { 0 };
        int family = families[i].family;

        if (p->done[i])
            continue;
        if (tby_syncer_foreach(n->syncer, has_family, &family) == 0 &&
            create(p, i, &err) < 0) {
            p->failures++;
            p->next_at = now + node_backoff_next(&p->backoff);
            if (strcmp(p->last_error, tby_error_str(&err)) != 0)
                tby_log(TBY_LOG_WARNING, "pools", "default pool not created name=%s "
                        "retry_ms=%d error=\"%s\"", families[i].name, p->backoff.cur_ms,
                        tby_error_str(&err));
            snprintf(p->last_error, sizeof(p->last_error), "%s", tby_error_str(&err));
            return;
        }
        p->done[i] = true;
    }
    p->last_error[0] = '\0';
}

static int pools_timeout_ms(const void *state)
{
    const struct node_pools *p = state;
    int64_t left = p->next_at - node_now_ms();

    if (p->done[0] && p->done[1])
        return -1;
    return left > 0 ? (int)left : 0;
}

static bool pools_ready(const void *state, char *why, size_t size)
{
    const struct node_pools *p = state;

    return (p->done[0] && p->done[1]) ||
           node_not_ready(why, size, "default IP pools not created", p->last_error);
}

const struct node_part node_pools_part = {
    .name = "pools",
    .start = pools_start,
    .stop = pools_stop,
    .run = pools_run,
    .timeout_ms = pools_timeout_ms,
    .ready = pools_ready,
};
