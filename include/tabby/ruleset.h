/* ruleset.h — the desired content of the nftables table `inet tabby`: named sets, verdict
 * maps and chains of rules, held as a model that the policy calculation (calc.h) edits in
 * small steps and the nftables dataplane (nft.h) programs; it also prints as `nft -f` text.
 *
 * Owns: every set, element, chain and rule in it, and their names. tby_rs_free releases
 * all of it. Nothing here talks to the kernel.
 *
 * Edits are journalled. Every object remembers whether it is wanted (`live`) and whether
 * the kernel has it (`prog`, as far as the dataplane last knew); every edit puts what it
 * touched on a journal. A dataplane sync walks only the journal, programs the difference,
 * and on success calls tby_rs_journal_done, which makes `prog` follow `live` and frees
 * what is neither. Deleting an object the kernel has keeps it as a tombstone until then;
 * re-creating it before the sync revives it. So the cost of a sync follows the size of the
 * change, not of the table.
 *
 * Set elements are reference counted: two owners of one address (an endpoint leaving while
 * another one takes its address) each hold a reference, and the address leaves the set
 * when the last one lets go.
 *
 * Who writes what: only ruleset.c changes these structs; nft.c reads them, and marks what
 * the kernel holds through tby_rs_mark_* when it reads the table back.
 */
#ifndef TABBY_RULESET_H
#define TABBY_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "tabby/net.h"

#define TBY_RS_TABLE "tabby"
/* Longest name the kernel takes for a set or chain (NFT_NAME_MAXLEN - 1). */
#define TBY_RS_NAME_MAX 255
/* Longest rule comment nft prints (NFTNL_UDATA_COMMENT_MAXLEN - 1). */
#define TBY_RS_COMMENT_MAX 127
/* Room for tby_rs_hashed_name's names. */
#define TBY_RS_HASHED_NAME_SIZE 64

/* Packet mark bits a policy chain hands back to the dispatch chain that jumped to it. */
#define TBY_MARK_ACCEPT 0x10000u
#define TBY_MARK_PASS 0x20000u
/* Set before conntrack (raw priority) on a packet a doNotTrack policy allowed, and left
 * untracked: the later hooks accept it (calc_untracked.c). */
#define TBY_MARK_UNTRACKED 0x40000u

/* conntrack state bits, as `ct state` reads them */
#define TBY_CT_INVALID 0x01u
#define TBY_CT_ESTABLISHED 0x02u
#define TBY_CT_RELATED 0x04u

enum tby_rs_set_type {
    TBY_RS_ADDR4,             /* ipv4_addr */
    TBY_RS_ADDR6,             /* ipv6_addr */
    TBY_RS_NET4,              /* ipv4_addr, intervals */
    TBY_RS_NET6,              /* ipv6_addr, intervals */
    TBY_RS_PORTS,             /* inet_service, intervals */
    TBY_RS_ADDR4_PROTO_PORT,  /* ipv4_addr . inet_proto . inet_service */
    TBY_RS_ADDR6_PROTO_PORT,  /* ipv6_addr . inet_proto . inet_service */
    TBY_RS_IFNAME_VMAP,       /* ifname : verdict (jump to a chain) */
    TBY_RS_IFNAMES,           /* ifname */
    TBY_RS_IFNAME_ADDR4,      /* ifname . ipv4_addr (a workload's interface and address) */
    TBY_RS_IFNAME_ADDR6,      /* ifname . ipv6_addr */
};
#define TBY_RS_SET_TYPE_LAST TBY_RS_IFNAME_ADDR6

/* Bytes of a key as the kernel stores it (network order, fields padded to 4 bytes). */
#define TBY_RS_KEY_MAX 32

/* One kernel element. Interval sets hold a start element and an end element (flags
 * TBY_RS_ELEM_END, key = last + 1) per range; a range reaching the top has no end. */
