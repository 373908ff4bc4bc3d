/* test_store.c — the datastore contract, run against the sqlite backend (and, when
 * TABBY_TEST_STORE names another URI, against that one: the same tests, unchanged). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "tabby/cleanup.h"
#include "tabby/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    struct store_fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    store_fx_open(f, "store", true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    store_fx_close(*state);
    free(*state);
    return 0;
}

static char *key(struct store_fx *f, const char *name)
{
    static char buf[4][128];
    static int slot;

    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof(buf[slot]), "%s%s", f->prefix, name);
    return buf[slot];
}

static void test_put_then_get_returns_value_and_revisions(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    int64_t rev1, rev2;

    assert_int_equal(tby_store_put(f->store, key(f, "a"), "one", 3, &rev1, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "a"), "two", 3, &rev2, &err), 0);
    assert_true(rev2 > rev1);
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &kv, &err), 0);
    assert_string_equal(kv.value, "two");
    assert_int_equal(kv.value_len, 3);
    assert_int_equal(kv.create_rev, rev1);
    assert_int_equal(kv.mod_rev, rev2);
    assert_int_equal(kv.version, 2);
    tby_kv_clear(&kv);
}

static void test_release_memory_keeps_what_is_stored(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    int64_t rev;

    assert_int_equal(tby_store_put(f->store, key(f, "a"), "one", 3, &rev, &err), 0);
    tby_store_release_memory(f->store);
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &kv, &err), 0);
    assert_string_equal(kv.value, "one");
    tby_kv_clear(&kv);
    tby_store_release_memory(f->store);
    assert_int_equal(tby_store_put(f->store, key(f, "a"), "two", 3, &rev, &err), 0);
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &kv, &err), 0);
    assert_string_equal(kv.value, "two");
    assert_int_equal(kv.mod_rev, rev);
    tby_kv_clear(&kv);
}

static void test_get_missing_key_is_enoent(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv kv;

    assert_int_equal(tby_store_get(f->store, key(f, "nothing"), &kv, &err), -ENOENT);
    assert_int_equal(tby_store_delete(f->store, key(f, "nothing"), NULL, &err), -ENOENT);
}

static void test_range_returns_prefix_sorted_and_nothing_else(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv_list list;
    int64_t rev;

    assert_int_equal(tby_store_put(f->store, key(f, "pool/b"), "2", 1, NULL, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "pool/a"), "1", 1, NULL, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "poolx"), "x", 1, NULL, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "pool0"), "0", 1, &rev, &err), 0);
    assert_int_equal(tby_store_range(f->store, key(f, "pool/"), &list, &err), 0);
    assert_int_equal(list.n, 2);
    assert_string_equal(list.items[0].key, key(f, "pool/a"));
    assert_string_equal(list.items[1].key, key(f, "pool/b"));
    assert_true(list.rev >= rev);
    tby_kv_list_clear(&list);
}

static void test_cas_on_stale_revision_fails_and_writes_nothing(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    int64_t rev;

    assert_int_equal(tby_store_cas(f->store, key(f, "k"), 0, "v1", 2, &rev, &err), 0);
    /* Creating again with "must not exist" fails. */
    assert_int_equal(tby_store_cas(f->store, key(f, "k"), 0, "v2", 2, NULL, &err), -ECANCELED);
    assert_int_equal(tby_store_cas(f->store, key(f, "k"), rev, "v3", 2, NULL, &err), 0);
    /* rev is stale now. */
    assert_int_equal(tby_store_cas(f->store, key(f, "k"), rev, "v4", 2, NULL, &err), -ECANCELED);
    assert_int_equal(tby_store_get(f->store, key(f, "k"), &kv, &err), 0);
    assert_string_equal(kv.value, "v3");
    tby_kv_clear(&kv);
}

static void test_txn_with_failing_compare_writes_nothing(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    struct tby_kv kv;
    int64_t rev_before, rev_after;

    assert_int_equal(tby_store_put(f->store, key(f, "guard"), "g", 1, NULL, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "victim"), "keep", 4, NULL, &err), 0);
    assert_int_equal(tby_store_revision(f->store, &rev_before, &err), 0);
    tby_txn_compare(txn, key(f, "guard"), rev_before + 1000); /* wrong on purpose */
    tby_txn_put(txn, key(f, "new"), "n", 1);
    tby_txn_delete(txn, key(f, "victim"));
    assert_int_equal(tby_store_commit(f->store, txn, NULL, &err), -ECANCELED);
    assert_int_equal(tby_store_get(f->store, key(f, "new"), &kv, &err), -ENOENT);
    assert_int_equal(tby_store_get(f->store, key(f, "victim"), &kv, &err), 0);
    assert_string_equal(kv.value, "keep");
    tby_kv_clear(&kv);
    assert_int_equal(tby_store_revision(f->store, &rev_after, &err), 0);
    assert_int_equal(rev_after, rev_before);
}

