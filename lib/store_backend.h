/* store_backend.h — the interface every datastore backend implements (private to lib/).
 *
 * A backend allocates a struct that begins with `struct tby_store` and fills `ops`.
 * store.c checks arguments, then calls through `ops`; backends never see NULL stores.
 */
#ifndef TABBY_STORE_BACKEND_H
#define TABBY_STORE_BACKEND_H

#include "tabby/store.h"

struct tby_txn_cmp {
    char *key;
    int64_t mod_rev;
    bool prefix;        /* every key under `key` has a mod_rev <= mod_rev */
};

struct tby_txn_op {
    bool is_delete;
    char *key;
    char *value;
    size_t value_len;
};

struct tby_txn {
    struct tby_txn_cmp *cmps;
    size_t n_cmps, cap_cmps;
    struct tby_txn_op *ops;
    size_t n_ops, cap_ops;
};

struct tby_store_ops {
    int (*get)(struct tby_store *s, const char *key, struct tby_kv *out, struct tby_error *err);
    int (*range)(struct tby_store *s, const char *prefix, struct tby_kv_list *out,
                 struct tby_error *err);
    int (*revision)(struct tby_store *s, int64_t *rev, struct tby_error *err);
    int (*commit)(struct tby_store *s, const struct tby_txn *txn, int64_t *rev,
                  struct tby_error *err);
    int (*compact)(struct tby_store *s, int64_t rev, struct tby_error *err);
    int (*watch)(struct tby_store *s, const char *prefix, int64_t from_rev,
                 struct tby_watch **out, struct tby_error *err);
    void (*close)(struct tby_store *s);
    void (*release_memory)(struct tby_store *s); /* optional */
    /* optional: see tby_store_check_change */
    int (*check_change)(struct tby_store *s, const char *key, enum tby_store_change change,
                        struct tby_error *err);
    /* Optional: list-and-watch done natively (store.h's contract). Without it, syncs are
     * store_sync.c's range + watch. */
    int (*sync_open)(struct tby_store *s, const char *const *prefixes, size_t n,
                     struct tby_sync **out, struct tby_error *err);
};

struct tby_watch_ops {
    int (*fd)(struct tby_watch *w);
    int (*next)(struct tby_watch *w, struct tby_event_list *out, int timeout_ms,
                struct tby_error *err);
    void (*free)(struct tby_watch *w);
};

/* A sync's own work; store.c counts errors and keeps the last one around next. */
struct tby_sync_ops {
    int (*fd)(const struct tby_sync *y);
    int (*timeout_ms)(const struct tby_sync *y);
    int (*next)(struct tby_sync *y, struct tby_event_list *out, int timeout_ms,
                struct tby_error *err);
    void (*free)(struct tby_sync *y);
};

struct tby_store {
    const struct tby_store_ops *ops;
    char *uri;
    /* Commits name one key (a put or delete, compared on that key alone or not at all):
     * the Kubernetes API, and sqlite opened with single_object for tests. */
    bool single_object;
    /* Counted by store.c with tby_store_count. A native sync adds its own lists (as
     * ranges) and watch requests (as watches), from a thread of its own; a backend whose
     * commit must read its object first (k8s:) counts that read as a get. */
    struct tby_store_stats stats;
};

/* Adds one to a counter of stats (atomically: a native sync counts from its thread). */
static inline void tby_store_count(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static inline void tby_store_add(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* Raises *counter to n when n is larger. */
static inline void tby_store_max(uint64_t *counter, uint64_t n)
{
    uint64_t cur = __atomic_load_n(counter, __ATOMIC_RELAXED);

    while (n > cur && !__atomic_compare_exchange_n(counter, &cur, n, false, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

struct tby_watch {
    const struct tby_watch_ops *ops;
    int64_t next_rev;
};

/* A backend's sync begins with this. The implementation keeps `online` and counts
 * stats.lists; store.c counts errors and sets or clears last_error. */
struct tby_sync {
    const struct tby_sync_ops *ops;
    bool online;
    bool decoded;       /* tby_store_sync_decoded asked for values decoded */
    struct tby_sync_stats stats;
};

/* Backends' constructors; `location` is the URI without its scheme. */
int tby_store_sqlite_open(const char *location, struct tby_store **out, struct tby_error *err);
int tby_store_etcd_open(const char *location, const struct tby_store_options *opts,
                        struct tby_store **out, struct tby_error *err);
/* The Kubernetes API (store_k8s.c); location "" or a kubeconfig's path. */
int tby_store_k8s_open(const char *location, const struct tby_store_options *opts,
                       struct tby_store **out, struct tby_error *err);
/* The store of a sqlite file that does not exist, opened with no_create (store_empty.c). */
int tby_store_empty_open(const char *path, struct tby_store **out, struct tby_error *err);
/* The generic sync (store_sync.c), over the store's range and watch. */
int tby_store_sync_generic_open(struct tby_store *s, const char *const *prefixes, size_t n,
                                struct tby_sync **out, struct tby_error *err);

/* Helpers shared by backends. */
int tby_kv_list_push(struct tby_kv_list *list, struct tby_kv *kv);
int tby_event_list_push(struct tby_event_list *list, enum tby_event_type type,
                        struct tby_kv *kv);
/* The smallest string greater than every string starting with prefix ("" when none). */
char *tby_prefix_end(const char *prefix);
/* CLOCK_MONOTONIC in milliseconds, for watches' timeouts, and in microseconds. */
int64_t tby_monotonic_ms(void);
int64_t tby_monotonic_us(void);

#endif
