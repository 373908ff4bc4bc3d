/* install_cni.c — `tabby-node install-cni` (install_cni.h): what the DaemonSet's init
 * container does on every node before tabby-node starts, as Calico's install-cni does:
 * plugins, then the plugins' kubeconfig and etcd's TLS files, then the network
 * configuration. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/file.h"
#include "tabby/kube_config.h"
#include "tabby/log.h"
#include "cni_kubeconfig.h"
#include "install_cni.h"
#include "node_config.h"

#define PLUGIN_MAX (256 * 1024 * 1024)
#define TEMPLATE_MAX (1024 * 1024)
#define TLS_FILE_MAX (1024 * 1024)
/* Where etcd's TLS files go in the host's CNI config folder (Calico's: calico-tls). */
#define TLS_DIR_NAME "tabby-tls"

static const char *const plugins[] = { "tabby", "tabby-ipam" };

/* Calico's network configuration for its manifests, with tabby's two plugins. */
static const char default_template[] =
    "{\n"
    "  \"name\": \"k8s-pod-network\",\n"
    "  \"cniVersion\": \"1.0.0\",\n"
    "  \"plugins\": [\n"
    "    {\n"
    "      \"type\": \"tabby\",\n"
    "      \"log_level\": \"__LOG_LEVEL__\",\n"
    "      \"datastore_type\": \"__DATASTORE_TYPE__\",\n"
    "      \"nodename\": \"__KUBERNETES_NODE_NAME__\",\n"
    "      \"nodename_file\": \"__NODENAME_FILE__\",\n"
    "      \"mtu\": __CNI_MTU__,\n"
    "      \"ipam\": { \"type\": \"tabby-ipam\" },\n"
    "      \"policy\": { \"type\": \"k8s\" },\n"
    "      \"kubernetes\": { \"kubeconfig\": \"__KUBECONFIG_FILEPATH__\" }\n"
    "    }\n"
    "  ]\n"
    "}\n";

struct setting {
    const char *env;
    size_t field;        /* offsetof a char * in struct node_install_cni */
    const char *def;
    const char *help;
};

#define F(name) offsetof(struct node_install_cni, name)

static const struct setting settings[] = {
    { "TABBY_CNI_PLUGINS_DIR", F(plugins_dir), TBY_CNI_BIN_DIR,
      "where the plugins to install are" },
    { "TABBY_HOST_CNI_BIN_DIR", F(bin_dir), "/host/opt/cni/bin",
      "the host's CNI bin folder, mounted here" },
    { "TABBY_HOST_CNI_NET_DIR", F(net_dir), "/host/etc/cni/net.d",
      "the host's CNI config folder, mounted here" },
    { "CNI_NET_DIR", F(host_net_dir), "/etc/cni/net.d",
      "that folder as the host names it (in the conflist)" },
    { "CNI_CONF_NAME", F(conf_name), "10-tabby.conflist", "the conflist's file name" },
    { "CNI_NETWORK_CONFIG", F(template), NULL,
      "the conflist template (default: CNI_NETWORK_CONFIG_FILE's, else built in)" },
    { "KUBERNETES_NODE_NAME", F(node_name), NULL, "this node (default: NODENAME, the host "
      "name)" },
    { "CALICO_NODENAME_FILE", F(nodename_file), NODE_NODENAME_FILE_DEFAULT,
      "tabby-node's nodename file, as the host names it (__NODENAME_FILE__): the plugins "
      "wait for it" },
    { "CNI_MTU", F(mtu), "0", "the pods' MTU (0: the plugin detects it)" },
    { "DATASTORE_TYPE", F(datastore_type), "kubernetes", "kubernetes or etcdv3" },
    { "LOG_LEVEL", F(log_level), "info", "the plugins' log level" },
    { "ETCD_ENDPOINTS", F(etcd_endpoints), "", "for DATASTORE_TYPE=etcdv3" },
    { "TLS_ASSETS_DIR", F(tls_dir), "/calico-secrets",
      "etcd's TLS files, mounted from a Secret: etcd-ca, etcd-cert, etcd-key, copied to "
      "the host's CNI config folder's " TLS_DIR_NAME "/ for the plugins" },
    { "KUBERNETES_SERVICE_HOST", F(service_host), "", "the API (set in every pod)" },
    { "KUBERNETES_SERVICE_PORT", F(service_port), "", "" },
    { "TABBY_SERVICEACCOUNT_DIR", F(sa_dir), TBY_KUBE_SA_DIR,
      "this pod's service account files" },
    { "TABBY_CNI_SERVICE_ACCOUNT", F(account), NODE_CNI_DEFAULT_ACCOUNT,
      "the plugins' ServiceAccount, in this pod's namespace" },
};

