/* nodename.c — the nodename file (CALICO_NODENAME_FILE, default /var/lib/calico/nodename;
 * "": none), a part (node.h): this node's name, written once the datastore is open, for
 * the CNI plugin's `nodename_file` — as calico-node writes it at the end of its start-up,
 * so that a runtime's ADD waits (try again) until the node's agent runs and then names the
 * node exactly as the agent does. Written whole or not at all (a temporary file renamed
 * over it); left in place when the node stops, since DEL needs it while the agent is away.
 * A file that cannot be written stops the start, as it stops calico-node's: pods could not
 * be wired on this node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "node.h"

/* The name alone, no newline, as Calico's file holds it (the plugin trims blanks anyway). */
static int nodename_write(const char *path, const char *name, struct tby_error *err)
{
    _cleanup_free_ char *dir = strdup(path), *tmp = NULL;
    char *slash = dir ? strrchr(dir, '/') : NULL;
    FILE *f;
    int r = 0;

    if (!dir || asprintf(&tmp, "%s.tmp", path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755); /* one level, as /var/lib/calico; an error shows on fopen */
    }
    f = fopen(tmp, "we");
    if (!f || fputs(name, f) < 0)
        r = -errno;
    if (f && fclose(f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && (chmod(tmp, 0644) < 0 || rename(tmp, path) < 0))
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return tby_error_set(err, r, "CALICO_NODENAME_FILE %s: %s", path, strerror(-r));
    }
    return 0;
}

static int nodename_start(struct node *n, void **state, struct tby_error *err)
{
    const char *path = n->cfg.v[NODE_NODENAME_FILE];
    int r;

    (void)state; /* nothing to keep: the part has no more to do */
    if (!path || !path[0])
        return 0;
    r = nodename_write(path, n->name, err);
    if (r == 0)
        tby_log(TBY_LOG_INFO, "node", "nodename file written path=%s node=%s", path, n->name);
    return r;
}

static void nodename_stop(void *state)
{
    (void)state;
}

const struct node_part node_nodename_part = {
    .name = "nodename",
    .start = nodename_start,
    .stop = nodename_stop,
};
