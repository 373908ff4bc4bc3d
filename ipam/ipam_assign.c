/* ipam_assign.c — allocation: automatic (affine block → claim a block → borrow → fail)
 * and of given addresses. One request is one transaction, whatever number of addresses
 * and families it asks for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/hmap.h"
#include "tabby/cleanup.h"
#include "ipam_internal.h"

/* Blocks of a pool beyond this many are not searched (IPv6 pools hold far more blocks
 * than any cluster claims; the search needs 64-bit offsets). */
#define MAX_BLOCK_INDEX_BITS 40

struct assign_ctx {
    const struct tby_ipam_request *req;
    struct ipam_attr attr;
    char stamp[48];                 /* attr.timestamp's text */
    struct tby_ipam_result res;
    struct ipam_aff_list mine;      /* this node's blocks, read once per attempt */
    bool mine_read;
    struct ipam_aff_list all;       /* every block, read when claiming or borrowing */
    bool all_read;
    unsigned held[2];               /* IPv4, IPv6 addresses the handle holds already */
    bool trial;                     /* tby_ipam_try_assign: decide, commit nothing */
};

static void ctx_reset(struct assign_ctx *c)
{
    tby_ipam_result_clear(&c->res);
    ipam_aff_list_clear(&c->mine);
    ipam_aff_list_clear(&c->all);
    c->mine_read = c->all_read = false;
    c->held[0] = c->held[1] = 0;
}

static int family_slot(int family)
{
    return family == 6;
}

/* Keeps the affinities to allocate from: confirmed ones, and (where a transaction writes
 * the record confirmed with the block) pending ones whose block proves to be the node's.
 * Elsewhere a pending one is a claim that may still fail; one being given up is going. */
static void keep_usable(struct ipam_aff_list *list, bool multi)
{
    size_t n = 0;

    for (size_t i = 0; i < list->n; i++) {
        const struct ipam_aff *a = &list->items[i];

        if (a->usable && (a->state == IPAM_AFF_CONFIRMED ||
                          (multi && a->state == IPAM_AFF_PENDING)))
            list->items[n++] = *a;
        else
            free(a->node);
    }
    list->n = n;
}

static bool any_unconfirmed(const struct ipam_aff_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i].state != IPAM_AFF_CONFIRMED)
            return true;
    return false;
}

static int read_mine(struct work *w, struct assign_ctx *c, struct tby_error *err)
{
    bool changed = false;
    int r;

    if (c->mine_read)
        return 0;
    /* The claims record first: a block another process claims for this node after it
     * was read makes this attempt's own claim conflict, so the limit holds. */
    r = work_read_claims(w, err);
    if (r < 0)
        return r;
    c->mine_read = true;
    r = ipam_aff_list_read(w->ipam->store, w->ipam->node, &c->mine, err);
    /* Holding the node's lock, this process knows an unconfirmed affinity of the node
     * to be left by one killed half way: finish or undo it, then read again. */
    if (r == 0 && w->ipam->lock_fd >= 0 && any_unconfirmed(&c->mine))
        r = ipam_resume_affinities(w->ipam, &c->mine, &changed, err);
    if (r == 0 && changed) {
        ipam_aff_list_clear(&c->mine);
        r = ipam_aff_list_read(w->ipam->store, w->ipam->node, &c->mine, err);
    }
    keep_usable(&c->mine, w->ipam->multi);
    return r;
}

static int read_all(struct work *w, struct assign_ctx *c, struct tby_error *err)
{
    if (c->all_read)
        return 0;
    c->all_read = true;
    return ipam_space_read(w->ipam, &c->all, err);
}

static bool in_pool(const struct ipam_pool *p, const struct tby_cidr *block)
{
    return block->prefix_len == p->spec->block_size &&
           tby_cidr_contains_cidr(&p->spec->cidr, block);
}

/* A block already in the working set, without reading it. */
static struct work_block *peek(struct work *w, const struct tby_cidr *cidr)
{
    for (size_t i = 0; i < w->n_blocks; i++)
        if (tby_cidr_equal(&w->blocks[i]->cidr, cidr))
            return w->blocks[i];
    return NULL;
}

/* Whether an affinity record promises room, judged by the working set once read (a
 * record without a free count promises it until its block is read). */
