/* ipam_pools.c — the IPAM context, its cache of pools and settings, and which pools a
 * request may use (Calico's order: the pools asked for, in that order, else every pool
 * that is enabled, automatic and selects this node, by name). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "ipam_internal.h"

/* ---- the context ---------------------------------------------------------------------- */

int tby_ipam_new(struct tby_store *store, const char *node, struct tby_ipam **out,
                 struct tby_error *err)
{
    struct tby_ipam *ipam;
    int r;

    if (node && (r = ipam_check_name("node name", node, err)) < 0)
        return r;
    ipam = calloc(1, sizeof(*ipam));
    if (!ipam)
        return ipam_oom(err);
    ipam->store = store;
    ipam->multi = tby_store_has_multi_txn(store);
    ipam->lock_fd = -1;
    ipam->config_rev = -1;
    ipam->node_rev = -1;
    ipam->rand_state = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)ipam;
    if (node && !(ipam->node = strdup(node))) {
        free(ipam);
        return ipam_oom(err);
    }
    *out = ipam;
    return 0;
}

static void pools_clear(struct tby_ipam *ipam)
{
    for (size_t i = 0; i < ipam->n_pools; i++) {
        tby_resource_free(ipam->pools[i].res);
        tby_sel_free(ipam->pools[i].sel);
        free(ipam->pools[i].key);
    }
    free(ipam->pools);
    ipam->pools = NULL;
    ipam->n_pools = 0;
    ipam->pools_read = false;
}

void tby_ipam_free(struct tby_ipam *ipam)
{
    if (!ipam)
        return;
    pools_clear(ipam);
    ipam_cache_clear(ipam);
    free(ipam->reserved);
    json_decref(ipam->node_labels);
    ipam_lock_release(ipam);
    free(ipam->lock_file);
    free(ipam->node);
    free(ipam);
}

const char *tby_ipam_node(const struct tby_ipam *ipam)
{
    return ipam->node;
}

/* ---- refreshing the cache ------------------------------------------------------------- */

static bool pools_unchanged(const struct tby_ipam *ipam, const struct tby_kv_list *kvs)
{
    if (!ipam->pools_read || kvs->n != ipam->n_pools)
        return false;
    for (size_t i = 0; i < kvs->n; i++)
        if (kvs->items[i].mod_rev != ipam->pools[i].mod_rev ||
            strcmp(kvs->items[i].key, ipam->pools[i].key) != 0)
            return false;
    return true;
}

static int pool_load(struct ipam_pool *p, const struct tby_kv *kv, struct tby_error *err)
{
    int r = tby_catalog_decode_kv(kv, &p->res, err);

    if (r < 0)
        return r;
    p->name = p->res->meta.name;
    p->spec = p->res->spec.ippool;
    p->mod_rev = kv->mod_rev;
    p->key = strdup(kv->key);
    if (!p->key)
        return ipam_oom(err);
    r = tby_sel_parse(p->spec->node_selector, &p->sel, err);
    return r < 0 ? tby_error_prefix(err, "IPPool %s: spec.nodeSelector", p->name) : 0;
}

/* Every stored resource of a (cluster-wide) kind. */
static int range_kind(struct tby_ipam *ipam, enum tby_kind kind, struct tby_kv_list *out,
                      struct tby_error *err)
{
    _cleanup_free_ char *prefix = tby_resource_prefix(tby_kind_info(kind), NULL);

    return prefix ? tby_store_range(ipam->store, prefix, out, err) : ipam_oom(err);
}

static int refresh_pools(struct tby_ipam *ipam, struct tby_error *err)
{
    struct tby_kv_list kvs;
    int r = range_kind(ipam, TBY_KIND_IPPOOL, &kvs, err);

    if (r < 0)
        return r;
    ipam->pools_rev = kvs.rev;
    if (pools_unchanged(ipam, &kvs)) {
        tby_kv_list_clear(&kvs);
        return 0;
    }
    pools_clear(ipam);
    ipam->pools = calloc(kvs.n + 1, sizeof(*ipam->pools));
    if (!ipam->pools)
        r = ipam_oom(err);
    for (size_t i = 0; r == 0 && i < kvs.n; i++, ipam->n_pools++)
        r = pool_load(&ipam->pools[i], &kvs.items[i], err);
    tby_kv_list_clear(&kvs);
    if (r < 0) {
        /* Keep a half-loaded list out of the cache: the next operation reads it again. */
        pools_clear(ipam);
        return r;
    }
    ipam->pools_read = true;
    return 0;
}

