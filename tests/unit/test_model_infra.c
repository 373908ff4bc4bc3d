/* test_model_infra.c — BGPConfiguration, BGPPeer, Node, WorkloadEndpoint and HostEndpoint:
 * documents as Calico users write them decode, default, encode in normal form and read
 * back equal; every rule refuses what it should with a message naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "tabby/validate.h"
#include "resource_assert.h"

#define V3 "apiVersion: projectcalico.org/v3\n"

/* ---- helpers --------------------------------------------------------------------------- */

static void list_clearp(struct tby_resource_list *list)
{
    tby_resource_list_clear(list);
}

/* The one resource of a YAML text, after proving it round-trips; caller frees. */
static struct tby_resource *load_checked(const char *yaml)
{
    struct tby_resource *res = load_one(yaml);

    assert_round_trip(res);
    return res;
}

/* The encoded spec (a new reference). */
static json_t *encoded_spec(const struct tby_resource *res)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);

    return json_incref(json_object_get(doc, "spec"));
}

static void assert_spec_string(const struct tby_resource *res, const char *path,
                               const char *want)
{
    _cleanup_json_ json_t *spec = encoded_spec(res);
    const json_t *v = spec;
    char buf[128], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(part)) : json_object_get(v, part);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("spec.%s is not \"%s\"", path, want);
}

static json_int_t spec_int(const struct tby_resource *res, const char *field)
{
    _cleanup_json_ json_t *spec = encoded_spec(res);
    const json_t *v = json_object_get(spec, field);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static bool spec_has(const struct tby_resource *res, const char *field)
{
    _cleanup_json_ json_t *spec = encoded_spec(res);

    return json_object_get(spec, field) != NULL;
}

static void load_file_round_trip(const char *name, enum tby_kind kind)
{
    _cleanup_(list_clearp) struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };
    char path[512];

    snprintf(path, sizeof(path), "%s/examples/%s", TOP_SRCDIR, name);
    if (tby_resource_load_file(path, &list, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    assert_int_equal(list.n, 1);
    assert_int_equal(list.items[0]->info->kind, kind);
    assert_round_trip(list.items[0]);
}

#define BGPCONFIG(name, spec) \
    V3 "kind: BGPConfiguration\nmetadata:\n  name: " name "\nspec:\n" spec
#define PEER(spec) V3 "kind: BGPPeer\nmetadata:\n  name: p\nspec:\n" spec
#define NODE(spec) V3 "kind: Node\nmetadata:\n  name: node1\nspec:\n" spec
#define WEP(spec) V3 "kind: WorkloadEndpoint\nmetadata:\n  name: node1-k8s-pod-eth0\n" \
                     "  namespace: prod\nspec:\n" spec
#define HEP(spec) V3 "kind: HostEndpoint\nmetadata:\n  name: node1-eth0\nspec:\n" spec

/* ---- BGPConfiguration ------------------------------------------------------------------ */

static void test_examples_round_trip(void **state)
{
    load_file_round_trip("bgpconfig.yaml", TBY_KIND_BGPCONFIG);
    load_file_round_trip("bgppeer-tor.yaml", TBY_KIND_BGPPEER);
    load_file_round_trip("bgpfilter.yaml", TBY_KIND_BGPFILTER);
}

static void test_bgpconfig_default_gets_calico_defaults(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_checked(V3 "kind: BGPConfiguration\nmetadata:\n  name: default\n");
    const struct tby_bgpconfig *c = res->spec.bgpconfig;

    assert_string_equal(c->log_severity_screen, "Info");
    assert_true(c->node_to_node_mesh_enabled);
    assert_true(c->has_as_number);
    assert_int_equal(c->as_number, 64512);
    assert_int_equal(c->listen_port, 179);
    assert_null(c->bind_mode);
    assert_int_equal(spec_int(res, "asNumber"), 64512);
    assert_int_equal(spec_int(res, "listenPort"), 179);
    assert_spec_string(res, "logSeverityScreen", "Info");
    assert_true(spec_has(res, "nodeToNodeMeshEnabled"));
}

static void test_bgpconfig_per_node_inherits_instead_of_defaulting(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_checked(BGPCONFIG("node.node1", "  logSeverityScreen: Debug\n"));
    const struct tby_bgpconfig *c = res->spec.bgpconfig;

    assert_false(c->has_as_number);
    assert_int_equal(c->listen_port, 0);
    assert_false(spec_has(res, "asNumber"));
    assert_false(spec_has(res, "listenPort"));
    assert_false(spec_has(res, "nodeToNodeMeshEnabled"));
    assert_spec_string(res, "logSeverityScreen", "Debug");
}

static void test_bgpconfig_cluster_fields_only_on_default(void **state)
{
    static const char *const cases[][2] = {
        { "  nodeToNodeMeshEnabled: false\n", "spec.nodeToNodeMeshEnabled: can only be set "
                                              "on the BGPConfiguration named \"default\"" },
        { "  asNumber: 65000\n", "spec.asNumber: can only be set" },
        { "  serviceClusterIPs:\n  - cidr: 10.96.0.0/12\n", "spec.serviceClusterIPs: can only" },
        { "  serviceExternalIPs:\n  - cidr: 10.1.0.0/16\n", "spec.serviceExternalIPs: can only" },
        { "  serviceLoadBalancerIPs:\n  - cidr: 10.2.0.0/16\n",
          "spec.serviceLoadBalancerIPs: can only" },
        { "  nodeMeshPassword:\n    secretKeyRef: {name: s, key: k}\n",
          "spec.nodeMeshPassword: can only" },
        { "  nodeMeshMaxRestartTime: 120s\n", "spec.nodeMeshMaxRestartTime: can only" },
    };
    char yaml[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml), BGPCONFIG("node.node1", "%s"), cases[i][0]);
        expect_error(yaml, cases[i][1]);
    }
    /* A per-node configuration may set what is per node. */
    tby_resource_free(load_checked(BGPCONFIG("node.node1", "  listenPort: 1790\n"
                                                       "  bindMode: NodeIP\n"
                                                       "  ignoredInterfaces: [docker*]\n")));
}

static void test_bgpconfig_full_document_round_trips(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(BGPCONFIG("default",
        "  logSeverityScreen: Warning\n"
        "  nodeToNodeMeshEnabled: true\n"
        "  asNumber: 65010\n"
        "  listenPort: 1790\n"
        "  serviceClusterIPs:\n  - cidr: 10.96.0.0/12\n  - cidr: fd00:96::/112\n"
        "  serviceExternalIPs:\n  - cidr: 192.0.2.7\n"
        "  serviceLoadBalancerIPs:\n  - cidr: 198.51.100.0/24\n"
        "  communities:\n  - name: bgp-large\n    value: 4200000000:1:2\n"
        "  - name: no-export\n    value: '65535:65281'\n"
        "  prefixAdvertisements:\n  - cidr: 172.16.0.0/16\n"
        "    communities: [bgp-large, '65000:100']\n"
        "  nodeMeshPassword:\n    secretKeyRef:\n      name: bgp-secrets\n      key: mesh\n"
        "  nodeMeshMaxRestartTime: 90s\n"
        "  bindMode: NodeIP\n"
        "  ignoredInterfaces: [eth1, 'veth*']\n"));
    const struct tby_bgpconfig *c = res->spec.bgpconfig;

    assert_int_equal(c->service_cluster_ips.n, 2);
    assert_int_equal(c->service_external_ips.items[0].prefix_len, 32);
    assert_int_equal(c->n_communities, 2);
    assert_int_equal(c->n_prefix_advertisements, 1);
    assert_int_equal(c->prefix_advertisements[0].communities.n, 2);
    assert_string_equal(c->node_mesh_password->name, "bgp-secrets");
    assert_string_equal(c->node_mesh_password->key, "mesh");
    assert_int_equal(c->node_mesh_max_restart_ms, 90000);
    assert_string_equal(c->bind_mode, "NodeIP");
    assert_int_equal(c->ignored_interfaces.n, 2);
    assert_spec_string(res, "serviceExternalIPs.0.cidr", "192.0.2.7/32");
    assert_spec_string(res, "nodeMeshMaxRestartTime", "1m30s");
    assert_spec_string(res, "nodeMeshPassword.secretKeyRef.key", "mesh");
}

/* Calico's schema makes a service block's cidr optional and skips a block without one. */
static void test_bgpconfig_service_blocks_without_cidr_are_skipped(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(BGPCONFIG("default",
        "  serviceClusterIPs: [{}]\n"
        "  serviceExternalIPs: [{cidr: 192.0.2.0/24}, {}, {cidr: ''}]\n"
        "  serviceLoadBalancerIPs: [{cidr: null}]\n"));
    const struct tby_bgpconfig *c = res->spec.bgpconfig;

    (void)state;
    assert_int_equal(c->service_cluster_ips.n, 0);
    assert_int_equal(c->service_external_ips.n, 1);
    assert_int_equal(c->service_external_ips.items[0].prefix_len, 24);
    assert_int_equal(c->service_loadbalancer_ips.n, 0);
    assert_spec_string(res, "serviceExternalIPs.0.cidr", "192.0.2.0/24");
    expect_error(BGPCONFIG("default", "  serviceClusterIPs: [{cidr: 5}]\n"),
                 "spec.serviceClusterIPs[0].cidr: must be a string");
    expect_error(BGPCONFIG("default", "  serviceClusterIPs: [{cird: 10.0.0.0/8}]\n"),
                 "spec.serviceClusterIPs[0].cird: unknown field");
}

