/* test_node_cni.c — install-cni's pieces that need no API and no root: when the plugins'
 * token is renewed, the kubeconfig written for them, the conflist filled in from its
 * template, and the settings read from the environment. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/file.h"
#include "cni_kubeconfig.h"
#include "install_cni.h"

static void test_token_renewed_between_a_quarter_and_a_half_of_its_life(void **state)
{
    int64_t now = 1000000, day = 86400;

    assert_int_equal(node_cni_token_refresh_ms(now + day, now, 0.0), day * 1000 / 4);
    assert_int_equal(node_cni_token_refresh_ms(now + day, now, 0.999999) / 1000,
                     day * 1000 / 2 / 1000 - 1);
    /* Close to expiry or past it: the shortest wait, never a busy loop. */
    assert_int_equal(node_cni_token_refresh_ms(now + 19, now, 0.5), NODE_CNI_TOKEN_RETRY_MS);
    assert_int_equal(node_cni_token_refresh_ms(now - 100, now, 0.5), NODE_CNI_TOKEN_RETRY_MS);
    /* 20 s left: renewed after 5 to 10 s, well before it expires. */
    assert_in_range(node_cni_token_refresh_ms(now + 20, now, 0.7), 5000, 10000);
}

static void test_kubeconfig_names_server_ca_and_token(void **state)
{
    struct tby_kube_config cfg = { .source = "in-cluster", .server = "https://10.96.0.1:443" };
    struct tby_error err = { 0 };
    _cleanup_free_ char *text = NULL;

    cfg.ca_data.data = "PEM";
    cfg.ca_data.len = 3;
    assert_int_equal(node_cni_kubeconfig_render(&cfg, "aa.bb.cc", &text, &err), 0);
    assert_non_null(strstr(text, "    server: \"https://10.96.0.1:443\"\n"));
    assert_non_null(strstr(text, "    certificate-authority-data: \"UEVN\"\n"));
    assert_non_null(strstr(text, "    token: \"aa.bb.cc\"\n"));
    assert_non_null(strstr(text, "current-context: tabby\n"));
    free(TBY_STEAL(text));

    cfg.insecure = true;
    assert_int_equal(node_cni_kubeconfig_render(&cfg, "t", &text, &err), 0);
    assert_non_null(strstr(text, "insecure-skip-tls-verify: true"));
    assert_null(strstr(text, "certificate-authority-data"));
    free(TBY_STEAL(text));

    /* Nothing that would need escaping reaches the file. */
    assert_int_equal(node_cni_kubeconfig_render(&cfg, "a\"b", &text, &err), -EINVAL);
    assert_null(text);
}

static void set_env(void)
{
    setenv("KUBERNETES_NODE_NAME", "node-7", 1);
    setenv("CNI_MTU", "1410", 1);
    setenv("CNI_NET_DIR", "/etc/cni/other", 1);
    unsetenv("CNI_NETWORK_CONFIG");
    unsetenv("CNI_NETWORK_CONFIG_FILE");
    unsetenv("UPDATE_CNI_BINARIES");
    unsetenv("SKIP_CNI_BINARIES");
    unsetenv("CALICO_NODENAME_FILE");
}

static void test_conflist_fills_in_every_placeholder(void **state)
{
    struct node_install_cni s;
    struct tby_error err = { 0 };
    _cleanup_free_ char *text = NULL;

    set_env();
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_true(s.update_binaries);
    assert_int_equal(node_install_cni_conflist(&s, &text, &err), 0);
    assert_non_null(strstr(text, "\"nodename\": \"node-7\""));
    assert_non_null(strstr(text, "\"nodename_file\": \"/var/lib/calico/nodename\""));
    assert_non_null(strstr(text, "\"mtu\": 1410"));
    assert_non_null(strstr(text, "\"kubeconfig\": \"/etc/cni/other/tabby-kubeconfig\""));
    assert_non_null(strstr(text, "\"datastore_type\": \"kubernetes\""));
    assert_null(strstr(text, "__"));
    node_install_cni_clear(&s);
}

