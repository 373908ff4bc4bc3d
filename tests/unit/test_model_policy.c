/* test_model_policy.c — Calico NetworkPolicy, GlobalNetworkPolicy and Profile, and
 * Kubernetes NetworkPolicy: round trips, defaults, the normal form and every validation
 * rule with its message. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "alloc_fail.h"
#include "resource_assert.h"

#define NP "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: p\n"
#define GNP "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n" \
            "  name: g\n"
#define PROFILE "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: pro\n"
#define KNP "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: k\n"

/* ---- helpers ---------------------------------------------------------------------------- */

/* The value at a path such as "spec.ingress[0].source.nets[1]" of json, or NULL. */
static json_t *at(json_t *json, const char *path)
{
    char buf[256];
    char *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *part = strtok_r(buf, ".", &save); part && json; part = strtok_r(NULL, ".", &save)) {
        char *bracket = strchr(part, '[');

        if (bracket)
            *bracket = '\0';
        json = json_object_get(json, part);
        while (bracket && json) {
            json = json_array_get(json, strtoul(bracket + 1, NULL, 10));
            bracket = strchr(bracket + 1, '[');
        }
    }
    return json;
}

/* The normal form of a document, for looking at single fields. */
static json_t *normal_form(const char *yaml)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(yaml);

    assert_round_trip(res);
    return tby_resource_encode(res);
}

static void assert_string_at(json_t *doc, const char *path, const char *want)
{
    json_t *v = at(doc, path);

    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("%s: want \"%s\", got %s", path, want,
                 json_is_string(v) ? json_string_value(v) : v ? "a non-string" : "nothing");
}

static void assert_int_at(json_t *doc, const char *path, json_int_t want)
{
    json_t *v = at(doc, path);

    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("%s: want %lld", path, (long long)want);
}

struct bad_case {
    const char *yaml;
    const char *fragment;  /* the message must contain this (it names the field path) */
};

static void assert_bad_cases(const struct bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_error(cases[i].yaml, cases[i].fragment);
}

#define BAD_CASES(cases) assert_bad_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* ---- round trips ---------------------------------------------------------------------- */

static void test_examples_round_trip(void **state)
{
    static const char *const files[] = { "allow-dns.yaml", "api-allow.yaml",
                                         "api-policy.yaml", "db-access.yaml",
                                         "default-deny.yaml" };

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct tby_resource_list list = { 0 };
        struct tby_error err = { 0 };
        char path[512];

        snprintf(path, sizeof(path), "%s/examples/%s", TOP_SRCDIR, files[i]);
        if (tby_resource_load_file(path, &list, &err) < 0)
            fail_msg("%s", tby_error_str(&err));
        assert_true(list.n >= 1);
        for (size_t j = 0; j < list.n; j++)
            assert_round_trip(list.items[j]);
        tby_resource_list_clear(&list);
    }
}

static const char *const varied_documents[] = {
    /* every rule field of a Calico NetworkPolicy */
    NP "  namespace: prod\n"
       "spec:\n"
       "  order: 10.5\n"
       "  selector: role == 'db' && env in {'prod', 'staging'}\n"
       "  serviceAccountSelector: team == 'a'\n"
       "  types: [Egress, Ingress]\n"
       "  ingress:\n"
       "  - action: Allow\n"
       "    protocol: TCP\n"
       "    notProtocol: 47\n"
       "    ipVersion: 4\n"
       "    source:\n"
       "      nets: [10.0.0.0/8, 192.168.1.7]\n"
       "      notNets: [10.1.0.0/16]\n"
       "      selector: app == 'web'\n"
       "      notSelector: has(quarantine)\n"
       "      namespaceSelector: team == 'x'\n"
       "      ports: [1024, '2000:3000', metrics]\n"
       "      notPorts: [22]\n"
       "      serviceAccounts:\n"
       "        names: [api, worker]\n"
       "        selector: tier == 'back'\n"
       "    destination:\n"
       "      ports: [5432]\n"
       "    metadata:\n"
       "      annotations:\n"
       "        Owner: db-team\n"
       "  - action: Deny\n"
       "  egress:\n"
       "  - action: Log\n"
       "    protocol: ICMP\n"
       "    icmp: {type: 8, code: 0}\n"
       "    notICMP: {type: 3}\n"
       "  - action: Pass\n"
       "    protocol: ICMPv6\n"
       "    ipVersion: 6\n"
       "    destination:\n"
       "      nets: ['fd00::/8']\n"
       "  - action: Allow\n"
       "    protocol: UDPLite\n"
       "    destination:\n"
       "      services: {name: kube-dns, namespace: kube-system}\n"
       "  - action: Allow\n"
       "    protocol: SCTP\n"
       "    destination:\n"
       "      notPorts: ['100:200']\n"
       "      namespaceSelector: global()\n",
    /* a tiered GlobalNetworkPolicy applied on forward, before DNAT */
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n"
    "  name: security.edge\n"
    "spec:\n"
    "  tier: security\n"
    "  order: 1\n"
    "  selector: has(edge)\n"
    "  namespaceSelector: kubernetes.io/metadata.name == 'ingress'\n"
    "  preDNAT: true\n"
    "  applyOnForward: true\n"
    "  performanceHints: [AssumeNeededOnEveryNode]\n"
    "  ingress:\n"
    "  - action: Deny\n"
    "    protocol: 6\n"
    "    source:\n"
    "      services: {name: api, namespace: default}\n"
    "      ports: [443]\n",
    /* untracked */
    GNP "spec:\n"
        "  doNotTrack: true\n"
        "  applyOnForward: true\n"
        "  types: [Ingress, Egress]\n"
        "  egress:\n"
        "  - action: Allow\n"
        "    protocol: UDP\n"
        "    destination: {ports: [53]}\n",
    /* nothing at all: defaults only */
    NP "spec: {}\n",
    NP,
    GNP "spec:\n  tier: default\n",
    "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
    "  name: knp.default.from-k8s\n  namespace: a\nspec:\n  tier: default\n",
    PROFILE "spec:\n"
            "  labelsToApply: {team: red, example.com/zone: a}\n"
            "  ingress:\n"
            "  - action: Allow\n"
            "    source: {selector: team == 'red'}\n"
            "  egress:\n"
            "  - action: Allow\n",
    PROFILE "spec: {}\n",
    /* Kubernetes: everything */
    KNP "  namespace: shop\n"
        "spec:\n"
        "  podSelector:\n"
        "    matchLabels: {app: cart}\n"
        "    matchExpressions:\n"
        "    - {key: tier, operator: NotIn, values: [test]}\n"
        "    - {key: canary, operator: DoesNotExist}\n"
        "  policyTypes: [Ingress, Egress]\n"
        "  ingress:\n"
        "  - from:\n"
        "    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.3.4/32]}\n"
        "    - namespaceSelector: {matchLabels: {team: ops}}\n"
        "      podSelector: {}\n"
        "    ports:\n"
        "    - {protocol: TCP, port: 8000, endPort: 8080}\n"
        "    - {protocol: SCTP, port: web}\n"
        "    - {protocol: UDP}\n"
        "  - {}\n"
        "  egress:\n"
        "  - to:\n"
        "    - ipBlock: {cidr: 'fd00::/8'}\n",
    KNP "spec:\n  podSelector: {}\n  ingress: []\n  egress: [{}]\n",
    KNP "spec: {}\n",
    /* decoded for what tabby-node meets in a datastore, refused at apply (enforce.h) */
    NP "spec:\n"
       "  ingress:\n"
       "  - action: Allow\n"
       "    http:\n"
       "      methods: [GET, HEAD]\n"
       "      paths: [{exact: /healthz}, {prefix: /api/}]\n",
};

