/* ipam_work.c — the working set of one attempt, the retry loop, and the commit on stores
 * with multi-key transactions: every block and handle an operation read, changed in
 * memory, then written in one transaction that compares each written key's mod revision
 * with the one read (0: it was absent). A conflict throws the attempt away; ipam_run
 * starts a fresh one after a short random pause. Stores without such transactions get
 * the same working set written object by object (ipam_ordered.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "ipam_internal.h"

/* As Calico: enough for heavy contention, bounded so a stuck store fails the caller. */
#define MAX_ATTEMPTS 100
#define BACKOFF_BASE_US 50
#define BACKOFF_MAX_SHIFT 8

static void work_block_free(struct work_block *wb)
{
    if (!wb)
        return;
    ipam_block_free(wb->blk);
    free(wb->read_node);
    free(wb->taken);
    free(wb);
}

static void work_handle_free(struct work_handle *wh)
{
    if (!wh)
        return;
    free(wh->id);
    ipam_handle_rec_clear(&wh->read);
    ipam_handle_rec_clear(&wh->rec);
    free(wh);
}

static void work_clear(struct work *w)
{
    for (size_t i = 0; i < w->n_blocks; i++)
        work_block_free(w->blocks[i]);
    for (size_t i = 0; i < w->n_handles; i++)
        work_handle_free(w->handles[i]);
    free(w->blocks);
    free(w->handles);
    memset(w, 0, sizeof(*w));
}

/* Appends p to an array of pointers; entries are allocated one by one, so a pointer
 * handed out stays valid for the whole attempt. */
static int push_ptr(void ***items, size_t *n, void *p)
{
    void **grown = reallocarray(*items, *n + 1, sizeof(*grown));

    if (!grown)
        return -ENOMEM;
    *items = grown;
    grown[(*n)++] = p;
    return 0;
}

/* ---- the block cache -------------------------------------------------------------------- */

void ipam_cache_clear(struct tby_ipam *ipam)
{
    for (unsigned i = 0; i < IPAM_BLOCK_CACHE; i++) {
        ipam_block_free(ipam->cache[i].blk);
        ipam->cache[i] = (struct ipam_cached_block){ 0 };
    }
}

static struct ipam_cached_block *cache_find(struct tby_ipam *ipam, const struct tby_cidr *cidr)
{
    for (unsigned i = 0; i < IPAM_BLOCK_CACHE; i++)
        if (ipam->cache[i].blk && tby_cidr_equal(&ipam->cache[i].blk->cidr, cidr))
            return &ipam->cache[i];
    return NULL;
}

static void cache_drop(struct tby_ipam *ipam, const struct tby_cidr *cidr)
{
    struct ipam_cached_block *c = cache_find(ipam, cidr);

    if (c) {
        ipam_block_free(c->blk);
        *c = (struct ipam_cached_block){ 0 };
    }
}

/* Keeps a copy; a failed copy only means the next read parses again. */
static void cache_put(struct tby_ipam *ipam, const struct ipam_block *blk, int64_t mod_rev)
{
    struct ipam_cached_block *c = cache_find(ipam, &blk->cidr);

    if (!c) {
        c = &ipam->cache[ipam->cache_next];
        ipam->cache_next = (ipam->cache_next + 1) % IPAM_BLOCK_CACHE;
    }
    ipam_block_free(c->blk);
    c->blk = ipam_block_clone(blk);
    c->mod_rev = mod_rev;
}

void ipam_cache_written(struct work *w, int64_t rev)
{
    for (size_t i = 0; i < w->n_blocks; i++) {
        const struct work_block *wb = w->blocks[i];

        if (wb->dirty && wb->removed)
            cache_drop(w->ipam, &wb->cidr);
        else if (wb->dirty)
            cache_put(w->ipam, wb->blk, rev ? rev : wb->mod_rev);
    }
}

