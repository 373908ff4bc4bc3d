/* syncer.c — the datastore syncer (syncer.h): the store's list-and-watch stream of the
 * prefixes tabby-node needs, decoded and held, and consumers told of every change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/enforce.h"
#include "tabby/hmap.h"
#include "tabby/log.h"
#include "tabby/syncer.h"

/* A record's value as the store gave it (NUL-terminated). */
struct record {
    char *value;
    size_t value_len;
    int64_t mod_rev;
};

/* One allocation per key (and one for a record's value): tabby-node holds every endpoint
 * of the cluster. */
struct entry {
    struct tby_hnode node;
    struct tby_resource *res; /* a resource, decoded (its resourceVersion the mod_rev) */
    struct record *rec;       /* or a record */
    char key[];
};

struct tby_syncer {
    struct tby_store *store;
    struct tby_sync *sync;    /* NULL until the first poll */
    struct tby_hmap entries;
    struct tby_hmap maps;     /* struct shared_map: labels and annotations held, by content */
    size_t maps_purge_at;     /* count of maps that makes the next insert drop unused ones */
    struct tby_syncer_consumer *consumers;
    size_t n_consumers;
    bool in_sync;
    struct tby_syncer_stats stats;
};

/* ---- entries ---------------------------------------------------------------------------- */

static const char *entry_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct entry, node)->key;
}

static struct entry *entry_find(const struct tby_hmap *m, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(m, key, entry_key);

    return n ? TBY_CONTAINER_OF(n, struct entry, node) : NULL;
}

static void entry_free(struct entry *e)
{
    tby_resource_free(e->res);
    if (e->rec)
        free(e->rec->value);
    free(e->rec);
    free(e);
}

/* The record an entry holds, as a kv (borrowed). */
static struct tby_kv entry_kv(struct entry *e)
{
    return (struct tby_kv){ .key = e->key, .value = e->rec->value,
                            .value_len = e->rec->value_len, .mod_rev = e->rec->mod_rev };
}

static int64_t entry_rev(const struct entry *e)
{
    return e->rec ? e->rec->mod_rev : e->res->meta.resource_version;
}

static void entries_clear(struct tby_hmap *m)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(m); n; n = next) {
        next = tby_hmap_next(m, n);
        entry_free(TBY_CONTAINER_OF(n, struct entry, node));
    }
    tby_hmap_destroy(m);
}

/* ---- shared label maps -------------------------------------------------------------------
 * Pods of one workload carry the same labels (and annotations): the resources held share
 * one jansson object per distinct map (same pairs in the same order) instead of one each
 * (some 600 bytes for four labels). Decoded maps are never changed in place (codec.h), so
 * sharing is not seen; a map only the table still holds is dropped once the table has
 * doubled since the last such sweep. */

struct shared_map {
    struct tby_hnode node;
    json_t *map;
};

static uint64_t map_hash(const json_t *map)
{
    uint64_t h = 0;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)map, key, v) {
        h = tby_hash_bytes(key, strlen(key) + 1, h);
        if (json_is_string(v))
            h = tby_hash_bytes(json_string_value(v), json_string_length(v), h);
    }
    return h;
}

static bool map_same(const json_t *a, const json_t *b)
{
    void *i = json_object_iter((json_t *)a), *j = json_object_iter((json_t *)b);

    if (json_object_size(a) != json_object_size(b))
        return false;
    for (; i && j; i = json_object_iter_next((json_t *)a, i),
                   j = json_object_iter_next((json_t *)b, j)) {
        if (strcmp(json_object_iter_key(i), json_object_iter_key(j)) != 0 ||
            !json_equal(json_object_iter_value(i), json_object_iter_value(j)))
            return false;
    }
    return !i && !j;
}

static void maps_clear(struct tby_hmap *m, bool unused_only)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(m); n; n = next) {
        struct shared_map *sm = TBY_CONTAINER_OF(n, struct shared_map, node);

        next = tby_hmap_next(m, n);
        if (unused_only && sm->map->refcount > 1)
            continue;
        tby_hmap_remove(m, n);
        json_decref(sm->map);
        free(sm);
    }
    if (!unused_only)
        tby_hmap_destroy(m);
}

/* *slot becomes the held map equal to it, if any; else it is held for the next ones
 * (memory short: left as it is). */
