/* kube_http.h — one HTTP request to a Kubernetes API server through libcurl, as the
 * client (kube_client.c) and the informer's thread (kube_informer.c) both make them
 * (private to lib/).
 *
 * Owns: struct kube_token, the bearer token read from a token file (a secret, wiped when
 * replaced or cleared), and the header list of a request (struct kube_request's, freed by
 * kube_request_clear). Borrows the configuration. A token and a request belong to the
 * thread that uses them.
 */
#ifndef TABBY_KUBE_HTTP_H
#define TABBY_KUBE_HTTP_H

#include <stdbool.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "tabby/error.h"
#include "tabby/kube.h"

/* No answer is larger: a page of 500 big objects is a few MiB. */
#define KUBE_MAX_ANSWER_BYTES (256u << 20)

struct kube_token {
    char *value; /* the token file's content, trimmed; NULL before the first read */
    dev_t dev;   /* what the file was when read: a change means a new token */
    ino_t ino;
    struct timespec mtime;
    off_t size;
};

/* Reads the token file again when it changed since the last read (always when `force`).
 * 1 when the token changed, 0 when not (or the config has no token file), else -errno
 * with a message naming the file. */
int kube_token_refresh(struct kube_token *t, const struct tby_kube_config *cfg, bool force,
                       struct tby_error *err);
void kube_token_clear(struct kube_token *t);

struct kube_request {
    const char *method;       /* "GET", "POST", … */
    const char *url;          /* the whole URL */
    const char *content_type; /* of the body; NULL without one */
    const char *body;         /* NULL: none */
    bool stream;              /* a watch: no overall timeout, TCP keepalives */
    long stream_timeout_ms;   /* with stream: a limit all the same (0: none) */
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets every option of `e` for `req` (after curl_easy_reset, which keeps connections):
 * URL, method, body, headers with the bearer token (the config's, or the token file's
 * from `token`), TLS (files or in-memory blobs), timeouts. The write callback is the
 * caller's to set. 0 or -ENOMEM. */
int kube_request_prepare(CURL *e, struct kube_request *req, const struct tby_kube_config *cfg,
                         const struct kube_token *token);
void kube_request_clear(struct kube_request *req);

/* A transfer that got no HTTP answer: "<what>: <server>: <why>", -EAGAIN (or -EINVAL for
 * a problem with our own certificates or URL). */
int kube_transport_error(CURL *e, CURLcode rc, const struct kube_request *req,
                         const struct tby_kube_config *cfg, const char *what,
                         struct tby_error *err);

/* The answer's Retry-After in milliseconds; -1 when it had none. */
long kube_retry_after_ms(CURL *e);

/* Whether an answer asks to be retried after a pause: 429, or a 5xx with Retry-After. */
bool kube_should_retry(long http_status, long retry_after_ms);

/* "pods default/web", "nodes n1", "pods in default", "pods" (namespace and name NULL or
 * empty when not part of it) into buf. */
const char *kube_what(char *buf, size_t size, const struct tby_kube_resource *res,
                      const char *ns, const char *name);

#endif
