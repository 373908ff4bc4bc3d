/* node.h — how tabby-node is built (private to node/): a small core and a table of parts,
 * after BIRD's protocols (nest/protocol.h).
 *
 * The core (daemon.c) owns the datastore, the syncer that keeps a copy of the cluster
 * and tells whoever asks what changed, the IPAM context, the signals, and one poll loop.
 * Everything else is a part, described by one struct node_part of hooks: the pid file,
 * this node's registration (its Node resource), the policy engine (table inet tabby), the
 * route manager, BIRD, IPAM upkeep, the HTTP server. The core knows no part by name: it
 * walks the table (parts.c) to start the parts, hand their consumers to the syncer, wait
 * on their file descriptors and timeouts, run them, ask whether they are ready (ready.c),
 * gather their metrics (metrics.c) and stop them.
 *
 * Adding a part: one file defining `const struct node_part node_NAME_part`, and one line
 * in the table. The table's order is the order of dependency: a part comes after what it
 * needs (routes after registration, since every node's routes are made from the Nodes).
 * Parts start and run in that order and stop in reverse, and the first one that is not
 * ready names the reason /readiness gives, so that the reason is the cause and not one
 * of its consequences.
 *
 * Everything but main() (tabby-node.c) is node/libtabby-node.la, which the unit tests
 * link too (tests/unit/node_fixture.h runs a core with parts of a test's choosing).
 *
 * Ownership: struct node owns the store, syncer, IPAM context and every part's state.
 * Parts borrow the first three (which outlive every part) and the settings; a stopped
 * part has freed what it held and left its kernel state in place (fail-static: a restart
 * converges by difference).
 */
#ifndef TABBY_NODE_H
#define TABBY_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/error.h"
#include "tabby/ipam.h"
#include "tabby/kube.h"
#include "tabby/log.h"
#include "tabby/store.h"
#include "tabby/syncer.h"
#include "node_config.h"
#include "timing.h"

struct node;

/* ---- a part ------------------------------------------------------------------------------ */

/* A part's hooks. Only name, start and stop are required; a hook left NULL means the part
 * has nothing to do there. `state` is what start made. */
struct node_part {
    const char *name;
    /* Starts before the datastore is opened, and runs while it is away or not read yet
     * (the pid file, the HTTP server). The others start once it is open and run once it
     * has been read whole: before that they would act on an empty cluster. */
    bool early;
    /* 0 with *state set; 0 with *state NULL when the part has no place in this
     * configuration (routes under backend none); or -errno with err filled. */
    int (*start)(struct node *n, void **state, struct tby_error *err);
    /* Frees the state; what the part programmed in the kernel stays. */
    void (*stop)(void *state);
    /* Its syncer consumer: what it is told of the cluster's changes. */
    struct tby_syncer_consumer (*consumer)(void *state);
    /* A file descriptor to wait on (-1: none now), and what to do when it is readable
     * (NULL: run reads it). */
    int (*fd)(const void *state);
    void (*input)(void *state);
    /* ms until it wants to run (0: now, -1: only after input or a change). */
    int (*timeout_ms)(const void *state);
    /* Does what is due, never blocking long; called on every turn of the loop (see
     * early). The node is the core's: n->syncer holds the cluster. */
    void (*run)(void *state, const struct node *n);
    /* false, with the reason in why, while it keeps the node from being ready. */
    bool (*ready)(const void *state, char *why, size_t size);
    /* true while the other parts must not run (Calico's datastoreReady: false, an upgrade
     * under way): they keep what they programmed, hear of changes, and act on them once it
     * lets go. The early parts run all the same. */
    bool (*holds)(const void *state);
    /* true, with what in why, while it works only in part (said by a ready node). */
    bool (*degraded)(const void *state, char *why, size_t size);
    /* Its series, in Prometheus' text format (metrics.c's helpers). */
    void (*metrics)(const void *state, struct tby_buf *out);
    /* /status (status.c): what it knows, as members of its own object, for `tabbyctl node
     * diagnose`. It may read the kernel to compare (policy reads its table back), never
     * change it. -ENOMEM. */
    int (*status)(void *state, const struct node *n, json_t *out);
    /* The rule text of the deny whose log id is id (ruleset.h: tby_rs_find_deny), NULL
     * when it knows none, and in *tier the tier that denied (NULL: none, a profile's);
     * borrowed until its next run. */
    const char *(*deny_rule)(const void *state, const char *id, const char **tier);
    /* /flows (the flows part): the denied flows from sequence number since on, a new
     * object, NULL when out of memory. */
    json_t *(*flows)(void *state, uint64_t since);
    /* --dump: what it would program, as text, after one read of the datastore, or what a
     * later part's dump needs read first (host-addrs: the interfaces' addresses, printing
     * nothing); reading only. Only parts with this hook start in --dump mode. */
    int (*dump)(void *state, const struct node *n, FILE *out, struct tby_error *err);
    /* Stateless, about this network namespace: whether it holds what an earlier run of
     * this part programmed, and --cleanup (removes it). */
    bool (*holds_state)(void);
    int (*cleanup)(struct tby_error *err);
};

