/* ipam_check.c — the consistency check behind `tabbyctl ipam check`: one snapshot of
 * every IPAM record (a single range read), compared with itself and with the
 * WorkloadEndpoints; optionally repaired, each repair a compare-and-swap against the
 * snapshot so nothing that changed meanwhile is overwritten. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    struct tby_ip *wep_ips;         /* sorted */
    size_t n_wep_ips;
};

const char *tby_ipam_problem_name(enum tby_ipam_problem_kind kind)
{
    static const char *const names[] = {
        [TBY_IPAM_LEAKED_ADDRESS] = "leaked address",
        [TBY_IPAM_BLOCK_WITHOUT_POOL] = "block without a pool",
        [TBY_IPAM_HANDLE_WITHOUT_ADDRESSES] = "handle without addresses",
        [TBY_IPAM_HANDLE_MISMATCH] = "handle record mismatch",
        [TBY_IPAM_AFFINITY_MISMATCH] = "affinity record mismatch",
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
    free(k->blocks);
    free(k->handles);
    free(k->affs);
    free(k->allocs);
    free(k->wep_ips);
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

static int commit_repair(struct checker *k, struct tby_txn *txn, struct tby_error *err)
{
    struct tby_error ignored = { 0 };
    int r = tby_store_commit(k->ipam->store, txn, NULL, &ignored);

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
    int r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b->blk, err);

    if (r < 0)
        return r;
    b->kv = kv;
    k->n_blocks++;
    return 0;
}

static int load_handle(struct checker *k, const struct tby_kv *kv, struct tby_error *err)
{
    struct snap_handle *h = &k->handles[k->n_handles];
    int r = ipam_handle_decode(kv->value, kv->value_len, kv->key, &h->rec, err);

    if (r < 0)
        return r;
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

        if (strncmp(kv->key, IPAM_BLOCKS, strlen(IPAM_BLOCKS)) == 0)
            r = load_block(k, kv, err);
        else if (strncmp(kv->key, IPAM_HANDLES, strlen(IPAM_HANDLES)) == 0)
            r = load_handle(k, kv, err);
        else if (strncmp(kv->key, IPAM_AFFINITIES, strlen(IPAM_AFFINITIES)) == 0) {
            k->affs[k->n_affs].kv = kv;
            k->affs[k->n_affs].valid = ipam_aff_decode(kv, &k->affs[k->n_affs].aff) == 0;
            k->n_affs++;
        }
    }
    return r;
}

static int cmp_ip(const void *a, const void *b)
{
    return tby_ip_compare(a, b);
}

static int load_weps(struct checker *k, struct tby_error *err)
{
    struct tby_resource_list weps;
    size_t n = 0;
    int r = tby_catalog_list(k->ipam->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT), NULL,
                             &weps, err);

    if (r < 0)
        return tby_error_prefix(err, "reading WorkloadEndpoints");
    for (size_t i = 0; i < weps.n; i++)
        n += weps.items[i]->spec.wep->ip_networks.n;
    k->wep_ips = calloc(n + 1, sizeof(*k->wep_ips));
    if (!k->wep_ips)
        r = ipam_oom(err);
    for (size_t i = 0; r == 0 && i < weps.n; i++) {
        const struct tby_cidr_list *nets = &weps.items[i]->spec.wep->ip_networks;

        for (size_t j = 0; j < nets->n; j++)
            k->wep_ips[k->n_wep_ips++] = nets->items[j].ip;
    }
    tby_resource_list_clear(&weps);
    qsort(k->wep_ips, k->n_wep_ips, sizeof(*k->wep_ips), cmp_ip);
    return r;
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
            if (ipam_block_owner(b, ord))
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

static int cmp_aff_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct snap_aff *)elem)->kv->key);
}

static const struct snap_aff *find_aff(const struct checker *k, const char *key)
{
    return bsearch(key, k->affs, k->n_affs, sizeof(*k->affs), cmp_aff_key);
}

/* ---- leaks ------------------------------------------------------------------------------ */

