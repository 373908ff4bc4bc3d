/* tabby-node.c — the per-node daemon: watches the datastore and keeps table inet tabby in
 * step with the policies and endpoints it holds (routes, BGP and IPAM upkeep join the same
 * loop as consumers of the same syncer). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/store.h"
#include "node.h"

static const char usage[] =
    "Usage: tabby-node [OPTIONS]\n"
    "Keeps nftables table inet tabby in step with the policies and workload endpoints in\n"
    "the datastore, for the endpoints of this node.\n"
    "\n"
    "  --store URI          the datastore (else $TABBY_STORE, else " TBY_DEFAULT_STORE ")\n"
    "  --node NAME          this node's name (else $NODENAME, else the host name)\n"
    "  --log-level LEVEL    error, warning, info (default) or debug\n"
    "  --resync SECONDS     read the table back this often to repair drift (default 300,\n"
    "                       0: only on nftables notifications)\n"
    "  --dump               print the table tabby would program (nft syntax) and exit\n"
    "  --cleanup            delete table inet tabby and exit\n"
    "  --allow-root-netns   run in the host's network namespace (refused otherwise)\n"
    "  -h, --help\n"
    "\n"
    "SIGTERM and SIGINT stop it and leave the table in place: a restart reads it back and\n"
    "programs only the difference.\n";

enum { OPT_STORE = 256, OPT_NODE, OPT_LOG, OPT_RESYNC, OPT_DUMP, OPT_CLEANUP, OPT_ROOT };

static int parse_args(int argc, char **argv, struct node_options *o)
{
    static const struct option opts[] = {
        { "store", required_argument, NULL, OPT_STORE },
        { "node", required_argument, NULL, OPT_NODE },
        { "log-level", required_argument, NULL, OPT_LOG },
        { "resync", required_argument, NULL, OPT_RESYNC },
        { "dump", no_argument, NULL, OPT_DUMP },
        { "cleanup", no_argument, NULL, OPT_CLEANUP },
        { "allow-root-netns", no_argument, NULL, OPT_ROOT },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    enum tby_log_level level;
    int c;

    o->resync_s = 300;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_STORE: o->store_uri = optarg; break;
        case OPT_NODE: o->node_name = optarg; break;
        case OPT_RESYNC: o->resync_s = atoi(optarg); break;
        case OPT_DUMP: o->dump = true; break;
        case OPT_CLEANUP: o->cleanup = true; break;
        case OPT_ROOT: o->allow_root_netns = true; break;
        case OPT_LOG:
            if (tby_log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "tabby-node: unknown log level \"%s\"\n", optarg);
                return -1;
            }
            tby_log_set_level(level);
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tabby-node: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- where it runs ---------------------------------------------------------------------- */

/* The inode of the kernel's first network namespace (PROC_NET_INIT_INO): fixed, so it
 * identifies the host's namespace even where /proc/1 cannot be read. */
#define INIT_NET_INO 0xEFFFFFF9u

/* Whether this process is in the host's network namespace: the kernel's first one, or
 * PID 1's. */
static bool in_root_netns(void)
{
    struct stat self, init;

    if (stat("/proc/self/ns/net", &self) < 0)
        return true; /* cannot tell: assume the worst */
    if (self.st_ino == INIT_NET_INO)
        return true;
    return stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino &&
           self.st_dev == init.st_dev;
}

static const char *node_name(const struct node_options *o, char *buf, size_t size)
{
    const char *env = getenv("NODENAME");

    if (o->node_name && *o->node_name)
        return o->node_name;
    if (env && *env)
        return env;
    if (gethostname(buf, size) < 0)
        return NULL;
    buf[size - 1] = '\0';
    return buf;
}

/* ---- the loop --------------------------------------------------------------------------- */

struct daemon {
    struct tby_store *store;
    struct tby_syncer *syncer;
    struct node_policy *policy;
    int sigfd;
};

