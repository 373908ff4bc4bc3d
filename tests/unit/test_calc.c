/* test_calc.c — the policy calculation's output, read as nft text: what each policy
 * feature compiles to, which endpoints feed which sets, the dispatch in policy order, and
 * that events touch only what they affect (the journal after a change). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calc_fixture.h"
#include "tabby/endpointslice.h"
#include "tabby/strv.h"

/* A chain's head, then its drop of packets no verdict mark in `bits` marks — logged to
 * NFLOG (rate-limited) with the compact id of the drop's comment, then dropped — and its
 * end, into buf. */
static const char *deny_text(char buf[1024], const char *head, const char *bits,
                             const char *comment)
{
    char id[TBY_RS_DENY_ID_SIZE];

    tby_rs_deny_id(comment, id);
    snprintf(buf, 1024, "%s\t\tmeta mark & %s == 0 limit rate %d/second burst %d packets "
             "log prefix \"%s\" group %d\n\t\tmeta mark & %s == 0 counter drop "
             "comment \"%s\"\n\t}", head, bits, TBY_RS_DENY_LOG_RATE, TBY_RS_DENY_LOG_BURST,
             id, TBY_RS_DENY_LOG_GROUP, bits, comment);
    return buf;
}

static const char *const default_deny =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: default-deny, namespace: default}\n"
    "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";

static const char *const db_access =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: db-access, namespace: default}\n"
    "spec:\n  podSelector: {matchLabels: {app: database}}\n  policyTypes: [Ingress]\n"
    "  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: backend}}\n"
    "    ports:\n    - {protocol: TCP, port: 5432}\n";

/* ---- the table's frame ------------------------------------------------------------------ */

static void test_empty_calc_programs_hooks_and_maps(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = dump(c);

    (void)state;
    assert_has(t, "chain forward-hook {\n\t\ttype filter hook forward priority 0; policy accept;\n"
                  "\t\tiifname @local-wl jump from-wl-src\n\t\toifname @from-wl-src-held limit");
    assert_has(t, "\t\toifname @from-wl-src-held counter drop comment \"allowSpoofedSourcePrefixes "
                  "without workloadSourceSpoofing Any\"\n"
                  "\t\tct state established,related accept\n"
                  "\t\tct state invalid iifname @local-wl counter drop\n"
                  "\t\tct state invalid oifname @local-wl counter drop\n"
                  "\t\tjump host-fwd-in\n"
                  "\t\tiifname @from-wl-selected jump from-wl\n"
                  "\t\toifname @to-wl-selected jump to-wl\n"
                  "\t\tjump host-fwd-out\n");
    assert_has(t, "chain input-hook {\n\t\ttype filter hook input priority 0; policy accept;\n"
                  "\t\tiifname @local-wl jump from-wl-src\n"
                  "\t\tct state established,related accept\n"
                  "\t\tct state invalid iifname @local-wl counter drop\n"
                  "\t\tiifname @local-wl meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 130 "
                  "accept\n");
    /* no policy yet: the dispatch chains let every workload by, no tier is there */
    assert_has(t, "chain from-wl {\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t}");
    assert_has(t, "chain to-wl {\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t}");
    assert_lacks(t, "tier");
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; }");
    assert_has(t, "set local-wl { type ifname; }");
}

/* Calico's ICMPv6 filter of its workload-to-host chain: MLD 130-132, router solicitation
 * 133, neighbour solicitation 135 and advertisement 136 from workloads, before their egress
 * policy; no router advertisement (134), no MLDv2 report (143), nothing from the node's own
 * interfaces (host endpoints' policy decides those). */
static void test_icmpv6_from_workloads_as_calico(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = dump(c);
    static const int allowed[] = { 130, 131, 132, 133, 135, 136 };
    char rule[128];

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(allowed); i++) {
        snprintf(rule, sizeof(rule), "\t\tiifname @local-wl meta nfproto ipv6 meta l4proto "
                 "ipv6-icmp icmpv6 type %d accept\n", allowed[i]);
        assert_has(t, rule);
    }
    assert_lacks(t, "icmpv6 type 134");
    assert_lacks(t, "icmpv6 type 143");
    assert_lacks(t, "\t\tmeta nfproto ipv6 meta l4proto ipv6-icmp");
}

static void test_local_interfaces_feed_the_workload_set(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t1 = NULL, *t2 = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "default", "r", "node-b", "cali-r", "10.0.0.2", "app=web", NULL });
    t1 = dump(c);
    assert_has(t1, "set local-wl { type ifname; elements = { \"cali-a\" }; }");
    wep_delete(c, "default", "a");
    t2 = dump(c);
    assert_has(t2, "set local-wl { type ifname; }");
}

static void test_endpoint_without_policy_is_in_no_policy_set(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    t = dump(c);
    /* in local-wl, and with its address in the source check's set only */
    assert_int_equal(count(t, "\"cali-a\""), 2);
    assert_has(t, "\"cali-a\" . 10.0.0.1");
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; }");
    assert_dispatch(t, "to-wl", "");
}

/* ---- anti-spoofing ---------------------------------------------------------------------- */

/* workloadSourceSpoofing as the node merged its FelixConfigurations (Any: true), the rest
 * of the host settings Calico's defaults. */
static void set_spoofing(struct tby_calc *c, bool any)
{
    struct tby_calc_host_config cfg = { .to_host = TBY_FELIX_TO_HOST_DROP, .spoofing_any = any };

    for (int d = 0; d < 2; d++)
        cfg.failsafe[d] = tby_felix_default_failsafe(d == 1, &cfg.n_failsafe[d]);
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
}

/* A local workload with an IPv6 address too, and sources it may forge (NULL: none). */
static void wep_sources(struct tby_calc *c, const char *name, const char *iface,
                        const char *ip, const char *ip6, const char *prefixes)
{
    struct tby_resource *res =
        wep_res(&(struct wep_spec){ "default", name, NULL, iface, ip, "app=web", NULL });
    struct tby_wep *w = res->spec.wep;
    struct tby_cidr_list *p = &w->allow_spoofed_source_prefixes;
    struct tby_error err = { 0 };
    char buf[128], *save = NULL;

    assert_int_equal(tby_cidr_parse(ip6, TBY_CIDR_ALLOW_IP, &w->ip_networks.items[1], NULL), 0);
    w->ip_networks.n = 2;
    p->items = calloc(4, sizeof(*p->items));
    snprintf(buf, sizeof(buf), "%s", prefixes ? prefixes : "");
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        assert_int_equal(tby_cidr_parse(t, TBY_CIDR_MASK, &p->items[p->n++], NULL), 0);
    assert_int_equal(tby_calc_update(c, res, &err), 0);
    res_free(res);
}

/* Every packet from a local workload shows first that its source is the workload's own
 * address, a link-local or unspecified IPv6 address (neighbour discovery), or inside the
 * workload's allowSpoofedSourcePrefixes; anything else is dropped before conntrack. The
 * addresses are elements of one set per family; only a workload with prefixes has a rule. */
