/* kube_config.h — where a Kubernetes API server is and how to prove who we are to it:
 * read from a kubeconfig file (as kubectl reads one) or from a pod's service account
 * (in-cluster).
 *
 * A kubeconfig names clusters (server, CA), users (token, token file, client certificate
 * and key) and contexts (a cluster, a user, a namespace); `current-context` (or the one
 * asked for) picks one. Certificates and keys come as file paths (relative ones are taken
 * from the kubeconfig's folder, as kubectl does) or inline as base64 `-data`; inline data
 * is kept in memory and handed to libcurl as a blob, never written to a file. A token file
 * (`tokenFile`, the service account's token) is read again by the client whenever it
 * changes on disk: kubelet rotates it.
 *
 * Errors name the source and the field, never a secret's value:
 *   kubeconfig /x: users[0].user.client-key-data: not base64
 *
 * Owns: struct tby_kube_config and every string and blob in it; immutable once loaded,
 * so clients on several threads may share one. The caller frees it with
 * tby_kube_config_free(), which wipes the secrets (token, key) first; it must outlive
 * every client and informer made from it. Needs libyaml (kubeconfigs are YAML).
 */
#ifndef TABBY_KUBE_CONFIG_H
#define TABBY_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"

/* The service account's files in a pod: token, ca.crt, namespace. */
#define TBY_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* A PEM certificate or key held in memory (decoded -data). */
struct tby_kube_blob {
    char *data; /* NULL when not given; NUL-terminated */
    size_t len;
};

struct tby_kube_config {
    char *source;          /* for messages: "kubeconfig /root/.kube/config", "in-cluster" */
    char *server;          /* "https://10.0.0.1:6443", without a trailing slash */
    char *namespace;       /* the context's namespace; "default" when it names none */
    char *context;         /* the context used; NULL in-cluster */
    char *ca_file;         /* certificate-authority (absolute path) */
    struct tby_kube_blob ca_data;
    char *cert_file;       /* client-certificate */
    struct tby_kube_blob cert_data;
    char *key_file;        /* client-key */
    struct tby_kube_blob key_data; /* a secret */
    char *token;           /* a secret; NULL when a token file or none is used */
    char *token_file;      /* read (again when it changes) by each client */
    bool insecure;         /* insecure-skip-tls-verify: no check of the server's certificate */
    long timeout_ms;       /* one request's limit (not a watch's); default 30 s */
    long connect_timeout_ms; /* default 5 s */
};

/* Where to look; every field may be NULL (or the whole struct). */
struct tby_kube_config_options {
    const char *kubeconfig; /* a file; else $KUBECONFIG (its first file), ~/.kube/config */
    const char *context;    /* else the kubeconfig's current-context */
    const char *sa_dir;     /* in-cluster files; else TBY_KUBE_SA_DIR */
};

/* Finds the configuration as kubectl and in-cluster clients do: an explicit kubeconfig;
 * else $KUBECONFIG (the first of a ':'-separated list); else ~/.kube/config when it
 * exists; else in-cluster when KUBERNETES_SERVICE_HOST is set. -ENOENT (with a message
 * saying what was tried) when none applies; -EINVAL for a bad file; -ENOMEM. */
int tby_kube_config_load(const struct tby_kube_config_options *opts,
                         struct tby_kube_config **out, struct tby_error *err);

/* Reads one kubeconfig file. */
int tby_kube_config_from_file(const char *path, const char *context,
                              struct tby_kube_config **out, struct tby_error *err);

/* Parses kubeconfig text; `path` names it in messages and relative paths are taken from
 * its folder. */
int tby_kube_config_parse(const char *text, size_t len, const char *path, const char *context,
                          struct tby_kube_config **out, struct tby_error *err);

/* In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the token file
 * and ca.crt of `sa_dir` (NULL: TBY_KUBE_SA_DIR), the namespace in its `namespace` file
 * ("default" without one). -ENOENT when the variables or the token are missing. */
int tby_kube_config_in_cluster(const char *sa_dir, struct tby_kube_config **out,
                               struct tby_error *err);

void tby_kube_config_free(struct tby_kube_config *cfg);
TBY_DEFINE_FREEP(struct tby_kube_config, tby_kube_config_free)

#endif
