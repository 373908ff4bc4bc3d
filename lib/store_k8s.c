/* store_k8s.c — the k8s: datastore (store_k8s.h): opening a connection to a Kubernetes API
 * server, reads of one key (a GET) and of a prefix (a paged list of every API type behind
 * it), and the cache of objects last read that writes apply tabby's values onto. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/kube_config.h"
#include "kube_client.h"
#include "store_k8s.h"

/* Objects kept for writes; past this many the cache starts again (a write then reads its
 * object anew). */
#define RAW_CACHE_MAX 4096

static struct k8s_store *of(struct tby_store *s)
{
    return (struct k8s_store *)s;
}

/* ---- the raw-object cache ------------------------------------------------------------------ */

struct k8s_raw {
    struct tby_hnode node;
    json_t *obj;
    char key[];
};

static const char *raw_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct k8s_raw, node)->key;
}

static struct k8s_raw *raw_find(struct k8s_store *s, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&s->raw, key, raw_key);

    return n ? TBY_CONTAINER_OF(n, struct k8s_raw, node) : NULL;
}

static void raw_drop(struct k8s_store *s, struct k8s_raw *r)
{
    tby_hmap_remove(&s->raw, &r->node);
    json_decref(r->obj);
    free(r);
}

static void raw_clear(struct k8s_store *s)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(&s->raw); n; n = next) {
        next = tby_hmap_next(&s->raw, n);
        raw_drop(s, TBY_CONTAINER_OF(n, struct k8s_raw, node));
    }
}

const json_t *k8s_raw_get(struct k8s_store *s, const char *key)
{
    struct k8s_raw *r = raw_find(s, key);

    return r ? r->obj : NULL;
}

void k8s_raw_put(struct k8s_store *s, const char *key, const json_t *obj)
{
    struct k8s_raw *r = raw_find(s, key);

    if (r)
        raw_drop(s, r);
    if (!obj)
        return;
    if (tby_hmap_count(&s->raw) >= RAW_CACHE_MAX)
        raw_clear(s);
    r = malloc(sizeof(*r) + strlen(key) + 1);
    if (!r)
        return; /* a cache: the write reads the object again */
    strcpy(r->key, key);
    r->obj = json_incref((json_t *)obj);
    if (tby_hmap_insert(&s->raw, &r->node, tby_hash_str(key)) < 0) {
        json_decref(r->obj);
        free(r);
    }
}

/* ---- reads ---------------------------------------------------------------------------------- */

/* Whether the object offered is the one at loc. */
static bool offered_at(const struct k8s_store *s, const struct k8s_loc *loc)
{
    const json_t *meta = json_object_get(s->offered, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));

    return s->offered && s->offered_res == loc->res && name && !strcmp(name, loc->name) &&
           (loc->ns ? ns && !strcmp(ns, loc->ns) : !ns);
}

void k8s_offer_drop(struct k8s_store *s)
{
    json_decref(s->offered);
    s->offered = NULL;
    s->offered_res = NULL;
}

void tby_store_offer(struct tby_store *store, const char *server,
                     const struct tby_kube_resource *res, json_t *obj)
{
    const struct tby_kube_config *cfg = tby_store_kube_config(store);
    struct k8s_store *s;

    if (!cfg || !server || !cfg->server || strcmp(cfg->server, server) != 0 || !obj)
        return;
    s = of(store);
    k8s_offer_drop(s);
    s->offered = json_incref(obj);
    s->offered_res = res;
}

int k8s_fetch(struct k8s_store *s, const struct k8s_loc *loc, json_t **out,
              struct tby_error *err)
{
    int r;

    if (offered_at(s, loc)) {
        *out = json_incref(s->offered);
        return 0;
    }
    r = tby_kube_get(s->client, loc->res, loc->ns, loc->name, out, err);

    if (r == -ENOENT && loc->alt_name) { /* a second GET, counted as one */
        tby_store_count(&s->base.stats.gets);
        r = tby_kube_get(s->client, loc->res, loc->ns, loc->alt_name, out, err);
    }
    return r;
}

static int not_found(const char *key, struct tby_error *err)
{
    return tby_error_set(err, -ENOENT, "%s: not found", key);
}