#define TBY_RS_ELEM_END 0x01u
/* ruleset.c's: a verdict map's element, which carries its targets (tby_rs_elem_target) */
#define TBY_RS_ELEM_VMAP 0x80u
/* ruleset.c's: the element sits in one of the ruleset's slots (ruleset_slots.h) */
#define TBY_RS_ELEM_SLOT 0x40u

/* The flags that are part of an element's key (the others are ruleset.c's). */
#define TBY_RS_ELEM_KEY_FLAGS ((uint8_t)~(TBY_RS_ELEM_VMAP | TBY_RS_ELEM_SLOT))

/* 16 bytes and the key: a table holds hundreds of thousands of them. */
struct tby_rs_elem {
    struct tby_rs_elem *next; /* in its set's table */
    uint32_t refs;            /* wanted while > 0 (vmaps: while a target is set) */
    bool prog;                /* the kernel has it */
    bool touched;             /* on its set's journal */
    uint8_t flags;            /* TBY_RS_ELEM_END, TBY_RS_ELEM_VMAP */
    uint8_t len;
    uint8_t key[];
};

/* A verdict map's element: the chain it should jump to (NULL: it should go); other
 * elements: NULL. */
const char *tby_rs_elem_target(const struct tby_rs_elem *e);

/* A set's elements (ruleset_elems.c): chained buckets whose entries keep no hash. Walk
 * them with tby_rs_elems_first/_next (fetch the next before the current goes). */
struct tby_rs_elems {
    struct tby_rs_elem **buckets;
    size_t mask;              /* bucket count - 1; the count is a power of two */
    size_t n;
};
struct tby_rs_elem *tby_rs_elems_first(const struct tby_rs_elems *t);
struct tby_rs_elem *tby_rs_elems_next(const struct tby_rs_elems *t, const struct tby_rs_elem *e);

struct tby_rs_given;          /* ruleset.c's: the CIDRs owners gave a set */
struct tby_rs_slots;          /* ruleset_slots.h's: where the elements of a ruleset sit */

struct tby_rs_set {
    struct tby_hnode node;
    char *name;
    char *comment;            /* NULL: none */
    enum tby_rs_set_type type;
    bool live, prog, touched;
    bool all_touched;         /* every element needs a look (after a read-back) */
    struct tby_rs_elems elems;
    struct tby_rs_elem **journal;
    size_t n_journal, cap_journal;
    struct tby_rs_given *given;  /* CIDRs given by tby_rs_add_net (NULL: none yet) */
    struct tby_rs_slots *slots;  /* the ruleset's, for its small elements */
};

enum tby_rs_hook {
    TBY_RS_HOOK_NONE,
    TBY_RS_HOOK_FORWARD,      /* type filter hook forward priority 0 */
    TBY_RS_HOOK_INPUT,        /* type filter hook input priority 0 */
    TBY_RS_HOOK_POSTROUTING,  /* type nat hook postrouting priority srcnat (100) */
    TBY_RS_HOOK_OUTPUT,       /* type filter hook output priority 0 */
    TBY_RS_HOOK_PREROUTING,   /* type filter hook prerouting priority dstnat - 10 (-110) */
    TBY_RS_HOOK_RAW_PREROUTING, /* type filter hook prerouting priority raw (-300) */
    TBY_RS_HOOK_RAW_OUTPUT,   /* type filter hook output priority raw (-300) */
};

/* How a base chain hooks in, as nft writes it: "filter", "forward", 0. */
struct tby_rs_hook_info {
    const char *type;
    const char *name;
    int priority;
};
const struct tby_rs_hook_info *tby_rs_hook_info(enum tby_rs_hook hook);

