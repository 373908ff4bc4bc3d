/* cni_wep.h — the WorkloadEndpoint resource the tabby plugin records for a pod (private
 * to cni/), as Calico's CNI plugin builds it, so that tabby-node enforces policy on the
 * pod from the moment it exists:
 *
 *   metadata: name <node>-k8s-<pod>-<endpoint> (tby_wep_name), namespace, labels: the
 *     pod's (from the Kubernetes API, or the configuration's args.cni.labels) plus
 *     projectcalico.org/namespace and projectcalico.org/orchestrator (Calico's, which win
 *     over the same keys given); annotation tabby/network: the CNI network's name, so
 *     that GC of a network touches only its own endpoints
 *   spec: orchestrator k8s, node, containerID, pod, endpoint (CNI_IFNAME), ipNetworks
 *     (/32 and /128), profiles [kns.<namespace>, ksa.<namespace>.<service account>],
 *     serviceAccountName, interfaceName (the host side), mac (the container side), ports,
 *     allowSpoofedSourcePrefixes
 *
 * Without a pod name (a runtime that is not Kubernetes) the orchestrator is "cni" and the
 * container ID takes the pod's place in the name.
 *
 * Owns nothing: the input borrows; the resource built is the caller's.
 */
#ifndef TABBY_CNI_WEP_H
#define TABBY_CNI_WEP_H

#include <jansson.h>

#include "tabby/resource.h"
#include "cni_result.h"

#define CNI_LABEL_NAMESPACE "projectcalico.org/namespace"
#define CNI_LABEL_ORCHESTRATOR "projectcalico.org/orchestrator"
#define CNI_ANNOTATION_NETWORK "tabby/network"

struct cni_wep_input {
    const char *node;
    const char *namespace;          /* NULL: "default" */
    const char *pod;                /* NULL: orchestrator "cni" */
    const char *container_id;
    const char *endpoint;           /* CNI_IFNAME */
    /* For cni_wep_build only: */
    const char *network;            /* the CNI network's name; may be NULL */
    const char *host_ifname;
    const char *mac;                /* the container side's */
    const struct cni_result *res;   /* its addresses */
    const json_t *labels;           /* {key: value}; may be NULL */
    const json_t *ports;            /* WorkloadEndpoint ports; may be NULL */
    const char *service_account;    /* may be NULL */
    const json_t *source_prefixes;  /* allowSpoofedSourcePrefixes; may be NULL */
};

/* The resource's name (caller frees) and namespace (in->namespace or "default"). */
int cni_wep_name_of(const struct cni_wep_input *in, char **name, const char **namespace,
                    struct tby_error *err);
/* The whole resource, validated as any WorkloadEndpoint is; the message of a failure
 * names the field ("WorkloadEndpoint default/node1-k8s-web-eth0: metadata.labels: …"). */
int cni_wep_build(const struct cni_wep_input *in, struct tby_resource **out,
                  struct tby_error *err);

#endif
