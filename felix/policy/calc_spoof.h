/* calc_spoof.h — anti-spoofing: a packet a local workload sends must come from one of its
 * own addresses (ipNetworks), from one of its allowSpoofedSourcePrefixes, or, over IPv6,
 * from a link-local address or none (neighbour discovery); anything else is dropped
 * before conntrack and policy, as Calico's strict reverse-path check (with its per-workload
 * exceptions) does. A layer beside the dispatch (calc.c wires it; private to
 * felix/policy/).
 *
 * The check is one chain that every packet from a local workload enters first
 * (TBY_CALC_CHAIN_WL_SRC, jumped to by the hook chains). A workload's addresses are
 * elements of two sets of `interface . address` (from-wl-src-4, from-wl-src-6), so a pod
 * coming or going changes elements only; only a workload with wider sources (a prefix,
 * an ipNetwork wider than one address) has a rule of its own, with two or three small
 * sets.
 *
 * Owns: that chain, the sets it tests, and the per-workload sets, in the ruleset it is
 * given.
 */
#ifndef TABBY_CALC_SPOOF_H
#define TABBY_CALC_SPOOF_H

#include <stdbool.h>

#include "tabby/ruleset.h"
#include "calc_index.h"

struct calc_spoof;

#define CALC_SPOOF_SET_4 "from-wl-src-4"
#define CALC_SPOOF_SET_6 "from-wl-src-6"
/* The interfaces of local workloads whose allowSpoofedSourcePrefixes are not allowed
 * (workloadSourceSpoofing is not Any): Calico's felix treats such an endpoint as missing,
 * which drops its traffic; tabby drops what it sends (here) and what is forwarded to it
 * (the forward hook, calc_chains.c). */
#define CALC_SPOOF_SET_HELD "from-wl-src-held"
/* The drops' comments: the reason `tabbyctl flows` and explain give. */
#define CALC_SPOOF_DROP_COMMENT "anti-spoofing: source is not the sending workload's"
#define CALC_SPOOF_HELD_COMMENT "allowSpoofedSourcePrefixes without workloadSourceSpoofing Any"

/* Makes the chain and its sets in rs. -ENOMEM. */
int calc_spoof_new(struct tby_rs *rs, struct calc_spoof **out);
/* Frees what it keeps; what it wrote stays in the ruleset. */
void calc_spoof_free(struct calc_spoof *s);

/* The index's local hook, for workloads (ep->iface set): it came or is about to go. */
int calc_spoof_local(struct calc_spoof *s, const struct calc_ep *ep, bool present);

/* `iifname (src) / oifname @from-wl-src-held counter drop`, for calc_chains.c's forward
 * hook and calc_host.c's output hook (to be added with tby_rs_rules_add_deny). NULL when
 * out of memory. */
struct tby_rs_rule *calc_spoof_held_rule(bool src);

/* FelixConfiguration's workloadSourceSpoofing is Any (any) or not: whether the local
 * workloads' allowSpoofedSourcePrefixes count, or hold their workloads. -ENOMEM. */
int calc_spoof_allow(struct calc_spoof *s, bool any);

/* Rewrites the chain when a workload with wider sources came or went. -ENOMEM (the next
 * settle tries again). */
int calc_spoof_settle(struct calc_spoof *s);

#endif