static char **field(struct node_install_cni *s, const struct setting *st)
{
    return (char **)((char *)s + st->field);
}

void node_install_cni_usage(FILE *out)
{
    fputs("Usage: tabby-node install-cni [--uninstall]\n"
          "Installs the CNI plugins, their kubeconfig (in a pod) and the network\n"
          "configuration on this node, then exits; --uninstall removes what it installs\n"
          "(files of others' stay). Settings (environment):\n\n", out);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(settings); i++)
        fprintf(out, "  %-26s %s%s%s%s\n", settings[i].env, settings[i].help,
                settings[i].def && *settings[i].def ? " [" : "",
                settings[i].def && *settings[i].def ? settings[i].def : "",
                settings[i].def && *settings[i].def ? "]" : "");
    fputs("  CNI_NETWORK_CONFIG_FILE    a file holding the template\n"
          "  TABBY_CNI_TOKEN_SECONDS    the plugins' token's life [86400]\n"
          "  UPDATE_CNI_BINARIES        false: keep plugins already there [true]\n"
          "  SKIP_CNI_BINARIES          plugins not to install (comma-separated)\n"
          "Placeholders: __KUBERNETES_NODE_NAME__ __NODENAME_FILE__ __CNI_MTU__\n"
          "__KUBECONFIG_FILEPATH__ __DATASTORE_TYPE__ __LOG_LEVEL__ __ETCD_ENDPOINTS__\n"
          "__KUBERNETES_SERVICE_HOST__ __KUBERNETES_SERVICE_PORT__ __ETCD_CA_CERT_FILE__\n"
          "__ETCD_CERT_FILE__"
          " __ETCD_KEY_FILE__ (the copied file as the host names it, or \"\")\n", out);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static int load_template(struct node_install_cni *s, struct tby_error *err)
{
    const char *file = env("CNI_NETWORK_CONFIG_FILE");
    size_t len;
    int r;

    if (s->template)
        return 0;
    if (!file) {
        s->template = strdup(default_template);
        return s->template ? 0 : -ENOMEM;
    }
    r = tby_read_file(file, TEMPLATE_MAX, &s->template, &len);
    if (r < 0)
        return tby_error_set(err, r, "CNI_NETWORK_CONFIG_FILE: %s: %s", file, strerror(-r));
    return 0;
}

static int parse_bool(const char *name, bool def, bool *out, struct tby_error *err)
{
    const char *v = env(name);

    *out = def;
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return 0;
    }
    return tby_error_set(err, -EINVAL, "%s: \"%s\": must be true or false", name, v);
}

static int parse_skip(struct node_install_cni *s)
{
    _cleanup_free_ char *copy = NULL;
    char *save = NULL;
    const char *v = env("SKIP_CNI_BINARIES");

    if (!v)
        return 0;
    if (!(copy = strdup(v)))
        return -ENOMEM;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (tby_strv_push(&s->skip, t) < 0)
            return -ENOMEM;
    return 0;
}

