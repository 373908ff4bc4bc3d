/* store_k8s_ipam.c — IPAM's records on k8s: are Calico's IPAMBlock, BlockAffinity and
 * IPAMHandle custom resources (KDD-LAYOUT §4). The value of an IPAM key is the object as
 * IPAM keeps it on every store — {apiVersion, kind, metadata: {labels, annotations},
 * spec} in Calico's shapes — passed through both ways (a bare spec is taken too). What
 * belongs to the API and not to IPAM is done here: object names made from CIDRs (never
 * parsed back: keys come from the spec), handle names lower-cased, objects marked deleted
 * read as absent, the fields the CRDs require, and the labels Calico 3.31+ finds
 * affinities by (when the value does not carry them).
 *
 *   /tabby/v1/ipam/blocks/10.244.3.0-26             ipamblocks/10-244-3-0-26
 *   /tabby/v1/ipam/affinities/node-1/10.244.3.0-26  blockaffinities/node-1-10-244-3-0-26
 *   /tabby/v1/ipam/handles/<id>                     ipamhandles/<lower-case id>
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/digest.h"
#include "tabby/sha3.h"
#include "store_k8s.h"

#define NAME_MAX_LEN 253
#define HASH_CHARS 11
#define LABEL_HOSTNAME_HASH "projectcalico.org/hostname-hash"
#define LABEL_AFFINITY_TYPE "projectcalico.org/affinity-type"
#define LABEL_IP_VERSION "projectcalico.org/ip-version"

/* A CIDR (or tabby's block name, 10.244.3.0-26) as an object name: '.', ':' and '/'
 * become '-'. New string. */
static char *cidr_object_name(const char *text)
{
    char *name = strdup(text);

    for (char *p = name; p && *p; p++)
        if (*p == '.' || *p == ':' || *p == '/')
            *p = '-';
    return name;
}

/* tabby's block name of a CIDR text: 10.244.3.0/26 -> 10.244.3.0-26. New string. */
static char *block_name(const char *cidr)
{
    char *name = cidr ? strdup(cidr) : NULL;
    char *slash = name ? strchr(name, '/') : NULL;

    if (slash)
        *slash = '-';
    return name;
}

/* Calico's BlockAffinity name: <node>-<cidr name>, or when that reaches 253 characters the
 * node cut short, the CIDR name and 11 hex digits of SHA-256("<node>+<cidr name>"). */
static char *affinity_object_name(const char *node, const char *cidr_name)
{
    size_t node_len = strlen(node), cidr_len = strlen(cidr_name);
    uint8_t digest[TBY_SHA256_LEN];
    char hex[2 * TBY_SHA256_LEN + 1];
    _cleanup_free_ char *text = NULL;
    char *name = NULL;
    int keep;

    if (node_len + 1 + cidr_len < NAME_MAX_LEN)
        return asprintf(&name, "%s-%s", node, cidr_name) < 0 ? NULL : name;
    if (asprintf(&text, "%s+%s", node, cidr_name) < 0)
        return NULL;
    tby_sha256(text, strlen(text), digest);
    tby_hex(digest, sizeof(digest), hex);
    keep = (int)(NAME_MAX_LEN - 1 - cidr_len - 2 - HASH_CHARS);
    if (keep < 0)
        keep = 0;
    return asprintf(&name, "%.*s-%s-%.*s", keep, node, cidr_name, HASH_CHARS, hex) < 0 ? NULL
                                                                                   : name;
}

static const char *spec_string(const json_t *obj, const char *field)
{
    return json_string_value(json_object_get(json_object_get(obj, "spec"), field));
}

/* Objects marked deleted are on their way out: absent to every reader (§4.6). */
static bool marked_deleted(const json_t *obj)
{
    const json_t *d = json_object_get(json_object_get(obj, "spec"), "deleted");

    return json_is_true(d) || (json_is_string(d) && strcmp(json_string_value(d), "true") == 0);
}

