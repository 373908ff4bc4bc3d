/* test_calc_untracked.c — doNotTrack policies read as nft text: the raw-priority hooks
 * (only while some endpoint has an untracked chain),
 * the untracked chain of a named host endpoint (raw failsafe first, an Allow marked,
 * notrack'ed and accepted, no tier's end drop, no profile), nothing for workloads or for
 * the all-interfaces endpoint, and the later hooks accepting what was allowed untracked. */
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

static const char *const untracked =
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
    "metadata: {name: raw}\n"
    "spec:\n  selector: role == 'edge'\n  doNotTrack: true\n  applyOnForward: true\n"
    "  order: 5\n  types: [Ingress, Egress]\n  ingress:\n"
    "  - action: Deny\n    protocol: TCP\n    destination: {ports: [8081]}\n"
    "  - action: Allow\n    protocol: TCP\n    destination: {ports: [8080]}\n"
    "  egress:\n  - action: Allow\n    protocol: TCP\n    source: {ports: [8080]}\n";

/* No raw-priority chain, and no later hook testing the untracked mark, while no doNotTrack
 * policy applies (every packet would pay for them); nothing else in the table. */
static void assert_no_untracked_part(const char *t)
{
    assert_lacks(t, "raw-prerouting-hook");
    assert_lacks(t, "raw-output-hook");
    assert_lacks(t, "host-raw-");
    assert_lacks(t, "failsafe-raw-");
    assert_lacks(t, "priority -300");
    assert_lacks(t, "0x00040000");
    assert_has(t, "\t\tct state invalid oifname @local-wl counter drop\n"
                  "\t\tjump host-fwd-in\n");
}

static void test_raw_hooks_only_while_an_endpoint_has_an_untracked_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_new();
    _cleanup_free_ char *t = dump(c), *before = NULL, *j = NULL;

    (void)state;
    assert_no_untracked_part(t);
    apply(c, eth0);
    before = dump(c);
    assert_no_untracked_part(before);
    apply(c, untracked);
    free(t);
    t = dump(c);
    assert_has(t, "chain raw-prerouting-hook {\n\t\ttype filter hook prerouting priority -300; "
                  "policy accept;\n\t\tmeta mark set mark & 0xfff8ffff\n"
                  "\t\tiifname @local-wl return\n\t\tjump host-raw-in\n\t}");
    assert_has(t, "chain raw-output-hook {\n\t\ttype filter hook output priority -300; "
                  "policy accept;\n\t\tmeta mark set mark & 0xfff8ffff\n"
                  "\t\tjump host-raw-out\n\t}");
    /* failsafe both ways: to an inbound port, and replies from an outbound one */
    assert_has(t, "chain failsafe-raw-in {\n\t\tmeta l4proto tcp th dport 22 accept\n");
    assert_has(t, "\t\tmeta l4proto udp th sport 53 accept\n");
    assert_has(t, "chain failsafe-raw-out {\n\t\tmeta l4proto udp th dport 53 accept\n");
    assert_has(t, "\t\tmeta l4proto tcp th sport 22 accept\n");
    /* the later hooks accept what a doNotTrack policy allowed */
    assert_has(t, "without workloadSourceSpoofing Any\"\n"
                  "\t\tct state established,related accept\n"
                  "\t\tmeta mark & 0x00040000 != 0 accept\n\t\toifname @local-wl accept\n"
                  "\t\tjump host-out\n");
    assert_has(t, "chain output-hook {\n\t\ttype filter hook output priority 0; policy accept;\n"
                  "\t\toifname @from-wl-src-held limit rate");
    assert_has(t, "ct state established,related accept\n"
                  "\t\tmeta mark & 0x00040000 != 0 accept\n\t\tiifname @local-wl return\n"
                  "\t\tjump host-pre\n");
    assert_has(t, "\t\tmeta mark & 0x00040000 != 0 accept\n\t\tjump host-in\n\t}");
    assert_has(t, "\t\tmeta mark & 0x00040000 == 0 jump host-fwd-in\n");
    /* the last goes: the raw part goes, in one journal (flushed, then deleted, as nft.c's
     * batch does), and the table is as before */
    tby_rs_journal_done(tby_calc_ruleset(c));
    delete(c, untracked);
    j = journal(c);
    assert_has(j, "flush chain inet tabby raw-prerouting-hook");
    assert_has(j, "flush chain inet tabby input-hook");
    assert_has(j, "delete chain inet tabby raw-prerouting-hook");
    assert_has(j, "delete chain inet tabby raw-output-hook");
    assert_has(j, "delete chain inet tabby host-raw-in");
    assert_has(j, "delete chain inet tabby failsafe-raw-out");
    free(t);
    t = dump(c);
    assert_string_equal(t, before);
    /* and come back with the next */
    tby_rs_journal_done(tby_calc_ruleset(c));
    apply(c, untracked);
    free(t);
    t = dump(c);
    assert_has(t, "chain raw-output-hook {\n\t\ttype filter hook output priority -300; ");
    assert_has(t, "\t\tmeta mark & 0x00040000 == 0 jump host-fwd-in\n");
}

