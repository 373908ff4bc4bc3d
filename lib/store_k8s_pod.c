/* store_k8s_pod.c — WorkloadEndpoints on k8s: are Pods (KDD-LAYOUT §3.1). There is no
 * endpoint object: each scheduled, pod-networked Pod reads as the endpoint
 * <node>-k8s-<pod>-eth0 in its namespace, converted as Calico converts it, with tabby's
 * interface prefix as the CNI plugin names the veth (tby + SHA-1 of "<ns>.<pod>").
 *
 * A pod with no address (not networked yet, finished, or whose CNI DEL ran) reads as no
 * endpoint at all: tabby's consumers would drop an endpoint without addresses anyway, and
 * the CNI plugin's create-if-absent of a new endpoint then holds.
 *
 * Writes are what the CNI plugin may say about a pod: put = a strategic-merge patch of the
 * pod's status setting the cni.projectcalico.org/podIP, podIPs and containerID
 * annotations; delete = the same patch emptying podIP and podIPs, with the pod's uid and
 * resourceVersion so it fails if the pod changed or was replaced. Labels, ports and the
 * rest are the pod's own: a put that changes labels is refused (label the Pod). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/endpoint_names.h"
#include "tabby/net.h"
#include "store_k8s.h"

#define ANN_POD_IP "cni.projectcalico.org/podIP"
#define ANN_POD_IPS "cni.projectcalico.org/podIPs"
#define ANN_CONTAINER_ID "cni.projectcalico.org/containerID"
#define ANN_FLOATING_IPS "cni.projectcalico.org/floatingIPs"
#define ANN_SOURCE_PREFIXES "cni.projectcalico.org/allowedSourcePrefixes"
#define ANN_AWS_POD_IPS "vpc.amazonaws.com/pod-ips"
#define ANN_NETWORK_STATUS "k8s.v1.cni.cncf.io/network-status"
/* Calico's cap for the service-account label (a label value's limit). */
#define SA_LABEL_MAX 63

static int pod_locate(const struct k8s_map *m, const char *ns, const char *name,
                      struct k8s_loc *loc, struct tby_error *err)
{
    struct tby_wep_parts p;
    int r = tby_wep_name_parse(name, &p);

    if (r == -ENOMEM)
        return tby_error_set(err, r, "out of memory");
    if (r < 0 || strcmp(p.orchestrator, "k8s") != 0 || strcmp(p.endpoint, "eth0") != 0) {
        tby_wep_parts_clear(&p);
        return -ENOENT; /* not an endpoint name a pod can have */
    }
    loc->res = m->types[0];
    loc->ns = strdup(ns);
    loc->name = TBY_STEAL(p.workload);
    tby_wep_parts_clear(&p);
    return loc->ns && loc->name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return json_string_value(b ? json_object_get(v, b) : v);
}

static const char *annotation(const json_t *pod, const char *key)
{
    return str_at(json_object_get(pod, "metadata"), "annotations", key);
}

/* Finished pods keep an endpoint without addresses (Calico's rule). */
static bool finished(const json_t *pod)
{
    const char *phase = str_at(pod, "status", "phase");
    const char *ip = annotation(pod, ANN_POD_IP);

    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") ||
                  !strcmp(phase, "Completed")))
        return true;
    return json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp") && ip &&
           !*ip;
}

/* An address as a /32 or /128 network (a CIDR is taken as it is). */
static int add_network(json_t *nets, const char *text)
{
    struct tby_cidr cidr;
    char buf[TBY_CIDR_STRLEN];

    if (tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &cidr, NULL) < 0)
        return 0; /* not an address: skipped, as Calico logs and skips it */
    return json_array_append_new(nets, json_string(tby_cidr_format(&cidr, buf)));
}

static int add_separated(json_t *nets, const char *list, char sep)
{
    char buf[128];

    while (list && *list) {
        size_t len = strcspn(list, (char[]){ sep, '\0' });

        if (len && len < sizeof(buf)) {
            memcpy(buf, list, len);
            buf[len] = '\0';
            add_network(nets, buf);
        }
        list += len + (list[len] ? 1 : 0);
    }
    return 0;
}

/* The first found of status.podIPs, status.podIP, the podIPs and podIP annotations and
 * AWS's pod-ips annotation. */
