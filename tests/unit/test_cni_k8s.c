/* test_cni_k8s.c — the tabby plugin's Kubernetes mode without a server: a pod and its
 * namespace turned into the endpoint's labels, ports, account and prefixes, and the IPAM
 * plugin's configuration (cni_k8s_pod.h), as Calico's plugin takes them; and where the
 * API is, from a kubeconfig and Calico's keys over it (cni_k8s.h). */
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

#include "cni_k8s.h"
#include "cni_k8s_pod.h"
#include "cni_wep.h"
#include "tabby/cleanup.h"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);

    if (!doc)
        fail_msg("bad test JSON: %s (%s)", jerr.text, text);
    return doc;
}

static const char *label(const struct cni_k8s_pod *p, const char *key)
{
    return json_string_value(json_object_get(p->labels, key));
}

/* A pod as the API answers it (abridged), with `annotations` (a JSON object's members). */
static json_t *pod_with(const char *annotations)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\","
             "\"namespace\":\"shop\",\"uid\":\"3f0c-11\",\"labels\":{\"app\":\"web\","
             "\"projectcalico.org/namespace\":\"forged\"},\"annotations\":{%s}},"
             "\"spec\":{\"nodeName\":\"node-1\",\"serviceAccountName\":\"front\","
             "\"containers\":[{\"name\":\"web\",\"ports\":["
             "{\"name\":\"http\",\"containerPort\":8080},"
             "{\"containerPort\":9090},"
             "{\"containerPort\":53,\"protocol\":\"UDP\",\"hostPort\":5353,"
             "\"hostIP\":\"192.168.200.1\"},"
             "{\"name\":\"sctp\",\"containerPort\":7000,\"protocol\":\"SCTP\"},"
             "{\"name\":\"odd\",\"containerPort\":7001,\"protocol\":\"ICMP\"}]},"
             "{\"name\":\"side\"}],"
             "\"initContainers\":[{\"name\":\"init\",\"ports\":[{\"name\":\"metrics\","
             "\"containerPort\":9100}]}]}}", annotations);
    return load(text);
}

static json_t *namespace_with(const char *annotations)
{
    char text[1024];

    snprintf(text, sizeof(text), "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":"
             "{\"name\":\"shop\",\"annotations\":{%s}}}", annotations);
    return load(text);
}