static void test_txn_applies_all_ops_at_one_revision(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    struct tby_kv a, b;
    int64_t rev;

    tby_txn_compare(txn, key(f, "a"), 0);
    tby_txn_put(txn, key(f, "a"), "A", 1);
    tby_txn_put(txn, key(f, "b"), "B", 1);
    assert_int_equal(tby_store_commit(f->store, txn, &rev, &err), 0);
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &a, &err), 0);
    assert_int_equal(tby_store_get(f->store, key(f, "b"), &b, &err), 0);
    assert_int_equal(a.mod_rev, rev);
    assert_int_equal(b.mod_rev, rev);
    tby_kv_clear(&a);
    tby_kv_clear(&b);
}

/* A compare over a prefix holds while no key under it was created or changed after the
 * revision given, an empty prefix included; a deleted key does not fail it (a compare of
 * that key does). */
static bool prefix_holds(struct store_fx *f, const char *prefix, int64_t rev)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    struct tby_error err = { 0 };
    int r;

    assert_int_equal(tby_txn_compare_prefix(txn, prefix, rev), 0);
    assert_int_equal(tby_txn_put(txn, key(f, "out/marker"), "m", 1), 0);
    r = tby_store_commit(f->store, txn, NULL, &err);
    assert_true(r == 0 || r == -ECANCELED);
    return r == 0;
}

static void test_txn_prefix_compare_fails_on_any_newer_key_under_it(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    int64_t rev;

    assert_true(prefix_holds(f, key(f, "in/"), 0));
    assert_int_equal(tby_store_put(f->store, key(f, "in/a"), "a", 1, NULL, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "in/b"), "b", 1, &rev, &err), 0);
    assert_true(prefix_holds(f, key(f, "in/"), rev));
    assert_false(prefix_holds(f, key(f, "in/"), rev - 1));
    assert_int_equal(tby_store_put(f->store, key(f, "inside"), "x", 1, NULL, &err), 0);
    assert_true(prefix_holds(f, key(f, "in/"), rev));
    assert_int_equal(tby_store_put(f->store, key(f, "in/c"), "c", 1, NULL, &err), 0);
    assert_false(prefix_holds(f, key(f, "in/"), rev));
    assert_int_equal(tby_store_revision(f->store, &rev, &err), 0);
    assert_int_equal(tby_store_delete(f->store, key(f, "in/a"), NULL, &err), 0);
    assert_true(prefix_holds(f, key(f, "in/"), rev));
}

static void test_txn_naming_a_key_twice_is_refused(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

    tby_txn_put(txn, key(f, "dup"), "1", 1);
    tby_txn_delete(txn, key(f, "dup"));
    assert_int_equal(tby_store_commit(f->store, txn, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
}

/* A store opened with single_object takes what the Kubernetes API can do in one request
 * and refuses every other commit, writing nothing. */
static void test_single_object_store_takes_only_one_key_per_commit(void **state)
{
    struct store_fx *f = *state;
    struct tby_store_options opts = { .single_object = true };
    _cleanup_(tby_store_closep) struct tby_store *single = NULL;
    struct tby_error err = { 0 };
    struct tby_kv kv;
    int64_t rev = 0;

    tby_store_options_from_env(&opts);
    opts.single_object = true;
    assert_int_equal(tby_store_open_options(f->uri, &opts, &single, &err), 0);
    assert_true(tby_store_has_multi_txn(f->store));
    assert_false(tby_store_has_multi_txn(single));
    assert_int_equal(tby_store_put(single, key(f, "a"), "1", 1, &rev, &err), 0);
    assert_int_equal(tby_store_cas(single, key(f, "a"), rev, "2", 1, &rev, &err), 0);
    assert_int_equal(tby_store_cas(single, key(f, "b"), 0, "3", 1, NULL, &err), 0);
    assert_int_equal(tby_store_delete(single, key(f, "b"), NULL, &err), 0);
    {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

        tby_txn_put(txn, key(f, "a"), "4", 1);
        tby_txn_put(txn, key(f, "c"), "5", 1);
        assert_int_equal(tby_store_commit(single, txn, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "no multi-object transactions"));
    }
    {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

        tby_txn_compare(txn, key(f, "c"), 0);
        tby_txn_put(txn, key(f, "a"), "6", 1);
        assert_int_equal(tby_store_commit(single, txn, NULL, &err), -EINVAL);
    }
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &kv, &err), 0);
    assert_string_equal(kv.value, "2");
    tby_kv_clear(&kv);
    assert_int_equal(tby_store_get(f->store, key(f, "c"), &kv, &err), -ENOENT);
}