static json_t *pod_networks(const json_t *pod)
{
    const json_t *status = json_object_get(pod, "status");
    const json_t *ips = json_object_get(status, "podIPs");
    json_t *nets = json_array();
    const json_t *ip;
    size_t i;

    if (!nets || finished(pod))
        return nets;
    json_array_foreach(ips, i, ip)
        if (json_is_string(json_object_get(ip, "ip")))
            add_network(nets, json_string_value(json_object_get(ip, "ip")));
    if (!json_array_size(nets) && json_is_string(json_object_get(status, "podIP")))
        add_network(nets, json_string_value(json_object_get(status, "podIP")));
    if (!json_array_size(nets))
        add_separated(nets, annotation(pod, ANN_POD_IPS), ',');
    if (!json_array_size(nets))
        add_separated(nets, annotation(pod, ANN_POD_IP), ',');
    if (!json_array_size(nets))
        add_separated(nets, annotation(pod, ANN_AWS_POD_IPS), ',');
    return nets;
}

/* Ports of every container and init container that have a number and a name or a
 * hostPort; protocols other than TCP, UDP and SCTP are skipped. */
static void add_ports(json_t *out, const json_t *containers)
{
    const json_t *c, *p;
    size_t i, j;

    json_array_foreach(containers, i, c) {
        json_array_foreach(json_object_get(c, "ports"), j, p) {
            const char *name = json_string_value(json_object_get(p, "name"));
            const char *proto = json_string_value(json_object_get(p, "protocol"));
            const json_t *number = json_object_get(p, "containerPort");
            const json_t *host = json_object_get(p, "hostPort");
            json_t *port;

            if (!json_is_integer(number) || (!name && !json_integer_value(host)))
                continue;
            if (!proto)
                proto = "TCP";
            if (strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP"))
                continue;
            port = json_object(); /* in the encoder's order */
            if (!port)
                continue;
            if (name)
                json_object_set_new(port, "name", json_string(name));
            json_object_set_new(port, "protocol", json_string(proto));
            json_object_set(port, "port", (json_t *)number);
            if (json_integer_value(host))
                json_object_set(port, "hostPort", (json_t *)host);
            if (json_is_string(json_object_get(p, "hostIP")))
                json_object_set(port, "hostIP", json_object_get(p, "hostIP"));
            json_array_append_new(out, port);
        }
    }
}

/* cni.projectcalico.org/floatingIPs: each paired with the pod's address of its family. */
static json_t *ip_nats(const json_t *pod, const json_t *nets)
{
    const char *text = annotation(pod, ANN_FLOATING_IPS);
    _cleanup_json_ json_t *floating = text ? json_loads(text, 0, NULL) : NULL;
    json_t *out = json_array(), *f;
    size_t i, j;

    json_array_foreach(floating, i, f) {
        struct tby_ip ext, in;
        const json_t *net;

        if (!json_is_string(f) || tby_ip_parse(json_string_value(f), &ext, NULL) < 0)
            continue;
        json_array_foreach(nets, j, net) {
            struct tby_cidr cidr;
            char buf[TBY_IP_STRLEN];

            if (tby_cidr_parse(json_string_value(net), TBY_CIDR_ALLOW_IP, &cidr, NULL) < 0 ||
                cidr.ip.family != ext.family)
                continue;
            in = cidr.ip;
            json_array_append_new(out, json_pack("{s:s, s:s}", "internalIP",
                                                 tby_ip_format(&in, buf), "externalIP",
                                                 json_string_value(f)));
            break;
        }
    }
    return out;
}

static json_t *wep_labels(const json_t *pod, const char *ns, const char *sa)
{
    json_t *labels = json_deep_copy(json_object_get(json_object_get(pod, "metadata"),
                                                    "labels"));

    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    json_object_set_new(labels, "projectcalico.org/namespace", json_string(ns));
    json_object_set_new(labels, "projectcalico.org/orchestrator", json_string("k8s"));
    if (sa && *sa && strlen(sa) < SA_LABEL_MAX)
        json_object_set_new(labels, "projectcalico.org/serviceaccount", json_string(sa));
    return labels;
}

/* The v3 endpoint of a pod, or NULL (*skip) when the pod is none. */
json_t *k8s_pod_to_wep(const json_t *pod, char **wep_name, bool *skip)
{
    const json_t *pm = json_object_get(pod, "metadata");
    const json_t *ps = json_object_get(pod, "spec");
    const char *ns = str_at(pm, "namespace", NULL), *name = str_at(pm, "name", NULL);
    const char *node = str_at(ps, "nodeName", NULL);
    const char *sa = str_at(ps, "serviceAccountName", NULL);
    const char *cid = annotation(pod, ANN_CONTAINER_ID);
    const char *spoof = annotation(pod, ANN_SOURCE_PREFIXES);
    const char *multus = annotation(pod, ANN_NETWORK_STATUS);
    json_t *doc, *meta, *spec, *nets, *nats, *ports, *profiles, *prefixes;
    char iface[IFNAMSIZ], profile[600];

    *skip = true;
    if (!ns || !name || !node || !*node || json_is_true(json_object_get(ps, "hostNetwork")))
        return NULL;
    nets = pod_networks(pod);
    if (!nets || json_array_size(nets) == 0 ||
        tby_wep_name(node, "k8s", name, "eth0", wep_name, NULL) < 0) {
        json_decref(nets);
        return NULL;
    }
    *skip = false;
    tby_veth_name(ns, name, NULL, iface);
    meta = k8s_meta_native(pod);
    json_object_set_new(meta, "name", json_string(*wep_name));
    json_object_set_new(meta, "labels", wep_labels(pod, ns, sa));
    json_object_del(meta, "annotations");
    if (multus)
        json_object_set_new(meta, "annotations", json_pack("{s:s}", ANN_NETWORK_STATUS, multus));
    /* Fields in the order tabby's encoder writes them: the endpoint is then already in
     * its normal form (pod_read). */
    spec = json_pack("{s:s, s:s}", "orchestrator", "k8s", "node", node);
    if (cid && *cid)
        json_object_set_new(spec, "containerID", json_string(cid));
    json_object_set_new(spec, "pod", json_string(name));
    json_object_set_new(spec, "endpoint", json_string("eth0"));
    if (sa && *sa)
        json_object_set_new(spec, "serviceAccountName", json_string(sa));
    json_object_set_new(spec, "ipNetworks", nets);
    nats = ip_nats(pod, nets);
    if (json_array_size(nats))
        json_object_set(spec, "ipNATs", nats);
    json_decref(nats);
    profiles = json_array();
    snprintf(profile, sizeof(profile), "kns.%s", ns);
    json_array_append_new(profiles, json_string(profile));
    if (sa && *sa) {
        snprintf(profile, sizeof(profile), "ksa.%s.%s", ns, sa);
        json_array_append_new(profiles, json_string(profile));
    }
    json_object_set_new(spec, "profiles", profiles);
    json_object_set_new(spec, "interfaceName", json_string(iface));
    ports = json_array();
    add_ports(ports, json_object_get(ps, "containers"));
    add_ports(ports, json_object_get(ps, "initContainers"));
    if (json_array_size(ports))
        json_object_set(spec, "ports", ports);
    json_decref(ports);
    prefixes = spoof ? json_loads(spoof, 0, NULL) : NULL;
    if (json_is_array(prefixes) && json_array_size(prefixes))
        json_object_set(spec, "allowSpoofedSourcePrefixes", prefixes);
    json_decref(prefixes);
    doc = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "projectcalico.org/v3", "kind",
                    "WorkloadEndpoint", "metadata", meta, "spec", spec);
    return doc;
}

