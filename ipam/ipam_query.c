/* ipam_query.c — what tools ask of IPAM: a handle's addresses, who holds an address, a
 * node's allocations, usage per pool and per block, and the strictAffinity switch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "ipam_internal.h"

#define CONFIG_ATTEMPTS 10

/* Reads run through ipam_run too: they leave the working set clean, so nothing is
 * committed, and they see pools and settings refreshed like every operation. */

struct handle_ctx {
    const char *handle;
    struct tby_ipam_result res;
};

static int attempt_by_handle(struct work *w, void *opaque, struct tby_error *err)
{
    struct handle_ctx *c = opaque;

    tby_ipam_result_clear(&c->res);
    return work_handle_ips(w, c->handle, &c->res, err);
}

int tby_ipam_ips_by_handle(struct tby_ipam *ipam, const char *handle,
                           struct tby_ipam_result *out, struct tby_error *err)
{
    struct handle_ctx c = { .handle = handle };
    int r = ipam_check_name("handle", handle, err);

    if (r == 0)
        r = ipam_run(ipam, "reading a handle", attempt_by_handle, &c, err);
    if (r < 0)
        tby_ipam_result_clear(&c.res);
    *out = c.res;
    return r;
}

/* ---- who holds an address ----------------------------------------------------------------- */

struct lookup_ctx {
    const struct tby_ip *ip;
    struct tby_ipam_holder *out;
};

void tby_ipam_holder_clear(struct tby_ipam_holder *h)
{
    free(h->pool);
    free(h->block_node);
    free(h->handle);
    free(h->node);
    free(h->namespace);
    free(h->pod);
    memset(h, 0, sizeof(*h));
}

static int copy_str(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -ENOMEM : 0;
}

static int fill_owner(struct tby_ipam_holder *h, const struct ipam_attr *a)
{
    h->allocated = true;
    if (copy_str(&h->handle, a->handle) < 0 || copy_str(&h->node, a->node) < 0 ||
        copy_str(&h->namespace, a->namespace) < 0 || copy_str(&h->pod, a->pod) < 0)
        return -ENOMEM;
    return 0;
}

static int attempt_lookup(struct work *w, void *opaque, struct tby_error *err)
{
    struct lookup_ctx *c = opaque;
    struct tby_ipam_holder *h = c->out;
    const struct ipam_pool *pool = ipam_pool_for_ip(w->ipam, c->ip);
    struct work_block *wb;
    uint32_t ord;
    int r;

    tby_ipam_holder_clear(h);
    h->in_pool = pool != NULL;
    if (pool && copy_str(&h->pool, pool->name) < 0)
        return ipam_oom(err);
    r = work_block_for_ip(w, c->ip, &wb, err);
    if (r < 0 || !wb)
        return r;
    h->has_block = true;
    h->block = wb->cidr;
    if (copy_str(&h->block_node, wb->blk->node) < 0)
        return ipam_oom(err);
    if (ipam_block_ordinal(wb->blk, c->ip, &ord) && ipam_block_owner(wb->blk, ord) &&
        fill_owner(h, ipam_block_owner(wb->blk, ord)) < 0)
        return ipam_oom(err);
    return 0;
}

int tby_ipam_lookup_ip(struct tby_ipam *ipam, const struct tby_ip *ip,
                       struct tby_ipam_holder *out, struct tby_error *err)
{
    struct lookup_ctx c = { .ip = ip, .out = out };
    int r;

    memset(out, 0, sizeof(*out));
    r = ipam_run(ipam, "looking up an address", attempt_lookup, &c, err);
    if (r < 0)
        tby_ipam_holder_clear(out);
    return r;
}

/* ---- a node's allocations ------------------------------------------------------------- */

void tby_ipam_alloc_list_clear(struct tby_ipam_alloc_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].handle);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static bool wanted(const struct ipam_attr *a, const char *node, const char *prefix)
{
    return a && a->node && strcmp(a->node, node) == 0 &&
           (!prefix || strncmp(a->handle, prefix, strlen(prefix)) == 0);
}

