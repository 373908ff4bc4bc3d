/* calc_chains.h — the chains around the policies: the hooks' base chains, and per
 * direction a dispatch chain that takes a packet through the policies applying to its
 * local workload, in Calico's order (see calc_chains.c). The top layer of the calculation
 * (calc.c wires the layers; private to felix/policy/).
 *
 * It hears from the index which local workloads come and go and who joins a selector
 * (calc_dispatch_local, calc_dispatch_member), and from the policy layer which policies
 * apply to which selector and that their order changed (calc_dispatch_applies,
 * calc_dispatch_reordered); it reads their struct calc_pol, and a selector's members
 * through the index. calc_dispatch_settle writes what changed.
 *
 * Owns: the base chains, the dispatch chains and their pages, and the interface sets they
 * test (local-wl, <dir>-selected, wl-<hash> per selector policies apply to), in the
 * ruleset it is given.
 */
#ifndef TABBY_CALC_CHAINS_H
#define TABBY_CALC_CHAINS_H

#include <stdbool.h>

#include "tabby/ruleset.h"
#include "calc_index.h"
#include "calc_policy.h"

struct calc_dispatch;

/* Makes the base chains, the sets and the (empty) dispatch chains in rs. -ENOMEM. */
int calc_dispatch_new(struct tby_rs *rs, struct calc_dispatch **out);
/* Frees what it keeps; what it wrote stays in the ruleset. */
void calc_dispatch_free(struct calc_dispatch *d);

/* The index's hooks: a local workload's interface came or goes; ep joined or leaves s. */
int calc_dispatch_local(struct calc_dispatch *d, const struct calc_ep *ep, bool present);
int calc_dispatch_member(struct calc_dispatch *d, const struct calc_sel *s,
                         const struct calc_ep *ep, bool joined);
/* The policy layer's hooks (see struct calc_policy_hooks). */
int calc_dispatch_applies(struct calc_dispatch *d, const struct calc_pol *p,
                          const struct calc_sel *s, bool add);
void calc_dispatch_reordered(struct calc_dispatch *d);
/* A Tier came or changed (tier set) or went (NULL: the tier is as if never written). */
int calc_dispatch_tier(struct calc_dispatch *d, const char *name, const struct tby_tier *tier);
/* A Profile came or changed (profile set) or went (NULL); then each local workload listing
 * it is handed to calc_dispatch_replan. -ENOMEM. */
int calc_dispatch_profile(struct calc_dispatch *d, const char *name,
                          const struct tby_profile *profile);
int calc_dispatch_replan(struct calc_dispatch *d, const struct calc_ep *ep);

/* Rewrites the dispatch chains, and the pages whose policies changed, when some policy
 * came, went, moved or changed what it applies to. -ENOMEM (the next settle tries
 * again). */
int calc_dispatch_settle(struct calc_dispatch *d);

/* Whether the raw hooks are there (calc_host_untracked): input-hook and forward-hook test
 * the mark a doNotTrack policy's Allow sets only then (the raw hooks clear it first; with
 * none, a mark another program set would be trusted). Rewrites them when it changes.
 * -ENOMEM (the old ones stay). */
int calc_dispatch_untracked(struct calc_dispatch *d, bool on);

#endif
