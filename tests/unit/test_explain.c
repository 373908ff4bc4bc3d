/* test_explain.c — the explain evaluator: rule matching (selectors, nets, ports, named
 * ports, protocols, ICMP, not-matches), Calico's order, Pass, Log, profiles, Kubernetes
 * policies' default deny per direction, and reading FROM, TO and PORT/PROTO. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/endpointslice.h"
#include "tabby/explain.h"
#include "tabby/resource.h"

/* The head of a document up to its spec: Calico's kinds, and Kubernetes' NetworkPolicy. */
#define V3(kind, meta) "apiVersion: projectcalico.org/v3\nkind: " kind "\nmetadata: " meta "\n"
#define NP(name) V3("NetworkPolicy", "{name: " name ", namespace: x}")
#define GNP(name) V3("GlobalNetworkPolicy", "{name: " name "}")
#define KNP(name) "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
                  "metadata: {name: " name ", namespace: x}\n"
/* Nodes n1 (192.0.2.1) and n2 (192.0.2.2): x/a and x/b run on n1, y/a on n2. */
#define NODES V3("Node", "{name: n1}") "spec: {bgp: {ipv4Address: 192.0.2.1/24}}\n---\n" \
              V3("Node", "{name: n2}") "spec: {bgp: {ipv4Address: 192.0.2.2/24}}\n"

/* Pods: x/a 10.1.0.1 (app=web, port http 80/TCP), x/b 10.1.0.2 (app=db, port http 81/TCP),
 * y/a 10.2.0.1 (app=web); Namespace y labelled team=ops. */
static const char fixture[] =
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: dev}}\n---\n"
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: \"y\", labels: {team: ops}}\n---\n"
    V3("WorkloadEndpoint", "{name: n1-k8s-a-eth0, namespace: x, labels: {app: web}}")
    "spec: {orchestrator: k8s, node: n1, pod: a, endpoint: eth0, interfaceName: c1,\n"
    "  ipNetworks: [10.1.0.1/32], profiles: [kns.x],\n"
    "  ports: [{name: http, protocol: TCP, port: 80}]}\n---\n"
    V3("WorkloadEndpoint", "{name: n1-k8s-b-eth0, namespace: x, labels: {app: db}}")
    "spec: {orchestrator: k8s, node: n1, pod: b, endpoint: eth0, interfaceName: c2,\n"
    "  ipNetworks: [10.1.0.2/32], profiles: [kns.x],\n"
    "  ports: [{name: http, protocol: TCP, port: 81}]}\n---\n"
    V3("WorkloadEndpoint", "{name: n2-k8s-a-eth0, namespace: \"y\", labels: {app: web}}")
    "spec: {orchestrator: k8s, node: n2, pod: a, endpoint: eth0, interfaceName: c3,\n"
    "  ipNetworks: [10.2.0.1/32], profiles: [kns.y]}\n";

