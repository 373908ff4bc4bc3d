/* routes.h — the routing state tabby-node owns in the kernel for pod traffic: workload
 * routes, routes to remote blocks (VXLAN, IPIP, or direct for CrossSubnet), blackholes
 * for this node's own VXLAN blocks, the VXLAN devices (vxlan.tabby, vxlan-v6.tabby) with
 * their ARP and FDB entries for remote VTEPs, and the IPIP device check.
 *
 * Two halves:
 *  - The plan (pure, no kernel): tby_routes_plan turns pools, nodes, block affinities and
 *    workload endpoints into a struct tby_routes_plan. It owns its arrays; free it with
 *    tby_routes_plan_clear. The inputs are borrowed and may be freed once it returns.
 *  - The kernel side: struct tby_routes holds two netlink sockets (libnl-route-3) in the
 *    network namespace the process was in when tby_routes_open ran. tby_routes_apply reads
 *    back what the kernel holds and changes only the difference, never flushing.
 *
 * What it owns in the kernel, and so may change or delete:
 *  - routes in the main table whose protocol is TBY_ROUTES_PROTO;
 *  - the devices named TBY_VXLAN_DEVICE and TBY_VXLAN6_DEVICE, their addresses, and the
 *    permanent neighbour and FDB entries on them;
 *  - while an IPIP pool exists, tunl0's up state and IPv4 address (the device itself
 *    belongs to the kernel's ipip module).
 * Anything else is only read, with one exception: `tabby-node --uninstall` deletes the
 * routes BIRD left behind (tby_routes_delete_protocol). A foreign route already holding a
 * destination tabby wants is adopted when it is what tabby would program (the CNI
 * plugin's workload routes), and otherwise left alone and reported as a conflict.
 */
#ifndef TABBY_ROUTES_H
#define TABBY_ROUTES_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/net.h"
#include "tabby/strv.h"

/* The rtm_protocol of every route tabby-node programs: Calico's felix uses 80 too, it is
 * unassigned in iproute2's rt_protos, and BIRD (12), the kernel (2) and boot/static
 * (3/4) routes can never be mistaken for it. The CNI plugin must not use it: a workload
 * route it makes before tabby-node has seen the endpoint would look like a stale one of
 * tabby-node's and be deleted. Its own routes (boot or static) are adopted instead. */
#define TBY_ROUTES_PROTO 80

#define TBY_VXLAN_DEVICE "vxlan.tabby"
#define TBY_VXLAN6_DEVICE "vxlan-v6.tabby"
#define TBY_VXLAN_VNI 4096
#define TBY_VXLAN_PORT 4789
/* Bytes the encapsulation takes from the uplink's MTU: outer IP + UDP + VXLAN + inner
 * Ethernet headers. */
#define TBY_VXLAN_OVERHEAD_V4 50
#define TBY_VXLAN_OVERHEAD_V6 70
#define TBY_IPIP_OVERHEAD 20
#define TBY_IPIP_DEVICE "tunl0"

/* What the pool's encapsulation takes from every packet of an address of `family` (4 or
 * 6): VXLAN 50 or 70, IPIP 20, none 0. CrossSubnet counts as encapsulating, since a pod's
 * packets may cross subnets. The CNI plugin sizes veths by it, node diagnose checks them. */
static inline unsigned tby_pool_encap_overhead(const struct tby_ippool *pool, int family)
{
    if (pool->vxlan_mode != TBY_ENCAP_NEVER)
        return family == 6 ? TBY_VXLAN_OVERHEAD_V6 : TBY_VXLAN_OVERHEAD_V4;
    return pool->ipip_mode != TBY_ENCAP_NEVER ? TBY_IPIP_OVERHEAD : 0;
}

/* ---- inputs (borrowed) ---------------------------------------------------------------- */

struct tby_routes_pool {
    const char *name;
    const struct tby_ippool *spec;
};

struct tby_routes_node {
    const char *name;
    const struct tby_node *spec;
};

/* An IPAM block and the node it is affine to. */
struct tby_routes_block {
    struct tby_cidr cidr;
    const char *node;
};

