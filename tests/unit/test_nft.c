/* test_nft.c — the nftables dataplane against the real kernel, in a network namespace of
 * its own (unshare): programs a calculation's ruleset, reads it back after a restart and
 * changes nothing, sends only the journal for an endpoint change, notices and repairs a
 * table or chain changed by hand. Skips without root. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calc_fixture.h"
#include "tabby/nft.h"

/* Output of a shell command run in this namespace; caller frees. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int ch;

    assert_non_null(p);
    while ((ch = fgetc(p)) != EOF)
        fputc(ch, out);
    pclose(p);
    fclose(out);
    return buf;
}

static const char *const policies =
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: db-access, namespace: default}\n"
    "spec:\n  podSelector: {matchLabels: {app: database}}\n  policyTypes: [Ingress, Egress]\n"
    "  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: backend}}\n"
    "    - ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}\n"
    "    ports:\n    - {protocol: TCP, port: 5432}\n    - {protocol: TCP, port: http}\n"
    "    - {protocol: UDP, port: 1000, endPort: 2000}\n"
    "  egress:\n  - ports:\n    - {protocol: UDP, port: 53}\n    - {protocol: TCP, port: 53}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n"
    "spec:\n  order: 10\n  selector: all()\n  types: [Ingress]\n  ingress:\n"
    "  - action: Deny\n    protocol: ICMP\n    notICMP: {type: 8, code: 0}\n"
    "  - action: Log\n  - action: Pass\n    source: {notNets: [192.168.0.0/16]}\n"
    "  - action: Allow\n    ipVersion: 6\n    protocol: ICMPv6\n    icmp: {type: 128}\n";

#define assert_listed(text, piece)                                                           \
    do {                                                                                     \
        if (!strstr((text), (piece)))                                                        \
            fail_msg("expected \"%s\" in:\n%s", (piece), (text));                            \
    } while (0)

static struct tby_calc *populated(void)
{
    struct tby_calc *c = calc_new();

    apply(c, policies);
    wep(c, (struct wep_spec){ "default", "db", NULL, "cali-db", "10.0.0.1", "app=database",
                              "http/6/8080" });
    wep(c, (struct wep_spec){ "default", "be", NULL, "cali-be", "10.0.0.2", "app=backend",
                              NULL });
    wep(c, (struct wep_spec){ "default", "r", "node-b", NULL, "fd00::3", "app=backend", NULL });
    return c;
}

static struct tby_nft *nft_open(void)
{
    struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };

    if (tby_nft_open(&nft, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    return nft;
}

static struct tby_nft_stats sync_ok(struct tby_nft *nft, struct tby_calc *c)
{
    struct tby_nft_stats st;
    struct tby_error err = { 0 };

    if (tby_nft_sync(nft, tby_calc_ruleset(c), &st, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    return st;
}

/* A restart (a new handle) over a calculation that wants what the kernel holds: the sync
 * reads the table back and sends nothing. Returns the new handle. */
static struct tby_nft *restart_changes_nothing(struct tby_nft *nft, struct tby_calc *c)
{
    struct tby_nft_stats st;

    tby_nft_close(nft);
    nft = nft_open();
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_false(st.rebuilt);
    assert_int_equal(st.messages, 0);
    return nft;
}

static int setup(void **state)
{
    (void)state;
    free(run("nft delete table inet tabby 2>/dev/null"));
    return 0;
}

static void test_sync_programs_what_the_ruleset_says(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL;
    struct tby_nft_stats st;

    (void)state;
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_true(st.messages > 10);
    listed = run("nft list table inet tabby");
    assert_listed(listed, "chain pi-knp/default/db-access");
    assert_listed(listed, "comment \"default/knp.default.db-access ingress 0\"");
    assert_listed(listed, " jump pi-gnp/g\n");
    assert_listed(listed, " jump pi-knp/default/db-access\n");
    assert_listed(listed, "comment \"local workloads: all()\"");
    assert_listed(listed, "10.0.0.2");
    assert_listed(listed, "10.0.0.1 . tcp . 8080");
    assert_listed(listed, "ip daddr . meta l4proto . tcp dport @np-");
    assert_listed(listed, "oifname @to-wl-selected jump to-wl");
    assert_listed(listed, "iifname @from-wl-selected jump from-wl");
    st = sync_ok(nft, c);
    assert_false(st.read_back);
    assert_int_equal(st.messages, 0);
}

struct counted {
    const char *comment;
    int rules;
    uint64_t packets;
};

