/* test_autodetect.c — IP autodetection methods as calico-node spells them: parsing, and
 * choosing an address from a given list of interfaces. No kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/autodetect.h"
#include "tabby/cleanup.h"

/* A host as calico-node meets one: loopback, docker, a pod veth, tabby's own devices, a
 * down interface, and two uplinks. */
static struct tby_cidr lo_addrs[2], docker_addrs[1], down_addrs[1], eth0_addrs[4],
    eth1_addrs[2], pod_addrs[1], vxlan_addrs[1];

static struct tby_autodetect_iface host[] = {
    { "lo", true, lo_addrs, 2 },
    { "docker0", true, docker_addrs, 1 },
    { "tbyabc123", true, pod_addrs, 1 },
    { "vxlan.tabby", true, vxlan_addrs, 1 },
    { "ens9", false, down_addrs, 1 },
    { "eth0", true, eth0_addrs, 4 },
    { "eth1", true, eth1_addrs, 2 },
};

static struct tby_cidr cidr(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, 0, &c, NULL), 0);
    return c;
}

static int setup(void **state)
{
    (void)state;
    lo_addrs[0] = cidr("127.0.0.1/8");
    lo_addrs[1] = cidr("::1/128");
    docker_addrs[0] = cidr("172.17.0.1/16");
    pod_addrs[0] = cidr("10.65.0.1/32");
    vxlan_addrs[0] = cidr("10.65.0.0/32");
    down_addrs[0] = cidr("192.168.9.9/24");
    eth0_addrs[0] = cidr("169.254.3.3/16");
    eth0_addrs[1] = cidr("fe80::1/64");
    eth0_addrs[2] = cidr("192.168.1.11/24");
    eth0_addrs[3] = cidr("fd00:1::11/64");
    eth1_addrs[0] = cidr("10.20.0.5/16");
    eth1_addrs[1] = cidr("fd00:2::5/64");
    return 0;
}

/* The method picks "address interface", or fails with that message. */
static void expect_pick(const char *method, int family, const char *want)
{
    _cleanup_(tby_autodetect_freep) struct tby_autodetect *m = NULL;
    struct tby_autodetect_result res;
    struct tby_error err = { 0 };
    char got[TBY_ERROR_MAX + 64], addr[TBY_CIDR_STRLEN];

    assert_int_equal(tby_autodetect_parse(method, &m, &err), 0);
    if (tby_autodetect_choose(m, family, host, TBY_ARRAY_SIZE(host), &res, &err) < 0)
        snprintf(got, sizeof(got), "%s", err.msg);
    else
        snprintf(got, sizeof(got), "%s %s", tby_cidr_format(&res.address, addr), res.ifname);
    assert_string_equal(got, want);
}

static void expect_parse_error(const char *method, int code, const char *message)
{
    struct tby_autodetect *m = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_autodetect_parse(method, &m, &err), code);
    assert_null(m);
    assert_string_equal(err.msg, message);
}

static void test_first_found_skips_internal_down_and_non_global(void **state)
{
    (void)state;
    expect_pick("first-found", 4, "192.168.1.11/24 eth0");
    expect_pick("first-found", 6, "fd00:1::11/64 eth0");
    expect_pick(NULL, 4, "192.168.1.11/24 eth0");
    expect_pick("", 4, "192.168.1.11/24 eth0");
}

static void test_interface_regexes_pick_the_first_matching_interface(void **state)
{
    (void)state;
    expect_pick("interface=eth1", 4, "10.20.0.5/16 eth1");
    expect_pick("interface=ens.*, eth1", 6, "fd00:2::5/64 eth1");
    /* Unanchored, as in Calico: "th" matches eth0 first. */
    expect_pick("interface=th", 4, "192.168.1.11/24 eth0");
    /* Named explicitly, even an internal interface counts. */
    expect_pick("interface=^docker0$", 4, "172.17.0.1/16 docker0");
    expect_pick("interface=^ens9$", 4,
                "IP autodetection method \"interface=^ens9$\" found no global IPv4 address "
                "on an interface that is up and matches");
}

static void test_skip_interface_skips_the_given_and_the_internal(void **state)
{
    (void)state;
    expect_pick("skip-interface=eth0", 4, "10.20.0.5/16 eth1");
    expect_pick("skip-interface=eth0,eth1", 4,
                "IP autodetection method \"skip-interface=eth0,eth1\" found no global IPv4 "
                "address on an interface that is up, matches none of the expressions and is "
                "not internal (lo, docker*, veth*, cali*, tby*, vxlan.*, …)");
}