struct tby_routes_input {
    const char *node_name;                 /* this node */
    const struct tby_routes_pool *pools;
    size_t n_pools;
    const struct tby_routes_node *nodes;   /* every node, this one included */
    size_t n_nodes;
    const struct tby_routes_block *blocks; /* every node's affine blocks */
    size_t n_blocks;
    /* Every workload endpoint known: this node's get routes to their interfaces; another
     * node's addresses outside that node's own blocks (borrowed ones) get /32 routes to
     * that node, as its blocks do. */
    const struct tby_wep *const *weps;
    size_t n_weps;
    /* BIRD installs the routes of IPIP pools (tabby-node's native BGP mode, as Calico's
     * BIRD does): the plan leaves them out, direct CrossSubnet ones too, so that each
     * kernel route has one owner. tunl0 is still checked (ipip_pool is set). */
    bool ipip_routes_by_bgp;
    /* FelixConfiguration's: the VXLAN devices' VNI and UDP port (0: 4096 and 4789), their
     * MTUs and tunl0's ([0] IPv4, [1] IPv6; 0: the uplink's less the encapsulation), and
     * ipv6Support false (no IPv6 route, VTEP or device: the plan is IPv4's alone). */
    uint32_t vxlan_vni;
    uint16_t vxlan_port;
    unsigned vxlan_mtu[2];
    unsigned ipip_mtu;
    bool no_ipv6;
};

/* ---- the plan --------------------------------------------------------------------------- */

enum tby_route_kind {
    TBY_ROUTE_WORKLOAD,  /* dst dev <veth> scope link */
    TBY_ROUTE_VXLAN,     /* dst via <remote VTEP address> dev vxlan.tabby onlink */
    TBY_ROUTE_DIRECT,    /* dst via <remote node IP> dev <uplink>: CrossSubnet, same subnet */
    TBY_ROUTE_IPIP,      /* dst via <remote node IP> dev tunl0 onlink */
    TBY_ROUTE_BLACKHOLE, /* blackhole dst: this node's own block of a VXLAN pool */
};

struct tby_route {
    enum tby_route_kind kind;
    struct tby_cidr dst;                /* masked */
    struct tby_ip gateway;              /* VXLAN, DIRECT, IPIP */
    char ifname[IFNAMSIZ];              /* WORKLOAD only */
};

/* A remote node's VXLAN tunnel endpoint: ARP/ND entry tunnel_addr → mac and FDB entry
 * mac → node_ip on the device of tunnel_addr's family. */
struct tby_vtep {
    char *node;
    struct tby_ip tunnel_addr;
    uint8_t mac[6];
    struct tby_ip node_ip;
};

/* This node's VXLAN device of one family. */
struct tby_vxlan_spec {
    bool wanted;
    struct tby_ip local;                /* this node's IP: the underlay source */
    bool has_tunnel_addr;
    struct tby_ip tunnel_addr;          /* the device's own address (/32 or /128) */
    uint8_t mac[6];
    uint32_t vni;                       /* TBY_VXLAN_VNI unless configured */
    uint16_t port;                      /* TBY_VXLAN_PORT unless configured */
    unsigned mtu;                       /* 0: the uplink's less the encapsulation */
};

struct tby_routes_plan {
    struct tby_route *routes;           /* sorted by family, then destination */
    size_t n_routes;
    struct tby_vtep *vteps;             /* sorted by family, then tunnel address */
    size_t n_vteps;
    struct tby_vxlan_spec vxlan[2];     /* [0] IPv4 (vxlan.tabby), [1] IPv6 (vxlan-v6) */
    bool has_node_ip[2];                /* this node's IPv4 / IPv6 address */
    struct tby_ip node_ip[2];           /* the uplink is the device holding it */
    char *ipip_pool;                    /* the first pool that needs IPIP; NULL: none */
    struct tby_ip ipip_tunnel_addr;     /* family 0: none */
    unsigned ipip_mtu;                  /* tunl0's; 0: left as the kernel has it */
    /* What the plan had to leave out, one sentence each, naming node, block or pool. */
    struct tby_strv warnings;
};

/* Computes the desired state. Fails only for lack of memory or a missing node_name. */
int tby_routes_plan(const struct tby_routes_input *in, struct tby_routes_plan *out,
                    struct tby_error *err);
void tby_routes_plan_clear(struct tby_routes_plan *plan);
/* A deep copy into *dst (cleared first); the warnings are not copied. */
int tby_routes_plan_copy(struct tby_routes_plan *dst, const struct tby_routes_plan *src);

/* As `ip route` prints it, "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink"; a direct
 * route has no device in the plan ("10.65.2.0/26 via 192.168.1.12"). Returns buf. */
#define TBY_ROUTE_STRLEN 128
char *tby_route_format(const struct tby_route *route, char *buf);

/* ---- VXLAN MACs -------------------------------------------------------------------------- */

/* The MAC a node uses when its Node resource names none, derived from the node name as
 * Felix derives it: 0x66 (unicast, locally administered), then the first 5 bytes of the
 * SHA-1 of the name (for family 6, of the name and "-v6"). Every node derives the same
 * MAC for a given name, so a remote node's MAC is known even before its Node resource
 * carries it, and a Calico node (whose Node never carries it) is reached at the MAC its
 * Felix gave its device. */
