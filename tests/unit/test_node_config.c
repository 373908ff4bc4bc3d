/* test_node_config.c — tabby-node's settings: defaults, Calico's environment variables,
 * the config file, flags, which of them wins, and bad values refused with the setting
 * named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "default_pool.h"
#include "node_config.h"
#include "tabby/model.h"

/* Every variable the settings read, unset before each test. */
static const char *const variables[] = {
    "NODENAME", "TABBY_STORE", "DATASTORE_TYPE", "KUBECONFIG", "IP", "IP_AUTODETECTION_METHOD",
    "IP6", "IP6_AUTODETECTION_METHOD", "AS", "TABBY_NETWORKING_BACKEND", "TABBY_BIRD_SOCKET",
    "TABBY_BIRD_CONFIG", "TABBY_SECRETS_DIR", "TABBY_HEALTH_PORT", "TABBY_HEALTH_HOST",
    "TABBY_LOG_LEVEL", "TABBY_RESYNC_INTERVAL", "TABBY_AUTODETECT_INTERVAL",
    "TABBY_IPAM_GC_INTERVAL", "TABBY_PID_FILE", "TABBY_NODE_CONFIG", "CALICO_NETWORKING_BACKEND",
    "TABBY_CNI_KUBECONFIG", "TABBY_CNI_SERVICE_ACCOUNT", "TABBY_CNI_TOKEN_SECONDS",
    "TABBY_SERVICEACCOUNT_DIR", "CALICO_NODENAME_FILE", "CLUSTER_TYPE", "NO_DEFAULT_POOLS",
    "CALICO_IPV4POOL_CIDR", "CALICO_IPV4POOL_IPIP", "CALICO_IPV4POOL_VXLAN",
    "CALICO_IPV4POOL_NAT_OUTGOING", "CALICO_IPV4POOL_BLOCK_SIZE",
    "CALICO_IPV4POOL_NODE_SELECTOR", "CALICO_IPV4POOL_DISABLE_BGP_EXPORT",
    "CALICO_IPV6POOL_CIDR", "CALICO_IPV6POOL_VXLAN", "CALICO_IPV6POOL_NAT_OUTGOING",
    "CALICO_IPV6POOL_BLOCK_SIZE", "CALICO_IPV6POOL_NODE_SELECTOR",
    "CALICO_IPV6POOL_DISABLE_BGP_EXPORT",
};

struct fixture {
    char dir[64];
    char file[128];           /* the config file, written by the test (empty at first) */
    struct node_config c;
    struct tby_error err;
};

