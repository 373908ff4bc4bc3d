/* test_calc_host.c — host endpoints read as nft text: the output hook, the dispatch to a
 * named endpoint's chains, failsafe ports first (Calico's defaults, or the node's merged
 * settings), policies selected by the endpoint's labels in Calico's order and tiers, its
 * profiles, the default drop, and defaultEndpointToHostAction for a pod's packets to its node. */
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
#include "hep_fixture.h"
#include "calc_host.h"

static const char *const other_node =
    "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
    "metadata: {name: node-b-eth0, labels: {role: edge}}\n"
    "spec: {node: node-b, interfaceName: eth0, expectedIPs: [192.0.2.11]}\n";

static const char *const allow_http =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
    "metadata: {name: edge-http}\n"
    "spec:\n  selector: role == 'edge'\n  order: 10\n  types: [Ingress]\n  ingress:\n"
    "  - action: Allow\n    protocol: TCP\n    destination: {ports: [80]}\n";

static void test_empty_calc_has_output_hook_and_failsafe_chains(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = dump(c);

    (void)state;
    /* a held workload (calc_spoof.c) gets nothing from the node either */
    assert_has(t, "chain output-hook {\n\t\ttype filter hook output priority 0; policy accept;\n"
                  "\t\toifname @from-wl-src-held limit rate 50/second burst 100 packets log "
                  "prefix \"tby-deny:7886dcd0630c\" group 7001\n"
                  "\t\toifname @from-wl-src-held counter drop comment \"allowSpoofedSourcePrefixes "
                  "without workloadSourceSpoofing Any\"\n"
                  "\t\tct state established,related accept\n"
                  "\t\toifname @local-wl accept\n\t\tjump host-out\n\t}");
    assert_has(t, "icmpv6 type 136 accept\n\t\tiifname @from-wl-selected jump from-wl\n"
                  "\t\tjump host-in\n\t}");
    /* Calico's default: a pod's packet to its own node is dropped */
    assert_has(t, "chain host-in {\n\t\tiifname @local-wl drop comment "
                  "\"defaultEndpointToHostAction Drop\"\n\t}");
    assert_has(t, "chain host-out {\n\t}");
    assert_has(t, "chain failsafe-in {\n\t\tmeta l4proto tcp th dport 22 accept comment "
                  "\"failsafe ingress TCP 22\"\n");
    assert_has(t, "meta l4proto udp th dport 68 accept");
    assert_has(t, "meta l4proto tcp th dport 6667 accept comment \"failsafe ingress TCP 6667\"\n"
                  "\t}");
    assert_has(t, "chain failsafe-out {\n\t\tmeta l4proto udp th dport 53 accept comment "
                  "\"failsafe egress UDP 53\"\n");
    assert_has(t, "meta l4proto udp th dport 67 accept comment \"failsafe egress UDP 67\"");
}

static void test_named_endpoint_without_policy_drops_all_but_failsafe(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, other_node, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    assert_has(t, "set hif-eth0 { type ifname; comment \"a host endpoint's interface\"; "
                  "elements = { \"eth0\" }; }");
    assert_has(t, "chain host-in {\n\t\tiifname @local-wl drop comment "
                  "\"defaultEndpointToHostAction Drop\"\n\t\tiifname @hif-eth0 goto hin-if-eth0\n"
                  "\t}");
    assert_has(t, "chain host-out {\n\t\toifname @hif-eth0 goto hout-if-eth0\n\t}");
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n");
    assert_has(t, "counter drop comment \"host endpoint eth0: no ingress policy or profile "
                  "allowed it\"\n\t}");
    assert_has(t, "chain hout-if-eth0 {\n\t\tjump failsafe-out\n");
    assert_has(t, "counter drop comment \"host endpoint eth0: no egress policy or profile "
                  "allowed it\"\n\t}");
    /* the workload dispatch never sees a host endpoint */
    assert_lacks(t, "local-wl { type ifname; elements");
}

