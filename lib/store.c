/* store.c — backend selection by URI, argument checks, read counters, transactions, the
 * sync's dispatch and record helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "store_backend.h"

void tby_store_options_from_env(struct tby_store_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->endpoints = getenv("ETCD_ENDPOINTS");
    opts->ca_cert_file = getenv("ETCD_CA_CERT_FILE");
    opts->cert_file = getenv("ETCD_CERT_FILE");
    opts->key_file = getenv("ETCD_KEY_FILE");
    opts->username = getenv("ETCD_USERNAME");
    opts->password = getenv("ETCD_PASSWORD");
}

int tby_store_open(const char *uri, struct tby_store **out, struct tby_error *err)
{
    struct tby_store_options opts;

    tby_store_options_from_env(&opts);
    return tby_store_open_options(uri, &opts, out, err);
}

const char *tby_store_local_file(const char *uri)
{
    if (!uri || !*uri || strncmp(uri, "etcd:", 5) == 0 || strncmp(uri, "k8s:", 4) == 0)
        return NULL;
    if (strncmp(uri, "sqlite:", 7) == 0)
        return uri + 7;
    return strchr(uri, ':') && !strchr(uri, '/') ? NULL : uri;
}

int tby_store_open_options(const char *uri, const struct tby_store_options *opts,
                           struct tby_store **out, struct tby_error *err)
{
    const char *file = tby_store_local_file(uri);
    struct tby_store *store = NULL;
    struct stat st;
    int r;

    if (!uri || !*uri)
        return tby_error_set(err, -EINVAL, "empty datastore URI");
    if (file && opts && opts->no_create && stat(file, &st) < 0 && errno == ENOENT)
        r = tby_store_empty_open(file, &store, err);
    else if (file)
        r = tby_store_sqlite_open(file, &store, err);
    else if (strncmp(uri, "etcd:", 5) == 0)
        r = tby_store_etcd_open(uri + 5, opts, &store, err);
    else if (strncmp(uri, "k8s:", 4) == 0)
        r = tby_store_k8s_open(uri + 4, opts, &store, err);
    else
        return tby_error_set(err, -EINVAL, "datastore %s: unknown scheme (use sqlite:PATH, "
                             "etcd:URL or k8s:[KUBECONFIG])", uri);
    if (r < 0)
        return r;
    store->uri = strdup(uri);
    store->single_object = store->single_object || (opts && opts->single_object);
    if (!store->uri) {
        tby_store_close(store);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    *out = store;
    return 0;
}

void tby_store_release_memory(struct tby_store *store)
{
    if (store && store->ops->release_memory)
        store->ops->release_memory(store);
}

void tby_store_close(struct tby_store *store)
{
    char *uri;

    if (!store)
        return;
    uri = store->uri;
    store->ops->close(store);
    free(uri);
}

bool tby_store_has_multi_txn(const struct tby_store *store)
{
    return !store->single_object;
}

bool tby_store_knows_services(const struct tby_store *store)
{
    return tby_store_kube_config(store) != NULL;
}

/* One put or delete, compared on its own key or not at all: what maps onto one request
 * of an API without transactions. */
static int check_single_object(const struct tby_store *store, const struct tby_txn *txn,
                               struct tby_error *err)
{
    if (txn->n_ops == 1 && txn->n_cmps <= 1 &&
        (txn->n_cmps == 0 ||
         (!txn->cmps[0].prefix && strcmp(txn->cmps[0].key, txn->ops[0].key) == 0)))
        return 0;
    return tby_error_set(err, -EINVAL, "%s: %s has no multi-object transactions "
                         "(%zu compares, %zu writes in one commit)",
                         txn->n_ops ? txn->ops[0].key : txn->n_cmps ? txn->cmps[0].key : "",
                         strncmp(store->uri, "k8s:", 4) == 0 ? "the Kubernetes API"
                                                             : "the datastore",
                         txn->n_cmps, txn->n_ops);
}

const char *tby_store_uri(const struct tby_store *store)
{
    return store->uri;
}

int tby_store_get(struct tby_store *store, const char *key, struct tby_kv *out,
                  struct tby_error *err)
{
    int64_t t0 = tby_monotonic_us();
    int r;