enum tby_rs_match_type {
    TBY_RS_M_CT_STATE,        /* ct state & a != 0 */
    TBY_RS_M_NFPROTO,         /* meta nfproto ipv4/ipv6 (family 4 or 6) */
    TBY_RS_M_L4PROTO,         /* meta l4proto [!=] a */
    TBY_RS_M_ICMP,            /* icmp(v6) type [!=] a [code b]; family picks the header */
    TBY_RS_M_ADDR_SET,        /* ip(6) s/daddr [!=] @set */
    TBY_RS_M_PORT,            /* th s/dport [!=] a[-b] */
    TBY_RS_M_PORT_SET,        /* th s/dport [!=] @set */
    TBY_RS_M_ADDR_PROTO_PORT, /* ip(6) s/daddr . meta l4proto . th s/dport [!=] @set */
    TBY_RS_M_MARK,            /* meta mark & a ==/!= 0 (neg: != 0, i.e. some bit set) */
    TBY_RS_M_IFNAME_SET,      /* iifname (src) / oifname [!=] @set */
    TBY_RS_M_IFNAME_ADDR_SET, /* iifname . ip(6) saddr [!=] @set (src; family) */
};

struct tby_rs_match {
    enum tby_rs_match_type type;
    bool neg;
    bool src;                 /* source address/port (else destination) */
    bool has_b;               /* ICMP code given; port range */
    uint8_t family;           /* 4 or 6 */
    uint32_t a, b;
    char *set;                /* set name for the set matches */
};

enum tby_rs_verdict {
    TBY_RS_V_NONE,            /* continue */
    TBY_RS_V_ACCEPT,
    TBY_RS_V_DROP,
    TBY_RS_V_RETURN,
    TBY_RS_V_JUMP,            /* target: chain */
    TBY_RS_V_GOTO,            /* target: chain */
    TBY_RS_V_VMAP_IIF,        /* iifname vmap @target */
    TBY_RS_V_VMAP_OIF,        /* oifname vmap @target */
    TBY_RS_V_MASQUERADE,      /* masquerade (nat chains only) */
    TBY_RS_V_SNAT,            /* snat ip to <target, an IPv4 address> (nat chains only) */
};

/* Fields ordered by size (72 bytes, a 80-byte malloc chunk): a table holds tens of
 * thousands of rules. */
struct tby_rs_rule {
    struct tby_rs_match *m;
    char *log_prefix;         /* NULL: no log */
    char *target;
    char *comment;            /* NULL: none */
    uint64_t digest;          /* identifies the rule's whole content; set by tby_rs_rule_seal */
    uint32_t limit_rate;      /* > 0: limit rate limit_rate/second burst limit_burst packets */
    uint32_t limit_burst;
    uint32_t mark_and, mark_xor;
    enum tby_rs_verdict verdict;
    uint32_t refs;            /* a sealed rule is immutable and may sit in several chains */
    uint16_t n;               /* matches in m (tby_rs_rule_match refuses more than 65,535) */
    uint16_t log_group;
    bool log_nflog;           /* log to NFLOG group log_group (else the kernel's log) */
    bool counter;
    bool set_mark;            /* meta mark set mark & mark_and ^ mark_xor */
    bool notrack;             /* notrack (raw priority chains only), after the mark */
    bool packed;              /* sealed: m holds the matches, then every string of the rule */
};

struct tby_rs_chain {
    struct tby_hnode node;
    char *name;
    enum tby_rs_hook hook;    /* base chains: see tby_rs_hook_info; policy accept */
    bool live, prog, touched;
    bool dirty;               /* the rules differ from the kernel's */
    struct tby_rs_rule **rules;
    size_t n_rules;
};

struct tby_rs {
    struct tby_hmap sets;
    struct tby_hmap chains;
    bool table_prog;          /* the kernel has the table */
    struct tby_rs_set **set_journal;
    size_t n_set_journal, cap_set_journal;
    struct tby_rs_chain **chain_journal;
    size_t n_chain_journal, cap_chain_journal;
    struct tby_rs_slots *slots;  /* owned: the slots of the small elements of every set */
};

/* ---- the model ----------------------------------------------------------------------- */

struct tby_rs *tby_rs_new(void);
void tby_rs_free(struct tby_rs *rs);
TBY_DEFINE_FREEP(struct tby_rs, tby_rs_free)

