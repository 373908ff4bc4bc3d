/* ruleset.c — the journalled model of table `inet tabby` (ruleset.h): sets and their
 * reference-counted elements, chains and their rules, and the bookkeeping that lets a
 * sync program only what changed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/ruleset.h"
#include "ruleset_elems.h"
#include "ruleset_slots.h"

/* ---- journals --------------------------------------------------------------------------- */

/* A journal entry cannot be lost to a failed allocation (the sync would miss a change),
 * so a set that cannot grow its journal falls back to a look at every element. */
static void touch_set(struct tby_rs *rs, struct tby_rs_set *set)
{
    if (set->touched)
        return;
    if (TBY_GROW(rs->set_journal, rs->cap_set_journal, rs->n_set_journal + 1) < 0) {
        /* Cannot happen in practice: keep the set on no journal but make the next sync a
         * read-back, which sees everything. */
        rs->table_prog = false;
        return;
    }
    rs->set_journal[rs->n_set_journal++] = set;
    set->touched = true;
}

static void touch_elem(struct tby_rs *rs, struct tby_rs_set *set, struct tby_rs_elem *e)
{
    touch_set(rs, set);
    if (e->touched || set->all_touched)
        return;
    if (TBY_GROW(set->journal, set->cap_journal, set->n_journal + 1) < 0) {
        set->all_touched = true;
        return;
    }
    set->journal[set->n_journal++] = e;
    e->touched = true;
}

static void touch_chain(struct tby_rs *rs, struct tby_rs_chain *chain)
{
    if (chain->touched)
        return;
    if (TBY_GROW(rs->chain_journal, rs->cap_chain_journal, rs->n_chain_journal + 1) < 0) {
        rs->table_prog = false;
        return;
    }
    rs->chain_journal[rs->n_chain_journal++] = chain;
    chain->touched = true;
}

/* ---- freeing ---------------------------------------------------------------------------- */

/* A verdict map's element carries its two targets just before it; the elements of other
 * sets (nearly all of a table) do without the two pointers. */
struct vtargets {
    char *target;             /* the chain to jump to (wanted) */
    char *prog_target;        /* the chain the kernel's element jumps to */
};

static struct vtargets *vt(const struct tby_rs_elem *e)
{
    if (!(e->flags & TBY_RS_ELEM_VMAP))
        return NULL;
    return (struct vtargets *)(void *)((char *)e - sizeof(struct vtargets));
}

const char *tby_rs_elem_target(const struct tby_rs_elem *e)
{
    struct vtargets *t = vt(e);

    return t ? t->target : NULL;
}

static const char *prog_target(const struct tby_rs_elem *e)
{
    struct vtargets *t = vt(e);

    return t ? t->prog_target : NULL;
}

/* Replaces the element's target (prog: the kernel's) by a copy of chain (NULL: none).
 * -ENOMEM; elements of other sets than verdict maps have none. */
static int set_target(struct tby_rs_elem *e, bool prog, const char *chain)
{
    struct vtargets *t = vt(e);
    char *copy = NULL;

    if (!t)
        return 0;
    if (chain && !(copy = strdup(chain)))
        return -ENOMEM;
    free(prog ? t->prog_target : t->target);
    *(prog ? &t->prog_target : &t->target) = copy;
    return 0;
}

static void elem_free(struct tby_rs_set *set, struct tby_rs_elem *e)
{
    struct vtargets *t = vt(e);

    if (e->flags & TBY_RS_ELEM_SLOT) {
        tby_rs_slot_put(set->slots, e);
        return;
    }

    if (!t) {
        free(e);
        return;
    }
    free(t->target);
    free(t->prog_target);
    free(t);
}

static void given_free(struct tby_rs_set *set);

static void set_free(struct tby_rs_set *set)
{
    struct tby_rs_elem *e = tby_rs_elems_first(&set->elems);

    while (e) {
        struct tby_rs_elem *next = tby_rs_elems_next(&set->elems, e);

        elem_free(set, e);
        e = next;
    }
    tby_rs_elems_destroy(&set->elems);
    given_free(set);
    free(set->journal);
    free(set); /* its name and comment sit in its block */
}

static void rules_free(struct tby_rs_rule **rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tby_rs_rule_free(rules[i]);
    free(rules);
}

static void chain_free(struct tby_rs_chain *chain)
{
    rules_free(chain->rules, chain->n_rules);
    free(chain); /* its name sits in its block */
}

struct tby_rs *tby_rs_new(void)
{
    struct tby_rs *rs = calloc(1, sizeof(*rs));

    if (rs && !(rs->slots = tby_rs_slots_new())) {
        free(rs);
        return NULL;
    }
    if (rs) {
        tby_hmap_init(&rs->sets);
        tby_hmap_init(&rs->chains);
    }
    return rs;
}

