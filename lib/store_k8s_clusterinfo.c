/* store_k8s_clusterinfo.c — Calico's ClusterInformation on k8s: (KDD-LAYOUT §7), read only:
 * /tabby/v1/clusterinformations/<name> is the custom resource clusterinformations
 * .crd.projectcalico.org/<name>, its value the spec as Calico wrote it. It is no kind of
 * tabby's: tabby-node watches it as a record (its datastoreReady), and makes it through
 * the API directly (node/clusterinfo.c). */
#include <errno.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "store_k8s.h"

static int clusterinfo_locate(const struct k8s_map *m, const char *ns, const char *name,
                              struct k8s_loc *loc, struct tby_error *err)
{
    (void)ns;
    loc->res = m->types[0];
    loc->name = strdup(name);
    return loc->name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

static int clusterinfo_read(struct k8s_codec *c, const struct k8s_map *m,
                            const struct tby_kube_resource *res, const json_t *obj,
                            struct k8s_entry *out, struct tby_error *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                         "name"));
    const json_t *spec = json_object_get(obj, "spec");
    _cleanup_json_ json_t *doc = json_is_object(spec) ? json_deep_copy(spec) : json_object();

    (void)c;
    (void)res;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return k8s_entry_take(m, obj, doc, NULL, name, out, err);
}

const struct k8s_conv k8s_conv_clusterinfo = {
    .access = K8S_READ_ONLY,
    .refusal = "ClusterInformation is written by tabby-node (and calico-node) only",
    .locate = clusterinfo_locate,
    .read = clusterinfo_read,
};
