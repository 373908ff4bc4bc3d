/* ipam_check.c — the consistency check behind `tabbyctl ipam check`, Calico's checks
 * (calicoctl ipam check) and tabby's: one snapshot of every IPAM record (a single range
 * read), compared with itself, with the WorkloadEndpoints' addresses and with the Nodes'
 * tunnel addresses; optionally repaired.
 *
 * Each repair writes the one record it repairs, compared with the snapshot's revision.
 * Where the store has multi-key transactions the records the decision read are compared
 * in the same transaction; elsewhere they are read again just before (as Calico's
 * single-object writes allow), so nothing that changed meanwhile is overwritten. A
 * record that changed is left for the next check. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/array.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "ipam_internal.h"

struct snap_block {
    const struct tby_kv *kv;
    struct ipam_block *blk;
};

struct snap_handle {
    const struct tby_kv *kv;
    const char *id;                 /* points into kv->key */
    struct ipam_handle_rec rec;
    bool valid;
};

struct snap_aff {
    const struct tby_kv *kv;
    struct ipam_aff aff;
    bool valid;
};

/* One allocation; sorted by handle, then block, these group into what the handle
 * records should say. */
struct alloc_ref {
    const char *handle;
    size_t block;                   /* index into blocks */
    uint32_t ord;
};

/* An address something uses: a pod's endpoint, a node's tunnel. */
struct in_use {
    struct tby_ip ip;
    char *user;                     /* for people: "WorkloadEndpoint ns/name" */
};

struct checker {
    struct tby_ipam *ipam;
    bool repair;
    struct tby_ipam_report *out;
    struct tby_kv_list kvs;
    struct snap_block *blocks;
    size_t n_blocks;
    struct snap_handle *handles;
    size_t n_handles;
    struct snap_aff *affs;
    size_t n_affs;
    struct alloc_ref *allocs;
    size_t n_allocs;
    struct in_use *used;            /* sorted by address */
    size_t n_used, cap_used;
};

const char *tby_ipam_problem_name(enum tby_ipam_problem_kind kind)
{
    static const char *const names[] = {
        [TBY_IPAM_LEAKED_ADDRESS] = "leaked address",
        [TBY_IPAM_BLOCK_WITHOUT_POOL] = "block without a pool",
        [TBY_IPAM_HANDLE_WITHOUT_ADDRESSES] = "handle without addresses",
        [TBY_IPAM_HANDLE_MISMATCH] = "handle record mismatch",
        [TBY_IPAM_AFFINITY_MISMATCH] = "affinity record mismatch",
        [TBY_IPAM_AFFINITY_NOT_CONFIRMED] = "affinity not confirmed",
        [TBY_IPAM_NOT_ALLOCATED] = "in use but not allocated",
        [TBY_IPAM_INVALID_BLOCK] = "invalid block",
    };

    return names[kind];
}

void tby_ipam_report_clear(struct tby_ipam_report *report)
{
    for (size_t i = 0; i < report->n; i++) {
        free(report->items[i].handle);
        free(report->items[i].detail);
    }
    free(report->items);
    memset(report, 0, sizeof(*report));
}

static void checker_clear(struct checker *k)
{
    for (size_t i = 0; i < k->n_blocks; i++)
        ipam_block_free(k->blocks[i].blk);
    for (size_t i = 0; i < k->n_handles; i++)
        ipam_handle_rec_clear(&k->handles[i].rec);
    for (size_t i = 0; i < k->n_affs; i++)
        free(k->affs[i].aff.node);
    for (size_t i = 0; i < k->n_used; i++)
        free(k->used[i].user);
    free(k->blocks);
    free(k->handles);
    free(k->affs);
    free(k->allocs);
    free(k->used);
    tby_kv_list_clear(&k->kvs);
}

/* ---- problems ------------------------------------------------------------------------- */

struct where {
    const char *handle;
    const struct tby_ip *ip;
    const struct tby_cidr *block;
};

