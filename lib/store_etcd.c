/* store_etcd.c — the distributed datastore: tabby's store on an etcd v3 cluster, through
 * etcd's JSON gateway.
 *
 * etcd already has the store's model (one global revision, create/mod revisions and
 * versions per key, transactions comparing mod revisions, watches from a revision), so
 * each operation is one request: get and range are /v3/kv/range (ranges paged at one
 * revision), commit is /v3/kv/txn, compact is /v3/kv/compaction. Watches are in
 * store_etcd_watch.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "etcd_codec.h"
#include "store_etcd.h"

/* Keys per range request: large ranges are read in pages of this many at one revision. */
#define PAGE_KEYS 1000
/* A paged range restarts when compaction overtakes it; this many times at most. */
#define RANGE_ATTEMPTS 3

struct etcd_store {
    struct tby_store base;
    struct etcd_config *cfg;
    struct etcd_client client;
};

static struct etcd_store *to_etcd(struct tby_store *s)
{
    return (struct etcd_store *)s;
}

static int out_of_memory(struct tby_error *err)
{
    return tby_error_set(err, -ENOMEM, "out of memory");
}

static int malformed(struct etcd_store *st, const char *what, struct tby_error *err)
{
    return tby_error_set(err, -EIO, "etcd %s: malformed answer to %s",
                         etcd_client_endpoint(&st->client), what);
}

/* Sends `req`, which it takes; NULL means building it ran out of memory. */
static int request(struct etcd_store *st, const char *path, json_t *req,
                   enum etcd_retry retry, json_t **answer, struct tby_error *err)
{
    int r;

    if (!req)
        return out_of_memory(err);
    r = etcd_call(&st->client, path, req, retry, answer, err);
    json_decref(req);
    return r;
}

int etcd_prefix_range(const char *prefix, json_t **key, json_t **range_end)
{
    _cleanup_free_ char *end = tby_prefix_end(prefix);

    *key = NULL;
    *range_end = NULL;
    if (!end)
        return -ENOMEM;
    /* etcd refuses an empty key; "\0" is the smallest key, and a range_end of "\0" means
     * "no upper bound". */
    *key = *prefix ? etcd_json_key(prefix) : etcd_json_bytes("", 1);
    *range_end = *end ? etcd_json_key(end) : etcd_json_bytes("", 1);
    if (*key && *range_end)
        return 0;
    json_decref(*key);
    json_decref(*range_end);
    *key = *range_end = NULL;
    return -ENOMEM;
}

/* ---- reads ------------------------------------------------------------------ */

static int ed_get(struct tby_store *s, const char *key, struct tby_kv *out,
                  struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    _cleanup_json_ json_t *answer = NULL;
    const json_t *kvs;
    int r;

    r = request(st, "/v3/kv/range", json_pack("{s:o}", "key", etcd_json_key(key)),
                ETCD_IDEMPOTENT, &answer, err);
    if (r < 0)
        return tby_error_prefix(err, "get %s", key);
    kvs = json_object_get(answer, "kvs");
    if (json_array_size(kvs) == 0)
        return tby_error_set(err, -ENOENT, "%s: not found", key);
    r = etcd_kv_from_json(json_array_get(kvs, 0), out);
    if (r == -ENOMEM)
        return out_of_memory(err);
    return r < 0 ? malformed(st, "get", err) : 0;
}

static json_t *range_request(json_t *from, json_t *end, int64_t rev)
{
    json_t *req = json_object();

    if (!req || json_object_set(req, "key", from) < 0 ||
        json_object_set(req, "range_end", end) < 0 ||
        json_object_set_new(req, "limit", etcd_json_int64(PAGE_KEYS)) < 0 ||
        (rev > 0 && json_object_set_new(req, "revision", etcd_json_int64(rev)) < 0)) {
        json_decref(req);
        return NULL;
    }
    return req;
}

