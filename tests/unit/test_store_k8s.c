/* test_store_k8s.c — the k8s: datastore's converters, without a server: made-up API
 * objects read as tabby's keys and values, and tabby's values written back as requests
 * (Calico's fields surviving, metadata split into the CR and its annotation, the UID
 * conversion, policy names, endpoints from pods, profiles from namespaces and service
 * accounts, Calico Nodes from Nodes, IPAM objects), the key table, and the transactions
 * the Kubernetes API cannot take. */
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

#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "tabby/store.h"
#include "store_k8s.h"

static struct k8s_codec codec;

static int setup(void **state)
{
    (void)state;
    k8s_codec_init(&codec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    k8s_codec_clear(&codec);
    return 0;
}

static json_t *J(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);

    if (!v)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    return v;
}

static const struct k8s_map *map_of(const char *key)
{
    const char *ns, *name;
    size_t ns_len;
    const struct k8s_map *m = k8s_map_of_key(key, &ns, &ns_len, &name);

    assert_non_null(m);
    return m;
}

/* Reads an object (of m's type `type`) as the entry of m; returns the converter's answer. */
static int read_as(const char *key_prefix, int type, const char *obj_text, struct k8s_entry *e)
{
    const struct k8s_map *m = map_of(key_prefix);
    _cleanup_json_ json_t *obj = J(obj_text);
    struct tby_error err = { 0 };
    int r;

    memset(e, 0, sizeof(*e));
    r = m->conv->read(&codec, m, m->types[type], obj, e, &err);
    if (r < 0)
        fail_msg("read failed: %s", err.msg);
    return r;
}

static const char *at(const json_t *v, const char *a, const char *b, const char *c)
{
    const json_t *x = json_object_get(v, a);

    if (b)
        x = json_object_get(x, b);
    if (c)
        x = json_object_get(x, c);
    return json_string_value(x);
}

/* The request a put of `value` to `key` makes, given the object as it is. */
static int put_request(const char *key, const char *value, const char *raw, int64_t expect,
                       struct k8s_request *req, struct tby_error *err)
{
    const char *ns_at, *name;
    size_t ns_len;
    const struct k8s_map *m = k8s_map_of_key(key, &ns_at, &ns_len, &name);
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    _cleanup_json_ json_t *v = J(value), *r = raw ? J(raw) : NULL;
    _cleanup_free_ char *ns = ns_at ? strndup(ns_at, ns_len) : NULL;
    struct k8s_write w = { key, m, &loc, v, r, expect };

    assert_non_null(m);
    assert_int_equal(m->conv->locate(m, ns, name, &loc, err), 0);
    memset(req, 0, sizeof(*req));
    return m->conv->put(&codec, &w, req, err);
}

/* ---- metadata ----------------------------------------------------------------------------- */

static void test_uid_conversion_reverses_bits_but_keeps_version_and_variant(void **state)
{
    char out[K8S_UID_LEN], back[K8S_UID_LEN];

    (void)state;
    assert_true(k8s_uid_convert("7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f", out));
    assert_string_equal(out, "bed83271-f45c-4b3a-9d76-50d834bc72fa");
    assert_true(k8s_uid_convert(out, back));
    assert_string_equal(back, "7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f");
    assert_false(k8s_uid_convert("not-a-uuid", out));
    assert_string_equal(out, "");
    assert_false(k8s_uid_convert("7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f00", out));
}

static void test_resource_versions_must_be_numbers(void **state)
{
    struct tby_error err = { 0 };
    int64_t rev;

    (void)state;
    assert_int_equal(k8s_rev_parse("918273", "x", &rev, &err), 0);
    assert_int_equal(rev, 918273);
    assert_int_equal(k8s_rev_parse("abc", "ippools pool-a", &rev, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "ippools pool-a: resourceVersion \"abc\" is not a decimal"));
    assert_int_equal(k8s_rev_parse("12x", "x", &rev, &err), -EINVAL);
    assert_int_equal(k8s_rev_parse("", "x", &rev, &err), -EINVAL);
    assert_int_equal(k8s_rev_parse(NULL, "x", &rev, &err), -EINVAL);
}

/* ---- Calico's kinds ----------------------------------------------------------------------- */

static const char calico_pool[] =
    "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"IPPool\","
    "\"metadata\":{\"name\":\"pool-a\",\"uid\":\"7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f\","
    "\"resourceVersion\":\"918273\",\"creationTimestamp\":\"2026-05-02T09:14:11Z\","
    "\"labels\":{\"projectcalico.org/x\":\"y\"},\"finalizers\":[\"example.com/keep\"],"
    "\"annotations\":{\"projectcalico.org/metadata\":\"{\\\"creationTimestamp\\\":"
    "\\\"2026-05-01T00:00:00Z\\\",\\\"labels\\\":{\\\"projectcalico.org/x\\\":\\\"y\\\","
    "\\\"team\\\":\\\"net\\\"},\\\"annotations\\\":{\\\"note\\\":\\\"hi\\\"}}\"}},"
    "\"spec\":{\"cidr\":\"10.244.0.0/16\",\"blockSize\":26,\"vxlanMode\":\"Always\","
    "\"natOutgoing\":true,\"namespaceSelector\":\"team == 'a'\"},"
    "\"status\":{\"conditions\":[]}}";

static void test_calico_cr_reads_as_tabbys_v3_value(void **state)
{
    struct k8s_entry e;
    const json_t *labels;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/ippools/x", 0, calico_pool, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/ippools/pool-a");
    assert_int_equal(e.rev, 918273);
    assert_string_equal(at(e.value, "apiVersion", NULL, NULL), "projectcalico.org/v3");
    assert_string_equal(at(e.value, "kind", NULL, NULL), "IPPool");
    assert_string_equal(at(e.value, "metadata", "uid", NULL),
                        "bed83271-f45c-4b3a-9d76-50d834bc72fa");
    assert_string_equal(at(e.value, "metadata", "creationTimestamp", NULL),
                        "2026-05-01T00:00:00Z");
    assert_null(json_object_get(json_object_get(e.value, "metadata"), "resourceVersion"));
    labels = json_object_get(json_object_get(e.value, "metadata"), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "team")), "net");
    assert_string_equal(json_string_value(json_object_get(labels, "projectcalico.org/x")), "y");
    assert_string_equal(at(e.value, "metadata", "annotations", "note"), "hi");
    assert_null(at(e.value, "metadata", "annotations", "projectcalico.org/metadata"));
    /* Known fields with tabby's defaults; the field tabby does not know is left out. */
    assert_string_equal(at(e.value, "spec", "vxlanMode", NULL), "Always");
    assert_string_equal(at(e.value, "spec", "ipipMode", NULL), "Never");
    assert_null(json_object_get(json_object_get(e.value, "spec"), "namespaceSelector"));
    assert_null(json_object_get(e.value, "status"));
    k8s_entry_clear(&e);
}

/* EndpointSlices are records in the normal form of endpointslice.h: only the service,
 * addresses and ports count, so a change of anything else leaves the value as it was; none
 * can be written. */
