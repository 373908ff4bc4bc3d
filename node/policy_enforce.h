/* policy_enforce.h — the policy part's gate between the cluster and the calculation (private
 * to node/): every resource goes through it, and one tabby cannot program as written
 * (enforce.h) reaches the calculation as its fail-closed stand-in, never with a rule left
 * out.
 *
 * Owns the list of resources not enforced as written, with why; the calculation (and the
 * stand-ins programmed in it) is the caller's. What it says goes to the log
 * (once per change), to the part's metrics and to its degraded status.
 */
#ifndef TABBY_NODE_POLICY_ENFORCE_H
#define TABBY_NODE_POLICY_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>

#include "tabby/calc.h"
#include "tabby/error.h"
#include "tabby/resource.h"

struct policy_enforce;

/* For the node `node` (its own host endpoints are the ones it would police), in a datastore
 * with capabilities `caps` (tby_enforce_caps). -ENOMEM. */
int policy_enforce_new(const char *node, unsigned caps, struct policy_enforce **out);
void policy_enforce_free(struct policy_enforce *e);

/* res appeared or changed: the calculation gets what tabby enforces of it. -ENOMEM. */
int policy_enforce_update(struct policy_enforce *e, struct tby_calc *calc,
                          const struct tby_resource *res, struct tby_error *err);
/* res went away, with whatever was programmed for it. */
int policy_enforce_remove(struct policy_enforce *e, struct tby_calc *calc,
                          const struct tby_resource *res, struct tby_error *err);

struct policy_enforce_counts {
    size_t fail_closed;  /* programmed as a stand-in that denies what cannot be enforced */
};
void policy_enforce_counts(const struct policy_enforce *e, struct policy_enforce_counts *out);
/* false when every resource is enforced as written; else true, and one of those not, with
 * why, in buf ("GlobalNetworkPolicy shop: spec.ingress[0]…: …"). */
bool policy_enforce_example(const struct policy_enforce *e, char *buf, size_t size);

#endif