static int refresh_config(struct tby_ipam *ipam, struct tby_error *err)
{
    const struct tby_kind_info *info = tby_kind_info(TBY_KIND_IPAMCONFIG);
    _cleanup_free_ char *key = tby_resource_key(info, NULL, "default");
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_kv kv;
    int r;

    if (!key)
        return ipam_oom(err);
    r = tby_store_get(ipam->store, key, &kv, err);
    if (r == -ENOENT) {
        ipam->config = (struct ipam_config){ .auto_allocate_blocks = true };
        ipam->config_rev = 0;
        return 0;
    }
    if (r < 0 || kv.mod_rev == ipam->config_rev) {
        tby_kv_clear(&kv);
        return r;
    }
    r = tby_catalog_decode_kv(&kv, &res, err);
    if (r == 0) {
        ipam->config.strict_affinity = res->spec.ipamconfig->strict_affinity;
        ipam->config.max_blocks_per_host = res->spec.ipamconfig->max_blocks_per_host;
        ipam->config.auto_allocate_blocks = res->spec.ipamconfig->auto_allocate_blocks;
        ipam->config_rev = kv.mod_rev;
    }
    tby_kv_clear(&kv);
    return r;
}

int ipam_max_blocks(const struct ipam_config *config)
{
    return config->max_blocks_per_host > 0 ? config->max_blocks_per_host
                                           : IPAM_DEFAULT_MAX_BLOCKS;
}

int ipam_refresh(struct tby_ipam *ipam, struct tby_error *err)
{
    int r = refresh_pools(ipam, err);

    return r < 0 ? r : refresh_config(ipam, err);
}

/* ---- reservations ---------------------------------------------------------------------- */

static int add_reserved(struct tby_cidr **all, size_t *n, const struct tby_resource *res)
{
    const struct tby_cidr_list *cidrs = &res->spec.ipreservation->reserved_cidrs;
    struct tby_cidr *grown;

    if (cidrs->n == 0)
        return 0;
    grown = reallocarray(*all, *n + cidrs->n, sizeof(**all));
    if (!grown)
        return -ENOMEM;
    memcpy(grown + *n, cidrs->items, cidrs->n * sizeof(*grown));
    *all = grown;
    *n += cidrs->n;
    return 0;
}

int ipam_refresh_reservations(struct tby_ipam *ipam, struct tby_error *err)
{
    _cleanup_free_ struct tby_cidr *all = NULL;
    struct tby_kv_list kvs;
    size_t n = 0;
    int r = range_kind(ipam, TBY_KIND_IPRESERVATION, &kvs, err);

    if (r < 0)
        return r;
    for (size_t i = 0; r == 0 && i < kvs.n; i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;

        r = tby_catalog_decode_kv(&kvs.items[i], &res, err);
        if (r == 0 && add_reserved(&all, &n, res) < 0)
            r = ipam_oom(err);
    }
    if (r == 0)
        ipam->reserved_rev = kvs.rev;
    tby_kv_list_clear(&kvs);
    if (r < 0)
        return r;
    free(ipam->reserved);
    ipam->reserved = TBY_STEAL(all);
    ipam->n_reserved = n;
    ipam->reserved_read = true;
    return 0;
}

bool ipam_reserved(const struct tby_ipam *ipam, const struct tby_ip *ip)
{
    for (size_t i = 0; i < ipam->n_reserved; i++)
        if (tby_cidr_contains(&ipam->reserved[i], ip))
            return true;
    return false;
}

bool ipam_reserved_in(const struct tby_ipam *ipam, const struct tby_cidr *block)
{
    for (size_t i = 0; i < ipam->n_reserved; i++)
        if (tby_cidr_overlaps(&ipam->reserved[i], block))
            return true;
    return false;
}

bool ipam_reserved_whole(const struct tby_ipam *ipam, const struct tby_cidr *block)
{
    for (size_t i = 0; i < ipam->n_reserved; i++)
        if (tby_cidr_contains_cidr(&ipam->reserved[i], block))
            return true;
    return false;
}

/* ---- this node ------------------------------------------------------------------------ */

static char *node_key(const char *node)
{
    return tby_resource_key(tby_kind_info(TBY_KIND_NODE), NULL, node);
}

