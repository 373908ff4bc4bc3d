/* calc_internal.h — the calculation's indexes, shared by the felix/calc_*.c files (private
 * to felix/).
 *
 * Ownership: struct tby_calc owns every index entry. An endpoint (struct ep) is owned by
 * the endpoint index; a selector entry (struct selent) by the selector index, freed when
 * its last user lets go; a policy (struct pol) by the policy index. Pointers between them
 * are borrowed and kept consistent by the functions that add and remove members.
 */
#ifndef TABBY_CALC_INTERNAL_H
#define TABBY_CALC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/calc.h"
#include "tabby/hmap.h"
#include "tabby/model.h"
#include "tabby/ruleset.h"
#include "tabby/selector.h"

enum { DIR_IN = 0, DIR_OUT = 1 };     /* ingress (to the workload), egress (from it) */

struct ep_port {
    char *name;
    uint8_t proto;
    uint16_t port;
};

struct ep {
    struct tby_hnode node;            /* in calc->eps, by key */
    char *key;                        /* "<namespace>/<name>" */
    char *ns;
    bool local;
    char *iface;                      /* local endpoints' host-side interface */
    struct tby_ip *addrs;             /* host addresses (/32, /128) */
    size_t n_addrs;
    struct ep_port *ports;
    size_t n_ports;
    json_t *own_labels;               /* metadata.labels */
    struct tby_strv profiles;
    char *orchestrator;
    char *service_account;
    struct tby_label *labels;         /* effective labels, sorted by key: a shared block */
    size_t n_labels;
    struct ep *ns_next, *ns_prev;     /* the endpoints of one namespace */
    struct pol **pols[2];             /* local only: policies applying (in no order) */
    size_t n_pols[2];
    bool in_wl;                       /* its interface is in the local-wl set */
};

struct member {
    struct tby_hnode node;            /* by endpoint pointer */
    struct ep *ep;
};

/* A named-port set: addresses of the endpoints matching a selector, with the port a name
 * stands for on each of them. */
struct npset {
    struct tby_hnode node;
    char *key;
    uint32_t refs;
    struct selent *sel;
    uint8_t proto;
    char *port_name;
    struct tby_rs_set *set[2];        /* IPv4, IPv6 */
};

struct selent {
    struct tby_hnode node;            /* in calc->sels, by canonical text */
    struct tby_sel *sel;
    uint32_t refs;                    /* every user: policies applying, rules, named ports */
    uint32_t set_refs;                /* rules matching on the address sets */
    struct tby_hmap members;          /* struct member */
    struct tby_rs_set *set[2];        /* address sets while set_refs > 0 */
    struct tby_rs_set *wl;            /* their interfaces, while some policy applies to this
                                       * selector (the dispatch tests it) */
    struct pol **pols;                /* policies whose applies-to selector this is */
    size_t n_pols;
    struct npset **nps;
    size_t n_nps;
    uint64_t seen;                    /* de-duplicates visits within one event */
    bool indexed;                     /* by its required label pairs (else: unindexed) */
    size_t unindexed_at;              /* its place in calc->unindexed */
};

/* An index term and its selectors (calc_select.c). A selector that can only match label
 * sets holding one of some pairs (tby_sel_required) is filed under "key=value" for each,
 * and evaluated only for endpoints holding one; any other selector is filed under each key
 * it reads (evaluated again when one changes) and kept on calc->unindexed (evaluated for
 * every new endpoint). Keys hold no '=', so the two kinds of term never meet. */
struct keyent {
    struct tby_hnode node;
    char *key;
    struct selent **sels;
    size_t n;
};

/* Interval sets (nets, ports) shared by content. */
struct fixset {
    struct tby_hnode node;
    char *key;
    uint32_t refs;
    struct tby_rs_set *set;
};

/* What a compiled policy holds on to, released when it is compiled again or removed. */
struct holds {
    struct selent **sels;             /* set users (set_refs) */
    size_t n_sels;
    struct fixset **fix;
    size_t n_fix;
    struct npset **nps;
    size_t n_nps;
};

