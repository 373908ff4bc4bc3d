/* store_k8s_sync.c — watching tabby's keys on k8s:, as Calico's syncers watch KDD
 * (KDD-LAYOUT §5): one reflector per Kubernetes type behind the prefixes watched, all on
 * the informer's one thread and one file descriptor. A reflector lists, then watches; a
 * 410 relists that type alone and the informer delivers exactly the difference; a type
 * whose CRD is missing counts as empty and synced. Here each object change becomes the
 * key changes it makes: converted as a read converts it, compared with what was told
 * before, and told only when tabby's value differs (every pod status change is an API
 * event; few change the endpoint).
 *
 * The informer hands over a listing page by page; each page's objects are converted as
 * they come (their JSON then freed) and the events they make are held, per type, until
 * the type's listing is complete, so that a listing is told whole.
 *
 * A listing is complete when every type has listed once, and again each time one lists
 * anew (after a 410): the caller hears it through a hook, where the store's sync
 * (tby_store_sync_*, at the end of this file) puts its SYNCED marker. Online means every
 * type has listed and every reflector's server answers. The sync's informer counts its
 * LISTs and WATCHes into the store's read counters from its thread.
 *
 * The same object is a tby_watch (store.h): watch(prefix, rev + 1) right after a range
 * that returned rev starts from what that range handed out, so a key gone between the
 * two is told as deleted once its type has listed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/kube_informer.h"
#include "tabby/log.h"
#include "store_k8s.h"

#define ABSENT_RECHECK_S 60
/* The informer's fd says when there is news; this is only a safety poll. */
#define POLL_MS 1000

/* A key told to the caller, found by its key and by the object it came from: an object's
 * keys are the told keys with its hash (the hash of "<type>/<ns>/<name>"; 64 bits, so that
 * 10,000s of objects share none), which costs a key no more than a second link (every
 * pod of the cluster is one). A key is kept as its folder (up to its last '/', shared by
 * every key in it: ".../workloadendpoints/<namespace>/" is about 60 bytes of every pod's
 * key) and the rest. */
struct told_dir {
    struct tby_hnode node;
    size_t refs; /* told keys in it */
    size_t len;
    char s[];
};

struct told {
    struct tby_hnode node;
    struct tby_hnode by_object;
    uint64_t hash;        /* k8s_value_hash of the value */
    uint64_t object;      /* the object's hash; 0: none known (a constant, a range's key) */
    struct told_dir *dir; /* the key's folder */
    int type;             /* index in the sync's types; -1: a constant */
    bool seen;            /* confirmed by the watch (a key of the starting snapshot may not be) */
    char name[];          /* the key after its folder */
};

struct k8s_sync {
    struct k8s_store *store;
    char **prefixes;
    size_t n_prefixes;
    struct tby_kube_informer *inf;
    const struct tby_kube_resource **types; /* by reflector number */
    size_t n_types;
    size_t n_synced;
    bool *synced;
    size_t n_offline;
    bool *offline;
    bool seeded;
    uint64_t lost;                /* types that lost their server, counted */
    char lost_why[TBY_ERROR_MAX]; /* the last one's reason */
    struct tby_event_list queued; /* told before the first call of next */
    struct tby_event_list *held;  /* by type: of a listing not yet complete */
    struct tby_hmap told;         /* struct told by key */
    struct tby_hmap dirs;         /* struct told_dir by its text */
    struct tby_hmap by_object;    /* the same by object */
    bool decoded;                 /* values told decoded (tby_store_sync_decoded) */
};

/* The length of the key's folder: up to and with its last '/'. */
static size_t dir_len(const char *key)
{
    const char *slash = strrchr(key, '/');

    return slash ? (size_t)(slash - key) + 1 : 0;
}

static struct told_dir *dir_find(const struct k8s_sync *w, const char *key, size_t len,
                                 uint64_t h)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&w->dirs, h); n;
         n = tby_hmap_next_with_hash(n)) {
        struct told_dir *d = TBY_CONTAINER_OF(n, struct told_dir, node);

        if (d->len == len && memcmp(d->s, key, len) == 0)
            return d;
    }
    return NULL;
}