void tby_vxlan_mac_for_node(const char *node_name, int family, uint8_t mac[6]);
/* "aa:bb:cc:dd:ee:ff", either case. -EINVAL on anything else. */
int tby_mac_parse(const char *text, uint8_t mac[6]);
#define TBY_MAC_STRLEN 18
char *tby_mac_format(const uint8_t mac[6], char *buf);

/* ---- natOutgoing: what the nftables engine needs ---------------------------------------- */

struct tby_nat_cidrs {
    struct tby_cidr_list masquerade;    /* sources: CIDRs of pools with natOutgoing */
    struct tby_cidr_list pools;         /* destinations never masqueraded: every pool */
};

/* Traffic from `masquerade` to anywhere outside `pools` is masqueraded, as Calico does;
 * disabled pools count too, since their workloads still run. Caller clears *out with
 * tby_nat_cidrs_clear. */
int tby_routes_nat_cidrs(const struct tby_routes_pool *pools, size_t n_pools,
                         struct tby_nat_cidrs *out);
void tby_nat_cidrs_clear(struct tby_nat_cidrs *cidrs);

/* ---- the kernel --------------------------------------------------------------------------- */

struct tby_routes;

/* What one apply changed (and did not). */
struct tby_routes_stats {
    unsigned routes_added;
    unsigned routes_replaced;
    unsigned routes_deleted;
    unsigned routes_adopted;     /* a foreign route already equal to the wanted one */
    unsigned routes_conflicting; /* a foreign route holds the destination: left alone */
    unsigned routes_pending;     /* their device is missing (yet): what the kernel holds
                                  * for their destination stays as it is */
    unsigned neighs_set;         /* ARP/ND entries added or corrected */
    unsigned neighs_deleted;
    unsigned fdbs_set;
    unsigned fdbs_deleted;
    unsigned links_changed;      /* devices created, recreated, changed, deleted; addresses */
};

/* Kernel writes the apply made (the adopted, conflicting and pending are not writes). */
unsigned tby_routes_stats_changes(const struct tby_routes_stats *stats);

int tby_routes_open(struct tby_routes **out, struct tby_error *err);
void tby_routes_close(struct tby_routes *routes);
TBY_DEFINE_FREEP(struct tby_routes, tby_routes_close)

/* Makes the kernel match the plan: devices first, then neighbour and FDB entries, then
 * routes. It carries on past a failing part, so that one bad part (an IPIP pool on a
 * kernel without IPIP) does not hold back the rest, and returns the first error. Keeps
 * a copy of the plan for tby_routes_resync. stats may be NULL. */
int tby_routes_apply(struct tby_routes *routes, const struct tby_routes_plan *plan,
                     struct tby_routes_stats *stats, struct tby_error *err);
/* `tabby-node --uninstall`: removes everything listed above as owned (the routes of
 * protocol TBY_ROUTES_PROTO, the VXLAN devices with their entries), and gives tunl0 back
 * as the ipip module makes it (no IPv4 address, down: the device cannot be deleted).
 * Nothing else is touched. stats may be NULL. */
int tby_routes_uninstall(struct tby_routes *routes, struct tby_routes_stats *stats,
                         struct tby_error *err);
/* `tabby-node --uninstall` once BIRD is gone: deletes every route of protocol `proto` in
 * every table (RTPROT_BIRD: the routes tabby's BIRD installed with persist on, which
 * outlive it), counting them in *deleted. Carries on past a route it cannot delete and
 * returns the first error. */
int tby_routes_delete_protocol(struct tby_routes *routes, unsigned proto, unsigned *deleted,
                               struct tby_error *err);
/* Applies the last plan again: what the daemon calls when tby_routes_events says so. */
int tby_routes_resync(struct tby_routes *routes, struct tby_routes_stats *stats,
                      struct tby_error *err);

/* A non-blocking netlink socket subscribed to link, address, route and neighbour
 * changes, for the daemon's poll loop (POLLIN). */
int tby_routes_event_fd(const struct tby_routes *routes);
/* Reads every pending notification. *resync is set when one touched what tabby owns or
 * routes through (its routes or devices, a workload interface, the uplink), or when the
 * kernel dropped notifications. An apply that changed something announces its own
 * changes too; the resync that follows finds nothing to do and announces nothing. */
int tby_routes_events(struct tby_routes *routes, bool *resync, struct tby_error *err);

#endif