/* The converter's endpoint is in tabby's normal form (test_store_k8s compares it with
 * the view, text for text) but where it copies a value the user wrote that the decoder
 * reads and writes back in its own form: NAT and spoofing addresses, a port's hostIP.
 * Those go through the view. */
static bool normal_form(const json_t *doc)
{
    const json_t *spec = json_object_get(doc, "spec"), *port;
    size_t i;

    if (json_object_get(spec, "ipNATs") || json_object_get(spec, "allowSpoofedSourcePrefixes"))
        return false;
    json_array_foreach(json_object_get(spec, "ports"), i, port)
        if (json_object_get(port, "hostIP"))
            return false;
    return true;
}

static int pod_read(struct k8s_codec *c, const struct k8s_map *m,
                    const struct tby_kube_resource *res, const json_t *obj,
                    struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_free_ char *name = NULL;
    bool skip;
    _cleanup_json_ json_t *doc = k8s_pod_to_wep(obj, &name, &skip);
    const char *ns;

    (void)res;
    if (skip)
        return K8S_SKIP;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    ns = str_at(json_object_get(obj, "metadata"), "namespace", NULL);
    if (normal_form(doc))
        return k8s_entry_take(m, obj, doc, ns, name, out, err);
    return k8s_entry_make(c, m, obj, doc, ns, name, out, err);
}

