/* cni_conf.c — the tabby plugin's configuration keys (see cni_conf.h). */
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "cni_conf.h"
#include "cni_datastore.h"
#include "cni_mtu.h"

static int read_mtu(const json_t *conf, unsigned *out, struct cni_failure *f)
{
    const json_t *v = json_object_get(conf, "mtu");
    json_int_t mtu;

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    mtu = json_integer_value(v);
    if (!json_is_integer(v) || (mtu != 0 && (mtu < CNI_MTU_MIN || mtu > CNI_MTU_MAX)))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "mtu: must be a number from %d to %d (or 0 "
                        "to detect it)", CNI_MTU_MIN, CNI_MTU_MAX);
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

/* ---- Calico's keys that tabby does not implement ------------------------------------- */

enum key_rule {
    KEY_IGNORED,        /* irrelevant here: a debug line */
    KEY_REFUSED,        /* would change what happens: refused when set */
};

static const struct calico_key {
    const char *path;
    enum key_rule rule;
    const char *why;
} calico_keys[] = {
    { "feature_control.ip_addrs_no_ipam", KEY_REFUSED,
      "tabby does not give pods addresses outside IPAM (the ipAddrsNoIpam annotation)" },
    { "feature_control.floating_ips", KEY_REFUSED,
      "tabby does not NAT floating IPs to pods (the floatingIPs annotation)" },
    { "readiness_gates", KEY_REFUSED, "tabby does not wait for readiness URLs before ADD" },
    { "policy_setup_timeout_seconds", KEY_REFUSED,
      "tabby does not hold ADD until the pod's policy is programmed" },
    { "log_file_path", KEY_IGNORED, "tabby logs on standard error, which the runtime keeps" },
    { "log_file_max_size", KEY_IGNORED, "no log file" },
    { "log_file_max_age", KEY_IGNORED, "no log file" },
    { "log_file_max_count", KEY_IGNORED, "no log file" },
    { "qps", KEY_IGNORED, "a plugin makes a few requests" },
    { "burst", KEY_IGNORED, "a plugin makes a few requests" },
    { "kubernetes.node_name", KEY_IGNORED, "host-local's usePodCidr is not supported" },
    { "include_default_routes", KEY_IGNORED, "tabby always adds the default routes" },
    { "num_queues", KEY_IGNORED, "veths get one queue" },
    { "endpoint_status_dir", KEY_IGNORED, "only for policy_setup_timeout_seconds" },
    { "dataplane_options", KEY_IGNORED, "for other dataplanes" },
    { "mode", KEY_IGNORED, "Windows' VXLAN mode" },
    { "vxlan_mac_prefix", KEY_IGNORED, "Windows only" },
    { "vxlan_vni", KEY_IGNORED, "Windows only" },
    { "windows_pod_deletion_timestamp_timeout", KEY_IGNORED, "Windows only" },
    { "windows_use_single_network", KEY_IGNORED, "Windows only" },
    { "windows_disable_default_deny_all_policy", KEY_IGNORED, "Windows only" },
    { "windows_loopback_DSR", KEY_IGNORED, "Windows only" },
    { "args.org.apache.mesos", KEY_IGNORED, "Mesos labels" },
};

/* Set to something: not false, 0, "", [] or {}. */
static bool is_set(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return *json_string_value(v) != '\0';
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

/* host-local's "usePodCidr": Calico puts the node's podCIDR there, tabby does not. */
static int check_ipam_subnet(const struct cni_call *call, struct cni_failure *f)
{
    const char *subnet;

    if (cni_conf_str(call->conf, "ipam.subnet", &subnet, f) < 0)
        return -1;
    if (subnet && strncmp(subnet, "usePodCidr", 10) == 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.subnet \"%s\": not supported: tabby "
                        "does not fill in the node's podCIDR (give host-local its subnet, or "
                        "use tabby-ipam)", subnet);
    return 0;
}

/* DEL and GC undo what was done whatever the configuration says now. */
static int check_calico_keys(const struct cni_call *call, struct cni_failure *f)
{
    bool cleanup = call->command == CNI_DEL || call->command == CNI_GC;
    const json_t *conf = call->conf, *v;
    const char *device, *group;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(calico_keys); i++) {
        const struct calico_key *k = &calico_keys[i];

        if (cni_conf_at(conf, k->path, &v, f) < 0)
            return -1;
        if (!v || !is_set(v))
            continue;
        if (k->rule == KEY_REFUSED && !cleanup)
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: not supported: %s", k->path,
                            k->why);
        tby_log(TBY_LOG_DEBUG, "cni", "ignored key=%s why=\"%s\"", k->path, k->why);
    }
    if (cleanup)
        return 0;
    if (cni_conf_str(conf, "device_type", &device, f) < 0 ||
        cni_conf_str(conf, "calico_api_group", &group, f) < 0)
        return -1;
    /* Calico falls back to a veth where netkit is missing; tabby always does. */
    if (device && strcmp(device, "veth") != 0 && strcmp(device, "netkit") != 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "device_type \"%s\": must be veth (or "
                        "netkit, for which tabby makes a veth)", device);
    if (group && strcmp(group, "crd.projectcalico.org/v1") != 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "calico_api_group \"%s\": tabby reads "
                        "Calico's resources in crd.projectcalico.org/v1 only", group);
    return check_ipam_subnet(call, f);
}