static int locate_named(const struct k8s_map *m, char *name, struct k8s_loc *loc,
                        struct tby_error *err)
{
    loc->res = m->types[0];
    loc->name = name;
    return name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

/* The object's labels and annotations (without Calico's metadata annotation), NULL when
 * it has none. */
static json_t *record_meta(const json_t *obj)
{
    const json_t *om = json_object_get(obj, "metadata");
    json_t *meta = json_object(), *labels, *ann;

    labels = json_deep_copy(json_object_get(om, "labels"));
    ann = json_deep_copy(json_object_get(om, "annotations"));
    json_object_del(ann, K8S_META_ANNOTATION);
    if (json_object_size(labels))
        json_object_set(meta, "labels", labels);
    if (json_object_size(ann))
        json_object_set(meta, "annotations", ann);
    json_decref(labels);
    json_decref(ann);
    if (!json_object_size(meta)) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

static int entry_of(const struct k8s_map *m, const json_t *obj, const char *ns,
                    const char *name, struct k8s_entry *out, struct tby_error *err)
{
    const struct tby_kube_resource *res = m->types[0];
    const json_t *spec = json_object_get(obj, "spec");
    json_t *meta;
    char api[128];
    int r;

    if (!name || marked_deleted(obj))
        return K8S_SKIP;
    r = k8s_key_of_object(m, ns, name, &out->key);
    if (r == -ENOMEM)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0)
        r = k8s_obj_rev(obj, &out->rev, err);
    if (r != 0) {
        k8s_entry_clear(out);
        return r;
    }
    snprintf(api, sizeof(api), "%s/%s", res->group, res->version);
    out->value = json_pack("{s:s, s:s}", "apiVersion", api, "kind", res->kind);
    if (out->value && (meta = record_meta(obj)))
        json_object_set_new(out->value, "metadata", meta);
    if (out->value)
        json_object_set_new(out->value, "spec",
                            json_is_object(spec) ? json_deep_copy(spec) : json_object());
    if (!out->value) {
        k8s_entry_clear(out);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* The spec of tabby's value: its "spec" (IPAM's records), or the value itself. New
 * reference. */
static json_t *value_spec(const json_t *value)
{
    const json_t *spec = json_object_get(value, "spec");

    return json_deep_copy(json_is_object(spec) ? spec : value);
}

/* meta[field] gets the members of `add` on top of what it has. */
static void merge_into(json_t *meta, const char *field, const json_t *add)
{
    json_t *to = json_object_get(meta, field);

    if (!json_object_size(add))
        return;
    if (!json_is_object(to)) {
        to = json_object();
        json_object_set_new(meta, field, to);
    }
    json_object_update(to, (json_t *)add);
}

/* The object for a spec: metadata as it was (or a new one named by loc), resourceVersion
 * the compared one, `labels` (may be NULL) and then the value's own labels and
 * annotations on top. */
static int ipam_request(const struct k8s_write *w, json_t *spec, const json_t *labels,
                        struct k8s_request *out, struct tby_error *err)
{
    const struct tby_kube_resource *res = w->loc->res;
    const json_t *raw_meta = json_object_get(w->raw, "metadata");
    const json_t *vmeta = json_object_get(w->value, "metadata");
    json_t *meta = json_is_object(raw_meta) ? json_deep_copy(raw_meta) : json_object();
    char api[128];

    if (!meta || !spec) {
        json_decref(meta);
        json_decref(spec);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    json_object_set_new(meta, "name", json_string(w->loc->name));
    json_object_del(meta, "managedFields");
    k8s_meta_set_rev(meta, w->expect);
    merge_into(meta, "labels", labels);
    if (json_is_object(json_object_get(w->value, "spec"))) {
        merge_into(meta, "labels", json_object_get(vmeta, "labels"));
        merge_into(meta, "annotations", json_object_get(vmeta, "annotations"));
    }
    snprintf(api, sizeof(api), "%s/%s", res->group, res->version);
    out->body = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", api, "kind", res->kind,
                          "metadata", meta, "spec", spec);
    out->verb = w->raw ? K8S_PUT : K8S_POST;
    return out->body ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

/* Sets spec[field] = v unless the spec has it already. */
static void set_default(json_t *spec, const char *field, json_t *v)
{
    if (!json_object_get(spec, field))
        json_object_set_new(spec, field, v);
    else
        json_decref(v);
}

/* ---- blocks -------------------------------------------------------------------------------- */

static int block_locate(const struct k8s_map *m, const char *ns, const char *name,
                        struct k8s_loc *loc, struct tby_error *err)
{
    (void)ns;
    return locate_named(m, cidr_object_name(name), loc, err);
}

static int block_read(struct k8s_codec *c, const struct k8s_map *m,
                      const struct tby_kube_resource *res, const json_t *obj,
                      struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_free_ char *name = block_name(spec_string(obj, "cidr"));

    (void)c;
    (void)res;
    return entry_of(m, obj, NULL, name, out, err);
}

static int block_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                     struct tby_error *err)
{
    json_t *spec = value_spec(w->value);

    (void)c;
    /* Required by the v1 CRD even when empty or deprecated (KDD-LAYOUT §8.12). */
    set_default(spec, "attributes", json_array());
    set_default(spec, "strictAffinity", json_false());
    return ipam_request(w, spec, NULL, out, err);
}

const struct k8s_conv k8s_conv_ipam_block = {
    .access = K8S_READ_WRITE,
    .locate = block_locate,
    .read = block_read,
    .put = block_put,
};

/* ---- affinities ---------------------------------------------------------------------------- */

static int affinity_locate(const struct k8s_map *m, const char *node, const char *block,
                           struct k8s_loc *loc, struct tby_error *err)
{
    _cleanup_free_ char *cidr_name = cidr_object_name(block);

    if (!cidr_name)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return locate_named(m, affinity_object_name(node, cidr_name), loc, err);
}

static int affinity_read(struct k8s_codec *c, const struct k8s_map *m,
                         const struct tby_kube_resource *res, const json_t *obj,
                         struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_free_ char *name = block_name(spec_string(obj, "cidr"));
    const char *node = spec_string(obj, "node");

    (void)c;
    (void)res;
    return entry_of(m, obj, node, node ? name : NULL, out, err);
}

/* The labels Calico 3.31+ looks affinities up by (KDD-LAYOUT §4.3). */
static json_t *affinity_labels(const json_t *spec)
{
    const char *node = json_string_value(json_object_get(spec, "node"));
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *cidr = json_string_value(json_object_get(spec, "cidr"));
    uint8_t digest[TBY_SHA3_256_LEN];
    char hash[TBY_BASE32_LEN(TBY_SHA3_256_LEN)];

    if (!node || !cidr)
        return json_object();
    tby_sha3_256(node, strlen(node), digest);
    tby_base32(digest, sizeof(digest), hash);
    return json_pack("{s:s, s:s, s:s}", LABEL_HOSTNAME_HASH, hash, LABEL_AFFINITY_TYPE,
                     type ? type : "host", LABEL_IP_VERSION, strchr(cidr, ':') ? "6" : "4");
}

static int affinity_put(struct k8s_codec *c, const struct k8s_write *w,
                        struct k8s_request *out, struct tby_error *err)
{
    json_t *spec = value_spec(w->value);
    const json_t *deleted = json_object_get(spec, "deleted");
    _cleanup_json_ json_t *labels = NULL;

    (void)c;
    /* The v1 group's `deleted` is a string (KDD-LAYOUT §8.5). */
    if (json_is_boolean(deleted))
        json_object_set_new(spec, "deleted", json_string(json_is_true(deleted) ? "true"
                                                                               : "false"));
    set_default(spec, "deleted", json_string("false"));
    labels = affinity_labels(spec);
    return ipam_request(w, spec, labels, out, err);
}

const struct k8s_conv k8s_conv_ipam_affinity = {
    .access = K8S_READ_WRITE,
    .locate = affinity_locate,
    .read = affinity_read,
    .put = affinity_put,
};

/* ---- handles ------------------------------------------------------------------------------- */

static int handle_locate(const struct k8s_map *m, const char *ns, const char *name,
                         struct k8s_loc *loc, struct tby_error *err)
{
    char *lower = strdup(name);

    (void)ns;
    for (char *p = lower; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return locate_named(m, lower, loc, err);
}

static int handle_read(struct k8s_codec *c, const struct k8s_map *m,
                       const struct tby_kube_resource *res, const json_t *obj,
                       struct k8s_entry *out, struct tby_error *err)
{
    const char *id = spec_string(obj, "handleID");

    (void)c;
    (void)res;
    if (!id)
        id = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    return entry_of(m, obj, NULL, id, out, err);
}

static int handle_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                      struct tby_error *err)
{
    json_t *spec = value_spec(w->value);

    (void)c;
    set_default(spec, "handleID", json_string(strrchr(w->key, '/') + 1));
    set_default(spec, "block", json_object());
    set_default(spec, "deleted", json_false());
    return ipam_request(w, spec, NULL, out, err);
}

const struct k8s_conv k8s_conv_ipam_handle = {
    .access = K8S_READ_WRITE,
    .locate = handle_locate,
    .read = handle_read,
    .put = handle_put,
};
