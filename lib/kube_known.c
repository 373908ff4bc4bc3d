/* kube_known.c — the objects a reflector has delivered, by namespace/name with their
 * resourceVersions; a relist or a watch event becomes the changes it means. Also the
 * list of changes handed to informers' callers. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "kube_known.h"

/* One allocation an object: its key, then its resourceVersion in a slot with room to
 * spare, so that a new version (the next etcd revision, as long or one digit longer)
 * mostly takes its place. */
struct entry {
    struct tby_hnode node;
    unsigned listing; /* the last listing that named it */
    uint32_t rv_at;   /* where the resourceVersion starts in key */
    uint32_t rv_room; /* bytes for it there, its '\0' included */
    char key[];       /* "namespace/name"; "/name" for cluster-scoped objects; '\0', rv */
};

#define RV_ROOM_MIN 16

/* ---- the changes list ------------------------------------------------------------------- */

int tby_kube_changes_push(struct tby_kube_changes *list, enum tby_kube_change_type type,
                          int reflector, json_t *object, const char *message)
{
    struct tby_kube_change *c;
    char *msg = message ? strdup(message) : NULL;

    if ((message && !msg) || TBY_GROW(list->items, list->cap, list->n + 1) < 0) {
        free(msg);
        json_decref(object);
        return -ENOMEM;
    }
    c = &list->items[list->n++];
    *c = (struct tby_kube_change){ .type = type, .reflector = reflector, .object = object,
                                   .message = msg };
    return 0;
}

void tby_kube_changes_clear(struct tby_kube_changes *list)
{
    for (size_t i = 0; i < list->n; i++) {
        json_decref(list->items[i].object);
        free(list->items[i].message);
    }
    free(list->items);
    *list = (struct tby_kube_changes){ 0 };
}

/* ---- the known objects ------------------------------------------------------------------ */

static const char *key_of(const struct tby_hnode *node)
{
    return TBY_CONTAINER_OF(node, struct entry, node)->key;
}

static const char *entry_rv(const struct entry *e)
{
    return e->key + e->rv_at;
}

/* An entry for the key (klen bytes) and rv, its key still to be written. */
static struct entry *entry_alloc(size_t klen, const char *rv)
{
    size_t vl = strlen(rv) + 1;
    size_t room = vl < RV_ROOM_MIN ? RV_ROOM_MIN : (vl + 7) & ~(size_t)7;
    struct entry *e;

    if (klen >= UINT32_MAX / 2 || room >= UINT32_MAX / 2)
        return NULL;
    e = malloc(sizeof(*e) + klen + 1 + room);
    if (!e)
        return NULL;
    e->key[klen] = '\0';
    e->rv_at = (uint32_t)klen + 1;
    e->rv_room = (uint32_t)room;
    e->listing = 0;
    memcpy(e->key + e->rv_at, rv, vl);
    return e;
}

static struct entry *entry_new(const char *ns, const char *name, const char *rv)
{
    size_t nl = strlen(ns), ml = strlen(name);
    struct entry *e = entry_alloc(nl + ml + 1, rv);

    if (!e)
        return NULL;
    memcpy(e->key, ns, nl);
    e->key[nl] = '/';
    memcpy(e->key + nl + 1, name, ml);
    return e;
}

static void entry_free(struct entry *e)
{
    free(e);
}

static struct entry *find(const struct tby_hmap *map, const char *ns, const char *name)
{
    size_t nl = strlen(ns), ml = strlen(name);
    char stack[256];
    char *key = nl + ml + 2 <= sizeof(stack) ? stack : malloc(nl + ml + 2);
    struct tby_hnode *node;

    if (!key)
        return NULL;
    memcpy(key, ns, nl);
    key[nl] = '/';
    memcpy(key + nl + 1, name, ml + 1);
    node = tby_hmap_find_str(map, key, key_of);
    if (key != stack)
        free(key);
    return node ? TBY_CONTAINER_OF(node, struct entry, node) : NULL;
}

static int insert(struct tby_hmap *map, struct entry *e)
{
    return tby_hmap_insert(map, &e->node, tby_hash_str(e->key));
}

/* The entry's resourceVersion is now rv: in its place when there is room, else in a new
 * entry that takes the old one's place in the map (*e then points to it). */
static int set_rv(struct tby_hmap *map, struct entry **e, const char *rv)
{
    struct entry *old = *e, *grown;
    size_t vl = strlen(rv) + 1;

    if (vl <= old->rv_room) {
        memcpy(old->key + old->rv_at, rv, vl);
        return 0;
    }
    grown = entry_alloc(old->rv_at - 1, rv);
    if (!grown)
        return -ENOMEM;
    memcpy(grown->key, old->key, old->rv_at - 1);
    grown->listing = old->listing;
    if (insert(map, grown) < 0) {
        entry_free(grown);
        return -ENOMEM;
    }
    tby_hmap_remove(map, &old->node);
    entry_free(old);
    *e = grown;
    return 0;
}

static void destroy_map(struct tby_hmap *map)
{
    struct tby_hnode *node = tby_hmap_first(map);

    while (node) {
        struct tby_hnode *next = tby_hmap_next(map, node);

        tby_hmap_remove(map, node);
        entry_free(TBY_CONTAINER_OF(node, struct entry, node));
        node = next;
    }
    tby_hmap_destroy(map);
}

void kube_known_init(struct kube_known *k)
{
    tby_hmap_init(&k->map);
    k->listing = 0;
}

void kube_known_clear(struct kube_known *k)
{
    destroy_map(&k->map);
    tby_hmap_init(&k->map);
}

size_t kube_known_count(const struct kube_known *k)
{
    return tby_hmap_count(&k->map);
}

