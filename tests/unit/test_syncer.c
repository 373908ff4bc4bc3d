/* test_syncer.c — the datastore syncer against a real sqlite store: the first read, watch
 * events, re-reading after compaction with only the differences told, values that do not
 * decode, and several consumers. */
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

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/syncer.h"
#include "store_fixture.h"

/* What a consumer heard, one line per call: "+Kind ns/name", "~Kind ns/name",
 * "-Kind ns/name", "sync". */
struct heard {
    char log[4096];
    int in_sync;
};

static void note(struct heard *h, char op, const struct tby_resource *res)
{
    size_t len = strlen(h->log);

    snprintf(h->log + len, sizeof(h->log) - len, "%c%s %s/%s\n", op, res->info->name,
             res->meta.namespace ? res->meta.namespace : "", res->meta.name);
}

static int on_update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    note(ctx, old ? '~' : '+', res);
    return 0;
}

static int on_remove(void *ctx, const struct tby_resource *old)
{
    note(ctx, '-', old);
    return 0;
}

static void on_sync(void *ctx)
{
    ((struct heard *)ctx)->in_sync++;
}

static int setup(void **state)
{
    struct store_fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    store_fx_open(f, "syncer", false);
    tby_log_set_level(TBY_LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    store_fx_close(*state);
    free(*state);
    return 0;
}

static const char *const two =
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {team: x}}\n---\n"
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
    "metadata: {name: deny, namespace: a}\nspec: {podSelector: {}}\n";

static struct tby_syncer *syncer_with(struct tby_store *store, struct heard *h)
{
    struct tby_syncer *s = NULL;
    struct tby_syncer_consumer c = { .name = "test", .ctx = h, .update = on_update,
                                     .remove = on_remove, .in_sync = on_sync };

    assert_int_equal(tby_syncer_new(store, &s), 0);
    assert_int_equal(tby_syncer_add_consumer(s, &c), 0);
    return s;
}

static void poll_ok(struct tby_syncer *s)
{
    struct tby_error err = { 0 };

    if (tby_syncer_poll(s, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
}

/* The store holds `two`, s has told them, and h's log starts afresh. */
static void told_two(struct store_fx *f, struct tby_syncer *s, struct heard *h)
{
    store_fx_apply(f->store, two);
    poll_ok(s);
    h->log[0] = '\0';
}

static void test_first_read_tells_every_resource_then_in_sync(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);

    store_fx_apply(f->store, two);
    assert_false(tby_syncer_in_sync(s));
    poll_ok(s);
    assert_string_equal(h.log, "+NetworkPolicy a/deny\n+Namespace /a\n");
    assert_int_equal(h.in_sync, 1);
    assert_int_equal(tby_syncer_count(s), 2);
    assert_true(tby_syncer_fd(s) >= 0);
    assert_true(tby_syncer_timeout_ms(s) > 0);
}

static void test_watch_tells_changes_and_deletes(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);
    char *key = tby_resource_key(tby_kind_lookup("ns"), NULL, "a");

    told_two(f, s, &h);
    store_fx_apply(f->store,
                   "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {team: z}}\n");
    assert_int_equal(tby_store_delete(f->store, key, NULL, NULL), 0);
    poll_ok(s);
    assert_string_equal(h.log, "~Namespace /a\n-Namespace /a\n");
    assert_int_equal(h.in_sync, 1);
    free(key);
}

static void test_compaction_rereads_and_tells_only_differences(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);
    char *key = tby_resource_key(tby_kind_lookup("ns"), NULL, "a");
    int64_t rev;

    told_two(f, s, &h);
    assert_int_equal(tby_store_delete(f->store, key, NULL, NULL), 0);
    store_fx_apply(f->store, "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n");
    assert_int_equal(tby_store_revision(f->store, &rev, NULL), 0);
    assert_int_equal(tby_store_compact(f->store, rev, NULL), 0);
    poll_ok(s);
    /* the policy did not change, so it is not told again */
    assert_string_equal(h.log, "+Namespace /b\n-Namespace /a\n");
    assert_int_equal(h.in_sync, 2);
    free(key);
}

static int labels_by_name(void *ctx, const char *key, const struct tby_resource *res)
{
    const json_t **v = ctx;

    (void)key;
    if (res && res->info->kind == TBY_KIND_NAMESPACE)
        v[res->meta.name[0] - 'a'] = res->meta.labels;
    return 0;
}

