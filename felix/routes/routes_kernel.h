/* routes_kernel.h — what the parts of the route manager's kernel side share: the
 * context behind struct tby_routes and one apply's run. Private to felix/.
 *
 * An apply is one struct routes_run: the plan, the kernel's addresses read at its start
 * (links are asked for one by one: a node with 10,000 pods has 20,000), the device
 * indexes it resolved, the tallies and the first error. Each part
 * (devices, neighbours, routes) carries on past what fails and reports it through
 * routes_fail, so that the apply's result is its first error.
 */
#ifndef TABBY_FELIX_ROUTES_KERNEL_H
#define TABBY_FELIX_ROUTES_KERNEL_H

#include <stdbool.h>

#include <netlink/netlink.h>

#include "tabby/routes.h"

struct tby_routes {
    struct nl_sock *sock;        /* requests and dumps */
    struct nl_sock *events;      /* notifications, non-blocking */
    struct tby_routes_plan last; /* the last plan applied, for resync and event filtering */
    bool have_last;
    int uplink[2];               /* the devices the last apply resolved, for events too */
    int vxlan[2];
    bool resync;                 /* set while reading notifications */
    int kernel_errno;            /* the last error answer on sock (tby_nl_keep_errno) */
};

struct routes_run {
    struct tby_routes *r;
    const struct tby_routes_plan *plan;
    struct tby_routes_stats *st;
    struct tby_error *err;
    int first_error;
    struct nl_cache *addrs;
    int uplink[2];               /* ifindex of the device holding the node's address */
    int vxlan[2];                /* ifindex of vxlan.tabby, vxlan-v6.tabby */
    int ipip;                    /* ifindex of tunl0 */
    bool uninstall;              /* tby_routes_uninstall: tunl0 is given back too */
    int ifq;                     /* routes_table's, while it runs: a socket to ask device
                                  * indexes by name on (SIOCGIFINDEX), else -1 */
};

/* Records a failure: the first one goes to the caller's error, later ones to the log.
 * Returns code. */
int routes_fail(struct routes_run *run, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The errno of a failed libnl call on the request socket (negative). */
int routes_errno(struct routes_run *run, int nl_rc);
/* "vxlan.tabby" for index 0, "vxlan-v6.tabby" for 1. */
const char *routes_vxlan_name(int fi);

/* The link named `name` (ifindex 0) or of index `ifindex`, as the kernel has it now;
 * NULL when there is none. The caller puts it. */
struct rtnl_link *routes_link_get(struct routes_run *run, int ifindex, const char *name);

/* The parts of an apply, in order. */
int routes_devices(struct routes_run *run);
int routes_neighbours(struct routes_run *run);
int routes_table(struct routes_run *run);

/* Notifications. */
int routes_events_open(struct tby_routes *r, struct tby_error *err);

#endif
