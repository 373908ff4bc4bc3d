/* diagnose_cluster.c — what the datastore says about the cluster, read once for every check
 * (pools, nodes, workload endpoints, which node each block is affine to), and the
 * datastore check: does it answer tabbyctl, does it answer tabby-node, do both read the
 * same one, and is this node in it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/array.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "diagnose.h"

#define AREA "node"

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int diag_cluster_take(struct diag_cluster *c, struct tby_resource *res)
{
    struct tby_resource_list *list;

    switch (res->info->kind) {
    case TBY_KIND_IPPOOL:
        list = &c->pools;
        break;
    case TBY_KIND_NODE:
        list = &c->nodes;
        break;
    case TBY_KIND_WORKLOADENDPOINT:
        list = &c->weps;
        break;
    default:
        tby_resource_free(res);
        return 0;
    }
    return tby_resource_list_push(list, res);
}

int diag_cluster_add_affinity(struct diag_cluster *c, const struct tby_kv *kv)
{
    struct tby_ipam_affinity aff;
    char *name;

    /* as tabby-node's routes: a claim still pending, or a record marked deleted, is none */
    if (tby_ipam_affinity_decode(kv, &aff) < 0 || !tby_ipam_affinity_routable(&aff))
        return 0;
    if (TBY_GROW(c->blocks, c->cap_blocks, c->n_blocks + 1) < 0 ||
        !(name = strndup(aff.node, aff.node_len)) ||
        tby_strv_push_take(&c->block_nodes, name) < 0)
        return -ENOMEM;
    c->blocks[c->n_blocks++] = (struct tby_routes_block){ aff.block, name };
    return 0;
}

void diag_cluster_done(struct diag_cluster *c, const char *node)
{
    c->self = NULL;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (strcmp(c->nodes.items[i]->meta.name, node) == 0)
            c->self = c->nodes.items[i];
}

static int read_kind(struct diag_cluster *c, struct tby_store *store, enum tby_kind kind,
                     struct tby_error *err)
{
    struct tby_resource_list list = { 0 };
    int r = tby_catalog_list(store, tby_kind_info(kind), NULL, &list, err);

    for (size_t i = 0; i < list.n; i++) {
        if (r == 0)
            r = diag_cluster_take(c, list.items[i]);
        else
            tby_resource_free(list.items[i]);
    }
    free(list.items);
    return r;
}

int diag_cluster_read(struct diag_cluster *c, struct tby_store *store, const char *node)
{
    static const enum tby_kind kinds[] = { TBY_KIND_IPPOOL, TBY_KIND_NODE,
                                           TBY_KIND_WORKLOADENDPOINT };
    struct tby_kv_list affinities = { 0 };
    struct tby_error err = { 0 };
    double t0 = mono_ms();
    int r = 0;

    for (size_t i = 0; r == 0 && i < TBY_ARRAY_SIZE(kinds); i++)
        r = read_kind(c, store, kinds[i], &err);
    if (r == 0)
        r = tby_store_range(store, TBY_IPAM_AFFINITY_PREFIX, &affinities, &err);
    for (size_t i = 0; r == 0 && i < affinities.n; i++)
        r = diag_cluster_add_affinity(c, &affinities.items[i]);
    tby_kv_list_clear(&affinities);
    c->ms = mono_ms() - t0;
    if (r < 0) {
        if (!err.code)
            err.code = r;
        snprintf(c->error, sizeof(c->error), "%s", tby_error_str(&err));
        return r;
    }
    diag_cluster_done(c, node);
    c->read = true;
    return 0;
}

void diag_cluster_clear(struct diag_cluster *c)
{
    tby_resource_list_clear(&c->pools);
    tby_resource_list_clear(&c->nodes);
    tby_resource_list_clear(&c->weps);
    free(c->blocks);
    tby_strv_clear(&c->block_nodes);
    *c = (struct diag_cluster){ 0 };
}

