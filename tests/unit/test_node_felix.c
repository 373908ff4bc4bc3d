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
        { "FELIX_IPV6SUPPORT=false", "FELIX_IPV6SUPPORT=false: spec.ipv6Support: only [true]" },
        { "FELIX_WIREGUARDENABLED=true", "FELIX_WIREGUARDENABLED=true: spec.wireguardEnabled: is "
          "not enforced by tabby" },
        { "FELIX_LOGSEVERITYSCRN=info", "FELIX_LOGSEVERITYSCRN: not a setting of Felix's" },
        { "FELIX_FAILSAFEINBOUNDHOSTPORTS=ssh", "FELIX_FAILSAFEINBOUNDHOSTPORTS: \"ssh\": "
          "failsafeInboundHostPorts must be a list such as tcp:22,udp:68" },
        { "FELIX_FAILSAFEOUTBOUNDHOSTPORTS=tcp:10.0.0.0/8:22",
          "spec.failsafeOutboundHostPorts[0].net: is not enforced by tabby" },
        { "FELIX_DEFAULTENDPOINTTOHOSTACTION=reject", "spec.defaultEndpointToHostAction: must "
          "be Drop, Return or Accept" },
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
    assert_true(c->has_failsafe_in && c->has_failsafe_out && c->has_endpoint_to_host);
    assert_int_equal(c->n_failsafe_in, 2);
    assert_int_equal(c->failsafe_in[0].proto, TBY_PROTO_TCP);
    assert_int_equal(c->failsafe_in[0].port, 22);
    assert_int_equal(c->failsafe_in[1].proto, TBY_PROTO_UDP);
    assert_int_equal(c->failsafe_in[1].port, 68);
    assert_int_equal(c->n_failsafe_out, 0);
    assert_int_equal(c->endpoint_to_host, TBY_EP_TO_HOST_RETURN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_applies_and_the_node_s_own_wins),
        cmocka_unit_test(test_settings_given_to_the_node_win),
        cmocka_unit_test(test_health_enabled_false_closes_the_health_port),
        cmocka_unit_test(test_felix_variables_beat_the_felixconfigurations),
        cmocka_unit_test(test_bad_felix_variables_are_refused_naming_them),
        cmocka_unit_test(test_felix_variables_give_failsafe_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
