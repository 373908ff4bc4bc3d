/* kube.h — a client of the Kubernetes API: reads (get, paged list), writes (create,
 * update, patch, delete, a read-modify-write helper) and the errors the API answers,
 * over libcurl with JSON bodies (jansson). Watches and informers: kube_informer.h.
 *
 * Resources are named by a small table (struct tby_kube_resource), so callers never
 * build URLs: core types live under /api/v1, every other group (CRDs too) under
 * /apis/<group>/<version>.
 *
 * Errors. Every failure fills struct tby_error with a message naming the object, and the
 * API's own words when it sent a Status:
 *   pods default/web: 409 Conflict: Operation cannot be fulfilled on pods "web": …
 * and returns a negative errno, mapped as tabby's datastores do:
 *   404 NotFound                      -ENOENT
 *   409 AlreadyExists                 -EEXIST
 *   409 Conflict (resourceVersion or
 *       a precondition)               -ECANCELED   (read again and retry)
 *   410 Gone / Expired                -ESTALE      (list or watch again from scratch)
 *   401, 403                          -EACCES
 *   400, 422 Invalid, 415             -EINVAL
 *   429, 5xx, no connection, timeout  -EAGAIN      (try again later)
 *   405                               -EOPNOTSUPP
 *   413                               -EFBIG
 *   anything else                     -EIO
 * 429 (and a 5xx with Retry-After) is retried after the time the server asks for, a few
 * times, before -EAGAIN comes back. A 401 with a token file makes the client read the
 * file again (the token may just have rotated) and try once more. Messages never hold a
 * token, a key or an Authorization header.
 *
 * Ownership. A client belongs to one thread at a time; it holds a curl handle (so
 * connections are reused), the token it read from a token file, and the last answer's
 * buffer. It borrows its struct tby_kube_config, which must outlive it. JSON handed out
 * (json_t **out) is a new reference the caller decrefs; JSON passed in is borrowed.
 */
#ifndef TABBY_KUBE_H
#define TABBY_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/kube_config.h"

/* ---- resources ----------------------------------------------------------------------- */

struct tby_kube_resource {
    const char *group;   /* "" for the core group */
    const char *version; /* "v1" */
    const char *plural;  /* "pods": the URL's name */
    const char *kind;    /* "Pod" */
    bool namespaced;
    bool has_status;     /* a /status subresource owns .status */
};

/* Core and built-in types tabby reads. Calico's CRDs are tables of the same shape, e.g.
 *   { "crd.projectcalico.org", "v1", "ippools", "IPPool", false, false }. */
extern const struct tby_kube_resource tby_kube_pods;
extern const struct tby_kube_resource tby_kube_namespaces;
extern const struct tby_kube_resource tby_kube_serviceaccounts;
extern const struct tby_kube_resource tby_kube_nodes;
extern const struct tby_kube_resource tby_kube_services;
extern const struct tby_kube_resource tby_kube_endpointslices;
extern const struct tby_kube_resource tby_kube_networkpolicies;
extern const struct tby_kube_resource tby_kube_crds;

/* "pods", or "ippools.crd.projectcalico.org" outside the core group: how messages and
 * kubectl name the type. Written into `buf` (cut to `size`), which it returns. */
const char *tby_kube_resource_name(const struct tby_kube_resource *res, char *buf, size_t size);

/* Appends the path of a collection (name NULL) or an object, and of a subresource
 * ("status") of it: /api/v1/namespaces/default/pods/web/status. `ns` is ignored for a
 * cluster-scoped type; NULL or "" lists a namespaced type in every namespace. Names are
 * percent-encoded. 0, or the buffer's error. */
int tby_kube_path(struct tby_buf *out, const struct tby_kube_resource *res, const char *ns,
                  const char *name, const char *subresource);

/* Appends "key=value" to a query string (with '?' first, '&' after), both
 * percent-encoded as RFC 3986 wants (only A-Z a-z 0-9 - . _ ~ stay as they are), so a
 * selector "app in (a,b)" or "spec.nodeName=n1" reaches the server intact. */
int tby_kube_query_add(struct tby_buf *url, const char *key, const char *value);

/* Appends `text` percent-encoded (see above). */
int tby_kube_escape(struct tby_buf *out, const char *text);

/* ---- errors --------------------------------------------------------------------------- */

/* The errno for an HTTP status and the Status's reason (may be NULL), per the table above. */
int tby_kube_status_errno(long http_status, const char *reason);

/* Fills `err` for a failed answer: "<what>: <code> <Reason>: <message>", taking code,
 * reason and message from a Status object when `body` is one (else the HTTP status
 * alone). Returns the errno. `what` names the object ("pods default/web"). */
int tby_kube_status_error(struct tby_error *err, const char *what, long http_status,
                          const char *body, size_t len);

/* Whether a Status (or an ERROR watch event's object) says the resourceVersion asked for
 * is gone: 410, reason Expired or Gone. */
bool tby_kube_status_is_expired(const json_t *status);

/* ---- the client -------------------------------------------------------------------------- */

struct tby_kube_client;

int tby_kube_client_new(const struct tby_kube_config *cfg, struct tby_kube_client **out,
                        struct tby_error *err);
void tby_kube_client_free(struct tby_kube_client *c);
TBY_DEFINE_FREEP(struct tby_kube_client, tby_kube_client_free)

/* How often a 429 (or a 5xx with Retry-After) is retried before -EAGAIN (default 5), and
 * the longest single wait it honours (default 10 s; a longer Retry-After is cut to it). */