static bool may_have_room(struct work *w, const struct ipam_aff *aff)
{
    struct work_block *wb = peek(w, &aff->cidr);

    if (wb)
        return wb->blk && !wb->removed && wb->blk->n_free > 0 && ipam_block_usable(wb->blk);
    return aff->free > 0;
}

static bool affine_to_me(const struct work *w, const struct work_block *wb)
{
    return wb->blk && !wb->removed && wb->blk->node && strcmp(wb->blk->node, w->ipam->node) == 0;
}

/* The first free ordinal, in the order the block hands them out, that no IPReservation
 * holds; false when every free one is reserved. */
static bool next_unreserved(const struct tby_ipam *ipam, const struct ipam_block *b,
                            uint32_t *ord)
{
    for (uint32_t i = 0; i < b->n_free; i++) {
        struct tby_ip ip = ipam_block_ip(b, b->free_list[i]);

        if (!ipam_reserved(ipam, &ip)) {
            *ord = b->free_list[i];
            return true;
        }
    }
    return false;
}

/* Takes up to *need addresses from the block, passing over reserved ones. */
static int take_from(struct work *w, struct assign_ctx *c, struct work_block *wb,
                     unsigned *need, struct tby_error *err)
{
    bool reserved = ipam_reserved_in(w->ipam, &wb->cidr);

    if (*need > 0 && wb->blk->n_free > 0 && affine_to_me(w, wb)) {
        w->ipam->hint[family_slot(wb->cidr.ip.family)] = wb->cidr;
        w->ipam->has_hint[family_slot(wb->cidr.ip.family)] = true;
    }
    while (*need > 0 && wb->blk->n_free > 0 && ipam_block_usable(wb->blk)) {
        struct tby_ip ip;
        uint32_t given = 0, ord;
        int r;

        if (reserved && !next_unreserved(w->ipam, wb->blk, &given))
            break;
        r = work_take(w, wb, &c->attr, reserved ? &given : NULL, &ord, err);

        if (r < 0)
            return r;
        ip = ipam_block_ip(wb->blk, ord);
        if (ipam_result_push(&c->res, &ip, &wb->cidr, false) < 0)
            return ipam_oom(err);
        (*need)--;
    }
    return 0;
}

static int take_from_record(struct work *w, struct assign_ctx *c, const struct ipam_aff *aff,
                            unsigned *need, struct tby_error *err)
{
    struct work_block *wb;
    int r;

    if (!may_have_room(w, aff))
        return 0;
    r = work_block(w, &aff->cidr, &wb, err);
    if (r < 0 || !wb->blk || wb->removed)
        return r;
    /* One of this node's records stands for its block only while the block says so. */
    if (ipam_same_str(aff->node, w->ipam->node) && !affine_to_me(w, wb))
        return 0;
    return take_from(w, c, wb, need, err);
}

/* ---- 1: blocks affine to this node ------------------------------------------------------ */

/* The affine block this context used last, tried before reading the node's list: a
 * node fills one block at a time, so this is usually the one with room. */
static int from_hint(struct work *w, struct assign_ctx *c, int family,
                     const struct ipam_cands *pools, unsigned *need, struct tby_error *err)
{
    struct tby_ipam *ipam = w->ipam;
    struct work_block *wb;
    bool usable = false;
    int r;

    if (!ipam->has_hint[family_slot(family)])
        return 0;
    for (size_t p = 0; p < pools->n; p++)
        usable |= in_pool(pools->items[p], &ipam->hint[family_slot(family)]);
    if (!usable)
        return 0;
    r = work_block_trusted(w, &ipam->hint[family_slot(family)], &wb, err);
    if (r < 0 || !affine_to_me(w, wb))
        return r;
    return take_from(w, c, wb, need, err);
}

static int from_affine(struct work *w, struct assign_ctx *c, int family,
                       const struct ipam_cands *pools, unsigned *need, struct tby_error *err)
{
    int r = from_hint(w, c, family, pools, need, err);

    if (r == 0 && *need > 0)
        r = read_mine(w, c, err);

    for (size_t p = 0; r == 0 && p < pools->n && *need > 0; p++)
        for (size_t i = 0; r == 0 && i < c->mine.n && *need > 0; i++)
            if (in_pool(pools->items[p], &c->mine.items[i].cidr))
                r = take_from_record(w, c, &c->mine.items[i], need, err);
    return r;
}

