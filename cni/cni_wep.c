/* cni_wep.c — the pod's WorkloadEndpoint (see cni_wep.h). Built as a document and decoded
 * like any other, so the plugin can never record what tabbyctl would refuse. */
#include <errno.h>
#include <stdlib.h>

#include "tabby/cleanup.h"
#include "tabby/endpoint_names.h"
#include "cni_wep.h"

static const char *orchestrator_of(const struct cni_wep_input *in)
{
    return in->pod && *in->pod ? "k8s" : "cni";
}

int cni_wep_name_of(const struct cni_wep_input *in, char **name, const char **namespace,
                    struct tby_error *err)
{
    bool k8s = in->pod && *in->pod;

    *namespace = in->namespace && *in->namespace ? in->namespace : "default";
    return tby_wep_name(in->node, orchestrator_of(in), k8s ? in->pod : in->container_id,
                        in->endpoint, name, err);
}

static json_t *labels_of(const struct cni_wep_input *in, const char *namespace)
{
    json_t *labels = in->labels ? json_deep_copy(in->labels) : json_object();

    if (labels && (json_object_set_new(labels, CNI_LABEL_NAMESPACE, json_string(namespace)) < 0 ||
                   json_object_set_new(labels, CNI_LABEL_ORCHESTRATOR,
                                       json_string(orchestrator_of(in))) < 0)) {
        json_decref(labels);
        return NULL;
    }
    return labels;
}

static json_t *annotations_of(const struct cni_wep_input *in)
{
    return in->network ? json_pack("{s:s}", CNI_ANNOTATION_NETWORK, in->network) : json_object();
}

static json_t *networks_of(const struct cni_result *res)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < res->n_ips; i++) {
        struct tby_cidr host = { res->ips[i].address.ip,
                                 (uint8_t)tby_ip_bits(&res->ips[i].address.ip) };
        char text[TBY_CIDR_STRLEN];

        if (json_array_append_new(list, json_string(tby_cidr_format(&host, text))) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *profiles_of(const struct cni_wep_input *in, const char *namespace)
{
    json_t *list = json_array();

    if (list && (json_array_append_new(list, json_sprintf("kns.%s", namespace)) < 0 ||
                 (in->service_account &&
                  json_array_append_new(list, json_sprintf("ksa.%s.%s", namespace,
                                                           in->service_account)) < 0))) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* spec[key] = value (borrowed) when value is given. */
static int set_optional(json_t *spec, const char *key, const json_t *value)
{
    return value ? json_object_set(spec, key, (json_t *)value) : 0;
}

static json_t *spec_of(const struct cni_wep_input *in, const char *namespace)
{
    json_t *spec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s}",
                             "orchestrator", orchestrator_of(in), "node", in->node,
                             "containerID", in->container_id, "endpoint", in->endpoint,
                             "ipNetworks", networks_of(in->res), "profiles",
                             profiles_of(in, namespace), "interfaceName", in->host_ifname,
                             "mac", in->mac);

    if (spec && ((in->pod && *in->pod &&
                  json_object_set_new(spec, "pod", json_string(in->pod)) < 0) ||
                 (in->service_account &&
                  json_object_set_new(spec, "serviceAccountName",
                                      json_string(in->service_account)) < 0) ||
                 set_optional(spec, "ports", in->ports) < 0 ||
                 set_optional(spec, "allowSpoofedSourcePrefixes", in->source_prefixes) < 0)) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}

int cni_wep_build(const struct cni_wep_input *in, struct tby_resource **out,
                  struct tby_error *err)
{
    _cleanup_free_ char *name = NULL;
    _cleanup_json_ json_t *doc = NULL;
    const char *namespace;
    int r = cni_wep_name_of(in, &name, &namespace, err);

    if (r < 0)
        return r;
    doc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o*, s:o*}, s:o*}", "apiVersion",
                    "projectcalico.org/v3", "kind", "WorkloadEndpoint", "metadata", "name",
                    name, "namespace", namespace, "labels", labels_of(in, namespace),
                    "annotations", annotations_of(in), "spec", spec_of(in, namespace));
    if (!doc || !json_object_get(json_object_get(doc, "metadata"), "labels") ||
        !json_object_get(json_object_get(doc, "metadata"), "annotations") ||
        !json_object_get(doc, "spec"))
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_resource_decode(doc, out, err);
    if (r < 0)
        tby_error_prefix(err, "WorkloadEndpoint %s/%s", namespace, name);
    return r;
}
