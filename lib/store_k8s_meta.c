/* store_k8s_meta.c — metadata between Calico's v1-group custom resources and the v3
 * objects tabby knows (KDD-LAYOUT §1.2): the v3 metadata travels in the
 * projectcalico.org/metadata annotation, only Calico's own labels and annotations stay in
 * the CR's metadata, and UIDs are bit-reversed between the two. Also: resourceVersions as
 * revisions, and the metadata of Kubernetes' own objects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/digest.h"
#include "store_k8s.h"

/* ---- UIDs and revisions ------------------------------------------------------------------ */

static uint8_t reverse_bits(uint8_t b)
{
    uint8_t r = 0;

    for (int i = 0; i < 8; i++)
        r = (uint8_t)(r << 1 | ((b >> i) & 1));
    return r;
}

bool k8s_uid_convert(const char *in, char out[K8S_UID_LEN])
{
    uint8_t b[16];
    size_t n = 0;

    out[0] = '\0';
    for (const char *p = in; *p; p++) {
        int hi, lo;

        if (*p == '-' && (n == 4 || n == 6 || n == 8 || n == 10))
            continue;
        if (n == 16 || (hi = tby_hex_digit(p[0])) < 0 || (lo = tby_hex_digit(p[1])) < 0)
            return false;
        b[n++] = (uint8_t)(hi << 4 | lo);
        p++;
    }
    if (n != 16)
        return false;
    for (size_t i = 0; i < 16; i++)
        if (i != 6 && i != 8)
            b[i] = reverse_bits(b[i]);
    snprintf(out, K8S_UID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return true;
}

int k8s_rev_parse(const char *rv, const char *what, int64_t *out, struct tby_error *err)
{
    char *end;

    errno = 0;
    *out = rv && *rv >= '0' && *rv <= '9' ? strtoll(rv, &end, 10) : -1;
    if (!rv || *out <= 0 || errno || *end)
        return tby_error_set(err, -EINVAL, "%s: resourceVersion \"%s\" is not a decimal "
                             "number: tabby needs an API server that numbers its revisions "
                             "(etcd does)", what, rv ? rv : "");
    return 0;
}

int k8s_obj_rev(const json_t *obj, int64_t *out, struct tby_error *err)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    char what[300];

    snprintf(what, sizeof(what), "%s %s", kind ? kind : "object", name ? name : "");
    return k8s_rev_parse(json_string_value(json_object_get(meta, "resourceVersion")), what,
                         out, err);
}

void k8s_meta_set_rev(json_t *meta, int64_t rev)
{
    char text[24];

    if (rev <= 0) {
        json_object_del(meta, "resourceVersion");
        return;
    }
    snprintf(text, sizeof(text), "%lld", (long long)rev);
    json_object_set_new(meta, "resourceVersion", json_string(text));
}

/* ---- CR -> v3 ------------------------------------------------------------------------------ */

static json_t *object_copy(const json_t *v)
{
    return json_is_object(v) ? json_deep_copy(v) : json_object();
}

/* Sets meta[field] to a copy of from[field] when that is a string. */
static void copy_string(json_t *meta, const json_t *from, const char *field)
{
    const json_t *v = json_object_get(from, field);

    if (json_is_string(v))
        json_object_set_new(meta, field, json_copy((json_t *)v));
}

static void set_map(json_t *meta, const char *field, json_t *map)
{
    if (map && json_object_size(map) > 0)
        json_object_set_new(meta, field, map);
    else
        json_decref(map);
}

/* The v3 name of a policy CR (KDD-LAYOUT §2.3, as Calico 3.31 and later read it): the
 * annotation's name; else, in the default tier, the CR name without "default."; else the
 * CR name. */
static void policy_name(json_t *meta, const json_t *cr, const json_t *ann)
{
    const char *tier = json_string_value(json_object_get(json_object_get(cr, "spec"), "tier"));
    const char *name = json_string_value(json_object_get(meta, "name"));

    if (json_is_string(json_object_get(ann, "name"))) {
        copy_string(meta, ann, "name");
        return;
    }
    if (name && (!tier || !*tier || strcmp(tier, "default") == 0) &&
        strncmp(name, "default.", 8) == 0 && name[8])
        json_object_set_new(meta, "name", json_string(name + 8));
}

