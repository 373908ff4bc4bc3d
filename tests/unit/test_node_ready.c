/* test_node_ready.c — what /readiness says: the datastore's state first (its file missing,
 * not read yet, unreachable), then the first part in the table's order that is not ready,
 * then, for a ready node, what is degraded; the real table's order (registration before
 * the policy, the routes and BIRD); and that a part that does not run yet has no say in
 * when the loop wakes. Parts are stand-ins here, so that every state can be set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node_fixture.h"

/* A stand-in part: says what the test sets. */
struct fake {
    const char *name;
    bool absent;              /* no place in this configuration: start leaves no state */
    bool not_ready, degraded;
    int runs;
};

static struct fake fakes[3] = { { .name = "a" }, { .name = "b" }, { .name = "c" } };

#define FAKE_START(i)                                                              \
    static int start_##i(struct node *n, void **state, struct tby_error *err)      \
    {                                                                              \
        if (!fakes[i].absent)                                                      \
            *state = &fakes[i];                                                    \
        return 0;                                                                  \
    }
FAKE_START(0)
FAKE_START(1)
FAKE_START(2)

static void fake_stop(void *state)
{
}

static bool fake_ready(const void *state, char *why, size_t size)
{
    const struct fake *f = state;

    if (f->not_ready)
        snprintf(why, size, "%s not ready", f->name);
    return !f->not_ready;
}

static bool fake_degraded(const void *state, char *why, size_t size)
{
    const struct fake *f = state;

    if (f->degraded)
        snprintf(why, size, "%s works in part", f->name);
    return f->degraded;
}

static void fake_run(void *state, const struct node *n)
{
    ((struct fake *)state)->runs++;
}

/* Wants to run at once, always. */
static int fake_timeout_ms(const void *state)
{
    return 0;
}

#define FAKE_PART(i)                                                                  \
    {                                                                                 \
        .name = "fake", .start = start_##i, .stop = fake_stop, .ready = fake_ready,   \
        .degraded = fake_degraded, .run = fake_run, .timeout_ms = fake_timeout_ms,    \
    }
static const struct node_part fake_parts[3] = { FAKE_PART(0), FAKE_PART(1), FAKE_PART(2) };

static int setup(void **state)
{
    struct node_fixture *f = calloc(1, sizeof(*f));

    for (int i = 0; i < 3; i++)
        fakes[i] = (struct fake){ .name = fakes[i].name };
    fixture_init(f, NULL);
    for (int i = 0; i < 3; i++)
        f->table[i] = &fake_parts[i];
    f->n.n_parts = 3;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_stop(*state);
    free(*state);
    return 0;
}

/* The datastore's file moved away, and back. */
static void move_db(struct node_fixture *f, bool away)
{
    char db[160], moved[160];

    snprintf(db, sizeof(db), "%s/tabby.db", f->store.dir);
    snprintf(moved, sizeof(moved), "%s/away.db", f->store.dir);
    assert_int_equal(away ? rename(db, moved) : rename(moved, db), 0);
}

static void away(struct node_fixture *f)
{
    move_db(f, true);
}

static void back(struct node_fixture *f)
{
    move_db(f, false);
}

/* What /readiness says: "ready", "ready: WHY" or "not ready: WHY". */
static const char *says(struct node_fixture *f)
{
    static char line[600];
    char why[512];

    if (node_ready(&f->n, why, sizeof(why)))
        snprintf(line, sizeof(line), "ready%s%s", why[0] ? ": " : "", why);
    else
        snprintf(line, sizeof(line), "not ready: %s", why);
    return line;
}

static void test_datastore_comes_first(void **state)
{
    struct node_fixture *f = *state;
    char want[256];

    fakes[0].not_ready = true;
    /* before the datastore is open: a node waiting for its missing file */
    f->n.name = f->n.cfg.v[NODE_NODENAME];
    snprintf(want, sizeof(want), "not ready: datastore file missing, waiting for it: %s",
             f->store.uri);
    assert_string_equal(says(f), want);
    fixture_start(f, NULL);
    assert_string_equal(says(f), "not ready: datastore not read yet");
    assert_int_equal(fakes[0].runs, 0); /* nothing acts before the first read */
    node_turn(&f->n, 0);
    assert_int_equal(fakes[0].runs, 1);
    assert_string_equal(says(f), "not ready: a not ready");
    /* the datastore away: said first, whatever the parts say */
    away(f);
    node_turn(&f->n, 0);
    back(f);
    if (!strstr(says(f), "not ready: datastore unreachable: ") || !strstr(says(f), "moved"))
        fail_msg("says: %s", says(f));
}

