/* test_cni.c — the tabby CNI plugin's pure parts: results read and written in every
 * version, the configuration keys (tabby's and Calico's), the endpoint it records, where
 * delegated plugins are found, the MTU file and the MTU's encapsulation overhead. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cni_conf.h"
#include "cni_delegate.h"
#include "cni_mtu.h"
#include "cni_result.h"
#include "cni_wep.h"
#include "tabby/cleanup.h"

/* ---- results ------------------------------------------------------------------------------ */

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);

    if (!doc)
        fail_msg("bad test JSON: %s", jerr.text);
    return doc;
}

static const char result_0_3_1[] =
    "{\"cniVersion\":\"0.3.1\","
    "\"interfaces\":[{\"name\":\"tbyab\",\"mac\":\"ee:ee:ee:ee:ee:ee\"},"
    "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:01:00:05\",\"sandbox\":\"/run/netns/p1\"}],"
    "\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.5/32\",\"gateway\":\"169.254.1.1\","
    "\"interface\":1},{\"version\":\"6\",\"address\":\"fd00::5/128\",\"interface\":1}],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"169.254.1.1\"},{\"dst\":\"::/0\"}],"
    "\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";

static void test_result_reads_every_field_of_an_old_version(void **state)
{
    _cleanup_json_ json_t *doc = load(result_0_3_1);
    struct tby_error err = { 0 };
    struct cni_result res;
    char buf[TBY_CIDR_STRLEN];

    (void)state;
    assert_int_equal(cni_result_parse(doc, &res, &err), 0);
    assert_int_equal(res.n_ifaces, 2);
    assert_string_equal(res.ifaces[1].name, "eth0");
    assert_string_equal(res.ifaces[1].sandbox, "/run/netns/p1");
    assert_null(res.ifaces[0].sandbox);
    assert_int_equal(res.n_ips, 2);
    assert_string_equal(tby_cidr_format(&res.ips[1].address, buf), "fd00::5/128");
    assert_true(res.ips[0].has_gateway);
    assert_false(res.ips[1].has_gateway);
    assert_int_equal(res.ips[0].interface, 1);
    assert_int_equal(res.n_routes, 2);
    assert_false(res.routes[1].has_gw);
    assert_non_null(res.dns);
    assert_ptr_equal(cni_result_first_ip(&res, 6), &res.ips[1]);
}

static void test_result_converts_between_versions(void **state)
{
    _cleanup_json_ json_t *old = load(result_0_3_1);
    _cleanup_json_ json_t *now = NULL, *back = NULL;
    struct tby_error err = { 0 };
    struct cni_result res, again;

    (void)state;
    assert_int_equal(cni_result_parse(old, &res, &err), 0);
    now = cni_result_encode(&res, "1.0.0");
    assert_string_equal(json_string_value(json_object_get(now, "cniVersion")), "1.0.0");
    assert_null(json_object_get(json_array_get(json_object_get(now, "ips"), 0), "version"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(now, "ips"), 1), "interface")), 1);
    /* And back: 1.0.0 read, 0.3.1 written, equal to what it started from. */
    assert_int_equal(cni_result_parse(now, &again, &err), 0);
    back = cni_result_encode(&again, "0.3.1");
    assert_true(json_equal(back, old));
}

static void test_ipam_result_without_interfaces_encodes_without_them(void **state)
{
    _cleanup_json_ json_t *doc = load("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\","
                                      "\"address\":\"10.2.0.7/24\",\"gateway\":\"10.2.0.1\"}]}");
    _cleanup_json_ json_t *out = NULL;
    struct tby_error err = { 0 };
    struct cni_result res;

    (void)state;
    assert_int_equal(cni_result_parse(doc, &res, &err), 0);
    assert_int_equal(res.ips[0].interface, -1);
    assert_int_equal(res.ips[0].address.prefix_len, 24);
    out = cni_result_encode(&res, "0.4.0");
    assert_null(json_object_get(out, "interfaces"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "ips"), 0), "version")), "4");
}

