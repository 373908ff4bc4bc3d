/* uninstall.c — `tabby-node --uninstall`: everything tabby put on a node, as a cleanup
 * job run after the DaemonSet is deleted would remove it: table inet tabby (the parts'
 * cleanup), the routes and devices tabby-node owns (routes.h), the routes tabby's BIRD
 * left in the kernel (protocol bird: persist on keeps them after BIRD stops), and what
 * install-cni installed, by install-cni's own settings (files of others' stay), and the
 * nodename file (CALICO_NODENAME_FILE: with the plugins gone no DEL needs it).
 *
 * BIRD's routes are only deleted once no BIRD runs in this network namespace: a running
 * BIRD's routes are its live ones (it would put them back at its next scan), so they stay
 * and the run fails, saying which process to stop. Each step runs even when one before
 * failed; the first error is said. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "tabby/log.h"
#include "tabby/routes.h"
#include "install_cni.h"
#include "node.h"

/* Whether process `pid` is a BIRD ("bird", or BIRD 1's "bird6") in the network namespace
 * `self`. A process that went meanwhile, or whose namespace cannot be read, is not. */
static bool is_bird_here(const char *pid, const struct stat *self)
{
    char path[sizeof("/proc//ns/net") + 256], comm[32] = "";
    struct stat ns;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/comm", pid);
    if (!(f = fopen(path, "re")))
        return false;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "bird") != 0 && strcmp(comm, "bird6") != 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
    return stat(path, &ns) == 0 && ns.st_ino == self->st_ino && ns.st_dev == self->st_dev;
}

/* The pid of a BIRD running in this network namespace (as far as this process's /proc
 * shows: its PID namespace's processes), or 0. */
static long bird_running_here(void)
{
    struct stat self;
    struct dirent *d;
    DIR *proc;
    long pid = 0;

    if (stat("/proc/self/ns/net", &self) < 0 || !(proc = opendir("/proc")))
        return 0;
    while (pid == 0 && (d = readdir(proc)))
        if (isdigit((unsigned char)d->d_name[0]) && is_bird_here(d->d_name, &self))
            pid = strtol(d->d_name, NULL, 10);
    closedir(proc);
    return pid;
}

/* Routes of protocol 80 and the devices (tabby-node's), then protocol bird (BIRD's). */
static int uninstall_routes(struct tby_error *err)
{
    _cleanup_(tby_routes_closep) struct tby_routes *routes = NULL;
    unsigned deleted = 0;
    long bird;
    int r = tby_routes_open(&routes, err);

    if (r == 0)
        r = tby_routes_uninstall(routes, NULL, err);
    if (r < 0)
        return r;
    if ((bird = bird_running_here()) > 0)
        return tby_error_set(err, -EBUSY, "BIRD (pid %ld) still runs in this network "
                             "namespace: its routes (protocol bird) are left; stop it (the "
                             "tabby-node pod) and run --uninstall again", bird);
    r = tby_routes_delete_protocol(routes, RTPROT_BIRD, &deleted, err);
    if (r == 0 && deleted)
        tby_log(TBY_LOG_INFO, "node", "BIRD's routes deleted count=%u", deleted);
    return r;
}

/* The nodename file tabby-node writes (nodename.c); "" or absent: nothing to do. */
static int uninstall_nodename(const char *path, struct tby_error *err)
{
    if (!path || !*path || unlink(path) == 0 || errno == ENOENT)
        return 0;
    return tby_error_set(err, -errno, "CALICO_NODENAME_FILE %s: %s", path, strerror(errno));
}

int node_uninstall(const char *nodename_file)
{
    struct tby_error err = { 0 }, first = { 0 };
    struct node_install_cni s;
    int failed = 0, r;

    if ((r = node_cleanup(&err)) < 0 && failed++ == 0)
        first = err;
    if ((r = uninstall_routes(&err)) < 0 && failed++ == 0)
        first = err;
    r = node_install_cni_load(&s, &err);
    if (r == 0)
        r = node_uninstall_cni(&s, &err);
    node_install_cni_clear(&s);
    if (r < 0 && failed++ == 0)
        first = err;
    if ((r = uninstall_nodename(nodename_file, &err)) < 0 && failed++ == 0)
        first = err;
    if (failed)
        fprintf(stderr, "tabby-node: --uninstall: %s%s\n", tby_error_str(&first),
                failed > 1 ? " (and more: see the log)" : "");
    else
        tby_log(TBY_LOG_INFO, "node", "uninstalled: nothing of tabby is left on this node");
    return failed ? 1 : 0;
}
