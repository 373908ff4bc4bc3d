/* cni_netns.c — running code inside a network namespace on a thread of its own (see
 * cni_netns.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cni_netns.h"

int cni_netns_open(const char *path, int *fd, struct tby_error *err)
{
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    int type;

    if (nsfd < 0)
        return tby_error_set(err, -errno, "network namespace %s: %s", path, strerror(errno));
    type = ioctl(nsfd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
        close(nsfd);
        return tby_error_set(err, -EINVAL, "%s is not a network namespace", path);
    }
    *fd = nsfd;
    return 0;
}

struct job {
    int fd;
    int (*fn)(void *arg, struct tby_error *err);
    void *arg;
    struct tby_error *err;
    int result;
};

static void *job_main(void *opaque)
{
    struct job *j = opaque;

    if (setns(j->fd, CLONE_NEWNET) < 0)
        j->result = tby_error_set(j->err, -errno, "entering the container's network "
                                  "namespace: %s", strerror(errno));
    else
        j->result = j->fn(j->arg, j->err);
    return NULL;
}

int cni_netns_run(int fd, int (*fn)(void *arg, struct tby_error *err), void *arg,
                  struct tby_error *err)
{
    struct job j = { fd, fn, arg, err, 0 };
    pthread_t thread;
    int r = pthread_create(&thread, NULL, job_main, &j);

    if (r != 0)
        return tby_error_set(err, -r, "starting a thread for the container's network "
                             "namespace: %s", strerror(r));
    pthread_join(thread, NULL);
    return j.result;
}
