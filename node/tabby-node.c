/* tabby-node.c — the per-node daemon, calico-node's counterpart: its settings, a refusal to
 * run in the host's network namespace by accident, the one-shot modes (--dump, --cleanup)
 * and the daemon (node.h: a poll loop around the datastore and a table of parts, each
 * converging its piece of the kernel by difference). Everything it programmed stays when
 * it stops, crashes, or loses the datastore. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tabby/log.h"
#include "node.h"

/* The inode of the kernel's first network namespace (PROC_NET_INIT_INO): fixed, so it
 * identifies the host's namespace even where /proc/1 cannot be read. */
#define INIT_NET_INO 0xEFFFFFF9u

/* Whether this process is in the host's network namespace: the kernel's first one, or
 * PID 1's. */
static bool in_root_netns(void)
{
    struct stat self, init;

    if (stat("/proc/self/ns/net", &self) < 0)
        return true; /* cannot tell: assume the worst */
    if (self.st_ino == INIT_NET_INO)
        return true;
    return stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino &&
           self.st_dev == init.st_dev;
}

/* 0, or 1 with the error said. */
static int said(int r, const struct tby_error *err)
{
    if (r >= 0)
        return 0;
    fprintf(stderr, "tabby-node: %s\n", tby_error_str(err));
    return 1;
}

int main(int argc, char **argv)
{
    struct node n;
    struct tby_error err = { 0 };
    int rc;

    node_init(&n);
    if (node_config_load(&n.cfg, argc, argv, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        node_config_clear(&n.cfg);
        return 2;
    }
    if (n.cfg.help) {
        node_config_usage(stdout);
        node_config_clear(&n.cfg);
        return 0;
    }
    tby_log_set_level(n.cfg.log_level);
    /* Programming the host's own firewall by accident is the one mistake to rule out. */
    if (!n.cfg.dump && !n.cfg.allow_root_netns && in_root_netns()) {
        fprintf(stderr, "tabby-node: refusing to run in the host's network namespace "
                        "(use --allow-root-netns on a real node)\n");
        rc = 2;
    } else if (n.cfg.cleanup) {
        rc = said(node_cleanup(&err), &err);
    } else {
        rc = said(node_start(&n, &err), &err);
        if (rc == 0)
            rc = n.cfg.dump ? said(node_dump(&n, stdout, &err), &err) : node_run(&n);
        node_stop(&n);
    }
    node_config_clear(&n.cfg);
    return rc;
}
