/* test_node_pools.c — the default IP pools part on a sqlite datastore: it creates the
 * pools the settings describe where the datastore holds none of that family, leaves a
 * family that has one alone, takes a pool another node made under its name, and the node
 * is not ready until it is done. On k8s: against the API server test double (started here;
 * skipped without python3 or openssl), a pool whose CIDR is not given takes kubeadm's pod
 * subnet (the kubeadm-config ConfigMap's ClusterConfiguration networking.podSubnet) as
 * calico-node does; and the pure reading of that subnet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/catalog.h"
#include "default_pool.h"
#include "kapi_fixture.h"
#include "node_fixture.h"

#define POOL(name, cidr) \
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: " name "}\n" \
    "spec: {cidr: \"" cidr "\"}\n"

/* The pools stored, as "name=cidr name=cidr". */
static void stored(struct node_fixture *f, char *out, size_t size)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };
    size_t used = 0;

    out[0] = '\0';
    if (tby_catalog_list(f->n.store, tby_kind_info(TBY_KIND_IPPOOL), NULL, &list, &err) < 0)
        fail_msg("list: %s", tby_error_str(&err));
    for (size_t i = 0; i < list.n; i++) {
        char cidr[TBY_CIDR_STRLEN];

        used += (size_t)snprintf(out + used, size - used, "%s%s=%s", i ? " " : "",
                                 list.items[i]->meta.name,
                                 tby_cidr_format(&list.items[i]->spec.ippool->cidr, cidr));
    }
    tby_resource_list_clear(&list);
}

static void test_pools_made_where_none_and_the_node_ready_after(void **state)
{
    struct node_fixture f;
    char got[256], why[256];

    (void)state;
    fixture_init(&f, (const char *[]){ "--ipv4pool-cidr", "10.244.0.0/16", "--ipv6pool-cidr",
                                       "fd00:10:244::/48", "--ipv6pool-block-size", "120",
                                       NULL });
    fixture_start(&f, (const char *[]){ "pools", NULL });
    assert_false(node_ready(&f.n, why, sizeof(why)));
    node_turn(&f.n, 0);
    node_turn(&f.n, 0);
    stored(&f, got, sizeof(got));
    if (access("/proc/sys/net/ipv6", F_OK) == 0)
        assert_string_equal(got, "default-ipv4-ippool=10.244.0.0/16 "
                                 "default-ipv6-ippool=fd00:10:244::/48");
    else
        assert_string_equal(got, "default-ipv4-ippool=10.244.0.0/16");
    if (!node_ready(&f.n, why, sizeof(why)))
        fail_msg("not ready: %s", why);
    fixture_stop(&f);
}

static void test_family_with_a_pool_left_alone(void **state)
{
    struct node_fixture f;
    char got[256], why[256];

    (void)state;
    fixture_init(&f, (const char *[]){ "--ipv6pool-cidr", "none", NULL });
    fixture_start(&f, (const char *[]){ "pools", NULL });
    /* before the first read of the datastore, which the part waits for */
    fixture_apply(&f, POOL("mine", "10.9.0.0/16"));
    node_turn(&f.n, 0);
    node_turn(&f.n, 0);
    stored(&f, got, sizeof(got));
    assert_string_equal(got, "mine=10.9.0.0/16");
    if (!node_ready(&f.n, why, sizeof(why)))
        fail_msg("not ready: %s", why);
    fixture_stop(&f);
}

/* ---- kubeadm's pod subnet ------------------------------------------------------------------ */

/* What node_default_pool_kubeadm makes of `text`: "v4 v6" ("-" for none), or "error: …". */
static void kubeadm(const char *text, char *out, size_t size)
{
    struct tby_cidr cidr[2];
    struct tby_error err = { 0 };
    bool found[2] = { true, true };
    char a[TBY_CIDR_STRLEN], b[TBY_CIDR_STRLEN];

    if (node_default_pool_kubeadm(text, strlen(text), cidr, found, &err) < 0) {
        assert_false(found[0] || found[1]);
        snprintf(out, size, "error: %s", tby_error_str(&err));
        return;
    }
    snprintf(out, size, "%s %s", found[0] ? tby_cidr_format(&cidr[0], a) : "-",
             found[1] ? tby_cidr_format(&cidr[1], b) : "-");
}

