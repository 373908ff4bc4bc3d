/* test_node_felix.c — FelixConfigurations as tabby-node's settings: the default one
 * applies, the node's own wins over it field by field, a setting given to tabby-node wins
 * over both, every change applies at once (no restart), and removing them brings tabby's
 * own values back. The felix part alone, on a sqlite datastore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node_fixture.h"

#define FELIX(name, spec) \
    "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: " name \
    "}\nspec: " spec "\n"

static void start(struct node_fixture *f, const char *const *flags)
{
    fixture_init(f, flags);
    fixture_start(f, (const char *[]){ "felix", NULL });
    node_turn(&f->n, 0);
}

static void delete(struct node_fixture *f, const char *name)
{
    struct tby_error err = { 0 };

    if (tby_catalog_delete_one(f->n.store, tby_kind_info(TBY_KIND_FELIXCONFIG), NULL, name,
                               &err) < 0)
        fail_msg("delete %s: %s", name, tby_error_str(&err));
    node_turn(&f->n, 0);
}

static void test_default_applies_and_the_node_s_own_wins(void **state)
{
    struct node_fixture f;
    const struct node_config *c = &f.n.cfg;

    (void)state;
    start(&f, NULL);
    assert_int_equal(c->metrics_port, 0);
    fixture_apply(&f, FELIX("default", "{logSeverityScreen: Debug, prometheusMetricsEnabled: "
                                       "true, routeRefreshInterval: 30s, "
                                       "iptablesRefreshInterval: 45s}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->log_level, TBY_LOG_DEBUG);
    assert_int_equal(c->metrics_port, 9091);            /* Calico's default port */
    assert_string_equal(c->v[NODE_METRICS_HOST], "0.0.0.0");
    assert_int_equal(c->route_resync_s, 30);
    assert_int_equal(c->policy_resync_s, 45);
    assert_int_equal(c->health_port, 0);                /* the fixture's --health-port 0 */
    /* the node's own, field by field; nftables' interval over iptables' */
    fixture_apply(&f, FELIX("node.n1", "{logSeverityScreen: Warning, prometheusMetricsPort: "
                                       "9300, prometheusMetricsHost: localhost, "
                                       "nftablesRefreshInterval: 1m}"));
    fixture_apply(&f, FELIX("node.n2", "{logSeverityScreen: Error}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->log_level, TBY_LOG_WARNING);
    assert_int_equal(c->metrics_port, 9300);
    assert_string_equal(c->v[NODE_METRICS_HOST], "127.0.0.1");
    assert_int_equal(c->route_resync_s, 30);
    assert_int_equal(c->policy_resync_s, 60);
    /* gone: the default's again, then tabby-node's own */
    delete(&f, "node.n1");
    assert_int_equal(c->log_level, TBY_LOG_DEBUG);
    assert_int_equal(c->metrics_port, 9091);
    delete(&f, "default");
    assert_int_equal(c->log_level, TBY_LOG_INFO);
    assert_int_equal(c->metrics_port, 0);
    assert_int_equal(c->route_resync_s, 300);
    assert_int_equal(c->policy_resync_s, 300);
    fixture_stop(&f);
    tby_log_set_level(TBY_LOG_ERROR);
}

/* Given to tabby-node (a flag here), a setting is not the datastore's to change. */
static void test_settings_given_to_the_node_win(void **state)
{
    struct node_fixture f;
    const struct node_config *c = &f.n.cfg;

    (void)state;
    start(&f, (const char *[]){ "--log-level", "error", "--resync", "120", NULL });
    fixture_apply(&f, FELIX("default", "{logSeverityScreen: Debug, healthPort: 9400, "
                                       "healthEnabled: true, routeRefreshInterval: 10s}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->log_level, TBY_LOG_ERROR);
    assert_int_equal(c->health_port, 0);                /* the fixture's --health-port 0 */
    assert_int_equal(c->route_resync_s, 120);
    assert_int_equal(c->policy_resync_s, 120);
    fixture_stop(&f);
}

/* healthEnabled false turns the health server off unless the node was told a port. */
static void test_health_enabled_false_closes_the_health_port(void **state)
{
    struct node_fixture f;
    const struct node_config *c = &f.n.cfg;

    (void)state;
    fixture_init(&f, NULL);
    /* the fixture gives --health-port 0; as if it had not been given at all */
    f.n.cfg.explicit[NODE_HEALTH_PORT] = false;
    fixture_start(&f, (const char *[]){ "felix", NULL });
    node_turn(&f.n, 0);
    fixture_apply(&f, FELIX("default", "{healthPort: 9500}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->health_port, 9500);
    fixture_apply(&f, FELIX("node.n1", "{healthEnabled: false}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->health_port, 0);
    fixture_stop(&f);
}

/* FELIX_* variables, in any case as Felix takes them, beat both FelixConfigurations. */
static void test_felix_variables_beat_the_felixconfigurations(void **state)
{
    struct node_fixture f;
    const struct node_config *c = &f.n.cfg;

    (void)state;
    setenv("FELIX_LOGSEVERITYSCREEN", "warning", 1);
    setenv("Felix_RouteRefreshInterval", "12.5", 1);
    setenv("FELIX_PROMETHEUSMETRICSENABLED", "yes", 1);
    setenv("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT", 1); /* Calico's manifest */
    setenv("FELIX_HEALTHENABLED", "true", 1);
    start(&f, NULL);
    assert_int_equal(c->log_level, TBY_LOG_WARNING);
    assert_int_equal(c->route_resync_s, 13);
    assert_int_equal(c->metrics_port, 9091);
    fixture_apply(&f, FELIX("default", "{logSeverityScreen: Debug, prometheusMetricsPort: "
                                       "9300, routeRefreshInterval: 30s}"));
    fixture_apply(&f, FELIX("node.n1", "{logSeverityScreen: Error}"));
    node_turn(&f.n, 0);
    assert_int_equal(c->log_level, TBY_LOG_WARNING);
    assert_int_equal(c->route_resync_s, 13);
    assert_int_equal(c->metrics_port, 9300);           /* a field the variables leave */
    fixture_stop(&f);
    unsetenv("FELIX_LOGSEVERITYSCREEN");
    unsetenv("Felix_RouteRefreshInterval");
    unsetenv("FELIX_PROMETHEUSMETRICSENABLED");
    unsetenv("FELIX_DEFAULTENDPOINTTOHOSTACTION");
    unsetenv("FELIX_HEALTHENABLED");
    tby_log_set_level(TBY_LOG_ERROR);
}

static void test_bad_felix_variables_are_refused_naming_them(void **state)
{
    static const char *const cases[][2] = {
        { "FELIX_LOGSEVERITYSCREEN=loud", "FELIX_LOGSEVERITYSCREEN=loud: spec.logSeverityScreen" },
        { "FELIX_HEALTHPORT=many", "FELIX_HEALTHPORT: \"many\": healthPort must be a number" },
        { "FELIX_HEALTHPORT=70000", "FELIX_HEALTHPORT=70000: spec.healthPort" },
        { "FELIX_HEALTHENABLED=sure", "FELIX_HEALTHENABLED: \"sure\": healthEnabled must be "
          "true or false" },
        { "FELIX_ROUTEREFRESHINTERVAL=soon", "FELIX_ROUTEREFRESHINTERVAL: \"soon\": "
          "routeRefreshInterval must be seconds" },
        { "FELIX_BPFENABLED=true", "FELIX_BPFENABLED=true: spec.bpfEnabled: only [false]" },
        { "FELIX_VXLANVNI=0", "FELIX_VXLANVNI=0: spec.vxlanVNI: must be between" },
        { "FELIX_FAILSAFEINBOUNDHOSTPORTS=tcp:ssh", "FELIX_FAILSAFEINBOUNDHOSTPORTS: \"tcp:ssh\": "
          "failsafeInboundHostPorts must be a list of" },
        { "FELIX_FAILSAFEOUTBOUNDHOSTPORTS=sctp:9", "FELIX_FAILSAFEOUTBOUNDHOSTPORTS=sctp:9: "
          "spec.failsafeOutboundHostPorts[0].protocol: must be TCP or UDP" },
        { "FELIX_WIREGUARDENABLED=true", "FELIX_WIREGUARDENABLED=true: spec.wireguardEnabled: is "
          "not enforced by tabby" },
        { "FELIX_LOGSEVERITYSCRN=info", "FELIX_LOGSEVERITYSCRN: not a setting of Felix's" },
        { "FELIX_FAILSAFEINBOUNDHOSTPORTS=ssh", "FELIX_FAILSAFEINBOUNDHOSTPORTS: \"ssh\": "
          "failsafeInboundHostPorts must be a list of [protocol:][net:]port (tcp:22,udp:68) or none" },
        { "FELIX_FAILSAFEOUTBOUNDHOSTPORTS=tcp:10.0.0.0/33:22",
          "spec.failsafeOutboundHostPorts[0].net: " },
        { "FELIX_DEFAULTENDPOINTTOHOSTACTION=reject", "spec.defaultEndpointToHostAction: must "
          "be Drop, Accept or Return" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *envp[] = { "PATH=/bin", (char *)cases[i][0], NULL };
        struct tby_resource *res = NULL;
        struct tby_error err = { 0 };

        assert_true(node_felix_env(envp, &res, &err) < 0);
        assert_null(res);
        if (!strstr(tby_error_str(&err), cases[i][1]))
            fail_msg("\"%s\" does not say \"%s\"", tby_error_str(&err), cases[i][1]);
    }
}

/* The dataplane's settings (VXLAN, IPIP, NAT address, IPv6, interface prefix, failsafe
 * ports, defaultEndpointToHostAction) reach the node's settings as they change, with a
 * new generation each time, and go back to Calico's defaults when removed. */
static void test_dataplane_settings_reach_the_node_live(void **state)
{
    struct node_fixture f;
    const struct tby_felix_settings *dp = &f.n.cfg.dp;
    uint64_t gen;
    char ip[TBY_IP_STRLEN];

    (void)state;
    start(&f, NULL);
    assert_int_equal(dp->vxlan_vni, 4096);
    assert_int_equal(dp->vxlan_port, 4789);
    assert_true(dp->ipv6);
    assert_string_equal(dp->interface_prefix, "tby");
    assert_int_equal(dp->to_host, TBY_FELIX_TO_HOST_DROP);
    assert_false(dp->spoofing_any);                      /* workloadSourceSpoofing Disabled */
    assert_int_equal(dp->n_failsafe[0], 9);              /* Calico's: 22, 68, 179, … */
    assert_int_equal(dp->failsafe[0][0].port, 22);
    assert_int_equal(dp->failsafe[1][0].port, 53);
    assert_int_equal(dp->failsafe[1][0].protocol, TBY_PROTO_UDP);
    gen = dp->generation;
    fixture_apply(&f, FELIX("default", "{vxlanVNI: 5000, vxlanPort: 8472, vxlanMTU: 1400, "
                                       "vxlanMTUV6: 1380, ipipMTU: 1440, ipv6Support: false, "
                                       "natOutgoingAddress: 192.0.2.9, interfacePrefix: "
                                       "' tby ', defaultEndpointToHostAction: Accept, "
                                       "failsafeInboundHostPorts: [{protocol: TCP, port: "
                                       "2222}], "
                                       "failsafeOutboundHostPorts: [], "
                                       "workloadSourceSpoofing: Any}"));
    node_turn(&f.n, 0);
    assert_true(dp->generation > gen);
    assert_int_equal(dp->vxlan_vni, 5000);
    assert_int_equal(dp->vxlan_port, 8472);
    assert_int_equal(dp->vxlan_mtu[0], 1400);
    assert_int_equal(dp->vxlan_mtu[1], 1380);
    assert_int_equal(dp->ipip_mtu, 1440);
    assert_false(dp->ipv6);
    assert_true(dp->has_nat_address);
    assert_string_equal(tby_ip_format(&dp->nat_address, ip), "192.0.2.9");
    assert_string_equal(dp->interface_prefix, " tby ");
    assert_int_equal(dp->to_host, TBY_FELIX_TO_HOST_ACCEPT);
    assert_int_equal(dp->n_failsafe[0], 1);
    assert_int_equal(dp->failsafe[0][0].port, 2222);
    assert_false(dp->failsafe[0][0].has_net);
    assert_int_equal(dp->n_failsafe[1], 0);
    assert_true(dp->spoofing_any);
    /* the node's own wins field by field */
    gen = dp->generation;
    fixture_apply(&f, FELIX("node.n1", "{vxlanVNI: 6000, workloadSourceSpoofing: Disabled}"));
    node_turn(&f.n, 0);
    assert_true(dp->generation > gen);
    assert_int_equal(dp->vxlan_vni, 6000);
    assert_int_equal(dp->vxlan_port, 8472);
    assert_false(dp->spoofing_any);
    /* an unrelated change leaves the generation */
    gen = dp->generation;
    fixture_apply(&f, FELIX("node.n1", "{vxlanVNI: 6000, workloadSourceSpoofing: Disabled, "
                                        "logSeverityScreen: Info}"));
    node_turn(&f.n, 0);
    assert_int_equal(dp->generation, gen);
    delete(&f, "node.n1");
    delete(&f, "default");
    assert_int_equal(dp->vxlan_vni, 4096);
    assert_true(dp->ipv6);
    assert_false(dp->has_nat_address);
    assert_int_equal(dp->n_failsafe[1], 9);
    fixture_stop(&f);
    tby_log_set_level(TBY_LOG_ERROR);
}

/* FELIX_* variables set them too, in Felix's spellings (IpInIpMtu, port lists). */
static void test_felix_variables_set_the_dataplane(void **state)
{
    struct node_fixture f;
    const struct tby_felix_settings *dp = &f.n.cfg.dp;

    (void)state;
    setenv("FELIX_IPINIPMTU", "1420", 1);
    setenv("FELIX_FAILSAFEINBOUNDHOSTPORTS", "tcp:22, udp:68,179", 1);
    setenv("FELIX_FAILSAFEOUTBOUNDHOSTPORTS", "none", 1);
    setenv("FELIX_VXLANVNI", "7000", 1);
    start(&f, NULL);
    fixture_apply(&f, FELIX("default", "{vxlanVNI: 5000}"));
    node_turn(&f.n, 0);
    assert_int_equal(dp->ipip_mtu, 1420);
    assert_int_equal(dp->vxlan_vni, 7000);
    assert_int_equal(dp->n_failsafe[0], 3);
    assert_int_equal(dp->failsafe[0][1].protocol, TBY_PROTO_UDP);
    assert_int_equal(dp->failsafe[0][2].port, 179);
    assert_int_equal(dp->failsafe[0][2].protocol, TBY_PROTO_TCP);
    assert_int_equal(dp->n_failsafe[1], 0);
    fixture_stop(&f);
    unsetenv("FELIX_IPINIPMTU");
    unsetenv("FELIX_FAILSAFEINBOUNDHOSTPORTS");
    unsetenv("FELIX_FAILSAFEOUTBOUNDHOSTPORTS");
    unsetenv("FELIX_VXLANVNI");
    tby_log_set_level(TBY_LOG_ERROR);
}

/* Felix's form of the failsafe ports: "tcp:22,udp:68", "none". */
static void test_felix_variables_give_failsafe_ports(void **state)
{
    char *envp[] = { "FELIX_FAILSAFEINBOUNDHOSTPORTS=tcp:22, UDP:68",
                     "FELIX_FAILSAFEOUTBOUNDHOSTPORTS=none",
                     "FELIX_DEFAULTENDPOINTTOHOSTACTION=RETURN", NULL };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_error err = { 0 };
    const struct tby_felixconfig *c;

    (void)state;
    if (node_felix_env(envp, &res, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    c = res->spec.felixconfig;
    assert_true(c->failsafe_in.set && c->failsafe_out.set);
    assert_int_equal(c->failsafe_in.n, 2);
    assert_int_equal(c->failsafe_in.items[0].protocol, TBY_PROTO_TCP);
    assert_int_equal(c->failsafe_in.items[0].port, 22);
    assert_int_equal(c->failsafe_in.items[1].protocol, TBY_PROTO_UDP);
    assert_int_equal(c->failsafe_in.items[1].port, 68);
    assert_int_equal(c->failsafe_out.n, 0);
    assert_int_equal(c->to_host, TBY_FELIX_TO_HOST_RETURN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_applies_and_the_node_s_own_wins),
        cmocka_unit_test(test_settings_given_to_the_node_win),
        cmocka_unit_test(test_health_enabled_false_closes_the_health_port),
        cmocka_unit_test(test_felix_variables_beat_the_felixconfigurations),
        cmocka_unit_test(test_bad_felix_variables_are_refused_naming_them),
        cmocka_unit_test(test_dataplane_settings_reach_the_node_live),
        cmocka_unit_test(test_felix_variables_set_the_dataplane),
        cmocka_unit_test(test_felix_variables_give_failsafe_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
