/* cni_k8s.h — the tabby plugin's reads of the Kubernetes API (private to cni/): in
 * Kubernetes mode (cni_conf.h says when) ADD and DEL GET the pod that CNI_ARGS names, ADD
 * also its namespace and Calico's ClusterInformation, as Calico's plugin does.
 *
 * Where the API is: the kubeconfig of kubernetes.kubeconfig, else as kubectl finds one
 * ($KUBECONFIG, ~/.kube/config) or a pod's service account; Calico's older keys
 * (policy.k8s_api_root, k8s_auth_token, k8s_client_certificate, k8s_client_key,
 * k8s_certificate_authority) and kubernetes.k8s_api_root over it, and enough without one.
 *
 * A CNI call must not hang: each request may take CNI_K8S_TIMEOUT_MS (the connection
 * CNI_K8S_CONNECT_MS of it), and a 429 or a 503 asking to come back is retried at most
 * twice, waiting at most a second each time. Failures become CNI errors that name the
 * object: 11 when the API cannot answer now (unreachable, timed out, overloaded), 3 when
 * the pod is not there, 7 when the credentials are refused or the configuration is wrong,
 * 5 otherwise.
 *
 * Owns: the kubeconfig and the client (libcurl is loaded on the first request, see
 * curl_lazy.c); cni_k8s_close frees them. Objects handed out are the caller's.
 */
#ifndef TABBY_CNI_K8S_H
#define TABBY_CNI_K8S_H

#include <jansson.h>

#include "tabby/kube.h"
#include "cni_common.h"
#include "cni_conf.h"

#define CNI_K8S_TIMEOUT_MS 5000
#define CNI_K8S_CONNECT_MS 2000

struct cni_k8s {
    struct tby_kube_config *cfg;
    struct tby_kube_client *client;
};

/* Reads the configuration; nothing is sent yet. */
int cni_k8s_open(const struct cni_kube_conf *conf, struct cni_k8s *out, struct cni_failure *f);
void cni_k8s_close(struct cni_k8s *k);

/* Refuses (11) while Calico's ClusterInformation "default" says datastoreReady: false
 * (an upgrade is in progress); no ClusterInformation, or none served, is ready. */
int cni_k8s_check_ready(struct cni_k8s *k, struct cni_failure *f);

/* GET of pod ns/name or of namespace name: 0, -ENOENT (f: code 3 naming it), or -1. */
int cni_k8s_get_pod(struct cni_k8s *k, const char *ns, const char *name, json_t **out,
                    struct cni_failure *f);
int cni_k8s_get_namespace(struct cni_k8s *k, const char *name, json_t **out,
                          struct cni_failure *f);

#endif