#define CC "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"

static void test_kubeadm_pod_subnet_read_as_calico_node_reads_it(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { CC "networking:\n  dnsDomain: cluster.local\n  podSubnet: 10.85.0.0/16\n"
             "  serviceSubnet: 10.96.0.0/12\n", "10.85.0.0/16 -" },
        /* dual-stack: the first of each family, in any order; host bits cleared */
        { CC "networking: {podSubnet: \"fd00:85::/56,10.85.3.4/16,10.9.0.0/16\"}\n",
          "10.85.0.0/16 fd00:85::/56" },
        { CC "networking: {podSubnet: fd00:85::/56}\n", "- fd00:85::/56" },
        /* no subnet given to kubeadm: none */
        { CC "networking: {serviceSubnet: 10.96.0.0/12}\n", "- -" },
        { CC "networking: {podSubnet: \"\"}\n", "- -" },
        { CC "networking: {podSubnet: null}\n", "- -" },
        { CC, "- -" },
        { "", "- -" },
        /* what is not understood names the field */
        { CC "networking:\n  podSubnet: 10.85.0.0/16,bad\n",
          "error: ClusterConfiguration: networking.podSubnet: \"10.85.0.0/16,bad\": \"bad\" "
          "is not a CIDR" },
        { CC "networking: {podSubnet: \"10.85.0.0/16,\"}\n",
          "error: ClusterConfiguration: networking.podSubnet: \"10.85.0.0/16,\": an empty "
          "entry" },
        { CC "networking: {podSubnet: \"10.85.0.0/16, fd00::/48\"}\n",
          "error: ClusterConfiguration: networking.podSubnet: \"10.85.0.0/16, fd00::/48\": "
          "\" fd00::/48\" is not a CIDR" },
        { CC "networking: {podSubnet: [10.85.0.0/16]}\n",
          "error: ClusterConfiguration: networking.podSubnet: must be a string" },
        { CC "networking: 10.85.0.0/16\n",
          "error: ClusterConfiguration: networking: must be a mapping" },
        { "- podSubnet: 10.85.0.0/16\n", "error: ClusterConfiguration: must be a mapping" },
        { "networking: {podSubnet: 10.85.0.0/16\n", "error: ClusterConfiguration: line " },
    };
    char got[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kubeadm(cases[i].text, got, sizeof(got));
        if (strncmp(got, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
    }
}

static const struct tby_kube_resource configmaps = {
    "", "v1", "configmaps", "ConfigMap", true, false,
};

/* The kubeadm-config ConfigMap with this ClusterConfiguration, as kubeadm init writes it. */
static void kubeadm_config(struct kapi *api, const char *cluster_configuration)
{
    _cleanup_json_ json_t *cm = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
        "metadata", "name", "kubeadm-config", "namespace", "kube-system", "data",
        "ClusterConfiguration", cluster_configuration, "ClusterStatus", "apiEndpoints: {}\n");
    _cleanup_free_ char *text = json_dumps(cm, 0);

    kapi_create(api, &configmaps, text);
}

/* A node on the API server with these flags and the pools part, turned until it has made
 * its pools (10 s at most); what was stored then into `got`. */
static void run_on_k8s(struct kapi *api, const char *const *flags, char *got, size_t size)
{
    struct node_fixture f;
    char why[256];
    int64_t until = kapi_now_ms() + 10000;

    fixture_init_on(&f, api->uri, flags);
    fixture_start(&f, (const char *[]){ "pools", NULL });
    while (!node_ready(&f.n, why, sizeof(why)) && kapi_now_ms() < until)
        node_turn(&f.n, 50);
    if (!node_ready(&f.n, why, sizeof(why)))
        fail_msg("not ready: %s", why);
    stored(&f, got, size);
    fixture_stop(&f);
}

static bool start_api(struct kapi *api, const char *test, const char *const *args)
{
    if (kapi_start(api, "node-pools", args))
        return true;
    printf("SKIP %s: %s\n", test, api->why);
    return false;
}

/* Dual-stack: both pools from kubeadm's subnets (IPv6's where the kernel has IPv6), the
 * ConfigMap read once. */
