/* test_resource.c — the resource envelope, IPPool/IPAMConfiguration/Namespace decoding
 * with Calico's defaults and validation, files of documents, and round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "resource_assert.h"

#define POOL(spec) \
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n" spec

static void test_ippool_gets_calico_defaults(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *v4 = load_one(POOL("  cidr: 10.0.0.0/16\n"));
    _cleanup_(tby_resource_freep) struct tby_resource *v6 = load_one(POOL("  cidr: fd00::/48\n"));

    (void)state;
    assert_int_equal(v4->info->kind, TBY_KIND_IPPOOL);
    assert_int_equal(v4->spec.ippool->block_size, 26);
    assert_int_equal(v6->spec.ippool->block_size, 122);
    assert_int_equal(v4->spec.ippool->ipip_mode, TBY_ENCAP_NEVER);
    assert_int_equal(v4->spec.ippool->vxlan_mode, TBY_ENCAP_NEVER);
    assert_string_equal(v4->spec.ippool->node_selector, "all()");
    assert_int_equal(v4->spec.ippool->allowed_uses, TBY_POOL_USE_WORKLOAD | TBY_POOL_USE_TUNNEL);
    assert_false(v4->spec.ippool->nat_outgoing);
    assert_round_trip(v4);
    assert_round_trip(v6);
}

static void test_ippool_fields_are_read(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *p = load_one(POOL(
        "  cidr: 10.0.0.0/16\n  blockSize: 28\n  vxlanMode: CrossSubnet\n  natOutgoing: true\n"
        "  disabled: true\n  disableBGPExport: true\n  nodeSelector: rack == 'a'\n"
        "  allowedUses: [Workload]\n  assignmentMode: Manual\n"));
    const struct tby_ippool *pool = p->spec.ippool;

    (void)state;
    assert_int_equal(pool->block_size, 28);
    assert_int_equal(pool->vxlan_mode, TBY_ENCAP_CROSS_SUBNET);
    assert_true(pool->nat_outgoing && pool->disabled && pool->disable_bgp_export);
    assert_string_equal(pool->node_selector, "rack == 'a'");
    assert_int_equal(pool->allowed_uses, TBY_POOL_USE_WORKLOAD);
    assert_int_equal(pool->assignment_mode, TBY_ASSIGN_MANUAL);
    assert_round_trip(p);
}

static void test_ippool_validation_names_the_field(void **state)
{
    (void)state;
    expect_error(POOL("  cidr: 10.0.0.0/16\n  blockSize: 19\n"),
                 "test.yaml: document 1 (IPPool p): spec.blockSize: must be between 20 and 32, got 19");
    expect_error(POOL("  cidr: 10.0.0.0/16\n  allowedUses: [Workload, Pods]\n"),
                 "spec.allowedUses[1]: must be one of Workload, Tunnel or LoadBalancer, got \"Pods\"");
    expect_error(POOL("  cidr: 10.0.0.0/16\n  allowedUses: [LoadBalancer, Workload]\n"),
                 "spec.allowedUses: LoadBalancer cannot be combined");
    expect_error(POOL("  cidr: fe80::/64\n"), "overlaps the IPv6 link-local range fe80::/10");
    expect_error(POOL("  cidr: [10.0.0.0/16]\n"), "spec.cidr: must be a string, got a list");
    expect_error("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec: 5\n",
                 "spec: must be an object, got an integer");
    expect_error("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspecs: {}\n",
                 "specs: unknown field");
}

static void test_ipamconfig_defaults_and_name(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *c = load_one(
        "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata:\n  name: default\n"
        "spec:\n  strictAffinity: true\n");

    (void)state;
    assert_true(c->spec.ipamconfig->strict_affinity);
    assert_true(c->spec.ipamconfig->auto_allocate_blocks);
    assert_int_equal(c->spec.ipamconfig->max_blocks_per_host, 0);
    assert_round_trip(c);
}

/* kubeVirtVMAddressPersistence: validated, kept, and named as not applied (no KubeVirt). */
static void test_ipamconfig_kubevirt_persistence_is_kept_and_named(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *c = load_one(
        "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata:\n  name: default\n"
        "spec:\n  kubeVirtVMAddressPersistence: Disabled\n");
    _cleanup_(tby_strv_clear) struct tby_strv lines = { 0 };
    struct tby_resource_list list;
    struct tby_error err = { 0 };
    static const char bad[] = "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
                              "metadata:\n  name: default\nspec:\n"
                              "  kubeVirtVMAddressPersistence: Sometimes\n";

    (void)state;
    assert_int_equal(c->spec.ipamconfig->kubevirt_persistence, 2);
    assert_round_trip(c);
    assert_int_equal(tby_resource_ignored(c, &lines), 0);
    assert_int_equal(lines.n, 1);
    assert_non_null(strstr(lines.items[0], "spec.kubeVirtVMAddressPersistence: accepted but "
                                           "not applied"));
    assert_true(tby_resource_load(bad, strlen(bad), "t", &list, &err) < 0);
    assert_non_null(strstr(tby_error_str(&err), "spec.kubeVirtVMAddressPersistence: must be "
                                                "one of Enabled or Disabled"));
}