static void test_dotted_asn_decodes_to_its_number(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *cfg =
        load_checked(BGPCONFIG("default", "  asNumber: '1.10'\n"));
    _cleanup_(tby_resource_freep) struct tby_resource *peer =
        load_checked(PEER("  peerIP: 10.0.0.1\n  asNumber: \"65535.65535\"\n"));
    _cleanup_(tby_resource_freep) struct tby_resource *plain =
        load_checked(PEER("  peerIP: 10.0.0.1\n  asNumber: \"4200000000\"\n"));

    assert_int_equal(cfg->spec.bgpconfig->as_number, 65546);
    assert_int_equal(spec_int(cfg, "asNumber"), 65546);
    assert_int_equal(peer->spec.bgppeer->as_number, 4294967295u);
    assert_int_equal(spec_int(peer, "asNumber"), 4294967295u);
    assert_int_equal(plain->spec.bgppeer->as_number, 4200000000u);
}

static void test_bad_as_numbers_are_refused(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default", "  asNumber: 1.10\n"),
          "spec.asNumber: write a dotted AS number in quotes (\"1.1\")" },
        { BGPCONFIG("default", "  asNumber: 70000.1\n"),
          "spec.asNumber: \"70000.1\" is not a dotted AS number" },
        { BGPCONFIG("default", "  asNumber: '1.65536'\n"),
          "spec.asNumber: \"1.65536\" is not a dotted AS number" },
        { BGPCONFIG("default", "  asNumber: 4294967296\n"),
          "spec.asNumber: \"4294967296\" is not an AS number" },
        { BGPCONFIG("default", "  asNumber: -1\n"), "\"-1\" is not an AS number" },
        { BGPCONFIG("default", "  asNumber: as65000\n"), "is not an AS number" },
        { BGPCONFIG("default", "  asNumber: true\n"), "spec.asNumber: must be an AS number" },
        { BGPCONFIG("default", "  asNumber: 0\n"), "spec.asNumber: AS number 0 is reserved" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1/24\n    asNumber: '1.x'\n"),
          "spec.bgp.asNumber: \"1.x\" is not a dotted AS number" },
    };

    expect_errors(cases);
}

static void test_bgpconfig_enums_and_ports_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default", "  logSeverityScreen: info\n"),
          "spec.logSeverityScreen: must be one of Debug, Info, Warning, Error or Fatal, "
          "got \"info\"" },
        { BGPCONFIG("default", "  bindMode: All\n"),
          "spec.bindMode: must be one of None or NodeIP, got \"All\"" },
        { BGPCONFIG("default", "  listenPort: 0\n"),
          "spec.listenPort: must be between 1 and 65535, got 0" },
        { BGPCONFIG("default", "  listenPort: 65536\n"), "spec.listenPort: must be" },
        { BGPCONFIG("default", "  nodeToNodeMeshEnabled: 'yes please'\n"),
          "spec.nodeToNodeMeshEnabled: must be true or false" },
        { BGPCONFIG("default", "  ignoredInterfaces: ['*']\n"),
          "spec.ignoredInterfaces[0]: \"*\" is not an interface name or pattern" },
        { BGPCONFIG("default", "  ignoredInterfaces: [eth0, 'a/b']\n"),
          "spec.ignoredInterfaces[1]:" },
        { BGPCONFIG("default", "  logLevel: Info\n"), "spec.logLevel: unknown field" },
    };

    expect_errors(cases);
}

static void test_bgpconfig_service_cidrs_are_networks(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default", "  serviceClusterIPs:\n  - cidr: 10.96.0.1/12\n"),
          "spec.serviceClusterIPs[0].cidr: \"10.96.0.1/12\" has host bits set" },
        { BGPCONFIG("default", "  serviceExternalIPs:\n  - cidr: nope\n"),
          "spec.serviceExternalIPs[0].cidr: \"nope\" is not a CIDR" },
        { BGPCONFIG("default", "  serviceExternalIPs:\n  - 10.0.0.0/8\n"),
          "spec.serviceExternalIPs[0]: must be an object" },
        { BGPCONFIG("default", "  serviceLoadBalancerIPs:\n  - cidr: 10.0.0.0/8\n    name: x\n"),
          "spec.serviceLoadBalancerIPs[0].name: unknown field" },
        { BGPCONFIG("default", "  serviceClusterIPs: 10.96.0.0/12\n"),
          "spec.serviceClusterIPs: must be a list" },
    };

    expect_errors(cases);
}

static void test_communities_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default", "  communities:\n  - name: c\n    value: '65000'\n"),
          "spec.communities[0].value: \"65000\" is not a community" },
        { BGPCONFIG("default", "  communities:\n  - name: c\n    value: 65536:1\n"),
          "spec.communities[0].value: \"65536:1\" is not a community: each part is 0 to 65535" },
        { BGPCONFIG("default", "  communities:\n  - name: c\n    value: 4294967296:1:1\n"),
          "spec.communities[0].value: \"4294967296:1:1\" is not a community" },
        { BGPCONFIG("default", "  communities:\n  - name: c\n    value: 1:2:3:4\n"),
          "\"1:2:3:4\" is not a community" },
        { BGPCONFIG("default", "  communities:\n  - name: c\n    value: 'a:b'\n"),
          "\"a:b\" is not a community" },
        { BGPCONFIG("default", "  communities:\n  - name: Big\n    value: 1:1\n"),
          "spec.communities[0].name: \"Big\" is not a valid name" },
        { BGPCONFIG("default", "  communities:\n  - value: 1:1\n"),
          "spec.communities[0].name: is required" },
        { BGPCONFIG("default",
                    "  communities:\n  - {name: c, value: '1:1'}\n"
                    "  - {name: d, value: '1:2'}\n  - {name: c, value: '1:3'}\n"
                    "  prefixAdvertisements:\n  - {cidr: 10.0.0.0/8, communities: [c]}\n"),
          "spec.communities[2].name: \"c\" is already the name of communities[0]" },
        { BGPCONFIG("default", "  communities:\n  - {name: c, value: '1:1'}\n"),
          "spec.communities: are defined but no prefixAdvertisements use them" },
    };

    expect_errors(cases);
}

static void test_prefix_advertisements_use_known_communities(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default",
                    "  communities:\n  - {name: c, value: '1:1'}\n"
                    "  prefixAdvertisements:\n  - cidr: 10.0.0.0/8\n"
                    "    communities: [c, other]\n"),
          "spec.prefixAdvertisements[0].communities[1]: \"other\" is neither a "
          "community value (aa:nn or aa:nn:mm) nor the name of one in "
          "spec.communities" },
        { BGPCONFIG("default", "  prefixAdvertisements:\n  - cidr: 10.0.0.0/8\n"
                               "    communities: ['70000:1']\n"),
          "spec.prefixAdvertisements[0].communities[0]: \"70000:1\" is not a community" },
        { BGPCONFIG("default", "  prefixAdvertisements:\n  - cidr: 10.0.0.0/8\n"),
          "spec.prefixAdvertisements[0].communities: is required" },
        { BGPCONFIG("default", "  prefixAdvertisements:\n  - cidr: 10.0.0.1/8\n"
                               "    communities: ['1:1']\n"),
          "spec.prefixAdvertisements[0].cidr: \"10.0.0.1/8\" has host bits set" },
    };

    expect_errors(cases);
    tby_resource_free(load_checked(BGPCONFIG("default",
                                         "  prefixAdvertisements:\n  - cidr: fd00::/64\n"
                                         "    communities: ['65000:1', '1:2:3']\n")));
}