static void test_policy_selecting_endpoint_labels_runs_in_its_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, allow_http, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/edge-http\n"
                  "\t\tmeta mark & 0x00010000 != 0 accept\n");
    assert_has(t, "counter drop comment \"host endpoint eth0 tier default: default deny: no "
                  "ingress policy allowed or passed it\"\n");
    /* an ingress policy says nothing of egress */
    assert_has(t, "chain hout-if-eth0 {\n\t\tjump failsafe-out\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tlimit rate");
    /* the endpoint's expectedIPs are its addresses for rule selectors */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: to-edge}\n"
             "spec:\n  selector: app == 'x'\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    destination: {selector: role == 'edge'}\n");
    free(t);
    t = dump(c);
    assert_has(t, "elements = { 192.0.2.10 }");
    /* the policy stops selecting it: its chain has no tier left */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: node-a-eth0, labels: {role: core}}\n"
             "spec: {node: node-a, interfaceName: eth0}\n");
    free(t);
    t = dump(c);
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tlimit rate");
}

static void test_namespaced_policy_never_selects_a_host_endpoint(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, NULL);
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: np, namespace: default}\n"
             "spec:\n  selector: all()\n  types: [Ingress]\n  ingress:\n  - action: Allow\n");
    t = dump(c);
    /* (the workload dispatch runs it; the host endpoint's chain has no policy) */
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tlimit rate");
}

static void test_tiers_order_and_pass_apply_to_host_endpoints(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, NULL);
    _cleanup_free_ char *t = NULL;
    const char *sec, *def;

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\n"
             "spec: {order: 100, defaultAction: Pass}\n");
    apply(c, allow_http);
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: security.block}\n"
             "spec:\n  tier: security\n  selector: has(role)\n  types: [Ingress]\n  ingress:\n"
             "  - action: Deny\n    protocol: TCP\n    destination: {ports: [23]}\n");
    t = dump(c);
    sec = strstr(t, "jump pi-gnp/security.block");
    def = strstr(t, "jump pi-gnp/edge-http");
    assert_non_null(sec);
    assert_non_null(def);
    assert_true(sec < def);
    /* security's defaultAction Pass: no drop at its end */
    assert_lacks(t, "tier security: default deny");
    assert_has(t, "tier default: default deny");
}

static void test_profiles_decide_after_the_tiers(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: open-ssh}\n"
             "spec:\n  ingress:\n  - action: Allow\n  egress:\n  - action: Allow\n");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: node-a-eth1}\n"
             "spec: {node: node-a, interfaceName: eth1, profiles: [open-ssh, unknown]}\n");
    t = dump(c);
    assert_has(t, "chain hin-if-eth1 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tjump pi-pr/open-ssh\n"
                  "\t\tmeta mark & 0x00010000 != 0 accept\n");
    assert_has(t, "chain hout-if-eth1 {\n\t\tjump failsafe-out\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tjump po-pr/open-ssh\n");
    /* a profile nothing stored says nothing */
    assert_lacks(t, "pr-unknown");
}

/* The node's merged settings (tabby-node's felix part merges the layers: test_node_felix)
 * decide; a FelixConfiguration the calculation meets changes nothing by itself. */
static void test_host_config_sets_failsafe_ports_and_endpoint_to_host(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    const struct tby_felix_port out[] = { { .protocol = TBY_PROTO_UDP, .port = 53 } };
    const struct tby_felix_port in[] = { { .protocol = TBY_PROTO_TCP, .port = 2222 } };
    struct tby_calc_host_config cfg = { .to_host = TBY_FELIX_TO_HOST_RETURN,
                                        .failsafe = { NULL, out }, .n_failsafe = { 0, 1 } };

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\n"
             "metadata: {name: default}\n"
             "spec:\n  defaultEndpointToHostAction: Accept\n  failsafeInboundHostPorts: []\n");
    t = dump(c);
    assert_has(t, "iifname @local-wl drop comment \"defaultEndpointToHostAction Drop\"");
    assert_has(t, "chain failsafe-in {\n\t\tmeta l4proto tcp th dport 22 accept");
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
    free(t);
    t = dump(c);
    assert_has(t, "iifname @local-wl accept comment \"defaultEndpointToHostAction Return\"");
    assert_has(t, "chain failsafe-in {\n\t}");
    assert_has(t, "chain failsafe-out {\n\t\tmeta l4proto udp th dport 53 accept comment "
                  "\"failsafe egress UDP 53\"\n\t}");
    cfg = (struct tby_calc_host_config){ .to_host = TBY_FELIX_TO_HOST_ACCEPT,
                                         .failsafe = { in, NULL }, .n_failsafe = { 1, 0 } };
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
    free(t);
    t = dump(c);
    assert_has(t, "iifname @local-wl accept comment \"defaultEndpointToHostAction Accept\"");
    assert_has(t, "chain failsafe-in {\n\t\tmeta l4proto tcp th dport 2222 accept comment "
                  "\"failsafe ingress TCP 2222\"\n\t}");
    assert_has(t, "chain failsafe-out {\n\t}");
}

