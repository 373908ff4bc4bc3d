/* cmd_diagnose.c — tabbyctl node diagnose: gathers what the datastore, tabby-node and the
 * kernel of this network namespace say, runs every check (diagnose.h), prints the report
 * (text, or JSON with -o json) and exits 0 when nothing FAILs (WARNs allowed), 1 when
 * something does, 2 on bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "ctl.h"
#include "diagnose.h"

#define SYNOPSIS                                                                            \
    "node diagnose [--node NAME] [-o text|json] [--health HOST:PORT] [--backend "          \
    "bird|vxlan|none]\n"                                                                    \
    "       [--bird-socket PATH] [--bird-config FILE] [--node-pid-file PATH] "             \
    "[--secrets-dir DIR] [--timeout SECONDS]"
#define DEFAULT_TIMEOUT_MS 3000

struct flags {
    const char *node, *health, *backend, *bird_socket, *bird_config, *pid_file, *secrets_dir;
    bool json;
    int timeout_ms;
};

static int parse(int argc, char **argv, struct flags *f)
{
    static const struct option options[] = {
        { "node", required_argument, NULL, 'n' },
        { "output", required_argument, NULL, 'o' },
        { "health", required_argument, NULL, 'H' },
        { "backend", required_argument, NULL, 'b' },
        { "bird-socket", required_argument, NULL, 's' },
        { "bird-config", required_argument, NULL, 'c' },
        { "node-pid-file", required_argument, NULL, 'p' },
        { "secrets-dir", required_argument, NULL, 'S' },
        { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    const char **slot[128] = { ['n'] = &f->node, ['H'] = &f->health, ['b'] = &f->backend,
                               ['s'] = &f->bird_socket, ['c'] = &f->bird_config,
                               ['p'] = &f->pid_file, ['S'] = &f->secrets_dir };
    int opt;

    f->timeout_ms = DEFAULT_TIMEOUT_MS;
    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        if (opt == 'o' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
            f->json = strcmp(optarg, "json") == 0;
        } else if (opt == 't') {
            if (ctl_timeout_ms(optarg, &f->timeout_ms) < 0)
                return ctl_usage_error(SYNOPSIS, "--timeout: seconds, up to 600, got \"%s\"",
                                       optarg);
        } else if (opt > 0 && opt < 128 && slot[opt]) {
            *slot[opt] = optarg;
        } else {
            return ctl_usage_error(SYNOPSIS, opt == 'o' ? "-o: text or json" : "unexpected "
                                                                               "option");
        }
    }
    if (optind != argc)
        return ctl_usage_error(SYNOPSIS, "unexpected argument \"%s\"", argv[optind]);
    if (f->backend && strcmp(f->backend, "bird") && strcmp(f->backend, "vxlan") &&
        strcmp(f->backend, "none"))
        return ctl_usage_error(SYNOPSIS, "--backend: bird, vxlan or none");
    return CTL_OK;
}

/* A flag, else what tabby-node says (its /status at path), else the default. */
static const char *pick(const char *flag, const struct diag_daemon *dm, const char *path,
                        const char *fallback)
{
    const char *theirs = diag_daemon_str(dm, path);

    return flag ? flag : theirs && theirs[0] ? theirs : fallback;
}

static void settle(struct diag *d, const struct flags *f, char *host, size_t size)
{
    const char *env = getenv("NODENAME");

    if (gethostname(host, size) < 0)
        snprintf(host, size, "localhost");
    host[size - 1] = '\0';
    d->set.node = pick(f->node, &d->daemon, "node", env && env[0] ? env : host);
    d->set.backend = pick(f->backend, &d->daemon, "settings.backend", "bird");
    d->set.bird_socket = pick(f->bird_socket, &d->daemon, "settings.bird_socket",
                              "/run/bird/bird.ctl");
    d->set.bird_config = pick(f->bird_config, &d->daemon, "settings.bird_config",
                              "/etc/bird/bird.conf");
    d->set.pid_file = pick(f->pid_file, &d->daemon, "settings.pid_file",
                           "/run/tabby/tabby-node.pid");
    d->set.secrets_dir = pick(f->secrets_dir, &d->daemon, "settings.secrets_dir",
                              "/etc/tabby/secrets");
}

static void gather(struct diag *d, struct ctl *ctl)
{
    struct tby_error err = { 0 };

    d->store = ctl_store_quiet(ctl, &err);
    d->set.store_uri = ctl->store_uri ? ctl->store_uri : "(none)";
    if (!d->store)
        snprintf(d->cluster.error, sizeof(d->cluster.error), "%s", tby_error_str(&err));
    else
        diag_cluster_read(&d->cluster, d->store, d->set.node);
    diag_kernel_read(&d->kernel);
    if (d->cluster.read && diag_make_plan(d) < 0)
        d->report.oom = true;
}

static void run_checks(struct diag *d)
{
    static void (*const checks[])(struct diag *) = {
        diag_check_datastore, diag_check_daemon,       diag_check_ip_forward,
        diag_check_rp_filter, diag_check_conntrack,    diag_check_policy_table,
        diag_check_mtu,       diag_check_routes,       diag_check_bgp_sessions,
        diag_check_bird_config, diag_check_vxlan,      diag_check_ipam,
        diag_check_workloads,
    };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(checks); i++)
        checks[i](d);
}

static int print(const struct diag *d, bool json)
{
    _cleanup_json_ json_t *doc = NULL;
    char header[512];

    if (d->report.oom)
        return ctl_fail("out of memory");
    if (json) {
        if (!(doc = diag_report_json(&d->report, d->set.node)) ||
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
            return ctl_fail("out of memory");
        putchar('\n');
        return CTL_OK;
    }
    snprintf(header, sizeof(header), "Node %s: backend %s, datastore %s, tabby-node on %s",
             d->set.node, d->set.backend, d->set.store_uri, d->set.health);
    return diag_print_text(stdout, &d->report, header) < 0 ? CTL_FAIL : CTL_OK;
}

int ctl_cmd_node_diagnose(struct ctl *ctl, int argc, char **argv)
{
    struct flags f = { 0 };
    struct diag d = { 0 };
    char host[256];
    char health[300];
    int r = parse(argc, argv, &f);

    if (r != CTL_OK)
        return r;
    ctl_node_health(f.health, health, sizeof(health));
    d.set = (struct diag_settings){ .health = health, .proc = "/proc",
                                    .timeout_ms = f.timeout_ms };
    diag_daemon_ask(&d.daemon, health, f.timeout_ms);
    settle(&d, &f, host, sizeof(host));
    gather(&d, ctl);
    run_checks(&d);
    r = print(&d, f.json);
    if (r == CTL_OK && diag_worst(&d.report) == DIAG_FAIL)
        r = CTL_FAIL;
    diag_clear(&d);
    return r;
}