static void test_endpointslice_reads_as_a_record_in_normal_form(void **state)
{
    static const char *const slice =
        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
        "\"metadata\":{\"name\":\"db-x\",\"namespace\":\"shop\",\"resourceVersion\":\"77\","
        "\"labels\":{\"kubernetes.io/service-name\":\"db\",\"other\":\"%s\"}},"
        "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.1.2\"],"
        "\"conditions\":{\"ready\":%s}},{\"addresses\":[\"10.0.1.1\"]}],"
        "\"ports\":[{\"name\":\"pg\",\"port\":5432}]}";
    char text[1024];
    struct k8s_entry a, b;
    char *ta, *tb;

    (void)state;
    snprintf(text, sizeof(text), slice, "1", "true");
    assert_int_equal(read_as(TBY_EPS_PREFIX "shop/x", 0, text, &a), 0);
    snprintf(text, sizeof(text), slice, "2", "false");
    assert_int_equal(read_as(TBY_EPS_PREFIX "shop/x", 0, text, &b), 0);
    assert_string_equal(a.key, TBY_EPS_PREFIX "shop/db-x");
    assert_int_equal(a.rev, 77);
    ta = json_dumps(a.value, JSON_SORT_KEYS);
    tb = json_dumps(b.value, JSON_SORT_KEYS);
    assert_string_equal(ta, tb);
    assert_non_null(strstr(ta, "\"addresses\": [\"10.0.1.1\", \"10.0.1.2\"]"));
    assert_non_null(strstr(ta, "{\"port\": 5432, \"protocol\": \"TCP\"}"));
    assert_null(strstr(ta, "other"));
    free(ta);
    free(tb);
    k8s_entry_clear(&a);
    k8s_entry_clear(&b);
    assert_int_equal(map_of(TBY_EPS_PREFIX "shop/x")->conv->access, K8S_READ_ONLY);
}

/* Tiers are Calico's tiers.crd.projectcalico.org, read as v3 Tiers (the default tier as
 * Calico's apiserver writes it). */
static void test_tier_cr_reads_as_a_tier(void **state)
{
    struct k8s_entry e;
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(read_as("/tabby/v1/tiers/x", 0,
                             "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"Tier\","
                             "\"metadata\":{\"name\":\"default\",\"resourceVersion\":\"7\"},"
                             "\"spec\":{\"order\":1000000,\"defaultAction\":\"Deny\"}}", &e), 0);
    assert_string_equal(e.key, "/tabby/v1/tiers/default");
    assert_string_equal(at(e.value, "kind", NULL, NULL), "Tier");
    assert_int_equal(tby_resource_decode(e.value, &res, &err), 0);
    assert_true(res->spec.tier->order == TBY_TIER_DEFAULT_ORDER);
    assert_int_equal(res->spec.tier->default_action, TBY_TIER_DENY);
    assert_string_equal(k8s_crd_tiers.plural, "tiers");
    k8s_entry_clear(&e);
}

/* A policy's spec with a field tabby does not know may allow something else than tabby
 * would read: it is handed on as it is, so that decoding it fails and tabby-node denies in
 * its place (enforce.h); outside the spec an unknown field is left out as for any kind. */
static void test_policy_with_unknown_spec_field_is_handed_on_undecoded(void **state)
{
    static const char gnp[] =
        "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"GlobalNetworkPolicy\","
        "\"metadata\":{\"name\":\"future\",\"resourceVersion\":\"7\"},"
        "\"spec\":{\"selector\":\"all()\",\"ingress\":[{\"action\":\"Deny\","
        "\"newMatch\":{\"x\":1}}]}}";
    static const char gnp_status[] =
        "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"GlobalNetworkPolicy\","
        "\"metadata\":{\"name\":\"known\",\"resourceVersion\":\"8\"},"
        "\"spec\":{\"selector\":\"all()\"},\"status\":{\"x\":1}}";
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_error err = { 0 };
    struct k8s_entry e;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/globalnetworkpolicies/x", 0, gnp, &e), 0);
    assert_int_equal(tby_resource_decode(e.value, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "spec.ingress[0].newMatch: unknown field"));
    k8s_entry_clear(&e);
    assert_int_equal(read_as("/tabby/v1/globalnetworkpolicies/x", 0, gnp_status, &e), 0);
    assert_int_equal(tby_resource_decode(e.value, &res, &err), 0);
    k8s_entry_clear(&e);
}

static void test_calico_write_keeps_calicos_fields_and_splits_metadata(void **state)
{
    struct k8s_entry e;
    struct k8s_request req;
    struct tby_error err = { 0 };
    _cleanup_free_ char *value = NULL;
    _cleanup_json_ json_t *ann = NULL;
    const json_t *body, *meta;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/ippools/x", 0, calico_pool, &e), 0);
    /* tabby changes natOutgoing and a label. */
    json_object_set_new(json_object_get(e.value, "spec"), "natOutgoing", json_false());
    json_object_set_new(json_object_get(json_object_get(e.value, "metadata"), "labels"), "env",
                        json_string("prod"));
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, calico_pool, 918273, &req, &err), 0);
    body = req.body;
    assert_int_equal(req.verb, K8S_PUT);
    assert_string_equal(at(body, "apiVersion", NULL, NULL), "crd.projectcalico.org/v1");
    assert_string_equal(at(body, "kind", NULL, NULL), "IPPool");
    meta = json_object_get(body, "metadata");
    assert_string_equal(at(meta, "name", NULL, NULL), "pool-a");
    assert_string_equal(at(meta, "resourceVersion", NULL, NULL), "918273");
    assert_string_equal(at(meta, "uid", NULL, NULL), "7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f");
    assert_non_null(json_object_get(meta, "finalizers"));
    /* Only Calico's own label in the CR's metadata; all of them in the annotation. */
    assert_int_equal(json_object_size(json_object_get(meta, "labels")), 1);
    assert_string_equal(at(meta, "labels", "projectcalico.org/x", NULL), "y");
    assert_null(at(meta, "annotations", "note", NULL));
    ann = J(at(meta, "annotations", "projectcalico.org/metadata", NULL));
    assert_string_equal(at(ann, "labels", "env", NULL), "prod");
    assert_string_equal(at(ann, "labels", "team", NULL), "net");
    assert_string_equal(at(ann, "annotations", "note", NULL), "hi");
    assert_string_equal(at(ann, "creationTimestamp", NULL, NULL), "2026-05-01T00:00:00Z");
    assert_null(json_object_get(ann, "name"));
    /* tabby's change, and Calico's field tabby does not know, both there. */
    assert_true(json_is_false(json_object_get(json_object_get(body, "spec"), "natOutgoing")));
    assert_string_equal(at(body, "spec", "namespaceSelector", NULL), "team == 'a'");
    k8s_request_clear(&req);
    k8s_entry_clear(&e);
}

