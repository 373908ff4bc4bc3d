/* test_flow_log.c — denied flows aggregated per interval in a bounded ring (node/flow_log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "flow_log.h"

#define T0 1700000000000LL

static struct flow_pkt pkt(uint8_t last, uint16_t dport, const char *rule)
{
    struct flow_pkt p = { .family = 4, .proto = 6, .src = { 10, 0, 0, last },
                          .dst = { 10, 0, 1, 1 }, .dport = dport, .rule = rule };

    return p;
}

static void test_packets_of_one_flow_in_one_interval_make_one_record(void **state)
{
    struct flow_log *log = flow_log_new();
    struct flow_pkt p = pkt(1, 22, "default/no-ssh ingress 1");
    _cleanup_json_ json_t *a = NULL;
    const json_t *r;

    (void)state;
    p.tier = "security";
    for (int i = 0; i < 10; i++)
        flow_log_add(log, &p, T0 + i * 100);
    assert_int_equal(flow_log_next(log), 1);
    assert_int_equal(flow_log_get(log, 0)->packets, 10);
    a = flow_log_json(log, 0, 100);
    assert_int_equal(json_array_size(a), 1);
    r = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(r, "src")), "10.0.0.1");
    assert_string_equal(json_string_value(json_object_get(r, "dst")), "10.0.1.1");
    assert_string_equal(json_string_value(json_object_get(r, "proto")), "TCP");
    assert_int_equal(json_integer_value(json_object_get(r, "dport")), 22);
    assert_string_equal(json_string_value(json_object_get(r, "policy")), "default/no-ssh");
    assert_string_equal(json_string_value(json_object_get(r, "tier")), "security");
    assert_string_equal(json_string_value(json_object_get(r, "direction")), "ingress");
    assert_int_equal(json_integer_value(json_object_get(r, "rule")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "packets")), 10);
    assert_string_equal(json_string_value(json_object_get(r, "start")),
                        "2023-11-14T22:13:20.000Z");
    flow_log_free(log);
}

static void test_a_new_interval_or_another_flow_makes_a_new_record(void **state)
{
    struct flow_log *log = flow_log_new();
    struct flow_pkt a = pkt(1, 22, "p ingress 0"), b = pkt(2, 22, "p ingress 0"),
                    c = pkt(1, 80, "p ingress 0"), d = pkt(1, 22, "q egress 3");

    (void)state;
    flow_log_add(log, &a, T0);
    flow_log_add(log, &b, T0 + 1);
    flow_log_add(log, &c, T0 + 2);
    flow_log_add(log, &d, T0 + 3);
    flow_log_add(log, &a, T0 + 4);
    assert_int_equal(flow_log_next(log), 4);
    assert_int_equal(flow_log_get(log, 0)->packets, 2);
    flow_log_add(log, &a, T0 + FLOW_LOG_INTERVAL_MS); /* the next interval */
    assert_int_equal(flow_log_next(log), 5);
    assert_int_equal(flow_log_get(log, 4)->packets, 1);
    assert_int_equal(flow_log_packets(log), 6);
    flow_log_free(log);
}

static void test_the_ring_and_an_interval_stay_bounded(void **state)
{
    struct flow_log *log = flow_log_new();
    _cleanup_json_ json_t *all = NULL, *since = NULL;

    (void)state;
    /* a flood of distinct flows in one interval: FLOW_LOG_PER_INTERVAL records, the rest
     * counted as overflow */
    for (int i = 0; i < 3 * FLOW_LOG_PER_INTERVAL; i++) {
        struct flow_pkt p = pkt((uint8_t)i, (uint16_t)(i / 256), "p ingress 0");

        flow_log_add(log, &p, T0);
    }
    assert_int_equal(flow_log_next(log), FLOW_LOG_PER_INTERVAL);
    assert_int_equal(flow_log_overflow(log), 2 * FLOW_LOG_PER_INTERVAL);
    /* many intervals: the ring keeps the newest FLOW_LOG_RING */
    for (int i = 0; i < 3 * FLOW_LOG_RING; i++) {
        struct flow_pkt p = pkt(1, 1, "p ingress 0");

        flow_log_add(log, &p, T0 + (int64_t)(i + 1) * FLOW_LOG_INTERVAL_MS);
    }
    assert_int_equal(flow_log_next(log) - flow_log_first(log), FLOW_LOG_RING);
    assert_null(flow_log_get(log, 0));
    assert_non_null(flow_log_get(log, flow_log_first(log)));
    all = flow_log_json(log, 0, 100); /* at most max, the newest */
    assert_int_equal(json_array_size(all), 100);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 99), "seq")),
                     flow_log_next(log) - 1);
    since = flow_log_json(log, flow_log_next(log) - 3, 1000);
    assert_int_equal(json_array_size(since), 3);
    flow_log_free(log);
}

static void count(const char *policy, uint64_t packets, void *ctx)
{
    char *out = ctx;

    snprintf(out + strlen(out), 512 - strlen(out), "%s=%llu;", policy,
             (unsigned long long)packets);
}