/* A failsafe port with a net, as Calico's: only for peers in it (the source coming in, the
 * destination going out), of its family; the net's set goes with the last port using it. */
static void test_failsafe_net_narrows_to_its_peers(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    struct tby_felix_port in[2] = { { .protocol = TBY_PROTO_TCP, .port = 22, .has_net = true },
                                    { .protocol = TBY_PROTO_TCP, .port = 22, .has_net = true } };
    struct tby_felix_port out[1] = { { .protocol = TBY_PROTO_UDP, .port = 53, .has_net = true } };
    struct tby_calc_host_config cfg = { .to_host = TBY_FELIX_TO_HOST_DROP,
                                        .failsafe = { in, out }, .n_failsafe = { 2, 1 } };

    (void)state;
    assert_int_equal(tby_cidr_parse("10.0.0.0/8", TBY_CIDR_MASK, &in[0].net, NULL), 0);
    assert_int_equal(tby_cidr_parse("fd00::/8", TBY_CIDR_MASK, &in[1].net, NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.0.0/8", TBY_CIDR_MASK, &out[0].net, NULL), 0);
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
    t = dump(c);
    assert_has(t, "set fs-net-de397af726172e5c { type ipv4_addr; flags interval; comment \"a "
                  "failsafe port's net\"; elements = { 10.0.0.0-10.255.255.255 }; }");
    assert_has(t, "elements = { fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff }; }");
    assert_has(t, "chain failsafe-in {\n\t\tmeta nfproto ipv4 meta l4proto tcp th dport 22 "
                  "ip saddr @fs-net-de397af726172e5c accept comment \"failsafe ingress TCP 22 "
                  "from 10.0.0.0/8\"\n\t\tmeta nfproto ipv6 meta l4proto tcp th dport 22 "
                  "ip6 saddr @fs-net-92e97201b78c60f9 accept comment \"failsafe ingress TCP 22 "
                  "from fd00::/8\"\n\t}");
    assert_has(t, "chain failsafe-out {\n\t\tmeta nfproto ipv4 meta l4proto udp th dport 53 "
                  "ip daddr @fs-net-de397af726172e5c accept comment \"failsafe egress UDP 53 "
                  "to 10.0.0.0/8\"\n\t}");
    /* the IPv6 net gone, the IPv4 one still used going out; then none */
    cfg.n_failsafe[0] = 0; /* inbound */
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
    free(t);
    t = dump(c);
    assert_lacks(t, "fs-net-92e97201b78c60f9");
    assert_has(t, "set fs-net-de397af726172e5c {");
    assert_has(t, "chain failsafe-in {\n\t}");
    out[0].has_net = false;
    assert_int_equal(tby_calc_set_host_config(c, &cfg), 0);
    free(t);
    t = dump(c);
    assert_lacks(t, "fs-net");
    assert_has(t, "chain failsafe-out {\n\t\tmeta l4proto udp th dport 53 accept comment "
                  "\"failsafe egress UDP 53\"\n\t}");
}

/* A host endpoint without interfaceName governs each interface holding one of its
 * expectedIPs, following the addresses; of two on one interface, the first by name, as
 * Felix's. */
static void test_endpoint_by_expected_ips_follows_the_addresses(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;
    struct tby_host_addr addrs[2] = { { .ifname = "eth0" }, { .ifname = "lo" } };
    static const char *const a_eth1 = "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
                                      "metadata: {name: a-eth1}\n"
                                      "spec: {node: node-a, interfaceName: eth1}\n";

    (void)state;
    assert_int_equal(tby_ip_parse("192.0.2.10", &addrs[0].ip, NULL), 0);
    assert_int_equal(tby_ip_parse("127.0.0.1", &addrs[1].ip, NULL), 0);
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: by-ip, labels: {role: edge}}\n"
             "spec: {node: node-a, expectedIPs: [192.0.2.10]}\n");
    apply(c, allow_http);
    /* its address on no interface yet: it governs none */
    t = dump(c);
    assert_has(t, "chain host-in {\n\t\tiifname @local-wl drop comment "
                  "\"defaultEndpointToHostAction Drop\"\n\t}");
    assert_lacks(t, "hifa-");
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 2), 0);
    free(t);
    t = dump(c);
    assert_has(t, "set hifa-d360ee8a194cb49b { type ifname; comment \"the interfaces holding a "
                  "host endpoint's expectedIPs\"; elements = { \"eth0\" }; }");
    assert_has(t, "\t\tiifname @hifa-d360ee8a194cb49b goto hin-a-d360ee8a194cb49b\n\t}");
    assert_has(t, "chain host-out {\n\t\toifname @hifa-d360ee8a194cb49b goto "
                  "hout-a-d360ee8a194cb49b\n\t}");
    assert_has(t, "chain hin-a-d360ee8a194cb49b {\n\t\tjump failsafe-in\n");
    assert_has(t, "jump pi-gnp/edge-http");
    assert_has(t, "counter drop comment \"host endpoint by-ip: no ingress policy or profile "
                  "allowed it\"");
    /* an endpoint naming eth0 too: by-ip comes first by name and keeps it */
    apply(c, eth0);
    free(t);
    t = dump(c);
    assert_lacks(t, "hif-eth0");
    assert_has(t, "\t\tiifname @hifa-d360ee8a194cb49b goto hin-a-d360ee8a194cb49b\n\t}");
    /* the address moves to eth1: by-ip follows it, node-a-eth0 takes eth0 */
    snprintf(addrs[0].ifname, sizeof(addrs[0].ifname), "eth1");
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 2), 0);
    free(t);
    t = dump(c);
    assert_has(t, "expectedIPs\"; elements = { \"eth1\" }; }");
    assert_has(t, "set hif-eth0 {");
    assert_has(t, "\t\tiifname @hifa-d360ee8a194cb49b goto hin-a-d360ee8a194cb49b\n"
                  "\t\tiifname @hif-eth0 goto hin-if-eth0\n\t}");
    /* a-eth1 names eth1 and comes first by name: it takes eth1, by-ip governs none */
    apply(c, a_eth1);
    free(t);
    t = dump(c);
    assert_lacks(t, "hifa-");
    assert_lacks(t, "hin-a-");
    assert_has(t, "\t\tiifname @hif-eth1 goto hin-if-eth1\n"
                  "\t\tiifname @hif-eth0 goto hin-if-eth0\n\t}");
    delete(c, a_eth1);
    free(t);
    t = dump(c);
    assert_has(t, "expectedIPs\"; elements = { \"eth1\" }; }");
    assert_lacks(t, "hif-eth1");
    /* gone from every interface: its chains and set go */
    assert_int_equal(tby_calc_set_host_addrs(c, addrs + 1, 1), 0);
    free(t);
    t = dump(c);
    assert_lacks(t, "hifa-");
    assert_lacks(t, "hin-a-");
    assert_has(t, "\t\tiifname @hif-eth0 goto hin-if-eth0\n\t}");
}