void tby_rs_free(struct tby_rs *rs)
{
    struct tby_hnode *n, *next;

    if (!rs)
        return;
    for (n = tby_hmap_first(&rs->sets); n; n = next) {
        next = tby_hmap_next(&rs->sets, n);
        set_free(TBY_CONTAINER_OF(n, struct tby_rs_set, node));
    }
    for (n = tby_hmap_first(&rs->chains); n; n = next) {
        next = tby_hmap_next(&rs->chains, n);
        chain_free(TBY_CONTAINER_OF(n, struct tby_rs_chain, node));
    }
    tby_hmap_destroy(&rs->sets);
    tby_hmap_destroy(&rs->chains);
    tby_rs_slots_free(rs->slots);
    free(rs->set_journal);
    free(rs->chain_journal);
    free(rs);
}

/* ---- base chains ------------------------------------------------------------------------ */

const struct tby_rs_hook_info *tby_rs_hook_info(enum tby_rs_hook hook)
{
    static const struct tby_rs_hook_info info[] = {
        [TBY_RS_HOOK_NONE] = { NULL, NULL, 0 },
        [TBY_RS_HOOK_FORWARD] = { "filter", "forward", 0 },
        [TBY_RS_HOOK_INPUT] = { "filter", "input", 0 },
        /* srcnat: after routing chose the interface, as masquerading needs. */
        [TBY_RS_HOOK_POSTROUTING] = { "nat", "postrouting", 100 },
        [TBY_RS_HOOK_OUTPUT] = { "filter", "output", 0 },
        /* before DNAT: preDNAT host endpoint policy sees the packet as it came */
        [TBY_RS_HOOK_PREROUTING] = { "filter", "prerouting", -110 },
        /* before conntrack: doNotTrack host endpoint policy, which may leave a flow untracked */
        [TBY_RS_HOOK_RAW_PREROUTING] = { "filter", "prerouting", -300 },
        [TBY_RS_HOOK_RAW_OUTPUT] = { "filter", "output", -300 },
    };

    return &info[hook];
}

/* ---- names ------------------------------------------------------------------------------ */

const char *tby_rs_hashed_name(char *buf, const char *prefix, const char *text)
{
    snprintf(buf, TBY_RS_HASHED_NAME_SIZE, "%s-%016llx", prefix,
             (unsigned long long)tby_hash_str(text));
    return buf;
}

/* ---- sets ------------------------------------------------------------------------------- */

static const char *set_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct tby_rs_set, node)->name;
}

static struct tby_rs_set *set_lookup(const struct tby_rs *rs, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&rs->sets, name, set_key);

    return n ? TBY_CONTAINER_OF(n, struct tby_rs_set, node) : NULL;
}

struct tby_rs_set *tby_rs_set_find(const struct tby_rs *rs, const char *name)
{
    struct tby_rs_set *set = set_lookup(rs, name);

    return set && set->live ? set : NULL;
}

/* The set, its name and its comment in one block: a table holds thousands of sets. */
static struct tby_rs_set *set_new(struct tby_rs *rs, const char *name, enum tby_rs_set_type type,
                                  const char *comment)
{
    /* nft keeps comments of up to 127 bytes, without double quotes */
    size_t name_len = strlen(name) + 1;
    size_t comment_len = comment ? strnlen(comment, TBY_RS_COMMENT_MAX) + 1 : 0;
    struct tby_rs_set *set = calloc(1, sizeof(*set) + name_len + comment_len);

    if (!set)
        return NULL;
    set->type = type;
    set->slots = rs->slots;
    set->name = memcpy(set + 1, name, name_len);
    if (comment) {
        set->comment = memcpy(set->name + name_len, comment, comment_len - 1);
        for (char *q = set->comment; *q; q++)
            if (*q == '"')
                *q = '\'';
    }
    if (tby_hmap_insert(&rs->sets, &set->node, tby_hash_str(name)) < 0) {
        set_free(set);
        return NULL;
    }
    return set;
}

struct tby_rs_set *tby_rs_set_add(struct tby_rs *rs, const char *name,
                                  enum tby_rs_set_type type, const char *comment)
{
    struct tby_rs_set *set = set_lookup(rs, name);

    if (set && set->type != type)
        return NULL;
    if (set && set->live)
        return set;
    if (!set && !(set = set_new(rs, name, type, comment)))
        return NULL;
    set->live = true;
    /* A revived tombstone may still hold elements the kernel has: look at all of them. */
    set->all_touched = true;
    touch_set(rs, set);
    return set;
}

void tby_rs_set_del(struct tby_rs *rs, struct tby_rs_set *set)
{
    for (struct tby_rs_elem *e = tby_rs_elems_first(&set->elems); e;
         e = tby_rs_elems_next(&set->elems, e)) {
        e->refs = 0;
        set_target(e, false, NULL);
    }
    given_free(set);
    set->live = false;
    touch_set(rs, set);
}

