/* endpoint_names.h — the names a pod's endpoint goes by, built as Calico builds them so
 * they read the same to someone who knows Calico: the host side of its veth and its
 * WorkloadEndpoint's name. The CNI plugin names what it makes with them; the k8s: store
 * computes the same names for the endpoints it derives from Pods.
 *
 * Owns nothing: pure functions. tby_wep_name hands out a string the caller frees;
 * tby_wep_name_parse fills the caller's struct, freed with tby_wep_parts_clear.
 */
#ifndef TABBY_ENDPOINT_NAMES_H
#define TABBY_ENDPOINT_NAMES_H

#include <net/if.h>

#include "tabby/error.h"

#define TBY_VETH_PREFIX "tby"
#define TBY_VETH_HASH_CHARS 11

/* "tby" and the first 11 hex digits of the SHA-1 of "<namespace>.<pod>" (Calico's "cali"
 * names hash the same text), or of the container ID when there is no pod name. 14
 * characters: within IFNAMSIZ. */
void tby_veth_name(const char *namespace, const char *pod, const char *container_id,
                   char out[IFNAMSIZ]);

/* Calico's WorkloadEndpoint name: <node>-<orchestrator>-<workload>-<endpoint>, where the
 * workload is the pod for "k8s" and the container ID for "cni", and each part's '-' is
 * written "--" so the name splits back into its parts. A part that is empty, or starts
 * or ends with '-', is -EINVAL with a message naming it. */
int tby_wep_name(const char *node, const char *orchestrator, const char *workload,
                 const char *endpoint, char **out, struct tby_error *err);

struct tby_wep_parts {
    char *node, *orchestrator, *workload, *endpoint;
};

/* Splits a name made by tby_wep_name back into its four parts. -EINVAL when it does not
 * have exactly four (each non-empty). */
int tby_wep_name_parse(const char *name, struct tby_wep_parts *out);
void tby_wep_parts_clear(struct tby_wep_parts *parts);

#endif