static struct tby_explain *model(const char *policies)
{
    struct tby_explain *x = NULL;
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };
    char *text = NULL;

    assert_int_equal(asprintf(&text, "%s%s%s", fixture, policies ? "---\n" : "",
                              policies ? policies : ""), (int)strlen(fixture) +
                     (policies ? 4 + (int)strlen(policies) : 0));
    if (tby_resource_load(text, strlen(text), "test", &list, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    assert_int_equal(tby_explain_new(&x), 0);
    for (size_t i = 0; i < list.n; i++)
        assert_int_equal(tby_explain_add(x, list.items[i]), 0);
    tby_resource_list_clear(&list);
    free(text);
    return x;
}

/* Explains FROM TO PORT and returns the trace; *allowed gets the verdict. */
static json_t *run(struct tby_explain *x, const char *from, const char *to, const char *port,
                   bool *allowed)
{
    struct tby_explain_packet p = { 0 };
    struct tby_error err = { 0 };
    json_t *trace = NULL;

    if (tby_explain_peer_parse(x, from, &p.from, &err) < 0 ||
        tby_explain_peer_parse(x, to, &p.to, &err) < 0 ||
        tby_explain_port_parse(port, &p, &err) < 0 ||
        tby_explain_flow(x, &p, allowed, &trace, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    return trace;
}

/* The string at key of a trace's object, or NULL. */
static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool allowed(struct tby_explain *x, const char *from, const char *to, const char *port)
{
    bool ok;
    json_t *t = run(x, from, to, port, &ok);

    assert_string_equal(str(t, "verdict"), ok ? "allow" : "deny");
    json_decref(t);
    return ok;
}

/* The trace of FROM TO PORT says `verdict` ("allow", "deny", "unknown"). */
static void verdict_is(struct tby_explain *x, const char *from, const char *to,
                       const char *port, const char *verdict)
{
    bool ok;
    json_t *t = run(x, from, to, port, &ok);

    assert_string_equal(str(t, "verdict"), verdict);
    json_decref(t);
}

/* The step of a direction ("egress", "ingress") in a trace, or NULL. */
static json_t *step(json_t *t, const char *dir)
{
    size_t i;
    json_t *s;

    json_array_foreach(json_object_get(t, "steps"), i, s)
        if (strcmp(str(s, "direction"), dir) == 0)
            return s;
    return NULL;
}

/* The i-th tier of a trace's ingress step, and the i-th policy of a tier, or NULL. */
static json_t *ingress_tier(json_t *t, size_t i)
{
    return json_array_get(json_object_get(step(t, "ingress"), "tiers"), i);
}

static json_t *tier_policy(json_t *tier, size_t i)
{
    return json_array_get(json_object_get(tier, "policies"), i);
}

static void test_no_policy_allows_through_profiles(void **state)
{
    struct tby_explain *x = model(NULL);
    bool ok;
    json_t *t = run(x, "x/a", "x/b", "80/TCP", &ok);

    (void)state;
    assert_true(ok);
    assert_int_equal(json_array_size(json_object_get(t, "steps")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(
                            step(t, "ingress"), "profiles"), "names"), 0)), "kns.x");
    json_decref(t);
    tby_explain_free(x);
}

/* A workload sending from an address that is not its own is dropped before policy (the
 * anti-spoofing check), and the trace says so; its own address, one inside its
 * allowSpoofedSourcePrefixes and an IPv6 link-local one pass to policy. */
static void test_forged_source_is_dropped_before_policy(void **state)
{
    struct tby_explain *x = model(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
        "metadata: {name: n1-k8s-s-eth0, namespace: x}\n"
        "spec: {orchestrator: k8s, node: n1, pod: s, endpoint: eth0, interfaceName: c4,\n"
        "  ipNetworks: [10.1.0.4/32, 'fd00::4/128'], profiles: [kns.x],\n"
        "  allowSpoofedSourcePrefixes: [10.99.0.0/16]}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\n"
        "metadata: {name: default}\nspec: {workloadSourceSpoofing: Any}\n");
    struct tby_explain_peer peer;
    struct tby_error err = { 0 };
    bool ok;
    json_t *t = run(x, "x/a@10.9.9.9", "x/b", "80/TCP", &ok);

    (void)state;
    assert_false(ok);
    assert_string_equal(json_string_value(json_object_get(t, "verdict")), "deny");
    assert_int_equal(json_array_size(json_object_get(t, "steps")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(t, "note")),
                           "anti-spoofing: 10.9.9.9 is not an address of x/a"));
    json_decref(t);
    assert_true(allowed(x, "x/a@10.1.0.1", "x/b", "80/TCP"));
    assert_true(allowed(x, "x/s@10.99.3.4", "x/b", "80/TCP"));
    assert_false(allowed(x, "x/s@10.98.3.4", "x/b", "80/TCP"));
    assert_false(allowed(x, "x/a@10.99.3.4", "x/b", "80/TCP")); /* s's prefix, not a's */
    assert_true(allowed(x, "x/s@fe80::1", "fd99::1", "ICMPv6"));
    assert_false(allowed(x, "x/s@fd00::5", "fd99::1", "ICMPv6"));
    assert_int_equal(tby_explain_peer_parse(x, "10.8.0.1@10.1.0.1", &peer, &err), -EINVAL);
    assert_non_null(strstr(tby_error_str(&err), "is for a workload endpoint"));
    assert_int_equal(tby_explain_peer_parse(x, "x/a@nope", &peer, &err), -EINVAL);
    tby_explain_free(x);
}

/* Without workloadSourceSpoofing Any (Calico's default Disabled), an endpoint with
 * allowSpoofedSourcePrefixes is treated as missing: nothing to or from it passes. */