/* ---- elements --------------------------------------------------------------------------- */

static struct tby_rs_elem *elem_find(const struct tby_rs_set *set, const uint8_t *key,
                                     uint8_t len, uint8_t flags)
{
    return tby_rs_elems_find(&set->elems, key, len, flags);
}

static struct tby_rs_elem *elem_get(struct tby_rs_set *set, const uint8_t *key, uint8_t len,
                                    uint8_t flags)
{
    struct tby_rs_elem *e = elem_find(set, key, len, flags);
    bool vmap = set->type == TBY_RS_IFNAME_VMAP;
    bool slot = !vmap && sizeof(*e) + len <= TBY_RS_SLOT_SIZE;
    size_t before = vmap ? sizeof(struct vtargets) : 0;
    char *p;

    if (e)
        return e;
    if (!(p = slot ? tby_rs_slot_get(set->slots) : calloc(1, before + sizeof(*e) + len)))
        return NULL;
    e = (struct tby_rs_elem *)(void *)(p + before);
    e->len = len;
    e->flags = flags | (vmap ? TBY_RS_ELEM_VMAP : 0) | (slot ? TBY_RS_ELEM_SLOT : 0);
    memcpy(e->key, key, len);
    if (tby_rs_elems_insert(&set->elems, e) < 0) {
        elem_free(set, e);
        return NULL;
    }
    return e;
}

static int elem_ref(struct tby_rs *rs, struct tby_rs_set *set, const uint8_t *key, uint8_t len,
                    uint8_t flags)
{
    struct tby_rs_elem *e = elem_get(set, key, len, flags);

    if (!e)
        return -ENOMEM;
    if (e->refs++ == 0)
        touch_elem(rs, set, e);
    return 0;
}

static void elem_unref(struct tby_rs *rs, struct tby_rs_set *set, const uint8_t *key,
                       uint8_t len, uint8_t flags)
{
    struct tby_rs_elem *e = elem_find(set, key, len, flags);

    if (!e || e->refs == 0)
        return;
    if (--e->refs == 0)
        touch_elem(rs, set, e);
}

uint8_t tby_rs_key_len(enum tby_rs_set_type type)
{
    switch (type) {
    case TBY_RS_ADDR4:
    case TBY_RS_NET4:
        return 4;
    case TBY_RS_ADDR6:
    case TBY_RS_NET6:
        return 16;
    case TBY_RS_PORTS:
        return 2;
    case TBY_RS_ADDR4_PROTO_PORT:
        return 12;
    case TBY_RS_ADDR6_PROTO_PORT:
        return 24;
    case TBY_RS_IFNAME_VMAP:
    case TBY_RS_IFNAMES:
        return 16;
    case TBY_RS_IFNAME_ADDR4:
        return 20;
    case TBY_RS_IFNAME_ADDR6:
        return 32;
    }
    return 0;
}

bool tby_rs_is_interval(enum tby_rs_set_type type)
{
    return type == TBY_RS_NET4 || type == TBY_RS_NET6 || type == TBY_RS_PORTS;
}

static bool family_fits(const struct tby_rs_set *set, const struct tby_ip *ip)
{
    return tby_rs_key_len(set->type) >= 16 ? ip->family == 6 : ip->family == 4;
}

int tby_rs_add_addr(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip)
{
    if (!family_fits(set, ip))
        return -EINVAL;
    return elem_ref(rs, set, ip->bytes, tby_rs_key_len(set->type), 0);
}

void tby_rs_remove_addr(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip)
{
    if (family_fits(set, ip))
        elem_unref(rs, set, ip->bytes, tby_rs_key_len(set->type), 0);
}

/* addr . proto . port, each field padded to a 32-bit register as the kernel lays out a
 * concatenation. */
static uint8_t addr_port_key(uint8_t *key, const struct tby_ip *ip, uint8_t proto, uint16_t port)
{
    uint8_t alen = ip->family == 4 ? 4 : 16;

    memset(key, 0, TBY_RS_KEY_MAX);
    memcpy(key, ip->bytes, alen);
    key[alen] = proto;
    key[alen + 4] = port >> 8;
    key[alen + 5] = port & 0xff;
    return alen + 8;
}

int tby_rs_add_addr_port(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_ip *ip,
                         uint8_t proto, uint16_t port)
{
    uint8_t key[TBY_RS_KEY_MAX];

    if (!family_fits(set, ip))
        return -EINVAL;
    return elem_ref(rs, set, key, addr_port_key(key, ip, proto, port), 0);
}

void tby_rs_remove_addr_port(struct tby_rs *rs, struct tby_rs_set *set,
                             const struct tby_ip *ip, uint8_t proto, uint16_t port)
{
    uint8_t key[TBY_RS_KEY_MAX];

    if (family_fits(set, ip))
        elem_unref(rs, set, key, addr_port_key(key, ip, proto, port), 0);
}

