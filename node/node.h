/* node.h — the parts of tabby-node (private to node/): its settings, and the policy
 * engine as a consumer of the datastore syncer.
 *
 * Ownership: struct node_policy owns the calculation and the nftables dataplane it
 * drives; node_policy_free releases both and leaves the kernel table in place.
 */
#ifndef TABBY_NODE_H
#define TABBY_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/calc.h"
#include "tabby/error.h"
#include "tabby/nft.h"
#include "tabby/syncer.h"

struct node_options {
    const char *store_uri;
    const char *node_name;
    bool allow_root_netns;
    bool cleanup;             /* delete table inet tabby and exit */
    bool dump;                /* print the table tabby would program and exit */
    int resync_s;             /* read the table back this often (0: never) */
};

/* The policy engine: resources in (through the syncer), table inet tabby out. */
struct node_policy {
    struct tby_calc *calc;
    struct tby_nft *nft;      /* NULL in --dump mode */
    bool changed;             /* the calculation changed since the last sync */
    unsigned events;          /* resources applied since the last sync */
    int64_t retry_at;         /* after a failed sync, monotonic ms */
    int backoff_ms;
    int64_t verify_at;        /* next periodic read-back, monotonic ms (0: never) */
    int resync_ms;
};

int node_policy_new(const char *node_name, bool with_dataplane, int resync_s,
                    struct node_policy **out, struct tby_error *err);
void node_policy_free(struct node_policy *p);
/* The syncer consumer feeding p. */
struct tby_syncer_consumer node_policy_consumer(struct node_policy *p);
/* Programs what changed, when something did and a retry is not pending. */
int node_policy_sync(struct node_policy *p);
/* Reads the nftables notifications; a foreign change schedules a repair. */
void node_policy_monitor(struct node_policy *p);
/* Milliseconds until node_policy_sync wants to run again (-1: only on changes). */
int node_policy_timeout_ms(const struct node_policy *p);

int64_t node_now_ms(void);

#endif
