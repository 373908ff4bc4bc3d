/* routes_kernel.c — the route manager's kernel side: its netlink sockets, and one apply
 * run through devices, neighbours and routes in that order (routes need the devices). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/errno.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "routes_kernel.h"

int routes_fail(struct routes_run *run, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (run->first_error == 0) {
        run->first_error = code;
        tby_error_setv(run->err, code, fmt, ap);
    } else {
        char msg[TBY_ERROR_MAX];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        tby_log(TBY_LOG_ERROR, "routes", "%s", msg);
    }
    va_end(ap);
    return code;
}

int routes_errno(struct routes_run *run, int nl_rc)
{
    return tby_nl_errno_kept(nl_rc, &run->r->kernel_errno);
}

const char *routes_vxlan_name(int fi)
{
    return fi ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE;
}

unsigned tby_routes_stats_changes(const struct tby_routes_stats *s)
{
    return s->routes_added + s->routes_replaced + s->routes_deleted + s->neighs_set +
           s->neighs_deleted + s->fdbs_set + s->fdbs_deleted + s->links_changed;
}

static int connect_socket(struct nl_sock **out, struct tby_error *err)
{
    struct nl_sock *sock = nl_socket_alloc();
    int r;

    if (!sock)
        return tby_error_set(err, -ENOMEM, "routes: out of memory for a netlink socket");
    if ((r = nl_connect(sock, NETLINK_ROUTE)) < 0) {
        nl_socket_free(sock);
        r = tby_nl_errno(r);
        return tby_error_set(err, r, "routes: cannot open a netlink socket: %s", strerror(-r));
    }
    *out = sock;
    return 0;
}

int tby_routes_open(struct tby_routes **out, struct tby_error *err)
{
    struct tby_routes *r = calloc(1, sizeof(*r));
    int rc;

    *out = NULL;
    if (!r)
        return tby_error_set(err, -ENOMEM, "routes: out of memory");
    if ((rc = connect_socket(&r->sock, err)) < 0 || (rc = routes_events_open(r, err)) < 0) {
        tby_routes_close(r);
        return rc;
    }
    tby_nl_keep_errno(r->sock, &r->kernel_errno);
    *out = r;
    return 0;
}

void tby_routes_close(struct tby_routes *r)
{
    if (!r)
        return;
    if (r->sock)
        nl_socket_free(r->sock);
    if (r->events)
        nl_socket_free(r->events);
    tby_routes_plan_clear(&r->last);
    free(r);
}

/* Addresses as they are now; each part asks for the links and the rest itself when it
 * needs them (after the devices changed). */
static int read_addrs(struct routes_run *run)
{
    int rc = rtnl_addr_alloc_cache(run->r->sock, &run->addrs);

    if (rc < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot read the addresses: %s", strerror(-rc));
    }
    return 0;
}

static void log_stats(const struct tby_routes_stats *s)
{
    if (tby_routes_stats_changes(s) == 0 && !s->routes_conflicting)
        return;
    tby_log(TBY_LOG_INFO, "routes",
            "routes programmed added=%u replaced=%u deleted=%u adopted=%u conflicting=%u "
            "pending=%u neighs_set=%u neighs_deleted=%u fdbs_set=%u fdbs_deleted=%u "
            "links_changed=%u",
            s->routes_added, s->routes_replaced, s->routes_deleted, s->routes_adopted,
            s->routes_conflicting, s->routes_pending, s->neighs_set, s->neighs_deleted,
            s->fdbs_set, s->fdbs_deleted, s->links_changed);
}

static void run_parts(struct routes_run *run)
{
    if (read_addrs(run) < 0)
        return;
    routes_devices(run);
    routes_neighbours(run);
    routes_table(run);
    memcpy(run->r->uplink, run->uplink, sizeof(run->uplink));
    memcpy(run->r->vxlan, run->vxlan, sizeof(run->vxlan));
}

static int apply(struct tby_routes *r, const struct tby_routes_plan *plan, bool uninstall,
                 struct tby_routes_stats *stats, struct tby_error *err)
{
    struct tby_routes_stats local;
    struct routes_run rr = { .r = r, .plan = plan, .err = err, .uninstall = uninstall,
                             .ifq = -1 };

    rr.st = stats ? stats : &local;
    r->kernel_errno = 0;
    memset(rr.st, 0, sizeof(*rr.st));
    if (plan != &r->last) {
        if (tby_routes_plan_copy(&r->last, plan) < 0)
            return tby_error_set(err, -ENOMEM, "routes: out of memory keeping the plan");
        r->have_last = true;
    }
    run_parts(&rr);
    if (rr.addrs)
        nl_cache_free(rr.addrs);
    log_stats(rr.st);
    return rr.first_error;
}

int tby_routes_apply(struct tby_routes *r, const struct tby_routes_plan *plan,
                     struct tby_routes_stats *stats, struct tby_error *err)
{
    return apply(r, plan, false, stats, err);
}

int tby_routes_uninstall(struct tby_routes *r, struct tby_routes_stats *stats,
                         struct tby_error *err)
{
    struct tby_routes_plan none = { 0 };

    return apply(r, &none, true, stats, err);
}

int tby_routes_resync(struct tby_routes *r, struct tby_routes_stats *stats,
                      struct tby_error *err)
{
    if (!r->have_last) {
        if (stats)
            memset(stats, 0, sizeof(*stats));
        return 0;
    }
    return tby_routes_apply(r, &r->last, stats, err);
}