/* An interface name as the kernel compares it: zero-padded to IFNAMSIZ. */
static int ifname_key(uint8_t key[16], const char *ifname)
{
    memset(key, 0, 16);
    if (!*ifname || strlen(ifname) >= 16)
        return -EINVAL;
    memcpy(key, ifname, strlen(ifname));
    return 0;
}

int tby_rs_add_ifname(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname)
{
    uint8_t key[16];

    return ifname_key(key, ifname) < 0 ? -EINVAL : elem_ref(rs, set, key, 16, 0);
}

void tby_rs_remove_ifname(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname)
{
    uint8_t key[16];

    if (ifname_key(key, ifname) == 0)
        elem_unref(rs, set, key, 16, 0);
}

/* ifname . addr: the name padded to IFNAMSIZ, then the address; 0 when either is wrong for
 * the set. */
static uint8_t ifname_addr_key(uint8_t key[TBY_RS_KEY_MAX], const struct tby_rs_set *set,
                               const char *ifname, const struct tby_ip *ip)
{
    uint8_t want = set->type == TBY_RS_IFNAME_ADDR4 ? 4 : set->type == TBY_RS_IFNAME_ADDR6 ? 6 : 0;

    if (ip->family != want || ifname_key(key, ifname) < 0)
        return 0;
    memcpy(key + 16, ip->bytes, want == 4 ? 4 : 16);
    return tby_rs_key_len(set->type);
}

int tby_rs_add_ifname_addr(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname,
                           const struct tby_ip *ip)
{
    uint8_t key[TBY_RS_KEY_MAX];
    uint8_t len = ifname_addr_key(key, set, ifname, ip);

    return len ? elem_ref(rs, set, key, len, 0) : -EINVAL;
}

void tby_rs_remove_ifname_addr(struct tby_rs *rs, struct tby_rs_set *set, const char *ifname,
                               const struct tby_ip *ip)
{
    uint8_t key[TBY_RS_KEY_MAX];
    uint8_t len = ifname_addr_key(key, set, ifname, ip);

    if (len)
        elem_unref(rs, set, key, len, 0);
}

/* ---- interval sets ---------------------------------------------------------------------- */

/* A range [first, last] of big-endian numbers `len` bytes wide. */
struct range {
    uint8_t first[16];
    uint8_t last[16];
};

static int range_cmp(const void *a, const void *b, void *len)
{
    return memcmp(((const struct range *)a)->first, ((const struct range *)b)->first,
                  *(size_t *)len);
}

/* x + 1 in place; false when it wrapped (x was all ones). */
static bool increment(uint8_t *x, size_t len)
{
    for (size_t i = len; i-- > 0;)
        if (++x[i] != 0)
            return true;
    return false;
}

/* Sorts and merges overlapping or adjacent ranges in place; returns the new count. */
static size_t merge_ranges(struct range *r, size_t n, size_t len)
{
    size_t out = 0;

    qsort_r(r, n, sizeof(*r), range_cmp, &len);
    for (size_t i = 1; i < n; i++) {
        uint8_t next[16];

        memcpy(next, r[out].last, len);
        if (!increment(next, len) || memcmp(r[i].first, next, len) <= 0) {
            if (memcmp(r[i].last, r[out].last, len) > 0)
                memcpy(r[out].last, r[i].last, len);
        } else {
            r[++out] = r[i];
        }
    }
    return n ? out + 1 : 0;
}

static int fill_ranges(struct tby_rs *rs, struct tby_rs_set *set, struct range *r, size_t n)
{
    uint8_t len = tby_rs_key_len(set->type);

    n = merge_ranges(r, n, len);
    for (size_t i = 0; i < n; i++) {
        int err = elem_ref(rs, set, r[i].first, len, 0);

        if (err == 0 && increment(r[i].last, len))
            err = elem_ref(rs, set, r[i].last, len, TBY_RS_ELEM_END);
        if (err < 0)
            return err;
    }
    return 0;
}

int tby_rs_fill_nets(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *nets,
                     size_t n)
{
    _cleanup_free_ struct range *r = calloc(n ? n : 1, sizeof(*r));
    size_t k = 0;

    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct tby_cidr c = nets[i];
        unsigned bits = tby_ip_bits(&c.ip);

        if (!family_fits(set, &c.ip))
            continue;
        tby_cidr_mask(&c);
        memcpy(r[k].first, c.ip.bytes, bits / 8);
        memcpy(r[k].last, c.ip.bytes, bits / 8);
        for (unsigned b = c.prefix_len; b < bits; b++)
            r[k].last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
        k++;
    }
    return fill_ranges(rs, set, r, k);
}

