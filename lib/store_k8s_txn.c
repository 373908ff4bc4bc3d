/* store_k8s_txn.c — commits on k8s:. The Kubernetes API writes one object per request and
 * has no transactions across objects (KDD-LAYOUT §5.2), so a transaction is accepted
 * exactly when it maps onto one request (store.c refuses the rest, as for any store with
 * single_object):
 *   put, compared on its own key at 0    POST (create; an existing object fails it)
 *   put, compared on its own key at rev  PUT with resourceVersion rev
 *   put, not compared                    PUT without resourceVersion, or POST when absent
 *   delete, compared at rev              DELETE with uid and resourceVersion preconditions
 *   delete, not compared                 DELETE
 * Anything else is -EINVAL: callers that need more (catalog, IPAM) take the path for
 * stores without multi-key transactions (tby_store_has_multi_txn). Derived objects write
 * as their converter says: an endpoint is its Pod's status patch, a Calico Node its
 * Kubernetes Node's annotations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "store_k8s.h"

static struct k8s_store *of(struct tby_store *s)
{
    return (struct k8s_store *)s;
}

/* The key space and object of a key that is to be changed, when that change can be
 * taken at all. */
static int locate(const char *key, enum tby_store_change change, const struct k8s_map **m,
                  struct k8s_loc *loc, struct tby_error *err)
{
    _cleanup_free_ char *ns = NULL;
    const char *ns_at, *name;
    size_t ns_len;
    enum k8s_access access;
    int r;

    *m = k8s_map_of_key(key, &ns_at, &ns_len, &name);
    if (!*m)
        return tby_error_set(err, -EINVAL, "not kept on k8s: (no Kubernetes object holds "
                             "%s)", key);
    access = (*m)->conv->access;
    if (access == K8S_READ_ONLY ||
        (access == K8S_UPDATE_ONLY && change != TBY_CHANGE_UPDATE && !(*m)->conv->remove))
        return tby_error_set(err, -EPERM, "on k8s: %s", (*m)->conv->refusal);
    if (ns_at && !(ns = strndup(ns_at, ns_len)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = (*m)->conv->locate(*m, ns, name, loc, err);
    if (r == -ENOENT)
        return tby_error_set(err, -EINVAL, "on k8s: %s names no Kubernetes object", key);
    return r;
}

int k8s_check_change(struct tby_store *store, const char *key, enum tby_store_change change,
                     struct tby_error *err)
{
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    const struct k8s_map *m;

    (void)store;
    return locate(key, change, &m, &loc, err);
}

/* The object as it is now, for a write compared at `expect` (-1: not compared): from the
 * cache when it is at that revision, else read (a GET the store's counters count as a
 * get). *raw NULL: it does not exist. */
static int current(struct k8s_store *s, const struct k8s_map *m, const struct k8s_loc *loc,
                   const char *key, int64_t expect, json_t **raw, struct tby_error *err)
{
    const json_t *cached = m->conv->fresh_read ? NULL : k8s_raw_get(s, key);
    int64_t rev;
    int r;

    *raw = NULL;
    if (cached && k8s_obj_rev(cached, &rev, NULL) == 0 && (expect < 0 || rev == expect)) {
        *raw = json_incref((json_t *)cached);
        return 0;
    }
    tby_store_count(&s->base.stats.gets);
    r = k8s_fetch(s, loc, raw, err);
    if (r == -ENOENT) {
        *raw = NULL;
        return 0;
    }
    return r;
}

static int changed(const char *key, int64_t expect, struct tby_error *err)
{
    return tby_error_set(err, -ECANCELED, "%s: changed since revision %lld (compare failed)",
                         key, (long long)expect);
}

/* Sends a request; *out (may be NULL) gets what the server answered. Errors of a write
 * that was compared become -ECANCELED, as the other stores say it. */
static int send(struct k8s_store *s, const struct k8s_loc *loc, const json_t *raw,
                const struct k8s_request *req, json_t **out, struct tby_error *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(raw, "metadata"),
                                                         "name"));
    struct tby_kube_preconditions pre = { req->uid, req->resource_version };
    int r;

    *out = NULL;
    if (!name)
        name = loc->name;
    switch (req->verb) {
    case K8S_POST:
        return tby_kube_create(s->client, loc->res, loc->ns, req->body, out, err);
    case K8S_PUT:
        return tby_kube_update(s->client, loc->res, loc->ns, req->body, out, err);
    case K8S_PUT_STATUS:
        return tby_kube_update_status(s->client, loc->res, loc->ns, req->body, out, err);
    case K8S_PATCH_STATUS:
        return tby_kube_patch(s->client, loc->res, loc->ns, name, TBY_KUBE_PATCH_STRATEGIC,
                              req->body, "status", out, err);
    case K8S_DELETE:
        r = tby_kube_delete(s->client, loc->res, loc->ns, name, &pre, err);
        /* Not read first: the object may go by its other name (an old policy name). */
        if (r == -ENOENT && !raw && loc->alt_name)
            r = tby_kube_delete(s->client, loc->res, loc->ns, loc->alt_name, &pre, err);
        return r;
    }
    return tby_error_set(err, -EINVAL, "unknown request");
}

