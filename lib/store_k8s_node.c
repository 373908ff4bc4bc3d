/* store_k8s_node.c — a Calico Node on k8s: is the Kubernetes Node plus projectcalico.org
 * annotations (KDD-LAYOUT §3.6). Reading converts the annotations (invalid values are
 * skipped, as Calico skips them) and adds what the Node says itself: orchRefs, addresses,
 * pod CIDRs. Writing reads the Node afresh, rewrites only Calico's annotations (setting
 * each field given, removing the annotation of each field not given, keeping every
 * label and annotation it does not own) and PUTs it through nodes/status, as calico-node
 * does with its RBAC. Nodes are the cluster's: they are never created or deleted here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/net.h"
#include "store_k8s.h"

#define P "projectcalico.org/"
#define ANN_LABELS P "labels"
#define ANN_ANNOTATIONS P "annotations"
#define ANN_INTERFACES P "Interfaces"
#define ANN_AS P "ASNumber"

enum value_type { IPV4, IPV6, CIDR4, CIDR6, MAC, TEXT };

/* One annotation and where its value sits in the Calico Node ("spec.bgp.ipv4Address"). */
struct field {
    const char *annotation;
    const char *where[3];
    enum value_type type;
};

static const struct field fields[] = {
    { P "IPv4Address", { "spec", "bgp", "ipv4Address" }, CIDR4 },
    { P "IPv6Address", { "spec", "bgp", "ipv6Address" }, CIDR6 },
    { P "RouteReflectorClusterID", { "spec", "bgp", "routeReflectorClusterID" }, IPV4 },
    { P "IPv4IPIPTunnelAddr", { "spec", "bgp", "ipv4IPIPTunnelAddr" }, IPV4 },
    { P "IPv4VXLANTunnelAddr", { "spec", "ipv4VXLANTunnelAddr" }, IPV4 },
    { P "VXLANTunnelMACAddr", { "spec", "vxlanTunnelMACAddr" }, MAC },
    { P "IPv6VXLANTunnelAddr", { "spec", "ipv6VXLANTunnelAddr" }, IPV6 },
    { P "VXLANTunnelMACAddrV6", { "spec", "vxlanTunnelMACAddrV6" }, MAC },
    { P "IPv4WireguardInterfaceAddr", { "spec", "wireguard", "interfaceIPv4Address" }, IPV4 },
    { P "IPv6WireguardInterfaceAddr", { "spec", "wireguard", "interfaceIPv6Address" }, IPV6 },
    { P "WireguardPublicKey", { "status", "wireguardPublicKey" }, TEXT },
    { P "WireguardPublicKeyV6", { "status", "wireguardPublicKeyV6" }, TEXT },
};

static int node_locate(const struct k8s_map *m, const char *ns, const char *name,
                       struct k8s_loc *loc, struct tby_error *err)
{
    (void)ns;
    loc->res = m->types[0];
    loc->name = strdup(name);
    return loc->name ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}

static bool valid(const char *text, enum value_type type)
{
    struct tby_cidr cidr;
    struct tby_ip ip;
    unsigned b[6];
    char end;

    switch (type) {
    case IPV4:
    case IPV6:
        return tby_ip_parse(text, &ip, NULL) == 0 && ip.family == (type == IPV4 ? 4 : 6);
    case CIDR4:
    case CIDR6:
        return tby_cidr_parse(text, 0, &cidr, NULL) == 0 &&
               cidr.ip.family == (type == CIDR4 ? 4 : 6);
    case MAC:
        return sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                      &b[5], &end) == 6;
    case TEXT:
        return *text != '\0';
    }
    return false;
}

/* doc[where…] = value, making the objects on the way. */
static void set_path(json_t *doc, const char *const where[3], json_t *value)
{
    json_t *at = doc;

    for (int i = 0; i < 2 && where[i + 1]; i++) {
        json_t *next = json_object_get(at, where[i]);

        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(at, where[i], next);
        }
        at = next;
    }
    json_object_set_new(at, where[where[2] ? 2 : 1], value);
}