static int collect_allocs(const struct ipam_block *b, const char *node, const char *prefix,
                          struct tby_ipam_alloc_list *out)
{
    struct tby_ipam_alloc *grown;
    size_t n = 0;

    for (uint32_t ord = 0; ord < b->size; ord++)
        n += wanted(ipam_block_owner(b, ord), node, prefix);
    if (n == 0)
        return 0;
    grown = reallocarray(out->items, out->n + n, sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    out->items = grown;
    for (uint32_t ord = 0; ord < b->size; ord++) {
        const struct ipam_attr *a = ipam_block_owner(b, ord);
        struct tby_ipam_alloc *item = &out->items[out->n];

        if (!wanted(a, node, prefix))
            continue;
        item->ip = ipam_block_ip(b, ord);
        if (!(item->handle = strdup(a->handle)))
            return -ENOMEM;
        out->n++;
    }
    return 0;
}

static int cmp_alloc(const void *a, const void *b)
{
    const struct tby_ipam_alloc *x = a, *y = b;
    int c = strcmp(x->handle, y->handle);

    return c ? c : tby_ip_compare(&x->ip, &y->ip);
}

int tby_ipam_node_allocations(struct tby_ipam *ipam, const char *node, const char *handle_prefix,
                              struct tby_ipam_alloc_list *out, struct tby_error *err)
{
    struct tby_kv_list kvs = { 0 };
    int r = ipam_check_name("node name", node, err);

    memset(out, 0, sizeof(*out));
    if (r == 0 && (r = tby_store_range(ipam->store, IPAM_BLOCKS, &kvs, err)) < 0)
        tby_error_prefix(err, "reading the IPAM blocks");
    for (size_t i = 0; r == 0 && i < kvs.n; i++) {
        const struct tby_kv *kv = &kvs.items[i];
        _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;

        r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b, err);
        if (r == 0 && collect_allocs(b, node, handle_prefix, out) < 0)
            r = ipam_oom(err);
    }
    tby_kv_list_clear(&kvs);
    if (r < 0) {
        tby_ipam_alloc_list_clear(out);
        return r;
    }
    if (out->n)
        qsort(out->items, out->n, sizeof(*out->items), cmp_alloc);
    return 0;
}

/* ---- usage ------------------------------------------------------------------------------- */

void tby_ipam_usage_clear(struct tby_ipam_usage *u)
{
    for (size_t i = 0; i < u->n_pools; i++)
        free(u->pools[i].name);
    for (size_t i = 0; i < u->n_blocks; i++) {
        free(u->blocks[i].node);
        free(u->blocks[i].pool);
    }
    free(u->pools);
    free(u->blocks);
    memset(u, 0, sizeof(*u));
}

static int cmp_block(const void *a, const void *b)
{
    const struct tby_ipam_block_usage *x = a, *y = b;

    return tby_ip_compare(&x->cidr.ip, &y->cidr.ip);
}

static int fill_blocks(struct tby_ipam *ipam, const struct ipam_aff_list *affs,
                       struct tby_ipam_usage *u)
{
    u->blocks = calloc(affs->n + 1, sizeof(*u->blocks));
    if (!u->blocks)
        return -ENOMEM;
    for (size_t i = 0; i < affs->n; i++, u->n_blocks++) {
        const struct ipam_aff *a = &affs->items[i];
        const struct ipam_pool *pool = ipam_pool_for_block(ipam, &a->cidr);
        struct tby_ipam_block_usage *b = &u->blocks[i];

        b->cidr = a->cidr;
        b->size = 1u << (tby_ip_bits(&a->cidr.ip) - a->cidr.prefix_len);
        b->in_use = a->free <= b->size ? b->size - a->free : 0;
        if (copy_str(&b->node, a->node) < 0 || copy_str(&b->pool, pool ? pool->name : NULL))
            return -ENOMEM;
    }
    qsort(u->blocks, u->n_blocks, sizeof(*u->blocks), cmp_block);
    return 0;
}