static void write_file(struct fixture *f, const char *text)
{
    FILE *file = fopen(f->file, "w");

    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    for (size_t i = 0; i < sizeof(variables) / sizeof(variables[0]); i++)
        unsetenv(variables[i]);
    /* tabbyctl's settings file, where the datastore comes from last: none */
    setenv("TABBY_CONFIG", "/nonexistent/tabbyctl.cfg", 1);
    strcpy(f->dir, "/tmp/tby-node-config-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof(f->file), "%s/tabby-node.cfg", f->dir);
    write_file(f, "");
    setenv("TABBY_NODE_CONFIG", f->file, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    node_config_clear(&f->c);
    unlink(f->file);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Sets the variables of a NULL-terminated list of name, value pairs. */
static void set_env(const char *const *pairs)
{
    for (; pairs[0]; pairs += 2)
        assert_int_equal(setenv(pairs[0], pairs[1], 1), 0);
}

/* Loads the settings from the flags (NULL-terminated, after the program's name). */
static int load(struct fixture *f, const char *const *flags)
{
    char *argv[16] = { "tabby-node" };
    int argc = 1;

    for (; flags && *flags; flags++)
        argv[argc++] = (char *)*flags;
    node_config_clear(&f->c);
    memset(&f->err, 0, sizeof(f->err));
    return node_config_load(&f->c, argc, argv, &f->err);
}

/* The load fails, with a message holding `want`. */
static void refused(struct fixture *f, const char *const *flags, const char *want)
{
    assert_true(load(f, flags) < 0);
    if (!strstr(tby_error_str(&f->err), want))
        fail_msg("\"%s\" does not say \"%s\"", tby_error_str(&f->err), want);
}

static void test_defaults_fill_every_setting(void **state)
{
    struct fixture *f = *state;
    char host[256];

    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(f->c.v[NODE_NODENAME], host);
    assert_string_equal(f->c.v[NODE_STORE], "sqlite:/var/lib/tabby/tabby.db");
    assert_string_equal(f->c.v[NODE_IP], "autodetect");
    assert_string_equal(f->c.v[NODE_IP_METHOD], "first-found");
    assert_string_equal(f->c.v[NODE_IP6], "none");
    assert_int_equal(f->c.backend, NODE_BACKEND_BIRD);
    assert_string_equal(f->c.v[NODE_BIRD_SOCKET], "/run/bird/bird.ctl");
    assert_int_equal(f->c.health_port, 9099);
    assert_string_equal(f->c.v[NODE_HEALTH_HOST], "127.0.0.1");
    assert_int_equal(f->c.log_level, TBY_LOG_INFO);
    assert_int_equal(f->c.resync_s, 300);
    assert_int_equal(f->c.autodetect_interval_s, 60);
    assert_int_equal(f->c.ipam_gc_interval_s, 300);
    assert_string_equal(f->c.v[NODE_PID_FILE], "/run/tabby/tabby-node.pid");
    assert_string_equal(f->c.v[NODE_NODENAME_FILE], "/var/lib/calico/nodename");
    assert_null(f->c.v[NODE_CLUSTER_TYPE]);
    assert_false(f->c.has_as);
    assert_false(f->c.dump || f->c.cleanup || f->c.allow_root_netns || f->c.help);
}

static void test_environment_takes_calicos_names(void **state)
{
    struct fixture *f = *state;

    set_env((const char *[]){
        "NODENAME", "node-7",
        "IP", "10.0.0.7/24",
        "IP6", "autodetect",
        "IP6_AUTODETECTION_METHOD", "interface=eth.*",
        "AS", "64512",
        "TABBY_NETWORKING_BACKEND", "vxlan",
        "TABBY_STORE", "etcd:http://10.0.0.1:2379",
        "TABBY_HEALTH_PORT", "0",
        "TABBY_LOG_LEVEL", "debug",
        "CALICO_NODENAME_FILE", "/run/calico/nodename",
        "CLUSTER_TYPE", "k8s,bgp",
        NULL });
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->c.v[NODE_NODENAME_FILE], "/run/calico/nodename");
    assert_string_equal(f->c.v[NODE_CLUSTER_TYPE], "k8s,bgp");
    assert_string_equal(f->c.v[NODE_NODENAME], "node-7");
    assert_string_equal(f->c.v[NODE_IP], "10.0.0.7/24");
    assert_string_equal(f->c.v[NODE_IP6], "autodetect");
    assert_string_equal(f->c.v[NODE_IP6_METHOD], "interface=eth.*");
    assert_true(f->c.has_as);
    assert_int_equal(f->c.as_number, 64512);
    assert_int_equal(f->c.backend, NODE_BACKEND_VXLAN);
    assert_string_equal(f->c.v[NODE_STORE], "etcd:http://10.0.0.1:2379");
    assert_int_equal(f->c.health_port, 0);
    assert_int_equal(f->c.log_level, TBY_LOG_DEBUG);
}

/* calico-node's CALICO_NETWORKING_BACKEND, where tabby's own variable is not set. */
static void test_calico_backend_variable_where_tabbys_is_unset(void **state)
{
    struct fixture *f = *state;

    setenv("CALICO_NETWORKING_BACKEND", "none", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->c.backend, NODE_BACKEND_NONE);
    node_config_clear(&f->c);
    setenv("TABBY_NETWORKING_BACKEND", "vxlan", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->c.backend, NODE_BACKEND_VXLAN);
}

static void test_file_takes_the_same_keys_as_text_numbers_and_booleans(void **state)
{
    struct fixture *f = *state;

    write_file(f, "NODENAME: from-file\nTABBY_HEALTH_PORT: 9100\nAS: 65001\n"
                  "TABBY_NETWORKING_BACKEND: none\nIP: none\n");
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->c.v[NODE_NODENAME], "from-file");
    assert_int_equal(f->c.health_port, 9100);
    assert_int_equal(f->c.as_number, 65001);
    assert_int_equal(f->c.backend, NODE_BACKEND_NONE);
    assert_string_equal(f->c.v[NODE_IP], "none");
    assert_string_equal(f->c.config_path, f->file);
}

static void test_flags_beat_the_environment_which_beats_the_file(void **state)
{
    struct fixture *f = *state;

    write_file(f, "NODENAME: file\nTABBY_RESYNC_INTERVAL: 10\nTABBY_IPAM_GC_INTERVAL: 20\n");
    setenv("NODENAME", "env", 1);
    setenv("TABBY_RESYNC_INTERVAL", "30", 1);
    assert_int_equal(load(f, (const char *[]){ "--node", "flag", NULL }), 0);
    assert_string_equal(f->c.v[NODE_NODENAME], "flag");
    assert_int_equal(f->c.resync_s, 30);
    assert_int_equal(f->c.ipam_gc_interval_s, 20);
}

static void test_config_flag_names_the_file(void **state)
{
    struct fixture *f = *state;
    char other[160];
    FILE *file;

    snprintf(other, sizeof(other), "%s/other.cfg", f->dir);
    assert_non_null(file = fopen(other, "w"));
    fputs("TABBY_PID_FILE: \"\"\n", file);
    fclose(file);
    assert_int_equal(load(f, (const char *[]){ "--config", other, NULL }), 0);
    assert_string_equal(f->c.v[NODE_PID_FILE], "");
    unlink(other);
    refused(f, (const char *[]){ "--config", other, NULL }, "other.cfg: No such file");
}

static void test_missing_default_file_is_fine(void **state)
{
    struct fixture *f = *state;

    unsetenv("TABBY_NODE_CONFIG");
    if (access(TBY_NODE_CONFIG_PATH, F_OK) == 0)
        skip(); /* this machine has one */
    assert_int_equal(load(f, NULL), 0);
    assert_null(f->c.config_path);
}

static void test_file_with_unknown_key_or_a_list_is_refused_naming_file_and_key(void **state)
{
    struct fixture *f = *state;

    write_file(f, "NODE_NAME: typo\n");
    refused(f, NULL, "tabby-node.cfg: NODE_NAME: unknown setting");
    write_file(f, "IP: [10.0.0.1/24]\n");
    refused(f, NULL, "tabby-node.cfg: IP: must be a string or a number");
    write_file(f, "- NODENAME\n");
    refused(f, NULL, "tabby-node.cfg: must be a mapping of settings");
}

static void test_file_larger_than_a_megabyte_is_refused(void **state)
{
    struct fixture *f = *state;
    FILE *file = fopen(f->file, "w");

    assert_non_null(file);
    for (int i = 0; i < 70000; i++)
        fputs("# padding line\n", file);
    fclose(file);
    assert_int_equal(load(f, NULL), -EFBIG);
    assert_non_null(strstr(tby_error_str(&f->err), "tabby-node.cfg: larger than"));
}

static void test_bad_values_name_the_setting(void **state)
{
    struct fixture *f = *state;

    refused(f, (const char *[]){ "--health-port", "70000", NULL },
            "TABBY_HEALTH_PORT: \"70000\" is not a number from 0 to 65535");
    refused(f, (const char *[]){ "--resync", "soon", NULL }, "TABBY_RESYNC_INTERVAL: \"soon\"");
    refused(f, (const char *[]){ "--autodetect-interval", "0", NULL },
            "TABBY_AUTODETECT_INTERVAL: \"0\" is not a number from 1");
    refused(f, (const char *[]){ "--ipam-gc-interval", "-1", NULL }, "TABBY_IPAM_GC_INTERVAL");
    refused(f, (const char *[]){ "--networking-backend", "calico", NULL },
            "TABBY_NETWORKING_BACKEND: \"calico\": must be bird, vxlan or none");
    refused(f, (const char *[]){ "--log-level", "loud", NULL }, "TABBY_LOG_LEVEL: \"loud\"");
    refused(f, (const char *[]){ "--ip", "10.0.0.5", NULL },
            "IP: \"10.0.0.5\": must be autodetect, none, or an IPv4 address with its prefix");
    refused(f, (const char *[]){ "--ip6", "10.0.0.5/24", NULL }, "IP6: \"10.0.0.5/24\"");
    refused(f, (const char *[]){ "--as", "0", NULL }, "AS: \"0\" is not an AS number");
    setenv("AS", "4294967296", 1);
    refused(f, NULL, "AS: \"4294967296\"");
}

static void test_datastore_type_kubernetes_is_the_k8s_store(void **state)
{
    struct fixture *f = *state;

    setenv("DATASTORE_TYPE", "kubernetes", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->c.v[NODE_STORE], "k8s:");
    setenv("KUBECONFIG", "/etc/tabby/kubeconfig:/root/.kube/config", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->c.v[NODE_STORE], "k8s:/etc/tabby/kubeconfig");
    assert_int_equal(load(f, (const char *[]){ "--store", "k8s:/other", NULL }), 0);
    assert_string_equal(f->c.v[NODE_STORE], "k8s:/other");
    refused(f, (const char *[]){ "--store", "sqlite:/x.db", NULL },
            "DATASTORE_TYPE=kubernetes but TABBY_STORE is sqlite:/x.db");
    setenv("DATASTORE_TYPE", "etcdv3", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->c.v[NODE_STORE], "etcd:");
    setenv("DATASTORE_TYPE", "consul", 1);
    refused(f, NULL, "DATASTORE_TYPE: \"consul\": must be kubernetes or etcdv3");
}

static void test_unknown_flags_and_arguments_are_refused(void **state)
{
    struct fixture *f = *state;

    refused(f, (const char *[]){ "--frobnicate", NULL }, "unknown option");
    refused(f, (const char *[]){ "extra", NULL }, "unexpected argument \"extra\"");
}

static void test_modes_and_help(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, (const char *[]){ "--dump", "--allow-root-netns", NULL }), 0);
    assert_true(f->c.dump && f->c.allow_root_netns && !f->c.cleanup);
    assert_int_equal(load(f, (const char *[]){ "--cleanup", NULL }), 0);
    assert_true(f->c.cleanup);
    /* --help reads nothing more: bad values elsewhere do not stand in its way */
    setenv("TABBY_HEALTH_PORT", "none", 1);
    assert_int_equal(load(f, (const char *[]){ "-h", NULL }), 0);
    assert_true(f->c.help);
}

