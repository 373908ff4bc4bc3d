/* store.h — the datastore: an etcd-shaped revisioned key/value store.
 *
 * Owns: the connection to one backend (sqlite file, etcd cluster) and the key/value
 * records it returns. Every change bumps one global revision; every key remembers the
 * revision that created it (create_rev) and last changed it (mod_rev). A transaction
 * compares keys' mod revisions (0 = "the key does not exist") and, only if all compares
 * hold, applies its puts and deletes at one new revision. A watch delivers every change
 * under a prefix, in revision order, from a given revision on.
 *
 * URIs: "sqlite:/path/to/file.db" (or a bare path), or "etcd:" and a comma-separated list
 * of endpoints, tried in order (a failed connection moves on to the next; the one that
 * answered is tried first next time):
 *   etcd:http://10.0.0.1:2379,https://10.0.0.2:2379
 *   etcd:unix:///run/etcd/etcd.sock:2379   (a unix socket; "unixs://" for TLS over it)
 *   etcd:                                  (the endpoints come from ETCD_ENDPOINTS)
 * etcd listening with --listen-client-urls unix://etcd.sock:2379 makes a socket file
 * literally named "etcd.sock:2379" in its working folder: name that file's path.
 * Credentials never go in the URI; see struct tby_store_options.
 *
 * "k8s:" keeps everything in a Kubernetes API server, as Calico's KDD mode does:
 *   k8s:                      (in-cluster, else $KUBECONFIG, else ~/.kube/config)
 *   k8s:/path/to/kubeconfig
 * Keys are views of API objects (Calico's custom resources, Pods, Nodes, Namespaces…;
 * lib/store_k8s.h), values the same JSON as on sqlite and etcd, mod_rev the object's
 * resourceVersion. Differences: there is no revision across keys (a range's rev and
 * tby_store_revision only say "at least this far"), create_rev and version are 0, a
 * transaction may touch one key only (tby_store_has_multi_txn is false; more is -EINVAL),
 * some keys are read-only (-EPERM: Profiles, Node creation), and a watch delivers the
 * current state of every key first.
 *
 * Errors (negative errno): -ENOENT no such key; -ECANCELED a compare failed (nothing
 * was written); -ESTALE the watch's start revision was compacted away (resync with a
 * range read); -EAGAIN the store is unreachable now (try again later; on etcd, a write
 * whose answer was lost also gives -EAGAIN: it may or may not have been applied);
 * -EINVAL bad arguments or URI; -EACCES etcd refused the credentials or permission;
 * -ENOSPC etcd's database is full; -EROFS a write to a sqlite file that did not exist when
 * opened with no_create; -EIO anything else.
 *
 * Threads: a store serves one thread at a time (each thread or process opens its own).
 * An etcd watch runs a thread of its own, which takes no signals.
 *
 * Ownership: records (struct tby_kv, tby_kv_list, tby_event_list) belong to the caller
 * and are freed with their _clear function; a txn with tby_txn_free; a watch with
 * tby_watch_free and a sync with tby_store_sync_free (both before the store they came
 * from).
 */
#ifndef TABBY_STORE_H
#define TABBY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"

struct tby_store;
struct tby_watch;
struct tby_sync;
struct tby_resource;

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
    TBY_EVENT_SYNCED,   /* syncs only: the events before it complete a listing (no kv) */
};

struct tby_event {
    enum tby_event_type type;
    struct tby_kv kv;   /* for a delete: key, mod_rev = the deleting revision, no value */
    /* A PUT's value decoded (its resource_version the mod_rev), from a sync asked for it
     * (tby_store_sync_decoded) on a backend that decodes anyway; kv.value is then NULL.
     * The event's own. */
    struct tby_resource *res;
};

struct tby_event_list {
    struct tby_event *items;
    size_t n;
};

/* ---- opening ---------------------------------------------------------------- */

/* Settings for stores that need more than a URI (etcd; k8s: takes the two timeouts, and
 * with a timeout waits out throttling only briefly); sqlite reads only no_create.
 * Fields may be NULL/0 (empty strings count as unset); the strings are copied by the open
 * call. Error messages and logs never contain the password or the auth token. */