static void test_endpoint_with_prefixes_is_missing_without_spoofing_any(void **state)
{
    struct tby_explain *x = model(
        "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
        "metadata: {name: n1-k8s-s-eth0, namespace: x}\n"
        "spec: {orchestrator: k8s, node: n1, pod: s, endpoint: eth0, interfaceName: c4,\n"
        "  ipNetworks: [10.1.0.4/32], profiles: [kns.x],\n"
        "  allowSpoofedSourcePrefixes: [10.99.0.0/16]}\n");
    bool ok;
    json_t *t = run(x, "x/s", "x/b", "80/TCP", &ok);

    (void)state;
    assert_false(ok);
    assert_non_null(strstr(json_string_value(json_object_get(t, "note")),
                           "x/s has allowSpoofedSourcePrefixes but its node's "
                           "workloadSourceSpoofing is not Any"));
    json_decref(t);
    assert_false(allowed(x, "x/a", "x/s", "80/TCP"));
    assert_false(allowed(x, "x/s@10.99.0.1", "x/b", "80/TCP"));
    assert_true(allowed(x, "x/a", "x/b", "80/TCP"));
    tby_explain_free(x);
}

static void test_k8s_ingress_policy_denies_ingress_only(void **state)
{
    struct tby_explain *x = model(
        KNP("deny") "spec: {podSelector: {}}\n");
    bool ok;
    json_t *t;

    (void)state;
    assert_false(allowed(x, "y/a", "x/a", "80/TCP"));
    assert_true(allowed(x, "x/a", "y/a", "80/TCP"));   /* egress has no policy */
    t = run(x, "y/a", "x/b", "81/UDP", &ok);
    assert_false(ok);
    assert_string_equal(str(ingress_tier(t, 0), "defaultAction"), "Deny");
    assert_string_equal(str(tier_policy(ingress_tier(t, 0), 0), "policy"), "x/knp.default.deny");
    json_decref(t);
    tby_explain_free(x);
}

static void test_k8s_egress_policy_and_ports(void **state)
{
    struct tby_explain *x = model(
        KNP("out")
        "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n"
        "  egress:\n  - to: [{namespaceSelector: {matchLabels: {team: ops}}}]\n"
        "    ports: [{protocol: TCP, port: 80}]\n");

    (void)state;
    assert_true(allowed(x, "x/a", "y/a", "80/TCP"));
    assert_false(allowed(x, "x/a", "y/a", "81/TCP"));
    assert_false(allowed(x, "x/a", "y/a", "80/UDP"));
    assert_false(allowed(x, "x/a", "x/b", "80/TCP"));   /* namespace x has no team=ops */
    assert_true(allowed(x, "x/b", "y/a", "81/TCP"));    /* not selected */
    assert_true(allowed(x, "y/a", "x/a", "81/TCP"));    /* ingress: no policy */
    tby_explain_free(x);
}

static void test_order_then_name_and_first_matching_rule(void **state)
{
    /* b-allow and a-deny share order 10: a-deny comes first by name. */
    struct tby_explain *x = model(
        NP("b-allow")
        "spec: {order: 10, selector: app == 'db', ingress: [{action: Allow}]}\n---\n"
        NP("a-deny")
        "spec:\n  order: 10\n  selector: app == 'db'\n  ingress:\n"
        "  - {action: Allow, protocol: UDP}\n"
        "  - {action: Deny, source: {selector: app == 'web'}}\n---\n"
        NP("late")
        "spec: {selector: app == 'db', ingress: [{action: Deny}]}\n");
    bool ok;
    json_t *t = run(x, "x/a", "x/b", "81/TCP", &ok), *pols, *rules;

    (void)state;
    assert_false(ok);
    pols = json_object_get(ingress_tier(t, 0), "policies");
    assert_int_equal(json_array_size(pols), 1);   /* the first decided */
    assert_string_equal(str(json_array_get(pols, 0), "policy"), "x/a-deny");
    rules = json_object_get(json_array_get(pols, 0), "rules");
    assert_int_equal(json_array_size(rules), 2);
    assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "match")));
    assert_non_null(strstr(str(json_array_get(rules, 0), "because"), "protocol UDP"));
    assert_true(json_is_true(json_object_get(json_array_get(rules, 1), "match")));
    assert_non_null(strstr(str(json_array_get(rules, 1), "because"), "selects x/a"));
    json_decref(t);
    /* y/a is out of the namespace-scoped selector: a-deny's rule 1 misses, b-allow allows */
    assert_true(allowed(x, "y/a", "x/b", "81/TCP"));
    tby_explain_free(x);
}

static void test_pass_skips_the_rest_of_the_tier(void **state)
{
    struct tby_explain *x = model(
        GNP("pass-ops")
        "spec:\n  order: 1\n  ingress:\n"
        "  - {action: Pass, source: {namespaceSelector: team == 'ops'}}\n---\n"
        GNP("deny-all") "spec: {order: 2, ingress: [{action: Deny}]}\n");
    bool ok;
    json_t *t;

    (void)state;
    t = run(x, "y/a", "x/a", "80/TCP", &ok);
    assert_true(ok);
    assert_string_equal(str(ingress_tier(t, 0), "result"), "Pass");
    assert_non_null(json_object_get(step(t, "ingress"), "profiles"));
    json_decref(t);
    assert_false(allowed(x, "x/b", "x/a", "80/TCP"));
    tby_explain_free(x);
}

