/* test_calc_selectors.c — what rule and policy selectors select beyond pods, read as nft
 * text: network sets (NetworkSet, GlobalNetworkSet) whose nets join a rule selector's
 * address set, scoped as Calico scopes them, and service accounts (a policy's
 * serviceAccountSelector, a rule's serviceAccounts) through the labels their profiles
 * apply. A set's nets or labels changing edits set elements, never rules. */
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

static const char *const deny_threats =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
    "metadata: {name: deny-threats}\n"
    "spec:\n  selector: app == 'web'\n  types: [Egress]\n  egress:\n"
    "  - action: Deny\n    destination: {selector: threat-feed == 'true'}\n"
    "  - action: Allow\n";

static const char *const threats =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
    "metadata: {name: threats, labels: {threat-feed: 'true'}}\n"
    "spec:\n  nets: [198.51.100.0/28, 203.0.113.7, '2001:db8::/64']\n";

#define THREAT_FEED "threat-feed == 'true'"

/* The line of the table holding the address set of `sel` for one family (4 or 6). */
static const char *sel_line(const char *t, const char *sel, int family, char *buf, size_t size)
{
    char want[512];

    snprintf(want, sizeof(want), "-%d { type ipv%d_addr; flags interval; comment \"%s\";",
             family, family, sel);
    return line_with(t, want, buf, size);
}

/* The address set of `sel` for `family` holds exactly `elements` ("10.0.0.1, 10.0.0.2"). */
static void set_has(const char *t, const char *sel, int family, const char *elements)
{
    char line[4096], want[1024];

    snprintf(want, sizeof(want), "elements = { %s }", elements);
    assert_has(sel_line(t, sel, family, line, sizeof(line)), want);
}

/* The IPv4 address set of `sel` is empty. */
static void set_empty(const char *t, const char *sel)
{
    char line[4096];

    assert_lacks(sel_line(t, sel, 4, line, sizeof(line)), "elements");
}

/* The local pod default/a (cali-a, 10.0.0.1, app=web). */
static void web_pod(struct tby_calc *c)
{
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
}

/* ---- network sets ----------------------------------------------------------------------- */

/* A local web pod under deny_threats, and a pod of another node the feed's label marks. */
static void web_and_bad_pod(struct tby_calc *c)
{
    web_pod(c);
    wep(c, (struct wep_spec){ "x", "bad", "node-b", NULL, "10.0.5.1", "threat-feed=true",
                              NULL });
    apply(c, deny_threats);
}

/* A GlobalNetworkPolicy's rule selector matches a GlobalNetworkSet's labels: its nets, of
 * both families, sit in the selector's sets beside the addresses of matching pods. */
static void test_global_network_set_nets_join_the_rule_selector_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    web_and_bad_pod(c);
    apply(c, threats);
    t = dump(c);
    set_has(t, THREAT_FEED, 4, "10.0.5.1, 198.51.100.0-198.51.100.15, 203.0.113.7");
    set_has(t, THREAT_FEED, 6, "2001:db8::-2001:db8::ffff:ffff:ffff:ffff");
    assert_has(t, "ip daddr @sel-");
    assert_has(t, "counter drop comment \"deny-threats egress 0\"");
}

/* A net holding a pod's address is one range; the pod's own shows again when it goes. */
static void test_network_set_covering_a_pod_holds_one_range(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *j = NULL, *after = NULL;
    static const char *const lab =
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
        "metadata: {name: lab, labels: {threat-feed: 'true'}}\n"
        "spec:\n  nets: [10.0.5.0/24, 10.0.5.128/25]\n";

    (void)state;
    web_and_bad_pod(c);
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply(c, lab);
    t = dump(c);
    set_has(t, THREAT_FEED, 4, "10.0.5.0-10.0.5.255");
    j = journal(c);
    assert_has(j, "delete element inet tabby sel-");
    assert_has(j, "{ 10.0.5.1 }");
    assert_has(j, "{ 10.0.5.0-10.0.5.255 }");
    assert_lacks(j, "add rule");
    tby_rs_journal_done(tby_calc_ruleset(c));
    delete(c, lab);
    after = dump(c);
    set_has(after, THREAT_FEED, 4, "10.0.5.1");
}

/* A NetworkSet is selected as an endpoint of its namespace is: by a NetworkPolicy of that
 * namespace, through a namespaceSelector on the namespace's labels, by a
 * GlobalNetworkPolicy; not by another namespace's policy, nor through global(), which
 * selects GlobalNetworkSets. */