/* The constant entry `key` of m, if it is one. */
static int constant_entry(struct k8s_store *s, const struct k8s_map *m, const char *key,
                          struct k8s_entry *out, struct tby_error *err)
{
    struct k8s_entry *all = NULL;
    size_t n = 0;
    int r = m->conv->constants ? m->conv->constants(&s->codec, m, &all, &n, err) : 0;

    if (r < 0)
        return r;
    r = not_found(key, err);
    for (size_t i = 0; i < n; i++) {
        if (r == -ENOENT && strcmp(all[i].key, key) == 0) {
            *out = all[i];
            r = 0;
        } else {
            k8s_entry_clear(&all[i]);
        }
    }
    free(all);
    return r;
}

int k8s_get_entry(struct k8s_store *s, const char *key, struct k8s_entry *out, json_t **obj,
                  struct tby_error *err)
{
    _cleanup_(k8s_loc_clear) struct k8s_loc loc = { 0 };
    _cleanup_free_ char *ns = NULL;
    const char *ns_at, *name;
    size_t ns_len;
    const struct k8s_map *m = k8s_map_of_key(key, &ns_at, &ns_len, &name);
    json_t *o = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    *obj = NULL;
    if (!m)
        return not_found(key, err);
    if (ns_at && !(ns = strndup(ns_at, ns_len)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = m->conv->locate(m, ns, name, &loc, err);
    if (r == -ENOENT)
        return not_found(key, err);
    if (r < 0)
        return r;
    if (!loc.res)
        return constant_entry(s, m, key, out, err);
    r = k8s_fetch(s, &loc, &o, err);
    if (r == -ENOENT)
        return not_found(key, err);
    if (r < 0)
        return r;
    r = m->conv->read(&s->codec, m, loc.res, o, out, err);
    if (r == 0 && strcmp(out->key, key) != 0)
        k8s_entry_clear(out);
    if (r == K8S_SKIP || (r == 0 && !out->key))
        r = not_found(key, err);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *obj = o;
    return 0;
}

static int entry_to_kv(struct k8s_entry *e, struct tby_kv *kv, struct tby_error *err)
{
    char *text = json_dumps(e->value, JSON_COMPACT);

    memset(kv, 0, sizeof(*kv));
    if (!text)
        return tby_error_set(err, -ENOMEM, "out of memory");
    kv->key = TBY_STEAL(e->key);
    kv->value = text;
    kv->value_len = strlen(text);
    kv->mod_rev = e->rev;
    /* No creation revision and no per-key version in the Kubernetes API: 0 (KDD-LAYOUT
     * §1.4); nothing in tabby may depend on them there. */
    kv->create_rev = 0;
    kv->version = 0;
    return 0;
}

static int k8s_get(struct tby_store *store, const char *key, struct tby_kv *out,
                   struct tby_error *err)
{
    struct k8s_store *s = of(store);
    _cleanup_(k8s_entry_clear) struct k8s_entry e = { 0 };
    json_t *obj = NULL;
    int r = k8s_get_entry(s, key, &e, &obj, err);

    if (r < 0)
        return r;
    k8s_raw_put(s, key, obj);
    json_decref(obj);
    return entry_to_kv(&e, out, err);
}

/* ---- ranges --------------------------------------------------------------------------------- */

struct entries {
    struct k8s_entry *items;
    size_t n, cap;
};

static void entries_clear(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        k8s_entry_clear(&es->items[i]);
    free(es->items);
    memset(es, 0, sizeof(*es));
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct k8s_entry *)a)->key, ((const struct k8s_entry *)b)->key);
}

static int list_type(struct k8s_store *s, const struct tby_kube_resource *res,
                     const char *prefix, struct entries *out, int64_t *rev,
                     struct tby_error *err)
{
    _cleanup_free_ char *ns = NULL;
    struct tby_kube_list list = { 0 };
    int64_t list_rev;
    int r;

    if (!k8s_type_wanted(res, &prefix, 1, &ns))
        return 0;
    r = tby_kube_list(s->client, res, ns, NULL, &list, err);
    if (r == -ENOENT) /* the type is not served (a CRD not installed): no objects */
        return 0;
    if (r == 0 && k8s_rev_parse(list.resource_version, res->plural, &list_rev, err) == 0 &&
        list_rev > *rev)
        *rev = list_rev;
    for (size_t i = 0; r == 0 && i < json_array_size(list.items); i++)
        r = k8s_read_object(&s->codec, res, json_array_get(list.items, i), prefix, &out->items,
                            &out->n, &out->cap, err);
    tby_kube_list_clear(&list);
    return r;
}

