/* bgp_store.c — where gather's input comes from: the datastore (resources, and this
 * node's blocks through IPAM) for a one-off sync, the syncer's watched cache for
 * tabby-node, and BGPPeer passwords from a secrets folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/array.h"
#include "tabby/bgp.h"
#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/resource.h"
#include "tabby/syncer.h"
#include "bgp_internal.h"

#define SECRET_MAX 4096

/* Sorts and drops repeats. */
static size_t unique_cidrs(struct tby_cidr *items, size_t n)
{
    size_t kept = 0;

    if (n)
        qsort(items, n, sizeof(*items), bgp_cidr_cmp);
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || !tby_cidr_equal(&items[kept - 1], &items[i]))
            items[kept++] = items[i];
    return kept;
}

/* ---- resources ----------------------------------------------------------------------- */

struct lists {
    struct tby_resource_list configs, peers, nodes, pools;
};

static void lists_clear(struct lists *l)
{
    tby_resource_list_clear(&l->configs);
    tby_resource_list_clear(&l->peers);
    tby_resource_list_clear(&l->nodes);
    tby_resource_list_clear(&l->pools);
}

static int read_lists(struct tby_store *store, struct lists *l, struct tby_error *err)
{
    int r = tby_catalog_list(store, tby_kind_info(TBY_KIND_BGPCONFIG), NULL, &l->configs, err);

    if (r == 0)
        r = tby_catalog_list(store, tby_kind_info(TBY_KIND_BGPPEER), NULL, &l->peers, err);
    if (r == 0)
        r = tby_catalog_list(store, tby_kind_info(TBY_KIND_NODE), NULL, &l->nodes, err);
    if (r == 0)
        r = tby_catalog_list(store, tby_kind_info(TBY_KIND_IPPOOL), NULL, &l->pools, err);
    return r;
}

/* Adds the extra blocks to the node's (taking them), drops repeats and gathers. */
static int gather_lists(const struct lists *l, struct tby_cidr *blocks, size_t n,
                        const char *node, const struct tby_cidr *extra, size_t n_extra,
                        tby_bgp_secret_fn secret, void *secret_ctx, struct tby_bgp_input *out,
                        struct tby_error *err)
{
    struct tby_bgp_resources res = { .secret = secret, .secret_ctx = secret_ctx,
                                     .bgpconfigs = &l->configs, .bgppeers = &l->peers,
                                     .nodes = &l->nodes, .ippools = &l->pools };
    _cleanup_free_ struct tby_cidr *all = reallocarray(blocks, n + n_extra + 1, sizeof(*all));

    if (!all) {
        free(blocks);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (n_extra)
        memcpy(all + n, extra, n_extra * sizeof(*all));
    res.blocks = all;
    res.n_blocks = unique_cidrs(all, n + n_extra);
    return tby_bgp_gather(node, &res, out, err);
}

int tby_bgp_gather_from_store(struct tby_store *store, const char *node,
                              const struct tby_cidr *extra_blocks, size_t n_extra,
                              tby_bgp_secret_fn secret, void *secret_ctx,
                              struct tby_bgp_input *out, struct tby_error *err)
{
    _cleanup_(lists_clear) struct lists l = { 0 };
    struct tby_cidr *blocks = NULL;
    size_t n = 0;
    int r = read_lists(store, &l, err);

