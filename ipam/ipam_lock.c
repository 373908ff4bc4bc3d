/* ipam_lock.c — the host-local lock that serialises one node's IPAM operations on stores
 * without multi-key transactions, as Calico's CNI plugin does with
 * /var/run/calico/ipam.lock: there a node's claims cannot be compared with a claims
 * record, so maxBlocksPerHost and the resumption of half-made claims rely on the
 * processes of a host taking turns. Best effort, as Calico's: a lock that cannot be had
 * (no permission, read-only folder) lets the operation run without it, and the
 * compare-and-swap of every write still keeps addresses unique. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "ipam_internal.h"

int tby_ipam_set_lock_file(struct tby_ipam *ipam, const char *path)
{
    char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    free(ipam->lock_file);
    ipam->lock_file = copy;
    return 0;
}

/* Makes the folders above path (mode 0755), as far as it can. */
static void make_parents(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);

    for (char *p = dir ? dir + 1 : NULL; p && *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
}

bool ipam_lock_take(struct tby_ipam *ipam)
{
    const char *path = ipam->lock_file;
    int fd;

    if (!path)
        path = getenv("TABBY_IPAM_LOCK_FILE");
    if (!path || !*path)
        path = IPAM_DEFAULT_LOCK_FILE;
    make_parents(path);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        tby_log(TBY_LOG_WARNING, "ipam", "host-wide IPAM lock not taken, may contend for the "
                "datastore path=%s error=\"%s\"", path, strerror(errno));
        return false;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR)
            continue;
        tby_log(TBY_LOG_WARNING, "ipam", "host-wide IPAM lock not taken, may contend for the "
                "datastore path=%s error=\"%s\"", path, strerror(errno));
        close(fd);
        return false;
    }
    ipam->lock_fd = fd;
    return true;
}

void ipam_lock_release(struct tby_ipam *ipam)
{
    if (ipam->lock_fd >= 0)
        close(ipam->lock_fd);
    ipam->lock_fd = -1;
}