static void test_varied_documents_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(varied_documents) / sizeof(varied_documents[0]); i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(varied_documents[i]);

        assert_round_trip(res);
    }
}

static void test_copy_is_equal_and_a_change_is_not(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *a = load_one(varied_documents[0]);
    _cleanup_(tby_resource_freep) struct tby_resource *b = tby_resource_copy(a);
    _cleanup_(tby_resource_freep) struct tby_resource *k = load_one(varied_documents[9]);
    _cleanup_(tby_resource_freep) struct tby_resource *k2 = tby_resource_copy(k);

    (void)state;
    assert_non_null(b);
    assert_true(tby_resource_equal(a, b));
    b->spec.policy->ingress.items[0].source.ports.items[0].first = 1025;
    assert_false(tby_resource_equal(a, b));
    assert_non_null(k2);
    assert_true(tby_resource_equal(k, k2));
    k2->spec.k8s_policy->ingress[0].ports[0].end_port = 9000;
    assert_false(tby_resource_equal(k, k2));
}

/* ---- defaults -------------------------------------------------------------------------- */

static unsigned calico_types(const char *yaml)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(yaml);

    return res->spec.policy->types;
}

static void test_calico_types_default_from_rules(void **state)
{
    (void)state;
    assert_int_equal(calico_types(NP "spec: {}\n"), TBY_POLICY_INGRESS);
    assert_int_equal(calico_types(NP "spec:\n  ingress: [{action: Allow}]\n"),
                     TBY_POLICY_INGRESS);
    assert_int_equal(calico_types(NP "spec:\n  egress: [{action: Allow}]\n"),
                     TBY_POLICY_EGRESS);
    assert_int_equal(calico_types(NP "spec:\n  ingress: [{action: Deny}]\n"
                                     "  egress: [{action: Allow}]\n"),
                     TBY_POLICY_INGRESS | TBY_POLICY_EGRESS);
    /* An empty list is "not given", as for Calico. */
    assert_int_equal(calico_types(GNP "spec:\n  types: []\n  egress: [{action: Allow}]\n"),
                     TBY_POLICY_EGRESS);
    /* Given types are kept, even without rules for them. */
    assert_int_equal(calico_types(NP "spec:\n  types: [Egress]\n  ingress: [{action: Allow}]\n"),
                     TBY_POLICY_EGRESS);
}

static void test_calico_types_and_tier_are_always_written(void **state)
{
    _cleanup_json_ json_t *doc = normal_form(NP "spec:\n  egress: [{action: Allow}]\n");

    (void)state;
    assert_string_at(doc, "spec.tier", "default");
    assert_string_at(doc, "spec.types[0]", "Egress");
    assert_null(at(doc, "spec.types[1]"));
    assert_null(at(doc, "spec.order"));
    assert_null(at(doc, "spec.selector"));
}

static void test_namespaced_policy_defaults_to_namespace_default(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(NP "spec: {}\n");

    (void)state;
    assert_string_equal(res->meta.namespace, "default");
    assert_string_equal(res->spec.policy->tier, "default");
    assert_false(res->spec.policy->has_order);
}

static unsigned k8s_types(const char *yaml)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(yaml);

    return res->spec.k8s_policy->types;
}

