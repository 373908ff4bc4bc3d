/* calc_host_resolve.c — which host endpoint governs which interface of the node, as
 * Felix resolves them (calc_host.h: calc_host_resolve).
 *
 * Each endpoint but the all-interfaces one claims interfaces: one naming an interface
 * (interfaceName) claims that one; one without interfaceName claims every interface that
 * holds one of its expectedIPs. Of several claiming one interface, the one whose name
 * comes first governs it, whichever way it claimed. An endpoint may so govern several
 * interfaces, or none (while its addresses are on no interface).
 *
 * What Felix does (felix/dataplane/linux/endpoint_mgr.go, resolveHostEndpoints, and
 * felix/ifacemonitor): for each interface present but the workloads', it picks,
 * among the endpoints that are not the all-interfaces one, the one with the smallest name
 * that either names the interface or, naming none, expects an address the interface holds;
 * an endpoint naming another interface is never matched by address. So a named endpoint
 * and one found by its expectedIPs compete on equal terms: the name decides, not the way
 * of claiming. The addresses it compares are those its interface monitor reports: the
 * destinations of the local routes (table local) out of each interface, lo's included,
 * read whatever the link's state (it tracks a down interface so as to police it before it
 * comes up), so an IPv6 address still tentative (no local route yet) is not yet the
 * interface's. tabby-node reads them so (lib/netlink/host_addrs.c); this file only
 * chooses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "calc_host.h"

struct claim {
    const char *iface;
    const char *name;
    size_t ep;
};

static int by_iface_then_name(const void *pa, const void *pb)
{
    const struct claim *a = pa, *b = pb;
    int c = strcmp(a->iface, b->iface);

    if (c == 0)
        c = strcmp(a->name, b->name);
    return c ? c : (a->ep > b->ep) - (a->ep < b->ep);
}

static bool holds_one(const struct calc_ep *ep, const struct tby_ip *ip)
{
    for (size_t i = 0; i < ep->n_addrs; i++)
        if (ep->addrs[i].family == ip->family &&
            memcmp(ep->addrs[i].bytes, ip->bytes, ip->family == 6 ? 16 : 4) == 0)
            return true;
    return false;
}

static int claim(struct claim **v, size_t *n, size_t *cap, const char *iface,
                 const struct calc_ep *ep, size_t i)
{
    if (TBY_GROW(*v, *cap, *n + 1) < 0)
        return -ENOMEM;
    (*v)[(*n)++] = (struct claim){ .iface = iface, .name = ep->host_name, .ep = i };
    return 0;
}

int calc_host_resolve(const struct calc_ep *const *eps, size_t n,
                      const struct tby_host_addr *addrs, size_t n_addrs, struct tby_strv *won)
{
    struct claim *v = NULL;
    size_t nv = 0, cap = 0;
    int err = 0;

    for (size_t i = 0; err == 0 && i < n; i++) {
        const char *iface = eps[i]->host_iface;

        if (*iface && strcmp(iface, "*") != 0) {
            err = claim(&v, &nv, &cap, iface, eps[i], i);
            continue;
        }
        /* addrs are sorted by interface: one claim per interface */
        for (size_t a = 0; err == 0 && !*iface && a < n_addrs; a++)
            if ((nv == 0 || v[nv - 1].ep != i || strcmp(v[nv - 1].iface, addrs[a].ifname)) &&
                holds_one(eps[i], &addrs[a].ip))
                err = claim(&v, &nv, &cap, addrs[a].ifname, eps[i], i);
    }
    if (err == 0 && nv)
        qsort(v, nv, sizeof(*v), by_iface_then_name);
    for (size_t i = 0; err == 0 && i < nv; i++)
        if (i == 0 || strcmp(v[i - 1].iface, v[i].iface) != 0)
            err = tby_strv_push(&won[v[i].ep], v[i].iface);
    free(v);
    return err;
}
