/* store_sync.c — the generic list-and-watch (store.h's sync) over any backend's range and
 * watch: what sqlite and etcd use.
 *
 * A listing is one range per prefix, each at its own revision. The watch covers the
 * prefixes' longest common prefix from the oldest listing's revision + 1; an event is
 * kept only when its key lies under one of the prefixes and its revision is newer than
 * that prefix's listing (an older one is already in the listing, or superseded by it).
 *
 * What the caller was told is remembered as key → mod_rev (`held`): a relist — after
 * compaction, or once the store answers again after a failure — tells only what differs
 * from it, and a watch event that repeats it is dropped. Failures drop the watch and
 * back off, 100 ms doubling to 30 s; -ESTALE relists at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "store_backend.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
/* A watch is read at least this often even if its descriptor stays quiet. */
#define WATCH_POLL_MS 1000

struct held {
    struct tby_hnode node;
    int64_t mod_rev;
    uint64_t listed;          /* the listing that last saw it */
    char key[];
};

struct generic_sync {
    struct tby_sync base;
    struct tby_store *store;
    char **prefixes;          /* sorted; none inside another */
    int64_t *listed_rev;      /* per prefix: the revision of its last listing */
    size_t n;
    char *watch_prefix;       /* the prefixes' longest common prefix */
    struct tby_watch *watch;
    struct tby_hmap held;
    uint64_t listing;         /* listings made, for marking what each one saw */
    int backoff_ms;
    int64_t retry_at;         /* monotonic ms; 0: list now */
};

static struct generic_sync *to_sync(struct tby_sync *y)
{
    return (struct generic_sync *)y;
}

static const struct generic_sync *to_csync(const struct tby_sync *y)
{
    return (const struct generic_sync *)y;
}

/* ---- what was told ------------------------------------------------------------------ */

static const char *held_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct held, node)->key;
}

static struct held *held_find(const struct generic_sync *s, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&s->held, key, held_key);

    return n ? TBY_CONTAINER_OF(n, struct held, node) : NULL;
}

static struct held *held_add(struct generic_sync *s, const char *key)
{
    size_t len = strlen(key);
    struct held *h = malloc(sizeof(*h) + len + 1);