/* Each child opens its own connection, as separate processes do. */
static void cas_increment_worker(const char *uri, const char *k, int rounds)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };

    if (tby_store_open(uri, &store, &err) < 0)
        _exit(2);
    for (int i = 0; i < rounds; i++) {
        for (;;) {
            struct tby_kv kv;
            char buf[32];
            long n = 0;
            int64_t mod = 0;
            int r = tby_store_get(store, k, &kv, &err);

            if (r == 0) {
                n = strtol(kv.value, NULL, 10);
                mod = kv.mod_rev;
                tby_kv_clear(&kv);
            } else if (r != -ENOENT) {
                _exit(3);
            }
            snprintf(buf, sizeof(buf), "%ld", n + 1);
            r = tby_store_cas(store, k, mod, buf, strlen(buf), NULL, &err);
            if (r == 0)
                break;
            if (r != -ECANCELED && r != -EAGAIN)
                _exit(4);
        }
    }
    tby_store_close(store);
    _exit(0);
}

static void test_concurrent_cas_increments_lose_no_update(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    enum { WORKERS = 4, ROUNDS = 150 };
    pid_t pids[WORKERS];
    struct tby_kv kv;

    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            cas_increment_worker(f->uri, key(f, "counter"), ROUNDS);
    }
    for (int i = 0; i < WORKERS; i++) {
        int status;

        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(tby_store_get(f->store, key(f, "counter"), &kv, &err), 0);
    assert_int_equal(strtol(kv.value, NULL, 10), WORKERS * ROUNDS);
    assert_int_equal(kv.version, WORKERS * ROUNDS);
    tby_kv_clear(&kv);
}