static void test_node_mesh_settings_need_the_mesh(void **state)
{
    static const struct bad_doc cases[] = {
        { BGPCONFIG("default", "  nodeToNodeMeshEnabled: false\n"
                               "  nodeMeshPassword:\n"
                               "    secretKeyRef: {name: s, key: k}\n"),
          "spec.nodeMeshPassword: cannot be set when nodeToNodeMeshEnabled is false" },
        { BGPCONFIG("default", "  nodeToNodeMeshEnabled: false\n  nodeMeshMaxRestartTime: 2m\n"),
          "spec.nodeMeshMaxRestartTime: cannot be set when nodeToNodeMeshEnabled" },
        { BGPCONFIG("default", "  nodeMeshMaxRestartTime: soon\n"),
          "spec.nodeMeshMaxRestartTime: \"soon\" is not a duration" },
        { BGPCONFIG("default", "  nodeMeshMaxRestartTime: 120\n"),
          "spec.nodeMeshMaxRestartTime: must be a string" },
        { BGPCONFIG("default", "  nodeMeshPassword:\n    secretKeyRef: {name: s}\n"),
          "spec.nodeMeshPassword.secretKeyRef.key: is required" },
        { BGPCONFIG("default", "  nodeMeshPassword: {}\n"),
          "spec.nodeMeshPassword.secretKeyRef: is required" },
        { BGPCONFIG("default", "  nodeMeshPassword:\n    secretKeyRef: {name: S!, key: k}\n"),
          "spec.nodeMeshPassword.secretKeyRef.name: \"S!\" is not a valid Secret name" },
        { BGPCONFIG("default", "  nodeMeshPassword:\n    secretKeyRef: {name: s, key: 'a b'}\n"),
          "spec.nodeMeshPassword.secretKeyRef.key: \"a b\" is not a valid Secret key" },
        { BGPCONFIG("default", "  nodeMeshPassword:\n    value: hunter2\n"),
          "spec.nodeMeshPassword.value: unknown field" },
    };

    expect_errors(cases);
}

/* ---- BGPPeer --------------------------------------------------------------------------- */

static void test_bgppeer_peer_ip_forms_keep_their_port(void **state)
{
    static const char *const forms[] = { "10.0.0.1", "10.0.0.1:1790", "fd00::1",
                                         "[fd00::1]:1790" };
    static const uint16_t ports[] = { 0, 1790, 0, 1790 };
    char yaml[256];

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tby_resource *res;

        snprintf(yaml, sizeof(yaml), PEER("  peerIP: '%s'\n  asNumber: 65001\n"), forms[i]);
        res = load_checked(yaml);
        assert_true(res->spec.bgppeer->has_peer_ip);
        assert_int_equal(res->spec.bgppeer->peer_port, ports[i]);
        assert_spec_string(res, "peerIP", forms[i]);
        tby_resource_free(res);
    }
}

static void test_bgppeer_bad_peer_ips_are_refused(void **state)
{
    static const struct bad_doc cases[] = {
        { PEER("  peerIP: 10.0.0.300\n  asNumber: 65001\n"),
          "spec.peerIP: \"10.0.0.300\" is not an IP address (like 10.0.0.1, "
          "10.0.0.1:1790 or [fd00::1]:1790)" },
        { PEER("  peerIP: '[10.0.0.1]:179'\n  asNumber: 65001\n"),
          "spec.peerIP: \"[10.0.0.1]:179\" is not an IP address" },
        { PEER("  peerIP: '[fd00::1]'\n  asNumber: 65001\n"),
          "\"[fd00::1]\" is not an IP address" },
        { PEER("  peerIP: '10.0.0.1:0'\n  asNumber: 65001\n"),
          "spec.peerIP: \"10.0.0.1:0\": the port must be 1 to 65535" },
        { PEER("  peerIP: '[fd00::1]:65536'\n  asNumber: 65001\n"),
          "the port must be 1 to 65535" },
        { PEER("  peerIP: '10.0.0.1:http'\n  asNumber: 65001\n"), "the port must be 1 to 65535" },
    };

    expect_errors(cases);
}

static void test_bgppeer_who_to_peer_with_rules(void **state)
{
    static const struct bad_doc cases[] = {
        { PEER("  peerIP: 10.0.0.1\n"), "spec.asNumber: is required with peerIP" },
        { PEER("  peerIP: 10.0.0.1\n  asNumber: 65001\n  peerSelector: rr == 'true'\n"),
          "spec.peerSelector: cannot be combined with peerIP" },
        { PEER("  asNumber: 65001\n"), "spec.peerIP: is required unless peerSelector is given" },
        { PEER("  peerSelector: rr == 'true'\n  asNumber: 65001\n"),
          "spec.asNumber: must not be set with peerSelector" },
        { PEER("  node: node1\n  nodeSelector: all()\n  peerSelector: all()\n"),
          "spec.nodeSelector: cannot be combined with node" },
        { PEER("  node: Node_1\n  peerSelector: all()\n"),
          "spec.node: \"Node_1\" is not a valid name" },
        { PEER("  peerSelector: rr ==\n"), "spec.peerSelector:" },
        { PEER("  nodeSelector: has(\n  peerSelector: all()\n"), "spec.nodeSelector:" },
    };

    expect_errors(cases);
}

static void test_bgppeer_session_options_are_checked(void **state)
{
#define TOR "  peerIP: 10.0.0.1\n  asNumber: 65001\n"
    static const struct bad_doc cases[] = {
        { PEER(TOR "  sourceAddress: NodeIP\n"),
          "spec.sourceAddress: must be one of UseNodeIP or None, got \"NodeIP\"" },
        { PEER(TOR "  ttlSecurity: 256\n"),
          "spec.ttlSecurity: must be between 0 and 255, got 256" },
        { PEER(TOR "  numAllowedLocalASNumbers: -1\n"),
          "spec.numAllowedLocalASNumbers: must be between 0" },
        { PEER(TOR "  maxRestartTime: 2 minutes\n"),
          "spec.maxRestartTime: \"2 minutes\" is not a duration" },
        { PEER(TOR "  keepOriginalNextHop: 1\n"),
          "spec.keepOriginalNextHop: must be true or false" },
        { PEER(TOR "  password:\n    secretKeyRef: {key: k}\n"),
          "spec.password.secretKeyRef.name: is required" },
        { PEER(TOR "  filters: [ok, Not-OK]\n"),
          "spec.filters[1]: \"Not-OK\" is not a valid name" },
        { PEER(TOR "  reachableBy: fd00::1\n"), "spec.reachableBy: is IPv6 but peerIP is IPv4" },
        { PEER(TOR "  reachableBy: 10.0.0.999\n"),
          "spec.reachableBy: \"10.0.0.999\" is not an IP address" },
        { PEER("  peerSelector: all()\n  reachableBy: 10.0.0.254\n"),
          "spec.reachableBy: can only be set with peerIP" },
        { PEER(TOR "  nextHopMode: self\n"),
          "spec.nextHopMode: must be one of Auto, Self or Keep" },
        { PEER(TOR "  localASNumber: 0\n"), "spec.localASNumber: AS number 0" },
        { PEER("  peerSelector: all()\n  localWorkloadSelector: app == 'bgp'\n"),
          "spec.localWorkloadSelector: is not enforced by tabby" },
        { PEER(TOR "  reversePeering: Manual\n"), "spec.reversePeering: only Auto is taken" },
        { PEER(TOR "  nextHopMod: Self\n"), "spec.nextHopMod: unknown field" },
    };

    expect_errors(cases);
#undef TOR
}

static void test_bgppeer_full_document_round_trips(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(PEER(
        "  nodeSelector: rack == 'r1'\n"
        "  peerIP: '[fd00::fe]:1790'\n"
        "  asNumber: '64512.1'\n"
        "  keepOriginalNextHop: true\n"
        "  password:\n    secretKeyRef:\n      name: bgp-secrets\n      key: tor\n"
        "  sourceAddress: None\n"
        "  maxRestartTime: 2m\n"
        "  numAllowedLocalASNumbers: 2\n"
        "  ttlSecurity: 1\n"
        "  reachableBy: fd00::1\n"
        "  filters: [export-v6, import-default]\n"
        "  localASNumber: 65010\n"
        "  nextHopMode: Keep\n"
        "  reversePeering: Auto\n"));
    const struct tby_bgppeer *p = res->spec.bgppeer;

    assert_int_equal(p->local_as_number, 65010);
    assert_int_equal(p->next_hop_mode, TBY_NEXT_HOP_KEEP);
    assert_int_equal(spec_int(res, "localASNumber"), 65010);
    assert_spec_string(res, "nextHopMode", "Keep");

    assert_string_equal(p->node_selector, "rack == 'r1'");
    assert_int_equal(p->as_number, 64512u * 65536u + 1u);
    assert_true(p->keep_original_next_hop);
    assert_int_equal(p->source_address, TBY_SOURCE_NONE);
    assert_int_equal(p->max_restart_ms, 120000);
    assert_int_equal(p->num_allowed_local_as_numbers, 2);
    assert_int_equal(p->ttl_security, 1);
    assert_true(p->has_reachable_by);
    assert_int_equal(p->filters.n, 2);
    assert_spec_string(res, "maxRestartTime", "2m0s");
    assert_spec_string(res, "sourceAddress", "None");
}

static void test_bgppeer_selector_peering_defaults(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_checked(PEER("  node: node1\n  peerSelector: route-reflector == 'true'\n"));
    const struct tby_bgppeer *p = res->spec.bgppeer;

    assert_false(p->has_peer_ip);
    assert_int_equal(p->as_number, 0);
    assert_int_equal(p->source_address, TBY_SOURCE_USE_NODE_IP);
    assert_null(p->password);
    assert_spec_string(res, "sourceAddress", "UseNodeIP");
    assert_false(spec_has(res, "asNumber"));
}