static int add_problem(struct checker *k, enum tby_ipam_problem_kind kind, struct where at,
                       bool fixed, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_problem(struct checker *k, enum tby_ipam_problem_kind kind, struct where at,
                       bool fixed, const char *fmt, ...)
{
    struct tby_ipam_problem *p;
    va_list ap;
    int r;

    if (TBY_GROW(k->out->items, k->out->cap, k->out->n + 1) < 0)
        return -ENOMEM;
    p = &k->out->items[k->out->n];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->fixed = fixed;
    p->has_ip = at.ip != NULL;
    if (at.ip)
        p->ip = *at.ip;
    p->has_block = at.block != NULL;
    if (at.block)
        p->block = *at.block;
    va_start(ap, fmt);
    r = vasprintf(&p->detail, fmt, ap);
    va_end(ap);
    if (r < 0 || (at.handle && !(p->handle = strdup(at.handle)))) {
        free(p->detail);
        return -ENOMEM;
    }
    k->out->n++;
    return 0;
}

/* What a repair's outcome adds to the detail. */
static const char *repair_note(const struct checker *k, int r)
{
    if (!k->repair)
        return "";
    if (r == 0)
        return " (repaired)";
    return r == -ECANCELED ? " (changed since the check read it: run the check again)"
                           : " (repair failed)";
}

/* ---- repairs ------------------------------------------------------------------------------ */

/* One record rewritten (value) or deleted (value NULL), compared with the snapshot's
 * revision, and the other records the decision read, with theirs. */
struct repair {
    const char *key;
    int64_t rev;
    char *value;
    size_t len;
    struct {
        char *key;
        int64_t rev;
    } *also;
    size_t n_also, cap_also;
};

static int repair_also(struct repair *rp, const char *key, int64_t rev)
{
    char *copy = key ? strdup(key) : NULL;

    if (!copy || TBY_GROW(rp->also, rp->cap_also, rp->n_also + 1) < 0) {
        free(copy);
        return -ENOMEM;
    }
    rp->also[rp->n_also].key = copy;
    rp->also[rp->n_also++].rev = rev;
    return 0;
}

static void repair_clear(struct repair *rp)
{
    for (size_t i = 0; i < rp->n_also; i++)
        free(rp->also[i].key);
    free(rp->also);
    free(rp->value);
}

/* The other records, read again: -ECANCELED when one changed since the snapshot. */
static int still_as_read(struct tby_store *store, const struct repair *rp, struct tby_error *err)
{
    for (size_t i = 0; i < rp->n_also; i++) {
        struct tby_kv kv;
        int r = tby_store_get(store, rp->also[i].key, &kv, err);
        int64_t rev = r == 0 ? kv.mod_rev : 0;

        if (r == 0)
            tby_kv_clear(&kv);
        if (r < 0 && r != -ENOENT)
            return r;
        if (rev != rp->also[i].rev)
            return -ECANCELED;
    }
    return 0;
}

static int commit_repair(struct checker *k, struct repair *rp, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    struct tby_store *store = k->ipam->store;
    struct tby_error ignored = { 0 };
    int r = txn ? 0 : -ENOMEM;

    if (r == 0 && k->ipam->multi)
        for (size_t i = 0; r == 0 && i < rp->n_also; i++)
            r = tby_txn_compare(txn, rp->also[i].key, rp->also[i].rev);
    else if (r == 0)
        r = still_as_read(store, rp, &ignored);
    if (r == 0 && (tby_txn_compare(txn, rp->key, rp->rev) < 0 ||
                   (rp->value ? tby_txn_put(txn, rp->key, rp->value, rp->len)
                              : tby_txn_delete(txn, rp->key)) < 0))
        r = -ENOMEM;
    if (r == 0 && (rp->value || rp->rev))
        r = tby_store_commit(store, txn, NULL, &ignored);
    repair_clear(rp);
    if (r == -ENOMEM)
        return ipam_oom(err);
    /* A conflict only leaves the problem for the next check; an unreachable store
     * stops the check. */
    if (r == -EAGAIN)
        *err = ignored;
    return r;
}

/* ---- the snapshot ----------------------------------------------------------------------- */

static int load_block(struct checker *k, const struct tby_kv *kv, struct tby_error *err)
{
    struct snap_block *b = &k->blocks[k->n_blocks];
    struct tby_error why = { 0 };
    int r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b->blk, &why);

    /* A block that cannot be read is named; the rest of the check goes on without it. */
    if (r == -EINVAL)
        return add_problem(k, TBY_IPAM_INVALID_BLOCK, (struct where){ 0 }, false,
                           "%s%s", why.msg, k->repair ? " (kept: a person has to look)" : "");
    if (r < 0) {
        *err = why;
        return r;
    }
    if (b->blk->deleted) {
        ipam_block_freep(&b->blk);
        return 0;
    }
    b->kv = kv;
    k->n_blocks++;
    return 0;
}