static void test_k8s_policy_types_default(void **state)
{
    (void)state;
    assert_int_equal(k8s_types(KNP "spec: {}\n"), TBY_POLICY_INGRESS);
    assert_int_equal(k8s_types(KNP "spec:\n  egress: [{}]\n"),
                     TBY_POLICY_INGRESS | TBY_POLICY_EGRESS);
    assert_int_equal(k8s_types(KNP "spec:\n  egress: []\n"), TBY_POLICY_INGRESS);
    assert_int_equal(k8s_types(KNP "spec:\n  policyTypes: [Egress]\n"), TBY_POLICY_EGRESS);
    /* Kubernetes lets a type repeat. */
    assert_int_equal(k8s_types(KNP "spec:\n  policyTypes: [Egress, Egress]\n"),
                     TBY_POLICY_EGRESS);
}

/* The engine must tell "all peers" from "nothing allowed": see model_k8s_policy.c. */
static void test_k8s_rules_keep_all_versus_nothing(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *none =
        load_one(KNP "spec:\n  ingress: []\n");
    _cleanup_(tby_resource_freep) struct tby_resource *absent = load_one(KNP "spec: {}\n");
    _cleanup_(tby_resource_freep) struct tby_resource *all =
        load_one(KNP "spec:\n  ingress: [{}]\n");
    _cleanup_(tby_resource_freep) struct tby_resource *empty_from =
        load_one(KNP "spec:\n  ingress: [{from: [], ports: []}]\n");

    (void)state;
    assert_int_equal(none->spec.k8s_policy->n_ingress, 0);
    assert_int_equal(absent->spec.k8s_policy->n_ingress, 0);
    assert_true(tby_resource_equal(none, absent));
    assert_int_equal(all->spec.k8s_policy->n_ingress, 1);
    assert_int_equal(all->spec.k8s_policy->ingress[0].n_peers, 0);
    assert_int_equal(all->spec.k8s_policy->ingress[0].n_ports, 0);
    assert_true(tby_resource_equal(all, empty_from));
    assert_false(tby_resource_equal(all, none));
}

static void test_k8s_absent_pod_selector_selects_every_pod(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(KNP "spec: {}\n");
    _cleanup_json_ json_t *doc = tby_resource_encode(res);

    (void)state;
    assert_true(json_is_object(res->spec.k8s_policy->pod_selector));
    assert_int_equal(json_object_size(res->spec.k8s_policy->pod_selector), 0);
    assert_true(json_is_object(at(doc, "spec.podSelector")));
    assert_string_at(doc, "spec.policyTypes[0]", "Ingress");
}

static void test_k8s_port_protocol_defaults_to_tcp(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_one(KNP "spec:\n  ingress: [{ports: [{port: 80}, {}]}]\n");
    const struct tby_k8s_rule *rule = &res->spec.k8s_policy->ingress[0];

    (void)state;
    assert_int_equal(rule->ports[0].protocol, TBY_PROTO_TCP);
    assert_true(rule->ports[0].has_port);
    assert_int_equal(rule->ports[0].port, 80);
    assert_int_equal(rule->ports[1].protocol, TBY_PROTO_TCP);
    assert_false(rule->ports[1].has_port);
}

/* ---- the normal form ------------------------------------------------------------------ */

static void test_rule_nets_are_masked(void **state)
{
    _cleanup_json_ json_t *doc =
        normal_form(NP "spec:\n  ingress:\n  - action: Allow\n    source:\n"
                       "      nets: [10.0.0.5/24, 10.1.2.3]\n"
                       "  - action: Allow\n    destination:\n"
                       "      notNets: ['fd00::1:2/64', 'fd00::9']\n");

    (void)state;
    assert_string_at(doc, "spec.ingress[0].source.nets[0]", "10.0.0.0/24");
    assert_string_at(doc, "spec.ingress[0].source.nets[1]", "10.1.2.3/32");
    assert_string_at(doc, "spec.ingress[1].destination.notNets[0]", "fd00::/64");
    assert_string_at(doc, "spec.ingress[1].destination.notNets[1]", "fd00::9/128");
}

static void test_protocols_are_written_by_calico_name(void **state)
{
    _cleanup_json_ json_t *doc =
        normal_form(NP "spec:\n  ingress:\n"
                       "  - {action: Allow, protocol: tcp}\n"
                       "  - {action: Allow, protocol: 17}\n"
                       "  - {action: Allow, protocol: '6'}\n"
                       "  - {action: Allow, protocol: 47}\n"
                       "  - {action: Allow, protocol: icmpv6, notProtocol: udplite}\n"
                       "  - {action: Allow, protocol: Sctp}\n");

    (void)state;
    assert_string_at(doc, "spec.ingress[0].protocol", "TCP");
    assert_string_at(doc, "spec.ingress[1].protocol", "UDP");
    assert_string_at(doc, "spec.ingress[2].protocol", "TCP");
    assert_int_at(doc, "spec.ingress[3].protocol", 47);
    assert_string_at(doc, "spec.ingress[4].protocol", "ICMPv6");
    assert_string_at(doc, "spec.ingress[4].notProtocol", "UDPLite");
    assert_string_at(doc, "spec.ingress[5].protocol", "SCTP");
}

static void test_ports_normal_form(void **state)
{
    _cleanup_json_ json_t *doc =
        normal_form(NP "spec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n"
                       "    destination:\n"
                       "      ports: ['80', '8000:9000', http-alt, 443, '7:7']\n");

    (void)state;
    assert_int_at(doc, "spec.ingress[0].destination.ports[0]", 80);
    assert_string_at(doc, "spec.ingress[0].destination.ports[1]", "8000:9000");
    assert_string_at(doc, "spec.ingress[0].destination.ports[2]", "http-alt");
    assert_int_at(doc, "spec.ingress[0].destination.ports[3]", 443);
    assert_int_at(doc, "spec.ingress[0].destination.ports[4]", 7);
}

