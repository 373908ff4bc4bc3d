/* diagnose_sysctl.c — the kernel settings pod traffic needs, read from /proc/sys (which
 * shows the reading process's network namespace): forwarding on, reverse-path filtering
 * not strict on the interfaces pod traffic enters by (pods' veths, the tunnels), and the
 * conntrack table not near full (a full table drops new connections). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "diagnose.h"

#define AREA "kernel"
/* Above this share of the conntrack table: a warning. Full: new connections are dropped. */
#define CONNTRACK_WARN_PERCENT 80

/* A number from <proc>/sys/<path>; -errno when it cannot be read. */
static int read_number(const struct diag *d, const char *path, long long *out)
{
    _cleanup_free_ char *text = NULL;
    char file[PATH_MAX], *end;
    int r;

    snprintf(file, sizeof(file), "%s/sys/%s", d->set.proc, path);
    if ((r = tby_read_file(file, 64, &text, NULL)) < 0)
        return r;
    *out = strtoll(text, &end, 10);
    return end == text ? -EINVAL : 0;
}

static bool has_v6_pool(const struct diag *d)
{
    for (size_t i = 0; d->cluster.read && i < d->cluster.pools.n; i++)
        if (d->cluster.pools.items[i]->spec.ippool->cidr.ip.family == 6)
            return true;
    return false;
}

void diag_check_ip_forward(struct diag *d)
{
    static const struct {
        const char *path, *name;
    } knobs[] = {
        { "net/ipv4/ip_forward", "net.ipv4.ip_forward" },
        { "net/ipv6/conf/all/forwarding", "net.ipv6.conf.all.forwarding" },
    };
    struct diag_result *res = NULL;
    size_t n = has_v6_pool(d) ? 2 : 1;
    long long v;

    for (size_t i = 0; i < n; i++) {
        int r = read_number(d, knobs[i].path, &v);

        if (r == 0 && v == 1)
            continue;
        if (!res)
            res = diag_add(&d->report, AREA, "ip-forward", DIAG_FAIL,
                           "forwarding is off: the traffic of this node's pods to and from "
                           "anywhere but the node itself is dropped");
        if (r < 0)
            diag_detail(res, "%s cannot be read: %s", knobs[i].name, strerror(-r));
        else
            diag_detail(res, "%s = %lld", knobs[i].name, v);
        diag_item(res, "%s", knobs[i].name);
        diag_action(res, "sysctl -w %s=1 (and in /etc/sysctl.d, so that it stays after a "
                    "reboot); something turned it off: a sysctl file, a firewall tool",
                    knobs[i].name);
    }
    if (!res)
        diag_add(&d->report, AREA, "ip-forward", DIAG_OK, "forwarding is on (%s)",
                 n == 2 ? "IPv4 and IPv6" : "net.ipv4.ip_forward = 1");
}

/* ---- rp_filter ------------------------------------------------------------------------------ */

/* The interfaces pod traffic comes in by: local pods' veths, then the tunnels. */
static int pod_interfaces(const struct diag *d, struct tby_strv *out)
{
    static const char *const tunnels[] = { TBY_VXLAN_DEVICE, TBY_IPIP_DEVICE };
    int r = 0;

    for (size_t i = 0; r == 0 && d->cluster.read && i < d->cluster.weps.n; i++) {
        const struct tby_wep *w = d->cluster.weps.items[i]->spec.wep;

        if (diag_wep_is_on(d->cluster.weps.items[i], d->set.node) &&
            diag_link_by_name(&d->kernel, w->interface_name))
            r = tby_strv_push(out, w->interface_name);
    }
    for (size_t i = 0; r == 0 && i < TBY_ARRAY_SIZE(tunnels); i++)
        if (diag_link_by_name(&d->kernel, tunnels[i]))
            r = tby_strv_push(out, tunnels[i]);
    return r;
}

void diag_check_rp_filter(struct diag *d)
{
    _cleanup_(tby_strv_clear) struct tby_strv ifs = { 0 };
    struct diag_result *res = NULL;
    long long all = 0, own;
    char path[64 + IFNAMSIZ];

    if (diag_need_kernel(d, AREA, "rp-filter"))
        return;
    if (pod_interfaces(d, &ifs) < 0 || read_number(d, "net/ipv4/conf/all/rp_filter", &all) < 0)
        all = 0; /* unknown counts as off: each interface's own value still says */
    for (size_t i = 0; i < ifs.n; i++) {
        snprintf(path, sizeof(path), "net/ipv4/conf/%s/rp_filter", ifs.items[i]);
        if (read_number(d, path, &own) < 0)
            continue;
        /* the kernel applies the larger of all's and the interface's */
        if ((own > all ? own : all) != 1)
            continue;
        if (!res)
            res = diag_add(&d->report, AREA, "rp-filter", DIAG_FAIL,
                           "strict reverse-path filtering (rp_filter 1) on interfaces pod "
                           "traffic enters by: a packet whose source this node routes "
                           "another way (a borrowed address, an asymmetric or multipath "
                           "route) is dropped");
        diag_detail(res, "%s: rp_filter %lld, all %lld", ifs.items[i], own, all);
        diag_item(res, "%s", ifs.items[i]);
    }
    if (res) {
        diag_action(res, all == 1 ? "sysctl -w net.ipv4.conf.all.rp_filter=2 (loose), then "
                                    "each interface's to 2 or 0"
                                  : "sysctl -w net.ipv4.conf.<interface>.rp_filter=2 (loose) or "
                                    "0 on each interface named");
        return;
    }
    diag_add(&d->report, AREA, "rp-filter", DIAG_OK,
             "rp_filter is loose or off on every interface pod traffic enters by (%zu)", ifs.n);
}

/* ---- conntrack ------------------------------------------------------------------------------ */

void diag_check_conntrack(struct diag *d)
{
    struct diag_result *res;
    long long count, max;
    double pct;

    if (read_number(d, "net/netfilter/nf_conntrack_count", &count) < 0 ||
        read_number(d, "net/netfilter/nf_conntrack_max", &max) < 0 || max <= 0) {
        diag_add(&d->report, AREA, "conntrack", DIAG_WARN,
                 "not checked: %s/sys/net/netfilter/nf_conntrack_{count,max} cannot be read "
                 "(conntrack not loaded?)", d->set.proc);
        return;
    }
    pct = 100.0 * (double)count / (double)max;
    if (count >= max) {
        res = diag_add(&d->report, AREA, "conntrack", DIAG_FAIL,
                       "the conntrack table is full (%lld of %lld): new connections are "
                       "dropped", count, max);
    } else if (pct > CONNTRACK_WARN_PERCENT) {
        res = diag_add(&d->report, AREA, "conntrack", DIAG_WARN,
                       "the conntrack table is %.0f%% full (%lld of %lld); when full, new "
                       "connections are dropped", pct, count, max);
    } else {
        diag_add(&d->report, AREA, "conntrack", DIAG_OK,
                 "the conntrack table is %.0f%% full (%lld of %lld)", pct, count, max);
        return;
    }
    diag_item(res, "nf_conntrack");
    diag_action(res, "raise net.netfilter.nf_conntrack_max (on the host), or find what opens "
                "so many connections: conntrack -L | awk '{print $4}' | sort | uniq -c");
}
