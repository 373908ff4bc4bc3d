/* net.h — IPv4/IPv6 addresses and CIDRs: parsing, printing, containment, arithmetic.
 *
 * Owns nothing: plain value types, no allocation. An IPv4 address lives in the first
 * four bytes of `bytes` (network order); bytes beyond the family's width are zero, so
 * two equal addresses compare equal with memcmp.
 */
#ifndef TABBY_NET_H
#define TABBY_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/error.h"

#define TBY_IP_STRLEN 46    /* INET6_ADDRSTRLEN */
#define TBY_CIDR_STRLEN 50

struct tby_ip {
    uint8_t family;         /* 4 or 6 */
    uint8_t bytes[16];
};

struct tby_cidr {
    struct tby_ip ip;       /* the network address, or any address for an interface CIDR */
    uint8_t prefix_len;
};

enum tby_cidr_flags {
    TBY_CIDR_STRICT = 1 << 0,    /* host bits set is an error (pool and block CIDRs) */
    TBY_CIDR_ALLOW_IP = 1 << 1,  /* a bare address means its full-length prefix */
    TBY_CIDR_MASK = 1 << 2,      /* host bits are cleared (rule nets, as Calico does) */
};

/* Parses "10.0.0.1" or "fd00::1". -EINVAL with a message on anything else. */
int tby_ip_parse(const char *text, struct tby_ip *out, struct tby_error *err);
/* Parses "10.0.0.0/8" per flags. Without TBY_CIDR_STRICT or TBY_CIDR_MASK the address
 * keeps its host bits (an interface address such as "10.0.0.5/24"). */
int tby_cidr_parse(const char *text, unsigned flags, struct tby_cidr *out,
                   struct tby_error *err);

/* Writes the text form into buf (TBY_IP_STRLEN / TBY_CIDR_STRLEN bytes); returns buf. */
char *tby_ip_format(const struct tby_ip *ip, char *buf);
char *tby_cidr_format(const struct tby_cidr *cidr, char *buf);

/* 32 or 128. */
unsigned tby_ip_bits(const struct tby_ip *ip);
bool tby_ip_equal(const struct tby_ip *a, const struct tby_ip *b);
/* memcmp-like order within one family; IPv4 sorts before IPv6. */
int tby_ip_compare(const struct tby_ip *a, const struct tby_ip *b);
/* By address as tby_ip_compare, then shorter prefixes first. */
int tby_cidr_compare(const struct tby_cidr *a, const struct tby_cidr *b);

/* Clears the host bits of cidr->ip. */
void tby_cidr_mask(struct tby_cidr *cidr);
bool tby_cidr_has_host_bits(const struct tby_cidr *cidr);
bool tby_cidr_contains(const struct tby_cidr *net, const struct tby_ip *ip);
bool tby_cidr_contains_cidr(const struct tby_cidr *outer, const struct tby_cidr *inner);
bool tby_cidr_overlaps(const struct tby_cidr *a, const struct tby_cidr *b);
bool tby_cidr_equal(const struct tby_cidr *a, const struct tby_cidr *b);

/* Number of addresses in the CIDR, saturated at UINT64_MAX. */
uint64_t tby_cidr_size(const struct tby_cidr *cidr);
/* ip + offset (wrapping within the family's width). */
struct tby_ip tby_ip_add(const struct tby_ip *ip, uint64_t offset);
/* ip - base, when ip >= base and the distance fits in 64 bits; else UINT64_MAX. */
uint64_t tby_ip_offset(const struct tby_ip *base, const struct tby_ip *ip);

#endif