static void test_workload_sources_are_checked_before_conntrack(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;

    (void)state;
    set_spoofing(c, true); /* workloadSourceSpoofing: Any */
    wep_sources(c, "a", "cali-a", "10.0.0.1", "fd00::1", NULL);
    wep_sources(c, "b", "cali-b", "10.0.0.2", "fd00::2", "10.99.0.0/16,fd99::/64");
    wep(c, (struct wep_spec){ "default", "r", "node-b", "cali-r", "10.0.0.3", "app=web", NULL });
    t1 = dump(c);
    assert_has(t1, "type filter hook forward priority 0; policy accept;\n"
                   "\t\tiifname @local-wl jump from-wl-src\n");
    assert_has(t1, "set from-wl-src-4 { type ifname . ipv4_addr; comment \"local workloads' "
                   "interfaces and IPv4 addresses\"; elements = { \"cali-a\" . 10.0.0.1, "
                   "\"cali-b\" . 10.0.0.2 }; }");
    assert_has(t1, "elements = { \"cali-a\" . fd00::1, \"cali-b\" . fd00::2 }; }");
    assert_lacks(t1, "cali-r");
    assert_has(t1, "counter drop comment \"allowSpoofedSourcePrefixes without "
                   "workloadSourceSpoofing Any\"\n"
                   "\t\tmeta nfproto ipv4 iifname . ip saddr @from-wl-src-4 return\n"
                   "\t\tmeta nfproto ipv6 iifname . ip6 saddr @from-wl-src-6 return\n"
                   "\t\tmeta nfproto ipv6 ip6 saddr @from-wl-src-ll return");
    assert_has(t1, "elements = { ::, fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff }");
    assert_has(t1, "meta nfproto ipv4 ip saddr @from-wl-src-n4-");
    assert_has(t1, "meta nfproto ipv6 ip6 saddr @from-wl-src-n6-");
    assert_has(t1, "return comment \"allowed sources of cali-b\"\n");
    assert_has(t1, "comment \"allowed sources of cali-b\"; elements = { 10.99.0.0-10.99.255.255 }");
    assert_has(t1, "elements = { fd99::-fd99::ffff:ffff:ffff:ffff }");
    assert_has(t1, "counter drop comment \"anti-spoofing: source is not the sending workload's\"\n\t}");
    /* the prefixes go: the rule and its sets go, the addresses stay */
    wep_sources(c, "b", "cali-b", "10.0.0.2", "fd00::2", NULL);
    t2 = dump(c);
    assert_lacks(t2, "from-wl-src-n4-");
    assert_lacks(t2, "10.99.0.0");
    assert_has(t2, "\"cali-b\" . 10.0.0.2");
    wep_delete(c, "default", "b");
    wep_delete(c, "default", "a");
    t3 = dump(c);
    assert_has(t3, "set from-wl-src-4 { type ifname . ipv4_addr; comment \"local workloads' "
                   "interfaces and IPv4 addresses\"; }");
    assert_lacks(t3, "cali-");
}

/* As Calico's felix: allowSpoofedSourcePrefixes count only while FelixConfiguration's
 * workloadSourceSpoofing is Any; otherwise (Disabled, Calico's default) an endpoint that has
 * some is treated as missing, so all it sends and all forwarded to it is dropped: its
 * interface is held, its addresses are not in the source check's sets. */
static void test_prefixes_count_only_with_workload_source_spoofing_any(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;

    (void)state;
    wep_sources(c, "a", "cali-a", "10.0.0.1", "fd00::1", NULL);
    wep_sources(c, "b", "cali-b", "10.0.0.2", "fd00::2", "10.99.0.0/16");
    /* an ipNetwork wider than one address is the workload's own, Any or not */
    wep_sources(c, "w", "cali-w", "10.0.1.0/30", "fd00::9", NULL);
    t1 = dump(c);
    assert_has(t1, "comment \"allowed sources of cali-w\"; elements = { 10.0.1.0-10.0.1.3 }");
    assert_has(t1, "\"cali-w\" . fd00::9");
    assert_has(t1, "set from-wl-src-held { type ifname; comment \"local workloads whose "
                   "allowSpoofedSourcePrefixes are not allowed\"; elements = { \"cali-b\" }; }");
    assert_lacks(t1, "\"cali-b\" . 10.0.0.2");
    assert_lacks(t1, "10.99.0.0");
    assert_has(t1, "\"cali-a\" . 10.0.0.1");
    set_spoofing(c, true); /* workloadSourceSpoofing: Any */
    t2 = dump(c);
    assert_has(t2, "set from-wl-src-held { type ifname; comment \"local workloads whose "
                   "allowSpoofedSourcePrefixes are not allowed\"; }");
    assert_has(t2, "\"cali-b\" . 10.0.0.2");
    assert_has(t2, "elements = { 10.99.0.0-10.99.255.255 }");
    set_spoofing(c, false);
    t3 = dump(c);
    assert_string_equal(t3, t1);
}

/* ---- Kubernetes NetworkPolicy ----------------------------------------------------------- */

static void test_k8s_default_deny_sends_local_pods_to_default_deny(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    char buf[1024];

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "other", "b", NULL, "cali-b", "10.0.0.2", "app=web", NULL });
    wep(c, (struct wep_spec){ "default", "r", "node-b", "cali-r", "10.0.1.1", "app=web", NULL });
    apply(c, default_deny);
    t = dump(c);
    assert_has(t, "chain pi-knp/default/default-deny {\n\t}");
    /* the policy has no rule: nothing it allows, so the dispatch's default deny drops */
    assert_applies(t, "pi-knp/default/default-deny", "cali-a", true);
    assert_applies(t, "pi-knp/default/default-deny", "cali-b", false); /* another namespace */
    assert_lacks(t, "cali-r");                                          /* another node */
    assert_dispatch(t, "from-wl", "");                                  /* ingress only */
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; elements = { \"cali-a\" }; }");
    assert_has(t, "chain to-wl {\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tjump to-wl-tier-default\n\t}");
    /* the default tier: a Pass of an earlier tier ends, its pages, its default deny */
    assert_has(t, deny_text(buf, "chain to-wl-tier-default {\n\t\tmeta mark set mark & 0xfffdffff\n"
                                 "\t\tmeta mark & 0x00030000 == 0 oifname @to-wl-first "
                                 "jump to-wl-first\n", "0x00030000",
                            "tier default: default deny: no ingress policy allowed or passed it"));
    /* the only tier: to-wl-selected says who it applies to, its own set stays empty */
    assert_has(t, "set to-wl-tier-default { type ifname; comment \"local workloads some ingress "
                  "policy of tier default applies to\"; }");
    assert_has(t, "chain to-wl-first {\n\t\tmeta mark & 0x00030000 == 0 oifname @wl-");
    assert_has(t, " jump pi-knp/default/default-deny\n\t}");
    assert_has(t, "comment \"local workloads: projectcalico.org/namespace == 'default' && "
                  "projectcalico.org/orchestrator == 'k8s'\"; elements = { \"cali-a\" }; }");
}

static void test_k8s_pod_selector_peer_becomes_an_address_set(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    char set[128], want[512], line[1024];

    (void)state;
    wep(c, (struct wep_spec){ "default", "db", NULL, "cali-db", "10.0.0.1", "app=database", NULL });
    wep(c, (struct wep_spec){ "default", "be", "node-b", NULL, "10.0.0.2", "app=backend", NULL });
    wep(c, (struct wep_spec){ "other", "be2", "node-b", NULL, "10.0.0.3", "app=backend", NULL });
    apply(c, db_access);
    t = dump(c);
    set_named(t, "projectcalico.org/namespace == 'default' && projectcalico.org/orchestrator == "
                 "'k8s' && app == 'backend'", set, sizeof(set));
    snprintf(want, sizeof(want), "meta nfproto ipv4 meta l4proto tcp ip saddr @%s th dport 5432 "
             "counter meta mark set mark | 0x00010000 return comment "
             "\"default/knp.default.db-access ingress 0\"", set);
    assert_has(t, want);
    line_with(t, set, line, sizeof(line));
    assert_has(line, "elements = { 10.0.0.2 }"); /* not the pod of the other namespace */
    assert_applies(t, "pi-knp/default/db-access", "cali-db", true);
}

static void test_k8s_namespace_selector_reads_namespace_labels(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    char set[128], line[1024];

    (void)state;
    apply(c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ops, labels: {team: ops}}\n"
             "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: dev, labels: {team: dev}}\n");
    wep(c, (struct wep_spec){ "ops", "o", "node-b", NULL, "10.0.2.1", "x=y", NULL });
    wep(c, (struct wep_spec){ "dev", "d", "node-b", NULL, "10.0.2.2", "x=y", NULL });
    wep(c, (struct wep_spec){ "default", "api", NULL, "cali-api", "10.0.2.3", "app=api", NULL });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: from-ops, namespace: default}\n"
             "spec:\n  podSelector: {}\n  ingress:\n  - from:\n"
             "    - namespaceSelector: {matchLabels: {team: ops}}\n");
    t = dump(c);
    set_named(t, "pcns.team == 'ops' && projectcalico.org/orchestrator == 'k8s'", set,
              sizeof(set));
    line_with(t, set, line, sizeof(line));
    assert_has(line, "elements = { 10.0.2.1 }");
    free(t);
    /* the dev namespace joins the ops team: its pod joins the set */
    apply(c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev, labels: {team: ops}}\n");
    t = dump(c);
    line_with(t, set, line, sizeof(line));
    assert_has(line, "elements = { 10.0.2.1, 10.0.2.2 }");
}

