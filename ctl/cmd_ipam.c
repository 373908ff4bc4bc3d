/* cmd_ipam.c — tabbyctl ipam: show usage (as calicoctl ipam show prints it), who holds an
 * address, release one, check and repair the IPAM records, set strictAffinity. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "ctl.h"

#define IPAM_SYNOPSIS                                                                     \
    "ipam show [--ip=ADDRESS | --show-blocks | --show-borrowed] | "                       \
    "ipam check [--release-leaks] | "                                                      \
    "ipam release --ip=ADDRESS | ipam configure [--strictaffinity=true|false] "             \
    "[--max-blocks-per-host=N]"

/* ---- a bordered table, as calicoctl draws it ------------------------------------------- */

#define COLS 6
#define CELL 64

struct table {
    const char *head[COLS];
    bool right[COLS];       /* right-aligned (numbers) */
    size_t n_cols;
    char (*rows)[COLS][CELL];
    size_t n_rows, cap_rows;
};

static int table_add(struct table *t, char cells[COLS][CELL])
{
    if (TBY_GROW(t->rows, t->cap_rows, t->n_rows + 1) < 0)
        return -ENOMEM;
    memcpy(t->rows[t->n_rows++], cells, sizeof(*t->rows));
    return 0;
}

static void border(const size_t *w, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        fputs("+-", stdout);
        for (size_t i = 0; i < w[c]; i++)
            putchar('-');
        putchar('-');
    }
    puts("+");
}

static void table_print(const struct table *t)
{
    size_t w[COLS] = { 0 };

    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->n_rows; r++)
            if (strlen(t->rows[r][c]) > w[c])
                w[c] = strlen(t->rows[r][c]);
    }
    border(w, t->n_cols);
    for (size_t c = 0; c < t->n_cols; c++) {
        size_t pad = w[c] - strlen(t->head[c]);

        printf("| %*s%s%*s ", (int)(pad / 2), "", t->head[c], (int)(pad - pad / 2), "");
    }
    puts("|");
    border(w, t->n_cols);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++)
            printf(t->right[c] ? "| %*s " : "| %-*s ", (int)w[c], t->rows[r][c]);
        puts("|");
    }
    border(w, t->n_cols);
}

/* ---- ipam show ------------------------------------------------------------------------ */

/* Counts are 128-bit: an IPv6 pool holds more addresses than 64 bits count (a /0 is
 * shown one short of 2^128, which no pool is). */
typedef unsigned __int128 u128;

static u128 cidr_total(const struct tby_cidr *cidr)
{
    unsigned host_bits = tby_ip_bits(&cidr->ip) - cidr->prefix_len;

    return host_bits >= 128 ? ~(u128)0 : (u128)1 << host_bits;
}

#define U128_DIGITS 40 /* 2^128 has 39 */

static char *format_u128(u128 n, char buf[U128_DIGITS])
{
    char digits[48];
    size_t i = sizeof(digits) - 1;

    digits[i] = '\0';
    do {
        digits[--i] = (char)('0' + (int)(n % 10));
        n /= 10;
    } while (n);
    snprintf(buf, U128_DIGITS, "%s", digits + i);
    return buf;
}

static int add_usage_row(struct table *t, const char *group, const struct tby_cidr *cidr,
                         uint64_t in_use, const char *node)
{
    char cells[COLS][CELL] = { { 0 } }, num[U128_DIGITS];
    u128 total = cidr_total(cidr);
    double used = (double)(100.0L * (long double)in_use / (long double)total);

    snprintf(cells[0], CELL, "%s", group);
    tby_cidr_format(cidr, cells[1]);
    format_u128(total, cells[2]);
    snprintf(cells[3], CELL, "%llu (%.0f%%)", (unsigned long long)in_use, used);
    snprintf(cells[4], CELL, "%s (%.0f%%)", format_u128(total - in_use, num), 100.0 - used);
    snprintf(cells[5], CELL, "%s", node ? node : "");
    return table_add(t, cells);
}

