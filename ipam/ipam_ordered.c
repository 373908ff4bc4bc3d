/* ipam_ordered.c — the commit of a working set on stores without multi-key transactions
 * (the Kubernetes API): Calico's ordered single-object writes, each a compare-and-swap
 * (or compare-and-delete) of one record, in the order that leaves a process killed
 * between two of them with at most a handle counting addresses no block gives it, or an
 * affinity that is not confirmed (KDD-LAYOUT §4.6):
 *
 *   a block gaining addresses   the handles' counts first (re-read and retried on their
 *                               own conflicts), then the block; when the block's write
 *                               fails, the counts are taken back
 *   a block claimed             its affinity pending, the handles, the block created,
 *                               the affinity confirmed
 *   a block losing addresses    the block first, then the handles' counts
 *   a block given up            its affinity pendingDeletion, the block deleted, the
 *                               handles, the affinity deleted
 *
 * A block's write compares the revision the attempt read, so a conflict there means the
 * decision is stale: the blocks this commit already gave addresses are given them back
 * (so a request is still all or nothing), and the attempt runs again. Blocks already
 * written for a release stay written, their handles counted down, and their addresses
 * counted in *w->carried. The free counts and claims record of stores with transactions
 * are not written: free space is read from the blocks, and the node's processes take
 * turns on a host-local lock (ipam_lock.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "ipam_internal.h"

/* As Calico's datastoreRetries: every step retries its own conflicts this often. */
#define STEP_ATTEMPTS 100

/* 1 and *kv filled when the key exists, 0 when it does not, or an error. */
static int get_record(struct tby_store *store, const char *key, struct tby_kv *kv,
                      struct tby_error *err)
{
    int r;

    if (!key)
        return ipam_oom(err);
    r = tby_store_get(store, key, kv, err);
    if (r == -ENOENT)
        return 0;
    return r < 0 ? r : 1;
}

/* What an edit makes of one record: nothing, a new value (put compared on the revision
 * read, 0 when absent), or its deletion (compared likewise). */
struct edit {
    enum { EDIT_NONE, EDIT_PUT, EDIT_DELETE } op;
    char *value;                    /* EDIT_PUT: freed by edit_record */
    size_t len;
    bool again;                     /* after this one, read and edit again */
};

/* Decides the edit of the record (kv NULL: absent); 0 or an error. */
typedef int (*edit_fn)(void *ctx, const char *key, const struct tby_kv *kv, struct edit *e,
                       struct tby_error *err);

/* One step of an ordered write: reads the record, lets fn decide, writes that as a
 * compare-and-swap, and on a conflict reads and decides again. */
static int edit_record(struct tby_store *store, const char *what, const char *key, edit_fn fn,
                       void *ctx, struct tby_error *err)
{
    if (!key)
        return ipam_oom(err);
    for (int i = 0; i < STEP_ATTEMPTS; i++) {
        struct tby_kv kv = { 0 };
        struct edit e = { EDIT_NONE, NULL, 0, false };
        int r = get_record(store, key, &kv, err);

        if (r >= 0)
            r = fn(ctx, key, r > 0 ? &kv : NULL, &e, err);
        if (r == 0 && e.op == EDIT_PUT)
            r = ipam_cas(store, key, kv.mod_rev, TBY_STEAL(e.value), &e.len, NULL, err);
        else if (r == 0 && e.op == EDIT_DELETE)
            r = ipam_cad(store, key, kv.mod_rev, err);
        free(e.value);
        tby_kv_clear(&kv);
        if (r == 0 && !e.again)
            return 0;
        if (r < 0 && r != -ECANCELED && r != -ENOENT)
            return r;
    }
    return tby_error_set(err, -EAGAIN, "%s %s: gave up after %d attempts: the record kept "
                         "changing underneath (try again later)", what, key, STEP_ATTEMPTS);
}

/* ---- handles --------------------------------------------------------------------------- */

struct handle_edit {
    const char *id;
    const struct tby_cidr *block;
    int64_t delta;
};

