/* calc_nat.c — natOutgoing in table inet tabby: pod traffic from pools with natOutgoing to
 * anywhere outside every pool leaves masqueraded behind the node's address, as Calico's
 * cali-nat-outgoing chain does it; with natOutgoingAddress, IPv4 traffic is source-NATed to
 * that address instead. */
#include <errno.h>
#include <stdlib.h>

#include "tabby/calc.h"
#include "tabby/cleanup.h"

/* The sets keep their names while the pools change (only elements move), so a pool
 * added or removed changes set elements, not the rule. */
static const char *const set_names[2][2] = {
    { TBY_CALC_SET_NAT_POOLS "-4", TBY_CALC_SET_ALL_POOLS "-4" },
    { TBY_CALC_SET_NAT_POOLS "-6", TBY_CALC_SET_ALL_POOLS "-6" },
};

static size_t count_family(const struct tby_cidr_list *l, int family)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += l->items[i].ip.family == family;
    return n;
}

/* meta nfproto ipvF ip saddr @nat-pools-F ip daddr != @all-pools-F counter masquerade, or
 * (IPv4, natOutgoingAddress) snat ip to ADDR */
static struct tby_rs_rule *masquerade_rule(int family, const struct tby_ip *snat_to)
{
    char addr[TBY_IP_STRLEN];
    bool snat = snat_to && family == 4 && snat_to->family == 4;
    const char *const *names = set_names[family == 6];
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = (uint8_t)family },
        { .type = TBY_RS_M_ADDR_SET, .family = (uint8_t)family, .src = true,
          .set = (char *)names[0] },
        { .type = TBY_RS_M_ADDR_SET, .family = (uint8_t)family, .neg = true,
          .set = (char *)names[1] },
    };
    _cleanup_(tby_rs_rule_freep) struct tby_rs_rule *r = tby_rs_rule_new();

    for (size_t i = 0; r && i < TBY_ARRAY_SIZE(m); i++)
        if (tby_rs_rule_match(r, &m[i]) < 0)
            return NULL;
    if (!r || tby_rs_rule_set_verdict(r, snat ? TBY_RS_V_SNAT : TBY_RS_V_MASQUERADE,
                                      snat ? tby_ip_format(snat_to, addr) : NULL) < 0 ||
        tby_rs_rule_set_comment(r, "natOutgoing") < 0)
        return NULL;
    r->counter = true;
    return TBY_STEAL(r);
}

/* The two sets of one family: filled when some pool of the family masquerades, gone
 * otherwise. Returns 1 when the family needs its rule. */
static int family_sets(struct tby_rs *rs, int family, const struct tby_cidr_list *masquerade,
                       const struct tby_cidr_list *pools)
{
    const char *const *names = set_names[family == 6];
    enum tby_rs_set_type type = family == 6 ? TBY_RS_NET6 : TBY_RS_NET4;
    const struct tby_cidr_list *content[2] = { masquerade, pools };

    for (int i = 0; i < 2; i++) {
        struct tby_rs_set *set = tby_rs_set_find(rs, names[i]);

        if (count_family(masquerade, family) == 0) {
            if (set)
                tby_rs_set_del(rs, set);
            continue;
        }
        if (!set && !(set = tby_rs_set_add(rs, names[i], type, NULL)))
            return -ENOMEM;
        if (tby_rs_refill_nets(rs, set, content[i]->items, content[i]->n) < 0)
            return -ENOMEM;
    }
    return count_family(masquerade, family) > 0;
}

int tby_calc_set_nat(struct tby_calc *c, const struct tby_cidr_list *masquerade,
                     const struct tby_cidr_list *pools)
{
    return tby_calc_set_nat_to(c, masquerade, pools, NULL);
}

int tby_calc_set_nat_to(struct tby_calc *c, const struct tby_cidr_list *masquerade,
                        const struct tby_cidr_list *pools, const struct tby_ip *snat_to)
{
    struct tby_rs *rs = tby_calc_ruleset(c);
    struct tby_rs_chain *chain = tby_rs_chain_find(rs, TBY_CALC_CHAIN_NAT);
    struct tby_rs_rules rules = { 0 };
    int r = 0;

    for (int family = 4; r >= 0 && family <= 6; family += 2) {
        r = family_sets(rs, family, masquerade, pools);
        if (r > 0)
            r = tby_rs_rules_add(&rules, masquerade_rule(family, snat_to));
    }
    if (r >= 0 && rules.n == 0) {
        /* No pool masquerades: no nat hook at all, so the node's traffic pays nothing. */
        if (chain)
            tby_rs_chain_del(rs, chain);
        return 0;
    }
    if (r >= 0 && !chain && !(chain = tby_rs_chain_add(rs, TBY_CALC_CHAIN_NAT,
                                                       TBY_RS_HOOK_POSTROUTING)))
        r = -ENOMEM;
    if (r < 0) {
        tby_rs_rules_clear(&rules);
        return r;
    }
    return tby_rs_chain_take_rules(rs, chain, &rules);
}