/* The key's folder, shared, with one more reference; NULL when out of memory. */
static struct told_dir *dir_get(struct k8s_sync *w, const char *key)
{
    size_t len = dir_len(key);
    uint64_t h = tby_hash_bytes(key, len, 0);
    struct told_dir *d = dir_find(w, key, len, h);

    if (!d) {
        d = malloc(sizeof(*d) + len + 1);
        if (!d)
            return NULL;
        memcpy(d->s, key, len);
        d->s[len] = '\0';
        d->len = len;
        d->refs = 0;
        if (tby_hmap_insert(&w->dirs, &d->node, h) < 0) {
            free(d);
            return NULL;
        }
    }
    d->refs++;
    return d;
}

static void dir_put(struct k8s_sync *w, struct told_dir *d)
{
    if (--d->refs)
        return;
    tby_hmap_remove(&w->dirs, &d->node);
    free(d);
}

static bool told_is(const struct told *t, const char *key)
{
    return strncmp(key, t->dir->s, t->dir->len) == 0 && strcmp(key + t->dir->len, t->name) == 0;
}

/* The told key's whole text (the caller frees it), NULL when out of memory. */
static char *told_key(const struct told *t)
{
    size_t nl = strlen(t->name);
    char *key = malloc(t->dir->len + nl + 1);

    if (key) {
        memcpy(key, t->dir->s, t->dir->len);
        memcpy(key + t->dir->len, t->name, nl + 1);
    }
    return key;
}

static struct told *told_find(struct k8s_sync *w, const char *key)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&w->told, tby_hash_str(key)); n;
         n = tby_hmap_next_with_hash(n)) {
        struct told *t = TBY_CONTAINER_OF(n, struct told, node);

        if (told_is(t, key))
            return t;
    }
    return NULL;
}

static void told_free(struct k8s_sync *w, struct told *t)
{
    dir_put(w, t->dir);
    free(t);
}

static void told_drop(struct k8s_sync *w, struct told *t)
{
    tby_hmap_remove(&w->told, &t->node);
    tby_hmap_remove(&w->by_object, &t->by_object);
    told_free(w, t);
}

static struct told *told_new(struct k8s_sync *w, const char *key, uint64_t object)
{
    size_t len = dir_len(key);
    struct told *t = malloc(sizeof(*t) + strlen(key + len) + 1);

    if (!t)
        return NULL;
    t->dir = dir_get(w, key);
    if (!t->dir) {
        free(t);
        return NULL;
    }
    strcpy(t->name, key + len);
    t->object = object;
    if (tby_hmap_insert(&w->told, &t->node, tby_hash_str(key)) < 0) {
        told_free(w, t);
        return NULL;
    }
    if (tby_hmap_insert(&w->by_object, &t->by_object, object) < 0) {
        tby_hmap_remove(&w->told, &t->node);
        told_free(w, t);
        return NULL;
    }
    return t;
}

/* The key was told with this value (hash), from this object. */
static int told_set(struct k8s_sync *w, const char *key, uint64_t hash, int type,
                    uint64_t object)
{
    struct told *t = told_find(w, key);

    if (!t) {
        t = told_new(w, key, object);
        if (!t)
            return -ENOMEM;
    } else if (t->object != object) {
        tby_hmap_remove(&w->by_object, &t->by_object);
        t->object = object;
        if (tby_hmap_insert(&w->by_object, &t->by_object, object) < 0) {
            tby_hmap_remove(&w->told, &t->node);
            told_free(w, t);
            return -ENOMEM;
        }
    }
    t->hash = hash;
    t->type = type;
    t->seen = true;
    return 0;
}

/* ---- events ----------------------------------------------------------------------------- */

/* Appends every event of `from` to `to`; `from` is left empty. */
static int move_events(struct tby_event_list *from, struct tby_event_list *to)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < from->n; i++) {
        r = tby_event_list_push(to, from->items[i].type, &from->items[i].kv);
        if (r == 0)
            to->items[to->n - 1].res = TBY_STEAL(from->items[i].res);
    }
    tby_event_list_clear(from);
    return r;
}