/* ---- Node ------------------------------------------------------------------------------ */

/* What `calicoctl get node -o yaml` prints for a Kubernetes node. */
static const char calicoctl_node[] =
    "apiVersion: projectcalico.org/v3\n"
    "kind: Node\n"
    "metadata:\n"
    "  annotations:\n"
    "    projectcalico.org/kube-labels: '{\"kubernetes.io/hostname\":\"node1\"}'\n"
    "  creationTimestamp: \"2024-03-01T10:00:00Z\"\n"
    "  labels:\n"
    "    kubernetes.io/hostname: node1\n"
    "  name: node1\n"
    "  resourceVersion: \"12345\"\n"
    "  uid: 3f1c4a5e-1111-2222-3333-444455556666\n"
    "spec:\n"
    "  addresses:\n"
    "  - address: 10.0.0.11/24\n"
    "    type: CalicoNodeIP\n"
    "  - address: 10.0.0.11\n"
    "    type: InternalIP\n"
    "  bgp:\n"
    "    asNumber: 65010\n"
    "    ipv4Address: 10.0.0.11/24\n"
    "    ipv4IPIPTunnelAddr: 192.168.10.0\n"
    "    ipv6Address: fd00:10::11/64\n"
    "    routeReflectorClusterID: 224.0.0.1\n"
    "  interfaces:\n"
    "  - addresses:\n"
    "    - 10.0.0.11\n"
    "    - fd00:10::11\n"
    "    name: eth0\n"
    "  ipv4VXLANTunnelAddr: 192.168.10.1\n"
    "  vxlanTunnelMACAddr: 66:DE:A2:00:12:34\n"
    "  ipv6VXLANTunnelAddr: fd00:192::1\n"
    "  vxlanTunnelMACAddrV6: 66:de:a2:00:12:35\n"
    "  orchRefs:\n"
    "  - nodeName: node1\n"
    "    orchestrator: k8s\n"
    "  wireguard:\n"
    "    interfaceIPv4Address: 192.168.10.2\n"
    "status:\n"
    "  podCIDRs:\n"
    "  - 192.168.10.0/24\n"
    "  wireguardPublicKey: jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=\n";

static void test_calicoctl_node_output_applies_and_round_trips(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(calicoctl_node);
    const struct tby_node *n = res->spec.node;
    char buf[TBY_CIDR_STRLEN];

    assert_true(n->has_bgp);
    assert_string_equal(tby_cidr_format(&n->ipv4_address, buf), "10.0.0.11/24");
    assert_string_equal(tby_cidr_format(&n->ipv6_address, buf), "fd00:10::11/64");
    assert_int_equal(n->as_number, 65010);
    assert_true(n->has_rr_cluster_id && n->has_ipip_tunnel_addr);
    assert_true(n->has_vxlan_tunnel_addr && n->has_vxlan_tunnel_addr_v6);
    assert_string_equal(n->vxlan_tunnel_mac, "66:de:a2:00:12:34");
    assert_spec_string(res, "vxlanTunnelMACAddrV6", "66:de:a2:00:12:35");
    assert_int_equal(n->n_addresses, 2);
    assert_string_equal(n->addresses[0].type, "CalicoNodeIP");
    assert_int_equal(n->n_orch_refs, 1);
    assert_true(n->has_wireguard_ipv4);
    assert_false(n->has_wireguard_ipv6);
    assert_int_equal(n->n_interfaces, 1);
    assert_int_equal(n->interfaces[0].n_addresses, 2);
    assert_int_equal(res->meta.resource_version, 12345);
    assert_spec_string(res, "bgp.ipv4Address", "10.0.0.11/24");
    assert_spec_string(res, "addresses.1.address", "10.0.0.11");
}

static void test_node_status_is_kept_unchanged(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(calicoctl_node);
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    _cleanup_json_ json_t *want = json_pack("{s:[s],s:s}", "podCIDRs", "192.168.10.0/24",
                                            "wireguardPublicKey",
                                            "jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=");

    assert_true(json_equal(json_object_get(doc, "status"), want));
    expect_error(V3 "kind: Node\nmetadata:\n  name: node3\nstatus: up\n",
                 "status: must be an object");
}

static void test_node_address_needs_its_subnet(void **state)
{
    static const struct bad_doc cases[] = {
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1\n"),
          "spec.bgp.ipv4Address: \"10.0.0.1\" has no prefix length: give the node's "
          "address with its subnet, like 10.0.0.1/24" },
        { NODE("  bgp:\n    ipv6Address: fd00::1\n"),
          "spec.bgp.ipv6Address: \"fd00::1\" has no prefix length" },
        { NODE("  bgp:\n    ipv4Address: fd00::1/64\n"),
          "spec.bgp.ipv4Address: \"fd00::1/64\" is not an IPv4 address with its prefix length" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1/33\n"),
          "spec.bgp.ipv4Address: \"10.0.0.1/33\" is not an IPv4 address" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.300\n"), "is not an IPv4 address" },
    };

    expect_errors(cases);
}

static void test_node_fields_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { NODE("  bgp: {}\n"), "spec.bgp: must not be empty" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1/24\n    routeReflectorClusterID: 1\n"),
          "spec.bgp.routeReflectorClusterID: must be a string" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1/24\n    routeReflectorClusterID: fd00::1\n"),
          "spec.bgp.routeReflectorClusterID: \"fd00::1\" is not an IPv4 address" },
        { NODE("  bgp:\n    ipv4IPIPTunnelAddr: 10.0.0.1/32\n"),
          "spec.bgp.ipv4IPIPTunnelAddr: \"10.0.0.1/32\" is not an IPv4 address" },
        { NODE("  bgp:\n    ipv4Address: 10.0.0.1/24\n    asn: 1\n"),
          "spec.bgp.asn: unknown field" },
        { NODE("  vxlanTunnelMACAddr: 66:de:a2:00:12\n"),
          "spec.vxlanTunnelMACAddr: \"66:de:a2:00:12\" is not a MAC address" },
        { NODE("  ipv6VXLANTunnelAddr: 10.0.0.1\n"),
          "spec.ipv6VXLANTunnelAddr: \"10.0.0.1\" is not an IPv6 address" },
        { NODE("  addresses:\n  - address: 10.0.0.1\n    type: PublicIP\n"),
          "spec.addresses[0].type: must be one of CalicoNodeIP, InternalIP or ExternalIP" },
        { NODE("  addresses:\n  - address: node1.example.com\n"),
          "spec.addresses[0].address: \"node1.example.com\" is not an IP address or CIDR" },
        { NODE("  orchRefs:\n  - nodeName: node1\n"),
          "spec.orchRefs[0].orchestrator: is required" },
        { NODE("  wireguard:\n    interfaceIPv6Address: 10.0.0.1\n"),
          "spec.wireguard.interfaceIPv6Address: \"10.0.0.1\" is not an IPv6 address" },
        { NODE("  interfaces:\n  - name: eth0\n    addresses: [10.0.0.1/24]\n"),
          "spec.interfaces[0].addresses[0]: \"10.0.0.1/24\" is not an IP address" },
        { NODE("  interfaces:\n  - name: averyveryverylongname\n"),
          "spec.interfaces[0].name: \"averyveryverylongname\" is not an interface name" },
        { NODE("  ipipTunnelAddr: 10.0.0.1\n"), "spec.ipipTunnelAddr: unknown field" },
    };

    expect_errors(cases);
}

static void test_node_minimal_documents(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *bare =
        load_checked(V3 "kind: Node\nmetadata:\n  name: node2\n");
    _cleanup_(tby_resource_freep) struct tby_resource *v6 =
        load_checked(NODE("  bgp:\n    ipv6Address: fd00::2/64\n"));

    assert_false(bare->spec.node->has_bgp);
    assert_null(bare->spec.node->status);
    assert_false(spec_has(bare, "bgp"));
    assert_true(v6->spec.node->has_bgp);
    assert_false(v6->spec.node->has_ipv4_address);
    assert_false(v6->spec.node->has_as_number);
}

/* ---- WorkloadEndpoint ------------------------------------------------------------------ */