static void test_empty_values_are_dropped(void **state)
{
    _cleanup_json_ json_t *doc =
        normal_form(NP "spec:\n  selector: ''\n  order: 100\n  ingress:\n  - action: Allow\n"
                       "    source: {selector: '', serviceAccounts: {}, nets: []}\n"
                       "    metadata: {annotations: {}}\n");

    (void)state;
    assert_null(at(doc, "spec.selector"));
    assert_true(json_is_integer(at(doc, "spec.order")));
    assert_int_at(doc, "spec.order", 100);
    assert_null(at(doc, "spec.ingress[0].source"));
    assert_null(at(doc, "spec.ingress[0].metadata"));
    assert_string_at(doc, "spec.ingress[0].action", "Allow");
}

static void test_k8s_normal_form(void **state)
{
    _cleanup_json_ json_t *doc =
        normal_form(KNP "spec:\n  podSelector: {matchLabels: {}, matchExpressions: []}\n"
                        "  ingress:\n  - from:\n"
                        "    - ipBlock: {cidr: 10.0.0.7/16, except: [10.0.1.9/24]}\n"
                        "    - podSelector: {}\n"
                        "    ports: [{port: 53}]\n");

    (void)state;
    assert_int_equal(json_object_size(at(doc, "spec.podSelector")), 0);
    assert_string_at(doc, "spec.ingress[0].from[0].ipBlock.cidr", "10.0.0.0/16");
    assert_string_at(doc, "spec.ingress[0].from[0].ipBlock.except[0]", "10.0.1.0/24");
    /* {} selects every pod of the namespace: it must survive. */
    assert_true(json_is_object(at(doc, "spec.ingress[0].from[1].podSelector")));
    assert_string_at(doc, "spec.ingress[0].ports[0].protocol", "TCP");
    assert_int_at(doc, "spec.ingress[0].ports[0].port", 53);
}

static void test_described_namespace_defaults_in_messages(void **state)
{
    (void)state;
    expect_error(NP "spec:\n  ingress: [{action: Accept}]\n",
                 "(NetworkPolicy default/p): spec.ingress[0]");
}

/* ---- validation ------------------------------------------------------------------------- */

#define RULE(body) NP "spec:\n  ingress:\n  - action: Allow\n" body
#define EGRESS(body) NP "spec:\n  egress:\n  - action: Allow\n" body

