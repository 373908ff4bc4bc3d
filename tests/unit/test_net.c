/* test_net.c — address and CIDR parsing, printing and arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/net.h"

static struct tby_cidr cidr(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &c, NULL), 0);
    return c;
}

static void test_cidr_parse_and_format_round_trip(void **state)
{
    const char *cases[] = { "10.0.0.0/8", "192.168.0.0/16", "0.0.0.0/0", "10.1.2.3/32",
                            "fd00::/64", "2001:db8::1/128", "::/0" };
    char buf[TBY_CIDR_STRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tby_cidr c = cidr(cases[i]);

        assert_string_equal(tby_cidr_format(&c, buf), cases[i]);
    }
}

static void test_strict_cidr_refuses_host_bits_and_names_the_network(void **state)
{
    struct tby_error err = { 0 };
    struct tby_cidr c;

    (void)state;
    assert_int_equal(tby_cidr_parse("10.1.0.1/16", TBY_CIDR_STRICT, &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "has host bits set (the network is 10.1.0.0/16)"));
    assert_int_equal(tby_cidr_parse("10.1.0.1/16", 0, &c, &err), 0);
    assert_int_equal(tby_cidr_parse("10.1.0.1/16", TBY_CIDR_MASK, &c, &err), 0);
    assert_false(tby_cidr_has_host_bits(&c));
}

static void test_bad_cidrs_are_refused(void **state)
{
    const char *bad[] = { "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/08", "10.0.0/8",
                          "fd00::/129", "10.0.0.0/-1", "10.0.0.0/8x", "hello", "10.0.0.0/ 8" };
    struct tby_cidr c;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tby_cidr_parse(bad[i], TBY_CIDR_ALLOW_IP, &c, NULL), -EINVAL);
    assert_int_equal(tby_cidr_parse("10.0.0.1", 0, &c, NULL), -EINVAL);
}

static void test_containment_and_overlap(void **state)
{
    struct tby_cidr a = cidr("10.0.0.0/8"), b = cidr("10.20.0.0/16"), c = cidr("11.0.0.0/8");
    struct tby_cidr v6 = cidr("fd00::/8");
    struct tby_ip ip;

    (void)state;
    assert_true(tby_cidr_contains_cidr(&a, &b));
    assert_false(tby_cidr_contains_cidr(&b, &a));
    assert_true(tby_cidr_overlaps(&a, &b));
    assert_true(tby_cidr_overlaps(&b, &a));
    assert_false(tby_cidr_overlaps(&a, &c));
    assert_false(tby_cidr_overlaps(&a, &v6));
    assert_int_equal(tby_ip_parse("10.20.30.40", &ip, NULL), 0);
    assert_true(tby_cidr_contains(&b, &ip));
    assert_false(tby_cidr_contains(&c, &ip));
}

static void test_ip_arithmetic_carries_across_bytes(void **state)
{
    struct tby_cidr block = cidr("10.0.0.192/26");
    struct tby_ip next, v6;
    char buf[TBY_IP_STRLEN];

    (void)state;
    assert_int_equal(tby_cidr_size(&block), 64);
    next = tby_ip_add(&block.ip, 64);
    assert_string_equal(tby_ip_format(&next, buf), "10.0.1.0");
    assert_int_equal(tby_ip_offset(&block.ip, &next), 64);
    assert_int_equal(tby_ip_offset(&next, &block.ip), UINT64_MAX);
    assert_int_equal(tby_ip_parse("fd00::ffff", &v6, NULL), 0);
    next = tby_ip_add(&v6, 1);
    assert_string_equal(tby_ip_format(&next, buf), "fd00::1:0");
    assert_int_equal(tby_cidr_size(&(struct tby_cidr){ v6, 64 }), UINT64_MAX);
}

static void test_cidr_order_is_by_address_then_shorter_prefix(void **state)
{
    struct tby_cidr a = cidr("10.0.0.0/8"), b = cidr("10.0.0.0/16"), c = cidr("10.1.0.0/16"),
                    d = cidr("fd00::/8");

    (void)state;
    assert_true(tby_cidr_compare(&a, &b) < 0);
    assert_true(tby_cidr_compare(&b, &c) < 0);
    assert_true(tby_cidr_compare(&c, &d) < 0);
    assert_true(tby_cidr_compare(&d, &a) > 0);
    assert_int_equal(tby_cidr_compare(&b, &b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse_and_format_round_trip),
        cmocka_unit_test(test_strict_cidr_refuses_host_bits_and_names_the_network),
        cmocka_unit_test(test_bad_cidrs_are_refused),
        cmocka_unit_test(test_containment_and_overlap),
        cmocka_unit_test(test_ip_arithmetic_carries_across_bytes),
        cmocka_unit_test(test_cidr_order_is_by_address_then_shorter_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