static void share_map(struct tby_syncer *s, json_t **slot)
{
    struct shared_map *sm;
    uint64_t h;

    if (!*slot || json_object_size(*slot) == 0)
        return; /* the decoder's shared empty map */
    h = map_hash(*slot);
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&s->maps, h); n;
         n = tby_hmap_next_with_hash(n)) {
        sm = TBY_CONTAINER_OF(n, struct shared_map, node);
        if (map_same(sm->map, *slot)) {
            json_decref(*slot);
            *slot = json_incref(sm->map);
            return;
        }
    }
    if (tby_hmap_count(&s->maps) >= s->maps_purge_at) {
        maps_clear(&s->maps, true);
        s->maps_purge_at = 2 * tby_hmap_count(&s->maps) + 64;
    }
    if (!(sm = malloc(sizeof(*sm))))
        return;
    sm->map = *slot;
    if (tby_hmap_insert(&s->maps, &sm->node, h) < 0) {
        free(sm);
        return;
    }
    json_incref(sm->map);
}

/* A policy's value that does not decode is not an absent policy: a stand-in that denies
 * takes its place (enforce.h), so that an unreadable Deny never lets traffic through. */
static struct tby_resource *unreadable(const struct tby_kv *kv, const struct tby_error *err)
{
    struct tby_resource *res = NULL;
    int r = tby_enforce_unreadable(kv->key, kv->value, kv->value_len, tby_error_str(err),
                                   &res);

    if (r == -EINVAL)
        tby_log(TBY_LOG_DEBUG, "syncer", "value ignored key=%s error=\"%s\"", kv->key,
                tby_error_str(err));
    else if (r < 0)
        tby_log(TBY_LOG_ERROR, "syncer", "value ignored key=%s error=%d", kv->key, r);
    else
        tby_log(TBY_LOG_ERROR, "syncer", "policy does not decode, denying in its place "
                "key=%s error=\"%s\"", kv->key, tby_error_str(err));
    return res;
}

/* Decodes a stored value, or takes the one the store decoded (*given, moved); NULL
 * (logged) when it does not decode. */
static struct tby_resource *decode(struct tby_syncer *s, const struct tby_kv *kv,
                                   struct tby_resource **given)
{
    struct tby_resource *res = TBY_STEAL(*given);
    struct tby_error err = { 0 };

    if (!res && !tby_catalog_kind_of_key(kv->key))
        return NULL;
    if (!res && tby_catalog_decode_kv(kv, &res, &err) < 0) {
        if (err.code == -ENOMEM) {
            tby_log(TBY_LOG_ERROR, "syncer", "value ignored key=%s error=\"%s\"", kv->key,
                    tby_error_str(&err));
            return NULL;
        }
        if (!(res = unreadable(kv, &err)))
            return NULL;
        res->meta.resource_version = kv->mod_rev;
    }
    share_map(s, &res->meta.labels);
    share_map(s, &res->meta.annotations);
    return res;
}

/* ---- consumers -------------------------------------------------------------------------- */

static void tell_update(struct tby_syncer *s, const struct tby_resource *old,
                        const struct tby_resource *res)
{
    s->stats.events++;
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct tby_syncer_consumer *c = &s->consumers[i];
        int r = c->update ? c->update(c->ctx, old, res) : 0;

        if (r < 0)
            tby_log(TBY_LOG_ERROR, "syncer", "consumer failed consumer=%s kind=%s name=%s "
                    "error=%d", c->name, res->info->name, res->meta.name, r);
    }
}

static void tell_remove(struct tby_syncer *s, const struct tby_resource *old)
{
    s->stats.events++;
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct tby_syncer_consumer *c = &s->consumers[i];
        int r = c->remove ? c->remove(c->ctx, old) : 0;

        if (r < 0)
            tby_log(TBY_LOG_ERROR, "syncer", "consumer failed consumer=%s kind=%s name=%s "
                    "error=%d", c->name, old->info->name, old->meta.name, r);
    }
}

