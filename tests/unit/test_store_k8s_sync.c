/* test_store_k8s_sync.c — the k8s: store's native list-and-watch (store.h's sync on the
 * informer, lib/store_k8s_sync.c) against the Kubernetes API server test double
 * (tests/k8s/apiserver.py, started here; skipped without python3 or openssl): opening
 * reads nothing; one LIST per type, then changes only through the watch; a 410 on one
 * type's watch relists that type alone and tells each change made meanwhile exactly
 * once; a watch ended by the server or cut mid-stream comes back without a LIST; the
 * store's counters say what was asked of the API, as the server's own log does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/store.h"
#include "kapi_fixture.h"
#include "store_fixture.h"

#define DEADLINE_MS 30000
#define POOLS "/tabby/v1/ippools/"
#define GNPS "/tabby/v1/globalnetworkpolicies/"

static struct kapi api;
static bool api_up;

static int group_setup(void **state)
{
    (void)state;
    api_up = kapi_start(&api, "k8s-sync", (const char *[]){ "--bookmark-interval", "1",
                                                             NULL });
    if (!api_up)
        printf("SKIP test_store_k8s_sync: %s\n", api.why);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (api_up)
        kapi_stop(&api);
    return 0;
}

/* A sync as the code under test runs it, and what it told, one event a line. */
struct run {
    struct tby_store *store;   /* KAPI_USER's */
    struct tby_store *admin;   /* the test's writes */
    struct tby_sync *sync;
    char log[16384];
    int synced;
    int errors;
    int decoded;               /* PUTs that came decoded */
    struct tby_resource *last; /* the last of them */
};