static int signals_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Waits for the datastore, the signals and nftables; false when told to stop. */
static bool wait_once(struct daemon *d)
{
    struct pollfd fds[3] = {
        { .fd = d->sigfd, .events = POLLIN },
        { .fd = tby_syncer_fd(d->syncer), .events = POLLIN },
        { .fd = d->policy->nft ? tby_nft_monitor_fd(d->policy->nft) : -1, .events = POLLIN },
    };
    int timeout = min_timeout(tby_syncer_timeout_ms(d->syncer),
                              node_policy_timeout_ms(d->policy));
    struct signalfd_siginfo si;

    if (poll(fds, 3, timeout) < 0 && errno != EINTR)
        return false;
    if (fds[0].revents & POLLIN) {
        if (read(d->sigfd, &si, sizeof(si)) == sizeof(si))
            tby_log(TBY_LOG_INFO, "node", "stopping signal=%s", strsignal((int)si.ssi_signo));
        return false;
    }
    if (fds[2].revents & POLLIN)
        node_policy_monitor(d->policy);
    return true;
}

static int run(struct daemon *d)
{
    do {
        struct tby_error err = { 0 };

        tby_syncer_poll(d->syncer, &err); /* failures are logged and retried by the syncer */
        if (tby_syncer_in_sync(d->syncer))
            node_policy_sync(d->policy);
    } while (wait_once(d));
    return 0;
}

/* --dump: one read of the datastore, the table as nft text on stdout. */
static int dump(struct daemon *d)
{
    struct tby_error err = { 0 };

    if (tby_syncer_poll(d->syncer, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        return 1;
    }
    return tby_rs_render(tby_calc_ruleset(d->policy->calc), stdout) < 0 ? 1 : 0;
}

static int cleanup(void)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };

    if (tby_nft_open(&nft, &err) < 0 || tby_nft_delete_table(nft, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        return 1;
    }
    tby_log(TBY_LOG_INFO, "node", "table inet tabby deleted");
    return 0;
}

static int start(struct daemon *d, const struct node_options *o, const char *name)
{
    const char *uri = o->store_uri ? o->store_uri : getenv("TABBY_STORE");
    struct tby_syncer_consumer c;
    struct tby_error err = { 0 };

    if (!uri || !*uri)
        uri = TBY_DEFAULT_STORE;
    if (tby_store_open(uri, &d->store, &err) < 0 || tby_syncer_new(d->store, &d->syncer) < 0 ||
        node_policy_new(name, !o->dump, o->resync_s, &d->policy, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", err.code ? tby_error_str(&err) : "out of memory");
        return -1;
    }
    c = node_policy_consumer(d->policy);
    if (tby_syncer_add_consumer(d->syncer, &c) < 0)
        return -1;
    d->sigfd = o->dump ? -1 : signals_fd();
    if (!o->dump && d->sigfd < 0)
        return -1;
    tby_log(o->dump ? TBY_LOG_DEBUG : TBY_LOG_INFO, "node", "starting node=%s store=%s", name,
            uri);
    return 0;
}

static void stop(struct daemon *d)
{
    if (d->sigfd >= 0)
        close(d->sigfd);
    node_policy_free(d->policy);
    tby_syncer_free(d->syncer);
    tby_store_close(d->store);
}

int main(int argc, char **argv)
{
    struct node_options o = { 0 };
    struct daemon d = { .sigfd = -1 };
    char host[256];
    const char *name;
    int rc;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    /* Programming the host's own firewall by accident is the one mistake to rule out. */
    if (!o.dump && !o.allow_root_netns && in_root_netns()) {
        fprintf(stderr, "tabby-node: refusing to run in the host's network namespace "
                        "(use --allow-root-netns on a real node)\n");
        return 2;
    }
    if (o.cleanup)
        return cleanup();
    if (!(name = node_name(&o, host, sizeof(host)))) {
        fprintf(stderr, "tabby-node: no node name: set NODENAME or --node\n");
        return 2;
    }
    rc = start(&d, &o, name) < 0 ? 1 : o.dump ? dump(&d) : run(&d);
    stop(&d);
    return rc;
}