    memset(out, 0, sizeof(*out));
    tby_store_count(&store->stats.gets);
    r = store->ops->get(store, key, out, err);
    tby_store_add(&store->stats.read_us, (uint64_t)(tby_monotonic_us() - t0));
    return r;
}

int tby_store_range(struct tby_store *store, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err)
{
    int64_t t0 = tby_monotonic_us();
    int r;

    memset(out, 0, sizeof(*out));
    tby_store_count(&store->stats.ranges);
    r = store->ops->range(store, prefix, out, err);
    tby_store_add(&store->stats.read_us, (uint64_t)(tby_monotonic_us() - t0));
    return r;
}

int tby_store_revision(struct tby_store *store, int64_t *rev, struct tby_error *err)
{
    return store->ops->revision(store, rev, err);
}

struct tby_store_stats tby_store_stats(const struct tby_store *store)
{
    return (struct tby_store_stats){
        .gets = __atomic_load_n(&store->stats.gets, __ATOMIC_RELAXED),
        .ranges = __atomic_load_n(&store->stats.ranges, __ATOMIC_RELAXED),
        .watches = __atomic_load_n(&store->stats.watches, __ATOMIC_RELAXED),
        .commits = __atomic_load_n(&store->stats.commits, __ATOMIC_RELAXED),
        .conflicts = __atomic_load_n(&store->stats.conflicts, __ATOMIC_RELAXED),
        .bytes_written = __atomic_load_n(&store->stats.bytes_written, __ATOMIC_RELAXED),
        .read_us = __atomic_load_n(&store->stats.read_us, __ATOMIC_RELAXED),
        .commit_us = __atomic_load_n(&store->stats.commit_us, __ATOMIC_RELAXED),
        .lock_wait_us = __atomic_load_n(&store->stats.lock_wait_us, __ATOMIC_RELAXED),
        .lock_hold_us = __atomic_load_n(&store->stats.lock_hold_us, __ATOMIC_RELAXED),
        .lock_hold_max_us = __atomic_load_n(&store->stats.lock_hold_max_us, __ATOMIC_RELAXED),
    };
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* etcd refuses a txn that names one key twice among its ops; every backend does, so that
 * they agree. */
static int check_duplicate_keys(const struct tby_txn *txn, struct tby_error *err)
{
    _cleanup_free_ char **keys = NULL;
    int r = 0;

    if (txn->n_ops < 2)
        return 0;
    keys = calloc(txn->n_ops, sizeof(*keys));
    if (!keys)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < txn->n_ops; i++)
        keys[i] = txn->ops[i].key;
    qsort(keys, txn->n_ops, sizeof(*keys), compare_keys);
    for (size_t i = 1; i < txn->n_ops && r == 0; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            r = tby_error_set(err, -EINVAL, "%s: named twice in one transaction", keys[i]);
    return r;
}

int tby_store_commit(struct tby_store *store, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err)
{
    int64_t ignored, t0;
    uint64_t bytes = 0;
    int r = store->single_object ? check_single_object(store, txn, err)
                                 : check_duplicate_keys(txn, err);

    if (r < 0)
        return r;
    tby_store_count(&store->stats.commits);
    for (size_t i = 0; i < txn->n_ops; i++)
        bytes += txn->ops[i].value_len;
    tby_store_add(&store->stats.bytes_written, bytes);
    t0 = tby_monotonic_us();
    r = store->ops->commit(store, txn, rev ? rev : &ignored, err);
    tby_store_add(&store->stats.commit_us, (uint64_t)(tby_monotonic_us() - t0));
    if (r == -ECANCELED)
        tby_store_count(&store->stats.conflicts);
    return r;
}

int tby_store_put(struct tby_store *store, const char *key, const char *value,
                  size_t value_len, int64_t *rev, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

    if (!txn || tby_txn_put(txn, key, value, value_len) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return tby_store_commit(store, txn, rev, err);
}

int tby_store_delete(struct tby_store *store, const char *key, int64_t *rev,
                     struct tby_error *err)
{
    struct tby_kv kv;
    int r;

    /* Compare on the revision just read, so a concurrent delete is reported as missing. */
    for (;;) {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = NULL;

        r = tby_store_get(store, key, &kv, err);
        if (r < 0)
            return r;
        txn = tby_txn_new();
        if (!txn || tby_txn_compare(txn, key, kv.mod_rev) < 0 || tby_txn_delete(txn, key) < 0) {
            tby_kv_clear(&kv);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
        tby_kv_clear(&kv);
        r = tby_store_commit(store, txn, rev, err);
        if (r != -ECANCELED)
            return r;
    }
}

int tby_store_cas(struct tby_store *store, const char *key, int64_t expect_mod_rev,
                  const char *value, size_t value_len, int64_t *rev, struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();

    if (!txn || tby_txn_compare(txn, key, expect_mod_rev) < 0 ||
        tby_txn_put(txn, key, value, value_len) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return tby_store_commit(store, txn, rev, err);
}

int tby_store_check_change(struct tby_store *store, const char *key,
                           enum tby_store_change change, struct tby_error *err)
{
    return store->ops->check_change ? store->ops->check_change(store, key, change, err) : 0;
}

int tby_store_compact(struct tby_store *store, int64_t rev, struct tby_error *err)
{
    return store->ops->compact(store, rev, err);
}

/* ---- transactions ------------------------------------------------------------ */

struct tby_txn *tby_txn_new(void)
{
    return calloc(1, sizeof(struct tby_txn));
}

void tby_txn_free(struct tby_txn *txn)
{
    if (!txn)
        return;
    for (size_t i = 0; i < txn->n_cmps; i++)
        free(txn->cmps[i].key);
    for (size_t i = 0; i < txn->n_ops; i++) {
        free(txn->ops[i].key);
        free(txn->ops[i].value);
    }
    free(txn->cmps);
    free(txn->ops);
    free(txn);
}

static int add_compare(struct tby_txn *txn, const char *key, int64_t mod_rev, bool prefix)
{
    if (TBY_GROW(txn->cmps, txn->cap_cmps, txn->n_cmps + 1) < 0)
        return -ENOMEM;
    txn->cmps[txn->n_cmps].key = strdup(key);
    if (!txn->cmps[txn->n_cmps].key)
        return -ENOMEM;
    txn->cmps[txn->n_cmps].mod_rev = mod_rev;
    txn->cmps[txn->n_cmps].prefix = prefix;
    txn->n_cmps++;
    return 0;
}

int tby_txn_compare(struct tby_txn *txn, const char *key, int64_t mod_rev)
{
    return add_compare(txn, key, mod_rev, false);
}

int tby_txn_compare_prefix(struct tby_txn *txn, const char *prefix, int64_t max_mod_rev)
{
    return add_compare(txn, prefix, max_mod_rev, true);
}

static int txn_add_op(struct tby_txn *txn, bool is_delete, const char *key, const char *value,
                      size_t value_len)
{
    struct tby_txn_op *op;

    if (TBY_GROW(txn->ops, txn->cap_ops, txn->n_ops + 1) < 0)
        return -ENOMEM;
    op = &txn->ops[txn->n_ops];
    memset(op, 0, sizeof(*op));
    op->is_delete = is_delete;
    op->key = strdup(key);
    if (!op->key)
        return -ENOMEM;
    if (!is_delete) {
        op->value = malloc(value_len + 1);
        if (!op->value) {
            free(op->key);
            return -ENOMEM;
        }
        memcpy(op->value, value, value_len);
        op->value[value_len] = '\0';
        op->value_len = value_len;
    }
    txn->n_ops++;
    return 0;
}

int tby_txn_put(struct tby_txn *txn, const char *key, const char *value, size_t value_len)
{
    return txn_add_op(txn, false, key, value, value_len);
}

int tby_txn_delete(struct tby_txn *txn, const char *key)
{
    return txn_add_op(txn, true, key, NULL, 0);
}

size_t tby_txn_op_count(const struct tby_txn *txn)
{
    return txn->n_ops;
}

/* ---- watch ------------------------------------------------------------------- */

int tby_store_watch(struct tby_store *store, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err)
{
    tby_store_count(&store->stats.watches);
    return store->ops->watch(store, prefix, from_rev, out, err);
}

int tby_watch_fd(struct tby_watch *watch)
{
    return watch->ops->fd(watch);
}

int tby_watch_next(struct tby_watch *watch, struct tby_event_list *out, int timeout_ms,
                   struct tby_error *err)
{
    return watch->ops->next(watch, out, timeout_ms, err);
}

int64_t tby_watch_next_rev(const struct tby_watch *watch)
{
    return watch->next_rev;
}

void tby_watch_free(struct tby_watch *watch)
{
    if (watch)
        watch->ops->free(watch);
}

/* ---- sync -------------------------------------------------------------------- */

int tby_store_sync_open(struct tby_store *store, const char *const *prefixes, size_t n,
                        struct tby_sync **out, struct tby_error *err)
{
    *out = NULL;
    if (n == 0)
        return tby_error_set(err, -EINVAL, "a sync needs at least one prefix");
    for (size_t i = 0; i < n; i++)
        if (!prefixes[i])
            return tby_error_set(err, -EINVAL, "a sync's prefix is missing");
    if (store->ops->sync_open)
        return store->ops->sync_open(store, prefixes, n, out, err);
    return tby_store_sync_generic_open(store, prefixes, n, out, err);
}

int tby_store_sync_fd(const struct tby_sync *sync)
{
    return sync->ops->fd(sync);
}

int tby_store_sync_timeout_ms(const struct tby_sync *sync)
{
    return sync->ops->timeout_ms(sync);
}

int tby_store_sync_next(struct tby_sync *sync, struct tby_event_list *out, int timeout_ms,
                        struct tby_error *err)
{
    struct tby_error local = { 0 };
    int r;

    if (!err)
        err = &local;
    r = sync->ops->next(sync, out, timeout_ms, err);
    if (r < 0) {
        sync->stats.errors++;
        snprintf(sync->stats.last_error, sizeof(sync->stats.last_error), "%s",
                 tby_error_str(err));
    } else if (sync->online) {
        sync->stats.last_error[0] = '\0';
    }
    return r;
}

void tby_store_sync_decoded(struct tby_sync *sync)
{
    sync->decoded = true;
}

bool tby_store_sync_online(const struct tby_sync *sync)
{
    return sync->online;
}

const struct tby_sync_stats *tby_store_sync_stats(const struct tby_sync *sync)
{
    return &sync->stats;
}

void tby_store_sync_free(struct tby_sync *sync)
{
    if (sync)
        sync->ops->free(sync);
}

/* ---- records ----------------------------------------------------------------- */

void tby_kv_clear(struct tby_kv *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void tby_kv_list_clear(struct tby_kv_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        tby_kv_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

void tby_event_list_clear(struct tby_event_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        tby_kv_clear(&list->items[i].kv);
        tby_resource_free(list->items[i].res);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* Pushes move *kv into the list (kv is zeroed). The lists grow as TBY_GROW does, their
 * capacity derived from n (what TBY_GROW made room for), which keeps the structs plain. */
static size_t held(size_t n)
{
    size_t cap = 1;

    while (cap < n)
        cap *= 2;
    return n ? cap : 0;
}

int tby_kv_list_push(struct tby_kv_list *list, struct tby_kv *kv)
{
    size_t cap = held(list->n);

    if (TBY_GROW(list->items, cap, list->n + 1) < 0)
        return -ENOMEM;
    list->items[list->n++] = *kv;
    memset(kv, 0, sizeof(*kv));
    return 0;
}

int tby_event_list_push(struct tby_event_list *list, enum tby_event_type type,
                        struct tby_kv *kv)
{
    size_t cap = held(list->n);

    if (TBY_GROW(list->items, cap, list->n + 1) < 0)
        return -ENOMEM;
    list->items[list->n].type = type;
    list->items[list->n].kv = *kv;
    list->items[list->n].res = NULL;
    list->n++;
    memset(kv, 0, sizeof(*kv));
    return 0;
}

char *tby_prefix_end(const char *prefix)
{
    size_t len = strlen(prefix);
    char *end = strdup(prefix);

    if (!end)
        return NULL;
    while (len > 0) {
        unsigned char c = (unsigned char)end[len - 1];

        if (c < 0xff) {
            end[len - 1] = (char)(c + 1);
            end[len] = '\0';
            return end;
        }
        len--;
    }
    end[0] = '\0';
    return end;
}

int64_t tby_monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tby_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