static void test_watch_sees_every_change_in_revision_order(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    struct tby_event_list events = { 0 };
    int64_t revs[6];
    pid_t pid;
    int status;

    assert_int_equal(tby_store_watch(f->store, key(f, "w/"), 0, &w, &err), 0);
    assert_true(tby_watch_fd(w) >= 0);
    /* Another process writes; the watch must see it all. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tby_store *other = NULL;
        char v[8];

        if (tby_store_open(f->uri, &other, &err) < 0)
            _exit(2);
        for (int i = 0; i < 5; i++) {
            snprintf(v, sizeof(v), "%d", i);
            if (tby_store_put(other, key(f, "w/x"), v, strlen(v), NULL, &err) < 0)
                _exit(3);
        }
        tby_store_put(other, key(f, "elsewhere"), "no", 2, NULL, &err);
        if (tby_store_delete(other, key(f, "w/x"), NULL, &err) < 0)
            _exit(4);
        tby_store_close(other);
        _exit(0);
    }
    while (events.n < 6) {
        size_t before = events.n;

        assert_int_equal(tby_watch_next(w, &events, 5000, &err), 0);
        assert_true(events.n > before);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(events.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(events.items[i].kv.key, key(f, "w/x"));
        revs[i] = events.items[i].kv.mod_rev;
        if (i > 0)
            assert_true(revs[i] > revs[i - 1]);
        if (i < 5) {
            char v[8];

            snprintf(v, sizeof(v), "%zu", i);
            assert_int_equal(events.items[i].type, TBY_EVENT_PUT);
            assert_string_equal(events.items[i].kv.value, v);
        }
    }
    assert_int_equal(events.items[5].type, TBY_EVENT_DELETE);
    tby_event_list_clear(&events);
    /* Nothing more is pending. */
    assert_int_equal(tby_watch_next(w, &events, 0, &err), 0);
    assert_int_equal(events.n, 0);
    tby_watch_free(w);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another process commits now and then, each from a connection of its own (as tabbyctl
 * does): p/00 holds the commit's number, done_ms[number] the time its commit returned. */
static void timed_writer(const char *uri, struct store_fx *f, int commits, int gap_ms,
                         int64_t *done_ms)
{
    struct tby_error err = { 0 };

    for (int i = 0; i < commits; i++) {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
        struct tby_store *store = NULL;
        char n[16];
        int64_t rev;

        usleep((useconds_t)gap_ms * 1000);
        snprintf(n, sizeof(n), "%d", i);
        if (!txn || tby_store_open(uri, &store, &err) < 0)
            _exit(2);
        if (tby_txn_put(txn, key(f, "p/00"), n, strlen(n)) < 0 ||
            tby_store_commit(store, txn, &rev, &err) < 0)
            _exit(3);
        __atomic_store_n(&done_ms[i], mono_ms(), __ATOMIC_RELEASE);
        tby_store_close(store);
    }
    _exit(0);
}

/* A daemon waits on the watch's descriptor and then reads: every commit must wake it
 * promptly, even when the inotify event of the commit's WAL write woke it before the
 * commit was visible (sqlite publishes a commit through shared memory, without an event;
 * the watch then read nothing and slept until the next commit or its one-second safety
 * poll). */
static void test_watch_wakes_promptly_for_every_commit(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    enum { COMMITS = 8, GAP_MS = 300, PROMPT_MS = 150 };
    int64_t seen_ms[COMMITS] = { 0 }, worst = 0, *done_ms;
    int64_t give_up = mono_ms() + COMMITS * GAP_MS + 10000;
    size_t seen = 0;
    pid_t pid;
    int status;

    if (!store_fx_is_sqlite(f))
        skip();
    done_ms = mmap(NULL, COMMITS * sizeof(*done_ms), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(done_ms != MAP_FAILED);
    assert_int_equal(tby_store_watch(f->store, key(f, "p/"), 0, &w, &err), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        timed_writer(f->uri, f, COMMITS, GAP_MS, done_ms);
    while (seen < COMMITS && mono_ms() < give_up) {
        struct pollfd pfd = { .fd = tby_watch_fd(w), .events = POLLIN };
        struct tby_event_list events = { 0 };

        assert_true(poll(&pfd, 1, 1000) >= 0);
        assert_int_equal(tby_watch_next(w, &events, 0, &err), 0);
        for (size_t i = 0; i < events.n; i++) {
            long n = strtol(events.items[i].kv.value, NULL, 10);

            assert_true(n >= 0 && n < COMMITS);
            seen_ms[n] = mono_ms();
            seen++;
        }
        tby_event_list_clear(&events);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(seen, COMMITS);
    for (int i = 0; i < COMMITS; i++) {
        int64_t late = seen_ms[i] - __atomic_load_n(&done_ms[i], __ATOMIC_ACQUIRE);

        worst = late > worst ? late : worst;
    }
    munmap(done_ms, COMMITS * sizeof(*done_ms));
    tby_watch_free(w);
    if (worst >= PROMPT_MS)
        fail_msg("a commit reached the watch %lld ms after it returned", (long long)worst);
}

static void test_watch_from_old_revision_replays_history(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    struct tby_event_list events = { 0 };
    int64_t first;

    assert_int_equal(tby_store_put(f->store, key(f, "h/1"), "a", 1, &first, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "h/2"), "b", 1, NULL, &err), 0);
    assert_int_equal(tby_store_watch(f->store, key(f, "h/"), first, &w, &err), 0);
    /* A deadline, not a guess: it returns once the history came (etcd: its thread's
     * stream, which a loaded machine may take seconds to connect). */
    assert_int_equal(tby_watch_next(w, &events, 10000, &err), 0);
    assert_int_equal(events.n, 2);
    assert_string_equal(events.items[0].kv.key, key(f, "h/1"));
    assert_string_equal(events.items[1].kv.key, key(f, "h/2"));
    tby_event_list_clear(&events);
    tby_watch_free(w);
}

static void test_watch_behind_compaction_reports_estale(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    struct tby_event_list events = { 0 };
    int64_t first, last;

    assert_int_equal(tby_store_put(f->store, key(f, "c/1"), "a", 1, &first, &err), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "c/1"), "b", 1, &last, &err), 0);
    assert_int_equal(tby_store_compact(f->store, last, &err), 0);
    assert_int_equal(tby_store_watch(f->store, key(f, "c/"), first, &w, &err), 0);
    assert_int_equal(tby_watch_next(w, &events, 10000, &err), -ESTALE); /* as above */
    tby_watch_free(w);
}

static void test_value_may_hold_nul_bytes(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv kv;

    assert_int_equal(tby_store_put(f->store, key(f, "bin"), "a\0b", 3, NULL, &err), 0);
    assert_int_equal(tby_store_get(f->store, key(f, "bin"), &kv, &err), 0);
    assert_int_equal(kv.value_len, 3);
    assert_memory_equal(kv.value, "a\0b", 3);
    tby_kv_clear(&kv);
}

static void test_local_file_of_each_uri_form(void **state)
{
    (void)state;
    assert_string_equal(tby_store_local_file("sqlite:/var/lib/tabby/tabby.db"),
                        "/var/lib/tabby/tabby.db");
    assert_string_equal(tby_store_local_file("/tmp/x.db"), "/tmp/x.db");
    assert_string_equal(tby_store_local_file("x.db"), "x.db");
    assert_null(tby_store_local_file("etcd:http://127.0.0.1:2379"));
    assert_null(tby_store_local_file("mysql:db"));
    assert_null(tby_store_local_file(""));
}

static void test_unknown_scheme_is_refused(void **state)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };

    (void)state;
    assert_int_equal(tby_store_open("redis:x", &store, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown scheme"));
}

/* sqlite only: a database file moved away is unreachable (not silently private) until it
 * is back, and nothing written meanwhile is lost or split between two files. */
static void test_sqlite_file_moved_away_is_unreachable_until_back(void **state)
{
    struct store_fx *f = *state;
    struct tby_error err = { 0 };
    struct tby_kv_list list = { 0 };
    char path[128], moved[160];

    if (!store_fx_is_sqlite(f))
        skip();
    snprintf(path, sizeof(path), "%s/tabby.db", f->dir);
    snprintf(moved, sizeof(moved), "%s/away.db", f->dir);
    assert_int_equal(tby_store_put(f->store, key(f, "a"), "one", 3, NULL, &err), 0);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(tby_store_put(f->store, key(f, "b"), "two", 3, NULL, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "moved or removed"));
    assert_int_equal(tby_store_range(f->store, f->prefix, &list, &err), -EAGAIN);
    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(tby_store_range(f->store, f->prefix, &list, &err), 0);
    assert_int_equal(list.n, 1);
    tby_kv_list_clear(&list);
}

/* A database of the first sqlite layout (values in kv, written again in changes) is moved
 * to the current one when opened: every key keeps its value and revisions, watches from
 * before resync (that history is compacted), and compaction keeps what keys point at. */
static void test_sqlite_first_layout_is_moved_on_open(void **state)
{
    struct store_fx *f = *state;
    struct tby_store *old = NULL;
    struct tby_watch *w = NULL;
    struct tby_error err = { 0 };
    struct tby_event_list events = { 0 };
    struct tby_kv kv;
    struct tby_kv_list list;
    char path[128], uri[160];
    sqlite3 *db;
    int64_t rev;

    if (!store_fx_is_sqlite(f))
        skip();
    snprintf(path, sizeof(path), "%s/first.db", f->dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE kv(key TEXT PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL,"
        "  mod_rev INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE changes(seq INTEGER PRIMARY KEY, rev INTEGER NOT NULL, key TEXT NOT NULL,"
        "  deleted INTEGER NOT NULL, value BLOB, create_rev INTEGER, version INTEGER);"
        "CREATE INDEX changes_by_rev ON changes(rev);"
        "CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO meta VALUES('rev', 3), ('compact_rev', 0);"
        "INSERT INTO kv VALUES('/m/a', 'A2', 1, 3, 2), ('/m/b', 'B', 2, 2, 1);"
        "INSERT INTO changes(rev, key, deleted, value, create_rev, version) VALUES"
        "  (1, '/m/a', 0, 'A1', 1, 1), (2, '/m/b', 0, 'B', 2, 1), (3, '/m/a', 0, 'A2', 1, 2);",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tby_store_open(uri, &old, &err), 0);
    assert_int_equal(tby_store_get(old, "/m/a", &kv, &err), 0);
    assert_string_equal(kv.value, "A2");
    assert_int_equal(kv.create_rev, 1);
    assert_int_equal(kv.mod_rev, 3);
    assert_int_equal(kv.version, 2);
    tby_kv_clear(&kv);
    assert_int_equal(tby_store_range(old, "/m/", &list, &err), 0);
    assert_int_equal(list.n, 2);
    assert_int_equal(list.rev, 3);
    assert_string_equal(list.items[1].value, "B");
    tby_kv_list_clear(&list);
    assert_int_equal(tby_store_watch(old, "/m/", 1, &w, &err), 0);
    assert_int_equal(tby_watch_next(w, &events, 0, &err), -ESTALE);
    tby_watch_free(w);
    assert_int_equal(tby_store_watch(old, "/m/", 4, &w, &err), 0);
    assert_int_equal(tby_store_put(old, "/m/b", "B2", 2, &rev, &err), 0);
    assert_int_equal(rev, 4);
    assert_int_equal(tby_watch_next(w, &events, 1000, &err), 0);
    assert_int_equal(events.n, 1);
    assert_string_equal(events.items[0].kv.value, "B2");
    tby_event_list_clear(&events);
    tby_watch_free(w);
    assert_int_equal(tby_store_compact(old, 4, &err), 0);
    assert_int_equal(tby_store_get(old, "/m/a", &kv, &err), 0);
    assert_string_equal(kv.value, "A2");
    tby_kv_clear(&kv);
    tby_store_close(old);
    /* opened again: nothing more to do */
    assert_int_equal(tby_store_open(uri, &old, &err), 0);
    assert_int_equal(tby_store_get(old, "/m/b", &kv, &err), 0);
    assert_string_equal(kv.value, "B2");
    tby_kv_clear(&kv);
    tby_store_close(old);
}

/* Commands that only look open with no_create: a sqlite file that is not there reads as
 * an empty store, refuses writes and is not made (nor its folder); one that exists opens
 * as usual. */
static void test_no_create_reads_missing_file_as_empty(void **state)
{
    struct store_fx *f = *state;
    struct tby_store_options opts = { .no_create = true };
    _cleanup_(tby_store_closep) struct tby_store *missing = NULL, *existing = NULL;
    struct tby_error err = { 0 };
    struct tby_kv_list list = { 0 };
    struct tby_kv kv;
    char dir[128], uri[200];
    struct stat st;
    int64_t rev = -1;

    if (!store_fx_is_sqlite(f))
        skip();
    snprintf(dir, sizeof(dir), "%s/not-yet", f->dir);
    snprintf(uri, sizeof(uri), "sqlite:%s/tabby.db", dir);
    assert_int_equal(tby_store_open_options(uri, &opts, &missing, &err), 0);
    assert_true(tby_store_missing(missing));
    assert_int_equal(tby_store_get(missing, key(f, "a"), &kv, &err), -ENOENT);
    assert_int_equal(tby_store_range(missing, f->prefix, &list, &err), 0);
    assert_int_equal(list.n, 0);
    assert_int_equal(tby_store_revision(missing, &rev, &err), 0);
    assert_int_equal(rev, 0);
    assert_int_equal(tby_store_put(missing, key(f, "a"), "1", 1, NULL, &err), -EROFS);
    assert_non_null(strstr(err.msg, "does not exist yet"));
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);

    assert_int_equal(tby_store_open_options(f->uri, &opts, &existing, &err), 0);
    assert_false(tby_store_missing(existing));
    assert_int_equal(tby_store_put(existing, key(f, "a"), "1", 1, NULL, &err), 0);
    assert_int_equal(tby_store_get(f->store, key(f, "a"), &kv, &err), 0);
    tby_kv_clear(&kv);
}

/* ---- list and watch: a sync --------------------------------------------------------- */

/* What a sync told, one event a line: "+NAME=VALUE", "-NAME", "synced" (NAME without the
 * fixture's prefix), appended to log. */
static void describe(struct store_fx *f, const struct tby_event_list *ev, char *log,
                     size_t size)
{
    size_t plen = strlen(f->prefix);

    for (size_t i = 0; i < ev->n; i++) {
        const struct tby_event *e = &ev->items[i];
        size_t len = strlen(log);

        if (e->type == TBY_EVENT_SYNCED)
            snprintf(log + len, size - len, "synced\n");
        else if (e->type == TBY_EVENT_PUT)
            snprintf(log + len, size - len, "+%s=%s\n", e->kv.key + plen, e->kv.value);
        else
            snprintf(log + len, size - len, "-%s\n", e->kv.key + plen);
    }
}

/* Reads the sync until `lines` events have come (within 5 s); their lines into log. */
static void sync_read(struct store_fx *f, struct tby_sync *y, size_t lines, char *log,
                      size_t size)
{
    struct tby_event_list ev = { 0 };
    struct tby_error err = { 0 };
    int64_t deadline = mono_ms() + 5000;

    log[0] = '\0';
    while (ev.n < lines && mono_ms() < deadline)
        if (tby_store_sync_next(y, &ev, 200, &err) < 0)
            fail_msg("%s", tby_error_str(&err));
    describe(f, &ev, log, size);
    assert_int_equal(ev.n, lines);
    tby_event_list_clear(&ev);
    /* nothing more is pending */
    assert_int_equal(tby_store_sync_next(y, &ev, 0, &err), 0);
    assert_int_equal(ev.n, 0);
}

static struct tby_sync *sync_of(struct store_fx *f, const char *a, const char *b)
{
    const char *prefixes[2] = { key(f, a), key(f, b) };
    struct tby_sync *y = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_store_sync_open(f->store, prefixes, b ? 2 : 1, &y, &err), 0);
    return y;
}