struct tby_store_options {
    const char *endpoints;    /* etcd endpoints when the URI is just "etcd:" */
    const char *ca_cert_file; /* PEM CA that signed etcd's server certificate */
    const char *cert_file;    /* PEM client certificate, for etcd's client-cert-auth */
    const char *key_file;     /* its private key */
    const char *username;     /* etcd user; authenticates for a token, renewed as it expires */
    const char *password;
    int timeout_ms;           /* per request; 0: 5000 */
    int connect_timeout_ms;   /* per endpoint; 0: 2000 */
    /* For commands that only look (or change what exists): a sqlite file that does not
     * exist is not created; the store reads as empty and refuses writes (-EROFS). */
    bool no_create;
    /* For tests: the store refuses, as the Kubernetes API does, every commit but a
     * single-object one (one put or delete, compared on its own key or not at all), so
     * callers take their path for stores without multi-key transactions. */
    bool single_object;
};

/* Fills `opts` from the environment, with Calico's names: ETCD_ENDPOINTS,
 * ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD. The
 * strings point into the environment. */
void tby_store_options_from_env(struct tby_store_options *opts);

/* Opens (creating when needed) the store named by `uri`, with settings from the
 * environment (tby_store_options_from_env). Nothing is sent to etcd yet: a store opened
 * while etcd is down works once it is back. */
int tby_store_open(const char *uri, struct tby_store **out, struct tby_error *err);
/* The same with explicit settings (e.g. read from a config file); `opts` may be NULL. */
int tby_store_open_options(const char *uri, const struct tby_store_options *opts,
                           struct tby_store **out, struct tby_error *err);
void tby_store_close(struct tby_store *store);
TBY_DEFINE_FREEP(struct tby_store, tby_store_close)
/* The database file a URI names (sqlite:PATH, or a bare path), or NULL for a store that
 * is not a local file (etcd:) or an unknown scheme. */
const char *tby_store_local_file(const char *uri);
/* Gives back what the store caches and can read again (sqlite's page cache), for a
 * long-lived reader gone quiet; nothing for a backend without such a cache. */
void tby_store_release_memory(struct tby_store *store);
/* The URI the store was opened with. */
const char *tby_store_uri(const struct tby_store *store);
/* Whether a commit may span several keys (compares on some, puts and deletes on
 * others): sqlite and etcd, not the Kubernetes API (nor sqlite opened with
 * single_object). Without, only a single-object commit is taken: one put or delete,
 * compared on its own key or not at all; anything else is -EINVAL. */
bool tby_store_has_multi_txn(const struct tby_store *store);
/* Whether the store knows Kubernetes Services, so that rules naming one (`services`) can be
 * enforced: the Kubernetes API (k8s:), whose EndpointSlices it holds as records under
 * TBY_EPS_PREFIX (endpointslice.h); not sqlite or etcd, where nothing keeps them. */
bool tby_store_knows_services(const struct tby_store *store);
/* Whether the store stands for a sqlite file that did not exist (opened with no_create):
 * it holds nothing, and the file was not made. */
bool tby_store_missing(const struct tby_store *store);
/* For a k8s: store, where its API server is and the credentials it uses (borrowed: lives
 * as long as the store), so that a program can make requests of its own there (a client
 * per thread, kube.h); NULL for any other store. */
struct tby_kube_config;
const struct tby_kube_config *tby_store_kube_config(const struct tby_store *store);
/* For a k8s: store: `obj`, an object of type `res` that the caller has just read from the
 * same API server (`server`, its URL), answers the store's reads of that object instead
 * of GETs of its own until the store next commits (a program that reads a Pod for its
 * own reasons and then writes the Pod's endpoint reads it once); a write still compares
 * its resourceVersion. A new reference is taken. Other stores, and a k8s: store of
 * another server, ignore it. */
struct tby_kube_resource;
void tby_store_offer(struct tby_store *store, const char *server,
                     const struct tby_kube_resource *res, struct json_t *obj);

/* ---- reads ------------------------------------------------------------------ */

int tby_store_get(struct tby_store *store, const char *key, struct tby_kv *out,
                  struct tby_error *err);