/* The status patch of the CNI annotations (podIP "" and podIPs "" when value is NULL),
 * conditional on resourceVersion `rv` and `uid` when given. */
static json_t *annotation_patch(const json_t *value, const char *rv, const char *uid)
{
    const json_t *spec = json_object_get(value, "spec");
    const json_t *nets = json_object_get(spec, "ipNetworks");
    const char *cid = json_string_value(json_object_get(spec, "containerID"));
    json_t *patch = json_pack("{s:{s:{}}}", "metadata", "annotations");
    json_t *meta = json_object_get(patch, "metadata"), *ann = json_object_get(meta, "annotations");
    _cleanup_free_ char *all = NULL;
    const json_t *net;
    size_t i, len = 1;

    if (!patch)
        return NULL;
    json_array_foreach(nets, i, net)
        len += strlen(json_string_value(net) ?: "") + 1;
    all = calloc(1, len);
    json_array_foreach(nets, i, net) {
        if (!all || !json_is_string(net))
            continue;
        if (*all)
            strcat(all, ",");
        strcat(all, json_string_value(net));
    }
    net = json_array_get(nets, 0);
    json_object_set_new(ann, ANN_POD_IP, json_string(json_is_string(net) ? json_string_value(net)
                                                                         : ""));
    json_object_set_new(ann, ANN_POD_IPS, json_string(all ? all : ""));
    if (cid)
        json_object_set_new(ann, ANN_CONTAINER_ID, json_string(cid));
    if (rv)
        json_object_set_new(meta, "resourceVersion", json_string(rv));
    if (uid)
        json_object_set_new(meta, "uid", json_string(uid));
    return patch;
}

/* Absent labels are no labels. */
static bool same_labels(const json_t *a, const json_t *b)
{
    if (!json_object_size(a) || !json_object_size(b))
        return !json_object_size(a) && !json_object_size(b);
    return json_equal(a, b);
}

static int pod_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                   struct tby_error *err)
{
    char rv[24];

    if (w->raw) {
        _cleanup_free_ char *name = NULL;
        bool skip;
        _cleanup_json_ json_t *doc = k8s_pod_to_wep(w->raw, &name, &skip);
        _cleanup_json_ json_t *now = NULL;
        const json_t *want = json_object_get(json_object_get(w->value, "metadata"), "labels");

        if (doc && k8s_view(c, doc, &now, NULL, NULL) == 0 &&
            !same_labels(json_object_get(json_object_get(now, "metadata"), "labels"), want))
            return tby_error_set(err, -EPERM, "WorkloadEndpoint %s/%s: on k8s: an endpoint's "
                                 "labels are its Pod's: label the Pod instead (kubectl label "
                                 "pod -n %s %s …)", w->loc->ns, name ? name : w->loc->name,
                                 w->loc->ns, w->loc->name);
    }
    snprintf(rv, sizeof(rv), "%lld", (long long)w->expect);
    out->verb = K8S_PATCH_STATUS;
    out->body = annotation_patch(w->value, w->expect > 0 ? rv : NULL, NULL);
    return out->body ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

static int pod_remove(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                      struct tby_error *err)
{
    const json_t *pm = json_object_get(w->raw, "metadata");

    (void)c;
    out->verb = K8S_PATCH_STATUS;
    out->body = annotation_patch(NULL, str_at(pm, "resourceVersion", NULL),
                                 str_at(pm, "uid", NULL));
    return out->body ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

const struct k8s_conv k8s_conv_pod = {
    .access = K8S_READ_WRITE,
    .locate = pod_locate,
    .read = pod_read,
    .put = pod_put,
    .remove = pod_remove,
};