static void test_on_k8s_the_default_pools_take_kubeadms_pod_subnets(void **state)
{
    struct kapi api;
    char got[256];
    long mark;

    (void)state;
    if (!start_api(&api, __func__, NULL))
        return;
    kubeadm_config(&api, CC "networking:\n  podSubnet: 10.85.0.0/16,fd00:85::/56\n");
    mark = kapi_seq(&api);
    run_on_k8s(&api, (const char *[]){ NULL }, got, sizeof(got));
    if (access("/proc/sys/net/ipv6", F_OK) == 0)
        assert_string_equal(got, "default-ipv4-ippool=10.85.0.0/16 "
                                 "default-ipv6-ippool=fd00:85::/56");
    else
        assert_string_equal(got, "default-ipv4-ippool=10.85.0.0/16");
    assert_int_equal(kapi_count(&api, mark, KAPI_USER, "get", "configmaps"), 1);
    kapi_stop(&api);
}

/* CALICO_IPV4POOL_CIDR wins; a family turned off stays off; nothing read when no pool
 * lacks a CIDR. */
static void test_on_k8s_a_given_cidr_wins_over_kubeadms(void **state)
{
    struct kapi api;
    char got[256];
    long mark;

    (void)state;
    if (!start_api(&api, __func__, NULL))
        return;
    kubeadm_config(&api, CC "networking:\n  podSubnet: 10.85.0.0/16,fd00:85::/56\n");
    mark = kapi_seq(&api);
    run_on_k8s(&api, (const char *[]){ "--ipv4pool-cidr", "10.244.0.0/16", "--ipv6pool-cidr",
                                       "none", NULL }, got, sizeof(got));
    assert_string_equal(got, "default-ipv4-ippool=10.244.0.0/16");
    assert_int_equal(kapi_count(&api, mark, KAPI_USER, "get", "configmaps"), 0);
    kapi_stop(&api);
}

/* Calico's own choice where kubeadm says nothing usable: no ConfigMap, one whose podSubnet
 * is not a CIDR (said in the log), one without a podSubnet. */
static void test_on_k8s_without_a_usable_kubeadm_subnet_calicos_choice(void **state)
{
    static const char *const configs[] = {
        NULL, CC "networking: {podSubnet: not-a-cidr}\n", CC "networking: {}\n",
    };
    char got[256];

    (void)state;
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        struct kapi api;

        if (!start_api(&api, __func__, NULL))
            return;
        if (configs[i])
            kubeadm_config(&api, configs[i]);
        run_on_k8s(&api, (const char *[]){ "--ipv6pool-cidr", "none", NULL }, got,
                   sizeof(got));
        /* 192.168.0.0/16 unless this machine has an address there: then a 172.16-31 one */
        if (strcmp(got, "default-ipv4-ippool=192.168.0.0/16") != 0 &&
            strncmp(got, "default-ipv4-ippool=172.", 24) != 0)
            fail_msg("config %zu: got %s", i, got);
        kapi_stop(&api);
    }
}

/* The API failing the read (500): the pool waits, the node not ready, and is made from
 * kubeadm's subnet once the read works. */
static void test_on_k8s_a_failed_read_is_tried_again(void **state)
{
    struct kapi api;
    struct node_fixture f;
    char got[256], why[256] = "";
    int64_t until;
    _cleanup_json_ json_t *fault = NULL;

    (void)state;
    if (!start_api(&api, __func__, NULL))
        return;
    kubeadm_config(&api, CC "networking:\n  podSubnet: 10.85.0.0/16\n");
    fault = kapi_control(&api, "POST", "/_test/faults",
                         "{\"verb\": \"get\", \"path\": \"configmaps/kubeadm-config\", "
                         "\"status\": 500, \"times\": 1}");
    fixture_init_on(&f, api.uri, (const char *[]){ "--ipv6pool-cidr", "none", NULL });
    fixture_start(&f, (const char *[]){ "pools", NULL });
    until = kapi_now_ms() + 10000;
    while (kapi_now_ms() < until && !strstr(why, "kubeadm-config")) {
        node_turn(&f.n, 50);
        node_ready(&f.n, why, sizeof(why));
    }
    if (!strstr(why, "default IP pools not created") || !strstr(why, "kubeadm-config"))
        fail_msg("why not ready: %s", why);
    stored(&f, got, sizeof(got));
    assert_string_equal(got, "");
    until = kapi_now_ms() + 10000; /* the backoff's first wait is 1 s */
    while (!node_ready(&f.n, why, sizeof(why)) && kapi_now_ms() < until)
        node_turn(&f.n, 50);
    stored(&f, got, sizeof(got));
    assert_string_equal(got, "default-ipv4-ippool=10.85.0.0/16");
    fixture_stop(&f);
    kapi_stop(&api);
}