static void test_calico_create_is_a_post_without_uid(void **state)
{
    struct k8s_request req;
    struct tby_error err = { 0 };
    const json_t *meta;

    (void)state;
    assert_int_equal(put_request("/tabby/v1/bgppeers/rack1",
                                 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"BGPPeer\","
                                 "\"metadata\":{\"name\":\"rack1\",\"uid\":\"u-1\","
                                 "\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
                                 "\"spec\":{\"peerIP\":\"192.0.2.1\",\"asNumber\":64513}}",
                                 NULL, 0, &req, &err),
                     0);
    assert_int_equal(req.verb, K8S_POST);
    meta = json_object_get(req.body, "metadata");
    assert_string_equal(at(meta, "name", NULL, NULL), "rack1");
    assert_null(json_object_get(meta, "uid"));
    assert_null(json_object_get(meta, "resourceVersion"));
    assert_non_null(at(meta, "annotations", "projectcalico.org/metadata", NULL));
    assert_string_equal(at(req.body, "spec", "peerIP", NULL), "192.0.2.1");
    k8s_request_clear(&req);
}

static void test_kubectl_style_cr_without_annotation_reads_its_own_metadata(void **state)
{
    struct k8s_entry e;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/bgppeers/x", 0,
                             "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"BGPPeer\","
                             "\"metadata\":{\"name\":\"tor\",\"resourceVersion\":\"7\","
                             "\"labels\":{\"rack\":\"r1\"}},"
                             "\"spec\":{\"peerIP\":\"192.0.2.9\",\"asNumber\":65001,"
                             "\"keepaliveTime\":\"30s\"}}",
                             &e),
                     0);
    assert_string_equal(e.key, "/tabby/v1/bgppeers/tor");
    assert_string_equal(at(e.value, "metadata", "labels", "rack"), "r1");
    assert_null(json_object_get(json_object_get(e.value, "spec"), "keepaliveTime"));
    k8s_entry_clear(&e);
}

static const char *read_policy_key(const char *cr)
{
    static char key[256];
    struct k8s_entry e;

    assert_int_equal(read_as("/tabby/v1/globalnetworkpolicies/x", 0, cr, &e), 0);
    snprintf(key, sizeof(key), "%s", e.key);
    k8s_entry_clear(&e);
    return key;
}

static void test_policy_names_read_as_calico_3_31_reads_them(void **state)
{
    (void)state;
    /* Written by 3.29: "default.<name>", no annotation. */
    assert_string_equal(read_policy_key("{\"kind\":\"GlobalNetworkPolicy\",\"metadata\":{"
                                        "\"name\":\"default.deny\",\"resourceVersion\":\"3\"},"
                                        "\"spec\":{\"tier\":\"default\"}}"),
                        "/tabby/v1/globalnetworkpolicies/deny");
    /* Another tier keeps its prefix. */
    assert_string_equal(read_policy_key("{\"kind\":\"GlobalNetworkPolicy\",\"metadata\":{"
                                        "\"name\":\"sec.deny\",\"resourceVersion\":\"3\"},"
                                        "\"spec\":{\"tier\":\"sec\"}}"),
                        "/tabby/v1/globalnetworkpolicies/sec.deny");
    /* The annotation's name wins. */
    assert_string_equal(read_policy_key("{\"kind\":\"GlobalNetworkPolicy\",\"metadata\":{"
                                        "\"name\":\"default.deny\",\"resourceVersion\":\"3\","
                                        "\"annotations\":{\"projectcalico.org/metadata\":"
                                        "\"{\\\"name\\\":\\\"deny\\\"}\"}},\"spec\":{}}"),
                        "/tabby/v1/globalnetworkpolicies/deny");
}

static void test_policy_write_addresses_the_cr_it_was_read_under(void **state)
{
    static const char old[] = "{\"apiVersion\":\"crd.projectcalico.org/v1\","
                              "\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"default.web\","
                              "\"namespace\":\"prod\",\"resourceVersion\":\"40\"},"
                              "\"spec\":{\"tier\":\"default\",\"selector\":\"app == 'web'\"}}";
    struct k8s_entry e;
    struct k8s_request req;
    struct tby_error err = { 0 };
    _cleanup_free_ char *value = NULL;
    _cleanup_json_ json_t *ann = NULL;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/networkpolicies/prod/x", 0, old, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/networkpolicies/prod/web");
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, old, 40, &req, &err), 0);
    assert_string_equal(at(req.body, "metadata", "name", NULL), "default.web");
    assert_string_equal(at(req.body, "metadata", "namespace", NULL), "prod");
    ann = J(at(req.body, "metadata", "annotations", "projectcalico.org/metadata"));
    assert_string_equal(at(ann, "name", NULL, NULL), "web");
    k8s_request_clear(&req);
    k8s_entry_clear(&e);
}

static void test_old_pool_fields_fold_into_their_new_names(void **state)
{
    struct k8s_entry e;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/ippools/x", 0,
                             "{\"kind\":\"IPPool\",\"metadata\":{\"name\":\"old\","
                             "\"resourceVersion\":\"5\"},\"spec\":{\"cidr\":\"10.9.0.0/16\","
                             "\"ipip\":{\"enabled\":true,\"mode\":\"cross-subnet\"},"
                             "\"nat-outgoing\":true}}",
                             &e),
                     0);
    assert_string_equal(at(e.value, "spec", "ipipMode", NULL), "CrossSubnet");
    assert_true(json_is_true(json_object_get(json_object_get(e.value, "spec"), "natOutgoing")));
    k8s_entry_clear(&e);
}

/* ---- pods --------------------------------------------------------------------------------- */

static const char pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7c9d6\","
    "\"namespace\":\"default\",\"uid\":\"3f0c0000-0000-4000-8000-000000000001\","
    "\"resourceVersion\":\"55102\",\"labels\":{\"app\":\"web\"},"
    "\"annotations\":{\"cni.projectcalico.org/containerID\":\"0a1b2c3d\","
    "\"cni.projectcalico.org/podIP\":\"10.244.3.7/32\","
    "\"cni.projectcalico.org/podIPs\":\"10.244.3.7/32\",\"other\":\"x\"}},"
    "\"spec\":{\"nodeName\":\"node-1\",\"serviceAccountName\":\"frontend\","
    "\"containers\":[{\"name\":\"web\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080},"
    "{\"containerPort\":9000},{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"UDP\"}]}],"
    "\"initContainers\":[{\"name\":\"init\",\"ports\":[{\"name\":\"metrics\","
    "\"containerPort\":9100,\"protocol\":\"SCTP\"}]}]},"
    "\"status\":{\"phase\":\"Running\"}}";

/* The pod converter's endpoint is already what tabby's view makes of it (so the view is
 * not run on it): text for text, over pods with everything a pod can carry. */