/* Adds delta to the handle's count in one block; a handle left counting nothing goes. */
static int edit_handle(void *ctx, const char *key, const struct tby_kv *kv, struct edit *e,
                       struct tby_error *err)
{
    const struct handle_edit *h = ctx;
    _cleanup_(ipam_handle_rec_clear) struct ipam_handle_rec rec = { 0 };
    int r = kv ? ipam_handle_decode(kv->value, kv->value_len, key, &rec, err) : 0;

    if (r < 0)
        return r;
    /* Marked deleted by Calico: finish its delete first. */
    if (rec.deleted) {
        *e = (struct edit){ .op = EDIT_DELETE, .again = true };
        return 0;
    }
    if (ipam_handle_add(&rec, h->block, h->delta) < 0)
        return ipam_oom(err);
    if (ipam_handle_total(&rec) == 0) {
        e->op = kv ? EDIT_DELETE : EDIT_NONE;
        return 0;
    }
    e->op = EDIT_PUT;
    e->value = ipam_handle_encode(h->id, &rec, &e->len);
    return e->value ? 0 : ipam_oom(err);
}

static int handle_step(struct tby_store *store, const char *id, const struct tby_cidr *block,
                       int64_t delta, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_handle_key(id);
    struct handle_edit h = { id, block, delta };

    return edit_record(store, "handle", key, edit_handle, &h, err);
}

/* What the attempt changes in one handle's count of one block, and whether it is
 * written yet. */
struct delta {
    const char *handle;
    struct tby_cidr block;
    int64_t d;
    bool done;
};

struct deltas {
    struct delta *items;
    size_t n, cap;
};

static int deltas_add(struct deltas *dl, const struct work_handle *wh, const struct tby_cidr *b)
{
    int64_t d = (int64_t)ipam_handle_count(&wh->rec, b) - (int64_t)ipam_handle_count(&wh->read, b);

    for (size_t i = 0; i < dl->n; i++)
        if (dl->items[i].handle == wh->id && tby_cidr_equal(&dl->items[i].block, b))
            return 0;
    if (d == 0)
        return 0;
    if (TBY_GROW(dl->items, dl->cap, dl->n + 1) < 0)
        return -ENOMEM;
    dl->items[dl->n++] = (struct delta){ wh->id, *b, d, false };
    return 0;
}

static int deltas_build(const struct work *w, struct deltas *dl)
{
    for (size_t h = 0; h < w->n_handles; h++) {
        const struct work_handle *wh = w->handles[h];

        for (size_t i = 0; wh->dirty && i < wh->rec.n; i++)
            if (deltas_add(dl, wh, &wh->rec.items[i].block) < 0)
                return -ENOMEM;
        for (size_t i = 0; wh->dirty && i < wh->read.n; i++)
            if (deltas_add(dl, wh, &wh->read.items[i].block) < 0)
                return -ENOMEM;
    }
    return 0;
}

/* Writes the changes not written yet for one block (every block when block is NULL), of
 * one sign (0: both). */
static int deltas_write(struct work *w, struct deltas *dl, const struct tby_cidr *block,
                        int sign, struct tby_error *err)
{
    for (size_t i = 0; i < dl->n; i++) {
        struct delta *d = &dl->items[i];
        int r;

        if (d->done || (block && !tby_cidr_equal(block, &d->block)) ||
            (sign && (d->d > 0) != (sign > 0)))
            continue;
        r = handle_step(w->ipam->store, d->handle, &d->block, d->d, err);
        if (r < 0)
            return r;
        d->done = true;
    }
    return 0;
}

/* Takes back the increments written for a block whose own write failed (best effort: a
 * handle left counting too much is what a killed process leaves too). */
static void deltas_undo(struct work *w, struct deltas *dl, const struct tby_cidr *block,
                        int64_t taken_back)
{
    struct tby_error ignored = { 0 };

    for (size_t i = 0; i < dl->n; i++) {
        struct delta *d = &dl->items[i];
        int64_t back = taken_back >= 0 && taken_back < d->d ? taken_back : d->d;

        if (!d->done || d->d < 0 || !tby_cidr_equal(block, &d->block))
            continue;
        if (back && handle_step(w->ipam->store, d->handle, &d->block, -back, &ignored) < 0)
            tby_log(TBY_LOG_WARNING, "ipam", "handle left counting an address it does not "
                    "hold handle=%s error=\"%s\"", d->handle, tby_error_str(&ignored));
        d->done = false;
    }
}

