/* ruleset_text.c — the ruleset model as `nft -f` text: the whole table (for `tabby-node
 * --dump`, unit tests and the text path of the benchmarks) and the journal as commands. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/ruleset.h"

static const char *const type_text[] = {
    [TBY_RS_ADDR4] = "ipv4_addr",
    [TBY_RS_ADDR6] = "ipv6_addr",
    [TBY_RS_NET4] = "ipv4_addr",
    [TBY_RS_NET6] = "ipv6_addr",
    [TBY_RS_PORTS] = "inet_service",
    [TBY_RS_ADDR4_PROTO_PORT] = "ipv4_addr . inet_proto . inet_service",
    [TBY_RS_ADDR6_PROTO_PORT] = "ipv6_addr . inet_proto . inet_service",
    [TBY_RS_IFNAME_VMAP] = "ifname : verdict",
    [TBY_RS_IFNAMES] = "ifname",
    [TBY_RS_IFNAME_ADDR4] = "ifname . ipv4_addr",
    [TBY_RS_IFNAME_ADDR6] = "ifname . ipv6_addr",
};

/* ---- sorting for stable output ---------------------------------------------------------- */

static int cmp_set_name(const void *a, const void *b)
{
    return strcmp((*(struct tby_rs_set *const *)a)->name, (*(struct tby_rs_set *const *)b)->name);
}

static int cmp_chain_name(const void *a, const void *b)
{
    return strcmp((*(struct tby_rs_chain *const *)a)->name,
                  (*(struct tby_rs_chain *const *)b)->name);
}

/* An end before a start at one key (two ranges side by side), so an interval set reads as
 * start, end, start, end. */
static int cmp_elem(const void *a, const void *b)
{
    const struct tby_rs_elem *x = *(struct tby_rs_elem *const *)a;
    const struct tby_rs_elem *y = *(struct tby_rs_elem *const *)b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

    return c ? c : (int)y->flags - (int)x->flags;
}

/* The set's elements matching `pick`, sorted; caller frees the array. */
static struct tby_rs_elem **elems_sorted(const struct tby_rs_set *set,
                                         bool (*pick)(const struct tby_rs_elem *), size_t *n)
{
    struct tby_rs_elem **v = malloc((set->elems.n + 1) * sizeof(*v));

    *n = 0;
    if (!v)
        return NULL;
    for (struct tby_rs_elem *e = tby_rs_elems_first(&set->elems); e;
         e = tby_rs_elems_next(&set->elems, e)) {
        if (pick(e))
            v[(*n)++] = e;
    }
    qsort(v, *n, sizeof(*v), cmp_elem);
    return v;
}

/* ---- elements --------------------------------------------------------------------------- */

static void put_addr(FILE *f, const uint8_t *key, bool v6)
{
    char buf[INET6_ADDRSTRLEN];

    fputs(inet_ntop(v6 ? AF_INET6 : AF_INET, key, buf, sizeof(buf)), f);
}

static void put_key(FILE *f, enum tby_rs_set_type type, const uint8_t *key)
{
    bool v6 = type == TBY_RS_ADDR6 || type == TBY_RS_NET6 || type == TBY_RS_ADDR6_PROTO_PORT ||
              type == TBY_RS_IFNAME_ADDR6;
    size_t alen = v6 ? 16 : 4;

    switch (type) {
    case TBY_RS_PORTS:
        fprintf(f, "%u", (unsigned)(key[0] << 8 | key[1]));
        break;
    case TBY_RS_ADDR4_PROTO_PORT:
    case TBY_RS_ADDR6_PROTO_PORT:
        put_addr(f, key, v6);
        fprintf(f, " . %u . %u", key[alen], (unsigned)(key[alen + 4] << 8 | key[alen + 5]));
        break;
    case TBY_RS_IFNAME_VMAP:
    case TBY_RS_IFNAMES:
        fprintf(f, "\"%.16s\"", (const char *)key);
        break;
    case TBY_RS_IFNAME_ADDR4:
    case TBY_RS_IFNAME_ADDR6:
        fprintf(f, "\"%.16s\" . ", (const char *)key);
        put_addr(f, key + 16, v6);
        break;
    default:
        put_addr(f, key, v6);
        break;
    }
}

/* key - 1 (an interval's end element holds last + 1). */
static void key_before(uint8_t *out, const uint8_t *key, size_t len)
{
    memcpy(out, key, len);
    for (size_t i = len; i-- > 0;)
        if (out[i]-- != 0)
            break;
}