/* ---- 2: claiming a new block ------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

struct index_range {
    uint64_t from, to;
};

struct block_space {
    const struct ipam_pool *pool;
    unsigned host_bits;             /* addresses per block: 1 << host_bits */
    uint64_t count;                 /* blocks searched */
    uint64_t *used;                 /* sorted indices of blocks that exist */
    size_t n_used;
    size_t cap;
    struct index_range *reserved;   /* blocks wholly reserved (IPReservations) */
    size_t n_reserved, cap_reserved;
};

static int mark_used(struct block_space *s, uint64_t index)
{
    if (TBY_GROW(s->used, s->cap, s->n_used + 1) < 0)
        return -ENOMEM;
    s->used[s->n_used++] = index;
    return 0;
}

/* Marks the pool's block indices that an existing block overlaps: one for a block of the
 * pool's size, and every one it covers for a block of another size (left by a pool that
 * was deleted and created again with another blockSize), so no new block overlaps it.
 * Overlapping CIDRs contain one another. */
static int note_used(struct block_space *s, const struct tby_cidr *block)
{
    const struct tby_cidr *pool = &s->pool->spec->cidr;
    uint64_t from = 0, to = s->count - 1, off;
    int r = 0;

    if (!tby_cidr_overlaps(pool, block))
        return 0;
    if (!tby_cidr_contains_cidr(block, pool)) {
        off = tby_ip_offset(&pool->ip, &block->ip);
        if (off == UINT64_MAX)
            return 0;
        from = off >> s->host_bits;
        to = (off + tby_cidr_size(block) - 1) >> s->host_bits;
    }
    for (uint64_t i = from; r == 0 && i <= to && i < s->count; i++)
        r = mark_used(s, i);
    return r;
}

/* A block wholly reserved is passed over as Calico passes over it (kept as a range of
 * indices: a reservation may cover more blocks than a list should hold); one reserved in
 * part is claimed, and its other addresses handed out. */
static int note_reserved(struct block_space *s, const struct tby_cidr *res)
{
    const struct tby_cidr *pool = &s->pool->spec->cidr;
    unsigned block_size = (unsigned)s->pool->spec->block_size, blocks_bits;
    struct index_range range = { 0, s->count - 1 };
    uint64_t off;

    if (res->prefix_len > block_size || !tby_cidr_overlaps(pool, res))
        return 0;
    if (!tby_cidr_contains_cidr(res, pool)) {
        off = tby_ip_offset(&pool->ip, &res->ip);
        if (off == UINT64_MAX || (off >> s->host_bits) >= s->count)
            return 0;
        range.from = off >> s->host_bits;
        blocks_bits = block_size - res->prefix_len;
        if (blocks_bits < MAX_BLOCK_INDEX_BITS &&
            range.from + (1ULL << blocks_bits) - 1 < s->count - 1)
            range.to = range.from + (1ULL << blocks_bits) - 1;
    }
    if (TBY_GROW(s->reserved, s->cap_reserved, s->n_reserved + 1) < 0)
        return -ENOMEM;
    s->reserved[s->n_reserved++] = range;
    return 0;
}

static const struct index_range *reserved_at(const struct block_space *s, uint64_t index)
{
    for (size_t i = 0; i < s->n_reserved; i++)
        if (s->reserved[i].from <= index && index <= s->reserved[i].to)
            return &s->reserved[i];
    return NULL;
}

/* Every block that exists over the pool: the affinity records, and what this attempt has
 * in hand (created blocks, and stored blocks found without their record). */
static int space_init(struct work *w, struct assign_ctx *c, const struct ipam_pool *p,
                      struct block_space *s, struct tby_error *err)
{
    unsigned bits = (unsigned)(p->spec->block_size - p->spec->cidr.prefix_len);
    int r = 0;

    memset(s, 0, sizeof(*s));
    s->pool = p;
    s->host_bits = tby_ip_bits(&p->spec->cidr.ip) - (unsigned)p->spec->block_size;
    s->count = 1ULL << (bits < MAX_BLOCK_INDEX_BITS ? bits : MAX_BLOCK_INDEX_BITS);
    for (size_t i = 0; r == 0 && i < c->all.n; i++)
        r = note_used(s, &c->all.items[i].cidr);
    for (size_t i = 0; r == 0 && i < w->n_blocks; i++)
        if (w->blocks[i]->blk || w->blocks[i]->mod_rev)
            r = note_used(s, &w->blocks[i]->cidr);
    for (size_t i = 0; r == 0 && i < w->ipam->n_reserved; i++)
        r = note_reserved(s, &w->ipam->reserved[i]);
    if (r < 0)
        return ipam_oom(err);
    if (s->n_used)
        qsort(s->used, s->n_used, sizeof(*s->used), cmp_u64);
    return 0;
}

