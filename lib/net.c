/* net.c — IP address and CIDR parsing, printing and arithmetic. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/net.h"

int tby_ip_parse(const char *text, struct tby_ip *out, struct tby_error *err)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = 6;
        return 0;
    }
    return tby_error_set(err, -EINVAL, "\"%s\" is not an IPv4 or IPv6 address", text);
}

static int parse_prefix_len(const char *text, unsigned max, uint8_t *out)
{
    char *end;
    unsigned long n;

    if (*text < '0' || *text > '9')
        return -EINVAL;
    errno = 0;
    n = strtoul(text, &end, 10);
    if (errno || *end || n > max || (text[0] == '0' && text[1]))
        return -EINVAL;
    *out = (uint8_t)n;
    return 0;
}

int tby_cidr_parse(const char *text, unsigned flags, struct tby_cidr *out,
                   struct tby_error *err)
{
    const char *slash = strchr(text, '/');
    char addr[TBY_IP_STRLEN];
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);

    memset(out, 0, sizeof(*out));
    if (addr_len == 0 || addr_len >= sizeof(addr))
        return tby_error_set(err, -EINVAL, "\"%s\" is not a CIDR (like 10.0.0.0/8)", text);
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (tby_ip_parse(addr, &out->ip, NULL) < 0)
        return tby_error_set(err, -EINVAL, "\"%s\" is not a CIDR (like 10.0.0.0/8)", text);
    if (!slash) {
        if (!(flags & TBY_CIDR_ALLOW_IP))
            return tby_error_set(err, -EINVAL, "\"%s\" has no prefix length (like %s/%u)",
                                 text, text, tby_ip_bits(&out->ip));
        out->prefix_len = (uint8_t)tby_ip_bits(&out->ip);
        return 0;
    }
    if (parse_prefix_len(slash + 1, tby_ip_bits(&out->ip), &out->prefix_len) < 0)
        return tby_error_set(err, -EINVAL, "\"%s\": prefix length must be 0 to %u", text,
                             tby_ip_bits(&out->ip));
    if ((flags & TBY_CIDR_STRICT) && tby_cidr_has_host_bits(out)) {
        struct tby_cidr masked = *out;
        char buf[TBY_CIDR_STRLEN];

        tby_cidr_mask(&masked);
        return tby_error_set(err, -EINVAL, "\"%s\" has host bits set (the network is %s)",
                             text, tby_cidr_format(&masked, buf));
    }
    if (flags & TBY_CIDR_MASK)
        tby_cidr_mask(out);
    return 0;
}

char *tby_ip_format(const struct tby_ip *ip, char *buf)
{
    if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->bytes, buf, TBY_IP_STRLEN))
        strcpy(buf, "?");
    return buf;
}

char *tby_cidr_format(const struct tby_cidr *cidr, char *buf)
{
    char ip[TBY_IP_STRLEN];

    snprintf(buf, TBY_CIDR_STRLEN, "%s/%u", tby_ip_format(&cidr->ip, ip), cidr->prefix_len);
    return buf;
}

unsigned tby_ip_bits(const struct tby_ip *ip)
{
    return ip->family == 4 ? 32 : 128;
}

bool tby_ip_equal(const struct tby_ip *a, const struct tby_ip *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

int tby_ip_compare(const struct tby_ip *a, const struct tby_ip *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

int tby_cidr_compare(const struct tby_cidr *a, const struct tby_cidr *b)
{
    int c = tby_ip_compare(&a->ip, &b->ip);

    if (c || a->prefix_len == b->prefix_len)
        return c;
    return a->prefix_len < b->prefix_len ? -1 : 1;
}

/* Keeps the first `bits` bits of `bytes`, clearing the rest. */
static void keep_bits(uint8_t *bytes, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        if (bits >= 8) {
            bits -= 8;
            continue;
        }
        bytes[i] &= (uint8_t)(0xff00u >> bits);
        bits = 0;
    }
}

void tby_cidr_mask(struct tby_cidr *cidr)
{
    keep_bits(cidr->ip.bytes, cidr->prefix_len);
}

bool tby_cidr_has_host_bits(const struct tby_cidr *cidr)
{
    struct tby_cidr masked = *cidr;

    tby_cidr_mask(&masked);
    return !tby_ip_equal(&masked.ip, &cidr->ip);
}

bool tby_cidr_contains(const struct tby_cidr *net, const struct tby_ip *ip)
{
    struct tby_ip a = net->ip, b = *ip;

    if (a.family != b.family)
        return false;
    keep_bits(a.bytes, net->prefix_len);
    keep_bits(b.bytes, net->prefix_len);
    return tby_ip_equal(&a, &b);
}

bool tby_cidr_contains_cidr(const struct tby_cidr *outer, const struct tby_cidr *inner)
{
    return inner->prefix_len >= outer->prefix_len && tby_cidr_contains(outer, &inner->ip);
}

bool tby_cidr_overlaps(const struct tby_cidr *a, const struct tby_cidr *b)
{
    return tby_cidr_contains_cidr(a, b) || tby_cidr_contains_cidr(b, a);
}

bool tby_cidr_equal(const struct tby_cidr *a, const struct tby_cidr *b)
{
    return a->prefix_len == b->prefix_len && tby_ip_equal(&a->ip, &b->ip);
}

uint64_t tby_cidr_size(const struct tby_cidr *cidr)
{
    unsigned host_bits = tby_ip_bits(&cidr->ip) - cidr->prefix_len;

    return host_bits >= 64 ? UINT64_MAX : (uint64_t)1 << host_bits;
}

struct tby_ip tby_ip_add(const struct tby_ip *ip, uint64_t offset)
{
    struct tby_ip out = *ip;
    int last = ip->family == 4 ? 3 : 15;
    unsigned carry = 0;

    for (int i = last; i >= 0 && (offset || carry); i--) {
        unsigned sum = out.bytes[i] + (unsigned)(offset & 0xff) + carry;

        out.bytes[i] = (uint8_t)sum;
        carry = sum >> 8;
        offset >>= 8;
    }
    return out;
}

uint64_t tby_ip_offset(const struct tby_ip *base, const struct tby_ip *ip)
{
    int width = base->family == 4 ? 4 : 16;
    uint64_t diff = 0;
    int borrow = 0;
    uint8_t d[16];

    if (base->family != ip->family || tby_ip_compare(ip, base) < 0)
        return UINT64_MAX;
    for (int i = width - 1; i >= 0; i--) {
        int v = ip->bytes[i] - base->bytes[i] - borrow;

        borrow = v < 0;
        d[i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
    for (int i = 0; i < width; i++) {
        if (i < width - 8 && d[i])
            return UINT64_MAX;
        diff = (diff << 8) | d[i];
    }
    return diff;
}
