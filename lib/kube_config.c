/* kube_config.c — a Kubernetes API server's address and credentials, from a kubeconfig
 * file or from a pod's service account.
 *
 * A kubeconfig is YAML with three lists of named entries (clusters, users, contexts) and
 * the name of the context in use. Only what reaching the server needs is read; other
 * fields (preferences, extensions, proxy settings) are left alone as kubectl leaves what
 * it does not know. A user that authenticates through a credential plugin (exec,
 * auth-provider) is refused with a message rather than sent without credentials.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/base64.h"
#include "tabby/buf.h"
#include "tabby/codec.h"
#include "tabby/kube_config.h"
#include "tabby/yaml.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
/* A kubeconfig with inline certificates is a few KiB; one larger than this is not one. */
#define MAX_KUBECONFIG_BYTES (16u << 20)

static void free_secret(char *s, size_t len)
{
    if (s)
        explicit_bzero(s, len);
    free(s);
}

void tby_kube_config_free(struct tby_kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->context);
    free(cfg->ca_file);
    free(cfg->ca_data.data);
    free(cfg->cert_file);
    free(cfg->cert_data.data);
    free(cfg->key_file);
    free_secret(cfg->key_data.data, cfg->key_data.len);
    free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
    free(cfg->token_file);
    free(cfg);
}

static struct tby_kube_config *config_new(const char *source)
{
    struct tby_kube_config *cfg = calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->source = strdup(source);
    if (!cfg->source) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

/* "/x/y/config" → "/x/y"; "config" → ".". */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/* A path as the kubeconfig means it: relative ones are relative to its folder. */
static int resolve_path(const char *base_dir, char *path, char **out)
{
    struct tby_buf b = { 0 };

    if (path[0] == '/') {
        *out = path;
        return 0;
    }
    tby_buf_printf(&b, "%s/%s", base_dir, path);
    free(path);
    if (tby_buf_error(&b) < 0) {
        tby_buf_clear(&b);
        return -ENOMEM;
    }
    *out = tby_buf_steal(&b, NULL);
    return *out ? 0 : -ENOMEM;
}

/* A file field (certificate-authority, client-key, tokenFile): resolved and readable. */
static int file_field(struct tby_dec *d, const json_t *obj, const char *field,
                      const char *base_dir, char **out)
{
    char *path = NULL;
    int r = tby_dec_string(d, obj, field, false, &path);

    if (r < 0 || !path)
        return r;
    if (!*path) {
        free(path);
        return 0;
    }
    if (resolve_path(base_dir, path, out) < 0)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    if (access(*out, R_OK) < 0)
        return tby_dec_fail_at(d, field, "%s: %s", *out, strerror(errno));
    return 0;
}

/* A -data field: base64 of PEM text, decoded into memory. */
static int data_field(struct tby_dec *d, const json_t *obj, const char *field,
                      struct tby_kube_blob *out)
{
    const json_t *v = tby_dec_get(obj, field);
    const char *text = json_string_value(v);
    int r;

