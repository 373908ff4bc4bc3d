/* ipam_query.c — what tools ask of IPAM: a handle's addresses, who holds an address, a
 * node's allocations, usage per pool and per block, and the strictAffinity switch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
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
        r = ipam_run(ipam, "reading a handle", false, attempt_by_handle, &c, err);
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
    /* Calico allows an allocation without a handle. */
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
    r = ipam_run(ipam, "looking up an address", false, attempt_lookup, &c, err);
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
    return a && a->handle && a->node && strcmp(a->node, node) == 0 &&
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

/* Calls fn for every stored block (not those marked deleted): one range read. fn returns
 * 0 or -ENOMEM. */
static int for_each_block(struct tby_ipam *ipam,
                          int (*fn)(const struct ipam_block *b, void *ctx), void *ctx,
                          struct tby_error *err)
{
    struct tby_kv_list kvs = { 0 };
    int r = tby_store_range(ipam->store, IPAM_BLOCKS, &kvs, err);

    if (r < 0)
        return tby_error_prefix(err, "reading the IPAM blocks");
    for (size_t i = 0; r == 0 && i < kvs.n; i++) {
        const struct tby_kv *kv = &kvs.items[i];
        _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;

        r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b, err);
        if (r == 0 && !b->deleted && fn(b, ctx) < 0)
            r = ipam_oom(err);
    }
    tby_kv_list_clear(&kvs);
    return r;
}

struct allocs_ctx {
    const char *node, *prefix;
    struct tby_ipam_alloc_list *out;
};

static int allocs_of_block(const struct ipam_block *b, void *opaque)
{
    struct allocs_ctx *c = opaque;

    return collect_allocs(b, c->node, c->prefix, c->out);
}

int tby_ipam_node_allocations(struct tby_ipam *ipam, const char *node, const char *handle_prefix,
                              struct tby_ipam_alloc_list *out, struct tby_error *err)
{
    struct allocs_ctx c = { node, handle_prefix, out };
    int r = ipam_check_name("node name", node, err);

    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = for_each_block(ipam, allocs_of_block, &c, err);
    if (r < 0) {
        tby_ipam_alloc_list_clear(out);
        return r;
    }
    if (out->n)
        qsort(out->items, out->n, sizeof(*out->items), cmp_alloc);
    return 0;
}

/* ---- borrowed addresses ------------------------------------------------------------------- */

void tby_ipam_borrowed_list_clear(struct tby_ipam_borrowed_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].node);
        free(list->items[i].block_node);
        free(list->items[i].type);
        free(list->items[i].allocated_to);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* The owner calicoctl names: the affinity without its "host:" (or other) prefix. */
static const char *block_owner(const struct ipam_block *b)
{
    const char *colon;

    if (b->node)
        return b->node;
    if (!b->other_affinity)
        return "";
    colon = strchr(b->other_affinity, ':');
    return colon && !strchr(colon + 1, ':') ? colon + 1 : b->other_affinity;
}

