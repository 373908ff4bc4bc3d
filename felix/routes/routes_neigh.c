/* routes_neigh.c — the ARP/ND and FDB entries on the VXLAN devices, one pair per remote
 * VTEP: tunnel address → VTEP MAC (so routes via the tunnel address need no ARP across
 * the tunnel), and VTEP MAC → the remote node's IP (where to send the UDP packet). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "routes_kernel.h"

/* The plan's VTEPs of one family, and the same ordered by MAC for the FDB. */
struct vtep_set {
    const struct tby_vtep *by_addr; /* a slice of the plan's vteps, sorted by address */
    size_t n;
    const struct tby_vtep **by_mac;
    bool *arp_ok;                   /* per by_addr entry: the kernel already has it */
    bool *fdb_ok;                   /* per by_mac entry */
};

static int mac_order(const void *pa, const void *pb)
{
    const struct tby_vtep *const *a = pa, *const *b = pb;

    return memcmp((*a)->mac, (*b)->mac, 6);
}

static int vtep_set_init(struct vtep_set *set, const struct tby_routes_plan *plan, int family)
{
    size_t first = 0;

    memset(set, 0, sizeof(*set));
    while (first < plan->n_vteps && plan->vteps[first].tunnel_addr.family != family)
        first++;
    while (first + set->n < plan->n_vteps &&
           plan->vteps[first + set->n].tunnel_addr.family == family)
        set->n++;
    set->by_addr = plan->vteps ? plan->vteps + first : NULL; /* NULL + 0 is undefined */
    set->by_mac = calloc(set->n + 1, sizeof(*set->by_mac));
    set->arp_ok = calloc(set->n + 1, sizeof(bool));
    set->fdb_ok = calloc(set->n + 1, sizeof(bool));
    if (!set->by_mac || !set->arp_ok || !set->fdb_ok)
        return -ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        set->by_mac[i] = &set->by_addr[i];
    qsort(set->by_mac, set->n, sizeof(*set->by_mac), mac_order);
    return 0;
}

static void vtep_set_clear(struct vtep_set *set)
{
    free(set->by_mac);
    free(set->arp_ok);
    free(set->fdb_ok);
}

static int addr_order(const void *pa, const void *pb)
{
    const struct tby_vtep *a = pa, *b = pb;

    return tby_ip_compare(&a->tunnel_addr, &b->tunnel_addr);
}

/* Index into by_addr of the VTEP with this tunnel address, or -1. */
static long find_by_addr(const struct vtep_set *set, const struct nl_addr *addr)
{
    struct tby_vtep key = { 0 };
    struct tby_cidr c;
    const struct tby_vtep *hit;

    if (!set->n || tby_nl_addr_to_cidr(addr, &c) < 0)
        return -1;
    key.tunnel_addr = c.ip;
    hit = bsearch(&key, set->by_addr, set->n, sizeof(key), addr_order);
    return hit ? hit - set->by_addr : -1;
}

/* Index into by_mac of the VTEP with this MAC, or -1. */
static long find_by_mac(const struct vtep_set *set, const struct nl_addr *lladdr)
{
    struct tby_vtep key = { 0 };
    const struct tby_vtep *keyp = &key;
    const struct tby_vtep **hit;

    if (!set->n || !lladdr || nl_addr_get_len(lladdr) != 6)
        return -1;
    memcpy(key.mac, nl_addr_get_binary_addr(lladdr), 6);
    hit = bsearch(&keyp, set->by_mac, set->n, sizeof(keyp), mac_order);
    return hit ? hit - set->by_mac : -1;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* "node=b mac=…" for an entry being set, "dst=… lladdr=…" for one being deleted. */
static void describe(char *buf, size_t size, struct rtnl_neigh *n, const struct tby_vtep *vtep)
{
    char a[64], b[64];

    if (vtep)
        snprintf(buf, size, "node=%s mac=%s", vtep->node, tby_mac_format(vtep->mac, a));
    else
        snprintf(buf, size, "dst=%s lladdr=%s",
                 rtnl_neigh_get_dst(n) ? nl_addr2str(rtnl_neigh_get_dst(n), a, sizeof(a)) : "-",
                 rtnl_neigh_get_lladdr(n) ? nl_addr2str(rtnl_neigh_get_lladdr(n), b, sizeof(b))
                                          : "-");
}

static int neigh_write(struct routes_run *run, struct rtnl_neigh *n, bool add, const char *what,
                       const struct tby_vtep *vtep, const char *dev)
{
    char facts[160];
    int rc = add ? rtnl_neigh_add(run->r->sock, n, NLM_F_CREATE | NLM_F_REPLACE)
                 : rtnl_neigh_delete(run->r->sock, n, 0);

    describe(facts, sizeof(facts), n, vtep);
    if (rc < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot %s the %s entry on %s (%s): %s",
                           add ? "set" : "delete", what, dev, facts, strerror(-rc));
    }
    tby_log(TBY_LOG_INFO, "routes", "%s %s dev=%s %s", what, add ? "set" : "deleted", dev,
            facts);
    return 0;
}

