/* diagnose.h — `tabbyctl node diagnose` (private to ctl/): the troubleshooting checklist of
 * one node, run inside that node's network namespace. Each check says OK, WARN or FAIL,
 * what it found, what to do, and names the things it is about (interfaces, blocks, peers,
 * addresses), so that a script (-o json) or a test can tell exactly what is wrong.
 *
 * Data flows one way. cmd_diagnose.c gathers once, into struct diag: what the datastore
 * says (diagnose_cluster.c), what tabby-node says on its /status (diagnose_daemon.c), and
 * what the kernel holds (diagnose_kernel.c: links, addresses, routes, neighbours). Then
 * every check reads struct diag and adds one result to the report (diagnose_report.c),
 * which prints. Checks only read: nothing here changes the kernel, BIRD or the datastore.
 * A check whose input could not be gathered says so (WARN: not checked) rather than
 * guess; the input's own check carries the FAIL.
 *
 * The checks, by area, in the order they print:
 *   node       datastore, tabby-node                    (diagnose_cluster.c, _daemon.c)
 *   kernel     ip-forward, rp-filter, conntrack         (diagnose_sysctl.c)
 *              policy-table                             (diagnose_policy.c)
 *              mtu                                      (diagnose_mtu.c)
 *   routing    routes                                   (diagnose_routes.c)
 *              bgp-sessions, bird-config                (diagnose_bgp.c)
 *              vxlan                                    (diagnose_vxlan.c)
 *   addresses  ipam, workloads                          (diagnose_addresses.c)
 *
 * Ownership: struct diag owns everything it gathered and the report; diag_clear frees it.
 * The store is borrowed (tabbyctl's). Results own their strings.
 */
#ifndef TABBY_CTL_DIAGNOSE_H
#define TABBY_CTL_DIAGNOSE_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tabby/error.h"
#include "tabby/net.h"
#include "tabby/resource.h"
#include "tabby/routes.h"
#include "tabby/store.h"
#include "tabby/strv.h"

/* ---- the report ------------------------------------------------------------------------ */

enum diag_status { DIAG_OK, DIAG_WARN, DIAG_FAIL };

struct diag_result {
    const char *area;         /* "kernel" (static) */
    const char *check;        /* "ip-forward" (static) */
    enum diag_status status;
    char *found;              /* what it saw, one sentence */
    struct tby_strv details;  /* more lines: each thing wrong, a difference */
    char *action;             /* what to do; NULL when there is nothing to do */
    struct tby_strv items;    /* the names of what is wrong (or, when OK, nothing) */
};

struct diag_report {
    struct diag_result *v;
    size_t n, cap;
    bool oom;                 /* an allocation failed: the report is incomplete */
};

/* Adds a result saying `found`; later calls add to it. NULL (and report->oom) when out of
 * memory; the helpers below accept NULL. */
