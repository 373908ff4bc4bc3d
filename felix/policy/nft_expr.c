/* nft_expr.c — a ruleset rule as libnftnl expressions, register by register, the way nft
 * itself encodes the same text (so `nft list` prints what tby_rs_rule_text says). */
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/udata.h>

#include "tabby/cleanup.h"
#include "nft_internal.h"

/* nft's datatype ids, for set keys (nft's datatype.h) */
enum {
    TYPE_IPADDR = 7,
    TYPE_IP6ADDR = 8,
    TYPE_INET_PROTOCOL = 12,
    TYPE_INET_SERVICE = 13,
    TYPE_IFNAME = 41,
    TYPE_BITS = 6,
};

#define CONCAT2(a, b) (((a) << TYPE_BITS) | (b))
#define CONCAT3(a, b, c) ((CONCAT2(a, b) << TYPE_BITS) | (c))

void nft_set_types(enum tby_rs_set_type type, uint32_t *flags, uint32_t *key_type,
                   uint32_t *key_len)
{
    static const uint32_t types[] = {
        [TBY_RS_ADDR4] = TYPE_IPADDR,
        [TBY_RS_ADDR6] = TYPE_IP6ADDR,
        [TBY_RS_NET4] = TYPE_IPADDR,
        [TBY_RS_NET6] = TYPE_IP6ADDR,
        [TBY_RS_PORTS] = TYPE_INET_SERVICE,
        [TBY_RS_ADDR4_PROTO_PORT] = CONCAT3(TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE),
        [TBY_RS_ADDR6_PROTO_PORT] = CONCAT3(TYPE_IP6ADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE),
        [TBY_RS_IFNAME_VMAP] = TYPE_IFNAME,
        [TBY_RS_IFNAMES] = TYPE_IFNAME,
        [TBY_RS_IFNAME_ADDR4] = CONCAT2(TYPE_IFNAME, TYPE_IPADDR),
        [TBY_RS_IFNAME_ADDR6] = CONCAT2(TYPE_IFNAME, TYPE_IP6ADDR),
    };

    *key_type = types[type];
    *key_len = tby_rs_key_len(type);
    *flags = tby_rs_is_interval(type) ? NFT_SET_INTERVAL : 0;
    if (type == TBY_RS_IFNAME_VMAP)
        *flags |= NFT_SET_MAP;
}

bool nft_set_type_of(uint32_t flags, uint32_t key_type, uint32_t key_len,
                     enum tby_rs_set_type *out)
{
    for (int t = TBY_RS_ADDR4; t <= TBY_RS_SET_TYPE_LAST; t++) {
        uint32_t f, kt, kl;

        nft_set_types(t, &f, &kt, &kl);
        if (f == (flags & (NFT_SET_INTERVAL | NFT_SET_MAP)) && kt == key_type && kl == key_len) {
            *out = t;
            return true;
        }
    }
    return false;
}

/* ---- expressions ------------------------------------------------------------------------ */

/* Builds one expression and adds it to the rule; returns false when out of memory (the
 * caller then drops the whole rule). */
struct enc {
    struct nftnl_rule *r;
    bool oom;
};

static struct nftnl_expr *expr(struct enc *e, const char *name)
{
    struct nftnl_expr *x = e->oom ? NULL : nftnl_expr_alloc(name);

    if (!x)
        e->oom = true;
    return x;
}

static void put(struct enc *e, struct nftnl_expr *x)
{
    if (x)
        nftnl_rule_add_expr(e->r, x);
}

static void meta_load(struct enc *e, uint32_t key, uint32_t reg)
{
    struct nftnl_expr *x = expr(e, "meta");

    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, reg);
    }
    put(e, x);
}

static void payload_load(struct enc *e, uint32_t base, uint32_t offset, uint32_t len,
                         uint32_t reg)
{
    struct nftnl_expr *x = expr(e, "payload");

    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, reg);
    }
    put(e, x);
}

static void cmp(struct enc *e, uint32_t op, const void *data, uint32_t len)
{
    struct nftnl_expr *x = expr(e, "cmp");

    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len);
    }
    put(e, x);
}

static void bitwise(struct enc *e, uint32_t and, uint32_t xor)
{
    struct nftnl_expr *x = expr(e, "bitwise");

    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
        nftnl_expr_set(x, NFTNL_EXPR_BITWISE_MASK, &and, sizeof(and));
        nftnl_expr_set(x, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
    }
    put(e, x);
}

static void lookup(struct enc *e, const char *set, bool neg, bool verdict)
{
    struct nftnl_expr *x = expr(e, "lookup");

    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
        nftnl_expr_set_str(x, NFTNL_EXPR_LOOKUP_SET, set);
        if (neg)
            nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        if (verdict)
            nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
    }
    put(e, x);
}

/* reg & bits ==/!= 0 on a 32-bit value loaded into reg 1 */
static void test_bits(struct enc *e, uint32_t bits, bool nonzero)
{
    uint32_t zero = 0;

    bitwise(e, bits, 0);
    cmp(e, nonzero ? NFT_CMP_NEQ : NFT_CMP_EQ, &zero, sizeof(zero));
}