/* ---- the MTU file and the Kubernetes API ------------------------------------------------ */

static int read_mtu_file(const json_t *conf, struct cni_conf *out, struct cni_failure *f)
{
    if (cni_conf_str(conf, "mtu_file", &out->mtu_file, f) < 0 ||
        cni_conf_flag(conf, "require_mtu_file", &out->require_mtu_file, f) < 0)
        return -1;
    if (!out->mtu_file)
        out->mtu_file = CNI_MTU_FILE;
    return 0;
}

/* policy.k8s_api_root may name the old /api/v1 path: only the server is kept. */
static int api_root(const char *text, char **out, struct cni_failure *f)
{
    const char *api = strstr(text, "/api/");
    size_t len = api ? (size_t)(api - text) : strlen(text);

    while (len > 0 && text[len - 1] == '/')
        len--;
    if (len == 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "k8s_api_root \"%s\": no server in it", text);
    *out = strndup(text, len);
    return *out ? 0 : cni_fail(f, CNI_ERR_IO, "out of memory");
}

static int read_kube(const json_t *conf, struct cni_kube_conf *k, struct cni_failure *f)
{
    const char *policy_type, *datastore_type, *root, *legacy_root;

    if (cni_conf_str(conf, "policy.type", &policy_type, f) < 0 ||
        cni_conf_str(conf, "datastore_type", &datastore_type, f) < 0 ||
        cni_conf_str(conf, "kubernetes.kubeconfig", &k->kubeconfig, f) < 0 ||
        cni_conf_str(conf, "kubernetes.k8s_api_root", &root, f) < 0 ||
        cni_conf_str(conf, "policy.k8s_api_root", &legacy_root, f) < 0 ||
        cni_conf_str(conf, "policy.k8s_auth_token", &k->token, f) < 0 ||
        cni_conf_str(conf, "policy.k8s_client_certificate", &k->client_certificate, f) < 0 ||
        cni_conf_str(conf, "policy.k8s_client_key", &k->client_key, f) < 0 ||
        cni_conf_str(conf, "policy.k8s_certificate_authority", &k->certificate_authority, f) < 0)
        return -1;
    if (policy_type && strcmp(policy_type, "k8s") != 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "policy.type \"%s\": must be k8s (or absent)",
                        policy_type);
    /* As Calico: kubernetes.k8s_api_root wins over policy's. */
    if ((root || legacy_root) && api_root(root ? root : legacy_root, &k->api_root, f) < 0)
        return -1;
    k->wanted = policy_type || (datastore_type && strcmp(datastore_type, "kubernetes") == 0) ||
                k->kubeconfig || k->api_root || k->token || k->client_certificate ||
                k->client_key || k->certificate_authority;
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
        read_mtu(call->conf, &out->mtu, f) < 0 || read_mtu_file(call->conf, out, f) < 0 ||
        read_ipam_type(call, &out->ipam_type, f) < 0 ||
        read_container_settings(call->conf, &out->allow_ip_forwarding, f) < 0 ||
        read_labels(call, out->labels, f) < 0 || read_ports(call, &out->ports, f) < 0 ||
        check_calico_keys(call, f) < 0 ||
        read_kube(call->conf, &out->kube, f) < 0)
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
    free(conf->kube.api_root);
    json_decref(conf->labels);
    memset(conf, 0, sizeof(*conf));
}