/* 1 and *kv filled when the key exists, 0 when it does not, or an error. */
static int get_optional(struct work *w, const char *key, struct tby_kv *kv, struct tby_error *err)
{
    int r;

    if (!key)
        return ipam_oom(err);
    r = tby_store_get(w->ipam->store, key, kv, err);
    if (r == -ENOENT)
        return 0;
    return r < 0 ? r : 1;
}

static int read_block(struct work *w, struct work_block *wb, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_block_key(&wb->cidr);
    struct ipam_cached_block *cached;
    struct tby_kv kv;
    int r = get_optional(w, key, &kv, err);

    if (r <= 0)
        return r;
    wb->mod_rev = kv.mod_rev;
    cached = cache_find(w->ipam, &wb->cidr);
    if (cached && cached->mod_rev == kv.mod_rev) {
        wb->blk = ipam_block_clone(cached->blk);
        r = wb->blk ? 0 : ipam_oom(err);
    } else {
        r = ipam_block_decode(kv.value, kv.value_len, key, &wb->blk, err);
        if (r == 0 && !tby_cidr_equal(&wb->blk->cidr, &wb->cidr))
            r = tby_error_set(err, -EINVAL, "%s: stored block is malformed: it says its "
                              "cidr is another", key);
        if (r == 0)
            cache_put(w->ipam, wb->blk, kv.mod_rev);
    }
    tby_kv_clear(&kv);
    /* Marked deleted (by Calico, between its two steps): absent, its revision kept. */
    if (r == 0 && wb->blk->deleted)
        ipam_block_freep(&wb->blk);
    if (r == 0 && wb->blk && wb->blk->node && !(wb->read_node = strdup(wb->blk->node)))
        r = ipam_oom(err);
    return r;
}

int work_block(struct work *w, const struct tby_cidr *cidr, struct work_block **out,
               struct tby_error *err)
{
    struct work_block *wb;
    int r;

    for (size_t i = 0; i < w->n_blocks; i++) {
        if (tby_cidr_equal(&w->blocks[i]->cidr, cidr)) {
            *out = w->blocks[i];
            return 0;
        }
    }
    wb = calloc(1, sizeof(*wb));
    if (!wb)
        return ipam_oom(err);
    wb->cidr = *cidr;
    r = read_block(w, wb, err);
    if (r == 0 && push_ptr((void ***)&w->blocks, &w->n_blocks, wb) < 0)
        r = ipam_oom(err);
    if (r < 0) {
        work_block_free(wb);
        return r;
    }
    *out = wb;
    return 0;
}

int work_block_trusted(struct work *w, const struct tby_cidr *cidr, struct work_block **out,
                       struct tby_error *err)
{
    struct ipam_cached_block *cached = w->optimistic && !w->trial ? cache_find(w->ipam, cidr)
                                                                 : NULL;
    struct work_block *wb;

    for (size_t i = 0; cached && i < w->n_blocks; i++)
        if (tby_cidr_equal(&w->blocks[i]->cidr, cidr))
            cached = NULL;
    if (!cached || cached->blk->deleted || cached->blk->n_free == 0 || !cached->blk->node ||
        !w->ipam->node || strcmp(cached->blk->node, w->ipam->node) != 0)
        return work_block(w, cidr, out, err);
    wb = calloc(1, sizeof(*wb));
    if (!wb)
        return ipam_oom(err);
    wb->cidr = *cidr;
    wb->mod_rev = cached->mod_rev;
    wb->blk = ipam_block_clone(cached->blk);
    wb->read_node = strdup(cached->blk->node);
    if (!wb->blk || !wb->read_node || push_ptr((void ***)&w->blocks, &w->n_blocks, wb) < 0) {
        work_block_free(wb);
        return ipam_oom(err);
    }
    *out = wb;
    return 0;
}

