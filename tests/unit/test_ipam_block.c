/* test_ipam_block.c — a block in memory and its stored form (Calico's IPAMBlock):
 * allocation order, release order, sequence numbers, encode/decode round trips through
 * both readers, Calico's members kept, cooldown, and malformed blocks refused. */
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
    struct ipam_attr a = { .handle = (char *)handle, .node = "node1",
                           .namespace = pod ? "default" : NULL, .pod = (char *)pod };

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
        " { \"kind\": \"IPAMBlock\", \"metadata\": {\"name\": \"10-0-0-4-30\"},\n"
        "   \"spec\": { \"attributes\": [ {\"secondary\": {\"pod\": \"p\", \"namespace\": \"n\"},"
        "   \"handle_id\": \"h\"} ],\n"
        "   \"unallocated\": [3, 1, 2], \"allocations\": [0, null, null, null],\n"
        "   \"affinity\": \"host:n2\", \"cidr\": \"10.0.0.4/30\", \"strictAffinity\": false } } ";
    static const char etcd_era[] =
        "{\"spec\":{\"cidr\":\"10.0.0.4/30\",\"hostAffinity\":\"old\",\"allocations\":[null,"
        "null,null,null],\"unallocated\":[0,1,2,3],\"attributes\":null}}";
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL, *old = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(ipam_block_decode(text, strlen(text), "test", &b, &err), 0);
    assert_string_equal(b->node, "n2");
    assert_int_equal(b->free_list[0], 3);
    assert_string_equal(ipam_block_owner(b, 0)->pod, "p");
    assert_string_equal(ipam_block_owner(b, 0)->handle, "h");
    assert_int_equal(b->seq, 0);
    assert_int_equal(ipam_block_decode(etcd_era, strlen(etcd_era), "test", &old, &err), 0);
    assert_string_equal(old->node, "old");
}

/* Every update counts in sequenceNumber; an allocation records the number of the block
 * it was made in, and its release clears it (Calico's GC compares them). */
static void test_sequence_numbers_follow_calicos(void **state)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = new_block("10.0.0.0/30");
    uint64_t first = b->seq;
    uint32_t a, c;

    (void)state;
    assert_true(first > 1700000000ULL * 1000000000ULL); /* the time in ns */
    take(b, "h1", "p1", &a);
    assert_int_equal(b->seq_for[a], first);
    ipam_block_prepare_write(b, 0);
    assert_int_equal(b->seq, first + 1);
    take(b, "h2", "p2", &c);
    assert_int_equal(b->seq_for[c], first + 1);
    assert_true(ipam_block_release(b, a));
    assert_int_equal(b->seq_for[a], IPAM_NO_SEQ);
    assert_round_trip(b);
}

/* Members tabby does not use stay as they were: KubeVirt's secondary keys,
 * alternateOwnerAttrs, a virtual block's affinity, a claim time, numbers past 2^53. */
static void test_calicos_other_members_survive_a_rewrite(void **state)
{
    static const char text[] =
        "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"IPAMBlock\",\"spec\":{"
        "\"cidr\":\"10.0.0.8/30\",\"affinity\":\"virtual:load-balancer\","
        "\"affinityClaimTime\":\"2026-08-20T07:31:02Z\",\"allocations\":[0,null,null,null],"
        "\"unallocated\":[1,2,3],\"attributes\":[{\"handle_id\":\"vm\",\"secondary\":{"
        "\"namespace\":\"ns\",\"node\":\"n\",\"pod\":\"virt-launcher\",\"vmi-name\":\"x\"},"
        "\"alternateOwnerAttrs\":{\"pod\":\"other\"}}],\"sequenceNumber\":18446744073709551,"
        "\"sequenceNumberForAllocation\":{\"0\":9007199254740993},\"deleted\":false,"
        "\"strictAffinity\":false}}";
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    _cleanup_free_ char *again = NULL;
    struct tby_error err = { 0 };
    size_t len = 0;

    (void)state;
    assert_int_equal(ipam_block_decode(text, strlen(text), "test", &b, &err), 0);
    assert_null(b->node);
    assert_false(ipam_block_usable(b));
    assert_string_equal(ipam_block_owner(b, 0)->more_secondary, "\"vmi-name\":\"x\"");
    assert_int_equal(b->seq_for[0], 9007199254740993ULL);
    again = ipam_block_encode(b, &len);
    assert_string_equal(again, text);
    assert_round_trip(b);
}

/* An address in Calico's cooldown is neither free nor held; the first write after its
 * time frees it. */