static int count_rule(void *ctx, const char *chain, const char *comment, uint64_t packets,
                      uint64_t bytes)
{
    struct counted *c = ctx;

    (void)chain;
    (void)bytes;
    if (strcmp(comment, c->comment) == 0) {
        c->rules++;
        c->packets += packets;
    }
    return 0;
}

/* What tabbyctl policy explain --node reads: every counted rule by its comment. */
static void test_rule_counters_are_read_by_comment(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    struct counted ingress0 = { .comment = "default/knp.default.db-access ingress 0" };
    struct counted deny = { .comment = "tier default: default deny: no ingress policy allowed or passed it" };
    struct tby_error err = { 0 };

    (void)state;
    sync_ok(nft, c);
    assert_int_equal(tby_nft_rule_counters(nft, count_rule, &ingress0, &err), 0);
    assert_int_equal(tby_nft_rule_counters(nft, count_rule, &deny, &err), 0);
    assert_true(ingress0.rules > 1);   /* per family, peer and port alternative */
    assert_int_equal(ingress0.packets, 0);
    assert_int_equal(deny.rules, 1);
}

static void test_restart_reads_back_and_changes_nothing(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_calc_freep) struct tby_calc *again = populated();
    struct tby_nft *nft = nft_open();
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    nft = restart_changes_nothing(nft, again);
    /* one endpoint fewer after the restart: only that is sent */
    tby_nft_close(nft);
    nft = nft_open();
    wep_delete(again, "default", "be");
    st = sync_ok(nft, again);
    assert_true(st.read_back);
    assert_true(st.messages > 0 && st.messages <= 6);
    tby_nft_close(nft);
}

/* Elements changed by hand while tabby was down (one taken out of a set, a stray one
 * added to another): the restart's read-back repairs just those, and the next restart
 * finds nothing to do. */
static void test_elements_changed_by_hand_are_repaired_on_restart(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_free_ char *sel = NULL, *local = NULL;
    struct tby_nft *nft = nft_open();
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    tby_nft_close(nft);
    free(run("nft delete element inet tabby to-wl-selected '{ \"cali-db\" }' && "
             "nft add element inet tabby local-wl '{ \"cali-zz\" }'"));
    nft = nft_open();
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_false(st.rebuilt);
    assert_true(st.messages >= 1 && st.messages <= 4);
    sel = run("nft list set inet tabby to-wl-selected");
    assert_listed(sel, "\"cali-db\"");
    local = run("nft list set inet tabby local-wl");
    assert_null(strstr(local, "cali-zz"));
    nft = restart_changes_nothing(nft, c);
    tby_nft_close(nft);
}

static void test_endpoint_change_sends_only_elements(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL, *j = NULL;
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    wep(c, (struct wep_spec){ "default", "db2", NULL, "cali-db2", "10.0.0.7", "app=database",
                              "http/6/81" });
    j = journal(c);
    assert_lacks(j, "rule");
    assert_lacks(j, "chain");
    st = sync_ok(nft, c);
    assert_false(st.read_back);
    assert_int_equal(st.messages, count(j, " element "));
    listed = run("nft list set inet tabby to-wl-selected");
    assert_listed(listed, "\"cali-db2\"");
}

static void test_table_deleted_by_hand_is_noticed_and_rebuilt(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL;
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    assert_int_equal(tby_nft_monitor_read(nft), 0); /* our own changes do not count */
    free(run("nft delete table inet tabby"));
    assert_int_equal(tby_nft_monitor_read(nft), 1);
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_true(st.messages > 10);
    listed = run("nft list table inet tabby");
    assert_listed(listed, "chain pi-knp/default/db-access");
}

static void test_chain_flushed_by_hand_is_refilled_alone(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL;
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    free(run("nft flush chain inet tabby pi-gnp/g; nft add chain inet tabby stray"));
    assert_int_equal(tby_nft_monitor_read(nft), 1);
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_false(st.rebuilt);
    /* flush + the rules of one chain + deleting the stray chain */
    assert_true(st.messages >= 3 && st.messages < 15);
    listed = run("nft list table inet tabby");
    assert_listed(listed, "comment \"g ingress 3\"");
    assert_null(strstr(listed, "stray"));
}

static void test_base_chain_policy_changed_by_hand_rebuilds(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL;
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    free(run("nft 'chain inet tabby forward-hook { policy drop; }'"));
    tby_nft_monitor_read(nft);
    st = sync_ok(nft, c);
    assert_true(st.rebuilt);
    listed = run("nft list chain inet tabby forward-hook");
    assert_listed(listed, "policy accept");
}

