/* diagnose_addresses.c — this node's addresses: `ipam check` clean for the blocks affine to
 * it (a leaked address is one no pod uses and no pod can get; the other problems leave
 * records that disagree), and every workload endpoint of this node wired: its veth there,
 * up, and the route to each of its addresses through it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "diagnose.h"

#define AREA "addresses"

/* Whether the problem is about this node: its block, or an address in one of its blocks. */
static bool on_this_node(const struct diag *d, const struct tby_ipam_problem *p)
{
    for (size_t i = 0; i < d->cluster.n_blocks; i++) {
        const struct tby_routes_block *b = &d->cluster.blocks[i];

        if (strcmp(b->node, d->set.node) != 0)
            continue;
        if ((p->has_block && tby_cidr_equal(&p->block, &b->cidr)) ||
            (p->has_ip && tby_cidr_contains(&b->cidr, &p->ip)))
            return true;
    }
    return false;
}

static void problem(struct diag_result *res, const struct tby_ipam_problem *p)
{
    char text[TBY_CIDR_STRLEN];

    diag_detail(res, "%s: %s", tby_ipam_problem_name(p->kind), p->detail ? p->detail : "");
    if (p->has_ip)
        diag_item(res, "%s", tby_ip_format(&p->ip, text));
    else if (p->has_block)
        diag_item(res, "%s", tby_cidr_format(&p->block, text));
    else if (p->handle)
        diag_item(res, "%s", p->handle);
}

void diag_check_ipam(struct diag *d)
{
    _cleanup_(tby_ipam_freep) struct tby_ipam *ipam = NULL;
    struct tby_ipam_report rep = { 0 };
    struct tby_error err = { 0 };
    struct diag_result *res = NULL;
    size_t elsewhere = 0;

    if (diag_need_cluster(d, AREA, "ipam"))
        return;
    if (tby_ipam_new(d->store, NULL, &ipam, &err) < 0 ||
        tby_ipam_check(ipam, false, &rep, &err) < 0) {
        diag_add(&d->report, AREA, "ipam", DIAG_WARN, "not checked: %s", tby_error_str(&err));
        return;
    }
    for (size_t i = 0; i < rep.n; i++) {
        if (!on_this_node(d, &rep.items[i])) {
            elsewhere++;
            continue;
        }
        if (!res)
            res = diag_add(&d->report, AREA, "ipam", DIAG_FAIL,
                           "IPAM records of this node's blocks are wrong:");
        problem(res, &rep.items[i]);
    }
    tby_ipam_report_clear(&rep);
    if (res) {
        diag_action(res, "tabbyctl ipam check --release-leaks releases leaked addresses and "
                    "repairs the records it can (it says what it leaves)");
        return;
    }
    diag_add(&d->report, AREA, "ipam", DIAG_OK, "no IPAM problem in this node's blocks%s",
             elsewhere ? " (others' blocks have some: tabbyctl ipam check)" : "");
}

/* ---- workloads ------------------------------------------------------------------------------ */

static bool routed(const struct diag_kernel *k, const struct tby_cidr *addr, int ifindex)
{
    for (size_t i = 0; i < k->n_routes; i++)
        if (tby_cidr_equal(&k->routes[i].dst, addr) && k->routes[i].oif == ifindex &&
            k->routes[i].type == DIAG_ROUTE_UNICAST)
            return true;
    return false;
}

static void workload(struct diag *d, const struct tby_resource *res, struct diag_result **out,
                     size_t *n)
{
    const struct tby_wep *w = res->spec.wep;
    const struct diag_link *veth = diag_link_by_name(&d->kernel, w->interface_name);
    const char *pod = w->pod ? w->pod : res->meta.name;
    char line[400] = "", text[TBY_CIDR_STRLEN];
    size_t len = 0;

    (*n)++;
    if (!w->interface_name)
        snprintf(line, sizeof(line), "%s/%s: its endpoint names no interface",
                 res->meta.namespace, pod);
    else if (!veth)
        snprintf(line, sizeof(line), "%s/%s: %s is missing", res->meta.namespace, pod,
                 w->interface_name);
    else if (!veth->up || !veth->lower_up)
        snprintf(line, sizeof(line), "%s/%s: %s is down%s", res->meta.namespace, pod,
                 veth->name, veth->up ? " (no carrier: the pod's end is gone?)" : "");
    for (size_t i = 0; veth && !line[0] && i < w->ip_networks.n; i++) {
        if (routed(&d->kernel, &w->ip_networks.items[i], veth->index))
            continue;
        if (!len)
            len = (size_t)snprintf(line, sizeof(line), "%s/%s: no route to", res->meta.namespace,
                                   pod);
        if (len < sizeof(line))
            len += (size_t)snprintf(line + len, sizeof(line) - len, " %s",
                                    tby_cidr_format(&w->ip_networks.items[i], text));
        if (len < sizeof(line))
            len += (size_t)snprintf(line + len, sizeof(line) - len, " dev %s", veth->name);
    }
    if (!line[0])
        return;
    if (!*out)
        *out = diag_add(&d->report, AREA, "workloads", DIAG_FAIL,
                        "pods of this node that cannot send or receive:");
    diag_detail(*out, "%s", line);
    diag_item(*out, "%s/%s", res->meta.namespace, pod);
}

void diag_check_workloads(struct diag *d)
{
    struct diag_result *res = NULL;
    size_t n = 0;

    if (diag_need_cluster(d, AREA, "workloads") || diag_need_kernel(d, AREA, "workloads"))
        return;
    for (size_t i = 0; i < d->cluster.weps.n; i++)
        if (diag_wep_is_on(d->cluster.weps.items[i], d->set.node))
            workload(d, d->cluster.weps.items[i], &res, &n);
    if (res) {
        diag_action(res, "a pod whose veth is gone lost its network: the runtime's CNI DEL and "
                    "ADD (restarting the pod) make it again; a veth set down by hand: ip link "
                    "set DEV up (tabby-node then routes it again)");
        return;
    }
    diag_add(&d->report, AREA, "workloads", DIAG_OK, "%zu pod%s of this node wired: veth up, "
             "routes to %s addresses", n, n == 1 ? "" : "s", n == 1 ? "its" : "their");
}