int tby_rs_refill_nets(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *nets,
                       size_t n)
{
    /* Every reference goes, then the new content takes its own: an element in both ends
     * with one reference and unchanged, one only in the old content leaves the kernel. */
    for (struct tby_rs_elem *e = tby_rs_elems_first(&set->elems); e;
         e = tby_rs_elems_next(&set->elems, e)) {
        if (e->refs > 0) {
            e->refs = 0;
            touch_elem(rs, set, e);
        }
    }
    return tby_rs_fill_nets(rs, set, nets, n);
}

int tby_rs_fill_ports(struct tby_rs *rs, struct tby_rs_set *set, const uint16_t (*ranges)[2],
                      size_t n)
{
    _cleanup_free_ struct range *r = calloc(n ? n : 1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        r[i].first[0] = ranges[i][0] >> 8;
        r[i].first[1] = ranges[i][0] & 0xff;
        r[i].last[0] = ranges[i][1] >> 8;
        r[i].last[1] = ranges[i][1] & 0xff;
    }
    return fill_ranges(rs, set, r, n);
}

/* ---- interval sets of given CIDRs ---------------------------------------------------------- */

struct given {
    struct tby_hnode node;            /* in set->given->map, by prefix and address */
    struct tby_cidr net;              /* masked */
    uint32_t refs;
    bool ranged;                      /* its range is in the set: no other given CIDR holds it */
};

struct tby_rs_given {
    struct tby_hmap map;              /* struct given */
    uint32_t by_len[129];             /* how many given CIDRs have each prefix length */
};

static void given_free(struct tby_rs_set *set)
{
    struct tby_hnode *n, *next;

    if (!set->given)
        return;
    for (n = tby_hmap_first(&set->given->map); n; n = next) {
        next = tby_hmap_next(&set->given->map, n);
        free(TBY_CONTAINER_OF(n, struct given, node));
    }
    tby_hmap_destroy(&set->given->map);
    free(set->given);
    set->given = NULL;
}

static uint64_t given_hash(const struct tby_cidr *net)
{
    return tby_hash_bytes(net->ip.bytes, tby_ip_bits(&net->ip) / 8, net->prefix_len);
}

static struct given *given_find(const struct tby_rs_given *g, const struct tby_cidr *net)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&g->map, given_hash(net)); n;
         n = tby_hmap_next_with_hash(n)) {
        struct given *x = TBY_CONTAINER_OF(n, struct given, node);

        if (tby_cidr_equal(&x->net, net))
            return x;
    }
    return NULL;
}

/* Whether another given CIDR contains net: one per shorter prefix length in use. */
static bool given_covered(const struct tby_rs_given *g, const struct tby_cidr *net)
{
    for (unsigned len = 0; len < net->prefix_len; len++) {
        struct tby_cidr up = { net->ip, (uint8_t)len };

        if (!g->by_len[len])
            continue;
        tby_cidr_mask(&up);
        if (given_find(g, &up))
            return true;
    }
    return false;
}

/* Whether any given CIDR is longer than net (so may lie inside it). */
static bool given_longer(const struct tby_rs_given *g, const struct tby_cidr *net)
{
    for (unsigned len = net->prefix_len + 1u; len <= tby_ip_bits(&net->ip); len++)
        if (g->by_len[len])
            return true;
    return false;
}

/* Puts x's range into the set or takes it out: its first address, and the address after
 * its last as an end (none when the range reaches the top). */
static int given_range(struct tby_rs *rs, struct tby_rs_set *set, struct given *x, bool in)
{
    uint8_t len = tby_rs_key_len(set->type), end[16];
    unsigned bits = tby_ip_bits(&x->net.ip);
    bool has_end;
    int r = 0;

    memcpy(end, x->net.ip.bytes, len);
    for (unsigned b = x->net.prefix_len; b < bits; b++)
        end[b / 8] |= (uint8_t)(0x80 >> (b % 8));
    has_end = increment(end, len);
    if (!in) {
        elem_unref(rs, set, x->net.ip.bytes, len, 0);
        if (has_end)
            elem_unref(rs, set, end, len, TBY_RS_ELEM_END);
    } else {
        r = elem_ref(rs, set, x->net.ip.bytes, len, 0);
        if (r == 0 && has_end)
            r = elem_ref(rs, set, end, len, TBY_RS_ELEM_END);
    }
    x->ranged = in;
    return r;
}

/* The ranges of given CIDRs inside `outer` go (out) or, for those no other CIDR contains
 * any more, come back. */
static int given_inside(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *outer,
                        bool back)
{
    struct tby_rs_given *g = set->given;
    int r = 0;

    if (!given_longer(g, outer))
        return 0;
    for (struct tby_hnode *n = tby_hmap_first(&g->map); r == 0 && n;
         n = tby_hmap_next(&g->map, n)) {
        struct given *y = TBY_CONTAINER_OF(n, struct given, node);

        if (y->net.prefix_len <= outer->prefix_len || !tby_cidr_contains_cidr(outer, &y->net))
            continue;
        if (!back && y->ranged)
            r = given_range(rs, set, y, false);
        else if (back && !y->ranged && !given_covered(g, &y->net))
            r = given_range(rs, set, y, true);
    }
    return r;
}