/* As Calico's CNI plugin writes one for a Kubernetes pod. */
static const char k8s_wep[] =
    "apiVersion: projectcalico.org/v3\n"
    "kind: WorkloadEndpoint\n"
    "metadata:\n"
    "  name: node1-k8s-frontend--5gs43-eth0\n"
    "  namespace: prod\n"
    "  labels:\n"
    "    app: frontend\n"
    "    projectcalico.org/namespace: prod\n"
    "    projectcalico.org/orchestrator: k8s\n"
    "spec:\n"
    "  containerID: 8b0f4ec1c7d2\n"
    "  endpoint: eth0\n"
    "  interfaceName: cali0ef24b1a0c2\n"
    "  ipNetworks:\n"
    "  - 192.168.10.5/32\n"
    "  - fd00:192::5\n"
    "  ipNATs:\n"
    "  - internalIP: 192.168.10.5\n"
    "    externalIP: 203.0.113.5\n"
    "  ipv4Gateway: 169.254.1.1\n"
    "  ipv6Gateway: fe80::ecee:eeff:feee:eeee\n"
    "  mac: EE:EE:EE:EE:EE:EE\n"
    "  node: node1\n"
    "  orchestrator: k8s\n"
    "  pod: frontend-5gs43\n"
    "  ports:\n"
    "  - name: http\n"
    "    port: 8080\n"
    "    protocol: TCP\n"
    "  - name: dns\n"
    "    port: 53\n"
    "    protocol: udp\n"
    "  - port: 9000\n"
    "    protocol: SCTP\n"
    "    hostPort: 30900\n"
    "    hostIP: 10.0.0.11\n"
    "  profiles:\n"
    "  - kns.prod\n"
    "  - ksa.prod.frontend\n"
    "  serviceAccountName: frontend\n"
    "  allowSpoofedSourcePrefixes:\n"
    "  - 10.99.0.1/16\n"
    "  - 198.51.100.7\n";

static void test_wep_k8s_document_round_trips(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(k8s_wep);
    const struct tby_wep *w = res->spec.wep;

    assert_string_equal(res->meta.namespace, "prod");
    assert_string_equal(w->orchestrator, "k8s");
    assert_string_equal(w->pod, "frontend-5gs43");
    assert_string_equal(w->container_id, "8b0f4ec1c7d2");
    assert_int_equal(w->ip_networks.n, 2);
    assert_int_equal(w->ip_networks.items[1].prefix_len, 128);
    assert_int_equal(w->n_ip_nats, 1);
    assert_true(w->has_ipv4_gateway && w->has_ipv6_gateway);
    assert_string_equal(w->mac, "ee:ee:ee:ee:ee:ee");
    assert_int_equal(w->n_ports, 3);
    assert_int_equal(w->ports[1].protocol, 17);
    assert_null(w->ports[2].name);
    assert_int_equal(w->ports[2].host_port, 30900);
    assert_true(w->ports[2].has_host_ip);
    assert_int_equal(w->profiles.n, 2);
    assert_spec_string(res, "ipNetworks.1", "fd00:192::5/128");
    assert_spec_string(res, "ports.1.protocol", "UDP");
    assert_spec_string(res, "allowSpoofedSourcePrefixes.0", "10.99.0.0/16");
    assert_spec_string(res, "allowSpoofedSourcePrefixes.1", "198.51.100.7/32");
    assert_spec_string(res, "mac", "ee:ee:ee:ee:ee:ee");
}

/* workload (what other orchestrators name the workload): kept as given, for Calico. */
static void test_wep_workload_is_kept(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(WEP(
        "  workload: frontend\n"));

    (void)state;
    assert_spec_string(res, "workload", "frontend");
}

static void test_wep_ports_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { WEP("  ports:\n  - name: http\n    protocol: TCP\n    port: 0\n"),
          "spec.ports[0].port: must be between 1 and 65535, got 0" },
        { WEP("  ports:\n  - name: http\n    protocol: TCP\n"),
          "spec.ports[0].port: is required" },
        { WEP("  ports:\n  - name: HTTP\n    protocol: TCP\n    port: 80\n"),
          "spec.ports[0].name: \"HTTP\" is not a valid port name" },
        { WEP("  ports:\n  - name: '8080'\n    protocol: TCP\n    port: 80\n"),
          "\"8080\" is not a valid port name" },
        { WEP("  ports:\n  - name: http\n    protocol: ICMP\n    port: 80\n"),
          "spec.ports[0].protocol: must be TCP, UDP or SCTP" },
        { WEP("  ports:\n  - name: http\n    port: 80\n"), "spec.ports[0].protocol: is required" },
        { WEP("  ports:\n  - protocol: TCP\n    port: 80\n"),
          "spec.ports[0].name: is required unless the port maps a hostPort" },
        { WEP("  ports:\n  - {name: a, protocol: TCP, port: 80, hostPort: 70000}\n"),
          "spec.ports[0].hostPort: must be between 0 and 65535" },
        { WEP("  ports:\n  - {name: a, protocol: TCP, port: 80, hostIP: any}\n"),
          "spec.ports[0].hostIP: \"any\" is not an IP address" },
        { WEP("  ports:\n  - {name: a, protocol: TCP, port: 80, targetPort: 81}\n"),
          "spec.ports[0].targetPort: unknown field" },
        { WEP("  ports: {name: a}\n"), "spec.ports: must be a list" },
    };

    expect_errors(cases);
}

static void test_wep_addresses_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { WEP("  mac: zz:00:00:00:00:00\n"),
          "spec.mac: \"zz:00:00:00:00:00\" is not a MAC address" },
        { WEP("  ipNetworks: [10.0.0.0/24]\n"),
          "spec.ipNetworks[0]: 10.0.0.0/24 has more than one address" },
        { WEP("  ipNetworks: [10.0.0.1/24]\n"),
          "spec.ipNetworks[0]: \"10.0.0.1/24\" has host bits set" },
        { WEP("  ipNetworks: [10.0.0.1, 10.0.0.x]\n"),
          "spec.ipNetworks[1]: \"10.0.0.x\" is not a CIDR" },
        { WEP("  ipNetworks: [10.0.0.1]\n  ipNATs:\n"
              "  - {internalIP: 10.0.0.2, externalIP: 203.0.113.1}\n"),
          "spec.ipNATs[0].internalIP: 10.0.0.2 is not one of the endpoint's ipNetworks" },
        { WEP("  ipNetworks: [10.0.0.1]\n  ipNATs:\n"
              "  - {internalIP: 10.0.0.1, externalIP: 'fd00::1'}\n"),
          "spec.ipNATs[0].externalIP: is IPv6 but internalIP is IPv4" },
        { WEP("  ipNetworks: [10.0.0.1]\n  ipNATs:\n  - {internalIP: 10.0.0.1}\n"),
          "spec.ipNATs[0].externalIP: is required" },
        { WEP("  ipv4Gateway: fe80::1\n"),
          "spec.ipv4Gateway: \"fe80::1\" is not an IPv4 address" },
        { WEP("  ipv6Gateway: 169.254.1.1\n"),
          "spec.ipv6Gateway: \"169.254.1.1\" is not an IPv6 address" },
        { WEP("  allowSpoofedSourcePrefixes: [10.0.0.0/40]\n"),
          "spec.allowSpoofedSourcePrefixes[0]: \"10.0.0.0/40\": prefix length must be" },
    };

    expect_errors(cases);
}

static void test_wep_names_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { WEP("  interfaceName: cali0123456789abcdef\n"),
          "spec.interfaceName: \"cali0123456789abcdef\" is not a valid interface name" },
        { WEP("  interfaceName: '*'\n"), "spec.interfaceName: \"*\" is not a valid" },
        { WEP("  containerID: -abc\n"), "spec.containerID: \"-abc\" is not a container ID" },
        { WEP("  node: Node1\n"), "spec.node: \"Node1\" is not a valid name" },
        { WEP("  pod: my_pod\n"), "spec.pod: \"my_pod\" is not a valid name" },
        { WEP("  profiles: [kns.prod, 'bad profile']\n"),
          "spec.profiles[1]: \"bad profile\" is not a valid name" },
        { WEP("  qosControls: {}\n"), "spec.qosControls: unknown field" },
        { V3 "kind: WorkloadEndpoint\nmetadata:\n  name: w\n  namespace: Prod\n",
          "metadata.namespace: \"Prod\" is not a valid namespace name" },
    };

    expect_errors(cases);
}

static void test_wep_minimal_gets_default_namespace(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_checked(V3 "kind: WorkloadEndpoint\nmetadata:\n  name: w1\nspec:\n  node: node1\n");

    assert_string_equal(res->meta.namespace, "default");
    assert_int_equal(res->spec.wep->n_ports, 0);
    assert_null(res->spec.wep->ports);
}

/* ---- HostEndpoint ---------------------------------------------------------------------- */

static void test_hep_documents_round_trip(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *eth0 = load_checked(HEP(
        "  node: node1\n  interfaceName: eth0\n  expectedIPs: [10.0.0.11, 'fd00:10::11']\n"
        "  profiles: [host-default]\n"
        "  ports:\n  - {name: ssh, protocol: TCP, port: 22}\n"
        "  - {name: bgp, protocol: 6, port: 179}\n"));
    _cleanup_(tby_resource_freep) struct tby_resource *all =
        load_checked(HEP("  node: node1\n  interfaceName: '*'\n"));
    _cleanup_(tby_resource_freep) struct tby_resource *by_ip =
        load_checked(HEP("  node: node1\n  expectedIPs: [10.0.0.11]\n"));

    assert_int_equal(eth0->spec.hep->n_expected_ips, 2);
    assert_int_equal(eth0->spec.hep->n_ports, 2);
    assert_spec_string(eth0, "ports.1.protocol", "TCP");
    assert_spec_string(eth0, "expectedIPs.1", "fd00:10::11");
    assert_string_equal(all->spec.hep->interface_name, "*");
    assert_null(by_ip->spec.hep->interface_name);
}