/* Pushes an event; moves value and res (either may be NULL) into it. */
static int push_event(struct tby_event_list *out, enum tby_event_type type, const char *key,
                      char *value, struct tby_resource *res, int64_t rev)
{
    struct tby_kv kv = { .key = strdup(key), .value = value, .mod_rev = rev };

    kv.value_len = value ? strlen(value) : 0;
    if (!kv.key || tby_event_list_push(out, type, &kv) < 0) {
        tby_kv_clear(&kv);
        tby_resource_free(res);
        return -ENOMEM;
    }
    out->items[out->n - 1].res = res;
    return 0;
}

/* An entry's PUT: its value decoded when the caller asked for it and it decodes as its
 * key's kind (then never written out as text, to be parsed again), else its text. */
static int push_put(struct k8s_sync *w, const struct k8s_entry *e, struct tby_event_list *out)
{
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };
    char *text = NULL;

    if (w->decoded && tby_catalog_kind_of_key(e->key) &&
        tby_catalog_decode_doc(e->key, e->value, e->rev, &res, &err) == 0)
        return push_event(out, TBY_EVENT_PUT, e->key, NULL, res, e->rev);
    if (err.code == -ENOMEM || !(text = json_dumps(e->value, JSON_COMPACT)))
        return -ENOMEM;
    return push_event(out, TBY_EVENT_PUT, e->key, text, NULL, e->rev);
}

/* The told key is deleted: told, then forgotten. */
static int tell_delete(struct k8s_sync *w, struct told *t, int64_t rev,
                       struct tby_event_list *out)
{
    struct tby_kv kv = { .key = told_key(t), .mod_rev = rev };

    if (!kv.key || tby_event_list_push(out, TBY_EVENT_DELETE, &kv) < 0) {
        tby_kv_clear(&kv);
        return -ENOMEM;
    }
    told_drop(w, t);
    return 0;
}

/* Tells the entry unless its value is what was told last. */
static int tell_put(struct k8s_sync *w, const struct k8s_entry *e, int type, uint64_t object,
                    struct tby_event_list *out)
{
    uint64_t hash = k8s_value_hash(e->value, 0);
    struct told *t = told_find(w, e->key);

    if (t && t->hash == hash && t->object == object) {
        t->seen = true;
        return 0;
    }
    if (t && t->hash == hash)
        return told_set(w, e->key, hash, type, object); /* the same value, now its object's */
    if (told_set(w, e->key, hash, type, object) < 0)
        return -ENOMEM;
    return push_put(w, e, out);
}

static int type_index(const struct k8s_sync *w, const struct tby_kube_resource *res)
{
    for (size_t i = 0; i < w->n_types; i++)
        if (w->types[i] == res)
            return (int)i;
    return -1;
}

/* The hash of "<type>/<ns>/<name>" of an object (never 0), or 0 when it has no name. */
static uint64_t object_hash(int type, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    uint64_t h;

    if (!name)
        return 0;
    h = tby_hash_bytes(&type, sizeof(type), 0);
    h = tby_hash_bytes(ns ? ns : "", ns ? strlen(ns) + 1 : 1, h);
    h = tby_hash_bytes(name, strlen(name) + 1, h);
    return h ? h : 1;
}

static bool made(const struct k8s_entry *es, size_t n, const struct told *t)
{
    for (size_t i = 0; i < n; i++)
        if (es[i].key && told_is(t, es[i].key))
            return true;
    return false;
}

/* The object's keys told before that it no longer makes are deleted. */
static int tell_unmade(struct k8s_sync *w, uint64_t object, const struct k8s_entry *es,
                       size_t n_es, int64_t rev, struct tby_event_list *out)
{
    struct told *gone[8];
    size_t n = 0;
    int r = 0;

    do {
        n = 0;
        for (struct tby_hnode *h = tby_hmap_first_with_hash(&w->by_object, object);
             h && n < TBY_ARRAY_SIZE(gone); h = tby_hmap_next_with_hash(h)) {
            struct told *t = TBY_CONTAINER_OF(h, struct told, by_object);

            if (t->object == object && !made(es, n_es, t))
                gone[n++] = t;
        }
        for (size_t i = 0; r == 0 && i < n; i++)
            r = tell_delete(w, gone[i], rev, out);
    } while (r == 0 && n == TBY_ARRAY_SIZE(gone));
    return r;
}

