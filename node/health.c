/* health.c — tabby-node's HTTP endpoints (libmicrohttpd), a part (node.h): /liveness,
 * /readiness, /metrics, /status (JSON, status.c) and /flows (JSON, flows.c) on TABBY_HEALTH_HOST:TABBY_HEALTH_PORT
 * (port 0: none), and /metrics alone on TABBY_METRICS_HOST:TABBY_METRICS_PORT (0: none) —
 * Calico's Prometheus port. The servers have no thread of their own: their epoll descriptors sit in one epoll
 * descriptor of the part, in the daemon's poll loop, and requests are answered from there,
 * so handlers read the parts' state while nothing else changes it. It starts early, so
 * that a node waiting for its datastore says so; when the settings change (a
 * FelixConfiguration, felix.c) it moves to the new address and port. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "node.h"

/* Scrapes and probes are small and rare: a few connections, short idle time. */
#define MAX_CONNECTIONS 16
#define IDLE_TIMEOUT_S 10

struct node_http;

/* One server: where it listens, and whether it answers /metrics alone. */
struct listener {
    struct node_http *http;
    struct MHD_Daemon *mhd;     /* NULL: not listening */
    int port;                   /* what it was asked for (0: nothing) */
    char host[64];
    bool metrics_only;
};

struct node_http {
    struct node *node;
    int epoll_fd;               /* holds the servers' own epoll descriptors */
    struct listener health, metrics;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
                               size_t len, const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body,
                                                                MHD_RESPMEM_MUST_FREE);
    enum MHD_Result r;

    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status,
                                    const char *text)
{
    char *body = strdup(text);

    return body ? respond(conn, status, body, strlen(body), "text/plain; charset=utf-8")
                : MHD_NO;
}

static enum MHD_Result readiness(struct node_http *h, struct MHD_Connection *conn)
{
    char why[512], line[600];

    if (node_ready(h->node, why, sizeof(why))) {
        snprintf(line, sizeof(line), "ready%s%s\n", why[0] ? ": " : "", why);
        return respond_text(conn, MHD_HTTP_OK, line);
    }
    snprintf(line, sizeof(line), "not ready: %s\n", why);
    return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
}

static enum MHD_Result metrics(struct node_http *h, struct MHD_Connection *conn)
{
    struct tby_buf text = { 0 };
    size_t len = 0;
    char *body;

    if (node_metrics_write(h->node, &text) < 0) {
        tby_buf_clear(&text);
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics failed\n");
    }
    body = tby_buf_steal(&text, &len);
    return body ? respond(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8")
                : MHD_NO;
}

static enum MHD_Result status(struct node_http *h, struct MHD_Connection *conn)
{
    _cleanup_json_ json_t *st = node_status(h->node);
    char *body = st ? json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    if (!body)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "status failed\n");
    return respond(conn, MHD_HTTP_OK, body, strlen(body), "application/json");
}

/* /flows[?since=SEQ]: the denied flows (flows.c) from that record on. */
static enum MHD_Result flows(struct node_http *h, struct MHD_Connection *conn)
{
    const char *since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    bool none;
    _cleanup_json_ json_t *o = node_flows(h->node, since ? strtoull(since, NULL, 10) : 0, &none);
    char *body = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    if (none)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "no flow log on this node (yet)\n");
    if (!body)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "flows failed\n");
    return respond(conn, MHD_HTTP_OK, body, strlen(body), "application/json");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct listener *l = cls;
    struct node_http *h = l->http;

    (void)version;
    (void)upload;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    if (*upload_size)
        return MHD_NO;
    if (strcmp(url, "/metrics") == 0)
        return metrics(h, conn);
    if (l->metrics_only)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
    if (strcmp(url, "/liveness") == 0) /* answered from the loop: the loop runs */
        return respond_text(conn, MHD_HTTP_OK, "alive\n");
    if (strcmp(url, "/readiness") == 0)
        return readiness(h, conn);
    if (strcmp(url, "/status") == 0)
        return status(h, conn);
    if (strcmp(url, "/flows") == 0)
        return flows(h, conn);
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /liveness, /readiness, "
                                                  "/metrics, /status or /flows\n");
}

/* host:port as a socket address; IPv6 when the host is one. */
static int listen_addr(const char *host, int port, struct sockaddr_storage *ss, bool *v6)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    *v6 = strchr(host, ':') != NULL;
    if (*v6) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
    }
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

static void listener_close(struct node_http *h, struct listener *l)
{
    const union MHD_DaemonInfo *info = l->mhd ? MHD_get_daemon_info(l->mhd,
                                                                    MHD_DAEMON_INFO_EPOLL_FD)
                                              : NULL;

    if (info)
        epoll_ctl(h->epoll_fd, EPOLL_CTL_DEL, info->epoll_fd, NULL);
    if (l->mhd)
        MHD_stop_daemon(l->mhd);
    l->mhd = NULL;
}

