/* calc_policy_internal.h — the policy layer's own structures, shared by its files:
 * calc_policy.c (policies), calc_rules.c (a rule to nft rules), calc_sets.c (the sets fed
 * from selectors' members) and calc_k8s.c (Kubernetes rules read as Calico's). Private to
 * them; calc.c and the dispatch use calc_policy.h.
 *
 * Ownership: struct calc_policies owns every policy, shared set and per-selector record.
 * A policy owns its chains and holds (struct holds) the sets its rules use; a shared set
 * goes with its last holder.
 */
#ifndef TABBY_CALC_POLICY_INTERNAL_H
#define TABBY_CALC_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/hmap.h"
#include "calc_policy.h"

struct calc_policies {
    struct tby_rs *rs;
    struct calc_index *index;
    struct calc_policy_hooks hooks;
    struct tby_hmap pols;             /* struct pol, by id (profiles too: "pr/<name>") */
    size_t n_profiles;
    struct tby_hmap fixsets;          /* struct fixset, by content (calc_rules.c) */
    struct tby_hmap npsets;           /* struct npset, by key (calc_sets.c) */
    struct tby_hmap psels;            /* per-selector records, by selector (calc_sets.c) */
    struct tby_hmap slices;           /* EndpointSlices, by "<ns>/<name>" (calc_services.c) */
    struct tby_hmap svcs;             /* services' records, by "<ns>/<name>" (the same) */
};

/* A named-port set: addresses of the endpoints matching a selector, with the port a name
 * stands for on each of them (calc_sets.c). */
struct npset {
    struct tby_hnode node;
    char *key;
    uint32_t refs;
    struct calc_sel *sel;             /* held */
    uint8_t proto;
    char *port_name;
    struct tby_rs_set *set[2];        /* IPv4, IPv6 */
};

/* Interval sets (nets, ports) shared by content (calc_rules.c). */
struct fixset {
    struct tby_hnode node;
    char *key;
    uint32_t refs;
    struct tby_rs_set *set;
};

/* What a compiled policy holds on to, released when it is compiled again or removed. */
struct svc_use {
    struct psvc *svc;
    int kind;                         /* SVC_ADDRS or SVC_PORTS */
};

struct holds {
    struct calc_sel **sels;           /* address-set users (sel_sets_use), each held */
    size_t n_sels, cap_sels;
    struct svc_use *svcs;             /* service-set users (svc_sets_use) */
    size_t n_svcs, cap_svcs;
    struct fixset **fix;
    size_t n_fix, cap_fix;
    struct npset **nps;
    size_t n_nps, cap_nps;
};

struct pol {
    struct calc_pol v;                /* what the layer above reads */
    struct tby_hnode node;            /* in pl->pols, by id */
    char *id;                         /* "np/<ns>/<name>", "gnp/<name>", "knp/<ns>/<name>" */
    struct calc_sel *applies;         /* held */
    struct holds holds;
};

/* ---- calc_sets.c: sets fed from selectors' members ------------------------------------- */

/* The address sets of s's members (IPv4, IPv6), made with the first use; each use is
 * undone by one sel_sets_unuse. NULL when out of memory (no use counted). */
struct tby_rs_set *const *sel_sets_use(struct calc_policies *pl, const struct calc_sel *s);
void sel_sets_unuse(struct calc_policies *pl, const struct calc_sel *s);
/* The named-port set of (s, protocol, port name), held; NULL when out of memory. */
struct npset *npset_get(struct calc_policies *pl, struct calc_sel *s, uint8_t proto,
                        const char *name);
void npset_put(struct calc_policies *pl, struct npset *np);

/* ---- calc_services.c: sets fed from services' EndpointSlices ---------------------------- */

struct psvc;
struct tby_eps;

enum { SVC_ADDRS = 0, SVC_PORTS = 1 };  /* a source service's sets, a destination's */