static void test_pod_endpoint_is_in_normal_form(void **state)
{
    static const char *const extra[] = {
        "",
        "\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.244.3.8\"},"
        "{\"ip\":\"fd00::8\"}]},",
        "\"spec\":{\"nodeName\":\"n2\"},\"status\":{\"podIP\":\"10.1.0.9\"},",
        "\"spec\":{\"nodeName\":\"n2\",\"serviceAccountName\":\"\"},"
        "\"status\":{\"phase\":\"Succeeded\",\"podIP\":\"10.1.0.9\"},",
        "\"metadata\":{\"labels\":{\"zz\":\"1\",\"app\":\"web\",\"b.io/x\":\"\"}},"
        "\"status\":{\"podIPs\":[{\"ip\":\"fd00:0:0::0:9\"},{\"ip\":\"10.1.2.3/24\"}]},",
        "\"spec\":{\"serviceAccountName\":\"\",\"containers\":[{\"ports\":[{\"name\":\"a\","
        "\"containerPort\":1,\"hostPort\":2,\"hostIP\":\"10.0.0.1\"},{\"containerPort\":3,"
        "\"protocol\":\"ICMP\",\"name\":\"x\"}]}]},",
    };
    static const char *const annotations[] = {
        "",
        ",\"annotations\":{\"cni.projectcalico.org/podIPs\":\"10.2.0.1/32,fd00::1/128\","
        "\"cni.projectcalico.org/allowedSourcePrefixes\":\"[\\\"10.9.0.0/16\\\"]\","
        "\"cni.projectcalico.org/floatingIPs\":\"[\\\"172.16.0.1\\\"]\","
        "\"k8s.v1.cni.cncf.io/network-status\":\"[]\"}",
        ",\"annotations\":{\"cni.projectcalico.org/podIP\":\"10.2.0.1/32\","
        "\"cni.projectcalico.org/containerID\":\"abc\"}",
    };

    size_t compared = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(extra) / sizeof(*extra) + 1; i++) {
        for (size_t a = 0; a < sizeof(annotations) / sizeof(*annotations); a++) {
            _cleanup_json_ json_t *p = J(pod);
            _cleanup_json_ json_t *doc = NULL, *view = NULL;
            _cleanup_free_ char *name = NULL, *t1 = NULL, *t2 = NULL;
            struct tby_error err = { 0 };
            bool skip;

            if (i > 0) {
                _cleanup_free_ char *text = NULL;
                _cleanup_json_ json_t *over = NULL;

                assert_true(asprintf(&text, "{%s\"x\":1}", extra[i - 1]) > 0);
                over = J(text);
                json_object_update_recursive(p, over);
                json_object_del(p, "x");
            }
            if (a > 0) {
                _cleanup_free_ char *text = NULL;
                _cleanup_json_ json_t *over = NULL;

                assert_true(asprintf(&text, "{\"metadata\":{\"creationTimestamp\":"
                                            "\"2026-01-02T03:04:05Z\"%s}}",
                                     annotations[a]) > 0);
                over = J(text);
                json_object_del(json_object_get(p, "metadata"), "annotations");
                json_object_update_recursive(p, over);
            }
            doc = k8s_pod_to_wep(p, &name, &skip);
            if (!doc) {
                assert_true(skip);
                continue;
            }
            assert_int_equal(k8s_view(&codec, doc, &view, NULL, &err), 0);
            json_object_del(json_object_get(doc, "metadata"), "resourceVersion");
            t1 = json_dumps(doc, JSON_COMPACT);
            t2 = json_dumps(view, JSON_COMPACT);
            if (strcmp(t1, t2) != 0)
                fail_msg("pod %zu/%zu: the converter's text differs from the view's", i, a);
            compared++;
        }
    }
    assert_true(compared >= 15);
}

static void test_pod_reads_as_calicos_workload_endpoint(void **state)
{
    struct k8s_entry e;
    const json_t *spec, *ports, *labels;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0, pod, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/workloadendpoints/default/node--1-k8s-web--7c9d6-eth0");
    assert_int_equal(e.rev, 55102);
    assert_string_equal(at(e.value, "metadata", "uid", NULL),
                        "3f0c0000-0000-4000-8000-000000000001");
    labels = json_object_get(json_object_get(e.value, "metadata"), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "app")), "web");
    assert_string_equal(json_string_value(json_object_get(labels, "projectcalico.org/namespace")),
                        "default");
    assert_string_equal(
        json_string_value(json_object_get(labels, "projectcalico.org/orchestrator")), "k8s");
    assert_string_equal(
        json_string_value(json_object_get(labels, "projectcalico.org/serviceaccount")),
        "frontend");
    assert_null(json_object_get(json_object_get(e.value, "metadata"), "annotations"));
    spec = json_object_get(e.value, "spec");
    assert_string_equal(at(spec, "node", NULL, NULL), "node-1");
    assert_string_equal(at(spec, "pod", NULL, NULL), "web-7c9d6");
    assert_string_equal(at(spec, "endpoint", NULL, NULL), "eth0");
    assert_string_equal(at(spec, "containerID", NULL, NULL), "0a1b2c3d");
    assert_string_equal(at(spec, "interfaceName", NULL, NULL), "tby5298de2ae61");
    assert_string_equal(json_string_value(json_array_get(json_object_get(spec, "ipNetworks"), 0)),
                        "10.244.3.7/32");
    assert_string_equal(json_string_value(json_array_get(json_object_get(spec, "profiles"), 0)),
                        "kns.default");
    assert_string_equal(json_string_value(json_array_get(json_object_get(spec, "profiles"), 1)),
                        "ksa.default.frontend");
    /* Named ports and host ports; the unnamed port without a hostPort is none. */
    ports = json_object_get(spec, "ports");
    assert_int_equal(json_array_size(ports), 3);
    assert_string_equal(at(json_array_get(ports, 0), "name", NULL, NULL), "http");
    assert_string_equal(at(json_array_get(ports, 0), "protocol", NULL, NULL), "TCP");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ports, 1), "hostPort")),
                     5353);
    assert_string_equal(at(json_array_get(ports, 2), "protocol", NULL, NULL), "SCTP");
    k8s_entry_clear(&e);
}

static void test_pods_that_are_no_endpoints_are_skipped(void **state)
{
    struct k8s_entry e;

    (void)state;
    /* host network, unscheduled, finished, not networked yet */
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"h\",\"namespace\":\"default\","
                             "\"resourceVersion\":\"1\"},\"spec\":{\"nodeName\":\"n\","
                             "\"hostNetwork\":true},\"status\":{\"podIP\":\"192.0.2.1\"}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
                             "\"resourceVersion\":\"1\"},\"spec\":{}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
                             "\"resourceVersion\":\"1\"},\"spec\":{\"nodeName\":\"n\"},"
                             "\"status\":{\"phase\":\"Succeeded\",\"podIP\":\"10.0.0.1\"}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
                             "\"resourceVersion\":\"1\"},\"spec\":{\"nodeName\":\"n\"}}",
                             &e),
                     K8S_SKIP);
    /* status.podIPs first, as a /32. */
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
                             "\"resourceVersion\":\"1\",\"annotations\":{"
                             "\"cni.projectcalico.org/podIP\":\"10.9.9.9/32\"}},"
                             "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"podIPs\":["
                             "{\"ip\":\"10.0.0.1\"},{\"ip\":\"fd00::1\"}]}}",
                             &e),
                     0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(
                                                             e.value, "spec"), "ipNetworks"),
                                                         1)),
                        "fd00::1/128");
    k8s_entry_clear(&e);
}