static void test_log_goes_on(void **state)
{
    struct tby_explain *x = model(
        NP("log")
        "spec: {ingress: [{action: Log}, {action: Allow, protocol: TCP}]}\n");

    (void)state;
    assert_true(allowed(x, "y/a", "x/a", "80/TCP"));
    assert_false(allowed(x, "y/a", "x/a", "80/UDP"));
    tby_explain_free(x);
}

static void test_nets_ports_named_ports_and_negations(void **state)
{
    struct tby_explain *x = model(
        NP("p")
        "spec:\n  ingress:\n"
        "  - {action: Deny, source: {nets: [10.2.0.0/16]}, destination: {ports: [81]},"
        " protocol: TCP}\n"
        "  - {action: Allow, protocol: TCP, destination: {ports: [http]}}\n"
        "  - {action: Allow, protocol: UDP, destination: {notPorts: [\"1:100\"]}}\n"
        "  - {action: Allow, notProtocol: TCP, source: {notNets: [10.2.0.0/16]}}\n");

    (void)state;
    assert_false(allowed(x, "y/a", "x/b", "81/TCP"));  /* rule 0 */
    assert_true(allowed(x, "x/a", "x/b", "81/TCP"));   /* http is 81 on b */
    assert_false(allowed(x, "y/a", "x/a", "81/TCP"));  /* http is 80 on a */
    assert_true(allowed(x, "y/a", "x/a", "80/TCP"));
    assert_true(allowed(x, "y/a", "x/a", "200/UDP"));
    assert_false(allowed(x, "y/a", "x/a", "53/UDP"));
    assert_true(allowed(x, "x/b", "x/a", "53/UDP"));   /* rule 3: not from 10.2/16 */
    assert_true(allowed(x, "x/b", "x/a", "ICMP"));
    assert_false(allowed(x, "y/a", "x/a", "ICMP"));
    tby_explain_free(x);
}

/* A rule whose notNets are all IPv6 is for IPv6 only (as Calico renders it): it does not
 * allow IPv4 packets, whatever their address. */
static void test_not_nets_of_the_other_family_do_not_match(void **state)
{
    struct tby_explain *x = model(
        NP("p")
        "spec:\n  ingress:\n"
        "  - {action: Allow, source: {notNets: ['fd00:2::/64']}}\n");
    bool ok;
    json_t *t;
    char *text;

    (void)state;
    t = run(x, "y/a", "x/a", "80/TCP", &ok);
    assert_false(ok);
    text = json_dumps(t, 0);
    if (!strstr(text, "notNets of IPv6 only (the packet is IPv4)"))
        fail_msg("%s", text);
    free(text);
    json_decref(t);
    tby_explain_free(x);
}

/* Rule selectors match network sets' nets (with their labels and namespace's) too. */
static void test_network_sets_in_rule_selectors(void **state)
{
    struct tby_explain *x = model(
        V3("GlobalNetworkSet", "{name: partners, labels: {kind: partner}}")
        "spec: {nets: [198.51.100.0/24]}\n---\n"
        V3("NetworkSet", "{name: ops-ips, namespace: \"y\", labels: {kind: ops}}")
        "spec: {nets: [203.0.113.0/24]}\n---\n"
        GNP("edge")
        "spec:\n  selector: app == 'web'\n  ingress:\n"
        "  - {action: Allow, source: {selector: kind == 'partner'}}\n"
        "  - {action: Allow, source: {namespaceSelector: team == 'ops'}}\n");
    bool ok;
    json_t *t;

    (void)state;
    t = run(x, "198.51.100.7", "x/a", "80/TCP", &ok);
    assert_true(ok);
    assert_non_null(strstr(str(json_array_get(json_object_get(tier_policy(ingress_tier(t, 0), 0),
                                                              "rules"), 0), "because"),
                           "GlobalNetworkSet partners"));
    json_decref(t);
    assert_true(allowed(x, "203.0.113.9", "x/a", "80/TCP"));   /* y is team=ops */
    assert_false(allowed(x, "192.0.2.9", "x/a", "80/TCP"));
    tby_explain_free(x);
}

