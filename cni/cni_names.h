/* cni_names.h — the names the tabby plugin gives things (private to cni/): the host side
 * of a pod's veth and the pod's WorkloadEndpoint resource, both as Calico builds them, so
 * that names read the same to someone who knows Calico.
 *
 * Owns nothing: pure functions. cni_wep_name hands out a string the caller frees.
 */
#ifndef TABBY_CNI_NAMES_H
#define TABBY_CNI_NAMES_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/error.h"

#define CNI_VETH_PREFIX "tby"
#define CNI_VETH_HASH_CHARS 11
#define CNI_SHA1_LEN 20

void cni_sha1(const void *data, size_t len, uint8_t out[CNI_SHA1_LEN]);

/* "tby" and the first 11 hex digits of the SHA-1 of "<namespace>.<pod>" (Calico's "cali"
 * names hash the same text), or of the container ID when there is no pod name. 14
 * characters: within IFNAMSIZ. */
void cni_veth_name(const char *namespace, const char *pod, const char *container_id,
                   char out[IFNAMSIZ]);

/* Calico's WorkloadEndpoint name: <node>-<orchestrator>-<workload>-<endpoint>, where the
 * workload is the pod for "k8s" and the container ID for "cni", and each part's '-' is
 * written "--" so the name splits back into its parts. A part that is empty, or starts
 * or ends with '-', is -EINVAL with a message naming it. */
int cni_wep_name(const char *node, const char *orchestrator, const char *workload,
                 const char *endpoint, char **out, struct tby_error *err);

#endif
