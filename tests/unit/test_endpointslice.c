/* test_endpointslice.c — EndpointSlices as policy reads them (endpointslice.h): what of the
 * API server's object counts, the normal form the k8s: store keeps, messages naming the
 * field; and rules naming a Service, refused at apply where the datastore does not know
 * Services and accepted where it does (enforce.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/endpointslice.h"
#include "tabby/enforce.h"
#include "tabby/resource.h"

static struct tby_eps *decode(const char *text, struct tby_error *err)
{
    json_t *obj = json_loads(text, 0, NULL);
    struct tby_eps *eps = NULL;

    assert_non_null(obj);
    tby_eps_decode(obj, &eps, err);
    json_decref(obj);
    return eps;
}

/* As the API server serves one: conditions, hints, names and FQDN-like junk included. */
static const char *const served =
    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
    "\"metadata\":{\"name\":\"db-x7\",\"namespace\":\"shop\",\"resourceVersion\":\"9\","
    "\"labels\":{\"kubernetes.io/service-name\":\"db\",\"app\":\"x\"},"
    "\"ownerReferences\":[{\"kind\":\"Service\",\"name\":\"db\"}]},"
    "\"addressType\":\"IPv4\","
    "\"endpoints\":[{\"addresses\":[\"10.0.1.2\"],\"conditions\":{\"ready\":true},"
    "\"nodeName\":\"n1\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"db-1\"}},"
    "{\"addresses\":[\"10.0.1.1\",\"10.0.1.2\",\"db.example\"],\"conditions\":{}}],"
    "\"ports\":[{\"name\":\"pg\",\"port\":5432,\"protocol\":\"TCP\",\"appProtocol\":\"pg\"},"
    "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"port\":9000},{\"name\":\"all\"}]}";

static void test_served_slice_keeps_service_addresses_and_numbered_ports(void **state)
{
    struct tby_error err = { 0 };
    _cleanup_(tby_eps_freep) struct tby_eps *eps = decode(served, &err);

    (void)state;
    assert_non_null(eps);
    assert_string_equal(eps->namespace, "shop");
    assert_string_equal(eps->name, "db-x7");
    assert_string_equal(eps->service, "db");
    assert_int_equal(eps->n_addrs, 2);   /* sorted, once each, the name left out */
    assert_int_equal(eps->addrs[0].bytes[3], 1);
    assert_int_equal(eps->addrs[1].bytes[3], 2);
    assert_int_equal(eps->n_ports, 3);   /* the port without a number matches nothing */
    assert_int_equal(eps->ports[0].proto, 6);
    assert_int_equal(eps->ports[0].port, 5432);
    assert_int_equal(eps->ports[1].port, 9000); /* no protocol: TCP */
    assert_int_equal(eps->ports[2].proto, 17);
}

static void test_normal_form_decodes_to_itself(void **state)
{
    struct tby_error err = { 0 };
    _cleanup_(tby_eps_freep) struct tby_eps *eps = decode(served, &err), *again = NULL;
    json_t *a = tby_eps_encode(eps), *b;
    char *ta, *tb;

    (void)state;
    assert_int_equal(tby_eps_decode(a, &again, &err), 0);
    b = tby_eps_encode(again);
    ta = json_dumps(a, JSON_SORT_KEYS);
    tb = json_dumps(b, JSON_SORT_KEYS);
    assert_string_equal(ta, tb);
    assert_non_null(strstr(ta, "\"addresses\": [\"10.0.1.1\", \"10.0.1.2\"]"));
    assert_null(strstr(ta, "resourceVersion"));
    free(ta);
    free(tb);
    json_decref(a);
    json_decref(b);
}

static void test_slice_without_service_label_belongs_to_none(void **state)
{
    struct tby_error err = { 0 };
    _cleanup_(tby_eps_freep) struct tby_eps *eps =
        decode("{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},\"addressType\":\"FQDN\","
               "\"endpoints\":[{\"addresses\":[\"a.example\"]}]}", &err);

    (void)state;
    assert_non_null(eps);
    assert_null(eps->service);
    assert_int_equal(eps->n_addrs, 0);
}

