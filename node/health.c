/* health.c — tabby-node's HTTP endpoints (libmicrohttpd), a part (node.h): /liveness,
 * /readiness, /metrics and /status (JSON, status.c) on TABBY_HEALTH_HOST:TABBY_HEALTH_PORT
 * (port 0: none). The server has no thread of its own: its epoll descriptor sits in the
 * daemon's poll loop and requests are answered from there, so handlers read the parts'
 * state while nothing else changes it. It starts early, so that a node waiting for its
 * datastore says so. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "node.h"

/* Scrapes and probes are small and rare: a few connections, short idle time. */
#define MAX_CONNECTIONS 16
#define IDLE_TIMEOUT_S 10

struct node_http {
    struct MHD_Daemon *mhd;
    struct node *node;
    int epoll_fd;
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct node_http *h = cls;

    (void)version;
    (void)upload;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    if (*upload_size)
        return MHD_NO;
    if (strcmp(url, "/liveness") == 0) /* answered from the loop: the loop runs */
        return respond_text(conn, MHD_HTTP_OK, "alive\n");
    if (strcmp(url, "/readiness") == 0)
        return readiness(h, conn);
    if (strcmp(url, "/metrics") == 0)
        return metrics(h, conn);
    if (strcmp(url, "/status") == 0)
        return status(h, conn);
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /liveness, /readiness, "
                                                  "/metrics or /status\n");
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

static void http_stop(void *state)
{
    struct node_http *h = state;

    if (!h)
        return;
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    free(h);
}

static int http_start(struct node *n, void **state, struct tby_error *err)
{
    const char *host = n->cfg.v[NODE_HEALTH_HOST];
    int port = n->cfg.health_port;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    struct node_http *h;
    bool v6;

    if (!port)
        return 0;
    if (listen_addr(host, port, &ss, &v6) < 0)
        return tby_error_set(err, -EINVAL, "TABBY_HEALTH_HOST: \"%s\" is not an IP address",
                             host);
    if (!(h = calloc(1, sizeof(*h))))
        return tby_error_set(err, -ENOMEM, "out of memory");
    h->node = n;
    h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
                              (uint16_t)port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                              MHD_OPTION_END);
    info = h->mhd ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        http_stop(h);
        return tby_error_set(err, -EADDRNOTAVAIL, "health server: cannot listen on %s port %d "
                             "(in use, or no such address here)", host, port);
    }
    h->epoll_fd = info->epoll_fd;
    tby_log(TBY_LOG_INFO, "health", "serving /liveness /readiness /metrics /status host=%s "
            "port=%d", host, port);
    *state = h;
    return 0;
}

static int http_fd(const void *state)
{
    return ((const struct node_http *)state)->epoll_fd;
}

static int http_timeout_ms(const void *state)
{
    const struct node_http *h = state;
    MHD_UNSIGNED_LONG_LONG t;

    if (MHD_get_timeout(h->mhd, &t) != MHD_YES)
        return -1;
    return t > 60000 ? 60000 : (int)t;
}

/* Requests, and the server's own timeouts (idle connections): on every turn. */
static void http_run(void *state, const struct node *n)
{
    MHD_run(((struct node_http *)state)->mhd);
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
