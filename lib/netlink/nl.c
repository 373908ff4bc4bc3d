/* nl.c — tabby addresses to libnl's and back; libnl error codes to errnos. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>

#include "tabby/nl.h"

int tby_nl_af(int family)
{
    return family == 6 ? AF_INET6 : AF_INET;
}

struct nl_addr *tby_nl_addr_from_ip(const struct tby_ip *ip, unsigned prefix_len)
{
    struct nl_addr *a = nl_addr_build(tby_nl_af(ip->family), ip->bytes, tby_ip_bits(ip) / 8);

    if (a)
        nl_addr_set_prefixlen(a, (int)prefix_len);
    return a;
}

struct nl_addr *tby_nl_addr_from_cidr(const struct tby_cidr *cidr)
{
    return tby_nl_addr_from_ip(&cidr->ip, cidr->prefix_len);
}

struct nl_addr *tby_nl_addr_from_mac(const uint8_t mac[6])
{
    return nl_addr_build(AF_LLC, mac, 6);
}

int tby_nl_addr_to_cidr(const struct nl_addr *addr, struct tby_cidr *out)
{
    int af = addr ? nl_addr_get_family(addr) : AF_UNSPEC;
    unsigned len = addr ? nl_addr_get_len(addr) : 0;

    memset(out, 0, sizeof(*out));
    if (af != AF_INET && af != AF_INET6)
        return -EAFNOSUPPORT;
    out->ip.family = af == AF_INET ? 4 : 6;
    if (len > tby_ip_bits(&out->ip) / 8)
        return -EAFNOSUPPORT;
    memcpy(out->ip.bytes, nl_addr_get_binary_addr(addr), len);
    out->prefix_len = (uint8_t)nl_addr_get_prefixlen(addr);
    return 0;
}

bool tby_nl_addr_is_ip(const struct nl_addr *addr, const struct tby_ip *ip)
{
    struct tby_cidr c;

    return tby_nl_addr_to_cidr(addr, &c) == 0 && tby_ip_equal(&c.ip, ip);
}

bool tby_nl_addr_is_mac(const struct nl_addr *addr, const uint8_t mac[6])
{
    return addr && nl_addr_get_len(addr) == 6 && !memcmp(nl_addr_get_binary_addr(addr), mac, 6);
}

int tby_nl_errno(int nl_error)
{
    static const struct { int nle, errnum; } map[] = {
        { NLE_INTR, EINTR },         { NLE_AGAIN, EAGAIN },
        { NLE_NOMEM, ENOMEM },       { NLE_EXIST, EEXIST },
        { NLE_INVAL, EINVAL },       { NLE_RANGE, ERANGE },
        { NLE_MSGSIZE, EMSGSIZE },   { NLE_OPNOTSUPP, EOPNOTSUPP },
        { NLE_AF_NOSUPPORT, EAFNOSUPPORT }, { NLE_OBJ_NOTFOUND, ENOENT },
        { NLE_NOADDR, EADDRNOTAVAIL }, { NLE_BUSY, EBUSY },
        { NLE_NOACCESS, EACCES },    { NLE_PERM, EPERM },
        { NLE_NODEV, ENODEV },       { NLE_DUMP_INTR, EINTR },
        { NLE_MSG_OVERFLOW, ENOBUFS },
    };
    int nle = nl_error < 0 ? -nl_error : nl_error;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(map); i++)
        if (map[i].nle == nle)
            return -map[i].errnum;
    return -EIO;
}

static int keep_errno(struct sockaddr_nl *from, struct nlmsgerr *e, void *arg)
{
    *(int *)arg = e->error;
    return NL_STOP; /* libnl then fails the call, as it would have */
}

void tby_nl_keep_errno(struct nl_sock *sk, int *kept)
{
    nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, keep_errno, kept);
}

int tby_nl_errno_kept(int nl_error, int *kept)
{
    int e = tby_nl_errno(nl_error);

    if (e == -EIO && *kept < 0)
        e = *kept;
    *kept = 0;
    return e;
}