static bool net_fits(const struct tby_rs_set *set, const struct tby_cidr *net)
{
    return (set->type == TBY_RS_NET4 || set->type == TBY_RS_NET6) &&
           family_fits(set, &net->ip) && net->prefix_len <= tby_ip_bits(&net->ip);
}

int tby_rs_add_net(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *net)
{
    struct tby_cidr c = *net;
    struct given *x;
    int r;

    if (!net_fits(set, net))
        return -EINVAL;
    tby_cidr_mask(&c);
    if (!set->given) {
        if (!(set->given = calloc(1, sizeof(*set->given))))
            return -ENOMEM;
        tby_hmap_init(&set->given->map);
    }
    if ((x = given_find(set->given, &c))) {
        x->refs++;
        return 0;
    }
    if (!(x = calloc(1, sizeof(*x))))
        return -ENOMEM;
    x->net = c;
    x->refs = 1;
    if (tby_hmap_insert(&set->given->map, &x->node, given_hash(&c)) < 0) {
        free(x);
        return -ENOMEM;
    }
    set->given->by_len[c.prefix_len]++;
    if (given_covered(set->given, &c))
        return 0;
    /* The ranges it covers give way to its own. */
    r = given_inside(rs, set, &c, false);
    return r < 0 ? r : given_range(rs, set, x, true);
}

int tby_rs_remove_net(struct tby_rs *rs, struct tby_rs_set *set, const struct tby_cidr *net)
{
    struct tby_cidr c = *net;
    struct given *x;
    int r = 0;

    if (!net_fits(set, net) || !set->given)
        return 0;
    tby_cidr_mask(&c);
    if (!(x = given_find(set->given, &c)) || --x->refs > 0)
        return 0;
    tby_hmap_remove(&set->given->map, &x->node);
    set->given->by_len[c.prefix_len]--;
    if (x->ranged) {
        given_range(rs, set, x, false);
        /* What it covered shows again. */
        r = given_inside(rs, set, &c, true);
    }
    free(x);
    return r;
}

/* ---- verdict maps ----------------------------------------------------------------------- */

int tby_rs_vmap_set(struct tby_rs *rs, struct tby_rs_set *map, const char *ifname,
                    const char *chain)
{
    uint8_t key[16];
    struct tby_rs_elem *e;
    const char *now;

    if (ifname_key(key, ifname) < 0)
        return -EINVAL;
    if (map->type != TBY_RS_IFNAME_VMAP)
        return -EINVAL;
    e = chain ? elem_get(map, key, sizeof(key), 0) : elem_find(map, key, sizeof(key), 0);
    if (!e)
        return chain ? -ENOMEM : 0;
    now = tby_rs_elem_target(e);
    if (chain && now && strcmp(chain, now) == 0)
        return 0;
    if (set_target(e, false, chain) < 0)
        return -ENOMEM;
    touch_elem(rs, map, e);
    return 0;
}

/* ---- chains ----------------------------------------------------------------------------- */

static const char *chain_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct tby_rs_chain, node)->name;
}

static struct tby_rs_chain *chain_lookup(const struct tby_rs *rs, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&rs->chains, name, chain_key);

    return n ? TBY_CONTAINER_OF(n, struct tby_rs_chain, node) : NULL;
}

struct tby_rs_chain *tby_rs_chain_find(const struct tby_rs *rs, const char *name)
{
    struct tby_rs_chain *c = chain_lookup(rs, name);

    return c && c->live ? c : NULL;
}

struct tby_rs_chain *tby_rs_chain_add(struct tby_rs *rs, const char *name, enum tby_rs_hook hook)
{
    struct tby_rs_chain *c = chain_lookup(rs, name);

    if (c && c->live)
        return c;
    if (!c) {
        /* the chain and its name in one block */
        if (!(c = calloc(1, sizeof(*c) + strlen(name) + 1)))
            return NULL;
        c->name = strcpy((char *)(c + 1), name);
        if (tby_hmap_insert(&rs->chains, &c->node, tby_hash_str(name)) < 0) {
            free(c);
            return NULL;
        }
    }
    c->hook = hook;
    c->live = true;
    c->dirty = true;
    touch_chain(rs, c);
    return c;
}

void tby_rs_chain_del(struct tby_rs *rs, struct tby_rs_chain *chain)
{
    rules_free(chain->rules, chain->n_rules);
    chain->rules = NULL;
    chain->n_rules = 0;
    chain->live = false;
    touch_chain(rs, chain);
}

