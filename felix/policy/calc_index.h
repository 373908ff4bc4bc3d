/* calc_index.h — the calculation's label index: endpoints with their effective labels
 * (from their namespaces and profiles too), and one entry per distinct selector with the
 * endpoints it matches. The bottom layer of the calculation (calc.c wires the layers;
 * private to felix/policy/).
 *
 * It knows nothing of what its users make of a selector's members (address sets, policy
 * lists, dispatch pages) and writes nothing to the ruleset: it reports each change of
 * membership through struct calc_index_hooks, and the layers above keep their own state
 * per selector, keyed by calc_sel.hash.
 *
 * Owns: every endpoint, namespace, profile and selector entry. A selector entry lives
 * while someone holds it (calc_sel_get, calc_sel_hold, each undone by calc_sel_put); the
 * struct calc_ep and struct calc_sel handed out are the index's, read-only, valid while
 * the endpoint or the entry lives.
 */
#ifndef TABBY_CALC_INDEX_H
#define TABBY_CALC_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/net.h"
#include "tabby/resource.h"
#include "tabby/selector.h"

struct calc_index;

struct calc_port {
    char *name;
    uint8_t proto;
    uint16_t port;
};

/* What the layers above read of an endpoint, or of a network set (NetworkSet,
 * GlobalNetworkSet), which rule selectors match as they match endpoints (Calico's label
 * index holds both): labels and nets, never local, no interface, no ports. */
struct calc_ep {
    bool local;                       /* on this node */
    char *iface;                      /* local endpoints' host-side interface (or NULL) */
    struct tby_ip *addrs;             /* host addresses (/32, /128) */
    size_t n_addrs;
    struct tby_cidr *nets;            /* a network set's nets (masked); endpoints have none */
    size_t n_nets;
    struct tby_cidr *src_nets;        /* a local workload's other sources: its ipNetworks
                                       * wider than one address, then its
                                       * allowSpoofedSourcePrefixes (calc_spoof.h) */
    size_t n_src_nets;
    size_t n_prefixes;                /* of those, the allowSpoofedSourcePrefixes */
    struct calc_port *ports;          /* its named ports */
    size_t n_ports;
    const struct tby_strv *profiles;  /* its profiles, in its order */
    char *host_iface;                 /* a local HostEndpoint's interfaceName ("*": all of
                                       * the node's; "": none, found by its addrs, its
                                       * expectedIPs); NULL for anything else. A host
                                       * endpoint never has iface: the workload dispatch
                                       * does not see it */
    char *host_name;                  /* a local HostEndpoint's name (Calico's choice
                                       * between endpoints on one interface) */
};

/* What the layers above read of a selector entry. */
struct calc_sel {
    const char *text;                 /* the selector's canonical form */
    uint64_t hash;                    /* tby_hash_str(text): a key for the layers' maps */
};

/* How the index tells its users what changed. A hook returns 0 or -ENOMEM. */
struct calc_index_hooks {
    /* ep joined s's members (joined), or is about to leave them. Not called while a new
     * entry is filled (calc_sel_get): nobody uses it yet. */
    int (*member)(void *ctx, const struct calc_sel *s, const struct calc_ep *ep, bool joined);
    /* A local endpoint with an interface (iface, or host_iface for a host endpoint) came
     * (present), or is about to go. */
    int (*local)(void *ctx, const struct calc_ep *ep, bool present);
    void *ctx;
};

/* An index for the node `node_name` (endpoints of other nodes are not local). -ENOMEM. */
int calc_index_new(const char *node_name, const struct calc_index_hooks *hooks,
                   struct calc_index **out);
/* Frees everything without calling the hooks. */
void calc_index_free(struct calc_index *x);

/* A WorkloadEndpoint, HostEndpoint, NetworkSet, GlobalNetworkSet, Namespace or Profile
 * appeared or changed, or went away; other kinds are ignored. A HostEndpoint has its own
 * labels and its profiles' (no namespace); its expectedIPs are its addresses. A NetworkSet has the labels an endpoint
 * of its namespace has (projectcalico.org/namespace, pcns.*, the profile kns.<ns>'s, as
 * Calico gives it), a GlobalNetworkSet its own only. -ENOMEM. */
int calc_index_update(struct calc_index *x, const struct tby_resource *res);
int calc_index_remove(struct calc_index *x, const struct tby_resource *res);

/* The entry for sel's canonical form, taking sel (freed when an entry exists), with one
 * hold; a new entry is evaluated against every endpoint. NULL when out of memory. */
struct calc_sel *calc_sel_get(struct calc_index *x, struct tby_sel *sel);
/* One more hold on an entry. */
void calc_sel_hold(struct calc_sel *s);
/* Lets go of one hold (NULL: none); the entry goes with the last. */
void calc_sel_put(struct calc_index *x, struct calc_sel *s);
/* Whether the selector matches the endpoint (one lookup). */
bool calc_sel_has_member(const struct calc_sel *s, const struct calc_ep *ep);
/* Calls fn for each endpoint the selector matches, stopping at the first non-zero return,
 * which it returns. */
int calc_sel_foreach_member(const struct calc_sel *s,
                            int (*fn)(void *ctx, const struct calc_ep *ep), void *ctx);

/* Calls fn for each local endpoint with an interface that lists the profile `name`,
 * stopping at the first non-zero return, which it returns. */
int calc_index_foreach_local_with_profile(struct calc_index *x, const char *name,
                                          int (*fn)(void *ctx, const struct calc_ep *ep),
                                          void *ctx);

/* Counts for tby_calc_stats (endpoints: workload endpoints, not network sets). */
void calc_index_counts(const struct calc_index *x, size_t *endpoints, size_t *local,
                       size_t *selectors);

#endif
