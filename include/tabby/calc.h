/* calc.h — the policy calculation: from the datastore's resources (workload endpoints,
 * network sets, namespaces, profiles, Calico and Kubernetes policies) to the desired
 * content of table `inet tabby` (ruleset.h), kept up to date incrementally.
 *
 * Owns: its indexes (endpoints, namespaces, profiles, policies, one entry per distinct
 * selector with the endpoints it matches) and the ruleset it writes; tby_calc_free
 * releases all of it. It keeps copies of what it needs: resources handed in stay the
 * caller's. Needs the selector module; nothing here talks to the kernel, so it runs and is
 * tested without root.
 *
 * What it computes (Calico's semantics, see README "How policy is enforced"):
 *   - each endpoint's effective labels: its own, projectcalico.org/namespace,
 *     projectcalico.org/orchestrator and projectcalico.org/serviceaccount, its namespace's
 *     labels as pcns.<key>, and its profiles' labelsToApply (its own labels win);
 *   - one address set per distinct rule selector (after namespace scoping), holding the
 *     addresses of every matching endpoint of the cluster and the nets of every matching
 *     NetworkSet and GlobalNetworkSet (a NetworkSet has its namespace's labels, as an
 *     endpoint there has), and named-port sets (addr . proto . port) per (selector,
 *     protocol, port name);
 *   - one chain per policy and direction, and per selector that policies apply to a set
 *     of the interfaces of the local endpoints (node == node name) it matches, tested in
 *     Calico's order by the dispatch chains (see calc_chains.c).
 * An event touches only what it affects: a new endpoint is evaluated only against the
 * selectors that can match its labels (an index on the label pairs a selector requires,
 * see tby_sel_required), a relabel only against those it may enter or leave; an endpoint
 * change edits set elements, not rules.
 *
 * Tiers (Tier resources) order the policies and end with their defaultAction; the
 * endpoints' profiles decide what no tier did (docs/DISPATCH.md). Rules naming a Service
 * (`services`) match sets fed from its EndpointSlices (tby_calc_endpointslice): a slice
 * changing changes set elements only. Not yet: HostEndpoints.
 */
#ifndef TABBY_CALC_H
#define TABBY_CALC_H

#include <stddef.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/host_addrs.h"
#include "tabby/resource.h"
#include "tabby/ruleset.h"

struct tby_calc;

/* Names of the fixed objects of the table. Each dispatch chain has a set "<chain>-selected"
 * of the interfaces some policy applies to in its direction. */
#define TBY_CALC_CHAIN_FROM_WL "from-wl"   /* egress of the sending local workload */
#define TBY_CALC_CHAIN_TO_WL "to-wl"       /* ingress of the receiving local workload */
#define TBY_CALC_CHAIN_FORWARD "forward-hook"
#define TBY_CALC_CHAIN_INPUT "input-hook"
#define TBY_CALC_CHAIN_WL_SRC "from-wl-src" /* anti-spoofing: first for a workload's packets */
#define TBY_CALC_SET_LOCAL_WL "local-wl"   /* the interfaces of local endpoints */
#define TBY_CALC_CHAIN_NAT "nat-postrouting"  /* natOutgoing; only while a pool has it */
#define TBY_CALC_SET_NAT_POOLS "nat-pools"    /* + "-4"/"-6": pools with natOutgoing */
#define TBY_CALC_SET_ALL_POOLS "all-pools"    /* + "-4"/"-6": every pool */

/* A calculation for the node `node_name` (endpoints of other nodes feed the selector sets
 * only). -ENOMEM. */
int tby_calc_new(const char *node_name, struct tby_calc **out);
void tby_calc_free(struct tby_calc *calc);
TBY_DEFINE_FREEP(struct tby_calc, tby_calc_free)

/* A resource appeared or changed (kinds the calculation does not use are ignored). Errors
 * are -ENOMEM; a policy that cannot be compiled in full (a selector grown too long by
 * namespace scoping) is logged and its rule left out, so that one bad resource does not
 * stop the others. */
int tby_calc_update(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err);
/* A resource went away (only its kind, namespace and name are read). */
/* The EndpointSlice ns/name came or changed (eps, which the calculation takes and frees) or
 * went (eps NULL). Errors are -ENOMEM. */
struct tby_eps;
int tby_calc_endpointslice(struct tby_calc *calc, const char *ns, const char *name,
                           struct tby_eps *eps, struct tby_error *err);
int tby_calc_remove(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err);

/* The host endpoints' settings of this node's FelixConfiguration, its layers (FELIX_*,
 * node.<name>, default) already merged by the caller (tabby-node's felix part): the
 * calculation reads no FelixConfiguration itself. Until told, Calico's defaults. */
struct tby_calc_host_config {
    enum tby_felix_to_host to_host;           /* defaultEndpointToHostAction */
    const struct tby_felix_port *failsafe[2]; /* inbound, outbound (n 0: none at all) */
    size_t n_failsafe[2];
    bool spoofing_any;                        /* workloadSourceSpoofing: Any (calc_spoof) */
};
/* Copies cfg. -ENOMEM. */
int tby_calc_set_host_config(struct tby_calc *calc, const struct tby_calc_host_config *cfg);

/* The addresses the node's interfaces hold but its workloads' (tby…): a HostEndpoint
 * without interfaceName applies to each interface holding one of its expectedIPs, as
 * Felix's. Copied. -ENOMEM. */
int tby_calc_set_host_addrs(struct tby_calc *calc, const struct tby_host_addr *v, size_t n);

/* natOutgoing, as Calico does it: packets from `masquerade` (the CIDRs of pools with
 * natOutgoing) to destinations outside `pools` (every pool) are masqueraded in a nat
 * postrouting chain, per family: `ip saddr @nat-pools-4 ip daddr != @all-pools-4
 * masquerade`. The sets keep their names and follow the pools; with no masquerading pool
 * the chain and sets go. The lists are copied (tby_routes_nat_cidrs makes them). -ENOMEM. */
int tby_calc_set_nat(struct tby_calc *calc, const struct tby_cidr_list *masquerade,
                     const struct tby_cidr_list *pools);
/* The same, with FelixConfiguration's natOutgoingAddress: IPv4 traffic is SNATed to
 * snat_to (`snat ip to ADDR`) instead of masqueraded; NULL (or not IPv4): masquerade. */
int tby_calc_set_nat_to(struct tby_calc *calc, const struct tby_cidr_list *masquerade,
                        const struct tby_cidr_list *pools, const struct tby_ip *snat_to);

/* Updates edit the indexes, the policies' chains and the sets at once; the dispatch
 * chains, which run the policies in order, are written once for any number of updates,
 * by tby_calc_settle or at the next tby_calc_ruleset. -ENOMEM (what is left is tried again
 * at the next call). */
int tby_calc_settle(struct tby_calc *calc, struct tby_error *err);
/* The desired table, for the dataplane to program (owned by the calculation), settled
 * first (a failure to settle is tried again at the next call: call tby_calc_settle before
 * to hear of it). */
struct tby_rs *tby_calc_ruleset(struct tby_calc *calc);
/* The tier of the policy Calico names display ("<ns>/<name>", a global policy's name), NULL
 * when the calculation has no such policy (a profile's: NULL too). Borrowed. */
const char *tby_calc_policy_tier(const struct tby_calc *calc, const char *display);

struct tby_calc_stats {
    size_t endpoints;        /* every endpoint known */
    size_t local_endpoints;  /* those of this node */
    size_t policies;
    size_t selectors;        /* distinct selectors indexed */
};
void tby_calc_stats(const struct tby_calc *calc, struct tby_calc_stats *out);

#endif