static void test_namespaced_network_set_is_scoped_like_an_endpoint(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "shop", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    apply(c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: a}}\n"
             "---\napiVersion: projectcalico.org/v3\nkind: NetworkSet\n"
             "metadata: {name: db, namespace: shop, labels: {role: db}}\n"
             "spec:\n  nets: [192.0.2.0/24]\n"
             "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
             "metadata: {name: gdb, labels: {role: db}}\nspec:\n  nets: [198.18.0.0/15]\n");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: to-db, namespace: shop}\n"
             "spec:\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    destination: {selector: role == 'db'}\n"
             "  - action: Allow\n"
             "    destination: {selector: role == 'db', namespaceSelector: team == 'a'}\n"
             "  - action: Allow\n"
             "    destination: {selector: role == 'db', namespaceSelector: global()}\n"
             "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: to-db, namespace: other}\n"
             "spec:\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    destination: {selector: role == 'db'}\n"
             "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: to-db}\n"
             "spec:\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    destination: {selector: role == 'db'}\n");
    t = dump(c);
    set_has(t, "projectcalico.org/namespace == 'shop' && role == 'db'", 4,
            "192.0.2.0-192.0.2.255");
    set_has(t, "pcns.team == 'a' && role == 'db'", 4, "192.0.2.0-192.0.2.255");
    set_has(t, "!has(projectcalico.org/namespace) && role == 'db'", 4,
            "198.18.0.0-198.19.255.255");
    set_empty(t, "projectcalico.org/namespace == 'other' && role == 'db'");
    set_has(t, "role == 'db'", 4, "192.0.2.0-192.0.2.255, 198.18.0.0-198.19.255.255");
    /* the namespace's labels change: the set leaves what selected it through them */
    apply(c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: b}}\n");
    free(t);
    t = dump(c);
    set_empty(t, "pcns.team == 'a' && role == 'db'");
}

/* What applying yaml changes: the journal from the table before it; the caller frees. */
static char *journal_of(struct tby_calc *c, const char *yaml)
{
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply(c, yaml);
    return journal(c);
}

/* Its nets changing, its labels changing and its going edit set elements only. */
static void test_network_set_changes_edit_elements_not_rules(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *j1 = NULL, *j2 = NULL, *j3 = NULL, *t = NULL;

    (void)state;
    web_pod(c);
    apply(c, deny_threats);
    apply(c, threats);
    j1 = journal_of(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
                       "metadata: {name: threats, labels: {threat-feed: 'true'}}\n"
                       "spec:\n  nets: [198.51.100.0/28, 192.0.2.9]\n");
    assert_has(j1, "delete element inet tabby sel-");
    assert_has(j1, "{ 203.0.113.7 }");
    assert_has(j1, "add element inet tabby sel-");
    assert_has(j1, "{ 192.0.2.9 }");
    assert_lacks(j1, "198.51.100.0");
    assert_lacks(j1, "rule");
    assert_lacks(j1, "chain");
    j2 = journal_of(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
                       "metadata: {name: threats, labels: {threat-feed: 'false'}}\n"
                       "spec:\n  nets: [198.51.100.0/28, 192.0.2.9]\n");
    assert_has(j2, "delete element inet tabby sel-");
    assert_has(j2, "198.51.100.0-198.51.100.15");
    assert_lacks(j2, "add ");
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply(c, threats);
    delete(c, threats);
    j3 = journal(c);
    assert_lacks(j3, "rule");
    t = dump(c);
    set_empty(t, THREAT_FEED);
    assert_has(t, "counter drop comment \"deny-threats egress 0\"");
}

/* A notSelector leaves out what the selector would take: the set's nets too. */
static void test_not_selector_leaves_out_network_set_nets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    web_pod(c);
    apply(c, threats);
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: not-threats}\n"
             "spec:\n  selector: app == 'web'\n  types: [Egress]\n  egress:\n"
             "  - action: Allow\n    destination: {notSelector: threat-feed == 'true'}\n");
    t = dump(c);
    assert_has(t, "ip daddr != @sel-");
    set_has(t, THREAT_FEED, 4, "198.51.100.0-198.51.100.15, 203.0.113.7");
}

/* A Kubernetes NetworkPolicy's peers are pods (Calico adds orchestrator == 'k8s'): a
 * network set of the namespace is never one. */
static void test_k8s_policy_peers_are_not_network_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=database",
                              NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkSet\n"
             "metadata: {name: be, namespace: default, labels: {app: backend}}\n"
             "spec:\n  nets: [192.0.2.0/24]\n");
    apply(c, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
             "metadata: {name: db-access, namespace: default}\n"
             "spec:\n  podSelector: {matchLabels: {app: database}}\n  policyTypes: [Ingress]\n"
             "  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: backend}}\n");
    t = dump(c);
    assert_lacks(t, "192.0.2");
}