static bool is_record(const struct tby_syncer *s, const char *key)
{
    for (size_t i = 0; i < s->n_consumers; i++) {
        const char *prefix = s->consumers[i].record_prefix;

        if (prefix && strncmp(key, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

static void tell_record(struct tby_syncer *s, const char *key, const struct tby_kv *kv)
{
    s->stats.events++;
    for (size_t i = 0; i < s->n_consumers; i++) {
        const struct tby_syncer_consumer *c = &s->consumers[i];
        const char *prefix = c->record_prefix;
        int r;

        if (!c->record || !prefix || strncmp(key, prefix, strlen(prefix)) != 0)
            continue;
        r = c->record(c->ctx, key, kv);
        if (r < 0)
            tby_log(TBY_LOG_ERROR, "syncer", "consumer failed consumer=%s key=%s error=%d",
                    c->name, key, r);
    }
}

static struct entry *entry_add(struct tby_syncer *s, const char *key)
{
    size_t len = strlen(key);
    struct entry *e = calloc(1, sizeof(*e) + len + 1);

    if (!e)
        return NULL;
    memcpy(e->key, key, len + 1);
    if (tby_hmap_insert(&s->entries, &e->node, tby_hash_str(key)) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

/* A record's key now holds kv (NULL: deleted); a value the store decoded is written back
 * as text (records are kept as the store gives them). */
static int apply_record(struct tby_syncer *s, struct entry *e, const char *key,
                        struct tby_kv *kv, const struct tby_resource *given)
{
    struct tby_kv view;

    if (!kv) {
        if (e) {
            tby_hmap_remove(&s->entries, &e->node);
            tell_record(s, e->key, NULL);
            entry_free(e);
        }
        return 0;
    }
    if (!kv->value && given) {
        _cleanup_json_ json_t *doc = tby_resource_encode(given);

        if (!doc || !(kv->value = json_dumps(doc, JSON_COMPACT)))
            return -ENOMEM;
        kv->value_len = strlen(kv->value);
    }
    if (!e && !(e = entry_add(s, key)))
        return -ENOMEM;
    if (!e->rec && !(e->rec = calloc(1, sizeof(*e->rec)))) {
        tby_hmap_remove(&s->entries, &e->node);
        entry_free(e);
        return -ENOMEM;
    }
    free(e->rec->value);
    e->rec->value = TBY_STEAL(kv->value); /* the event's, moved */
    e->rec->value_len = kv->value_len;
    e->rec->mod_rev = kv->mod_rev;
    view = entry_kv(e);
    tell_record(s, e->key, &view);
    return 0;
}

/* The key now holds kv (NULL: deleted; *given: its value decoded by the store, moved);
 * consumers hear of any difference. A record's value moves out of kv into the entry. */
static int apply(struct tby_syncer *s, const char *key, struct tby_kv *kv,
                 struct tby_resource **given)
{
    struct entry *e = entry_find(&s->entries, key);
    struct tby_resource *res;

    if (e && kv && entry_rev(e) == kv->mod_rev)
        return 0;
    if (e ? !e->res : is_record(s, key))
        return apply_record(s, e, key, kv, *given);
    res = kv ? decode(s, kv, given) : NULL;
    if (!res) {
        if (e) {
            tby_hmap_remove(&s->entries, &e->node);
            tell_remove(s, e->res);
            entry_free(e);
        }
        return 0;
    }
    if (!e && !(e = entry_add(s, key))) {
        tby_resource_free(res);
        return -ENOMEM;
    }
    tell_update(s, e->res, res);
    tby_resource_free(e->res);
    e->res = res;
    return 0;
}

/* ---- the stream ------------------------------------------------------------------------ */

static void in_sync(struct tby_syncer *s)
{
    s->in_sync = true;
    for (size_t i = 0; i < s->n_consumers; i++)
        if (s->consumers[i].in_sync)
            s->consumers[i].in_sync(s->consumers[i].ctx);
    tby_log(TBY_LOG_INFO, "syncer", "in sync resources=%zu", tby_hmap_count(&s->entries));
}

/* What tabby-node needs: every kind's resources, and the records consumers asked for
 * (not IPAM's handles, say). */
static int open_sync(struct tby_syncer *s, struct tby_error *err)
{
    char *prefixes[TBY_KIND_COUNT + 16];
    size_t n = 0;
    int r = 0;

    for (int k = 0; r == 0 && k < TBY_KIND_COUNT; k++)
        if (!(prefixes[n++] = tby_resource_prefix(tby_kind_info((enum tby_kind)k), NULL)))
            r = tby_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < s->n_consumers; i++) {
        if (!s->consumers[i].record_prefix)
            continue;
        if (n == sizeof(prefixes) / sizeof(prefixes[0]))
            r = tby_error_set(err, -E2BIG, "too many consumers of records");
        else if (!(prefixes[n++] = strdup(s->consumers[i].record_prefix)))
            r = tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (r == 0)
        r = tby_store_sync_open(s->store, (const char *const *)prefixes, n, &s->sync, err);
    if (r == 0)
        tby_store_sync_decoded(s->sync);
    for (size_t i = 0; i < n; i++)
        free(prefixes[i]);
    return r;
}

int tby_syncer_poll(struct tby_syncer *s, struct tby_error *err)
{
    struct tby_event_list ev = { 0 };
    const struct tby_sync_stats *ss;
    int r = s->sync ? 0 : open_sync(s, err);

    if (r < 0)
        return r;
    r = tby_store_sync_next(s->sync, &ev, 0, err);
    /* after a failure too: what came before it holds */
    for (size_t i = 0; i < ev.n; i++) {
        struct tby_event *e = &ev.items[i];
        int q = 0;

        if (e->type == TBY_EVENT_SYNCED)
            in_sync(s);
        else
            q = apply(s, e->kv.key, e->type == TBY_EVENT_PUT ? &e->kv : NULL, &e->res);
        if (q < 0)
            tby_log(TBY_LOG_ERROR, "syncer", "change not held key=%s error=%d", e->kv.key, q);
    }
    tby_event_list_clear(&ev);
    ss = tby_store_sync_stats(s->sync);
    s->stats.reads = ss->lists;
    s->stats.errors = ss->errors;
    memcpy(s->stats.last_error, ss->last_error, sizeof(s->stats.last_error));
    if (r < 0)
        tby_log(TBY_LOG_WARNING, "syncer", "datastore unavailable, keeping the last state "
                "retry_ms=%d error=\"%s\"", tby_store_sync_timeout_ms(s->sync),
                s->stats.last_error);
    return r;
}

/* ---- the syncer ------------------------------------------------------------------------- */

int tby_syncer_new(struct tby_store *store, struct tby_syncer **out)
{
    struct tby_syncer *s = calloc(1, sizeof(*s));

    *out = s;
    if (!s)
        return -ENOMEM;
    s->store = store;
    tby_hmap_init(&s->entries);
    tby_hmap_init(&s->maps);
    s->maps_purge_at = 64;
    return 0;
}

void tby_syncer_free(struct tby_syncer *s)
{
    if (!s)
        return;
    tby_store_sync_free(s->sync);
    entries_clear(&s->entries);
    maps_clear(&s->maps, false);
    free(s->consumers);
    free(s);
}

int tby_syncer_add_consumer(struct tby_syncer *s, const struct tby_syncer_consumer *c)
{
    struct tby_syncer_consumer *v;

    if (s->sync) /* the prefixes were asked for */
        return -EBUSY;
    v = realloc(s->consumers, (s->n_consumers + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->consumers = v;
    v[s->n_consumers++] = *c;
    return 0;
}

int tby_syncer_fd(const struct tby_syncer *s)
{
    return s->sync ? tby_store_sync_fd(s->sync) : -1;
}

int tby_syncer_timeout_ms(const struct tby_syncer *s)
{
    return s->sync ? tby_store_sync_timeout_ms(s->sync) : 0;
}

bool tby_syncer_in_sync(const struct tby_syncer *s)
{
    return s->in_sync;
}

bool tby_syncer_online(const struct tby_syncer *s)
{
    return s->sync && tby_store_sync_online(s->sync);
}

size_t tby_syncer_count(const struct tby_syncer *s)
{
    return tby_hmap_count(&s->entries);
}

int tby_syncer_foreach(const struct tby_syncer *s,
                       int (*fn)(void *ctx, const char *key, const struct tby_resource *res),
                       void *ctx)
{
    for (struct tby_hnode *n = tby_hmap_first(&s->entries); n;
         n = tby_hmap_next(&s->entries, n)) {
        const struct entry *e = TBY_CONTAINER_OF(n, struct entry, node);
        int r = fn(ctx, e->key, e->res);

        if (r)
            return r;
    }
    return 0;
}

int tby_syncer_foreach_record(const struct tby_syncer *s, const char *prefix,
                              int (*fn)(void *ctx, const struct tby_kv *kv), void *ctx)
{
    size_t len = strlen(prefix);

    for (struct tby_hnode *n = tby_hmap_first(&s->entries); n;
         n = tby_hmap_next(&s->entries, n)) {
        struct entry *e = TBY_CONTAINER_OF(n, struct entry, node);
        struct tby_kv kv;
        int r;

        if (!e->rec || strncmp(e->key, prefix, len) != 0)
            continue;
        kv = entry_kv(e);
        if ((r = fn(ctx, &kv)))
            return r;
    }
    return 0;
}

const struct tby_syncer_stats *tby_syncer_stats(const struct tby_syncer *s)
{
    return &s->stats;
}
