/* calc_policy.h — the calculation's policies: Calico NetworkPolicy, GlobalNetworkPolicy
 * and Kubernetes NetworkPolicy compiled to one chain per direction (pi-…, po-…), with the
 * sets their rules match on (addresses and named ports of selectors' members, nets,
 * ports). The middle layer of the calculation (calc.c wires the layers; private to
 * felix/policy/).
 *
 * It reads the label index (calc_index.h) and hears of its members through
 * calc_policies_member; what it tells the layer above (which policies apply to which
 * selector, in which order) goes through struct calc_policy_hooks. It knows nothing of
 * how the dispatch runs the policies.
 *
 * Owns: its policies, their chains and the sets their rules use, in the ruleset it is
 * given; selector entries it holds in the index. The struct calc_pol handed to the hooks
 * is the layer's, read-only, valid until the hook hears the policy stopped applying.
 */
#ifndef TABBY_CALC_POLICY_H
#define TABBY_CALC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/resource.h"
#include "tabby/ruleset.h"
#include "calc_index.h"

enum { DIR_IN = 0, DIR_OUT = 1 };     /* ingress (to the workload), egress (from it) */

/* The policy type of a direction: TBY_POLICY_INGRESS or TBY_POLICY_EGRESS. */
static inline unsigned calc_dir_type(int d)
{
    return d == DIR_IN ? TBY_POLICY_INGRESS : TBY_POLICY_EGRESS;
}

struct calc_policies;

/* What the layer above reads of a policy (the policy layer's: it owns the strings). */
struct calc_pol {
    char *display;                    /* Calico's name: "<ns>/knp.default.<name>" */
    char *tier;                       /* its tier's name ("default" when unset) */
    bool has_order;
    double order;                     /* Calico's order: lower first, unset last */
    unsigned types;                   /* TBY_POLICY_INGRESS | TBY_POLICY_EGRESS */
    char *chain[2];                   /* its chain per direction (DIR_IN, DIR_OUT) */
    bool apply_on_forward;            /* host endpoints: also for forwarded traffic */
    bool pre_dnat;                    /* host endpoints only, before DNAT (never workloads);
                                       * set before it applies, fixed while it does */
    bool do_not_track;                /* host endpoints only, before conntrack (never
                                       * workloads); set and fixed as pre_dnat */
};

struct calc_policy_hooks {
    /* p starts (add) or stops applying to the endpoints selector s matches, in the
     * directions of p->types (which stay as they are until it stops). The policy's chains
     * exist before it starts. 0 or -ENOMEM. */
    int (*applies)(void *ctx, const struct calc_pol *p, const struct calc_sel *s, bool add);
    /* A policy's order changed (its tier does not change while it applies: a policy
     * moving to another tier stops applying, then starts again). */
    void (*reordered)(void *ctx);
    void *ctx;
};

/* The policies, writing into rs and holding selectors of index. -ENOMEM. */
int calc_policies_new(struct tby_rs *rs, struct calc_index *index,
                      const struct calc_policy_hooks *hooks, struct calc_policies **out);
/* Drops every policy (the hooks hear each stop applying), then frees the layer. */
void calc_policies_free(struct calc_policies *pl);
/* The tier of the policy (or profile) Calico names display, NULL when none is. */
const char *calc_policies_tier_of(const struct calc_policies *pl, const char *display);

/* A NetworkPolicy, GlobalNetworkPolicy or Kubernetes NetworkPolicy came or changed; other
 * kinds are ignored. A policy that cannot be compiled in full is logged and what cannot
 * be enforced is left out; the error is only -ENOMEM. */
int calc_policies_update(struct calc_policies *pl, const struct tby_resource *res,
                         struct tby_error *err);
void calc_policies_remove(struct calc_policies *pl, const struct tby_resource *res);
size_t calc_policies_count(const struct calc_policies *pl);

/* The chain of a policy or profile id ("gnp/<name>", "pr/<name>") in direction d:
 * "pi-<id>" / "po-<id>", hashed when that is no plain nft name. The caller frees it. */
char *calc_policy_chain_name(const char *id, int d);

/* An EndpointSlice came, changed (eps, taken) or went (NULL): the sets of rules naming its
 * Service follow (calc_services.c). -ENOMEM. */
struct tby_eps;
int calc_policies_endpointslice(struct calc_policies *pl, const char *ns, const char *name,
                                struct tby_eps *eps);

/* The index's member hook, for the sets fed from selectors' members. -ENOMEM. */
int calc_policies_member(struct calc_policies *pl, const struct calc_sel *s,
                         const struct calc_ep *ep, bool joined);

#endif