/* The neighbour, or the FDB entry, of one VTEP. */
static int vtep_entry_set(struct routes_run *run, int ifindex, const struct tby_vtep *v,
                          bool fdb, const char *dev)
{
    _cleanup_nl_neigh_ struct rtnl_neigh *n = rtnl_neigh_alloc();
    _cleanup_nl_addr_ struct nl_addr *mac = tby_nl_addr_from_mac(v->mac);
    _cleanup_nl_addr_ struct nl_addr *dst = tby_nl_addr_from_ip(
        fdb ? &v->node_ip : &v->tunnel_addr, tby_ip_bits(&v->tunnel_addr));

    if (!n || !mac || !dst)
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    rtnl_neigh_set_ifindex(n, ifindex);
    rtnl_neigh_set_lladdr(n, mac);
    rtnl_neigh_set_dst(n, dst);
    rtnl_neigh_set_state(n, NUD_PERMANENT);
    if (fdb) {
        /* After the destination: libnl takes the family from the first address set. */
        rtnl_neigh_set_family(n, AF_BRIDGE);
        rtnl_neigh_set_flags(n, NTF_SELF);
    }
    if (neigh_write(run, n, true, fdb ? "fdb" : "neigh", v, dev) < 0)
        return run->first_error;
    if (fdb)
        run->st->fdbs_set++;
    else
        run->st->neighs_set++;
    return 0;
}

/* ---- comparing --------------------------------------------------------------------------- */

/* One kernel entry on the device: marks the VTEP it serves as done, or deletes it. ARP/ND
 * entries the kernel learned (not permanent) are its cache, not ours, and stay. */
static void check_entry(struct routes_run *run, struct vtep_set *set, struct rtnl_neigh *n,
                        int af, const char *dev)
{
    bool fdb = rtnl_neigh_get_family(n) == AF_BRIDGE;
    bool permanent = rtnl_neigh_get_state(n) & NUD_PERMANENT;
    long i;

    if (fdb) {
        i = find_by_mac(set, rtnl_neigh_get_lladdr(n));
        if (i >= 0 && tby_nl_addr_is_ip(rtnl_neigh_get_dst(n), &set->by_mac[i]->node_ip)) {
            set->fdb_ok[i] = permanent;
            return;
        }
        if (i < 0 && neigh_write(run, n, false, "fdb", NULL, dev) == 0)
            run->st->fdbs_deleted++;
        return;
    }
    if (rtnl_neigh_get_family(n) != af)
        return;
    i = find_by_addr(set, rtnl_neigh_get_dst(n));
    if (i >= 0) {
        set->arp_ok[i] = permanent && tby_nl_addr_is_mac(rtnl_neigh_get_lladdr(n),
                                                         set->by_addr[i].mac);
        return;
    }
    if (permanent && neigh_write(run, n, false, "neigh", NULL, dev) == 0)
        run->st->neighs_deleted++;
}

/* One device's entries of one family (AF_INET or AF_INET6 for its ARP/ND table, AF_BRIDGE
 * for its FDB) added to `cache`, asked of the kernel for that device alone: a dump of every
 * device would bring each link's multicast FDB entries along, 20,000 links' worth on a
 * node with 10,000 pods (~10% of a restart's CPU). A kernel that ignores the filter sends
 * everything, which the caller's own check by device sorts out. */
static int dump_device(struct nl_sock *sock, struct nl_cache *cache, int family, int ifindex)
{
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETNEIGH, NLM_F_DUMP);
    int rc;

    if (!msg)
        return -NLE_NOMEM;
    if (family == AF_BRIDGE) {
        /* the FDB dump filters by port when the header is an ifinfomsg */
        struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = ifindex };

        rc = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
    } else {
        struct ndmsg nd = { .ndm_family = (uint8_t)family };

        rc = nlmsg_append(msg, &nd, sizeof(nd), NLMSG_ALIGNTO);
        if (rc == 0)
            rc = nla_put_u32(msg, NDA_IFINDEX, (uint32_t)ifindex);
    }
    if (rc == 0 && (rc = nl_send_auto(sock, msg)) >= 0)
        rc = nl_cache_pickup(sock, cache);
    nlmsg_free(msg);
    return rc;
}

static int read_device(struct routes_run *run, struct nl_cache **out, int fi)
{
    int rc = nl_cache_alloc_name("route/neigh", out);

    if (rc >= 0)
        rc = dump_device(run->r->sock, *out, fi ? AF_INET6 : AF_INET, run->vxlan[fi]);
    if (rc >= 0)
        rc = dump_device(run->r->sock, *out, AF_BRIDGE, run->vxlan[fi]);
    if (rc < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot read the neighbour tables of %s: %s",
                           routes_vxlan_name(fi), strerror(-rc));
    }
    return 0;
}

static void sync_device(struct routes_run *run, int fi)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    struct vtep_set set;
    int ifindex = run->vxlan[fi];
    const char *dev = routes_vxlan_name(fi);

    if (read_device(run, &cache, fi) < 0)
        return;
    if (vtep_set_init(&set, run->plan, fi ? 6 : 4) < 0) {
        vtep_set_clear(&set);
        routes_fail(run, -ENOMEM, "routes: out of memory");
        return;
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_neigh *n = (struct rtnl_neigh *)o;

        if (rtnl_neigh_get_ifindex(n) == ifindex)
            check_entry(run, &set, n, fi ? AF_INET6 : AF_INET, dev);
    }
    for (size_t i = 0; i < set.n; i++) {
        if (!set.arp_ok[i])
            vtep_entry_set(run, ifindex, &set.by_addr[i], false, dev);
        if (!set.fdb_ok[i])
            vtep_entry_set(run, ifindex, set.by_mac[i], true, dev);
    }
    vtep_set_clear(&set);
}

int routes_neighbours(struct routes_run *run)
{
    for (int fi = 0; fi < 2; fi++)
        if (run->vxlan[fi])
            sync_device(run, fi);
    return 0;
}
