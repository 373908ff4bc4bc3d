/* test_node_clusterinfo.c — what tabby-node fills in Calico's ClusterInformation (and what
 * it leaves): a new one gets a GUID, tabby's version, datastoreReady true and the cluster
 * types with kdd last; an existing one only what it lacks (Calico's version and GUID
 * stay, datastoreReady false stays, types are appended once); a second fill changes
 * nothing; the GUID is a version 4 UUID in hex; and the nodename part writes its file and
 * the settings reach it (CALICO_NODENAME_FILE, "" for none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "clusterinfo.h"
#include "node_fixture.h"

#define GUID "0123456789abcdef0123456789abcdef"

static const char *spec_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "spec"), key));
}

static void test_new_object_is_filled_as_calico_node_fills_it(void **state)
{
    json_t *obj = node_clusterinfo_new();

    (void)state;
    assert_non_null(obj);
    assert_true(node_clusterinfo_fill(obj, GUID, "k8s,bgp"));
    assert_string_equal(spec_str(obj, "clusterGUID"), GUID);
    assert_string_equal(spec_str(obj, "calicoVersion"), NODE_CLUSTERINFO_VERSION);
    assert_string_equal(spec_str(obj, "clusterType"), "k8s,bgp,kdd");
    assert_true(json_is_true(json_object_get(json_object_get(obj, "spec"), "datastoreReady")));
    assert_true(node_clusterinfo_ready(obj));
    assert_string_equal(json_string_value(json_object_get(obj, "kind")), "ClusterInformation");
    assert_string_equal(json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                          "name")), "default");
    assert_false(node_clusterinfo_fill(obj, "ffffffffffffffffffffffffffffffff", "k8s,bgp"));
    assert_string_equal(spec_str(obj, "clusterGUID"), GUID);
    json_decref(obj);
}

static void test_calicos_object_keeps_its_version_guid_and_readiness(void **state)
{
    json_t *obj = json_loads("{\"spec\":{\"clusterGUID\":\"abc\",\"calicoVersion\":\"v3.30.2\","
                             "\"clusterType\":\"k8s,bgp,kubeadm,kdd\",\"datastoreReady\":false,"
                             "\"variant\":\"Calico\"}}", 0, NULL);

    (void)state;
    assert_non_null(obj);
    assert_false(node_clusterinfo_fill(obj, GUID, "bgp,k8s"));
    assert_string_equal(spec_str(obj, "clusterGUID"), "abc");
    assert_string_equal(spec_str(obj, "calicoVersion"), "v3.30.2");
    assert_string_equal(spec_str(obj, "clusterType"), "k8s,bgp,kubeadm,kdd");
    assert_string_equal(spec_str(obj, "variant"), "Calico");
    assert_false(node_clusterinfo_ready(obj));
    /* a type it lacks is appended, once */
    assert_true(node_clusterinfo_fill(obj, GUID, "k8s,typha"));
    assert_string_equal(spec_str(obj, "clusterType"), "k8s,bgp,kubeadm,kdd,typha");
    assert_false(node_clusterinfo_fill(obj, GUID, "k8s,typha"));
    json_decref(obj);
}

static void test_missing_fields_are_completed(void **state)
{
    json_t *obj = json_loads("{\"spec\":{\"clusterGUID\":\"\",\"clusterType\":\"\"}}", 0, NULL);

    (void)state;
    assert_true(node_clusterinfo_fill(obj, GUID, NULL));
    assert_string_equal(spec_str(obj, "clusterGUID"), GUID);
    assert_string_equal(spec_str(obj, "clusterType"), "kdd");
    assert_true(node_clusterinfo_ready(obj));
    json_decref(obj);
    /* no spec at all: absent datastoreReady counts as ready */
    obj = json_object();
    assert_true(node_clusterinfo_ready(obj));
    assert_true(node_clusterinfo_fill(obj, GUID, ""));
    assert_string_equal(spec_str(obj, "clusterType"), "kdd");
    json_decref(obj);
}

static void test_guid_is_a_version_4_uuid_in_hex(void **state)
{
    char a[33], b[33];

    (void)state;
    node_clusterinfo_guid(a);
    node_clusterinfo_guid(b);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_int_equal(a[12], '4');
    assert_non_null(strchr("89ab", a[16]));
    assert_string_not_equal(a, b);
}

static void test_nodename_file_holds_the_node_name(void **state)
{
    struct node_fixture f;
    char path[256], flag[300], text[64] = "";
    const char *flags[] = { flag, NULL }, *parts[] = { "nodename", NULL };
    FILE *file;
    struct stat st;

    (void)state;
    memset(&f, 0, sizeof(f));
    snprintf(path, sizeof(path), "/tmp/tby-nodename-%d/sub/nodename", (int)getpid());
    snprintf(flag, sizeof(flag), "--nodename-file=%s", path);
    fixture_init(&f, flags);
    /* the folder above must exist (as /var/lib/calico): one level is made */
    snprintf(text, sizeof(text), "/tmp/tby-nodename-%d", (int)getpid());
    assert_int_equal(mkdir(text, 0755), 0);
    fixture_start(&f, parts);
    assert_non_null(file = fopen(path, "r"));
    assert_non_null(fgets(text, sizeof(text), file));
    fclose(file);
    assert_string_equal(text, "n1");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    fixture_stop(&f);
    assert_int_equal(stat(path, &st), 0); /* it stays: DEL needs it while the node is away */
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
}

static void test_nodename_file_empty_setting_writes_nothing(void **state)
{
    struct node_fixture f;
    const char *flags[] = { "--nodename-file=", NULL }, *parts[] = { "nodename", NULL };

    (void)state;
    memset(&f, 0, sizeof(f));
    fixture_init(&f, flags);
    assert_string_equal(f.n.cfg.v[NODE_NODENAME_FILE], "");
    fixture_start(&f, parts);
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_object_is_filled_as_calico_node_fills_it),
        cmocka_unit_test(test_calicos_object_keeps_its_version_guid_and_readiness),
        cmocka_unit_test(test_missing_fields_are_completed),
        cmocka_unit_test(test_guid_is_a_version_4_uuid_in_hex),
        cmocka_unit_test(test_nodename_file_holds_the_node_name),
        cmocka_unit_test(test_nodename_file_empty_setting_writes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