/* Drops every slice (after every policy let go of its sets). */
void calc_services_free(struct calc_policies *pl);
/* The sets of kind k (SVC_ADDRS, SVC_PORTS) of the service key ("<ns>/<name>"), made with
 * the first use and filled from its slices; each use is undone by one svc_sets_unuse. NULL
 * when out of memory (no use counted). */
struct psvc *svc_sets_use(struct calc_policies *pl, const char *key, int k);
void svc_sets_unuse(struct calc_policies *pl, struct psvc *s, int k);
/* The name of a used set of kind k for an IP family (4 or 6). */
const char *svc_set_name(const struct psvc *s, int k, int family);

/* ---- calc_rules.c and calc_k8s.c: rules ---------------------------------------------------- */

/* A Calico rule's source or destination, ready to compile: selectors already scoped to
 * namespaces (NULL: none); the lists are owned copies. */
struct centity {
    struct tby_sel *sel;
    struct tby_sel *not_sel;
    char *svc;                        /* the Service "<ns>/<name>" it names, or NULL */
    struct tby_cidr_list nets, not_nets;
    struct tby_port_list ports, not_ports;
};

struct crule {
    enum tby_action action;
    int protocol, not_protocol;
    struct tby_icmp_match icmp, not_icmp;
    int ip_version;
    struct centity src, dst;
    bool skip;                        /* cannot be enforced: left out */
};

void crule_clear(struct crule *r);
/* Whether every nets or notNets list of the rule that is set names a net of `family` (4
 * or 6). Calico renders a rule for a family only then: a list of the other family alone
 * would match no packet of it (nets) or, negated, every one (notNets). */
bool crule_nets_fit(const struct crule *r, int family);
/* Scopes a rule entity's selectors as Calico does: namespaceSelector (prefixed pcns.)
 * or, in a namespaced policy, the policy's namespace, once any selector field is used.
 * Takes sel and ns_sel. */
int centity_scope(struct centity *e, struct tby_sel *sel, struct tby_sel *ns_sel,
                  const char *ns, struct tby_error *err);
/* Copies of Calico's lists into an entity. */
int centity_copy_lists(struct centity *e, const struct tby_entity_rule *src);
/* A copy of a port list, names too (an empty list stays empty). -ENOMEM. */
int port_list_copy(struct tby_port_list *dst, const struct tby_port_list *src);
/* Compiles one rule into nft rules appended to rules, holding the sets they use. */
int calc_compile_rule(struct calc_policies *pl, const struct crule *r, const char *comment,
                      struct holds *holds, struct tby_rs_rules *rules);
void holds_release(struct calc_policies *pl, struct holds *h);

/* Kubernetes NetworkPolicy rules as Calico rules (calc_k8s.c). */
int calc_k8s_rules(const struct tby_k8s_rule *rules, size_t n, bool ingress, const char *ns,
                   struct crule **out, size_t **origin, size_t *n_out, struct tby_error *err);
/* The applies-to selector of a Kubernetes policy. */
int calc_k8s_selector(const struct tby_k8s_policy *kp, const char *ns, struct tby_sel **out,
                      struct tby_error *err);
/* The applies-to selector of a Calico NetworkPolicy or GlobalNetworkPolicy (scoped to
 * its namespace, or by its namespaceSelector). */
int calc_calico_applies(const struct tby_resource *res, struct tby_sel **out,
                        struct tby_error *err);
/* A Calico rule of a policy in namespace ns (NULL: global) as the dataplane reads it. */
int calc_calico_rule(const struct tby_rule *src, const char *ns, struct crule *r,
                     struct tby_error *err);
/* The name Calico shows and sorts by among equal orders: "<ns>/<name>",
 * "<ns>/knp.default.<name>", "<name>". Caller frees; NULL when out of memory. */
char *calc_policy_display(const struct tby_resource *res);
/* `projectcalico.org/namespace == 'ns'` */
int sel_namespace(const char *ns, struct tby_sel **out, struct tby_error *err);
/* a && b, freeing both. */
int sel_and_take(struct tby_sel *a, struct tby_sel *b, struct tby_sel **out,
                 struct tby_error *err);

#endif
