/* store_k8s_view.c — tabby's view of an object other programs write too.
 *
 * Calico keeps adding fields (IPPool namespaceSelector, BGPPeer keepaliveTime, …) that
 * tabby's strict decoders refuse. Here a document is decoded leniently: the fields tabby
 * does not know are skipped, logged once per kind and field, and remembered by place; the
 * value tabby gets is the decoded resource encoded again, exactly what sqlite would hold.
 * Not for a policy's or a BGPFilter's spec: there an unknown field may change what is
 * allowed or routed, so such a resource is handed on as it is, undecodable, and tabby-node
 * fails closed on it.
 * When tabby writes, the skipped fields of the object last read are put back into its
 * value, so a tabby write never strips what Calico wrote. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "store_k8s.h"

struct warned {
    struct tby_hnode node;
    char text[]; /* "IPPool spec.namespaceSelector" */
};

static const char *warned_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct warned, node)->text;
}

void k8s_codec_init(struct k8s_codec *c)
{
    tby_hmap_init(&c->warned);
}

void k8s_codec_clear(struct k8s_codec *c)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(&c->warned); n; n = next) {
        next = tby_hmap_next(&c->warned, n);
        free(TBY_CONTAINER_OF(n, struct warned, node));
    }
    tby_hmap_destroy(&c->warned);
}

void k8s_skipped_clear(struct k8s_skipped *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].path);
        free(s->items[i].field);
    }
    free(s->items);
    memset(s, 0, sizeof(*s));
}

struct collect {
    struct k8s_codec *codec;
    const char *kind;
    struct k8s_skipped *skipped;
    bool in_spec;               /* a field skipped was inside the spec */
};

/* Logs "kind path.field" the first time (list indexes do not count: [0] and [3] are one
 * field). */
static void warn_once(struct k8s_codec *c, const char *kind, const char *path,
                      const char *field)
{
    size_t len = strlen(kind) + strlen(path) + strlen(field) + 3;
    struct warned *w = malloc(sizeof(*w) + len);
    char *o;

    if (!w)
        return;
    o = w->text + sprintf(w->text, "%s ", kind);
    for (const char *p = path; *p; p++) {
        *o++ = *p;
        if (*p == '[')
            while (p[1] && p[1] != ']')
                p++;
    }
    sprintf(o, "%s%s", *path ? "." : "", field);
    if (tby_hmap_find_str(&c->warned, w->text, warned_key) ||
        tby_hmap_insert(&c->warned, &w->node, tby_hash_str(w->text)) < 0) {
        free(w);
        return;
    }
    tby_log(TBY_LOG_INFO, "k8s", "field not known to tabby, kept but not used field=\"%s\"",
            w->text);
}

static void on_unknown(void *ctx, const char *path, const char *field)
{
    struct collect *col = ctx;
    struct k8s_skipped *s = col->skipped;
    char *p, *f;

    warn_once(col->codec, col->kind, path, field);
    if (strncmp(path, "spec", 4) == 0 && (!path[4] || path[4] == '.' || path[4] == '['))
        col->in_spec = true;
    if (!s)
        return;
    p = strdup(path);
    f = strdup(field);
    if (!p || !f || TBY_GROW(s->items, s->cap, s->n + 1) < 0) {
        free(p);
        free(f);
        return; /* out of memory: the field is lost on a later write, nothing worse */
    }
    s->items[s->n++] = (struct k8s_skipped_field){ p, f };
}

static json_t *without_rev(json_t *doc)
{
    json_object_del(json_object_get(doc, "metadata"), "resourceVersion");
    return doc;
}

/* Kinds whose spec says what is allowed or routed: an unknown field there may change it. */
static bool spec_must_be_known(enum tby_kind kind)
{
    return kind == TBY_KIND_NETWORKPOLICY || kind == TBY_KIND_GLOBALNETWORKPOLICY ||
           kind == TBY_KIND_K8S_NETWORKPOLICY || kind == TBY_KIND_PROFILE ||
           kind == TBY_KIND_BGPFILTER;
}

int k8s_view(struct k8s_codec *c, const json_t *doc, json_t **out, struct k8s_skipped *skipped,
             struct tby_error *err)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    struct collect col = { c, kind ? kind : "object", skipped, false };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_error derr = { 0 };
    int r = tby_resource_decode_lenient(doc, on_unknown, &col, &res, &derr);

    if (r == -ENOMEM)
        return tby_error_set(err, r, "out of memory");
    /* A field of a policy's spec that tabby does not know may change what it allows:
     * such a policy is one tabby cannot read, and tabby-node denies in its place (a
     * BGPFilter: its peers are left out). */
    if (r == 0 && col.in_spec && spec_must_be_known(res->info->kind))
        r = -EINVAL;
    if (r < 0) {
        /* Handed on as it is: whoever decodes it says what is wrong. */
        *out = json_deep_copy(doc);
        return *out ? (without_rev(*out), 0) : tby_error_set(err, -ENOMEM, "out of memory");
    }
    *out = tby_resource_encode(res);
    if (!*out)
        return tby_error_set(err, -ENOMEM, "out of memory");
    without_rev(*out);
    return 0;
}

