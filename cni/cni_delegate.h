/* cni_delegate.h — running a delegated plugin (IPAM) the way the CNI spec describes it
 * (private to cni/): the executable named by `type`, looked up in the directories of
 * CNI_PATH, run with this process's environment and the same network configuration on
 * its standard input; its standard error is ours; its standard output is its answer.
 *
 * Owns: the child process for the length of the call (always reaped before returning).
 * The JSON answer handed out is the caller's.
 *
 * The caller should ignore SIGPIPE (a plugin may exit without reading its input); the
 * child gets the default disposition back.
 */
#ifndef TABBY_CNI_DELEGATE_H
#define TABBY_CNI_DELEGATE_H

#include <stddef.h>

#include <jansson.h>

#include "cni_common.h"

/* Runs plugin `type` with CNI_COMMAND=command (the rest of the environment as ours) and
 * conf[0..len) on its standard input. On success *out is its JSON answer (NULL when it
 * printed nothing, as DEL does). On failure f holds the plugin's own error code and
 * message (prefixed with its name), or, when it could not be run or answered nonsense, a
 * code of tabby's choosing: 7 for a type not found on CNI_PATH, 5 otherwise. */
int cni_delegate(const char *type, const char *command, const char *conf, size_t len,
                 json_t **out, struct cni_failure *f);

/* Where `type` is: the first executable "<dir>/<type>" for dir in CNI_PATH. Caller
 * frees. -ENOENT when none; -EINVAL when type is empty or holds a '/'. */
int cni_delegate_find(const char *type, const char *cni_path, char **out);

#endif