static void put(struct store_fx *f, const char *name, const char *value)
{
    assert_int_equal(tby_store_put(f->store, key(f, name), value, strlen(value), NULL, NULL),
                     0);
}

static void test_sync_lists_its_prefixes_then_synced_then_watches(void **state)
{
    struct store_fx *f = *state;
    _cleanup_(tby_store_sync_freep) struct tby_sync *y = NULL;
    char log[512];

    put(f, "b/1", "one");
    put(f, "a/1", "one");
    put(f, "c/1", "elsewhere");
    y = sync_of(f, "b/", "a/");
    assert_int_equal(tby_store_sync_fd(y), -1);
    assert_false(tby_store_sync_online(y));
    sync_read(f, y, 3, log, sizeof(log));
    assert_string_equal(log, "+a/1=one\n+b/1=one\nsynced\n");
    assert_true(tby_store_sync_online(y));
    assert_true(tby_store_sync_fd(y) >= 0);
    assert_true(tby_store_sync_timeout_ms(y) > 0);
    put(f, "c/2", "elsewhere");
    put(f, "a/2", "two");
    put(f, "b/1", "uno");
    assert_int_equal(tby_store_delete(f->store, key(f, "a/1"), NULL, NULL), 0);
    sync_read(f, y, 3, log, sizeof(log));
    assert_string_equal(log, "+a/2=two\n+b/1=uno\n-a/1\n");
    assert_int_equal(tby_store_sync_stats(y)->lists, 1);
    assert_string_equal(tby_store_sync_stats(y)->last_error, "");
}