static void test_rule_action_and_shape(void **state)
{
    static const struct bad_case cases[] = {
        { NP "spec:\n  ingress: [{protocol: TCP}]\n",
          "spec.ingress[0].action: is required (Allow, Deny, Log or Pass)" },
        { NP "spec:\n  ingress: [{action: allow}]\n",
          "spec.ingress[0].action: must be one of Allow, Deny, Log or Pass, got \"allow\"" },
        { NP "spec:\n  ingress: [Allow]\n", "spec.ingress[0]: must be an object" },
        { NP "spec:\n  ingress: {action: Allow}\n", "spec.ingress: must be a list" },
        { RULE("    bogus: 1\n"), "spec.ingress[0].bogus: unknown field" },
        { RULE("    source: {port: 80}\n"), "spec.ingress[0].source.port: unknown field" },
        { RULE("    source: [1]\n"), "spec.ingress[0].source: must be an object" },
        { RULE("    http: {methods: GET}\n"), "spec.ingress[0].http.methods: must be a list" },
        { RULE("    http: {paths: [{exact: /a, prefix: /b}]}\n"),
          "spec.ingress[0].http.paths[0]: needs exactly one of exact and prefix" },
        { RULE("    http: {paths: [{}]}\n"),
          "spec.ingress[0].http.paths[0]: needs exactly one of exact and prefix" },
        { RULE("    http: {headers: []}\n"), "spec.ingress[0].http.headers: unknown field" },
        { RULE("    ipVersion: 5\n"), "spec.ingress[0].ipVersion: must be 4 or 6, got 5" },
        { RULE("    ipVersion: '4'\n"), "spec.ingress[0].ipVersion: must be an integer" },
        { RULE("    metadata: {annotations: {'bad key!': x}}\n"),
          "spec.ingress[0].metadata.annotations.bad key!: invalid annotation key" },
        { RULE("    metadata: {annotations: {a: [1]}}\n"),
          "spec.ingress[0].metadata.annotations.a: must be a string" },
        { RULE("    metadata: {labels: {}}\n"),
          "spec.ingress[0].metadata.labels: unknown field" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_rule_protocols(void **state)
{
    static const struct bad_case cases[] = {
        { EGRESS("    protocol: TPC\n"),
          "spec.egress[0].protocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a "
          "protocol number 1 to 255, got \"TPC\"" },
        { RULE("    protocol: 0\n"),
          "spec.ingress[0].protocol: protocol number must be 1 to 255, got 0" },
        { RULE("    protocol: 256\n"), "protocol number must be 1 to 255, got 256" },
        { RULE("    protocol: any\n"), "spec.ingress[0].protocol: must be TCP" },
        { RULE("    notProtocol: [TCP]\n"),
          "spec.ingress[0].notProtocol: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a "
          "protocol number 1 to 255, got a list" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_rule_ports(void **state)
{
    static const struct bad_case cases[] = {
        { RULE("    protocol: TCP\n    destination: {ports: [80, 70000]}\n"),
          "spec.ingress[0].destination.ports[1]: port must be 1 to 65535, got 70000" },
        { RULE("    protocol: TCP\n    destination: {ports: [0]}\n"),
          "destination.ports[0]: port must be 1 to 65535, got 0" },
        { RULE("    protocol: TCP\n    destination: {ports: ['99999']}\n"),
          "destination.ports[0]: port must be 1 to 65535, got 99999" },
        { RULE("    protocol: TCP\n    destination: {ports: ['9000:8000']}\n"),
          "spec.ingress[0].destination.ports[0]: port range \"9000:8000\" is backwards" },
        { RULE("    protocol: TCP\n    destination: {ports: ['0:80']}\n"),
          "ports[0]: port range \"0:80\": ports must be 1 to 65535" },
        { RULE("    protocol: TCP\n    destination: {ports: ['1:a']}\n"),
          "ports[0]: \"1:a\" is not a port, a range \"first:last\" or a port name" },
        { RULE("    protocol: TCP\n    source: {notPorts: [Http]}\n"),
          "spec.ingress[0].source.notPorts[0]: \"Http\" is not a valid port name" },
        { RULE("    protocol: TCP\n    source: {ports: [a--b]}\n"), "not a valid port name" },
        { RULE("    protocol: TCP\n    source: {ports: [sixteen-letters1]}\n"),
          "not a valid port name" },
        { RULE("    protocol: TCP\n    source: {ports: [true]}\n"),
          "source.ports[0]: must be a port number, a range \"first:last\" or a port name, "
          "got true" },
        { RULE("    destination: {ports: [80]}\n"),
          "spec.ingress[0]: ports need protocol TCP, UDP, SCTP or UDPLite "
          "(destination.ports is set, protocol is not set)" },
        { RULE("    protocol: ICMP\n    source: {notPorts: [80]}\n"),
          "spec.ingress[0]: ports need protocol TCP, UDP, SCTP or UDPLite "
          "(source.notPorts is set, protocol is ICMP)" },
        { RULE("    protocol: 47\n    source: {ports: [80]}\n"), "protocol is 47)" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_rule_icmp(void **state)
{
    static const struct bad_case cases[] = {
        { GNP "spec:\n  ingress:\n  - action: Allow\n    protocol: ICMP\n    icmp: {code: 0}\n",
          "spec.ingress[0].icmp.code: needs icmp.type" },
        { RULE("    protocol: ICMP\n    notICMP: {code: 1}\n"),
          "spec.ingress[0].notICMP.code: needs notICMP.type" },
        { RULE("    protocol: ICMP\n    icmp: {type: 255}\n"),
          "spec.ingress[0].icmp.type: must be between 0 and 254, got 255" },
        { RULE("    protocol: ICMP\n    icmp: {type: 3, code: 256}\n"),
          "spec.ingress[0].icmp.code: must be between 0 and 255, got 256" },
        { RULE("    protocol: ICMP\n    icmp: {typ: 3}\n"),
          "spec.ingress[0].icmp.typ: unknown field" },
        { RULE("    icmp: {type: 8}\n"), "spec.ingress[0].icmp: needs protocol ICMP or ICMPv6" },
        { RULE("    protocol: TCP\n    notICMP: {type: 8}\n"),
          "spec.ingress[0].notICMP: needs protocol ICMP or ICMPv6" },
        { RULE("    protocol: ICMP\n    ipVersion: 6\n"),
          "spec.ingress[0].ipVersion: protocol ICMP needs ipVersion 4, got 6" },
        { RULE("    protocol: ICMPv6\n    ipVersion: 4\n"),
          "spec.ingress[0].ipVersion: protocol ICMPv6 needs ipVersion 6, got 4" },
        { RULE("    notProtocol: 58\n    ipVersion: 4\n"),
          "spec.ingress[0].ipVersion: notProtocol ICMPv6 needs ipVersion 6, got 4" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_rule_nets(void **state)
{
    static const struct bad_case cases[] = {
        { RULE("    source: {nets: [10.0.0.0/40]}\n"),
          "spec.ingress[0].source.nets[0]: \"10.0.0.0/40\": prefix length must be 0 to 32" },
        { RULE("    source: {notNets: [banana]}\n"),
          "spec.ingress[0].source.notNets[0]: \"banana\" is not a CIDR" },
        { RULE("    destination: {nets: [5]}\n"),
          "spec.ingress[0].destination.nets[0]: must be a CIDR string, got 5" },
        { RULE("    destination: {nets: 10.0.0.0/8}\n"),
          "spec.ingress[0].destination.nets: must be a list" },
        { RULE("    ipVersion: 4\n    source: {nets: ['fd00::/8']}\n"),
          "spec.ingress[0].source.nets[0]: fd00::/8 is IPv6 but ipVersion is 4" },
        { RULE("    ipVersion: 6\n    destination: {notNets: [10.0.0.0/8]}\n"),
          "spec.ingress[0].destination.notNets[0]: 10.0.0.0/8 is IPv4 but ipVersion is 6" },
        { RULE("    source: {nets: [10.0.0.0/8]}\n    destination: {notNets: ['::1']}\n"),
          "spec.ingress[0].destination.notNets[0]: ::1/128 is IPv6 but an earlier net is "
          "IPv4" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_selectors(void **state)
{
    static const struct bad_case cases[] = {
        { RULE("    source: {selector: \"app = 'x'\"}\n"),
          "spec.ingress[0].source.selector: selector \"app = 'x'\": position 5" },
        { RULE("    destination: {notSelector: 'has(a'}\n"),
          "spec.ingress[0].destination.notSelector: " },
        { RULE("    source: {serviceAccounts: {selector: '=='}}\n"),
          "spec.ingress[0].source.serviceAccounts.selector: " },
        { RULE("    source: {serviceAccounts: {names: [1]}}\n"),
          "spec.ingress[0].source.serviceAccounts.names[0]: must be a string" },
        { RULE("    source: {selector: global()}\n"),
          "spec.ingress[0].source.selector: global() can only be used in a rule's "
          "namespaceSelector" },
        { RULE("    source: {namespaceSelector: \"global() && a == 'b'\"}\n"),
          "spec.ingress[0].source.namespaceSelector: global() cannot be combined with other "
          "selectors" },
        { NP "spec:\n  selector: global()\n",
          "spec.selector: global() can only be used in a rule's namespaceSelector" },
        { NP "spec:\n  serviceAccountSelector: '!'\n", "spec.serviceAccountSelector: " },
        { GNP "spec:\n  namespaceSelector: global()\n",
          "spec.namespaceSelector: global() can only be used" },
        { NP "spec:\n  selector: 7\n", "spec.selector: must be a string, got an integer" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_services(void **state)
{
    static const struct bad_case cases[] = {
        { RULE("    source: {services: {namespace: a}}\n"),
          "spec.ingress[0].source.services.name: is required" },
        { RULE("    source: {services: {name: Bad_Name}}\n"),
          "spec.ingress[0].source.services.name: \"Bad_Name\" is not a valid name" },
        { RULE("    source: {services: {name: a, namespace: B}}\n"),
          "spec.ingress[0].source.services.namespace: \"B\" is not a valid name" },
        { RULE("    source: {services: {name: a}, selector: has(x)}\n"),
          "spec.ingress[0].source.services: cannot be combined with selector" },
        { RULE("    source: {services: {name: a}, nets: [10.0.0.0/8]}\n"),
          "spec.ingress[0].source.services: cannot be combined with nets" },
        { RULE("    source: {services: {name: a}, serviceAccounts: {names: [x]}}\n"),
          "spec.ingress[0].source.services: cannot be combined with serviceAccounts" },
        { RULE("    destination: {services: {name: a}}\n"),
          "spec.ingress[0].destination.services: not allowed in an ingress rule" },
        { EGRESS("    source: {services: {name: a}}\n"),
          "spec.egress[0].source.services: not allowed in an egress rule" },
        { EGRESS("    protocol: TCP\n    destination: {services: {name: a}, ports: [80]}\n"),
          "spec.egress[0].destination.ports: cannot be combined with destination.services" },
        { GNP "spec:\n  egress:\n  - action: Allow\n    destination: {services: {name: a}}\n",
          "spec.egress[0].destination.services.namespace: is required here" },
        { PROFILE "spec:\n  ingress:\n  - action: Allow\n    source: {services: {name: a}}\n",
          "spec.ingress[0].source.services.namespace: is required here" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_policy_spec(void **state)
{
    static const struct bad_case cases[] = {
        { NP "spec:\n  types: [ingress]\n",
          "spec.types[0]: must be one of Ingress or Egress, got \"ingress\"" },
        { NP "spec:\n  types: [Ingress, Egress, Ingress]\n",
          "spec.types[2]: \"Ingress\" is listed more than once" },
        { NP "spec:\n  order: first\n", "spec.order: must be a number, got a string" },
        { NP "spec:\n  namespaceSelector: all()\n", "spec.namespaceSelector: unknown field" },
        { NP "spec:\n  doNotTrack: true\n", "spec.doNotTrack: unknown field" },
        { NP "spec:\n  performanceHints: [Fast]\n",
          "spec.performanceHints[0]: must be one of AssumeNeededOnEveryNode, got \"Fast\"" },
        { NP "spec: []\n", "spec: must be an object" },
        { GNP "  namespace: prod\nspec: {}\n",
          "metadata.namespace: GlobalNetworkPolicy is not namespaced" },
        { GNP "spec:\n  preDNAT: true\n  doNotTrack: true\n  applyOnForward: true\n",
          "spec.preDNAT: preDNAT and doNotTrack cannot both be true" },
        { GNP "spec:\n  preDNAT: true\n  applyOnForward: true\n  egress: [{action: Allow}]\n",
          "spec.egress: a preDNAT policy cannot have egress rules" },
        { GNP "spec:\n  preDNAT: true\n  applyOnForward: true\n  types: [Egress]\n",
          "spec.types: a preDNAT policy cannot have type Egress" },
        { GNP "spec:\n  doNotTrack: true\n",
          "spec.applyOnForward: must be true when doNotTrack is true" },
        { GNP "spec:\n  preDNAT: true\n", "spec.applyOnForward: must be true when preDNAT" },
        { GNP "spec:\n  applyOnForward: 'yes please'\n",
          "spec.applyOnForward: must be true or false" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_tiers_and_names(void **state)
{
    static const struct bad_case cases[] = {
        { "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n"
          "  name: ops.p\nspec:\n  tier: security\n",
          "metadata.name: \"ops.p\" names tier \"ops\" but the policy is in tier \"security\"" },
        { "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
          "  name: ops.p\nspec: {}\n",
          "names tier \"ops\" but the policy is in tier \"default\"" },
        { "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
          "  name: a.b.c\nspec:\n  tier: a\n",
          "metadata.name: \"a.b.c\" is not a valid policy name" },
        { "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n"
          "  name: knp.default.x\nspec: {}\n",
          "metadata.name: \"knp.default.x\" is not a valid policy name" },
        { NP "spec:\n  tier: Security\n", "spec.tier: \"Security\" is not a valid tier name" },
        { NP "spec:\n  tier: a.b\n", "spec.tier: \"a.b\" is not a valid tier name" },
    };
    static const char *const good[] = {
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
        "  name: security.p\nspec:\n  tier: security\n",
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n"
        "  name: default.p\nspec: {}\n",
        NP "spec:\n  tier: ''\n",
        NP "spec:\n  tier: security\n", /* Calico 3.31: the tier prefix is optional */
    };

    (void)state;
    BAD_CASES(cases);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(good[i]);

        assert_round_trip(res);
    }
}

#define TIER "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n"

static void test_tier_decodes_with_calico_defaults(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *sec =
        load_one(TIER "  name: security\nspec:\n  order: 100\n  defaultAction: Pass\n");
    _cleanup_(tby_resource_freep) struct tby_resource *bare =
        load_one(TIER "  name: later\n");
    _cleanup_(tby_resource_freep) struct tby_resource *def =
        load_one(TIER "  name: default\nspec: {defaultAction: Pass}\n");

    (void)state;
    assert_true(sec->spec.tier->has_order);
    assert_true(sec->spec.tier->order == 100);
    assert_int_equal(sec->spec.tier->default_action, TBY_TIER_PASS);
    assert_false(bare->spec.tier->has_order); /* unordered: after every ordered tier */
    assert_int_equal(bare->spec.tier->default_action, TBY_TIER_DENY);
    assert_true(def->spec.tier->has_order);   /* Calico's default tier: 1,000,000 */
    assert_true(def->spec.tier->order == TBY_TIER_DEFAULT_ORDER);
    assert_round_trip(sec);
    assert_round_trip(bare);
    assert_round_trip(def);
    assert_ptr_equal(tby_kind_lookup("tiers"), sec->info);
    assert_false(sec->info->namespaced);
}

static void test_tier_refuses_bad_fields(void **state)
{
    static const struct bad_case cases[] = {
        { TIER "  name: t\nspec: {defaultAction: Allow}\n", "spec.defaultAction" },
        { TIER "  name: t\nspec: {order: high}\n", "spec.order" },
        { TIER "  name: t\nspec: {selector: all()}\n", "spec.selector" },
        { TIER "  name: default\nspec: {order: 5}\n",
          "spec.order: the default tier's order is 1000000, got 5" },
        { TIER "  name: Sec\n", "metadata.name: \"Sec\" is not a valid name" },
        { TIER "  name: a.b\n", "metadata.name: \"a.b\" is not a valid tier name" },
        { TIER "  name: t\n  namespace: x\n", "metadata.namespace" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_profile(void **state)
{
    static const struct bad_case cases[] = {
        { PROFILE "spec:\n  labelsToApply: {team: 'bad value!'}\n",
          "spec.labelsToApply.team: invalid label value" },
        { PROFILE "spec:\n  labelsToApply: {team: {a: b}}\n",
          "spec.labelsToApply.team: must be a string" },
        { PROFILE "spec:\n  egress: [{action: Drop}]\n",
          "spec.egress[0].action: must be one of Allow, Deny, Log or Pass" },
        { PROFILE "spec:\n  selector: all()\n", "spec.selector: unknown field" },
    };
    _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(varied_documents[7]);

    (void)state;
    BAD_CASES(cases);
    assert_int_equal(res->spec.profile->ingress.n, 1);
    assert_int_equal(res->spec.profile->egress.n, 1);
    assert_string_equal(json_string_value(json_object_get(res->spec.profile->labels_to_apply,
                                                          "team")), "red");
}

#define K8S_RULE(body) KNP "spec:\n  ingress:\n  - " body

static void test_k8s_selectors_and_peers(void **state)
{
    static const struct bad_case cases[] = {
        { KNP "spec:\n  podSelector:\n    matchExpressions:\n"
              "    - {key: app, operator: Inn, values: [a]}\n",
          "spec.podSelector.matchExpressions[0].operator: unknown operator \"Inn\"" },
        { KNP "spec:\n  podSelector: {matchLabels: {app: 'a b'}}\n",
          "spec.podSelector.matchLabels" },
        { KNP "spec:\n  podSelector: {matchLabel: {app: a}}\n", "spec.podSelector" },
        { KNP "spec:\n  podSelector: all()\n", "spec.podSelector: " },
        { K8S_RULE("from: [{}]\n"),
          "spec.ingress[0].from[0]: must specify podSelector, namespaceSelector or ipBlock" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.0/16}, podSelector: {}}]\n"),
          "spec.ingress[0].from[0]: ipBlock cannot be combined with podSelector or "
          "namespaceSelector" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]\n"),
          "spec.ingress[0].from[0].ipBlock.except[0]: 10.1.0.0/24 is not inside 10.0.0.0/16" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]\n"),
          "ipBlock.except[0]: 10.0.0.0/16 is not smaller than 10.0.0.0/16" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.0/16, except: ['fd00::/64']}}]\n"),
          "ipBlock.except[0]: fd00::/64 is not inside 10.0.0.0/16" },
        { K8S_RULE("from: [{ipBlock: {except: [10.0.0.0/24]}}]\n"),
          "spec.ingress[0].from[0].ipBlock.cidr: is required" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.1}}]\n"),
          "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.1\" has no prefix length" },
        { K8S_RULE("from: [{ipBlock: {cidr: 10.0.0.0/8, exclude: []}}]\n"),
          "spec.ingress[0].from[0].ipBlock.exclude: unknown field" },
        { K8S_RULE("from: [{namespaceSelector: {matchLabels: {a: b}}, ipblock: {}}]\n"),
          "spec.ingress[0].from[0].ipblock: unknown field" },
        { K8S_RULE("to: []\n"), "spec.ingress[0].to: unknown field" },
        { KNP "spec:\n  egress:\n  - from: []\n", "spec.egress[0].from: unknown field" },
        { KNP "spec:\n  egress: [{to: [pod]}]\n", "spec.egress[0].to[0]: must be an object" },
        { KNP "spec:\n  policyTypes: [Both]\n",
          "spec.policyTypes[0]: must be one of Ingress or Egress, got \"Both\"" },
        { KNP "spec:\n  policyTypes: [Ingress, Egress, Ingress]\n",
          "spec.policyTypes: may not list more than two types" },
        { KNP "spec:\n  selector: {}\n", "spec.selector: unknown field" },
    };

    (void)state;
    BAD_CASES(cases);
}

static void test_k8s_ports(void **state)
{
    static const struct bad_case cases[] = {
        { K8S_RULE("ports: [{protocol: ICMP, port: 80}]\n"),
          "spec.ingress[0].ports[0].protocol: must be one of TCP, UDP or SCTP, got \"ICMP\"" },
        { K8S_RULE("ports: [{protocol: tcp}]\n"),
          "spec.ingress[0].ports[0].protocol: must be one of TCP, UDP or SCTP, got \"tcp\"" },
        { K8S_RULE("ports: [{port: 8080, endPort: 80}]\n"),
          "spec.ingress[0].ports[0].endPort: must not be less than port (8080)" },
        { K8S_RULE("ports: [{endPort: 80}]\n"), "spec.ingress[0].ports[0].endPort: needs port" },
        { K8S_RULE("ports: [{port: http, endPort: 80}]\n"),
          "spec.ingress[0].ports[0].endPort: needs a numeric port, not the named port \"http\"" },
        { K8S_RULE("ports: [{port: 80, endPort: 70000}]\n"),
          "spec.ingress[0].ports[0].endPort: must be between 1 and 65535, got 70000" },
        { K8S_RULE("ports: [{port: 0}]\n"),
          "spec.ingress[0].ports[0].port: port must be 1 to 65535, got 0" },
        { K8S_RULE("ports: [{port: '80'}]\n"),
          "spec.ingress[0].ports[0].port: \"80\" is not a valid port name" },
        { K8S_RULE("ports: [{port: [80]}]\n"),
          "spec.ingress[0].ports[0].port: must be a port number or a port name, got a list" },
        { K8S_RULE("ports: [{port: 80, range: 2}]\n"), "spec.ingress[0].ports[0].range: "
                                                       "unknown field" },
    };
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        load_one(K8S_RULE("ports: [{port: 80, endPort: 80}, {protocol: UDP, port: dns}]\n"));
    const struct tby_k8s_port *ports = res->spec.k8s_policy->ingress[0].ports;

    (void)state;
    BAD_CASES(cases);
    assert_int_equal(ports[0].end_port, 80);
    assert_int_equal(ports[1].protocol, TBY_PROTO_UDP);
    assert_string_equal(ports[1].port_name, "dns");
}

/* Fails each allocation of decoding (and encoding) every varied document in turn. */
static void test_allocation_failures_leave_nothing_behind(void **state)
{
    (void)state;
    json_set_alloc_funcs(alloc_fail_json_malloc, free);
    for (size_t i = 0; i < sizeof(varied_documents) / sizeof(varied_documents[0]); i++) {
        _cleanup_(tby_resource_freep) struct tby_resource *res = load_one(varied_documents[i]);
        _cleanup_json_ json_t *doc = tby_resource_encode(res);

        for (long n = 0;; n++) {
            struct tby_resource *back = NULL;
            struct tby_error err = { 0 };
            int r;

            alloc_fail_after(n);
            r = tby_resource_decode(doc, &back, &err);
            if (r == 0)
                json_decref(tby_resource_encode(back));
            alloc_fail_none();
            tby_resource_free(back);
            if (!alloc_failed) {
                assert_int_equal(r, 0);
                assert_true(n > 10); /* the wrapping did reach the decoder */
                break;
            }
        }
    }
    json_set_alloc_funcs(malloc, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_round_trip),
        cmocka_unit_test(test_varied_documents_round_trip),
        cmocka_unit_test(test_copy_is_equal_and_a_change_is_not),
        cmocka_unit_test(test_calico_types_default_from_rules),
        cmocka_unit_test(test_calico_types_and_tier_are_always_written),
        cmocka_unit_test(test_namespaced_policy_defaults_to_namespace_default),
        cmocka_unit_test(test_k8s_policy_types_default),
        cmocka_unit_test(test_k8s_rules_keep_all_versus_nothing),
        cmocka_unit_test(test_k8s_absent_pod_selector_selects_every_pod),
        cmocka_unit_test(test_k8s_port_protocol_defaults_to_tcp),
        cmocka_unit_test(test_rule_nets_are_masked),
        cmocka_unit_test(test_protocols_are_written_by_calico_name),
        cmocka_unit_test(test_ports_normal_form),
        cmocka_unit_test(test_empty_values_are_dropped),
        cmocka_unit_test(test_k8s_normal_form),
        cmocka_unit_test(test_described_namespace_defaults_in_messages),
        cmocka_unit_test(test_rule_action_and_shape),
        cmocka_unit_test(test_rule_protocols),
        cmocka_unit_test(test_rule_ports),
        cmocka_unit_test(test_rule_icmp),
        cmocka_unit_test(test_rule_nets),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_policy_spec),
        cmocka_unit_test(test_tiers_and_names),
        cmocka_unit_test(test_tier_decodes_with_calico_defaults),
        cmocka_unit_test(test_tier_refuses_bad_fields),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_k8s_selectors_and_peers),
        cmocka_unit_test(test_k8s_ports),
        cmocka_unit_test(test_allocation_failures_leave_nothing_behind),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