/* The table, and the journal of what changed since the last look (as if programmed). */
static void look(struct tby_calc *c, char **t, char **j)
{
    free(*j);
    *j = journal(c);
    free(*t);
    *t = dump(c);
    tby_rs_journal_done(tby_calc_ruleset(c));
}

static const char *const chain_kinds[] = { "hin", "hout", "hfi", "hfo", "hrin", "hrout", "hpre" };

/* Each kind's chain <kind><rest> in text after what (a prefix such as "delete chain inet
 * tabby "), or none of them. */
static void assert_every_kind(const char *text, const char *what, const char *rest, bool has)
{
    char piece[96];

    for (size_t k = 0; k < TBY_ARRAY_SIZE(chain_kinds); k++) {
        snprintf(piece, sizeof(piece), "%s%s%s", what, chain_kinds[k], rest);
        if (has)
            assert_has(text, piece);
        else
            assert_lacks(text, piece);
    }
}

/* The resolution decides the chains on every change: a named endpoint that loses its
 * interface to one found by expectedIPs (first by name) loses its chains of every kind
 * and its set in the same change (one journal), and gets them back when the address
 * leaves; one found by expectedIPs loses its own to a named one first by name. */
static void test_endpoint_losing_its_interface_loses_its_chains(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;
    struct tby_host_addr addrs[1] = { { .ifname = "eth0" } };
    static const char *const a_ips = "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
                                     "metadata: {name: a-ips, labels: {role: edge}}\n"
                                     "spec: {node: node-a, expectedIPs: [192.0.2.10]}\n";
    static const char *const every_kind =
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
        "metadata: {name: edge-untracked}\n"
        "spec: {selector: role == 'edge', doNotTrack: true, applyOnForward: true,\n"
        "       types: [Ingress, Egress], ingress: [{action: Allow}], egress: [{action: Allow}]}\n"
        "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
        "metadata: {name: edge-pre}\n"
        "spec: {selector: role == 'edge', preDNAT: true, applyOnForward: true,\n"
        "       types: [Ingress], ingress: [{action: Allow}]}\n"
        "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
        "metadata: {name: edge-forward}\n"
        "spec: {selector: role == 'edge', applyOnForward: true,\n"
        "       types: [Ingress, Egress], ingress: [{action: Allow}], egress: [{action: Allow}]}\n";

    (void)state;
    assert_int_equal(tby_ip_parse("192.0.2.10", &addrs[0].ip, NULL), 0);
    apply(c, eth0);
    apply(c, a_ips);
    apply(c, allow_http);
    apply(c, every_kind);
    look(c, &t, &j);
    assert_every_kind(t, "chain ", "-if-eth0 {", true);
    assert_has(t, "set hif-eth0 {");
    assert_lacks(t, "-a-");
    /* eth0 comes to hold a-ips' address: a-ips comes first by name and governs it */
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 1), 0);
    look(c, &t, &j);
    assert_lacks(t, "-if-eth0");
    assert_lacks(t, "hif-eth0");
    assert_has(t, "\t\tiifname @hifa-");
    assert_every_kind(j, "delete chain inet tabby ", "-if-eth0", true);
    assert_every_kind(t, "chain ", "-a-", true);
    assert_has(j, "delete set inet tabby hif-eth0");
    /* the address leaves: node-a-eth0 governs eth0 again, a-ips' chains go */
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 0), 0);
    look(c, &t, &j);
    assert_has(t, "\t\tiifname @hif-eth0 goto hin-if-eth0\n\t}");
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n");
    assert_lacks(t, "-a-");
    assert_lacks(t, "hifa-");
    assert_every_kind(j, "delete chain inet tabby ", "-a-", true);
    /* vice versa: a-ips governs eth0 again, then an endpoint naming eth0 and first by name
     * comes: a-ips' chains go in that change */
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 1), 0);
    delete(c, eth0);
    look(c, &t, &j);
    assert_has(t, "chain hin-a-");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: 0-eth0, labels: {role: edge}}\n"
             "spec: {node: node-a, interfaceName: eth0}\n");
    look(c, &t, &j);
    assert_lacks(t, "-a-");
    assert_lacks(t, "hifa-");
    assert_has(t, "\t\tiifname @hif-eth0 goto hin-if-eth0\n\t}");
    assert_every_kind(j, "delete chain inet tabby ", "-a-", true);
}