static void test_icmp_types(void **state)
{
    struct tby_explain *x = model(
        NP("p")
        "spec:\n  ingress:\n  - {action: Allow, protocol: ICMP, icmp: {type: 8}}\n");

    (void)state;
    assert_true(allowed(x, "y/a", "x/a", "ICMP"));
    assert_false(allowed(x, "y/a", "x/a", "0/ICMP"));
    assert_false(allowed(x, "y/a", "x/a", "80/TCP"));
    tby_explain_free(x);
}

static void test_egress_deny_stops_before_ingress(void **state)
{
    struct tby_explain *x = model(
        GNP("no-out")
        "spec: {selector: app == 'web', types: [Egress]}\n");
    bool ok;
    json_t *t = run(x, "x/a", "x/b", "80/TCP", &ok);

    (void)state;
    assert_false(ok);
    assert_int_equal(json_array_size(json_object_get(t, "steps")), 1);
    json_decref(t);
    /* to an outside address only the egress side is evaluated */
    assert_false(allowed(x, "x/a", "192.0.2.1", "443/TCP"));
    assert_true(allowed(x, "x/b", "192.0.2.1", "443/TCP"));
    assert_true(allowed(x, "192.0.2.1", "x/a", "80/TCP"));
    tby_explain_free(x);
}

static void test_same_endpoint_and_own_node_always_allowed(void **state)
{
    struct tby_explain *x = model(
        KNP("deny") "spec: {podSelector: {}}\n---\n" NODES);

    (void)state;
    assert_true(allowed(x, "x/a", "10.1.0.1", "80/TCP"));
    assert_true(allowed(x, "192.0.2.1", "x/a", "80/TCP"));    /* x/a runs on n1 */
    assert_false(allowed(x, "192.0.2.2", "x/a", "80/TCP"));   /* another node */
    tby_explain_free(x);
}

/* The node's side: a pod's packet to its own node meets defaultEndpointToHostAction
 * (Calico's default Drop); a node with a policed host endpoint: "unknown", said so. */
static void test_host_side_endpoint_to_host_and_unevaluated_host_endpoints(void **state)
{
    struct tby_explain *x = model(NODES);
    json_t *t;
    bool ok;

    (void)state;
    assert_false(allowed(x, "x/a", "192.0.2.1", "80/TCP"));  /* its own node: Drop */
    assert_true(allowed(x, "x/a", "192.0.2.2", "80/TCP"));   /* another, no host endpoint */
    tby_explain_free(x);
    x = model(NODES "---\n" V3("FelixConfiguration", "{name: node.n1}")
              "spec: {defaultEndpointToHostAction: Accept}\n");
    assert_true(allowed(x, "x/a", "192.0.2.1", "80/TCP"));
    tby_explain_free(x);
    x = model(NODES "---\n" V3("HostEndpoint", "{name: n2-eth0}")
              "spec: {node: n2, interfaceName: eth0, expectedIPs: [192.0.2.2]}\n");
    t = run(x, "x/a", "n2-eth0", "80/TCP", &ok);
    assert_false(ok);
    assert_string_equal(str(t, "verdict"), "unknown");
    assert_non_null(strstr(str(t, "note"), "host endpoint policy of node n2 is not evaluated"));
    json_decref(t);
    verdict_is(x, "192.0.2.2", "x/a", "80/TCP", "unknown");
    /* the node's traffic to its own pods passes no host endpoint */
    verdict_is(x, "192.0.2.2", "y/a", "80/TCP", "allow");
    /* forwarded: only applyOnForward policies would police it */
    assert_true(allowed(x, "203.0.113.9", "y/a", "80/TCP"));
    tby_explain_free(x);
    x = model(NODES "---\n" V3("HostEndpoint", "{name: n2-eth0}")
              "spec: {node: n2, interfaceName: eth0}\n---\n"
              GNP("fwd") "spec: {selector: has(x), applyOnForward: true,"
              " ingress: [{action: Allow}]}\n");
    verdict_is(x, "203.0.113.9", "y/a", "80/TCP", "unknown");
    tby_explain_free(x);
}

/* A node's FelixConfiguration "node.<name>" beats "default", field by field, as tabby-node
 * merges them (felix_settings.h): n1's own Drop wins over the default Accept, n2 takes the
 * default; a node.n1 that says only workloadSourceSpoofing keeps the default's Accept, and
 * its Disabled beats the default's Any (x/s, with prefixes, is then missing). */