static void read_ok(const char *pod_ann, const char *ns_ann, struct cni_k8s_pod *out)
{
    _cleanup_json_ json_t *pod = pod_with(pod_ann);
    _cleanup_json_ json_t *ns = ns_ann ? namespace_with(ns_ann) : NULL;
    struct tby_error err = { 0 };

    if (cni_k8s_pod_read(pod, ns, out, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
}

static void expect_read_error(const char *pod_ann, const char *ns_ann, const char *fragment)
{
    _cleanup_json_ json_t *pod = pod_with(pod_ann);
    _cleanup_json_ json_t *ns = ns_ann ? namespace_with(ns_ann) : NULL;
    struct cni_k8s_pod p;
    struct tby_error err = { 0 };

    assert_int_equal(cni_k8s_pod_read(pod, ns, &p, &err), -EINVAL);
    if (!strstr(tby_error_str(&err), fragment))
        fail_msg("\"%s\" lacks \"%s\"", tby_error_str(&err), fragment);
    cni_k8s_pod_clear(&p);
}

/* ---- the pod's endpoint ---------------------------------------------------------------- */

static void test_pod_gives_the_endpoint_calicos_labels_ports_and_account(void **state)
{
    struct cni_k8s_pod p;
    const json_t *port;

    (void)state;
    read_ok("\"cni.projectcalico.org/containerID\":\"abc\"", NULL, &p);
    assert_string_equal(p.namespace, "shop");
    assert_string_equal(p.name, "web-0");
    assert_string_equal(p.uid, "3f0c-11");
    assert_string_equal(p.container_id, "abc");
    assert_string_equal(p.service_account, "front");
    assert_int_equal(json_object_size(p.labels), 4);
    assert_string_equal(label(&p, "app"), "web");
    /* Calico's own labels win over the pod's. */
    assert_string_equal(label(&p, CNI_LABEL_NAMESPACE), "shop");
    assert_string_equal(label(&p, CNI_LABEL_ORCHESTRATOR), "k8s");
    assert_string_equal(label(&p, CNI_LABEL_SERVICE_ACCOUNT), "front");
    /* Named ports, a hostPort without a name, SCTP, an init container's; not the
     * unnamed one, nor ICMP. */
    assert_int_equal(json_array_size(p.ports), 4);
    port = json_array_get(p.ports, 0);
    assert_string_equal(json_string_value(json_object_get(port, "name")), "http");
    assert_string_equal(json_string_value(json_object_get(port, "protocol")), "TCP");
    assert_int_equal(json_integer_value(json_object_get(port, "port")), 8080);
    port = json_array_get(p.ports, 1);
    assert_null(json_object_get(port, "name"));
    assert_string_equal(json_string_value(json_object_get(port, "protocol")), "UDP");
    assert_int_equal(json_integer_value(json_object_get(port, "hostPort")), 5353);
    assert_string_equal(json_string_value(json_object_get(port, "hostIP")), "192.168.200.1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(p.ports, 2),
                                                          "protocol")), "SCTP");
    assert_string_equal(json_string_value(json_object_get(json_array_get(p.ports, 3), "name")),
                        "metrics");
    assert_null(p.ipam_annotations);
    assert_null(p.source_prefixes);
    assert_false(cni_k8s_pod_has_ipam_wishes(&p));
    cni_k8s_pod_clear(&p);
}

/* The whole endpoint, decoded as tabbyctl would decode it. */
static void test_pod_endpoint_decodes_as_a_workload_endpoint(void **state)
{
    _cleanup_json_ json_t *res_doc = load("{\"ips\":[{\"address\":\"10.1.0.5/32\"}]}");
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct cni_result result;
    struct tby_error err = { 0 };
    struct cni_k8s_pod p;

    (void)state;
    read_ok("\"cni.projectcalico.org/allowedSourcePrefixes\":\"[\\\"10.99.1.7/16\\\"]\"",
            NULL, &p);
    assert_int_equal(cni_result_parse(res_doc, &result, &err), 0);
    {
        struct cni_wep_input in = { .node = "node-1", .namespace = p.namespace, .pod = p.name,
                                    .container_id = "abc", .endpoint = "eth0",
                                    .host_ifname = "tbyx", .mac = "0a:58:0a:01:00:05",
                                    .res = &result, .labels = p.labels, .ports = p.ports,
                                    .service_account = p.service_account,
                                    .source_prefixes = p.source_prefixes };

        if (cni_wep_build(&in, &res, &err) < 0)
            fail_msg("%s", tby_error_str(&err));
    }
    assert_string_equal(res->meta.name, "node--1-k8s-web--0-eth0");
    assert_int_equal(res->spec.wep->n_ports, 4);
    assert_string_equal(res->spec.wep->profiles.items[1], "ksa.shop.front");
    /* Masked, as Calico normalises them. */
    assert_int_equal(res->spec.wep->allow_spoofed_source_prefixes.n, 1);
    assert_string_equal(json_string_value(json_array_get(p.source_prefixes, 0)),
                        "10.99.0.0/16");
    cni_k8s_pod_clear(&p);
}

