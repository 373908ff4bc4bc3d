/* cni_kubeconfig.c — the CNI plugins' kubeconfig (cni_kubeconfig.h): a TokenRequest for
 * their ServiceAccount, the file written whole, and when to do it again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/base64.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/file.h"
#include "cni_kubeconfig.h"

#define CA_MAX (1 << 20)
#define REQUEST_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 2000

int node_cni_kubeconfig_open(struct node_cni_kubeconfig *k, const char *sa_dir,
                             const char *account, const char *path, long seconds,
                             struct tby_error *err)
{
    int r;

    memset(k, 0, sizeof(*k));
    k->seconds = seconds;
    if (!(k->account = strdup(account)) || !(k->path = strdup(path))) {
        node_cni_kubeconfig_close(k);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = tby_kube_config_in_cluster(sa_dir, &k->cfg, err);
    if (r == 0) {
        /* tabby-node asks from its loop, which must not stall on a slow API. */
        k->cfg->timeout_ms = REQUEST_TIMEOUT_MS;
        k->cfg->connect_timeout_ms = CONNECT_TIMEOUT_MS;
        r = tby_kube_client_new(k->cfg, &k->client, err);
    }
    if (r == 0)
        tby_kube_client_set_retries(k->client, 1, 1000);
    if (r < 0)
        node_cni_kubeconfig_close(k);
    return r;
}

void node_cni_kubeconfig_close(struct node_cni_kubeconfig *k)
{
    tby_kube_client_free(k->client);
    tby_kube_config_free(k->cfg);
    free(k->account);
    free(k->path);
    memset(k, 0, sizeof(*k));
}

/* A value goes into the file in double quotes: refuse what would need escaping. */
static bool plain(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* The CA as base64 of its PEM: inline data, else the file's content. */
static int ca_base64(const struct tby_kube_config *cfg, char **out, struct tby_error *err)
{
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    if (cfg->ca_data.data) {
        *out = tby_base64_encode(cfg->ca_data.data, cfg->ca_data.len);
    } else if (cfg->ca_file) {
        r = tby_read_file(cfg->ca_file, CA_MAX, &pem, &len);
        if (r < 0)
            return tby_error_set(err, r, "%s: %s", cfg->ca_file, strerror(-r));
        *out = tby_base64_encode(pem, len);
    } else {
        return 0; /* the system's CAs, as the pod itself uses */
    }
    return *out ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

int node_cni_kubeconfig_render(const struct tby_kube_config *cfg, const char *token,
                               char **out, struct tby_error *err)
{
    _cleanup_free_ char *ca = NULL;
    struct tby_buf b = { 0 };
    int r;

    *out = NULL;
    if (!plain(cfg->server) || !plain(token))
        return tby_error_set(err, -EINVAL, "%s: the server's URL or the token holds a quote, a "
                             "backslash or a control character", cfg->source);
    r = ca_base64(cfg, &ca, err);
    if (r < 0)
        return r;
    tby_buf_printf(&b, "# The tabby CNI plugins' kubeconfig, written by tabby-node "
                   "(install-cni), which renews its token.\n"
                   "apiVersion: v1\nkind: Config\n"
                   "clusters:\n- name: local\n  cluster:\n    server: \"%s\"\n", cfg->server);
    if (cfg->insecure)
        tby_buf_adds(&b, "    insecure-skip-tls-verify: true\n");
    else if (ca)
        tby_buf_printf(&b, "    certificate-authority-data: \"%s\"\n", ca);
    tby_buf_printf(&b, "users:\n- name: tabby-cni-plugin\n  user:\n    token: \"%s\"\n"
                   "contexts:\n- name: tabby\n  context:\n    cluster: local\n"
                   "    user: tabby-cni-plugin\n"
                   "current-context: tabby\n", token);
    if (tby_buf_error(&b) < 0) {
        tby_buf_clear(&b);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    *out = tby_buf_steal(&b, NULL);
    return 0;
}

int node_cni_kubeconfig_write(struct node_cni_kubeconfig *k, int64_t *expires,
                              struct tby_error *err)
{
    struct tby_kube_token t = { 0 };
    _cleanup_free_ char *text = NULL;
    int r = tby_kube_request_token(k->client, k->cfg->namespace, k->account, k->seconds, &t,
                                   err);

    if (r == 0)
        r = node_cni_kubeconfig_render(k->cfg, t.token, &text, err);
    if (r == 0)
        r = tby_file_replace(k->path, text, strlen(text), 0600, err);
    if (r == 0)
        *expires = t.expires;
    if (text)
        explicit_bzero(text, strlen(text));
    tby_kube_token_clear(&t);
    return r;
}

int64_t node_cni_token_refresh_ms(int64_t expires, int64_t now, double random01)
{
    int64_t left_ms = (expires - now) * 1000, wait_ms;

    if (left_ms < 4 * NODE_CNI_TOKEN_RETRY_MS)
        return NODE_CNI_TOKEN_RETRY_MS;
    wait_ms = left_ms / 4;
    return wait_ms + (int64_t)(random01 * (double)wait_ms);
}