static void test_node_felixconfig_overrides_default_field_by_field(void **state)
{
    struct tby_explain *x = model(
        NODES "---\n" V3("FelixConfiguration", "{name: default}")
        "spec: {defaultEndpointToHostAction: Accept, workloadSourceSpoofing: Any}\n---\n"
        V3("FelixConfiguration", "{name: node.n1}") "spec: {defaultEndpointToHostAction: Drop}\n");

    (void)state;
    assert_false(allowed(x, "x/a", "192.0.2.1", "80/TCP"));  /* n1's own layer: Drop */
    assert_true(allowed(x, "y/a", "192.0.2.2", "80/TCP"));   /* n2: the default's Accept */
    tby_explain_free(x);
    x = model(NODES "---\n" V3("FelixConfiguration", "{name: default}")
              "spec: {defaultEndpointToHostAction: Accept, workloadSourceSpoofing: Any}\n---\n"
              V3("FelixConfiguration", "{name: node.n1}")
              "spec: {workloadSourceSpoofing: Disabled}\n---\n"
              V3("WorkloadEndpoint", "{name: n1-k8s-s-eth0, namespace: x}")
              "spec: {orchestrator: k8s, node: n1, pod: s, endpoint: eth0, interfaceName: c4,\n"
              "  ipNetworks: [10.1.0.4/32], profiles: [kns.x],\n"
              "  allowSpoofedSourcePrefixes: [10.99.0.0/16]}\n");
    assert_true(allowed(x, "x/a", "192.0.2.1", "80/TCP"));   /* the default's Accept */
    assert_false(allowed(x, "x/s", "x/b", "80/TCP"));         /* n1's Disabled: missing */
    assert_true(allowed(x, "x/a", "x/b", "80/TCP"));
    tby_explain_free(x);
}

/* A doNotTrack policy never polices a workload (even one its selector matches); where a
 * node's host endpoint may run it, the verdict is "unknown", said so. */
static void test_untracked_policy_is_host_endpoints_only(void **state)
{
    struct tby_explain *x = model(
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\n"
        "spec: {bgp: {ipv4Address: 192.0.2.2/24}}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: n2-eth0}\n"
        "spec: {node: n2, interfaceName: eth0}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
        "metadata: {name: untracked}\nspec: {selector: all(), doNotTrack: true, "
        "applyOnForward: true, ingress: [{action: Deny}], egress: [{action: Deny}]}\n");
    bool ok;
    json_t *t;

    (void)state;
    assert_true(allowed(x, "x/a", "x/b", "81/TCP"));          /* n1: no host endpoint */
    t = run(x, "203.0.113.9", "y/a", "80/TCP", &ok);          /* in by n2's eth0 */
    assert_false(ok);
    assert_string_equal(json_string_value(json_object_get(t, "verdict")), "unknown");
    json_decref(t);
    tby_explain_free(x);
}

/* What tabby-node cannot program as written is explained as its fail-closed stand-in;
 * profiles' rules as they are enforced. */
static void test_stand_ins_of_what_is_not_enforced(void **state)
{
    struct tby_explain *x = model(
        NP("svc")
        "spec:\n  selector: app == 'db'\n  ingress:\n"
        "  - {action: Allow, protocol: UDP}\n"
        "  - {action: Allow, source: {services: {name: db, namespace: x}}}\n---\n"
        V3("Profile", "{name: kns.y}") "spec: {ingress: [{action: Deny}]}\n");
    bool ok;
    json_t *t, *pol;

    (void)state;
    assert_true(allowed(x, "x/a", "x/b", "53/UDP"));  /* the rule before the services one */
    t = run(x, "x/a", "x/b", "81/TCP", &ok);
    assert_false(ok);
    pol = tier_policy(ingress_tier(t, 0), 0);
    assert_non_null(strstr(str(pol, "notEnforcedAsWritten"), "services"));
    json_decref(t);
    /* kns.y's rules are enforced: its Deny decides y's ingress, after the tiers */
    t = run(x, "x/a", "y/a", "80/TCP", &ok);
    assert_false(ok);
    assert_string_equal(str(json_object_get(step(t, "ingress"), "profiles"), "action"), "Deny");
    json_decref(t);
    /* a stored profile that says nothing of egress allows nothing out, as Calico's */
    assert_false(allowed(x, "y/a", "x/a", "80/TCP"));
    tby_explain_free(x);
}

/* On a datastore that knows Services, rules naming one are evaluated as tabby-node
 * programs them there: a destination service is its slices' addresses with their ports, a
 * source service their addresses. */