static void test_k8s_pod_and_namespace_selector_in_one_peer_are_anded(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "api", NULL, "cali-api", "10.0.2.3", "app=api", NULL });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: both, namespace: default}\n"
             "spec:\n  podSelector: {}\n  ingress:\n  - from:\n"
             "    - namespaceSelector: {}\n      podSelector: {matchLabels: {role: mon}}\n");
    t = dump(c);
    assert_has(t, "comment \"has(projectcalico.org/namespace) && "
                  "projectcalico.org/orchestrator == 'k8s' && role == 'mon'\"");
}

static void test_k8s_ip_block_with_except_becomes_net_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: cidr, namespace: default}\n"
             "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
             "    - ipBlock: {cidr: 172.16.0.0/12, except: [172.17.0.0/16, 172.17.1.0/24]}\n");
    t = dump(c);
    assert_has(t, "elements = { 172.16.0.0-172.31.255.255 }");
    assert_has(t, "elements = { 172.17.0.0-172.17.255.255 }"); /* overlaps merged */
    assert_has(t, "ip daddr @net4-");
    assert_has(t, "ip daddr != @net4-");
    assert_applies(t, "po-knp/default/cidr", "cali-a", true);
    assert_dispatch(t, "from-wl", "po-knp/default/cidr");
}

static void test_k8s_ports_group_by_protocol_with_ranges(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: ports, namespace: default}\n"
             "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n"
             "    - {port: 80}\n    - {protocol: TCP, port: 8000, endPort: 8080}\n"
             "    - {protocol: UDP, port: 53}\n    - {protocol: SCTP}\n");
    t = dump(c);
    assert_has(t, "meta l4proto sctp counter meta mark set mark | 0x00010000 return comment "
                  "\"default/knp.default.ports ingress 0\"");
    assert_has(t, "meta l4proto tcp th dport @port-");
    assert_has(t, "elements = { 80, 8000-8080 }");
    assert_has(t, "meta l4proto udp th dport 53 counter");
}

static void test_k8s_named_port_is_resolved_per_destination_pod(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "api", NULL, "cali-api", "10.0.0.1", "app=api",
                              "http/6/8080" });
    wep(c, (struct wep_spec){ "default", "api2", "node-b", NULL, "10.0.0.2", "app=api",
                              "http/6/9090,dns/17/53" });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: named, namespace: default}\n"
             "spec:\n  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - ports:\n"
             "    - {protocol: TCP, port: http}\n");
    t = dump(c);
    assert_has(t, "type ipv4_addr . inet_proto . inet_service; comment \"6:http on all()\"; "
                  "elements = { 10.0.0.1 . 6 . 8080, 10.0.0.2 . 6 . 9090 }");
    assert_has(t, "meta nfproto ipv4 meta l4proto tcp ip daddr . meta l4proto . th dport @np-");
    assert_has(t, "meta nfproto ipv6 meta l4proto tcp ip6 daddr . meta l4proto . th dport @np-");
}

static void test_k8s_egress_named_port_uses_the_peer_selector(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "cl", NULL, "cali-cl", "10.0.0.1", "app=client", NULL });
    wep(c, (struct wep_spec){ "default", "db", "node-b", NULL, "10.0.0.2", "app=db",
                              "pg/6/5432" });
    wep(c, (struct wep_spec){ "default", "x", "node-b", NULL, "10.0.0.3", "app=x", "pg/6/1111" });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: to-db, namespace: default}\n"
             "spec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n"
             "  egress:\n  - to:\n    - podSelector: {matchLabels: {app: db}}\n"
             "    ports:\n    - {port: pg}\n");
    t = dump(c);
    assert_has(t, "comment \"6:pg on projectcalico.org/namespace == 'default' && "
                  "projectcalico.org/orchestrator == 'k8s' && app == 'db'\"; "
                  "elements = { 10.0.0.2 . 6 . 5432 }");
}

static void test_k8s_empty_rule_admits_every_peer_and_port(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: allow-all, namespace: default}\n"
             "spec:\n  podSelector: {}\n  ingress:\n  - {}\n");
    t = dump(c);
    /* a rule {} admits every peer on every port */
    assert_has(t, "chain pi-knp/default/allow-all {\n\t\tcounter meta mark set mark | "
                  "0x00010000 return comment \"default/knp.default.allow-all ingress 0\"\n\t}");
}

/* ---- Calico policy ---------------------------------------------------------------------- */

static void test_calico_order_puts_deny_before_allow(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: allow, namespace: default}\n"
             "spec:\n  order: 200\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n"
             "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: deny}\n"
             "spec:\n  order: 100\n  selector: app == 'web'\n  ingress:\n  - action: Deny\n"
             "    source: {nets: [10.9.0.0/16]}\n");
    apply(c, default_deny); /* order 1000: last */
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-gnp/deny pi-np/default/allow pi-knp/default/default-deny");
    assert_has(t, "meta nfproto ipv4 ip saddr @net4-");
    assert_has(t, "counter drop comment \"deny ingress 0\"");
}

/* A Deny rule is logged to the NFLOG group (rate-limited, with the compact id of its
 * comment) by a twin with its matches, then dropped; the id maps back to the rule. */
static void test_deny_rule_is_logged_then_dropped_and_its_id_maps_back(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    char id[TBY_RS_DENY_ID_SIZE], want[512];

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: no-ssh, namespace: default}\n"
             "spec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n    protocol: UDP\n"
             "  - action: Deny\n    protocol: TCP\n    destination: {ports: [22]}\n");
    t = dump(c);
    tby_rs_deny_id("default/no-ssh ingress 1", id);
    assert_int_equal(strlen(id), TBY_RS_DENY_ID_SIZE - 1);
    assert_true(strlen(id) < 128); /* the kernel's limit for a log prefix */
    snprintf(want, sizeof(want), "\t\tmeta l4proto tcp th dport 22 limit rate %d/second burst %d "
             "packets log prefix \"%s\" group %d\n\t\tmeta l4proto tcp th dport 22 counter drop "
             "comment \"default/no-ssh ingress 1\"\n", TBY_RS_DENY_LOG_RATE,
             TBY_RS_DENY_LOG_BURST, id, TBY_RS_DENY_LOG_GROUP);
    assert_has(t, want);
    /* Allow is not logged */
    assert_lacks(t, "udp limit");
    assert_string_equal(tby_rs_find_deny(tby_calc_ruleset(c), id), "default/no-ssh ingress 1");
    tby_rs_deny_id("tier default: default deny: no ingress policy allowed or passed it", id);
    assert_string_equal(tby_rs_find_deny(tby_calc_ruleset(c), id),
                        "tier default: default deny: no ingress policy allowed or passed it");
    assert_null(tby_rs_find_deny(tby_calc_ruleset(c), "tby-deny:000000000000"));
}

static void test_calico_rule_features_compile(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: feat, namespace: default}\n"
             "spec:\n  selector: app == 'web'\n  types: [Ingress, Egress]\n  ingress:\n"
             "  - action: Log\n"
             "  - action: Pass\n    protocol: UDP\n"
             "  - action: Deny\n    notProtocol: TCP\n"
             "  - action: Allow\n    protocol: ICMP\n    icmp: {type: 8, code: 0}\n"
             "  - action: Allow\n    protocol: ICMP\n    notICMP: {type: 3, code: 1}\n"
             "  - action: Allow\n    protocol: ICMPv6\n    icmp: {type: 128}\n"
             "  - action: Allow\n    ipVersion: 6\n"
             "  - action: Allow\n    protocol: TCP\n    destination: {notPorts: [22, '100:200']}\n"
             "  - action: Allow\n    protocol: TCP\n    source: {notSelector: app == 'bad'}\n"
             "  egress:\n"
             "  - action: Allow\n    destination:\n      selector: app == 'db'\n"
             "      namespaceSelector: team == 'x'\n");
    t = dump(c);
    assert_has(t, "log prefix \"tabby-policy: \" comment \"default/feat ingress 0\"");
    assert_has(t, "meta l4proto udp counter meta mark set mark | 0x00020000 return");
    assert_has(t, "meta l4proto != tcp counter drop");
    assert_has(t, "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 counter");
    assert_has(t, "meta nfproto ipv4 meta l4proto icmp @th,0,16 != 0x0301 counter");
    assert_has(t, "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 128 counter");
    assert_has(t, "meta nfproto ipv6 counter meta mark set mark | 0x00010000 return comment "
                  "\"default/feat ingress 6\"");
    assert_has(t, "meta l4proto tcp th dport != @port-");
    assert_has(t, "elements = { 22, 100-200 }");
    /* notSelector alone scopes nothing itself, but sets the namespace on the selector */
    assert_has(t, "ip saddr @sel-");
    assert_has(t, "comment \"projectcalico.org/namespace == 'default'\"");
    assert_has(t, "comment \"app == 'bad'\"");
    assert_has(t, "comment \"pcns.team == 'x' && app == 'db'\"");
    assert_applies(t, "po-np/default/feat", "cali-a", true);
}