static int load_handle(struct checker *k, const struct tby_kv *kv, struct tby_error *err)
{
    struct snap_handle *h = &k->handles[k->n_handles];
    struct tby_error why = { 0 };
    int r = ipam_handle_decode(kv->value, kv->value_len, kv->key, &h->rec, &why);

    if (r < 0 && r != -EINVAL) {
        *err = why;
        return r;
    }
    if (r == 0 && h->rec.deleted) {
        ipam_handle_rec_clear(&h->rec);
        return 0;
    }
    /* A malformed record counts nothing: its handle's check rewrites it. */
    h->valid = r == 0;
    h->kv = kv;
    h->id = kv->key + strlen(IPAM_HANDLES);
    k->n_handles++;
    return 0;
}

static int load_snapshot(struct checker *k, struct tby_error *err)
{
    int r = tby_store_range(k->ipam->store, TBY_IPAM_PREFIX, &k->kvs, err);
    size_t n = k->kvs.n + 1;

    if (r < 0)
        return r;
    k->blocks = calloc(n, sizeof(*k->blocks));
    k->handles = calloc(n, sizeof(*k->handles));
    k->affs = calloc(n, sizeof(*k->affs));
    if (!k->blocks || !k->handles || !k->affs)
        return ipam_oom(err);
    for (size_t i = 0; r == 0 && i < k->kvs.n; i++) {
        const struct tby_kv *kv = &k->kvs.items[i];

        if (strncmp(kv->key, IPAM_BLOCKS, strlen(IPAM_BLOCKS)) == 0) {
            r = load_block(k, kv, err);
        } else if (strncmp(kv->key, IPAM_HANDLES, strlen(IPAM_HANDLES)) == 0) {
            r = load_handle(k, kv, err);
        } else if (strncmp(kv->key, IPAM_AFFINITIES, strlen(IPAM_AFFINITIES)) == 0) {
            struct snap_aff *a = &k->affs[k->n_affs];

            a->kv = kv;
            a->valid = ipam_aff_decode(kv, &a->aff) == 0;
            if (a->valid && a->aff.deleted)
                free(TBY_STEAL(a->aff.node));
            else
                k->n_affs++;
        }
    }
    return r == -ENOMEM ? ipam_oom(err) : r;
}

static int cmp_ip(const void *a, const void *b)
{
    return tby_ip_compare(a, b);
}

