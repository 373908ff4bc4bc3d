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
};

static int attempt_release_handle(struct work *w, void *opaque, struct tby_error *err)
{
    struct release_ctx *c = opaque;
    struct work_handle *wh;
    int r = work_handle(w, c->handle, &wh, err);

    c->count = 0;
    for (size_t i = 0; r == 0 && i < wh->rec.n; i++) {
        struct work_block *wb;
        uint32_t n;

        r = work_block(w, &wh->rec.items[i].block, &wb, err);
        if (r < 0 || !wb->blk)
            continue;
        n = ipam_block_release_handle(wb->blk, c->handle);
        if (n == 0)
            continue;
        c->count += n;
        wb->dirty = true;
        r = work_retire_if_empty(w, wb, err);
    }
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
        r = ipam_run(ipam, "releasing a handle", attempt_release_handle, &c, err);
    if (released)
        *released = r == 0 ? c.count : 0;
    return r;
}

static int release_one(struct work *w, struct release_ctx *c, const struct tby_ip *ip,
                       struct tby_error *err)
{
    _cleanup_free_ char *handle = NULL;
    const struct ipam_attr *owner;
    struct work_block *wb;
    uint32_t ord;
    int r = work_block_for_ip(w, ip, &wb, err);

    if (r < 0 || !wb || !ipam_block_ordinal(wb->blk, ip, &ord))
        return r;
    owner = ipam_block_owner(wb->blk, ord);
    if (!owner || (c->only_handle && strcmp(owner->handle, c->only_handle) != 0))
        return 0;
    handle = strdup(owner->handle);
    if (!handle)
        return ipam_oom(err);
    ipam_block_release(wb->blk, ord);
    wb->dirty = true;
    c->count++;
    r = work_count(w, handle, &wb->cidr, -1, err);
    return r < 0 ? r : work_retire_if_empty(w, wb, err);
}

static int attempt_release_ips(struct work *w, void *opaque, struct tby_error *err)
{
    struct release_ctx *c = opaque;
    int r = 0;

    c->count = 0;
    for (size_t i = 0; r == 0 && i < c->n; i++)
        r = release_one(w, c, &c->ips[i], err);
    return r;
}

int tby_ipam_release_ips(struct tby_ipam *ipam, const struct tby_ip *ips, size_t n,
                         size_t *released, struct tby_error *err)
{
    struct release_ctx c = { .ips = ips, .n = n };
    int r = ipam_run(ipam, "releasing addresses", attempt_release_ips, &c, err);

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
        r = ipam_run(ipam, "releasing a handle's addresses", attempt_release_ips, &c, err);
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

        if (list.items[i].free != (1u << (tby_ip_bits(&list.items[i].cidr.ip) -
                                          list.items[i].cidr.prefix_len)))
            continue;
        r = work_block(w, &list.items[i].cidr, &wb, err);
        if (r < 0 || !wb->blk || ipam_block_in_use(wb->blk) > 0)
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
        r = ipam_run(ipam, "releasing a node's blocks", attempt_remove_empty, &c, err);
    if (removed)
        *removed = r == 0 ? c.count : 0;
    return r;
}

int tby_ipam_gc_blocks(struct tby_ipam *ipam, size_t *removed, struct tby_error *err)
{
    struct release_ctx c = { 0 };
    int r = ipam_run(ipam, "removing empty blocks", attempt_remove_empty, &c, err);

    if (removed)
        *removed = r == 0 ? c.count : 0;
    return r;
}

struct retire_ctx {
    const struct tby_cidr *block;
    const char *node;
    bool forget_claims;
    bool removed;
};

static bool same_node(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

static int attempt_retire(struct work *w, void *opaque, struct tby_error *err)
{
    struct retire_ctx *c = opaque;
    struct work_block *wb;
    int r = work_block(w, c->block, &wb, err);

    c->removed = false;
    if (r < 0 || !wb->blk || ipam_block_in_use(wb->blk) > 0 || !same_node(wb->blk->node, c->node))
        return r;
    wb->removed = wb->dirty = true;
    w->forget_claims_of = c->forget_claims ? c->node : NULL;
    c->removed = true;
    return 0;
}

int tby_ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *block, const char *node,
                          bool forget_claims, bool *removed, struct tby_error *err)
{
    struct retire_ctx c = { .block = block, .node = node, .forget_claims = forget_claims };
    int r = node ? ipam_check_name("node name", node, err) : 0;

    if (r == 0)
        r = ipam_run_unrefreshed(ipam, "giving up an empty block", attempt_retire, &c, err);
    if (removed)
        *removed = r == 0 && c.removed;
    return r;
}