static void test_sync_prefix_inside_another_adds_nothing(void **state)
{
    struct store_fx *f = *state;
    _cleanup_(tby_store_sync_freep) struct tby_sync *y = sync_of(f, "s/x/", "s/");
    char log[512];

    put(f, "s/x/1", "one");
    put(f, "s/y", "two");
    sync_read(f, y, 3, log, sizeof(log));
    assert_string_equal(log, "+s/x/1=one\n+s/y=two\nsynced\n");
}

/* A sync counts as reads: a range per prefix and one watch for the first listing, then
 * nothing but the watch, however much changes. */
static void test_sync_reads_only_to_list(void **state)
{
    struct store_fx *f = *state;
    _cleanup_(tby_store_sync_freep) struct tby_sync *y = sync_of(f, "r/", "q/");
    struct tby_store_stats before = tby_store_stats(f->store), now;
    char log[512];

    sync_read(f, y, 1, log, sizeof(log));
    now = tby_store_stats(f->store);
    assert_int_equal(now.ranges - before.ranges, 2);
    assert_int_equal(now.watches - before.watches, 1);
    for (int i = 0; i < 5; i++)
        put(f, "r/x", i % 2 ? "odd" : "even");
    sync_read(f, y, 5, log, sizeof(log));
    now = tby_store_stats(f->store);
    assert_int_equal(now.ranges - before.ranges, 2);
    assert_int_equal(now.watches - before.watches, 1);
    assert_int_equal(now.gets, before.gets);
    assert_int_equal(now.commits - before.commits, 5);
}