/* The first block index that no block occupies, from a start that a hash of the node's
 * name gives, so that nodes spread over a pool instead of all racing for the same block. */
static bool space_find(const struct block_space *s, const char *node, struct tby_cidr *out)
{
    uint64_t start = tby_hash_str(node) % s->count, k = 0;

    /* Each probe that hits a used index consumes one of them, and one that hits a
     * reserved range skips the range (entered in its middle at most once, at the start),
     * so at most n_used + 2 n_reserved + 1 probes find a free index (or prove there is
     * none). */
    for (size_t probe = 0; probe <= s->n_used + 2 * s->n_reserved && k < s->count; probe++) {
        uint64_t index = (start + k) % s->count;
        const struct index_range *skip = reserved_at(s, index);

        if (skip) {
            k += skip->to - index + 1;
            continue;
        }
        k++;
        if (s->n_used && bsearch(&index, s->used, s->n_used, sizeof(index), cmp_u64))
            continue;
        out->ip = tby_ip_add(&s->pool->spec->cidr.ip, index << s->host_bits);
        out->prefix_len = (uint8_t)s->pool->spec->block_size;
        return true;
    }
    return false;
}

static int find_free_block(struct work *w, struct assign_ctx *c, const struct ipam_cands *pools,
                           struct tby_cidr *out, bool *found, struct tby_error *err)
{
    int r = read_all(w, c, err);

    *found = false;
    for (size_t p = 0; r == 0 && p < pools->n && !*found; p++) {
        struct block_space s;

        r = space_init(w, c, pools->items[p], &s, err);
        if (r == 0)
            *found = space_find(&s, w->ipam->node, out);
        free(s.used);
        free(s.reserved);
    }
    return r;
}

static size_t blocks_held(struct work *w, struct assign_ctx *c, const struct ipam_cands *pools)
{
    size_t n = 0;

    for (size_t i = 0; i < c->mine.n; i++)
        for (size_t p = 0; p < pools->n; p++)
            n += in_pool(pools->items[p], &c->mine.items[i].cidr);
    for (size_t i = 0; i < w->n_blocks; i++)
        for (size_t p = 0; p < pools->n; p++)
            n += w->blocks[i]->mod_rev == 0 && w->blocks[i]->blk != NULL &&
                 in_pool(pools->items[p], &w->blocks[i]->cidr);
    return n;
}

static int claim(struct work *w, struct assign_ctx *c, const struct ipam_cands *pools,
                 unsigned *need, bool *at_limit, struct tby_error *err)
{
    int max = ipam_max_blocks(&w->ipam->config);
    int r = 0;

    while (r == 0 && *need > 0) {
        struct work_block *wb;
        struct tby_cidr cidr;
        bool found;

        if (blocks_held(w, c, pools) >= (size_t)max) {
            *at_limit = true;
            return 0;
        }
        r = find_free_block(w, c, pools, &cidr, &found, err);
        if (r < 0 || !found)
            return r;
        r = work_block(w, &cidr, &wb, err);
        /* A stored block without its affinity record is now in the working set, so the
         * next search passes over it. */
        if (r < 0 || wb->blk)
            continue;
        if (work_create_block(w, wb, w->ipam->node) < 0)
            return ipam_oom(err);
        r = take_from(w, c, wb, need, err);
    }
    return r;
}

/* ---- 3: borrowing from other nodes' blocks ----------------------------------------------- */

static int borrow(struct work *w, struct assign_ctx *c, const struct ipam_cands *pools,
                  unsigned *need, struct tby_error *err)
{
    int r = read_all(w, c, err);
    size_t start = c->all.n ? tby_hash_str(w->ipam->node) % c->all.n : 0;

    for (size_t p = 0; r == 0 && p < pools->n && *need > 0; p++) {
        for (size_t k = 0; r == 0 && k < c->all.n && *need > 0; k++) {
            const struct ipam_aff *aff = &c->all.items[(start + k) % c->all.n];

            if (aff->usable && !ipam_same_str(aff->node, w->ipam->node) &&
                in_pool(pools->items[p], &aff->cidr))
                r = take_from_record(w, c, aff, need, err);
        }
    }
    return r;
}