/* A set or chain name for what has no name of its own that nft takes (a selector, a list
 * of ports): "<prefix>-<16 hex digits of tby_hash_str(text)>", into buf (of
 * TBY_RS_HASHED_NAME_SIZE bytes; a longer prefix is cut). Returns buf. */
const char *tby_rs_hashed_name(char *buf, const char *prefix, const char *text);

/* Live objects; NULL when absent or only a tombstone. */
struct tby_rs_set *tby_rs_set_find(const struct tby_rs *rs, const char *name);
struct tby_rs_chain *tby_rs_chain_find(const struct tby_rs *rs, const char *name);

/* Creates (or revives) a set; an existing live set of that name is returned as it is.
 * comment may be NULL. NULL when out of memory. */
struct tby_rs_set *tby_rs_set_add(struct tby_rs *rs, const char *name,
                                  enum tby_rs_set_type type, const char *comment);
/* Drops the set and every reference to its elements. */
void tby_rs_set_del(struct tby_rs *rs, struct tby_rs_set *set);

/* Element edits, reference counted (each add is undone by one remove). -ENOMEM. */
int tby_rs_add_addr(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip);
void tby_rs_remove_addr(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip);
/* Interface names (TBY_RS_IFNAMES), reference counted too. -EINVAL for a bad name. */
int tby_rs_add_ifname(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname);
void tby_rs_remove_ifname(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname);
/* An interface and an address (TBY_RS_IFNAME_ADDR4/6), reference counted too. -EINVAL for a
 * bad name or an address of the other family. */
int tby_rs_add_ifname_addr(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname,
                           const struct tby_ip *ip);
void tby_rs_remove_ifname_addr(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname,
                               const struct tby_ip *ip);
int tby_rs_add_addr_port(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip,
                         uint8_t proto, uint16_t port);
void tby_rs_remove_addr_port(struct tby_rs *rs, struct tby_rs_set *set,
                             const struct tby_ip *ip, uint8_t proto, uint16_t port);
/* Interval sets hold a fixed content, given once when created: the CIDRs of one family
 * (overlaps merged) or the port ranges (each {first, last}). */
int tby_rs_fill_nets(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *nets,
                     size_t n);
int tby_rs_fill_ports(struct tby_rs *rs, struct tby_rs_set *set, const uint16_t (*ranges)[2],
                      size_t n);
/* An interval set whose content many owners give and take back one CIDR at a time (a
 * selector's members: pods' addresses as /32 and /128, network sets' nets), each CIDR
 * reference counted. CIDRs nest or lie apart, so the set holds one range per given CIDR that
 * no other given CIDR contains; ranges side by side stay apart (the kernel takes an end and
 * a start at one key), so an owner coming or going changes only its own range and those its
 * CIDR covers. Not mixed with tby_rs_fill_nets on one set. -ENOMEM; -EINVAL for a CIDR of
 * the other family or a set that is not a CIDR interval set. */
int tby_rs_add_net(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *net);
int tby_rs_remove_net(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *net);
/* Replaces the content of a CIDR interval set (a set whose name stays while its content
 * follows something that changes, such as the IP pools): elements that stay are not
 * touched, so the sync sends only the ranges that changed. -ENOMEM. */
int tby_rs_refill_nets(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *nets,
                       size_t n);
/* Points ifname at chain (NULL: removes the element). -ENOMEM, -EINVAL for a bad name. */
int tby_rs_vmap_set(struct tby_rs *rs, struct tby_rs_set *map, const char *ifname,
                    const char *chain);

/* Creates (or revives) a chain without rules. NULL when out of memory. */
struct tby_rs_chain *tby_rs_chain_add(struct tby_rs *rs, const char *name,
                                      enum tby_rs_hook hook);
void tby_rs_chain_del(struct tby_rs *rs, struct tby_rs_chain *chain);
/* Replaces the chain's rules with rules[0..n) (taking them, and the array, even on
 * failure); unchanged content leaves the chain untouched. Rules must be sealed. */
