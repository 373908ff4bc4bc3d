/* cni_mtu.h — the MTU of a pod's veth when the configuration names none (private to
 * cni/): the number in an MTU file when there is one (calico-node writes
 * /var/lib/calico/mtu), else the uplink's MTU (the interface holding this node's
 * address, found the way calico-node's first-found autodetection finds it, IPv4 first),
 * less what the encapsulation of the pod's IP pool takes from every packet (VXLAN 50
 * bytes over IPv4, 70 over IPv6; IPIP 20). CrossSubnet pools count as encapsulating: a
 * pod's packets may cross subnets. Without an uplink, 1500 less the overhead.
 *
 * Owns nothing.
 */
#ifndef TABBY_CNI_MTU_H
#define TABBY_CNI_MTU_H

#include <stdbool.h>

#include <netlink/socket.h>

#include "tabby/resource.h"
#include "tabby/routes.h"
#include "tabby/store.h"
#include "cni_result.h"

#define CNI_DEFAULT_MTU 1500
/* Below IPv6's minimum link MTU a pod could not speak IPv6; the kernel refuses more than
 * 65535 for a veth. */
#define CNI_MTU_MIN 1280
#define CNI_MTU_MAX 65535
#define CNI_IPIP_OVERHEAD TBY_IPIP_OVERHEAD

/* The overhead for the pool (among `pools`, IPPool resources) holding ip; 0 when none
 * does or it does not encapsulate. */
unsigned cni_mtu_overhead(const struct tby_resource_list *pools, const struct tby_ip *ip);

/* The MTU file's number (surrounding blanks allowed): 0 and *out set; 0 and *out 0 when
 * the file is missing and not required; -1 with err otherwise (-ENOENT, -EINVAL). */
int cni_mtu_from_file(const char *path, bool required, unsigned *out, struct tby_error *err);

int cni_mtu_detect(struct nl_sock *sk, struct tby_store *store, const struct cni_result *res,
                   unsigned *out, struct tby_error *err);

#endif