/* ---- one family ------------------------------------------------------------------------ */

static int no_pool_error(struct tby_ipam *ipam, int family, const struct ipam_cands *pools,
                         unsigned use, struct tby_error *err)
{
    return tby_error_set(err, -ENOENT, "no %s IPPool can give node %s %s addresses%s%s%s",
                         ipam_family_name(family), ipam->node,
                         use == TBY_POOL_USE_TUNNEL ? "Tunnel" : "Workload",
                         pools->why[0] ? " (" : "", pools->why, pools->why[0] ? ")" : "");
}

static int exhausted_error(struct tby_ipam *ipam, int family, const struct ipam_cands *pools,
                           bool at_limit, struct tby_error *err)
{
    char tried[600] = "";
    size_t len = 0;

    for (size_t p = 0; p < pools->n && len < sizeof(tried) - 1; p++) {
        char cidr[TBY_CIDR_STRLEN];

        len += (size_t)snprintf(tried + len, sizeof(tried) - len, "%sIPPool %s (%s)",
                                p ? ", " : "", pools->items[p]->name,
                                tby_cidr_format(&pools->items[p]->spec->cidr, cidr));
    }
    if (at_limit)
        return tby_error_set(err, -ENOSPC, "no free %s address for node %s in %s: its blocks "
                             "are full and it holds maxBlocksPerHost (%d) blocks already",
                             ipam_family_name(family), ipam->node, tried,
                             ipam_max_blocks(&ipam->config));
    if (ipam->config.strict_affinity)
        return tby_error_set(err, -ENOSPC, "no free %s address for node %s in %s: its blocks "
                             "are full, no block is left to claim%s, and strictAffinity "
                             "forbids borrowing from other nodes' blocks",
                             ipam_family_name(family), ipam->node, tried,
                             ipam->config.auto_allocate_blocks ? ""
                                                               : " (autoAllocateBlocks is false)");
    return tby_error_set(err, -ENOSPC, "no free %s address for node %s in %s: the pools are "
                         "exhausted", ipam_family_name(family), ipam->node, tried);
}

static int assign_family(struct work *w, struct assign_ctx *c, int family, unsigned n,
                         const struct tby_strv *requested, struct tby_error *err)
{
    struct ipam_cands pools;
    unsigned use = c->req->use ? c->req->use : TBY_POOL_USE_WORKLOAD;
    bool at_limit = false;
    int r = ipam_candidates(w->ipam, family, use, requested, &pools, err);

    if (r < 0)
        return r;
    if (pools.n == 0)
        r = no_pool_error(w->ipam, family, &pools, use, err);
    if (r == 0)
        r = from_affine(w, c, family, &pools, &n, err);
    if (r == 0 && n > 0 && w->ipam->config.auto_allocate_blocks)
        r = claim(w, c, &pools, &n, &at_limit, err);
    if (r == 0 && n > 0 && !w->ipam->config.strict_affinity && !at_limit)
        r = borrow(w, c, &pools, &n, err);
    if (r == 0 && n > 0)
        r = exhausted_error(w->ipam, family, &pools, at_limit, err);
    ipam_cands_clear(&pools);
    return r;
}

/* ---- reusing what the handle holds --------------------------------------------------------- */

static int collect_held(struct work *w, struct assign_ctx *c, struct tby_error *err)
{
    int r = work_handle_ips(w, c->req->handle, &c->res, err);

    for (size_t i = 0; r == 0 && i < c->res.n; i++)
        c->held[family_slot(c->res.items[i].ip.family)]++;
    return r;
}

static int cmp_family(const void *a, const void *b)
{
    const struct tby_ipam_addr *x = a, *y = b;

    if (x->ip.family != y->ip.family)
        return x->ip.family - y->ip.family;
    return tby_ip_compare(&x->ip, &y->ip);
}