static void test_packets_are_counted_per_policy(void **state)
{
    struct flow_log *log = flow_log_new();
    struct flow_pkt a = pkt(1, 22, "default/no-ssh ingress 1"),
                    b = pkt(2, 22, "default/no-ssh egress 0"),
                    c = pkt(3, 22, "default deny: no ingress policy allowed it"),
                    d = pkt(4, 22, "tby-deny:0123456789ab");
    char out[512] = "";
    char policy[FLOW_LOG_TEXT];

    (void)state;
    flow_log_add(log, &a, T0);
    flow_log_add(log, &b, T0);
    flow_log_add(log, &c, T0);
    flow_log_add(log, &d, T0);
    flow_log_foreach_policy(log, count, out);
    assert_string_equal(out, "default/no-ssh=2;default deny=1;tby-deny:0123456789ab=1;");
    flow_log_policy_of("a b ingress 2", policy, sizeof(policy)); /* a display with a space */
    assert_string_equal(policy, "a b");
    flow_log_policy_of("tier t1: default deny: no egress policy allowed or passed it", policy,
                       sizeof(policy));
    assert_string_equal(policy, "tier t1: default deny");
    flow_log_policy_of("x ingress", policy, sizeof(policy)); /* no index: the text */
    assert_string_equal(policy, "x ingress");
    flow_log_free(log);
}

static void test_icmp_and_ipv6_render(void **state)
{
    struct flow_log *log = flow_log_new();
    struct flow_pkt p = { .family = 6, .proto = 58, .src = { 0xfd, 0, [15] = 1 },
                          .dst = { 0xfd, 0, [15] = 2 }, .dport = 128 << 8,
                          .rule = "default deny: no egress policy allowed it" };
    _cleanup_json_ json_t *a = NULL;
    const json_t *r;

    (void)state;
    flow_log_add(log, &p, T0);
    a = flow_log_json(log, 0, 10);
    r = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(r, "src")), "fd00::1");
    assert_string_equal(json_string_value(json_object_get(r, "proto")), "ICMPv6");
    assert_int_equal(json_integer_value(json_object_get(r, "icmp_type")), 128);
    assert_null(json_object_get(r, "dport"));
    assert_string_equal(json_string_value(json_object_get(r, "policy")), "default deny");
    assert_string_equal(json_string_value(json_object_get(r, "direction")), "egress");
    assert_true(json_is_null(json_object_get(r, "rule")));
    assert_true(json_is_null(json_object_get(r, "tier"))); /* none given */
    flow_log_free(log);
}

/* Logged packets as NFLOG hands them: the network header first, cut at the copy range. */
static void test_parse_reads_addresses_protocol_and_port(void **state)
{
    /* IPv4, IHL 5, TCP 10.0.0.1:40000 -> 10.0.1.1:22 */
    uint8_t v4[40] = { 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 1, 1,
                       0x9c, 0x40, 0, 22 };
    /* IPv6, a hop-by-hop header (8 bytes), then UDP to port 53 */
    uint8_t v6[56] = { 0x60, 0, 0, 0, 0, 16, 0, 64, [8] = 0xfd, [23] = 1, [24] = 0xfd,
                       [39] = 2, [40] = 17, [41] = 0, [48] = 0x30, [49] = 0x39, [50] = 0,
                       [51] = 53 };
    struct flow_pkt k = { 0 };

    (void)state;
    assert_true(flow_log_parse_ip(v4, sizeof(v4), &k));
    assert_int_equal(k.family, 4);
    assert_int_equal(k.proto, 6);
    assert_int_equal(k.dport, 22);
    assert_int_equal(k.src[3], 1);
    memset(&k, 0, sizeof(k));
    assert_true(flow_log_parse_ip(v4, 22, &k)); /* cut before the port: 0 */
    assert_int_equal(k.dport, 0);
    memset(&k, 0, sizeof(k));
    v4[6] = 0x00, v4[7] = 0x10; /* a later fragment: no transport header */
    assert_true(flow_log_parse_ip(v4, sizeof(v4), &k));
    assert_int_equal(k.dport, 0);
    memset(&k, 0, sizeof(k));
    assert_true(flow_log_parse_ip(v6, sizeof(v6), &k));
    assert_int_equal(k.family, 6);
    assert_int_equal(k.proto, 17);
    assert_int_equal(k.dport, 53);
    assert_int_equal(k.dst[15], 2);
    assert_false(flow_log_parse_ip(v6, 19, &k));
    v6[0] = 0x50; /* neither 4 nor 6 */
    assert_false(flow_log_parse_ip(v6, sizeof(v6), &k));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packets_of_one_flow_in_one_interval_make_one_record),
        cmocka_unit_test(test_a_new_interval_or_another_flow_makes_a_new_record),
        cmocka_unit_test(test_the_ring_and_an_interval_stay_bounded),
        cmocka_unit_test(test_packets_are_counted_per_policy),
        cmocka_unit_test(test_icmp_and_ipv6_render),
        cmocka_unit_test(test_parse_reads_addresses_protocol_and_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
