/* pools.c — the default IP pools, a part (node.h), as calico-node makes them at start:
 * for each family whose pool is not turned off (CALICO_IPV4POOL_CIDR=none,
 * CALICO_IPV6POOL_CIDR=none, NO_DEFAULT_POOLS=true), when the datastore holds no pool of
 * that family, the pool "default-ipv4-ippool" (or "default-ipv6-ippool") with the
 * settings default_pool.c read, Calico's defaults where they are unset. IPv6's only where
 * the kernel has IPv6, as calico-node checks (/proc/sys/net/ipv6).
 *
 * Nodes starting together may all find no pool: each creates the pool under its one name,
 * a create that fails when the name exists, so one wins and the others take its pool
 * (which is why the CIDR an unset CALICO_IPV4POOL_CIDR picks may be another node's
 * choice, as with calico-node). The settings are checked with the others at start, so a
 * bad one stops tabby-node before anything is written; the pool itself is written once
 * the datastore has been read, and tried again with backoff while it cannot be (the node
 * is not ready meanwhile).
 *
 * On a kubeadm cluster (the k8s: datastore), a pool whose CIDR is not given takes the pod
 * subnet of its family kubeadm was given, as calico-node does: the kubeadm-config
 * ConfigMap in kube-system, its ClusterConfiguration's networking.podSubnet, read once
 * when a pool is about to be made without a CIDR. No such ConfigMap, or no right to read
 * it (calico-node says so and goes on): Calico's own choice. A ConfigMap whose podSubnet
 * is not understood is said (warning) and Calico's own choice made; a read that fails
 * otherwise (the API unreachable) is tried again with the pool. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "tabby/catalog.h"
#include "tabby/kube.h"
#include "tabby/log.h"
#include "default_pool.h"
#include "node.h"

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

static const struct tby_kube_resource configmaps = {
    "", "v1", "configmaps", "ConfigMap", true, false,
};

struct node_pools {
    struct tby_store *store;
    const struct node_config *cfg;
    struct tby_kube_client *kube; /* on k8s, when a pool may need kubeadm's subnet */
    bool kubeadm_read;            /* the ConfigMap was read (or is not there to read) */
    bool kubeadm_found[2];        /* kubeadm gave a subnet of IPv4 ([0]), of IPv6 ([1]) */
    struct tby_cidr kubeadm[2];
    bool done[2];             /* the family has a pool, or is to have none */
    int64_t next_at;
    struct node_backoff backoff;
    uint64_t failures;
    char last_error[TBY_ERROR_MAX];
};

static void pools_stop(void *state)
{
    struct node_pools *p = state;

    if (p)
        tby_kube_client_free(p->kube);
    free(p);
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
    if (tby_store_kube_config(n->store) && ((!p->done[0] && !cfg->pool[0].has_cidr) ||
                                            (!p->done[1] && !cfg->pool[1].has_cidr)))
        return tby_kube_client_new(tby_store_kube_config(n->store), &p->kube, err);
    return 0;
}

/* kubeadm's pod subnets, read once (see the top of the file). 0, or why it could not be
 * read now. */
static int read_kubeadm(struct node_pools *p, struct tby_error *err)
{
    _cleanup_json_ json_t *cm = NULL;
    struct tby_error why = { 0 };
    const char *text;
    char cidr[TBY_CIDR_STRLEN];
    int r;

    if (!p->kube || p->kubeadm_read)
        return 0;
    r = tby_kube_get(p->kube, &configmaps, "kube-system", "kubeadm-config", &cm, &why);
    if (r == -EACCES)
        tby_log(TBY_LOG_INFO, "pools", "not allowed to read the kubeadm-config ConfigMap: "
                "no pod subnet from kubeadm error=\"%s\"", tby_error_str(&why));
    else if (r < 0 && r != -ENOENT)
        return tby_error_set(err, r, "%s", tby_error_str(&why));
    memset(&why, 0, sizeof(why));
    p->kubeadm_read = true;
    text = json_string_value(json_object_get(json_object_get(cm, "data"),
                                             "ClusterConfiguration"));
    if (!text)
        return 0;
    if (node_default_pool_kubeadm(text, strlen(text), p->kubeadm, p->kubeadm_found, &why) < 0)
        tby_log(TBY_LOG_WARNING, "pools", "no pod subnet from kubeadm, Calico's default taken "
                "error=\"ConfigMap kube-system/kubeadm-config: data.%s\"", tby_error_str(&why));
    for (int i = 0; i < 2; i++)
        if (p->kubeadm_found[i])
            tby_log(TBY_LOG_INFO, "pools", "pod subnet found in the kubeadm-config ConfigMap "
                    "family=%d cidr=%s", i ? 6 : 4, tby_cidr_format(&p->kubeadm[i], cidr));
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

    if (!pool->has_cidr && (r = read_kubeadm(p, err)) < 0)
        return r;
    if (!pool->has_cidr && p->kubeadm_found[i])
        cidr = p->kubeadm[i];
    else if (!pool->has_cidr && i == 0)
        pick4(&cidr);
    else if (!pool->has_cidr && pick6(&cidr) < 0)
        return tby_error_set(err, -EIO, "no random bytes for an IPv6 ULA prefix");
    r = node_default_pool_resource(pool, (i == 0 ? 4 : 6), &cidr, &res, err);
    if (r < 0 && !pool->has_cidr && p->kubeadm_found[i])
        tby_error_prefix(err, "the pod subnet of ConfigMap kube-system/kubeadm-config");
    if (r == 0 && (r = tby_resource_list_push(&list, res)) < 0) {
        tby_resource_free(res);
        r = tby_error_set(err, r, "out of memory");
    }
    if (r == 0)
        r = tby_catalog_write(p->store, &list, TBY_WRITE_CREATE, NULL, err);
    tby_resource_list_clear(&list);
    if (r == -EEXIST || r == -ECANCELED) {
        tby_log(TBY_LOG_INFO, "pools", "default pool made by another node name=%s",
                node_default_pool_name(i));
        return 0;
    }
    if (r == 0)
        tby_log(TBY_LOG_INFO, "pools", "default pool created name=%s cidr=%s blockSize=%d "
                "ipipMode=%s vxlanMode=%s natOutgoing=%s nodeSelector=\"%s\"",
                node_default_pool_name(i), tby_cidr_format(&cidr, text), pool->block_size,
                node_default_pool_mode(pool->ipip_mode), node_default_pool_mode(pool->vxlan_mode),
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
        int family = (i == 0 ? 4 : 6);

        if (p->done[i])
            continue;
        if (tby_syncer_foreach(n->syncer, has_family, &family) == 0 &&
            create(p, i, &err) < 0) {
            p->failures++;
            p->next_at = now + node_backoff_next(&p->backoff);
            if (strcmp(p->last_error, tby_error_str(&err)) != 0)
                tby_log(TBY_LOG_WARNING, "pools", "default pool not created name=%s "
                        "retry_ms=%d error=\"%s\"", node_default_pool_name(i), p->backoff.cur_ms,
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
