/* cni_netns.h — work inside a container's network namespace (private to cni/).
 *
 * The calling thread never changes namespace: cni_netns_run starts a thread that joins
 * the namespace, runs the function and ends, so nothing can leave the plugin stranded in
 * the container's namespace. Netlink sockets and /proc/sys/net files opened on that
 * thread belong to the container's namespace.
 *
 * Owns: the file descriptor cni_netns_open hands out (the caller closes it).
 */
#ifndef TABBY_CNI_NETNS_H
#define TABBY_CNI_NETNS_H

#include "tabby/error.h"

/* Opens the namespace at path. -ENOENT when path does not exist; -EINVAL when it is not
 * a network namespace (a file left behind by a runtime that unmounted it). */
int cni_netns_open(const char *path, int *fd, struct tby_error *err);

/* Runs fn(arg, err) inside the namespace `fd` and returns what it returned. */
int cni_netns_run(int fd, int (*fn)(void *arg, struct tby_error *err), void *arg,
                  struct tby_error *err);

#endif