/* Listens on host:port (port 0: not at all), remembering what was asked even when it
 * fails, so that a port in use is tried again only when the settings change. */
static int listener_open(struct node_http *h, struct listener *l, const char *host, int port,
                         struct tby_error *err)
{
    const char *what = l->metrics_only ? "metrics" : "health";
    const union MHD_DaemonInfo *info;
    struct epoll_event ev = { .events = EPOLLIN };
    struct sockaddr_storage ss;
    bool v6;

    listener_close(h, l);
    l->port = port;
    snprintf(l->host, sizeof(l->host), "%s", host);
    if (!port)
        return 0;
    if (listen_addr(host, port, &ss, &v6) < 0)
        return tby_error_set(err, -EINVAL, "%s server: \"%s\" is not an IP address", what,
                             host);
    l->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
                              (uint16_t)port, NULL, NULL, handle, l, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                              MHD_OPTION_END);
    info = l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (info && epoll_ctl(h->epoll_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) == 0) {
        tby_log(TBY_LOG_INFO, "health", "serving %s host=%s port=%d",
                l->metrics_only ? "/metrics" : "/liveness /readiness /metrics /status", host,
                port);
        return 0;
    }
    listener_close(h, l);
    return tby_error_set(err, -EADDRNOTAVAIL, "%s server: cannot listen on %s port %d (in "
                         "use, or no such address here)", what, host, port);
}

static void http_stop(void *state)
{
    struct node_http *h = state;

    if (!h)
        return;
    listener_close(h, &h->health);
    listener_close(h, &h->metrics);
    if (h->epoll_fd >= 0)
        close(h->epoll_fd);
    free(h);
}

/* What the settings say now: the metrics port is a second server unless it is the health
 * server's own. */
static void wanted(const struct node *n, const char **host, int *port, const char **mhost,
                   int *mport)
{
    *host = n->cfg.v[NODE_HEALTH_HOST];
    *port = n->cfg.health_port;
    *mhost = n->cfg.v[NODE_METRICS_HOST];
    *mport = n->cfg.metrics_port;
    if (*mport == *port && strcmp(*mhost, *host) == 0)
        *mport = 0;
}

static int http_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_http *h = calloc(1, sizeof(*h));
    const char *host, *mhost;
    int port, mport, r;

    if (!h)
        return tby_error_set(err, -ENOMEM, "out of memory");
    h->node = n;
    h->health.http = h->metrics.http = h;
    h->metrics.metrics_only = true;
    h->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epoll_fd < 0) {
        r = tby_error_set(err, -errno, "health server: epoll: %s", strerror(errno));
        http_stop(h);
        return r;
    }
    wanted(n, &host, &port, &mhost, &mport);
    r = listener_open(h, &h->health, host, port, err);
    if (r == 0)
        r = listener_open(h, &h->metrics, mhost, mport, err);
    if (r < 0) {
        http_stop(h);
        return r;
    }
    *state = h;
    return 0;
}

static int http_fd(const void *state)
{
    return ((const struct node_http *)state)->epoll_fd;
}

static int listener_timeout(const struct listener *l)
{
    MHD_UNSIGNED_LONG_LONG t;

    if (!l->mhd || MHD_get_timeout(l->mhd, &t) != MHD_YES)
        return -1;
    return t > 60000 ? 60000 : (int)t;
}

static int http_timeout_ms(const void *state)
{
    const struct node_http *h = state;

    return node_min_timeout(listener_timeout(&h->health), listener_timeout(&h->metrics));
}

/* Moves a server whose address or port the settings changed. */
static void follow(struct node_http *h, struct listener *l, const char *host, int port)
{
    struct tby_error err = { 0 };

    if (l->port == port && strcmp(l->host, host) == 0)
        return;
    if (listener_open(h, l, host, port, &err) < 0)
        tby_log(TBY_LOG_ERROR, "health", "%s", tby_error_str(&err));
}

/* The settings first, then requests and the servers' own timeouts (idle connections). */
static void http_run(void *state, const struct node *n)
{
    struct node_http *h = state;
    const char *host, *mhost;
    int port, mport;

    wanted(n, &host, &port, &mhost, &mport);
    follow(h, &h->health, host, port);
    follow(h, &h->metrics, mhost, mport);
    /* The part's descriptor is readable while a server's is: running them drains it. */
    if (h->health.mhd)
        MHD_run(h->health.mhd);
    if (h->metrics.mhd)
        MHD_run(h->metrics.mhd);
}

const struct node_part node_http_part = {
    .name = "http",
    .early = true,
    .start = http_start,
    .stop = http_stop,
    .fd = http_fd,
    .timeout_ms = http_timeout_ms,
    .run = http_run,
};