int work_create_block(struct work *w, struct work_block *wb, const char *node)
{
    char now[32];

    wb->blk = ipam_block_new(&wb->cidr, node);
    if (!wb->blk || !(wb->blk->claim_time = strdup(ipam_time_rfc3339(ipam_now_ns(), now))))
        return -ENOMEM;
    wb->dirty = true;
    wb->created = true;
    w->claimed = true;
    return 0;
}

int work_read_claims(struct work *w, struct tby_error *err)
{
    _cleanup_free_ char *key = NULL;
    struct tby_kv kv;
    int r;

    /* Without multi-key transactions the record cannot be compared with the blocks: the
     * host-local lock holds the node's claims apart instead. */
    if (w->claims_read || !w->ipam->node || !w->ipam->multi)
        return 0;
    key = ipam_claims_key(w->ipam->node);
    r = get_optional(w, key, &kv, err);
    if (r < 0)
        return r;
    w->claims_rev = r ? kv.mod_rev : 0;
    w->claims_read = true;
    if (r)
        tby_kv_clear(&kv);
    return 0;
}

static int read_handle(struct work *w, struct work_handle *wh, struct tby_error *err)
{
    _cleanup_free_ char *key = ipam_handle_key(wh->id);
    struct tby_kv kv;
    int r = get_optional(w, key, &kv, err);

    if (r <= 0)
        return r;
    r = ipam_handle_decode(kv.value, kv.value_len, key, &wh->read, err);
    wh->mod_rev = kv.mod_rev;
    tby_kv_clear(&kv);
    if (r == 0 && wh->read.deleted)
        ipam_handle_rec_clear(&wh->read);
    return r;
}

int work_handle(struct work *w, const char *id, struct work_handle **out,
                struct tby_error *err)
{
    struct work_handle *wh;
    int r;

    for (size_t i = 0; i < w->n_handles; i++) {
        if (strcmp(w->handles[i]->id, id) == 0) {
            *out = w->handles[i];
            return 0;
        }
    }
    wh = calloc(1, sizeof(*wh));
    if (!wh || !(wh->id = strdup(id))) {
        work_handle_free(wh);
        return ipam_oom(err);
    }
    /* Taken to be absent: the commit compares it as absent (mod revision 0). */
    r = w->new_handles ? 0 : read_handle(w, wh, err);
    if (r == 0 && ipam_handle_rec_copy(&wh->rec, &wh->read) < 0)
        r = ipam_oom(err);
    if (r == 0 && push_ptr((void ***)&w->handles, &w->n_handles, wh) < 0)
        r = ipam_oom(err);
    if (r < 0) {
        work_handle_free(wh);
        return r;
    }
    *out = wh;
    return 0;
}

int work_handle_ips(struct work *w, const char *handle, struct tby_ipam_result *out,
                    struct tby_error *err)
{
    struct work_handle *wh;
    int r = work_handle(w, handle, &wh, err);

    for (size_t i = 0; r == 0 && i < wh->rec.n; i++) {
        struct work_block *wb;

        r = work_block(w, &wh->rec.items[i].block, &wb, err);
        for (uint32_t ord = 0; r == 0 && wb->blk && ord < wb->blk->size; ord++) {
            const struct ipam_attr *a = ipam_block_owner(wb->blk, ord);
            struct tby_ip ip;

            if (!a || !ipam_same_str(a->handle, handle))
                continue;
            ip = ipam_block_ip(wb->blk, ord);
            if (ipam_result_push(out, &ip, &wb->cidr, true) < 0)
                r = ipam_oom(err);
        }
    }
    return r;
}

/* Records `delta` addresses of the handle in the block. */
static int work_count(struct work *w, const char *handle, const struct tby_cidr *block,
                      int64_t delta, struct tby_error *err)
{
    struct work_handle *wh;
    int r;

    if (!handle)
        return 0;
    r = work_handle(w, handle, &wh, err);
    if (r < 0)
        return r;
    if (ipam_handle_add(&wh->rec, block, delta) < 0)
        return ipam_oom(err);
    wh->dirty = true;
    return 0;
}