/* ---- service accounts ------------------------------------------------------------------- */

static const char *const account_profiles =
    "apiVersion: projectcalico.org/v3\nkind: Profile\n"
    "metadata: {name: ksa.shop.api}\n"
    "spec:\n  labelsToApply: {pcsa.role: api, pcsa.projectcalico.org/name: api}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: Profile\n"
    "metadata: {name: ksa.shop.web}\n"
    "spec:\n  labelsToApply: {pcsa.role: web, pcsa.projectcalico.org/name: web}\n";

/* The accounts' profiles, and pods shop/a (account api, 10.0.0.1) and shop/b (web,
 * 10.0.0.2), labelled app=shop: on this node (cali-a, cali-b), or on node-b. */
static void pods_with_accounts(struct tby_calc *c, bool local)
{
    apply(c, account_profiles);
    wep_account(c, (struct wep_spec){ "shop", "a", local ? NULL : "node-b",
                                      local ? "cali-a" : NULL, "10.0.0.1", "app=shop", NULL },
                "api");
    wep_account(c, (struct wep_spec){ "shop", "b", local ? NULL : "node-b",
                                      local ? "cali-b" : NULL, "10.0.0.2", "app=shop", NULL },
                "web");
}

/* serviceAccountSelector ANDs the accounts' labels (pcsa.) with spec.selector: the policy
 * applies to the pods whose account matches, and follows the account's labels. */
static void test_service_account_selector_narrows_where_a_policy_applies(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL, *t2 = NULL;

    (void)state;
    pods_with_accounts(c, true);
    wep(c, (struct wep_spec){ "shop", "c", NULL, "cali-c", "10.0.0.3", "app=shop", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: only-api, namespace: shop}\n"
             "spec:\n  selector: app == 'shop'\n  serviceAccountSelector: role == 'api'\n"
             "  types: [Ingress]\n  ingress:\n  - action: Deny\n");
    t = dump(c);
    assert_has(t, "local workloads: projectcalico.org/namespace == 'shop' && app == 'shop' && "
                  "pcsa.role == 'api'");
    assert_applies(t, "pi-np/shop/only-api", "cali-a", true);
    assert_applies(t, "pi-np/shop/only-api", "cali-b", false);
    assert_applies(t, "pi-np/shop/only-api", "cali-c", false);
    /* the web account is labelled api too: its pod joins */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: ksa.shop.web}\n"
             "spec:\n  labelsToApply: {pcsa.role: api}\n");
    t2 = dump(c);
    assert_applies(t2, "pi-np/shop/only-api", "cali-b", true);
}

/* A rule's serviceAccounts: names through projectcalico.org/serviceaccount, the selector
 * through the accounts' labels, scoped to the policy's namespace. */
static void test_rule_service_accounts_select_pods_by_account(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = NULL;

    (void)state;
    pods_with_accounts(c, false);
    wep(c, (struct wep_spec){ "shop", "db", NULL, "cali-db", "10.0.0.3", "app=db", NULL });
    apply(c, "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
             "metadata: {name: db, namespace: shop}\n"
             "spec:\n  selector: app == 'db'\n  types: [Ingress]\n  ingress:\n"
             "  - action: Allow\n    source:\n      serviceAccounts: {selector: role == 'api'}\n"
             "  - action: Allow\n    source:\n      serviceAccounts: {names: [web]}\n");
    t = dump(c);
    set_has(t, "projectcalico.org/namespace == 'shop' && pcsa.role == 'api'", 4, "10.0.0.1");
    set_has(t, "projectcalico.org/namespace == 'shop' && "
               "projectcalico.org/serviceaccount in {'web'}", 4, "10.0.0.2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_network_set_nets_join_the_rule_selector_sets),
        cmocka_unit_test(test_network_set_covering_a_pod_holds_one_range),
        cmocka_unit_test(test_namespaced_network_set_is_scoped_like_an_endpoint),
        cmocka_unit_test(test_network_set_changes_edit_elements_not_rules),
        cmocka_unit_test(test_not_selector_leaves_out_network_set_nets),
        cmocka_unit_test(test_k8s_policy_peers_are_not_network_sets),
        cmocka_unit_test(test_service_account_selector_narrows_where_a_policy_applies),
        cmocka_unit_test(test_rule_service_accounts_select_pods_by_account),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