static void test_hep_rules(void **state)
{
    static const struct bad_doc cases[] = {
        { HEP("  interfaceName: eth0\n"), "spec.node: is required" },
        { HEP("  node: node1\n"), "spec.interfaceName: is required unless expectedIPs are given" },
        { HEP("  node: node1\n  interfaceName: 'eth 0'\n"),
          "spec.interfaceName: \"eth 0\" is not a valid interface name" },
        { HEP("  node: node1\n  expectedIPs: [10.0.0.256]\n"),
          "spec.expectedIPs[0]: \"10.0.0.256\" is not an IP address" },
        { HEP("  node: node1\n  expectedIPs: [10.0.0.1]\n"
              "  ports:\n  - {protocol: TCP, port: 22}\n"),
          "spec.ports[0].name: is required" },
        { HEP("  node: node1\n  expectedIPs: [10.0.0.1]\n"
              "  ports:\n  - {name: ssh, protocol: TCP, port: 22, hostPort: 22}\n"),
          "spec.ports[0].hostPort: unknown field" },
        { HEP("  node: node1\n  expectedIPs: [10.0.0.1]\n  profiles: [A]\n"),
          "spec.profiles[0]: \"A\" is not a valid name" },
        { V3 "kind: HostEndpoint\nmetadata:\n  name: h\n  namespace: default\n",
          "metadata.namespace: HostEndpoint is not namespaced" },
    };

    expect_errors(cases);
}

/* ---- BGPFilter ------------------------------------------------------------------------- */

#define FILTER(spec) V3 "kind: BGPFilter\nmetadata:\n  name: f\nspec:\n" spec

static void test_bgpfilter_full_document_round_trips(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(FILTER(
        "  exportV4:\n"
        "  - {cidr: 10.244.2.0/26, matchOperator: Equal, action: Reject}\n"
        "  - {source: RemotePeers, action: Reject}\n"
        "  - {cidr: 10.0.0.0/8, matchOperator: In, prefixLength: {min: 16, max: 28},\n"
        "     interface: 'eth*', action: Accept}\n"
        "  importV4:\n"
        "  - {cidr: 0.0.0.0/0, matchOperator: NotEqual, action: Accept}\n"
        "  - {action: Reject}\n"
        "  exportV6:\n"
        "  - {cidr: 'fd00::/8', matchOperator: NotIn, prefixLength: {max: 64},"
        " action: Reject}\n"
        "  importV6:\n"
        "  - {interface: '*', action: Accept}\n"));
    const struct tby_bgpfilter *f = res->spec.bgpfilter;
    int min, max;

    assert_int_equal(f->n[TBY_BGPF_EXPORT_V4], 3);
    assert_int_equal(f->n[TBY_BGPF_IMPORT_V4], 2);
    assert_int_equal(f->rules[TBY_BGPF_EXPORT_V4][0].op, TBY_BGPF_EQUAL);
    assert_false(f->rules[TBY_BGPF_EXPORT_V4][0].accept);
    assert_true(f->rules[TBY_BGPF_EXPORT_V4][1].remote_peers_only);
    assert_string_equal(f->rules[TBY_BGPF_EXPORT_V4][2].interface, "eth*");
    tby_bgpfilter_rule_lengths(&f->rules[TBY_BGPF_EXPORT_V4][2], &min, &max);
    assert_int_equal(min, 16);
    assert_int_equal(max, 28);
    /* without min, the CIDR's own length; without max, the family's */
    tby_bgpfilter_rule_lengths(&f->rules[TBY_BGPF_EXPORT_V6][0], &min, &max);
    assert_int_equal(min, 8);
    assert_int_equal(max, 64);
    assert_false(f->rules[TBY_BGPF_IMPORT_V4][1].has_cidr);
    assert_spec_string(res, "importV6.0.interface", "*");
}

static void test_bgpfilter_rules_are_checked(void **state)
{
    static const struct bad_doc cases[] = {
        { FILTER("  exportV4: [{cidr: 10.0.0.0/8, action: Reject}]\n"),
          "spec.exportV4[0].matchOperator: cidr and matchOperator must both be set" },
        { FILTER("  exportV4: [{matchOperator: In, action: Reject}]\n"),
          "spec.exportV4[0].cidr: cidr and matchOperator must both be set" },
        { FILTER("  importV4: [{cidr: 10.0.0.1/8, matchOperator: In, action: Accept}]\n"),
          "spec.importV4[0].cidr: " },
        { FILTER("  importV4: [{cidr: 'fd00::/8', matchOperator: In, action: Accept}]\n"),
          "spec.importV4[0].cidr: is IPv6 in an IPv4 list" },
        { FILTER("  importV6: [{cidr: 10.0.0.0/8, matchOperator: In, action: Accept}]\n"),
          "spec.importV6[0].cidr: is IPv4 in an IPv6 list" },
        { FILTER("  importV4: [{cidr: 10.0.0.0/8, matchOperator: Within, action: Accept}]\n"),
          "spec.importV4[0].matchOperator: must be one of Equal, NotEqual, In or NotIn" },
        { FILTER("  importV4: [{prefixLength: {min: 24}, action: Accept}]\n"),
          "spec.importV4[0].prefixLength: needs cidr" },
        { FILTER("  importV4: [{cidr: 10.0.0.0/8, matchOperator: In,"
                 " prefixLength: {max: 33}, action: Accept}]\n"),
          "spec.importV4[0].prefixLength.max: must be between 0 and 32, got 33" },
        { FILTER("  importV4: [{cidr: 10.0.0.0/8, matchOperator: Equal,"
                 " prefixLength: {max: 24}, action: Accept}]\n"),
          "spec.importV4[0].prefixLength: needs matchOperator In or NotIn" },
        { FILTER("  importV4: [{cidr: 10.0.0.0/16, matchOperator: In,"
                 " prefixLength: {max: 8}, action: Accept}]\n"),
          "spec.importV4[0].prefixLength: matches no route: lengths from /16" },
        { FILTER("  exportV4: [{source: Local, action: Accept}]\n"),
          "spec.exportV4[0].source: must be one of RemotePeers, got \"Local\"" },
        { FILTER("  exportV4: [{interface: 'eth 0', action: Accept}]\n"),
          "spec.exportV4[0].interface: \"eth 0\" is not an interface name" },
        { FILTER("  exportV4: [{interface: eth0}]\n"),
          "spec.exportV4[0].action: is required (Accept or Reject)" },
        { FILTER("  exportV4: [{action: Drop}]\n"),
          "spec.exportV4[0].action: must be one of Accept or Reject" },
        /* Calico's newer match fields and operations are not enforced: refused as unknown */
        { FILTER("  exportV4: [{peerType: eBGP, action: Accept}]\n"),
          "spec.exportV4[0].peerType: unknown field" },
        { FILTER("  exportV4: [{action: Accept, operations: [{setPriority: {value: 1}}]}]\n"),
          "spec.exportV4[0].operations: unknown field" },
        { FILTER("  export: []\n"), "spec.export: unknown field" },
    };

    (void)state;
    expect_errors(cases);
}

/* ---- FelixConfiguration ------------------------------------------------------------------ */

#define FELIX(name, spec) V3 "kind: FelixConfiguration\nmetadata:\n  name: " name "\nspec:\n" spec

static void test_felixconfig_applied_and_fixed_fields_round_trip(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(FELIX("default",
        "  logSeverityScreen: debug\n"
        "  healthEnabled: true\n"
        "  healthHost: localhost\n"
        "  healthPort: 9199\n"
        "  prometheusMetricsEnabled: true\n"
        "  prometheusMetricsHost: ''\n"
        "  prometheusMetricsPort: 9191\n"
        "  routeRefreshInterval: 90s\n"
        "  nftablesRefreshInterval: 2m\n"
        "  bpfEnabled: false\n"
        "  vxlanVNI: 4096\n"
        "  defaultEndpointToHostAction: Accept\n"
        "  reportingInterval: 0s\n"));
    const struct tby_felixconfig *c = res->spec.felixconfig;

    assert_int_equal(c->log_severity, TBY_FELIX_SEVERITY_DEBUG);
    assert_true(c->has_health_enabled && c->health_enabled);
    assert_string_equal(c->health_host, "localhost");
    assert_int_equal(c->health_port, 9199);
    assert_string_equal(c->metrics_host, "");
    assert_int_equal(c->route_refresh_ms, 90000);
    assert_int_equal(c->nftables_refresh_ms, 120000);
    assert_spec_string(res, "logSeverityScreen", "Debug");
    assert_spec_string(res, "defaultEndpointToHostAction", "Accept");
    assert_int_equal(spec_int(res, "vxlanVNI"), 4096);
    assert_int_equal(c->to_host, TBY_FELIX_TO_HOST_ACCEPT);
    assert_false(c->failsafe_in.set);
    _cleanup_(tby_resource_freep) struct tby_resource *node = load_checked(
        FELIX("node.node-1", "  logSeverityScreen: Warning\n"));
    assert_int_equal(node->spec.felixconfig->log_severity, TBY_FELIX_SEVERITY_WARNING);
}