/* A rule whose nets or notNets are all of one family is that family's only (as Calico
 * renders it): notNets of IPv6 alone must not match every IPv4 packet. */
static void test_nets_of_one_family_keep_the_rule_to_it(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: fam, namespace: default}\n"
             "spec:\n  selector: app == 'web'\n  ingress:\n"
             "  - action: Allow\n    source: {notNets: ['fd00:9::/64']}\n"
             "  - action: Allow\n    destination: {notNets: [10.9.0.0/16]}\n");
    t = dump(c);
    assert_has(t, "meta nfproto ipv6 ip6 saddr != @net6-");
    assert_lacks(t, "meta nfproto ipv4 counter meta mark set mark | 0x00010000 return comment "
                    "\"default/fam ingress 0\"");
    assert_has(t, "meta nfproto ipv4 ip daddr != @net4-");
    assert_lacks(t, "meta nfproto ipv6 counter meta mark set mark | 0x00010000 return comment "
                    "\"default/fam ingress 1\"");
}

static void test_global_policy_rule_selector_spans_namespaces(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "x", "m", "node-b", NULL, "10.0.5.1", "role=mon", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: mon}\n"
             "spec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n"
             "    source: {selector: role == 'mon'}\n");
    t = dump(c);
    assert_has(t, "comment \"role == 'mon'\"; elements = { 10.0.5.1 }");
}

/* ---- sharing and incremental updates ---------------------------------------------------- */

static void test_endpoints_of_one_policy_share_its_set(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, db_access);
    for (int i = 0; i < 5; i++) {
        char name[16], iface[16], ip[16];

        snprintf(name, sizeof(name), "db%d", i);
        snprintf(iface, sizeof(iface), "cali-db%d", i);
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        wep(c, (struct wep_spec){ "default", name, NULL, iface, ip, "app=database", NULL });
    }
    t = dump(c);
    for (int i = 0; i < 5; i++) {
        char iface[16];

        snprintf(iface, sizeof(iface), "cali-db%d", i);
        assert_applies(t, "pi-knp/default/db-access", iface, true);
    }
    assert_dispatch(t, "to-wl", "pi-knp/default/db-access");
}

static const char *const web_policy =
    "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
    "metadata: {name: %s, namespace: default}\n"
    "spec:\n  order: %d\n  selector: app == 'web'\n  types: [Ingress]\n";

static void apply_web_policy(struct tby_calc *c, const char *name, int order)
{
    char doc[512];

    snprintf(doc, sizeof(doc), web_policy, name, order);
    apply(c, doc);
}

static void delete_web_policy(struct tby_calc *c, const char *name)
{
    char doc[512];

    snprintf(doc, sizeof(doc), web_policy, name, 0);
    delete(c, doc);
}

/* The dispatch tests only the policies that apply to some local workload. */
/* A pod coming or going changes set elements only: those of its selectors' interface
 * sets and of the dispatch pages holding their policies. */
static void test_pods_change_page_sets_not_rules(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;

    (void)state;
    apply_web_policy(c, "one", 1);
    apply(c, default_deny);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/one pi-knp/default/default-deny");
    assert_has(t, "comment \"local workloads: projectcalico.org/namespace == 'default' && "
                  "app == 'web'\"; }"); /* empty until a pod of this node matches */
    tby_rs_journal_done(tby_calc_ruleset(c));

    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    j = journal(c);
    assert_lacks(j, "rule");
    assert_lacks(j, "add set");
    assert_has(j, "add element inet tabby to-wl-"); /* the page's set */
    assert_true(count(j, "{ \"cali-a\" }") >= 4); /* local-wl, selected, wl-…, page */
    tby_rs_journal_done(tby_calc_ruleset(c));

    wep_delete(c, "default", "a");
    free(j);
    j = journal(c);
    assert_lacks(j, "rule");
    assert_true(count(j, "{ \"cali-a\" }") >= 4);
    free(t);
    t = dump(c);
    assert_lacks(t, "cali-a");
}

/* With many policies the dispatch is cut into pages (and a tier of more than 16 pages
 * into books of pages), and a packet enters only the books and pages holding a policy of
 * its workload. */
static void test_dispatch_is_cut_into_pages(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;
    char want[16384] = "";

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    for (int i = 0; i < 300; i++) {
        char name[16];

        snprintf(name, sizeof(name), "p%03d", i);
        apply_web_policy(c, name, 2 * i);
    }
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: other, namespace: default}\n"
             "spec:\n  order: 301\n  selector: app == 'db'\n  types: [Ingress]\n");
    t = dump(c);
    assert_true(count(t, "chain to-wl-") > 5); /* pages */
    /* more than 16 pages: the tier jumps to books of pages */
    assert_true(count(t, "chain to-wl-book-") >= 1);
    assert_lacks(t, "chain to-wl-tier-default {\n\t\tmeta mark set mark & 0xfffdffff\n"
                    "\t\tmeta mark & 0x00030000 == 0 oifname @to-wl-first ");
    for (int i = 0; i < 300; i++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%spi-np/default/p%03d%s",
                 i ? " " : "", i, i == 150 ? " pi-np/default/other" : "");
    assert_dispatch(t, "to-wl", want);
    tby_rs_journal_done(tby_calc_ruleset(c));
    /* the db pod enters the page of "other" only */
    wep(c, (struct wep_spec){ "default", "b", NULL, "cali-b", "10.0.0.2", "app=db", NULL });
    j = journal(c);
    assert_lacks(j, "rule");
    /* local-wl, selected, wl-…, one page and its book */
    assert_int_equal(count(j, "{ \"cali-b\" }"), 5);
    free(t);
    t = dump(c);
    assert_applies(t, "pi-np/default/other", "cali-b", true);
    /* a policy coming rewrites its page (and refills its book's set), not the tier chain
     * nor a book's rules */
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply_web_policy(c, "p-new", 101);
    free(j);
    j = journal(c);
    assert_has(j, "add rule inet tabby to-wl-");
    assert_lacks(j, "add rule inet tabby to-wl-tier-default ");
    assert_lacks(j, "add rule inet tabby to-wl-book-");
    assert_lacks(j, "element inet tabby to-wl-book-"); /* cali-a was in that book already */
    free(t);
    t = dump(c);
    assert_applies(t, "pi-np/default/p-new", "cali-a", true);
    /* the pods leave: no element stays behind in a page or a book */
    wep_delete(c, "default", "a");
    wep_delete(c, "default", "b");
    free(t);
    t = dump(c);
    assert_lacks(t, "cali-a");
    assert_lacks(t, "cali-b");
}

/* A workload is in to-wl-selected while some policy of its direction applies to it: held
 * once per selector, however many policies share it, and by a tier's set per policy while
 * two tiers have policies. */
static void test_selected_set_follows_the_policies_sharing_a_selector(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    static const char selected[] = "set to-wl-selected { type ifname; comment \"local "
                                   "workloads some ingress policy applies to\"; elements = "
                                   "{ \"cali-a\" }; }";
    static const char other_tier[] =
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
        "metadata: {name: sec.x, namespace: default}\n"
        "spec:\n  tier: sec\n  selector: app == 'web'\n  types: [Ingress]\n";
    char *t;

    (void)state;
    apply_web_policy(c, "one", 1);
    apply_web_policy(c, "two", 2);
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, other_tier);
    t = dump(c);
    assert_has(t, selected);
    /* local-wl, the source check, selected, wl-…, a page and a set per tier */
    assert_int_equal(count(t, "\"cali-a\""), 8);
    free(t);
    delete(c, other_tier);
    delete_web_policy(c, "one");
    t = dump(c);
    assert_has(t, selected); /* "two" still applies */
    assert_applies(t, "pi-np/default/two", "cali-a", true);
    free(t);
    wep_delete(c, "default", "a");
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    t = dump(c);
    assert_has(t, selected); /* left and came back: one reference again */
    free(t);
    delete_web_policy(c, "two");
    t = dump(c);
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; }");
    free(t);
}

/* The same events, the dispatch settled after each (the ruleset read every time) or once
 * at the end (a load): the same table. */