static int add_used(struct checker *k, const struct tby_ip *ip, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int add_used(struct checker *k, const struct tby_ip *ip, const char *fmt, ...)
{
    va_list ap;
    int r;

    if (TBY_GROW(k->used, k->cap_used, k->n_used + 1) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    r = vasprintf(&k->used[k->n_used].user, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    k->used[k->n_used++].ip = *ip;
    return 0;
}

/* The addresses pods' endpoints and nodes' tunnels use, sorted. */
static int load_used(struct checker *k, struct tby_error *err)
{
    struct tby_resource_list weps, nodes;
    int r = tby_catalog_list(k->ipam->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT), NULL,
                             &weps, err);

    if (r < 0)
        return tby_error_prefix(err, "reading WorkloadEndpoints");
    r = tby_catalog_list(k->ipam->store, tby_kind_info(TBY_KIND_NODE), NULL, &nodes, err);
    if (r < 0) {
        tby_resource_list_clear(&weps);
        return tby_error_prefix(err, "reading Nodes");
    }
    for (size_t i = 0; r == 0 && i < weps.n; i++) {
        const struct tby_cidr_list *nets = &weps.items[i]->spec.wep->ip_networks;

        for (size_t j = 0; r == 0 && j < nets->n; j++)
            r = add_used(k, &nets->items[j].ip, "WorkloadEndpoint %s/%s",
                         weps.items[i]->meta.namespace, weps.items[i]->meta.name);
    }
    for (size_t i = 0; r == 0 && i < nodes.n; i++) {
        const struct tby_node *n = nodes.items[i]->spec.node;
        const char *name = nodes.items[i]->meta.name;

        if (n->has_vxlan_tunnel_addr)
            r = add_used(k, &n->vxlan_tunnel_addr, "Node %s's VXLAN tunnel address", name);
        if (r == 0 && n->has_vxlan_tunnel_addr_v6)
            r = add_used(k, &n->vxlan_tunnel_addr_v6, "Node %s's IPv6 VXLAN tunnel address",
                         name);
        if (r == 0 && n->has_ipip_tunnel_addr)
            r = add_used(k, &n->ipip_tunnel_addr, "Node %s's IPIP tunnel address", name);
        if (r == 0 && n->has_wireguard_ipv4)
            r = add_used(k, &n->wireguard_ipv4, "Node %s's WireGuard address", name);
        if (r == 0 && n->has_wireguard_ipv6)
            r = add_used(k, &n->wireguard_ipv6, "Node %s's IPv6 WireGuard address", name);
    }
    tby_resource_list_clear(&weps);
    tby_resource_list_clear(&nodes);
    if (r < 0)
        return ipam_oom(err);
    if (k->n_used)
        qsort(k->used, k->n_used, sizeof(*k->used), cmp_ip);
    return 0;
}

static int cmp_alloc(const void *a, const void *b)
{
    const struct alloc_ref *x = a, *y = b;
    int c = strcmp(x->handle, y->handle);

    if (c)
        return c;
    return x->block < y->block ? -1 : x->block > y->block;
}

static int collect_allocs(struct checker *k, struct tby_error *err)
{
    size_t n = 0;

    for (size_t i = 0; i < k->n_blocks; i++)
        n += ipam_block_in_use(k->blocks[i].blk);
    k->allocs = calloc(n + 1, sizeof(*k->allocs));
    if (!k->allocs)
        return ipam_oom(err);
    for (size_t i = 0; i < k->n_blocks; i++) {
        const struct ipam_block *b = k->blocks[i].blk;

        for (uint32_t ord = 0; ord < b->size; ord++)
            if (ipam_block_owner(b, ord) && ipam_block_owner(b, ord)->handle)
                k->allocs[k->n_allocs++] =
                    (struct alloc_ref){ ipam_block_owner(b, ord)->handle, i, ord };
    }
    qsort(k->allocs, k->n_allocs, sizeof(*k->allocs), cmp_alloc);
    return 0;
}

static int cmp_block_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct snap_block *)elem)->kv->key);
}

/* Blocks come in key order from the range read, so a key finds its block by bisection. */
static const struct snap_block *find_block(const struct checker *k, const struct tby_cidr *cidr)
{
    char key[sizeof(IPAM_BLOCKS) + IPAM_NAME_MAX], name[IPAM_NAME_MAX];

    snprintf(key, sizeof(key), IPAM_BLOCKS "%s", ipam_block_name(cidr, name));
    return bsearch(key, k->blocks, k->n_blocks, sizeof(*k->blocks), cmp_block_key);
}

static const struct snap_block *block_holding(const struct checker *k, const struct tby_ip *ip)
{
    for (size_t i = 0; i < k->n_blocks; i++)
        if (tby_cidr_contains(&k->blocks[i].blk->cidr, ip))
            return &k->blocks[i];
    return NULL;
}

static int cmp_aff_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct snap_aff *)elem)->kv->key);
}

static const struct snap_aff *find_aff(const struct checker *k, const char *key)
{
    return bsearch(key, k->affs, k->n_affs, sizeof(*k->affs), cmp_aff_key);
}

/* ---- addresses ------------------------------------------------------------------------- */

/* A pod's address that nothing uses (Calico's leaks; cooling-down addresses are no
 * allocation). Repaired by releasing it while the same handle still holds it. */