/* sqlite only (etcd does not cancel a watch that keeps up): compaction under a running
 * sync relists, and tells exactly what differs from what it told before. */
static void test_sync_relists_after_compaction_with_exact_differences(void **state)
{
    struct store_fx *f = *state;
    _cleanup_(tby_store_sync_freep) struct tby_sync *y = sync_of(f, "d/", NULL);
    char log[512];
    int64_t rev;

    if (!store_fx_is_sqlite(f))
        skip();
    put(f, "d/same", "1");
    put(f, "d/changed", "1");
    put(f, "d/gone", "1");
    put(f, "d/rewritten", "1");
    sync_read(f, y, 5, log, sizeof(log));
    put(f, "d/changed", "2");
    assert_int_equal(tby_store_delete(f->store, key(f, "d/gone"), NULL, NULL), 0);
    put(f, "d/new", "1");
    assert_int_equal(tby_store_delete(f->store, key(f, "d/rewritten"), NULL, NULL), 0);
    put(f, "d/rewritten", "1");
    assert_int_equal(tby_store_revision(f->store, &rev, NULL), 0);
    assert_int_equal(tby_store_compact(f->store, rev, NULL), 0);
    sync_read(f, y, 5, log, sizeof(log));
    /* same value, new revision: the key was written again, so it is told */
    assert_string_equal(log, "+d/changed=2\n+d/new=1\n+d/rewritten=1\n-d/gone\nsynced\n");
    assert_int_equal(tby_store_sync_stats(y)->lists, 2);
}