static int load_values(struct node_install_cni *s, struct tby_error *err)
{
    const char *seconds = env("TABBY_CNI_TOKEN_SECONDS");
    char host[HOST_NAME_MAX + 1], *end;
    int r;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(settings); i++) {
        const char *v = env(settings[i].env);

        if (!v)
            v = settings[i].def;
        if (v && !(*field(s, &settings[i]) = strdup(v)))
            return -ENOMEM;
    }
    /* "" is tabby-node's "not written": kept, so that a template naming it is refused. */
    if (getenv("CALICO_NODENAME_FILE") && !*getenv("CALICO_NODENAME_FILE")) {
        free(s->nodename_file);
        if (!(s->nodename_file = strdup("")))
            return -ENOMEM;
    }
    if (!s->node_name) {
        const char *v = env("NODENAME");

        if (!v && gethostname(host, sizeof(host)) == 0) {
            host[sizeof(host) - 1] = '\0';
            v = host;
        }
        if (!v)
            return tby_error_set(err, -errno, "no node name: set KUBERNETES_NODE_NAME");
        if (!(s->node_name = strdup(v)))
            return -ENOMEM;
    }
    if (strspn(s->mtu, "0123456789") != strlen(s->mtu) || strlen(s->mtu) > 5)
        return tby_error_set(err, -EINVAL, "CNI_MTU: \"%s\": not a number", s->mtu);
    s->token_seconds = NODE_CNI_DEFAULT_TOKEN_SECONDS;
    if (seconds) {
        errno = 0;
        s->token_seconds = strtol(seconds, &end, 10);
        if (errno || *end || s->token_seconds < 10)
            return tby_error_set(err, -EINVAL, "TABBY_CNI_TOKEN_SECONDS: \"%s\": must be a "
                                 "number of seconds, 10 or more", seconds);
    }
    r = parse_bool("UPDATE_CNI_BINARIES", true, &s->update_binaries, err);
    if (r == 0 && parse_skip(s) < 0)
        r = -ENOMEM;
    if (r == 0)
        r = load_template(s, err);
    return r;
}

int node_install_cni_load(struct node_install_cni *s, struct tby_error *err)
{
    int r;

    memset(s, 0, sizeof(*s));
    r = load_values(s, err);
    if (r == -ENOMEM)
        tby_error_set(err, r, "out of memory");
    return r;
}

void node_install_cni_clear(struct node_install_cni *s)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(settings); i++)
        free(*field(s, &settings[i]));
    tby_strv_clear(&s->skip);
    memset(s, 0, sizeof(*s));
}

/* ---- the conflist ---------------------------------------------------------------------- */

static int replace_all(struct tby_buf *out, const char *text, const char *const (*subst)[2],
                       size_t n)
{
    while (*text) {
        size_t i;

        for (i = 0; i < n; i++) {
            size_t len = strlen(subst[i][0]);

            if (strncmp(text, subst[i][0], len) == 0) {
                tby_buf_adds(out, subst[i][1]);
                text += len;
                break;
            }
        }
        if (i == n)
            tby_buf_addc(out, *text++);
    }
    return tby_buf_error(out);
}

/* The etcd TLS file `name` as the host names it, when install-cni copied it; else "". */
static char *tls_file(const struct node_install_cni *s, const char *name)
{
    char *here = NULL, *host = NULL;

    if (asprintf(&here, "%s/" TLS_DIR_NAME "/%s", s->net_dir, name) < 0)
        return NULL;
    if (access(here, F_OK) < 0)
        host = strdup("");
    else if (asprintf(&host, "%s/" TLS_DIR_NAME "/%s", s->host_net_dir, name) < 0)
        host = NULL;
    free(here);
    return host;
}

int node_install_cni_conflist(const struct node_install_cni *s, char **out,
                              struct tby_error *err)
{
    _cleanup_free_ char *kubeconfig = NULL, *ca = tls_file(s, "etcd-ca"),
                        *cert = tls_file(s, "etcd-cert"), *key = tls_file(s, "etcd-key");
    struct tby_buf b = { 0 };
    json_error_t jerr;
    json_t *parsed;

