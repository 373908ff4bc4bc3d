/* node.h — the parts of tabby-node (private to node/): its settings, the daemon's context,
 * and one small interface per part the loop drives. Each part is a consumer of the
 * datastore syncer (told what changed), does its work when its time comes (`_run`/`_sync`,
 * never blocking long), and says when it wants to run next (`_timeout_ms`, -1: only on
 * changes).
 *
 * Ownership: struct node owns every part and the store, syncer and IPAM context they
 * borrow; each part's _free releases what it holds and leaves its kernel state in place.
 */
#ifndef TABBY_NODE_H
#define TABBY_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tabby/calc.h"
#include "tabby/error.h"
#include "tabby/ipam.h"
#include "tabby/log.h"
#include "tabby/nft.h"
#include "tabby/store.h"
#include "tabby/syncer.h"

#define TBY_NODE_CONFIG_PATH "/etc/tabby/tabby-node.cfg"

/* ---- config.c: settings --------------------------------------------------------------- */

enum node_setting {
    NODE_NODENAME,
    NODE_STORE,
    NODE_IP,
    NODE_IP_METHOD,
    NODE_IP6,
    NODE_IP6_METHOD,
    NODE_AS,
    NODE_BACKEND,
    NODE_BIRD_SOCKET,
    NODE_BIRD_CONFIG,
    NODE_SECRETS_DIR,
    NODE_HEALTH_PORT,
    NODE_HEALTH_HOST,
    NODE_LOG_LEVEL,
    NODE_RESYNC,
    NODE_AUTODETECT_INTERVAL,
    NODE_IPAM_GC_INTERVAL,
    NODE_PID_FILE,
    NODE_SETTING_COUNT
};

/* What carries pod traffic between nodes (Calico's CALICO_NETWORKING_BACKEND). */
enum node_backend {
    NODE_BACKEND_BIRD,   /* BGP through BIRD for native and IPIP pools; VXLAN by tabby */
    NODE_BACKEND_VXLAN,  /* no BIRD: tabby routes VXLAN (and IPIP) pools itself */
    NODE_BACKEND_NONE,   /* policy only: routes are someone else's */
};

struct node_config {
    char *v[NODE_SETTING_COUNT]; /* every setting as text, defaults filled in */
    enum node_backend backend;
    int health_port;
    enum tby_log_level log_level;
    int resync_s;
    int autodetect_interval_s;
    int ipam_gc_interval_s;
    bool has_as;
    uint32_t as_number;
    const char *config_path;  /* from --config or $TABBY_NODE_CONFIG (borrowed) */
    bool dump, cleanup, allow_root_netns, help;
};

/* Reads flags, environment and config file into c (see config.c). */
int node_config_load(struct node_config *c, int argc, char **argv, struct tby_error *err);
void node_config_clear(struct node_config *c);
void node_config_usage(FILE *out);
const char *node_backend_name(enum node_backend backend);

/* ---- time and counters ------------------------------------------------------------------- */

int64_t node_now_ms(void);
/* ms until `at` (monotonic), 0 when due; -1 for at < 0 (nothing pending). */
int node_ms_until(int64_t at);
/* The earlier of two timeouts, -1 meaning none. */
int node_min_timeout(int a, int b);

/* Durations as a Prometheus histogram (seconds). */
#define NODE_HIST_BUCKETS 12
struct node_hist {
    uint64_t counts[NODE_HIST_BUCKETS + 1]; /* per bucket, the last for +Inf */
    uint64_t n;
    double sum_s;
};
void node_hist_add(struct node_hist *h, double ms);
void node_hist_write(FILE *out, const char *name, const char *help, const struct node_hist *h);

/* Exponential backoff between retries. */
struct node_backoff {
    int first_ms, max_ms, cur_ms;
};
/* The delay before the next retry (first_ms, doubling to max_ms). */
int node_backoff_next(struct node_backoff *b);
void node_backoff_reset(struct node_backoff *b);

/* A debounced "something this part reads has changed": set by a syncer consumer for the
 * kinds `reads` accepts, for records under a prefix, and after every complete read (so
 * that an empty cluster is acted on too). Changes come in bursts (a pod is an IPAM write,
 * then its endpoint): the part acts once, debounce_ms after the first. */
struct node_trigger {
    bool dirty;
    int64_t due;
    int debounce_ms;
    bool (*reads)(enum tby_kind kind);
};
void node_trigger_set(struct node_trigger *t);
bool node_trigger_due(const struct node_trigger *t, int64_t now);
int node_trigger_timeout_ms(const struct node_trigger *t);
struct tby_syncer_consumer node_trigger_consumer(struct node_trigger *t, const char *name,
                                                 const char *record_prefix);

/* ---- policy.c: table inet tabby -------------------------------------------------------------- */

struct node_policy;

int node_policy_new(const char *node_name, bool with_dataplane, int resync_s,
                    struct node_policy **out, struct tby_error *err);
void node_policy_free(struct node_policy *p);
struct tby_syncer_consumer node_policy_consumer(struct node_policy *p);
/* Programs what changed (the IP pools' natOutgoing from s), when something did and a
 * retry is not pending. */
int node_policy_sync(struct node_policy *p, const struct tby_syncer *s);
/* Reads the nftables notifications; a foreign change schedules a repair. */
void node_policy_monitor(struct node_policy *p);
int node_policy_monitor_fd(const struct node_policy *p);
int node_policy_timeout_ms(const struct node_policy *p);
struct tby_calc *node_policy_calc(struct node_policy *p);

struct node_policy_stats {
    bool programmed;          /* the kernel holds what the calculation wants */
    uint64_t syncs, failures;
    struct node_hist sync_hist;
    char last_error[TBY_ERROR_MAX];
};
const struct node_policy_stats *node_policy_stats(const struct node_policy *p);