static void put_top(FILE *f, enum tby_rs_set_type type)
{
    static const uint8_t ones[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    put_key(f, type, ones);
}

/* Interval elements, given sorted, as ranges "a-b", or "a" for one key (an end holds
 * last + 1; a start with no end reaches the top of the key space). */
static void put_intervals(FILE *f, const struct tby_rs_set *set, struct tby_rs_elem **v,
                          size_t n)
{
    const char *sep = "";

    for (size_t i = 0; i < n; i++) {
        uint8_t last[16];

        if (v[i]->flags & TBY_RS_ELEM_END)
            continue;
        fputs(sep, f);
        sep = ", ";
        put_key(f, set->type, v[i]->key);
        if (i + 1 < n && (v[i + 1]->flags & TBY_RS_ELEM_END)) {
            key_before(last, v[i + 1]->key, v[i + 1]->len);
            if (memcmp(last, v[i]->key, v[i]->len) == 0)
                continue;
            fputs("-", f);
            put_key(f, set->type, last);
        } else {
            fputs("-", f);
            put_top(f, set->type);
        }
    }
}

static void put_elems(FILE *f, const struct tby_rs_set *set, struct tby_rs_elem **v, size_t n,
                      bool with_targets)
{
    if (tby_rs_is_interval(set->type)) {
        put_intervals(f, set, v, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        put_key(f, set->type, v[i]->key);
        if (set->type == TBY_RS_IFNAME_VMAP && with_targets)
            fprintf(f, " : jump %s", tby_rs_elem_target(v[i]));
    }
}

static bool wanted(const struct tby_rs_elem *e)
{
    return e->refs > 0 || tby_rs_elem_target(e);
}

/* ---- the whole table -------------------------------------------------------------------- */

static void put_set_head(FILE *f, const struct tby_rs_set *set)
{
    fprintf(f, "type %s;", type_text[set->type]);
    if (tby_rs_is_interval(set->type))
        fputs(" flags interval;", f);
    if (set->comment)
        fprintf(f, " comment \"%s\";", set->comment);
}

static int put_set(FILE *f, const struct tby_rs_set *set)
{
    size_t n;
    _cleanup_free_ struct tby_rs_elem **v = elems_sorted(set, wanted, &n);

    if (!v)
        return -ENOMEM;
    fprintf(f, "\t%s %s { ", set->type == TBY_RS_IFNAME_VMAP ? "map" : "set", set->name);
    put_set_head(f, set);
    if (n) {
        fputs(" elements = { ", f);
        put_elems(f, set, v, n, true);
        fputs(" };", f);
    }
    fputs(" }\n", f);
    return 0;
}

/* "type filter hook forward priority 0; policy accept;" */
static void put_hook(FILE *f, enum tby_rs_hook hook)
{
    const struct tby_rs_hook_info *h = tby_rs_hook_info(hook);

    fprintf(f, "type %s hook %s priority %d; policy accept;", h->type, h->name, h->priority);
}

static int put_rule_line(FILE *f, const char *prefix, const struct tby_rs_rule *r)
{
    _cleanup_free_ char *text = tby_rs_rule_text(r);

    if (!text)
        return -ENOMEM;
    fprintf(f, "%s%s\n", prefix, text);
    return 0;
}

static int put_chain(FILE *f, const struct tby_rs_chain *c)
{
    fprintf(f, "\tchain %s {\n", c->name);
    if (c->hook != TBY_RS_HOOK_NONE) {
        fputs("\t\t", f);
        put_hook(f, c->hook);
        fputs("\n", f);
    }
    for (size_t i = 0; i < c->n_rules; i++)
        if (put_rule_line(f, "\t\t", c->rules[i]) < 0)
            return -ENOMEM;
    fputs("\t}\n", f);
    return 0;
}

/* Live sets and chains, sorted by name; caller frees both arrays. */
static int live_objects(const struct tby_rs *rs, struct tby_rs_set ***sets, size_t *ns,
                        struct tby_rs_chain ***chains, size_t *nc)
{
    *ns = *nc = 0;
    *sets = malloc((tby_hmap_count(&rs->sets) + 1) * sizeof(**sets));
    *chains = malloc((tby_hmap_count(&rs->chains) + 1) * sizeof(**chains));
    if (!*sets || !*chains)
        return -ENOMEM;
    for (struct tby_hnode *h = tby_hmap_first(&rs->sets); h; h = tby_hmap_next(&rs->sets, h)) {
        struct tby_rs_set *s = TBY_CONTAINER_OF(h, struct tby_rs_set, node);

        if (s->live)
            (*sets)[(*ns)++] = s;
    }
    for (struct tby_hnode *h = tby_hmap_first(&rs->chains); h; h = tby_hmap_next(&rs->chains, h)) {
        struct tby_rs_chain *c = TBY_CONTAINER_OF(h, struct tby_rs_chain, node);

        if (c->live)
            (*chains)[(*nc)++] = c;
    }
    qsort(*sets, *ns, sizeof(**sets), cmp_set_name);
    qsort(*chains, *nc, sizeof(**chains), cmp_chain_name);
    return 0;
}

int tby_rs_render(const struct tby_rs *rs, FILE *out)
{
    _cleanup_free_ struct tby_rs_set **sets = NULL;
    _cleanup_free_ struct tby_rs_chain **chains = NULL;
    size_t ns, nc;
    int r = live_objects(rs, &sets, &ns, &chains, &nc);

    if (r < 0)
        return r;
    fprintf(out, "table inet %s {\n", TBY_RS_TABLE);
    for (size_t i = 0; r == 0 && i < ns; i++)
        r = put_set(out, sets[i]);
    for (size_t i = 0; r == 0 && i < nc; i++)
        r = put_chain(out, chains[i]);
    fputs("}\n", out);
    return r;
}

/* ---- the journal as commands ------------------------------------------------------------ */

struct pick {
    struct tby_rs_elem **v;
    size_t n;
    bool (*pick)(const struct tby_rs_elem *);
};

static int pick_one(const struct tby_rs_elem *e, void *ctx)
{
    struct pick *p = ctx;

    if (p->pick(e))
        p->v[p->n++] = (struct tby_rs_elem *)e;
    return 0;
}

/* The journalled elements of a set passing `pick`, sorted; caller frees. */
static struct tby_rs_elem **journal_elems(const struct tby_rs_set *set,
                                          bool (*pick)(const struct tby_rs_elem *), size_t *n)
{
    struct pick p = { .pick = pick };

    p.v = malloc((set->elems.n + set->n_journal + 1) * sizeof(*p.v));
    if (!p.v)
        return NULL;
    tby_rs_set_journal_foreach(set, pick_one, &p);
    qsort(p.v, p.n, sizeof(*p.v), cmp_elem);
    *n = p.n;
    return p.v;
}

static int put_elem_cmd(FILE *f, const struct tby_rs_set *set, bool add)
{
    size_t n;
    _cleanup_free_ struct tby_rs_elem **v =
        journal_elems(set, add ? tby_rs_elem_new : tby_rs_elem_gone, &n);

    if (!v)
        return -ENOMEM;
    if (n == 0)
        return 0;
    fprintf(f, "%s element inet %s %s { ", add ? "add" : "delete", TBY_RS_TABLE, set->name);
    put_elems(f, set, v, n, add);
    fputs(" }\n", f);
    return 0;
}

static void put_new_objects(FILE *f, const struct tby_rs *rs)
{
    if (!rs->table_prog)
        fprintf(f, "add table inet %s\n", TBY_RS_TABLE);
    for (size_t i = 0; i < rs->n_set_journal; i++) {
        const struct tby_rs_set *s = rs->set_journal[i];

        if (s->live && !s->prog) {
            fprintf(f, "add %s inet %s %s { ", s->type == TBY_RS_IFNAME_VMAP ? "map" : "set",
                    TBY_RS_TABLE, s->name);
            put_set_head(f, s);
            fputs(" }\n", f);
        }
    }
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];

        if (!c->live || c->prog)
            continue;
        fprintf(f, "add chain inet %s %s", TBY_RS_TABLE, c->name);
        if (c->hook != TBY_RS_HOOK_NONE) {
            fputs(" { ", f);
            put_hook(f, c->hook);
            fputs(" }", f);
        }
        fputs("\n", f);
    }
}