static bool same_rules(const struct tby_rs_chain *c, struct tby_rs_rule **rules, size_t n)
{
    if (c->n_rules != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (c->rules[i]->digest != rules[i]->digest)
            return false;
    return true;
}

int tby_rs_chain_set_rules(struct tby_rs *rs, struct tby_rs_chain *chain,
                           struct tby_rs_rule **rules, size_t n)
{
    if (same_rules(chain, rules, n)) {
        rules_free(rules, n);
        return 0;
    }
    rules_free(chain->rules, chain->n_rules);
    /* Lists grow by doubling from 8; most chains (a policy's) keep one rule or two. */
    if (n > 0) {
        struct tby_rs_rule **fit = realloc(rules, n * sizeof(*rules));

        rules = fit ? fit : rules;
    }
    chain->rules = rules;
    chain->n_rules = n;
    chain->dirty = true;
    touch_chain(rs, chain);
    return 0;
}

int tby_rs_chain_take_rules(struct tby_rs *rs, struct tby_rs_chain *chain,
                            struct tby_rs_rules *list)
{
    int r = tby_rs_chain_set_rules(rs, chain, list->v, list->n);

    *list = (struct tby_rs_rules){ 0 };
    return r;
}

int tby_rs_chain_write(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                       struct tby_rs_rules *list, int err)
{
    struct tby_rs_chain *chain = err < 0 ? NULL : tby_rs_chain_add(rs, name, hook);

    if (!chain) {
        tby_rs_rules_clear(list);
        return -ENOMEM;
    }
    return tby_rs_chain_take_rules(rs, chain, list);
}

/* ---- the journal ------------------------------------------------------------------------ */

static bool elem_wanted(const struct tby_rs_elem *e)
{
    return e->refs > 0 || tby_rs_elem_target(e);
}

static bool retargeted(const struct tby_rs_elem *e)
{
    const char *want = tby_rs_elem_target(e), *has = prog_target(e);

    return want && has && strcmp(want, has) != 0;
}

bool tby_rs_elem_gone(const struct tby_rs_elem *e)
{
    return e->prog && (!elem_wanted(e) || retargeted(e));
}

bool tby_rs_elem_new(const struct tby_rs_elem *e)
{
    return elem_wanted(e) && (!e->prog || retargeted(e));
}

int tby_rs_set_journal_foreach(const struct tby_rs_set *set,
                               int (*fn)(const struct tby_rs_elem *e, void *ctx), void *ctx)
{
    int r = 0;

    if (!set->all_touched) {
        for (size_t i = 0; r == 0 && i < set->n_journal; i++)
            r = fn(set->journal[i], ctx);
        return r;
    }
    for (struct tby_rs_elem *e = tby_rs_elems_first(&set->elems); r == 0 && e;
         e = tby_rs_elems_next(&set->elems, e))
        r = fn(e, ctx);
    return r;
}

/* The kernel now holds what the element wants; false when the element can go. */
static bool elem_done(struct tby_rs_elem *e)
{
    e->touched = false;
    e->prog = elem_wanted(e);
    if (set_target(e, true, tby_rs_elem_target(e)) < 0) {
        set_target(e, true, NULL);
        e->prog = false; /* forgets it: the next read-back puts it right */
    }
    return e->prog;
}

static void set_elem_done(struct tby_rs_set *set, struct tby_rs_elem *e)
{
    if (!elem_done(e)) {
        tby_rs_elems_remove(&set->elems, e);
        elem_free(set, e);
    }
}

static void set_done(struct tby_rs *rs, struct tby_rs_set *set)
{
    set->touched = false;
    if (!set->live) {
        tby_hmap_remove(&rs->sets, &set->node);
        set_free(set);
        return;
    }
    set->prog = true;
    if (set->all_touched) {
        struct tby_rs_elem *e, *next;

        for (e = tby_rs_elems_first(&set->elems); e; e = next) {
            next = tby_rs_elems_next(&set->elems, e);
            set_elem_done(set, e);
        }
    } else {
        for (size_t i = 0; i < set->n_journal; i++)
            set_elem_done(set, set->journal[i]);
    }
    set->n_journal = 0;
    set->all_touched = false;
}

void tby_rs_journal_done(struct tby_rs *rs)
{
    for (size_t i = 0; i < rs->n_set_journal; i++)
        set_done(rs, rs->set_journal[i]);
    rs->n_set_journal = 0;
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        struct tby_rs_chain *c = rs->chain_journal[i];

        c->touched = false;
        if (!c->live) {
            tby_hmap_remove(&rs->chains, &c->node);
            chain_free(c);
            continue;
        }
        c->prog = true;
        c->dirty = false;
    }
    rs->n_chain_journal = 0;
    rs->table_prog = true;
}

static void set_forget(struct tby_rs *rs, struct tby_rs_set *set)
{
    struct tby_rs_elem *e, *next;

    for (e = tby_rs_elems_first(&set->elems); e; e = next) {
        next = tby_rs_elems_next(&set->elems, e);
        e->prog = false;
        e->touched = false;
        set_target(e, true, NULL);
        if (!elem_wanted(e)) {
            tby_rs_elems_remove(&set->elems, e);
            elem_free(set, e);
        }
    }
    set->n_journal = 0;
    set->prog = false;
    set->all_touched = true;
    touch_set(rs, set);
}

