/* node_process.c — whether tabby-node runs, from its pid file: the process must exist and be
 * named tabby-node (a stale file whose pid was reused by something else does not count).
 * For node status and node diagnose. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ctl.h"

long ctl_node_process(const char *pid_file, char *why, size_t size)
{
    _cleanup_fclose_ FILE *f = fopen(pid_file, "re");
    _cleanup_fclose_ FILE *comm = NULL;
    char path[64], name[64] = "";
    long pid = 0;

    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
        snprintf(why, size, "no pid in %s", pid_file);
        return -ENOENT;
    }
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    comm = fopen(path, "re");
    if ((kill((pid_t)pid, 0) < 0 && errno != EPERM) || !comm || !fgets(name, sizeof(name), comm)) {
        snprintf(why, size, "pid %ld from %s is gone", pid, pid_file);
        return -ESRCH;
    }
    name[strcspn(name, "\n")] = '\0';
    if (strcmp(name, "tabby-node") != 0) {
        snprintf(why, size, "pid %ld from %s is \"%s\"", pid, pid_file, name);
        return -ESRCH;
    }
    snprintf(why, size, "pid %ld", pid);
    return pid;
}

bool ctl_process_stopped(long pid)
{
    _cleanup_fclose_ FILE *f = NULL;
    char path[64], line[512], *state;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "re")) || !fgets(line, sizeof(line), f))
        return false;
    /* "pid (comm) S …": the state follows the last ')' (comm may hold one) */
    state = strrchr(line, ')');
    return state && (state[1] == ' ') && (state[2] == 'T' || state[2] == 't');
}