int work_take(struct work *w, struct work_block *wb, const struct ipam_attr *attr,
              const uint32_t *ord_given, uint32_t *ord, struct tby_error *err)
{
    int r;

    if (TBY_GROW(wb->taken, wb->cap_taken, wb->n_taken + 1) < 0)
        return ipam_oom(err);
    if (ord_given) {
        *ord = *ord_given;
        r = ipam_block_take(wb->blk, *ord, attr);
    } else {
        r = ipam_block_take_next(wb->blk, attr, ord);
    }
    if (r < 0)
        return r == -ENOMEM ? ipam_oom(err) : r;
    wb->taken[wb->n_taken++] = *ord;
    wb->dirty = true;
    return work_count(w, attr->handle, &wb->cidr, 1, err);
}

int work_release(struct work *w, struct work_block *wb, uint32_t ord, struct tby_error *err)
{
    const struct ipam_attr *owner = ipam_block_owner(wb->blk, ord);
    _cleanup_free_ char *handle = NULL;

    if (!owner)
        return 0;
    if (ipam_strdup_or_null(owner->handle, &handle) < 0)
        return ipam_oom(err);
    ipam_block_release(wb->blk, ord);
    wb->dirty = true;
    wb->released++;
    return work_count(w, handle, &wb->cidr, -1, err);
}

int work_release_handle(struct work *w, struct work_block *wb, const char *handle,
                        struct tby_error *err)
{
    uint32_t n = ipam_block_release_handle(wb->blk, handle);

    if (n == 0)
        return 0;
    wb->dirty = true;
    wb->released += n;
    return work_count(w, handle, &wb->cidr, -(int64_t)n, err);
}

int work_retire_if_empty(struct work *w, struct work_block *wb, struct tby_error *err)
{
    bool node_exists = false;
    int r;

    if (!wb->blk || ipam_block_in_use(wb->blk) > 0 || wb->removed)
        return 0;
    if (wb->blk->node) {
        r = ipam_node_exists(w->ipam, wb->blk->node, &node_exists, err);
        if (r < 0)
            return r;
    }
    if (node_exists && ipam_pool_for_block(w->ipam, &wb->cidr))
        return 0;
    wb->removed = true;
    wb->dirty = true;
    return 0;
}

int work_block_for_ip(struct work *w, const struct tby_ip *ip, struct work_block **out,
                      struct tby_error *err)
{
    const struct ipam_pool *pool = ipam_pool_for_ip(w->ipam, ip);
    struct ipam_aff_list all;
    struct tby_cidr found;
    bool have = false;
    int r;

    *out = NULL;
    if (pool) {
        struct tby_cidr cidr = ipam_block_of(ip, pool->spec->block_size);

        r = work_block(w, &cidr, out, err);
        if (r < 0 || (*out)->blk)
            return r;
        *out = NULL;
    }
    /* No pool (any more), or a block of another size: look through every block. */
    r = ipam_space_read(w->ipam, &all, err);
    for (size_t i = 0; r == 0 && i < all.n && !have; i++) {
        have = tby_cidr_contains(&all.items[i].cidr, ip);
        found = all.items[i].cidr;
    }
    ipam_aff_list_clear(&all);
    if (r < 0 || !have)
        return r;
    r = work_block(w, &found, out, err);
    if (r == 0 && !(*out)->blk)
        *out = NULL;
    return r;
}

/* ---- single-record writes ------------------------------------------------------------------ */

int ipam_cas(struct tby_store *store, const char *key, int64_t mod_rev, char *value,
             const size_t *len, int64_t *rev, struct tby_error *err)
{
    int r;

    if (!key || !value) {
        free(value);
        return ipam_oom(err);
    }
    r = tby_store_cas(store, key, mod_rev, value, *len, rev, err);
    free(value);
    return r;
}