/* An object changed (or went: `gone`): its keys now are what it reads as. */
static int object_changed(struct k8s_sync *w, int type, const json_t *obj, bool gone,
                          struct tby_event_list *out, struct tby_error *err)
{
    uint64_t object = object_hash(type, obj);
    struct k8s_entry *es = NULL;
    size_t n_es = 0, cap = 0;
    int64_t rev = 0;
    int r = 0;

    if (!object)
        return 0;
    if (!gone)
        r = k8s_read_object(&w->store->codec, w->types[type], obj, NULL, &es, &n_es, &cap,
                            err);
    for (size_t i = 0; r == 0 && i < n_es; i++) {
        if (!k8s_under_any(es[i].key, (const char *const *)w->prefixes, w->n_prefixes)) {
            k8s_entry_clear(&es[i]); /* not one of its keys here */
            continue;
        }
        r = tell_put(w, &es[i], type, object, out);
    }
    k8s_obj_rev(obj, &rev, NULL);
    if (r == 0)
        r = tell_unmade(w, object, es, n_es, rev, out);
    for (size_t i = 0; i < n_es; i++)
        k8s_entry_clear(&es[i]);
    free(es);
    return r == -ENOMEM ? tby_error_set(err, r, "out of memory") : r;
}

/* What is told so far adds up to a complete listing. */
static int listed(k8s_sync_hook hook, void *ctx, struct tby_event_list *out)
{
    return hook ? hook(ctx, out) : 0;
}

/* A type listed: the first time, keys of the starting snapshot it did not confirm are
 * gone; once every type has, and at every later list, the listing is complete. */
static int type_listed(struct k8s_sync *w, int type, k8s_sync_hook hook, void *ctx,
                       struct tby_event_list *out)
{
    struct tby_hnode *n, *next;
    int r = 0;

    if (w->synced[type])
        return w->n_synced == w->n_types ? listed(hook, ctx, out) : 0;
    w->synced[type] = true;
    w->n_synced++;
    for (n = tby_hmap_first(&w->told); n && r == 0 && w->seeded; n = next) {
        struct told *t = TBY_CONTAINER_OF(n, struct told, node);

        next = tby_hmap_next(&w->told, n);
        if (t->type == type && !t->seen)
            r = tell_delete(w, t, 0, out);
    }
    if (r < 0 || w->n_synced < w->n_types)
        return r;
    tby_log(TBY_LOG_INFO, "k8s", "watch synced types=%zu keys=%zu", w->n_types,
            tby_hmap_count(&w->told));
    return listed(hook, ctx, out);
}

static void set_offline(struct k8s_sync *w, int type, bool offline)
{
    if (w->offline[type] == offline)
        return;
    w->offline[type] = offline;
    if (offline)
        w->n_offline++;
    else
        w->n_offline--;
}

static int apply_change(struct k8s_sync *w, const struct tby_kube_change *c,
                        k8s_sync_hook hook, void *ctx, struct tby_event_list *out,
                        struct tby_error *err)
{
    struct tby_event_list *to = c->listed ? &w->held[c->reflector] : out;
    int r = 0;

    switch (c->type) {
    case TBY_KUBE_ADDED:
    case TBY_KUBE_MODIFIED:
        return object_changed(w, c->reflector, c->object, false, to, err);
    case TBY_KUBE_DELETED:
        return object_changed(w, c->reflector, c->object, true, to, err);
    case TBY_KUBE_SYNCED:
    case TBY_KUBE_RELISTED:
        r = move_events(&w->held[c->reflector], out);
        if (r == 0)
            r = type_listed(w, c->reflector, hook, ctx, out);
        break;
    case TBY_KUBE_ONLINE:
    case TBY_KUBE_OFFLINE:
        /* the informer logs it and reconnects by itself */
        set_offline(w, c->reflector, c->type == TBY_KUBE_OFFLINE);
        if (c->type == TBY_KUBE_OFFLINE) {
            w->lost++;
            snprintf(w->lost_why, sizeof(w->lost_why), "%s",
                     c->message ? c->message : "the API server does not answer");
        }
        break;
    }
    return r < 0 ? tby_error_set(err, r, "out of memory") : 0;
}