static void test_endpoint_writes_are_the_pod_status_patch(void **state)
{
    struct k8s_entry e;
    struct k8s_request req;
    struct tby_error err = { 0 };
    _cleanup_free_ char *value = NULL;
    const json_t *ann;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0, pod, &e), 0);
    json_array_append_new(json_object_get(json_object_get(e.value, "spec"), "ipNetworks"),
                          json_string("fd00::7/128"));
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, pod, 55102, &req, &err), 0);
    assert_int_equal(req.verb, K8S_PATCH_STATUS);
    ann = json_object_get(json_object_get(req.body, "metadata"), "annotations");
    assert_string_equal(at(ann, "cni.projectcalico.org/podIP", NULL, NULL), "10.244.3.7/32");
    assert_string_equal(at(ann, "cni.projectcalico.org/podIPs", NULL, NULL),
                        "10.244.3.7/32,fd00::7/128");
    assert_string_equal(at(ann, "cni.projectcalico.org/containerID", NULL, NULL), "0a1b2c3d");
    assert_string_equal(at(req.body, "metadata", "resourceVersion", NULL), "55102");
    k8s_request_clear(&req);
    free(value);
    /* Labels are the pod's: a change is refused, naming the pod to label. */
    json_object_set_new(json_object_get(json_object_get(e.value, "metadata"), "labels"), "x",
                        json_string("y"));
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, pod, 55102, &req, &err), -EPERM);
    assert_non_null(strstr(err.msg, "label the Pod instead"));
    k8s_entry_clear(&e);
}

static void test_endpoint_delete_empties_the_addresses_with_preconditions(void **state)
{
    const struct k8s_map *m = map_of("/tabby/v1/workloadendpoints/default/x");
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    _cleanup_json_ json_t *raw = J(pod);
    struct k8s_write w = { "/tabby/v1/workloadendpoints/default/node--1-k8s-web--7c9d6-eth0", m,
                           &loc, NULL, raw, 55102 };
    struct k8s_request req = { 0 };
    struct tby_error err = { 0 };
    const json_t *meta;

    (void)state;
    assert_int_equal(m->conv->locate(m, "default", "node--1-k8s-web--7c9d6-eth0", &loc, &err), 0);
    assert_string_equal(loc.name, "web-7c9d6");
    assert_int_equal(m->conv->remove(&codec, &w, &req, &err), 0);
    meta = json_object_get(req.body, "metadata");
    assert_string_equal(at(meta, "annotations", "cni.projectcalico.org/podIP", NULL), "");
    assert_string_equal(at(meta, "annotations", "cni.projectcalico.org/podIPs", NULL), "");
    assert_null(at(meta, "annotations", "cni.projectcalico.org/containerID", NULL));
    assert_string_equal(at(meta, "uid", NULL, NULL), "3f0c0000-0000-4000-8000-000000000001");
    assert_string_equal(at(meta, "resourceVersion", NULL, NULL), "55102");
    k8s_request_clear(&req);
    k8s_loc_clear(&loc);
    /* Names that are no pod's endpoint locate nothing. */
    assert_int_equal(m->conv->locate(m, "default", "node-cni-abc-eth0", &loc, &err), -ENOENT);
    assert_int_equal(m->conv->locate(m, "default", "node-k8s-web-net1", &loc, &err), -ENOENT);
}

/* ---- profiles, namespaces, Kubernetes policies -------------------------------------------- */

static void test_namespaces_and_service_accounts_read_as_profiles(void **state)
{
    static const char ns[] = "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
                             "\"name\":\"prod\",\"resourceVersion\":\"4412\","
                             "\"uid\":\"7d1b4c8e-2f3a-4b5c-9d6e-0a1b2c3d4e5f\","
                             "\"labels\":{\"team\":\"ops\"}},\"spec\":{\"finalizers\":"
                             "[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}";
    struct k8s_entry e;
    const json_t *apply;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/profiles/x", 0, ns, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/profiles/kns.prod");
    assert_int_equal(e.rev, 4412);
    apply = json_object_get(json_object_get(e.value, "spec"), "labelsToApply");
    assert_string_equal(json_string_value(json_object_get(apply, "pcns.team")), "ops");
    assert_string_equal(json_string_value(json_object_get(apply, "pcns.projectcalico.org/name")),
                        "prod");
    assert_string_equal(at(json_array_get(json_object_get(json_object_get(e.value, "spec"),
                                                          "ingress"),
                                          0),
                           "action", NULL, NULL),
                        "Allow");
    assert_string_equal(at(e.value, "metadata", "uid", NULL),
                        "bed83271-f45c-4b3a-9d76-50d834bc72fa");
    k8s_entry_clear(&e);
    /* The same object is tabby's Namespace too. */
    assert_int_equal(read_as("/tabby/v1/namespaces/x", 0, ns, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/namespaces/prod");
    assert_string_equal(at(e.value, "metadata", "labels", "team"), "ops");
    k8s_entry_clear(&e);
    assert_int_equal(read_as("/tabby/v1/profiles/x", 1,
                             "{\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"frontend\","
                             "\"namespace\":\"prod\",\"resourceVersion\":\"9\","
                             "\"labels\":{\"tier\":\"web\"}}}",
                             &e),
                     0);
    assert_string_equal(e.key, "/tabby/v1/profiles/ksa.prod.frontend");
    apply = json_object_get(json_object_get(e.value, "spec"), "labelsToApply");
    assert_string_equal(json_string_value(json_object_get(apply, "pcsa.tier")), "web");
    assert_string_equal(json_string_value(json_object_get(apply, "pcsa.projectcalico.org/name")),
                        "frontend");
    k8s_entry_clear(&e);
}

static void test_default_allow_profile_is_a_constant(void **state)
{
    const struct k8s_map *m = map_of("/tabby/v1/profiles/x");
    struct k8s_entry *es = NULL;
    struct tby_error err = { 0 };
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    size_t n = 0;

    (void)state;
    assert_int_equal(m->conv->constants(&codec, m, &es, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].key, "/tabby/v1/profiles/projectcalico-default-allow");
    assert_int_equal(es[0].rev, 1);
    k8s_entry_clear(&es[0]);
    free(es);
    assert_int_equal(m->conv->locate(m, NULL, "ksa.prod.frontend", &loc, &err), 0);
    assert_string_equal(loc.ns, "prod");
    assert_string_equal(loc.name, "frontend");
    assert_ptr_equal(loc.res, &tby_kube_serviceaccounts);
}

static void test_kubernetes_network_policy_round_trips_onto_its_object(void **state)
{
    static const char knp[] =
        "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{"
        "\"name\":\"allow-web\",\"namespace\":\"prod\",\"resourceVersion\":\"77\","
        "\"uid\":\"u-77\",\"generation\":2,\"labels\":{\"a\":\"b\"},"
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},"
        "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
        "\"ingress\":[{\"ports\":[{\"port\":80}]}]}}";
    struct k8s_entry e;
    struct k8s_request req;
    struct tby_error err = { 0 };
    _cleanup_free_ char *value = NULL;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/k8snetworkpolicies/prod/x", 0, knp, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/k8snetworkpolicies/prod/allow-web");
    assert_string_equal(at(e.value, "apiVersion", NULL, NULL), "networking.k8s.io/v1");
    assert_string_equal(at(e.value, "metadata", "uid", NULL), "u-77");
    json_object_set_new(json_object_get(json_object_get(e.value, "metadata"), "labels"), "c",
                        json_string("d"));
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, knp, 77, &req, &err), 0);
    assert_int_equal(req.verb, K8S_PUT);
    assert_string_equal(at(req.body, "metadata", "labels", "c"), "d");
    assert_string_equal(at(req.body, "metadata", "uid", NULL), "u-77");
    assert_string_equal(at(req.body, "metadata", "resourceVersion", NULL), "77");
    assert_non_null(json_object_get(json_object_get(req.body, "metadata"), "generation"));
    assert_non_null(json_object_get(json_object_get(json_object_get(req.body, "spec"),
                                                    "podSelector"),
                                    "matchLabels"));
    assert_non_null(json_object_get(json_object_get(req.body, "spec"), "ingress"));
    k8s_request_clear(&req);
    k8s_entry_clear(&e);
}

