/* etcd_client.c — POSTs JSON to etcd's v3 gateway through libcurl: endpoint failover,
 * timeouts, TLS, unix sockets, token authentication, and etcd's errors as errno codes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "transfer_failure.h"
#include "etcd_client.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
/* A broken peer on an idle watch stream is noticed within about idle + 3 intervals. */
#define KEEPALIVE_IDLE_S 10
#define KEEPALIVE_INTERVAL_S 5
/* No answer of etcd's is this large (requests are capped at 1.5 MiB, pages at 1000 keys);
 * a larger one is refused rather than grown without bound. */
#define MAX_ANSWER_BYTES (256u << 20)
/* Internal: the server does not use authentication. */
#define ETCD_AUTH_OFF (-ENOTSUP)

/* ---- configuration ----------------------------------------------------------- */

static void free_secret(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void etcd_config_free(struct etcd_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        free(cfg->endpoints[i].name);
        free(cfg->endpoints[i].base_url);
        free(cfg->endpoints[i].socket_path);
    }
    free(cfg->endpoints);
    free(cfg->ca_cert_file);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->username);
    free_secret(cfg->password);
    free(cfg);
    curl_global_cleanup();
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Credentials in a URL would end up in every error message that names the endpoint. */
static bool has_userinfo(const char *url)
{
    const char *host = strstr(url, "://");
    size_t authority;

    if (!host)
        return false;
    host += 3;
    authority = strcspn(host, "/");
    return memchr(host, '@', authority) != NULL;
}

static int set_endpoint(struct etcd_endpoint *ep, char *name, struct tby_error *err)
{
    bool tls = starts_with(name, "unixs://");

    ep->name = name;
    if (starts_with(name, "http://") || starts_with(name, "https://")) {
        size_t len = strlen(name);

        /* "http://h:2379/" names the same server; paths are appended to it. */
        while (len > 0 && name[len - 1] == '/')
            name[--len] = '\0';
        if (has_userinfo(name))
            return tby_error_set(err, -EINVAL, "etcd endpoint: credentials in the URL are "
                                               "not accepted (use ETCD_USERNAME and "
                                               "ETCD_PASSWORD)");
        ep->base_url = strdup(name);
    } else if (starts_with(name, "unix://") || tls) {
        const char *path = name + (tls ? 8 : 7);

        if (!*path)
            return tby_error_set(err, -EINVAL, "etcd endpoint %s: no socket path", name);
        ep->socket_path = strdup(path);
        ep->base_url = strdup(tls ? "https://localhost" : "http://localhost");
        if (!ep->socket_path)
            return tby_error_set(err, -ENOMEM, "out of memory");
    } else {
        return tby_error_set(err, -EINVAL, "etcd endpoint %s: use http://HOST:PORT, "
                                           "https://HOST:PORT, unix://PATH or unixs://PATH",
                             name);
    }
    return ep->base_url ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

/* One comma-separated item, trimmed of spaces. */
static char *endpoint_name(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    return strndup(text, len);
}

static int parse_endpoints(struct etcd_config *cfg, const char *list, struct tby_error *err)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        char *name = endpoint_name(p, len);
        struct etcd_endpoint *grown;
        int r;

        if (!name)
            return tby_error_set(err, -ENOMEM, "out of memory");
        p += len + (p[len] == ',');
        if (!*name) {
            free(name);
            continue;
        }
        grown = reallocarray(cfg->endpoints, cfg->n_endpoints + 1, sizeof(*grown));
        if (!grown) {
            free(name);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
        cfg->endpoints = grown;
        memset(&grown[cfg->n_endpoints], 0, sizeof(*grown));
        r = set_endpoint(&grown[cfg->n_endpoints++], name, err);
        if (r < 0)
            return r;
    }
    if (cfg->n_endpoints == 0)
        return tby_error_set(err, -EINVAL, "etcd: no endpoints (use etcd:http://HOST:2379[,…] "
                                           "or set ETCD_ENDPOINTS)");
    return 0;
}