/* The dataplane's fields decode into what tabby-node applies, and write back as given. */
static void test_felixconfig_dataplane_fields_decode_and_round_trip(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(FELIX("default",
        "  vxlanVNI: 4097\n"
        "  vxlanPort: 8472\n"
        "  vxlanMTU: 1400\n"
        "  vxlanMTUV6: 1380\n"
        "  ipipMTU: 1440\n"
        "  natOutgoingAddress: 192.0.2.1\n"
        "  ipv6Support: false\n"
        "  interfacePrefix: tby\n"
        "  defaultEndpointToHostAction: Return\n"
        "  failsafeInboundHostPorts: [{protocol: TCP, port: 22}, "
        "{protocol: udp, port: 68}, {port: 179, net: 10.1.2.3/16}]\n"
        "  failsafeOutboundHostPorts: []\n"));
    const struct tby_felixconfig *c = res->spec.felixconfig;
    char net[TBY_CIDR_STRLEN];

    (void)state;
    assert_int_equal(c->vxlan_vni, 4097);
    assert_int_equal(c->vxlan_port, 8472);
    assert_true(c->has_vxlan_mtu && c->vxlan_mtu == 1400);
    assert_true(c->has_vxlan_mtu6 && c->vxlan_mtu6 == 1380);
    assert_true(c->has_ipip_mtu && c->ipip_mtu == 1440);
    assert_true(c->has_nat_address);
    assert_true(c->has_ipv6_support && !c->ipv6_support);
    assert_string_equal(c->interface_prefix, "tby");
    assert_int_equal(c->to_host, TBY_FELIX_TO_HOST_RETURN);
    assert_true(c->failsafe_in.set);
    assert_int_equal(c->failsafe_in.n, 3);
    assert_int_equal(c->failsafe_in.items[1].protocol, TBY_PROTO_UDP);
    assert_false(c->failsafe_in.items[1].has_net);
    assert_int_equal(c->failsafe_in.items[2].protocol, TBY_PROTO_TCP);
    assert_int_equal(c->failsafe_in.items[2].port, 179);
    assert_true(c->failsafe_in.items[2].has_net);
    assert_string_equal(tby_cidr_format(&c->failsafe_in.items[2].net, net), "10.1.0.0/16");
    assert_true(c->failsafe_out.set);
    assert_int_equal(c->failsafe_out.n, 0);
    assert_int_equal(spec_int(res, "vxlanVNI"), 4097);
    assert_spec_string(res, "natOutgoingAddress", "192.0.2.1");
    assert_spec_string(res, "defaultEndpointToHostAction", "Return");
}

/* Fields that only tune what tabby lacks are kept and named by tby_resource_ignored. */
static void test_felixconfig_tuning_fields_are_accepted_and_named(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_checked(FELIX("default",
        "  bpfLogLevel: debug\n"
        "  wireguardMTU: 1400\n"
        "  iptablesLockTimeout: 10s\n"
        "  logSeverityScreen: Info\n"));
    _cleanup_(tby_strv_clear) struct tby_strv lines = { 0 };

    (void)state;
    assert_int_equal(tby_resource_ignored(res, &lines), 0);
    assert_int_equal(lines.n, 3);
    tby_strv_sort(&lines);
    assert_non_null(strstr(lines.items[0], "spec.bpfLogLevel: accepted but not applied: it "
                                           "tunes Calico's eBPF dataplane"));
    assert_non_null(strstr(lines.items[1], "spec.iptablesLockTimeout: accepted but not "
                                           "applied"));
    assert_non_null(strstr(lines.items[2], "spec.wireguardMTU: accepted but not applied: it "
                                           "tunes WireGuard"));
    assert_int_equal(spec_int(res, "wireguardMTU"), 1400);
    expect_error(FELIX("default", "  wireguardMTU: big\n"),
                 "spec.wireguardMTU: must be an integer, got a string");
    expect_error(FELIX("default", "  iptablesLockTimeout: soon\n"), "spec.iptablesLockTimeout: ");
}

/* What would change what traffic is allowed or routed, and tabby does not do, is refused
 * naming the field; a bad value of a field tabby applies too; the rest is unknown. */
static void test_felixconfig_refuses_what_tabby_does_not_enforce(void **state)
{
    (void)state;
    expect_error(FELIX("default", "  wireguardEnabled: true\n"),
                 "spec.wireguardEnabled: is not enforced by tabby: it would encrypt");
    expect_error(FELIX("default", "  chainInsertMode: Append\n"),
                 "spec.chainInsertMode: is not enforced by tabby");
    expect_error(FELIX("default", "  iptablesFilterDenyAction: Reject\n"),
                 "spec.iptablesFilterDenyAction: is not enforced by tabby");
    expect_error(FELIX("default", "  natPortRange: 32768:65535\n"),
                 "spec.natPortRange: is not enforced by tabby");
    expect_error(FELIX("default", "  bpfEnabled: true\n"), "spec.bpfEnabled: only [false]");
    expect_error(FELIX("default", "  vxlanVNI: 16777216\n"), "spec.vxlanVNI: must be between");
    expect_error(FELIX("default", "  vxlanMTUV6: 1000\n"),
                 "spec.vxlanMTUV6: must be 0 (from the uplink's MTU) or at least 1280");
    expect_error(FELIX("default", "  natOutgoingAddress: 2001:db8::1\n"),
                 "spec.natOutgoingAddress: \"2001:db8::1\" is not an IPv4 address");
    expect_error(FELIX("default", "  interfacePrefix: cali\n"),
                 "spec.interfacePrefix: \"cali\": only tby is enforced by tabby");
    expect_error(FELIX("default", "  interfacePrefix: 'tby,cali'\n"),
                 "spec.interfacePrefix: \"tby,cali\": only tby is enforced by tabby");
    expect_error(FELIX("default", "  interfacePrefix: tb\n"),
                 "spec.interfacePrefix: \"tb\": only tby");
    expect_error(FELIX("default", "  failsafeOutboundHostPorts: [{port: 22, net: 10.0.0/8}]\n"),
                 "spec.failsafeOutboundHostPorts[0].net: ");
    {
        _cleanup_buf_ struct tby_buf many = { 0 };

        tby_buf_adds(&many, FELIX("default", "  failsafeInboundHostPorts: ["));
        for (int i = 0; i <= TBY_FELIX_PORTS_MAX; i++)
            tby_buf_printf(&many, "%s{port: %d}", i ? ", " : "", 1000 + i);
        tby_buf_adds(&many, "]\n");
        expect_error(many.data, "spec.failsafeInboundHostPorts: at most 64 entries, got 65");
    }
    expect_error(FELIX("default", "  defaultEndpointToHostAction: Reject\n"),
                 "spec.defaultEndpointToHostAction: must be Drop, Accept or Return");
    expect_error(FELIX("default", "  failsafeInboundHostPorts: [{protocol: SCTP, port: 1}]\n"),
                 "spec.failsafeInboundHostPorts[0].protocol: must be TCP or UDP");
    expect_error(FELIX("default", "  failsafeOutboundHostPorts: [{protocol: TCP}]\n"),
                 "spec.failsafeOutboundHostPorts[0].port: is required");
    expect_error(FELIX("default", "  logSeverityScreen: Loud\n"),
                 "spec.logSeverityScreen: must be one of Trace, Debug, Info, Warning, Error or "
                 "Fatal, got \"Loud\"");
    expect_error(FELIX("default", "  healthHost: example.com\n"),
                 "spec.healthHost: \"example.com\" must be an IP address or localhost");
    expect_error(FELIX("default", "  healthPort: 0\n"), "spec.healthPort: must be between 1");
    expect_error(FELIX("default", "  logSeverityScren: Info\n"),
                 "spec.logSeverityScren: unknown field");
    expect_error(FELIX("node1", "  {}\n"), "metadata.name: \"node1\": a FelixConfiguration is "
                                          "named \"default\" or \"node.<node name>\"");
}

struct skipped {
    char fields[8][64];
    size_t n;
};

static void note_skipped(void *ctx, const char *path, const char *field)
{
    struct skipped *s = ctx;

    (void)path;
    if (s->n < 8)
        snprintf(s->fields[s->n++], 64, "%s", field);
}