static int check_leak(struct checker *k, const struct alloc_ref *ref, struct tby_error *err)
{
    const struct ipam_block *b = k->blocks[ref->block].blk;
    const struct ipam_attr *a = ipam_block_owner(b, ref->ord);
    struct tby_ip ip = ipam_block_ip(b, ref->ord);
    char text[TBY_IP_STRLEN];
    size_t released = 0;
    int r = 0;

    if (!a->namespace || !a->pod ||
        bsearch(&ip, k->wep_ips, k->n_wep_ips, sizeof(ip), cmp_ip))
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

/* ---- blocks and their affinity records -------------------------------------------------- */

static int repair_orphan_block(struct checker *k, const struct snap_block *sb,
                               struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    _cleanup_free_ char *aff = sb->blk->node ? ipam_affinity_key(sb->blk->node, &sb->blk->cidr)
                                             : NULL;

    if (!txn || (sb->blk->node && !aff) || tby_txn_compare(txn, sb->kv->key, sb->kv->mod_rev) ||
        tby_txn_delete(txn, sb->kv->key) || (aff && tby_txn_delete(txn, aff)))
        return ipam_oom(err);
    return commit_repair(k, txn, err);
}

static int check_block_pool(struct checker *k, const struct snap_block *sb, struct tby_error *err)
{
    char cidr[TBY_CIDR_STRLEN];
    uint32_t in_use = ipam_block_in_use(sb->blk);
    int r = -1;

    if (ipam_pool_for_block(k->ipam, &sb->blk->cidr))
        return 0;
    if (k->repair && in_use == 0)
        r = repair_orphan_block(k, sb, err);
    if (r == -EAGAIN)
        return r;
    return add_problem(k, TBY_IPAM_BLOCK_WITHOUT_POOL, (struct where){ .block = &sb->blk->cidr },
                       r == 0, "block %s (node %s, %u in use): no IPPool contains it%s",
                       tby_cidr_format(&sb->blk->cidr, cidr),
                       sb->blk->node ? sb->blk->node : "none", in_use,
                       in_use ? (k->repair ? " (kept: release its addresses first)" : "")
                              : repair_note(k, r));
}

static int rewrite_aff(struct checker *k, const struct snap_block *sb, const char *key,
                       const struct snap_aff *sa, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    _cleanup_free_ char *value = NULL;
    size_t len = 0;

    value = ipam_aff_encode(sb->blk, &len);
    if (!txn || !value || tby_txn_compare(txn, sb->kv->key, sb->kv->mod_rev) ||
        tby_txn_compare(txn, key, sa ? sa->kv->mod_rev : 0) ||
        tby_txn_put(txn, key, value, len))
        return ipam_oom(err);
    return commit_repair(k, txn, err);
}

static int check_block_aff(struct checker *k, const struct snap_block *sb, struct tby_error *err)
{
    _cleanup_free_ char *key = NULL;
    const struct snap_aff *sa;
    char cidr[TBY_CIDR_STRLEN];
    int r = 0;

    tby_cidr_format(&sb->blk->cidr, cidr);
    if (!sb->blk->node)
        return add_problem(k, TBY_IPAM_AFFINITY_MISMATCH, (struct where){ .block = &sb->blk->cidr },
                           false, "block %s has no affinity", cidr);
    key = ipam_affinity_key(sb->blk->node, &sb->blk->cidr);
    if (!key)
        return ipam_oom(err);
    sa = find_aff(k, key);
    if (sa && sa->valid && sa->aff.free == sb->blk->n_free)
        return 0;
    if (k->repair)
        r = rewrite_aff(k, sb, key, sa, err);
    if (r == -EAGAIN)
        return r;
    return add_problem(k, TBY_IPAM_AFFINITY_MISMATCH, (struct where){ .block = &sb->blk->cidr },
                       k->repair && r == 0, "block %s: its affinity record for node %s %s%s",
                       cidr, sb->blk->node,
                       !sa ? "is missing" : !sa->valid ? "is malformed" : "counts other free "
                       "addresses than the block", repair_note(k, r));
}

/* An affinity record must belong to a block affine to the record's node. */
static int check_aff_record(struct checker *k, const struct snap_aff *sa, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = NULL;
    const struct snap_block *sb = sa->valid ? find_block(k, &sa->aff.cidr) : NULL;
    int r = 0;

    if (sb && sb->blk->node && strcmp(sb->blk->node, sa->aff.node) == 0)
        return 0;
    if (!sa->valid && sb == NULL) {
        /* Malformed: its block (if any) is judged by check_block_aff. */
        struct tby_cidr cidr;
        const char *name = strrchr(sa->kv->key, '/');

        if (name && ipam_block_name_parse(name + 1, &cidr) == 0 && find_block(k, &cidr))
            return 0;
    }
    if (k->repair) {
        txn = tby_txn_new();
        if (!txn || tby_txn_compare(txn, sa->kv->key, sa->kv->mod_rev) ||
            (sb && tby_txn_compare(txn, sb->kv->key, sb->kv->mod_rev)) ||
            tby_txn_delete(txn, sa->kv->key))
            return ipam_oom(err);
        r = commit_repair(k, txn, err);
    }
    if (r == -EAGAIN)
        return r;
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
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;

        for (size_t j = 0; j < b->n && !found; j++)
            found = tby_cidr_equal(&a->items[i].block, &b->items[j].block) &&
                    a->items[i].count == b->items[j].count;
        if (!found)
            return false;
    }
    return true;
}

