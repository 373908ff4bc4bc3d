/* explain.h — why a flow is allowed or denied: the decision path of one packet through
 * the policies of the datastore, in Calico's order, without the kernel.
 *
 * A struct tby_explain is a model built from resources (WorkloadEndpoints, Namespaces,
 * Profiles, NetworkPolicies, GlobalNetworkPolicies, Kubernetes NetworkPolicies, network
 * sets, HostEndpoints, Nodes, Tiers; other kinds are ignored). tby_explain_flow() evaluates one
 * packet, FROM → TO on a port and protocol: FROM's egress, then TO's ingress (each only
 * when it is a workload endpoint); per direction the tiers in order (lower order first,
 * the "default" tier at 1,000,000), in each the policies that select the endpoint by
 * order then name, in each the rules in order until the first that matches (Allow and
 * Deny decide, Pass leaves the tier, Log goes on); a tier whose policies select the
 * endpoint but decide nothing ends with its default action (Deny, or Pass); an endpoint
 * no tier decided for reaches its profiles, which allow (as Calico's namespace profiles
 * do). A packet to the endpoint it comes from never leaves the pod and is allowed; one from
 * the endpoint's own node (an address of its Node) to it passes, as tabby-node lets it.
 *
 * What is evaluated is what tabby-node programs: each policy and Profile goes through
 * enforce.h's plan, so one tabby cannot program as written is evaluated as its
 * fail-closed stand-in, and the trace says why. Rule selectors match network sets by their nets, as
 * they match endpoints by their addresses; rules naming a Service match the EndpointSlices
 * added (tby_explain_add_endpointslice), as tabby-node matches them on k8s:.
 *
 * The rules are read exactly as the dataplane reads them (felix/policy's conversion:
 * namespace scoping, Kubernetes policies as knp.default.<name> at order 1000), and
 * selectors match the labels the dataplane gives endpoints (their own, pcns.<key> of
 * their namespace, projectcalico.org/namespace, orchestrator, serviceaccount, profiles'
 * labelsToApply), so the verdict is the one the nftables table gives.
 *
 * Tiers: a policy is in its spec.tier when the model knows that tier (a Tier resource
 * added, or tby_explain_add_tier), else in the "default" tier, as a dataplane that does
 * not know the tier evaluates it. Tiers without an order come last; the default tier's
 * order is 1,000,000 unless a Tier resource says otherwise.
 *
 * Owns: the model keeps its own copies of the resources added. tby_explain_flow returns
 * a new JSON trace the caller frees (json_decref). Nothing is printed and nothing global
 * is changed; a model may be read by one thread at a time.
 */
#ifndef TABBY_EXPLAIN_H
#define TABBY_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"
#include "tabby/resource.h"

struct tby_explain;

/* One side of a flow: a workload endpoint (by its index in the model) or a bare address
 * (outside the cluster, a network set's, a node's). */
struct tby_explain_peer {
    int endpoint;                   /* -1: an address only */
    const char *host_endpoint;      /* the HostEndpoint named (the name given), or NULL;
                                     * only its address counts: tabby does not police
                                     * host endpoints yet */
    bool has_addr;                  /* endpoint: false means "its address of the family
                                     * the other side needs" */
    struct tby_ip addr;
};

struct tby_explain_packet {
    struct tby_explain_peer from, to;
    int protocol;                   /* IANA number: TCP, UDP, SCTP, ICMP, ICMPv6 */
    bool has_port;                  /* destination port, or ICMP type */
    uint16_t port;
    bool has_src_port;              /* unknown by default: a rule's source ports then
                                     * do not match (notPorts do) */
    uint16_t src_port;
};

int tby_explain_new(struct tby_explain **out);
void tby_explain_free(struct tby_explain *x);
TBY_DEFINE_FREEP(struct tby_explain, tby_explain_free)

/* Adds a copy of res to the model (kinds it does not read are ignored). -ENOMEM. */
int tby_explain_add(struct tby_explain *x, const struct tby_resource *res);

/* Makes a tier known (or changes it): its order (has_order false: last) and its default
 * action, Pass (default_pass) or Deny. tby_explain_add reads Tier resources through it.
 * -ENOMEM. */
int tby_explain_add_tier(struct tby_explain *x, const char *name, bool has_order, double order,
                         bool default_pass);

/* An EndpointSlice of the cluster (eps, which the model takes), for rules naming a Service:
 * adding one tells the model that the datastore knows Services (enforce.h's
 * TBY_ENFORCE_SERVICES), so that such rules are evaluated, as tabby-node programs them on
 * k8s:, rather than as their stand-in. -ENOMEM. */
struct tby_eps;
int tby_explain_add_endpointslice(struct tby_explain *x, struct tby_eps *eps);
/* The datastore knows Services (even with no slice): caps of tby_enforce_caps. */
void tby_explain_set_caps(struct tby_explain *x, unsigned caps);

/* as_written: evaluate the resources as written, as Calico would, rather than as
 * tabby-node programs them (no fail-closed stand-ins; Profiles' rules still allow). */
void tby_explain_as_written(struct tby_explain *x, bool as_written);

/* Reads one side of a flow: "NS/POD" (a workload endpoint's pod), "NS/NAME" (a
 * WorkloadEndpoint's name), a WorkloadEndpoint name unique across namespaces, a
 * HostEndpoint's name (its first expectedIP), or an IP address (an endpoint's address
 * names that endpoint); a workload's form followed by "@ADDR" is that workload sending from
 * ADDR, which tby_explain_flow denies, as tabby-node's anti-spoofing check drops it, unless
 * it is the endpoint's own, inside its allowSpoofedSourcePrefixes, or IPv6 link-local.
 * out borrows text. -EINVAL with err saying what was not found or is ambiguous. */
int tby_explain_peer_parse(const struct tby_explain *x, const char *text,
                           struct tby_explain_peer *out, struct tby_error *err);

/* Reads "PORT/PROTO" (80/TCP, 53/udp), "TYPE/ICMP", or "PROTO" alone: ICMP (ICMPv6)
 * means an echo request, type 8 (128); for other protocols the port stays unknown and
 * rules naming ports do not match. -EINVAL with err. */
int tby_explain_port_parse(const char *text, struct tby_explain_packet *pkt,
                           struct tby_error *err);

/* Evaluates the packet: 0 with *allowed and *trace (a new JSON object: from, to,
 * protocol, port, steps[] per direction with tiers[] of policies[] and their rules[]
 * tried, the profiles when reached, and verdict "allow" or "deny"); -EINVAL when the
 * two sides have no address family in common (err says so); -ENOMEM. The model builds
 * its endpoints' labels again first when resources were added since the last call. */
int tby_explain_flow(struct tby_explain *x, const struct tby_explain_packet *pkt,
                     bool *allowed, json_t **trace, struct tby_error *err);

/* The display name of endpoint i ("NS/POD"), owned by the model. */
const char *tby_explain_endpoint_name(const struct tby_explain *x, int i);

#endif