static int check_leak(struct checker *k, const struct alloc_ref *ref, struct tby_error *err)
{
    const struct ipam_block *b = k->blocks[ref->block].blk;
    const struct ipam_attr *a = ipam_block_owner(b, ref->ord);
    struct tby_ip ip = ipam_block_ip(b, ref->ord);
    char text[TBY_IP_STRLEN];
    size_t released = 0;
    int r = 0;

    if (!a->namespace || !a->pod ||
        (k->n_used && bsearch(&ip, k->used, k->n_used, sizeof(*k->used), cmp_ip)))
        return 0;
    if (k->repair)
        r = tby_ipam_release_ips_of(k->ipam, a->handle, &ip, 1, &released, err);
    if (r == -EAGAIN)
        return r;
    return add_problem(k, TBY_IPAM_LEAKED_ADDRESS, (struct where){ a->handle, &ip, &b->cidr },
                       k->repair && r == 0, "%s: handle %s (pod %s/%s on node %s) holds it, but "
                       "no WorkloadEndpoint uses it%s", tby_ip_format(&ip, text), a->handle,
                       a->namespace, a->pod, a->node ? a->node : "unknown",
                       k->repair && r == 0 && released == 0 ? " (already released)"
                                                            : repair_note(k, r));
}

/* An address a pod or node uses, inside a pool, that no block gives out: another could
 * get it. Not repaired (which handle holds it is not known). */
static int check_used(struct checker *k, const struct in_use *u)
{
    const struct snap_block *sb = block_holding(k, &u->ip);
    char text[TBY_IP_STRLEN];
    uint32_t ord;

    if (!ipam_pool_for_ip(k->ipam, &u->ip))
        return 0;
    if (sb && ipam_block_ordinal(sb->blk, &u->ip, &ord) && !ipam_block_is_free(sb->blk, ord))
        return 0;
    return add_problem(k, TBY_IPAM_NOT_ALLOCATED, (struct where){ .ip = &u->ip }, false,
                       "%s: %s uses it, but %s%s", tby_ip_format(&u->ip, text), u->user,
                       sb ? "its block does not allocate it" : "no block holds it",
                       k->repair ? " (not repaired: allocate it or take it from its user)"
                                 : "");
}

/* ---- blocks -------------------------------------------------------------------------------- */

static int check_block_pool(struct checker *k, const struct snap_block *sb,
                            struct tby_error *err)
{
    char cidr[TBY_CIDR_STRLEN];
    uint32_t in_use = ipam_block_in_use(sb->blk);
    int r = -1;

    if (ipam_pool_for_block(k->ipam, &sb->blk->cidr) || !ipam_block_usable(sb->blk))
        return 0;
    /* Given up as housekeeping gives up a block: its affinity goes too. */
    if (k->repair && in_use == 0)
        r = ipam_retire_block(k->ipam, &sb->blk->cidr, err);
    if (r == -EAGAIN)
        return r;
    return add_problem(k, TBY_IPAM_BLOCK_WITHOUT_POOL, (struct where){ .block = &sb->blk->cidr },
                       r == 0, "block %s (node %s, %u in use): no IPPool contains it%s",
                       tby_cidr_format(&sb->blk->cidr, cidr),
                       sb->blk->node ? sb->blk->node : "none", in_use,
                       in_use ? (k->repair ? " (kept: release its addresses first)" : "")
                              : repair_note(k, r));
}

/* Calico's invalid blocks that still decode: attributes no allocation points at, and a
 * cooldown that ends in the future. The first is repaired by writing the block again
 * (the encoder drops them). */
static int check_block_valid(struct checker *k, const struct snap_block *sb,
                             struct tby_error *err)
{
    const struct ipam_block *b = sb->blk;
    _cleanup_free_ bool *used = calloc(b->n_attrs + 1, sizeof(*used));
    struct repair rp = { .key = sb->kv->key, .rev = sb->kv->mod_rev };
    size_t unused = 0, future = 0;
    int64_t now = (int64_t)time(NULL);
    char cidr[TBY_CIDR_STRLEN];
    int r = 0;