static int attempt_auto(struct work *w, void *opaque, struct tby_error *err)
{
    struct assign_ctx *c = opaque;
    const struct tby_ipam_request *req = c->req;
    int r = 0;

    ctx_reset(c);
    w->trial = c->trial;
    /* A pod's handle is new: not read, compared as absent. */
    w->new_handles = w->optimistic && !c->trial && !req->reuse_handle;
    if (!w->ipam->settings_trusted || !w->ipam->reserved_read)
        r = ipam_refresh_reservations(w->ipam, err);
    if (r == 0 && req->reuse_handle)
        r = collect_held(w, c, err);
    if (r == 0 && req->num_v4 > 0 && c->held[0] == 0)
        r = assign_family(w, c, 4, req->num_v4, req->v4_pools, err);
    if (r == 0 && req->num_v6 > 0 && c->held[1] == 0)
        r = assign_family(w, c, 6, req->num_v6, req->v6_pools, err);
    if (r == 0 && c->res.n)
        qsort(c->res.items, c->res.n, sizeof(*c->res.items), cmp_family);
    return r;
}

static int check_request(const struct tby_ipam *ipam, const char *handle,
                         const struct tby_ipam_attrs *attrs, struct tby_error *err)
{
    int r = 0;

    if (!ipam->node)
        return tby_error_set(err, -EINVAL, "allocating addresses needs a node name");
    if (attrs && attrs->namespace)
        r = ipam_check_name("namespace", attrs->namespace, err);
    if (r == 0 && attrs && attrs->pod)
        r = ipam_check_name("pod name", attrs->pod, err);
    return r < 0 ? r : ipam_check_name("handle", handle, err);
}

/* An allocation's attributes as Calico's write them: this node, the pod and the time of a
 * pod's, the type of a tunnel address's. The strings stay the caller's. */
static struct ipam_attr make_attr(const struct tby_ipam *ipam, const char *handle,
                                  const struct tby_ipam_attrs *attrs, char stamp[48])
{
    struct ipam_attr a = { .handle = (char *)handle, .node = ipam->node };

    if (attrs) {
        a.namespace = (char *)attrs->namespace;
        a.pod = (char *)attrs->pod;
        a.type = (char *)attrs->type;
    }
    if (a.namespace || a.pod)
        a.timestamp = ipam_time_go(ipam_now_ns(), stamp);
    return a;
}

int tby_ipam_auto_assign(struct tby_ipam *ipam, const struct tby_ipam_request *req,
                         struct tby_ipam_result *out, struct tby_error *err)
{
    struct assign_ctx c = { .req = req };
    int r = check_request(ipam, req->handle, &req->attrs, err);

    c.attr = make_attr(ipam, req->handle, &req->attrs, c.stamp);
    memset(out, 0, sizeof(*out));
    if (r == 0)
        r = ipam_run(ipam, "assigning addresses", true, attempt_auto, &c, err);
    if (r == 0)
        *out = c.res;
    else
        tby_ipam_result_clear(&c.res);
    c.res = (struct tby_ipam_result){ 0 };
    ctx_reset(&c);
    return r;
}

int tby_ipam_try_assign(struct tby_ipam *ipam, const struct tby_ipam_request *req,
                        struct tby_error *err)
{
    struct assign_ctx c = { .req = req, .trial = true };
    int r = check_request(ipam, req->handle, &req->attrs, err);

    c.attr = make_attr(ipam, req->handle, &req->attrs, c.stamp);
    if (r == 0)
        r = ipam_run(ipam, "trying an assignment", false, attempt_auto, &c, err);
    ctx_reset(&c);
    return r;
}

/* ---- given addresses ------------------------------------------------------------------------ */

struct given_ctx {
    const struct tby_ip *ips;
    size_t n;
    const char *handle;
    struct ipam_attr attr;
    char stamp[48];
    unsigned use;
};

static int check_given_pool(const struct tby_ipam *ipam, const struct tby_ip *ip, unsigned use,
                            const struct ipam_pool **out, struct tby_error *err)
{
    char text[TBY_IP_STRLEN];
    const struct ipam_pool *p = ipam_pool_for_ip(ipam, ip);

    tby_ip_format(ip, text);
    if (!p)
        return tby_error_set(err, -EINVAL, "%s is not in any IPPool", text);
    if (p->spec->disabled)
        return tby_error_set(err, -EINVAL, "%s is in IPPool %s, which is disabled", text,
                             p->name);
    if (!(p->spec->allowed_uses & use))
        return tby_error_set(err, -EINVAL, "%s is in IPPool %s, which does not allow %s "
                             "addresses", text, p->name,
                             use == TBY_POOL_USE_TUNNEL ? "Tunnel" : "Workload");
    *out = p;
    return 0;
}