static void add_slice(struct tby_explain *x, const char *ns, const char *svc, const char *addr,
                      int port)
{
    json_t *obj = json_pack("{s:{s:s, s:s, s:{s:s}}, s:[{s:[s]}], s:[{s:s, s:i}]}", "metadata",
                            "name", "s1", "namespace", ns, "labels",
                            "kubernetes.io/service-name", svc, "endpoints", "addresses", addr,
                            "ports", "protocol", "TCP", "port", port);
    struct tby_eps *eps = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_eps_decode(obj, &eps, &err), 0);
    json_decref(obj);
    assert_int_equal(tby_explain_add_endpointslice(x, eps), 0);
}

static void test_services_with_their_endpoint_slices(void **state)
{
    struct tby_explain *x = model(
        NP("svc")
        "spec:\n  selector: app == 'web'\n  types: [Egress]\n  egress:\n"
        "  - {action: Deny, destination: {services: {name: db}}}\n"
        "  - {action: Allow}\n---\n"
        NP("from-web")
        "spec:\n  selector: app == 'db'\n  ingress:\n"
        "  - {action: Allow, source: {services: {name: web, namespace: \"y\"}}}\n");
    bool ok;
    json_t *t;
    char *text;

    (void)state;
    add_slice(x, "x", "db", "10.1.0.2", 81);
    add_slice(x, "y", "web", "10.2.0.1", 80);
    assert_false(allowed(x, "x/a", "x/b", "81/TCP"));  /* x/b:81 is db's endpoint */
    assert_true(allowed(x, "y/a", "x/b", "81/TCP"));   /* y/a is web's endpoint */
    assert_false(allowed(x, "x/a", "x/b", "82/TCP"));  /* not denied, but x/a is no web */
    t = run(x, "x/a", "x/b", "81/TCP", &ok);
    text = json_dumps(t, 0);
    if (!strstr(text, "destination services x/db: 10.1.0.2 is an endpoint"))
        fail_msg("%s", text);
    free(text);
    json_decref(t);
    tby_explain_free(x);
}

/* Tiers, evaluated as written (on a tabby without tiers, tabby-node would program their
 * policies as fail-closed stand-ins): tier order, Pass to the next tier, a tier's default
 * action (Deny, or Pass), a tier without order last. */
static void test_tiers_in_order_with_pass_and_default_actions(void **state)
{
    struct tby_explain *x = model(
        GNP("security.guard")
        "spec:\n  tier: security\n  selector: app == 'db'\n  ingress:\n"
        "  - {action: Pass, source: {namespaceSelector: team == 'dev'}}\n---\n"
        GNP("open.nothing")
        "spec:\n  tier: open\n  ingress: [{action: Deny, protocol: SCTP}]\n---\n"
        NP("app")
        "spec: {selector: app == 'db', ingress: [{action: Allow, protocol: TCP,"
        " destination: {ports: [81]}}]}\n---\n"
        GNP("late.deny")
        "spec: {tier: late, selector: app == 'web', ingress: [{action: Deny}]}\n");
    bool ok;
    json_t *t;

    (void)state;
    tby_explain_as_written(x, true);
    assert_int_equal(tby_explain_add_tier(x, "security", true, 100, false), 0);
    assert_int_equal(tby_explain_add_tier(x, "open", true, 50, true), 0);
    assert_int_equal(tby_explain_add_tier(x, "late", false, 0, false), 0);
    /* x/a (team dev) passes security, then the default tier allows 81/TCP */
    t = run(x, "x/a", "x/b", "81/TCP", &ok);
    assert_true(ok);
    assert_int_equal(json_array_size(json_object_get(step(t, "ingress"), "tiers")), 3);
    assert_string_equal(str(ingress_tier(t, 0), "tier"), "open");
    assert_string_equal(str(ingress_tier(t, 0), "result"), "Pass");
    assert_string_equal(str(ingress_tier(t, 0), "defaultAction"), "Pass");
    assert_string_equal(str(ingress_tier(t, 1), "tier"), "security");
    assert_string_equal(str(ingress_tier(t, 2), "tier"), "default");
    json_decref(t);
    assert_false(allowed(x, "x/a", "x/b", "80/TCP"));   /* the default tier's default Deny */
    assert_false(allowed(x, "y/a", "x/b", "81/TCP"));   /* security's default Deny */
    assert_false(allowed(x, "x/a", "x/b", "80/SCTP"));  /* open's Deny rule */
    /* x/a: only open (passes) and late (denies); late, without order, comes last */
    t = run(x, "x/b", "x/a", "80/TCP", &ok);
    assert_false(ok);
    assert_string_equal(str(ingress_tier(t, 1), "tier"), "late");
    json_decref(t);
    /* without the model knowing the tiers, their policies are default-tier ones */
    tby_explain_free(x);
    x = model(GNP("late.deny")
              "spec: {tier: late, selector: app == 'web', ingress: [{action: Deny}]}\n");
    tby_explain_as_written(x, true);
    t = run(x, "x/b", "x/a", "80/TCP", &ok);
    assert_string_equal(str(ingress_tier(t, 0), "tier"), "default");
    json_decref(t);
    tby_explain_free(x);
}