/* ---- the watch ----------------------------------------------------------------------------- */

int k8s_sync_fd(const struct k8s_sync *w)
{
    return tby_kube_informer_fd(w->inf);
}

int k8s_sync_timeout_ms(const struct k8s_sync *w)
{
    return w->queued.n ? 0 : POLL_MS;
}

/* Up once every type has listed, and while none has lost its server. */
bool k8s_sync_online(const struct k8s_sync *w)
{
    return w->n_synced == w->n_types && w->n_offline == 0;
}

uint64_t k8s_sync_lost(const struct k8s_sync *w, const char **why)
{
    if (why)
        *why = w->lost_why;
    return w->lost;
}

int k8s_sync_next(struct k8s_sync *w, struct tby_event_list *out, int timeout_ms,
                  k8s_sync_hook hook, void *ctx, struct tby_error *err)
{
    struct tby_kube_changes changes = { 0 };
    int r;

    if (w->queued.n) {
        if (move_events(&w->queued, out) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        timeout_ms = 0;
    }
    if (timeout_ms != 0) {
        struct pollfd p = { .fd = tby_kube_informer_fd(w->inf), .events = POLLIN };

        poll(&p, 1, timeout_ms);
    }
    r = tby_kube_informer_next(w->inf, &changes, err);
    for (size_t i = 0; r == 0 && i < changes.n; i++)
        r = apply_change(w, &changes.items[i], hook, ctx, out, err);
    tby_kube_changes_clear(&changes);
    return r;
}

void k8s_sync_free(struct k8s_sync *w)
{
    struct tby_hnode *n, *next;

    if (!w)
        return;
    tby_kube_informer_free(w->inf);
    tby_event_list_clear(&w->queued);
    for (size_t i = 0; w->held && i < w->n_types; i++)
        tby_event_list_clear(&w->held[i]);
    free(w->held);
    for (n = tby_hmap_first(&w->told); n; n = next) {
        next = tby_hmap_next(&w->told, n);
        told_free(w, TBY_CONTAINER_OF(n, struct told, node));
    }
    tby_hmap_destroy(&w->told);
    tby_hmap_destroy(&w->dirs);
    tby_hmap_destroy(&w->by_object);
    for (size_t i = 0; i < w->n_prefixes; i++)
        free(w->prefixes[i]);
    free(w->prefixes);
    free(w->types);
    free(w->synced);
    free(w->offline);
    free(w);
}

/* One reflector for every type behind the prefixes. */
static int add_reflectors(struct k8s_sync *w, struct tby_error *err)
{
    size_t n_types;
    const struct tby_kube_resource *const *types = k8s_types(&n_types);

    w->types = calloc(n_types, sizeof(*w->types));
    w->synced = calloc(n_types, sizeof(*w->synced));
    w->offline = calloc(n_types, sizeof(*w->offline));
    w->held = calloc(n_types, sizeof(*w->held));
    if (!w->types || !w->synced || !w->offline || !w->held)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n_types; i++) {
        _cleanup_free_ char *ns = NULL;
        struct tby_kube_watch_options opts = { .absent_recheck_s = w->store->absent_recheck_s
                                                                       ?: ABSENT_RECHECK_S };
        int r;

        if (!k8s_type_wanted(types[i], (const char *const *)w->prefixes, w->n_prefixes, &ns))
            continue;
        opts.ns = ns;
        r = tby_kube_informer_add(w->inf, types[i], &opts, err);
        if (r < 0)
            return r;
        w->types[w->n_types++] = types[i];
    }
    return 0;
}

