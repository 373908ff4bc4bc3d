/* routes_events.c — the kernel's notifications about links, addresses, routes and
 * neighbours, filtered down to "something tabby owns or routes through changed", so that
 * the daemon resyncs when someone else touched its state and not on every BIRD update. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>

#include "tabby/nl.h"
#include "routes_kernel.h"

/* Big enough for a burst of BIRD's route updates between two reads; past it the kernel
 * drops notifications and a full resync follows. */
#define EVENT_BUFFER (4 << 20)

static int route_dst_order(const void *pa, const void *pb)
{
    const struct tby_route *a = pa, *b = pb;

    return tby_cidr_compare(&a->dst, &b->dst);
}

/* The plan's routes are sorted by destination. */
static bool planned_dst(const struct tby_routes_plan *plan, const struct tby_cidr *dst)
{
    struct tby_route key = { .dst = *dst };

    return plan->n_routes &&
           bsearch(&key, plan->routes, plan->n_routes, sizeof(key), route_dst_order);
}

static bool planned_ifname(const struct tby_routes_plan *plan, const char *name)
{
    if (!name)
        return false;
    if (!strcmp(name, TBY_VXLAN_DEVICE) || !strcmp(name, TBY_VXLAN6_DEVICE) ||
        (plan->ipip_pool && !strcmp(name, TBY_IPIP_DEVICE)))
        return true;
    for (size_t i = 0; i < plan->n_routes; i++)
        if (plan->routes[i].kind == TBY_ROUTE_WORKLOAD && !strcmp(plan->routes[i].ifname, name))
            return true;
    return false;
}

static bool known_device(const struct tby_routes *r, int ifindex)
{
    return ifindex > 0 && (ifindex == r->uplink[0] || ifindex == r->uplink[1] ||
                           ifindex == r->vxlan[0] || ifindex == r->vxlan[1]);
}

static bool route_relevant(const struct tby_routes *r, struct rtnl_route *rt)
{
    struct tby_cidr dst;

    if (rtnl_route_get_protocol(rt) == TBY_ROUTES_PROTO)
        return true;
    return rtnl_route_get_table(rt) == RT_TABLE_MAIN &&
           tby_nl_addr_to_cidr(rtnl_route_get_dst(rt), &dst) == 0 &&
           planned_dst(&r->last, &dst);
}

static bool neigh_relevant(const struct tby_routes *r, struct rtnl_neigh *n)
{
    int ifindex = rtnl_neigh_get_ifindex(n);

    if (ifindex <= 0 || (ifindex != r->vxlan[0] && ifindex != r->vxlan[1]))
        return false;
    /* The kernel's own ARP cache on the device comes and goes; only ours matters. */
    return rtnl_neigh_get_family(n) == AF_BRIDGE || (rtnl_neigh_get_state(n) & NUD_PERMANENT);
}

static bool addr_relevant(const struct tby_routes *r, struct rtnl_addr *a)
{
    struct nl_addr *local = rtnl_addr_get_local(a);

    if (known_device(r, rtnl_addr_get_ifindex(a)))
        return true;
    for (int fi = 0; fi < 2; fi++)
        if (r->last.has_node_ip[fi] && tby_nl_addr_is_ip(local, &r->last.node_ip[fi]))
            return true;
    return false;
}

static void on_object(struct nl_object *obj, void *arg)
{
    struct tby_routes *r = arg;
    const char *type = nl_object_get_type(obj);

    if (r->resync || !r->have_last || !type)
        return;
    if (!strcmp(type, "route/route"))
        r->resync = route_relevant(r, (struct rtnl_route *)obj);
    else if (!strcmp(type, "route/link"))
        r->resync = planned_ifname(&r->last, rtnl_link_get_name((struct rtnl_link *)obj)) ||
                    known_device(r, rtnl_link_get_ifindex((struct rtnl_link *)obj));
    else if (!strcmp(type, "route/neigh"))
        r->resync = neigh_relevant(r, (struct rtnl_neigh *)obj);
    else if (!strcmp(type, "route/addr"))
        r->resync = addr_relevant(r, (struct rtnl_addr *)obj);
}

static int on_message(struct nl_msg *msg, void *arg)
{
    nl_msg_parse(msg, on_object, arg);
    return NL_OK;
}

int routes_events_open(struct tby_routes *r, struct tby_error *err)
{
    int rc;

    if (!(r->events = nl_socket_alloc()))
        return tby_error_set(err, -ENOMEM, "routes: out of memory for a netlink socket");
    nl_socket_disable_seq_check(r->events);
    nl_socket_modify_cb(r->events, NL_CB_VALID, NL_CB_CUSTOM, on_message, r);
    if ((rc = nl_connect(r->events, NETLINK_ROUTE)) < 0 ||
        (rc = nl_socket_add_memberships(r->events, RTNLGRP_LINK, RTNLGRP_NEIGH,
                                        RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                        RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, 0)) < 0 ||
        (rc = nl_socket_set_nonblocking(r->events)) < 0 ||
        (rc = nl_socket_set_buffer_size(r->events, EVENT_BUFFER, 0)) < 0) {
        rc = tby_nl_errno(rc);
        return tby_error_set(err, rc, "routes: cannot listen to netlink notifications: %s",
                             strerror(-rc));
    }
    return 0;
}

int tby_routes_event_fd(const struct tby_routes *r)
{
    return nl_socket_get_fd(r->events);
}

int tby_routes_events(struct tby_routes *r, bool *resync, struct tby_error *err)
{
    int rc;

    r->resync = false;
    for (;;) {
        rc = nl_recvmsgs_default(r->events);
        if (rc == -NLE_AGAIN)
            break;
        if (rc == -NLE_NOMEM) { /* ENOBUFS: notifications were lost */
            r->resync = true;
            continue;
        }
        if (rc < 0) {
            rc = tby_nl_errno(rc);
            return tby_error_set(err, rc, "routes: cannot read netlink notifications: %s",
                                 strerror(-rc));
        }
    }
    *resync = r->resync;
    return 0;
}