static void match_icmp(struct enc *e, const struct tby_rs_match *m)
{
    uint8_t both[2] = { (uint8_t)m->a, (uint8_t)m->b };
    uint8_t type = (uint8_t)m->a, code = (uint8_t)m->b;

    if (m->has_b && m->neg) {
        payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG_1);
        cmp(e, NFT_CMP_NEQ, both, 2);
        return;
    }
    payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
    cmp(e, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &type, 1);
    if (m->has_b) {
        payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, 1, 1, NFT_REG_1);
        cmp(e, NFT_CMP_EQ, &code, 1);
    }
}

static uint32_t addr_offset(const struct tby_rs_match *m)
{
    if (m->family == 6)
        return m->src ? 8 : 24;
    return m->src ? 12 : 16;
}

static void match_port(struct enc *e, const struct tby_rs_match *m)
{
    uint16_t a = htons((uint16_t)m->a), b = htons((uint16_t)m->b);
    struct nftnl_expr *x;

    payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, m->src ? 0 : 2, 2, NFT_REG_1);
    if (!m->has_b || m->a == m->b) {
        cmp(e, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &a, sizeof(a));
        return;
    }
    x = expr(e, "range");
    if (x) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_RANGE_OP, m->neg ? NFT_RANGE_NEQ : NFT_RANGE_EQ);
        nftnl_expr_set(x, NFTNL_EXPR_RANGE_FROM_DATA, &a, sizeof(a));
        nftnl_expr_set(x, NFTNL_EXPR_RANGE_TO_DATA, &b, sizeof(b));
    }
    put(e, x);
}

/* addr . l4proto . port, each in its own 32-bit register after the address */
static void match_addr_proto_port(struct enc *e, const struct tby_rs_match *m)
{
    uint32_t alen = m->family == 6 ? 16 : 4;
    uint32_t next = NFT_REG32_00 + alen / 4;

    payload_load(e, NFT_PAYLOAD_NETWORK_HEADER, addr_offset(m), alen, NFT_REG_1);
    meta_load(e, NFT_META_L4PROTO, next);
    payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, m->src ? 0 : 2, 2, next + 1);
    lookup(e, m->set, m->neg, false);
}

static void match(struct enc *e, const struct tby_rs_match *m)
{
    uint8_t byte = (uint8_t)m->a;

    switch (m->type) {
    case TBY_RS_M_CT_STATE: {
        struct nftnl_expr *x = expr(e, "ct");

        if (x) {
            nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
            nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        }
        put(e, x);
        test_bits(e, m->a, true);
        break;
    }
    case TBY_RS_M_NFPROTO:
        byte = m->family == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
        meta_load(e, NFT_META_NFPROTO, NFT_REG_1);
        cmp(e, NFT_CMP_EQ, &byte, 1);
        break;
    case TBY_RS_M_L4PROTO:
        meta_load(e, NFT_META_L4PROTO, NFT_REG_1);
        cmp(e, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &byte, 1);
        break;
    case TBY_RS_M_ICMP:
        match_icmp(e, m);
        break;
    case TBY_RS_M_ADDR_SET:
        payload_load(e, NFT_PAYLOAD_NETWORK_HEADER, addr_offset(m), m->family == 6 ? 16 : 4,
                     NFT_REG_1);
        lookup(e, m->set, m->neg, false);
        break;
    case TBY_RS_M_PORT:
        match_port(e, m);
        break;
    case TBY_RS_M_PORT_SET:
        payload_load(e, NFT_PAYLOAD_TRANSPORT_HEADER, m->src ? 0 : 2, 2, NFT_REG_1);
        lookup(e, m->set, m->neg, false);
        break;
    case TBY_RS_M_ADDR_PROTO_PORT:
        match_addr_proto_port(e, m);
        break;
    case TBY_RS_M_MARK:
        meta_load(e, NFT_META_MARK, NFT_REG_1);
        test_bits(e, m->a, m->neg);
        break;
    case TBY_RS_M_IFNAME_SET:
        meta_load(e, m->src ? NFT_META_IIFNAME : NFT_META_OIFNAME, NFT_REG_1);
        lookup(e, m->set, m->neg, false);
        break;
    case TBY_RS_M_IFNAME_ADDR_SET: /* the name fills four 32-bit registers */
        meta_load(e, NFT_META_IIFNAME, NFT_REG32_00);
        payload_load(e, NFT_PAYLOAD_NETWORK_HEADER, addr_offset(m), m->family == 6 ? 16 : 4,
                     NFT_REG32_04);
        lookup(e, m->set, m->neg, false);
        break;
    }
}

/* ---- statements and verdicts ------------------------------------------------------------ */

