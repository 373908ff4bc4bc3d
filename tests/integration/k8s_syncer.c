/* k8s_syncer.c — the datastore syncer (lib/syncer.c) on a store, printing what it tells
 * its consumers, one line each, as it tells them:
 *   update KIND NS/NAME RV       (NS "-" for cluster-scoped kinds)
 *   remove KIND NS/NAME
 *   record KEY RV | record KEY gone   (IPAM records, with --records PREFIX)
 *   in-sync COUNT
 * For store_k8s.sh, which changes the cluster behind it and waits for the lines. Runs
 * until SIGTERM or SIGINT. Usage: k8s_syncer URI [--records PREFIX] */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/log.h"
#include "tabby/store.h"
#include "tabby/syncer.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void say(const char *what, const struct tby_resource *res, bool rev)
{
    printf("%s %s %s/%s", what, res->info->name, res->meta.namespace ? res->meta.namespace : "-",
           res->meta.name);
    if (rev)
        printf(" %lld", (long long)res->meta.resource_version);
    putchar('\n');
    fflush(stdout);
}

static int update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    (void)ctx;
    (void)old;
    say("update", res, true);
    return 0;
}

static int removed(void *ctx, const struct tby_resource *old)
{
    (void)ctx;
    say("remove", old, false);
    return 0;
}

static void in_sync(void *ctx)
{
    printf("in-sync %zu\n", tby_syncer_count(ctx));
    fflush(stdout);
}

static int record(void *ctx, const char *key, const struct tby_kv *kv)
{
    (void)ctx;
    if (kv)
        printf("record %s %lld\n", key, (long long)kv->mod_rev);
    else
        printf("record %s gone\n", key);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct tby_syncer_consumer c = { .name = "print", .update = update, .remove = removed,
                                     .in_sync = in_sync, .record = record };
    struct tby_store *store = NULL;
    struct tby_syncer *s = NULL;
    struct tby_error err = { 0 };
    const char *last = "";

    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--records") == 0)) {
        fprintf(stderr, "usage: k8s_syncer URI [--records PREFIX]\n");
        return 2;
    }
    c.record_prefix = argc == 4 ? argv[3] : NULL;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    tby_log_set_level(TBY_LOG_INFO);
    if (tby_store_open(argv[1], &store, &err) < 0 || tby_syncer_new(store, &s) < 0) {
        fprintf(stderr, "k8s_syncer: %s\n", tby_error_str(&err));
        return 1;
    }
    c.ctx = s;
    tby_syncer_add_consumer(s, &c);
    while (!stop) {
        struct pollfd p = { .fd = tby_syncer_fd(s), .events = POLLIN };

        poll(&p, p.fd >= 0 ? 1 : 0, tby_syncer_timeout_ms(s));
        if (tby_syncer_poll(s, &err) < 0 && strcmp(last, tby_error_str(&err)) != 0) {
            fprintf(stderr, "k8s_syncer: %s\n", tby_error_str(&err));
            last = tby_syncer_stats(s)->last_error;
        }
    }
    tby_syncer_free(s);
    tby_store_close(store);
    return 0;
}
