/* cni_conf.h — the tabby plugin's own keys in the network configuration (private to
 * cni/), read and checked before anything is changed:
 *
 *   "mtu": 1450                        the veth's MTU; absent or 0: the content of
 *                                      "mtu_file" (default /var/lib/calico/mtu, as Calico)
 *                                      when it exists, else detected
 *   "require_mtu_file": true           (Calico's) ADD fails while that file is missing
 *   "nodename", "datastore", Calico's datastore_type, etcd_* …   see cni_datastore.h
 *   "container_settings": {"allow_ip_forwarding": false}   as Calico's
 *   "log_level": "warning"             error, warning, info or debug, on standard error
 *   "ipam": {"type": "tabby-ipam", …}  the IPAM plugin (required), run from CNI_PATH
 *   "args": {"cni": {                  the CNI conventions' runtime arguments:
 *       "labels": [{"key": "app", "value": "web"}],      (a {"app": "web"} map too)
 *       "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}}
 *
 * The Kubernetes API (cni_k8s.h) is asked about the pod when any of these says so:
 *   "policy": {"type": "k8s"}, "datastore_type": "kubernetes",
 *   "kubernetes": {"kubeconfig": "/etc/cni/net.d/tabby-kubeconfig",
 *                  "k8s_api_root": "https://10.96.0.1:443"},
 *   "policy": {"k8s_api_root", "k8s_auth_token", "k8s_client_certificate",
 *              "k8s_client_key", "k8s_certificate_authority"}   (Calico's older keys,
 *                                      over the kubeconfig's; k8s_api_root may end in
 *                                      "/api/v1")
 * Then the pod's own labels and ports replace args.cni's.
 *
 * Calico's keys that tabby does not implement are refused when set to something that
 * would change what happens (feature_control.floating_ips: true, readiness_gates, …),
 * and ignored with a debug line when they do not matter here (log_file_path, windows_*,
 * …): the table in cni_conf.c, listed in the README.
 *
 * Owns: the strings of struct cni_conf it allocates (node, store_uri, kube.api_root) and
 * the labels object; free with cni_conf_clear. Other pointers borrow from the call's JSON.
 */
#ifndef TABBY_CNI_CONF_H
#define TABBY_CNI_CONF_H

#include <stdbool.h>

#include <jansson.h>

#include "tabby/log.h"
#include "cni_common.h"

/* Where the Kubernetes API is; all borrowed but api_root. */
struct cni_kube_conf {
    bool wanted;                    /* a key above asks for the API */
    const char *kubeconfig;
    char *api_root;                 /* without "/api/…" and a trailing '/'; NULL: the
                                     * kubeconfig's */
    const char *token;
    const char *client_certificate;
    const char *client_key;
    const char *certificate_authority;
};

#define CNI_MTU_FILE "/var/lib/calico/mtu"

struct cni_conf {
    unsigned mtu;                   /* 0: the MTU file's, else detect */
    const char *mtu_file;           /* borrowed, or CNI_MTU_FILE */
    bool require_mtu_file;
    bool allow_ip_forwarding;
    bool has_log_level;
    enum tby_log_level log_level;
    const char *ipam_type;          /* borrowed */
    char *node;
    char *store_uri;
    json_t *labels;                 /* {key: value}, from args.cni.labels; never NULL */
    const json_t *ports;            /* args.cni.ports, or NULL (borrowed) */
    struct cni_kube_conf kube;
};

/* Reads and checks the keys above (store_uri and node only when need_store). Errors are
 * code 7 naming the key. */
int cni_conf_read(const struct cni_call *call, bool need_store, struct cni_conf *out,
                  struct cni_failure *f);
void cni_conf_clear(struct cni_conf *conf);

/* Only the log level, read before anything else so that what follows is logged. */
int cni_conf_log_level(const json_t *conf, bool *has, enum tby_log_level *out,
                       struct cni_failure *f);

#endif