/* The keys a range handed out, as if told. */
static int seed(struct k8s_sync *w, const struct k8s_snapshot *snap)
{
    for (size_t i = 0; i < snap->n; i++) {
        const struct k8s_snapshot_item *it = &snap->items[i];

        if (told_set(w, it->key, it->hash, it->res ? type_index(w, it->res) : -1, 0) < 0)
            return -ENOMEM;
        told_find(w, it->key)->seen = !it->res;
    }
    w->seeded = true;
    return 0;
}

/* The constant keys (projectcalico-default-allow) under the prefixes. */
static int tell_constants(struct k8s_sync *w, struct tby_event_list *out,
                          struct tby_error *err)
{
    size_t n_maps;
    const struct k8s_map *maps = k8s_maps(&n_maps);
    int r = 0;

    for (size_t i = 0; i < n_maps && r == 0; i++) {
        struct k8s_entry *es = NULL;
        size_t n = 0;

        if (!maps[i].conv->constants)
            continue;
        r = maps[i].conv->constants(&w->store->codec, &maps[i], &es, &n, err);
        for (size_t j = 0; j < n; j++) {
            if (r == 0 && k8s_under_any(es[j].key, (const char *const *)w->prefixes,
                                        w->n_prefixes))
                r = tell_put(w, &es[j], -1, 0, out);
            k8s_entry_clear(&es[j]);
        }
        free(es);
    }
    return r;
}

int k8s_sync_start(struct k8s_store *s, const char *const *prefixes, size_t n_prefixes,
                   const struct k8s_snapshot *from, bool count, struct k8s_sync **out,
                   struct tby_error *err)
{
    struct k8s_sync *w = calloc(1, sizeof(*w));
    int r = 0;

    *out = NULL;
    if (!w || !(w->prefixes = calloc(n_prefixes, sizeof(*w->prefixes)))) {
        free(w);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    w->store = s;
    tby_hmap_init(&w->told);
    tby_hmap_init(&w->dirs);
    tby_hmap_init(&w->by_object);
    for (size_t i = 0; i < n_prefixes && r == 0; i++) {
        w->prefixes[w->n_prefixes] = strdup(prefixes[i]);
        r = w->prefixes[w->n_prefixes++] ? 0 : -ENOMEM;
    }
    if (r < 0 || (from && seed(w, from) < 0))
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0)
        r = tby_kube_informer_new(s->cfg, &w->inf, err);
    if (r == 0 && count)
        tby_kube_informer_count(w->inf, &s->base.stats.ranges, &s->base.stats.watches);
    if (r == 0)
        r = add_reflectors(w, err);
    if (r == 0)
        r = tell_constants(w, &w->queued, err);
    if (r == 0)
        r = tby_kube_informer_start(w->inf, err);
    if (r < 0) {
        k8s_sync_free(w);
        return r;
    }
    *out = w;
    return 0;
}

/* ---- store.h's watch -------------------------------------------------------------------- */

/* A watch on k8s: starts with every key under the prefix as it is now (or, right after a
 * range of the same prefix, with what changed since that range), told by the first calls
 * of tby_watch_next as the types list. It has no single next revision (next_rev 0). */
struct k8s_watch {
    struct tby_watch base;
    struct k8s_sync *sync;
};

static int watch_fd(struct tby_watch *base)
{
    return k8s_sync_fd(((struct k8s_watch *)base)->sync);
}

static int watch_next(struct tby_watch *base, struct tby_event_list *out, int timeout_ms,
                      struct tby_error *err)
{
    return k8s_sync_next(((struct k8s_watch *)base)->sync, out, timeout_ms, NULL, NULL, err);
}

static void watch_free(struct tby_watch *base)
{
    struct k8s_watch *w = (struct k8s_watch *)base;

    k8s_sync_free(w->sync);
    free(w);
}

static const struct tby_watch_ops watch_ops = {
    .fd = watch_fd,
    .next = watch_next,
    .free = watch_free,
};

int k8s_watch(struct tby_store *store, const char *prefix, int64_t from_rev,
              struct tby_watch **out, struct tby_error *err)
{
    struct k8s_store *s = (struct k8s_store *)store;
    const struct k8s_snapshot *snap = &s->snapshot;
    bool from_range = snap->prefix && strcmp(snap->prefix, prefix) == 0 &&
                      from_rev == snap->rev + 1;
    struct k8s_watch *w = calloc(1, sizeof(*w));
    int r;