static void test_long_account_names_get_no_label(void **state)
{
    _cleanup_json_ json_t *pod = pod_with("");
    struct cni_k8s_pod p;
    struct tby_error err = { 0 };
    char long_name[70];

    (void)state;
    memset(long_name, 'a', 63);
    long_name[63] = '\0';
    json_object_set_new(json_object_get(pod, "spec"), "serviceAccountName",
                        json_string(long_name));
    assert_int_equal(cni_k8s_pod_read(pod, NULL, &p, &err), 0);
    assert_null(label(&p, CNI_LABEL_SERVICE_ACCOUNT));
    assert_string_equal(p.service_account, long_name);
    cni_k8s_pod_clear(&p);
    /* No account at all: none. */
    json_object_del(json_object_get(pod, "spec"), "serviceAccountName");
    json_object_del(json_object_get(pod, "metadata"), "labels");
    assert_int_equal(cni_k8s_pod_read(pod, NULL, &p, &err), 0);
    assert_null(p.service_account);
    assert_int_equal(json_object_size(p.labels), 2);
    cni_k8s_pod_clear(&p);
}

/* ---- annotations ------------------------------------------------------------------------- */

static const char *ipam_annotation(const struct cni_k8s_pod *p, const char *key)
{
    return json_string_value(json_object_get(p->ipam_annotations, key));
}

static void test_pool_annotations_default_to_the_namespaces(void **state)
{
    struct cni_k8s_pod p;

    (void)state;
    read_ok("", "\"cni.projectcalico.org/ipv4pools\":\"[\\\"blue\\\"]\","
            "\"cni.projectcalico.org/ipv6pools\":\"[\\\"blue6\\\"]\","
            "\"cni.projectcalico.org/ipFamilies\":\"[\\\"IPv4\\\",\\\"IPv6\\\"]\"", &p);
    assert_string_equal(ipam_annotation(&p, "cni.projectcalico.org/ipv4pools"), "[\"blue\"]");
    assert_string_equal(ipam_annotation(&p, "cni.projectcalico.org/ipv6pools"), "[\"blue6\"]");
    assert_string_equal(p.ip_families, "[\"IPv4\",\"IPv6\"]");
    assert_true(cni_k8s_pod_has_ipam_wishes(&p));
    cni_k8s_pod_clear(&p);
    /* The pod's win; an empty one counts as absent. */
    read_ok("\"cni.projectcalico.org/ipv4pools\":\"[\\\"green\\\",\\\"10.40.0.0/24\\\"]\","
            "\"cni.projectcalico.org/ipv6pools\":\"\","
            "\"cni.projectcalico.org/ipAddrs\":\"[\\\"10.30.0.7\\\",\\\"fd30::7\\\"]\"",
            "\"cni.projectcalico.org/ipv4pools\":\"[\\\"blue\\\"]\","
            "\"cni.projectcalico.org/ipv6pools\":\"[\\\"blue6\\\"]\","
            "\"cni.projectcalico.org/ipAddrs\":\"[\\\"10.30.0.9\\\"]\"", &p);
    assert_string_equal(ipam_annotation(&p, "cni.projectcalico.org/ipv4pools"),
                        "[\"green\",\"10.40.0.0/24\"]");
    assert_string_equal(ipam_annotation(&p, "cni.projectcalico.org/ipv6pools"), "[\"blue6\"]");
    /* Addresses are the pod's alone. */
    assert_string_equal(ipam_annotation(&p, "cni.projectcalico.org/ipAddrs"),
                        "[\"10.30.0.7\",\"fd30::7\"]");
    assert_null(p.ip_families);
    cni_k8s_pod_clear(&p);
}

