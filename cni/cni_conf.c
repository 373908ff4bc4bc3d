/* cni_conf.c — the tabby plugin's configuration keys (see cni_conf.h). */
#include <stdlib.h>
#include <string.h>

#include "cni_conf.h"

/* Below IPv6's minimum link MTU a pod could not speak IPv6; the kernel refuses more than
 * 65535 for a veth. */
#define MTU_MIN 1280
#define MTU_MAX 65535

static int read_mtu(const json_t *conf, unsigned *out, struct cni_failure *f)
{
    const json_t *v = json_object_get(conf, "mtu");
    json_int_t mtu;

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    mtu = json_integer_value(v);
    if (!json_is_integer(v) || (mtu != 0 && (mtu < MTU_MIN || mtu > MTU_MAX)))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "mtu: must be a number from %d to %d (or 0 "
                        "to detect it)", MTU_MIN, MTU_MAX);
    *out = (unsigned)mtu;
    return 0;
}

static int read_ipam_type(const struct cni_call *call, const char **out,
                          struct cni_failure *f)
{
    const json_t *ipam = cni_ipam_conf(call);
    const char *type = json_string_value(json_object_get(ipam, "type"));

    if (!ipam)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam: missing from the network "
                        "configuration (or not an object): tabby needs an IPAM plugin, such as "
                        "{\"type\": \"tabby-ipam\"}");
    if (!type || !*type)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.type: must name the IPAM plugin");
    *out = type;
    return 0;
}

int cni_conf_log_level(const json_t *conf, bool *has, enum tby_log_level *out,
                       struct cni_failure *f)
{
    const json_t *v = json_object_get(conf, "log_level");

    *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || tby_log_level_parse(json_string_value(v), out) < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "log_level: must be error, warning, info "
                        "or debug");
    *has = true;
    return 0;
}

/* One {"key": …, "value": …} of the conventions' list. */
static int label_item(json_t *labels, const json_t *item, size_t i, struct cni_failure *f)
{
    const char *key = json_string_value(json_object_get(item, "key"));
    const char *value = json_string_value(json_object_get(item, "value"));

    if (!key || !value)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "args.cni.labels[%zu]: must be {\"key\": "
                        "…, \"value\": …} with string key and value", i);
    return json_object_set_new(labels, key, json_string(value)) < 0
               ? cni_fail(f, CNI_ERR_IO, "out of memory")
               : 0;
}

static int read_labels(const struct cni_call *call, json_t *labels, struct cni_failure *f)
{
    const json_t *v = cni_runtime_arg(call, "labels"), *item;
    const char *key;
    size_t i;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (label_item(labels, item, i, f) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "args.cni.labels: must be a list of "
                        "{\"key\", \"value\"} (or a map of strings)");
    json_object_foreach((json_t *)v, key, item) {
        if (!json_is_string(item))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "args.cni.labels.%s: must be a string",
                            key);
        if (json_object_set_new(labels, key, json_string(json_string_value(item))) < 0)
            return cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    return 0;
}

static int read_ports(const struct cni_call *call, const json_t **out, struct cni_failure *f)
{
    const json_t *v = cni_runtime_arg(call, "ports");

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "args.cni.ports: must be a list of "
                        "{\"name\", \"protocol\", \"port\"}");
    *out = v;
    return 0;
}

static int read_container_settings(const json_t *conf, bool *allow, struct cni_failure *f)
{
    const json_t *cs = json_object_get(conf, "container_settings");
    const json_t *v = json_object_get(cs, "allow_ip_forwarding");

    *allow = json_is_true(v);
    if (cs && !json_is_null(cs) && !json_is_object(cs))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "container_settings: must be an object");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "container_settings.allow_ip_forwarding: "
                        "must be true or false");
    return 0;
}

int cni_conf_read(const struct cni_call *call, bool need_store, struct cni_conf *out,
                  struct cni_failure *f)
{
    memset(out, 0, sizeof(*out));
    out->labels = json_object();
    if (!out->labels)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (cni_conf_log_level(call->conf, &out->has_log_level, &out->log_level, f) < 0 ||
        read_mtu(call->conf, &out->mtu, f) < 0 || read_ipam_type(call, &out->ipam_type, f) < 0 ||
        read_container_settings(call->conf, &out->allow_ip_forwarding, f) < 0 ||
        read_labels(call, out->labels, f) < 0 || read_ports(call, &out->ports, f) < 0)
        return -1;
    if (!need_store)
        return 0;
    if (cni_store_uri(call, &out->store_uri, f) < 0 || cni_node_name(call, &out->node, f) < 0)
        return -1;
    return 0;
}

void cni_conf_clear(struct cni_conf *conf)
{
    free(conf->node);
    free(conf->store_uri);
    json_decref(conf->labels);
    memset(conf, 0, sizeof(*conf));
}