static void test_usage_lists_every_flag_and_variable(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    const char *want[] = { "--node", "$NODENAME", "--ip-autodetection-method",
                           "$IP_AUTODETECTION_METHOD", "--networking-backend",
                           "$TABBY_NETWORKING_BACKEND", "--pid-file", "--dump", "--cleanup",
                           "[9099]" };

    assert_non_null(out);
    node_config_usage(out);
    fclose(out);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i]))
            fail_msg("usage lacks %s", want[i]);
    free(text);
}

static void test_backend_names(void **state)
{
    assert_string_equal(node_backend_name(NODE_BACKEND_BIRD), "bird");
    assert_string_equal(node_backend_name(NODE_BACKEND_VXLAN), "vxlan");
    assert_string_equal(node_backend_name(NODE_BACKEND_NONE), "none");
}

/* ---- the default pools (default_pool.c) ----------------------------------------------- */

static void test_default_pools_take_calicos_defaults(void **state)
{
    struct fixture *f = *state;
    const struct node_default_pool *p4 = &f->c.pool[0], *p6 = &f->c.pool[1];

    assert_int_equal(load(f, NULL), 0);
    assert_true(p4->enabled && !p4->has_cidr && p6->enabled && !p6->has_cidr);
    assert_int_equal(p4->block_size, 26);
    assert_int_equal(p6->block_size, 122);
    assert_int_equal(p4->ipip_mode, TBY_ENCAP_NEVER);
    assert_int_equal(p4->vxlan_mode, TBY_ENCAP_NEVER);
    assert_true(p4->nat_outgoing);
    assert_false(p6->nat_outgoing);
    assert_false(p4->disable_bgp_export);
    assert_string_equal(p4->node_selector, "all()");
}