static void test_wrong_types_are_refused_naming_the_field(void **state)
{
    static const struct {
        const char *text, *expect;
    } cases[] = {
        { "{\"metadata\":{\"namespace\":\"y\"}}", "metadata.name: " },
        { "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},\"endpoints\":{}}", "endpoints: " },
        { "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},"
          "\"endpoints\":[{\"addresses\":[\"10.0.0.1\",7]}]}", "endpoints[0].addresses[1]: " },
        { "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},\"ports\":[{\"port\":70000}]}",
          "ports[0].port: " },
        { "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},"
          "\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}", "ports[0].protocol: \"ICMP\"" },
        { "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\",\"labels\":"
          "{\"kubernetes.io/service-name\":1}}}", "metadata.labels.kubernetes.io/service-name" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tby_error err = { 0 };
        struct tby_eps *eps = decode(cases[i].text, &err);

        if (eps || strncmp(err.msg, cases[i].expect, strlen(cases[i].expect)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s…\"", i, err.msg, cases[i].expect);
    }
}

/* Decodes the NetworkPolicy shop/p with one egress rule (JSON text). */
static int decode_policy(const char *rule, struct tby_resource **res, struct tby_error *err)
{
    char text[1024];
    json_t *doc;
    int r;

    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\","
             "\"metadata\":{\"name\":\"p\",\"namespace\":\"shop\"},"
             "\"spec\":{\"selector\":\"all()\",\"types\":[\"Egress\"],\"egress\":[%s]}}", rule);
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    r = tby_resource_decode(doc, res, err);
    json_decref(doc);
    return r;
}

static struct tby_resource *policy(const char *rule)
{
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };

    if (decode_policy(rule, &res, &err) < 0)
        fail_msg("%s", err.msg);
    return res;
}

/* sqlite and etcd do not know Services: refused naming the field; k8s: does. */
static void test_services_are_refused_only_where_services_are_unknown(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res =
        policy("{\"action\":\"Allow\",\"destination\":{\"services\":{\"name\":\"db\"}}}");
    struct tby_resource *stand_in = NULL;
    struct tby_error err = { 0 };
    char why[512];

    (void)state;
    assert_int_equal(tby_enforce_check(res, 0, &err), -EOPNOTSUPP);
    assert_non_null(strstr(err.msg, "spec.egress[0].destination.services: "));
    assert_non_null(strstr(err.msg, "needs a datastore that knows Services"));
    assert_int_equal(tby_enforce_check(res, TBY_ENFORCE_SERVICES, &err), 0);
    assert_int_equal(tby_enforce_plan(res, TBY_ENFORCE_SERVICES, &stand_in, why, sizeof(why)),
                     TBY_ENFORCE_AS_IS);
    assert_null(stand_in);
    assert_int_equal(tby_enforce_plan(res, 0, &stand_in, why, sizeof(why)),
                     TBY_ENFORCE_REPLACE);
    tby_resource_free(stand_in);
}

/* Calico's restrictions hold on every datastore. */
static void test_services_restrictions_are_calicos(void **state)
{
    static const struct {
        const char *rule, *expect;
    } cases[] = {
        { "{\"action\":\"Allow\",\"protocol\":\"TCP\",\"destination\":{\"services\":"
          "{\"name\":\"db\"},\"ports\":[80]}}", "destination.ports" },
        { "{\"action\":\"Allow\",\"destination\":{\"services\":{\"name\":\"db\"},"
          "\"selector\":\"a == 'b'\"}}", "cannot be combined with selector" },
        { "{\"action\":\"Allow\",\"source\":{\"services\":{\"name\":\"db\"}}}",
          "not allowed in an egress rule" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tby_resource *res = NULL;
        struct tby_error err = { 0 };

        if (decode_policy(cases[i].rule, &res, &err) == 0 || !strstr(err.msg, cases[i].expect))
            fail_msg("case %zu: got \"%s\"", i, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_slice_keeps_service_addresses_and_numbered_ports),
        cmocka_unit_test(test_normal_form_decodes_to_itself),
        cmocka_unit_test(test_slice_without_service_label_belongs_to_none),
        cmocka_unit_test(test_wrong_types_are_refused_naming_the_field),
        cmocka_unit_test(test_services_are_refused_only_where_services_are_unknown),
        cmocka_unit_test(test_services_restrictions_are_calicos),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