static int add_constants(struct k8s_store *s, const char *prefix, struct entries *out,
                         struct tby_error *err)
{
    size_t n_maps;
    const struct k8s_map *maps = k8s_maps(&n_maps);

    for (size_t i = 0; i < n_maps; i++) {
        struct k8s_entry *all = NULL;
        size_t n = 0;
        char *ns = NULL;
        int r = 0;

        if (!maps[i].conv->constants || !k8s_map_under(&maps[i], prefix, &ns))
            continue;
        free(ns);
        r = maps[i].conv->constants(&s->codec, &maps[i], &all, &n, err);
        for (size_t j = 0; j < n; j++) {
            if (r == 0 && strncmp(all[j].key, prefix, strlen(prefix)) == 0 &&
                TBY_GROW(out->items, out->cap, out->n + 1) == 0) {
                out->items[out->n++] = all[j];
                continue;
            }
            k8s_entry_clear(&all[j]);
        }
        free(all);
        if (r < 0)
            return r;
    }
    return 0;
}

void k8s_snapshot_clear(struct k8s_snapshot *snap)
{
    for (size_t i = 0; i < snap->n; i++)
        free(snap->items[i].key);
    free(snap->items);
    free(snap->prefix);
    memset(snap, 0, sizeof(*snap));
}

/* Remembers a key handed out (memory short: the snapshot is dropped, and a watch then
 * starts from nothing, telling every key again). */
static void snapshot_add(struct k8s_snapshot *snap, const struct tby_kv *kv,
                         const struct k8s_entry *e)
{
    char *key;

    if (snap->n == 0 && snap->cap == SIZE_MAX)
        return;
    key = strdup(kv->key);
    if (!key || TBY_GROW(snap->items, snap->cap, snap->n + 1) < 0) {
        free(key);
        k8s_snapshot_clear(snap);
        snap->cap = SIZE_MAX; /* spoilt until the next range */
        return;
    }
    snap->items[snap->n++] = (struct k8s_snapshot_item){
        key, k8s_value_hash(e->value, 0), kv->mod_rev, e->res,
    };
}

/* list->rev: the largest resourceVersion of the lists read. Kubernetes has no revision
 * across types (KDD-LAYOUT §5.3): it says only that these lists were read after it. */
static int k8s_range(struct tby_store *store, const char *prefix, struct tby_kv_list *out,
                     struct tby_error *err)
{
    struct k8s_store *s = of(store);
    _cleanup_(entries_clear) struct entries es = { 0 };
    size_t n_types;
    const struct tby_kube_resource *const *types = k8s_types(&n_types);
    int64_t rev = 0;
    int r = 0;

    for (size_t i = 0; i < n_types && r == 0; i++)
        r = list_type(s, types[i], prefix, &es, &rev, err);
    if (r == 0)
        r = add_constants(s, prefix, &es, err);
    if (r < 0)
        return r;
    if (es.n)
        qsort(es.items, es.n, sizeof(*es.items), compare_entries);
    k8s_snapshot_clear(&s->snapshot);
    for (size_t i = 0; i < es.n; i++) {
        struct tby_kv kv;

        r = entry_to_kv(&es.items[i], &kv, err);
        if (r == 0)
            snapshot_add(&s->snapshot, &kv, &es.items[i]);
        if (r == 0 && tby_kv_list_push(out, &kv) < 0) {
            tby_kv_clear(&kv);
            r = tby_error_set(err, -ENOMEM, "out of memory");
        }
        if (r < 0) {
            k8s_snapshot_clear(&s->snapshot);
            tby_kv_list_clear(out);
            return r;
        }
    }
    out->rev = rev;
    s->snapshot.rev = rev;
    if (s->snapshot.cap != SIZE_MAX)
        s->snapshot.prefix = strdup(prefix);
    return 0;
}

/* The resourceVersion of a one-item list: the server's current revision. Only as "the
 * server answers, and is at least here": there is none across types. IP pools first (every
 * tabby program may list them, the CNI plugin too), namespaces where Calico's CRDs are
 * not installed. */