    if (!h)
        return NULL;
    memcpy(h->key, key, len + 1);
    if (tby_hmap_insert(&s->held, &h->node, tby_hash_str(key)) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

static void held_drop(struct generic_sync *s, struct held *h)
{
    tby_hmap_remove(&s->held, &h->node);
    free(h);
}

/* Moves a PUT of kv into out when it differs from what was told. What was told stays
 * exactly what went into out, also when memory runs short. */
static int tell_put(struct generic_sync *s, struct tby_kv *kv, struct tby_event_list *out)
{
    struct held *h = held_find(s, kv->key);
    bool added = false;
    int64_t mod_rev = kv->mod_rev;

    if (h && h->mod_rev == mod_rev) {
        h->listed = s->listing;
        return 0;
    }
    if (!h) {
        if (!(h = held_add(s, kv->key)))
            return -ENOMEM;
        added = true;
    }
    if (tby_event_list_push(out, TBY_EVENT_PUT, kv) < 0) {
        if (added)
            held_drop(s, h);
        return -ENOMEM;
    }
    h->mod_rev = mod_rev;
    h->listed = s->listing;
    return 0;
}

/* Moves a DELETE of kv into out when its key was told. */
static int tell_delete(struct generic_sync *s, struct tby_kv *kv, struct tby_event_list *out)
{
    struct held *h = held_find(s, kv->key);

    if (!h)
        return 0;
    if (tby_event_list_push(out, TBY_EVENT_DELETE, kv) < 0)
        return -ENOMEM;
    held_drop(s, h);
    return 0;
}

/* ---- prefixes ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies, sorts and drops the prefixes inside others; the common prefix too. */
static int set_prefixes(struct generic_sync *s, const char *const *prefixes, size_t n)
{
    size_t kept = 0, common;

    s->prefixes = calloc(n, sizeof(*s->prefixes));
    s->listed_rev = calloc(n, sizeof(*s->listed_rev));
    if (!s->prefixes || !s->listed_rev)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(s->prefixes[i] = strdup(prefixes[i]))) {
            s->n = i;
            return -ENOMEM;
        }
    qsort(s->prefixes, n, sizeof(*s->prefixes), cmp_str);
    /* sorted, a prefix comes right before the ones it holds */
    for (size_t i = 0; i < n; i++) {
        if (kept && starts_with(s->prefixes[i], s->prefixes[kept - 1])) {
            free(s->prefixes[i]);
            continue;
        }
        s->prefixes[kept++] = s->prefixes[i];
    }
    s->n = kept;
    common = strlen(s->prefixes[0]);
    for (size_t i = 1; i < kept; i++) {
        size_t j = 0;

        while (j < common && s->prefixes[i][j] == s->prefixes[0][j])
            j++;
        common = j;
    }
    s->watch_prefix = strndup(s->prefixes[0], common);
    return s->watch_prefix ? 0 : -ENOMEM;
}

/* The index of the prefix key lies under, or -1. */
static ssize_t prefix_of(const struct generic_sync *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (starts_with(key, s->prefixes[i]))
            return (ssize_t)i;
    return -1;
}

/* ---- listing and watching ------------------------------------------------------------- */

static void drop_watch(struct generic_sync *s)
{
    tby_watch_free(s->watch);
    s->watch = NULL;
}

static void lists_clear(struct tby_kv_list *lists, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tby_kv_list_clear(&lists[i]);
    free(lists);
}

/* Lists every prefix, starts the watch, and tells the differences from what was told,
 * then SYNCED. Nothing is told unless the listings and the watch worked; memory running
 * out half way leaves what was told consistent with out, and the next relist tells the
 * rest. */
static int relist(struct generic_sync *s, struct tby_event_list *out, struct tby_error *err)
{
    struct tby_kv_list *lists = calloc(s->n, sizeof(*lists));
    struct tby_kv synced = { 0 };
    struct tby_hnode *n, *next;
    int64_t oldest = INT64_MAX;
    int r = 0;

    if (!lists)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < s->n; i++) {
        r = tby_store_range(s->store, s->prefixes[i], &lists[i], err);
        if (r == 0 && lists[i].rev < oldest)
            oldest = lists[i].rev;
    }
    if (r == 0)
        r = tby_store_watch(s->store, s->watch_prefix, oldest + 1, &s->watch, err);
    if (r < 0) {
        lists_clear(lists, s->n);
        return r;
    }
    s->listing++;
    for (size_t i = 0; r == 0 && i < s->n; i++) {
        s->listed_rev[i] = lists[i].rev;
        for (size_t k = 0; r == 0 && k < lists[i].n; k++)
            r = tell_put(s, &lists[i].items[k], out);
    }
    /* what no listing saw is gone: deleted at the latest by its prefix's listing */
    for (n = tby_hmap_first(&s->held); r == 0 && n; n = next) {
        struct held *h = TBY_CONTAINER_OF(n, struct held, node);
        struct tby_kv kv = { 0 };
        ssize_t p;

        next = tby_hmap_next(&s->held, n);
        if (h->listed == s->listing)
            continue;
        p = prefix_of(s, h->key);
        kv.mod_rev = p >= 0 ? s->listed_rev[p] : 0;
        if (!(kv.key = strdup(h->key)))
            r = -ENOMEM;
        else if ((r = tell_delete(s, &kv, out)) < 0)
            tby_kv_clear(&kv);
    }
    if (r == 0)
        r = tby_event_list_push(out, TBY_EVENT_SYNCED, &synced);
    lists_clear(lists, s->n);
    if (r < 0) {
        /* out of memory half way: what was told is unknown, so tell all again */
        drop_watch(s);
        return tby_error_set(err, r, "out of memory");
    }
    s->base.stats.lists++;
    return 0;
}