int ipam_node_exists(struct tby_ipam *ipam, const char *node, bool *out, struct tby_error *err)
{
    _cleanup_free_ char *key = node_key(node);
    struct tby_kv kv;
    int r;

    if (!key)
        return ipam_oom(err);
    r = tby_store_get(ipam->store, key, &kv, err);
    *out = r == 0;
    tby_kv_clear(&kv);
    return r == -ENOENT ? 0 : r;
}

/* The Node's labels, read from its stored document's metadata: a pool's nodeSelector
 * needs nothing else of the Node. No Node resource: no labels. */
static int node_labels(struct tby_ipam *ipam, const json_t **out, struct tby_error *err)
{
    _cleanup_free_ char *key = node_key(ipam->node);
    _cleanup_json_ json_t *doc = NULL;
    struct tby_kv kv;
    int r;

    if (!key)
        return ipam_oom(err);
    if (ipam->settings_trusted && ipam->node_rev >= 0) {
        ipam->node_labels_used = true;
        *out = ipam->node_labels;
        return 0;
    }
    r = tby_store_get(ipam->store, key, &kv, err);
    if (r == -ENOENT)
        kv.mod_rev = 0;
    else if (r < 0)
        return r;
    if (kv.mod_rev != ipam->node_rev) {
        doc = kv.mod_rev ? json_loadb(kv.value, kv.value_len, 0, NULL) : NULL;
        json_decref(ipam->node_labels);
        ipam->node_labels = json_incref(json_object_get(json_object_get(doc, "metadata"),
                                                        "labels"));
        ipam->node_rev = kv.mod_rev;
    }
    tby_kv_clear(&kv);
    *out = ipam->node_labels;
    return 0;
}

int ipam_settings_compares(const struct tby_ipam *ipam, struct tby_txn *txn)
{
    _cleanup_free_ char *prefix = tby_resource_prefix(tby_kind_info(TBY_KIND_IPPOOL), NULL);
    _cleanup_free_ char *config = tby_resource_key(tby_kind_info(TBY_KIND_IPAMCONFIG), NULL,
                                                   "default");
    _cleanup_free_ char *node = ipam->node_labels_used ? node_key(ipam->node) : NULL;
    _cleanup_free_ char *reserved = tby_resource_prefix(tby_kind_info(TBY_KIND_IPRESERVATION),
                                                        NULL);
    int r = prefix && config && reserved && (node || !ipam->node_labels_used) ? 0 : -ENOMEM;

    /* Each pool as read, and none created or changed since: the pools are as read. */
    for (size_t i = 0; r == 0 && i < ipam->n_pools; i++)
        r = tby_txn_compare(txn, ipam->pools[i].key, ipam->pools[i].mod_rev);
    if (r == 0)
        r = tby_txn_compare_prefix(txn, prefix, ipam->pools_rev);
    if (r == 0)
        r = tby_txn_compare(txn, config, ipam->config_rev);
    if (r == 0 && node)
        r = tby_txn_compare(txn, node, ipam->node_rev);
    /* None created, changed or deleted since: the reservations are as read. */
    if (r == 0 && ipam->reserved_read)
        r = tby_txn_compare_prefix(txn, reserved, ipam->reserved_rev);
    return r;
}

/* ---- lookups -------------------------------------------------------------------------- */

const struct ipam_pool *ipam_pool_for_ip(const struct tby_ipam *ipam, const struct tby_ip *ip)
{
    for (size_t i = 0; i < ipam->n_pools; i++)
        if (tby_cidr_contains(&ipam->pools[i].spec->cidr, ip))
            return &ipam->pools[i];
    return NULL;
}

const struct ipam_pool *ipam_pool_for_block(const struct tby_ipam *ipam,
                                            const struct tby_cidr *block)
{
    for (size_t i = 0; i < ipam->n_pools; i++)
        if (tby_cidr_contains_cidr(&ipam->pools[i].spec->cidr, block) &&
            ipam->pools[i].spec->block_size == block->prefix_len)
            return &ipam->pools[i];
    return NULL;
}

static const struct ipam_pool *pool_by_name_or_cidr(const struct tby_ipam *ipam,
                                                    const char *text)
{
    struct tby_cidr cidr;

    for (size_t i = 0; i < ipam->n_pools; i++)
        if (strcmp(ipam->pools[i].name, text) == 0)
            return &ipam->pools[i];
    if (tby_cidr_parse(text, TBY_CIDR_MASK, &cidr, NULL) < 0)
        return NULL;
    for (size_t i = 0; i < ipam->n_pools; i++)
        if (tby_cidr_equal(&ipam->pools[i].spec->cidr, &cidr))
            return &ipam->pools[i];
    return NULL;
}

