/* pidfile.c — the pid file `tabbyctl node status` reads (TABBY_PID_FILE; "": none), a
 * part (node.h): written when the node starts, before it waits for anything, and removed
 * when it stops, while it still names this process (a newer instance may own it). A file
 * that cannot be written is said, not fatal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "node.h"

static void pidfile_write(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    FILE *f;

    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755); /* one level, as /run/tabby; an error shows on fopen */
    }
    f = fopen(path, "we");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        tby_log(TBY_LOG_WARNING, "node", "pid file not written path=%s error=\"%s\"", path,
                strerror(errno));
}

static int pidfile_start(struct node *n, void **state, struct tby_error *err)
{
    const char *path = n->cfg.v[NODE_PID_FILE];
    char *copy;

    if (!path || !path[0])
        return 0;
    if (!(copy = strdup(path)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    pidfile_write(path);
    *state = copy;
    return 0;
}

static void pidfile_stop(void *state)
{
    char *path = state;
    FILE *f = fopen(path, "re");
    long pid = 0;

    if (f) {
        if (fscanf(f, "%ld", &pid) == 1 && pid == (long)getpid())
            unlink(path);
        fclose(f);
    }
    free(path);
}

const struct node_part node_pidfile_part = {
    .name = "pidfile",
    .early = true,
    .start = pidfile_start,
    .stop = pidfile_stop,
};
