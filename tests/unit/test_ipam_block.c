/* test_ipam_block.c — a block in memory and its stored form: allocation order, release
 * order, encode/decode round trips through both readers, and malformed blocks refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipam_internal.h"
#include "tabby/cleanup.h"

static struct ipam_block *new_block(const char *cidr_text)
{
    struct tby_cidr cidr;
    struct ipam_block *b;

    assert_int_equal(tby_cidr_parse(cidr_text, TBY_CIDR_STRICT, &cidr, NULL), 0);
    b = ipam_block_new(&cidr, "node1");
    assert_non_null(b);
    return b;
}

static void take(struct ipam_block *b, const char *handle, const char *pod, uint32_t *ord)
{
    struct ipam_attr a = { (char *)handle, "node1", pod ? "default" : NULL, (char *)pod };

    assert_int_equal(ipam_block_take_next(b, &a, ord), 0);
}

/* Encodes b, decodes the text and checks the copy says the same. */
static void assert_round_trip(const struct ipam_block *b)
{
    _cleanup_free_ char *text = NULL, *again = NULL;
    _cleanup_(ipam_block_freep) struct ipam_block *copy = NULL;
    struct tby_error err = { 0 };
    size_t len = 0, len2 = 0;

    text = ipam_block_encode(b, &len);
    assert_non_null(text);
    assert_int_equal(ipam_block_decode(text, len, "test", &copy, &err), 0);
    again = ipam_block_encode(copy, &len2);
    assert_string_equal(text, again);
    assert_int_equal(copy->n_free, b->n_free);
    for (uint32_t ord = 0; ord < b->size; ord++)
        assert_int_equal(ipam_block_owner(copy, ord) != NULL, ipam_block_owner(b, ord) != NULL);
}

static void test_addresses_are_handed_out_in_order_and_released_ones_last(void **state)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = new_block("10.0.0.0/30");
    uint32_t a, c, d, e;

    (void)state;
    take(b, "h1", "p1", &a);
    take(b, "h2", "p2", &c);
    assert_int_equal(a, 0);
    assert_int_equal(c, 1);
    assert_true(ipam_block_release(b, a));
    assert_false(ipam_block_release(b, a));
    take(b, "h3", NULL, &d);
    take(b, "h4", NULL, &e);
    assert_int_equal(d, 2);
    assert_int_equal(e, 3);
    take(b, "h5", NULL, &d);
    assert_int_equal(d, 0);     /* the released one, last */
    assert_int_equal(b->n_free, 0);
    assert_int_equal(ipam_block_take_next(b, &(struct ipam_attr){ .handle = "x" }, &d), -ENOSPC);
}

static void test_a_handle_releases_all_of_its_addresses(void **state)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = new_block("fd00::/124");
    uint32_t ord;

    (void)state;
    take(b, "h1", "p1", &ord);
    take(b, "h2", "p2", &ord);
    take(b, "h1", "p1", &ord);
    assert_int_equal(ipam_block_count_handle(b, "h1"), 2);
    assert_int_equal(b->n_attrs, 2); /* h1's addresses share one attribute entry */
    assert_int_equal(ipam_block_release_handle(b, "h1"), 2);
    assert_int_equal(ipam_block_in_use(b), 1);
    assert_round_trip(b);
}

static void test_blocks_round_trip_through_the_fast_reader(void **state)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = new_block("10.0.0.64/26");
    uint32_t ord;

    (void)state;
    assert_round_trip(b);
    for (int i = 0; i < 40; i++) {
        char handle[32], pod[32];

        snprintf(handle, sizeof(handle), "k8s-pod-network.%d", i);
        snprintf(pod, sizeof(pod), "pod-%d", i);
        take(b, handle, i % 3 ? pod : NULL, &ord);
    }
    for (uint32_t i = 0; i < 40; i += 3)
        ipam_block_release(b, i);
    assert_round_trip(b);
}

static void test_names_with_quotes_round_trip_through_jansson(void **state)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = new_block("10.0.0.0/28");
    uint32_t ord;

    (void)state;
    take(b, "odd\"handle\\x", "p\"q", &ord);
    assert_round_trip(b);
}

static void test_other_spellings_of_a_block_are_read(void **state)
{
    static const char text[] =
        " { \"attributes\": [ {\"pod\": \"p\", \"handle\": \"h\"} ],\n"
        "   \"unallocated\": [3, 1, 2], \"allocations\": [0, null, null, null],\n"
        "   \"affinity\": \"host:n2\", \"cidr\": \"10.0.0.4/30\" } ";
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(ipam_block_decode(text, strlen(text), "test", &b, &err), 0);
    assert_string_equal(b->node, "n2");
    assert_int_equal(b->free_list[0], 3);
    assert_string_equal(ipam_block_owner(b, 0)->pod, "p");
}

static void expect_malformed(const char *text, const char *fragment)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(ipam_block_decode(text, strlen(text), "/blocks/x", &b, &err), -EINVAL);
    assert_null(b);
    if (!strstr(err.msg, fragment))
        fail_msg("\"%s\" lacks \"%s\"", err.msg, fragment);
    assert_non_null(strstr(err.msg, "/blocks/x: stored block is malformed"));
}

#define HEAD "{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"host:n\","

static void test_malformed_blocks_are_refused(void **state)
{
    (void)state;
    expect_malformed("[]", "not a JSON object");
    expect_malformed("{\"cidr\":\"10.0.0.1/30\"}", "no valid cidr");
    expect_malformed("{\"cidr\":\"10.0.0.0/8\"}", "larger than 4096 addresses");
    expect_malformed(HEAD "\"allocations\":[null,null,null],\"unallocated\":[0,1,2],"
                     "\"attributes\":[]}", "one entry per address");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
                     "\"attributes\":[]}", "names no attribute entry");
    expect_malformed(HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,2],"
                     "\"attributes\":[]}", "lists an allocated or unknown address");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[0,1,2,3],"
                     "\"attributes\":[{\"handle\":\"h\"}]}", "lists an allocated");
    expect_malformed(HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1],"
                     "\"attributes\":[]}", "a free address is missing");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
                     "\"attributes\":[{\"pod\":\"p\"}]}", "attribute without a handle");
    expect_malformed("{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"node:n\"}", "host:<node>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_are_handed_out_in_order_and_released_ones_last),
        cmocka_unit_test(test_a_handle_releases_all_of_its_addresses),
        cmocka_unit_test(test_blocks_round_trip_through_the_fast_reader),
        cmocka_unit_test(test_names_with_quotes_round_trip_through_jansson),
        cmocka_unit_test(test_other_spellings_of_a_block_are_read),
        cmocka_unit_test(test_malformed_blocks_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
