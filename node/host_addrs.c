/* host_addrs.c — the addresses the node's interfaces hold, a part (node.h): read from this
 * network namespace when the node starts and again whenever netlink says an address or
 * link changed, the workloads' interfaces (interfacePrefix, tby…) left out, and
 * kube-ipvs0, as Felix's default interfaceExclude leaves it out (tabby takes no other).
 * It publishes them in the node's settings (node_config.h: host_addrs, with a
 * generation), from which the policy part gives them to the calculation: a HostEndpoint
 * without interfaceName governs the interfaces holding one of its expectedIPs, as Felix
 * resolves it. In --dump mode it reads them once, when the parts dump, and watches
 * nothing: the dump resolves as the daemon would. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/host_addrs.h"
#include "tabby/log.h"
#include "node.h"

/* Felix's default interfaceExclude (FelixConfiguration refuses another). */
#define FELIX_EXCLUDED "kube-ipvs0"

struct node_host_addrs {
    struct node *n;
    struct tby_host_addrs_watch *watch;
    struct tby_host_addr *v;          /* published in n->cfg.host_addrs */
    size_t n_v;
};

/* Reads the addresses again; publishes them with a new generation when they changed.
 * -errno with err filled (the old ones stay). */
static int host_addrs_read(struct node_host_addrs *a, struct tby_error *err)
{
    struct node_config *cfg = &a->n->cfg;
    const char *prefix = cfg->dp.interface_prefix;
    struct tby_host_addr *v;
    size_t n, kept = 0;
    int r = tby_host_addrs_read(&v, &n, err);

    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((!*prefix || strncmp(v[i].ifname, prefix, strlen(prefix)) != 0) &&
            strcmp(v[i].ifname, FELIX_EXCLUDED) != 0)
            v[kept++] = v[i];
    if (kept == a->n_v && (!kept || memcmp(v, a->v, kept * sizeof(*v)) == 0)) {
        free(v);
        return 0;
    }
    free(a->v);
    a->v = v;
    a->n_v = kept;
    cfg->host_addrs = v;
    cfg->n_host_addrs = kept;
    cfg->host_addrs_generation++;
    tby_log(cfg->dump ? TBY_LOG_DEBUG : TBY_LOG_INFO, "host-addrs",
            "interfaces' addresses changed addresses=%zu", kept);
    return 0;
}

/* The daemon's read: a failure is logged, the next change tries again. */
static void host_addrs_reread(struct node_host_addrs *a)
{
    struct tby_error err = { 0 };

    if (host_addrs_read(a, &err) < 0)
        tby_log(TBY_LOG_ERROR, "host-addrs", "addresses not read error=\"%s\"",
                tby_error_str(&err));
}

static int host_addrs_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_host_addrs *a = calloc(1, sizeof(*a));
    int r;

    if (!a)
        return tby_error_set(err, -ENOMEM, "out of memory");
    a->n = n;
    if (n->cfg.dump) {
        *state = a;
        return 0;
    }
    if ((r = tby_host_addrs_watch_open(&a->watch, err)) < 0) {
        free(a);
        return r;
    }
    host_addrs_reread(a);
    *state = a;
    return 0;
}

static void host_addrs_stop(void *state)
{
    struct node_host_addrs *a = state;

    a->n->cfg.host_addrs = NULL;
    a->n->cfg.n_host_addrs = 0;
    a->n->cfg.host_addrs_generation++;
    tby_host_addrs_watch_free(a->watch);
    free(a->v);
    free(a);
}

static int host_addrs_fd(const void *state)
{
    const struct node_host_addrs *a = state;

    return a->watch ? tby_host_addrs_watch_fd(a->watch) : -1;
}

static void host_addrs_input(void *state)
{
    struct node_host_addrs *a = state;

    if (tby_host_addrs_watch_drain(a->watch))
        host_addrs_reread(a);
}

/* --dump: the addresses, for the policy part's dump after; it prints nothing itself. */
static int host_addrs_dump(void *state, const struct node *n, FILE *out, struct tby_error *err)
{
    (void)n;
    (void)out;
    return host_addrs_read(state, err);
}

const struct node_part node_host_addrs_part = {
    .name = "host-addrs",
    .start = host_addrs_start,
    .stop = host_addrs_stop,
    .fd = host_addrs_fd,
    .input = host_addrs_input,
    .dump = host_addrs_dump,
};