    if (!w)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = k8s_sync_start(s, &prefix, 1, from_range ? snap : NULL, false, &w->sync, err);
    if (r < 0) {
        free(w);
        return r;
    }
    w->base.ops = &watch_ops;
    *out = &w->base;
    return 0;
}

/* ---- store.h's sync ------------------------------------------------------------------------ */

/* The store's native list-and-watch: the engine above, started by the first next (opening
 * reads nothing, as store.h says), with a SYNCED marker wherever what it told adds up to a
 * complete listing, online as the engine says. A type losing its server is a failed
 * attempt (its reason the sync's last error) while the informer reconnects on its own;
 * the informer's LISTs and WATCHes count as the store's ranges and watches. */
struct k8s_store_sync {
    struct tby_sync base;
    struct k8s_store *store;
    struct tby_strv prefixes;
    struct k8s_sync *sync; /* NULL until the first next */
    int64_t start_at;      /* monotonic ms: when to try starting it again */
};

#define START_RETRY_MS 1000

static int mark_synced(void *ctx, struct tby_event_list *out)
{
    struct k8s_store_sync *y = ctx;
    struct tby_kv none = { 0 };

    if (tby_event_list_push(out, TBY_EVENT_SYNCED, &none) < 0)
        return -ENOMEM;
    y->base.stats.lists++;
    return 0;
}

static int sync_fd(const struct tby_sync *base)
{
    const struct k8s_store_sync *y = (const struct k8s_store_sync *)base;

    return y->sync ? k8s_sync_fd(y->sync) : -1;
}

static int sync_timeout_ms(const struct tby_sync *base)
{
    const struct k8s_store_sync *y = (const struct k8s_store_sync *)base;
    int64_t left;

    if (y->sync)
        return k8s_sync_timeout_ms(y->sync);
    left = y->start_at - tby_monotonic_ms();
    return left > 0 ? (int)left : 0;
}

static int sync_next(struct tby_sync *base, struct tby_event_list *out, int timeout_ms,
                     struct tby_error *err)
{
    struct k8s_store_sync *y = (struct k8s_store_sync *)base;
    const char *why;
    uint64_t lost;
    int r;

    if (!y->sync) {
        if (tby_monotonic_ms() < y->start_at)
            return 0;
        r = k8s_sync_start(y->store, (const char *const *)y->prefixes.items, y->prefixes.n,
                           NULL, true, &y->sync, err);
        if (r < 0) {
            y->start_at = tby_monotonic_ms() + START_RETRY_MS;
            return r;
        }
        y->sync->decoded = y->base.decoded;
    }
    lost = k8s_sync_lost(y->sync, NULL);
    r = k8s_sync_next(y->sync, out, timeout_ms, mark_synced, y, err);
    y->base.online = k8s_sync_online(y->sync);
    if (r == 0 && k8s_sync_lost(y->sync, &why) != lost)
        r = tby_error_set(err, -EAGAIN, "%s", why);
    return r;
}

static void sync_free(struct tby_sync *base)
{
    struct k8s_store_sync *y = (struct k8s_store_sync *)base;

    k8s_sync_free(y->sync);
    tby_strv_clear(&y->prefixes);
    free(y);
}

static const struct tby_sync_ops sync_ops = {
    .fd = sync_fd,
    .timeout_ms = sync_timeout_ms,
    .next = sync_next,
    .free = sync_free,
};

int k8s_sync_open(struct tby_store *store, const char *const *prefixes, size_t n,
                  struct tby_sync **out, struct tby_error *err)
{
    struct k8s_store_sync *y = calloc(1, sizeof(*y));

    if (!y)
        return tby_error_set(err, -ENOMEM, "out of memory");
    y->base.ops = &sync_ops;
    y->store = (struct k8s_store *)store;
    for (size_t i = 0; i < n; i++) {
        if (tby_strv_push(&y->prefixes, prefixes[i]) < 0) {
            sync_free(&y->base);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    *out = &y->base;
    return 0;
}
