/* test_node_enforce.c — tabby-node meeting what tabbyctl refuses, in a datastore written by
 * someone else: it never programs a policy with a rule left out. A rule it cannot program
 * ends the policy's rules in that direction with a Deny; a profile with rules and a policy
 * whose value does not decode deny for what they select; and each is said in the log, the
 * metrics and the degraded status. Policies for host endpoints only and host endpoints
 * (named or found by expectedIPs) are enforced: programmed, said nowhere. Network sets, which tabby enforces, reach
 * the calculation and are said nowhere. The policy engine runs in --dump mode (no kernel);
 * values are written to the datastore as they are, past tabbyctl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "node_fixture.h"

static void put(struct node_fixture *f, const char *key, const char *value)
{
    struct tby_error err = { 0 };

    if (tby_store_put(f->n.store, key, value, strlen(value), NULL, &err) < 0)
        fail_msg("put %s: %s", key, tby_error_str(&err));
}

/* The table the policy engine would program, as nft text; the caller frees. */
static char *dump(struct node_fixture *f)
{
    struct tby_buf text = { 0 };
    struct tby_error err = { 0 };
    FILE *out = tmpfile();

    assert_non_null(out);
    if (node_dump(&f->n, out, &err) < 0)
        fail_msg("dump: %s", tby_error_str(&err));
    rewind(out);
    assert_int_equal(tby_buf_read_stream(&text, out), 0);
    fclose(out);
    assert_int_equal(tby_buf_addc(&text, '\0'), 0);
    return text.data;
}