/* The table (parts.c). */
#define NODE_PARTS_MAX 16
extern const struct node_part *const node_parts[];
extern const size_t node_n_parts;

/* ---- the daemon ---------------------------------------------------------------------------- */

struct node {
    struct node_config cfg;
    const char *name;               /* cfg.v[NODE_NODENAME] */
    struct tby_store *store;
    struct tby_syncer *syncer;      /* NULL until the datastore is open */
    struct tby_ipam *ipam;          /* NULL in --dump mode */
    const struct node_part *const *parts; /* node_parts, or a test's */
    size_t n_parts;
    void *state[NODE_PARTS_MAX];    /* per part: NULL while it does not run */
    int sigfd;
    bool stopping;
    uint64_t trim_mark;             /* the syncer's reads + events at the last look */
    int64_t trim_at;                /* give free memory back then; -1: nothing to give */
};

/* Sets n up to run the table's parts; n->cfg is then to be loaded. */
void node_init(struct node *n);
/* Starts the early parts, waits for a missing datastore file (see daemon.c), opens the
 * datastore and starts the other parts; in --dump mode only the datastore and the parts
 * that dump. The error names what failed. Returns 0 also when told to stop while waiting
 * (n->stopping). */
int node_start(struct node *n, struct tby_error *err);
/* One turn of the loop: does what is due, then waits for input, at most until something
 * wants to run and at most limit_ms (-1: no limit, 0: no wait). */
void node_turn(struct node *n, int limit_ms);
/* Turns the loop until SIGTERM or SIGINT. */
int node_run(struct node *n);
/* --dump: one read of the datastore, then each part's dump on out. */
int node_dump(struct node *n, FILE *out, struct tby_error *err);
/* Stops every part that runs (in reverse order) and closes what the core opened. */
void node_stop(struct node *n);
/* --cleanup: each part removes what it programmed. */
int node_cleanup(struct tby_error *err);
/* --uninstall (uninstall.c): everything of tabby taken off the node; says what failed on
 * stderr and returns the exit status. */
int node_uninstall(const char *nodename_file);
/* ---- parts that speak to the Kubernetes API (kube_job.c) ---------------------------------- */

/* A request a part makes of the k8s: datastore's API server beyond the datastore itself
 * (ClusterInformation, the Node's NetworkUnavailable condition), with that datastore's
 * server and credentials: it has to succeed once, and is tried again with backoff until it
 * does. The part embeds the job; the job owns its client. */
struct node_kube_job {
    const char *what;           /* "ClusterInformation", for messages (static) */
    struct tby_kube_client *client;
    bool done;
    int64_t next_at;
    struct node_backoff backoff;
    uint64_t failures;
    char last_error[TBY_ERROR_MAX];
};

/* Sets the job up on a k8s: datastore; on any other, 0 with job->client NULL: the part has
 * no place there. */
int node_kube_job_start(const struct node *n, struct node_kube_job *job, const char *what,
                        struct tby_error *err);
void node_kube_job_stop(struct node_kube_job *job);
/* Whether it is time to try (not done, not backing off). */
bool node_kube_job_due(const struct node_kube_job *job, int64_t now);
/* A failed try: logged (once per distinct error) as `level`, tried again after backoff. */
void node_kube_job_failed(struct node_kube_job *job, int64_t now, enum tby_log_level level,
                          const struct tby_error *err);
/* A try that worked: the job is done. */
void node_kube_job_done(struct node_kube_job *job);
/* For the part's timeout hook: ms until the next try after a failure, else -1 (a job
 * waiting on something else runs when a turn brings it). */
int node_kube_job_timeout_ms(const struct node_kube_job *job);

/* ---- what it says: ready.c, metrics.c ------------------------------------------------------ */

/* Ready: the datastore answers, has been read, and every part is ready. When not, the
 * first thing in the way (one line) goes into why; when ready but degraded, what. */
bool node_ready(const struct node *n, char *why, size_t size);
/* For the parts' ready hooks: why = "WHAT: ERROR" after a failure, "WHAT yet" before a
 * first attempt (error "" or NULL). Returns false. */
bool node_not_ready(char *why, size_t size, const char *what, const char *error);
/* Prometheus text format, appended to out: the core's series, then each part's. 0, or
 * the buffer's error. */
int node_metrics_write(const struct node *n, struct tby_buf *out);

/* /status: the node (name, readiness, settings, datastore) and each part's status hook,
 * as one JSON object, the caller's. NULL when out of memory. */
json_t *node_status(struct node *n);

/* The first running part's answer to deny_rule(id, tier), or NULL. */
const char *node_deny_rule(const struct node *n, const char *id, const char **tier);
/* /flows: {"node": …, then the flows part's members}; NULL when no part records flows
 * (*none set) or out of memory. The caller's. */
json_t *node_flows(struct node *n, uint64_t since, bool *none);

/* For the parts' metrics hooks: one series with its HELP and TYPE lines. */
void node_gauge(struct tby_buf *out, const char *name, const char *help, double v);
void node_counter(struct tby_buf *out, const char *name, const char *help, double v);
void node_hist_write(struct tby_buf *out, const char *name, const char *help,
                     const struct node_hist *h);

#endif
