/* ipam_release.c — release by handle and by address, and the housekeeping that gives up
 * the affinity of empty blocks whose node or pool is gone. Releasing what is free is a
 * no-op, so a repeated CNI DEL succeeds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ipam_internal.h"

struct release_ctx {
    const char *handle;             /* release by handle */
    const struct tby_ip *ips;       /* or these addresses */
    size_t n;
    const char *only_handle;        /* with ips: only while this handle holds them */
    const char *node;               /* housekeeping: this node's blocks (NULL: all) */
    size_t count;                   /* addresses released or blocks removed */
    size_t carried;                 /* released by an ordered commit cut short */
};

static int attempt_release_handle(struct work *w, void *opaque, struct tby_error *err)
{
    struct release_ctx *c = opaque;
    struct work_handle *wh;
    int r = work_handle(w, c->handle, &wh, err);

    c->count = c->carried;
    w->carried = &c->carried;
    /* The record is walked from a copy: releasing changes it. */
    for (size_t i = 0; r == 0 && i < wh->read.n; i++) {
        struct work_block *wb;
        uint32_t before;

        r = work_block(w, &wh->read.items[i].block, &wb, err);
        if (r < 0 || !wb->blk)
            continue;
        before = wb->released;
        r = work_release_handle(w, wb, c->handle, err);
        c->count += wb->released - before;
        if (r == 0 && wb->released > before)
            r = work_retire_if_empty(w, wb, err);
    }
    /* Whatever the record still counts, no block gives the handle: it goes. */
    if (r == 0 && wh->mod_rev) {
        ipam_handle_rec_clear(&wh->rec);
        wh->dirty = true;
    }
    return r;
}

int tby_ipam_release_handle(struct tby_ipam *ipam, const char *handle, size_t *released,
                            struct tby_error *err)
{
    struct release_ctx c = { .handle = handle };
    int r = ipam_check_name("handle", handle, err);

    if (r == 0)
        r = ipam_run(ipam, "releasing a handle", true, attempt_release_handle, &c, err);
    if (released)
        *released = r == 0 ? c.count : 0;
    return r;
}

static int release_one(struct work *w, struct release_ctx *c, const struct tby_ip *ip,
                       struct tby_error *err)
{
    const struct ipam_attr *owner;
    struct work_block *wb;
    uint32_t ord;
    int r = work_block_for_ip(w, ip, &wb, err);

    if (r < 0 || !wb || !ipam_block_ordinal(wb->blk, ip, &ord))
        return r;
    owner = ipam_block_owner(wb->blk, ord);
    if (!owner || (c->only_handle && !ipam_same_str(owner->handle, c->only_handle)))
        return 0;
    r = work_release(w, wb, ord, err);
    c->count++;
    return r < 0 ? r : work_retire_if_empty(w, wb, err);
}

static int attempt_release_ips(struct work *w, void *opaque, struct tby_error *err)
{
    struct release_ctx *c = opaque;
    int r = 0;

    c->count = c->carried;
    w->carried = &c->carried;
    for (size_t i = 0; r == 0 && i < c->n; i++)
        r = release_one(w, c, &c->ips[i], err);
    return r;
}

int tby_ipam_release_ips(struct tby_ipam *ipam, const struct tby_ip *ips, size_t n,
                         size_t *released, struct tby_error *err)
{
    struct release_ctx c = { .ips = ips, .n = n };
    int r = ipam_run(ipam, "releasing addresses", true, attempt_release_ips, &c, err);

    if (released)
        *released = r == 0 ? c.count : 0;
    return r;
}

int tby_ipam_release_ips_of(struct tby_ipam *ipam, const char *handle, const struct tby_ip *ips,
                            size_t n, size_t *released, struct tby_error *err)
{
    struct release_ctx c = { .ips = ips, .n = n, .only_handle = handle };
    int r = ipam_check_name("handle", handle, err);

    if (r == 0)
        r = ipam_run(ipam, "releasing a handle's addresses", true, attempt_release_ips, &c,
                     err);
    if (released)
        *released = r == 0 ? c.count : 0;
    return r;
}

