/* tabby-node.c — the per-node daemon, calico-node's counterpart: its settings, a refusal to
 * run in the host's network namespace by accident, the one-shot modes (--dump, --cleanup,
 * --uninstall, and install-cni, the DaemonSet's init container: install_cni.h) and the daemon (node.h:
 * a poll loop around the datastore and a table of parts, each converging its piece of the
 * kernel by difference). Everything it programmed stays when it stops, crashes, or loses
 * the datastore. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tabby/log.h"
#include "install_cni.h"
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

/* `tabby-node install-cni`: the DaemonSet's init container. */
static int install_cni(int argc, char **argv)
{
    struct node_install_cni s;
    struct tby_error err = { 0 };
    bool uninstall = argc == 2 && strcmp(argv[1], "--uninstall") == 0;
    int rc;

    if (argc > 2 || (argc == 2 && !uninstall && strcmp(argv[1], "--help") &&
                     strcmp(argv[1], "-h"))) {
        fprintf(stderr, "tabby-node install-cni: takes --uninstall or nothing (settings are "
                        "environment variables: see --help)\n");
        return 2;
    }
    if (argc == 2 && !uninstall) {
        node_install_cni_usage(stdout);
        return 0;
    }
    tby_log_set_level(TBY_LOG_INFO);
    rc = node_install_cni_load(&s, &err) < 0
             ? 2
             : said(uninstall ? node_uninstall_cni(&s, &err) : node_install_cni(&s, &err), &err);
    if (rc == 2)
        fprintf(stderr, "tabby-node install-cni: %s\n", tby_error_str(&err));
    node_install_cni_clear(&s);
    return rc;
}

int main(int argc, char **argv)
{
    struct node n;
    struct tby_error err = { 0 };
    int rc;

    if (argc > 1 && strcmp(argv[1], "install-cni") == 0)
        return install_cni(argc - 1, argv + 1);
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
    } else if (n.cfg.uninstall) {
        rc = node_uninstall(n.cfg.v[NODE_NODENAME_FILE]);
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