static const json_t *get_path(const json_t *doc, const char *const where[3])
{
    const json_t *at = doc;

    for (int i = 0; i < 3 && where[i] && at; i++)
        at = json_object_get(at, where[i]);
    return at;
}

/* "64512", or Calico's dotted "1.10" (1 * 65536 + 10). */
static bool parse_as(const char *text, json_int_t *out)
{
    unsigned long hi, lo;
    char end;

    if (sscanf(text, "%lu.%lu%c", &hi, &lo, &end) == 2 && hi <= 65535 && lo <= 65535) {
        *out = (json_int_t)(hi << 16 | lo);
        return true;
    }
    if (sscanf(text, "%lu%c", &lo, &end) == 1 && lo <= 4294967295UL) {
        *out = (json_int_t)lo;
        return true;
    }
    return false;
}

/* A JSON object held in an annotation, or an empty one. */
static json_t *json_annotation(const json_t *ann, const char *key, json_type type)
{
    const char *text = json_string_value(json_object_get(ann, key));
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;

    if (v && json_typeof(v) == type)
        return v;
    json_decref(v);
    return type == JSON_OBJECT ? json_object() : json_array();
}

static void add_address(json_t *list, const char *address, const char *type)
{
    json_array_append_new(list, json_pack("{s:s, s:s}", "address", address, "type", type));
}

static json_t *node_to_calico(const json_t *node)
{
    const json_t *nm = json_object_get(node, "metadata");
    const json_t *ann = json_object_get(nm, "annotations");
    const char *name = json_string_value(json_object_get(nm, "name"));
    json_t *doc = json_pack("{s:s, s:s, s:o, s:{}}", "apiVersion", "projectcalico.org/v3",
                            "kind", "Node", "metadata", k8s_meta_native(node), "spec");
    json_t *meta = json_object_get(doc, "metadata"), *spec = json_object_get(doc, "spec");
    json_t *labels, *addresses = json_array(), *status = json_object(), *iface;
    const json_t *a, *cidrs = json_object_get(json_object_get(node, "spec"), "podCIDRs");
    const char *text;
    json_int_t as;
    size_t i;

    if (!doc || !addresses || !status) {
        json_decref(addresses);
        json_decref(status);
        return json_decref(doc), NULL;
    }
    for (i = 0; i < TBY_ARRAY_SIZE(fields); i++) {
        text = json_string_value(json_object_get(ann, fields[i].annotation));
        if (text && valid(text, fields[i].type))
            set_path(doc, fields[i].where, json_string(text));
    }
    text = json_string_value(json_object_get(ann, ANN_AS));
    if (text && parse_as(text, &as)) {
        const char *const where[3] = { "spec", "bgp", "asNumber" };

        set_path(doc, where, json_integer(as));
    }
    iface = json_annotation(ann, ANN_INTERFACES, JSON_ARRAY);
    if (json_array_size(iface))
        json_object_set_new(spec, "interfaces", iface);
    else
        json_decref(iface);
    json_object_set_new(spec, "orchRefs", json_pack("[{s:s?, s:s}]", "nodeName", name,
                                                    "orchestrator", "k8s"));
    for (i = 0; i < 2; i++) {
        const char *const where[3] = { "spec", "bgp", i ? "ipv6Address" : "ipv4Address" };

        if ((text = json_string_value(get_path(doc, where))))
            add_address(addresses, text, "CalicoNodeIP");
    }
    json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, a) {
        const char *type = json_string_value(json_object_get(a, "type"));

        text = json_string_value(json_object_get(a, "address"));
        if (text && type && (!strcmp(type, "InternalIP") || !strcmp(type, "ExternalIP")))
            add_address(addresses, text, type);
    }
    json_object_set_new(spec, "addresses", addresses);
    if (json_array_size(cidrs))
        json_object_set_new(status, "podCIDRs", json_deep_copy(cidrs));
    if (json_object_size(json_object_get(doc, "status")))
        json_object_update(status, json_object_get(doc, "status"));
    json_object_set_new(doc, "status", status);
    if (!json_object_size(status))
        json_object_del(doc, "status");
    /* Calico's own labels underneath, Kubernetes' on top. */
    labels = json_annotation(ann, ANN_LABELS, JSON_OBJECT);
    if (json_is_object(json_object_get(meta, "labels")))
        json_object_update(labels, json_object_get(meta, "labels"));
    json_object_del(meta, "labels");
    if (json_object_size(labels))
        json_object_set(meta, "labels", labels);
    json_decref(labels);
    json_object_set_new(meta, "annotations", json_annotation(ann, ANN_ANNOTATIONS, JSON_OBJECT));
    if (!json_object_size(json_object_get(meta, "annotations")))
        json_object_del(meta, "annotations");
    return doc;
}