    if (r == 0)
        r = tby_ipam_node_blocks(store, node, &blocks, &n, err);
    if (r < 0)
        return r;
    return gather_lists(&l, blocks, n, node, extra_blocks, n_extra, secret, secret_ctx, out,
                        err);
}

/* ---- the syncer's cache ------------------------------------------------------------------ */

struct cached {
    struct lists l;               /* resources borrowed from the cache */
    const char *node;
    struct tby_cidr *blocks;
    size_t n_blocks, cap_blocks;
};

static int borrow(struct tby_resource_list *list, const struct tby_resource *res)
{
    if (TBY_GROW(list->items, list->cap, list->n + 1) < 0)
        return -ENOMEM;
    list->items[list->n++] = (struct tby_resource *)res;
    return 0;
}

static int collect_resource(void *ctx, const char *key, const struct tby_resource *res)
{
    struct cached *c = ctx;

    (void)key;
    switch (res ? res->info->kind : TBY_KIND_COUNT) {
    case TBY_KIND_BGPCONFIG:
        return borrow(&c->l.configs, res);
    case TBY_KIND_BGPPEER:
        return borrow(&c->l.peers, res);
    case TBY_KIND_NODE:
        return borrow(&c->l.nodes, res);
    case TBY_KIND_IPPOOL:
        return borrow(&c->l.pools, res);
    default:
        return 0;
    }
}

static int collect_block(void *ctx, const struct tby_kv *kv)
{
    struct cached *c = ctx;
    struct tby_ipam_affinity aff;

    /* as tby_ipam_node_blocks reads the store: the node's routable blocks */
    if (tby_ipam_affinity_decode(kv, &aff) < 0 || !tby_ipam_affinity_routable(&aff) ||
        aff.node_len != strlen(c->node) || strncmp(aff.node, c->node, aff.node_len) != 0)
        return 0;
    if (TBY_GROW(c->blocks, c->cap_blocks, c->n_blocks + 1) < 0)
        return -ENOMEM;
    c->blocks[c->n_blocks++] = aff.block;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    const struct tby_resource *x = *(const struct tby_resource *const *)a;
    const struct tby_resource *y = *(const struct tby_resource *const *)b;

    return strcmp(x->meta.name, y->meta.name);
}

/* In the order a listing gives (by name), so that what gather makes of duplicates (two
 * Nodes with one address) is the same from either source. */
static void sort_by_name(struct tby_resource_list *list)
{
    if (list->n)
        qsort(list->items, list->n, sizeof(*list->items), cmp_name);
}

static void cached_clear(struct cached *c)
{
    free(c->blocks);
    free(c->l.configs.items);
    free(c->l.peers.items);
    free(c->l.nodes.items);
    free(c->l.pools.items);
}

int tby_bgp_gather_from_syncer(const struct tby_syncer *syncer, const char *node,
                               const struct tby_cidr *extra_blocks, size_t n_extra,
                               tby_bgp_secret_fn secret, void *secret_ctx,
                               struct tby_bgp_input *out, struct tby_error *err)
{
    _cleanup_(cached_clear) struct cached c = { .node = node };
    int r = tby_syncer_foreach(syncer, collect_resource, &c);

    if (r == 0)
        r = tby_syncer_foreach_record(syncer, TBY_IPAM_AFFINITY_PREFIX, collect_block, &c);
    if (r < 0)
        return tby_error_set(err, r, "out of memory");
    sort_by_name(&c.l.configs);
    sort_by_name(&c.l.peers);
    sort_by_name(&c.l.nodes);
    sort_by_name(&c.l.pools);
    return gather_lists(&c.l, TBY_STEAL(c.blocks), c.n_blocks, node, extra_blocks, n_extra,
                        secret, secret_ctx, out, err);
}

/* ---- passwords ------------------------------------------------------------------------ */

static bool path_part_valid(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int tby_bgp_secret_from_dir(void *ctx, const struct tby_secret_ref *ref, char **out,
                            struct tby_error *err)
{
    const char *dir = ctx;
    _cleanup_buf_ struct tby_buf text = { .max = SECRET_MAX };
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (!path_part_valid(ref->name) || !path_part_valid(ref->key))
        return tby_error_set(err, -EINVAL, "not a secret name and key");
    if (asprintf(&path, "%s/%s/%s", dir, ref->name, ref->key) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return tby_error_set(err, -errno, "%s: %s", path, strerror(errno));
    r = tby_buf_read_all_fd(&text, fd);
    if (r == -EFBIG)
        return tby_error_set(err, r, "%s: longer than %d bytes", path, SECRET_MAX);
    if (r < 0)
        return tby_error_set(err, r, "%s: %s", path, strerror(-r));
    if (text.len > 0 && text.data[text.len - 1] == '\n')
        text.data[--text.len] = '\0';
    if (!(*out = tby_buf_steal(&text, NULL)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}