static void statements(struct enc *e, const struct tby_rs_rule *r)
{
    struct nftnl_expr *x;

    if (r->counter)
        put(e, expr(e, "counter"));
    if (r->limit_rate && (x = expr(e, "limit"))) {
        nftnl_expr_set_u64(x, NFTNL_EXPR_LIMIT_RATE, r->limit_rate);
        nftnl_expr_set_u64(x, NFTNL_EXPR_LIMIT_UNIT, 1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_LIMIT_BURST, r->limit_burst);
        nftnl_expr_set_u32(x, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
        put(e, x);
    }
    if (r->log_prefix && (x = expr(e, "log"))) {
        nftnl_expr_set_str(x, NFTNL_EXPR_LOG_PREFIX, r->log_prefix);
        if (r->log_nflog)
            nftnl_expr_set_u16(x, NFTNL_EXPR_LOG_GROUP, r->log_group);
        put(e, x);
    }
    if (r->set_mark) {
        meta_load(e, NFT_META_MARK, NFT_REG_1);
        bitwise(e, r->mark_and, r->mark_xor);
        if ((x = expr(e, "meta"))) {
            nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, NFT_META_MARK);
            nftnl_expr_set_u32(x, NFTNL_EXPR_META_SREG, NFT_REG_1);
        }
        put(e, x);
    }
    if (r->notrack)
        put(e, expr(e, "notrack"));
}

/* snat ip to ADDR: the address into a register, then the nat expression reading it. */
static void snat(struct enc *e, const char *addr)
{
    struct in_addr a;
    struct nftnl_expr *x;

    if (inet_pton(AF_INET, addr, &a) != 1)
        return;
    if ((x = expr(e, "immediate"))) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
        nftnl_expr_set(x, NFTNL_EXPR_IMM_DATA, &a, sizeof(a));
    }
    put(e, x);
    if ((x = expr(e, "nat"))) {
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
    }
    put(e, x);
}

static void verdict(struct enc *e, const struct tby_rs_rule *r)
{
    static const int codes[] = {
        [TBY_RS_V_ACCEPT] = NF_ACCEPT, [TBY_RS_V_DROP] = NF_DROP,
        [TBY_RS_V_RETURN] = NFT_RETURN, [TBY_RS_V_JUMP] = NFT_JUMP, [TBY_RS_V_GOTO] = NFT_GOTO,
    };
    struct nftnl_expr *x;

    switch (r->verdict) {
    case TBY_RS_V_NONE:
        return;
    case TBY_RS_V_VMAP_IIF:
    case TBY_RS_V_VMAP_OIF:
        meta_load(e, r->verdict == TBY_RS_V_VMAP_IIF ? NFT_META_IIFNAME : NFT_META_OIFNAME,
                  NFT_REG_1);
        lookup(e, r->target, false, true);
        return;
    case TBY_RS_V_MASQUERADE:
        put(e, expr(e, "masq"));
        return;
    case TBY_RS_V_SNAT:
        snat(e, r->target);
        return;
    default:
        break;
    }
    if (!(x = expr(e, "immediate")))
        return;
    nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_VERDICT, (uint32_t)codes[r->verdict]);
    if (r->verdict == TBY_RS_V_JUMP || r->verdict == TBY_RS_V_GOTO)
        nftnl_expr_set_str(x, NFTNL_EXPR_IMM_CHAIN, r->target);
    put(e, x);
}

uint32_t nft_hooknum(enum tby_rs_hook hook)
{
    switch (hook) {
    case TBY_RS_HOOK_FORWARD:
        return NF_INET_FORWARD;
    case TBY_RS_HOOK_POSTROUTING:
        return NF_INET_POST_ROUTING;
    case TBY_RS_HOOK_OUTPUT:
    case TBY_RS_HOOK_RAW_OUTPUT:
        return NF_INET_LOCAL_OUT;
    case TBY_RS_HOOK_PREROUTING:
    case TBY_RS_HOOK_RAW_PREROUTING:
        return NF_INET_PRE_ROUTING;
    default:
        return NF_INET_LOCAL_IN;
    }
}

static bool user_data(struct nftnl_rule *nr, const struct tby_rs_rule *r)
{
    struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
    bool ok = u != NULL;

    if (ok && r->comment)
        ok = nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, r->comment);
    if (ok)
        ok = nftnl_udata_put(u, TBY_UDATA_RULE_DIGEST, sizeof(r->digest), &r->digest);
    if (ok)
        ok = nftnl_rule_set_data(nr, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
                                 nftnl_udata_buf_len(u)) == 0;
    nftnl_udata_buf_free(u);
    return ok;
}

struct nftnl_rule *nft_rule_build(const struct tby_rs_rule *r, const char *chain)
{
    struct enc e = { .r = nftnl_rule_alloc() };

    if (!e.r)
        return NULL;
    nftnl_rule_set_u32(e.r, NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_str(e.r, NFTNL_RULE_TABLE, TBY_RS_TABLE);
    nftnl_rule_set_str(e.r, NFTNL_RULE_CHAIN, chain);
    for (size_t i = 0; i < r->n; i++)
        match(&e, &r->m[i]);
    statements(&e, r);
    verdict(&e, r);
    if (e.oom || !user_data(e.r, r)) {
        nftnl_rule_free(e.r);
        return NULL;
    }
    return e.r;
}
