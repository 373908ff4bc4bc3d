/* store.h — the datastore: an etcd-shaped revisioned key/value store.
 *
 * Owns: the connection to one backend (sqlite file, etcd cluster) and the key/value
 * records it returns. Every change bumps one global revision; every key remembers the
 * revision that created it (create_rev) and last changed it (mod_rev). A transaction
 * compares keys' mod revisions (0 = "the key does not exist") and, only if all compares
 * hold, applies its puts and deletes at one new revision. A watch delivers every change
 * under a prefix, in revision order, from a given revision on.
 *
 * URIs: "sqlite:/path/to/file.db" (or a bare path), "etcd:http://host:2379[,…]".
 *
 * Errors (negative errno): -ENOENT no such key; -ECANCELED a compare failed (nothing
 * was written); -ESTALE the watch's start revision was compacted away (resync with a
 * range read); -EAGAIN the store is unreachable now (try again later); -EINVAL bad
 * arguments or URI.
 *
 * Ownership: records (struct tby_kv, tby_kv_list, tby_event_list) belong to the caller
 * and are freed with their _clear function; a txn with tby_txn_free; a watch with
 * tby_watch_free (before the store it came from).
 */
#ifndef TABBY_STORE_H
#define TABBY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/error.h"

struct tby_store;
struct tby_watch;

struct tby_kv {
    char *key;
    char *value;        /* NUL-terminated for convenience; value_len excludes the NUL */
    size_t value_len;
    int64_t create_rev;
    int64_t mod_rev;
    int64_t version;    /* 1 when created, +1 on every later put */
};

struct tby_kv_list {
    struct tby_kv *items;
    size_t n;
    int64_t rev;        /* the store's revision when the range was read */
};

enum tby_event_type {
    TBY_EVENT_PUT,
    TBY_EVENT_DELETE,
};

struct tby_event {
    enum tby_event_type type;
    struct tby_kv kv;   /* for a delete: key, mod_rev = the deleting revision, no value */
};

struct tby_event_list {
    struct tby_event *items;
    size_t n;
};

/* ---- opening ---------------------------------------------------------------- */

/* Opens (creating when needed) the store named by `uri`. */
int tby_store_open(const char *uri, struct tby_store **out, struct tby_error *err);
void tby_store_close(struct tby_store *store);
/* The URI the store was opened with. */
const char *tby_store_uri(const struct tby_store *store);

/* ---- reads ------------------------------------------------------------------ */

int tby_store_get(struct tby_store *store, const char *key, struct tby_kv *out,
                  struct tby_error *err);
/* All keys starting with `prefix`, sorted by key. */
int tby_store_range(struct tby_store *store, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err);
/* The store's current revision. */
int tby_store_revision(struct tby_store *store, int64_t *rev, struct tby_error *err);

/* ---- writes ----------------------------------------------------------------- */

/* Unconditional put / delete; *rev (may be NULL) receives the new revision.
 * Deleting a missing key returns -ENOENT. */
int tby_store_put(struct tby_store *store, const char *key, const char *value,
                  size_t value_len, int64_t *rev, struct tby_error *err);
int tby_store_delete(struct tby_store *store, const char *key, int64_t *rev,
                     struct tby_error *err);
/* Put only if the key's mod_rev is `expect_mod_rev` (0: only if absent). -ECANCELED
 * otherwise. */
int tby_store_cas(struct tby_store *store, const char *key, int64_t expect_mod_rev,
                  const char *value, size_t value_len, int64_t *rev, struct tby_error *err);

/* A transaction: compares, then puts and deletes, applied at one revision or not at
 * all. The txn keeps its own copies of keys and values. */
struct tby_txn;
struct tby_txn *tby_txn_new(void);
void tby_txn_free(struct tby_txn *txn);
void tby_txn_freep(struct tby_txn **txn);
/* Holds when `key`'s mod_rev equals `mod_rev` (0 = key absent). */
int tby_txn_compare(struct tby_txn *txn, const char *key, int64_t mod_rev);
int tby_txn_put(struct tby_txn *txn, const char *key, const char *value, size_t value_len);
int tby_txn_delete(struct tby_txn *txn, const char *key);
size_t tby_txn_op_count(const struct tby_txn *txn);
/* Applies the txn. -ECANCELED when a compare fails (nothing written). Deleting a
 * missing key inside a txn is not an error. */
int tby_store_commit(struct tby_store *store, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err);

/* Drops the change history up to and including `rev`: watches from earlier revisions
 * get -ESTALE. Backends also compact on their own (sqlite keeps 100,000 revisions). */
int tby_store_compact(struct tby_store *store, int64_t rev, struct tby_error *err);

/* ---- watch ------------------------------------------------------------------ */

/* Watches keys under `prefix` for changes with revision >= from_rev (0: from the next
 * change on). */
int tby_store_watch(struct tby_store *store, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err);
/* A file descriptor that becomes readable when events may be waiting; a poll loop
 * waits on it and then calls tby_watch_next with timeout 0. */
int tby_watch_fd(struct tby_watch *watch);
/* Appends the waiting events to `out` (which may be empty afterwards), waiting up to
 * timeout_ms (-1: forever) for at least one. -ESTALE when the watch fell behind
 * compaction: the caller must re-read with tby_store_range and watch again from the
 * range's rev + 1. */
int tby_watch_next(struct tby_watch *watch, struct tby_event_list *out, int timeout_ms,
                   struct tby_error *err);
/* The revision the next event will have at least. */
int64_t tby_watch_next_rev(const struct tby_watch *watch);
void tby_watch_free(struct tby_watch *watch);

/* ---- records ---------------------------------------------------------------- */

void tby_kv_clear(struct tby_kv *kv);
void tby_kv_list_clear(struct tby_kv_list *list);
void tby_event_list_clear(struct tby_event_list *list);
void tby_storep(struct tby_store **store);

#endif