/* Copies an optional setting; empty counts as unset. */
static int copy_option(char **dst, const char *src)
{
    *dst = NULL;
    if (!src || !*src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

static int copy_options(struct etcd_config *cfg, const struct tby_store_options *opts,
                        struct tby_error *err)
{
    if (copy_option(&cfg->ca_cert_file, opts->ca_cert_file) < 0 ||
        copy_option(&cfg->cert_file, opts->cert_file) < 0 ||
        copy_option(&cfg->key_file, opts->key_file) < 0 ||
        copy_option(&cfg->username, opts->username) < 0 ||
        copy_option(&cfg->password, opts->password) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (cfg->username && !cfg->password)
        return tby_error_set(err, -EINVAL, "etcd: user %s has no password (set ETCD_PASSWORD)",
                             cfg->username);
    if (cfg->password && !cfg->username)
        return tby_error_set(err, -EINVAL, "etcd: a password without a user name "
                                           "(set ETCD_USERNAME)");
    if (cfg->key_file && !cfg->cert_file)
        return tby_error_set(err, -EINVAL, "etcd: a client key without a client certificate "
                                           "(set ETCD_CERT_FILE)");
    cfg->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    cfg->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    return 0;
}

int etcd_config_new(const char *location, const struct tby_store_options *opts,
                    struct etcd_config **out, struct tby_error *err)
{
    static const struct tby_store_options none;
    struct etcd_config *cfg;
    const char *list;
    int r;

    if (!opts)
        opts = &none;
    list = *location ? location : (opts->endpoints ? opts->endpoints : "");
    /* Refcounted by libcurl; etcd_config_free balances it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tby_error_set(err, -EIO, "etcd: libcurl failed to initialise");
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        curl_global_cleanup();
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = parse_endpoints(cfg, list, err);
    if (r == 0)
        r = copy_options(cfg, opts, err);
    if (r < 0) {
        etcd_config_free(cfg);
        return r;
    }
    *out = cfg;
    return 0;
}

/* ---- one transfer -------------------------------------------------------------- */

int etcd_client_init(struct etcd_client *c, const struct etcd_config *cfg,
                     struct tby_error *err)
{
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->answer.max = MAX_ANSWER_BYTES;
    c->easy = curl_easy_init();
    if (!c->easy)
        return tby_error_set(err, -ENOMEM, "etcd: cannot make a curl handle");
    return 0;
}

void etcd_client_clear(struct etcd_client *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free_secret(c->token);
    tby_buf_clear(&c->answer);
    memset(c, 0, sizeof(*c));
}

void etcd_client_drop_token(struct etcd_client *c)
{
    free_secret(c->token);
    c->token = NULL;
}

const char *etcd_client_endpoint(const struct etcd_client *c)
{
    return c->cfg->endpoints[c->current].name;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    size_t len = size * n;

    return tby_buf_add(userdata, data, len) == 0 ? len : 0;
}

/* a + b in a new string; NULL when out of memory. */
static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);

    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(list, line);

    if (!grown)
        curl_slist_free_all(list);
    return grown;
}

/* The token goes into a header line that is wiped once curl has copied it. */
static int build_headers(struct etcd_client *c)
{
    struct curl_slist *h;

    curl_slist_free_all(c->headers);
    /* "Expect:" stops curl from waiting for a 100-continue on larger bodies. */
    h = add_header(NULL, "Content-Type: application/json");
    if (h)
        h = add_header(h, "Expect:");
    if (h && c->token) {
        char *line = concat("Authorization: ", c->token);

        h = line ? add_header(h, line) : NULL;
        free_secret(line);
    }
    c->headers = h;
    return h ? 0 : -ENOMEM;
}

static void set_tls(CURL *e, const struct etcd_config *cfg)
{
    if (cfg->ca_cert_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_cert_file);
    if (cfg->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->cert_file);
    if (cfg->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->key_file);
}

/* Sets every option of one POST, from scratch (curl_easy_reset keeps the connection cache,
 * so connections are still reused). A stream has no overall timeout but TCP keepalives. */
static int prepare(struct etcd_client *c, const struct etcd_endpoint *ep, const char *path,
                   const char *body, bool stream)
{
    _cleanup_free_ char *url = concat(ep->base_url, path);
    CURL *e = c->easy;

    if (!url || build_headers(c) < 0)
        return -ENOMEM;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->cfg->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, stream ? 0L : c->cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, (long)KEEPALIVE_IDLE_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, (long)KEEPALIVE_INTERVAL_S);
    if (ep->socket_path)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, ep->socket_path);
    set_tls(e, c->cfg);
    c->errbuf[0] = '\0';
    tby_buf_reset(&c->answer);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->answer);
    return 0;
}

/* Runs the transfer through the multi handle, checking *stop whenever curl wakes. */
static CURLcode perform_interruptible(struct etcd_client *c)
{
    CURLcode result = CURLE_ABORTED_BY_CALLBACK;
    bool done = false;

    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    while (!done && !atomic_load(c->stop)) {
        CURLMsg *msg;
        int running, left;

        if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            break;
        }
        while ((msg = curl_multi_info_read(c->multi, &left))) {
            if (msg->msg == CURLMSG_DONE) {
                result = msg->data.result;
                done = true;
            }
        }
        if (!done)
            curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(c->multi, c->easy);
    return result;
}

