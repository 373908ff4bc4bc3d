/* cmd_bgp.c — tabbyctl bgp render|apply: the BIRD configuration of one node, from the
 * datastore, printed or handed to a running BIRD through its control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp.h"
#include "tabby/bgp_driver.h"
#include "tabby/cleanup.h"
#include "ctl.h"

#define BGP_SYNOPSIS                                                                        \
    "bgp render --node NAME [--block CIDR…] [--secrets-dir DIR]\n"                          \
    "       tabbyctl bgp apply --node NAME --bird-socket PATH --bird-config FILE [--block "  \
    "CIDR…] [--secrets-dir DIR]"

struct bgp_args {
    const char *node;
    const char *socket;
    const char *config;
    const char *secrets_dir;
    struct tby_cidr *blocks;
    size_t n_blocks;
};

static int add_block(struct bgp_args *a, const char *text)
{
    struct tby_error err = { 0 };
    struct tby_cidr *grown = reallocarray(a->blocks, a->n_blocks + 1, sizeof(*grown));

    if (!grown)
        return ctl_fail("out of memory");
    a->blocks = grown;
    if (tby_cidr_parse(text, TBY_CIDR_STRICT, &a->blocks[a->n_blocks], &err) < 0)
        return ctl_usage_error(BGP_SYNOPSIS, "--block: %s", tby_error_str(&err));
    a->n_blocks++;
    return CTL_OK;
}

static int parse_args(int argc, char **argv, struct bgp_args *a)
{
    static const struct option options[] = {
        { "node", required_argument, NULL, 'n' },
        { "block", required_argument, NULL, 'b' },
        { "secrets-dir", required_argument, NULL, 'S' },
        { "bird-socket", required_argument, NULL, 's' },
        { "bird-config", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    int opt, r = CTL_OK;

    a->secrets_dir = TBY_BGP_SECRETS_DIR;
    while (r == CTL_OK && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'n')
            a->node = optarg;
        else if (opt == 'b')
            r = add_block(a, optarg);
        else if (opt == 'S')
            a->secrets_dir = optarg;
        else if (opt == 's')
            a->socket = optarg;
        else if (opt == 'c')
            a->config = optarg;
        else
            r = ctl_usage_error(BGP_SYNOPSIS, "unexpected option");
    }
    if (r == CTL_OK && optind != argc)
        r = ctl_usage_error(BGP_SYNOPSIS, "unexpected argument \"%s\"", argv[optind]);
    if (r == CTL_OK && !a->node)
        r = ctl_usage_error(BGP_SYNOPSIS, "--node NAME is required");
    return r;
}

/* Gathers and renders; warnings (peers left out) go to stderr. */
static int render(struct ctl *ctl, const struct bgp_args *a, char **text, size_t *len)
{
    struct tby_bgp_input in = { 0 };
    struct tby_error err = { 0 };
    struct tby_store *store = ctl_store(ctl);
    int r;

    if (!store)
        return CTL_FAIL;
    r = tby_bgp_gather_from_store(store, a->node, a->blocks, a->n_blocks,
                                  tby_bgp_secret_from_dir, (void *)a->secrets_dir, &in, &err);
    if (r < 0)
        return ctl_fail("%s", tby_error_str(&err));
    for (size_t i = 0; i < in.warnings.n; i++)
        fprintf(stderr, "tabbyctl: warning: %s\n", in.warnings.items[i]);
    r = tby_bgp_render(&in, text, len, &err);
    tby_bgp_input_clear(&in);
    if (r < 0)
        return ctl_fail("node %s: %s", a->node, tby_error_str(&err));
    return CTL_OK;
}

static int cmd_render(struct ctl *ctl, const struct bgp_args *a)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r = render(ctl, a, &text, &len);

    if (r == CTL_OK && fwrite(text, 1, len, stdout) != len)
        return ctl_fail("writing the configuration: %s", strerror(errno));
    return r;
}

/* One sync of the driver tabby-node runs in its loop. */
static int cmd_apply(struct ctl *ctl, const struct bgp_args *a)
{
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *driver = NULL;
    struct tby_bgp_driver_config cfg = {
        .node = a->node, .bird_socket = a->socket, .bird_config = a->config,
        .secrets_dir = a->secrets_dir, .extra_blocks = a->blocks,
        .n_extra_blocks = a->n_blocks,
    };
    struct tby_error err = { 0 };
    struct tby_store *store;
    bool reloaded;

    if (!a->socket || !a->config)
        return ctl_usage_error(BGP_SYNOPSIS, "apply needs --bird-socket and --bird-config");
    store = ctl_store(ctl);
    if (!store)
        return CTL_FAIL;
    if (tby_bgp_driver_new(store, &cfg, &driver, &err) < 0 ||
        tby_bgp_driver_sync(driver, 0, &reloaded, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    printf("%s: %s\n", a->config, reloaded ? "BIRD reconfigured" : "unchanged");
    return CTL_OK;
}

int ctl_cmd_bgp(struct ctl *ctl, int argc, char **argv)
{
    struct bgp_args a = { 0 };
    const char *sub = argc > 1 ? argv[1] : "";
    int r;

    if (strcmp(sub, "render") != 0 && strcmp(sub, "apply") != 0)
        return ctl_usage_error(BGP_SYNOPSIS, "bgp needs render or apply");
    r = parse_args(argc - 1, argv + 1, &a);
    if (r == CTL_OK)
        r = strcmp(sub, "render") == 0 ? cmd_render(ctl, &a) : cmd_apply(ctl, &a);
    free(a.blocks);
    return r;
}
