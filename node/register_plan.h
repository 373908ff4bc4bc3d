/* register_plan.h — what this node's Node resource should say, given what the node found
 * out (register_plan.c). Pure: no datastore, no kernel, so that it is tested on its own;
 * register.c detects, asks IPAM, and writes what this plans.
 *
 * The Node holds fields this node owns — its addresses (spec.bgp.ipv4Address,
 * ipv6Address), its AS number when configured, its VXLAN tunnel addresses and the VTEP MAC
 * of each family — and fields others own (labels, the rest of spec.bgp, status), which a
 * plan keeps as they are.
 */
#ifndef TABBY_NODE_REGISTER_PLAN_H
#define TABBY_NODE_REGISTER_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/net.h"
#include "tabby/resource.h"

/* What one pass found out; [0] is IPv4, [1] IPv6. */
struct node_reg_facts {
    const char *node;         /* this node's name (borrowed) */
    bool has_addr[2];         /* detected or configured; absent: the field is left alone */
    struct tby_cidr addr[2];
    bool vxlan[2];            /* a pool gives VXLAN tunnel addresses of the family */
    bool has_tunnel[2];       /* the tunnel address IPAM holds for this node; absent: none */
    struct tby_ip tunnel[2];
    bool has_as;              /* AS configured for this node; absent: the field is left alone */
    uint32_t as_number;
};

/* The Node this node wants: `old` (NULL: there is none yet) with the fields this node
 * owns set from f, the others kept. *out is NULL when old says all that already (nothing
 * to write); else the caller's to free. The error names the Node. */
int node_register_plan(const struct tby_resource *old, const struct node_reg_facts *f,
                       struct tby_resource **out, struct tby_error *err);

/* Whether a pool gives VXLAN tunnel addresses: VXLAN not Never, enabled, allowed for
 * tunnels. */
bool node_register_tunnel_pool(const struct tby_ippool *p);

#endif