/* ---- affinities ------------------------------------------------------------------------ */

struct aff_edit {
    const char *node;
    const struct tby_cidr *cidr;
    enum ipam_aff_state state;
    bool only_existing;             /* an absent record stays absent */
    bool remove;                    /* delete it */
};

/* Writes the node's affinity for the block in `state`: created when absent (unless
 * only_existing), left alone when already confirmed and a claim asks for pending (as
 * Calico's getPendingAffinity); or deletes it. */
static int edit_aff(void *ctx, const char *key, const struct tby_kv *kv, struct edit *e,
                    struct tby_error *err)
{
    const struct aff_edit *a = ctx;
    struct ipam_aff aff = { 0 };
    bool valid = kv && ipam_aff_decode(kv, &aff) == 0;

    (void)key;
    free(aff.node);
    if (valid && aff.deleted) {
        *e = (struct edit){ .op = EDIT_DELETE, .again = !a->remove };
        return 0;
    }
    if (a->remove) {
        e->op = kv ? EDIT_DELETE : EDIT_NONE;
        return 0;
    }
    if ((!kv && a->only_existing) || (valid && aff.state == a->state) ||
        (valid && a->state == IPAM_AFF_PENDING && aff.state == IPAM_AFF_CONFIRMED))
        return 0;
    e->op = EDIT_PUT;
    e->value = ipam_aff_encode(a->node, a->cidr, a->state, IPAM_FREE_UNKNOWN, &e->len);
    return e->value ? 0 : ipam_oom(err);
}

static int aff_write(struct tby_store *store, const char *node, const struct tby_cidr *cidr,
                     enum ipam_aff_state state, bool only_existing, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_affinity_key(node, cidr);
    struct aff_edit a = { node, cidr, state, only_existing, false };

    return edit_record(store, "affinity", key, edit_aff, &a, err);
}

static int aff_delete(struct tby_store *store, const char *node, const struct tby_cidr *cidr,
                      struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_affinity_key(node, cidr);
    struct aff_edit a = { node, cidr, IPAM_AFF_CONFIRMED, true, true };

    return edit_record(store, "affinity", key, edit_aff, &a, err);
}

/* ---- blocks ---------------------------------------------------------------------------- */

/* The block's write, compared on the revision the attempt read. */
static int block_write(struct work *w, struct work_block *wb, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_block_key(&wb->cidr);
    size_t len = 0;
    int r;

    /* Over a block Calico marked deleted, finish its delete first. */
    if (wb->created && wb->mod_rev) {
        r = ipam_cad(w->ipam->store, key, wb->mod_rev, err);
        if (r < 0)
            return r == -ENOENT ? -ECANCELED : r;
        wb->mod_rev = 0;
    }
    ipam_block_prepare_write(wb->blk, (int64_t)time(NULL));
    return ipam_cas(w->ipam->store, key, wb->mod_rev, ipam_block_encode(wb->blk, &len), &len,
                    &wb->mod_rev, err);
}

struct take_back {
    const struct work_block *wb;
    int64_t back;                   /* addresses given back */
};

/* Frees each address this attempt took in the block that its holder still holds. */
static int edit_take_back(void *ctx, const char *key, const struct tby_kv *kv, struct edit *e,
                          struct tby_error *err)
{
    struct take_back *t = ctx;
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    int r = kv ? ipam_block_decode(kv->value, kv->value_len, key, &b, err) : 0;