static int show_usage(struct tby_ipam *ipam, bool blocks)
{
    struct table t = { .head = { "GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE",
                                 "NODE" },
                       .right = { false, false, true, false, false, false },
                       .n_cols = blocks ? 6 : 5 };
    struct tby_ipam_usage u;
    struct tby_error err = { 0 };
    int r = 0;

    if (tby_ipam_usage(ipam, &u, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    for (size_t p = 0; r == 0 && p < u.n_pools; p++) {
        r = add_usage_row(&t, "IP Pool", &u.pools[p].cidr, u.pools[p].in_use, NULL);
        for (size_t b = 0; r == 0 && blocks && b < u.n_blocks; b++)
            if (u.blocks[b].pool && strcmp(u.blocks[b].pool, u.pools[p].name) == 0)
                r = add_usage_row(&t, "Block", &u.blocks[b].cidr, u.blocks[b].in_use,
                                  u.blocks[b].node);
    }
    for (size_t b = 0; r == 0 && blocks && b < u.n_blocks; b++)
        if (!u.blocks[b].pool)
            r = add_usage_row(&t, "Block (no pool)", &u.blocks[b].cidr, u.blocks[b].in_use,
                              u.blocks[b].node);
    if (r == 0)
        table_print(&t);
    free(t.rows);
    tby_ipam_usage_clear(&u);
    return r < 0 ? ctl_fail("out of memory") : CTL_OK;
}

static int show_ip(struct tby_ipam *ipam, const char *text)
{
    struct tby_ipam_holder h;
    struct tby_error err = { 0 };
    struct tby_ip ip;
    char block[TBY_CIDR_STRLEN];

    if (tby_ip_parse(text, &ip, &err) < 0)
        return ctl_usage_error(IPAM_SYNOPSIS, "--ip: %s", tby_error_str(&err));
    if (tby_ipam_lookup_ip(ipam, &ip, &h, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    if (!h.allocated)
        printf("IP %s is not currently assigned%s\n", text,
               h.in_pool ? "" : " (it is in no IP pool)");
    else
        printf("IP %s is in use\nAttributes:\n  node: %s\n%s%s%s%s%s%sHandle: %s\n", text,
               h.node ? h.node : "", h.namespace ? "  namespace: " : "",
               h.namespace ? h.namespace : "", h.namespace ? "\n" : "",
               h.pod ? "  pod: " : "", h.pod ? h.pod : "", h.pod ? "\n" : "",
               h.handle ? h.handle : "none");
    if (h.has_block)
        printf("Block: %s (affinity host:%s)\n", tby_cidr_format(&h.block, block),
               h.block_node ? h.block_node : "none");
    if (h.pool)
        printf("IP pool: %s\n", h.pool);
    tby_ipam_holder_clear(&h);
    return CTL_OK;
}

/* Addresses a node took from a block that is not its own, as calicoctl lists them. */
static int show_borrowed(struct tby_ipam *ipam)
{
    struct table t = { .head = { "IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE",
                                 "ALLOCATED-TO" },
                       .n_cols = 6 };
    struct tby_ipam_borrowed_list list;
    struct tby_error err = { 0 };
    int r = 0;

    if (tby_ipam_borrowed(ipam, &list, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    for (size_t i = 0; r == 0 && i < list.n; i++) {
        const struct tby_ipam_borrowed *b = &list.items[i];
        char cells[COLS][CELL] = { { 0 } };

        tby_ip_format(&b->ip, cells[0]);
        snprintf(cells[1], CELL, "%s", b->node);
        tby_cidr_format(&b->block, cells[2]);
        snprintf(cells[3], CELL, "%s", b->block_node);
        snprintf(cells[4], CELL, "%s", b->type ? b->type : "");
        snprintf(cells[5], CELL, "%s", b->allocated_to ? b->allocated_to : "");
        r = table_add(&t, cells);
    }
    if (r == 0)
        table_print(&t);
    if (r == 0 && list.unclassified)
        printf("\nNote: found %zu IP allocations without an explicit node association. "
               "Unable to determine if they are borrowed.\n", list.unclassified);
    free(t.rows);
    tby_ipam_borrowed_list_clear(&list);
    return r < 0 ? ctl_fail("out of memory") : CTL_OK;
}

static int cmd_show(struct tby_ipam *ipam, int argc, char **argv)
{
    static const struct option options[] = {
        { "ip", required_argument, NULL, 'i' },
        { "show-blocks", no_argument, NULL, 'b' },
        { "show-borrowed", no_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *ip = NULL;
    bool blocks = false, borrowed = false;
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'i')
            ip = optarg;
        else if (opt == 'b')
            blocks = true;
        else if (opt == 'o')
            borrowed = true;
        else
            return ctl_usage_error(IPAM_SYNOPSIS, "unexpected option");
    }
    if (optind < argc || (ip != NULL) + blocks + borrowed > 1)
        return ctl_usage_error(IPAM_SYNOPSIS, "ipam show takes one of --ip=ADDRESS, "
                                              "--show-blocks or --show-borrowed");
    if (borrowed)
        return show_borrowed(ipam);
    return ip ? show_ip(ipam, ip) : show_usage(ipam, blocks);
}

/* ---- ipam release, configure ----------------------------------------------------------- */

static int cmd_release(struct tby_ipam *ipam, int argc, char **argv)
{
    static const struct option options[] = {
        { "ip", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    struct tby_error err = { 0 };
    const char *text = NULL;
    struct tby_ip ip;
    size_t released;
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt != 'i')
            return ctl_usage_error(IPAM_SYNOPSIS, "unexpected option");
        text = optarg;
    }
    if (!text || optind < argc)
        return ctl_usage_error(IPAM_SYNOPSIS, "ipam release needs --ip=ADDRESS");
    if (tby_ip_parse(text, &ip, &err) < 0)
        return ctl_usage_error(IPAM_SYNOPSIS, "--ip: %s", tby_error_str(&err));
    if (tby_ipam_release_ips(ipam, &ip, 1, &released, &err) < 0)
        return ctl_fail("releasing %s: %s", text, tby_error_str(&err));
    if (released)
        printf("Successfully released IP address %s\n", text);
    else
        printf("IP address %s is not assigned: nothing to release\n", text);
    return CTL_OK;
}

static int cmd_configure(struct tby_ipam *ipam, int argc, char **argv)
{
    static const struct option options[] = {
        { "strictaffinity", required_argument, NULL, 's' },
        { "max-blocks-per-host", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 },
    };
    struct tby_ipam_settings set = { 0 };
    struct tby_error err = { 0 };
    char *end;
    long n;
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 's') {
            if (strcasecmp(optarg, "true") != 0 && strcasecmp(optarg, "false") != 0)
                return ctl_usage_error(IPAM_SYNOPSIS, "--strictaffinity: use true or "
                                       "false, got \"%s\"", optarg);
            set.has_strict_affinity = true;
            set.strict_affinity = strcasecmp(optarg, "true") == 0;
        } else if (opt == 'm') {
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 0 || n > INT32_MAX)
                return ctl_usage_error(IPAM_SYNOPSIS, "--max-blocks-per-host: \"%s\" is "
                                       "not a number of blocks", optarg);
            set.has_max_blocks = true;
            set.max_blocks_per_host = (int)n;
        } else {
            return ctl_usage_error(IPAM_SYNOPSIS, "unexpected option");
        }
    }
    if (optind < argc || (!set.has_strict_affinity && !set.has_max_blocks))
        return ctl_usage_error(IPAM_SYNOPSIS, "ipam configure needs "
                               "--strictaffinity=true|false or --max-blocks-per-host=N");
    if (tby_ipam_configure(ipam, &set, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    if (set.has_strict_affinity)
        printf("Successfully set StrictAffinity to: %s\n",
               set.strict_affinity ? "true" : "false");
    if (set.has_max_blocks)
        printf("Successfully set MaxBlocksPerHost to: %d\n", set.max_blocks_per_host);
    return CTL_OK;
}

/* ---- ipam check ------------------------------------------------------------------------ */

static int cmd_check(struct tby_ipam *ipam, int argc, char **argv)
{
    static const struct option options[] = {
        { "release-leaks", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    struct tby_ipam_report rep;
    struct tby_error err = { 0 };
    bool repair = false;
    size_t fixed = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt != 'r')
            return ctl_usage_error(IPAM_SYNOPSIS, "unexpected option");
        repair = true;
    }
    if (optind < argc)
        return ctl_usage_error(IPAM_SYNOPSIS, "ipam check takes no arguments");
    puts("Checking IPAM for inconsistencies...");
    if (tby_ipam_check(ipam, repair, &rep, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    printf("Found %zu blocks, %zu handles, %zu allocated addresses.\n", rep.n_blocks,
           rep.n_handles, rep.n_allocations);
    for (size_t i = 0; i < rep.n; i++) {
        printf("%s: %s\n", tby_ipam_problem_name(rep.items[i].kind), rep.items[i].detail);
        fixed += rep.items[i].fixed;
    }
    if (rep.n == 0)
        puts("Check complete: no problems found.");
    else if (repair)
        printf("Check complete: %zu problem(s) found, %zu repaired.\n", rep.n, fixed);
    else
        printf("Check complete: %zu problem(s) found; `tabbyctl ipam check --release-leaks` "
               "releases the leaks and repairs the records.\n", rep.n);
    opt = rep.n == fixed ? CTL_OK : CTL_FAIL;
    tby_ipam_report_clear(&rep);
    return opt;
}

/* ---- dispatch --------------------------------------------------------------------------- */

int ctl_cmd_ipam(struct ctl *ctl, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(struct tby_ipam *ipam, int argc, char **argv);
        bool creates; /* makes the datastore when there is none yet */
    } subs[] = {
        { "show", cmd_show, false },
        { "check", cmd_check, false },
        { "release", cmd_release, false },
        { "configure", cmd_configure, true },
    };
    _cleanup_(tby_ipam_freep) struct tby_ipam *ipam = NULL;
    struct tby_error err = { 0 };
    struct tby_store *store;

    if (argc < 2)
        return ctl_usage_error(IPAM_SYNOPSIS, "ipam needs a subcommand");
    for (size_t i = 0; i < TBY_ARRAY_SIZE(subs); i++) {
        if (strcmp(argv[1], subs[i].name) != 0)
            continue;
        store = subs[i].creates ? ctl_store_create(ctl) : ctl_store(ctl);
        if (!store)
            return CTL_FAIL;
        if (tby_ipam_new(store, NULL, &ipam, &err) < 0)
            return ctl_fail("%s", tby_error_str(&err));
        optind = 0;
        return subs[i].run(ipam, argc - 1, argv + 1);
    }
    return ctl_usage_error(IPAM_SYNOPSIS, "unknown ipam subcommand \"%s\"", argv[1]);
}