    *out = NULL;
    if (!*s->nodename_file && strstr(s->template, "__NODENAME_FILE__"))
        return tby_error_set(err, -EINVAL, "CALICO_NODENAME_FILE is \"\" (tabby-node writes no "
                             "nodename file) but the network configuration names it "
                             "(__NODENAME_FILE__): the plugins would wait for it forever");
    if (asprintf(&kubeconfig, "%s/%s", s->host_net_dir, NODE_CNI_KUBECONFIG_NAME) < 0 ||
        !ca || !cert || !key)
        return tby_error_set(err, -ENOMEM, "out of memory");
    const char *const subst[][2] = {
        { "__KUBERNETES_NODE_NAME__", s->node_name },
        { "__NODENAME_FILE__", s->nodename_file },
        { "__CNI_MTU__", s->mtu },
        { "__KUBECONFIG_FILEPATH__", kubeconfig },
        { "__DATASTORE_TYPE__", s->datastore_type },
        { "__LOG_LEVEL__", s->log_level },
        { "__ETCD_ENDPOINTS__", s->etcd_endpoints },
        { "__KUBERNETES_SERVICE_HOST__", s->service_host },
        { "__KUBERNETES_SERVICE_PORT__", s->service_port },
        { "__ETCD_CA_CERT_FILE__", ca },
        { "__ETCD_CERT_FILE__", cert },
        { "__ETCD_KEY_FILE__", key },
    };
    if (replace_all(&b, s->template, subst, TBY_ARRAY_SIZE(subst)) < 0) {
        tby_buf_clear(&b);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    parsed = json_loadb(b.data, b.len, 0, &jerr);
    if (!parsed) {
        tby_buf_clear(&b);
        return tby_error_set(err, -EINVAL, "the network configuration (CNI_NETWORK_CONFIG) is "
                             "not JSON once filled in: line %d: %s", jerr.line, jerr.text);
    }
    json_decref(parsed);
    *out = tby_buf_steal(&b, NULL);
    return 0;
}

/* ---- the work --------------------------------------------------------------------------- */

static int join(char **out, const char *dir, const char *name, struct tby_error *err)
{
    if (asprintf(out, "%s/%s", dir, name) < 0) {
        *out = NULL;
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* Removes path (a missing one is fine), logging why. */
static int remove_file(const char *path, const char *what, struct tby_error *err)
{
    if (unlink(path) < 0)
        return errno == ENOENT ? 0 : tby_error_set(err, -errno, "%s: %s", path, strerror(errno));
    tby_log(TBY_LOG_INFO, "install-cni", "removed path=%s (%s)", path, what);
    return 0;
}

/* The plugin `name` as the image holds it (its bytes and mode), and where it goes. */
static int read_plugin(const struct node_install_cni *s, const char *name, char **bytes,
                       size_t *len, mode_t *mode, char **dst, struct tby_error *err)
{
    _cleanup_free_ char *src = NULL;
    struct stat st;
    int r;

    *bytes = *dst = NULL;
    if (join(&src, s->plugins_dir, name, err) < 0 || join(dst, s->bin_dir, name, err) < 0)
        return -ENOMEM;
    if (stat(src, &st) < 0)
        return tby_error_set(err, -errno, "%s: %s", src, strerror(errno));
    *mode = st.st_mode & 07777;
    r = tby_read_file(src, PLUGIN_MAX, bytes, len);
    return r < 0 ? tby_error_set(err, r, "%s: %s", src, strerror(-r)) : 0;
}

/* Installs the plugin `name`, or (uninstall) removes it when it is the one it installs. */
static int plugin(const struct node_install_cni *s, const char *name, bool uninstall,
                  struct tby_error *err)
{
    _cleanup_free_ char *dst = NULL, *bytes = NULL;
    size_t len = 0;
    mode_t mode = 0;
    int r;

    if (tby_strv_contains(&s->skip, name)) {
        tby_log(TBY_LOG_INFO, "install-cni", "skipped plugin=%s (SKIP_CNI_BINARIES)", name);
        return 0;
    }
    r = read_plugin(s, name, &bytes, &len, &mode, &dst, err);
    if (r < 0 || (uninstall && access(dst, F_OK) < 0))
        return r;
    if (uninstall && !tby_file_same(dst, bytes, len, mode)) {
        tby_log(TBY_LOG_WARNING, "install-cni", "kept path=%s (not the plugin tabby installs)",
                dst);
        return 0;
    }
    if (uninstall)
        return remove_file(dst, "tabby's plugin", err);
    if (!s->update_binaries && access(dst, F_OK) == 0) {
        tby_log(TBY_LOG_INFO, "install-cni", "kept path=%s (UPDATE_CNI_BINARIES=false)", dst);
        return 0;
    }
    if (tby_file_same(dst, bytes, len, mode)) {
        tby_log(TBY_LOG_INFO, "install-cni", "up to date path=%s", dst);
        return 0;
    }
    r = tby_file_replace(dst, bytes, len, mode, err);
    if (r == 0)
        tby_log(TBY_LOG_INFO, "install-cni", "installed path=%s bytes=%zu", dst, len);
    return r;
}

/* In a pod (its service account token is there): the plugins' kubeconfig. */
static int install_kubeconfig(const struct node_install_cni *s, struct tby_error *err)
{
    _cleanup_free_ char *token = NULL, *path = NULL;
    struct node_cni_kubeconfig k;
    int64_t expires = 0;
    int r;

    if (join(&token, s->sa_dir, "token", err) < 0)
        return -ENOMEM;
    if (access(token, F_OK) < 0) {
        tby_log(TBY_LOG_INFO, "install-cni", "not in a pod (no %s): no kubeconfig written",
                token);
        return 0;
    }
    if (join(&path, s->net_dir, NODE_CNI_KUBECONFIG_NAME, err) < 0)
        return -ENOMEM;
    r = node_cni_kubeconfig_open(&k, s->sa_dir, s->account, path, s->token_seconds, err);
    if (r == 0)
        r = node_cni_kubeconfig_write(&k, &expires, err);
    if (r == 0)
        tby_log(TBY_LOG_INFO, "install-cni", "wrote path=%s account=%s/%s expires=%lld", path,
                k.cfg->namespace, s->account, (long long)expires);
    node_cni_kubeconfig_close(&k);
    return r < 0 ? tby_error_prefix(err, "the plugins' kubeconfig") : 0;
}

/* etcd's TLS files from the mounted Secret, for the plugins on the host (mode 0600, in a
 * folder of mode 0700), as Calico's install-cni copies them; none there: nothing to do. A
 * file the Secret no longer holds is removed, so that the conflist stops naming it. */
static int install_tls(const struct node_install_cni *s, struct tby_error *err)
{
    static const char *const names[] = { "etcd-ca", "etcd-cert", "etcd-key" };
    _cleanup_free_ char *dir = NULL;
    bool any = false;
    int r;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *src = NULL;

        if (join(&src, s->tls_dir, names[i], err) < 0)
            return -ENOMEM;
        any = any || access(src, F_OK) == 0;
    }
    if (join(&dir, s->net_dir, TLS_DIR_NAME, err) < 0)
        return -ENOMEM;
    if (any && mkdir(dir, 0700) < 0 && errno != EEXIST)
        return tby_error_set(err, -errno, "%s: %s", dir, strerror(errno));
    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *src = NULL, *dst = NULL, *bytes = NULL;
        size_t len = 0;

        if (join(&src, s->tls_dir, names[i], err) < 0 || join(&dst, dir, names[i], err) < 0)
            return -ENOMEM;
        r = tby_read_file(src, TLS_FILE_MAX, &bytes, &len);
        if (r == -ENOENT) {
            if (unlink(dst) == 0)
                tby_log(TBY_LOG_INFO, "install-cni", "removed path=%s (not in %s)", dst,
                        s->tls_dir);
            continue;
        }
        if (r < 0)
            return tby_error_set(err, r, "TLS_ASSETS_DIR: %s: %s", src, strerror(-r));
        if (tby_file_same(dst, bytes, len, 0600))
            continue;
        r = tby_file_replace(dst, bytes, len, 0600, err);
        if (r < 0)
            return r;
        tby_log(TBY_LOG_INFO, "install-cni", "installed path=%s bytes=%zu", dst, len);
    }
    return 0;
}

static int install_conflist(const struct node_install_cni *s, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL, *path = NULL;
    int r = node_install_cni_conflist(s, &text, err);

    if (r < 0 || join(&path, s->net_dir, s->conf_name, err) < 0)
        return r < 0 ? r : -ENOMEM;
    if (tby_file_same(path, text, strlen(text), 0600)) {
        tby_log(TBY_LOG_INFO, "install-cni", "up to date path=%s", path);
        return 0;
    }
    r = tby_file_replace(path, text, strlen(text), 0600, err);
    if (r == 0)
        tby_log(TBY_LOG_INFO, "install-cni", "wrote path=%s node=%s mtu=%s", path,
                s->node_name, s->mtu);
    return r;
}

int node_install_cni(const struct node_install_cni *s, struct tby_error *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < TBY_ARRAY_SIZE(plugins); i++)
        r = plugin(s, plugins[i], false, err);
    if (r == 0)
        r = install_kubeconfig(s, err);
    if (r == 0)
        r = install_tls(s, err);
    if (r == 0)
        r = install_conflist(s, err);
    return r;
}