    if (!used)
        return ipam_oom(err);
    for (uint32_t ord = 0; ord < b->size; ord++) {
        if (b->owner[ord] < 0)
            continue;
        used[b->owner[ord]] = true;
        future += b->attrs[b->owner[ord]].released && b->attrs[b->owner[ord]].released_at > now;
    }
    for (size_t i = 0; i < b->n_attrs; i++)
        unused += !used[i];
    if (future)
        r = add_problem(k, TBY_IPAM_INVALID_BLOCK, (struct where){ .block = &b->cidr }, false,
                        "block %s: %zu address(es) released in the future (a clock is wrong)",
                        tby_cidr_format(&b->cidr, cidr), future);
    if (r < 0 || !unused)
        return r;
    if (k->repair) {
        _cleanup_(ipam_block_freep) struct ipam_block *copy = ipam_block_clone(b);

        if (!copy || !(rp.value = ipam_block_encode(copy, &rp.len)))
            return ipam_oom(err);
        r = commit_repair(k, &rp, err);
    }
    if (r == -EAGAIN)
        return r;
    return add_problem(k, TBY_IPAM_INVALID_BLOCK, (struct where){ .block = &b->cidr },
                       k->repair && r == 0, "block %s: %zu attribute(s) no allocation "
                       "points at%s", tby_cidr_format(&b->cidr, cidr), unused,
                       repair_note(k, r));
}

/* ---- affinities ---------------------------------------------------------------------------- */

/* The block's affinity record (key), written confirmed, with the free count where the
 * store keeps one, compared with the block as read. */
static int rewrite_aff(struct checker *k, const struct snap_block *sb, const char *key,
                       const struct snap_aff *sa, struct tby_error *err)
{
    struct repair rp = { .key = key, .rev = sa ? sa->kv->mod_rev : 0 };

    rp.value = ipam_aff_encode(sb->blk->node, &sb->blk->cidr, IPAM_AFF_CONFIRMED,
                               k->ipam->multi ? sb->blk->n_free : IPAM_FREE_UNKNOWN, &rp.len);
    if (!rp.value || repair_also(&rp, sb->kv->key, sb->kv->mod_rev) < 0) {
        repair_clear(&rp);
        return ipam_oom(err);
    }
    return commit_repair(k, &rp, err);
}

/* A block affine to a node needs that node's affinity record, confirmed (and, on stores
 * that keep one, counting the block's free addresses). */
static int check_block_aff(struct checker *k, const struct snap_block *sb, struct tby_error *err)
{
    _cleanup_free_ char *key = NULL;
    enum tby_ipam_problem_kind kind = TBY_IPAM_AFFINITY_MISMATCH;
    const struct snap_aff *sa;
    char cidr[TBY_CIDR_STRLEN];
    const char *why;
    int r = 0;

    tby_cidr_format(&sb->blk->cidr, cidr);
    if (!sb->blk->node)
        return 0;
    key = ipam_affinity_key(sb->blk->node, &sb->blk->cidr);
    if (!key)
        return ipam_oom(err);
    sa = find_aff(k, key);
    if (!sa)
        why = "is missing";
    else if (!sa->valid)
        why = "is malformed";
    else if (sa->aff.state != IPAM_AFF_CONFIRMED)
        why = ipam_aff_state_name(sa->aff.state), kind = TBY_IPAM_AFFINITY_NOT_CONFIRMED;
    else if (k->ipam->multi && sa->aff.free != sb->blk->n_free)
        why = "counts other free addresses than the block";
    else
        return 0;
    if (k->repair)
        r = rewrite_aff(k, sb, key, sa, err);
    if (r == -EAGAIN)
        return r;
    if (kind == TBY_IPAM_AFFINITY_NOT_CONFIRMED)
        return add_problem(k, kind, (struct where){ .block = &sb->blk->cidr },
                           k->repair && r == 0, "block %s: the affinity of node %s is %s, "
                           "left by a claim that did not finish%s", cidr, sb->blk->node, why,
                           repair_note(k, r));
    return add_problem(k, kind, (struct where){ .block = &sb->blk->cidr }, k->repair && r == 0,
                       "block %s: its affinity record for node %s %s%s", cidr, sb->blk->node,
                       why, repair_note(k, r));
}