struct pol {
    struct tby_hnode node;            /* in calc->pols, by id */
    char *id;                         /* "np/<ns>/<name>", "gnp/<name>", "knp/<ns>/<name>" */
    char *display;                    /* Calico's name: "<ns>/knp.default.<name>" */
    uint64_t display_hash;            /* tby_hash_str(display): where dispatch pages start */
    uint64_t serial;                  /* new whenever its dispatch rule changes */
    struct page *page[2];             /* the dispatch page running it, per direction */
    bool has_order;
    double order;
    unsigned types;                   /* TBY_POLICY_INGRESS | TBY_POLICY_EGRESS */
    struct selent *applies;
    char *chain[2];
    struct holds holds;
};

/* A chain holding consecutive rules of a dispatch chain (calc_chains.c). */
struct page {
    struct tby_hnode node;
    char *name;
    uint64_t *serials;                /* the policies its rules run, as last written */
    size_t n;
    struct tby_rs_set *set;           /* the interfaces of their local workloads */
    uint64_t seen;                    /* the last round that cut it */
    struct tby_rs_rule *jump;         /* the dispatch chain's jump to it (shared, sealed) */
};

struct nsinfo {
    struct tby_hnode node;
    char *name;
    json_t *labels;                   /* NULL until the Namespace resource is seen */
    struct ep *eps;                   /* its endpoints */
};

struct profinfo {
    struct tby_hnode node;
    char *name;
    json_t *labels;                   /* labelsToApply */
};

struct tby_calc {
    char *node_name;
    struct tby_rs *rs;
    struct tby_rs_set *selected[2];   /* interfaces some policy applies to, per direction */
    bool dispatch_dirty;              /* a policy changed: settle cuts the pages again */
    struct tby_hmap pages[2];         /* struct page, by name */
    struct tby_rs_rule *dispatch_head[2][2], *dispatch_deny[2]; /* shared, sealed */
    uint64_t pol_serial;              /* the last struct pol serial handed out */
    uint64_t page_round;
    struct tby_rs_set *local_wl;      /* local endpoints' interfaces */
    struct tby_hmap eps, sels, keys, pols, nss, profs, fixsets, npsets;
    struct selent **unindexed;        /* selectors without required label pairs */
    size_t n_unindexed, cap_unindexed;
    struct tby_hmap labelsets;        /* endpoints' effective labels, shared (calc.c) */
    size_t n_local;
    uint64_t visit;                   /* event counter for selent->seen */
};

/* ---- calc_select.c: the selector index ------------------------------------------------ */

/* The entry for sel's canonical form, taking sel (freed when an entry exists); a new
 * entry is evaluated against every endpoint. NULL when out of memory. */
struct selent *selent_get(struct tby_calc *c, struct tby_sel *sel);
void selent_put(struct tby_calc *c, struct selent *s);
bool selent_has(const struct selent *s, const struct ep *ep);
/* The selector's set of local workload interfaces exists while some policy applies to it
 * (s->n_pols); call after s->n_pols changes. -ENOMEM. */
int selent_update_wl(struct tby_calc *c, struct selent *s);
/* Adds the interfaces of the selector's local members to set (an ifname set). -ENOMEM. */
int selent_feed_local(struct tby_calc *c, const struct selent *s, struct tby_rs_set *set);
/* Address sets of a selector used by rules. */
int selent_use_sets(struct tby_calc *c, struct selent *s);
void selent_unuse_sets(struct tby_calc *c, struct selent *s);
struct npset *npset_get(struct tby_calc *c, struct selent *s, uint8_t proto, const char *name);
void npset_put(struct tby_calc *c, struct npset *np);
/* A new endpoint joins every selector it matches; a leaving one leaves them all. */
int sels_join_all(struct tby_calc *c, struct ep *ep);
void sels_leave_all(struct tby_calc *c, struct ep *ep);
/* Re-evaluates the selectors reading a key whose value differs between the label sets. */
int sels_relabel(struct tby_calc *c, struct ep *ep, const struct tby_label *old, size_t n_old);
struct tby_labels ep_label_view(const struct ep *ep);
/* "prefix-<16 hex digits of the hash of text>", into buf of at least 64 bytes. */
const char *hashed_name(char *buf, const char *prefix, const char *text);