/* ---- --uninstall ----------------------------------------------------------------------- */

/* Whether the conflist at path is tabby's: JSON with a plugin of type "tabby". */
static bool tabbys_conflist(const char *path)
{
    json_t *conf = json_load_file(path, 0, NULL), *plugin;
    bool ours = false;
    size_t i;

    json_array_foreach(json_object_get(conf, "plugins"), i, plugin)
        ours = ours || (json_is_string(json_object_get(plugin, "type")) &&
                        strcmp(json_string_value(json_object_get(plugin, "type")), "tabby") == 0);
    json_decref(conf);
    return ours;
}

int node_uninstall_cni(const struct node_install_cni *s, struct tby_error *err)
{
    static const char *const tls[] = { "etcd-ca", "etcd-cert", "etcd-key" };
    _cleanup_free_ char *conf = NULL, *kubeconfig = NULL, *dir = NULL;
    int r;

    if (join(&conf, s->net_dir, s->conf_name, err) < 0 ||
        join(&kubeconfig, s->net_dir, NODE_CNI_KUBECONFIG_NAME, err) < 0 ||
        join(&dir, s->net_dir, TLS_DIR_NAME, err) < 0)
        return -ENOMEM;
    if (access(conf, F_OK) == 0 && !tabbys_conflist(conf))
        tby_log(TBY_LOG_WARNING, "install-cni", "kept path=%s (no plugin of type tabby)", conf);
    else if ((r = remove_file(conf, "tabby's network configuration", err)) < 0)
        return r;
    if ((r = remove_file(kubeconfig, "the plugins' kubeconfig", err)) < 0)
        return r;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(tls); i++) {
        _cleanup_free_ char *path = NULL;

        if (join(&path, dir, tls[i], err) < 0)
            return -ENOMEM;
        if ((r = remove_file(path, "etcd's TLS file", err)) < 0)
            return r;
    }
    if (rmdir(dir) == 0)
        tby_log(TBY_LOG_INFO, "install-cni", "removed path=%s", dir);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(plugins); i++)
        if ((r = plugin(s, plugins[i], true, err)) < 0)
            return r;
    return 0;
}