int tby_rs_chain_set_rules(struct tby_rs *rs, struct tby_rs_chain *chain,
                           struct tby_rs_rule **rules, size_t n);

/* ---- rules ---------------------------------------------------------------------------- */

/* A new rule holding one reference. tby_rs_rule_free drops one reference and frees the
 * rule with the last; tby_rs_rule_ref adds one (for a sealed rule shared by chains). */
struct tby_rs_rule *tby_rs_rule_new(void);
struct tby_rs_rule *tby_rs_rule_ref(struct tby_rs_rule *rule);
void tby_rs_rule_free(struct tby_rs_rule *rule);
TBY_DEFINE_FREEP(struct tby_rs_rule, tby_rs_rule_free)
/* Appends a match; set (may be NULL) is copied. -ENOMEM. */
int tby_rs_rule_match(struct tby_rs_rule *rule, const struct tby_rs_match *m);
int tby_rs_rule_set_comment(struct tby_rs_rule *rule, const char *comment);
int tby_rs_rule_set_log(struct tby_rs_rule *rule, const char *prefix);
int tby_rs_rule_set_verdict(struct tby_rs_rule *rule, enum tby_rs_verdict v, const char *target);
/* A new rule of the matches m[0..n), the verdict v (target: the chain of a jump or goto, else
 * NULL) and comment (NULL: none), unsealed; NULL when out of memory. */
struct tby_rs_rule *tby_rs_rule_of(const struct tby_rs_match *m, size_t n,
                                   enum tby_rs_verdict v, const char *target,
                                   const char *comment);
/* Computes the digest and packs the rule's matches and strings into one allocation (a
 * table holds tens of thousands of rules); call after the last edit: a sealed rule takes
 * no more edits (-EINVAL). -ENOMEM. */
int tby_rs_rule_seal(struct tby_rs_rule *rule);
/* The same for a rule handed over: one the caller alone holds moves with its matches and
 * strings into a single allocation, so use the rule returned (rule itself when shared).
 * NULL (rule freed) when out of memory; NULL in gives NULL. */
struct tby_rs_rule *tby_rs_rule_sealed(struct tby_rs_rule *rule);

/* ---- denied packets: log, then drop ----------------------------------------------------
 * Every deny path (a rule's Deny, a tier's or the dispatch's default deny) is written as
 * two rules: the twin, with the same matches, `limit rate TBY_RS_DENY_LOG_RATE/second
 * burst TBY_RS_DENY_LOG_BURST packets log prefix "ID" group TBY_RS_DENY_LOG_GROUP` and no
 * verdict, then the drop itself (counter drop). A limit that is over does not match, so
 * a flood is logged at a bounded rate and still dropped by the second rule. ID is compact
 * (the kernel takes 127 bytes and each logged packet carries it): TBY_RS_DENY_ID_TAG and
 * 12 hex digits of the drop's comment's hash; tby_rs_find_deny maps it back to the
 * comment (policy, direction, rule index). */
#define TBY_RS_DENY_LOG_GROUP 7001
#define TBY_RS_DENY_LOG_RATE 50
#define TBY_RS_DENY_LOG_BURST 100
#define TBY_RS_DENY_ID_TAG "tby-deny:"
#define TBY_RS_DENY_ID_SIZE (sizeof(TBY_RS_DENY_ID_TAG) + 12)
/* The id of the deny whose drop rule has this comment. */
void tby_rs_deny_id(const char *comment, char id[TBY_RS_DENY_ID_SIZE]);
/* The logging twin of drop (a rule with verdict drop and a comment): a new rule, unsealed,
 * or NULL when out of memory. */
struct tby_rs_rule *tby_rs_deny_log_rule(const struct tby_rs_rule *drop);

/* Rules gathered for a chain, in order (an array grown with TBY_GROW), holding one
 * reference to each; tby_rs_chain_take_rules hands them to the chain. */
