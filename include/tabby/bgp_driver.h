/* bgp_driver.h — keeping one node's BIRD in step with the datastore: what tabby-node's
 * poll loop (and `tabbyctl bgp apply`, once) calls.
 *
 * A sync gathers the node's BGP input (bgp.h) — from the syncer's watched cache in
 * tabby-node, which reads nothing from the datastore; from the store itself for a
 * one-off sync — renders it, and applies it
 * through BIRD's control socket (bird.h): BIRD is reloaded only when the text changed,
 * after `configure check`; a refused configuration leaves the old one in force. While
 * BIRD cannot be reached (restarting, not yet started, socket gone) syncs return -EAGAIN
 * without trying again before tby_bgp_driver_retry_at() (exponential backoff, 100 ms to
 * 5 s), so a loop can sleep until then. Every outcome is counted in struct
 * tby_bgp_stats for node status and metrics, and logged (component "bgp").
 *
 * Ownership: the driver borrows the store or the syncer (which must outlive it) and
 * copies the strings of its configuration; free it with tby_bgp_driver_free.
 */
#ifndef TABBY_BGP_DRIVER_H
#define TABBY_BGP_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"
#include "tabby/store.h"

struct tby_syncer;

struct tby_bgp_driver_config {
    const char *node;
    const char *bird_socket;
    const char *bird_config;     /* the file BIRD was started with (-c) */
    const char *secrets_dir;     /* NULL: TBY_BGP_SECRETS_DIR */
    const struct tby_cidr *extra_blocks; /* added to the node's IPAM blocks (copied) */
    size_t n_extra_blocks;
    /* Where the input comes from: a syncer's cache (it must hold this node's affinity
     * records), or NULL: the store, read on every sync. */
    const struct tby_syncer *syncer;
};

struct tby_bgp_stats {
    uint64_t syncs;              /* every sync that got as far as rendering */
    uint64_t reloads;            /* BIRD took a new configuration */
    uint64_t unchanged;          /* the text was the same: BIRD left alone */
    uint64_t failures;           /* gather, render or apply failed (BIRD refused, …) */
    uint64_t unreachable;        /* BIRD could not be reached */
    size_t peers;                /* in the last rendered configuration */
    size_t blocks;
    size_t warnings;             /* peers left out in the last gather */
    double last_apply_ms;        /* render + apply of the last reload */
    char last_error[TBY_ERROR_MAX]; /* "" after a successful sync */
};

struct tby_bgp_driver;

/* `store` may be NULL when cfg->syncer is set. */
int tby_bgp_driver_new(struct tby_store *store, const struct tby_bgp_driver_config *cfg,
                       struct tby_bgp_driver **out, struct tby_error *err);
void tby_bgp_driver_free(struct tby_bgp_driver *driver);
TBY_DEFINE_FREEP(struct tby_bgp_driver, tby_bgp_driver_free)

/* One sync (now_ms from CLOCK_MONOTONIC). 0: BIRD runs the current configuration
 * (*reloaded, may be NULL, says whether it was just loaded); -EAGAIN: BIRD unreachable,
 * call again at tby_bgp_driver_retry_at(); other errors: nothing changed in BIRD. */
int tby_bgp_driver_sync(struct tby_bgp_driver *driver, uint64_t now_ms, bool *reloaded,
                        struct tby_error *err);
uint64_t tby_bgp_driver_retry_at(const struct tby_bgp_driver *driver);
const struct tby_bgp_stats *tby_bgp_driver_stats(const struct tby_bgp_driver *driver);

#endif