static void test_peers_and_ports_parse(void **state)
{
    struct tby_explain *x = model(V3("HostEndpoint", "{name: n1-eth0}")
                                  "spec: {node: n1, interfaceName: eth0,"
                                  " expectedIPs: [192.0.2.10]}\n");
    char buf[TBY_IP_STRLEN];
    struct tby_explain_packet p = { 0 };
    struct tby_explain_peer peer;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_explain_peer_parse(x, "x/b", &peer, &err), 0);
    assert_string_equal(tby_explain_endpoint_name(x, peer.endpoint), "x/b");
    assert_int_equal(tby_explain_peer_parse(x, "x/n1-k8s-b-eth0", &peer, &err), 0);
    assert_string_equal(tby_explain_endpoint_name(x, peer.endpoint), "x/b");
    assert_int_equal(tby_explain_peer_parse(x, "n2-k8s-a-eth0", &peer, &err), 0);
    assert_string_equal(tby_explain_endpoint_name(x, peer.endpoint), "y/a");
    assert_int_equal(tby_explain_peer_parse(x, "10.2.0.1", &peer, &err), 0);
    assert_string_equal(tby_explain_endpoint_name(x, peer.endpoint), "y/a");
    assert_int_equal(tby_explain_peer_parse(x, "198.51.100.7", &peer, &err), 0);
    assert_int_equal(peer.endpoint, -1);
    assert_int_equal(tby_explain_peer_parse(x, "n1-eth0", &peer, &err), 0);
    assert_int_equal(peer.endpoint, -1);
    assert_string_equal(tby_ip_format(&peer.addr, buf), "192.0.2.10");
    assert_string_equal(peer.host_endpoint, "n1-eth0");
    assert_int_equal(tby_explain_peer_parse(x, "x/zz", &peer, &err), -EINVAL);
    assert_non_null(strstr(tby_error_str(&err), "no such endpoint"));
    assert_int_equal(tby_explain_port_parse("53/udp", &p, &err), 0);
    assert_int_equal(p.protocol, 17);
    assert_int_equal(p.port, 53);
    assert_int_equal(tby_explain_port_parse("icmp", &p, &err), 0);
    assert_int_equal(p.port, 8);
    assert_int_equal(tby_explain_port_parse("80/TCPP", &p, &err), -EINVAL);
    assert_int_equal(tby_explain_port_parse("99999/TCP", &p, &err), -EINVAL);
    assert_int_equal(tby_explain_port_parse("x80/TCP", &p, &err), -EINVAL);
    tby_explain_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_policy_allows_through_profiles),
        cmocka_unit_test(test_forged_source_is_dropped_before_policy),
        cmocka_unit_test(test_endpoint_with_prefixes_is_missing_without_spoofing_any),
        cmocka_unit_test(test_k8s_ingress_policy_denies_ingress_only),
        cmocka_unit_test(test_k8s_egress_policy_and_ports),
        cmocka_unit_test(test_order_then_name_and_first_matching_rule),
        cmocka_unit_test(test_pass_skips_the_rest_of_the_tier),
        cmocka_unit_test(test_log_goes_on),
        cmocka_unit_test(test_nets_ports_named_ports_and_negations),
        cmocka_unit_test(test_not_nets_of_the_other_family_do_not_match),
        cmocka_unit_test(test_network_sets_in_rule_selectors),
        cmocka_unit_test(test_icmp_types),
        cmocka_unit_test(test_egress_deny_stops_before_ingress),
        cmocka_unit_test(test_same_endpoint_and_own_node_always_allowed),
        cmocka_unit_test(test_stand_ins_of_what_is_not_enforced),
        cmocka_unit_test(test_services_with_their_endpoint_slices),
        cmocka_unit_test(test_host_side_endpoint_to_host_and_unevaluated_host_endpoints),
        cmocka_unit_test(test_node_felixconfig_overrides_default_field_by_field),
        cmocka_unit_test(test_untracked_policy_is_host_endpoints_only),
        cmocka_unit_test(test_tiers_in_order_with_pass_and_default_actions),
        cmocka_unit_test(test_peers_and_ports_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