void tby_rs_forget_kernel(struct tby_rs *rs)
{
    struct tby_hnode *n, *next;

    rs->n_set_journal = 0;
    rs->n_chain_journal = 0;
    rs->table_prog = false;
    for (n = tby_hmap_first(&rs->sets); n; n = next) {
        struct tby_rs_set *set = TBY_CONTAINER_OF(n, struct tby_rs_set, node);

        next = tby_hmap_next(&rs->sets, n);
        set->touched = false;
        if (!set->live) {
            tby_hmap_remove(&rs->sets, &set->node);
            set_free(set);
        } else {
            set_forget(rs, set);
        }
    }
    for (n = tby_hmap_first(&rs->chains); n; n = next) {
        struct tby_rs_chain *c = TBY_CONTAINER_OF(n, struct tby_rs_chain, node);

        next = tby_hmap_next(&rs->chains, n);
        c->touched = false;
        if (!c->live) {
            tby_hmap_remove(&rs->chains, &c->node);
            chain_free(c);
            continue;
        }
        c->prog = false;
        c->dirty = true;
        touch_chain(rs, c);
    }
}

int tby_rs_mark_set(struct tby_rs *rs, const char *name, enum tby_rs_set_type type,
                    struct tby_rs_set **out)
{
    struct tby_rs_set *set = set_lookup(rs, name);

    *out = NULL;
    if (set && set->type != type)
        return -EEXIST; /* same name, other type: only a table rebuild sorts that out */
    if (!set && !(set = set_new(rs, name, type, NULL)))
        return -ENOMEM;
    set->prog = true;
    touch_set(rs, set);
    *out = set;
    return 0;
}

int tby_rs_mark_elem(struct tby_rs *rs, struct tby_rs_set *set, const uint8_t *key,
                     uint8_t len, uint8_t flags, const char *target)
{
    struct tby_rs_elem *e;

    if (!set->live)
        return 0; /* the whole set goes */
    if (!(e = elem_get(set, key, len, flags)))
        return -ENOMEM;
    e->prog = true;
    if (set_target(e, true, target) < 0)
        return -ENOMEM;
    touch_elem(rs, set, e);
    return 0;
}

int tby_rs_mark_chain(struct tby_rs *rs, const char *name, const uint64_t *digests, size_t n)
{
    struct tby_rs_chain *c = chain_lookup(rs, name);
    bool same;

    if (!c) {
        c = tby_rs_chain_add(rs, name, TBY_RS_HOOK_NONE);
        if (!c)
            return -ENOMEM;
        c->live = false;
    }
    same = c->n_rules == n;
    for (size_t i = 0; same && i < n; i++)
        same = c->rules[i]->digest == digests[i];
    c->prog = true;
    c->dirty = !same;
    touch_chain(rs, c);
    return 0;
}

void tby_rs_counts(const struct tby_rs *rs, size_t *sets, size_t *elems, size_t *chains,
                   size_t *rules)
{
    *sets = *elems = *chains = *rules = 0;
    for (struct tby_hnode *n = tby_hmap_first(&rs->sets); n; n = tby_hmap_next(&rs->sets, n)) {
        const struct tby_rs_set *set = TBY_CONTAINER_OF(n, struct tby_rs_set, node);

        if (!set->live)
            continue;
        (*sets)++;
        for (const struct tby_rs_elem *e = tby_rs_elems_first(&set->elems); e;
             e = tby_rs_elems_next(&set->elems, e))
            *elems += elem_wanted(e);
    }
    for (struct tby_hnode *n = tby_hmap_first(&rs->chains); n;
         n = tby_hmap_next(&rs->chains, n)) {
        const struct tby_rs_chain *c = TBY_CONTAINER_OF(n, struct tby_rs_chain, node);

        if (c->live) {
            (*chains)++;
            *rules += c->n_rules;
        }
    }
}

/* ---- denied packets --------------------------------------------------------------------- */

const char *tby_rs_find_deny(const struct tby_rs *rs, const char *id)
{
    for (struct tby_hnode *n = tby_hmap_first(&rs->chains); n; n = tby_hmap_next(&rs->chains, n)) {
        const struct tby_rs_chain *c = TBY_CONTAINER_OF(n, struct tby_rs_chain, node);

        /* the drop follows its twin */
        for (size_t i = 0; i + 1 < c->n_rules; i++)
            if (c->rules[i]->log_nflog && c->rules[i]->log_prefix &&
                strcmp(c->rules[i]->log_prefix, id) == 0)
                return c->rules[i + 1]->comment;
    }
    return NULL;
}