static void test_namespace_keeps_labels_and_ignores_status(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *ns = load_one(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  labels:\n    team: ops\n"
        "spec:\n  finalizers: [kubernetes]\nstatus:\n  phase: Active\n");

    (void)state;
    assert_string_equal(json_string_value(json_object_get(ns->meta.labels, "team")), "ops");
    assert_null(ns->meta.namespace);
    assert_round_trip(ns);
}

static void test_documents_and_lists_are_numbered_in_errors(void **state)
{
    struct tby_resource_list list;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load(POOL("  cidr: 10.0.0.0/16\n") "---\n" POOL("  cidr: 10.1.0.0/16\n"),
                          &list, &err), 0);
    assert_int_equal(list.n, 2);
    tby_resource_list_clear(&list);
    expect_error(POOL("  cidr: 10.0.0.0/16\n") "---\n" POOL("  cidr: 10.1.0.1/16\n"),
                 "test.yaml: document 2 (IPPool p): spec.cidr:");
    expect_error("kind: List\napiVersion: v1\nitems:\n"
                 "- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p}, spec: {cidr: 10.1.0.0/16}}\n"
                 "- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: q}, spec: {cidr: x}}\n",
                 "test.yaml: document 1 item 2 (IPPool q): spec.cidr:");
}

/* calicoctl's list form: a YAML sequence of resources as a document. */
static void test_a_sequence_of_resources_is_a_list(void **state)
{
    struct tby_resource_list list;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(load("- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p},"
                          " spec: {cidr: 10.1.0.0/16}}\n"
                          "- apiVersion: projectcalico.org/v3\n  kind: BGPPeer\n"
                          "  metadata: {name: r}\n  spec: {peerIP: 10.0.0.1, asNumber: 65001}\n"
                          "---\n" POOL("  cidr: 10.2.0.0/16\n"), &list, &err), 0);
    assert_int_equal(list.n, 3);
    assert_int_equal(list.items[1]->info->kind, TBY_KIND_BGPPEER);
    tby_resource_list_clear(&list);
    expect_error("- {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: p},"
                 " spec: {cidr: 10.1.0.0/16}}\n- 5\n",
                 "test.yaml: document 1 item 2 (resource): a resource must be a mapping");
    expect_error("[]\n", "test.yaml: no resources found");
}

/* calicoctl reads YAML with sigs.k8s.io/yaml, which turns a scalar into the string a
 * string-typed field wants: tabby's string maps do the same. */