    if (!v)
        return 0;
    if (!text)
        return tby_dec_fail_at(d, field, "must be a string");
    if (!*text)
        return 0;
    r = tby_base64_decode(text, json_string_length(v), &out->data, &out->len);
    if (r == -ENOMEM)
        return tby_error_set(d->err, r, "out of memory");
    if (r < 0 || out->len == 0)
        return tby_dec_fail_at(d, field, "not base64");
    return 0;
}

/* The entry of list `field` whose "name" is `name`; *index is its place. */
static int find_named(struct tby_dec *d, const json_t *doc, const char *field, const char *name,
                      const json_t **entry, size_t *index)
{
    const json_t *list;
    const json_t *item;
    size_t i;
    int r = tby_dec_array(d, doc, field, &list);

    *entry = NULL;
    if (r < 0)
        return r;
    json_array_foreach(list, i, item) {
        size_t mark = tby_dec_enter(d, field);
        const json_t *n;

        tby_dec_enter_index(d, i);
        r = tby_dec_expect_object(d, item);
        n = tby_dec_get(item, "name");
        if (r == 0 && n && !json_is_string(n))
            r = tby_dec_fail_at(d, "name", "must be a string");
        tby_dec_leave(d, mark);
        if (r < 0)
            return r;
        if (n && strcmp(json_string_value(n), name) == 0) {
            *entry = item;
            *index = i;
            return 0;
        }
    }
    return 0;
}

/* The entry of list `field` named `name` ("clusters", "cluster": clusters[i].cluster),
 * with the decoder's path left at field[i].inner; that object must exist. */
static int open_entry(struct tby_dec *d, const json_t *doc, const char *field,
                      const char *name, const char *inner, const json_t **out)
{
    const json_t *entry;
    size_t index;
    int r = find_named(d, doc, field, name, &entry, &index);

    if (r < 0)
        return r;
    if (!entry)
        return tby_dec_fail(d, "%s: no %s named \"%s\"", field, inner, name);
    tby_dec_enter(d, field);
    tby_dec_enter_index(d, index);
    tby_dec_enter(d, inner);
    *out = tby_dec_get(entry, inner);
    if (!*out)
        return tby_dec_fail(d, "missing");
    return tby_dec_expect_object(d, *out);
}

static int read_cluster(struct tby_dec *d, const json_t *doc, const char *name,
                        const char *base_dir, struct tby_kube_config *cfg)
{
    const json_t *c;
    size_t mark = d->len;
    int r = open_entry(d, doc, "clusters", name, "cluster", &c);

    if (r == 0)
        r = tby_dec_string(d, c, "server", true, &cfg->server);
    if (r == 0)
        r = file_field(d, c, "certificate-authority", base_dir, &cfg->ca_file);
    if (r == 0)
        r = data_field(d, c, "certificate-authority-data", &cfg->ca_data);
    if (r == 0)
        r = tby_dec_bool(d, c, "insecure-skip-tls-verify", &cfg->insecure);
    /* libcurl cannot send one name and check another: refused rather than ignored. */
    if (r == 0 && tby_dec_get(c, "tls-server-name"))
        r = tby_dec_fail_at(d, "tls-server-name", "not supported");
    if (r == 0 && strncmp(cfg->server, "https://", 8) != 0 &&
        strncmp(cfg->server, "http://", 7) != 0)
        r = tby_dec_fail_at(d, "server", "must be an http:// or https:// URL, got \"%s\"",
                            cfg->server);
    if (r == 0 && strchr(cfg->server, '@'))
        r = tby_dec_fail_at(d, "server", "credentials in the URL are not accepted");
    tby_dec_leave(d, mark);
    return r;
}

static int read_user(struct tby_dec *d, const json_t *doc, const char *name,
                     const char *base_dir, struct tby_kube_config *cfg)
{
    const json_t *u;
    size_t mark = d->len;
    int r = open_entry(d, doc, "users", name, "user", &u);

    if (r == 0)
        r = tby_dec_string(d, u, "token", false, &cfg->token);
    if (r == 0)
        r = file_field(d, u, "tokenFile", base_dir, &cfg->token_file);
    if (r == 0)
        r = file_field(d, u, "client-certificate", base_dir, &cfg->cert_file);
    if (r == 0)
        r = data_field(d, u, "client-certificate-data", &cfg->cert_data);
    if (r == 0)
        r = file_field(d, u, "client-key", base_dir, &cfg->key_file);
    if (r == 0)
        r = data_field(d, u, "client-key-data", &cfg->key_data);
    if (r < 0) {
        tby_dec_leave(d, mark);
        return r;
    }
    if (cfg->token && !*cfg->token) {
        free(cfg->token);
        cfg->token = NULL;
    }
    {
        bool cert = cfg->cert_file || cfg->cert_data.data;
        bool key = cfg->key_file || cfg->key_data.data;

        if (cert && !key)
            r = tby_dec_fail(d, "a client certificate without a client key");
        else if (key && !cert)
            r = tby_dec_fail(d, "a client key without a client certificate");
        else if (!cert && !cfg->token && !cfg->token_file) {
            /* Anonymous is fine; a plugin we cannot run is not. */
            if (tby_dec_get(u, "exec"))
                r = tby_dec_fail_at(d, "exec", "credential plugins are not supported "
                                               "(use a token or a client certificate)");
            else if (tby_dec_get(u, "auth-provider"))
                r = tby_dec_fail_at(d, "auth-provider", "not supported (use a token or a "
                                                        "client certificate)");
            else if (tby_dec_get(u, "username") || tby_dec_get(u, "password"))
                r = tby_dec_fail_at(d, "username", "basic authentication is not supported");
        }
    }
    tby_dec_leave(d, mark);
    return r;
}

/* The context's cluster and user names, and its namespace. */
static int read_context(struct tby_dec *d, const json_t *doc, const char *name,
                        struct tby_kube_config *cfg, char **cluster, char **user)
{
    const json_t *c;
    size_t mark = d->len;
    int r = open_entry(d, doc, "contexts", name, "context", &c);