static void expect_parse_error(const char *text, const char *fragment)
{
    _cleanup_json_ json_t *doc = load(text);
    struct tby_error err = { 0 };
    struct cni_result res;

    assert_int_equal(cni_result_parse(doc, &res, &err), -EINVAL);
    if (!strstr(err.msg, fragment))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, fragment);
}

static void test_result_errors_name_the_field(void **state)
{
    (void)state;
    expect_parse_error("{\"ips\":[{\"address\":\"10.0.0.1\"}]}", "ips[0].address");
    expect_parse_error("{\"ips\":[{\"address\":\"10.0.0.1/32\",\"gateway\":\"x\"}]}",
                       "ips.gateway[0]");
    expect_parse_error("{\"routes\":[{\"dst\":\"nope\"}]}", "routes[0].dst");
    expect_parse_error("{\"interfaces\":[{\"name\":\"a\"}],\"ips\":[{\"address\":"
                       "\"10.0.0.1/32\",\"interface\":3}]}", "ips[0].interface: 3");
    expect_parse_error("{\"interfaces\":[{\"name\":\"far-too-long-a-name\"}]}",
                       "interfaces[0].name");
    expect_parse_error("{\"ips\":{}}", "ips: must be a list");
}

/* ---- configuration ------------------------------------------------------------------------- */

static int read_conf(const char *text, struct cni_call *call, struct cni_conf *conf,
                     struct cni_failure *f)
{
    memset(call, 0, sizeof(*call));
    call->conf = load(text);
    call->version = "1.0.0";
    call->name = "net";
    return cni_conf_read(call, false, conf, f);
}

static void test_conf_reads_the_plugins_keys(void **state)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    (void)state;
    assert_int_equal(read_conf("{\"mtu\":1450,\"log_level\":\"debug\",\"ipam\":{\"type\":"
                               "\"host-local\"},\"container_settings\":{\"allow_ip_forwarding\""
                               ":true},\"args\":{\"cni\":{\"labels\":[{\"key\":\"app\",\"value\""
                               ":\"web\"}],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\","
                               "\"port\":80}]}}}", &call, &conf, &f), 0);
    assert_int_equal(conf.mtu, 1450);
    assert_true(conf.has_log_level);
    assert_int_equal(conf.log_level, TBY_LOG_DEBUG);
    assert_string_equal(conf.ipam_type, "host-local");
    assert_true(conf.allow_ip_forwarding);
    assert_string_equal(json_string_value(json_object_get(conf.labels, "app")), "web");
    assert_int_equal(json_array_size(conf.ports), 1);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

static void test_conf_takes_labels_as_a_map_too(void **state)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    (void)state;
    assert_int_equal(read_conf("{\"ipam\":{\"type\":\"tabby-ipam\"},\"args\":{\"cni\":"
                               "{\"labels\":{\"tier\":\"db\"}}}}", &call, &conf, &f), 0);
    assert_string_equal(json_string_value(json_object_get(conf.labels, "tier")), "db");
    assert_int_equal(conf.mtu, 0);
    assert_false(conf.allow_ip_forwarding);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

static void expect_conf_error(const char *text, const char *fragment)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    assert_int_equal(read_conf(text, &call, &conf, &f), -1);
    assert_int_equal(f.code, CNI_ERR_INVALID_CONFIG);
    if (!strstr(tby_error_str(&f.err), fragment))
        fail_msg("\"%s\" lacks \"%s\"", tby_error_str(&f.err), fragment);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

static void test_conf_errors_name_the_key(void **state)
{
    (void)state;
    expect_conf_error("{}", "ipam: missing");
    expect_conf_error("{\"ipam\":{}}", "ipam.type");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"mtu\":100}", "mtu: must be a number");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"mtu\":\"1500\"}", "mtu");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"log_level\":\"loud\"}", "log_level");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"args\":{\"cni\":{\"labels\":[{\"key\":"
                      "\"a\"}]}}}", "args.cni.labels[0]");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"args\":{\"cni\":{\"ports\":{}}}}",
                      "args.cni.ports");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"container_settings\":{"
                      "\"allow_ip_forwarding\":\"yes\"}}", "allow_ip_forwarding");
}