/* HostEndpoint "moving" with spec (flow YAML's inside), applied. */
static void apply_moving(struct tby_calc *c, const char *spec)
{
    char text[512];

    snprintf(text, sizeof(text), "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: moving}\nspec: {node: node-a, %s}\n", spec);
    apply(c, text);
}

/* An endpoint changed in place follows the resolution too: its expectedIPs leaving the
 * interface's addresses, or its interfaceName coming or going, takes its old chains away
 * in that change. */
static void test_endpoint_changed_in_place_follows_the_resolution(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL;
    struct tby_host_addr addrs[1] = { { .ifname = "eth0" } };

    (void)state;
    assert_int_equal(tby_ip_parse("192.0.2.10", &addrs[0].ip, NULL), 0);
    assert_int_equal(tby_calc_set_host_addrs(c, addrs, 1), 0);
    apply_moving(c, "expectedIPs: [192.0.2.10]");
    look(c, &t, &j);
    assert_has(t, "chain hin-a-");
    /* its expectedIPs no longer on any interface */
    apply_moving(c, "expectedIPs: [192.0.2.99]");
    look(c, &t, &j);
    assert_lacks(t, "-a-");
    assert_lacks(t, "hifa-");
    assert_has(j, "delete chain inet tabby hin-a-");
    /* back on eth0, then named for eth1: the chains of eth1 only */
    apply_moving(c, "expectedIPs: [192.0.2.10]");
    look(c, &t, &j);
    assert_has(t, "chain hin-a-");
    apply_moving(c, "interfaceName: eth1, expectedIPs: [192.0.2.10]");
    look(c, &t, &j);
    assert_lacks(t, "-a-");
    assert_lacks(t, "hifa-");
    assert_has(t, "\t\tiifname @hif-eth1 goto hin-if-eth1\n\t}");
    assert_has(j, "delete chain inet tabby hin-a-");
    /* and by its addresses again: eth1's chains go */
    apply_moving(c, "expectedIPs: [192.0.2.10]");
    look(c, &t, &j);
    assert_lacks(t, "eth1");
    assert_has(t, "\t\tiifname @hifa-");
    assert_has(j, "delete chain inet tabby hin-if-eth1");
}