static void load(struct tby_calc *c, bool read_each)
{
    static const char *const labels[] = { "app=web", "app=db", "app=web,tier=a" };

    for (int i = 0; i < 60; i++) {
        char name[16], iface[16], addr[16];

        snprintf(name, sizeof(name), "p%02d", i);
        apply_web_policy(c, name, i % 7);
        if (read_each)
            tby_rs_journal_done(tby_calc_ruleset(c));
        snprintf(name, sizeof(name), "w%02d", i);
        snprintf(iface, sizeof(iface), "cali-%02d", i);
        snprintf(addr, sizeof(addr), "10.0.1.%d", i + 1);
        wep(c, (struct wep_spec){ "default", name, NULL, iface, addr, labels[i % 3], NULL });
        if (read_each)
            tby_rs_journal_done(tby_calc_ruleset(c));
    }
    for (int i = 0; i < 60; i += 4) {
        char name[16];

        snprintf(name, sizeof(name), "p%02d", i);
        delete_web_policy(c, name);
        if (read_each)
            tby_rs_journal_done(tby_calc_ruleset(c));
    }
    apply_web_policy(c, "p01", 100); /* reordered */
}

static void test_a_load_settled_once_equals_one_settled_each_time(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *each = calc_new(), *once = calc_new();
    _cleanup_free_ char *a = NULL, *b = NULL;
    struct tby_error err = { 0 };

    (void)state;
    load(each, true);
    load(once, false);
    assert_int_equal(tby_calc_settle(once, &err), 0);
    assert_int_equal(tby_calc_settle(once, &err), 0); /* nothing left: a no-op */
    a = dump(each);
    b = dump(once);
    assert_true(count(b, "chain to-wl-") > 2); /* pages */
    assert_string_equal(a, b);
}

static void test_policy_order_change_rewrites_only_the_dispatch(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j = NULL, *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply_web_policy(c, "one", 1);
    apply_web_policy(c, "two", 2);
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply_web_policy(c, "two", 0);
    j = journal(c);
    assert_lacks(j, "element inet tabby wl-");
    assert_lacks(j, "chain inet tabby pi-");
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/two pi-np/default/one");
    delete_web_policy(c, "two");
    free(t);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/one");
}

/* ---- tiers ------------------------------------------------------------------------------ */

static const char *const tier_security =
    "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\n"
    "spec: {order: 100}\n";

static void apply_tier_policy(struct tby_calc *c, const char *tier, const char *name,
                              const char *selector, int order)
{
    char doc[512];

    snprintf(doc, sizeof(doc), "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: %s}\nspec:\n  tier: %s\n  order: %d\n  selector: \"%s\"\n"
             "  types: [Ingress]\n  ingress: [{action: Pass}]\n", name, tier, order, selector);
    apply(c, doc);
}

/* Tiers run in their order, whatever the policies' orders; each tier's policies run
 * together, and a tier's chain ends with its defaultAction. */
static void test_tiers_run_in_tier_order(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, tier_security);
    apply_web_policy(c, "early", 1);                          /* default tier, order 1 */
    apply_tier_policy(c, "security", "security.late", "app == 'web'", 500);
    apply_tier_policy(c, "security", "first", "app == 'web'", 400);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-gnp/first pi-gnp/security.late pi-np/default/early");
    assert_has(t, "\t\tmeta mark & 0x00010000 == 0 oifname @to-wl-tier-security "
                  "jump to-wl-tier-security\n"
                  "\t\tmeta mark & 0x00010000 == 0 oifname @to-wl-tier-default "
                  "jump to-wl-tier-default\n\t}");
    assert_has(t, "comment \"tier security: default deny: no ingress policy allowed or "
                  "passed it\"");
    assert_has(t, "chain pi-gnp/first {\n\t\tcounter meta mark set mark | 0x00020000 return "
                  "comment \"first ingress 0\"\n");
    /* the tier goes after the default tier once its order says so */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\n"
             "spec: {order: 2000000, defaultAction: Pass}\n");
    free(t);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/early pi-gnp/first pi-gnp/security.late");
    assert_lacks(t, "tier security: default deny");           /* defaultAction Pass */
}

/* A tier applies only to the workloads its policies select: others are not in its set,
 * so its default deny never meets them. */
static void test_tier_applies_only_to_workloads_its_policies_select(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "default", "b", NULL, "cali-b", "10.0.0.2", "app=db", NULL });
    apply(c, tier_security);
    apply_tier_policy(c, "security", "only-db", "app == 'db'", 1);
    apply_web_policy(c, "web", 1); /* a second tier: the tiers' sets say who is in which */
    t = dump(c);
    assert_has(t, "set to-wl-tier-security { type ifname; comment \"local workloads some "
                  "ingress policy of tier security applies to\"; elements = { \"cali-b\" }; }");
    assert_has(t, "policy of tier default applies to\"; elements = { \"cali-a\" }; }");
    assert_has(t, "\t\tmeta mark & 0x00010000 == 0 oifname @to-wl-tier-security "
                  "jump to-wl-tier-security\n");
    /* a pod joining the tier's selector: set elements only */
    tby_rs_journal_done(tby_calc_ruleset(c));
    wep(c, (struct wep_spec){ "default", "c", NULL, "cali-c", "10.0.0.3", "app=db", NULL });
    j = journal(c);
    assert_lacks(j, "rule");
    assert_has(j, "to-wl-tier-security { \"cali-c\" }");
    /* back to one tier: its set empties, the dispatch jumps to it for every selected pod */
    delete_web_policy(c, "web");
    free(t);
    t = dump(c);
    assert_has(t, "policy of tier security applies to\"; }");
    assert_has(t, "\t\tjump to-wl-tier-security\n\t}");
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; elements = { \"cali-b\", \"cali-c\" }; }");
}

/* A tier no Tier resource and no policy keeps goes with its chains and sets; a policy
 * naming a tier not stored runs last, with a default deny (fails closed). */
static void test_unstored_tier_runs_last_and_goes_with_its_policies(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply_tier_policy(c, "ghost", "g", "app == 'web'", 1);
    apply_web_policy(c, "early", 5);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/early pi-gnp/g");
    assert_has(t, "tier ghost: default deny");
    delete(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
              "metadata: {name: g}\nspec: {tier: ghost}\n");
    free(t);
    t = dump(c);
    assert_lacks(t, "ghost");
    assert_dispatch(t, "to-wl", "pi-np/default/early");
    /* the same with a stored tier removed: its chain goes once no policy is left */
    apply(c, tier_security);
    apply_tier_policy(c, "security", "s", "app == 'web'", 1);
    delete(c, tier_security);
    free(t);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/early pi-gnp/s"); /* unordered now: last */
}

/* ---- profiles after the tiers ----------------------------------------------------------- */

static const char *const profile_dev =
    "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: dev}\nspec:\n"
    "  ingress:\n  - action: Deny\n    source: {nets: [10.0.0.0/8]}\n  - action: Allow\n"
    "    protocol: TCP\n";

/* A local workload listing the profiles in `profiles` ("a,b"), in that order. */
static void wep_profiles(struct tby_calc *c, struct wep_spec s, const char *profiles)
{
    struct tby_resource *res = wep_res(&s);
    struct tby_error err = { 0 };
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", profiles);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        assert_int_equal(tby_strv_push(&res->spec.wep->profiles, t), 0);
    assert_int_equal(tby_calc_update(c, res, &err), 0);
    tby_strv_clear(&res->spec.wep->profiles);
    res_free(res);
}

/* A workload's profiles with rules run after the tiers, in its order, and what none
 * allowed is dropped; a profile allowing everything (a namespace's, stored or not) that
 * comes first leaves the workload open, one that comes later ends its plan with Allow. */