/* ---- nodes -------------------------------------------------------------------------------- */

static const char node[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-1\","
    "\"resourceVersion\":\"77310\",\"labels\":{\"kubernetes.io/hostname\":\"node-1\","
    "\"rack\":\"r1\"},\"annotations\":{\"projectcalico.org/IPv4Address\":\"192.0.2.11/24\","
    "\"projectcalico.org/ASNumber\":\"1.10\","
    "\"projectcalico.org/IPv4VXLANTunnelAddr\":\"10.244.3.0\","
    "\"projectcalico.org/VXLANTunnelMACAddr\":\"66:b3:68:28:39:8e\","
    "\"projectcalico.org/IPv6Address\":\"not-an-address\","
    "\"projectcalico.org/labels\":\"{\\\"bgp-role\\\":\\\"edge\\\",\\\"rack\\\":\\\"x\\\"}\","
    "\"node.alpha.kubernetes.io/ttl\":\"0\"}},"
    "\"spec\":{\"podCIDR\":\"10.244.3.0/24\",\"podCIDRs\":[\"10.244.3.0/24\"]},"
    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.11\"},"
    "{\"type\":\"Hostname\",\"address\":\"node-1\"}]}}";

static void test_node_reads_as_calico_node(void **state)
{
    struct k8s_entry e;
    const json_t *spec, *addrs;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/nodes/x", 0, node, &e), 0);
    assert_string_equal(e.key, "/tabby/v1/nodes/node-1");
    spec = json_object_get(e.value, "spec");
    assert_string_equal(at(spec, "bgp", "ipv4Address", NULL), "192.0.2.11/24");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "bgp"),
                                                        "asNumber")),
                     65546);
    assert_null(at(spec, "bgp", "ipv6Address", NULL)); /* invalid: skipped */
    assert_string_equal(at(spec, "ipv4VXLANTunnelAddr", NULL, NULL), "10.244.3.0");
    assert_string_equal(at(spec, "vxlanTunnelMACAddr", NULL, NULL), "66:b3:68:28:39:8e");
    assert_string_equal(at(json_array_get(json_object_get(spec, "orchRefs"), 0), "nodeName",
                           NULL, NULL),
                        "node-1");
    addrs = json_object_get(spec, "addresses");
    assert_int_equal(json_array_size(addrs), 2);
    assert_string_equal(at(json_array_get(addrs, 0), "type", NULL, NULL), "CalicoNodeIP");
    assert_string_equal(at(json_array_get(addrs, 1), "address", NULL, NULL), "192.0.2.11");
    /* Kubernetes labels over Calico's. */
    assert_string_equal(at(e.value, "metadata", "labels", "rack"), "r1");
    assert_string_equal(at(e.value, "metadata", "labels", "bgp-role"), "edge");
    assert_null(json_object_get(json_object_get(e.value, "metadata"), "annotations"));
    k8s_entry_clear(&e);
}

static void test_node_write_rewrites_only_calicos_annotations(void **state)
{
    struct k8s_entry e;
    struct k8s_request req;
    struct tby_error err = { 0 };
    _cleanup_free_ char *value = NULL;
    _cleanup_json_ json_t *labels = NULL;
    json_t *spec;
    const json_t *ann;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/nodes/x", 0, node, &e), 0);
    spec = json_object_get(e.value, "spec");
    json_object_del(spec, "vxlanTunnelMACAddr");
    json_object_set_new(spec, "ipv4VXLANTunnelAddr", json_string("10.244.3.1"));
    json_object_set_new(json_object_get(json_object_get(e.value, "metadata"), "labels"), "tabby",
                        json_string("yes"));
    value = json_dumps(e.value, JSON_COMPACT);
    assert_int_equal(put_request(e.key, value, node, 77310, &req, &err), 0);
    assert_int_equal(req.verb, K8S_PUT_STATUS);
    ann = json_object_get(json_object_get(req.body, "metadata"), "annotations");
    assert_string_equal(at(ann, "projectcalico.org/IPv4VXLANTunnelAddr", NULL, NULL),
                        "10.244.3.1");
    assert_null(json_object_get(ann, "projectcalico.org/VXLANTunnelMACAddr"));
    assert_string_equal(at(ann, "projectcalico.org/ASNumber", NULL, NULL), "65546");
    assert_string_equal(at(ann, "node.alpha.kubernetes.io/ttl", NULL, NULL), "0");
    assert_null(json_object_get(ann, "projectcalico.org/IPv6Address"));
    labels = J(at(ann, "projectcalico.org/labels", NULL, NULL));
    assert_string_equal(at(labels, "tabby", NULL, NULL), "yes");
    assert_string_equal(at(labels, "bgp-role", NULL, NULL), "edge");
    assert_null(json_object_get(labels, "rack")); /* the Node's own */
    /* The Node's labels are not touched; the rest of it stays. */
    assert_int_equal(json_object_size(json_object_get(json_object_get(req.body, "metadata"),
                                                      "labels")),
                     2);
    assert_non_null(json_object_get(req.body, "status"));
    k8s_request_clear(&req);
    k8s_entry_clear(&e);
}

/* An object whose name, or for a namespaced type namespace, cannot be part of a key is
 * left out (and logged), never made into a malformed key (found by fuzz_k8s_objects). */