static int push_kvs(const json_t *kvs, struct tby_kv_list *out)
{
    size_t i;
    const json_t *item;

    json_array_foreach(kvs, i, item) {
        struct tby_kv kv;
        int r = etcd_kv_from_json(item, &kv);

        if (r == 0 && (r = tby_kv_list_push(out, &kv)) < 0)
            tby_kv_clear(&kv);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Reads one page of keys from `from` on, at revision out->rev (0: the latest, which then
 * becomes out->rev so later pages read the same snapshot). */
static int read_page(struct etcd_store *st, json_t *from, json_t *end, struct tby_kv_list *out,
                     bool *more, struct tby_error *err)
{
    _cleanup_json_ json_t *answer = NULL;
    int r = request(st, "/v3/kv/range", range_request(from, end, out->rev), ETCD_IDEMPOTENT,
                    &answer, err);

    if (r < 0)
        return r;
    if (out->rev == 0 && etcd_header_revision(answer, &out->rev) < 0)
        return malformed(st, "range", err);
    *more = etcd_get_bool(answer, "more");
    r = push_kvs(json_object_get(answer, "kvs"), out);
    if (r == -ENOMEM)
        return out_of_memory(err);
    if (r < 0 || (*more && out->n == 0))
        return malformed(st, "range", err);
    return 0;
}

static int range_once(struct etcd_store *st, const char *prefix, struct tby_kv_list *out,
                      struct tby_error *err)
{
    _cleanup_json_ json_t *from = NULL;
    _cleanup_json_ json_t *end = NULL;
    bool more = true;

    if (etcd_prefix_range(prefix, &from, &end) < 0)
        return out_of_memory(err);
    while (more) {
        const char *last;
        int r = read_page(st, from, end, out, &more, err);

        if (r < 0)
            return r;
        if (!more)
            break;
        /* The next page starts just after the last key: the key with a NUL appended. */
        last = out->items[out->n - 1].key;
        json_decref(from);
        from = etcd_json_bytes(last, strlen(last) + 1);
        if (!from)
            return out_of_memory(err);
    }
    return 0;
}

static int ed_range(struct tby_store *s, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    int r;

    for (int attempt = 1;; attempt++) {
        r = range_once(st, prefix, out, err);
        if (r == 0)
            return 0;
        tby_kv_list_clear(out);
        /* Compaction passed the revision the first page was read at: start again. */
        if (r != -ESTALE || attempt == RANGE_ATTEMPTS)
            return tby_error_prefix(err, "range %s", prefix);
    }
}

/* An empty transaction: a linearizable read that needs no permission on any key. */
static int ed_revision(struct tby_store *s, int64_t *rev, struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    _cleanup_json_ json_t *answer = NULL;
    int r = request(st, "/v3/kv/txn", json_object(), ETCD_IDEMPOTENT, &answer, err);

    if (r < 0)
        return tby_error_prefix(err, "reading the revision");
    if (etcd_header_revision(answer, rev) < 0)
        return malformed(st, "txn", err);
    return 0;
}

/* ---- writes ----------------------------------------------------------------- */

static json_t *compare_json(const struct tby_txn_cmp *cmp)
{
    json_t *key, *end;

    /* result EQUAL is the default and so left out; a missing key's mod revision is 0. */
    if (!cmp->prefix)
        return json_pack("{s:o, s:s, s:o}", "key", etcd_json_key(cmp->key), "target", "MOD",
                         "mod_revision", etcd_json_int64(cmp->mod_rev));
    /* Over a range etcd holds the compare when it holds for every key in it (an empty
     * range compares a missing key's 0). */
    if (etcd_prefix_range(cmp->key, &key, &end) < 0)
        return NULL;
    return json_pack("{s:o, s:o, s:s, s:s, s:o}", "key", key, "range_end", end, "target", "MOD",
                     "result", "LESS", "mod_revision", etcd_json_int64(cmp->mod_rev + 1));
}

static json_t *op_json(const struct tby_txn_op *op)
{
    if (op->is_delete)
        return json_pack("{s:{s:o}}", "request_delete_range", "key", etcd_json_key(op->key));
    return json_pack("{s:{s:o, s:o}}", "request_put", "key", etcd_json_key(op->key), "value",
                     etcd_json_bytes(op->value, op->value_len));
}

/* When a compare fails, etcd runs the failure ops instead: reading each compared key
 * (keys only) tells which compare failed, for the error message. */
static json_t *failure_read_json(const struct tby_txn_cmp *cmp)
{
    json_t *key, *end;

    if (!cmp->prefix)
        return json_pack("{s:{s:o, s:b}}", "request_range", "key", etcd_json_key(cmp->key),
                         "keys_only", 1);
    /* The newest change under the prefix. */
    if (etcd_prefix_range(cmp->key, &key, &end) < 0)
        return NULL;
    return json_pack("{s:{s:o, s:o, s:b, s:i, s:s, s:s}}", "request_range", "key", key,
                     "range_end", end, "keys_only", 1, "limit", 1, "sort_order", "DESCEND",
                     "sort_target", "MOD");
}

static json_t *txn_request(const struct tby_txn *txn)
{
    json_t *req = json_pack("{s:[], s:[], s:[]}", "compare", "success", "failure");
    json_t *compare = json_object_get(req, "compare");
    json_t *success = json_object_get(req, "success");
    json_t *failure = json_object_get(req, "failure");
    bool ok = req != NULL;

    for (size_t i = 0; ok && i < txn->n_cmps; i++)
        ok = json_array_append_new(compare, compare_json(&txn->cmps[i])) == 0 &&
             json_array_append_new(failure, failure_read_json(&txn->cmps[i])) == 0;
    for (size_t i = 0; ok && i < txn->n_ops; i++)
        ok = json_array_append_new(success, op_json(&txn->ops[i])) == 0;
    if (!ok) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* Names the first compare that did not hold, from the failure reads' answers. */
static int compare_failed(const struct tby_txn *txn, const json_t *answer,
                          struct tby_error *err)
{
    const json_t *responses = json_object_get(answer, "responses");

    for (size_t i = 0; i < txn->n_cmps; i++) {
        const json_t *read = json_object_get(json_array_get(responses, i), "response_range");
        const json_t *kvs = json_object_get(read, "kvs");
        int64_t mod_rev = 0;

        if (json_array_size(kvs) > 0 &&
            etcd_get_int64(json_array_get(kvs, 0), "mod_revision", &mod_rev) < 0)
            break;
        if (txn->cmps[i].prefix && mod_rev > txn->cmps[i].mod_rev)
            return tby_error_set(err, -ECANCELED,
                                 "%s…: changed concurrently (mod revision %" PRId64
                                 ", expected at most %" PRId64 ")",
                                 txn->cmps[i].key, mod_rev, txn->cmps[i].mod_rev);
        if (!txn->cmps[i].prefix && mod_rev != txn->cmps[i].mod_rev)
            return tby_error_set(err, -ECANCELED,
                                 "%s: changed concurrently (mod revision %" PRId64
                                 ", expected %" PRId64 ")",
                                 txn->cmps[i].key, mod_rev, txn->cmps[i].mod_rev);
    }
    return tby_error_set(err, -ECANCELED, "transaction: a compare did not hold");
}

static int ed_commit(struct tby_store *s, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    _cleanup_json_ json_t *answer = NULL;
    int r = request(st, "/v3/kv/txn", txn_request(txn), ETCD_ONCE, &answer, err);

    if (r < 0)
        return tby_error_prefix(err, "transaction");
    if (!etcd_get_bool(answer, "succeeded"))
        return compare_failed(txn, answer, err);
    if (etcd_header_revision(answer, rev) < 0)
        return malformed(st, "txn", err);
    return 0;
}

static int ed_compact(struct tby_store *s, int64_t rev, struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    _cleanup_json_ json_t *answer = NULL;
    int r = request(st, "/v3/kv/compaction",
                    json_pack("{s:o}", "revision", etcd_json_int64(rev)), ETCD_IDEMPOTENT,
                    &answer, err);

    /* etcd refuses to compact at or below its compaction point: that history is gone
     * already, which is what was asked. */
    if (r == -ESTALE)
        return 0;
    return r < 0 ? tby_error_prefix(err, "compact to revision %" PRId64, rev) : 0;
}

/* ---- watch, open, close ------------------------------------------------------ */

static int ed_watch(struct tby_store *s, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err)
{
    struct etcd_store *st = to_etcd(s);
    int64_t current;
    int r;

    if (from_rev <= 0) {
        r = ed_revision(s, &current, err);
        if (r < 0)
            return tby_error_prefix(err, "watch %s", prefix);
        from_rev = current + 1;
    }
    return etcd_watch_open(st->cfg, st->client.current, prefix, from_rev, out, err);
}

static void ed_close(struct tby_store *s)
{
    struct etcd_store *st = to_etcd(s);

    etcd_client_clear(&st->client);
    etcd_config_free(st->cfg);
    free(st);
}

static const struct tby_store_ops etcd_ops = {
    .get = ed_get,
    .range = ed_range,
    .revision = ed_revision,
    .commit = ed_commit,
    .compact = ed_compact,
    .watch = ed_watch,
    .close = ed_close,
};

/* Nothing is sent yet: a store opened while etcd is down works once etcd is back. */
int tby_store_etcd_open(const char *location, const struct tby_store_options *opts,
                        struct tby_store **out, struct tby_error *err)
{
    struct etcd_store *st = calloc(1, sizeof(*st));
    int r;

    if (!st)
        return out_of_memory(err);
    st->base.ops = &etcd_ops;
    r = etcd_config_new(location, opts, &st->cfg, err);
    if (r == 0)
        r = etcd_client_init(&st->client, st->cfg, err);
    if (r < 0) {
        etcd_client_clear(&st->client);
        etcd_config_free(st->cfg);
        free(st);
        return r;
    }
    *out = &st->base;
    return 0;
}