static void test_profile_rules_run_after_the_tiers(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;
    char buf[1024];

    (void)state;
    apply(c, profile_dev);
    wep_profiles(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web",
                                       NULL }, "dev");
    wep_profiles(c, (struct wep_spec){ "default", "b", NULL, "cali-b", "10.0.0.2", "app=web",
                                       NULL }, "kns.default,dev");
    wep_profiles(c, (struct wep_spec){ "default", "c", NULL, "cali-c", "10.0.0.3", "app=db",
                                       NULL }, "dev,kns.default");
    apply_web_policy(c, "web", 1);
    t = dump(c);
    assert_has(t, "chain pi-pr/dev {\n");
    /* the tiers first, then the profiles: a (dev, then nothing allows) and c (dev, then its
     * namespace allows) each have a plan; b's namespace profile allows first: no plan */
    assert_dispatch(t, "to-wl", "pi-np/default/web pi-pr/dev pi-pr/dev");
    assert_has(t, "comment \"local workloads whose profiles run: pi-pr/dev|drop\"; "
                  "elements = { \"cali-a\" }; }");
    assert_has(t, "comment \"local workloads whose profiles run: pi-pr/dev|allow\"; "
                  "elements = { \"cali-c\" }; }");
    assert_has(t, deny_text(buf, "\t\tmeta mark & 0x00010000 == 0 jump pi-pr/dev\n", "0x00010000",
                            "no profile allowed it"));
    assert_has(t, "set to-wl-selected { type ifname; comment \"local workloads some ingress "
                  "policy applies to\"; elements = { \"cali-a\", \"cali-b\", \"cali-c\" }; }");
    /* dev says nothing of egress: a, with no profile allowing, is closed that way (c's
     * namespace profile allows) */
    assert_has(t, "set from-wl-selected { type ifname; comment \"local workloads some egress "
                  "policy applies to\"; elements = { \"cali-a\" }; }");
    assert_has(t, "comment \"local workloads whose profiles run: |drop\"; "
                  "elements = { \"cali-a\" }; }");
    /* with a plan, to-wl-selected holds more than the default tier's workloads: its set
     * says who it applies to (d, selected by no policy, must not meet its default deny) */
    assert_has(t, "policy of tier default applies to\"; elements = { \"cali-a\", \"cali-b\" }; }");
    assert_has(t, "\t\tmeta mark & 0x00010000 == 0 oifname @to-wl-tier-default "
                  "jump to-wl-tier-default\n");
    /* another workload with a plan that is there: set elements only */
    tby_rs_journal_done(tby_calc_ruleset(c));
    wep_profiles(c, (struct wep_spec){ "default", "d", NULL, "cali-d", "10.0.0.4", "app=x",
                                       NULL }, "dev");
    j = journal(c);
    assert_lacks(j, "rule");
    /* the profile gone: nothing of it stays, every workload is open again */
    delete(c, profile_dev);
    free(t);
    t = dump(c);
    assert_lacks(t, "pr/dev");
    assert_lacks(t, "-prof-");
    assert_dispatch(t, "to-wl", "pi-np/default/web");
    /* written again over the workloads there are: their plans come back */
    apply(c, profile_dev);
    free(t);
    t = dump(c);
    assert_dispatch(t, "to-wl", "pi-np/default/web pi-pr/dev pi-pr/dev");
    assert_has(t, "comment \"local workloads whose profiles run: pi-pr/dev|drop\"; "
                  "elements = { \"cali-a\", \"cali-d\" }; }");
}

/* What a restarted tabby-node computes does not depend on the order the datastore lists
 * the resources in: the table it finds is already right. */
static void test_the_table_does_not_depend_on_the_order_of_events(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *before = calc_new();
    _cleanup_(tby_calc_freep) struct tby_calc *after = calc_new();
    _cleanup_free_ char *t1 = NULL, *t2 = NULL;
    static const char *const names[] = { "one", "two", "three" };

    (void)state;
    wep(before, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    for (int i = 0; i < 3; i++)
        apply_web_policy(before, names[i], 3 - i);
    apply(before, db_access);
    apply(after, db_access);
    for (int i = 2; i >= 0; i--)
        apply_web_policy(after, names[i], 3 - i);
    wep(after, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    t1 = dump(before);
    t2 = dump(after);
    assert_string_equal(t1, t2);
}

static void test_new_pod_changes_only_set_elements(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j = NULL;

    (void)state;
    apply(c, db_access);
    wep(c, (struct wep_spec){ "default", "db0", NULL, "cali-db0", "10.0.0.1", "app=database",
                              NULL });
    wep(c, (struct wep_spec){ "default", "be0", NULL, "cali-be0", "10.0.0.2", "app=backend",
                              NULL });
    tby_rs_journal_done(tby_calc_ruleset(c));
    wep(c, (struct wep_spec){ "default", "db1", NULL, "cali-db1", "10.0.0.3", "app=database",
                              NULL });
    wep(c, (struct wep_spec){ "default", "be1", "node-b", NULL, "10.0.0.4", "app=backend", NULL });
    j = journal(c);
    assert_has(j, "add element inet tabby to-wl-selected { \"cali-db1\" }");
    assert_has(j, "add element inet tabby wl-");
    assert_has(j, " { \"cali-db1\" }");
    assert_has(j, "{ 10.0.0.4 }");
    assert_lacks(j, "add rule");
    assert_lacks(j, "add chain");
    assert_lacks(j, "flush");
}

static void test_relabel_moves_the_address_between_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j = NULL, *t = NULL;

    (void)state;
    apply(c, db_access);
    wep(c, (struct wep_spec){ "default", "db0", NULL, "cali-db0", "10.0.0.1", "app=database",
                              NULL });
    wep(c, (struct wep_spec){ "default", "p", NULL, "cali-p", "10.0.0.2", "app=backend", NULL });
    tby_rs_journal_done(tby_calc_ruleset(c));
    /* the backend pod becomes a database: it leaves the peer set and gets the policy */
    wep(c, (struct wep_spec){ "default", "p", NULL, "cali-p", "10.0.0.2", "app=database", NULL });
    j = journal(c);
    assert_has(j, "delete element inet tabby sel-");
    assert_has(j, "{ 10.0.0.2 }");
    assert_has(j, "add element inet tabby wl-");
    assert_has(j, " { \"cali-p\" }");
    assert_lacks(j, "add rule");
    tby_rs_journal_done(tby_calc_ruleset(c));
    wep_delete(c, "default", "p");
    free(j);
    j = journal(c);
    assert_has(j, "delete element inet tabby wl-");
    assert_has(j, "delete element inet tabby to-wl-selected { \"cali-p\" }");
    t = dump(c);
    assert_lacks(t, "cali-p");
}

static void test_removing_everything_leaves_the_frame(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *before = dump(c), *after = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=database",
                              "http/6/80" });
    wep(c, (struct wep_spec){ "default", "b", NULL, "cali-b", "10.0.0.2", "app=backend", NULL });
    apply(c, db_access);
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: named, namespace: default}\n"
             "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: http}\n"
             "    from:\n    - ipBlock: {cidr: 10.0.0.0/8}\n");
    delete(c, db_access);
    delete(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
              "metadata: {name: named, namespace: default}\nspec: {podSelector: {}}\n");
    wep_delete(c, "default", "a");
    wep_delete(c, "default", "b");
    after = dump(c);
    assert_string_equal(before, after);
}

static void test_policy_change_rewrites_only_its_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "db0", NULL, "cali-db0", "10.0.0.1", "app=database",
                              NULL });
    apply(c, db_access);
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: db-access, namespace: default}\n"
             "spec:\n  podSelector: {matchLabels: {app: database}}\n  policyTypes: [Ingress]\n"
             "  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: backend}}\n"
             "    ports:\n    - {protocol: TCP, port: 5433}\n");
    j = journal(c);
    assert_has(j, "flush chain inet tabby pi-knp/default/db-access\n");
    assert_has(j, "th dport 5433");
    assert_lacks(j, "element");
    assert_int_equal(count(j, "add rule"), 2); /* IPv4 and IPv6 */
}

static void test_namespace_name_label_is_always_there(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: g}\n"
             "spec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n"
             "    source: {selector: pcns.kubernetes.io/metadata.name == 'default'}\n");
    t = dump(c);
    assert_has(t, "comment \"pcns.kubernetes.io/metadata.name == 'default'\"; "
                  "elements = { 10.0.0.1 }");
}

static void test_global_policy_namespace_selector_scopes_where_it_applies(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: prod}}\n");
    wep(c, (struct wep_spec){ "prod", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "dev", "b", NULL, "cali-b", "10.0.0.2", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n"
             "spec:\n  selector: app == 'web'\n  namespaceSelector: env == 'prod'\n"
             "  types: [Ingress]\n");
    t = dump(c);
    assert_applies(t, "pi-gnp/g", "cali-a", true);
    assert_lacks(t, "\"cali-b\" : jump");
}