    t->back = 0;
    if (r < 0 || !b)
        return r;
    for (size_t i = 0; i < t->wb->n_taken; i++) {
        const struct ipam_attr *ours = ipam_block_owner(t->wb->blk, t->wb->taken[i]);
        const struct ipam_attr *now = ipam_block_owner(b, t->wb->taken[i]);

        if (ours && now && ipam_same_str(ours->handle, now->handle))
            t->back += ipam_block_release(b, t->wb->taken[i]);
    }
    if (t->back == 0)
        return 0;
    ipam_block_prepare_write(b, (int64_t)time(NULL));
    e->op = EDIT_PUT;
    e->value = ipam_block_encode(b, &e->len);
    return e->value ? 0 : ipam_oom(err);
}

/* Gives back what a block written by this commit handed out. *back counts it. */
static int block_take_back(struct work *w, const struct work_block *wb, int64_t *back,
                           struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_block_key(&wb->cidr);
    struct take_back t = { wb, 0 };
    int r = edit_record(w->ipam->store, "block", key, edit_take_back, &t, err);

    *back = t.back;
    return r;
}

/* Whether the stored block at cidr is affine to node. */
static bool block_is_nodes(struct tby_store *store, const struct tby_cidr *cidr,
                           const char *node)
{
    _cleanup_free_ char *key = ipam_block_key(cidr);
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_error ignored = { 0 };
    struct tby_kv kv;
    bool mine;

    if (get_record(store, key, &kv, &ignored) <= 0)
        return false;
    mine = ipam_block_decode(kv.value, kv.value_len, key, &b, &ignored) == 0 && !b->deleted &&
           ipam_same_str(b->node, node);
    tby_kv_clear(&kv);
    return mine;
}

/* A block gaining addresses, claimed by this attempt or not. */
static int commit_gain(struct work *w, struct work_block *wb, struct deltas *dl,
                       struct tby_error *err)
{
    struct tby_store *store = w->ipam->store;
    struct tby_error ignored = { 0 };
    const char *node = w->ipam->node;
    int r = 0;

    if (wb->created)
        r = aff_write(store, node, &wb->cidr, IPAM_AFF_PENDING, false, err);
    if (r == 0)
        r = deltas_write(w, dl, &wb->cidr, 1, err);
    if (r == 0)
        r = block_write(w, wb, err);
    if (r < 0) {
        /* The counts go back at once (best effort, as Calico's); on a conflict the
         * attempt runs again from what is stored, and a claim that lost its block to
         * another node drops its pending affinity (one the node made itself is
         * confirmed by the next attempt). */
        deltas_undo(w, dl, &wb->cidr, -1);
        if (r == -ECANCELED && wb->created && !block_is_nodes(store, &wb->cidr, node))
            aff_delete(store, node, &wb->cidr, &ignored);
        return r;
    }
    if (wb->created)
        r = aff_write(store, node, &wb->cidr, IPAM_AFF_CONFIRMED, false, err);
    return r;
}

/* A block losing addresses, or otherwise rewritten. */
static int commit_loss(struct work *w, struct work_block *wb, struct deltas *dl,
                       struct tby_error *err)
{
    int r = block_write(w, wb, err);

    if (r == 0)
        r = deltas_write(w, dl, &wb->cidr, 0, err);
    if (r == 0 && w->carried)
        *w->carried += wb->released;
    return r;
}

/* A block given up: emptied by this attempt (or already empty), its node or pool gone. */
static int commit_give_up(struct work *w, struct work_block *wb, struct deltas *dl,
                          struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_block_key(&wb->cidr);
    struct tby_store *store = w->ipam->store;
    const char *node = wb->read_node;
    int r = 0;

    if (node)
        r = aff_write(store, node, &wb->cidr, IPAM_AFF_PENDING_DELETION, true, err);
    if (r == 0)
        r = ipam_cad(store, key, wb->mod_rev, err);
    if (r == -ECANCELED || r == -ENOENT) {
        struct tby_error ignored = { 0 };

        /* Changed meanwhile: still the node's, unless the next attempt decides again. */
        if (node)
            aff_write(store, node, &wb->cidr, IPAM_AFF_CONFIRMED, true, &ignored);
        return -ECANCELED;
    }
    if (r == 0)
        r = deltas_write(w, dl, &wb->cidr, 0, err);
    if (r == 0 && w->carried)
        *w->carried += wb->released;
    if (r == 0 && node)
        r = aff_delete(store, node, &wb->cidr, err);
    return r;
}

