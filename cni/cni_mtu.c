/* cni_mtu.c — the veth MTU when the configuration names none (see cni_mtu.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/route/link.h>

#include "tabby/autodetect.h"
#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/nl.h"
#include "tabby/routes.h"
#include "cni_mtu.h"

unsigned cni_mtu_overhead(const struct tby_resource_list *pools, const struct tby_ip *ip)
{
    for (size_t i = 0; i < pools->n; i++) {
        const struct tby_ippool *pool = pools->items[i]->spec.ippool;

        if (tby_cidr_contains(&pool->cidr, ip))
            return tby_pool_encap_overhead(pool, ip->family);
    }
    return 0;
}

/* The uplink's MTU, or CNI_DEFAULT_MTU when this namespace has no address to go by. */
static unsigned uplink_mtu(struct nl_sock *sk)
{
    _cleanup_(tby_autodetect_freep) struct tby_autodetect *method = NULL;
    _cleanup_nl_link_ struct rtnl_link *link = NULL;
    struct tby_autodetect_result found;
    struct tby_error err = { 0 };

    if (tby_autodetect_parse(NULL, &method, &err) < 0 ||
        (tby_autodetect_run(method, 4, &found, &err) < 0 &&
         tby_autodetect_run(method, 6, &found, &err) < 0) ||
        rtnl_link_get_kernel(sk, 0, found.ifname, &link) < 0) {
        tby_log(TBY_LOG_DEBUG, "cni", "no uplink for the MTU, taking %d: %s",
                CNI_DEFAULT_MTU, tby_error_str(&err));
        return CNI_DEFAULT_MTU;
    }
    return rtnl_link_get_mtu(link);
}

int cni_mtu_from_file(const char *path, bool required, unsigned *out, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_read_file(path, 64, &text, NULL);
    char *end;
    long mtu;

    *out = 0;
    if (r == -ENOENT && !required)
        return 0;
    if (r < 0)
        return tby_error_set(err, r, "the MTU file %s: %s", path,
                             r == -EFBIG ? "longer than a number" : strerror(-r));
    mtu = strtol(text, &end, 10);
    end += strspn(end, " \t\r\n");
    if (end == text || *end || mtu < CNI_MTU_MIN || mtu > CNI_MTU_MAX)
        return tby_error_set(err, -EINVAL, "the MTU file %s: \"%s\" is not an MTU (%d to %d)",
                             path, text, CNI_MTU_MIN, CNI_MTU_MAX);
    *out = (unsigned)mtu;
    return 0;
}

int cni_mtu_detect(struct nl_sock *sk, struct tby_store *store, const struct cni_result *res,
                   unsigned *out, struct tby_error *err)
{
    struct tby_resource_list pools = { 0 };
    unsigned overhead = 0;
    int r = tby_catalog_list(store, tby_kind_info(TBY_KIND_IPPOOL), NULL, &pools, err);

    if (r < 0)
        return r;
    for (size_t i = 0; i < res->n_ips; i++) {
        unsigned o = cni_mtu_overhead(&pools, &res->ips[i].address.ip);

        overhead = o > overhead ? o : overhead;
    }
    tby_resource_list_clear(&pools);
    *out = uplink_mtu(sk) - overhead;
    return 0;
}
