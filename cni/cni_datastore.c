/* cni_datastore.c — the plugins' datastore and node name (see cni_datastore.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/settings.h"
#include "cni_datastore.h"

#define HOST_NAME_LEN 256

/* Calico's settings of the API server beside the kubeconfig: the k8s: store reads a
 * kubeconfig only, so with datastore_type kubernetes they would be silently unused. */
static const char *const api_overrides[] = {
    "kubernetes.k8s_api_root", "policy.k8s_api_root", "policy.k8s_auth_token",
    "policy.k8s_client_certificate", "policy.k8s_client_key",
    "policy.k8s_certificate_authority",
};

/* conf.ipam.<field>, else conf.<field>. */
static int ipam_or_top(const struct cni_call *call, const char *field, const char **out,
                       struct cni_failure *f)
{
    int r = cni_conf_string(cni_ipam_conf(call), field, out, f);

    if (r == 0 && !*out)
        r = cni_conf_string(call->conf, field, out, f);
    return r;
}

static int print_uri(char **out, const char *scheme, const char *a, const char *b,
                     const char *c, struct cni_failure *f)
{
    if (asprintf(out, "%s%s%s%s", scheme, a ? a : "", b ? b : "", c ? c : "") < 0) {
        *out = NULL;
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    return 0;
}

static int kubernetes_uri(const struct cni_call *call, char **out, struct cni_failure *f)
{
    const char *kubeconfig, *v;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(api_overrides); i++) {
        if (cni_conf_str(call->conf, api_overrides[i], &v, f) < 0)
            return -1;
        if (v)
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: with datastore_type kubernetes "
                            "tabby's k8s: datastore takes the API server and its credentials "
                            "from the kubeconfig alone (kubernetes.kubeconfig): put them "
                            "there", api_overrides[i]);
    }
    if (cni_conf_str(call->conf, "kubernetes.kubeconfig", &kubeconfig, f) < 0)
        return -1;
    return print_uri(out, "k8s:", kubeconfig, NULL, NULL, f);
}

static int etcd_uri(const struct cni_call *call, char **out, struct cni_failure *f)
{
    const char *endpoints, *authority, *scheme, *srv;

    if (cni_conf_str(call->conf, "etcd_endpoints", &endpoints, f) < 0 ||
        cni_conf_str(call->conf, "etcd_authority", &authority, f) < 0 ||
        cni_conf_str(call->conf, "etcd_scheme", &scheme, f) < 0 ||
        cni_conf_str(call->conf, "etcd_discovery_srv", &srv, f) < 0)
        return -1;
    if (srv)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "etcd_discovery_srv: tabby does not look "
                        "etcd up in DNS SRV records: list its endpoints in etcd_endpoints");
    if (endpoints)
        return print_uri(out, "etcd:", endpoints, NULL, NULL, f);
    if (authority)
        return print_uri(out, "etcd:", scheme ? scheme : "http", "://", authority, f);
    return print_uri(out, "etcd:", NULL, NULL, NULL, f);
}

