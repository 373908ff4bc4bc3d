/* kube_client.h — the client's state and its one request function, shared by the reads
 * (kube_client.c) and the writes (kube_write.c) (private to lib/).
 *
 * Owns: struct tby_kube_client (see kube.h for its rules): a curl handle, the token read
 * from the token file, the last answer's bytes.
 */
#ifndef TABBY_KUBE_CLIENT_H
#define TABBY_KUBE_CLIENT_H

#include <curl/curl.h>

#include "tabby/buf.h"
#include "tabby/kube.h"
#include "kube_http.h"

struct tby_kube_client {
    const struct tby_kube_config *cfg;
    CURL *easy;
    struct kube_token token;
    struct kube_request req;
    struct tby_buf answer;
    int retries;      /* of a 429 (or a 5xx with Retry-After) */
    long max_wait_ms; /* the longest Retry-After honoured */
};

/* One request: `method` to the server's `path` (with its query), `body` (may be NULL)
 * sent as `content_type` (NULL: application/json), retried as kube.h says. On success
 * *out (may be NULL) gets the answer's JSON. Errors name `what`. */
int kube_call(struct tby_kube_client *c, const char *method, const char *path,
              const char *content_type, const json_t *body, const char *what, json_t **out,
              struct tby_error *err);

/* Sets kind and apiVersion on an object that lacks them (list items come without). */
int kube_fill_type(json_t *obj, const struct tby_kube_resource *res);

/* The path of a list page or a watch of `res` (in `ns`): the collection, then
 * ?limit=N (opts->limit, 0: 500, < 0: none) and the selectors opts gives. The buffer is reset
 * first. 0 or the buffer's error. */
int kube_collection_path(struct tby_buf *path, const struct tby_kube_resource *res,
                         const char *ns, const struct tby_kube_list_options *opts);

/* Reads one List answer already parsed (see tby_kube_list_decode). */
int kube_list_take(const json_t *page, json_t *items, char **resource_version,
                   char **continue_token, struct tby_error *err);

#endif
