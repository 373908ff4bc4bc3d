/* calc_untracked.h — doNotTrack policies: the host endpoints' policy that runs before
 * conntrack, as Calico's raw table does (see calc_untracked.c). Private to felix/policy/:
 * calc_host.c writes each host endpoint's untracked chains (hrin-… / hrout-…, only for
 * endpoints some doNotTrack policy applies to) and calls these for the fixed parts.
 *
 * Owns: raw-prerouting-hook and raw-output-hook (base chains at raw priority, -300) and
 * the raw failsafe chains, in the ruleset it is given. Returned rules belong to the caller.
 */
#ifndef TABBY_CALC_UNTRACKED_H
#define TABBY_CALC_UNTRACKED_H

#include <stddef.h>

#include "tabby/model.h"
#include "tabby/ruleset.h"

/* The dispatch chains the raw hooks jump to (calc_host.c writes them): the host endpoint
 * a packet comes in by (prerouting), goes out by (output, the node's own packets). */
#define CALC_UNTRACKED_CHAIN_IN "host-raw-in"
#define CALC_UNTRACKED_CHAIN_OUT "host-raw-out"

/* Writes raw-prerouting-hook and raw-output-hook. -ENOMEM. */
int calc_untracked_hooks(struct tby_rs *rs);

/* Drops the raw hooks and the raw failsafe chains (those present), when no host endpoint
 * has an untracked chain any more. */
void calc_untracked_drop(struct tby_rs *rs);

/* Writes failsafe-raw-in / failsafe-raw-out from the failsafe ports, inbound (in) and
 * outbound (out). -ENOMEM. */
int calc_untracked_failsafe(struct tby_rs *rs, const struct tby_felix_port *in, size_t n_in,
                            const struct tby_felix_port *out, size_t n_out);

/* The name of the raw failsafe chain of direction d (DIR_IN, DIR_OUT). */
const char *calc_untracked_failsafe_chain(int d);

/* The rule after a jump to a doNotTrack policy's chain: what it allowed is marked
 * TBY_MARK_UNTRACKED, left untracked and accepted. NULL: no memory. */
struct tby_rs_rule *calc_untracked_allowed(void);

/* The rule the later hooks (prerouting before DNAT, input, output) start their host
 * endpoint part with: accept what a doNotTrack policy allowed. Only while the raw hooks
 * are there: they clear the mark another program may have set. NULL: no memory. */
struct tby_rs_rule *calc_untracked_accept(void);

/* A match of packets no doNotTrack policy allowed (forward-hook runs the incoming host
 * endpoint's applyOnForward policies on those only, as Calico's; while the raw hooks are
 * there). */
extern const struct tby_rs_match calc_untracked_not_allowed;

#endif