/* ---- calc_chains.c: the hooks and the dispatch ------------------------------------------ */

/* A policy starts or stops applying to a local endpoint (which is then in the selected
 * set of a direction while some policy applies there). -ENOMEM. */
int ep_policy_add(struct tby_calc *c, struct ep *ep, struct pol *p);
void ep_policy_remove(struct tby_calc *c, struct ep *ep, struct pol *p);
/* A policy came, went or changed: settle cuts the dispatch pages again (and writes the
 * ones whose policies changed). */
void calc_dispatch_dirty(struct tby_calc *c);
/* A local workload's interface joins (or leaves) the page sets of the policies of s. */
void calc_page_feed(struct tby_calc *c, const struct selent *s, const struct ep *ep, bool add);
void calc_dispatch_free(struct tby_calc *c);
/* Rewrites the dispatch chains when they changed. */
int calc_settle(struct tby_calc *c);
/* Takes an endpoint off every policy list (it leaves or stops being local). */
void ep_chains_drop(struct tby_calc *c, struct ep *ep);
/* Puts a local endpoint's interface in the local-wl set, or takes it out. */
int ep_local_wl(struct tby_calc *c, struct ep *ep, bool in);
int calc_base_chains(struct tby_calc *c);

/* ---- calc_policy.c and calc_rules.c: policies ------------------------------------------ */

int calc_policy_update(struct tby_calc *c, const struct tby_resource *res, struct tby_error *err);
void calc_policy_remove(struct tby_calc *c, const struct tby_resource *res);
void pol_free_all(struct tby_calc *c);

/* A Calico rule's source or destination, ready to compile: selectors already scoped to
 * namespaces (NULL: none); the lists are owned copies. */
struct centity {
    struct tby_sel *sel;
    struct tby_sel *not_sel;
    struct tby_cidr_list nets, not_nets;
    struct tby_port_list ports, not_ports;
};

struct crule {
    enum tby_action action;
    int protocol, not_protocol;
    struct tby_icmp_match icmp, not_icmp;
    int ip_version;
    struct centity src, dst;
    bool skip;                        /* cannot be enforced (services): left out */
};

void crule_clear(struct crule *r);
/* Scopes a rule entity's selectors as Calico does: namespaceSelector (prefixed pcns.)
 * or, in a namespaced policy, the policy's namespace, once any selector field is used.
 * Takes sel and ns_sel. */
int centity_scope(struct centity *e, struct tby_sel *sel, struct tby_sel *ns_sel,
                  const char *ns, struct tby_error *err);
/* Copies of Calico's lists into an entity. */
int centity_copy_lists(struct centity *e, const struct tby_entity_rule *src);
/* Compiles one rule into nft rules appended to *rules, holding the sets they use. */
int calc_compile_rule(struct tby_calc *c, struct pol *p, int dir, const struct crule *r,
                      const char *comment, struct holds *holds, struct tby_rs_rule ***rules,
                      size_t *n);
void holds_release(struct tby_calc *c, struct holds *h);

/* Kubernetes NetworkPolicy rules as Calico rules (calc_k8s.c). */
int calc_k8s_rules(const struct tby_k8s_rule *rules, size_t n, bool ingress, const char *ns,
                   struct crule **out, size_t **origin, size_t *n_out, struct tby_error *err);
/* The applies-to selector of a Kubernetes policy. */
int calc_k8s_selector(const struct tby_k8s_policy *kp, const char *ns, struct tby_sel **out,
                      struct tby_error *err);
/* `projectcalico.org/namespace == 'ns'` */
int sel_namespace(const char *ns, struct tby_sel **out, struct tby_error *err);
/* a && b, freeing both. */
int sel_and_take(struct tby_sel *a, struct tby_sel *b, struct tby_sel **out, struct tby_error *err);

#endif
