/* test_validate.c — names, labels, AS numbers, durations, MACs and port names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/validate.h"

static void test_dns_names(void **state)
{
    (void)state;
    assert_true(tby_valid_dns1123_label("default-pool"));
    assert_true(tby_valid_dns1123_label("a1"));
    assert_false(tby_valid_dns1123_label("-a"));
    assert_false(tby_valid_dns1123_label("a-"));
    assert_false(tby_valid_dns1123_label("A"));
    assert_false(tby_valid_dns1123_label("a.b"));
    assert_false(tby_valid_dns1123_label(""));
    assert_true(tby_valid_dns1123_subdomain("knp.default.allow-dns"));
    assert_false(tby_valid_dns1123_subdomain("a..b"));
    assert_false(tby_valid_dns1123_subdomain("a_b"));
}

static void test_label_keys_and_values(void **state)
{
    (void)state;
    assert_true(tby_valid_label_key("app"));
    assert_true(tby_valid_label_key("kubernetes.io/metadata.name"));
    assert_true(tby_valid_label_key("projectcalico.org/namespace"));
    assert_true(tby_valid_label_key("My_Key.x-y"));
    assert_false(tby_valid_label_key("/x"));
    assert_false(tby_valid_label_key("a/b/c"));
    assert_false(tby_valid_label_key("bad key"));
    assert_false(tby_valid_label_key("Example.com/x"));
    assert_true(tby_valid_label_value(""));
    assert_true(tby_valid_label_value("v1.2-beta_3"));
    assert_false(tby_valid_label_value("-x"));
    assert_false(tby_valid_label_value("has space"));
}

static void test_as_numbers_plain_and_dotted(void **state)
{
    struct tby_error err = { 0 };
    uint32_t asn;

    (void)state;
    assert_int_equal(tby_asn_parse("64512", &asn, &err), 0);
    assert_int_equal(asn, 64512);
    assert_int_equal(tby_asn_parse("4294967295", &asn, &err), 0);
    assert_int_equal(asn, 4294967295u);
    assert_int_equal(tby_asn_parse("1.10", &asn, &err), 0);
    assert_int_equal(asn, 65546);
    assert_int_equal(tby_asn_parse("4294967296", &asn, &err), -EINVAL);
    assert_int_equal(tby_asn_parse("70000.1", &asn, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "is not a dotted AS number"));
    assert_int_equal(tby_asn_parse("1.", &asn, &err), -EINVAL);
    assert_int_equal(tby_asn_parse("", &asn, &err), -EINVAL);
    assert_int_equal(tby_asn_parse("-1", &asn, &err), -EINVAL);
}

static void test_durations(void **state)
{
    uint64_t ms;

    (void)state;
    assert_int_equal(tby_duration_parse("120s", &ms, NULL), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(tby_duration_parse("1m30s", &ms, NULL), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(tby_duration_parse("500ms", &ms, NULL), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(tby_duration_parse("0", &ms, NULL), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(tby_duration_parse("10", &ms, NULL), -EINVAL);
    assert_int_equal(tby_duration_parse("10x", &ms, NULL), -EINVAL);
    assert_int_equal(tby_duration_parse("", &ms, NULL), -EINVAL);
}

static void test_macs_and_interface_names(void **state)
{
    (void)state;
    assert_true(tby_valid_mac("ee:ee:ee:ee:ee:ee"));
    assert_true(tby_valid_mac("0A:1b:2C:3d:4E:5f"));
    assert_false(tby_valid_mac("zz:00:00:00:00:00"));
    assert_false(tby_valid_mac("ee-ee-ee-ee-ee-ee"));
    assert_true(tby_valid_interface_name("cali1234567890a"));
    assert_false(tby_valid_interface_name("cali1234567890ab"));
    assert_false(tby_valid_interface_name("a/b"));
    assert_false(tby_valid_interface_name(".."));
}

static void test_port_names_follow_iana_svc_name(void **state)
{
    static const char *const good[] = { "http", "a", "h2c", "web-8080", "abcdefghijklmno" };
    static const char *const bad[] = { "", "8080", "-http", "http-", "ht--tp", "HTTP",
                                       "abcdefghijklmnop", "ht_tp", "ht.tp" };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(tby_valid_port_name(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(tby_valid_port_name(bad[i]));
}

static void test_durations_print_as_go_does_and_read_back(void **state)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {
        { 0, "0s" },       { 500, "500ms" },        { 1000, "1s" },
        { 1500, "1.5s" },  { 1123, "1.123s" },      { 90000, "1m30s" },
        { 120000, "2m0s" }, { 3600000, "1h0m0s" }, { 5430250, "1h30m30.25s" },
    };
    char buf[TBY_DURATION_STRLEN];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t back = 0;

        assert_string_equal(tby_duration_format(cases[i].ms, buf), cases[i].text);
        assert_int_equal(tby_duration_parse(buf, &back, NULL), 0);
        assert_int_equal(back, cases[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_names),
        cmocka_unit_test(test_label_keys_and_values),
        cmocka_unit_test(test_as_numbers_plain_and_dotted),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_macs_and_interface_names),
        cmocka_unit_test(test_port_names_follow_iana_svc_name),
        cmocka_unit_test(test_durations_print_as_go_does_and_read_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
