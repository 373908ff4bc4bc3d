/* kube_informer.h — keeping up with Kubernetes objects: for each resource type asked
 * for, a reflector lists every object (in pages, one snapshot), then watches from the
 * list's resourceVersion, and hands the caller each change in order.
 *
 * One informer drives any number of reflectors (tabby-node watches ~15 types) from ONE
 * background thread: a curl multi handle with one transfer per reflector (a list page or
 * a watch stream). The thread queues changes and makes one file descriptor readable; the
 * caller's poll loop waits on it and drains the queue without blocking.
 *
 * What a reflector promises:
 *  - ADDED / MODIFIED / DELETED in the order the server made them, none lost, none
 *    twice. It keeps the name and resourceVersion of every object it has delivered, so
 *    when the watch cannot go on (410 Expired: the server's history no longer reaches
 *    back to where it was) it lists again and delivers exactly the difference: objects
 *    changed meanwhile as MODIFIED, gone as DELETED, new as ADDED.
 *  - SYNCED once, after its first complete list was delivered (or, with
 *    absent_recheck_s, once the type answered 404: no objects); RELISTED after each
 *    later one (a type that went away or came back counts, a recheck finding it still
 *    absent does not).
 *  - ONLINE / OFFLINE when the server becomes reachable or not (OFFLINE carries the
 *    reason). It reconnects by itself: from the last resourceVersion seen (an event's or
 *    a BOOKMARK's), after a jittered pause growing from 0.8 s to 30 s, or after the time a
 *    429's Retry-After asks for. A watch the server ends (timeoutSeconds) is reopened at
 *    once.
 * A list's ADDED and MODIFIED are delivered page by page as the pages come, its DELETED
 * right before its SYNCED or RELISTED: a caller that applies a listing whole (as the
 * consistency above wants) holds a reflector's changes until that marker. A listing
 * started again (its snapshot expired between pages) delivers only what differs from
 * what the abandoned one delivered. A listing's next page waits while more than a
 * thousand changes wait for the caller: a caller slower than the server then holds a
 * page or two parsed, not the whole listing; so a caller must take changes for a listing
 * to go on. Objects from a list carry kind and apiVersion like the ones from a watch. A DELETED
 * found by a relist carries only what was known: kind, apiVersion and metadata (name,
 * namespace, the last resourceVersion delivered); `final_state_unknown` says so.
 *
 * Ownership. The informer owns its thread, its curl handles, the reflectors' state and
 * the queue; the caller owns what tby_kube_informer_next hands out (clear it with
 * tby_kube_changes_clear). It borrows the config (and the resource tables), which must
 * outlive it. Add reflectors before starting; after the start only _fd, _next, _synced
 * and _free may be called, from one thread.
 */
#ifndef TABBY_KUBE_INFORMER_H
#define TABBY_KUBE_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/kube.h"

enum tby_kube_change_type {
    TBY_KUBE_ADDED,
    TBY_KUBE_MODIFIED,
    TBY_KUBE_DELETED,
    TBY_KUBE_SYNCED,  /* the reflector's first complete list has been delivered */
    TBY_KUBE_ONLINE,  /* the server answers again */
    TBY_KUBE_OFFLINE, /* it does not; message says why */
    TBY_KUBE_RELISTED, /* a later complete list (after a 410) has been delivered */
};

struct tby_kube_change {
    enum tby_kube_change_type type;
    int reflector;            /* what tby_kube_informer_add returned */
    json_t *object;           /* ADDED, MODIFIED, DELETED; a reference the holder owns */
    bool final_state_unknown; /* DELETED found by a relist: object holds metadata only */
    bool listed;              /* from a listing: applied whole at its SYNCED/RELISTED */
    char *message;            /* OFFLINE: why (never a secret) */
};

struct tby_kube_changes {
    struct tby_kube_change *items;
    size_t n, cap;
};

/* Appends a change, taking the reference to `object` (also on failure). 0 or -ENOMEM. */
int tby_kube_changes_push(struct tby_kube_changes *list, enum tby_kube_change_type type,
                          int reflector, json_t *object, const char *message);
void tby_kube_changes_clear(struct tby_kube_changes *list);

/* What one reflector reads. */
struct tby_kube_watch_options {
    const char *ns;             /* one namespace; NULL or "": all */
    const char *label_selector;
    const char *field_selector; /* "spec.nodeName=node-1" */
    long page_size;             /* list pages; 0: 500 */
    long timeout_s;             /* a watch lasts between this and twice this (random, so
                                 * reflectors do not reconnect together); 0: 300 */
    /* A type the server does not serve (404 on its list: a CRD not installed) counts as
     * empty and synced, as Calico counts it, and is listed again after this many
     * seconds; 0: a 404 is a failure like any other (retried after backoff). */
    long absent_recheck_s;
};

struct tby_kube_informer;

int tby_kube_informer_new(const struct tby_kube_config *cfg, struct tby_kube_informer **out,
                          struct tby_error *err);
/* A reflector for `res`; returns its number (>= 0, in order of adding) or -errno. */
int tby_kube_informer_add(struct tby_kube_informer *inf, const struct tby_kube_resource *res,
                          const struct tby_kube_watch_options *opts, struct tby_error *err);
/* Counters the informer adds its requests to, from its own thread (atomically, with
 * __atomic_add_fetch): each list request — every page — to *lists, each watch request to
 * *watches. Either may be NULL; both must outlive the informer. Before the start. */
void tby_kube_informer_count(struct tby_kube_informer *inf, uint64_t *lists,
                             uint64_t *watches);
/* Starts the thread. */
int tby_kube_informer_start(struct tby_kube_informer *inf, struct tby_error *err);
/* Readable while changes wait. */
int tby_kube_informer_fd(const struct tby_kube_informer *inf);
/* Appends every queued change to `out`, without blocking. 0 (also when there was none),
 * or -ENOMEM / -EIO when the thread could not go on (the message says why). */
int tby_kube_informer_next(struct tby_kube_informer *inf, struct tby_kube_changes *out,
                           struct tby_error *err);
/* Whether every reflector has delivered its first complete list. */
bool tby_kube_informer_synced(const struct tby_kube_informer *inf);
/* Stops the thread (it ends its transfers at once) and frees everything. */
void tby_kube_informer_free(struct tby_kube_informer *inf);
TBY_DEFINE_FREEP(struct tby_kube_informer, tby_kube_informer_free)

/* ---- reconnection pauses (exposed for tests) ------------------------------------------- */

#define TBY_KUBE_BACKOFF_MIN_MS 800
#define TBY_KUBE_BACKOFF_MAX_MS 30000

struct tby_kube_backoff {
    long base_ms;  /* the next pause before jitter: 800, 1600, … 30000 */
    uint64_t rng;  /* state of the jitter's generator; any seed but 0 */
};

void tby_kube_backoff_init(struct tby_kube_backoff *b, uint64_t seed);
/* After a success: the next pause is the shortest again. */
void tby_kube_backoff_reset(struct tby_kube_backoff *b);
/* The next pause: base ±25 % (at most TBY_KUBE_BACKOFF_MAX_MS); base then doubles, up
 * to TBY_KUBE_BACKOFF_MAX_MS. */
long tby_kube_backoff_next(struct tby_kube_backoff *b);
/* A number in [0, n) from the same generator. */
uint64_t tby_kube_backoff_random(struct tby_kube_backoff *b, uint64_t n);

#endif