struct diag_result *diag_add(struct diag_report *r, const char *area, const char *check,
                             enum diag_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_detail(struct diag_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void diag_action(struct diag_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void diag_item(struct diag_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A result listing what is wrong, one detail and item each, added to the report with the
 * first (found is what it says then). */
struct diag_list {
    struct diag_report *report;
    const char *area, *check;
    enum diag_status status;
    char found[256];
    struct diag_result *res;  /* NULL until the first add */
};
/* Adds a detail, and item unless the result names it already. */
void diag_list_add(struct diag_list *l, const char *item, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The worst status of the report (DIAG_OK when empty). */
enum diag_status diag_worst(const struct diag_report *r);
const char *diag_status_name(enum diag_status status);
/* `header` then one block per result and a count line; -errno of the stream. */
int diag_print_text(FILE *out, const struct diag_report *r, const char *header);
/* {"node", "status", "counts", "checks": [{area, check, status, found, details, action,
 * items}]}; NULL when out of memory. */
json_t *diag_report_json(const struct diag_report *r, const char *node);
void diag_report_clear(struct diag_report *r);

/* ---- where things are ------------------------------------------------------------------ */

struct diag_settings {
    const char *node;         /* this node's name */
    const char *health;       /* tabby-node's HTTP port, "HOST:PORT" */
    const char *backend;      /* "bird", "vxlan", "none" (tabby-node's) */
    const char *bird_socket;
    const char *bird_config;
    const char *secrets_dir;
    const char *pid_file;
    const char *store_uri;    /* the datastore tabbyctl reads */
    const char *proc;         /* "/proc"; a test's fake tree */
    int timeout_ms;           /* per question to tabby-node and BIRD */
};

/* ---- what the datastore says (diagnose_cluster.c) ---------------------------------------- */

struct diag_cluster {
    bool read;                /* the datastore answered every read */
    char error[TBY_ERROR_MAX];
    double ms;                /* how long the reads took */
    struct tby_resource_list pools, nodes, weps;
    struct tby_routes_block *blocks; /* every node's affine blocks, as tabby-node routes them */
    size_t n_blocks, cap_blocks;
    struct tby_strv block_nodes; /* owns the blocks' node names */
    const struct tby_resource *self; /* this node's Node; NULL when it has none */
};

/* Reads pools, nodes, endpoints and block affinities. 0, or -errno with c->error set. */
int diag_cluster_read(struct diag_cluster *c, struct tby_store *store, const char *node);
/* Sorts one resource in (taken: the cluster frees it), or one affinity record (its block
 * counts when tabby-node routes it: tby_ipam_affinity_routable). */
int diag_cluster_take(struct diag_cluster *c, struct tby_resource *res);
int diag_cluster_add_affinity(struct diag_cluster *c, const struct tby_kv *kv);
/* After the last take: finds this node's Node. */
void diag_cluster_done(struct diag_cluster *c, const char *node);
void diag_cluster_clear(struct diag_cluster *c);
/* The name of the node whose Node resource has this address ("n2"), or NULL. */
const char *diag_cluster_node_of_ip(const struct diag_cluster *c, const struct tby_ip *ip);
/* The pool holding ip, or NULL. */
const struct tby_ippool *diag_cluster_pool_of(const struct diag_cluster *c,
                                              const struct tby_ip *ip);
/* Whether wep runs on `node`. */
bool diag_wep_is_on(const struct tby_resource *wep, const char *node);

/* ---- what tabby-node says (diagnose_daemon.c) ------------------------------------------ */

struct diag_daemon {
    bool answered;            /* /status answered */
    char error[TBY_ERROR_MAX]; /* why not */
    json_t *status;           /* its /status (see node/status.c), or NULL */
};

/* GET http://HOST:PORT/status within timeout_ms. Fills d; never fails otherwise. */
void diag_daemon_ask(struct diag_daemon *d, const char *health, int timeout_ms);
void diag_daemon_clear(struct diag_daemon *d);
/* A member of /status by a dotted path ("parts.policy.table"); NULL when absent. */
const json_t *diag_daemon_get(const struct diag_daemon *d, const char *path);
/* Its string, or NULL. */
const char *diag_daemon_str(const struct diag_daemon *d, const char *path);

/* ---- what the kernel holds (diagnose_kernel.c) ------------------------------------------ */

struct diag_link {
    char name[IFNAMSIZ];
    int index;
    unsigned mtu;
    bool up;                  /* administratively (IFF_UP) */
    bool lower_up;            /* carrier */
    char kind[16];            /* "veth", "vxlan", "" */
};

struct diag_addr {
    int ifindex;
    struct tby_ip ip;
};

enum diag_route_type { DIAG_ROUTE_UNICAST, DIAG_ROUTE_BLACKHOLE, DIAG_ROUTE_UNREACHABLE,
                       DIAG_ROUTE_OTHER };

struct diag_route {
    struct tby_cidr dst;
    enum diag_route_type type;
    int oif;                  /* 0: none */
    bool has_gateway;
    struct tby_ip gateway;    /* the first next hop's */
    int protocol;
};

struct diag_neigh {
    int ifindex;
    bool fdb;                 /* a bridge FDB entry (mac → dst), else ARP/ND (ip → mac) */
    struct tby_ip ip;         /* ARP/ND: the address; FDB: the remote end (dst) */
    bool has_mac;
    uint8_t mac[6];
};

struct diag_kernel {
    bool read;
    char error[TBY_ERROR_MAX];
    struct diag_link *links;
    size_t n_links, cap_links;
    struct diag_addr *addrs;
    size_t n_addrs, cap_addrs;
    struct diag_route *routes; /* the main table, both families */
    size_t n_routes, cap_routes;
    struct diag_neigh *neighs;
    size_t n_neighs, cap_neighs;
};

/* Reads this network namespace's links, addresses, main-table routes and neighbours. */
int diag_kernel_read(struct diag_kernel *k);
void diag_kernel_clear(struct diag_kernel *k);
const struct diag_link *diag_link_by_name(const struct diag_kernel *k, const char *name);
const struct diag_link *diag_link_by_index(const struct diag_kernel *k, int index);
/* The link holding ip, or NULL. */
const struct diag_link *diag_link_with_ip(const struct diag_kernel *k, const struct tby_ip *ip);
/* The route a lookup of dst's whole prefix would take: the longest route whose destination
 * contains all of dst (the default route counts only when allow_default). NULL: none. */
const struct diag_route *diag_route_covering(const struct diag_kernel *k,
                                             const struct tby_cidr *dst, bool allow_default);
/* "10.244.1.0/26 via 10.99.1.12 dev eth0", "blackhole 10.244.1.0/26"; returns buf. */
#define DIAG_ROUTE_STRLEN 160
char *diag_route_format(const struct diag_kernel *k, const struct diag_route *r, char *buf);

/* ---- everything ------------------------------------------------------------------------ */

struct diag {
    struct diag_settings set;
    struct tby_store *store;      /* borrowed; NULL when it could not be opened */
    struct diag_cluster cluster;
    struct diag_daemon daemon;
    struct diag_kernel kernel;
    bool has_plan;                /* plan: what tabby-node routes, from the cluster */
    struct tby_routes_plan plan;
    struct diag_report report;
};

void diag_clear(struct diag *d);
/* The routes plan of this node from the cluster (tby_routes_plan), once it was read. */
int diag_make_plan(struct diag *d);

/* The checks: each adds its result to d->report. */
void diag_check_datastore(struct diag *d);
void diag_check_daemon(struct diag *d);
void diag_check_ip_forward(struct diag *d);
void diag_check_rp_filter(struct diag *d);
void diag_check_conntrack(struct diag *d);
void diag_check_policy_table(struct diag *d);
void diag_check_mtu(struct diag *d);
void diag_check_routes(struct diag *d);
void diag_check_bgp_sessions(struct diag *d);
void diag_check_bird_config(struct diag *d);
void diag_check_vxlan(struct diag *d);
void diag_check_ipam(struct diag *d);
void diag_check_workloads(struct diag *d);

/* A check that could not look because what it reads is missing: WARN, saying why. Returns
 * true (and adds it) when the cluster was not read. */
bool diag_need_cluster(struct diag *d, const char *area, const char *check);
bool diag_need_kernel(struct diag *d, const char *area, const char *check);

/* The first line where two texts differ (1-based) and both lines (NUL-terminated copies,
 * cut at `size` bytes); 0 when equal. For BIRD's configuration. */
size_t diag_first_difference(const char *a, const char *b, char *line_a, char *line_b,
                             size_t size);

#endif
