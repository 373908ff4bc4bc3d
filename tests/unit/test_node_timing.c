/* test_node_timing.c — the timing helpers tabby-node's parts share: the clock's timeouts,
 * retry backoff, debounced triggers (and the syncer consumer that sets them), and the
 * duration histogram's buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "timing.h"

static void test_ms_until_is_none_for_nothing_pending_and_zero_when_due(void **state)
{
    int64_t now = node_now_ms();

    assert_int_equal(node_ms_until(-1), -1);
    assert_int_equal(node_ms_until(0), 0);
    assert_int_equal(node_ms_until(now - 5), 0);
    assert_in_range(node_ms_until(now + 10000), 1, 10000);
    assert_int_equal(node_ms_until(now + 100LL * 3600 * 1000), 3600000); /* an hour at most */
}

static void test_min_timeout_treats_minus_one_as_none(void **state)
{
    assert_int_equal(node_min_timeout(-1, -1), -1);
    assert_int_equal(node_min_timeout(-1, 5), 5);
    assert_int_equal(node_min_timeout(5, -1), 5);
    assert_int_equal(node_min_timeout(3, 5), 3);
    assert_int_equal(node_min_timeout(0, -1), 0);
}

static void test_backoff_doubles_to_its_cap_and_starts_again_after_reset(void **state)
{
    struct node_backoff b = { .first_ms = 100, .max_ms = 1000 };
    int want[] = { 100, 200, 400, 800, 1000, 1000 };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(node_backoff_next(&b), want[i]);
    node_backoff_reset(&b);
    assert_int_equal(node_backoff_next(&b), 100);
}

static void test_trigger_acts_once_after_the_first_change_of_a_burst(void **state)
{
    struct node_trigger t = { .debounce_ms = 100 };
    int64_t first;

    assert_false(node_trigger_due(&t, node_now_ms()));
    assert_int_equal(node_trigger_timeout_ms(&t), -1);
    node_trigger_set(&t);
    first = t.due;
    assert_true(t.dirty);
    assert_in_range(node_trigger_timeout_ms(&t), 0, 100);
    node_trigger_set(&t); /* later changes of the burst do not push it back */
    assert_int_equal(t.due, first);
    assert_false(node_trigger_due(&t, first - 1));
    assert_true(node_trigger_due(&t, first));
}

static bool reads_pools(enum tby_kind kind)
{
    return kind == TBY_KIND_IPPOOL;
}

static void test_trigger_consumer_is_set_by_what_it_reads_records_and_reads(void **state)
{
    struct node_trigger t = { .debounce_ms = 100, .reads = reads_pools };
    struct tby_syncer_consumer c = node_trigger_consumer(&t, "test", "/records/");
    struct tby_resource pool = { .info = tby_kind_info(TBY_KIND_IPPOOL) };
    struct tby_resource node = { .info = tby_kind_info(TBY_KIND_NODE) };

    assert_string_equal(c.name, "test");
    assert_string_equal(c.record_prefix, "/records/");
    assert_int_equal(c.update(c.ctx, NULL, &node), 0);
    assert_int_equal(c.remove(c.ctx, &node), 0);
    assert_false(t.dirty);
    assert_int_equal(c.update(c.ctx, NULL, &pool), 0);
    assert_true(t.dirty);
    t.dirty = false;
    assert_int_equal(c.remove(c.ctx, &pool), 0);
    assert_true(t.dirty);
    t.dirty = false;
    assert_int_equal(c.record(c.ctx, "/records/x", NULL), 0);
    assert_true(t.dirty);
    t.dirty = false;
    c.in_sync(c.ctx); /* an empty cluster is acted on too */
    assert_true(t.dirty);
    c = node_trigger_consumer(&t, "test", NULL);
    assert_null(c.record);
}

static void test_histogram_counts_each_duration_in_its_bucket(void **state)
{
    struct node_hist h = { 0 };

    node_hist_add(&h, 0.05);    /* 50 µs: the first bucket (0.1 ms) */
    node_hist_add(&h, 0.1);     /* on the bound: still the first */
    node_hist_add(&h, 0.2);     /* the second (0.25 ms) */
    node_hist_add(&h, 20000.0); /* past the last bound (10 s): +Inf */
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[NODE_HIST_BUCKETS], 1);
    assert_int_equal(h.n, 4);
    assert_true(h.sum_s > 20.00034 && h.sum_s < 20.00036); /* seconds */
    for (int i = 1; i < NODE_HIST_BUCKETS; i++)
        assert_true(node_hist_bucket_s[i] > node_hist_bucket_s[i - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_until_is_none_for_nothing_pending_and_zero_when_due),
        cmocka_unit_test(test_min_timeout_treats_minus_one_as_none),
        cmocka_unit_test(test_backoff_doubles_to_its_cap_and_starts_again_after_reset),
        cmocka_unit_test(test_trigger_acts_once_after_the_first_change_of_a_burst),
        cmocka_unit_test(test_trigger_consumer_is_set_by_what_it_reads_records_and_reads),
        cmocka_unit_test(test_histogram_counts_each_duration_in_its_bucket),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