/* Moves the watch's events that are news into out. */
static int read_watch(struct generic_sync *s, struct tby_event_list *out, int timeout_ms,
                      struct tby_error *err)
{
    struct tby_event_list ev = { 0 };
    int r = tby_watch_next(s->watch, &ev, timeout_ms, err);

    for (size_t i = 0; i < ev.n; i++) {
        struct tby_event *e = &ev.items[i];
        ssize_t p = prefix_of(s, e->kv.key);
        int q;

        if (p < 0 || e->kv.mod_rev <= s->listed_rev[p])
            continue;
        q = e->type == TBY_EVENT_PUT ? tell_put(s, &e->kv, out) : tell_delete(s, &e->kv, out);
        if (q < 0 && r >= 0) {
            drop_watch(s);
            r = tby_error_set(err, q, "out of memory");
            break;
        }
    }
    tby_event_list_clear(&ev);
    return r;
}

/* Keeps what was told and tries again later. */
static int failed(struct generic_sync *s, int r)
{
    drop_watch(s);
    s->base.online = false;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    s->retry_at = tby_monotonic_ms() + s->backoff_ms;
    return r;
}

static int gs_next(struct tby_sync *y, struct tby_event_list *out, int timeout_ms,
                   struct tby_error *err)
{
    struct generic_sync *s = to_sync(y);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : tby_monotonic_ms() + timeout_ms;
    size_t before = out->n;

    for (;;) {
        int64_t now = tby_monotonic_ms();
        int64_t left = deadline - now;
        int r;

        if (left < 0)
            left = 0;
        if (!s->watch) {
            if (now < s->retry_at) {
                if (left == 0)
                    return 0;
                poll(NULL, 0, (int)(s->retry_at - now < left ? s->retry_at - now : left));
                continue;
            }
            r = relist(s, out, err);
            if (r < 0)
                return failed(s, r);
            s->backoff_ms = 0;
            s->base.online = true;
            return 0;
        }
        r = read_watch(s, out, (int)(left > WATCH_POLL_MS ? WATCH_POLL_MS : left), err);
        if (r == -ESTALE) { /* fell behind compaction: list again, at once */
            drop_watch(s);
            s->retry_at = 0;
            continue;
        }
        if (r < 0)
            return failed(s, r);
        if (out->n > before || tby_monotonic_ms() >= deadline)
            return 0;
    }
}

static int gs_fd(const struct tby_sync *y)
{
    const struct generic_sync *s = to_csync(y);

    return s->watch ? tby_watch_fd(s->watch) : -1;
}

static int gs_timeout_ms(const struct tby_sync *y)
{
    const struct generic_sync *s = to_csync(y);
    int64_t left;

    if (s->watch)
        return WATCH_POLL_MS;
    left = s->retry_at - tby_monotonic_ms();
    return left < 0 ? 0 : (int)left;
}

static void gs_free(struct tby_sync *y)
{
    struct generic_sync *s = to_sync(y);
    struct tby_hnode *n, *next;

    drop_watch(s);
    for (n = tby_hmap_first(&s->held); n; n = next) {
        next = tby_hmap_next(&s->held, n);
        free(TBY_CONTAINER_OF(n, struct held, node));
    }
    tby_hmap_destroy(&s->held);
    for (size_t i = 0; i < s->n; i++)
        free(s->prefixes[i]);
    free(s->prefixes);
    free(s->listed_rev);
    free(s->watch_prefix);
    free(s);
}

static const struct tby_sync_ops generic_sync_ops = {
    .fd = gs_fd,
    .timeout_ms = gs_timeout_ms,
    .next = gs_next,
    .free = gs_free,
};

int tby_store_sync_generic_open(struct tby_store *store, const char *const *prefixes, size_t n,
                                struct tby_sync **out, struct tby_error *err)
{
    struct generic_sync *s = calloc(1, sizeof(*s));

    if (!s)
        return tby_error_set(err, -ENOMEM, "out of memory");
    s->base.ops = &generic_sync_ops;
    s->store = store;
    tby_hmap_init(&s->held);
    if (set_prefixes(s, prefixes, n) < 0) {
        gs_free(&s->base);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    *out = &s->base;
    return 0;
}
