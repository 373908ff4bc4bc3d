/* test_cni_common.c — reading CNI calls and writing answers: environment (CNI_ARGS with
 * Kubernetes' keys), configuration values, versions, error codes and result shapes; and
 * where the plugins find their datastore and node name (cni_datastore.h), from tabby's
 * keys and Calico's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cni_common.h"
#include "cni_datastore.h"
#include "tabby/cleanup.h"

static void set_env(const char *command, const char *container, const char *args)
{
    setenv("CNI_COMMAND", command, 1);
    if (container)
        setenv("CNI_CONTAINERID", container, 1);
    else
        unsetenv("CNI_CONTAINERID");
    setenv("CNI_IFNAME", "eth0", 1);
    setenv("CNI_NETNS", "/var/run/netns/x", 1);
    if (args)
        setenv("CNI_ARGS", args, 1);
    else
        unsetenv("CNI_ARGS");
}

/* Reads a call from `conf`; returns cni_call_read's result. */
static int read_call(const char *conf, struct cni_call *call, struct cni_failure *f)
{
    FILE *in = fmemopen((void *)conf, strlen(conf), "r");
    int r;

    assert_non_null(in);
    r = cni_call_read(in, call, f);
    fclose(in);
    return r;
}

static void test_add_call_reads_environment_and_configuration(void **state)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    (void)state;
    set_env("ADD", "abc", "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;IP=10.0.0.7");
    assert_int_equal(read_call("{\"cniVersion\":\"0.4.0\",\"name\":\"net\",\"ipam\":{}}", &call,
                               &f), 0);
    assert_int_equal(call.command, CNI_ADD);
    assert_string_equal(call.version, "0.4.0");
    assert_string_equal(call.name, "net");
    assert_string_equal(call.container_id, "abc");
    assert_string_equal(call.args.pod_namespace, "prod");
    assert_string_equal(call.args.pod_name, "web-0");
    assert_string_equal(call.args.ip, "10.0.0.7");
    assert_non_null(cni_ipam_conf(&call));
    cni_call_clear(&call);
}

static void expect_read_failure(const char *conf, int code, const char *fragment)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    assert_int_equal(read_call(conf, &call, &f), -1);
    assert_int_equal(f.code, code);
    if (!strstr(tby_error_str(&f.err), fragment))
        fail_msg("\"%s\" lacks \"%s\"", tby_error_str(&f.err), fragment);
    cni_call_clear(&call);
}

static void test_bad_calls_get_the_specs_codes(void **state)
{
    (void)state;
    set_env("ADD", "abc", NULL);
    expect_read_failure("{", CNI_ERR_DECODE, "failed to decode");
    expect_read_failure("{\"name\":\"n\"}", CNI_ERR_INVALID_CONFIG, "cniVersion: missing");
    expect_read_failure("{\"cniVersion\":\"0.2.0\",\"name\":\"n\"}", CNI_ERR_INCOMPATIBLE_VERSION,
                        "the configuration is 0.2.0");
    expect_read_failure("{\"cniVersion\":\"1.0.0\"}", CNI_ERR_INVALID_CONFIG, "name: missing");
    set_env("ADD", NULL, NULL);
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "CNI_CONTAINERID is not set");
    set_env("ADD", "-x", NULL);
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "CNI_CONTAINERID \"-x\"");
    set_env("ADD", "abc", "K8S_POD_NAME");
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "CNI_ARGS: \"K8S_POD_NAME\" is not KEY=VALUE");
    set_env("FROB", "abc", NULL);
    expect_read_failure("{}", CNI_ERR_INVALID_ENV, "CNI_COMMAND \"FROB\"");
}

static void test_cni_args_hold_every_kubernetes_key(void **state)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    (void)state;
    set_env("ADD", "abc", "IgnoreUnknown=true;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
            "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=3f0c-11;K8S_POD_NETWORK=x;IP=");
    assert_int_equal(read_call("{\"cniVersion\":\"1.0.0\",\"name\":\"net\"}", &call, &f), 0);
    assert_true(call.args.ignore_unknown);
    assert_string_equal(call.args.pod_namespace, "shop");
    assert_string_equal(call.args.pod_name, "web-0");
    assert_string_equal(call.args.infra_container_id, "abc");
    assert_string_equal(call.args.pod_uid, "3f0c-11");
    assert_null(call.args.ip); /* empty is absent */
    cni_call_clear(&call);
}