static int entry_make(struct k8s_codec *c, const struct k8s_map *m, const json_t *obj,
                      const json_t *doc, const char *ns, const char *name, bool normal,
                      struct k8s_entry *out, struct tby_error *err)
{
    const json_t *meta = json_object_get(doc, "metadata");
    int r = 0;

    if (!name) {
        name = json_string_value(json_object_get(meta, "name"));
        ns = json_string_value(json_object_get(meta, "namespace"));
        if (!name)
            return K8S_SKIP;
    }
    out->rev = 1;
    r = k8s_key_of_object(m, ns, name, &out->key);
    if (r == -ENOMEM)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0 && obj)
        r = k8s_obj_rev(obj, &out->rev, err);
    if (r == 0 && normal)
        out->value = without_rev(json_incref((json_t *)doc));
    else if (r == 0)
        r = k8s_view(c, doc, &out->value, NULL, err);
    if (r != 0)
        k8s_entry_clear(out);
    return r;
}

int k8s_entry_make(struct k8s_codec *c, const struct k8s_map *m, const json_t *obj,
                   const json_t *doc, const char *ns, const char *name, struct k8s_entry *out,
                   struct tby_error *err)
{
    return entry_make(c, m, obj, doc, ns, name, false, out, err);
}

int k8s_entry_take(const struct k8s_map *m, const json_t *obj, json_t *doc, const char *ns,
                   const char *name, struct k8s_entry *out, struct tby_error *err)
{
    return entry_make(NULL, m, obj, doc, ns, name, true, out, err);
}

/* ---- a value's hash ------------------------------------------------------------------------ */

uint64_t k8s_value_hash(const json_t *v, uint64_t h)
{
    const char *key;
    const json_t *item;
    size_t i;
    uint8_t type = (uint8_t)json_typeof(v);

    h = tby_hash_bytes(&type, 1, h);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item) {
            h = tby_hash_bytes(key, strlen(key) + 1, h);
            h = k8s_value_hash(item, h);
        }
        return tby_hash_bytes("}", 1, h);
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
            h = k8s_value_hash(item, h);
        return tby_hash_bytes("]", 1, h);
    case JSON_STRING:
        return tby_hash_bytes(json_string_value(v), json_string_length(v) + 1, h);
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);

        return tby_hash_bytes(&n, sizeof(n), h);
    }
    case JSON_REAL: {
        double d = json_real_value(v);

        return tby_hash_bytes(&d, sizeof(d), h);
    }
    default:
        return h;
    }
}

/* ---- putting skipped fields back ------------------------------------------------------------ */

/* Follows one path ("spec.ingress[0]") in `doc` and `value` at once; in value, objects
 * missing on the way are made (tabby's encoder drops empty ones), list elements must
 * exist. false when either side has no container there. */
static bool follow(const char *path, const json_t **doc, json_t **value)
{
    const char *p = path;

    while (*p) {
        size_t len = strcspn(p, ".[");
        char name[256];

        if (len >= sizeof(name))
            return false;
        if (len) {
            json_t *next;

            memcpy(name, p, len);
            name[len] = '\0';
            *doc = json_object_get(*doc, name);
            if (!json_is_object(*value) || !*doc)
                return false;
            next = json_object_get(*value, name);
            if (!next && json_is_object(*doc)) {
                next = json_object();
                if (!next || json_object_set_new(*value, name, next) < 0)
                    return false;
            }
            *value = next;
            p += len;
        }
        while (*p == '[') {
            size_t index = strtoul(p + 1, NULL, 10);

            *doc = json_array_get(*doc, index);
            *value = json_array_get(*value, index);
            p = strchr(p, ']');
            if (!p || !*doc || !*value)
                return false;
            p++;
        }
        if (*p == '.')
            p++;
    }
    return true;
}

void k8s_restore_skipped(json_t *value, const json_t *doc, const struct k8s_skipped *skipped)
{
    for (size_t i = 0; i < skipped->n; i++) {
        const struct k8s_skipped_field *f = &skipped->items[i];
        const json_t *from = doc;
        json_t *to = value;
        const json_t *v;

        if (!follow(f->path, &from, &to) || !json_is_object(to) ||
            !(v = json_object_get(from, f->field)) || json_object_get(to, f->field))
            continue;
        json_object_set_new(to, f->field, json_deep_copy(v));
    }
}

json_t *k8s_value_onto(struct k8s_codec *c, const json_t *value, const json_t *doc)
{
    _cleanup_(k8s_skipped_clear) struct k8s_skipped skipped = { 0 };
    _cleanup_json_ json_t *seen = NULL;
    json_t *out = json_deep_copy(value);

    if (!out || !doc)
        return out;
    if (k8s_view(c, doc, &seen, &skipped, NULL) == 0)
        k8s_restore_skipped(out, doc, &skipped);
    return out;
}
