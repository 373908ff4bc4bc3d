/* cni_mtu.h — the MTU of a pod's veth when the configuration names none (private to
 * cni/): the uplink's MTU (the interface holding this node's address, found the way
 * calico-node's first-found autodetection finds it, IPv4 first), less what the
 * encapsulation of the pod's IP pool takes from every packet (VXLAN 50 bytes over IPv4,
 * 70 over IPv6; IPIP 20). CrossSubnet pools count as encapsulating: a pod's packets may
 * cross subnets. Without an uplink, 1500 less the overhead.
 *
 * Owns nothing.
 */
#ifndef TABBY_CNI_MTU_H
#define TABBY_CNI_MTU_H

#include <netlink/socket.h>

#include "tabby/resource.h"
#include "tabby/store.h"
#include "cni_result.h"

#define CNI_DEFAULT_MTU 1500
#define CNI_IPIP_OVERHEAD 20

/* The overhead for the pool (among `pools`, IPPool resources) holding ip; 0 when none
 * does or it does not encapsulate. */
unsigned cni_mtu_overhead(const struct tby_resource_list *pools, const struct tby_ip *ip);

int cni_mtu_detect(struct nl_sock *sk, struct tby_store *store, const struct cni_result *res,
                   unsigned *out, struct tby_error *err);

#endif