const char *diag_cluster_node_of_ip(const struct diag_cluster *c, const struct tby_ip *ip)
{
    for (size_t i = 0; i < c->nodes.n; i++) {
        const struct tby_node *n = c->nodes.items[i]->spec.node;

        if ((n->has_ipv4_address && tby_ip_equal(&n->ipv4_address.ip, ip)) ||
            (n->has_ipv6_address && tby_ip_equal(&n->ipv6_address.ip, ip)))
            return c->nodes.items[i]->meta.name;
    }
    return NULL;
}

const struct tby_ippool *diag_cluster_pool_of(const struct diag_cluster *c,
                                              const struct tby_ip *ip)
{
    for (size_t i = 0; i < c->pools.n; i++)
        if (tby_cidr_contains(&c->pools.items[i]->spec.ippool->cidr, ip))
            return c->pools.items[i]->spec.ippool;
    return NULL;
}

bool diag_wep_is_on(const struct tby_resource *wep, const char *node)
{
    return wep->spec.wep->node && strcmp(wep->spec.wep->node, node) == 0;
}

bool diag_need_cluster(struct diag *d, const char *area, const char *check)
{
    if (d->cluster.read)
        return false;
    diag_add(&d->report, area, check, DIAG_WARN,
             "not checked: the datastore could not be read (see node/datastore)");
    return true;
}

/* ---- the check ---------------------------------------------------------------------------- */

/* What tabby-node says of its own datastore. */
static void daemon_view(struct diag *d, struct diag_result **res)
{
    const json_t *online = diag_daemon_get(&d->daemon, "datastore.online");
    const char *error = diag_daemon_str(&d->daemon, "datastore.error");
    const char *theirs = diag_daemon_str(&d->daemon, "settings.store");

    if (!d->daemon.answered)
        return;
    if (online && !json_is_true(online)) {
        *res = diag_add(&d->report, AREA, "datastore", DIAG_FAIL,
                        "tabby-node cannot reach its datastore %s: %s", theirs ? theirs : "",
                        error && error[0] ? error : "not read yet");
        diag_action(*res, "check that the datastore runs and that this node reaches it "
                    "(address, firewall, credentials); tabby-node keeps what it programmed "
                    "meanwhile and retries");
        return;
    }
    if (theirs && d->set.store_uri && strcmp(theirs, d->set.store_uri) != 0) {
        *res = diag_add(&d->report, AREA, "datastore", DIAG_WARN,
                        "tabby-node reads %s, tabbyctl %s: the checks below compare with "
                        "tabbyctl's", theirs, d->set.store_uri);
        diag_item(*res, "%s", theirs);
        diag_action(*res, "run diagnose with --store %s", theirs);
    }
}

void diag_check_datastore(struct diag *d)
{
    const struct diag_cluster *c = &d->cluster;
    struct diag_result *res = NULL;

    if (!c->read) {
        res = diag_add(&d->report, AREA, "datastore", DIAG_FAIL, "%s does not answer: %s",
                       d->set.store_uri, c->error);
        diag_item(res, "%s", d->set.store_uri);
        diag_action(res, "check that it runs and is reachable from here, and that --store "
                    "(or $TABBY_STORE) names the cluster's datastore");
        return;
    }
    daemon_view(d, &res);
    if (res)
        return;
    if (!c->self) {
        res = diag_add(&d->report, AREA, "datastore", DIAG_FAIL,
                       "%s answers, but holds no Node named %s", d->set.store_uri,
                       d->set.node);
        diag_item(res, "%s", d->set.node);
        diag_action(res, "check the node's name (--node; tabby-node's NODENAME): tabby-node "
                    "registers its Node when it starts (see node/tabby-node)");
        return;
    }
    diag_add(&d->report, AREA, "datastore", DIAG_OK,
             "%s answers (%.0f ms): pools %zu, nodes %zu, workload endpoints %zu, blocks %zu",
             d->set.store_uri, c->ms, c->pools.n, c->nodes.n, c->weps.n, c->n_blocks);
}
