/* routes_driver.c — drives the route manager from the command line, for the routes_*.sh
 * integration tests, run inside a node's network namespace (ip netns exec NODE …).
 *
 *   routes_driver plan NODE FILE [--block CIDR=NODE]…    print the plan
 *   routes_driver apply NODE FILE [--block CIDR=NODE]…   converge, print what changed
 *   routes_driver watch NODE FILE [--block …] SECONDS     apply, then repair from netlink
 *                                                        notifications until one repair
 *                                                        changed something (or time out)
 *   routes_driver autodetect METHOD [4|6]                print "ADDRESS/LEN INTERFACE"
 *
 * FILE holds IPPool, Node and WorkloadEndpoint documents (YAML or JSON); --block gives
 * IPAM block affinities. Exit 0 on success; otherwise 1 with the message on stderr.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/autodetect.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/resource.h"
#include "tabby/routes.h"

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

/* The plan's inputs, pointing into the loaded resources. */
struct inputs {
    struct tby_resource_list docs;
    struct tby_routes_pool pools[64];
    struct tby_routes_node nodes[64];
    struct tby_routes_block blocks[64];
    const struct tby_wep *weps[256];
    struct tby_routes_input in;
};

static int add_block(struct inputs *x, char *arg)
{
    char *eq = strchr(arg, '=');
    struct tby_error err = { 0 };

    if (!eq || x->in.n_blocks == TBY_ARRAY_SIZE(x->blocks))
        return fail("--block wants CIDR=NODE, got %s", arg);
    *eq = '\0';
    if (tby_cidr_parse(arg, TBY_CIDR_STRICT, &x->blocks[x->in.n_blocks].cidr, &err) < 0)
        return fail("--block: %s", tby_error_str(&err));
    x->blocks[x->in.n_blocks++].node = eq + 1;
    return 0;
}

static int sort_doc(struct inputs *x, const struct tby_resource *res)
{
    switch (res->info->kind) {
    case TBY_KIND_IPPOOL:
        if (x->in.n_pools == TBY_ARRAY_SIZE(x->pools))
            return fail("too many pools");
        x->pools[x->in.n_pools++] = (struct tby_routes_pool){ res->meta.name, res->spec.ippool };
        return 0;
    case TBY_KIND_NODE:
        if (x->in.n_nodes == TBY_ARRAY_SIZE(x->nodes))
            return fail("too many nodes");
        x->nodes[x->in.n_nodes++] = (struct tby_routes_node){ res->meta.name, res->spec.node };
        return 0;
    case TBY_KIND_WORKLOADENDPOINT:
        if (x->in.n_weps == TBY_ARRAY_SIZE(x->weps))
            return fail("too many workload endpoints");
        x->weps[x->in.n_weps++] = res->spec.wep;
        return 0;
    default:
        return fail("%s %s: not a kind the routes use", res->info->name, res->meta.name);
    }
}

/* argv: NODE FILE [--block CIDR=NODE]… [rest]; *used counts what was read. */
static int load_inputs(struct inputs *x, int argc, char **argv, int *used)
{
    struct tby_error err = { 0 };
    int i;

    memset(x, 0, sizeof(*x));
    if (argc < 2)
        return fail("want NODE FILE");
    x->in.node_name = argv[0];
    if (tby_resource_load_file(argv[1], &x->docs, &err) < 0)
        return fail("%s", tby_error_str(&err));
    for (size_t d = 0; d < x->docs.n; d++)
        if (sort_doc(x, x->docs.items[d]))
            return 1;
    for (i = 2; i + 1 < argc && strcmp(argv[i], "--block") == 0; i += 2)
        if (add_block(x, argv[i + 1]))
            return 1;
    x->in.pools = x->pools;
    x->in.nodes = x->nodes;
    x->in.blocks = x->blocks;
    x->in.weps = x->weps;
    *used = i;
    return 0;
}

static void print_plan(const struct tby_routes_plan *plan)
{
    char buf[TBY_ROUTE_STRLEN], a[TBY_IP_STRLEN], b[TBY_IP_STRLEN], mac[TBY_MAC_STRLEN];

    for (int fi = 0; fi < 2; fi++)
        if (plan->vxlan[fi].wanted)
            printf("device %s local %s mac %s\n", fi ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE,
                   tby_ip_format(&plan->vxlan[fi].local, a),
                   tby_mac_format(plan->vxlan[fi].mac, mac));
    if (plan->ipip_pool)
        printf("ipip pool %s\n", plan->ipip_pool);
    if (plan->ipip_pool && plan->ipip_tunnel_addr.family)
        printf("device %s address %s\n", TBY_IPIP_DEVICE,
               tby_ip_format(&plan->ipip_tunnel_addr, a));
    for (size_t i = 0; i < plan->n_routes; i++)
        printf("route %s\n", tby_route_format(&plan->routes[i], buf));
    for (size_t i = 0; i < plan->n_vteps; i++)
        printf("vtep %s %s %s %s\n", plan->vteps[i].node,
               tby_ip_format(&plan->vteps[i].tunnel_addr, a),
               tby_mac_format(plan->vteps[i].mac, mac),
               tby_ip_format(&plan->vteps[i].node_ip, b));
    for (size_t i = 0; i < plan->warnings.n; i++)
        printf("warning %s\n", plan->warnings.items[i]);
}