/* Calico's network configuration as its manifest has it, with only the types changed. */
static const char calico_conf[] =
    "{\"type\":\"tabby\",\"log_level\":\"info\",\"log_file_path\":"
    "\"/var/log/calico/cni/cni.log\",\"datastore_type\":\"kubernetes\",\"nodename\":"
    "\"node-1\",\"mtu\":0,\"ipam\":{\"type\":\"tabby-ipam\"},\"policy\":{\"type\":"
    "\"k8s\"},\"kubernetes\":{\"kubeconfig\":\"/etc/cni/net.d/calico-kubeconfig\"}}";

static void test_conf_takes_calicos_keys(void **state)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    (void)state;
    assert_int_equal(read_conf(calico_conf, &call, &conf, &f), 0);
    assert_true(conf.kube.wanted);
    assert_string_equal(conf.kube.kubeconfig, "/etc/cni/net.d/calico-kubeconfig");
    assert_null(conf.kube.api_root);
    assert_int_equal(conf.mtu, 0);
    assert_string_equal(conf.mtu_file, CNI_MTU_FILE);
    assert_false(conf.require_mtu_file);
    assert_int_equal(conf.log_level, TBY_LOG_INFO);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

/* Any one of the keys that name the API asks for it; none, and nothing is asked. */
static void expect_kube(const char *text, bool wanted, const char *api_root)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    if (read_conf(text, &call, &conf, &f) < 0)
        fail_msg("%s: %s", text, tby_error_str(&f.err));
    assert_int_equal(conf.kube.wanted, wanted);
    if (api_root)
        assert_string_equal(conf.kube.api_root, api_root);
    else
        assert_null(conf.kube.api_root);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

static void test_conf_says_when_to_ask_the_kubernetes_api(void **state)
{
    (void)state;
    expect_kube("{\"ipam\":{\"type\":\"x\"}}", false, NULL);
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"policy\":{}}", false, NULL);
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"policy\":{\"type\":\"k8s\"}}", true, NULL);
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"datastore_type\":\"kubernetes\"}", true, NULL);
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"datastore_type\":\"etcdv3\"}", false, NULL);
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"kubernetes\":{\"kubeconfig\":\"/k\"}}", true,
                NULL);
    /* The older keys may name the API's path: only the server is kept. */
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"policy\":{\"k8s_api_root\":"
                "\"https://10.0.0.1:6443/api/v1/\",\"k8s_auth_token\":\"t\"}}", true,
                "https://10.0.0.1:6443");
    expect_kube("{\"ipam\":{\"type\":\"x\"},\"policy\":{\"k8s_api_root\":\"https://a/\"},"
                "\"kubernetes\":{\"k8s_api_root\":\"https://b:443\"}}", true, "https://b:443");
}

static void test_conf_refuses_calicos_keys_it_does_not_honour(void **state)
{
    (void)state;
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"feature_control\":{\"floating_ips\":"
                      "true}}", "feature_control.floating_ips: not supported");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"feature_control\":{"
                      "\"ip_addrs_no_ipam\":true}}", "feature_control.ip_addrs_no_ipam");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"readiness_gates\":[\"http://a/\"]}",
                      "readiness_gates: not supported");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"policy_setup_timeout_seconds\":5}",
                      "policy_setup_timeout_seconds");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"device_type\":\"macvlan\"}",
                      "device_type \"macvlan\"");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"calico_api_group\":"
                      "\"projectcalico.org/v3\"}", "calico_api_group");
    expect_conf_error("{\"ipam\":{\"type\":\"host-local\",\"subnet\":\"usePodCidr\"}}",
                      "ipam.subnet \"usePodCidr\"");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"policy\":{\"type\":\"calico\"}}",
                      "policy.type \"calico\"");
    expect_conf_error("{\"ipam\":{\"type\":\"x\"},\"kubernetes\":\"k\"}",
                      "kubernetes: must be an object");
}