/* All keys starting with `prefix`, sorted by key. */
int tby_store_range(struct tby_store *store, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err);
/* The store's current revision. */
int tby_store_revision(struct tby_store *store, int64_t *rev, struct tby_error *err);

/* What this store handle asked of its backend since it was opened: every get, range and
 * watch start (a sync's listings and watches included: a backend that syncs natively
 * counts its lists as ranges and its watch requests as watches — on k8s: each LIST page
 * and WATCH request its informer makes, from the informer's thread), and every commit (on
 * k8s also the GET a commit makes of an object it had not read at the compared
 * revision, as a get). */
struct tby_store_stats {
    uint64_t gets;
    uint64_t ranges;
    uint64_t watches;
    uint64_t commits;
    /* Where contention shows: commits refused because a compared key had changed
     * (-ECANCELED), the bytes of the values committed, and the time spent in reads (gets
     * and ranges) and in commits, in microseconds. */
    uint64_t conflicts;
    uint64_t bytes_written;
    uint64_t read_us;
    uint64_t commit_us;
    /* sqlite: time waiting for the database's write lock (another process holding it),
     * time holding it (from taking it to the end of the commit), and the longest hold,
     * in microseconds; 0 on other stores. */
    uint64_t lock_wait_us;
    uint64_t lock_hold_us;
    uint64_t lock_hold_max_us;
};
/* The counters now (each read atomically: a native sync adds from a thread of its own). */
struct tby_store_stats tby_store_stats(const struct tby_store *store);

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
TBY_DEFINE_FREEP(struct tby_txn, tby_txn_free)
/* Holds when `key`'s mod_rev equals `mod_rev` (0 = key absent). */
int tby_txn_compare(struct tby_txn *txn, const char *key, int64_t mod_rev);
/* Holds when no key starting with `prefix` was created or changed after revision
 * `max_mod_rev` (every such key's mod_rev is at most it; none at all holds too). With a
 * compare per key read, it proves a range read at that revision is still what the store
 * holds. Only on stores with multi-key transactions. */
int tby_txn_compare_prefix(struct tby_txn *txn, const char *prefix, int64_t max_mod_rev);
int tby_txn_put(struct tby_txn *txn, const char *key, const char *value, size_t value_len);
int tby_txn_delete(struct tby_txn *txn, const char *key);
size_t tby_txn_op_count(const struct tby_txn *txn);
/* Applies the txn. -ECANCELED when a compare fails (nothing written). Deleting a
 * missing key inside a txn is not an error. etcd takes at most --max-txn-ops (default
 * 128) puts and deletes, and as many compares, in one txn: more is -EINVAL. */
int tby_store_commit(struct tby_store *store, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err);

/* Whether a change of `key` can be taken at all, asked before any is made (so a file of
 * documents can be refused as a whole): 0, or the error the write would meet whatever the
 * data holds: on k8s:, -EPERM for what is read-only there (Profiles; creating or deleting
 * a Node) and -EINVAL for a key no Kubernetes object holds. Always 0 on sqlite and etcd. */
enum tby_store_change { TBY_CHANGE_CREATE, TBY_CHANGE_UPDATE, TBY_CHANGE_DELETE };
int tby_store_check_change(struct tby_store *store, const char *key,
                           enum tby_store_change change, struct tby_error *err);

/* Drops the change history up to and including `rev`: watches from earlier revisions
 * get -ESTALE. Backends also compact on their own (sqlite keeps 20,000 revisions; etcd
 * as its --auto-compaction settings say). Compacting at or below an earlier compaction
 * point is not an error. */
int tby_store_compact(struct tby_store *store, int64_t rev, struct tby_error *err);

/* ---- watch ------------------------------------------------------------------ */

/* Watches keys under `prefix` for changes with revision >= from_rev (0: from the next
 * change on). */
int tby_store_watch(struct tby_store *store, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err);
/* A file descriptor that becomes readable when events may be waiting; a poll loop
 * waits on it and then calls tby_watch_next with timeout 0. An etcd watch whose
 * connection breaks reconnects by itself (no event lost or repeated); meanwhile it just
 * has no events. */
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

