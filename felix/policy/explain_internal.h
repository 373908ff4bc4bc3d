/* explain_internal.h — the explain model's structures, shared by explain.c (the model and
 * the evaluation order), explain_match.c (one rule against one packet) and explain_host.c
 * (the node's own side of a flow). Private to them.
 *
 * Ownership: struct tby_explain owns its endpoints, policies and resource copies.
 */
#ifndef TABBY_EXPLAIN_INTERNAL_H
#define TABBY_EXPLAIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tabby/explain.h"
#include "tabby/selector.h"
#include "calc_policy_internal.h"

/* A workload endpoint with the labels the dataplane gives it. */
struct xep {
    struct tby_resource *res;         /* owned copy */
    char *name;                       /* "<ns>/<pod>" */
    json_t *labels;                   /* effective labels; rebuilt when x->dirty */
};

/* A network set as rule selectors see it. */
struct xset {
    const struct tby_resource *res;   /* in tby_explain.others */
    char *name;                       /* "NetworkSet <ns>/<name>", "GlobalNetworkSet <name>" */
    json_t *labels;
};

/* A tier: its order and what ends it when its policies decide nothing. */
struct xtier {
    char *name;
    double order;                     /* INFINITY: unset (last) */
    enum tby_action default_action;   /* Deny or Pass */
};

/* A policy read as the dataplane reads it. */
struct xpol {
    struct tby_resource *res;         /* owned copy */
    char *display;                    /* Calico's name, the sort key after the order */
    char *tier;                       /* the tier it is placed in */
    double tier_order;                /* that tier's order (INFINITY: unset, last) */
    bool has_order;
    double order;
    unsigned types;
    struct tby_sel *applies;          /* NULL when it could not be read (error says) */
    char *error;
    char *note;                       /* not enforced as written: what tabby-node does */
    struct crule *rules[2];           /* per direction (DIR_IN, DIR_OUT) */
    size_t *origin[2];                /* the user's rule index of each */
    size_t n[2];
};

struct tby_explain {
    struct xep *eps;
    size_t n_eps, cap_eps;
    struct xpol *pols;                /* built from policies and Profiles by prepare */
    size_t n_pols, cap_pols;
    struct tby_resource_list policies; /* the policies added, as written */
    struct xset *sets;                /* built by prepare */
    size_t n_sets, cap_sets;
    struct xtier *tiers;              /* the tiers known (Tier resources, add_tier) */
    size_t n_tiers, cap_tiers;
    struct tby_resource_list others;  /* Namespaces, Profiles, network sets */
    bool dirty;                       /* labels and policies need building again */
    bool as_written;                  /* no enforcement plan: as Calico would */
    unsigned caps;                    /* what the datastore lets tabby enforce (enforce.h) */
    struct tby_eps **slices;          /* the cluster's EndpointSlices (services rules) */
    size_t n_slices, cap_slices;
};

/* ---- explain_host.c: the node's own side -------------------------------------------------- */

/* The node an address belongs to (a Node's address, a HostEndpoint's expectedIPs), or NULL. */
const char *explain_host_of(const struct tby_explain *x, const struct tby_ip *a);
/* Whether a is an address of the Node named node. */
bool explain_node_has(const struct tby_explain *x, const char *node, const struct tby_ip *a);
/* Whether the node has a HostEndpoint tabby-node may police (any: one found by its
 * expectedIPs governs the interfaces holding them, which explain does not know). */
bool explain_host_policed(const struct tby_explain *x, const char *node);
/* The node's defaultEndpointToHostAction from the FelixConfigurations added (its own over
 * "default"; Calico's default Drop). FELIX_* variables of the node are not known here. */
enum tby_felix_to_host explain_endpoint_to_host(const struct tby_explain *x, const char *node);
/* Whether the node's workloadSourceSpoofing is Any (the same order; Calico's default
 * Disabled): only then do endpoints' allowSpoofedSourcePrefixes count. */
bool explain_spoofing_any(const struct tby_explain *x, const char *node);

/* The packet as the rules see it. */
struct xpkt {
    struct tby_ip src, dst;
    int protocol;
    bool has_port;                    /* destination port or ICMP type */
    uint16_t port;
    bool has_src_port;
    uint16_t src_port;
};

/* Whether rule r matches p. *why is a new string: the match that failed, or, when it
 * matches, the matches that held ("" for a rule that matches everything). -ENOMEM. */
int xrule_match(const struct tby_explain *x, const struct crule *r, const struct xpkt *p,
                bool *match, char **why);

#endif