static void test_two_endpoints_on_one_interface_use_one_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, NULL);
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: node-a-eth0-bis}\n"
             "spec: {node: node-a, interfaceName: eth0}\n");
    delete(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
              "metadata: {name: node-a-eth0-bis}\n"
              "spec: {node: node-a, interfaceName: eth0}\n");
    t = dump(c);
    assert_has(t, "iifname @hif-eth0 goto hin-if-eth0\n\t}");
    assert_has(t, "chain hin-if-eth0 {");
    delete(c, eth0);
    free(t);
    t = dump(c);
    assert_lacks(t, "hin-if-eth0");
    assert_lacks(t, "hif-eth0");
}

/* An all-interfaces endpoint takes every interface no named endpoint takes, after them;
 * a pod's packets to its node and the node's to its pods are not its. */
static void test_all_interfaces_endpoint_takes_the_other_interfaces(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, any_iface, allow_http, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    assert_has(t, "chain host-in {\n\t\tiifname @local-wl drop comment "
                  "\"defaultEndpointToHostAction Drop\"\n\t\tiifname @hif-eth0 goto hin-if-eth0\n"
                  "\t\tgoto hin-any\n\t}");
    assert_has(t, "chain host-out {\n\t\toifname @hif-eth0 goto hout-if-eth0\n"
                  "\t\tgoto hout-any\n\t}");
    assert_has(t, "chain hin-any {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/edge-http\n");
    assert_has(t, "counter drop comment \"host endpoint *: no ingress policy or profile "
                  "allowed it\"");
    assert_lacks(t, "hif-*");
}

/* applyOnForward policies also run for forwarded traffic coming in (iifname) or going out
 * (oifname) by the endpoint, before and after the workloads' dispatch; an Allow there
 * returns (the rest of the forward hook decides), none lets the packet by. */
static void test_apply_on_forward_runs_in_the_forward_hook(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, allow_http, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    assert_has(t, "chain host-fwd-in {\n\t}");
    assert_has(t, "icmpv6 type 136 accept\n\t\tiifname @from-wl-selected jump from-wl\n"
                  "\t\tjump host-in\n\t}");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: edge-fwd}\n"
             "spec:\n  selector: role == 'edge'\n  applyOnForward: true\n  types: [Ingress]\n"
             "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [443]}\n");
    free(t);
    t = dump(c);
    assert_has(t, "chain host-fwd-in {\n\t\tiifname @hif-eth0 goto hfi-if-eth0\n\t}");
    assert_has(t, "chain host-fwd-out {\n\t}");
    assert_has(t, "chain hfi-if-eth0 {\n\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/edge-fwd\n"
                  "\t\tmeta mark & 0x00010000 != 0 return\n");
    assert_has(t, "counter drop comment \"host endpoint eth0 forward tier default: default "
                  "deny: no ingress policy allowed or passed it\"\n\t}");
    /* the node's own traffic: both policies */
    assert_has(t, "jump pi-gnp/edge-http\n\t\tmeta mark & 0x00010000 != 0 accept\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/edge-fwd\n");
    /* no longer forwarded: the chain goes */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: edge-fwd}\n"
             "spec:\n  selector: role == 'edge'\n  types: [Ingress]\n"
             "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [443]}\n");
    free(t);
    t = dump(c);
    assert_has(t, "chain host-fwd-in {\n\t}");
    assert_lacks(t, "hfi-if-eth0");
}