static CURLcode perform(struct etcd_client *c)
{
    return c->multi ? perform_interruptible(c) : curl_easy_perform(c->easy);
}

/* ---- failures ------------------------------------------------------------------ */

/* A transfer that got no HTTP answer. *sent: the request may have reached etcd. */
static int transport_failure(struct etcd_client *c, const struct etcd_endpoint *ep,
                             CURLcode rc, bool *sent, struct tby_error *err)
{
    long request_bytes = 0;
    char why[CURL_ERROR_SIZE + 64];

    if (rc == CURLE_ABORTED_BY_CALLBACK && c->stop && atomic_load(c->stop))
        return tby_error_set(err, -ECANCELED, "etcd %s: stopped", ep->name);
    curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &request_bytes);
    *sent = request_bytes > 0;
    transfer_failure_describe(c->easy, rc, c->errbuf, c->cfg->connect_timeout_ms,
                          c->cfg->timeout_ms, why, sizeof(why));
    return tby_error_set(err, transfer_failure_is_local(rc) ? -EINVAL : -EAGAIN, "etcd %s: %s",
                         ep->name, why);
}

int etcd_grpc_errno(const struct etcd_config *cfg, long code, const char *msg)
{
    if (strstr(msg, "invalid auth token"))
        return cfg->username ? ETCD_RETRY_AUTH : -EACCES;
    if (strstr(msg, "user name is empty"))
        return cfg->username ? ETCD_RETRY_AUTH : -EACCES;
    if (strstr(msg, "authentication is not enabled"))
        return ETCD_AUTH_OFF;
    if (strstr(msg, "authentication failed") || strstr(msg, "permission denied"))
        return -EACCES;
    switch (code) {
    case 3:  /* InvalidArgument */
    case 9:  /* FailedPrecondition */
        return -EINVAL;
    case 4:  /* DeadlineExceeded */
    case 14: /* Unavailable: no leader, request timed out, too many requests */
        return -EAGAIN;
    case 7:  /* PermissionDenied */
    case 16: /* Unauthenticated */
        return -EACCES;
    case 8: /* ResourceExhausted: the database is full */
        return -ENOSPC;
    case 11: /* OutOfRange */
        return strstr(msg, "compacted") ? -ESTALE : -EINVAL;
    default:
        return -EIO;
    }
}

static int answer_failure(struct etcd_client *c, const struct etcd_endpoint *ep, long status,
                          const json_t *answer, struct tby_error *err)
{
    const char *msg = json_string_value(json_object_get(answer, "error"));
    json_int_t code = json_integer_value(json_object_get(answer, "code"));
    int r;

    if (!msg)
        return tby_error_set(err, status >= 500 ? -EAGAIN : -EIO, "etcd %s: HTTP %ld", ep->name,
                             status);
    r = etcd_grpc_errno(c->cfg, (long)code, msg);
    if (r == -EACCES && strstr(msg, "user name is empty"))
        return tby_error_set(err, r, "etcd %s: %s (set ETCD_USERNAME and ETCD_PASSWORD)",
                             ep->name, msg);
    return tby_error_set(err, r, "etcd %s: %s", ep->name, msg);
}

