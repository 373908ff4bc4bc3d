/* tabby_plugin.h — the tabby CNI plugin's state for one call, shared by its commands
 * (private to cni/: tabby.c reads the call and runs DEL and CHECK, tabby_add.c runs ADD,
 * tabby_gc.c GC and STATUS).
 *
 * Kubernetes mode: the configuration names the Kubernetes API (cni_conf.h) and CNI_ARGS
 * both K8S_POD_NAMESPACE and K8S_POD_NAME. ADD then reads the pod and its namespace
 * before it changes anything (cni_k8s.h, cni_k8s_pod.h), and DEL reads the pod.
 *
 * Owns everything in struct plugin; plugin_clear frees it.
 */
#ifndef TABBY_CNI_TABBY_PLUGIN_H
#define TABBY_CNI_TABBY_PLUGIN_H

#include <net/if.h>

#include <netlink/socket.h>

#include "tabby/resource.h"
#include "tabby/store.h"
#include "cni_common.h"
#include "cni_conf.h"
#include "cni_datastore.h"
#include "cni_k8s.h"
#include "cni_k8s_pod.h"
#include "cni_wep.h"

struct plugin {
    struct cni_call call;
    struct cni_conf conf;
    struct tby_store *store;
    struct nl_sock *sk;             /* in the plugin's (the node's) namespace; not for STATUS */
    /* The attachment's (not for GC and STATUS): */
    char host[IFNAMSIZ];            /* the host side of the pod's veth */
    struct cni_wep_input wep;       /* the endpoint's identity (node, pod, …) */
    char *wep_name;
    const char *wep_namespace;
    /* Kubernetes mode (ADD and DEL): the API, and for ADD the pod as read. */
    bool k8s_mode;
    struct cni_k8s k8s;
    struct cni_k8s_pod pod;
    char *ipam_conf;                /* the IPAM plugin's configuration, when not the call's */
    size_t ipam_conf_len;
};

/* The pod's endpoint as stored: 0, -ENOENT (*out NULL), or a failure in f. */
int plugin_get_wep(struct plugin *p, struct tby_resource **out, struct cni_failure *f);
/* The IPAM plugin, with this call's configuration (or ipam_conf); DEL and CHECK print
 * nothing. */
int plugin_ipam(struct plugin *p, const char *command, json_t **out, struct cni_failure *f);

/* Kubernetes mode: GET of the pod CNI_ARGS names (with the API opened on first use): 0,
 * -ENOENT (f says so) or -1. */
int plugin_get_pod(struct plugin *p, json_t **pod, struct cni_failure *f);

int cmd_add(void *plugin, struct cni_failure *f);
int cmd_gc(void *plugin, struct cni_failure *f);
int cmd_status(void *plugin, struct cni_failure *f);

#endif
