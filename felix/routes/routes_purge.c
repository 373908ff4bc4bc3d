/* routes_purge.c — every route of one protocol deleted, in every table: what
 * `tabby-node --uninstall` does with the routes tabby's BIRD left in the kernel (its
 * kernel protocol runs with persist on, so they outlive BIRD). Nothing else is read into
 * a plan or compared: a route of that protocol goes, whatever it holds. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "routes_kernel.h"

/* "10.0.1.0/26 table 254", or "? table N" for an address tabby cannot print. */
static void route_text(struct rtnl_route *rt, char *buf, size_t size)
{
    struct tby_cidr dst;
    char cidr[TBY_CIDR_STRLEN] = "?";

    if (tby_nl_addr_to_cidr(rtnl_route_get_dst(rt), &dst) == 0)
        tby_cidr_format(&dst, cidr);
    snprintf(buf, size, "%s table %u", cidr, rtnl_route_get_table(rt));
}

int tby_routes_delete_protocol(struct tby_routes *r, unsigned proto, unsigned *deleted,
                               struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    int rc = rtnl_route_alloc_cache(r->sock, AF_UNSPEC, 0, &cache), first = 0;

    *deleted = 0;
    r->kernel_errno = 0;
    if (rc < 0) {
        rc = tby_nl_errno_kept(rc, &r->kernel_errno);
        return tby_error_set(err, rc, "routes: cannot read the routing tables: %s",
                             strerror(-rc));
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_route *rt = (struct rtnl_route *)o;
        char text[TBY_CIDR_STRLEN + 24];

        if (rtnl_route_get_protocol(rt) != proto)
            continue;
        route_text(rt, text, sizeof(text));
        rc = rtnl_route_delete(r->sock, rt, 0);
        if (rc < 0) {
            rc = tby_nl_errno_kept(rc, &r->kernel_errno);
            /* Gone meanwhile (its nexthop's device went): what was asked is done. */
            if (rc == -ESRCH || rc == -ENOENT)
                continue;
            if (first == 0)
                first = tby_error_set(err, rc, "routes: cannot delete route %s of protocol "
                                      "%u: %s", text, proto, strerror(-rc));
            else
                tby_log(TBY_LOG_ERROR, "routes", "cannot delete route %s of protocol %u: %s",
                        text, proto, strerror(-rc));
            continue;
        }
        (*deleted)++;
        tby_log(TBY_LOG_INFO, "routes", "route deleted route=\"%s\" proto=%u", text, proto);
    }
    return first;
}