static void test_service_account_names_become_a_selector(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: sa, namespace: default}\n"
             "spec:\n  selector: all()\n  ingress:\n  - action: Allow\n"
             "    source:\n      serviceAccounts: {names: [api, db]}\n");
    t = dump(c);
    assert_has(t, "comment \"projectcalico.org/namespace == 'default' && "
                  "projectcalico.org/serviceaccount in {'api', 'db'}\"");
}

/* An EndpointSlice of service `svc` in namespace ns: its addresses ("10.0.1.1 10.0.1.2",
 * a space-separated list) and ports ("TCP:80 UDP:53"); NULL addresses: it went. */
static void slice(struct tby_calc *c, const char *ns, const char *name, const char *svc,
                  const char *addrs, const char *ports)
{
    json_t *obj = json_pack("{s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:[]}], s:[]}", "metadata",
                            "name", name, "namespace", ns, "labels", TBY_EPS_SERVICE_LABEL, svc,
                            "addressType", "IPv4", "endpoints", "addresses", "ports");
    json_t *list = json_object_get(json_array_get(json_object_get(obj, "endpoints"), 0),
                                   "addresses");
    char buf[256], *save = NULL, *tok;
    struct tby_eps *eps = NULL;
    struct tby_error err = { 0 };

    snprintf(buf, sizeof(buf), "%s", addrs ? addrs : "");
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        json_array_append_new(list, json_string(tok));
    snprintf(buf, sizeof(buf), "%s", ports ? ports : "");
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');

        *colon = '\0';
        json_array_append_new(json_object_get(obj, "ports"),
                              json_pack("{s:s, s:i}", "protocol", tok, "port", atoi(colon + 1)));
    }
    if (addrs && tby_eps_decode(obj, &eps, &err) < 0)
        fail_msg("slice: %s", err.msg);
    json_decref(obj);
    assert_int_equal(tby_calc_endpointslice(c, ns, name, eps, &err), 0);
}

static const char *const egress_to_db =
    "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
    "metadata: {name: to-db, namespace: default}\n"
    "spec:\n  selector: all()\n  types: [Egress]\n  egress:\n  - action: Allow\n"
    "    destination:\n      services: {name: db}\n";

/* A destination service is its endpoints' addresses with the slices' ports, as
 * address . protocol . port; the namespace defaults to the policy's. */
static void test_destination_service_matches_its_endpoints_and_ports(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    char set[128];

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    slice(c, "default", "db-x1", "db", "10.0.1.1 10.0.1.2", "TCP:5432");
    slice(c, "default", "db-x2", "db", "fd00::1", "TCP:5432");
    slice(c, "other", "db-y", "db", "10.9.9.9", "TCP:5432"); /* another namespace's db */
    apply(c, egress_to_db);
    t = dump(c);
    assert_has(t, "ip daddr . meta l4proto . th dport @svc-");
    assert_has(t, "ip6 daddr . meta l4proto . th dport @svc-");
    assert_non_null(set_named(t, "service default/db", set, sizeof(set)));
    assert_has(t, "type ipv4_addr . inet_proto . inet_service");
    assert_has(t, "10.0.1.1 . 6 . 5432, 10.0.1.2 . 6 . 5432");
    assert_has(t, "fd00::1 . 6 . 5432");
    assert_lacks(t, "10.9.9.9");
}

/* A slice changing changes set elements, never rules; an address two slices list stays
 * while either does. */
static void test_service_follows_its_endpoint_slices_by_elements(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, egress_to_db);
    slice(c, "default", "db-1", "db", "10.0.1.1", "TCP:5432");
    tby_rs_journal_done(tby_calc_ruleset(c));

    slice(c, "default", "db-2", "db", "10.0.1.1 10.0.1.2", "TCP:5432");
    j = journal(c);
    assert_lacks(j, "rule");
    assert_has(j, "add element inet tabby svc-");
    assert_has(j, "10.0.1.2 . 6 . 5432");
    assert_lacks(j, "10.0.1.1"); /* already there through db-1 */
    tby_rs_journal_done(tby_calc_ruleset(c));

    /* a slice changing: only what differs */
    slice(c, "default", "db-2", "db", "10.0.1.1 10.0.1.2 10.0.1.3", "TCP:5432");
    free(j);
    j = journal(c);
    assert_has(j, "10.0.1.3 . 6 . 5432");
    assert_lacks(j, "10.0.1.2");
    tby_rs_journal_done(tby_calc_ruleset(c));
    slice(c, "default", "db-2", "db", "10.0.1.1 10.0.1.2", "TCP:5432");
    tby_rs_journal_done(tby_calc_ruleset(c));

    slice(c, "default", "db-1", "db", NULL, NULL);
    free(j);
    j = journal(c);
    assert_string_equal(j, ""); /* db-2 still lists 10.0.1.1 */
    slice(c, "default", "db-2", "db", "10.0.1.2", "UDP:53");
    free(j);
    j = journal(c);
    assert_lacks(j, "rule");
    assert_has(j, "delete element inet tabby svc-");
    t = dump(c);
    assert_has(t, "10.0.1.2 . 17 . 53");
    assert_lacks(t, "10.0.1.1");
    assert_lacks(t, "5432");
}

/* A source service is its endpoints' addresses only; the rule's own ports still apply. */
static void test_source_service_matches_its_endpoints_addresses(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    slice(c, "front", "web-1", "web", "10.0.2.1", "TCP:8080");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: from-web}\n"
             "spec:\n  selector: all()\n  ingress:\n  - action: Deny\n    protocol: TCP\n"
             "    source:\n      services: {name: web, namespace: front}\n"
             "    destination:\n      ports: [80]\n");
    t = dump(c);
    assert_has(t, "ip saddr @svca-");
    assert_has(t, "th dport 80");
    assert_has(t, "type ipv4_addr;");
    assert_has(t, "elements = { 10.0.2.1 }");
    assert_lacks(t, "8080");
}

/* The sets go with the last rule naming the service; the service's slices stay known. */
static void test_service_sets_go_with_their_last_rule(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    slice(c, "default", "db-1", "db", "10.0.1.1", "TCP:5432");
    apply(c, egress_to_db);
    delete(c, egress_to_db);
    t = dump(c);
    assert_lacks(t, "svc-");
    apply(c, egress_to_db);
    free(t);
    t = dump(c);
    assert_has(t, "10.0.1.1 . 6 . 5432");
}

static void test_dropping_a_direction_deletes_its_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: p, namespace: default}\n"
             "spec:\n  selector: all()\n  types: [Ingress, Egress]\n");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: p, namespace: default}\n"
             "spec:\n  selector: all()\n  types: [Ingress]\n");
    t = dump(c);
    assert_lacks(t, "po-np/default/p");
    assert_dispatch(t, "from-wl", "");
    assert_dispatch(t, "to-wl", "pi-np/default/p");
    assert_has(t, "chain pi-np/default/p {");
}

static void test_two_endpoints_sharing_an_address_keep_it_until_both_go(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t1 = NULL, *t2 = NULL;

    (void)state;
    apply(c, db_access);
    wep(c, (struct wep_spec){ "default", "old", "node-b", NULL, "10.0.0.9", "app=backend", NULL });
    wep(c, (struct wep_spec){ "default", "new", "node-b", NULL, "10.0.0.9", "app=backend", NULL });
    wep_delete(c, "default", "old");
    t1 = dump(c);
    assert_has(t1, "elements = { 10.0.0.9 }");
    wep_delete(c, "default", "new");
    t2 = dump(c);
    assert_lacks(t2, "10.0.0.9");
}

static void test_endpoint_moving_to_another_node_loses_its_chains(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, default_deny);
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "default", "a", "node-b", "cali-a", "10.0.0.1", "app=web", NULL });
    t = dump(c);
    assert_lacks(t, "cali-a");
    assert_dispatch(t, "to-wl", "pi-knp/default/default-deny");
}

