/* cmd_node.c — tabbyctl node status: is tabby-node running, is BIRD, and how are the BGP
 * sessions (calicoctl node status's shape). node diagnose is cmd_diagnose.c's. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp.h"
#include "tabby/bird.h"
#include "tabby/cleanup.h"
#include "ctl.h"

#define NODE_SYNOPSIS "node status [--bird-socket PATH] [--node-pid-file PATH] | node diagnose …"
#define DEFAULT_BIRD_SOCKET "/run/bird/bird.ctl"
#define DEFAULT_PID_FILE "/run/tabby/tabby-node.pid"

enum { COL_ADDRESS, COL_TYPE, COL_STATE, COL_SINCE, COL_INFO, N_COLS };

static const char *const headers[N_COLS] = { "PEER ADDRESS", "PEER TYPE", "STATE", "SINCE",
                                             "INFO" };

/* ---- tabby-node ------------------------------------------------------------------------- */

static void print_node_process(const char *pid_file)
{
    char why[PATH_MAX + 64];
    long pid = ctl_node_process(pid_file, why, sizeof(why));

    if (pid > 0)
        printf("tabby-node is running (pid %ld).\n", pid);
    else
        printf("tabby-node is not running (%s).\n", why);
}

/* ---- the peer table --------------------------------------------------------------------- */

struct row {
    char ip[TBY_IP_STRLEN];
    const char *cells[N_COLS];
};

static void rule(const size_t *width)
{
    for (int c = 0; c < N_COLS; c++) {
        putchar('+');
        for (size_t i = 0; i < width[c] + 2; i++)
            putchar('-');
    }
    puts("+");
}

static void header_line(const size_t *width)
{
    for (int c = 0; c < N_COLS; c++) {
        size_t pad = width[c] - strlen(headers[c]);

        printf("| %*s%s%*s ", (int)(pad / 2), "", headers[c], (int)(pad - pad / 2), "");
    }
    puts("|");
}

static void print_table(const struct row *rows, size_t n)
{
    size_t width[N_COLS];

    for (int c = 0; c < N_COLS; c++) {
        width[c] = strlen(headers[c]);
        for (size_t i = 0; i < n; i++)
            if (strlen(rows[i].cells[c]) > width[c])
                width[c] = strlen(rows[i].cells[c]);
    }
    rule(width);
    header_line(width);
    rule(width);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < N_COLS; c++)
            printf("| %-*s ", (int)width[c], rows[i].cells[c]);
        puts("|");
    }
    rule(width);
}

/* Sessions tabby made (named Mesh_/Global_/Node_) of one address family. */
static size_t collect_rows(const struct tby_bird_protocols *list, int family, struct row *rows)
{
    size_t n = 0;

    for (size_t i = 0; i < list->n; i++) {
        const struct tby_bird_protocol *p = &list->items[i];
        int type = tby_bgp_peer_type_of_protocol(p->name);

        if (strcmp(p->proto, "BGP") != 0 || type < 0 || !p->has_neighbor ||
            p->neighbor.family != family)
            continue;
        tby_ip_format(&p->neighbor, rows[n].ip);
        rows[n].cells[COL_ADDRESS] = rows[n].ip;
        rows[n].cells[COL_TYPE] = tby_bgp_peer_type_name((enum tby_bgp_peer_type)type);
        rows[n].cells[COL_STATE] = p->state;
        rows[n].cells[COL_SINCE] = p->since;
        rows[n].cells[COL_INFO] = p->info;
        n++;
    }
    return n;
}

static int print_peers(const struct tby_bird_protocols *list)
{
    _cleanup_free_ struct row *rows = calloc(list->n + 1, sizeof(*rows));

    if (!rows)
        return ctl_fail("out of memory");
    for (int family = 4; family <= 6; family += 2) {
        size_t n = collect_rows(list, family, rows);

        printf("\nIPv%d BGP status\n", family);
        if (n)
            print_table(rows, n);
        else
            printf("No IPv%d peers found.\n", family);
    }
    return CTL_OK;
}

static int print_bird(const char *socket_path)
{
    _cleanup_(tby_bird_freep) struct tby_bird *bird = NULL;
    struct tby_bird_protocols list = { 0 };
    struct tby_bird_status status;
    struct tby_error err = { 0 };
    int r;

    if (tby_bird_new(socket_path, &bird, &err) < 0 ||
        tby_bird_show_status(bird, &status, &err) < 0) {
        printf("BIRD is not running (%s).\n", tby_error_str(&err));
        return CTL_FAIL;
    }
    printf("BIRD %s is running: router id %s, %s.\n", status.version, status.router_id,
           status.message);
    if (tby_bird_show_protocols(bird, &list, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    r = print_peers(&list);
    tby_bird_protocols_clear(&list);
    return r;
}

int ctl_cmd_node(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        { "bird-socket", required_argument, NULL, 's' },
        { "node-pid-file", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    const char *socket_path = DEFAULT_BIRD_SOCKET, *pid_file = DEFAULT_PID_FILE;
    int opt;

    if (argc >= 2 && strcmp(argv[1], "diagnose") == 0)
        return ctl_cmd_node_diagnose(ctl, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "status") != 0)
        return ctl_usage_error(NODE_SYNOPSIS, "node needs a subcommand: status or diagnose");
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 's')
            socket_path = optarg;
        else if (opt == 'p')
            pid_file = optarg;
        else
            return ctl_usage_error(NODE_SYNOPSIS, "unexpected option");
    }
    if (optind != argc)
        return ctl_usage_error(NODE_SYNOPSIS, "unexpected argument \"%s\"", argv[optind]);
    print_node_process(pid_file);
    return print_bird(socket_path);
}