/* sqlite only: a store that cannot be reached (its folder moved away, as a volume not
 * mounted yet) makes the sync offline and back off; once it answers again, a relist
 * tells what changed meanwhile and nothing else. */
static void test_sync_offline_backs_off_then_relists(void **state)
{
    struct store_fx *f = *state;
    _cleanup_(tby_store_sync_freep) struct tby_sync *y = sync_of(f, "o/", NULL);
    _cleanup_(tby_store_closep) struct tby_store *away = NULL;
    struct tby_event_list ev = { 0 };
    struct tby_error err = { 0 };
    char moved[160], uri[200], log[512];
    int wait1, wait2;

    if (!store_fx_is_sqlite(f))
        skip();
    snprintf(moved, sizeof(moved), "%s.away", f->dir);
    snprintf(uri, sizeof(uri), "sqlite:%s/tabby.db", moved);
    put(f, "o/kept", "1");
    put(f, "o/gone", "1");
    sync_read(f, y, 3, log, sizeof(log));
    assert_int_equal(rename(f->dir, moved), 0);
    assert_int_equal(tby_store_sync_next(y, &ev, 0, &err), -EAGAIN);
    assert_false(tby_store_sync_online(y));
    assert_int_equal(tby_store_sync_fd(y), -1);
    assert_non_null(strstr(tby_store_sync_stats(y)->last_error, "moved or removed"));
    wait1 = tby_store_sync_timeout_ms(y);
    assert_true(wait1 > 0);
    usleep((useconds_t)wait1 * 1000 + 1000);
    assert_int_equal(tby_store_sync_next(y, &ev, 0, &err), -EAGAIN);
    wait2 = tby_store_sync_timeout_ms(y);
    assert_true(wait2 > wait1);
    assert_int_equal(tby_store_sync_stats(y)->errors, 2);
    assert_int_equal(ev.n, 0);
    /* written where the folder is now */
    assert_int_equal(tby_store_open(uri, &away, &err), 0);
    assert_int_equal(tby_store_delete(away, key(f, "o/gone"), NULL, NULL), 0);
    assert_int_equal(tby_store_put(away, key(f, "o/new"), "1", 1, NULL, NULL), 0);
    tby_store_close(TBY_STEAL(away));
    assert_int_equal(rename(moved, f->dir), 0);
    usleep((useconds_t)wait2 * 1000 + 1000);
    sync_read(f, y, 3, log, sizeof(log));
    assert_string_equal(log, "+o/new=1\n-o/gone\nsynced\n");
    assert_true(tby_store_sync_online(y));
    assert_string_equal(tby_store_sync_stats(y)->last_error, "");
}

static void test_sync_needs_a_prefix(void **state)
{
    struct store_fx *f = *state;
    struct tby_sync *y = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_store_sync_open(f->store, NULL, 0, &y, &err), -EINVAL);
    assert_null(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_lists_its_prefixes_then_synced_then_watches,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_prefix_inside_another_adds_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sync_reads_only_to_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_relists_after_compaction_with_exact_differences,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_offline_backs_off_then_relists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sync_needs_a_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_then_get_returns_value_and_revisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_memory_keeps_what_is_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_missing_key_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_returns_prefix_sorted_and_nothing_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas_on_stale_revision_fails_and_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_with_failing_compare_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_applies_all_ops_at_one_revision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_naming_a_key_twice_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_prefix_compare_fails_on_any_newer_key_under_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_object_store_takes_only_one_key_per_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_cas_increments_lose_no_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_sees_every_change_in_revision_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_wakes_promptly_for_every_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_from_old_revision_replays_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_behind_compaction_reports_estale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_may_hold_nul_bytes, setup, teardown),
        cmocka_unit_test(test_unknown_scheme_is_refused),
        cmocka_unit_test(test_local_file_of_each_uri_form),
        cmocka_unit_test_setup_teardown(test_no_create_reads_missing_file_as_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_file_moved_away_is_unreachable_until_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_first_layout_is_moved_on_open, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