/* ---- housekeeping ----------------------------------------------------------------------- */

/* Removes the empty blocks of c->node, or (node NULL) every empty block whose node or
 * pool is gone. */
static int attempt_remove_empty(struct work *w, void *opaque, struct tby_error *err)
{
    struct release_ctx *c = opaque;
    struct ipam_aff_list list;
    int r = ipam_aff_list_read(w->ipam->store, c->node, &list, err);

    c->count = 0;
    for (size_t i = 0; r == 0 && i < list.n; i++) {
        struct work_block *wb;

        if (list.items[i].free != IPAM_FREE_UNKNOWN &&
            list.items[i].free != ipam_cidr_size(&list.items[i].cidr))
            continue;
        r = work_block(w, &list.items[i].cidr, &wb, err);
        /* A record whose block is another node's is stale, not a block to remove: the
         * check names it. */
        if (r < 0 || !wb->blk || ipam_block_in_use(wb->blk) > 0 ||
            !ipam_same_str(wb->blk->node, list.items[i].node))
            continue;
        if (c->node) {
            wb->removed = wb->dirty = true;
        } else {
            r = work_retire_if_empty(w, wb, err);
        }
        c->count += wb->removed;
    }
    /* A deleted node whose blocks are all gone needs no claims record either. */
    w->forget_claims_of = c->node && c->count == list.n ? c->node : NULL;
    ipam_aff_list_clear(&list);
    return r;
}

int tby_ipam_release_node(struct tby_ipam *ipam, const char *node, size_t *removed,
                          struct tby_error *err)
{
    struct release_ctx c = { .node = node };
    int r = ipam_check_name("node name", node, err);

    if (r == 0)
        r = ipam_run(ipam, "releasing a node's blocks", true, attempt_remove_empty, &c, err);
    if (removed)
        *removed = r == 0 ? c.count : 0;
    return r;
}

int tby_ipam_gc_blocks(struct tby_ipam *ipam, size_t *removed, struct tby_error *err)
{
    struct release_ctx c = { 0 };
    int r = ipam_run(ipam, "removing empty blocks", true, attempt_remove_empty, &c, err);

    if (removed)
        *removed = r == 0 ? c.count : 0;
    return r;
}

/* Gives up one empty block. `decided`: the caller judged from its own copy that the block
 * goes while it is still empty and still affine to `node` (tabby-node's upkeep, from the
 * syncer's cache), so no pool or Node is read; otherwise IPAM's own rule decides
 * (work_retire_if_empty: its node or its pool is gone; the check's repair). */
struct retire_ctx {
    struct tby_cidr block;
    bool decided;
    const char *node;
    bool forget_claims;             /* with it, the node's claims record (its last block) */
    bool removed;
};

static int attempt_retire(struct work *w, void *opaque, struct tby_error *err)
{
    struct retire_ctx *c = opaque;
    struct work_block *wb;
    int r = work_block(w, &c->block, &wb, err);

    c->removed = false;
    if (r < 0 || !wb->blk || ipam_block_in_use(wb->blk) > 0 || !ipam_block_usable(wb->blk))
        return r;
    if (!c->decided)
        r = work_retire_if_empty(w, wb, err);
    else if (ipam_same_str(wb->blk->node, c->node))
        wb->removed = wb->dirty = true;
    if (r == 0 && wb->removed && c->forget_claims)
        w->forget_claims_of = c->node;
    c->removed = wb->removed;
    return r;
}

int ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *cidr, struct tby_error *err)
{
    struct retire_ctx c = { .block = *cidr };

    return ipam_run(ipam, "giving up a block", true, attempt_retire, &c, err);
}

int tby_ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *block, const char *node,
                          bool forget_claims, bool *removed, struct tby_error *err)
{
    struct retire_ctx c = { .block = *block, .decided = true, .node = node,
                            .forget_claims = forget_claims && node };
    int r = node ? ipam_check_name("node name", node, err) : 0;

    if (r == 0)
        r = ipam_run_unrefreshed(ipam, "giving up an empty block", true, attempt_retire, &c,
                                 err);
    if (removed)
        *removed = r == 0 && c.removed;
    return r;
}