/* A doNotTrack policy selecting a named host endpoint runs in its raw chains, both ways. */
static void test_untracked_policy_runs_in_the_endpoints_raw_chains(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    /* no doNotTrack policy: no untracked chain, nothing in the raw dispatch */
    assert_lacks(t, "hrin-if-eth0");
    apply(c, untracked); /* doNotTrack: true, applyOnForward: true */
    free(t);
    t = dump(c);
    assert_has(t, "chain host-raw-in {\n\t\tiifname @hif-eth0 goto hrin-if-eth0\n\t}");
    assert_has(t, "chain host-raw-out {\n\t\toifname @hif-eth0 goto hrout-if-eth0\n\t}");
    assert_has(t, "chain hrin-if-eth0 {\n\t\tjump failsafe-raw-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/raw\n"
                  "\t\tmeta mark & 0x00010000 != 0 meta mark set mark | 0x00040000 notrack "
                  "accept\n\t}");
    assert_has(t, "chain hrout-if-eth0 {\n\t\tjump failsafe-raw-out\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n"
                  "\t\tmeta mark set mark & 0xfffdffff\n"
                  "\t\tmeta mark & 0x00020000 == 0 jump po-gnp/raw\n"
                  "\t\tmeta mark & 0x00010000 != 0 meta mark set mark | 0x00040000 notrack "
                  "accept\n\t}");
    /* the policy's own chain: its Deny drops, its Allow marks */
    assert_has(t, "chain pi-gnp/raw {\n");
    /* not in the endpoint's tracked chains, nor forward, nor preDNAT, nor workloads */
    assert_has(t, "chain hin-if-eth0 {\n\t\tjump failsafe-in\n"
                  "\t\tmeta mark set mark & 0xfffcffff\n\t\tlimit rate");
    assert_has(t, "chain host-fwd-in {\n\t}");
    assert_has(t, "chain host-pre {\n\t}");
    assert_lacks(t, "to-wl-tier-default");
    assert_lacks(t, "from-wl-tier-default");
}

static void test_all_interfaces_endpoint_takes_no_untracked_policy(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(any_iface, untracked, NULL);
    _cleanup_free_ char *t = dump(c);

    (void)state;
    /* Calico ignores doNotTrack policy on an interfaceName "*" endpoint: no raw hooks */
    assert_lacks(t, "hrin-any");
    assert_no_untracked_part(t);
}

static void test_untracked_policy_leaving_the_endpoint_leaves_its_chain(void **state)
{
    _cleanup_(tby_calc_freep) struct tby_calc *c = calc_of(eth0, untracked, NULL);
    _cleanup_free_ char *t = NULL;

    (void)state;
    /* the same policy, tracked now: it moves to the endpoint's normal chain */
    apply(c, "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: raw}\n"
             "spec:\n  selector: role == 'edge'\n  order: 5\n  types: [Ingress]\n"
             "  ingress:\n  - action: Allow\n");
    t = dump(c);
    assert_lacks(t, "hrin-if-eth0");
    assert_no_untracked_part(t);
    assert_has(t, "\t\tmeta mark & 0x00020000 == 0 jump pi-gnp/raw\n"
                  "\t\tmeta mark & 0x00010000 != 0 accept\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_hooks_only_while_an_endpoint_has_an_untracked_chain),
        cmocka_unit_test(test_untracked_policy_runs_in_the_endpoints_raw_chains),
        cmocka_unit_test(test_all_interfaces_endpoint_takes_no_untracked_policy),
        cmocka_unit_test(test_untracked_policy_leaving_the_endpoint_leaves_its_chain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