/* The conventions (and libcni's LoadArgs, which Calico's plugin uses): a key the plugin
 * does not read is an error unless IgnoreUnknown says otherwise, wherever it stands. */
static void test_unknown_cni_args_need_ignore_unknown(void **state)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    (void)state;
    set_env("ADD", "abc", "K8S_POD_NAME=web-0;FOO=1");
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "CNI_ARGS: unknown argument FOO");
    set_env("ADD", "abc", "FOO=1;IgnoreUnknown=0");
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "unknown argument FOO");
    set_env("ADD", "abc", "IgnoreUnknown=maybe");
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_ENV,
                        "IgnoreUnknown=maybe");
    set_env("ADD", "abc", "FOO=1;IgnoreUnknown=1");
    assert_int_equal(read_call("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", &call, &f), 0);
    cni_call_clear(&call);
}

/* GC and STATUS are about no container: nothing but CNI_COMMAND is needed. */
static void set_env_without_attachment(const char *command)
{
    set_env(command, NULL, NULL);
    unsetenv("CNI_IFNAME");
    unsetenv("CNI_NETNS");
}

static void test_gc_reads_the_valid_attachments_without_a_container(void **state)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    (void)state;
    set_env_without_attachment("GC");
    assert_int_equal(read_call("{\"cniVersion\":\"1.1.0\",\"name\":\"net\","
                               "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\","
                               "\"ifname\":\"eth0\"},{\"containerID\":\"b\",\"ifname\":"
                               "\"net1\"}]}", &call, &f), 0);
    assert_int_equal(call.command, CNI_GC);
    assert_null(call.container_id);
    assert_int_equal(call.n_valid, 2);
    assert_true(cni_attachment_valid(&call, "a", "eth0"));
    assert_false(cni_attachment_valid(&call, "a", "net1"));
    assert_true(cni_attachment_valid(&call, "b", "net1"));
    assert_true(cni_attachment_valid(&call, "b", NULL));
    assert_false(cni_attachment_valid(&call, "c", NULL));
    assert_false(cni_attachment_valid(&call, NULL, NULL));
    cni_call_clear(&call);
    /* Absent or null: no attachment is valid any more. */
    assert_int_equal(read_call("{\"cniVersion\":\"1.1.0\",\"name\":\"net\"}", &call, &f),
                     0);
    assert_int_equal(call.n_valid, 0);
    assert_false(cni_attachment_valid(&call, "a", NULL));
    cni_call_clear(&call);
    assert_int_equal(read_call("{\"cniVersion\":\"1.1.0\",\"name\":\"net\","
                               "\"cni.dev/valid-attachments\":null}", &call, &f), 0);
    assert_int_equal(call.n_valid, 0);
    cni_call_clear(&call);
    set_env_without_attachment("STATUS");
    assert_int_equal(read_call("{\"cniVersion\":\"1.1.0\",\"name\":\"net\"}", &call, &f),
                     0);
    assert_int_equal(call.command, CNI_STATUS);
    cni_call_clear(&call);
}

static void test_malformed_valid_attachments_fail_the_gc(void **state)
{
    (void)state;
    set_env_without_attachment("GC");
    expect_read_failure("{\"cniVersion\":\"1.1.0\",\"name\":\"n\","
                        "\"cni.dev/valid-attachments\":{}}", CNI_ERR_INVALID_CONFIG,
                        "cni.dev/valid-attachments: must be a list");
    expect_read_failure("{\"cniVersion\":\"1.1.0\",\"name\":\"n\","
                        "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":"
                        "\"eth0\"},{\"containerID\":\"b\"}]}", CNI_ERR_INVALID_CONFIG,
                        "cni.dev/valid-attachments[1]: must hold");
    expect_read_failure("{\"cniVersion\":\"1.1.0\",\"name\":\"n\","
                        "\"cni.dev/valid-attachments\":[\"a\"]}", CNI_ERR_INVALID_CONFIG,
                        "cni.dev/valid-attachments[0]");
    expect_read_failure("{\"cniVersion\":\"1.1.0\",\"name\":\"n\","
                        "\"cni.dev/valid-attachments\":[{\"containerID\":\"\",\"ifname\":"
                        "\"eth0\"}]}", CNI_ERR_INVALID_CONFIG, "[0]: must hold");
}