    if (r == 0)
        r = tby_dec_string(d, c, "cluster", true, cluster);
    if (r == 0)
        r = tby_dec_string(d, c, "user", false, user);
    if (r == 0)
        r = tby_dec_string(d, c, "namespace", false, &cfg->namespace);
    tby_dec_leave(d, mark);
    return r;
}

static int read_kubeconfig(struct tby_dec *d, const json_t *doc, const char *path,
                           const char *context, struct tby_kube_config *cfg)
{
    _cleanup_free_ char *base_dir = dir_of(path);
    _cleanup_free_ char *current = NULL;
    _cleanup_free_ char *cluster = NULL;
    _cleanup_free_ char *user = NULL;
    int r;

    if (!base_dir)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = tby_dec_expect_object(d, doc);
    if (r == 0)
        r = tby_dec_string(d, doc, "current-context", false, &current);
    if (r < 0)
        return r;
    if (!context)
        context = current && *current ? current : NULL;
    if (!context)
        return tby_dec_fail(d, "current-context: not set (and no context was asked for)");
    cfg->context = strdup(context);
    if (!cfg->context)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = read_context(d, doc, context, cfg, &cluster, &user);
    if (r == 0)
        r = read_cluster(d, doc, cluster, base_dir, cfg);
    if (r == 0 && user && *user)
        r = read_user(d, doc, user, base_dir, cfg);
    return r;
}

/* The server without trailing slashes; the namespace "default" when none was named. */
static int finish(struct tby_kube_config *cfg)
{
    size_t len = strlen(cfg->server);

    while (len > 0 && cfg->server[len - 1] == '/')
        cfg->server[--len] = '\0';
    if (!cfg->namespace || !*cfg->namespace) {
        free(cfg->namespace);
        cfg->namespace = strdup("default");
    }
    return cfg->namespace ? 0 : -ENOMEM;
}

int tby_kube_config_parse(const char *text, size_t len, const char *path, const char *context,
                          struct tby_kube_config **out, struct tby_error *err)
{
    struct tby_yaml_docs docs = { 0 };
    struct tby_kube_config *cfg;
    struct tby_buf source = { 0 };
    struct tby_dec d;
    int r;