static void test_equal_label_maps_are_held_once(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);
    const json_t *v[5] = { 0 };

    store_fx_apply(f->store,
             "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {team: x, tier: web}}\n"
             "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b, labels: {team: x, tier: web}}\n"
             "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: c, labels: {tier: web, team: x}}\n"
             "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: d, labels: {team: z}}\n"
             "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: e}\n");
    poll_ok(s);
    assert_int_equal(tby_syncer_foreach(s, labels_by_name, v), 0);
    assert_ptr_equal(v[0], v[1]);
    assert_ptr_not_equal(v[0], v[2]); /* same pairs in another order: kept as written */
    assert_true(json_equal((json_t *)v[0], (json_t *)v[2]));
    assert_ptr_not_equal(v[0], v[3]);
    assert_string_equal(json_string_value(json_object_get(v[3], "team")), "z");
    assert_int_equal(json_object_size(v[4]), 0);
    /* a change gives the map of its new labels, the others keep theirs */
    store_fx_apply(f->store,
                   "apiVersion: v1\nkind: Namespace\nmetadata: {name: b, labels: {team: z}}\n");
    poll_ok(s);
    assert_int_equal(tby_syncer_foreach(s, labels_by_name, v), 0);
    assert_ptr_equal(v[1], v[3]);
    assert_string_equal(json_string_value(json_object_get(v[0], "tier")), "web");
}

static void test_value_that_does_not_decode_counts_as_absent(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);
    char *key = tby_resource_key(tby_kind_lookup("ns"), NULL, "a");

    told_two(f, s, &h);
    assert_int_equal(tby_store_put(f->store, key, "{broken", 7, NULL, NULL), 0);
    assert_int_equal(tby_store_put(f->store, "/tabby/v1/unknownkind/x", "{}", 2, NULL, NULL), 0);
    poll_ok(s);
    assert_string_equal(h.log, "-Namespace /a\n");
    assert_int_equal(tby_syncer_count(s), 1);
    free(key);
}

static void test_consumers_are_told_in_order(void **state)
{
    struct store_fx *f = *state;
    struct heard h1 = { 0 }, h2 = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h1);
    struct tby_syncer_consumer c = { .name = "second", .ctx = &h2, .update = on_update };

    assert_int_equal(tby_syncer_add_consumer(s, &c), 0);
    store_fx_apply(f->store, two);
    poll_ok(s);
    assert_string_equal(h1.log, h2.log);
    assert_int_equal(h2.in_sync, 0);
}

static void test_unreachable_store_keeps_state_and_backs_off(void **state)
{
    struct heard h = { 0 };
    struct tby_store *store = NULL;
    struct tby_syncer *s;
    struct tby_error err = { 0 };

    (void)state;
    /* a directory where the database file cannot be created */
    if (tby_store_open("sqlite:/proc/tabby-nonexistent/x.db", &store, &err) == 0) {
        s = syncer_with(store, &h);
        assert_true(tby_syncer_poll(s, &err) < 0);
        assert_false(tby_syncer_in_sync(s));
        assert_true(tby_syncer_timeout_ms(s) > 0);
        tby_syncer_free(s);
        tby_store_close(store);
    }
    assert_string_equal(h.log, "");
}

static int on_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    struct heard *h = ctx;
    size_t len = strlen(h->log);

    snprintf(h->log + len, sizeof(h->log) - len, "%c%s\n", kv ? 'r' : 'x', key);
    return 0;
}

static int count_held(void *ctx, const char *key, const struct tby_resource *res)
{
    int *n = ctx;

    (void)key;
    n[res ? 0 : 1]++;
    return 0;
}

static int value_of(void *ctx, const struct tby_kv *kv)
{
    snprintf(ctx, 128, "%s=%s", kv->key, kv->value);
    return 1;
}