static void test_first_part_not_ready_in_table_order_is_named(void **state)
{
    struct node_fixture *f = *state;

    fixture_start(f, NULL);
    node_turn(&f->n, 0);
    assert_string_equal(says(f), "ready");
    fakes[1].not_ready = fakes[2].not_ready = true;
    assert_string_equal(says(f), "not ready: b not ready");
    fakes[0].not_ready = true;
    assert_string_equal(says(f), "not ready: a not ready");
}

static void test_part_without_a_place_has_no_say(void **state)
{
    struct node_fixture *f = *state;

    fakes[1].absent = fakes[1].not_ready = true;
    fixture_start(f, NULL);
    node_turn(&f->n, 0);
    assert_null(f->n.state[1]);
    assert_string_equal(says(f), "ready");
    assert_int_equal(fakes[1].runs, 0);
}

static void test_ready_node_says_what_is_degraded(void **state)
{
    struct node_fixture *f = *state;

    fixture_start(f, NULL);
    node_turn(&f->n, 0);
    fakes[2].degraded = true;
    assert_string_equal(says(f), "ready: degraded: c works in part");
    fakes[1].degraded = true;
    assert_string_equal(says(f), "ready: degraded: b works in part");
    fakes[0].not_ready = true; /* not ready outweighs degraded */
    assert_string_equal(says(f), "not ready: a not ready");
}

static void test_part_that_does_not_run_yet_does_not_wake_the_loop(void **state)
{
    struct node_fixture *f = *state;
    int64_t retry_at;

    fixture_start(f, NULL);
    /* the datastore never read: the parts (which want to run at once) do not run, and the
     * loop sleeps until the datastore's next retry instead of spinning on their wish */
    away(f);
    node_turn(&f->n, 0);
    retry_at = node_now_ms() + tby_syncer_timeout_ms(f->n.syncer);
    node_turn(&f->n, 5000);
    back(f);
    assert_int_equal(fakes[0].runs, 0);
    assert_true(node_now_ms() >= retry_at);
}

static void test_not_ready_says_yet_before_a_first_attempt_and_why_after(void **state)
{
    char why[64];

    assert_false(node_not_ready(why, sizeof(why), "policy not programmed", ""));
    assert_string_equal(why, "policy not programmed yet");
    assert_false(node_not_ready(why, sizeof(why), "policy not programmed", NULL));
    assert_string_equal(why, "policy not programmed yet");
    assert_false(node_not_ready(why, sizeof(why), "node not registered", "no address"));
    assert_string_equal(why, "node not registered: no address");
}

/* The real table, in the order /readiness asks: the FelixConfiguration's settings before
 * the parts that read them, the nodename file, ClusterInformation and the default IP pools
 * before anything that programs, the node's registration before the policy, the routes and BIRD (made from
 * every node's Node), the interfaces' addresses before the policy that resolves host
 * endpoints by them, the denied flows after the policy that names their denies, the
 * NetworkUnavailable condition after all those; the pid file first
 * (so that it goes last), the HTTP server last. Only those two and the CNI plugins' token
 * (which needs the API alone) start before the datastore. */
static void test_real_table_orders_parts_by_dependency(void **state)
{
    const char *want[] = { "pidfile",  "felix",   "cni-token", "nodename", "clusterinfo",
                           "pools",    "register", "host-addrs", "policy", "flows", "routes", "bgp",
                           "housekeeping", "condition", "http" };

    assert_int_equal(node_n_parts, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < node_n_parts; i++) {
        assert_string_equal(node_parts[i]->name, want[i]);
        assert_int_equal(node_parts[i]->early, i == 0 || i == 2 || i == node_n_parts - 1);
        assert_non_null(node_parts[i]->start);
        assert_non_null(node_parts[i]->stop);
    }
    assert_non_null(fixture_part("register")->ready);
    assert_non_null(fixture_part("policy")->ready);
    assert_non_null(fixture_part("routes")->ready);
    assert_non_null(fixture_part("clusterinfo")->ready);
}

/* The policy engine in --dump mode (no kernel): not programmed yet. */
static void test_policy_not_programmed_yet(void **state)
{
    struct node_fixture f = { 0 };
    const char *policy[] = { "policy", NULL };

    fixture_init(&f, (const char *[]){ "--dump", NULL });
    fixture_start(&f, policy);
    node_turn(&f.n, 0);
    assert_string_equal(says(&f), "not ready: policy not programmed yet");
    fixture_stop(&f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_datastore_comes_first),
        T(test_first_part_not_ready_in_table_order_is_named),
        T(test_part_without_a_place_has_no_say),
        T(test_ready_node_says_what_is_degraded),
        T(test_part_that_does_not_run_yet_does_not_wake_the_loop),
        cmocka_unit_test(test_not_ready_says_yet_before_a_first_attempt_and_why_after),
        cmocka_unit_test(test_real_table_orders_parts_by_dependency),
        cmocka_unit_test(test_policy_not_programmed_yet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