    *out = NULL;
    tby_buf_printf(&source, "kubeconfig %s", path);
    if (tby_buf_error(&source) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_yaml_load(text, len, path, &docs, err);
    if (r < 0) {
        tby_buf_clear(&source);
        return tby_error_prefix(err, "kubeconfig");
    }
    cfg = config_new(source.data);
    tby_dec_init(&d, err);
    if (!cfg)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    else if (json_array_size(docs.docs) != 1)
        r = tby_error_set(err, -EINVAL, "%s: must hold one YAML document, found %zu",
                          source.data, json_array_size(docs.docs));
    else if ((r = read_kubeconfig(&d, json_array_get(docs.docs, 0), path, context, cfg)) < 0)
        tby_error_prefix(err, "%s", source.data);
    else if (finish(cfg) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    tby_yaml_docs_clear(&docs);
    tby_buf_clear(&source);
    if (r < 0) {
        tby_kube_config_free(cfg);
        return r;
    }
    *out = cfg;
    return 0;
}

int tby_kube_config_from_file(const char *path, const char *context,
                              struct tby_kube_config **out, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r = tby_read_file(path, MAX_KUBECONFIG_BYTES, &text, &len);

    *out = NULL;
    if (r == -EFBIG)
        return tby_error_set(err, r, "kubeconfig %s: larger than %u bytes", path,
                             MAX_KUBECONFIG_BYTES);
    if (r < 0)
        return tby_error_set(err, r, "kubeconfig %s: %s", path, strerror(-r));
    r = tby_kube_config_parse(text, len, path, context, out, err);
    /* Inline keys and tokens were in the text. */
    explicit_bzero(text, len);
    return r;
}

/* ---- in-cluster ------------------------------------------------------------------- */

static char *join(const char *dir, const char *name)
{
    struct tby_buf b = { 0 };

    tby_buf_printf(&b, "%s/%s", dir, name);
    if (tby_buf_error(&b) < 0) {
        tby_buf_clear(&b);
        return NULL;
    }
    return tby_buf_steal(&b, NULL);
}

/* The namespace file's first word; "default" when there is none. */
static int read_namespace(const char *dir, char **out)
{
    _cleanup_free_ char *path = join(dir, "namespace");
    _cleanup_free_ char *text = NULL;
    size_t len, start = 0;

    if (!path)
        return -ENOMEM;
    if (tby_read_file(path, 4096, &text, &len) == 0) {
        while (start < len && strchr(" \t\r\n", text[start]))
            start++;
        len = start + strcspn(text + start, " \t\r\n");
        if (len > start) {
            *out = strndup(text + start, len - start);
            return *out ? 0 : -ENOMEM;
        }
    }
    *out = strdup("default");
    return *out ? 0 : -ENOMEM;
}

static int in_cluster_files(struct tby_kube_config *cfg, const char *dir, struct tby_error *err)
{
    _cleanup_free_ char *ca = join(dir, "ca.crt");

    cfg->token_file = join(dir, "token");
    if (!ca || !cfg->token_file || read_namespace(dir, &cfg->namespace) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (access(cfg->token_file, R_OK) < 0) {
        int e = errno;

        return tby_error_set(err, e == ENOENT ? -ENOENT : -EACCES,
                             "in-cluster: service account token %s: %s", cfg->token_file,
                             strerror(e));
    }
    if (access(ca, R_OK) == 0)
        cfg->ca_file = TBY_STEAL(ca);
    return 0;
}

int tby_kube_config_in_cluster(const char *sa_dir, struct tby_kube_config **out,
                               struct tby_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct tby_kube_config *cfg;
    struct tby_buf server = { 0 };
    int r;

    *out = NULL;
    if (!host || !*host || !port || !*port)
        return tby_error_set(err, -ENOENT, "in-cluster: KUBERNETES_SERVICE_HOST and "
                                           "KUBERNETES_SERVICE_PORT are not set (not in a pod?)");
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return tby_error_set(err, -EINVAL, "in-cluster: KUBERNETES_SERVICE_PORT: not a port: "
                                           "\"%s\"", port);
    cfg = config_new("in-cluster");
    if (!cfg)
        return tby_error_set(err, -ENOMEM, "out of memory");
    /* An IPv6 address goes in brackets. */
    tby_buf_printf(&server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                   port);
    cfg->server = tby_buf_error(&server) < 0 ? NULL : tby_buf_steal(&server, NULL);
    tby_buf_clear(&server);
    r = cfg->server ? in_cluster_files(cfg, sa_dir ? sa_dir : TBY_KUBE_SA_DIR, err)
                    : tby_error_set(err, -ENOMEM, "out of memory");
    if (r < 0) {
        tby_kube_config_free(cfg);
        return r;
    }
    *out = cfg;
    return 0;
}

/* ---- finding one -------------------------------------------------------------------- */

/* $KUBECONFIG's first file, or ~/.kube/config when it exists; NULL in *out when none. */
static int default_kubeconfig(char **out)
{
    const char *list = getenv("KUBECONFIG");
    const char *home = getenv("HOME");

    *out = NULL;
    if (list && *list) {
        size_t len = strcspn(list, ":");

        if (len > 0) {
            *out = strndup(list, len);
            return *out ? 0 : -ENOMEM;
        }
    }
    if (home && *home) {
        char *path = join(home, ".kube/config");

        if (!path)
            return -ENOMEM;
        if (access(path, F_OK) == 0)
            *out = path;
        else
            free(path);
    }
    return 0;
}

int tby_kube_config_load(const struct tby_kube_config_options *opts,
                         struct tby_kube_config **out, struct tby_error *err)
{
    static const struct tby_kube_config_options none;
    _cleanup_free_ char *path = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");

    *out = NULL;
    if (!opts)
        opts = &none;
    if (opts->kubeconfig && *opts->kubeconfig)
        return tby_kube_config_from_file(opts->kubeconfig, opts->context, out, err);
    if (default_kubeconfig(&path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (path)
        return tby_kube_config_from_file(path, opts->context, out, err);
    if (host && *host)
        return tby_kube_config_in_cluster(opts->sa_dir, out, err);
    return tby_error_set(err, -ENOENT, "no Kubernetes configuration: $KUBECONFIG is not set, "
                                       "~/.kube/config does not exist and "
                                       "KUBERNETES_SERVICE_HOST is not set");
}