static int borrowed_of_block(const struct ipam_block *b, void *opaque)
{
    struct tby_ipam_borrowed_list *out = opaque;

    for (uint32_t ord = 0; ord < b->size; ord++) {
        const struct ipam_attr *a = ipam_block_owner(b, ord);
        struct tby_ipam_borrowed *item;

        if (!a)
            continue;
        if (!a->node) {
            out->unclassified++;
            continue;
        }
        if (strcmp(a->node, block_owner(b)) == 0)
            continue;
        if (TBY_GROW(out->items, out->cap, out->n + 1) < 0)
            return -ENOMEM;
        item = memset(&out->items[out->n++], 0, sizeof(*item));
        item->ip = ipam_block_ip(b, ord);
        item->block = b->cidr;
        if (!(item->node = strdup(a->node)) || !(item->block_node = strdup(block_owner(b))))
            return -ENOMEM;
        if (a->pod) {
            if (!(item->type = strdup("pod")) ||
                asprintf(&item->allocated_to, "%s/%s", a->namespace ? a->namespace : "",
                         a->pod) < 0)
                return -ENOMEM;
        } else if (a->type && !(item->type = strdup(a->type))) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int cmp_borrowed(const void *a, const void *b)
{
    const struct tby_ipam_borrowed *x = a, *y = b;

    return tby_ip_compare(&x->ip, &y->ip);
}

int tby_ipam_borrowed(struct tby_ipam *ipam, struct tby_ipam_borrowed_list *out,
                      struct tby_error *err)
{
    int r;

    memset(out, 0, sizeof(*out));
    r = for_each_block(ipam, borrowed_of_block, out, err);
    if (r < 0) {
        tby_ipam_borrowed_list_clear(out);
        return r;
    }
    if (out->n)
        qsort(out->items, out->n, sizeof(*out->items), cmp_borrowed);
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
    for (size_t i = 0; i < affs->n; i++) {
        const struct ipam_aff *a = &affs->items[i];
        const struct ipam_pool *pool = ipam_pool_for_block(ipam, &a->cidr);
        struct tby_ipam_block_usage *b = &u->blocks[u->n_blocks];

        /* A claim under way (its block may not be made yet) is no block. */
        if (a->state == IPAM_AFF_PENDING)
            continue;
        u->n_blocks++;
        b->cidr = a->cidr;
        b->size = ipam_cidr_size(&a->cidr);
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
        r = ipam_space_read(ipam, &affs, err);
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

/* Calico's bounds of maxBlocksPerHost (its CRD's). */
#define MAX_BLOCKS_PER_HOST_MAX 1000000

int tby_ipam_configure(struct tby_ipam *ipam, const struct tby_ipam_settings *set,
                       struct tby_error *err)
{
    const struct tby_kind_info *info = tby_kind_info(TBY_KIND_IPAMCONFIG);
    int r = -ECANCELED;

    if (set->has_max_blocks && (set->max_blocks_per_host < 0 ||
                                set->max_blocks_per_host > MAX_BLOCKS_PER_HOST_MAX))
        return tby_error_set(err, -EINVAL, "maxBlocksPerHost must be between 0 and %d, got %d",
                             MAX_BLOCKS_PER_HOST_MAX, set->max_blocks_per_host);
    for (int i = 0; i < CONFIG_ATTEMPTS && (r == -ECANCELED || r == -EEXIST); i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
        struct tby_resource_list list = { .items = &res, .n = 1 };
        enum tby_write_mode mode = TBY_WRITE_REPLACE;
        struct tby_ipamconfig *c, was;

        r = tby_catalog_get(ipam->store, info, NULL, "default", &res, err);
        if (r == -ENOENT) {
            mode = TBY_WRITE_CREATE;
            r = new_default_config(&res, err);
        }
        if (r < 0)
            return r;
        c = res->spec.ipamconfig;
        was = *c;
        if (set->has_strict_affinity)
            c->strict_affinity = set->strict_affinity;
        if (set->has_max_blocks)
            c->max_blocks_per_host = set->max_blocks_per_host;
        /* Calico's rules for the settings (lib/ipam SetIPAMConfig). */
        if (!c->strict_affinity && c->max_blocks_per_host > 0)
            return tby_error_set(err, -EINVAL, "IPAMConfiguration default: maxBlocksPerHost "
                                 "(%d) requires strictAffinity to be true",
                                 c->max_blocks_per_host);
        if (!c->strict_affinity && !c->auto_allocate_blocks)
            return tby_error_set(err, -EINVAL, "IPAMConfiguration default: strictAffinity and "
                                 "autoAllocateBlocks cannot both be false");
        /* Nothing to write (a store without multi-key transactions takes no commit that
         * only compares). */
        if (mode == TBY_WRITE_REPLACE && was.strict_affinity == c->strict_affinity &&
            was.max_blocks_per_host == c->max_blocks_per_host)
            return 0;
        r = tby_catalog_write(ipam->store, &list, mode, NULL, err);
    }
    return r;
}

int tby_ipam_set_strict_affinity(struct tby_ipam *ipam, bool strict, struct tby_error *err)
{
    struct tby_ipam_settings set = { .has_strict_affinity = true, .strict_affinity = strict };

    return tby_ipam_configure(ipam, &set, err);
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
    for (size_t i = 0; i < kvs.n; i++) {
        struct tby_ipam_affinity aff;

        if (tby_ipam_affinity_decode(&kvs.items[i], &aff) == 0 && tby_ipam_affinity_routable(&aff))
            blocks[count++] = aff.block;
    }
    tby_kv_list_clear(&kvs);
    if (count)
        qsort(blocks, count, sizeof(*blocks), cmp_cidr);
    *n = count;
    *out = TBY_STEAL(blocks);
    return 0;
}