/* ---- list and watch: a sync ------------------------------------------------------
 *
 * A sync keeps its caller's copy of every key under a set of prefixes up to date: a
 * stream of PUT and DELETE events, and a SYNCED marker each time the events delivered so
 * far add up to a complete listing — after the first, and again after every relist. The
 * caller applies events in order to a map of key → value and holds, at each SYNCED, what
 * the store held (per prefix: at one revision; there is no one revision across prefixes).
 *
 * Everything that keeps the stream whole is inside: the first listing, the watch from
 * it, a relist when the watch falls behind compaction (-ESTALE; a 410 on Kubernetes) that
 * delivers exactly the differences from what was delivered before (a PUT for every key
 * new or changed, a DELETE for every key gone, nothing for the rest), and, when the store
 * cannot be reached, retries with exponential backoff (100 ms to 30 s), each a relist
 * with differences, so nothing missed in between is lost. A PUT never repeats what was
 * delivered last for its key (the same mod_rev), and a DELETE names only a key delivered.
 * Keys outside the prefixes are never delivered.
 *
 * The generic implementation (store_sync.c: a range per prefix, one watch of their
 * common prefix from the oldest listing, events filtered) serves sqlite and etcd; a
 * backend may implement the operation natively as long as it keeps this contract. k8s:
 * does (store_k8s_sync.c): one reflector per API type behind the prefixes on one thread,
 * a LIST each and then a WATCH with bookmarks, a 410 relisting that type only, a SYNCED
 * marker once every type has listed and after each relist, a PUT only when a key's value
 * changed (most pod updates change no endpoint); a type losing its server is a failed
 * attempt (-EAGAIN, the server's answer the last error) while it reconnects by itself,
 * from where it was, without listing again.
 *
 * Poll-loop friendly: wait on tby_store_sync_fd (when >= 0) for at most
 * tby_store_sync_timeout_ms, then call tby_store_sync_next with timeout 0. */

/* Opens a sync of the keys under prefixes[0..n) (n >= 1; the strings are copied; a prefix
 * inside another one adds nothing). Nothing is read yet: the first tby_store_sync_next
 * lists. -EINVAL, -ENOMEM. */
int tby_store_sync_open(struct tby_store *store, const char *const *prefixes, size_t n,
                        struct tby_sync **out, struct tby_error *err);
/* Readable when events may be waiting; -1 while there is no watch (not listed yet, or
 * retrying after a failure). */
/* Asks for PUTs' values decoded (the event's res, kv.value NULL) where the backend holds
 * them as objects anyway: on k8s: a value is a converted API object, whose text would
 * only be parsed again. A value that does not decode as its key's kind, and every value
 * of the other backends, still comes as text. Call before the first next. */
void tby_store_sync_decoded(struct tby_sync *sync);
int tby_store_sync_fd(const struct tby_sync *sync);
/* ms until tby_store_sync_next is due at the latest (0: now): a retry's time, or the
 * watch's safety poll. */
int tby_store_sync_timeout_ms(const struct tby_sync *sync);
/* Does what is due — a listing (the first, a relist, a retry whose time has come),
 * waiting events — and appends the events to `out`, waiting up to timeout_ms (-1:
 * forever) for at least one. 0, also with nothing new; or the error of this attempt,
 * already scheduled for a retry (`out` keeps what came before it: apply it). */
int tby_store_sync_next(struct tby_sync *sync, struct tby_event_list *out, int timeout_ms,
                        struct tby_error *err);
/* Whether the store answered the last attempt (the watch is up). */
bool tby_store_sync_online(const struct tby_sync *sync);

struct tby_sync_stats {
    uint64_t lists;           /* complete listings delivered (the first, then relists) */
    uint64_t errors;          /* failed attempts to list or watch */
    char last_error[TBY_ERROR_MAX]; /* of the last failed attempt; "" once online again */
};
const struct tby_sync_stats *tby_store_sync_stats(const struct tby_sync *sync);
void tby_store_sync_free(struct tby_sync *sync);
TBY_DEFINE_FREEP(struct tby_sync, tby_store_sync_free)

/* ---- records ---------------------------------------------------------------- */

void tby_kv_clear(struct tby_kv *kv);
void tby_kv_list_clear(struct tby_kv_list *list);
void tby_event_list_clear(struct tby_event_list *list);

#endif