static void print_stats(const char *what, const struct tby_routes_stats *s)
{
    printf("%s changes=%u routes_added=%u routes_replaced=%u routes_deleted=%u "
           "routes_adopted=%u routes_conflicting=%u routes_pending=%u neighs_set=%u "
           "neighs_deleted=%u fdbs_set=%u fdbs_deleted=%u links_changed=%u\n",
           what, tby_routes_stats_changes(s), s->routes_added, s->routes_replaced,
           s->routes_deleted, s->routes_adopted, s->routes_conflicting, s->routes_pending,
           s->neighs_set, s->neighs_deleted, s->fdbs_set, s->fdbs_deleted, s->links_changed);
    fflush(stdout);
}

/* Waits for notifications and resyncs until a resync changed something. */
static int watch(struct tby_routes *routes, int seconds)
{
    struct pollfd pfd = { .fd = tby_routes_event_fd(routes), .events = POLLIN };
    time_t end = time(NULL) + seconds;
    struct tby_error err = { 0 };

    while (time(NULL) < end) {
        struct tby_routes_stats st;
        bool resync = false;

        if (poll(&pfd, 1, 200) <= 0)
            continue;
        if (tby_routes_events(routes, &resync, &err) < 0)
            return fail("%s", tby_error_str(&err));
        if (!resync)
            continue;
        if (tby_routes_resync(routes, &st, &err) < 0)
            return fail("%s", tby_error_str(&err));
        if (tby_routes_stats_changes(&st)) {
            print_stats("repaired", &st);
            return 0;
        }
    }
    return fail("no repair within %d seconds", seconds);
}

static int cmd_routes(const char *cmd, int argc, char **argv)
{
    _cleanup_(tby_routes_closep) struct tby_routes *routes = NULL;
    struct tby_routes_plan plan = { 0 };
    struct tby_routes_stats st;
    struct tby_error err = { 0 };
    struct inputs x;
    int used = 0, rc = load_inputs(&x, argc, argv, &used);

    if (rc == 0 && tby_routes_plan(&x.in, &plan, &err) < 0)
        rc = fail("%s", tby_error_str(&err));
    if (rc == 0 && strcmp(cmd, "plan") == 0)
        print_plan(&plan);
    else if (rc == 0 && tby_routes_open(&routes, &err) < 0)
        rc = fail("%s", tby_error_str(&err));
    else if (rc == 0 && tby_routes_apply(routes, &plan, &st, &err) < 0)
        rc = fail("%s", tby_error_str(&err));
    else if (rc == 0) {
        print_stats("applied", &st);
        if (strcmp(cmd, "watch") == 0)
            rc = watch(routes, used < argc ? atoi(argv[used]) : 10);
    }
    tby_routes_plan_clear(&plan);
    tby_resource_list_clear(&x.docs);
    return rc;
}

static int cmd_autodetect(int argc, char **argv)
{
    _cleanup_(tby_autodetect_freep) struct tby_autodetect *m = NULL;
    struct tby_autodetect_result res;
    struct tby_error err = { 0 };
    char buf[TBY_CIDR_STRLEN];

    if (argc < 1)
        return fail("want METHOD [4|6]");
    if (tby_autodetect_parse(argv[0], &m, &err) < 0 ||
        tby_autodetect_run(m, argc > 1 ? atoi(argv[1]) : 4, &res, &err) < 0)
        return fail("%s", tby_error_str(&err));
    printf("%s %s\n", tby_cidr_format(&res.address, buf), res.ifname);
    return 0;
}

int main(int argc, char **argv)
{
    const char *level = getenv("TABBY_LOG_LEVEL");
    enum tby_log_level l;

    if (level && tby_log_level_parse(level, &l) == 0)
        tby_log_set_level(l);
    if (argc < 2)
        return fail("usage: routes_driver plan|apply|watch|autodetect …");
    if (!strcmp(argv[1], "plan") || !strcmp(argv[1], "apply") || !strcmp(argv[1], "watch"))
        return cmd_routes(argv[1], argc - 2, argv + 2);
    if (!strcmp(argv[1], "autodetect"))
        return cmd_autodetect(argc - 2, argv + 2);
    return fail("unknown command %s", argv[1]);
}
