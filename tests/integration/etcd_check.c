/* etcd_check.c — small checks against a running etcd, one per subcommand, for
 * tests/integration/store_etcd.sh (which starts, stops and configures etcd).
 *
 * Settings come from the environment like any tabby program's (ETCD_USERNAME, …);
 * TABBY_LOG_LEVEL=debug shows what watches do.
 * Exit 0 when the check holds; otherwise 1 with the reason on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/store.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ready URI SECONDS: waits until the store answers. */
static int cmd_ready(struct tby_store *s, char **argv)
{
    int64_t deadline = now_ms() + atoi(argv[0]) * 1000;
    struct tby_error err = { 0 };
    int64_t rev;

    while (tby_store_revision(s, &rev, &err) < 0) {
        if (now_ms() > deadline)
            return fail("not ready: %s", tby_error_str(&err));
        usleep(100 * 1000);
    }
    return 0;
}

/* put-seq URI KEY FROM TO: puts the values FROM..TO-1 to KEY, one at a time, retrying
 * while the store is unreachable (the script may be restarting it). */
static int cmd_put_seq(struct tby_store *s, char **argv)
{
    const char *key = argv[0];
    int from = atoi(argv[1]), to = atoi(argv[2]);

    for (int i = from; i < to; i++) {
        struct tby_error err = { 0 };
        char v[16];
        int r;

        snprintf(v, sizeof(v), "%d", i);
        while ((r = tby_store_put(s, key, v, strlen(v), NULL, &err)) == -EAGAIN)
            usleep(100 * 1000);
        if (r < 0)
            return fail("put %s=%s: %s", key, v, tby_error_str(&err));
    }
    return 0;
}

/* Checks that events are puts of "0", "1", … in revision order, none missing or twice. */
static int check_sequence(const struct tby_event_list *events)
{
    for (size_t i = 0; i < events->n; i++) {
        const struct tby_event *ev = &events->items[i];
        char want[24];

        snprintf(want, sizeof(want), "%zu", i);
        if (ev->type != TBY_EVENT_PUT || strcmp(ev->kv.value, want) != 0)
            return fail("event %zu: %s %s=%s, expected a put of %s", i,
                        ev->type == TBY_EVENT_PUT ? "put" : "delete", ev->kv.key,
                        ev->kv.value ? ev->kv.value : "", want);
        if (i > 0 && ev->kv.mod_rev <= events->items[i - 1].kv.mod_rev)
            return fail("event %zu: revision %" PRId64 " after %" PRId64, i, ev->kv.mod_rev,
                        events->items[i - 1].kv.mod_rev);
    }
    return 0;
}

/* watch-seq URI PREFIX COUNT SECONDS: watches PREFIX from the next change, prints
 * "watching" once the watch exists, then expects COUNT puts "0".."COUNT-1". */
static int cmd_watch_seq(struct tby_store *s, char **argv)
{
    size_t count = (size_t)atoi(argv[1]);
    int64_t deadline = now_ms() + atoi(argv[2]) * 1000;
    struct tby_event_list events = { 0 };
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    int r;

    if (tby_store_watch(s, argv[0], 0, &w, &err) < 0)
        return fail("watch %s: %s", argv[0], tby_error_str(&err));
    printf("watching\n");
    fflush(stdout);
    while (events.n < count && now_ms() < deadline) {
        r = tby_watch_next(w, &events, 200, &err);
        if (r < 0) {
            tby_watch_free(w);
            tby_event_list_clear(&events);
            return fail("watch %s: %s", argv[0], tby_error_str(&err));
        }
    }
    tby_watch_free(w);
    r = events.n == count ? check_sequence(&events)
                          : fail("got %zu events of %zu within the time", events.n, count);
    tby_event_list_clear(&events);
    return r;
}

static int expect_watch_result(struct tby_store *s, const char *prefix, int64_t from,
                               int want)
{
    struct tby_event_list events = { 0 };
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    int r;

    if (tby_store_watch(s, prefix, from, &w, &err) < 0)
        return fail("watch %s: %s", prefix, tby_error_str(&err));
    r = tby_watch_next(w, &events, 2000, &err);
    tby_watch_free(w);
    tby_event_list_clear(&events);
    if (r != want)
        return fail("watch %s from %" PRId64 ": got %d (%s), expected %d", prefix, from, r,
                    tby_error_str(&err), want);
    return 0;
}

/* compact-edge URI PREFIX: after compacting at revision C, watches from C (and before)
 * get -ESTALE — even though etcd itself would accept a watch from C — and a watch from
 * C + 1 gets the later changes. */
static int cmd_compact_edge(struct tby_store *s, char **argv)
{
    char key[256];
    struct tby_error err = { 0 };
    int64_t c;

    snprintf(key, sizeof(key), "%sk", argv[0]);
    if (tby_store_put(s, key, "a", 1, NULL, &err) < 0 ||
        tby_store_delete(s, key, &c, &err) < 0 || tby_store_compact(s, c, &err) < 0 ||
        tby_store_compact(s, c, &err) < 0 || /* again: not an error */
        tby_store_put(s, key, "b", 1, NULL, &err) < 0)
        return fail("setup: %s", tby_error_str(&err));
    if (expect_watch_result(s, argv[0], c, -ESTALE) ||
        expect_watch_result(s, argv[0], c - 1, -ESTALE) ||
        expect_watch_result(s, argv[0], c + 1, 0))
        return 1;
    return 0;
}