static void test_cidr_picks_the_address_inside_past_pod_network_devices(void **state)
{
    (void)state;
    /* The pod interface and vxlan.tabby hold pool addresses inside 10/8 too. */
    expect_pick("cidr=10.0.0.0/8", 4, "10.20.0.5/16 eth1");
    expect_pick("cidr=10.0.0.0/8,192.168.1.0/24", 4, "192.168.1.11/24 eth0");
    expect_pick("cidr=fd00:2::/64", 6, "fd00:2::5/64 eth1");
    expect_pick("cidr=172.17.0.0/16", 4, "172.17.0.1/16 docker0");
    expect_pick("cidr=192.168.9.0/24", 4,
                "IP autodetection method \"cidr=192.168.9.0/24\" found no global IPv4 address "
                "inside the CIDRs on an interface that is up (pod network devices such as "
                "tby*, cali* and vxlan.* are skipped)");
}

/* What choosing with the method among the first n_ifaces interfaces returns. */
static int choose(const char *method, size_t n_ifaces, struct tby_error *err)
{
    _cleanup_(tby_autodetect_freep) struct tby_autodetect *m = NULL;
    struct tby_autodetect_result res;

    assert_int_equal(tby_autodetect_parse(method, &m, err), 0);
    return tby_autodetect_choose(m, 4, host, n_ifaces, &res, err);
}

static void test_can_reach_needs_the_kernel(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(choose("can-reach=8.8.8.8", TBY_ARRAY_SIZE(host), &err), -EINVAL);
}

static void test_nothing_found_says_what_was_skipped(void **state)
{
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(choose("first-found", 4, &err), -ENOENT);
    assert_string_equal(err.msg, "IP autodetection method \"first-found\" found no global "
                                 "IPv4 address on an interface that is up, past internal ones "
                                 "(lo, docker*, veth*, cali*, tby*, vxlan.*, …)");
}

static void test_bad_methods_are_refused_with_their_reason(void **state)
{
    (void)state;
    expect_parse_error("first", -EINVAL, "unknown IP autodetection method \"first\": use "
                       "first-found, interface=REGEX, skip-interface=REGEX, can-reach=ADDRESS "
                       "or cidr=CIDR");
    expect_parse_error("interface=", -EINVAL,
                       "IP autodetection method \"interface=\": an empty item in the list");
    expect_parse_error("interface=eth0,,eth1", -EINVAL,
                       "IP autodetection method \"interface=eth0,,eth1\": an empty item in the "
                       "list");
    expect_parse_error("cidr=10.0.0.0/8,", -EINVAL,
                       "IP autodetection method \"cidr=10.0.0.0/8,\": an empty item in the list");
    expect_parse_error("cidr=10.0.0.0/33", -EINVAL,
                       "IP autodetection method \"cidr=10.0.0.0/33\": \"10.0.0.0/33\": prefix "
                       "length must be 0 to 32");
    expect_parse_error("can-reach=", -EINVAL,
                       "IP autodetection method \"can-reach=\": give one address or host name");
    expect_parse_error("kubernetes-internal-ip", -EOPNOTSUPP,
                       "IP autodetection method kubernetes-internal-ip needs Kubernetes' Node "
                       "object, which tabby-node does not read; use interface=, can-reach= or "
                       "cidr= instead");
}

static void test_bad_regex_names_the_expression(void **state)
{
    struct tby_autodetect *m = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_autodetect_parse("interface=eth0,[a-", &m, &err), -EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "IP autodetection method \"interface=eth0,[a-\": \"[a-\" "
                                    "is not a regular expression: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_found_skips_internal_down_and_non_global),
        cmocka_unit_test(test_interface_regexes_pick_the_first_matching_interface),
        cmocka_unit_test(test_skip_interface_skips_the_given_and_the_internal),
        cmocka_unit_test(test_cidr_picks_the_address_inside_past_pod_network_devices),
        cmocka_unit_test(test_can_reach_needs_the_kernel),
        cmocka_unit_test(test_nothing_found_says_what_was_skipped),
        cmocka_unit_test(test_bad_methods_are_refused_with_their_reason),
        cmocka_unit_test(test_bad_regex_names_the_expression),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
