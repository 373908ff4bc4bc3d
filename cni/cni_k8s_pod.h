/* cni_k8s_pod.h — what the tabby plugin takes from a Kubernetes pod and its namespace in
 * Kubernetes mode (private to cni/), as Calico's plugin takes it (KDD-LAYOUT §3.1, §6.3):
 *
 *   labels    the pod's, with projectcalico.org/namespace, projectcalico.org/orchestrator
 *             (k8s) and projectcalico.org/serviceaccount (when the name is shorter than 63
 *             characters) over them: exactly the labels Calico's endpoint of the pod has
 *   ports     each port of every container and init container that has a containerPort
 *             and a name or a hostPort, as {name, protocol, port, hostPort, hostIP};
 *             protocol TCP when not given, ports of other protocols than TCP, UDP and
 *             SCTP skipped
 *   the service account (spec.serviceAccountName), for the profile ksa.<ns>.<sa>
 *   the pod's uid and its cni.projectcalico.org/containerID annotation (for DEL)
 *   annotations (cni.projectcalico.org/…):
 *     ipv4pools, ipv6pools, ipFamilies   the pod's, else the namespace's; JSON lists (of
 *                                        pool names or CIDRs; of IPv4 and IPv6)
 *     ipAddrs                            the pod's: a JSON list of at most one IPv4 and
 *                                        one IPv6 address
 *     allowedSourcePrefixes              the pod's: a JSON list of CIDRs
 *     ipAddrsNoIpam, floatingIPs         refused: tabby does not implement them, and
 *                                        accepts nothing it does not enforce
 *   An empty annotation counts as absent, as in Calico.
 *
 * The IPAM annotations reach tabby-ipam in the configuration it is given: as its
 * args.cni.annotations (replacing the configuration's own: the API wins), ipFamilies as
 * ipam.assign_ipv4 / assign_ipv6. Other IPAM plugins cannot honour them: refused.
 *
 * Owns: struct cni_k8s_pod holds references to the pod and namespace objects it reads and
 * the labels, ports and prefixes it builds; the strings borrow from the objects.
 * cni_k8s_pod_clear frees it all.
 */
#ifndef TABBY_CNI_K8S_POD_H
#define TABBY_CNI_K8S_POD_H

#include <stddef.h>

#include <jansson.h>

#include "tabby/error.h"

#define CNI_ANN_PREFIX "cni.projectcalico.org/"
#define CNI_ANN_CONTAINER_ID CNI_ANN_PREFIX "containerID"
#define CNI_LABEL_SERVICE_ACCOUNT "projectcalico.org/serviceaccount"

struct cni_k8s_pod {
    json_t *pod;                    /* the objects read (references held) */
    json_t *ns;
    const char *namespace;
    const char *name;
    const char *uid;
    const char *service_account;    /* NULL: none */
    const char *container_id;       /* the annotation; NULL: none */
    json_t *labels;                 /* the endpoint's */
    json_t *ports;                  /* WorkloadEndpoint ports; [] when none */
    json_t *source_prefixes;        /* CIDR strings, masked; NULL: none */
    json_t *ipam_annotations;       /* {annotation: JSON text} for tabby-ipam; NULL: none */
    const char *ip_families;        /* JSON text; NULL: none */
};

/* An object's annotation; NULL when absent or empty (Calico's "not set"). */
const char *cni_k8s_annotation(const json_t *obj, const char *key);
/* Its metadata.uid, or NULL. */
const char *cni_k8s_uid(const json_t *obj);

/* Reads pod (and ns, which may be NULL: no namespace defaults) into out, taking a
 * reference to each. -EINVAL with a message naming the annotation and whose it is when
 * one is malformed or refused. */
int cni_k8s_pod_read(json_t *pod, json_t *ns, struct cni_k8s_pod *out, struct tby_error *err);
void cni_k8s_pod_clear(struct cni_k8s_pod *p);

/* Whether the pod asks IPAM for something (pools, families, addresses). */
bool cni_k8s_pod_has_ipam_wishes(const struct cni_k8s_pod *p);

/* The network configuration for the IPAM plugin `ipam_type`: `conf` with the pod's IPAM
 * annotations (see above) as a new text (*text, *len; the caller frees). -EINVAL when
 * the pod asks for something and ipam_type is not tabby-ipam. */
int cni_k8s_pod_ipam_conf(const struct cni_k8s_pod *p, const json_t *conf,
                          const char *ipam_type, char **text, size_t *len,
                          struct tby_error *err);

#endif