/* natOutgoing for a pool of each family, as the daemon hands it over. */
static void set_nat(struct tby_calc *c, const char *extra_pool)
{
    struct tby_cidr masq[2], all[3];
    struct tby_cidr_list m = { masq, 2 }, a = { all, 2 };

    assert_int_equal(tby_cidr_parse("10.65.0.0/16", TBY_CIDR_STRICT, &masq[0], NULL), 0);
    assert_int_equal(tby_cidr_parse("fd00:65::/48", TBY_CIDR_STRICT, &masq[1], NULL), 0);
    all[0] = masq[0];
    all[1] = masq[1];
    if (extra_pool) {
        assert_int_equal(tby_cidr_parse(extra_pool, TBY_CIDR_STRICT, &all[2], NULL), 0);
        a.n = 3;
    }
    assert_int_equal(tby_calc_set_nat(c, &m, &a), 0);
}

static void test_nat_chain_is_programmed_read_back_and_follows_pools(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_calc_freep) struct tby_calc *again = populated();
    struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL, *set = NULL;
    struct tby_nft_stats st;

    (void)state;
    set_nat(c, NULL);
    sync_ok(nft, c);
    listed = run("nft list chain inet tabby nat-postrouting");
    assert_listed(listed, "type nat hook postrouting priority srcnat; policy accept;");
    assert_listed(listed, "ip saddr @nat-pools-4 ip daddr != @all-pools-4 counter packets 0 "
                          "bytes 0 masquerade comment \"natOutgoing\"");
    assert_listed(listed, "ip6 saddr @nat-pools-6 ip6 daddr != @all-pools-6");
    tby_nft_close(nft);
    nft = nft_open();
    set_nat(again, NULL);
    st = sync_ok(nft, again);
    assert_true(st.read_back);
    assert_false(st.rebuilt);
    assert_int_equal(st.messages, 0);
    set_nat(again, "10.70.0.0/16");
    st = sync_ok(nft, again);
    assert_int_equal(st.messages, 1);
    set = run("nft list set inet tabby all-pools-4");
    /* natOutgoingAddress: snat programmed, then read back as tabby's own */
    {
        struct tby_cidr masq;
        struct tby_cidr_list m = { &masq, 1 };
        struct tby_ip to;
        _cleanup_free_ char *snat = NULL;

        assert_int_equal(tby_cidr_parse("10.65.0.0/16", TBY_CIDR_STRICT, &masq, NULL), 0);
        assert_int_equal(tby_ip_parse("192.0.2.9", &to, NULL), 0);
        assert_int_equal(tby_calc_set_nat_to(again, &m, &m, &to), 0);
        sync_ok(nft, again);
        snat = run("nft list chain inet tabby nat-postrouting");
        assert_listed(snat, "snat ip to 192.0.2.9 comment \"natOutgoing\"");
        tby_nft_close(nft);
        nft = nft_open();
        st = sync_ok(nft, again);
        assert_true(st.read_back);
        assert_int_equal(st.messages, 0);
    }
    assert_listed(set, "elements = { 10.65.0.0/16, 10.70.0.0/16 }");
    tby_nft_close(nft);
}

/* Deleting policies takes their chains, their sets and their dispatch rules in one
 * transaction (the kernel refuses to delete a set or chain something still uses). */
static void test_deleting_policies_takes_their_sets_and_rules_along(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL, *again = NULL;

    (void)state;
    sync_ok(nft, c);
    delete(c, policies);
    sync_ok(nft, c);
    listed = run("nft list table inet tabby");
    assert_null(strstr(listed, "pi-"));
    assert_null(strstr(listed, "po-"));
    assert_null(strstr(listed, "set wl-"));
    apply(c, policies);
    sync_ok(nft, c);
    again = run("nft list set inet tabby to-wl-selected");
    assert_listed(again, "\"cali-db\"");
}

/* A selector's set holds pods' addresses and network sets' nets as ranges: pods side by
 * side, a net taking the place of the pods it covers and giving it back, in batches the
 * kernel takes; read back after a restart, nothing differs. */