/* One request to one endpoint. -EAGAIN: this endpoint failed, another may do. */
static int try_endpoint(struct etcd_client *c, const struct etcd_endpoint *ep, const char *path,
                        const char *body, json_t **answer, bool *sent, struct tby_error *err)
{
    json_t *j;
    long status = 0;
    CURLcode rc;
    int r;

    *sent = false;
    if (prepare(c, ep, path, body, false) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    rc = perform(c);
    if (rc != CURLE_OK)
        return transport_failure(c, ep, rc, sent, err);
    *sent = true;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    j = json_loadb(c->answer.data ? c->answer.data : "", c->answer.len, 0, NULL);
    if (!j)
        return tby_error_set(err, status >= 500 ? -EAGAIN : -EIO,
                             "etcd %s: HTTP %ld with an answer that is not JSON", ep->name,
                             status);
    if (status == 200) {
        *answer = j;
        return 0;
    }
    r = answer_failure(c, ep, status, j, err);
    json_decref(j);
    return r;
}

/* Appends "; <msg>" (or just <msg>) to the list of endpoints' failures, cut at `size`. */
static void add_failure(char *list, size_t size, const char *msg)
{
    size_t len = strlen(list);
    size_t n;

    if (len > 0 && len + 2 < size) {
        memcpy(list + len, "; ", 2);
        len += 2;
    }
    n = strnlen(msg, size - len - 1);
    memcpy(list + len, msg, n);
    list[len + n] = '\0';
}

/* Sends to each endpoint in turn, starting with the one that last answered. */
static int call_endpoints(struct etcd_client *c, const char *path, const char *body,
                          enum etcd_retry retry, json_t **answer, struct tby_error *err)
{
    size_t n = c->cfg->n_endpoints;
    char failures[TBY_ERROR_MAX] = "";

    for (size_t k = 0; k < n; k++) {
        size_t i = (c->current + k) % n;
        struct tby_error one = { 0 };
        bool sent;
        int r = try_endpoint(c, &c->cfg->endpoints[i], path, body, answer, &sent, &one);

        if (r != -EAGAIN) {
            c->current = i; /* it answered, even if with an error */
            return r == 0 ? 0 : tby_error_set(err, r, "%s", one.msg);
        }
        if (sent && retry == ETCD_ONCE)
            return tby_error_set(err, -EAGAIN, "%s (the change may or may not have been "
                                               "applied)", one.msg);
        add_failure(failures, sizeof(failures), one.msg);
    }
    return tby_error_set(err, -EAGAIN, "%s", failures);
}

static int authenticate(struct etcd_client *c, struct tby_error *err)
{
    json_t *req = json_pack("{s:s, s:s}", "name", c->cfg->username, "password",
                            c->cfg->password);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_t *answer = NULL;
    const char *token;
    int r;

    json_decref(req);
    if (!body)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = call_endpoints(c, "/v3/auth/authenticate", body, ETCD_IDEMPOTENT, &answer, err);
    free_secret(body);
    if (r == ETCD_AUTH_OFF)
        return ETCD_AUTH_OFF;
    if (r < 0)
        return tby_error_prefix(err, "authenticating as %s", c->cfg->username);
    token = json_string_value(json_object_get(answer, "token"));
    c->token = token ? strdup(token) : NULL;
    json_decref(answer);
    if (!token)
        return tby_error_set(err, -EIO, "etcd %s: authenticating as %s: no token in the answer",
                             etcd_client_endpoint(c), c->cfg->username);
    return c->token ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

/* Authenticates when credentials are configured and no token is held. Like etcd's own
 * client, a server without authentication is used without a token. */
static int ensure_token(struct etcd_client *c, struct tby_error *err)
{
    int r;

    if (!c->cfg->username || c->token || c->auth_off)
        return 0;
    r = authenticate(c, err);
    c->auth_off = r == ETCD_AUTH_OFF;
    return c->auth_off ? 0 : r;
}

int etcd_call(struct etcd_client *c, const char *path, json_t *req, enum etcd_retry retry,
              json_t **answer, struct tby_error *err)
{
    _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
    int r;

    *answer = NULL;
    if (!body)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = ensure_token(c, err);
    if (r == 0)
        r = call_endpoints(c, path, body, retry, answer, err);
    if (r != ETCD_RETRY_AUTH)
        return r;
    /* The token expired (or auth was turned on): etcd refused the request, so it was not
     * applied and sending it again is safe. */
    etcd_client_drop_token(c);
    c->auth_off = false;
    r = ensure_token(c, err);
    if (r == 0)
        r = call_endpoints(c, path, body, retry, answer, err);
    if (r != ETCD_RETRY_AUTH)
        return r;
    if (err)
        err->code = -EACCES;
    return -EACCES;
}

/* ---- streams ------------------------------------------------------------------- */

struct stream_args {
    const char *path;
    const char *body;
    etcd_sink sink;
    void *userdata;
    bool sink_stopped;
};

static size_t to_sink(char *data, size_t size, size_t n, void *userdata)
{
    struct stream_args *a = userdata;
    size_t len = size * n;
    size_t taken = a->sink(data, len, a->userdata);

    if (taken != len)
        a->sink_stopped = true;
    return taken;
}

static int send_stream(struct etcd_client *c, struct stream_args *a, struct tby_error *err)
{
    const struct etcd_endpoint *ep = &c->cfg->endpoints[c->current];
    bool sent;
    CURLcode rc;
    int r;

    if (prepare(c, ep, a->path, a->body, true) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, to_sink);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, a);
    rc = perform(c);
    if (rc == CURLE_OK || a->sink_stopped)
        return 0;
    r = transport_failure(c, ep, rc, &sent, err);
    if (r == -EAGAIN)
        c->current = (c->current + 1) % c->cfg->n_endpoints;
    return r;
}

int etcd_stream(struct etcd_client *c, const char *path, json_t *req, etcd_sink sink,
                void *userdata, struct tby_error *err)
{
    _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
    struct stream_args args = { path, body, sink, userdata, false };
    int r;

    if (!body)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = ensure_token(c, err);
    return r < 0 ? r : send_stream(c, &args, err);
}