/* ---- routes.c: the route manager ----------------------------------------------------------- */

struct node_routes;

/* ipip_by_bgp: BIRD installs the routes of IPIP pools (backend bird). */
int node_routes_new(const char *node_name, bool ipip_by_bgp, int resync_s,
                    struct node_routes **out, struct tby_error *err);
void node_routes_free(struct node_routes *r);
struct tby_syncer_consumer node_routes_consumer(struct node_routes *r);
/* Plans and applies when the cluster changed (debounced), from what s holds; nothing
 * while s is offline (an empty plan would remove everything). */
void node_routes_sync(struct node_routes *r, const struct tby_syncer *s);
int node_routes_event_fd(const struct node_routes *r);
/* Netlink notifications: repairs what someone else changed. */
void node_routes_events(struct node_routes *r);
int node_routes_timeout_ms(const struct node_routes *r);

struct node_routes_stats {
    bool applied;             /* a plan made after the first complete read is in the kernel */
    size_t routes, vteps;     /* in the last plan */
    size_t warnings;
    uint64_t applies, changes, failures;
    struct node_hist apply_hist;
    char last_error[TBY_ERROR_MAX];  /* "" when the last apply went through */
};
const struct node_routes_stats *node_routes_stats(const struct node_routes *r);

/* ---- bgp.c: BIRD ---------------------------------------------------------------------------- */

struct node_bgp;

int node_bgp_new(struct tby_store *store, const struct node_config *cfg,
                 struct node_bgp **out, struct tby_error *err);
void node_bgp_free(struct node_bgp *b);
struct tby_syncer_consumer node_bgp_consumer(struct node_bgp *b);
/* Renders and reloads BIRD when its inputs changed (or a retry is due), and reads the
 * sessions' state now and then; nothing while `online` is false. */
void node_bgp_sync(struct node_bgp *b, bool online);
int node_bgp_timeout_ms(const struct node_bgp *b);

struct node_bgp_status {
    size_t peers_up, peers;   /* BGP sessions established / configured, from BIRD */
    bool bird_up;             /* BIRD answered the last status query */
    const struct tby_bgp_stats *driver;
};
void node_bgp_status(const struct node_bgp *b, struct node_bgp_status *out);

/* ---- register.c: this node's Node resource ----------------------------------------------- */

struct node_register;

/* store and ipam are borrowed. Fails for a bad autodetection method. */
int node_register_new(struct tby_store *store, struct tby_ipam *ipam,
                      const struct node_config *cfg, struct node_register **out,
                      struct tby_error *err);
void node_register_free(struct node_register *g);
struct tby_syncer_consumer node_register_consumer(struct node_register *g);
/* Detects the addresses and writes what changed into the Node (a compare-and-swap that
 * keeps every field it does not own), when due: at start, when the pools or the Node
 * changed, and every autodetect interval. */
void node_register_run(struct node_register *g, const struct tby_syncer *s);
int node_register_timeout_ms(const struct node_register *g);

struct node_register_stats {
    bool registered;          /* the Node holds what this node detected */
    uint64_t writes, failures;
    char last_error[TBY_ERROR_MAX];
};
const struct node_register_stats *node_register_stats(const struct node_register *g);

/* ---- housekeeping.c: IPAM upkeep -------------------------------------------------------- */

struct node_housekeeping;

int node_housekeeping_new(struct tby_ipam *ipam, const char *node_name, int interval_s,
                          struct node_housekeeping **out);
void node_housekeeping_free(struct node_housekeeping *h);
struct tby_syncer_consumer node_housekeeping_consumer(struct node_housekeeping *h);
/* Releases deleted nodes' empty blocks, collects blocks without a node or pool, and
 * counts this node's IPAM usage, when due. */
void node_housekeeping_run(struct node_housekeeping *h, bool online);
int node_housekeeping_timeout_ms(const struct node_housekeeping *h);

struct node_ipam_stats {
    bool known;               /* counted at least once */
    size_t blocks;            /* affine to this node */
    uint64_t addresses, in_use;
    uint64_t blocks_released, gc_runs, failures;
};
const struct node_ipam_stats *node_housekeeping_stats(const struct node_housekeeping *h);

/* ---- the daemon ------------------------------------------------------------------------------ */

struct node_http;

struct node {
    struct node_config cfg;
    const char *name;               /* cfg.v[NODE_NODENAME] */
    struct tby_store *store;
    struct tby_syncer *syncer;
    struct tby_ipam *ipam;
    struct node_policy *policy;
    struct node_routes *routes;     /* NULL: backend none */
    struct node_bgp *bgp;           /* NULL: backend other than bird */
    struct node_register *reg;
    struct node_housekeeping *housekeeping;
    struct node_http *http;         /* NULL: port 0 */
    int sigfd;
    bool stopping;
    uint64_t trim_mark;             /* the syncer's reads + events at the last look */
    int64_t trim_at;                /* give free memory back then; -1: nothing to give */
};

/* ---- health.c / metrics.c: the HTTP server and what it says ------------------------------ */

/* Listens on host:port (libmicrohttpd, driven by the daemon's poll loop: nothing runs
 * outside it, so the handlers read the parts' state without locks). */
int node_http_start(struct node *n, const char *host, int port, struct node_http **out,
                    struct tby_error *err);
void node_http_stop(struct node_http *h);
int node_http_fd(const struct node_http *h);
int node_http_timeout_ms(const struct node_http *h);
void node_http_run(struct node_http *h);

/* Ready: the datastore answers and the first complete state is programmed. When not,
 * why (one line) goes into `why`. */
bool node_ready(const struct node *n, char *why, size_t size);
/* Prometheus text format. */
int node_metrics_write(const struct node *n, FILE *out);

#endif
