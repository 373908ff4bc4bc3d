/* test_node_pools.c — the default IP pools part on a sqlite datastore: it creates the
 * pools the settings describe where the datastore holds none of that family, leaves a
 * family that has one alone, takes a pool another node made under its name, and the node
 * is not ready until it is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/catalog.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools_made_where_none_and_the_node_ready_after),
        cmocka_unit_test(test_family_with_a_pool_left_alone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