static void test_commands_newer_than_the_configuration_are_refused(void **state)
{
    (void)state;
    set_env_without_attachment("GC");
    expect_read_failure("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}",
                        CNI_ERR_INCOMPATIBLE_VERSION,
                        "GC needs cniVersion 1.1.0 or later, the configuration is 1.0.0");
    set_env_without_attachment("STATUS");
    expect_read_failure("{\"cniVersion\":\"0.4.0\",\"name\":\"n\"}",
                        CNI_ERR_INCOMPATIBLE_VERSION, "STATUS needs cniVersion 1.1.0");
    set_env("CHECK", "abc", NULL);
    expect_read_failure("{\"cniVersion\":\"0.3.1\",\"name\":\"n\"}",
                        CNI_ERR_INCOMPATIBLE_VERSION, "CHECK needs cniVersion 0.4.0");
}

static void test_version_call_needs_no_container(void **state)
{
    struct cni_call call;
    struct cni_failure f = { 0 };

    (void)state;
    set_env("VERSION", NULL, NULL);
    assert_int_equal(read_call("{\"cniVersion\":\"9.9.9\"}", &call, &f), 0);
    assert_int_equal(call.command, CNI_VERSION);
    cni_call_clear(&call);
    assert_int_equal(read_call("", &call, &f), 0);
    cni_call_clear(&call);
}

static void test_versions_compare_by_number(void **state)
{
    (void)state;
    assert_true(cni_version_supported("0.3.1"));
    assert_true(cni_version_supported("1.1.0"));
    assert_false(cni_version_supported("0.2.0"));
    assert_false(cni_version_supported(NULL));
    assert_true(cni_version_at_least("1.0.0", 0, 4, 0));
    assert_true(cni_version_at_least("0.4.0", 0, 4, 0));
    assert_false(cni_version_at_least("0.3.1", 0, 4, 0));
    assert_true(cni_version_at_least("0.10.0", 0, 4, 0));
    assert_false(cni_version_at_least("junk", 0, 1, 0));
}

static void test_booleans_take_calico_ipams_strings(void **state)
{
    _cleanup_json_ json_t *obj = json_pack("{s:s, s:b, s:s, s:i}", "a", "true", "b", 0, "c",
                                           "yes", "d", 1);
    struct cni_failure f = { 0 };
    bool v = false;

    (void)state;
    assert_int_equal(cni_conf_bool(obj, "a", &v, &f), 0);
    assert_true(v);
    assert_int_equal(cni_conf_bool(obj, "b", &v, &f), 0);
    assert_false(v);
    v = true;
    assert_int_equal(cni_conf_bool(obj, "missing", &v, &f), 0);
    assert_true(v);
    assert_int_equal(cni_conf_bool(obj, "c", &v, &f), -1);
    assert_int_equal(f.code, CNI_ERR_INVALID_CONFIG);
    assert_int_equal(cni_conf_bool(obj, "d", &v, &f), -1);
}

static void test_results_have_the_shape_of_their_version(void **state)
{
    _cleanup_json_ json_t *new_style = cni_result_new("1.0.0");
    _cleanup_json_ json_t *old_style = cni_result_new("0.3.1");
    struct tby_cidr a, b;
    struct tby_ip gw;

    (void)state;
    assert_int_equal(tby_cidr_parse("10.0.0.5/32", 0, &a, NULL), 0);
    assert_int_equal(tby_cidr_parse("fd00::5/128", 0, &b, NULL), 0);
    assert_int_equal(tby_ip_parse("10.0.0.1", &gw, NULL), 0);
    assert_int_equal(cni_result_add_ip(new_style, "1.0.0", &a, &gw), 0);
    assert_int_equal(cni_result_add_ip(old_style, "0.3.1", &b, NULL), 0);
    assert_int_equal(cni_result_add_route(old_style, "::/0", NULL), 0);
    assert_null(json_object_get(json_array_get(json_object_get(new_style, "ips"), 0), "version"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(new_style, "ips"), 0), "gateway")),
                        "10.0.0.1");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(old_style, "ips"), 0), "version")),
                        "6");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(old_style, "routes"), 0), "dst")),
                        "::/0");
}

