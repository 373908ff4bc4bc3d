/* store_k8s_profile.c — Profiles on k8s: are Namespaces and ServiceAccounts (KDD-LAYOUT
 * §3.2–3.4): kns.<ns> allows everything and applies the namespace's labels as pcns.<key>,
 * ksa.<ns>.<sa> applies the service account's labels as pcsa.<key>, and
 * projectcalico-default-allow is a constant. None can be written: the Kubernetes objects
 * are the truth. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "store_k8s.h"

#define KNS "kns."
#define KSA "ksa."

static int profile_locate(const struct k8s_map *m, const char *ns, const char *name,
                          struct k8s_loc *loc, struct tby_error *err)
{
    const char *dot;

    (void)ns;
    if (strcmp(name, K8S_DEFAULT_ALLOW) == 0)
        return 0; /* no object: a constant */
    if (strncmp(name, KNS, strlen(KNS)) == 0 && name[strlen(KNS)]) {
        loc->res = m->types[0];
        loc->name = strdup(name + strlen(KNS));
        return loc->name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
    }
    /* ksa.<ns>.<sa>: namespaces have no dots, so the second dot ends the namespace. */
    if (strncmp(name, KSA, strlen(KSA)) != 0 || !(dot = strchr(name + strlen(KSA), '.')) ||
        dot == name + strlen(KSA) || !dot[1])
        return -ENOENT;
    loc->res = m->types[1];
    loc->ns = strndup(name + strlen(KSA), (size_t)(dot - name - strlen(KSA)));
    loc->name = strdup(dot + 1);
    return loc->ns && loc->name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

/* Every label k of the object as <prefix>k, and <prefix>projectcalico.org/name. */
static json_t *labels_to_apply(const json_t *obj, const char *prefix, const char *name)
{
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    json_t *out = json_object(), *v;
    const char *key;
    char buf[512];

    json_object_foreach((json_t *)labels, key, v) {
        snprintf(buf, sizeof(buf), "%s%s", prefix, key);
        json_object_set(out, buf, v);
    }
    snprintf(buf, sizeof(buf), "%sprojectcalico.org/name", prefix);
    json_object_set_new(out, buf, json_string(name));
    return out;
}

static json_t *allow_all(void)
{
    return json_pack("[{s:s}]", "action", "Allow");
}

static json_t *profile_doc(const char *name, const json_t *obj, json_t *spec)
{
    const json_t *om = json_object_get(obj, "metadata");
    const char *uid = json_string_value(json_object_get(om, "uid"));
    const char *created = json_string_value(json_object_get(om, "creationTimestamp"));
    json_t *meta = json_pack("{s:s}", "name", name);
    char v3uid[K8S_UID_LEN];

    if (meta && uid && k8s_uid_convert(uid, v3uid))
        json_object_set_new(meta, "uid", json_string(v3uid));
    if (meta && created)
        json_object_set_new(meta, "creationTimestamp", json_string(created));
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "projectcalico.org/v3", "kind",
                     "Profile", "metadata", meta, "spec", spec);
}

/* The entry of profile `name` made from obj (NULL: a constant) and spec (taken). */
static int profile_entry(struct k8s_codec *c, const struct k8s_map *m, const char *name,
                         const json_t *obj, json_t *spec, struct k8s_entry *out,
                         struct tby_error *err)
{
    _cleanup_json_ json_t *doc = spec ? profile_doc(name, obj, spec) : NULL;

    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return k8s_entry_make(c, m, obj, doc, NULL, name, out, err);
}

static int profile_read(struct k8s_codec *c, const struct k8s_map *m,
                        const struct tby_kube_resource *res, const json_t *obj,
                        struct k8s_entry *out, struct tby_error *err)
{
    const json_t *om = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(om, "name"));
    const char *ns = json_string_value(json_object_get(om, "namespace"));
    char profile[600];
    json_t *spec;

    if (!name)
        return K8S_SKIP;
    if (res == m->types[0]) {
        snprintf(profile, sizeof(profile), KNS "%s", name);
        spec = json_pack("{s:o, s:o, s:o}", "ingress", allow_all(), "egress", allow_all(),
                         "labelsToApply", labels_to_apply(obj, "pcns.", name));
    } else {
        snprintf(profile, sizeof(profile), KSA "%s.%s", ns && *ns ? ns : "default", name);
        spec = json_pack("{s:o}", "labelsToApply", labels_to_apply(obj, "pcsa.", name));
    }
    return profile_entry(c, m, profile, obj, spec, out, err);
}

/* projectcalico-default-allow, at revision 1: it never changes. */
static int profile_constants(struct k8s_codec *c, const struct k8s_map *m,
                             struct k8s_entry **out, size_t *n, struct tby_error *err)
{
    int r;

    *n = 0;
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = profile_entry(c, m, K8S_DEFAULT_ALLOW, NULL,
                      json_pack("{s:o, s:o}", "ingress", allow_all(), "egress", allow_all()),
                      *out, err);
    if (r < 0) {
        free(*out);
        *out = NULL;
        return r;
    }
    *n = 1;
    return 0;
}

const struct k8s_conv k8s_conv_profile = {
    .access = K8S_READ_ONLY,
    .refusal = "Profiles are Namespaces (kns.*) and ServiceAccounts (ksa.*): label the "
               "Namespace or ServiceAccount instead",
    .locate = profile_locate,
    .read = profile_read,
    .constants = profile_constants,
};