/* preDNAT policies run before DNAT in prerouting-hook, for the endpoint a packet comes in
 * by, after the failsafe ports: Allow goes on to normal policy (accept in this hook
 * only), Deny drops, nothing decided goes on; never for workloads. */
static void test_pre_dnat_runs_in_prerouting_for_host_endpoints_only(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    t = dump(c);
    assert_has(t, "chain prerouting-hook {\n\t\ttype filter hook prerouting priority -110; "
                  "policy accept;\n\t\tct state established,related accept\n"
                  "\t\tiifname @local-wl return\n\t\tjump host-pre\n\t}");
    apply(c, eth0);
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: pre}\n"
             "spec:\n  selector: role == 'edge'\n  preDNAT: true\n  applyOnForward: true\n"
             "  order: 5\n  ingress:\n  - action: Deny\n    protocol: TCP\n"
             "    destination: {ports: [8080]}\n");
    free(t);
    t = dump(c);
    assert_has(t, "chain host-pre {\n\t\tiifname @hif-eth0 goto hpre-if-eth0\n\t}");
    assert_has(t, "chain hpre-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/pre\n"
                  "\t\tmeta mark & 0x00010000 != 0 accept\n\t}");
    /* not in the endpoint's normal chain, nor in the workloads' dispatch */
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tlimit rate");
    assert_lacks(t, "to-wl-tier-default");
    assert_has(t, "chain host-fwd-in {\n\t}");
}

/* A host endpoint's named ports (spec.ports: name, protocol, port) are what a rule naming
 * the port matches on its expectedIPs, as a workload's named ports are. */
static void test_host_endpoint_named_ports(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: node-b-eth0, labels: {role: edge}}\n"
             "spec:\n  node: node-b\n  interfaceName: eth0\n  expectedIPs: [192.0.2.11]\n"
             "  ports:\n  - {name: admin, protocol: TCP, port: 2222}\n");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: to-admin}\n"
             "spec:\n  selector: app == 'x'\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    protocol: TCP\n"
             "    destination: {selector: role == 'edge', ports: [admin]}\n");
    t = dump(c);
    assert_has(t, "elements = { 192.0.2.11 . 6 . 2222 }");
}

/* ---- calc_host_resolve on its own ------------------------------------------------------ */

/* A host endpoint as the index holds it: name, interfaceName ("" none, "*"), one address. */
static struct calc_ep resolve_ep(const char *name, const char *iface, const char *ip,
                                 struct tby_ip *addr)
{
    struct calc_ep ep = { .local = true, .host_name = (char *)name,
                          .host_iface = (char *)iface };

    if (ip) {
        assert_int_equal(tby_ip_parse(ip, addr, NULL), 0);
        ep.addrs = addr;
        ep.n_addrs = 1;
    }
    return ep;
}

static struct tby_host_addr host_addr(const char *ifname, const char *ip)
{
    struct tby_host_addr a = { 0 };

    snprintf(a.ifname, sizeof(a.ifname), "%s", ifname);
    assert_int_equal(tby_ip_parse(ip, &a.ip, NULL), 0);
    return a;
}

/* won[i] as "if1,if2" (static). */
static const char *won_text(const struct tby_strv *won)
{
    static char text[128];
    size_t len = 0;

    text[0] = 0;
    for (size_t i = 0; i < won->n; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", i ? "," : "",
                                won->items[i]);
    return text;
}

/* As Felix's endpoint manager: of the endpoints claiming one interface, by its name or by
 * an address it holds, the first by name governs it, whichever way each claims it; one
 * naming another interface never claims this one by address. */