static int in_use_error(const struct tby_ip *ip, const struct ipam_attr *a,
                        struct tby_error *err)
{
    char text[TBY_IP_STRLEN];

    if (!a)
        return tby_error_set(err, -EEXIST, "%s was released a moment ago and is cooling "
                             "down", tby_ip_format(ip, text));
    return tby_error_set(err, -EEXIST, "%s is already in use (handle %s%s%s%s%s, node %s)",
                         tby_ip_format(ip, text), a->handle ? a->handle : "none",
                         a->pod ? ", pod " : "", a->namespace ? a->namespace : "",
                         a->pod ? "/" : "", a->pod ? a->pod : "", a->node ? a->node : "unknown");
}

/* No existing block may overlap a new one (a block of a pool deleted and created again
 * with another blockSize could). */
static int check_no_overlap(struct work *w, const struct tby_cidr *cidr, struct tby_error *err)
{
    struct ipam_aff_list all;
    char mine[TBY_CIDR_STRLEN], theirs[TBY_CIDR_STRLEN];
    int r = ipam_space_read(w->ipam, &all, err);

    for (size_t i = 0; r == 0 && i < all.n; i++)
        if (tby_cidr_overlaps(&all.items[i].cidr, cidr))
            r = tby_error_set(err, -EEXIST, "block %s cannot be claimed: it overlaps block %s "
                              "(node %s), left by an IP pool of another block size; release "
                              "that block's addresses first", tby_cidr_format(cidr, mine),
                              tby_cidr_format(&all.items[i].cidr, theirs),
                              all.items[i].node ? all.items[i].node : "none");
    ipam_aff_list_clear(&all);
    return r;
}

/* The block that holds ip, existing (whatever its size) or claimed for this node. */
static int given_block(struct work *w, const struct ipam_pool *p, const struct tby_ip *ip,
                       struct work_block **out, struct tby_error *err)
{
    struct tby_cidr cidr = ipam_block_of(ip, p->spec->block_size);
    int r = work_block_for_ip(w, ip, out, err);

    if (r < 0 || *out)
        return r;
    r = work_block(w, &cidr, out, err);
    if (r == 0)
        r = check_no_overlap(w, &cidr, err);
    /* An address in a block nobody claimed yet: the block becomes this node's. */
    if (r == 0)
        r = work_read_claims(w, err);
    if (r == 0 && work_create_block(w, *out, w->ipam->node) < 0)
        r = ipam_oom(err);
    return r;
}

static int give_one(struct work *w, struct given_ctx *c, const struct tby_ip *ip,
                    struct tby_error *err)
{
    const struct ipam_pool *p = NULL;
    const struct ipam_attr *owner;
    struct work_block *wb;
    uint32_t ord;
    int r = check_given_pool(w->ipam, ip, c->use, &p, err);

    if (r == 0)
        r = given_block(w, p, ip, &wb, err);
    if (r < 0)
        return r;
    ipam_block_ordinal(wb->blk, ip, &ord);
    owner = ipam_block_owner(wb->blk, ord);
    if (owner && ipam_same_str(owner->handle, c->handle))
        return 0;
    if (!ipam_block_is_free(wb->blk, ord))
        return in_use_error(ip, owner, err);
    return work_take(w, wb, &c->attr, &ord, &ord, err);
}

static int attempt_given(struct work *w, void *opaque, struct tby_error *err)
{
    struct given_ctx *c = opaque;
    int r = 0;

    for (size_t i = 0; r == 0 && i < c->n; i++)
        r = give_one(w, c, &c->ips[i], err);
    return r;
}

int tby_ipam_assign_ips(struct tby_ipam *ipam, const struct tby_ip *ips, size_t n,
                        const char *handle, const struct tby_ipam_attrs *attrs, unsigned use,
                        struct tby_error *err)
{
    struct given_ctx c = {
        .ips = ips,
        .n = n,
        .handle = handle,
        .use = use ? use : TBY_POOL_USE_WORKLOAD,
    };
    int r = check_request(ipam, handle, attrs, err);

    c.attr = make_attr(ipam, handle, attrs, c.stamp);
    if (r < 0)
        return r;
    return ipam_run(ipam, "assigning given addresses", true, attempt_given, &c, err);
}