/* Compares every block the handle's truth depends on: those it holds addresses in and
 * those its record names. */
static int compare_blocks(const struct checker *k, struct tby_txn *txn,
                          const struct ipam_handle_rec *a, const struct ipam_handle_rec *b)
{
    const struct ipam_handle_rec *recs[2] = { a, b };

    for (int r = 0; r < 2; r++) {
        for (size_t i = 0; recs[r] && i < recs[r]->n; i++) {
            const struct snap_block *sb = find_block(k, &recs[r]->items[i].block);
            _cleanup_free_ char *key = ipam_block_key(&recs[r]->items[i].block);

            if (!key || tby_txn_compare(txn, key, sb ? sb->kv->mod_rev : 0) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int rewrite_handle(struct checker *k, const char *id, const struct snap_handle *sh,
                          const struct ipam_handle_rec *want, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    _cleanup_free_ char *key = ipam_handle_key(id);
    _cleanup_free_ char *value = NULL;
    size_t len = 0;

    if (!txn || !key || tby_txn_compare(txn, key, sh ? sh->kv->mod_rev : 0) < 0 ||
        compare_blocks(k, txn, want, sh ? &sh->rec : NULL) < 0)
        return ipam_oom(err);
    if (want->n == 0 ? tby_txn_delete(txn, key) < 0
                     : !(value = ipam_handle_encode(id, want, &len)) ||
                           tby_txn_put(txn, key, value, len) < 0)
        return ipam_oom(err);
    return commit_repair(k, txn, err);
}

/* One handle: its record (sh, may be NULL) against its allocations allocs[from, to). */
static int check_handle(struct checker *k, const char *id, const struct snap_handle *sh,
                        size_t from, size_t to, struct tby_error *err)
{
    struct ipam_handle_rec want;
    uint64_t have = sh ? ipam_handle_total(&sh->rec) : 0;
    bool empty = from == to;
    int r = expected_rec(k, from, to, &want);

    if (r < 0)
        return ipam_oom(err);
    if (sh && same_rec(&sh->rec, &want)) {
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
                       "address(es) for it%s", id, sh ? "its record disagrees" : "it has no record",
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
        r = check_block_aff(k, &k->blocks[i], err);
    for (size_t i = 0; r == 0 && i < k->n_affs; i++)
        r = check_aff_record(k, &k->affs[i], err);
    if (r == 0)
        r = check_handles(k, err);
    for (size_t i = 0; r == 0 && i < k->n_allocs; i++)
        r = check_leak(k, &k->allocs[i], err);
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
        r = load_weps(&k, err);
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