static int node_read(struct k8s_codec *c, const struct k8s_map *m,
                     const struct tby_kube_resource *res, const json_t *obj,
                     struct k8s_entry *out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = node_to_calico(obj);
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                         "name"));

    (void)res;
    if (!name)
        return K8S_SKIP;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return k8s_entry_make(c, m, obj, doc, NULL, name, out, err);
}

/* ann[key] = text, or no such annotation when text is NULL or empty. */
static void set_annotation(json_t *ann, const char *key, const char *text)
{
    if (text && *text)
        json_object_set_new(ann, key, json_string(text));
    else
        json_object_del(ann, key);
}

/* ann[key] = the JSON text of v, or none when v is empty. */
static void set_json_annotation(json_t *ann, const char *key, const json_t *v)
{
    bool empty = json_is_object(v) ? !json_object_size(v) : !json_array_size(v);
    char *text = empty ? NULL : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

    set_annotation(ann, key, text);
    free(text);
}

static int node_put(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                    struct tby_error *err)
{
    const json_t *vmeta = json_object_get(w->value, "metadata");
    const json_t *kube_labels = json_object_get(json_object_get(w->raw, "metadata"), "labels");
    json_t *body = json_deep_copy(w->raw), *meta, *ann, *own, *v;
    const json_t *as;
    const char *key;
    char number[24];

    (void)c;
    meta = json_object_get(body, "metadata");
    if (!json_is_object(meta))
        return json_decref(body), tby_error_set(err, -ENOMEM, "out of memory");
    ann = json_object_get(meta, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(meta, "annotations", ann);
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fields); i++)
        set_annotation(ann, fields[i].annotation,
                       json_string_value(get_path(w->value, fields[i].where)));
    as = json_object_get(json_object_get(json_object_get(w->value, "spec"), "bgp"), "asNumber");
    snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT, json_integer_value(as));
    set_annotation(ann, ANN_AS, json_is_integer(as) ? number : NULL);
    set_json_annotation(ann, ANN_INTERFACES,
                        json_object_get(json_object_get(w->value, "spec"), "interfaces"));
    /* Labels the Node has with the same value are the Node's own, not Calico's. */
    own = json_object();
    json_object_foreach((json_t *)json_object_get(vmeta, "labels"), key, v)
        if (!json_equal(json_object_get(kube_labels, key), v))
            json_object_set(own, key, v);
    set_json_annotation(ann, ANN_LABELS, own);
    json_decref(own);
    set_json_annotation(ann, ANN_ANNOTATIONS, json_object_get(vmeta, "annotations"));
    json_object_del(meta, "managedFields");
    out->verb = K8S_PUT_STATUS;
    out->body = body;
    return 0;
}

const struct k8s_conv k8s_conv_node = {
    .access = K8S_UPDATE_ONLY,
    .refusal = "Calico Nodes are Kubernetes Nodes, which kubelet registers and the cluster "
               "removes: tabby only updates their projectcalico.org/ annotations",
    .locate = node_locate,
    .read = node_read,
    .put = node_put,
    .fresh_read = true,
};