static void test_scalar_label_and_annotation_values_become_strings(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *p = load_one(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n"
        "  labels: {routeReflector: true, gone: no, rack: 7, ratio: 1.5, whole: 2.0, oct: 010,"
        " hex: 0x1F, quoted: 'true'}\n"
        "  annotations: {n: 12, b: false, empty: null, tiny: 0.0001, f: 0.1, neg: -3,"
        " big: 1e6, huge: 12345678}\n"
        "spec:\n  cidr: 10.0.0.0/16\n");
    static const char *const labels[][2] = {
        { "routeReflector", "true" }, { "gone", "false" }, { "rack", "7" }, { "ratio", "1.5" },
        { "whole", "2" }, { "oct", "8" }, { "hex", "31" }, { "quoted", "true" },
    };
    static const char *const annotations[][2] = {
        { "n", "12" }, { "b", "false" }, { "empty", "" }, { "tiny", "0.0001" }, { "f", "0.1" },
        { "neg", "-3" }, { "big", "1e+06" }, { "huge", "12345678" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        assert_string_equal(json_string_value(json_object_get(p->meta.labels, labels[i][0])),
                            labels[i][1]);
    for (size_t i = 0; i < sizeof(annotations) / sizeof(annotations[0]); i++)
        assert_string_equal(json_string_value(json_object_get(p->meta.annotations,
                                                              annotations[i][0])),
                            annotations[i][1]);
    assert_round_trip(p);
    expect_error("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n"
                 "  labels: {a: [1]}\nspec:\n  cidr: 10.0.0.0/16\n",
                 "metadata.labels.a: must be a string, got a list");
    expect_error("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n"
                 "  labels: {a: -3.5}\nspec:\n  cidr: 10.0.0.0/16\n",
                 "metadata.labels.a: invalid label value \"-3.5\"");
}

static void test_kind_lookup_by_names_and_aliases(void **state)
{
    (void)state;
    assert_int_equal(tby_kind_lookup("ippools")->kind, TBY_KIND_IPPOOL);
    assert_int_equal(tby_kind_lookup("IPPool")->kind, TBY_KIND_IPPOOL);
    assert_int_equal(tby_kind_lookup("gnp")->kind, TBY_KIND_GLOBALNETWORKPOLICY);
    assert_int_equal(tby_kind_lookup("networkpolicy")->kind, TBY_KIND_NETWORKPOLICY);
    assert_int_equal(tby_kind_lookup("knp")->kind, TBY_KIND_K8S_NETWORKPOLICY);
    assert_int_equal(tby_kind_lookup("wep")->kind, TBY_KIND_WORKLOADENDPOINT);
    assert_null(tby_kind_lookup("pods"));
    assert_int_equal(tby_kind_from_document("networking.k8s.io/v1", "NetworkPolicy")->kind,
                     TBY_KIND_K8S_NETWORKPOLICY);
}

static void test_keys_follow_the_layout(void **state)
{
    _cleanup_free_ char *a = tby_resource_key(tby_kind_info(TBY_KIND_IPPOOL), NULL, "p");
    _cleanup_free_ char *b = tby_resource_key(tby_kind_info(TBY_KIND_NETWORKPOLICY), "prod", "x");
    _cleanup_free_ char *c = tby_resource_prefix(tby_kind_info(TBY_KIND_NETWORKPOLICY), "prod");

    (void)state;
    assert_string_equal(a, "/tabby/v1/ippools/p");
    assert_string_equal(b, "/tabby/v1/networkpolicies/prod/x");
    assert_string_equal(c, "/tabby/v1/networkpolicies/prod/");
}

static void test_examples_ippool_loads(void **state)
{
    struct tby_resource_list list;
    struct tby_error err = { 0 };

    (void)state;
    if (tby_resource_load_file(TOP_SRCDIR "/examples/ippool.yaml", &list, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(list.n, 1);
    assert_true(list.items[0]->spec.ippool->nat_outgoing);
    assert_round_trip(list.items[0]);
    tby_resource_list_clear(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ippool_gets_calico_defaults),
        cmocka_unit_test(test_ippool_fields_are_read),
        cmocka_unit_test(test_ippool_validation_names_the_field),
        cmocka_unit_test(test_ipamconfig_defaults_and_name),
        cmocka_unit_test(test_ipamconfig_kubevirt_persistence_is_kept_and_named),
        cmocka_unit_test(test_namespace_keeps_labels_and_ignores_status),
        cmocka_unit_test(test_documents_and_lists_are_numbered_in_errors),
        cmocka_unit_test(test_a_sequence_of_resources_is_a_list),
        cmocka_unit_test(test_scalar_label_and_annotation_values_become_strings),
        cmocka_unit_test(test_kind_lookup_by_names_and_aliases),
        cmocka_unit_test(test_keys_follow_the_layout),
        cmocka_unit_test(test_examples_ippool_loads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