/* One Calico wrote: what tabby does not enforce is skipped and said, the rest applies. */
static void test_felixconfig_from_calico_skips_what_it_cannot_apply(void **state)
{
    static const char doc[] =
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"FelixConfiguration\","
        "\"metadata\":{\"name\":\"default\"},\"spec\":{\"logSeverityScreen\":\"Info\","
        "\"bpfLogLevel\":\"\",\"floatingIPs\":\"Disabled\",\"wireguardEnabled\":true,"
        "\"healthPort\":9099,\"newField\":1,\"bpfEnabled\":true}}";
    _cleanup_json_ json_t *json = json_loads(doc, 0, NULL);
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct skipped s = { .n = 0 };
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_resource_decode_lenient(json, note_skipped, &s, &res, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.fields[0], "newField");
    assert_string_equal(s.fields[1], "wireguardEnabled");
    assert_string_equal(s.fields[2], "bpfEnabled");
    assert_int_equal(res->spec.felixconfig->log_severity, TBY_FELIX_SEVERITY_INFO);
    assert_int_equal(res->spec.felixconfig->health_port, 9099);
    assert_false(spec_has(res, "wireguardEnabled"));
    assert_spec_string(res, "floatingIPs", "Disabled");
    assert_spec_string(res, "bpfLogLevel", "");
}

/* ---- NetworkSet, GlobalNetworkSet ---------------------------------------------------------- */

static void test_network_sets_round_trip_with_nets_masked(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *ns = load_checked(
        V3 "kind: NetworkSet\nmetadata: {name: db, labels: {role: db}}\n"
           "spec: {nets: [192.0.2.7/24, 198.51.100.9, 'fd00::1/64']}\n");
    _cleanup_(tby_resource_freep) struct tby_resource *g = load_checked(
        V3 "kind: GlobalNetworkSet\nmetadata: {name: threats}\nspec: {}\n");

    (void)state;
    assert_string_equal(ns->meta.namespace, "default");
    assert_spec_string(ns, "nets.0", "192.0.2.0/24");
    assert_spec_string(ns, "nets.1", "198.51.100.9/32");
    assert_spec_string(ns, "nets.2", "fd00::/64");
    assert_int_equal(g->spec.networkset->nets.n, 0);
    expect_error(V3 "kind: NetworkSet\nmetadata: {name: x}\nspec: {nets: [10.0.0.0/33]}\n",
                 "spec.nets[0]: ");
    expect_error(V3 "kind: GlobalNetworkSet\nmetadata: {name: x, namespace: a}\nspec: {}\n",
                 "metadata.namespace: GlobalNetworkSet is not namespaced");
    expect_error(V3 "kind: NetworkSet\nmetadata: {name: x}\n"
                    "spec: {allowedEgressDomains: [example.com]}\n",
                 "spec.allowedEgressDomains: domain-based network sets are not enforced");
    expect_error(V3 "kind: NetworkSet\nmetadata: {name: x}\nspec: {net: []}\n",
                 "spec.net: unknown field");
}

/* reservedCIDRs as Calico's "cidrs" validation takes them: CIDRs or bare addresses. */
static void test_ip_reservations_round_trip_with_cidrs_masked(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *r = load_checked(
        V3 "kind: IPReservation\nmetadata: {name: gw}\n"
           "spec: {reservedCIDRs: [192.168.2.3, 10.0.2.3/32, 'cafe:f00d::/123', 10.1.0.7/24]}\n");
    _cleanup_(tby_resource_freep) struct tby_resource *empty = load_checked(
        V3 "kind: IPReservation\nmetadata: {name: none}\nspec: {}\n");

    (void)state;
    assert_ptr_equal(r->info, tby_kind_lookup("reservations"));
    assert_ptr_equal(r->info, tby_kind_lookup("IPReservations"));
    assert_int_equal(r->spec.ipreservation->reserved_cidrs.n, 4);
    assert_spec_string(r, "reservedCIDRs.0", "192.168.2.3/32");
    assert_spec_string(r, "reservedCIDRs.2", "cafe:f00d::/123");
    assert_spec_string(r, "reservedCIDRs.3", "10.1.0.0/24");
    assert_int_equal(empty->spec.ipreservation->reserved_cidrs.n, 0);
    expect_error(V3 "kind: IPReservation\nmetadata: {name: x}\nspec: {reservedCIDRs: [nope]}\n",
                 "spec.reservedCIDRs[0]: ");
    expect_error(V3 "kind: IPReservation\nmetadata: {name: x}\nspec: {reservedCIDR: []}\n",
                 "spec.reservedCIDR: unknown field");
    expect_error(V3 "kind: IPReservation\nmetadata: {name: x, namespace: a}\nspec: {}\n",
                 "metadata.namespace: IPReservation is not namespaced");
}

/* ---- the acceptance cases -------------------------------------------------------------- */

static void test_bad_input_files_give_their_messages(void **state)
{
    static const char *const files[] = {
        "46-bgppeer-bad-ip.yaml", "47-bgppeer-bad-asn.yaml", "48-bgppeer-no-asn.yaml",
        "49-bgppeer-ip-and-selector.yaml", "50-bgpconfig-bad-severity.yaml",
        "51-bgpconfig-bad-community.yaml", "52-node-bad-address.yaml",
        "53-wep-bad-mac.yaml", "54-wep-bad-port.yaml", "59-ipreservation-bad-cidr.yaml",
        "60-label-value-a-list.yaml", "61-sequence-bad-item.yaml",
        "62-service-block-bad-cidr.yaml", "63-wep-spoof-prefix-bad.yaml",
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        _cleanup_(list_clearp) struct tby_resource_list list = { 0 };
        struct tby_error err = { 0 };
        char path[512], expect[256] = "";
        FILE *f;

        snprintf(path, sizeof(path), "%s/tests/data/bad/%s", TOP_SRCDIR, files[i]);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "# expect: %255[^\n]", expect), 1);
        fclose(f);
        assert_true(tby_resource_load_file(path, &list, &err) < 0);
        if (!strstr(tby_error_str(&err), expect))
            fail_msg("%s: \"%s\" lacks \"%s\"", files[i], tby_error_str(&err), expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_round_trip),
        cmocka_unit_test(test_bgpconfig_default_gets_calico_defaults),
        cmocka_unit_test(test_bgpconfig_per_node_inherits_instead_of_defaulting),
        cmocka_unit_test(test_bgpconfig_cluster_fields_only_on_default),
        cmocka_unit_test(test_bgpconfig_full_document_round_trips),
        cmocka_unit_test(test_bgpconfig_service_blocks_without_cidr_are_skipped),
        cmocka_unit_test(test_dotted_asn_decodes_to_its_number),
        cmocka_unit_test(test_bad_as_numbers_are_refused),
        cmocka_unit_test(test_bgpconfig_enums_and_ports_are_checked),
        cmocka_unit_test(test_bgpconfig_service_cidrs_are_networks),
        cmocka_unit_test(test_communities_are_checked),
        cmocka_unit_test(test_prefix_advertisements_use_known_communities),
        cmocka_unit_test(test_node_mesh_settings_need_the_mesh),
        cmocka_unit_test(test_bgppeer_peer_ip_forms_keep_their_port),
        cmocka_unit_test(test_bgppeer_bad_peer_ips_are_refused),
        cmocka_unit_test(test_bgppeer_who_to_peer_with_rules),
        cmocka_unit_test(test_bgppeer_session_options_are_checked),
        cmocka_unit_test(test_bgppeer_full_document_round_trips),
        cmocka_unit_test(test_bgppeer_selector_peering_defaults),
        cmocka_unit_test(test_calicoctl_node_output_applies_and_round_trips),
        cmocka_unit_test(test_node_status_is_kept_unchanged),
        cmocka_unit_test(test_node_address_needs_its_subnet),
        cmocka_unit_test(test_node_fields_are_checked),
        cmocka_unit_test(test_node_minimal_documents),
        cmocka_unit_test(test_wep_k8s_document_round_trips),
        cmocka_unit_test(test_wep_workload_is_kept),
        cmocka_unit_test(test_wep_ports_are_checked),
        cmocka_unit_test(test_wep_addresses_are_checked),
        cmocka_unit_test(test_wep_names_are_checked),
        cmocka_unit_test(test_wep_minimal_gets_default_namespace),
        cmocka_unit_test(test_hep_documents_round_trip),
        cmocka_unit_test(test_hep_rules),
        cmocka_unit_test(test_bgpfilter_full_document_round_trips),
        cmocka_unit_test(test_bgpfilter_rules_are_checked),
        cmocka_unit_test(test_felixconfig_applied_and_fixed_fields_round_trip),
        cmocka_unit_test(test_felixconfig_dataplane_fields_decode_and_round_trip),
        cmocka_unit_test(test_felixconfig_tuning_fields_are_accepted_and_named),
        cmocka_unit_test(test_felixconfig_refuses_what_tabby_does_not_enforce),
        cmocka_unit_test(test_felixconfig_from_calico_skips_what_it_cannot_apply),
        cmocka_unit_test(test_network_sets_round_trip_with_nets_masked),
        cmocka_unit_test(test_ip_reservations_round_trip_with_cidrs_masked),
        cmocka_unit_test(test_bad_input_files_give_their_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