/* The lines of chain `name` (up to its closing brace), or NULL when there is none. */
static char *chain(const char *table, const char *name)
{
    char head[256];
    const char *start, *end;

    snprintf(head, sizeof(head), "chain %s {", name);
    start = strstr(table, head);
    if (!start)
        return NULL;
    end = strstr(start, "\n\t}");
    return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void start(struct node_fixture *f)
{
    fixture_init(f, (const char *[]){ "--dump", NULL });
    fixture_start(f, (const char *[]){ "policy", NULL });
}

static const char *degraded(struct node_fixture *f)
{
    static char why[2048];

    if (!f->n.parts[0]->degraded(f->n.state[0], why, sizeof(why)))
        return "";
    return why;
}

#define GNP(name, spec)                                                                        \
    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkPolicy\","              \
    "\"metadata\":{\"name\":\"" name "\"},\"spec\":" spec "}"

/* A Deny matching a Service: the rules before it, then Deny; never the Allow after it. */
static void test_rule_it_cannot_program_ends_the_direction_with_deny(void **state)
{
    struct node_fixture f;
    _cleanup_free_ char *table = NULL, *eg = NULL, *in = NULL;

    (void)state;
    start(&f);
    put(&f, "/tabby/v1/globalnetworkpolicies/no-api",
        GNP("no-api", "{\"selector\":\"app == 'web'\",\"types\":[\"Ingress\",\"Egress\"],"
                      "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\","
                      "\"destination\":{\"ports\":[80]}}],"
                      "\"egress\":[{\"action\":\"Allow\",\"protocol\":\"UDP\","
                      "\"destination\":{\"ports\":[53]}},"
                      "{\"action\":\"Deny\",\"destination\":{\"services\":"
                      "{\"name\":\"kubernetes\",\"namespace\":\"default\"}}},"
                      "{\"action\":\"Allow\"}]}"));
    table = dump(&f);
    eg = chain(table, "po-gnp/no-api");
    in = chain(table, "pi-gnp/no-api");
    if (!eg || !in)
        fail_msg("chains missing:\n%s", table);
    /* egress: rule 0 (udp 53), then the Deny standing in for rule 1; no third rule */
    if (!strstr(eg, "dport 53") || count(eg, "comment \"no-api egress ") != 2 ||
        !strstr(eg, "comment \"no-api egress 1\""))
        fail_msg("egress:\n%s", eg);
    /* ingress is enforced as written */
    if (!strstr(in, "dport 80") || count(in, "comment \"no-api ingress ") != 1)
        fail_msg("ingress:\n%s", in);
    if (!strstr(degraded(&f), "1 resource not enforced as written (denied in their place), "
                              "such as GlobalNetworkPolicy no-api: "
                              "spec.egress[1].destination.services: matching a Kubernetes "
                              "Service"))
        fail_msg("degraded: %s", degraded(&f));
    fixture_stop(&f);
}

/* A value that does not decode (an unknown field, a value that is not JSON) is not an
 * absent policy: its stand-in denies both ways for what its selector says, or for all. */
static void test_policy_that_does_not_decode_denies_in_its_place(void **state)
{
    struct node_fixture f;
    _cleanup_free_ char *table = NULL, *in = NULL, *out = NULL, *junk = NULL, *metrics = NULL;
    struct tby_buf m = { 0 };

    (void)state;
    start(&f);
    put(&f, "/tabby/v1/globalnetworkpolicies/future",
        GNP("future", "{\"selector\":\"app == 'db'\",\"ingress\":[{\"action\":\"Deny\","
                      "\"newMatch\":{\"x\":1}},{\"action\":\"Allow\"}]}"));
    put(&f, "/tabby/v1/networkpolicies/shop/junk", "not json {");
    table = dump(&f);
    in = chain(table, "pi-gnp/future");
    out = chain(table, "po-gnp/future");
    junk = chain(table, "pi-np/shop/junk");
    if (!in || !out || !junk || count(in, "counter") != 1 || !strstr(in, "counter drop") ||
        !strstr(out, "counter drop") || !strstr(junk, "counter drop"))
        fail_msg("table:\n%s", table);
    /* the stand-in of future applies to what its selector says */
    if (!strstr(table, "local workloads: app == 'db'"))
        fail_msg("table:\n%s", table);
    assert_non_null(strstr(degraded(&f), "2 resources not enforced as written (denied"));
    assert_non_null(strstr(degraded(&f), "GlobalNetworkPolicy future: the stored value does "
                                         "not decode"));
    assert_int_equal(node_metrics_write(&f.n, &m), 0);
    assert_int_equal(tby_buf_addc(&m, '\0'), 0);
    metrics = m.data;
    if (!strstr(metrics, "\ntabby_policy_fail_closed 2\n") || strstr(metrics, "host_only"))
        fail_msg("metrics:\n%s", metrics);
    fixture_stop(&f);
}

/* Policies for host endpoints only (doNotTrack, preDNAT) are not programmed for workloads,
 * as Calico does not: a doNotTrack policy runs in this node's named endpoint's untracked
 * chains only; host endpoints with an interfaceName are policed (this node's get chains),
 * and so is one found by expectedIPs alone: none is said to be not enforced. */
static void test_host_endpoint_resources_are_enforced_and_not_said(void **state)
{
    struct node_fixture f;
    _cleanup_free_ char *table = NULL;

    (void)state;
    start(&f);
    put(&f, "/tabby/v1/globalnetworkpolicies/untracked",
        GNP("untracked", "{\"selector\":\"all()\",\"doNotTrack\":true,"
                         "\"applyOnForward\":true,\"ingress\":[{\"action\":\"Deny\"}]}"));
    put(&f, "/tabby/v1/hostendpoints/n1-eth0",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
        "\"metadata\":{\"name\":\"n1-eth0\"},\"spec\":{\"node\":\"n1\","
        "\"interfaceName\":\"eth0\"}}");
    put(&f, "/tabby/v1/hostendpoints/n2-eth0",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
        "\"metadata\":{\"name\":\"n2-eth0\"},\"spec\":{\"node\":\"n2\","
        "\"interfaceName\":\"eth0\"}}");
    put(&f, "/tabby/v1/hostendpoints/n1-all",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
        "\"metadata\":{\"name\":\"n1-all\"},\"spec\":{\"node\":\"n1\","
        "\"interfaceName\":\"*\"}}");
    put(&f, "/tabby/v1/hostendpoints/n1-by-ip",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
        "\"metadata\":{\"name\":\"n1-by-ip\"},\"spec\":{\"node\":\"n1\","
        "\"expectedIPs\":[\"192.0.2.9\"]}}");
    table = dump(&f);
    if (strstr(table, "from-wl-tier-default") || strstr(table, "to-wl-tier-default") ||
        !strstr(table, "iifname @hif-eth0 goto hrin-if-eth0\n") ||
        !strstr(table, "jump pi-gnp/untracked\n") ||
        !strstr(table, "iifname @hif-eth0 goto hin-if-eth0\n\t\tgoto hin-any\n"))
        fail_msg("table:\n%s", table);
    /* doNotTrack and n1-by-ip are enforced (n1-by-ip governs the interfaces holding
     * 192.0.2.9, none here): nothing is degraded */
    assert_string_equal(degraded(&f), "");
    fixture_stop(&f);
}

/* A profile with rules is programmed as written (its chains, which the dispatch runs after
 * the tiers for its endpoints): no stand-in, nothing degraded; it goes with the profile. */
static void test_profile_rules_are_programmed_as_written(void **state)
{
    struct node_fixture f;
    _cleanup_free_ char *table = NULL, *after = NULL;
    const char *profile = "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Profile\","
                          "\"metadata\":{\"name\":\"kns.shop\"},\"spec\":{"
                          "\"ingress\":[{\"action\":\"Deny\",\"source\":"
                          "{\"nets\":[\"10.0.0.0/8\"]}},{\"action\":\"Allow\"}],"
                          "\"egress\":[{\"action\":\"Allow\"}]}}";
    struct tby_error err = { 0 };

    (void)state;
    start(&f);
    put(&f, "/tabby/v1/profiles/kns.shop", profile);
    table = dump(&f);
    if (!strstr(table, "chain pi-pr/kns.shop {") ||
        !strstr(table, "counter drop comment \"kns.shop ingress 0\"") || strstr(table, "~profile"))
        fail_msg("table:\n%s", table);
    assert_string_equal(degraded(&f), "");
    assert_int_equal(tby_store_delete(f.n.store, "/tabby/v1/profiles/kns.shop", NULL, &err), 0);
    after = dump(&f);
    if (strstr(after, "pr/kns.shop"))
        fail_msg("after:\n%s", after);
    fixture_stop(&f);
}

/* The set whose comment (the selector) holds `sel`, as its line of the table; the caller
 * frees. */
static char *set_of(const char *table, const char *sel)
{
    for (const char *p = table; (p = strstr(p, "\tset sel-")); p++) {
        const char *end = strchr(p, '\n');
        char *line = strndup(p, end ? (size_t)(end - p) : strlen(p));

        if (strstr(line, sel) && strstr(line, "-4 {"))
            return line;
        free(line);
    }
    return NULL;
}

#define THREATS(net)                                                                           \
    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\","                 \
    "\"metadata\":{\"name\":\"threats\",\"labels\":{\"threat-feed\":\"true\"}},"            \
    "\"spec\":{\"nets\":[\"" net "\"]}}"

/* Network sets reach the calculation through the node: a rule whose selector matches one
 * takes its nets, within the rule's scope (a NetworkPolicy's namespace); the set's nets
 * changing or its going changes set elements only, and nothing is said to be degraded. */
static void test_rule_selector_matching_a_network_set_takes_its_nets(void **state)
{
    struct node_fixture f;
    _cleanup_free_ char *table = NULL, *eg = NULL, *threats = NULL, *db = NULL;
    _cleanup_free_ char *moved = NULL, *eg_moved = NULL, *gone = NULL, *eg_gone = NULL;
    _cleanup_free_ char *threats_moved = NULL, *threats_gone = NULL;
    struct tby_error err = { 0 };

    (void)state;
    start(&f);
    put(&f, "/tabby/v1/globalnetworkpolicies/deny-threats",
        GNP("deny-threats", "{\"types\":[\"Egress\"],\"egress\":[{\"action\":\"Allow\","
                            "\"protocol\":\"UDP\",\"destination\":{\"ports\":[53]}},"
                            "{\"action\":\"Deny\",\"destination\":{\"selector\":"
                            "\"threat-feed == 'true'\"}},{\"action\":\"Allow\"}]}"));
    put(&f, "/tabby/v1/networkpolicies/other/to-db",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\","
        "\"metadata\":{\"name\":\"to-db\",\"namespace\":\"other\"},\"spec\":{\"types\":"
        "[\"Egress\"],\"egress\":[{\"action\":\"Allow\",\"destination\":{\"selector\":"
        "\"role == 'db'\"}}]}}");
    put(&f, "/tabby/v1/globalnetworksets/threats", THREATS("198.51.100.0/28"));
    put(&f, "/tabby/v1/networksets/shop/db",
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkSet\","
        "\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\",\"labels\":"
        "{\"role\":\"db\"}},\"spec\":{\"nets\":[\"192.0.2.0/24\"]}}");
    table = dump(&f);
    eg = chain(table, "po-gnp/deny-threats");
    threats = set_of(table, "threat-feed");
    db = set_of(table, "role == 'db'");
    if (!eg || !strstr(eg, "@sel-") || !strstr(eg, "comment \"deny-threats egress 2\"") ||
        !strstr(eg, "counter drop comment \"deny-threats egress 1\""))
        fail_msg("table:\n%s", table);
    if (!threats || !strstr(threats, "elements = { 198.51.100.0-198.51.100.15 }"))
        fail_msg("threats: %s\n%s", threats ? threats : "(none)", table);
    /* a NetworkPolicy of namespace other does not reach shop's set */
    if (!db || strstr(db, "192.0.2"))
        fail_msg("to-db's set: %s\n%s", db ? db : "(none)", table);
    assert_string_equal(degraded(&f), "");
    put(&f, "/tabby/v1/globalnetworksets/threats", THREATS("203.0.113.7"));
    moved = dump(&f);
    eg_moved = chain(moved, "po-gnp/deny-threats");
    threats_moved = set_of(moved, "threat-feed");
    if (!threats_moved || !strstr(threats_moved, "elements = { 203.0.113.7 }") ||
        !eg_moved || strcmp(eg, eg_moved) != 0)
        fail_msg("moved:\n%s", moved);
    assert_int_equal(tby_store_delete(f.n.store, "/tabby/v1/globalnetworksets/threats", NULL,
                                      &err), 0);
    gone = dump(&f);
    eg_gone = chain(gone, "po-gnp/deny-threats");
    threats_gone = set_of(gone, "threat-feed");
    if (!threats_gone || strstr(threats_gone, "elements") || !eg_gone ||
        strcmp(eg, eg_gone) != 0)
        fail_msg("gone:\n%s", gone);
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_it_cannot_program_ends_the_direction_with_deny),
        cmocka_unit_test(test_policy_that_does_not_decode_denies_in_its_place),
        cmocka_unit_test(test_host_endpoint_resources_are_enforced_and_not_said),
        cmocka_unit_test(test_profile_rules_are_programmed_as_written),
        cmocka_unit_test(test_rule_selector_matching_a_network_set_takes_its_nets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