static void test_namespace_labels_removed_leave_the_set(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    static const char *const ns = "apiVersion: v1\nkind: Namespace\n"
                                  "metadata: {name: ops, labels: {team: ops}}\n";

    (void)state;
    apply(c, ns);
    wep(c, (struct wep_spec){ "ops", "o", "node-b", NULL, "10.0.2.1", "x=y", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n"
             "spec:\n  ingress:\n  - action: Allow\n    source: {namespaceSelector: team == 'ops'}\n");
    delete(c, ns);
    t = dump(c);
    assert_has(t, "comment \"pcns.team == 'ops'\"; }");
}

/* ---- natOutgoing ------------------------------------------------------------------------ */

/* Sets the NAT input from "cidr,cidr" texts (either may be empty). */
static void set_nat(struct tby_calc *c, const char *masq, const char *pools)
{
    struct tby_cidr items[2][8];
    struct tby_cidr_list l[2] = { { items[0], 0 }, { items[1], 0 } };
    const char *text[2] = { masq, pools };

    for (int i = 0; i < 2; i++) {
        char buf[256], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", text[i]);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            assert_int_equal(tby_cidr_parse(t, TBY_CIDR_STRICT, &items[i][l[i].n++], NULL), 0);
    }
    assert_int_equal(tby_calc_set_nat(c, &l[0], &l[1]), 0);
}

static void test_nat_outgoing_masquerades_pool_traffic_leaving_all_pools(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    set_nat(c, "10.65.0.0/16", "10.65.0.0/16,10.66.0.0/16");
    t = dump(c);
    assert_has(t, "chain nat-postrouting {\n\t\ttype nat hook postrouting priority 100; "
                  "policy accept;\n\t\tmeta nfproto ipv4 ip saddr @nat-pools-4 "
                  "ip daddr != @all-pools-4 counter masquerade comment \"natOutgoing\"\n\t}");
    assert_has(t, "set nat-pools-4 { type ipv4_addr; flags interval; "
                  "elements = { 10.65.0.0-10.65.255.255 }; }");
    assert_has(t, "set all-pools-4 { type ipv4_addr; flags interval; "
                  "elements = { 10.65.0.0-10.66.255.255 }; }");
    assert_lacks(t, "nat-pools-6");
}

/* natOutgoingAddress: IPv4 is SNATed to it, IPv6 still masqueraded. */
static void test_nat_outgoing_address_snats_ipv4_to_it(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    struct tby_cidr items[2];
    struct tby_cidr_list l = { items, 2 };
    struct tby_ip to;

    (void)state;
    assert_int_equal(tby_cidr_parse("10.65.0.0/16", TBY_CIDR_STRICT, &items[0], NULL), 0);
    assert_int_equal(tby_cidr_parse("fd00:65::/48", TBY_CIDR_STRICT, &items[1], NULL), 0);
    assert_int_equal(tby_ip_parse("192.0.2.9", &to, NULL), 0);
    assert_int_equal(tby_calc_set_nat_to(c, &l, &l, &to), 0);
    t = dump(c);
    assert_has(t, "meta nfproto ipv4 ip saddr @nat-pools-4 ip daddr != @all-pools-4 counter "
                  "snat ip to 192.0.2.9 comment \"natOutgoing\"");
    assert_has(t, "ip6 daddr != @all-pools-6 counter masquerade");
    /* back to masquerade when it goes */
    assert_int_equal(tby_calc_set_nat_to(c, &l, &l, NULL), 0);
    free(t);
    t = dump(c);
    assert_has(t, "ip daddr != @all-pools-4 counter masquerade");
    assert_lacks(t, "snat");
}

static void test_nat_pool_change_moves_set_elements_only(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j = NULL;

    (void)state;
    set_nat(c, "10.65.0.0/16", "10.65.0.0/16");
    tby_rs_journal_done(tby_calc_ruleset(c));
    set_nat(c, "10.65.0.0/16", "10.65.0.0/16,10.70.0.0/16");
    j = journal(c);
    assert_has(j, "add element inet tabby all-pools-4 { 10.70.0.0-10.70.255.255 }");
    assert_lacks(j, "nat-pools-4 {");
    assert_lacks(j, "add rule");
    assert_lacks(j, "flush");
    tby_rs_journal_done(tby_calc_ruleset(c));
    set_nat(c, "10.65.0.0/16", "10.65.0.0/16,10.70.0.0/16");
    free(j);
    j = journal(c);
    assert_string_equal(j, "");
}

static void test_nat_without_masquerading_pools_removes_chain_and_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *before = dump(c), *t = NULL;

    (void)state;
    set_nat(c, "10.65.0.0/16,fd00:65::/48", "10.65.0.0/16,fd00:65::/48");
    free(t);
    t = dump(c);
    assert_has(t, "meta nfproto ipv6 ip6 saddr @nat-pools-6 ip6 daddr != @all-pools-6 counter "
                  "masquerade");
    set_nat(c, "", "10.65.0.0/16,fd00:65::/48");
    free(t);
    t = dump(c);
    assert_string_equal(t, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_calc_programs_hooks_and_maps),
        cmocka_unit_test(test_icmpv6_from_workloads_as_calico),
        cmocka_unit_test(test_endpoint_without_policy_is_in_no_policy_set),
        cmocka_unit_test(test_local_interfaces_feed_the_workload_set),
        cmocka_unit_test(test_workload_sources_are_checked_before_conntrack),
        cmocka_unit_test(test_prefixes_count_only_with_workload_source_spoofing_any),
        cmocka_unit_test(test_k8s_default_deny_sends_local_pods_to_default_deny),
        cmocka_unit_test(test_k8s_pod_selector_peer_becomes_an_address_set),
        cmocka_unit_test(test_k8s_namespace_selector_reads_namespace_labels),
        cmocka_unit_test(test_k8s_pod_and_namespace_selector_in_one_peer_are_anded),
        cmocka_unit_test(test_k8s_ip_block_with_except_becomes_net_sets),
        cmocka_unit_test(test_k8s_ports_group_by_protocol_with_ranges),
        cmocka_unit_test(test_k8s_named_port_is_resolved_per_destination_pod),
        cmocka_unit_test(test_k8s_egress_named_port_uses_the_peer_selector),
        cmocka_unit_test(test_k8s_empty_rule_admits_every_peer_and_port),
        cmocka_unit_test(test_calico_order_puts_deny_before_allow),
        cmocka_unit_test(test_deny_rule_is_logged_then_dropped_and_its_id_maps_back),
        cmocka_unit_test(test_calico_rule_features_compile),
        cmocka_unit_test(test_nets_of_one_family_keep_the_rule_to_it),
        cmocka_unit_test(test_global_policy_rule_selector_spans_namespaces),
        cmocka_unit_test(test_endpoints_of_one_policy_share_its_set),
        cmocka_unit_test(test_pods_change_page_sets_not_rules),
        cmocka_unit_test(test_dispatch_is_cut_into_pages),
        cmocka_unit_test(test_a_load_settled_once_equals_one_settled_each_time),
        cmocka_unit_test(test_selected_set_follows_the_policies_sharing_a_selector),
        cmocka_unit_test(test_tiers_run_in_tier_order),
        cmocka_unit_test(test_profile_rules_run_after_the_tiers),
        cmocka_unit_test(test_tier_applies_only_to_workloads_its_policies_select),
        cmocka_unit_test(test_unstored_tier_runs_last_and_goes_with_its_policies),
        cmocka_unit_test(test_policy_order_change_rewrites_only_the_dispatch),
        cmocka_unit_test(test_the_table_does_not_depend_on_the_order_of_events),
        cmocka_unit_test(test_new_pod_changes_only_set_elements),
        cmocka_unit_test(test_relabel_moves_the_address_between_sets),
        cmocka_unit_test(test_removing_everything_leaves_the_frame),
        cmocka_unit_test(test_policy_change_rewrites_only_its_chain),
        cmocka_unit_test(test_namespace_name_label_is_always_there),
        cmocka_unit_test(test_global_policy_namespace_selector_scopes_where_it_applies),
        cmocka_unit_test(test_service_account_names_become_a_selector),
        cmocka_unit_test(test_destination_service_matches_its_endpoints_and_ports),
        cmocka_unit_test(test_service_follows_its_endpoint_slices_by_elements),
        cmocka_unit_test(test_source_service_matches_its_endpoints_addresses),
        cmocka_unit_test(test_service_sets_go_with_their_last_rule),
        cmocka_unit_test(test_dropping_a_direction_deletes_its_chain),
        cmocka_unit_test(test_two_endpoints_sharing_an_address_keep_it_until_both_go),
        cmocka_unit_test(test_endpoint_moving_to_another_node_loses_its_chains),
        cmocka_unit_test(test_namespace_labels_removed_leave_the_set),
        cmocka_unit_test(test_nat_outgoing_masquerades_pool_traffic_leaving_all_pools),
        cmocka_unit_test(test_nat_outgoing_address_snats_ipv4_to_it),
        cmocka_unit_test(test_nat_pool_change_moves_set_elements_only),
        cmocka_unit_test(test_nat_without_masquerading_pools_removes_chain_and_sets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