/* An affinity record must belong to a block affine to the record's node. */
static int check_aff_record(struct checker *k, const struct snap_aff *sa, struct tby_error *err)
{
    struct tby_ipam_affinity parsed;
    const struct snap_block *sb = NULL;
    struct repair rp = { .key = sa->kv->key, .rev = sa->kv->mod_rev };
    _cleanup_free_ char *block_key = NULL;
    bool pending = sa->valid && sa->aff.state != IPAM_AFF_CONFIRMED;
    char cidr[TBY_CIDR_STRLEN];
    int r = 0;

    /* A malformed record is judged by its block's check, when it has a block. */
    if (tby_ipam_affinity_key_parse(sa->kv->key, &parsed.node, &parsed.node_len,
                                    &parsed.block) == 0)
        sb = find_block(k, &parsed.block);
    if (sb && (!sa->valid || (sb->blk->node && ipam_same_str(sb->blk->node, sa->aff.node))))
        return 0;
    if (k->repair) {
        block_key = sa->valid ? ipam_block_key(&sa->aff.cidr) : NULL;
        if (block_key && repair_also(&rp, block_key, sb ? sb->kv->mod_rev : 0) < 0)
            return ipam_oom(err);
        r = commit_repair(k, &rp, err);
    }
    if (r == -EAGAIN)
        return r;
    if (pending)
        return add_problem(k, TBY_IPAM_AFFINITY_NOT_CONFIRMED,
                           (struct where){ .block = &sa->aff.cidr }, k->repair && r == 0,
                           "block %s: the affinity of node %s is %s, and no block is affine "
                           "to it%s", tby_cidr_format(&sa->aff.cidr, cidr), sa->aff.node,
                           ipam_aff_state_name(sa->aff.state), repair_note(k, r));
    return add_problem(k, TBY_IPAM_AFFINITY_MISMATCH, (struct where){ 0 }, k->repair && r == 0,
                       "affinity record %s has no block affine to its node%s", sa->kv->key,
                       repair_note(k, r));
}

/* ---- handles ---------------------------------------------------------------------------- */

/* What the blocks say a handle holds: allocs[from, to) all belong to one handle. */
static int expected_rec(const struct checker *k, size_t from, size_t to,
                        struct ipam_handle_rec *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = from; i < to; i++)
        if (ipam_handle_add(out, &k->blocks[k->allocs[i].block].blk->cidr, 1) < 0)
            return -ENOMEM;
    return 0;
}

static bool same_rec(const struct ipam_handle_rec *a, const struct ipam_handle_rec *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (ipam_handle_count(b, &a->items[i].block) != a->items[i].count)
            return false;
    return true;
}

/* The blocks the handle's truth depends on: those it holds addresses in and those its
 * record names. */
