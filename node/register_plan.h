/* register_plan.h — what this node's Node resource should say, given what the node found
 * out (register_plan.c). Pure: no datastore, no kernel, so that it is tested on its own;
 * register.c detects, asks IPAM, and writes what this plans.
 *
 * The Node holds fields this node owns — its addresses (spec.bgp.ipv4Address,
 * ipv6Address), its AS number when configured, its tunnel addresses (VXLAN of each family,
 * IPIP) and the VTEP MAC of each family — and fields others own (labels, the rest of
 * spec.bgp, status), which a plan keeps as they are.
 */
#ifndef TABBY_NODE_REGISTER_PLAN_H
#define TABBY_NODE_REGISTER_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/net.h"
#include "tabby/resource.h"

/* The tunnel addresses a node takes from IPAM, as calico-node's allocate-tunnel-addrs
 * does: one IPAM handle each, "<handle_prefix><node>", allocated with attribute type
 * `attr_type`. Indexes of node_reg_facts' tunnel arrays. */
enum node_tunnel { NODE_TUNNEL_VXLAN, NODE_TUNNEL_VXLAN6, NODE_TUNNEL_IPIP, NODE_TUNNELS };

struct node_tunnel_kind {
    const char *name;          /* as messages say it: "VXLAN", "IPv6 VXLAN", "IPIP" */
    int family;
    const char *handle_prefix; /* "vxlan-tunnel-addr-" */
    const char *attr_type;     /* "vxlanTunnelAddress" */
    const char *field;         /* the Node's field: "spec.ipv4VXLANTunnelAddr" */
};

extern const struct node_tunnel_kind node_tunnel_kinds[NODE_TUNNELS];

/* What one pass found out; [0] is IPv4, [1] IPv6, tunnels by enum node_tunnel. */
struct node_reg_facts {
    const char *node;         /* this node's name (borrowed) */
    bool has_addr[2];         /* detected or configured; absent: the field is left alone */
    struct tby_cidr addr[2];
    bool vxlan[2];            /* a pool gives VXLAN tunnel addresses of the family */
    bool has_tunnel[NODE_TUNNELS]; /* the address IPAM holds for this node; absent: none */
    struct tby_ip tunnel[NODE_TUNNELS];
    bool has_as;              /* AS configured for this node; absent: the field is left alone */
    uint32_t as_number;
};

/* The Node this node wants: `old` (NULL: there is none yet) with the fields this node
 * owns set from f, the others kept. *out is NULL when old says all that already (nothing
 * to write); else the caller's to free. The error names the Node. */
int node_register_plan(const struct tby_resource *old, const struct node_reg_facts *f,
                       struct tby_resource **out, struct tby_error *err);

/* Whether a pool gives node `node` (NULL: one not stored yet, so without labels) the
 * tunnel address `t`, as Calico decides it: of t's family, its mode for t (vxlanMode,
 * ipipMode) not Never, enabled, allowed for tunnels, and its nodeSelector selecting the
 * node. */
bool node_register_tunnel_pool(const struct tby_ippool *p, enum node_tunnel t,
                               const struct tby_resource *node);

/* The address of tunnel `t` the Node says, or NULL. */
const struct tby_ip *node_register_tunnel_addr(const struct tby_node *spec, enum node_tunnel t);

#endif
