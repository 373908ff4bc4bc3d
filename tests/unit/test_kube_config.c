/* test_kube_config.c — kubeconfig files (every field, inline data and files, contexts,
 * bad files naming the field), in-cluster configuration, the order configurations are
 * looked for in, and base64. */
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

#include "tabby/base64.h"
#include "tabby/cleanup.h"
#include "tabby/kube_config.h"

#define TOKEN "s3cr3t-T0KEN-never-shown"
/* base64 of "-----BEGIN CERTIFICATE-----\nCA\n" and of two other short PEM-like texts. */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg=="
#define CERT_B64 "Q0VSVAo="
#define KEY_B64 "S0VZCg=="

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *path_of(const char *name)
{
    static char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tby-kubecfg-XXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct tby_kube_config *parse_ok(const char *text, const char *context)
{
    struct tby_kube_config *cfg = NULL;
    struct tby_error err = { 0 };
    int r = tby_kube_config_parse(text, strlen(text), path_of("config"), context, &cfg, &err);

    if (r < 0)
        fail_msg("parse failed: %s", err.msg);
    return cfg;
}

/* Parses `text`, expects failure with `code` and a message containing `fragment`. */
static void parse_fails(const char *text, int code, const char *fragment)
{
    struct tby_kube_config *cfg = NULL;
    struct tby_error err = { 0 };
    int r = tby_kube_config_parse(text, strlen(text), "/x", NULL, &cfg, &err);

    assert_int_equal(r, code);
    assert_null(cfg);
    if (!strstr(err.msg, fragment))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
    assert_null(strstr(err.msg, TOKEN));
    assert_null(strstr(err.msg, "QUJD")); /* the bad key data below */
}

static const char inline_config[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "preferences: {}\n"
    "current-context: admin@lab\n"
    "clusters:\n"
    "- name: other\n"
    "  cluster: {server: 'https://10.9.9.9:6443'}\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "    extensions: [{name: x, extension: {}}]\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    token: " TOKEN "\n"
    "    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "contexts:\n"
    "- name: admin@lab\n"
    "  context: {cluster: lab, user: admin, namespace: kube-system}\n"
    "- name: other\n"
    "  context: {cluster: other}\n";

static void test_inline_data_is_decoded_and_context_chosen(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg = parse_ok(inline_config, NULL);

    (void)state;
    assert_string_equal(cfg->server, "https://127.0.0.1:6443");
    assert_string_equal(cfg->namespace, "kube-system");
    assert_string_equal(cfg->context, "admin@lab");
    assert_string_equal(cfg->ca_data.data, "-----BEGIN CERTIFICATE-----\nCA\n");
    assert_int_equal(cfg->ca_data.len, strlen("-----BEGIN CERTIFICATE-----\nCA\n"));
    assert_string_equal(cfg->cert_data.data, "CERT\n");
    assert_string_equal(cfg->key_data.data, "KEY\n");
    assert_string_equal(cfg->token, TOKEN);
    assert_null(cfg->ca_file);
    assert_null(cfg->token_file);
    assert_false(cfg->insecure);
    assert_string_equal(cfg->source + strlen("kubeconfig "), path_of("config"));
    assert_true(cfg->timeout_ms > 0 && cfg->connect_timeout_ms > 0);
}

static void test_a_context_asked_for_wins_over_current_context(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg =
        parse_ok(inline_config, "other");

    (void)state;
    assert_string_equal(cfg->server, "https://10.9.9.9:6443");
    assert_string_equal(cfg->namespace, "default"); /* the context names none */
    assert_null(cfg->token);                        /* and no user: anonymous */
    assert_null(cfg->ca_data.data);
}

static void test_files_are_taken_relative_to_the_kubeconfig(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg = NULL;
    char abs_key[300];
    char text[1024];

    (void)state;
    write_file("ca.crt", "CA");
    write_file("client.crt", "CERT");
    write_file("client.key", "KEY");
    write_file("token", TOKEN "\n");
    snprintf(abs_key, sizeof(abs_key), "%s", path_of("client.key"));
    snprintf(text, sizeof(text),
             "current-context: c\n"
             "clusters: [{name: k, cluster: {server: 'http://h:8080', "
             "certificate-authority: ca.crt, insecure-skip-tls-verify: true}}]\n"
             "users: [{name: u, user: {tokenFile: ./token, client-certificate: client.crt, "
             "client-key: %s}}]\n"
             "contexts: [{name: c, context: {cluster: k, user: u, namespace: ''}}]\n",
             abs_key);
    cfg = parse_ok(text, NULL);
    assert_string_equal(cfg->server, "http://h:8080");
    assert_string_equal(cfg->ca_file, path_of("ca.crt"));
    assert_string_equal(cfg->cert_file, path_of("client.crt"));
    assert_string_equal(cfg->key_file, abs_key);
    assert_string_equal(cfg->token_file, path_of("./token"));
    assert_true(cfg->insecure);
    assert_null(cfg->token);
    assert_string_equal(cfg->namespace, "default");
}

static void test_from_file_reads_and_names_the_file(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg = NULL;
    struct tby_error err = { 0 };

    (void)state;
    write_file("config", inline_config);
    assert_int_equal(tby_kube_config_from_file(path_of("config"), NULL, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://127.0.0.1:6443");
    assert_true(strstr(cfg->source, "kubeconfig ") == cfg->source);
    assert_string_equal(cfg->source + strlen("kubeconfig "), path_of("config"));
    tby_kube_config_free(TBY_STEAL(cfg));
    assert_int_equal(tby_kube_config_from_file(path_of("none"), NULL, &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path_of("none")));
}

#define HEAD "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
#define CLUSTER "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"

static void test_bad_files_name_the_file_and_field(void **state)
{
    (void)state;
    parse_fails(HEAD CLUSTER "users: [{name: u, user: {token: " TOKEN ", "
                             "client-certificate-data: " CERT_B64 ", "
                             "client-key-data: 'QUJD*'}}]\n",
                -EINVAL, "kubeconfig /x: users[0].user.client-key-data: not base64");
    parse_fails(HEAD CLUSTER "users: [{name: u, user: {token: " TOKEN ", client-key-data: "
                             "QUJD}}]\n",
                -EINVAL, "users[0].user: a client key without a client certificate");
    parse_fails(HEAD CLUSTER "users: [{name: u, user: {client-certificate-data: " CERT_B64 "}}]\n",
                -EINVAL, "users[0].user: a client certificate without a client key");
    parse_fails(HEAD CLUSTER "users: [{name: u, user: {exec: {command: aws}}}]\n", -EINVAL,
                "users[0].user.exec: credential plugins are not supported");
    parse_fails(HEAD CLUSTER "users: [{name: x, user: {}}]\n", -EINVAL,
                "kubeconfig /x: users: no user named \"u\"");
    parse_fails(HEAD CLUSTER "users: [{name: u, user: {token: " TOKEN ", tokenFile: "
                             "/nonexistent/t}}]\n",
                -EINVAL, "users[0].user.tokenFile: /nonexistent/t: No such file or directory");
    parse_fails(HEAD "clusters: [{name: k, cluster: {certificate-authority-data: " CA_B64 "}}]\n",
                -EINVAL, "kubeconfig /x: clusters[0].cluster.server: ");
    parse_fails(HEAD "clusters: [{name: k, cluster: {server: 'ftp://h'}}]\n", -EINVAL,
                "clusters[0].cluster.server: must be an http:// or https:// URL");
    parse_fails(HEAD "clusters: [{name: k, cluster: {server: 'https://u:p@h'}}]\n", -EINVAL,
                "clusters[0].cluster.server: credentials in the URL are not accepted");
    parse_fails(HEAD "clusters: [{name: k, cluster: {server: 'https://h', "
                     "certificate-authority-data: 7}}]\n",
                -EINVAL, "clusters[0].cluster.certificate-authority-data: must be a string");
    parse_fails(HEAD "clusters: [{name: k, cluster: {server: 'https://h', "
                     "insecure-skip-tls-verify: maybe}}]\n",
                -EINVAL, "clusters[0].cluster.insecure-skip-tls-verify: ");
    parse_fails(HEAD "clusters: [{name: k, cluster: {server: 'https://h', "
                     "tls-server-name: x}}]\n",
                -EINVAL, "clusters[0].cluster.tls-server-name: not supported");
    parse_fails(HEAD "clusters: [{name: k}]\n", -EINVAL, "clusters[0].cluster: missing");
    parse_fails(HEAD "clusters: {name: k}\n", -EINVAL, "kubeconfig /x: clusters: must be a list");
    parse_fails("contexts: [{name: c, context: {cluster: k}}]\n" CLUSTER, -EINVAL,
                "kubeconfig /x: current-context: not set");
    parse_fails("current-context: nope\n" CLUSTER, -EINVAL,
                "kubeconfig /x: contexts: no context named \"nope\"");
    parse_fails("current-context: c\ncontexts: [{name: c, context: {user: u}}]\n", -EINVAL,
                "contexts[0].context.cluster: ");
    parse_fails("[1, 2]\n", -EINVAL, "kubeconfig /x: must be an object");
    parse_fails("a: [\n", -EINVAL, "kubeconfig: /x: line ");
    parse_fails("", -EINVAL, "kubeconfig /x: must hold one YAML document, found 0");
}

static void test_in_cluster_reads_the_service_account(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_kube_config_in_cluster(dir, &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(tby_kube_config_in_cluster(dir, &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "service account token"));
    write_file("token", TOKEN);
    write_file("namespace", "calico-system\n");
    assert_int_equal(tby_kube_config_in_cluster(dir, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_string_equal(cfg->token_file, path_of("token"));
    assert_null(cfg->token); /* read by each client, again when it rotates */
    assert_null(cfg->ca_file);
    assert_string_equal(cfg->namespace, "calico-system");
    assert_string_equal(cfg->source, "in-cluster");
    tby_kube_config_free(TBY_STEAL(cfg));

    write_file("ca.crt", "CA");
    unlink(path_of("namespace"));
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(tby_kube_config_in_cluster(dir, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://[fd00::1]:443");
    assert_string_equal(cfg->ca_file, path_of("ca.crt"));
    assert_string_equal(cfg->namespace, "default");
    tby_kube_config_free(TBY_STEAL(cfg));

    setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
    assert_int_equal(tby_kube_config_in_cluster(dir, &cfg, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_PORT"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_load_looks_in_kubectls_order(void **state)
{
    _cleanup_(tby_kube_config_freep) struct tby_kube_config *cfg = NULL;
    struct tby_kube_config_options opts = { .sa_dir = dir };
    struct tby_error err = { 0 };
    char list[600];

    (void)state;
    write_file("config", inline_config);
    write_file("token", TOKEN);
    setenv("HOME", dir, 1); /* no .kube/config there */
    assert_int_equal(tby_kube_config_load(&opts, &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "KUBECONFIG"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(tby_kube_config_load(&opts, &cfg, &err), 0);
    assert_string_equal(cfg->source, "in-cluster");
    tby_kube_config_free(TBY_STEAL(cfg));

    /* ~/.kube/config, once it exists, wins over in-cluster. */
    assert_int_equal(mkdir(path_of(".kube"), 0700), 0);
    write_file(".kube/config", "current-context: other\n" CLUSTER
                               "contexts: [{name: other, context: {cluster: k}}]\n");
    assert_int_equal(tby_kube_config_load(&opts, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://h");
    tby_kube_config_free(TBY_STEAL(cfg));

    /* $KUBECONFIG's first file wins over that. */
    snprintf(list, sizeof(list), "%s:%s", path_of("config"), path_of(".kube/config"));
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(tby_kube_config_load(&opts, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://127.0.0.1:6443");
    tby_kube_config_free(TBY_STEAL(cfg));

    /* And a file named outright wins over everything, with its context. */
    opts.kubeconfig = path_of(".kube/config");
    opts.context = "other";
    assert_int_equal(tby_kube_config_load(&opts, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://h");
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_base64_is_strict_but_skips_line_breaks(void **state)
{
    static const char *const bad[] = { "QUJD*", "QU=JD", "Q", "QUJDR", "QU===", "QUJD=A" };
    char *out = NULL;
    size_t len;

    (void)state;
    assert_int_equal(tby_base64_decode("QUJD\nRA==", 9, &out, &len), 0);
    assert_int_equal(len, 4);
    assert_string_equal(out, "ABCD");
    free(out);
    assert_int_equal(tby_base64_decode("QUJDRA", 6, &out, &len), 0); /* unpadded */
    assert_string_equal(out, "ABCD");
    free(out);
    assert_int_equal(tby_base64_decode("", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(bad); i++) {
        assert_int_equal(tby_base64_decode(bad[i], strlen(bad[i]), &out, &len), -EINVAL);
        assert_null(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inline_data_is_decoded_and_context_chosen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_context_asked_for_wins_over_current_context,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_are_taken_relative_to_the_kubeconfig, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_from_file_reads_and_names_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_name_the_file_and_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_reads_the_service_account, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_load_looks_in_kubectls_order, setup, teardown),
        cmocka_unit_test(test_base64_is_strict_but_skips_line_breaks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