static void test_records_under_a_prefix_are_held_and_told(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = NULL;
    struct tby_syncer_consumer c = { .name = "records", .ctx = &h, .in_sync = on_sync,
                                     .record_prefix = "/tabby/v1/ipam/affinities/",
                                     .record = on_record };
    int64_t rev;
    int held[2] = { 0, 0 };
    char v[128] = "";

    assert_int_equal(tby_syncer_new(f->store, &s), 0);
    assert_int_equal(tby_syncer_add_consumer(s, &c), 0);
    store_fx_apply(f->store, two);
    assert_int_equal(tby_store_put(f->store, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26", "{}",
                                   2, NULL, NULL), 0);
    assert_int_equal(tby_store_put(f->store, "/tabby/v1/ipam/blocks/10.0.0.0-26", "{}", 2,
                                   NULL, NULL), 0);
    poll_ok(s);
    assert_string_equal(h.log, "r/tabby/v1/ipam/affinities/n1/10.0.0.0-26\n");
    assert_int_equal(tby_syncer_foreach(s, count_held, held), 0);
    assert_int_equal(held[0], 2);
    assert_int_equal(held[1], 1);
    assert_int_equal(tby_syncer_foreach_record(s, "/tabby/v1/ipam/", value_of, v), 1);
    assert_string_equal(v, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26={}");
    /* a re-read tells only what changed: the record that went */
    h.log[0] = '\0';
    assert_int_equal(tby_store_delete(f->store, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26",
                                      &rev, NULL), 0);
    assert_int_equal(tby_store_compact(f->store, rev, NULL), 0);
    poll_ok(s);
    assert_string_equal(h.log, "x/tabby/v1/ipam/affinities/n1/10.0.0.0-26\n");
    assert_int_equal(tby_syncer_count(s), 2);
}

/* The syncer asks the store for every kind's resources and the records its consumers
 * want, once: IPAM's handles (and anything else) are not read, and after the first
 * listing only the watch brings changes. */
static void test_reads_only_what_it_holds_and_lists_once(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = NULL;
    struct tby_syncer_consumer c = { .name = "records", .ctx = &h,
                                     .record_prefix = "/tabby/v1/ipam/blocks/",
                                     .record = on_record };
    struct tby_store_stats before;

    assert_int_equal(tby_syncer_new(f->store, &s), 0);
    assert_int_equal(tby_syncer_add_consumer(s, &c), 0);
    store_fx_apply(f->store, two);
    before = tby_store_stats(f->store);
    poll_ok(s);
    assert_int_equal(tby_store_stats(f->store).ranges - before.ranges, TBY_KIND_COUNT + 1);
    assert_int_equal(tby_store_stats(f->store).watches - before.watches, 1);
    assert_int_equal(tby_syncer_add_consumer(s, &c), -EBUSY);
    assert_int_equal(tby_store_put(f->store, "/tabby/v1/ipam/handles/h1", "{}", 2, NULL,
                                   NULL), 0);
    assert_int_equal(tby_store_put(f->store, "/tabby/v1/ipam/blocks/10.0.0.0-26", "{}", 2,
                                   NULL, NULL), 0);
    store_fx_apply(f->store, "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n");
    poll_ok(s);
    assert_string_equal(h.log, "r/tabby/v1/ipam/blocks/10.0.0.0-26\n");
    assert_int_equal(tby_syncer_count(s), 4);
    assert_int_equal(tby_syncer_stats(s)->events, 4);
    assert_int_equal(tby_store_stats(f->store).ranges - before.ranges, TBY_KIND_COUNT + 1);
    assert_int_equal(tby_store_stats(f->store).watches - before.watches, 1);
}

static void test_moved_datastore_keeps_state_until_it_is_back(void **state)
{
    struct store_fx *f = *state;
    struct heard h = { 0 };
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = syncer_with(f->store, &h);
    struct tby_error err = { 0 };
    char path[128], moved[160];

    snprintf(path, sizeof(path), "%s/tabby.db", f->dir);
    snprintf(moved, sizeof(moved), "%s/away.db", f->dir);
    store_fx_apply(f->store, two);
    poll_ok(s);
    assert_true(tby_syncer_online(s));
    h.log[0] = '\0';
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(tby_syncer_poll(s, &err), -EAGAIN);
    assert_false(tby_syncer_online(s));
    assert_int_equal(tby_syncer_count(s), 2);
    assert_int_equal(tby_syncer_stats(s)->errors, 1);
    assert_non_null(strstr(tby_syncer_stats(s)->last_error, "moved or removed"));
    assert_int_equal(rename(moved, path), 0);
    usleep((useconds_t)tby_syncer_timeout_ms(s) * 1000);
    poll_ok(s);
    assert_true(tby_syncer_online(s));
    assert_string_equal(h.log, "");
    assert_int_equal(h.in_sync, 2);
    assert_string_equal(tby_syncer_stats(s)->last_error, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_read_tells_every_resource_then_in_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_tells_changes_and_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_rereads_and_tells_only_differences, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_equal_label_maps_are_held_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_that_does_not_decode_counts_as_absent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_consumers_are_told_in_order, setup, teardown),
        cmocka_unit_test(test_unreachable_store_keeps_state_and_backs_off),
        cmocka_unit_test_setup_teardown(test_records_under_a_prefix_are_held_and_told, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reads_only_what_it_holds_and_lists_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_moved_datastore_keeps_state_until_it_is_back,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