static void run_open(struct run *r, const char *const *prefixes, size_t n)
{
    struct tby_error err = { 0 };

    if (!api_up)
        skip();
    memset(r, 0, sizeof(*r));
    if (tby_store_open(api.uri, &r->store, &err) < 0 ||
        tby_store_open(api.admin_uri, &r->admin, &err) < 0 ||
        tby_store_sync_open(r->store, prefixes, n, &r->sync, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
}

/* Closes the run, and waits until the server has seen its watches go: the next test's
 * are then the user's only ones. */
static void run_close(struct run *r)
{
    int64_t until = kapi_now_ms() + DEADLINE_MS;

    tby_resource_free(r->last);
    tby_store_sync_free(r->sync);
    tby_store_close(r->store);
    tby_store_close(r->admin);
    while (kapi_watches(&api, KAPI_USER, NULL) > 0) {
        if (kapi_now_ms() > until)
            fail_msg("the server still holds the closed sync's watches");
        usleep(50 * 1000);
    }
}

static void log_add(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_add(struct run *r, const char *fmt, ...)
{
    size_t used = strlen(r->log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->log + used, sizeof(r->log) - used, fmt, ap);
    va_end(ap);
}

/* One call of next, waiting up to ms for news. */
static void turn(struct run *r, int ms)
{
    struct tby_event_list ev = { 0 };
    struct tby_error err = { 0 };

    if (tby_store_sync_next(r->sync, &ev, ms, &err) < 0)
        r->errors++;
    for (size_t i = 0; i < ev.n; i++) {
        const struct tby_event *e = &ev.items[i];

        if (e->type == TBY_EVENT_SYNCED) {
            r->synced++;
            log_add(r, "SYNCED\n");
        } else {
            log_add(r, "%s %s\n", e->type == TBY_EVENT_PUT ? "PUT" : "DEL", e->kv.key);
        }
        if (e->res) {
            assert_null(e->kv.value);
            r->decoded++;
            tby_resource_free(r->last);
            r->last = TBY_STEAL(ev.items[i].res);
        }
    }
    tby_event_list_clear(&ev);
}

#define UNTIL(r, done)                                                                  \
    do {                                                                                \
        int64_t until_ = kapi_now_ms() + DEADLINE_MS;                                   \
        while (!(done)) {                                                               \
            if (kapi_now_ms() > until_)                                                 \
                fail_msg("not reached: %s; told:\n%s", #done, (r)->log);                \
            turn((r), 100);                                                             \
        }                                                                               \
    } while (0)

/* How many lines of the log are `line`. */
static int told(const struct run *r, const char *line)
{
    size_t len = strlen(line);
    int n = 0;

    for (const char *p = r->log; (p = strstr(p, line)); p += len)
        if ((p == r->log || p[-1] == '\n') && p[len] == '\n')
            n++;
    return n;
}

/* Forgets what was told so far. */
static void log_reset(struct run *r)
{
    r->log[0] = '\0';
    r->synced = 0;
}

static int lines(const struct run *r)
{
    int n = 0;

    for (const char *p = r->log; *p; p++)
        n += *p == '\n';
    return n;
}

static void pool(struct run *r, const char *name, const char *cidr, bool nat)
{
    char yaml[256];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
             "metadata: {name: %s}\nspec: {cidr: %s, natOutgoing: %s}\n", name, cidr,
             nat ? "true" : "false");
    store_fx_apply(r->admin, yaml);
}

static void gnp(struct run *r, const char *name)
{
    char yaml[256];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\n"
             "kind: GlobalNetworkPolicy\nmetadata: {name: %s}\n"
             "spec: {selector: all(), types: [Ingress]}\n", name);
    store_fx_apply(r->admin, yaml);
}

static void delete(struct run *r, enum tby_kind kind, const char *name)
{
    struct tby_error err = { 0 };

    if (tby_catalog_delete_one(r->admin, tby_kind_info(kind), NULL, name, &err) < 0)
        fail_msg("%s: %s", name, tby_error_str(&err));
}

/* Waits until the server has logged at least n requests of the user's after `since` with
 * this verb and resource (a request is logged once answered, just after its answer). */
static int logged_at_least(long since, const char *verb, const char *resource, int n)
{
    int64_t until = kapi_now_ms() + DEADLINE_MS;
    int got;

    while ((got = kapi_count(&api, since, KAPI_USER, verb, resource)) < n &&
           kapi_now_ms() < until)
        usleep(20 * 1000);
    return got;
}

static void test_lists_each_type_once_then_changes_come_through_the_watch(void **state)
{
    const char *prefixes[] = { POOLS "w1-", GNPS };
    struct tby_store_stats at_open, at_sync, now;
    struct run r;
    long mark;

    (void)state;
    run_open(&r, prefixes, 2);
    at_open = tby_store_stats(r.store);
    assert_int_equal(at_open.ranges + at_open.watches + at_open.gets, 0);
    UNTIL(&r, r.synced == 1);
    UNTIL(&r, tby_store_stats(r.store).watches == 2 && tby_store_sync_online(r.sync) &&
                  kapi_watches(&api, KAPI_USER, NULL) == 2);
    at_sync = tby_store_stats(r.store);
    /* one LIST of each type behind the prefixes, a page each */
    assert_int_equal(at_sync.ranges, 2);
    assert_int_equal(tby_store_sync_stats(r.sync)->lists, 1);
    mark = kapi_seq(&api);
    log_reset(&r);

    pool(&r, "w1-a", "10.61.0.0/16", false);
    UNTIL(&r, told(&r, "PUT " POOLS "w1-a") == 1);
    pool(&r, "x1-b", "10.62.0.0/16", false); /* outside the prefix: never told */
    pool(&r, "w1-a", "10.61.0.0/16", true);
    UNTIL(&r, told(&r, "PUT " POOLS "w1-a") == 2);
    delete(&r, TBY_KIND_IPPOOL, "w1-a");
    gnp(&r, "w1-deny");
    UNTIL(&r, told(&r, "DEL " POOLS "w1-a") == 1 && told(&r, "PUT " GNPS "w1-deny") == 1);
    assert_int_equal(told(&r, "PUT " POOLS "x1-b"), 0);
    delete(&r, TBY_KIND_IPPOOL, "x1-b");
    delete(&r, TBY_KIND_GLOBALNETWORKPOLICY, "w1-deny");
    UNTIL(&r, told(&r, "DEL " GNPS "w1-deny") == 1);
    assert_int_equal(lines(&r), 5);

    now = tby_store_stats(r.store);
    assert_int_equal(now.ranges, at_sync.ranges);
    assert_int_equal(now.watches, at_sync.watches);
    assert_int_equal(now.gets, 0);
    assert_int_equal(now.commits, 0);
    /* and the server saw no request of the user's but the two watches still open */
    assert_int_equal(kapi_count(&api, mark, KAPI_USER, NULL, NULL), 0);
    assert_int_equal(tby_store_sync_stats(r.sync)->lists, 1);
    assert_int_equal(r.errors, 0);
    run_close(&r);
}

/* The pools' watch is cut and every new one refused while pools change and the history
 * is compacted: its next watch meets 410 Expired, the informer lists pools again (and
 * only pools), and what changed meanwhile is told exactly once. */
static void test_410_relists_that_type_alone_and_tells_each_change_once(void **state)
{
    const char *prefixes[] = { POOLS "w2-", GNPS "w2-" };
    struct tby_store_stats before, after;
    _cleanup_json_ json_t *a = NULL, *b = NULL, *c = NULL;
    struct run r;
    long mark;
    int lists;

    (void)state;
    run_open(&r, prefixes, 2);
    pool(&r, "w2-a", "10.71.0.0/16", false);
    pool(&r, "w2-b", "10.72.0.0/16", false);
    pool(&r, "w2-keep", "10.73.0.0/16", false);
    UNTIL(&r, r.synced == 1 && tby_store_stats(r.store).watches == 2 &&
                  tby_store_sync_online(r.sync) && kapi_watches(&api, KAPI_USER, NULL) == 2);
    assert_int_equal(lines(&r), 4);
    before = tby_store_stats(r.store);
    mark = kapi_seq(&api);
    log_reset(&r);

    a = kapi_control(&api, "POST", "/_test/faults",
                     "{\"verb\": \"watch\", \"path\": \"ippools\", \"user\": \"" KAPI_USER
                     "\", \"reset\": true, \"times\": 0}");
    b = kapi_control(&api, "POST", "/_test/watches/drop",
                     "{\"path\": \"ippools\", \"reset\": true}");
    assert_true(json_integer_value(json_object_get(b, "dropped")) >= 1);
    UNTIL(&r, !tby_store_sync_online(r.sync));
    assert_true(r.errors >= 1);
    assert_string_not_equal(tby_store_sync_stats(r.sync)->last_error, "");
    pool(&r, "w2-a", "10.71.0.0/16", true);
    delete(&r, TBY_KIND_IPPOOL, "w2-b");
    pool(&r, "w2-c", "10.74.0.0/16", false);
    gnp(&r, "w2-deny"); /* the other type's watch goes on */
    c = kapi_control(&api, "POST", "/_test/compact", "{}");
    json_decref(kapi_control(&api, "DELETE", "/_test/faults", NULL));

    UNTIL(&r, r.synced == 1 && told(&r, "PUT " GNPS "w2-deny") == 1 &&
                  tby_store_sync_online(r.sync));
    /* each change once, nothing else; the marker after the pools' new listing */
    assert_int_equal(told(&r, "PUT " POOLS "w2-a"), 1);
    assert_int_equal(told(&r, "DEL " POOLS "w2-b"), 1);
    assert_int_equal(told(&r, "PUT " POOLS "w2-c"), 1);
    assert_int_equal(told(&r, "SYNCED"), 1);
    assert_int_equal(lines(&r), 5);
    assert_non_null(strstr(r.log, "PUT " POOLS "w2-c\n"));
    assert_true(strstr(r.log, "SYNCED\n") > strstr(r.log, "PUT " POOLS "w2-c\n"));
    assert_int_equal(tby_store_sync_stats(r.sync)->lists, 2);
    assert_string_equal(tby_store_sync_stats(r.sync)->last_error, "");

    /* the informer listed pools once more, and nothing else */
    lists = logged_at_least(mark, "list", "ippools", 1);
    after = tby_store_stats(r.store);
    assert_int_equal(lists, 1);
    assert_int_equal(kapi_count(&api, mark, KAPI_USER, "list", NULL), 1);
    assert_int_equal(after.ranges - before.ranges, 1);
    assert_int_equal(after.gets, 0);
    run_close(&r);
}

/* A watch the server ends (as at its timeout) is opened again at once, one cut
 * mid-stream after a pause; neither lists again, and a change made afterwards comes. */
static void test_dropped_watch_comes_back_without_a_list(void **state)
{
    const char *prefixes[] = { POOLS "w3-" };
    struct tby_store_stats before, after;
    _cleanup_json_ json_t *a = NULL, *b = NULL;
    struct run r;
    long mark;

    (void)state;
    run_open(&r, prefixes, 1);
    UNTIL(&r, r.synced == 1 && tby_store_stats(r.store).watches == 1 &&
                  tby_store_sync_online(r.sync) && kapi_watches(&api, KAPI_USER, NULL) == 1);
    before = tby_store_stats(r.store);
    mark = kapi_seq(&api);

    a = kapi_control(&api, "POST", "/_test/watches/drop", "{\"path\": \"ippools\"}");
    assert_true(json_integer_value(json_object_get(a, "dropped")) >= 1);
    UNTIL(&r, tby_store_stats(r.store).watches == before.watches + 1);
    pool(&r, "w3-a", "10.81.0.0/16", false);
    UNTIL(&r, told(&r, "PUT " POOLS "w3-a") == 1 && kapi_watches(&api, KAPI_USER, NULL) == 1);
    assert_int_equal(r.errors, 0);

    b = kapi_control(&api, "POST", "/_test/watches/drop",
                     "{\"path\": \"ippools\", \"reset\": true}");
    assert_true(json_integer_value(json_object_get(b, "dropped")) >= 1);
    UNTIL(&r, tby_store_stats(r.store).watches == before.watches + 2);
    pool(&r, "w3-b", "10.82.0.0/16", false);
    delete(&r, TBY_KIND_IPPOOL, "w3-a");
    UNTIL(&r, told(&r, "PUT " POOLS "w3-b") == 1 && told(&r, "DEL " POOLS "w3-a") == 1 &&
                  tby_store_sync_online(r.sync));
    assert_string_equal(tby_store_sync_stats(r.sync)->last_error, "");

    after = tby_store_stats(r.store);
    assert_int_equal(after.ranges, before.ranges);
    assert_int_equal(after.watches - before.watches, 2);
    assert_int_equal(kapi_count(&api, mark, KAPI_USER, "list", NULL), 0);
    assert_int_equal(tby_store_sync_stats(r.sync)->lists, 1);
    assert_int_equal(told(&r, "SYNCED"), 1);
    delete(&r, TBY_KIND_IPPOOL, "w3-b");
    run_close(&r);
}

/* Asked for decoded values, the sync hands each PUT over as the resource its text decodes
 * to (the node's syncer then never parses what the store converted); not asked, as text. */
static void test_decoded_sync_hands_over_resources_not_text(void **state)
{
    const char *prefixes[] = { POOLS "w4-" };
    struct tby_resource *res;
    struct run r;

    (void)state;
    run_open(&r, prefixes, 1);
    tby_store_sync_decoded(r.sync);
    pool(&r, "w4-a", "10.91.0.0/16", false);
    UNTIL(&r, r.synced == 1 && told(&r, "PUT " POOLS "w4-a") == 1);
    pool(&r, "w4-a", "10.91.0.0/16", true);
    UNTIL(&r, told(&r, "PUT " POOLS "w4-a") == 2);
    assert_int_equal(r.decoded, 2);
    res = r.last;
    assert_int_equal(res->info->kind, TBY_KIND_IPPOOL);
    assert_string_equal(res->meta.name, "w4-a");
    assert_true(res->meta.resource_version > 0);
    assert_true(res->spec.ippool->nat_outgoing);
    assert_int_equal(res->spec.ippool->block_size, 26);
    run_close(&r);

    run_open(&r, prefixes, 1);
    UNTIL(&r, r.synced == 1 && told(&r, "PUT " POOLS "w4-a") == 1);
    assert_int_equal(r.decoded, 0);
    delete(&r, TBY_KIND_IPPOOL, "w4-a");
    run_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_each_type_once_then_changes_come_through_the_watch),
        cmocka_unit_test(test_410_relists_that_type_alone_and_tells_each_change_once),
        cmocka_unit_test(test_dropped_watch_comes_back_without_a_list),
        cmocka_unit_test(test_decoded_sync_hands_over_resources_not_text),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