/* The built-in template names tabby-node's nodename file (CALICO_NODENAME_FILE, as in the
 * DaemonSet's env); "" (tabby-node writes none) with a template naming it is refused,
 * since every ADD would wait for it; a template without it takes "". */
static void test_nodename_file_follows_tabby_nodes_setting(void **state)
{
    struct node_install_cni s;
    struct tby_error err = { 0 };
    char *text = NULL;

    set_env();
    setenv("CALICO_NODENAME_FILE", "/var/lib/tabby/nodename", 1);
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_int_equal(node_install_cni_conflist(&s, &text, &err), 0);
    assert_non_null(strstr(text, "\"nodename_file\": \"/var/lib/tabby/nodename\""));
    free(TBY_STEAL(text));
    node_install_cni_clear(&s);

    setenv("CALICO_NODENAME_FILE", "", 1);
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_int_equal(node_install_cni_conflist(&s, &text, &err), -EINVAL);
    assert_null(text);
    assert_non_null(strstr(tby_error_str(&err), "CALICO_NODENAME_FILE"));
    node_install_cni_clear(&s);

    setenv("CNI_NETWORK_CONFIG", "{\"nodename\": \"__KUBERNETES_NODE_NAME__\"}", 1);
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_int_equal(node_install_cni_conflist(&s, &text, &err), 0);
    free(text);
    node_install_cni_clear(&s);
    unsetenv("CALICO_NODENAME_FILE");
}

static void test_template_that_is_not_json_once_filled_is_refused(void **state)
{
    struct node_install_cni s;
    struct tby_error err = { 0 };
    char *text = NULL;

    set_env();
    setenv("CNI_NETWORK_CONFIG", "{\"mtu\": __CNI_MTU__, }", 1);
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_int_equal(node_install_cni_conflist(&s, &text, &err), -EINVAL);
    assert_null(text);
    assert_non_null(strstr(err.msg, "not JSON"));
    node_install_cni_clear(&s);
}

static void test_settings_errors_name_the_variable(void **state)
{
    struct node_install_cni s;
    struct tby_error err = { 0 };

    set_env();
    setenv("UPDATE_CNI_BINARIES", "maybe", 1);
    assert_int_equal(node_install_cni_load(&s, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "UPDATE_CNI_BINARIES"));
    node_install_cni_clear(&s);

    set_env();
    setenv("SKIP_CNI_BINARIES", "tabby-ipam, portmap", 1);
    assert_int_equal(node_install_cni_load(&s, &err), 0);
    assert_true(tby_strv_contains(&s.skip, "tabby-ipam"));
    assert_true(tby_strv_contains(&s.skip, "portmap"));
    assert_false(tby_strv_contains(&s.skip, "tabby"));
    node_install_cni_clear(&s);
}

static void test_file_replace_and_same(void **state)
{
    char dir[] = "/tmp/tby-node-cni-XXXXXX", path[64];
    struct tby_error err = { 0 };

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_false(tby_file_same(path, "abc", 3, 0600));
    assert_int_equal(tby_file_replace(path, "abc", 3, 0600, &err), 0);
    assert_true(tby_file_same(path, "abc", 3, 0600));
    assert_false(tby_file_same(path, "abc", 3, 0644)); /* the mode counts */
    assert_false(tby_file_same(path, "abd", 3, 0600));
    assert_int_equal(tby_file_replace(path, "", 0, 0644, &err), 0);
    assert_true(tby_file_same(path, "", 0, 0644));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_renewed_between_a_quarter_and_a_half_of_its_life),
        cmocka_unit_test(test_kubeconfig_names_server_ca_and_token),
        cmocka_unit_test(test_conflist_fills_in_every_placeholder),
        cmocka_unit_test(test_nodename_file_follows_tabby_nodes_setting),
        cmocka_unit_test(test_template_that_is_not_json_once_filled_is_refused),
        cmocka_unit_test(test_settings_errors_name_the_variable),
        cmocka_unit_test(test_file_replace_and_same),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