struct tby_rs_rules {
    struct tby_rs_rule **v;
    size_t n, cap;
};
/* Appends rule, sealing it unless it is sealed already; takes it (freed on failure, and
 * NULL, a builder's failure, fails too). -ENOMEM. */
int tby_rs_rules_add(struct tby_rs_rules *list, struct tby_rs_rule *rule);
/* Appends the twin of drop, then drop (taken: sealed unless it is, freed on failure).
 * -ENOMEM. */
int tby_rs_rules_add_deny(struct tby_rs_rules *list, struct tby_rs_rule *drop);
/* Lets go of the rules and the array; the list is empty. */
void tby_rs_rules_clear(struct tby_rs_rules *list);
/* tby_rs_chain_set_rules with the list's rules; the list is empty after, even on failure. */
int tby_rs_chain_take_rules(struct tby_rs *rs, struct tby_rs_chain *chain,
                            struct tby_rs_rules *list);

/* The chain `name` (made when missing, hooked as hook) takes the list's rules, or, when
 * err says building them failed, the list is let go of and -ENOMEM returned. */
int tby_rs_chain_write(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                       struct tby_rs_rules *list, int err);

/* The comment of the drop rule whose logging twin has prefix id, among the chains' rules;
 * NULL when none has. */
const char *tby_rs_find_deny(const struct tby_rs *rs, const char *id);

/* ---- the journal (for nft.c) ---------------------------------------------------------- */

/* Calls fn for every element on the set's journal (every element after a read-back),
 * stopping at the first non-zero return, which it returns. */
int tby_rs_set_journal_foreach(const struct tby_rs_set *set,
                               int (*fn)(const struct tby_rs_elem *e, void *ctx), void *ctx);
/* The kernel has the element and must lose it (dropped, or its verdict changes). */
bool tby_rs_elem_gone(const struct tby_rs_elem *e);
/* The element is wanted and the kernel lacks it (new, or its verdict changed). */
bool tby_rs_elem_new(const struct tby_rs_elem *e);

/* After the kernel took every journalled change: prog follows live, tombstones go. */
void tby_rs_journal_done(struct tby_rs *rs);
/* Before reading the table back: forget what the kernel holds and journal everything. */
void tby_rs_forget_kernel(struct tby_rs *rs);
/* While reading back, mark what the kernel holds. An object or element the model does not
 * want becomes a tombstone, so the sync deletes it. -ENOMEM. */
int tby_rs_mark_set(struct tby_rs *rs, const char *name, enum tby_rs_set_type type,
                    struct tby_rs_set **out);
int tby_rs_mark_elem(struct tby_rs *rs, struct tby_rs_set *set, const uint8_t *key,
                     uint8_t len, uint8_t flags, const char *target);
/* The kernel has this chain with rules whose digests are digests[0..n) (0 for a rule
 * tabby did not write): the chain is dirty unless they equal the model's. */
int tby_rs_mark_chain(struct tby_rs *rs, const char *name, const uint64_t *digests, size_t n);

/* Key length and nft type of a set type; whether it holds intervals. */
uint8_t tby_rs_key_len(enum tby_rs_set_type type);
bool tby_rs_is_interval(enum tby_rs_set_type type);

/* ---- text ----------------------------------------------------------------------------- */

/* The whole table as an `nft -f` script that creates it from nothing (what the kernel
 * should hold), in a stable order: sets, then chains, each sorted by name. */
int tby_rs_render(const struct tby_rs *rs, FILE *out);
/* The journal as `nft -f` commands that take the kernel from what it holds to what the
 * model wants (the text path of the same change, for comparison and debugging). */
int tby_rs_render_journal(const struct tby_rs *rs, FILE *out);
/* One rule as nft text (without the chain), into a malloc'ed string; NULL when out of
 * memory. */
char *tby_rs_rule_text(const struct tby_rs_rule *rule);
/* Counts of live objects, for logs. */
void tby_rs_counts(const struct tby_rs *rs, size_t *sets, size_t *elems, size_t *chains,
                   size_t *rules);

#endif
