/* calc_untracked.c — doNotTrack policies (calc_untracked.h): host endpoint policy before
 * conntrack, as Calico's raw table runs it.
 *
 * raw-prerouting-hook and raw-output-hook hook in at raw priority (-300), before conntrack
 * sees the packet, only while some host endpoint has an untracked chain (calc_host.c adds
 * and drops them, the later hooks' accept of the mark with them): otherwise every packet
 * would pay a mark clear, a set lookup and a jump for nothing. Each clears tabby's mark bits (another program's rules may have left
 * them) and sends the packet to the untracked chain of the host endpoint it comes in by
 * (prerouting; a workload's packets are not a host endpoint's) or goes out by (output, the
 * node's own packets). Only named endpoints some doNotTrack policy applies to have such a
 * chain (Calico ignores doNotTrack on `interfaceName: "*"` endpoints), written by
 * calc_host.c: the raw failsafe chain first, then the tiers of its doNotTrack policies.
 * An Allow there marks the packet TBY_MARK_UNTRACKED, leaves it untracked (`notrack`) and
 * accepts it; a Deny drops it; what no doNotTrack policy decides goes on, tracked, to
 * preDNAT and normal policy. No tier's end drops and no profile runs here.
 *
 * An untracked packet has no conntrack entry, so the later hooks' "established" rule never
 * accepts it: they accept what carries TBY_MARK_UNTRACKED instead (prerouting before DNAT,
 * input and output before their host endpoint chains; forward skips the incoming
 * endpoint's applyOnForward policies, as Calico's filter table does with its accept mark).
 * Replies get no conntrack help either: a doNotTrack policy must allow them too.
 *
 * The raw failsafe chains accept the failsafe ports both ways (inbound: to an inbound
 * failsafe port, or from an outbound one, its replies; outbound the mirror), without
 * notrack: the packet is tracked and the filter's failsafe rules take it, as in Calico, so
 * that no doNotTrack policy cuts SSH, BGP or the datastore. */
#include <errno.h>
#include <stdio.h>

#include "tabby/array.h"
#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "calc_host.h"
#include "calc_policy.h"
#include "calc_untracked.h"

#define RAW_PRE_HOOK "raw-prerouting-hook"
#define RAW_OUT_HOOK "raw-output-hook"
#define OUR_BITS (TBY_MARK_ACCEPT | TBY_MARK_PASS | TBY_MARK_UNTRACKED)

static const char *const failsafe_name[2] = { "failsafe-raw-in", "failsafe-raw-out" };

const struct tby_rs_match calc_untracked_not_allowed = { .type = TBY_RS_M_MARK,
                                                         .a = TBY_MARK_UNTRACKED };

struct tby_rs_rule *calc_untracked_allowed(void)
{
    const struct tby_rs_match accepted = { .type = TBY_RS_M_MARK, .a = TBY_MARK_ACCEPT,
                                           .neg = true };
    struct tby_rs_rule *r = tby_rs_rule_of(&accepted, 1, TBY_RS_V_ACCEPT, NULL, NULL);

    if (r) {
        r->set_mark = true;
        r->mark_and = ~TBY_MARK_UNTRACKED;
        r->mark_xor = TBY_MARK_UNTRACKED;
        r->notrack = true;
    }
    return r;
}

struct tby_rs_rule *calc_untracked_accept(void)
{
    const struct tby_rs_match untracked = { .type = TBY_RS_M_MARK, .a = TBY_MARK_UNTRACKED,
                                            .neg = true };

    return tby_rs_rule_of(&untracked, 1, TBY_RS_V_ACCEPT, NULL, NULL);
}

const char *calc_untracked_failsafe_chain(int d)
{
    return failsafe_name[d == DIR_IN ? 0 : 1];
}

/* Accepts the ports as destination (src false) or source ports; a port with a net only
 * with the peer in it, of its family: the source in the in chain, the destination in the
 * out chain (the set calc_host.c's failsafe chains made for the net). */
static int failsafe_rules(struct tby_rs_rules *l, const struct tby_felix_port *v, size_t n,
                          bool src, int d)
{
    int err = 0;

    for (size_t i = 0; err == 0 && i < n; i++) {
        uint8_t family = v[i].has_net ? v[i].net.ip.family : 0;
        char set[TBY_RS_HASHED_NAME_SIZE];
        struct tby_rs_match m[] = {
            { .type = TBY_RS_M_NFPROTO, .family = family },
            { .type = TBY_RS_M_L4PROTO, .a = v[i].protocol },
            { .type = TBY_RS_M_PORT, .a = v[i].port, .src = src },
            { .type = TBY_RS_M_ADDR_SET, .family = family, .src = d == DIR_IN, .set = set },
        };

        if (v[i].has_net)
            calc_host_net_set_name(&v[i].net, set);
        err = tby_rs_rules_add(l, v[i].has_net ? tby_rs_rule_of(m, 4, TBY_RS_V_ACCEPT, NULL, NULL)
                                               : tby_rs_rule_of(m + 1, 2, TBY_RS_V_ACCEPT, NULL,
                                                                NULL));
    }
    return err;
}

int calc_untracked_failsafe(struct tby_rs *rs, const struct tby_felix_port *in, size_t n_in,
                            const struct tby_felix_port *out, size_t n_out)
{
    int err = 0;

    for (int d = 0; err == 0 && d < 2; d++) {
        struct tby_rs_rules l = { 0 };
        int e = failsafe_rules(&l, d == DIR_IN ? in : out, d == DIR_IN ? n_in : n_out, false, d);

        if (e == 0)
            e = failsafe_rules(&l, d == DIR_IN ? out : in, d == DIR_IN ? n_out : n_in, true, d);
        err = tby_rs_chain_write(rs, failsafe_name[d], TBY_RS_HOOK_NONE, &l, e);
    }
    return err;
}

/* A raw hook: tabby's bits cleared, workloads' packets left alone (prerouting), the rest
 * to the dispatch of host endpoints' untracked chains. */
static int raw_hook(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                    const char *dispatch)
{
    const struct tby_rs_match wl = { .type = TBY_RS_M_IFNAME_SET, .src = true,
                                     .set = TBY_CALC_SET_LOCAL_WL };
    struct tby_rs_rules l = { 0 };
    struct tby_rs_rule *clear = tby_rs_rule_new();
    int err;

    if (clear) {
        clear->set_mark = true;
        clear->mark_and = ~OUR_BITS;
    }
    err = tby_rs_rules_add(&l, clear);
    if (err == 0 && hook == TBY_RS_HOOK_RAW_PREROUTING)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&wl, 1, TBY_RS_V_RETURN, NULL, NULL));
    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, dispatch, NULL));
    return tby_rs_chain_write(rs, name, hook, &l, err);
}

int calc_untracked_hooks(struct tby_rs *rs)
{
    int err = raw_hook(rs, RAW_PRE_HOOK, TBY_RS_HOOK_RAW_PREROUTING, CALC_UNTRACKED_CHAIN_IN);

    return err < 0 ? err : raw_hook(rs, RAW_OUT_HOOK, TBY_RS_HOOK_RAW_OUTPUT,
                                    CALC_UNTRACKED_CHAIN_OUT);
}

void calc_untracked_drop(struct tby_rs *rs)
{
    const char *const names[] = { RAW_PRE_HOOK, RAW_OUT_HOOK, failsafe_name[0],
                                  failsafe_name[1] };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        struct tby_rs_chain *c = tby_rs_chain_find(rs, names[i]);

        if (c)
            tby_rs_chain_del(rs, c);
    }
}