static int k8s_revision(struct tby_store *store, int64_t *rev, struct tby_error *err)
{
    static const char *const lists[][2] = {
        { "/apis/crd.projectcalico.org/v1/ippools?limit=1", "ippools" },
        { "/api/v1/namespaces?limit=1", "namespaces" },
    };
    struct k8s_store *s = of(store);
    int r = -ENOENT;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(lists) && r == -ENOENT; i++) {
        _cleanup_json_ json_t *page = NULL;

        r = kube_call(s->client, "GET", lists[i][0], NULL, NULL, lists[i][1], &page, err);
        if (r == 0)
            r = k8s_rev_parse(json_string_value(json_object_get(
                                  json_object_get(page, "metadata"), "resourceVersion")),
                              lists[i][1], rev, err);
    }
    return r;
}

/* The API server compacts its own history; there is nothing for tabby to drop. */
static int k8s_compact(struct tby_store *store, int64_t rev, struct tby_error *err)
{
    (void)store;
    (void)rev;
    (void)err;
    return 0;
}

static void k8s_release_memory(struct tby_store *store)
{
    raw_clear(of(store));
}

static void k8s_close(struct tby_store *store)
{
    struct k8s_store *s = of(store);

    raw_clear(s);
    k8s_offer_drop(s);
    tby_hmap_destroy(&s->raw);
    k8s_snapshot_clear(&s->snapshot);
    k8s_codec_clear(&s->codec);
    tby_kube_client_free(s->client);
    tby_kube_config_free(s->cfg);
    free(s);
}

static const struct tby_store_ops k8s_ops = {
    .get = k8s_get,
    .range = k8s_range,
    .revision = k8s_revision,
    .commit = k8s_commit,
    .compact = k8s_compact,
    .watch = k8s_watch,
    .close = k8s_close,
    .release_memory = k8s_release_memory,
    .check_change = k8s_check_change,
    .sync_open = k8s_sync_open,
};

const struct tby_kube_config *tby_store_kube_config(const struct tby_store *store)
{
    return store && store->ops == &k8s_ops ? of((struct tby_store *)store)->cfg : NULL;
}

/* "" : in-cluster (a pod's service account), else $KUBECONFIG, else ~/.kube/config;
 * a path: that kubeconfig. */
static int load_config(const char *location, struct tby_kube_config **cfg,
                       struct tby_error *err)
{
    int r;

    if (*location)
        return tby_kube_config_from_file(location, NULL, cfg, err);
    if (getenv("KUBERNETES_SERVICE_HOST")) {
        r = tby_kube_config_in_cluster(NULL, cfg, NULL);
        if (r == 0)
            return 0;
    }
    return tby_kube_config_load(NULL, cfg, err);
}

/* A caller that gives a per-request timeout (the CNI plugins: a call must not hang) gets
 * it, and throttling (429) is waited out only briefly within it. */
static void apply_timeouts(struct k8s_store *s, const struct tby_store_options *opts)
{
    if (!opts)
        return;
    if (opts->timeout_ms > 0)
        s->cfg->timeout_ms = opts->timeout_ms;
    if (opts->connect_timeout_ms > 0)
        s->cfg->connect_timeout_ms = opts->connect_timeout_ms;
}

int tby_store_k8s_open(const char *location, const struct tby_store_options *opts,
                       struct tby_store **out, struct tby_error *err)
{
    struct k8s_store *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return tby_error_set(err, -ENOMEM, "out of memory");
    s->base.ops = &k8s_ops;
    s->base.single_object = true; /* one object per request (store_k8s_txn.c) */
    /* How soon a watch lists a type not served again (a CRD installed later); tests
     * shorten Calico's half hour to seconds. */
    if (getenv("TABBY_K8S_RECHECK_S"))
        s->absent_recheck_s = atol(getenv("TABBY_K8S_RECHECK_S"));
    k8s_codec_init(&s->codec);
    tby_hmap_init(&s->raw);
    r = load_config(location, &s->cfg, err);
    if (r == 0) {
        apply_timeouts(s, opts);
        r = tby_kube_client_new(s->cfg, &s->client, err);
    }
    if (r == 0 && opts && opts->timeout_ms > 0)
        tby_kube_client_set_retries(s->client, 2, opts->timeout_ms / 4);
    if (r < 0) {
        k8s_close(&s->base);
        return tby_error_prefix(err, "datastore k8s:%s", location);
    }
    *out = &s->base;
    return 0;
}