static struct tby_calc *with_threats(bool net)
{
    struct tby_calc *c = calc_new();

    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: deny-threats}\n"
             "spec:\n  selector: all()\n  types: [Egress]\n  egress:\n"
             "  - action: Deny\n    destination: {selector: threat-feed == 'true'}\n");
    wep(c, (struct wep_spec){ "default", "a", NULL, "cali-a", "10.0.0.1", "app=web", NULL });
    wep(c, (struct wep_spec){ "x", "b1", "node-b", NULL, "10.0.5.1", "threat-feed=true", NULL });
    wep(c, (struct wep_spec){ "x", "b2", "node-b", NULL, "10.0.5.2", "threat-feed=true", NULL });
    if (net)
        apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
                 "metadata: {name: threats, labels: {threat-feed: 'true'}}\n"
                 "spec:\n  nets: [10.0.5.0/24, 203.0.113.7, '2001:db8::/64']\n");
    return c;
}

static void test_selector_sets_hold_pods_and_network_sets(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = with_threats(false);
    _cleanup_(tby_calc_freep) struct tby_calc *again = with_threats(true);
    _cleanup_free_ char *pods = NULL, *nets = NULL, *back = NULL, *text = NULL, *cmd = NULL;
    struct tby_nft *nft = nft_open();
    struct tby_nft_stats st;
    char sel[128];

    (void)state;
    sync_ok(nft, c);
    text = dump(c);
    set_named(text, "threat-feed == 'true'", sel, sizeof(sel));
    assert_true(asprintf(&cmd, "nft list set inet tabby %s", sel) > 0);
    pods = run(cmd);
    assert_listed(pods, "10.0.5.1");
    assert_listed(pods, "10.0.5.2");
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
             "metadata: {name: threats, labels: {threat-feed: 'true'}}\n"
             "spec:\n  nets: [10.0.5.0/24, 203.0.113.7, '2001:db8::/64']\n");
    st = sync_ok(nft, c);
    assert_false(st.read_back);
    nets = run(cmd);
    assert_listed(nets, "10.0.5.0/24");
    assert_listed(nets, "203.0.113.7");
    /* a restart reads back exactly what it wants */
    nft = restart_changes_nothing(nft, again);
    delete(again, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
                  "metadata: {name: threats}\nspec: {}\n");
    sync_ok(nft, again);
    back = run(cmd);
    assert_listed(back, "10.0.5.1");
    assert_listed(back, "10.0.5.2");
    assert_null(strstr(back, "10.0.5.0/24"));
    tby_nft_close(nft);
}

/* A table of an older tabby, whose selector sets held addresses only (type ipv4_addr, no
 * intervals): the first sync rebuilds the table in one batch, the next sends nothing. */
static void test_selector_set_of_an_older_type_is_rebuilt(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = with_threats(true);
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *text = NULL, *cmd = NULL, *out = NULL, *listed = NULL;
    struct tby_nft_stats st;
    char sel[128];

    (void)state;
    text = dump(c);
    set_named(text, "threat-feed == 'true'", sel, sizeof(sel));
    assert_true(asprintf(&cmd, "nft add table inet tabby && nft add set inet tabby %s "
                               "'{ type ipv4_addr; }' && nft add element inet tabby %s "
                               "'{ 10.0.5.1 }' && echo made", sel, sel) > 0);
    out = run(cmd);
    assert_listed(out, "made");
    st = sync_ok(nft, c);
    assert_true(st.read_back);
    assert_true(st.rebuilt);
    free(cmd);
    assert_true(asprintf(&cmd, "nft list set inet tabby %s", sel) > 0);
    listed = run(cmd);
    assert_listed(listed, "flags interval");
    assert_listed(listed, "10.0.5.0/24");
    st = sync_ok(nft, c);
    assert_int_equal(st.messages, 0);
}

static void test_rendered_text_loads_with_nft(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_free_ char *text = NULL, *out = NULL;
    char path[] = "/tmp/tby-nft-XXXXXX", cmd[128];
    int fd = mkstemp(path);

    (void)state;
    set_nat(c, "10.70.0.0/16");
    /* a host endpoint with a doNotTrack policy: the raw chains' notrack */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
             "metadata: {name: node-a-eth0, labels: {role: edge}}\n"
             "spec: {node: node-a, interfaceName: eth0}\n---\n"
             "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: raw}\nspec: {selector: role == 'edge', doNotTrack: true, "
             "applyOnForward: true, ingress: [{action: Allow}], egress: [{action: Allow}]}\n");
    text = dump(c);
    assert_non_null(strstr(text, "notrack accept"));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(cmd, sizeof(cmd), "nft -f %s 2>&1 && echo loaded", path);
    out = run(cmd);
    unlink(path);
    if (!strstr(out, "loaded"))
        fail_msg("nft -f refused the rendering: %s\n%s", out, text);
}