/* With RBAC: a node allowed everything it reads but that ConfigMap (a cluster that did not
 * grant it) goes on as calico-node does, with Calico's own choice. */
static void test_on_k8s_no_right_to_read_kubeadm_config_calicos_choice(void **state)
{
    static const char *rbac[] = {
        "{\"apiVersion\": \"rbac.authorization.k8s.io/v1\", \"kind\": \"ClusterRole\", "
        "\"metadata\": {\"name\": \"t\"}, \"rules\": ["
        "{\"apiGroups\": [\"\"], \"resources\": [\"pods\", \"namespaces\", "
        "\"serviceaccounts\", \"nodes\", \"services\", \"endpoints\"], \"verbs\": [\"*\"]},"
        "{\"apiGroups\": [\"crd.projectcalico.org\", \"networking.k8s.io\", "
        "\"discovery.k8s.io\"], \"resources\": [\"*\"], \"verbs\": [\"*\"]}]}",
        "{\"apiVersion\": \"rbac.authorization.k8s.io/v1\", \"kind\": \"ClusterRoleBinding\", "
        "\"metadata\": {\"name\": \"t\"}, \"roleRef\": {\"apiGroup\": "
        "\"rbac.authorization.k8s.io\", \"kind\": \"ClusterRole\", \"name\": \"t\"}, "
        "\"subjects\": [{\"kind\": \"User\", \"name\": \"" KAPI_USER "\"}]}",
    };
    static const struct tby_kube_resource roles = {
        "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, false,
    };
    static const struct tby_kube_resource bindings = {
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false,
        false,
    };
    _cleanup_json_ json_t *requests = NULL;
    const json_t *r;
    struct kapi api;
    char got[256];
    size_t i;
    int refused = 0;
    long mark;

    (void)state;
    if (!start_api(&api, __func__, (const char *[]){ "--rbac", NULL }))
        return;
    kapi_create(&api, &roles, rbac[0]);
    kapi_create(&api, &bindings, rbac[1]);
    kubeadm_config(&api, CC "networking:\n  podSubnet: 10.85.0.0/16\n");
    mark = kapi_seq(&api);
    run_on_k8s(&api, (const char *[]){ "--ipv6pool-cidr", "none", NULL }, got, sizeof(got));
    if (strstr(got, "10.85.") || !strstr(got, "default-ipv4-ippool="))
        fail_msg("got %s", got);
    /* the one request refused was that read */
    requests = kapi_requests(&api, mark, KAPI_USER);
    json_array_foreach(requests, i, r) {
        if (json_integer_value(json_object_get(r, "status")) != 403)
            continue;
        assert_non_null(strstr(json_string_value(json_object_get(r, "path")) ?: "",
                               "configmaps/kubeadm-config"));
        refused++;
    }
    assert_int_equal(refused, 1);
    kapi_stop(&api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools_made_where_none_and_the_node_ready_after),
        cmocka_unit_test(test_family_with_a_pool_left_alone),
        cmocka_unit_test(test_kubeadm_pod_subnet_read_as_calico_node_reads_it),
        cmocka_unit_test(test_on_k8s_the_default_pools_take_kubeadms_pod_subnets),
        cmocka_unit_test(test_on_k8s_a_given_cidr_wins_over_kubeadms),
        cmocka_unit_test(test_on_k8s_without_a_usable_kubeadm_subnet_calicos_choice),
        cmocka_unit_test(test_on_k8s_a_failed_read_is_tried_again),
        cmocka_unit_test(test_on_k8s_no_right_to_read_kubeadm_config_calicos_choice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