static void test_resolve_first_name_wins_named_or_by_address(void **state)
{
    struct tby_ip ip[4];
    struct tby_host_addr addrs[] = { host_addr("eth0", "192.0.2.10"),
                                     host_addr("eth1", "198.51.100.1") };
    struct calc_ep eps[] = {
        resolve_ep("a-by-ip", "", "192.0.2.10", &ip[0]),       /* eth0, by address */
        resolve_ep("b-eth0", "eth0", NULL, &ip[1]),            /* eth0, by name */
        resolve_ep("c-eth1", "eth1", NULL, &ip[2]),            /* eth1, by name */
        resolve_ep("d-by-ip", "", "198.51.100.1", &ip[3]),     /* eth1, by address */
    };
    const struct calc_ep *v[] = { &eps[3], &eps[1], &eps[0], &eps[2] }; /* any order */
    struct tby_strv won[4] = { 0 };

    (void)state;
    assert_int_equal(calc_host_resolve(v, 4, addrs, 2, won), 0);
    assert_string_equal(won_text(&won[2]), "eth0"); /* a-by-ip before b-eth0 */
    assert_string_equal(won_text(&won[1]), "");
    assert_string_equal(won_text(&won[3]), "eth1"); /* c-eth1 before d-by-ip */
    assert_string_equal(won_text(&won[0]), "");
    for (size_t i = 0; i < 4; i++)
        tby_strv_clear(&won[i]);
}

/* The loopback is an interface like any other (Felix excludes only workload interfaces
 * and interfaceExclude's): an endpoint expecting 127.0.0.1 governs lo; one whose
 * addresses are on two interfaces governs both; the all-interfaces endpoint none. */
static void test_resolve_loopback_and_several_interfaces(void **state)
{
    struct tby_ip ip[3];
    struct tby_host_addr addrs[] = { host_addr("eth0", "192.0.2.10"),
                                     host_addr("eth1", "192.0.2.10"),
                                     host_addr("lo", "127.0.0.1") };
    struct calc_ep eps[] = {
        resolve_ep("lo-ep", "", "127.0.0.1", &ip[0]),
        resolve_ep("twice", "", "192.0.2.10", &ip[1]),
        resolve_ep("all", "*", NULL, &ip[2]),
    };
    const struct calc_ep *v[] = { &eps[0], &eps[1], &eps[2] };
    struct tby_strv won[3] = { 0 };

    (void)state;
    assert_int_equal(calc_host_resolve(v, 3, addrs, 3, won), 0);
    assert_string_equal(won_text(&won[0]), "lo");
    assert_string_equal(won_text(&won[1]), "eth0,eth1");
    assert_string_equal(won_text(&won[2]), "");
    for (size_t i = 0; i < 3; i++)
        tby_strv_clear(&won[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_calc_has_output_hook_and_failsafe_chains),
        cmocka_unit_test(test_named_endpoint_without_policy_drops_all_but_failsafe),
        cmocka_unit_test(test_policy_selecting_endpoint_labels_runs_in_its_chain),
        cmocka_unit_test(test_namespaced_policy_never_selects_a_host_endpoint),
        cmocka_unit_test(test_tiers_order_and_pass_apply_to_host_endpoints),
        cmocka_unit_test(test_profiles_decide_after_the_tiers),
        cmocka_unit_test(test_host_config_sets_failsafe_ports_and_endpoint_to_host),
        cmocka_unit_test(test_failsafe_net_narrows_to_its_peers),
        cmocka_unit_test(test_endpoint_by_expected_ips_follows_the_addresses),
        cmocka_unit_test(test_endpoint_losing_its_interface_loses_its_chains),
        cmocka_unit_test(test_endpoint_changed_in_place_follows_the_resolution),
        cmocka_unit_test(test_two_endpoints_on_one_interface_use_one_chain),
        cmocka_unit_test(test_resolve_first_name_wins_named_or_by_address),
        cmocka_unit_test(test_resolve_loopback_and_several_interfaces),
        cmocka_unit_test(test_all_interfaces_endpoint_takes_the_other_interfaces),
        cmocka_unit_test(test_apply_on_forward_runs_in_the_forward_hook),
        cmocka_unit_test(test_pre_dnat_runs_in_prerouting_for_host_endpoints_only),
        cmocka_unit_test(test_host_endpoint_named_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