static void test_objects_without_a_usable_name_or_namespace_are_skipped(void **state)
{
    struct k8s_entry e;

    (void)state;
    assert_int_equal(read_as("/tabby/v1/workloadendpoints/default/x", 0,
                             "{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"1\"},"
                             "\"spec\":{\"nodeName\":\"n\"},"
                             "\"status\":{\"podIP\":\"10.0.0.1\"}}",
                             &e),
                     K8S_SKIP);
    assert_null(e.key);
    assert_int_equal(read_as("/tabby/v1/networkpolicies/prod/x", 0,
                             "{\"metadata\":{\"name\":\"a/b\",\"namespace\":\"prod\","
                             "\"resourceVersion\":\"1\"},\"spec\":{}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(read_as("/tabby/v1/ippools/x", 0,
                             "{\"metadata\":{\"name\":\"\",\"resourceVersion\":\"1\"},"
                             "\"spec\":{\"cidr\":\"10.0.0.0/16\"}}",
                             &e),
                     K8S_SKIP);
    /* An IPAM block's key is its CIDR, whatever its object is called. */
    assert_int_equal(read_as("/tabby/v1/ipam/blocks/x", 0,
                             "{\"metadata\":{\"name\":\"b/c\",\"resourceVersion\":\"3\"},"
                             "\"spec\":{\"cidr\":\"10.0.0.0/26\"}}",
                             &e),
                     0);
    assert_string_equal(e.key, "/tabby/v1/ipam/blocks/10.0.0.0-26");
    k8s_entry_clear(&e);
}

/* ---- IPAM --------------------------------------------------------------------------------- */

static void test_ipam_objects_are_named_from_cidrs_and_filtered_when_deleted(void **state)
{
    const struct k8s_map *m = map_of("/tabby/v1/ipam/affinities/n/x");
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    struct k8s_request req;
    struct tby_error err = { 0 };
    struct k8s_entry e;
    char node_name[300];

    (void)state;
    assert_int_equal(read_as("/tabby/v1/ipam/blocks/x", 0,
                             "{\"metadata\":{\"name\":\"fd00-10-244---122\","
                             "\"resourceVersion\":\"3\"},\"spec\":{\"cidr\":\"fd00:10:244::/122\","
                             "\"allocations\":[],\"unallocated\":[],\"sequenceNumber\":"
                             "1755675062000000003}}",
                             &e),
                     0);
    assert_string_equal(e.key, "/tabby/v1/ipam/blocks/fd00:10:244::-122");
    /* IPAM's record: Calico's object without the API's metadata; 64-bit sequence numbers
     * pass through exactly. */
    assert_string_equal(at(e.value, "apiVersion", NULL, NULL), "crd.projectcalico.org/v1");
    assert_string_equal(at(e.value, "kind", NULL, NULL), "IPAMBlock");
    assert_null(json_object_get(e.value, "metadata"));
    assert_true(json_integer_value(json_object_get(json_object_get(e.value, "spec"),
                                                   "sequenceNumber")) == 1755675062000000003LL);
    k8s_entry_clear(&e);
    assert_int_equal(read_as("/tabby/v1/ipam/blocks/x", 0,
                             "{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"3\"},"
                             "\"spec\":{\"cidr\":\"10.0.0.0/26\",\"deleted\":true}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(read_as("/tabby/v1/ipam/affinities/n/x", 0,
                             "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"3\"},"
                             "\"spec\":{\"cidr\":\"10.0.0.0/26\",\"node\":\"node-1\","
                             "\"state\":\"confirmed\",\"deleted\":\"true\"}}",
                             &e),
                     K8S_SKIP);
    assert_int_equal(m->conv->locate(m, "node-1", "10.244.3.0-26", &loc, &err), 0);
    assert_string_equal(loc.name, "node-1-10-244-3-0-26");
    k8s_loc_clear(&loc);
    memset(node_name, 'n', 250);
    node_name[250] = '\0';
    assert_int_equal(m->conv->locate(m, node_name, "10.244.3.0-26", &loc, &err), 0);
    assert_int_equal(strlen(loc.name), 252);
    assert_non_null(strstr(loc.name, "-10-244-3-0-26-"));
    k8s_loc_clear(&loc);
    /* Writes stamp the labels Calico finds affinities by, and `deleted` as a string. */
    assert_int_equal(put_request("/tabby/v1/ipam/affinities/node-1/10.244.3.0-26",
                                 "{\"state\":\"confirmed\",\"node\":\"node-1\",\"type\":\"host\","
                                 "\"cidr\":\"10.244.3.0/26\",\"deleted\":false}",
                                 NULL, 0, &req, &err),
                     0);
    assert_string_equal(at(req.body, "metadata", "name", NULL), "node-1-10-244-3-0-26");
    assert_string_equal(at(req.body, "metadata", "labels", "projectcalico.org/hostname-hash"),
                        "A3XPYDATRKB7Q4SM2O5FN4RXIHBFIL2PITFX26BAIP5XAB2X74CA");
    assert_string_equal(at(req.body, "metadata", "labels", "projectcalico.org/ip-version"), "4");
    assert_string_equal(at(req.body, "spec", "deleted", NULL), "false");
    k8s_request_clear(&req);
    /* IPAM's own record (labels and a tabby annotation in it) onto the object as it was. */
    assert_int_equal(put_request("/tabby/v1/ipam/affinities/node-1/10.244.3.0-26",
                                 "{\"apiVersion\":\"crd.projectcalico.org/v1\","
                                 "\"kind\":\"BlockAffinity\",\"metadata\":{\"labels\":{"
                                 "\"projectcalico.org/affinity-type\":\"host\"},"
                                 "\"annotations\":{\"tabby.dev/free\":\"61\"}},"
                                 "\"spec\":{\"state\":\"pending\",\"node\":\"node-1\","
                                 "\"cidr\":\"10.244.3.0/26\",\"deleted\":\"false\"}}",
                                 "{\"metadata\":{\"name\":\"node-1-10-244-3-0-26\","
                                 "\"uid\":\"u\",\"resourceVersion\":\"9\","
                                 "\"annotations\":{\"other\":\"x\"}},\"spec\":{}}",
                                 9, &req, &err),
                     0);
    assert_int_equal(req.verb, K8S_PUT);
    assert_string_equal(at(req.body, "spec", "state", NULL), "pending");
    assert_string_equal(at(req.body, "metadata", "annotations", "other"), "x");
    assert_string_equal(at(req.body, "metadata", "annotations", "tabby.dev/free"), "61");
    assert_string_equal(at(req.body, "metadata", "resourceVersion", NULL), "9");
    assert_non_null(at(req.body, "metadata", "labels", "projectcalico.org/hostname-hash"));
    assert_null(json_object_get(json_object_get(req.body, "spec"), "metadata"));
    k8s_request_clear(&req);
    /* Handles: lower-case object names, the ID's case kept in the spec. */
    assert_int_equal(put_request("/tabby/v1/ipam/handles/Net.ABC", "{\"block\":{}}", NULL, 0,
                                 &req, &err),
                     0);
    assert_string_equal(at(req.body, "metadata", "name", NULL), "net.abc");
    assert_string_equal(at(req.body, "spec", "handleID", NULL), "Net.ABC");
    k8s_request_clear(&req);
}