json_t *k8s_meta_from_cr(const json_t *cr, bool policy)
{
    const json_t *cm = json_object_get(cr, "metadata");
    const char *text = json_string_value(
        json_object_get(json_object_get(cm, "annotations"), K8S_META_ANNOTATION));
    _cleanup_json_ json_t *ann = text ? json_loads(text, 0, NULL) : NULL;
    json_t *meta = json_object(), *labels, *annotations;
    const char *uid = json_string_value(json_object_get(cm, "uid"));
    char v3uid[K8S_UID_LEN];

    if (!meta)
        return NULL;
    if (!json_is_object(ann)) {
        json_decref(ann);
        ann = NULL;
    }
    copy_string(meta, cm, "name");
    copy_string(meta, cm, "namespace");
    copy_string(meta, cm, "resourceVersion");
    if (uid && k8s_uid_convert(uid, v3uid))
        json_object_set_new(meta, "uid", json_string(v3uid));
    copy_string(meta, cm, "creationTimestamp");
    labels = object_copy(json_object_get(cm, "labels"));
    annotations = object_copy(json_object_get(cm, "annotations"));
    json_object_del(annotations, K8S_META_ANNOTATION);
    if (ann) {
        if (json_is_object(json_object_get(ann, "labels")))
            json_object_update(labels, json_object_get(ann, "labels"));
        if (json_is_object(json_object_get(ann, "annotations")))
            json_object_update(annotations, json_object_get(ann, "annotations"));
        copy_string(meta, ann, "creationTimestamp");
    }
    set_map(meta, "labels", labels);
    set_map(meta, "annotations", annotations);
    if (policy)
        policy_name(meta, cr, ann);
    return meta;
}

/* ---- v3 -> CR ------------------------------------------------------------------------------ */

/* Labels and annotations Calico keeps on the CR itself. */
static bool calico_owned(const char *key)
{
    return strstr(key, "projectcalico.org/") || strstr(key, "operator.tigera.io/");
}

static json_t *owned_only(const json_t *map)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)map, key, v)
        if (calico_owned(key))
            json_object_set(out, key, v);
    return out;
}

/* Bookkeeping tabby does not model, kept from the object as it was. */
static const char *const kept_fields[] = { "generateName", "ownerReferences", "finalizers",
                                           NULL };

static void keep_from(json_t *to, const json_t *from)
{
    for (size_t i = 0; kept_fields[i]; i++) {
        const json_t *v = json_object_get(from, kept_fields[i]);

        if (v && !json_is_null(v))
            json_object_set_new(to, kept_fields[i], json_deep_copy(v));
    }
}

json_t *k8s_meta_to_cr(const json_t *meta, const char *cr_name, bool policy, const json_t *raw)
{
    const json_t *raw_meta = json_object_get(raw, "metadata");
    const char *raw_ann = json_string_value(
        json_object_get(json_object_get(raw_meta, "annotations"), K8S_META_ANNOTATION));
    _cleanup_json_ json_t *old = raw_ann ? json_loads(raw_ann, 0, NULL) : NULL;
    _cleanup_json_ json_t *am = json_object();
    const json_t *labels = json_object_get(meta, "labels");
    const json_t *annotations = json_object_get(meta, "annotations");
    json_t *cm = json_object(), *cr_ann;
    char *text;

    if (!cm || !am)
        return json_decref(cm), NULL;
    json_object_set_new(cm, "name", json_string(cr_name));
    copy_string(cm, meta, "namespace");
    copy_string(cm, raw_meta, "uid");
    keep_from(cm, raw_meta);
    keep_from(am, json_is_object(old) ? old : raw_meta);
    if (policy)
        copy_string(am, meta, "name");
    json_object_set_new(am, "creationTimestamp",
                        json_copy(json_object_get(meta, "creationTimestamp") ?: json_null()));
    if (json_object_size(labels))
        json_object_set_new(am, "labels", json_deep_copy(labels));
    if (json_object_size(annotations))
        json_object_set_new(am, "annotations", json_deep_copy(annotations));
    set_map(cm, "labels", owned_only(labels));
    cr_ann = owned_only(annotations);
    text = json_dumps(am, JSON_COMPACT | JSON_SORT_KEYS);
    if (!cr_ann || !text) {
        free(text);
        json_decref(cr_ann);
        return json_decref(cm), NULL;
    }
    json_object_set_new(cr_ann, K8S_META_ANNOTATION, json_string(text));
    free(text);
    json_object_set_new(cm, "annotations", cr_ann);
    return cm;
}

/* ---- Kubernetes' own objects -------------------------------------------------------------- */

json_t *k8s_meta_native(const json_t *obj)
{
    const json_t *om = json_object_get(obj, "metadata");
    json_t *meta = json_object();
    static const char *const fields[] = { "name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp", NULL };

    if (!meta)
        return NULL;
    for (size_t i = 0; fields[i]; i++)
        copy_string(meta, om, fields[i]);
    set_map(meta, "labels", object_copy(json_object_get(om, "labels")));
    set_map(meta, "annotations", object_copy(json_object_get(om, "annotations")));
    return meta;
}