static int put_key(struct k8s_store *s, const struct tby_txn_op *op, int64_t expect,
                   int64_t *rev, struct tby_error *err)
{
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    _cleanup_(k8s_request_clear) struct k8s_request req = { 0 };
    _cleanup_json_ json_t *value = NULL, *raw = NULL, *stored = NULL;
    const struct k8s_map *m;
    struct k8s_write w;
    json_error_t jerr;
    int64_t raw_rev = 0;
    int r = locate(op->key, expect == 0 ? TBY_CHANGE_CREATE : TBY_CHANGE_UPDATE, &m, &loc,
                   err);

    if (r == -EPERM)
        return tby_error_prefix(err, "%s", op->key);
    if (r < 0)
        return r;
    value = json_loadb(op->value, op->value_len, 0, &jerr);
    if (!value)
        return tby_error_set(err, -EINVAL, "%s: value is not JSON: %s", op->key, jerr.text);
    if (expect != 0 || m->conv->fresh_read) {
        r = current(s, m, &loc, op->key, expect, &raw, err);
        if (r < 0)
            return r;
        if (raw && (r = k8s_obj_rev(raw, &raw_rev, err)) < 0)
            return r;
        if (expect > 0 && (!raw || raw_rev != expect))
            return changed(op->key, expect, err);
        if (!raw && m->conv->access == K8S_UPDATE_ONLY)
            return tby_error_set(err, -ENOENT, "%s: no such Kubernetes object (on k8s: %s)",
                                 op->key, m->conv->refusal);
    }
    w = (struct k8s_write){ op->key, m, &loc, value, raw, expect };
    r = m->conv->put(&s->codec, &w, &req, err);
    if (r == 0)
        r = send(s, &loc, raw, &req, &stored, err);
    if (r == -EEXIST || (r == -ENOENT && expect > 0))
        r = changed(op->key, expect, err);
    if (r == 0)
        r = k8s_obj_rev(stored, rev, err);
    k8s_raw_put(s, op->key, r == 0 ? stored : NULL);
    return r;
}

static int delete_key(struct k8s_store *s, const char *key, int64_t expect, int64_t *rev,
                      struct tby_error *err)
{
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    _cleanup_(k8s_request_clear) struct k8s_request req = { 0 };
    _cleanup_json_ json_t *raw = NULL, *answer = NULL;
    const struct k8s_map *m;
    int64_t raw_rev = 0;
    char rv[24];
    int r = locate(key, TBY_CHANGE_DELETE, &m, &loc, err);

    if (r == -EPERM)
        return tby_error_prefix(err, "%s", key);
    if (r < 0)
        return r;
    if (expect >= 0 || m->conv->remove) {
        r = current(s, m, &loc, key, expect, &raw, err);
        if (r == 0 && raw)
            r = k8s_obj_rev(raw, &raw_rev, err);
        if (r < 0)
            return r;
        if (!raw)
            return expect <= 0 ? 0 : changed(key, expect, err);
        if (expect >= 0 && raw_rev != expect)
            return changed(key, expect, err);
    }
    if (m->conv->remove) {
        struct k8s_write w = { key, m, &loc, NULL, raw, expect };

        r = m->conv->remove(&s->codec, &w, &req, err);
    } else {
        req.verb = K8S_DELETE;
        snprintf(rv, sizeof(rv), "%lld", (long long)expect);
        req.uid = raw ? strdup(json_string_value(json_object_get(
                            json_object_get(raw, "metadata"), "uid")) ?: "")
                      : NULL;
        req.resource_version = expect > 0 ? strdup(rv) : NULL;
        if ((raw && !req.uid) || (expect > 0 && !req.resource_version))
            r = tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (r == 0)
        r = send(s, &loc, raw, &req, &answer, err);
    k8s_raw_put(s, key, NULL);
    if (r == -ENOENT && expect < 0)
        r = 0; /* deleting a missing key inside a transaction is not an error */
    else if (r == -ENOENT)
        r = changed(key, expect, err);
    *rev = raw_rev;
    return r;
}

/* store.c took only what maps onto one request (single_object): one put or delete,
 * compared on its own key or not at all. */
int k8s_commit(struct tby_store *store, const struct tby_txn *txn, int64_t *rev,
               struct tby_error *err)
{
    struct k8s_store *s = of(store);
    const struct tby_txn_op *op = &txn->ops[0];
    int64_t expect = txn->n_cmps ? txn->cmps[0].mod_rev : -1;

    int r;

    *rev = 0;
    r = op->is_delete ? delete_key(s, op->key, expect, rev, err)
                      : put_key(s, op, expect, rev, err);
    k8s_offer_drop(s); /* what was offered is older than this write */
    return r;
}