static void test_bad_and_unsupported_annotations_are_refused_naming_whose(void **state)
{
    (void)state;
    expect_read_error("\"cni.projectcalico.org/floatingIPs\":\"[\\\"1.2.3.4\\\"]\"", NULL,
                      "annotation cni.projectcalico.org/floatingIPs on pod shop/web-0: not "
                      "supported");
    expect_read_error("\"cni.projectcalico.org/ipAddrsNoIpam\":\"[\\\"10.0.0.1\\\"]\"", NULL,
                      "annotation cni.projectcalico.org/ipAddrsNoIpam on pod shop/web-0");
    expect_read_error("", "\"cni.projectcalico.org/ipv4pools\":\"blue\"",
                      "annotation cni.projectcalico.org/ipv4pools on namespace shop: must be a "
                      "JSON list of IP pool names or CIDRs, got blue");
    expect_read_error("\"cni.projectcalico.org/ipv6pools\":\"[1]\"", NULL,
                      "ipv6pools on pod shop/web-0");
    expect_read_error("\"cni.projectcalico.org/ipFamilies\":\"[\\\"IPv5\\\"]\"", NULL,
                      "ipFamilies on pod shop/web-0: must be a JSON list of IPv4, IPv6");
    expect_read_error("\"cni.projectcalico.org/ipFamilies\":\"[]\"", NULL, "ipFamilies");
    expect_read_error("\"cni.projectcalico.org/ipAddrs\":\"[\\\"10.0.0.1\\\",\\\"10.0.0.2\\\"]\"",
                      NULL, "at most one IPv4 and one IPv6 address");
    expect_read_error("\"cni.projectcalico.org/ipAddrs\":\"[\\\"10.0.0.300\\\"]\"", NULL,
                      "ipAddrs on pod shop/web-0");
    expect_read_error("\"cni.projectcalico.org/allowedSourcePrefixes\":\"[\\\"x\\\"]\"", NULL,
                      "allowedSourcePrefixes on pod shop/web-0: must be a JSON list of CIDRs");
}

/* ---- the IPAM plugin's configuration ------------------------------------------------------- */

