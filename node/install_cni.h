/* install_cni.h — `tabby-node install-cni`, the DaemonSet's init container (calico-node's
 * install-cni): puts the CNI plugins into the host's CNI bin folder, the plugins'
 * kubeconfig and the network configuration into its CNI config folder, in that order, so
 * that a runtime finding the configuration finds everything it names. Each file replaces
 * the old one atomically (a runtime may exec a plugin at any moment); a file that already
 * holds what would be written is left alone.
 *
 * Settings are environment variables, Calico's names where Calico has one (the init
 * container's env); node_install_cni_usage lists them.
 *
 * Owns: the settings' strings in struct node_install_cni (node_install_cni_clear).
 */
#ifndef TABBY_NODE_INSTALL_CNI_H
#define TABBY_NODE_INSTALL_CNI_H

#include <stdbool.h>
#include <stdio.h>

#include "tabby/error.h"
#include "tabby/strv.h"

struct node_install_cni {
    char *plugins_dir;   /* where the plugins are in the image */
    char *bin_dir;       /* the host's CNI bin folder, as mounted here */
    char *net_dir;       /* the host's CNI config folder, as mounted here */
    char *host_net_dir;  /* the same folder as the host (and so the plugin) names it */
    char *conf_name;     /* the conflist's file name */
    char *template;      /* the conflist with __PLACEHOLDERS__ */
    char *node_name;
    char *nodename_file; /* tabby-node's CALICO_NODENAME_FILE, for the plugins' nodename_file */
    char *mtu;
    char *datastore_type;
    char *log_level;
    char *etcd_endpoints;
    char *tls_dir;       /* the etcd Secret's files (etcd-ca, etcd-cert, etcd-key), mounted */
    char *service_host, *service_port; /* the API as this pod reaches it */
    char *sa_dir;        /* this pod's service account files */
    char *account;       /* the plugins' ServiceAccount */
    long token_seconds;
    bool update_binaries;
    struct tby_strv skip;     /* plugins not to install */
};

void node_install_cni_usage(FILE *out);
/* Reads the environment; the error names the variable. */
int node_install_cni_load(struct node_install_cni *s, struct tby_error *err);
void node_install_cni_clear(struct node_install_cni *s);

/* The conflist for these settings: the template with its placeholders filled in, checked to
 * be JSON. The caller frees it. */
int node_install_cni_conflist(const struct node_install_cni *s, char **out,
                              struct tby_error *err);

/* Does the work, logging one line per file. */
int node_install_cni(const struct node_install_cni *s, struct tby_error *err);
/* `install-cni --uninstall`: removes what it installed, logging one line per file: the
 * conflist first (a runtime then no longer picks tabby's network), when it is tabby's (a
 * plugin of type tabby in it); the plugins' kubeconfig and etcd's TLS files; then each
 * plugin that is the one it would install. Each goes in one unlink (a runtime sees it
 * whole or not at all); a file of someone else's, of another name or content, stays. */
int node_uninstall_cni(const struct node_install_cni *s, struct tby_error *err);

#endif