/* ---- candidates ----------------------------------------------------------------------- */

static void note(struct ipam_cands *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct ipam_cands *c, const char *fmt, ...)
{
    size_t len = strlen(c->why);
    va_list ap;

    if (len + 3 >= sizeof(c->why))
        return;
    if (len)
        strcpy(c->why + len, "; "), len += 2;
    va_start(ap, fmt);
    vsnprintf(c->why + len, sizeof(c->why) - len, fmt, ap);
    va_end(ap);
}

static const char *use_name(unsigned use)
{
    return use == TBY_POOL_USE_TUNNEL ? "Tunnel" : "Workload";
}

static int cands_push(struct ipam_cands *c, const struct ipam_pool *p)
{
    const struct ipam_pool **grown;

    for (size_t i = 0; i < c->n; i++)
        if (c->items[i] == p)
            return 0;
    grown = reallocarray(c->items, c->n + 1, sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    c->items = grown;
    c->items[c->n++] = p;
    return 0;
}

void ipam_cands_clear(struct ipam_cands *c)
{
    free(c->items);
    memset(c, 0, sizeof(*c));
}

static int requested_pool(struct tby_ipam *ipam, int family, unsigned use, const char *text,
                          struct ipam_cands *out, struct tby_error *err)
{
    const struct ipam_pool *p = pool_by_name_or_cidr(ipam, text);

    if (!p)
        return tby_error_set(err, -EINVAL, "IPPool \"%s\" not found (pools are named by name "
                             "or CIDR)", text);
    if (p->spec->cidr.ip.family != family)
        return tby_error_set(err, -EINVAL, "IPPool %s is an %s pool, requested for %s "
                             "addresses", p->name, ipam_family_name(p->spec->cidr.ip.family),
                             ipam_family_name(family));
    if (p->spec->disabled)
        return tby_error_set(err, -EINVAL, "IPPool %s is disabled", p->name);
    if (!(p->spec->allowed_uses & use)) {
        note(out, "IPPool %s does not allow %s addresses", p->name, use_name(use));
        return 0;
    }
    return cands_push(out, p) < 0 ? ipam_oom(err) : 0;
}

/* Whether an unrequested pool serves this node; notes why not. */
static int pool_serves(struct tby_ipam *ipam, const struct ipam_pool *p, unsigned use,
                       struct ipam_cands *out, bool *serves, struct tby_error *err)
{
    const json_t *labels = NULL;
    struct tby_labels view;
    int r;

    *serves = false;
    if (p->spec->disabled)
        note(out, "IPPool %s is disabled", p->name);
    else if (!(p->spec->allowed_uses & use))
        note(out, "IPPool %s does not allow %s addresses", p->name, use_name(use));
    else if (p->spec->assignment_mode == TBY_ASSIGN_MANUAL)
        note(out, "IPPool %s is Manual (used only when requested)", p->name);
    else if (tby_sel_is_all(p->sel))
        *serves = true;
    else {
        r = node_labels(ipam, &labels, err);
        if (r < 0)
            return r;
        view = tby_labels_from_json(labels);
        *serves = tby_sel_match(p->sel, &view);
        if (!*serves)
            note(out, "IPPool %s: nodeSelector \"%s\" does not select node %s", p->name,
                 p->spec->node_selector, ipam->node);
    }
    return 0;
}

int ipam_candidates(struct tby_ipam *ipam, int family, unsigned use,
                    const struct tby_strv *requested, struct ipam_cands *out,
                    struct tby_error *err)
{
    int r = 0;

    memset(out, 0, sizeof(*out));
    if (requested && requested->n > 0) {
        for (size_t i = 0; r == 0 && i < requested->n; i++)
            r = requested_pool(ipam, family, use, requested->items[i], out, err);
    } else {
        for (size_t i = 0; r == 0 && i < ipam->n_pools; i++) {
            const struct ipam_pool *p = &ipam->pools[i];
            bool serves;

            if (p->spec->cidr.ip.family != family)
                continue;
            r = pool_serves(ipam, p, use, out, &serves, err);
            if (r == 0 && serves && cands_push(out, p) < 0)
                r = ipam_oom(err);
        }
    }
    if (r < 0)
        ipam_cands_clear(out);
    return r;
}