int ipam_cad(struct tby_store *store, const char *key, int64_t mod_rev, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

    if (!key || !txn || tby_txn_compare(txn, key, mod_rev) < 0 || tby_txn_delete(txn, key) < 0)
        return ipam_oom(err);
    return tby_store_commit(store, txn, NULL, err);
}

/* ---- the commit in one transaction ------------------------------------------------------- */

/* Puts a freshly encoded value (NULL: out of memory) and frees it. Takes the encoder's
 * length through a pointer: it is set only once the encoder has run. */
static int put_encoded(struct tby_txn *txn, const char *key, char *value, const size_t *len)
{
    int r = value && key ? tby_txn_put(txn, key, value, *len) : -ENOMEM;

    free(value);
    return r;
}

/* Without having read the record first a claim could not be checked, so an attempt
 * that claims always has (see read_mine); refusing here keeps that promise honest. */
static int add_claims_ops(struct tby_txn *txn, const struct work *w)
{
    _cleanup_free_ char *key = ipam_claims_key(w->ipam->node);
    static const char value[] = "{\"blocks_claimed\":true}";

    if (!key)
        return -ENOMEM;
    if (!w->claims_read)
        return -EPROTO;
    if (tby_txn_compare(txn, key, w->claims_rev) < 0 ||
        tby_txn_put(txn, key, value, strlen(value)) < 0)
        return -ENOMEM;
    return 0;
}

static int forget_claims(struct tby_txn *txn, const char *node)
{
    _cleanup_free_ char *key = ipam_claims_key(node);

    return key ? tby_txn_delete(txn, key) : -ENOMEM;
}

/* The block, and its affinity record (confirmed, with the free count) beside it. */
static int add_block_ops(struct tby_txn *txn, struct work_block *wb, int64_t now)
{
    _cleanup_free_ char *key = ipam_block_key(&wb->cidr);
    _cleanup_free_ char *old_aff = wb->read_node ? ipam_affinity_key(wb->read_node, &wb->cidr)
                                                 : NULL;
    _cleanup_free_ char *aff = NULL;
    size_t len = 0;
    int r;

    if (!key || (wb->read_node && !old_aff))
        return -ENOMEM;
    r = tby_txn_compare(txn, key, wb->mod_rev);
    if (r < 0)
        return r;
    if (wb->removed) {
        r = tby_txn_delete(txn, key);
        if (r == 0 && old_aff)
            r = tby_txn_delete(txn, old_aff);
        return r;
    }
    ipam_block_prepare_write(wb->blk, now);
    r = put_encoded(txn, key, ipam_block_encode(wb->blk, &len), &len);
    if (r == 0 && wb->blk->node) {
        aff = ipam_affinity_key(wb->blk->node, &wb->cidr);
        r = put_encoded(txn, aff, ipam_aff_encode(wb->blk->node, &wb->cidr, IPAM_AFF_CONFIRMED,
                                                  wb->blk->n_free, &len), &len);
    }
    if (r == 0 && old_aff && (!aff || strcmp(aff, old_aff) != 0))
        r = tby_txn_delete(txn, old_aff);
    return r;
}

static int add_handle_ops(struct tby_txn *txn, const struct work_handle *wh)
{
    _cleanup_free_ char *key = ipam_handle_key(wh->id);
    size_t len = 0;
    int r;

    if (!key)
        return -ENOMEM;
    r = tby_txn_compare(txn, key, wh->mod_rev);
    if (r < 0)
        return r;
    if (ipam_handle_total(&wh->rec) == 0)
        return wh->mod_rev ? tby_txn_delete(txn, key) : 0;
    return put_encoded(txn, key, ipam_handle_encode(wh->id, &wh->rec, &len), &len);
}