void tby_kube_client_set_retries(struct tby_kube_client *c, int retries, long max_wait_ms);

/* One object. */
int tby_kube_get(struct tby_kube_client *c, const struct tby_kube_resource *res,
                 const char *ns, const char *name, json_t **out, struct tby_error *err);

struct tby_kube_list_options {
    const char *label_selector; /* "app=web,tier in (a,b)" */
    const char *field_selector; /* "spec.nodeName=node-1", "metadata.name=x" */
    long limit;                 /* page size; 0: 500; < 0: the whole list in one answer */
};

struct tby_kube_list {
    json_t *items;          /* array of objects, in the server's order */
    char *resource_version; /* the list's: where a watch of the same set starts */
};

void tby_kube_list_clear(struct tby_kube_list *list);

/* Every object of a type (in `ns`, or all namespaces when NULL/"" for a namespaced type)
 * matching the selectors, read in pages that form one consistent snapshot. When the
 * server forgets the snapshot between pages (410 on a continue token) the list starts
 * again, a few times. `out` is cleared first; the caller clears it after use. */
int tby_kube_list(struct tby_kube_client *c, const struct tby_kube_resource *res,
                  const char *ns, const struct tby_kube_list_options *opts,
                  struct tby_kube_list *out, struct tby_error *err);

/* Reads one page as the list decoder does (for tests and fuzzing): appends the items of
 * a List answer to `items` and returns its resourceVersion and continue token (new
 * strings, NULL when absent). -EINVAL when `body` is not a List. */
int tby_kube_list_decode(const char *body, size_t len, json_t *items, char **resource_version,
                         char **continue_token, struct tby_error *err);

/* ---- writes ---------------------------------------------------------------------------- */
/* The object is namespaced by `ns`, or by its metadata.namespace when ns is NULL. *out
 * (may be NULL) gets what the server stored. */

int tby_kube_create(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const json_t *obj, json_t **out, struct tby_error *err);

/* PUT of the whole object, named by its metadata.name; metadata.resourceVersion, when
 * set, makes it conditional (-ECANCELED when the stored object is newer). */
int tby_kube_update(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const json_t *obj, json_t **out, struct tby_error *err);

/* The same to the status subresource (-EINVAL for a type without one). */
int tby_kube_update_status(struct tby_kube_client *c, const struct tby_kube_resource *res,
                           const char *ns, const json_t *obj, json_t **out,
                           struct tby_error *err);

enum tby_kube_patch_type {
    TBY_KUBE_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    TBY_KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (core types only) */
    TBY_KUBE_PATCH_JSON,      /* application/json-patch+json (RFC 6902): `patch` an array */
};

/* PATCH of an object (or its subresource, e.g. "status"; NULL for the object). */
int tby_kube_patch(struct tby_kube_client *c, const struct tby_kube_resource *res,
                   const char *ns, const char *name, enum tby_kube_patch_type type,
                   const json_t *patch, const char *subresource, json_t **out,
                   struct tby_error *err);

/* Delete only if the object still has this uid and/or resourceVersion (NULL: either). */
struct tby_kube_preconditions {
    const char *uid;
    const char *resource_version;
};

/* -ENOENT when gone already; -ECANCELED when a precondition failed. */
int tby_kube_delete(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const char *name, const struct tby_kube_preconditions *pre,
                    struct tby_error *err);

/* POST of `body` to a subresource of one object (serviceaccounts/NAME/token). */
int tby_kube_create_subresource(struct tby_kube_client *c, const struct tby_kube_resource *res,
                                const char *ns, const char *name, const char *subresource,
                                const json_t *body, json_t **out, struct tby_error *err);

/* ---- ServiceAccount tokens (TokenRequest) ----------------------------------------------- */

/* A token the API issued: a secret (never logged), and when it stops being accepted. */
struct tby_kube_token {
    char *token;
    int64_t expires; /* seconds since the epoch */
};

void tby_kube_token_clear(struct tby_kube_token *t);

/* Asks for a token of ServiceAccount ns/name valid for `seconds`, for the API's own
 * audience (TokenRequest: POST serviceaccounts/NAME/token, as `kubectl create token` and
 * calico-node do). -ENOENT when the ServiceAccount does not exist, -EACCES when this
 * client may not, -EIO for an answer without a token or expiry. */
int tby_kube_request_token(struct tby_kube_client *c, const char *ns, const char *name,
                           long seconds, struct tby_kube_token *out, struct tby_error *err);

/* An RFC 3339 time as the API writes it ("2025-08-20T07:31:02Z", a fraction and an offset
 * allowed) in seconds since the epoch; -EINVAL otherwise. */
int tby_kube_time_parse(const char *text, int64_t *seconds);

/* Changes `obj` (the current object, the caller's to edit) for a read-modify-write:
 * 0 to write it, TBY_KUBE_UNCHANGED to write nothing, or a negative errno to stop. */
typedef int (*tby_kube_mutate_fn)(json_t *obj, void *ctx, struct tby_error *err);
#define TBY_KUBE_UNCHANGED 1

/* GET, mutate, PUT (conditional on the resourceVersion read), again from the GET while
 * the PUT meets a 409 Conflict, up to `tries` times (0: 5). *out (may be NULL) gets the
 * object as stored, or as read when the callback changed nothing. */
int tby_kube_modify(struct tby_kube_client *c, const struct tby_kube_resource *res,
                    const char *ns, const char *name, tby_kube_mutate_fn mutate, void *ctx,
                    int tries, json_t **out, struct tby_error *err);

#endif