int ipam_commit_ordered(struct work *w, struct tby_error *err)
{
    struct deltas dl = { 0 };
    size_t gained = 0;
    int r = deltas_build(w, &dl) < 0 ? ipam_oom(err) : 0;

    for (size_t i = 0; r == 0 && i < w->n_blocks; i++) {
        struct work_block *wb = w->blocks[i];

        if (!wb->dirty)
            continue;
        if (wb->removed) {
            r = commit_give_up(w, wb, &dl, err);
        } else if (wb->n_taken) {
            r = commit_gain(w, wb, &dl, err);
            /* Blocks given addresses move to the front: the ones to give back. */
            if (r == 0) {
                w->blocks[i] = w->blocks[gained];
                w->blocks[gained++] = wb;
            }
        } else {
            r = commit_loss(w, wb, &dl, err);
        }
    }
    /* Counts of blocks that are gone (a handle naming a block no more). */
    if (r == 0)
        r = deltas_write(w, &dl, NULL, 0, err);
    if (r == 0)
        ipam_cache_written(w, 0);
    /* A request is all or nothing: what it was given before the conflict goes back. */
    for (size_t i = 0; r == -ECANCELED && i < gained; i++) {
        struct tby_error ignored = { 0 };
        int64_t back = 0;

        if (block_take_back(w, w->blocks[i], &back, &ignored) < 0)
            tby_log(TBY_LOG_WARNING, "ipam", "addresses of a failed request not given back "
                    "error=\"%s\"", tby_error_str(&ignored));
        deltas_undo(w, &dl, &w->blocks[i]->cidr, back);
    }
    free(dl.items);
    return r;
}

/* ---- claims and give-ups a killed process left half made ----------------------------------- */

/* One affinity of this node that is not confirmed: confirmed again when its block is the
 * node's (a claim that made its block, or a give-up that had not removed it yet: the
 * next housekeeping decides again), else deleted. */
static int resume_one(struct tby_ipam *ipam, const struct ipam_aff *aff, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_block_key(&aff->cidr);
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_kv kv = { 0 };
    size_t len = 0;
    int r = get_record(ipam->store, key, &kv, err);

    if (r > 0)
        r = ipam_block_decode(kv.value, kv.value_len, key, &b, err);
    if (r < 0) {
        tby_kv_clear(&kv);
        return r;
    }
    tby_log(TBY_LOG_INFO, "ipam", "finishing an affinity left %s node=%s block=%s",
            ipam_aff_state_name(aff->state), aff->node, key + strlen(IPAM_BLOCKS));
    if (!b || b->deleted || !ipam_same_str(b->node, ipam->node)) {
        tby_kv_clear(&kv);
        return aff_delete(ipam->store, ipam->node, &aff->cidr, err);
    }
    /* A claim: rewrite the block first, so anyone still working from what the killed
     * process read conflicts (as Calico's getBlockFromAffinity does). */
    if (aff->state == IPAM_AFF_PENDING) {
        ipam_block_prepare_write(b, (int64_t)time(NULL));
        r = ipam_cas(ipam->store, key, kv.mod_rev, ipam_block_encode(b, &len), &len, NULL, err);
    }
    tby_kv_clear(&kv);
    if (r < 0)
        return r;
    return aff_write(ipam->store, ipam->node, &aff->cidr, IPAM_AFF_CONFIRMED, true, err);
}

int ipam_resume_affinities(struct tby_ipam *ipam, const struct ipam_aff_list *mine,
                           bool *changed, struct tby_error *err)
{
    for (size_t i = 0; i < mine->n; i++) {
        int r;

        if (mine->items[i].state == IPAM_AFF_CONFIRMED ||
            !ipam_same_str(mine->items[i].node, ipam->node))
            continue;
        r = resume_one(ipam, &mine->items[i], err);
        /* A conflict: someone else is at it; the attempt reads again either way. */
        if (r < 0 && r != -ECANCELED)
            return r;
        *changed = true;
    }
    return 0;
}