static int depends_on_blocks(const struct checker *k, struct repair *rp,
                             const struct ipam_handle_rec *a, const struct ipam_handle_rec *b)
{
    const struct ipam_handle_rec *recs[2] = { a, b };

    for (int r = 0; r < 2; r++) {
        for (size_t i = 0; recs[r] && i < recs[r]->n; i++) {
            const struct snap_block *sb = find_block(k, &recs[r]->items[i].block);
            _cleanup_free_ char *key = ipam_block_key(&recs[r]->items[i].block);

            if (repair_also(rp, key, sb ? sb->kv->mod_rev : 0) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int rewrite_handle(struct checker *k, const char *id, const struct snap_handle *sh,
                          const struct ipam_handle_rec *want, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_handle_key(id);
    struct repair rp = { .key = key, .rev = sh ? sh->kv->mod_rev : 0 };

    if (!key || depends_on_blocks(k, &rp, want, sh ? &sh->rec : NULL) < 0 ||
        (want->n && !(rp.value = ipam_handle_encode(id, want, &rp.len)))) {
        repair_clear(&rp);
        return ipam_oom(err);
    }
    return commit_repair(k, &rp, err);
}

/* One handle: its record (sh, may be NULL) against its allocations allocs[from, to).
 * Calico's leaked handles (a record whose blocks give it nothing) are "handles without
 * addresses", its missing handles (allocations without a record) record mismatches. */
static int check_handle(struct checker *k, const char *id, const struct snap_handle *sh,
                        size_t from, size_t to, struct tby_error *err)
{
    struct ipam_handle_rec want;
    uint64_t have = sh ? ipam_handle_total(&sh->rec) : 0;
    bool empty = from == to;
    int r = expected_rec(k, from, to, &want);

    if (r < 0)
        return ipam_oom(err);
    if (sh && sh->valid && same_rec(&sh->rec, &want)) {
        ipam_handle_rec_clear(&want);
        return 0;
    }
    r = k->repair ? rewrite_handle(k, id, sh, &want, err) : 0;
    ipam_handle_rec_clear(&want);
    if (r == -EAGAIN)
        return r;
    if (empty)
        return add_problem(k, TBY_IPAM_HANDLE_WITHOUT_ADDRESSES, (struct where){ .handle = id },
                           k->repair && r == 0, "handle %s: its record counts %llu "
                           "address(es), but no block holds any for it%s", id,
                           (unsigned long long)have, repair_note(k, r));
    return add_problem(k, TBY_IPAM_HANDLE_MISMATCH, (struct where){ .handle = id },
                       k->repair && r == 0, "handle %s: %s, but the blocks hold %zu "
                       "address(es) for it%s", id,
                       !sh ? "it has no record" : sh->valid ? "its record disagrees"
                                                            : "its record is malformed",
                       to - from, repair_note(k, r));
}

/* Walks the handle records and the allocation groups together, both sorted by handle. */
static int check_handles(struct checker *k, struct tby_error *err)
{
    size_t h = 0, a = 0;
    int r = 0;

    while (r == 0 && (h < k->n_handles || a < k->n_allocs)) {
        size_t end = a;
        int c;

        while (end < k->n_allocs && strcmp(k->allocs[end].handle, k->allocs[a].handle) == 0)
            end++;
        c = h >= k->n_handles ? 1 : a >= k->n_allocs ? -1
                                  : strcmp(k->handles[h].id, k->allocs[a].handle);
        if (c < 0)
            r = check_handle(k, k->handles[h].id, &k->handles[h], a, a, err), h++;
        else if (c > 0)
            r = check_handle(k, k->allocs[a].handle, NULL, a, end, err), a = end;
        else
            r = check_handle(k, k->handles[h].id, &k->handles[h], a, end, err), h++, a = end;
    }
    return r;
}

/* ---- the check -------------------------------------------------------------------------- */

static int run_checks(struct checker *k, struct tby_error *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < k->n_blocks; i++)
        r = check_block_pool(k, &k->blocks[i], err);
    for (size_t i = 0; r == 0 && i < k->n_blocks; i++)
        r = check_block_valid(k, &k->blocks[i], err);
    for (size_t i = 0; r == 0 && i < k->n_blocks; i++)
        r = check_block_aff(k, &k->blocks[i], err);
    for (size_t i = 0; r == 0 && i < k->n_affs; i++)
        r = check_aff_record(k, &k->affs[i], err);
    if (r == 0)
        r = check_handles(k, err);
    for (size_t i = 0; r == 0 && i < k->n_allocs; i++)
        r = check_leak(k, &k->allocs[i], err);
    for (size_t i = 0; r == 0 && i < k->n_used; i++)
        r = check_used(k, &k->used[i]);
    return r == -ENOMEM ? ipam_oom(err) : r;
}

int tby_ipam_check(struct tby_ipam *ipam, bool repair, struct tby_ipam_report *out,
                   struct tby_error *err)
{
    struct checker k = { .ipam = ipam, .repair = repair, .out = out };
    int r = ipam_refresh(ipam, err);

    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = load_snapshot(&k, err);
    if (r == 0)
        r = collect_allocs(&k, err);
    if (r == 0)
        r = load_used(&k, err);
    if (r == 0) {
        out->n_blocks = k.n_blocks;
        out->n_handles = k.n_handles;
        out->n_allocations = k.n_allocs;
        r = run_checks(&k, err);
    }
    checker_clear(&k);
    if (r < 0)
        tby_ipam_report_clear(out);
    return r;
}
