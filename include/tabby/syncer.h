/* syncer.h — tabby-node's one watched cache: an up-to-date copy of every resource under
 * /tabby/v1/ and of the records its consumers ask for (IPAM's blocks and affinities), and
 * consumers (policy, routes, BGP, registration, IPAM upkeep) told what changed. After the
 * first read, tabby-node's parts work from it and read the datastore again only before
 * writing.
 *
 * Owns: the decoded resources and the records (with their values), by datastore key,
 * and the store's sync. Consumers get borrowed resources and records that live until
 * their callback returns (or, through tby_syncer_foreach*, until the next poll); they copy
 * what they keep. The store stays the caller's and must outlive the syncer.
 *
 * How: a consumer of the store's list-and-watch stream (store.h's sync) of every kind's
 * prefix and the consumers' record prefixes (so not IPAM's handles). The store lists,
 * watches, relists with exact differences after compaction and retries with backoff
 * (100 ms to 30 s) while it cannot be reached; meanwhile everything here stays as it is
 * (fail-static: the dataplane keeps enforcing the last known policy). Each resource value
 * is decoded with tby_catalog_decode_kv; a value that does not decode (or a kind this
 * build cannot decode yet) is logged and counts as absent.
 *
 * Poll-loop friendly: nothing blocks. A loop polls tby_syncer_fd() for input with at most
 * tby_syncer_timeout_ms() and then calls tby_syncer_poll().
 */
#ifndef TABBY_SYNCER_H
#define TABBY_SYNCER_H

#include <stdbool.h>
#include <stddef.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/resource.h"
#include "tabby/store.h"

struct tby_syncer;

struct tby_syncer_consumer {
    const char *name;         /* for logs */
    void *ctx;
    /* A resource appeared (old == NULL) or changed. A negative return is logged; the
     * syncer goes on (the consumer is expected to fail safe). */
    int (*update)(void *ctx, const struct tby_resource *old, const struct tby_resource *res);
    int (*remove)(void *ctx, const struct tby_resource *old);
    /* The first complete listing has been delivered (called once), and again after each
     * re-read. May be NULL. */
    void (*in_sync)(void *ctx);
    /* Records that are no resources (IPAM's blocks and affinity records): every key
     * starting with record_prefix is held too, with its value, and a change is told with
     * its record (kv NULL when the key went). Both may be NULL. */
    const char *record_prefix;
    int (*record)(void *ctx, const char *key, const struct tby_kv *kv);
};

int tby_syncer_new(struct tby_store *store, struct tby_syncer **out);
void tby_syncer_free(struct tby_syncer *s);
TBY_DEFINE_FREEP(struct tby_syncer, tby_syncer_free)
/* Consumers are called in the order they were added; all are added before the first
 * poll (which asks the store for their record prefixes). -ENOMEM, -EBUSY after. */
int tby_syncer_add_consumer(struct tby_syncer *s, const struct tby_syncer_consumer *c);

/* Does what is due now: the first read, a retry whose time has come, waiting events.
 * Returns 0, or the error of this attempt (already scheduled for a retry). */
int tby_syncer_poll(struct tby_syncer *s, struct tby_error *err);
/* The watch's file descriptor, or -1 while there is none. */
int tby_syncer_fd(const struct tby_syncer *s);
/* Milliseconds until tby_syncer_poll must run at the latest. */
int tby_syncer_timeout_ms(const struct tby_syncer *s);
bool tby_syncer_in_sync(const struct tby_syncer *s);
/* Whether the datastore answered the last attempt (the watch is up). */
bool tby_syncer_online(const struct tby_syncer *s);
/* Resources (and records) held now. */
size_t tby_syncer_count(const struct tby_syncer *s);

/* Calls fn for everything held, in no order: a resource with its key, or a record (res
 * NULL). Both are borrowed until the next tby_syncer_poll. Stops at the first non-zero
 * return, which it returns. */
int tby_syncer_foreach(const struct tby_syncer *s,
                       int (*fn)(void *ctx, const char *key, const struct tby_resource *res),
                       void *ctx);
/* The same for the records whose keys start with prefix, with their values. */
int tby_syncer_foreach_record(const struct tby_syncer *s, const char *prefix,
                              int (*fn)(void *ctx, const struct tby_kv *kv), void *ctx);

struct tby_syncer_stats {
    uint64_t reads;           /* complete listings (the first, and relists) */
    uint64_t events;          /* changes told */
    uint64_t errors;          /* failed attempts to list or watch */
    char last_error[TBY_ERROR_MAX]; /* of the last failed attempt; "" once online again */
};
const struct tby_syncer_stats *tby_syncer_stats(const struct tby_syncer *s);

#endif