int cni_store_uri(const struct cni_call *call, char **out, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    const char *uri, *type, *endpoints, *authority;

    *out = NULL;
    if (ipam_or_top(call, "datastore", &uri, f) < 0 ||
        cni_conf_str(call->conf, "datastore_type", &type, f) < 0 ||
        cni_conf_str(call->conf, "etcd_endpoints", &endpoints, f) < 0 ||
        cni_conf_str(call->conf, "etcd_authority", &authority, f) < 0)
        return -1;
    if (uri) {
        *out = strdup(uri);
        return *out ? 0 : cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    if (type && strcmp(type, "kubernetes") == 0)
        return kubernetes_uri(call, out, f);
    if ((type && strcmp(type, "etcdv3") == 0) || (!type && (endpoints || authority)))
        return etcd_uri(call, out, f);
    if (type)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "datastore_type \"%s\": must be kubernetes "
                        "or etcdv3 (or use tabby's \"datastore\")", type);
    if (tby_settings_store_uri(out, &err) < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s", tby_error_str(&err));
    return 0;
}

int cni_store_open(const struct cni_call *call, const char *uri, struct tby_store **out,
                   struct cni_failure *f)
{
    struct tby_store_options opts;
    struct tby_error err = { 0 };
    const char *ca, *cert, *key;

    tby_store_options_from_env(&opts);
    if (cni_conf_str(call->conf, "etcd_ca_cert_file", &ca, f) < 0 ||
        cni_conf_str(call->conf, "etcd_cert_file", &cert, f) < 0 ||
        cni_conf_str(call->conf, "etcd_key_file", &key, f) < 0)
        return -1;
    opts.ca_cert_file = ca ? ca : opts.ca_cert_file;
    opts.cert_file = cert ? cert : opts.cert_file;
    opts.key_file = key ? key : opts.key_file;
    /* A CNI call must not hang: the stores that honour these wait no longer. */
    opts.timeout_ms = CNI_STORE_TIMEOUT_MS;
    opts.connect_timeout_ms = CNI_STORE_CONNECT_MS;
    if (tby_store_open_options(uri, &opts, out, &err) == 0)
        return 0;
    if (err.code == -EINVAL)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s", tby_error_str(&err));
    return cni_fail_unreachable(f, call, uri, &err);
}

int cni_fail_unreachable(struct cni_failure *f, const struct cni_call *call, const char *uri,
                         const struct tby_error *err)
{
    return cni_fail(f, call->command == CNI_STATUS ? CNI_ERR_NOT_AVAILABLE : CNI_ERR_TRY_AGAIN,
                    "datastore %s is unreachable: %s", uri, tby_error_str(err));
}

/* nodename_file's content without surrounding blanks, into buf ("" when the file is
 * optional and missing). */
static int read_nodename_file(const char *path, bool optional, char *buf, size_t size,
                              struct cni_failure *f)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_read_file(path, size - 1, &text, NULL);
    const char *p;
    size_t len;

    buf[0] = '\0';
    if (r == -ENOENT && optional)
        return 0;
    if (r == -ENOENT)
        return cni_fail(f, CNI_ERR_TRY_AGAIN, "nodename_file %s does not exist (yet): the "
                        "node's agent writes it once it runs; set nodename_file_optional to "
                        "go on without it", path);
    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "nodename_file %s: %s", path,
                        r == -EFBIG ? "longer than a node name" : strerror(-r));
    p = text + strspn(text, " \t\r\n");
    len = strcspn(p, " \t\r\n");
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 0;
}

int cni_node_name(const struct cni_call *call, char **out, struct cni_failure *f)
{
    char buf[HOST_NAME_LEN];
    const char *name, *file, *hostname;
    bool optional;

    *out = NULL;
    if (ipam_or_top(call, "nodename", &name, f) < 0 ||
        cni_conf_str(call->conf, "nodename_file", &file, f) < 0 ||
        cni_conf_flag(call->conf, "nodename_file_optional", &optional, f) < 0 ||
        cni_conf_str(call->conf, "hostname", &hostname, f) < 0)
        return -1;
    /* As Calico: the file must be there, even when nodename says the name. */
    if (file && read_nodename_file(file, optional, buf, sizeof(buf), f) < 0)
        return -1;
    if (!name && file && buf[0])
        name = buf;
    if (!name && hostname) {
        tby_log(TBY_LOG_DEBUG, "cni", "the configuration's hostname is deprecated: use "
                "nodename");
        name = hostname;
    }
    if (!name && getenv("NODENAME") && *getenv("NODENAME"))
        name = getenv("NODENAME");
    if (!name) {
        if (gethostname(buf, sizeof(buf)) < 0)
            return cni_fail(f, CNI_ERR_IO, "the host name: %s", strerror(errno));
        buf[sizeof(buf) - 1] = '\0';
        name = buf;
    }
    *out = strdup(name);
    return *out ? 0 : cni_fail(f, CNI_ERR_IO, "out of memory");
}