static int put_rule_cmds(FILE *f, const struct tby_rs *rs)
{
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];
        char prefix[TBY_RS_NAME_MAX + 64];

        if (!c->live || !(c->dirty || !c->prog))
            continue;
        snprintf(prefix, sizeof(prefix), "add rule inet %s %s ", TBY_RS_TABLE, c->name);
        for (size_t k = 0; k < c->n_rules; k++)
            if (put_rule_line(f, prefix, c->rules[k]) < 0)
                return -ENOMEM;
    }
    return 0;
}

int tby_rs_render_journal(const struct tby_rs *rs, FILE *out)
{
    int r = 0;

    put_new_objects(out, rs);
    for (size_t i = 0; i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];

        if (c->prog && (c->dirty || !c->live))
            fprintf(out, "flush chain inet %s %s\n", TBY_RS_TABLE, c->name);
    }
    for (int add = 0; add < 2; add++)
        for (size_t i = 0; r == 0 && i < rs->n_set_journal; i++)
            if (rs->set_journal[i]->live)
                r = put_elem_cmd(out, rs->set_journal[i], add);
    if (r == 0)
        r = put_rule_cmds(out, rs);
    /* in the batch's order (nft.c): sets before chains */
    for (size_t i = 0; i < rs->n_set_journal; i++)
        if (rs->set_journal[i]->prog && !rs->set_journal[i]->live)
            fprintf(out, "delete %s inet %s %s\n",
                    rs->set_journal[i]->type == TBY_RS_IFNAME_VMAP ? "map" : "set",
                    TBY_RS_TABLE, rs->set_journal[i]->name);
    for (size_t i = 0; i < rs->n_chain_journal; i++)
        if (rs->chain_journal[i]->prog && !rs->chain_journal[i]->live)
            fprintf(out, "delete chain inet %s %s\n", TBY_RS_TABLE, rs->chain_journal[i]->name);
    return r;
}
