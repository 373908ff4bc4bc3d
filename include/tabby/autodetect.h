/* autodetect.h — this node's IP address, found the way calico-node's
 * IP_AUTODETECTION_METHOD finds it: first-found, interface=REGEX[,REGEX…],
 * skip-interface=REGEX[,REGEX…], can-reach=ADDRESS-OR-NAME, cidr=CIDR[,CIDR…].
 *
 * Owns: struct tby_autodetect, a parsed method (with its compiled regular expressions),
 * freed with tby_autodetect_free. tby_autodetect_choose is pure (the interfaces are
 * given); tby_autodetect_run reads the interfaces and routes of the network namespace
 * the process is in, through libnl-route-3 (hence in lib/netlink/libtabby-netlink.la).
 *
 * Interface regular expressions are POSIX extended ones, unanchored as in Calico (write
 * ^eth0$ to mean exactly eth0); Go-only syntax such as \d is not understood.
 */
#ifndef TABBY_AUTODETECT_H
#define TABBY_AUTODETECT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"

struct tby_autodetect;

struct tby_autodetect_result {
    struct tby_cidr address;     /* the address with its subnet's length: 10.0.0.5/24 */
    char ifname[IFNAMSIZ];       /* the interface holding it */
};

/* One interface, as tby_autodetect_choose sees it. */
struct tby_autodetect_iface {
    const char *name;
    bool up;
    const struct tby_cidr *addrs; /* its addresses, host bits kept, in the kernel's order */
    size_t n_addrs;
};

/* NULL or "" means first-found. Unknown methods, bad regular expressions and bad CIDRs
 * fail with a message naming them. */
int tby_autodetect_parse(const char *method, struct tby_autodetect **out,
                         struct tby_error *err);
void tby_autodetect_free(struct tby_autodetect *method);
TBY_DEFINE_FREEP(struct tby_autodetect, tby_autodetect_free)

/* The first global unicast address of `family` (4 or 6), in interface order then address
 * order, on an interface that is up and that the method accepts:
 *  - first-found: not a known internal interface (lo, docker*, veth*, cali*, tby*,
 *    vxlan.*, kube-ipvs*, … as calico-node excludes, plus tabby's own);
 *  - interface=: matching one of the expressions;
 *  - skip-interface=: neither internal nor matching one of the expressions;
 *  - cidr=: the address inside one of the CIDRs, on any interface but the pod network's
 *    own (tby*, cali*, tunl*, vxlan.*, …), whose addresses come from the pools.
 * -ENOENT with a message when nothing fits; -EINVAL for can-reach (it needs the kernel). */
int tby_autodetect_choose(const struct tby_autodetect *method, int family,
                          const struct tby_autodetect_iface *ifaces, size_t n_ifaces,
                          struct tby_autodetect_result *out, struct tby_error *err);

/* Runs the method in this network namespace. For can-reach it asks the kernel which
 * source address it would use towards the destination (a route lookup, RTM_GETROUTE),
 * after resolving a host name, and reports that address with its interface's prefix. */
int tby_autodetect_run(const struct tby_autodetect *method, int family,
                       struct tby_autodetect_result *out, struct tby_error *err);

#endif
