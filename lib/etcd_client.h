/* etcd_client.h — HTTP requests to an etcd cluster's v3 JSON gateway (private to lib/).
 *
 * Owns: the parsed configuration (struct etcd_config: endpoints, TLS files, credentials,
 * timeouts; immutable once made, so a watch thread may read it while the store's thread
 * does too) and one connection's state (struct etcd_client: a curl handle, the endpoint
 * that last answered, the auth token). A client is used by one thread at a time; a watch
 * has its own. The config must outlive every client made from it.
 *
 * Secrets (password, token) travel only in request bodies and headers; no message built
 * here contains them.
 */
#ifndef TABBY_ETCD_CLIENT_H
#define TABBY_ETCD_CLIENT_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/error.h"
#include "tabby/store.h"

struct etcd_endpoint {
    char *name;        /* as configured, for messages: "http://10.0.0.1:2379" */
    char *base_url;    /* what curl asks for; "http://localhost" over a unix socket */
    char *socket_path; /* a unix socket's path, or NULL */
};

struct etcd_config {
    struct etcd_endpoint *endpoints;
    size_t n_endpoints;
    char *ca_cert_file;
    char *cert_file;
    char *key_file;
    char *username;
    char *password;
    long timeout_ms;
    long connect_timeout_ms;
};

/* Parses `location` (the URI after "etcd:"; empty: opts->endpoints) and the options. */
int etcd_config_new(const char *location, const struct tby_store_options *opts,
                    struct etcd_config **out, struct tby_error *err);
void etcd_config_free(struct etcd_config *cfg);

struct etcd_client {
    const struct etcd_config *cfg;
    CURL *easy;
    struct curl_slist *headers;
    size_t current; /* the endpoint tried first: the one that last answered */
    char *token;    /* NULL until authenticated (or without auth) */
    bool auth_off;  /* credentials are configured but the server does not use auth */
    /* When set, transfers run through this multi handle so that *stop (with a
     * curl_multi_wakeup) can end them from another thread. */
    CURLM *multi;
    const atomic_bool *stop;
    struct tby_buf answer; /* the last answer's bytes */
    char errbuf[CURL_ERROR_SIZE];
};

int etcd_client_init(struct etcd_client *c, const struct etcd_config *cfg,
                     struct tby_error *err);
void etcd_client_clear(struct etcd_client *c);

/* Whether a request whose answer was lost may be sent again to another endpoint: reads
 * may; a write may not, since it may have been applied (the caller gets -EAGAIN). */
enum etcd_retry {
    ETCD_IDEMPOTENT,
    ETCD_ONCE,
};

/* POSTs `req` to `path` ("/v3/kv/range") and returns the answer's JSON in *answer.
 * Tries the endpoints in turn on connection failure, authenticates when credentials are
 * configured (again when the token expires). -EAGAIN when no endpoint answered, naming
 * each; etcd's own errors map to -EINVAL, -EACCES, -ESTALE (compacted), -ENOSPC, -EIO. */
int etcd_call(struct etcd_client *c, const char *path, json_t *req, enum etcd_retry retry,
              json_t **answer, struct tby_error *err);

/* Returns how many bytes it consumed; anything but `len` ends the stream. */
typedef size_t (*etcd_sink)(const char *data, size_t len, void *userdata);

/* POSTs `req` to `path` on the current endpoint with no overall timeout and hands the
 * answer's bytes to `sink` as they arrive, until the stream ends. 0 when the server
 * ended it or the sink stopped it; -EAGAIN (after moving on to the next endpoint) when
 * the connection failed or broke; -ECANCELED when *stop was set. Errors etcd reports
 * inside the stream (an expired token, too) are the sink's to read: it drops the token
 * with etcd_client_drop_token so that the next stream authenticates again. */
int etcd_stream(struct etcd_client *c, const char *path, json_t *req, etcd_sink sink,
                void *userdata, struct tby_error *err);

/* What etcd_grpc_errno answers when the token expired or is missing (auth is on and
 * credentials are configured): authenticate again and resend. */
#define ETCD_RETRY_AUTH (-EKEYEXPIRED)

/* etcd's gRPC status code and message as an errno code: -EINVAL, -EACCES, -EAGAIN
 * (unavailable now: another endpoint or a later try may do), -ESTALE (compacted),
 * -ENOSPC, -EIO, or ETCD_RETRY_AUTH. `code` 0 when only a message is known. */
int etcd_grpc_errno(const struct etcd_config *cfg, long code, const char *msg);

/* Forgets the token, so the next request authenticates again. */
void etcd_client_drop_token(struct etcd_client *c);
/* The endpoint the next request goes to first, for messages. */
const char *etcd_client_endpoint(const struct etcd_client *c);

#endif
