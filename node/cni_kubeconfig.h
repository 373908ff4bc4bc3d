/* cni_kubeconfig.h — the kubeconfig the CNI plugins read on a Kubernetes node: the API
 * server as this pod sees it, its CA, and a token of the plugins' own ServiceAccount
 * (tabby-cni-plugin) that tabby asks the API for (TokenRequest), as calico-node does for
 * calico-cni-plugin. install-cni writes it first (install_cni.c); tabby-node keeps its
 * token fresh (cni_token.c, a part): a new one once a quarter to a half of the old one's
 * life has gone, never after it expired.
 *
 * Owns: struct node_cni_kubeconfig (the in-cluster configuration, a client, the names),
 * freed by node_cni_kubeconfig_close. The file is written atomically with mode 0600: it
 * holds a secret, and a plugin starting at any moment reads a whole one.
 */
#ifndef TABBY_NODE_CNI_KUBECONFIG_H
#define TABBY_NODE_CNI_KUBECONFIG_H

#include <stdint.h>

#include "tabby/error.h"
#include "tabby/kube.h"
#include "tabby/kube_config.h"

/* calico-node's: the plugins' token lives a day. */
#define NODE_CNI_DEFAULT_TOKEN_SECONDS 86400
#define NODE_CNI_DEFAULT_ACCOUNT "tabby-cni-plugin"
#define NODE_CNI_KUBECONFIG_NAME "tabby-kubeconfig"
/* The shortest wait between two TokenRequests (calico-node's too). */
#define NODE_CNI_TOKEN_RETRY_MS 5000

struct node_cni_kubeconfig {
    struct tby_kube_config *cfg;    /* this pod's, in-cluster */
    struct tby_kube_client *client;
    char *account;                  /* the plugins' ServiceAccount, in cfg->namespace */
    char *path;                     /* the file written */
    long seconds;                   /* a token's asked-for life */
};

/* In-cluster configuration from `sa_dir` (NULL: the pod's service account folder) and
 * $KUBERNETES_SERVICE_HOST/_PORT, with short limits (5 s a request, one retry of a 429):
 * tabby-node asks from its loop. -ENOENT when this is not a pod. */
int node_cni_kubeconfig_open(struct node_cni_kubeconfig *k, const char *sa_dir,
                             const char *account, const char *path, long seconds,
                             struct tby_error *err);
void node_cni_kubeconfig_close(struct node_cni_kubeconfig *k);

/* Asks for a new token and writes the file; *expires gets the token's expiry (seconds
 * since the epoch). */
int node_cni_kubeconfig_write(struct node_cni_kubeconfig *k, int64_t *expires,
                              struct tby_error *err);

/* The kubeconfig's text for a token (the caller frees it). */
int node_cni_kubeconfig_render(const struct tby_kube_config *cfg, const char *token,
                               char **out, struct tby_error *err);

/* When to ask again (ms from now) for a token that expires at `expires` (epoch seconds)
 * when it is `now` (epoch seconds): a random point between a quarter and a half of the
 * time left, as calico-node; NODE_CNI_TOKEN_RETRY_MS when that is sooner than 20 s away
 * or the token has expired. `random01` is in [0, 1). */
int64_t node_cni_token_refresh_ms(int64_t expires, int64_t now, double random01);

#endif