int ipam_commit_txn(struct work *w, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    int64_t now = (int64_t)time(NULL), rev = 0;
    int r = txn ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < w->n_blocks; i++)
        if (w->blocks[i]->dirty)
            r = add_block_ops(txn, w->blocks[i], now);
    for (size_t i = 0; r == 0 && i < w->n_handles; i++)
        if (w->handles[i]->dirty)
            r = add_handle_ops(txn, w->handles[i]);
    if (r == 0 && w->ipam->settings_trusted && tby_txn_op_count(txn) > 0)
        r = ipam_settings_compares(w->ipam, txn);
    if (r == 0 && w->claimed)
        r = add_claims_ops(txn, w);
    else if (r == 0 && w->forget_claims_of)
        r = forget_claims(txn, w->forget_claims_of);
    if (r == -EPROTO)
        return tby_error_set(err, -EPROTO, "internal error: a block was claimed without "
                             "reading the node's claims record");
    if (r < 0)
        return ipam_oom(err);
    if (tby_txn_op_count(txn) == 0)
        return 0;
    r = tby_store_commit(w->ipam->store, txn, &rev, err);
    if (r == 0)
        ipam_cache_written(w, rev);
    return r;
}

/* ---- the retry loop ------------------------------------------------------------------- */

/* A random pause that grows with the attempts, so contenders spread out. */
static void backoff(struct tby_ipam *ipam, int attempt)
{
    unsigned shift = attempt < BACKOFF_MAX_SHIFT ? (unsigned)attempt : BACKOFF_MAX_SHIFT;
    long us = (long)(rand_r(&ipam->rand_state) % (BACKOFF_BASE_US << shift));
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

static int run(struct tby_ipam *ipam, const char *what, bool writes, bool refresh,
               ipam_attempt_fn attempt, void *ctx, struct tby_error *err)
{
    int r = 0;
    /* The processes of one node take turns, as Calico's CNI plugin's do. */
    bool locked = writes && !ipam->multi && ipam->node && ipam_lock_take(ipam);

    for (int i = 0; i < MAX_ATTEMPTS; i++) {
        bool optimistic, decided;
        /* The first attempt of a change may trust what the context knows (see struct
         * work); what it decides is proved by its commit's compares, and whatever it
         * fails with before committing, a second attempt reads everything and decides
         * again (a commit that failed otherwise may have been applied: its error is the
         * caller's, as without trust). */
        struct work w = { .ipam = ipam, .optimistic = ipam->multi && writes && i == 0 };

        ipam->settings_trusted = w.optimistic && refresh && ipam->pools_read &&
                                 ipam->config_rev >= 0;
        ipam->node_labels_used = false;
        r = refresh && !ipam->settings_trusted ? ipam_refresh(ipam, err) : 0;
        if (r == 0)
            r = attempt(&w, ctx, err);
        decided = r == 0;
        if (r == 0 && !w.trial)
            r = ipam->multi ? ipam_commit_txn(&w, err) : ipam_commit_ordered(&w, err);
        optimistic = w.optimistic;
        work_clear(&w);
        ipam->settings_trusted = false;
        if (r < 0 && r != -ECANCELED && optimistic && !decided) {
            tby_error_clear(err);
            continue;
        }
        if (r != -ECANCELED)
            break;
        tby_log(TBY_LOG_DEBUG, "ipam", "conflict, retrying op=%s attempt=%d", what, i + 1);
        backoff(ipam, i);
    }
    if (locked)
        ipam_lock_release(ipam);
    if (r == -ECANCELED)
        return tby_error_set(err, -EAGAIN, "%s: gave up after %d attempts: the IPAM records "
                             "kept changing underneath (try again later)", what, MAX_ATTEMPTS);
    return r;
}

int ipam_run(struct tby_ipam *ipam, const char *what, bool writes, ipam_attempt_fn attempt,
             void *ctx, struct tby_error *err)
{
    return run(ipam, what, writes, true, attempt, ctx, err);
}

int ipam_run_unrefreshed(struct tby_ipam *ipam, const char *what, bool writes,
                         ipam_attempt_fn attempt, void *ctx, struct tby_error *err)
{
    return run(ipam, what, writes, false, attempt, ctx, err);
}