/* ---- the table and the store -------------------------------------------------------------- */

static void test_key_table_maps_keys_and_prefixes(void **state)
{
    const char *ns, *name;
    size_t ns_len;
    const struct k8s_map *m;
    char *narrowed = NULL;
    const char *prefix = "/tabby/v1/networkpolicies/prod/";

    (void)state;
    m = k8s_map_of_key("/tabby/v1/networkpolicies/prod/allow", &ns, &ns_len, &name);
    assert_non_null(m);
    assert_int_equal(ns_len, 4);
    assert_string_equal(name, "allow");
    assert_null(k8s_map_of_key("/tabby/v1/networkpolicies/prod", &ns, &ns_len, &name));
    assert_null(k8s_map_of_key("/tabby/v1/guards/ippools", &ns, &ns_len, &name));
    assert_true(k8s_map_under(m, "/tabby/v1/", &narrowed));
    assert_null(narrowed);
    assert_true(k8s_map_under(m, prefix, &narrowed));
    assert_string_equal(narrowed, "prod");
    free(narrowed);
    assert_false(k8s_map_under(m, "/tabby/v1/ippools/", &narrowed));
    assert_true(k8s_type_wanted(&k8s_crd_networkpolicies, &prefix, 1, &narrowed));
    assert_string_equal(narrowed, "prod");
    free(narrowed);
    assert_false(k8s_type_wanted(&tby_kube_pods, &prefix, 1, &narrowed));
    /* Namespaces back two key spaces: one list serves both. */
    prefix = "/tabby/v1/";
    assert_true(k8s_type_wanted(&tby_kube_namespaces, &prefix, 1, &narrowed));
    assert_null(narrowed);
}

static void test_lenient_view_logs_each_unknown_field_once(void **state)
{
    struct k8s_entry e;
    size_t before = tby_hmap_count(&codec.warned);

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_as("/tabby/v1/bgppeers/x", 0,
                                 "{\"kind\":\"BGPPeer\",\"metadata\":{\"name\":\"p\","
                                 "\"resourceVersion\":\"1\"},\"spec\":{\"asNumber\":1,"
                                 "\"peerIP\":\"192.0.2.1\",\"localWorkloadSelector\":\"a == 1\","
                                 "\"reversePeering\":\"Manual\"}}",
                                 &e),
                         0);
        k8s_entry_clear(&e);
    }
    assert_int_equal(tby_hmap_count(&codec.warned) - before, 2);
}

/* A store with a server that is never asked: what is refused is refused before any
 * request. */
static struct tby_store *offline_store(char *path)
{
    static const char kubeconfig[] =
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: x, user: u}}]\n";
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    char uri[300];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, kubeconfig, strlen(kubeconfig)), (ssize_t)strlen(kubeconfig));
    close(fd);
    snprintf(uri, sizeof(uri), "k8s:%s", path);
    if (tby_store_open(uri, &store, &err) < 0)
        fail_msg("open: %s", err.msg);
    return store;
}

static void test_only_single_object_transactions_are_taken(void **state)
{
    char path[] = "/tmp/test_store_k8s.XXXXXX";
    struct tby_store *store = offline_store(path);
    _cleanup_(tby_txn_freep) struct tby_txn *two = tby_txn_new();
    _cleanup_(tby_txn_freep) struct tby_txn *other = tby_txn_new();
    struct tby_error err = { 0 };
    int64_t rev;

    (void)state;
    assert_false(tby_store_has_multi_txn(store));
    assert_null(tby_store_local_file(tby_store_uri(store)));
    tby_txn_put(two, "/tabby/v1/ippools/a", "{}", 2);
    tby_txn_put(two, "/tabby/v1/ippools/b", "{}", 2);
    assert_int_equal(tby_store_commit(store, two, &rev, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the Kubernetes API has no multi-object transactions"));
    tby_txn_compare(other, "/tabby/v1/guards/ippools", 0);
    tby_txn_put(other, "/tabby/v1/ippools/a", "{}", 2);
    assert_int_equal(tby_store_commit(store, other, &rev, &err), -EINVAL);
    assert_int_equal(tby_store_put(store, "/tabby/v1/guards/ippools", "{}", 2, &rev, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "not kept on k8s:"));
    assert_int_equal(tby_store_put(store, "/tabby/v1/profiles/kns.prod", "{}", 2, &rev, &err),
                     -EPERM);
    assert_non_null(strstr(err.msg, "label the Namespace"));
    assert_int_equal(tby_store_cas(store, "/tabby/v1/nodes/n1", 0, "{}", 2, &rev, &err), -EPERM);
    assert_non_null(strstr(err.msg, "Kubernetes Nodes"));
    tby_store_close(store);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uid_conversion_reverses_bits_but_keeps_version_and_variant),
        cmocka_unit_test(test_resource_versions_must_be_numbers),
        cmocka_unit_test(test_calico_cr_reads_as_tabbys_v3_value),
        cmocka_unit_test(test_tier_cr_reads_as_a_tier),
        cmocka_unit_test(test_endpointslice_reads_as_a_record_in_normal_form),
        cmocka_unit_test(test_policy_with_unknown_spec_field_is_handed_on_undecoded),
        cmocka_unit_test(test_calico_write_keeps_calicos_fields_and_splits_metadata),
        cmocka_unit_test(test_calico_create_is_a_post_without_uid),
        cmocka_unit_test(test_kubectl_style_cr_without_annotation_reads_its_own_metadata),
        cmocka_unit_test(test_policy_names_read_as_calico_3_31_reads_them),
        cmocka_unit_test(test_policy_write_addresses_the_cr_it_was_read_under),
        cmocka_unit_test(test_old_pool_fields_fold_into_their_new_names),
        cmocka_unit_test(test_pod_reads_as_calicos_workload_endpoint),
        cmocka_unit_test(test_pod_endpoint_is_in_normal_form),
        cmocka_unit_test(test_pods_that_are_no_endpoints_are_skipped),
        cmocka_unit_test(test_objects_without_a_usable_name_or_namespace_are_skipped),
        cmocka_unit_test(test_endpoint_writes_are_the_pod_status_patch),
        cmocka_unit_test(test_endpoint_delete_empties_the_addresses_with_preconditions),
        cmocka_unit_test(test_namespaces_and_service_accounts_read_as_profiles),
        cmocka_unit_test(test_default_allow_profile_is_a_constant),
        cmocka_unit_test(test_kubernetes_network_policy_round_trips_onto_its_object),
        cmocka_unit_test(test_node_reads_as_calico_node),
        cmocka_unit_test(test_node_write_rewrites_only_calicos_annotations),
        cmocka_unit_test(test_ipam_objects_are_named_from_cidrs_and_filtered_when_deleted),
        cmocka_unit_test(test_key_table_maps_keys_and_prefixes),
        cmocka_unit_test(test_lenient_view_logs_each_unknown_field_once),
        cmocka_unit_test(test_only_single_object_transactions_are_taken),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