static json_t *ipam_conf(const struct cni_k8s_pod *p, const char *conf_text, const char *type)
{
    _cleanup_json_ json_t *conf = load(conf_text);
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };
    size_t len = 0;

    if (cni_k8s_pod_ipam_conf(p, conf, type, &text, &len, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    assert_int_equal(len, strlen(text));
    return load(text);
}

static void test_ipam_gets_the_pods_annotations_instead_of_the_configurations(void **state)
{
    static const char conf[] = "{\"name\":\"k8s-pod-network\",\"ipam\":{\"type\":\"tabby-ipam\","
                               "\"assign_ipv6\":\"false\"},\"args\":{\"cni\":{\"labels\":{},"
                               "\"annotations\":{\"cni.projectcalico.org/ipv4pools\":"
                               "\"[\\\"stale\\\"]\"}}}}";
    _cleanup_json_ json_t *out = NULL;
    struct cni_k8s_pod p;
    const json_t *ann, *ipam;

    (void)state;
    read_ok("\"cni.projectcalico.org/ipFamilies\":\"[\\\"IPv6\\\"]\"",
            "\"cni.projectcalico.org/ipv6pools\":\"[\\\"blue6\\\"]\"", &p);
    out = ipam_conf(&p, conf, "tabby-ipam");
    ann = json_object_get(json_object_get(json_object_get(out, "args"), "cni"), "annotations");
    assert_int_equal(json_object_size(ann), 1);
    assert_string_equal(json_string_value(json_object_get(ann,
                                                          "cni.projectcalico.org/ipv6pools")),
                        "[\"blue6\"]");
    ipam = json_object_get(out, "ipam");
    assert_string_equal(json_string_value(json_object_get(ipam, "assign_ipv4")), "false");
    assert_string_equal(json_string_value(json_object_get(ipam, "assign_ipv6")), "true");
    assert_string_equal(json_string_value(json_object_get(out, "name")), "k8s-pod-network");
    json_decref(out);
    cni_k8s_pod_clear(&p);
    /* A pod that asks nothing: the configuration's annotations are gone all the same,
     * and another IPAM plugin is fine. */
    read_ok("", NULL, &p);
    out = ipam_conf(&p, conf, "host-local");
    assert_null(json_object_get(json_object_get(json_object_get(out, "args"), "cni"),
                                "annotations"));
    assert_non_null(json_object_get(json_object_get(json_object_get(out, "args"), "cni"),
                                    "labels"));
    cni_k8s_pod_clear(&p);
}

static void test_other_ipam_plugins_cannot_take_the_annotations(void **state)
{
    _cleanup_json_ json_t *conf = load("{\"ipam\":{\"type\":\"host-local\"}}");
    char *text = NULL;
    struct tby_error err = { 0 };
    struct cni_k8s_pod p;
    size_t len;

    (void)state;
    read_ok("", "\"cni.projectcalico.org/ipv4pools\":\"[\\\"blue\\\"]\"", &p);
    assert_int_equal(cni_k8s_pod_ipam_conf(&p, conf, "host-local", &text, &len, &err), -EINVAL);
    assert_null(text);
    assert_non_null(strstr(err.msg, "need ipam.type tabby-ipam: host-local cannot honour"));
    cni_k8s_pod_clear(&p);
}

/* ---- where the API is -------------------------------------------------------------------- */

static void test_calicos_keys_stand_over_or_for_a_kubeconfig(void **state)
{
    char dir[] = "/tmp/tby-cni-unit-XXXXXX", path[64];
    struct cni_kube_conf conf = { .wanted = true };
    struct cni_failure f = { 0 };
    struct cni_k8s k;
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/kubeconfig", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
          "clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n"
          "users: [{name: u, user: {token: from-file}}]\n"
          "contexts: [{name: c, context: {cluster: k, user: u}}]\n", fp);
    fclose(fp);
    conf.kubeconfig = path;
    assert_int_equal(cni_k8s_open(&conf, &k, &f), 0);
    assert_string_equal(k.cfg->server, "https://10.0.0.1:6443");
    assert_string_equal(k.cfg->token, "from-file");
    assert_int_equal(k.cfg->timeout_ms, CNI_K8S_TIMEOUT_MS);
    assert_int_equal(k.cfg->connect_timeout_ms, CNI_K8S_CONNECT_MS);
    cni_k8s_close(&k);
    conf.api_root = "https://10.96.0.1:443";
    conf.token = "from-keys";
    assert_int_equal(cni_k8s_open(&conf, &k, &f), 0);
    assert_string_equal(k.cfg->server, "https://10.96.0.1:443");
    assert_string_equal(k.cfg->token, "from-keys");
    cni_k8s_close(&k);
    /* Without a kubeconfig anywhere, the keys are enough. */
    setenv("HOME", dir, 1);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    conf.kubeconfig = NULL;
    assert_int_equal(cni_k8s_open(&conf, &k, &f), 0);
    assert_string_equal(k.cfg->server, "https://10.96.0.1:443");
    assert_string_equal(k.cfg->source, "the network configuration's keys");
    cni_k8s_close(&k);
    conf.api_root = NULL;
    assert_int_equal(cni_k8s_open(&conf, &k, &f), -1);
    assert_int_equal(f.code, CNI_ERR_INVALID_CONFIG);
    assert_non_null(strstr(tby_error_str(&f.err), "no Kubernetes configuration"));
    cni_k8s_close(&k);
    conf.kubeconfig = "/nonexistent/kubeconfig";
    assert_int_equal(cni_k8s_open(&conf, &k, &f), -1);
    assert_non_null(strstr(tby_error_str(&f.err), "kubernetes.kubeconfig: "));
    cni_k8s_close(&k);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_gives_the_endpoint_calicos_labels_ports_and_account),
        cmocka_unit_test(test_pod_endpoint_decodes_as_a_workload_endpoint),
        cmocka_unit_test(test_long_account_names_get_no_label),
        cmocka_unit_test(test_pool_annotations_default_to_the_namespaces),
        cmocka_unit_test(test_bad_and_unsupported_annotations_are_refused_naming_whose),
        cmocka_unit_test(test_ipam_gets_the_pods_annotations_instead_of_the_configurations),
        cmocka_unit_test(test_other_ipam_plugins_cannot_take_the_annotations),
        cmocka_unit_test(test_calicos_keys_stand_over_or_for_a_kubeconfig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