/* doNotTrack's raw-priority hooks come with the first untracked chain and go with the last,
 * each in one batch the kernel takes (base chains flushed, then deleted; no rebuild); a
 * restart over a table holding them that a calculation no longer wants deletes them. */
static const char *const untracked =
    "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
    "metadata: {name: node-a-eth0, labels: {role: edge}}\n"
    "spec: {node: node-a, interfaceName: eth0}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
    "metadata: {name: raw}\n"
    "spec:\n  selector: role == 'edge'\n  doNotTrack: true\n  applyOnForward: true\n"
    "  types: [Ingress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n"
    "    destination: {ports: [8080]}\n";

static void assert_raw_hooks(bool want)
{
    _cleanup_free_ char *table = run("nft list table inet tabby");

    assert_int_equal(strstr(table, "chain raw-prerouting-hook {") != NULL, want);
    assert_int_equal(strstr(table, "chain raw-output-hook {") != NULL, want);
    assert_int_equal(strstr(table, "chain host-raw-in {") != NULL, want);
    assert_int_equal(strstr(table, "chain failsafe-raw-in {") != NULL, want);
}

static void test_raw_hooks_come_and_go_with_do_not_track(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_calc_freep) struct tby_calc *plain = populated();
    struct tby_nft *nft = nft_open();
    struct tby_nft_stats st;

    (void)state;
    sync_ok(nft, c);
    assert_raw_hooks(false);
    apply(c, untracked);
    st = sync_ok(nft, c);
    assert_false(st.rebuilt);
    assert_raw_hooks(true);
    nft = restart_changes_nothing(nft, c);
    delete(c, untracked);
    st = sync_ok(nft, c);
    assert_false(st.rebuilt);
    assert_raw_hooks(false);
    nft = restart_changes_nothing(nft, c);
    apply(c, untracked);
    sync_ok(nft, c);
    assert_raw_hooks(true);
    tby_nft_close(nft);
    nft = nft_open(); /* a restart without the policy: read back, the hooks deleted */
    st = sync_ok(nft, plain);
    assert_false(st.rebuilt);
    assert_raw_hooks(false);
    tby_nft_close(nft);
}

static void test_cleanup_deletes_the_table(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = populated();
    _cleanup_(tby_nft_closep) struct tby_nft *nft = nft_open();
    _cleanup_free_ char *listed = NULL;

    (void)state;
    sync_ok(nft, c);
    assert_int_equal(tby_nft_delete_table(nft, NULL), 0);
    assert_int_equal(tby_nft_delete_table(nft, NULL), 0); /* absent is fine */
    listed = run("nft list tables");
    assert_null(strstr(listed, "tabby"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_sync_programs_what_the_ruleset_says, setup),
        cmocka_unit_test_setup(test_restart_reads_back_and_changes_nothing, setup),
        cmocka_unit_test_setup(test_elements_changed_by_hand_are_repaired_on_restart, setup),
        cmocka_unit_test_setup(test_endpoint_change_sends_only_elements, setup),
        cmocka_unit_test_setup(test_table_deleted_by_hand_is_noticed_and_rebuilt, setup),
        cmocka_unit_test_setup(test_chain_flushed_by_hand_is_refilled_alone, setup),
        cmocka_unit_test_setup(test_base_chain_policy_changed_by_hand_rebuilds, setup),
        cmocka_unit_test_setup(test_nat_chain_is_programmed_read_back_and_follows_pools, setup),
        cmocka_unit_test_setup(test_deleting_policies_takes_their_sets_and_rules_along, setup),
        cmocka_unit_test_setup(test_selector_sets_hold_pods_and_network_sets, setup),
        cmocka_unit_test_setup(test_selector_set_of_an_older_type_is_rebuilt, setup),
        cmocka_unit_test_setup(test_rendered_text_loads_with_nft, setup),
        cmocka_unit_test_setup(test_raw_hooks_come_and_go_with_do_not_track, setup),
        cmocka_unit_test_setup(test_cleanup_deletes_the_table, setup),
        cmocka_unit_test_setup(test_rule_counters_are_read_by_comment, setup),
    };

    /* Never the host's namespace: a fresh one for this process and its children. */
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
        printf("SKIP test_nft: needs root to make a network namespace\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