/* range-large URI PREFIX COUNT: a range larger than a page comes back whole and sorted. */
static int cmd_range_large(struct tby_store *s, char **argv)
{
    int count = atoi(argv[1]);
    struct tby_kv_list list = { 0 };
    struct tby_error err = { 0 };
    char key[256];
    int r = 0;

    for (int i = 0; i < count && r == 0; i += 100) {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

        for (int j = i; j < i + 100 && j < count; j++) {
            snprintf(key, sizeof(key), "%s%06d", argv[0], j);
            tby_txn_put(txn, key, key, strlen(key));
        }
        r = tby_store_commit(s, txn, NULL, &err);
    }
    if (r < 0 || tby_store_range(s, argv[0], &list, &err) < 0)
        return fail("%s", tby_error_str(&err));
    for (size_t i = 0; i < list.n && r == 0; i++) {
        snprintf(key, sizeof(key), "%s%06zu", argv[0], i);
        if (strcmp(list.items[i].key, key) != 0 || strcmp(list.items[i].value, key) != 0)
            r = fail("item %zu is %s, expected %s", i, list.items[i].key, key);
    }
    if (r == 0 && list.n != (size_t)count)
        r = fail("got %zu keys, expected %d", list.n, count);
    tby_kv_list_clear(&list);
    return r;
}

/* smoke URI PREFIX: put, get, cas, txn, range and a watch, all must work. */
static int cmd_smoke(struct tby_store *s, char **argv)
{
    struct tby_event_list events = { 0 };
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    struct tby_kv_list list = { 0 };
    struct tby_kv kv = { 0 };
    char key[256];
    int64_t rev;

    snprintf(key, sizeof(key), "%sk", argv[0]);
    if (tby_store_put(s, key, "1", 1, &rev, &err) < 0 ||
        tby_store_watch(s, argv[0], 0, &w, &err) < 0 ||
        tby_store_cas(s, key, rev, "2", 1, NULL, &err) < 0 ||
        tby_store_get(s, key, &kv, &err) < 0 || tby_store_range(s, argv[0], &list, &err) < 0 ||
        tby_watch_next(w, &events, 3000, &err) < 0) {
        tby_watch_free(w);
        tby_kv_clear(&kv);
        tby_kv_list_clear(&list);
        return fail("%s", tby_error_str(&err));
    }
    tby_watch_free(w);
    rev = events.n;
    tby_event_list_clear(&events);
    tby_kv_list_clear(&list);
    if (strcmp(kv.value, "2") != 0 || rev != 1) {
        tby_kv_clear(&kv);
        return fail("read back a wrong value or got %" PRId64 " events", rev);
    }
    tby_kv_clear(&kv);
    return 0;
}

/* refused URI: a read must fail other than "unreachable"; prints the message. */
static int cmd_refused(struct tby_store *s, char **argv)
{
    struct tby_error err = { 0 };
    struct tby_kv kv;
    int r = tby_store_get(s, "/refused", &kv, &err);

    (void)argv;
    if (r == 0) {
        tby_kv_clear(&kv);
        return fail("the read was allowed");
    }
    printf("%s\n", tby_error_str(&err));
    return r == -ENOENT ? fail("the read was allowed (not found)") : 0;
}

/* idle-then-use URI PREFIX SECONDS: works, waits (the auth token expires), works again,
 * and a watch made before the wait still delivers. */
static int cmd_idle_then_use(struct tby_store *s, char **argv)
{
    struct tby_event_list events = { 0 };
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    char key[256];
    int r;

    snprintf(key, sizeof(key), "%sk", argv[0]);
    if (tby_store_put(s, key, "1", 1, NULL, &err) < 0 ||
        tby_store_watch(s, argv[0], 0, &w, &err) < 0)
        return fail("before the wait: %s", tby_error_str(&err));
    sleep((unsigned)atoi(argv[1]));
    r = tby_store_put(s, key, "2", 1, NULL, &err);
    if (r == 0)
        r = tby_watch_next(w, &events, 3000, &err);
    tby_watch_free(w);
    if (r == 0 && events.n != 1)
        r = fail("the watch got %zu events, expected 1", events.n);
    else if (r < 0)
        r = fail("after the wait: %s", tby_error_str(&err));
    tby_event_list_clear(&events);
    return r;
}

struct command {
    const char *name;
    int nargs;
    int (*run)(struct tby_store *s, char **argv);
};

static const struct command commands[] = {
    { "ready", 1, cmd_ready },
    { "put-seq", 3, cmd_put_seq },
    { "watch-seq", 3, cmd_watch_seq },
    { "compact-edge", 1, cmd_compact_edge },
    { "range-large", 2, cmd_range_large },
    { "smoke", 1, cmd_smoke },
    { "refused", 0, cmd_refused },
    { "idle-then-use", 2, cmd_idle_then_use },
};

int main(int argc, char **argv)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    const char *level = getenv("TABBY_LOG_LEVEL");
    enum tby_log_level parsed;

    if (level && tby_log_level_parse(level, &parsed) == 0)
        tby_log_set_level(parsed);
    for (size_t i = 0; argc >= 3 && i < TBY_ARRAY_SIZE(commands); i++) {
        const struct command *c = &commands[i];
        int r;

        if (strcmp(argv[1], c->name) != 0)
            continue;
        if (argc != 3 + c->nargs)
            return fail("%s: wants %d arguments after the URI", c->name, c->nargs);
        if (tby_store_open(argv[2], &store, &err) < 0)
            return fail("open %s: %s", argv[2], tby_error_str(&err));
        r = c->run(store, argv + 3);
        tby_store_close(store);
        return r;
    }
    return fail("usage: etcd_check COMMAND URI ARGS… (commands: ready, put-seq, watch-seq, "
                "compact-edge, range-large, smoke, refused, idle-then-use)");
}