const char *kube_known_version(const struct kube_known *k, const char *ns, const char *name)
{
    struct entry *e = find(&k->map, ns, name);

    return e ? entry_rv(e) : NULL;
}

/* metadata of an object: namespace ("" when none), name, resourceVersion. */
static int meta_of(const json_t *obj, const char **ns, const char **name, const char **rv)
{
    const json_t *meta = json_object_get(obj, "metadata");

    *ns = json_string_value(json_object_get(meta, "namespace"));
    *name = json_string_value(json_object_get(meta, "name"));
    *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (!*ns)
        *ns = "";
    return *name && **name && *rv && **rv ? 0 : -EINVAL;
}

/* What a relist knows of an object gone meanwhile: its name and last version. */
static json_t *deleted_stub(const struct entry *e)
{
    const char *slash = strchr(e->key, '/');
    json_t *meta = json_pack("{s:s, s:s}", "name", slash + 1, "resourceVersion", entry_rv(e));

    if (meta && slash > e->key &&
        json_object_set_new(meta, "namespace",
                            json_stringn(e->key, (size_t)(slash - e->key))) < 0) {
        json_decref(meta);
        return NULL;
    }
    return meta ? json_pack("{s:o}", "metadata", meta) : NULL;
}

static int push_deleted(struct tby_kube_changes *out, const struct entry *e, int reflector)
{
    json_t *stub = deleted_stub(e);
    int r;

    if (!stub)
        return -ENOMEM;
    r = tby_kube_changes_push(out, TBY_KUBE_DELETED, reflector, stub, NULL);
    if (r == 0) {
        out->items[out->n - 1].final_state_unknown = true;
        out->items[out->n - 1].listed = true;
    }
    return r;
}

void kube_known_list_begin(struct kube_known *k)
{
    k->listing++;
}

int kube_known_list_page(struct kube_known *k, const json_t *items, int reflector,
                         struct tby_kube_changes *out, struct tby_error *err)
{
    const json_t *item;
    size_t i;

    json_array_foreach(items, i, item) {
        const char *ns, *name, *rv;

        if (meta_of(item, &ns, &name, &rv) < 0)
            return tby_error_set(err, -EINVAL, "list: items[%zu] has no metadata.name or "
                                               "metadata.resourceVersion", i);
    }
    json_array_foreach(items, i, item) {
        const char *ns, *name, *rv;
        enum tby_kube_change_type type = TBY_KUBE_MODIFIED;
        struct entry *e;

        meta_of(item, &ns, &name, &rv);
        e = find(&k->map, ns, name);
        if (e && e->listing == k->listing)
            continue; /* listed twice: the first counts */
        if (!e) {
            type = TBY_KUBE_ADDED;
            e = entry_new(ns, name, rv);
            if (!e || insert(&k->map, e) < 0) {
                if (e)
                    entry_free(e);
                return tby_error_set(err, -ENOMEM, "out of memory");
            }
        } else if (strcmp(entry_rv(e), rv) == 0) {
            e->listing = k->listing;
            continue;
        } else if (set_rv(&k->map, &e, rv) < 0) {
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
        e->listing = k->listing;
        if (tby_kube_changes_push(out, type, reflector, json_incref((json_t *)item), NULL) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        out->items[out->n - 1].listed = true;
    }
    return 0;
}

int kube_known_list_end(struct kube_known *k, int reflector, struct tby_kube_changes *out)
{
    struct tby_hnode *n = tby_hmap_first(&k->map);

    while (n) {
        struct tby_hnode *next = tby_hmap_next(&k->map, n);
        struct entry *e = TBY_CONTAINER_OF(n, struct entry, node);

        if (e->listing != k->listing) {
            if (push_deleted(out, e, reflector) < 0)
                return -ENOMEM;
            tby_hmap_remove(&k->map, n);
            entry_free(e);
        }
        n = next;
    }
    return 0;
}

int kube_known_relist(struct kube_known *k, const json_t *items, int reflector,
                      struct tby_kube_changes *out, struct tby_error *err)
{
    int r;

    kube_known_list_begin(k);
    r = kube_known_list_page(k, items, reflector, out, err);
    if (r == 0 && kube_known_list_end(k, reflector, out) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    return r;
}

int kube_known_event(struct kube_known *k, const struct tby_kube_event *ev, int reflector,
                     struct tby_kube_changes *out)
{
    struct entry *e;

    if (ev->type != TBY_KUBE_EVENT_ADDED && ev->type != TBY_KUBE_EVENT_MODIFIED &&
        ev->type != TBY_KUBE_EVENT_DELETED)
        return 0; /* bookmarks and errors name no object */
    e = find(&k->map, ev->ns, ev->name);
    if (ev->type == TBY_KUBE_EVENT_DELETED) {
        if (!e)
            return 0;
        tby_hmap_remove(&k->map, &e->node);
        entry_free(e);
        return tby_kube_changes_push(out, TBY_KUBE_DELETED, reflector, json_incref(ev->object),
                                     NULL);
    }
    if (e && strcmp(entry_rv(e), ev->resource_version) == 0)
        return 0; /* delivered already */
    if (e) {
        if (set_rv(&k->map, &e, ev->resource_version) < 0)
            return -ENOMEM;
        return tby_kube_changes_push(out, TBY_KUBE_MODIFIED, reflector, json_incref(ev->object),
                                     NULL);
    }
    e = entry_new(ev->ns, ev->name, ev->resource_version);
    if (e)
        e->listing = k->listing;
    if (!e || insert(&k->map, e) < 0) {
        if (e)
            entry_free(e);
        return -ENOMEM;
    }
    return tby_kube_changes_push(out, TBY_KUBE_ADDED, reflector, json_incref(ev->object), NULL);
}
