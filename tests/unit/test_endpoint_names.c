/* test_endpoint_names.c — a pod's veth name and its WorkloadEndpoint name, built and split
 * as Calico builds and splits them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/endpoint_names.h"

static void test_veth_name_hashes_namespace_and_pod_as_calico(void **state)
{
    char name[IFNAMSIZ];

    (void)state;
    /* Calico would name these cali0d7763386da and caliea9d8b73aec. */
    tby_veth_name("default", "web-0", "c1", name);
    assert_string_equal(name, "tby0d7763386da");
    tby_veth_name("prod", "db-1", "c2", name);
    assert_string_equal(name, "tbyea9d8b73aec");
    assert_int_equal(strlen(name), 14);
}

static void test_veth_name_without_pod_hashes_the_container_id(void **state)
{
    char name[IFNAMSIZ], other[IFNAMSIZ];

    (void)state;
    tby_veth_name(NULL, NULL, "abc123", name);
    assert_string_equal(name, "tby6367c48dd19");
    tby_veth_name("default", "", "abc123", other);
    assert_string_equal(other, name);
}

static void test_wep_name_doubles_dashes_in_each_part(void **state)
{
    struct tby_error err = { 0 };
    char *name = NULL;

    (void)state;
    assert_int_equal(tby_wep_name("node-1", "k8s", "web-0", "eth0", &name, &err), 0);
    assert_string_equal(name, "node--1-k8s-web--0-eth0");
    free(name);
    assert_int_equal(tby_wep_name("n1", "cni", "abc", "net1", &name, &err), 0);
    assert_string_equal(name, "n1-cni-abc-net1");
    free(name);
}

static void test_wep_name_refuses_parts_calico_cannot_split(void **state)
{
    struct tby_error err = { 0 };
    char *name = NULL;

    (void)state;
    assert_int_equal(tby_wep_name("node1", "k8s", "-web", "eth0", &name, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "workload \"-web\" starts or ends with '-'"));
    assert_int_equal(tby_wep_name("", "k8s", "web", "eth0", &name, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "node is empty"));
    assert_null(name);
}

static void expect_parts(const char *name, const char *node, const char *orch,
                         const char *workload, const char *endpoint)
{
    struct tby_wep_parts p;

    assert_int_equal(tby_wep_name_parse(name, &p), 0);
    assert_string_equal(p.node, node);
    assert_string_equal(p.orchestrator, orch);
    assert_string_equal(p.workload, workload);
    assert_string_equal(p.endpoint, endpoint);
    tby_wep_parts_clear(&p);
}

static void test_wep_name_splits_back_into_its_parts(void **state)
{
    struct tby_error err = { 0 };
    struct tby_wep_parts p;
    char *name = NULL;

    (void)state;
    expect_parts("node--1-k8s-web--7c9d6-eth0", "node-1", "k8s", "web-7c9d6", "eth0");
    expect_parts("k8s--node-k8s-k8s-eth0", "k8s-node", "k8s", "k8s", "eth0");
    assert_int_equal(tby_wep_name("a--b", "k8s", "x-y--z", "eth0", &name, &err), 0);
    expect_parts(name, "a--b", "k8s", "x-y--z", "eth0");
    free(name);
    assert_int_equal(tby_wep_name_parse("node-k8s-web", &p), -EINVAL);
    assert_int_equal(tby_wep_name_parse("node-k8s-web-eth0-x", &p), -EINVAL);
    assert_int_equal(tby_wep_name_parse("node--k8s-web-eth0-", &p), -EINVAL);
    assert_int_equal(tby_wep_name_parse("", &p), -EINVAL);
    assert_null(p.node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_veth_name_hashes_namespace_and_pod_as_calico),
        cmocka_unit_test(test_veth_name_without_pod_hashes_the_container_id),
        cmocka_unit_test(test_wep_name_doubles_dashes_in_each_part),
        cmocka_unit_test(test_wep_name_refuses_parts_calico_cannot_split),
        cmocka_unit_test(test_wep_name_splits_back_into_its_parts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