static void test_conf_ignores_calicos_keys_that_do_not_matter(void **state)
{
    struct cni_call call;
    struct cni_conf conf;
    struct cni_failure f = { 0 };

    (void)state;
    /* Off, they change nothing; irrelevant ones are ignored; DEL undoes whatever the
     * configuration says now. */
    assert_int_equal(read_conf("{\"ipam\":{\"type\":\"x\"},\"feature_control\":{"
                               "\"floating_ips\":false,\"ip_addrs_no_ipam\":false},"
                               "\"readiness_gates\":[],\"policy_setup_timeout_seconds\":0,"
                               "\"windows_use_single_network\":true,\"qps\":50,\"burst\":"
                               "200,\"num_queues\":4,\"device_type\":\"netkit\","
                               "\"calico_api_group\":\"crd.projectcalico.org/v1\","
                               "\"kubernetes\":{\"node_name\":\"n\"},\"vxlan_vni\":4096}",
                               &call, &conf, &f), 0);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
    memset(&call, 0, sizeof(call));
    call.command = CNI_DEL;
    call.conf = load("{\"ipam\":{\"type\":\"x\"},\"feature_control\":{\"floating_ips\":"
                     "true},\"device_type\":\"macvlan\"}");
    assert_int_equal(cni_conf_read(&call, false, &conf, &f), 0);
    cni_conf_clear(&conf);
    cni_call_clear(&call);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_mtu_file_is_read_as_calico_reads_it(void **state)
{
    char dir[] = "/tmp/tby-cni-unit-XXXXXX", path[64];
    struct tby_error err = { 0 };
    unsigned mtu = 7;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/mtu", dir);
    assert_int_equal(cni_mtu_from_file(path, false, &mtu, &err), 0);
    assert_int_equal(mtu, 0);
    assert_int_equal(cni_mtu_from_file(path, true, &mtu, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
    write_file(path, "1440\n");
    assert_int_equal(cni_mtu_from_file(path, true, &mtu, &err), 0);
    assert_int_equal(mtu, 1440);
    write_file(path, "9000x");
    assert_int_equal(cni_mtu_from_file(path, false, &mtu, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "is not an MTU"));
    write_file(path, "576");
    assert_int_equal(cni_mtu_from_file(path, false, &mtu, &err), -EINVAL);
    unlink(path);
    rmdir(dir);
}

/* ---- the endpoint --------------------------------------------------------------------------- */

static void parse_result(const char *text, json_t **doc, struct cni_result *res)
{
    struct tby_error err = { 0 };

    *doc = load(text);
    assert_int_equal(cni_result_parse(*doc, res, &err), 0);
}

static void test_wep_is_built_as_calicos(void **state)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_json_ json_t *labels = load("{\"app\":\"web\",\"projectcalico.org/namespace\":"
                                         "\"forged\"}");
    _cleanup_json_ json_t *ports = load("[{\"name\":\"http\",\"protocol\":\"TCP\","
                                        "\"port\":8080}]");
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct cni_result result;
    struct tby_error err = { 0 };
    const struct tby_wep *w;
    struct cni_wep_input in = { .node = "node-1", .namespace = "prod", .pod = "web-0",
                                .container_id = "abc", .endpoint = "eth0",
                                .network = "k8s-pod-network", .host_ifname = "tby0d7763386da",
                                .mac = "0a:58:0a:01:00:05", .res = &result, .labels = labels,
                                .ports = ports };

    (void)state;
    parse_result("{\"ips\":[{\"address\":\"10.1.0.5/24\"},{\"address\":\"fd00::5/64\"}]}",
                 &doc, &result);
    assert_int_equal(cni_wep_build(&in, &res, &err), 0);
    w = res->spec.wep;
    assert_string_equal(res->meta.name, "node--1-k8s-web--0-eth0");
    assert_string_equal(res->meta.namespace, "prod");
    assert_string_equal(json_string_value(json_object_get(res->meta.labels, "app")), "web");
    assert_string_equal(json_string_value(json_object_get(res->meta.labels,
                                                          CNI_LABEL_NAMESPACE)), "prod");
    assert_string_equal(json_string_value(json_object_get(res->meta.labels,
                                                          CNI_LABEL_ORCHESTRATOR)), "k8s");
    assert_string_equal(json_string_value(json_object_get(res->meta.annotations,
                                                          CNI_ANNOTATION_NETWORK)),
                        "k8s-pod-network");
    assert_string_equal(w->orchestrator, "k8s");
    assert_string_equal(w->pod, "web-0");
    assert_string_equal(w->interface_name, "tby0d7763386da");
    assert_int_equal(w->ip_networks.n, 2);
    assert_int_equal(w->ip_networks.items[0].prefix_len, 32);
    assert_int_equal(w->ip_networks.items[1].prefix_len, 128);
    assert_string_equal(w->profiles.items[0], "kns.prod");
    assert_int_equal(w->n_ports, 1);
    assert_int_equal(w->ports[0].port, 8080);
}

static void test_wep_of_a_kubernetes_pod_has_its_account_and_prefixes(void **state)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_json_ json_t *prefixes = load("[\"10.99.0.0/16\"]");
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct cni_result result;
    struct tby_error err = { 0 };
    const struct tby_wep *w;
    struct cni_wep_input in = { .node = "node-1", .namespace = "shop", .pod = "web-0",
                                .container_id = "abc", .endpoint = "eth0",
                                .host_ifname = "tbyx", .mac = "0a:58:0a:01:00:05",
                                .res = &result, .service_account = "front",
                                .source_prefixes = prefixes };

    (void)state;
    parse_result("{\"ips\":[{\"address\":\"10.1.0.5/32\"}]}", &doc, &result);
    assert_int_equal(cni_wep_build(&in, &res, &err), 0);
    w = res->spec.wep;
    assert_int_equal(w->profiles.n, 2);
    assert_string_equal(w->profiles.items[0], "kns.shop");
    assert_string_equal(w->profiles.items[1], "ksa.shop.front");
    assert_string_equal(w->service_account_name, "front");
    assert_int_equal(w->allow_spoofed_source_prefixes.n, 1);
}

static void test_wep_without_pod_is_a_cni_endpoint(void **state)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct cni_result result;
    struct tby_error err = { 0 };
    struct cni_wep_input in = { .node = "node1", .container_id = "f00d", .endpoint = "eth0",
                                .host_ifname = "tbyx", .mac = "0a:58:0a:01:00:05",
                                .res = &result };

    (void)state;
    parse_result("{\"ips\":[{\"address\":\"10.1.0.6/32\"}]}", &doc, &result);
    assert_int_equal(cni_wep_build(&in, &res, &err), 0);
    assert_string_equal(res->meta.name, "node1-cni-f00d-eth0");
    assert_string_equal(res->meta.namespace, "default");
    assert_string_equal(res->spec.wep->orchestrator, "cni");
    assert_null(res->spec.wep->pod);
    assert_int_equal(json_object_size(res->meta.annotations), 0);
}

