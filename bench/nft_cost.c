/* nft_cost.c — `nft-cost`: what the kernel's nf_tables charges for each kind of object
 * and change on this kernel, measured through tabby's own batch (tby_nft_sync, the time
 * CPU time of sending the batch until the kernel answered: the kernel's own work, without
 * the waits of a busy machine). Loads of K chains, sets, elements,
 * jump rules and verdict-map elements (per-object cost), then one-object changes on a
 * table of K of each (what a commit costs, and which changes make the kernel walk the
 * table's jumps again). Runs only in a network namespace it makes itself; needs root.
 *
 *   nft-cost [-k K]...              sizes (default 1000, 3000, 10000)
 *   nft-cost --loop OP -k K         repeats one change 4000 times, 2 s after loading (for perf record)
 *
 * docs/DISPATCH.md §3 has the figures. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/nft.h"
#include "tabby/ruleset.h"

#define REPEAT 9

static struct tby_nft *nft;

static void die(const char *what, const struct tby_error *err)
{
    fprintf(stderr, "nft-cost: %s: %s\n", what, err ? tby_error_str(err) : strerror(errno));
    exit(1);
}

static double sync_ms(struct tby_rs *rs)
{
    struct tby_nft_stats st;
    struct tby_error err = { 0 };

    if (tby_nft_sync(nft, rs, &st, &err) < 0)
        die("sync", &err);
    return st.kernel_cpu_ms;
}

static struct tby_rs_rule *rule(const char *set, bool src, enum tby_rs_verdict v,
                                const char *target, uint32_t mark)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    struct tby_rs_match m = { .type = TBY_RS_M_IFNAME_SET, .src = src, .set = (char *)set };
    struct tby_rs_match mk = { .type = TBY_RS_M_MARK, .a = mark };

    if (!r || (set && tby_rs_rule_match(r, &m) < 0) || (mark && tby_rs_rule_match(r, &mk) < 0) ||
        tby_rs_rule_set_verdict(r, v, target) < 0 || tby_rs_rule_seal(r) < 0)
        die("rule", NULL);
    return r;
}

static void set_rules(struct tby_rs *rs, const char *chain, enum tby_rs_hook hook,
                      struct tby_rs_rule **v, size_t n)
{
    struct tby_rs_chain *c = tby_rs_chain_add(rs, chain, hook);
    struct tby_rs_rule **copy = malloc((n + 1) * sizeof(*copy));

    if (!c || !copy)
        die("chain", NULL);
    memcpy(copy, v, n * sizeof(*v));
    if (tby_rs_chain_set_rules(rs, c, copy, n) < 0)
        die("chain rules", NULL);
}

static void ifname(char *buf, int i)
{
    snprintf(buf, 16, "b%x", i);
}

/* What a table holds. */
enum {
    T_CHAINS = 1,        /* K chains c<i>, each `mark & 0x10000 == 0 accept` */
    T_SETS = 2,          /* K sets s<i>, one element each */
    T_BIGSET = 4,        /* one set of K elements */
    T_JUMPS = 8,         /* a base chain jumping to each chain (`jump c<i>`) */
    T_SETJUMPS = 16,     /* ... through its set (`oifname @s<i> jump c<i>`) */
    T_VMAP = 32,         /* a map ifname : jump c<i>, K elements, used by the base chain */
};

static struct tby_rs *table(int k, unsigned what)
{
    struct tby_rs *rs = tby_rs_new();
    struct tby_rs_rule **v = calloc((size_t)k + 2, sizeof(*v));
    size_t n = 0;
    char name[32], ifn[16];
    struct tby_rs_set *big = NULL, *vm = NULL;

