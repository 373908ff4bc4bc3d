/* cni_k8s.c — the tabby plugin's Kubernetes API reads (see cni_k8s.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/log.h"
#include "cni_k8s.h"

/* A 429 or 503 with Retry-After: twice at most, a second at most each time. */
#define K8S_RETRIES 2
#define K8S_MAX_WAIT_MS 1000

static const struct tby_kube_resource cluster_informations = {
    "crd.projectcalico.org", "v1", "clusterinformations", "ClusterInformation", false, false,
};

/* ---- the configuration ----------------------------------------------------------------- */

/* Replaces *slot by a copy of value (when given), wiping a secret first. */
static int replace(char **slot, const char *value, bool secret)
{
    char *copy;

    if (!value)
        return 0;
    if (!(copy = strdup(value)))
        return -ENOMEM;
    if (secret && *slot)
        explicit_bzero(*slot, strlen(*slot));
    free(*slot);
    *slot = copy;
    return 0;
}

static void drop_blob(struct tby_kube_blob *b)
{
    if (b->data)
        explicit_bzero(b->data, b->len);
    free(b->data);
    *b = (struct tby_kube_blob){ 0 };
}

/* Calico's keys over the kubeconfig's, as client-go's overrides: each replaces the
 * kubeconfig's field and whatever stood for it (a token for a token file, a file for
 * inline data). */
static int apply_overrides(struct tby_kube_config *cfg, const struct cni_kube_conf *conf)
{
    int r = replace(&cfg->server, conf->api_root, false);

    if (r == 0 && conf->token) {
        r = replace(&cfg->token, conf->token, true);
        free(cfg->token_file);
        cfg->token_file = NULL;
    }
    if (r == 0 && conf->client_certificate) {
        r = replace(&cfg->cert_file, conf->client_certificate, false);
        drop_blob(&cfg->cert_data);
    }
    if (r == 0 && conf->client_key) {
        r = replace(&cfg->key_file, conf->client_key, false);
        drop_blob(&cfg->key_data);
    }
    if (r == 0 && conf->certificate_authority) {
        r = replace(&cfg->ca_file, conf->certificate_authority, false);
        drop_blob(&cfg->ca_data);
    }
    return r;
}

/* Without a kubeconfig, the network configuration's keys alone. */
static struct tby_kube_config *config_of_keys(void)
{
    struct tby_kube_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg && !(cfg->source = strdup("the network configuration's keys"))) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

int cni_k8s_open(const struct cni_kube_conf *conf, struct cni_k8s *out, struct cni_failure *f)
{
    struct tby_kube_config_options opts = { .kubeconfig = conf->kubeconfig };
    struct tby_error err = { 0 };
    int r;

    memset(out, 0, sizeof(*out));
    r = tby_kube_config_load(&opts, &out->cfg, &err);
    if (r == -ENOENT && !conf->kubeconfig && conf->api_root) {
        out->cfg = config_of_keys();
        r = out->cfg ? 0 : -ENOMEM;
    }
    if (r == -ENOMEM)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (r < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s%s", conf->kubeconfig ?
                        "kubernetes.kubeconfig: " : "the Kubernetes API: ", tby_error_str(&err));
    if (apply_overrides(out->cfg, conf) < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (!out->cfg->server || !*out->cfg->server)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "the Kubernetes API: %s names no server",
                        out->cfg->source);
    out->cfg->timeout_ms = CNI_K8S_TIMEOUT_MS;
    out->cfg->connect_timeout_ms = CNI_K8S_CONNECT_MS;
    if (tby_kube_client_new(out->cfg, &out->client, &err) < 0)
        return cni_fail(f, err.code == -ENOMEM ? CNI_ERR_IO : CNI_ERR_INVALID_CONFIG,
                        "the Kubernetes API: %s", tby_error_str(&err));
    tby_kube_client_set_retries(out->client, K8S_RETRIES, K8S_MAX_WAIT_MS);
    tby_log(TBY_LOG_DEBUG, "cni", "kubernetes api=%s from=\"%s\"", out->cfg->server,
            out->cfg->source);
    return 0;
}

void cni_k8s_close(struct cni_k8s *k)
{
    tby_kube_client_free(k->client);
    tby_kube_config_free(k->cfg);
    memset(k, 0, sizeof(*k));
}

/* ---- reads -------------------------------------------------------------------------------- */

/* A failed request as a CNI error (the client's message names the object). */
static int k8s_failure(const struct cni_k8s *k, int r, const struct tby_error *err,
                       struct cni_failure *f)
{
    const char *msg = tby_error_str(err);

    switch (r) {
    case -EAGAIN:
        cni_fail(f, CNI_ERR_TRY_AGAIN, "the Kubernetes API at %s cannot answer now, try again "
                 "later: %s", k->cfg->server, msg);
        break;
    case -EACCES:
        cni_fail(f, CNI_ERR_INVALID_CONFIG, "the Kubernetes API at %s refuses the credentials "
                 "of %s: %s", k->cfg->server, k->cfg->source, msg);
        break;
    case -EINVAL:
        cni_fail(f, CNI_ERR_INVALID_CONFIG, "the Kubernetes API at %s: %s", k->cfg->server, msg);
        break;
    case -ENOMEM:
        cni_fail(f, CNI_ERR_IO, "out of memory");
        break;
    default:
        cni_fail(f, CNI_ERR_IO, "the Kubernetes API at %s: %s", k->cfg->server, msg);
        break;
    }
    return r;
}

int cni_k8s_check_ready(struct cni_k8s *k, struct cni_failure *f)
{
    _cleanup_json_ json_t *ci = NULL;
    struct tby_error err = { 0 };
    const json_t *ready;
    int r = tby_kube_get(k->client, &cluster_informations, NULL, "default", &ci, &err);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return k8s_failure(k, r, &err, f);
    ready = json_object_get(json_object_get(ci, "spec"), "datastoreReady");
    if (json_is_false(ready))
        return cni_fail(f, CNI_ERR_TRY_AGAIN, "ClusterInformation default says datastoreReady: "
                        "false (an upgrade may be in progress): try again later");
    return 0;
}

int cni_k8s_get_pod(struct cni_k8s *k, const char *ns, const char *name, json_t **out,
                    struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r = tby_kube_get(k->client, &tby_kube_pods, ns, name, out, &err);

    if (r == -ENOENT) {
        cni_fail(f, CNI_ERR_UNKNOWN_CONTAINER, "pod %s/%s (K8S_POD_NAMESPACE, K8S_POD_NAME) "
                 "does not exist in the Kubernetes API at %s", ns, name, k->cfg->server);
        return r;
    }
    return r < 0 ? k8s_failure(k, r, &err, f) : 0;
}

int cni_k8s_get_namespace(struct cni_k8s *k, const char *name, json_t **out,
                          struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r = tby_kube_get(k->client, &tby_kube_namespaces, NULL, name, out, &err);

    if (r == -ENOENT) {
        cni_fail(f, CNI_ERR_UNKNOWN_CONTAINER, "namespace %s (K8S_POD_NAMESPACE) does not exist "
                 "in the Kubernetes API at %s", name, k->cfg->server);
        return r;
    }
    return r < 0 ? k8s_failure(k, r, &err, f) : 0;
}