static void test_wep_refuses_bad_labels_and_ports(void **state)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_json_ json_t *labels = load("{\"bad key!\":\"x\"}");
    _cleanup_json_ json_t *ports = load("[{\"name\":\"http\",\"protocol\":\"TCP\"}]");
    struct tby_resource *res = NULL;
    struct cni_result result;
    struct tby_error err = { 0 };
    struct cni_wep_input in = { .node = "node1", .pod = "p", .container_id = "c",
                                .endpoint = "eth0", .host_ifname = "tbyx",
                                .mac = "0a:58:0a:01:00:05", .res = &result, .labels = labels };

    (void)state;
    parse_result("{\"ips\":[{\"address\":\"10.1.0.6/32\"}]}", &doc, &result);
    assert_int_equal(cni_wep_build(&in, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "WorkloadEndpoint default/node1-k8s-p-eth0: "));
    assert_non_null(strstr(err.msg, "bad key!"));
    in.labels = NULL;
    in.ports = ports;
    assert_int_equal(cni_wep_build(&in, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "port"));
}

/* ---- delegation and MTU ----------------------------------------------------------------------- */

static void test_delegate_finds_the_first_executable_on_cni_path(void **state)
{
    char dir[] = "/tmp/tby-cni-unit-XXXXXX", path[64], list[200];
    char *found = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ipam", dir);
    fclose(fopen(path, "w"));
    /* Not executable yet: skipped. */
    snprintf(list, sizeof(list), "/nonexistent:%s", dir);
    assert_int_equal(cni_delegate_find("ipam", list, &found), -ENOENT);
    chmod(path, 0755);
    assert_int_equal(cni_delegate_find("ipam", list, &found), 0);
    assert_string_equal(found, path);
    free(found);
    assert_int_equal(cni_delegate_find("../ipam", list, &found), -EINVAL);
    assert_int_equal(cni_delegate_find("", list, &found), -EINVAL);
    assert_int_equal(cni_delegate_find("ipam", NULL, &found), -ENOENT);
    unlink(path);
    rmdir(dir);
}