static int fill_pools(const struct tby_ipam *ipam, struct tby_ipam_usage *u)
{
    u->pools = calloc(ipam->n_pools + 1, sizeof(*u->pools));
    if (!u->pools)
        return -ENOMEM;
    for (size_t i = 0; i < ipam->n_pools; i++, u->n_pools++) {
        const struct ipam_pool *p = &ipam->pools[i];
        struct tby_ipam_pool_usage *pu = &u->pools[i];

        if (copy_str(&pu->name, p->name) < 0)
            return -ENOMEM;
        pu->cidr = p->spec->cidr;
        pu->disabled = p->spec->disabled;
        pu->size = tby_cidr_size(&p->spec->cidr);
        for (size_t b = 0; b < u->n_blocks; b++)
            if (u->blocks[b].pool && strcmp(u->blocks[b].pool, p->name) == 0)
                pu->in_use += u->blocks[b].in_use;
    }
    return 0;
}

int tby_ipam_usage(struct tby_ipam *ipam, struct tby_ipam_usage *out, struct tby_error *err)
{
    struct ipam_aff_list affs;
    int r = ipam_refresh(ipam, err);

    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = ipam_aff_list_read(ipam->store, NULL, &affs, err);
    if (r < 0)
        return r;
    r = fill_blocks(ipam, &affs, out);
    if (r == 0)
        r = fill_pools(ipam, out);
    ipam_aff_list_clear(&affs);
    if (r < 0) {
        tby_ipam_usage_clear(out);
        return ipam_oom(err);
    }
    return 0;
}

/* ---- settings ---------------------------------------------------------------------------- */

static int new_default_config(struct tby_resource **out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion",
                                           "projectcalico.org/v3", "kind", "IPAMConfiguration",
                                           "metadata", "name", "default", "spec");

    if (!doc)
        return ipam_oom(err);
    return tby_resource_decode(doc, out, err);
}

int tby_ipam_set_strict_affinity(struct tby_ipam *ipam, bool strict, struct tby_error *err)
{
    const struct tby_kind_info *info = tby_kind_info(TBY_KIND_IPAMCONFIG);
    int r = -ECANCELED;

    for (int i = 0; i < CONFIG_ATTEMPTS && (r == -ECANCELED || r == -EEXIST); i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
        struct tby_resource_list list = { .items = &res, .n = 1 };
        enum tby_write_mode mode = TBY_WRITE_REPLACE;

        r = tby_catalog_get(ipam->store, info, NULL, "default", &res, err);
        if (r == -ENOENT) {
            mode = TBY_WRITE_CREATE;
            r = new_default_config(&res, err);
        }
        if (r < 0)
            return r;
        res->spec.ipamconfig->strict_affinity = strict;
        r = tby_catalog_write(ipam->store, &list, mode, NULL, err);
    }
    return r;
}

/* ---- a node's blocks ------------------------------------------------------------------ */

static int cmp_cidr(const void *a, const void *b)
{
    return tby_cidr_compare(a, b);
}

int tby_ipam_node_blocks(struct tby_store *store, const char *node, struct tby_cidr **out,
                         size_t *n, struct tby_error *err)
{
    _cleanup_free_ char *prefix = ipam_affinity_prefix(node);
    _cleanup_free_ struct tby_cidr *blocks = NULL;
    struct tby_kv_list kvs = { 0 };
    size_t count = 0;
    int r = ipam_check_name("node", node, err);

    *out = NULL;
    *n = 0;
    if (r < 0)
        return r;
    if (!prefix)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_store_range(store, prefix, &kvs, err);
    if (r < 0)
        return tby_error_prefix(err, "reading the blocks of node %s", node);
    if (kvs.n && !(blocks = calloc(kvs.n, sizeof(*blocks)))) {
        tby_kv_list_clear(&kvs);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < kvs.n; i++)
        if (ipam_block_name_parse(kvs.items[i].key + strlen(prefix), &blocks[count]) == 0)
            count++;
    tby_kv_list_clear(&kvs);
    if (count)
        qsort(blocks, count, sizeof(*blocks), cmp_cidr);
    *n = count;
    *out = TBY_STEAL(blocks);
    return 0;
}