static void test_tabby_errors_map_to_cni_codes(void **state)
{
    static const struct {
        int errnum;
        int code;
    } cases[] = {
        { -EAGAIN, CNI_ERR_TRY_AGAIN }, { -EINVAL, CNI_ERR_INVALID_CONFIG },
        { -EIO, CNI_ERR_IO },           { -ENOSPC, CNI_ERR_ALLOCATION },
        { -EEXIST, CNI_ERR_ALLOCATION }, { -ENOENT, CNI_ERR_ALLOCATION },
    };

    (void)state;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        struct tby_error err = { 0 };
        struct cni_failure f = { 0 };

        tby_error_set(&err, cases[i].errnum, "boom");
        assert_int_equal(cni_fail_from(&f, &err), -1);
        assert_int_equal(f.code, cases[i].code);
        assert_non_null(strstr(tby_error_str(&f.err), "boom"));
    }
}

static void test_conf_paths_name_the_key(void **state)
{
    _cleanup_json_ json_t *conf = json_loads("{\"kubernetes\":{\"kubeconfig\":\"/k\","
                                             "\"k8s_api_root\":\"\"},\"policy\":\"k8s\","
                                             "\"flag\":true,\"n\":1}", 0, NULL);
    struct cni_failure f = { 0 };
    const char *s;
    bool b;

    (void)state;
    assert_int_equal(cni_conf_str(conf, "kubernetes.kubeconfig", &s, &f), 0);
    assert_string_equal(s, "/k");
    assert_int_equal(cni_conf_str(conf, "kubernetes.k8s_api_root", &s, &f), 0);
    assert_null(s); /* "" is unset, as in Calico */
    assert_int_equal(cni_conf_str(conf, "kubernetes.node_name", &s, &f), 0);
    assert_null(s);
    assert_int_equal(cni_conf_str(conf, "absent.deeper.still", &s, &f), 0);
    assert_null(s);
    assert_int_equal(cni_conf_str(conf, "policy.type", &s, &f), -1);
    assert_string_equal(tby_error_str(&f.err), "policy: must be an object");
    assert_int_equal(cni_conf_str(conf, "n", &s, &f), -1);
    assert_string_equal(tby_error_str(&f.err), "n: must be a string");
    assert_int_equal(cni_conf_flag(conf, "flag", &b, &f), 0);
    assert_true(b);
    assert_int_equal(cni_conf_flag(conf, "missing", &b, &f), 0);
    assert_false(b);
    assert_int_equal(cni_conf_flag(conf, "n", &b, &f), -1);
}

/* What `read` makes of a configuration: `expect`, or (expect NULL) a failure with that
 * code and fragment. */
static void expect_read(int (*read)(const struct cni_call *, char **, struct cni_failure *),
                        const char *conf_text, const char *expect, int code,
                        const char *fragment)
{
    struct cni_call call = { .conf = json_loads(conf_text, 0, NULL) };
    struct cni_failure f = { 0 };
    char *value = NULL;
    int r;

    assert_non_null(call.conf);
    r = read(&call, &value, &f);
    if (expect) {
        if (r < 0)
            fail_msg("%s: %s", conf_text, tby_error_str(&f.err));
        assert_string_equal(value, expect);
    } else {
        assert_int_equal(r, -1);
        assert_int_equal(f.code, code);
        if (!strstr(tby_error_str(&f.err), fragment))
            fail_msg("\"%s\" lacks \"%s\"", tby_error_str(&f.err), fragment);
    }
    free(value);
    json_decref(call.conf);
}

static void expect_store(const char *conf_text, const char *expect, const char *fragment)
{
    expect_read(cni_store_uri, conf_text, expect, CNI_ERR_INVALID_CONFIG, fragment);
}

static void expect_node(const char *conf_text, const char *expect, int code,
                        const char *fragment)
{
    expect_read(cni_node_name, conf_text, expect, code, fragment);
}

