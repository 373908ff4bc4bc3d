/* bgp_store.c — what gather reads from outside the resource lists: the datastore (resources,
 * and this node's blocks through IPAM) and BGPPeer passwords from a secrets folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/bgp.h"
#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/resource.h"
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
    struct tby_resource_list configs, peers, nodes, pools, filters;
};

static void lists_clear(struct lists *l)
{
    tby_resource_list_clear(&l->configs);
    tby_resource_list_clear(&l->peers);
    tby_resource_list_clear(&l->nodes);
    tby_resource_list_clear(&l->pools);
    tby_resource_list_clear(&l->filters);
}

/* The BGPFilters that decode: one that does not is as good as missing, and the peers
 * that use it are left out (gather says so), instead of nothing being rendered at all. */
static int read_filters(struct tby_store *store, struct tby_resource_list *out,
                        struct tby_error *err)
{
    _cleanup_free_ char *prefix = tby_resource_prefix(tby_kind_info(TBY_KIND_BGPFILTER), NULL);
    struct tby_kv_list kvs = { 0 };
    int r = prefix ? tby_store_range(store, prefix, &kvs, err)
                   : tby_error_set(err, -ENOMEM, "out of memory");

    for (size_t i = 0; r == 0 && i < kvs.n; i++) {
        struct tby_resource *res = NULL;

        if (tby_catalog_decode_kv(&kvs.items[i], &res, NULL) < 0)
            continue;
        if (tby_resource_list_push(out, res) < 0) {
            tby_resource_free(res);
            r = tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    tby_kv_list_clear(&kvs);
    return r;
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
    if (r == 0)
        r = read_filters(store, &l->filters, err);
    return r;
}

static int all_blocks(struct tby_store *store, const char *node, const struct tby_cidr *extra,
                      size_t n_extra, struct tby_cidr **out, size_t *n, struct tby_error *err)
{
    struct tby_cidr *blocks = NULL, *grown;
    size_t count = 0;
    int r = tby_ipam_node_blocks(store, node, &blocks, &count, err);

    if (r < 0)
        return r;
    grown = reallocarray(blocks, count + n_extra + 1, sizeof(*grown));
    if (!grown) {
        free(blocks);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (n_extra)
        memcpy(grown + count, extra, n_extra * sizeof(*grown));
    *n = unique_cidrs(grown, count + n_extra);
    *out = grown;
    return 0;
}

int tby_bgp_gather_from_store(struct tby_store *store, const char *node,
                              const struct tby_cidr *extra_blocks, size_t n_extra,
                              tby_bgp_secret_fn secret, void *secret_ctx,
                              struct tby_bgp_input *out, struct tby_error *err)
{
    _cleanup_(lists_clear) struct lists l = { 0 };
    _cleanup_free_ struct tby_cidr *blocks = NULL;
    struct tby_bgp_resources res = { .secret = secret, .secret_ctx = secret_ctx };
    int r = read_lists(store, &l, err);

    if (r == 0)
        r = all_blocks(store, node, extra_blocks, n_extra, &blocks, &res.n_blocks, err);
    if (r < 0)
        return r;
    res.bgpconfigs = &l.configs;
    res.bgppeers = &l.peers;
    res.nodes = &l.nodes;
    res.ippools = &l.pools;
    res.bgpfilters = &l.filters;
    res.blocks = blocks;
    return tby_bgp_gather(node, &res, out, err);
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