static void test_default_pool_variables_in_calicos_spellings(void **state)
{
    struct fixture *f = *state;
    const struct node_default_pool *p4 = &f->c.pool[0], *p6 = &f->c.pool[1];
    char text[TBY_CIDR_STRLEN];

    set_env((const char *[]){
        "CALICO_IPV4POOL_CIDR", "10.244.7.1/16", /* taken as its network */
        "CALICO_IPV4POOL_IPIP", "CrossSubnet",
        "CALICO_IPV4POOL_NAT_OUTGOING", "No",
        "CALICO_IPV4POOL_BLOCK_SIZE", "24",
        "CALICO_IPV4POOL_NODE_SELECTOR", "zone == 'a'",
        "CALICO_IPV4POOL_DISABLE_BGP_EXPORT", "T",
        "CALICO_IPV6POOL_CIDR", "none",
        NULL });
    assert_int_equal(load(f, NULL), 0);
    assert_true(p4->enabled && p4->has_cidr && !p6->enabled);
    assert_string_equal(tby_cidr_format(&p4->cidr, text), "10.244.0.0/16");
    assert_int_equal(p4->ipip_mode, TBY_ENCAP_CROSS_SUBNET);
    assert_false(p4->nat_outgoing);
    assert_true(p4->disable_bgp_export);
    assert_int_equal(p4->block_size, 24);
    assert_string_equal(p4->node_selector, "zone == 'a'");
    unsetenv("CALICO_IPV4POOL_IPIP");
    assert_int_equal(load(f, (const char *[]){ "--ipv4pool-vxlan", "always", NULL }), 0);
    assert_int_equal(p4->vxlan_mode, TBY_ENCAP_ALWAYS);
    setenv("CALICO_IPV4POOL_CIDR", "none", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_false(p4->enabled);
    unsetenv("CALICO_IPV4POOL_CIDR");
    unsetenv("CALICO_IPV6POOL_CIDR");
    setenv("NO_DEFAULT_POOLS", "true", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_false(p4->enabled || p6->enabled);
}

static void test_bad_default_pool_values_name_the_variable(void **state)
{
    struct fixture *f = *state;
    static const char *const cases[][3] = {
        { "CALICO_IPV4POOL_CIDR", "10.0.0.0/33", "CALICO_IPV4POOL_CIDR: \"10.0.0.0/33\": must "
          "be an IPv4 CIDR" },
        { "CALICO_IPV4POOL_CIDR", "fd00::/48", "CALICO_IPV4POOL_CIDR: \"fd00::/48\"" },
        { "CALICO_IPV6POOL_CIDR", "10.0.0.0/16", "CALICO_IPV6POOL_CIDR: \"10.0.0.0/16\": must "
          "be an IPv6 CIDR" },
        { "CALICO_IPV4POOL_IPIP", "sometimes", "CALICO_IPV4POOL_IPIP: \"sometimes\": must be "
          "always, cross-subnet or never" },
        { "CALICO_IPV6POOL_VXLAN", "yes", "CALICO_IPV6POOL_VXLAN: \"yes\"" },
        { "CALICO_IPV4POOL_NAT_OUTGOING", "maybe", "CALICO_IPV4POOL_NAT_OUTGOING: \"maybe\": "
          "must be true or false" },
        { "CALICO_IPV4POOL_BLOCK_SIZE", "19", "CALICO_IPV4POOL_BLOCK_SIZE: \"19\": must be a "
          "number from 20 to 32" },
        { "CALICO_IPV6POOL_BLOCK_SIZE", "26", "CALICO_IPV6POOL_BLOCK_SIZE: \"26\": must be a "
          "number from 116 to 128" },
        { "CALICO_IPV4POOL_NODE_SELECTOR", "zone ==", "CALICO_IPV4POOL_NODE_SELECTOR: "
          "\"zone ==\"" },
        { "CALICO_IPV6POOL_DISABLE_BGP_EXPORT", "2", "CALICO_IPV6POOL_DISABLE_BGP_EXPORT: \"2\"" },
        { "NO_DEFAULT_POOLS", "sure", "NO_DEFAULT_POOLS: \"sure\": must be true or false" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv(cases[i][0], cases[i][1], 1);
        refused(f, NULL, cases[i][2]);
        unsetenv(cases[i][0]);
    }
    /* what only the whole pool can say, as tabbyctl says it */
    setenv("CALICO_IPV4POOL_CIDR", "10.0.0.0/28", 1);
    refused(f, NULL, "the default IPv4 pool (CALICO_IPV4POOL_*): ");
    set_env((const char *[]){ "CALICO_IPV4POOL_CIDR", "10.0.0.0/16",
                              "CALICO_IPV4POOL_IPIP", "Always",
                              "CALICO_IPV4POOL_VXLAN", "Always", NULL });
    refused(f, NULL, "the default IPv4 pool (CALICO_IPV4POOL_*): ");
    unsetenv("CALICO_IPV4POOL_IPIP");
    unsetenv("CALICO_IPV4POOL_VXLAN");
    /* calico-node refuses to be told both */
    setenv("NO_DEFAULT_POOLS", "true", 1);
    refused(f, NULL, "NO_DEFAULT_POOLS=true with CALICO_IPV4POOL_CIDR=10.0.0.0/16: give one");
}

static void test_default_ipv4_cidr_avoids_the_nodes_addresses(void **state)
{
    struct tby_ip addrs[3];
    struct tby_cidr got;
    char text[TBY_CIDR_STRLEN];

    (void)state;
    node_default_pool_pick4(NULL, 0, &got);
    assert_string_equal(tby_cidr_format(&got, text), "192.168.0.0/16");
    assert_int_equal(tby_ip_parse("192.168.3.4", &addrs[0], NULL), 0);
    assert_int_equal(tby_ip_parse("172.16.0.9", &addrs[1], NULL), 0);
    assert_int_equal(tby_ip_parse("10.0.0.1", &addrs[2], NULL), 0);
    node_default_pool_pick4(addrs, 3, &got);
    assert_string_equal(tby_cidr_format(&got, text), "172.17.0.0/16");
}

static void test_default_pool_resource_is_calicos(void **state)
{
    struct fixture *f = *state;
    struct tby_resource *res = NULL;
    struct tby_cidr cidr;

    setenv("CALICO_IPV6POOL_VXLAN", "Always", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(tby_cidr_parse("fd12:3456:789a::/48", 0, &cidr, NULL), 0);
    assert_int_equal(node_default_pool_resource(&f->c.pool[1], 6, &cidr, &res, &f->err), 0);
    assert_string_equal(res->meta.name, "default-ipv6-ippool");
    assert_int_equal(res->spec.ippool->block_size, 122);
    assert_int_equal(res->spec.ippool->vxlan_mode, TBY_ENCAP_ALWAYS);
    assert_int_equal(res->spec.ippool->ipip_mode, TBY_ENCAP_NEVER);
    assert_false(res->spec.ippool->nat_outgoing);
    tby_resource_free(res);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults_fill_every_setting),
        T(test_environment_takes_calicos_names),
        T(test_calico_backend_variable_where_tabbys_is_unset),
        T(test_file_takes_the_same_keys_as_text_numbers_and_booleans),
        T(test_flags_beat_the_environment_which_beats_the_file),
        T(test_config_flag_names_the_file),
        T(test_missing_default_file_is_fine),
        T(test_file_with_unknown_key_or_a_list_is_refused_naming_file_and_key),
        T(test_file_larger_than_a_megabyte_is_refused),
        T(test_bad_values_name_the_setting),
        T(test_datastore_type_kubernetes_is_the_k8s_store),
        T(test_unknown_flags_and_arguments_are_refused),
        T(test_modes_and_help),
        T(test_usage_lists_every_flag_and_variable),
        T(test_default_pools_take_calicos_defaults),
        T(test_default_pool_variables_in_calicos_spellings),
        T(test_bad_default_pool_values_name_the_variable),
        cmocka_unit_test(test_default_ipv4_cidr_avoids_the_nodes_addresses),
        T(test_default_pool_resource_is_calicos),
        cmocka_unit_test(test_backend_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