    if (!rs || !v)
        die("table", NULL);
    if (what & T_BIGSET)
        big = tby_rs_set_add(rs, "big", TBY_RS_IFNAMES, NULL);
    if (what & T_VMAP)
        vm = tby_rs_set_add(rs, "vm", TBY_RS_IFNAME_VMAP, NULL);
    for (int i = 0; i < k; i++) {
        ifname(ifn, i);
        snprintf(name, sizeof(name), "c%d", i);
        if (what & T_CHAINS) {
            struct tby_rs_rule *r = rule(NULL, false, TBY_RS_V_ACCEPT, NULL, TBY_MARK_ACCEPT);

            set_rules(rs, name, TBY_RS_HOOK_NONE, &r, 1);
        }
        if (what & T_SETS) {
            char sn[32];
            struct tby_rs_set *s;

            snprintf(sn, sizeof(sn), "s%d", i);
            if (!(s = tby_rs_set_add(rs, sn, TBY_RS_IFNAMES, NULL)) ||
                tby_rs_add_ifname(rs, s, ifn) < 0)
                die("set", NULL);
            if (what & T_SETJUMPS)
                v[n++] = rule(sn, false, TBY_RS_V_JUMP, name, 0);
        }
        if (big && tby_rs_add_ifname(rs, big, ifn) < 0)
            die("big set", NULL);
        if (vm && tby_rs_vmap_set(rs, vm, ifn, name) < 0)
            die("vmap", NULL);
        if ((what & T_JUMPS) && !(what & T_SETJUMPS))
            v[n++] = rule(NULL, false, TBY_RS_V_JUMP, name, 0);
    }
    if (vm)
        v[n++] = rule(NULL, false, TBY_RS_V_VMAP_OIF, "vm", 0);
    set_rules(rs, "fwd", TBY_RS_HOOK_FORWARD, v, n);
    free(v);
    return rs;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* A whole table's load, REPEAT/3 times (the table deleted in between): min..max ms. */
static void load(int k, unsigned what, const char *label, double *lo_out)
{
    double t[REPEAT / 3];
    struct tby_error err = { 0 };

    for (int r = 0; r < REPEAT / 3; r++) {
        struct tby_rs *rs = table(k, what);

        tby_nft_delete_table(nft, &err);
        t[r] = sync_ms(rs);
        tby_rs_free(rs);
    }
    tby_nft_delete_table(nft, &err);
    qsort(t, REPEAT / 3, sizeof(*t), cmp_double);
    printf("  load %-34s %9.1f .. %9.1f ms   %7.2f us per object\n", label, t[0],
           t[REPEAT / 3 - 1], t[0] * 1000 / k);
    if (lo_out)
        *lo_out = t[0];
}

/* One-object changes. */
enum op {
    OP_ELEM_FIRST,       /* an element into the set created first */
    OP_ELEM_LAST,        /* ... the set created last */
    OP_ELEM_BIG,         /* ... the big set */
    OP_VMAP,             /* a verdict-map element jumping to an existing chain */
    OP_RULE,             /* a rule without a jump, into a leaf chain */
    OP_RULE_JUMP,        /* a rule jumping to another leaf chain, into a leaf chain */
    OP_CHAIN,            /* a new empty chain */
    OP_N
};

static const char *const op_name[OP_N] = {
    "element, set made first", "element, set made last", "element, big set",
    "verdict-map element (jump)", "rule, no jump", "rule with a jump", "new chain",
};

static void change(struct tby_rs *rs, enum op op, int k, int i)
{
    char ifn[16], name[32];
    struct tby_rs_rule *r;

    ifname(ifn, 1000000 + i);
    switch (op) {
    case OP_ELEM_FIRST:
    case OP_ELEM_LAST:
        snprintf(name, sizeof(name), "s%d", op == OP_ELEM_FIRST ? 0 : k - 1);
        tby_rs_add_ifname(rs, tby_rs_set_find(rs, name), ifn);
        break;
    case OP_ELEM_BIG:
        tby_rs_add_ifname(rs, tby_rs_set_find(rs, "big"), ifn);
        break;
    case OP_VMAP:
        snprintf(name, sizeof(name), "c%d", i % k);
        tby_rs_vmap_set(rs, tby_rs_set_find(rs, "vm"), ifn, name);
        break;
    case OP_RULE:
    case OP_RULE_JUMP: {
        struct tby_rs_rule *v[2];

        snprintf(name, sizeof(name), "c%d", (i + 1) % k);
        v[0] = rule(NULL, false, TBY_RS_V_ACCEPT, NULL, TBY_MARK_ACCEPT);
        if (op == OP_RULE)
            v[1] = rule(NULL, false, TBY_RS_V_DROP, NULL, TBY_MARK_PASS + (uint32_t)i);
        else
            v[1] = rule(NULL, false, TBY_RS_V_JUMP, name, TBY_MARK_PASS + (uint32_t)i);
        set_rules(rs, "c0", TBY_RS_HOOK_NONE, v, 2);
        break;
    }
    case OP_CHAIN:
        snprintf(name, sizeof(name), "new%d", i);
        r = rule(NULL, false, TBY_RS_V_ACCEPT, NULL, 0);
        set_rules(rs, name, TBY_RS_HOOK_NONE, &r, 1);
        break;
    default:
        break;
    }
}

static const unsigned full_table = T_CHAINS | T_SETS | T_BIGSET | T_SETJUMPS | T_VMAP;

static void changes(int k)
{
    struct tby_error err = { 0 };
    struct tby_rs *rs = table(k, full_table);

    tby_nft_delete_table(nft, &err);
    sync_ms(rs);
    printf("  one change in a table of %d chains, sets and jumps (`oifname @s jump c`), a %d-element\n"
           "  set and a %d-element verdict map (median, min..max of %d):\n", k, k, k, REPEAT);
    for (int op = 0; op < OP_N; op++) {
        double t[REPEAT];

        for (int r = 0; r < REPEAT; r++) {
            change(rs, (enum op)op, k, op * 100 + r);
            t[r] = sync_ms(rs);
        }
        qsort(t, REPEAT, sizeof(*t), cmp_double);
        printf("    %-30s %8.3f ms  (%.3f .. %.3f)\n", op_name[op], t[REPEAT / 2], t[0],
               t[REPEAT - 1]);
    }
    tby_nft_delete_table(nft, &err);
    tby_rs_free(rs);
}

/* One element into the big set of a table of K chains only, and of K sets only: what a
 * commit costs per chain of the table, and a message per set. */
static void split(int k)
{
    static const unsigned what[2] = { T_CHAINS | T_BIGSET, T_SETS | T_BIGSET };
    static const char *const label[2] = { "chains", "sets" };
    struct tby_error err = { 0 };

    for (int w = 0; w < 2; w++) {
        struct tby_rs *rs = table(k, what[w]);
        double t[REPEAT];

        tby_nft_delete_table(nft, &err);
        sync_ms(rs);
        for (int r = 0; r < REPEAT; r++) {
            change(rs, OP_ELEM_BIG, k, 900 + r);
            t[r] = sync_ms(rs);
        }
        qsort(t, REPEAT, sizeof(*t), cmp_double);
        printf("    element into a table of %d %-6s      %8.3f ms  (%.3f .. %.3f)   %.1f ns per %s\n",
               k, label[w], t[REPEAT / 2], t[0], t[REPEAT - 1], t[REPEAT / 2] * 1e6 / k,
               w ? "set" : "chain");
        tby_nft_delete_table(nft, &err);
        tby_rs_free(rs);
    }
}

static void size(int k)
{
    double chains, jumps, sets, setjumps;

    printf("K = %d\n", k);
    load(k, T_CHAINS, "chains (one rule each)", &chains);
    load(k, T_SETS, "sets (one element each)", &sets);
    load(k, T_BIGSET, "elements of one set", NULL);
    load(k, T_CHAINS | T_JUMPS, "chains + a jump to each", &jumps);
    load(k, T_CHAINS | T_SETS | T_SETJUMPS, "chains + sets + `oifname @s jump c`", &setjumps);
    load(k, T_CHAINS | T_VMAP, "chains + verdict-map elements", NULL);
    printf("  per jump rule (loads: jumps - chains): %.2f us; with its set (- chains - sets): "
           "%.2f us\n", (jumps - chains) * 1000 / k, (setjumps - chains - sets) * 1000 / k);
    changes(k);
    split(k);
    fflush(stdout);
}

static void loop(int k, const char *opname)
{
    struct tby_error err = { 0 };
    struct tby_rs *rs = table(k, full_table);
    int op = 0;

    while (op < OP_N && strcmp(op_name[op], opname) != 0 && atoi(opname) != op + 1)
        op++;
    if (op == OP_N)
        die("--loop: no such change (1..7)", NULL);
    tby_nft_delete_table(nft, &err);
    sync_ms(rs);
    fprintf(stderr, "nft-cost: loaded, pid %d\n", (int)getpid());
    sleep(2); /* time to attach perf record -p */
    for (int i = 0; i < 4000; i++) {
        change(rs, (enum op)op, k, i);
        sync_ms(rs);
    }
    tby_nft_delete_table(nft, &err);
    tby_rs_free(rs);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = { { "loop", required_argument, NULL, 'l' }, { 0 } };
    int ks[8], n_k = 0, ch;
    const char *loop_op = NULL;
    struct tby_error err = { 0 };

    while ((ch = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        if (ch == 'k' && n_k < 8)
            ks[n_k++] = atoi(optarg);
        else if (ch == 'l')
            loop_op = optarg;
        else
            return 2;
    }
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "nft-cost: needs root (it makes a network namespace of its own)\n");
        return 77;
    }
    if (tby_nft_open(&nft, &err) < 0)
        die("nft", &err);
    if (loop_op) {
        loop(n_k ? ks[0] : 10000, loop_op);
    } else if (n_k) {
        for (int i = 0; i < n_k; i++)
            size(ks[i]);
    } else {
        size(1000);
        size(3000);
        size(10000);
    }
    tby_nft_close(nft);
    return 0;
}