static struct tby_resource *pool(const char *cidr, const char *ipip, const char *vxlan)
{
    _cleanup_json_ json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}}",
                                           "apiVersion", "projectcalico.org/v3", "kind",
                                           "IPPool", "metadata", "name", "p", "spec", "cidr",
                                           cidr, "ipipMode", ipip, "vxlanMode", vxlan);
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };

    if (tby_resource_decode(doc, &res, &err) < 0)
        fail_msg("%s", err.msg);
    return res;
}

static void test_mtu_overhead_follows_the_pods_pool(void **state)
{
    struct tby_resource *items[3] = { pool("10.1.0.0/16", "Never", "Always"),
                                      pool("10.2.0.0/16", "CrossSubnet", "Never"),
                                      pool("fd00::/64", "Never", "CrossSubnet") };
    struct tby_resource_list pools = { .items = items, .n = 3 };
    struct tby_ip ip;

    (void)state;
    tby_ip_parse("10.1.2.3", &ip, NULL);
    assert_int_equal(cni_mtu_overhead(&pools, &ip), 50);
    tby_ip_parse("10.2.2.3", &ip, NULL);
    assert_int_equal(cni_mtu_overhead(&pools, &ip), CNI_IPIP_OVERHEAD);
    tby_ip_parse("fd00::3", &ip, NULL);
    assert_int_equal(cni_mtu_overhead(&pools, &ip), 70);
    tby_ip_parse("10.9.2.3", &ip, NULL);
    assert_int_equal(cni_mtu_overhead(&pools, &ip), 0);
    for (int i = 0; i < 3; i++)
        tby_resource_free(items[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_reads_every_field_of_an_old_version),
        cmocka_unit_test(test_result_converts_between_versions),
        cmocka_unit_test(test_ipam_result_without_interfaces_encodes_without_them),
        cmocka_unit_test(test_result_errors_name_the_field),
        cmocka_unit_test(test_conf_reads_the_plugins_keys),
        cmocka_unit_test(test_conf_takes_labels_as_a_map_too),
        cmocka_unit_test(test_conf_errors_name_the_key),
        cmocka_unit_test(test_conf_takes_calicos_keys),
        cmocka_unit_test(test_conf_says_when_to_ask_the_kubernetes_api),
        cmocka_unit_test(test_conf_refuses_calicos_keys_it_does_not_honour),
        cmocka_unit_test(test_conf_ignores_calicos_keys_that_do_not_matter),
        cmocka_unit_test(test_mtu_file_is_read_as_calico_reads_it),
        cmocka_unit_test(test_wep_is_built_as_calicos),
        cmocka_unit_test(test_wep_of_a_kubernetes_pod_has_its_account_and_prefixes),
        cmocka_unit_test(test_wep_without_pod_is_a_cni_endpoint),
        cmocka_unit_test(test_wep_refuses_bad_labels_and_ports),
        cmocka_unit_test(test_delegate_finds_the_first_executable_on_cni_path),
        cmocka_unit_test(test_mtu_overhead_follows_the_pods_pool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