static void test_store_comes_from_tabbys_or_calicos_keys(void **state)
{
    (void)state;
    setenv("TABBY_STORE", "sqlite:/node/default.db", 1);
    expect_store("{}", "sqlite:/node/default.db", NULL);
    expect_store("{\"datastore\":\"sqlite:/a.db\",\"datastore_type\":\"kubernetes\"}",
                 "sqlite:/a.db", NULL);
    expect_store("{\"ipam\":{\"datastore\":\"sqlite:/b.db\"},\"datastore\":\"sqlite:/a.db\"}",
                 "sqlite:/b.db", NULL);
    expect_store("{\"datastore_type\":\"kubernetes\",\"kubernetes\":{\"kubeconfig\":"
                 "\"/etc/cni/net.d/calico-kubeconfig\"}}",
                 "k8s:/etc/cni/net.d/calico-kubeconfig", NULL);
    expect_store("{\"datastore_type\":\"kubernetes\"}", "k8s:", NULL);
    expect_store("{\"datastore_type\":\"kubernetes\",\"policy\":{\"k8s_auth_token\":\"t\"}}",
                 NULL, "policy.k8s_auth_token: with datastore_type kubernetes");
    expect_store("{\"datastore_type\":\"etcdv3\",\"etcd_endpoints\":"
                 "\"http://10.0.0.1:2379,http://10.0.0.2:2379\"}",
                 "etcd:http://10.0.0.1:2379,http://10.0.0.2:2379", NULL);
    expect_store("{\"etcd_endpoints\":\"https://e:2379\"}", "etcd:https://e:2379", NULL);
    expect_store("{\"datastore_type\":\"etcdv3\",\"etcd_authority\":\"e:2379\","
                 "\"etcd_scheme\":\"https\"}", "etcd:https://e:2379", NULL);
    expect_store("{\"etcd_authority\":\"e:2379\"}", "etcd:http://e:2379", NULL);
    expect_store("{\"datastore_type\":\"etcdv3\"}", "etcd:", NULL);
    expect_store("{\"datastore_type\":\"etcdv3\",\"etcd_discovery_srv\":\"example.com\"}",
                 NULL, "etcd_discovery_srv");
    expect_store("{\"datastore_type\":\"consul\"}", NULL, "datastore_type \"consul\"");
    unsetenv("TABBY_STORE");
}

static void test_node_name_comes_from_the_keys_the_file_or_the_host(void **state)
{
    char dir[] = "/tmp/tby-cni-unit-XXXXXX", conf[256];
    char path[64];
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nodename", dir);
    unsetenv("NODENAME");
    /* The file must be there unless optional, even when nodename says the name. */
    snprintf(conf, sizeof(conf), "{\"nodename\":\"n1\",\"nodename_file\":\"%s\"}", path);
    expect_node(conf, NULL, CNI_ERR_TRY_AGAIN, "does not exist (yet)");
    snprintf(conf, sizeof(conf), "{\"hostname\":\"old\",\"nodename_file\":\"%s\","
             "\"nodename_file_optional\":true}", path);
    expect_node(conf, "old", 0, NULL);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("  node-7\n", fp);
    fclose(fp);
    snprintf(conf, sizeof(conf), "{\"hostname\":\"old\",\"nodename_file\":\"%s\"}", path);
    expect_node(conf, "node-7", 0, NULL);
    snprintf(conf, sizeof(conf), "{\"ipam\":{\"nodename\":\"n2\"},\"nodename_file\":\"%s\"}",
             path);
    expect_node(conf, "n2", 0, NULL);
    setenv("NODENAME", "from-env", 1);
    expect_node("{}", "from-env", 0, NULL);
    expect_node("{\"hostname\":\"old\"}", "old", 0, NULL);
    unsetenv("NODENAME");
    expect_node("{\"nodename_file_optional\":1}", NULL, CNI_ERR_INVALID_CONFIG,
                "nodename_file_optional: must be true or false");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_call_reads_environment_and_configuration),
        cmocka_unit_test(test_bad_calls_get_the_specs_codes),
        cmocka_unit_test(test_cni_args_hold_every_kubernetes_key),
        cmocka_unit_test(test_unknown_cni_args_need_ignore_unknown),
        cmocka_unit_test(test_gc_reads_the_valid_attachments_without_a_container),
        cmocka_unit_test(test_malformed_valid_attachments_fail_the_gc),
        cmocka_unit_test(test_commands_newer_than_the_configuration_are_refused),
        cmocka_unit_test(test_version_call_needs_no_container),
        cmocka_unit_test(test_versions_compare_by_number),
        cmocka_unit_test(test_booleans_take_calico_ipams_strings),
        cmocka_unit_test(test_results_have_the_shape_of_their_version),
        cmocka_unit_test(test_tabby_errors_map_to_cni_codes),
        cmocka_unit_test(test_conf_paths_name_the_key),
        cmocka_unit_test(test_store_comes_from_tabbys_or_calicos_keys),
        cmocka_unit_test(test_node_name_comes_from_the_keys_the_file_or_the_host),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
