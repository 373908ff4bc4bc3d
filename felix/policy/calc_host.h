/* calc_host.h — host endpoints: the chains that police traffic to and from the node itself
 * through the interfaces HostEndpoints name, as Calico's host endpoint chains do (see
 * calc_host.c and docs/DISPATCH.md §4). A layer beside the workload dispatch (calc.c wires
 * it; private to felix/policy/).
 *
 * It hears from the index which local host endpoints come and go (calc_host_local) and who
 * joins a selector (calc_host_member), from the policy layer which policies apply to which
 * selector (calc_host_applies, calc_host_reordered), Tiers, Profiles, and from its caller
 * the node's merged FelixConfiguration settings (failsafe ports,
 * defaultEndpointToHostAction: calc_host_config); calc_host_settle writes
 * what changed. The workload dispatch never sees a host endpoint (they have no iface).
 *
 * Owns: the output and prerouting hook chains, host-in / host-out (the dispatch to host
 * endpoints), the failsafe chains, one chain per host endpoint and direction, and the
 * interface sets they test, in the ruleset it is given; it adds and drops calc_untracked.c's
 * raw part (while some endpoint has an untracked chain).
 */
#ifndef TABBY_CALC_HOST_H
#define TABBY_CALC_HOST_H

#include <stdbool.h>

#include "tabby/calc.h"
#include "tabby/ruleset.h"
#include "tabby/strv.h"
#include "calc_index.h"
#include "calc_policy.h"

struct calc_host;

/* The chain input-hook jumps to once workloads' own traffic is dealt with. */
#define CALC_HOST_CHAIN_IN "host-in"
/* forward-hook jumps to these before and after the workloads' dispatch: applyOnForward
 * policies of the host endpoint a forwarded packet comes in by, and goes out by. */
#define CALC_HOST_CHAIN_FWD_IN "host-fwd-in"
#define CALC_HOST_CHAIN_FWD_OUT "host-fwd-out"
/* prerouting-hook (this layer's, before DNAT) jumps here: preDNAT policies. */
#define CALC_HOST_CHAIN_PRE "host-pre"

/* Makes the output hook, host-in, host-out and the failsafe chains in rs (Calico's
 * defaults until calc_host_config). -ENOMEM. */
int calc_host_new(struct tby_rs *rs, struct calc_host **out);
void calc_host_free(struct calc_host *h);

/* The index's hooks, for host endpoints only (ep->host_iface set). */
int calc_host_local(struct calc_host *h, const struct calc_ep *ep, bool present);
int calc_host_member(struct calc_host *h, const struct calc_sel *s, const struct calc_ep *ep,
                     bool joined);
/* The policy layer's hooks. */
int calc_host_applies(struct calc_host *h, const struct calc_pol *p, const struct calc_sel *s,
                      bool add);
void calc_host_reordered(struct calc_host *h);
/* A Tier came or changed (tier set) or went (NULL). -ENOMEM. */
int calc_host_tier(struct calc_host *h, const char *name, const struct tby_tier *tier);
/* A HostEndpoint or Profile changed what a host endpoint's chain says. */
void calc_host_touch(struct calc_host *h);
/* The node's merged FelixConfiguration settings (tby_calc_set_host_config), copied.
 * -ENOMEM (the old ones stay). */
/* The name of the set holding a failsafe port's net (made by calc_host_settle's failsafe
 * chains, which the raw failsafe chains of calc_untracked.c test too). */
void calc_host_net_set_name(const struct tby_cidr *net, char name[TBY_RS_HASHED_NAME_SIZE]);

int calc_host_config(struct calc_host *h, const struct tby_calc_host_config *cfg);

/* The node's interfaces' addresses (tby_calc_set_host_addrs), copied. -ENOMEM (the old
 * ones stay). */
int calc_host_addrs(struct calc_host *h, const struct tby_host_addr *v, size_t n);

/* Which interfaces each of the local host endpoints eps[0..n) governs, given the node's
 * interfaces' addresses (sorted by interface), as Felix resolves them
 * (calc_host_resolve.c): pushed on won[i] (n of them; the caller clears them). The
 * all-interfaces endpoint governs none here. -ENOMEM. */
int calc_host_resolve(const struct calc_ep *const *eps, size_t n,
                      const struct tby_host_addr *addrs, size_t n_addrs, struct tby_strv *won);

/* Rewrites the host chains when something they say changed. -ENOMEM (the next settle
 * tries again). */
int calc_host_settle(struct calc_host *h);

/* Whether the doNotTrack part is written (some host endpoint has an untracked chain):
 * the raw hooks, which clear the mark, and with them the later hooks' accept of what a
 * doNotTrack policy allowed (calc_dispatch_untracked for input and forward). */
bool calc_host_untracked(const struct calc_host *h);

#endif