static void test_cooling_down_address_is_neither_free_nor_held(void **state)
{
    static const char text[] =
        "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"host:n\",\"allocations\":[0,1,"
        "null,null],\"unallocated\":[2,3],\"attributes\":[{\"releasedAt\":"
        "\"2026-01-01T00:00:00Z\"},{\"handle_id\":\"h\",\"secondary\":{\"node\":\"n\"}}]}}";
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_error err = { 0 };
    int64_t t;

    (void)state;
    assert_int_equal(ipam_block_decode(text, strlen(text), "test", &b, &err), 0);
    assert_null(ipam_block_owner(b, 0));
    assert_false(ipam_block_is_free(b, 0));
    assert_false(ipam_block_release(b, 0));
    assert_int_equal(ipam_block_count_handle(b, "h"), 1);
    assert_int_equal(ipam_time_parse("2026-01-01T00:00:00Z", &t), 0);
    ipam_block_prepare_write(b, t - 1);
    assert_false(ipam_block_is_free(b, 0));
    ipam_block_prepare_write(b, t);
    assert_true(ipam_block_is_free(b, 0));
    assert_int_equal(b->free_list[b->n_free - 1], 0);
    assert_round_trip(b);
}

static void test_time_texts_are_kubernetes_and_gos(void **state)
{
    char buf[64];
    int64_t t;

    (void)state;
    assert_string_equal(ipam_time_rfc3339(1755675062123456789ULL, buf), "2025-08-20T07:31:02Z");
    assert_string_equal(ipam_time_go(1755675062123456789ULL, buf),
                        "2025-08-20 07:31:02.123456789 +0000 UTC");
    assert_string_equal(ipam_time_go(1755675062120000000ULL, buf),
                        "2025-08-20 07:31:02.12 +0000 UTC");
    assert_string_equal(ipam_time_go(1755675062000000000ULL, buf),
                        "2025-08-20 07:31:02 +0000 UTC");
    assert_int_equal(ipam_time_parse("2025-08-20T07:31:02Z", &t), 0);
    assert_int_equal(t, 1755675062);
    assert_int_equal(ipam_time_parse("2025-08-20T09:31:02.5+02:00", &t), 0);
    assert_int_equal(t, 1755675062);
    assert_int_equal(ipam_time_parse("yesterday", &t), -EINVAL);
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

#define HEAD "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"host:n\","

static void test_malformed_blocks_are_refused(void **state)
{
    (void)state;
    expect_malformed("[]", "not a JSON object");
    /* tabby's records from before Calico's shapes */
    expect_malformed("{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"host:n\"}", "no spec");
    expect_malformed("{\"spec\":{\"cidr\":\"10.0.0.1/30\"}}", "no valid cidr");
    expect_malformed("{\"spec\":{\"cidr\":\"10.0.0.0/8\"}}", "larger than 4096 addresses");
    expect_malformed(HEAD "\"allocations\":[null,null,null],\"unallocated\":[0,1,2],"
                     "\"attributes\":[]}}", "one entry per address");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
                     "\"attributes\":[]}}", "names no attribute entry");
    expect_malformed(HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,2],"
                     "\"attributes\":[]}}", "lists an allocated or unknown address");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[0,1,2,3],"
                     "\"attributes\":[{\"handle_id\":\"h\"}]}}", "lists an allocated");
    expect_malformed(HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1],"
                     "\"attributes\":[]}}", "a free address is missing");
    expect_malformed(HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
                     "\"attributes\":[{\"secondary\":3}]}}", "secondary is not an object");
    expect_malformed(HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],"
                     "\"attributes\":[],\"sequenceNumberForAllocation\":{\"9\":1}}}",
                     "sequenceNumberForAllocation names no address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_are_handed_out_in_order_and_released_ones_last),
        cmocka_unit_test(test_a_handle_releases_all_of_its_addresses),
        cmocka_unit_test(test_blocks_round_trip_through_the_fast_reader),
        cmocka_unit_test(test_names_with_quotes_round_trip_through_jansson),
        cmocka_unit_test(test_other_spellings_of_a_block_are_read),
        cmocka_unit_test(test_sequence_numbers_follow_calicos),
        cmocka_unit_test(test_calicos_other_members_survive_a_rewrite),
        cmocka_unit_test(test_cooling_down_address_is_neither_free_nor_held),
        cmocka_unit_test(test_time_texts_are_kubernetes_and_gos),
        cmocka_unit_test(test_malformed_blocks_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
