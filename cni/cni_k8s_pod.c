/* cni_k8s_pod.c — a pod and its namespace as the tabby plugin sees them (see
 * cni_k8s_pod.h). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/net.h"
#include "cni_k8s_pod.h"
#include "cni_wep.h"

#define ANN_V4POOLS CNI_ANN_PREFIX "ipv4pools"
#define ANN_V6POOLS CNI_ANN_PREFIX "ipv6pools"
#define ANN_FAMILIES CNI_ANN_PREFIX "ipFamilies"
#define ANN_IPADDRS CNI_ANN_PREFIX "ipAddrs"
#define ANN_NO_IPAM CNI_ANN_PREFIX "ipAddrsNoIpam"
#define ANN_FLOATING CNI_ANN_PREFIX "floatingIPs"
#define ANN_SOURCE_PREFIXES CNI_ANN_PREFIX "allowedSourcePrefixes"
/* A label value's limit: Calico leaves the label out for longer names. */
#define LABEL_VALUE_MAX 63

static const char *string_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return json_string_value(b ? json_object_get(v, b) : v);
}

const char *cni_k8s_annotation(const json_t *obj, const char *key)
{
    const char *v = string_at(json_object_get(obj, "metadata"), "annotations", key);

    return v && *v ? v : NULL;
}

const char *cni_k8s_uid(const json_t *obj)
{
    return string_at(json_object_get(obj, "metadata"), "uid", NULL);
}

/* A message about annotation `key` of the pod or (on_ns) of its namespace. */
static int fail_on(struct tby_error *err, const struct cni_k8s_pod *p, bool on_ns,
                   const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_on(struct tby_error *err, const struct cni_k8s_pod *p, bool on_ns,
                   const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tby_error_setv(err, -EINVAL, fmt, ap);
    va_end(ap);
    if (on_ns)
        return tby_error_prefix(err, "annotation %s on namespace %s", key, p->namespace);
    return tby_error_prefix(err, "annotation %s on pod %s/%s", key, p->namespace, p->name);
}

/* ---- labels and ports ------------------------------------------------------------------- */

static int build_labels(struct cni_k8s_pod *p)
{
    const json_t *own = json_object_get(json_object_get(p->pod, "metadata"), "labels");

    p->labels = json_is_object(own) ? json_deep_copy(own) : json_object();
    if (!p->labels ||
        json_object_set_new(p->labels, CNI_LABEL_NAMESPACE, json_string(p->namespace)) < 0 ||
        json_object_set_new(p->labels, CNI_LABEL_ORCHESTRATOR, json_string("k8s")) < 0)
        return -ENOMEM;
    if (p->service_account && strlen(p->service_account) < LABEL_VALUE_MAX &&
        json_object_set_new(p->labels, CNI_LABEL_SERVICE_ACCOUNT,
                            json_string(p->service_account)) < 0)
        return -ENOMEM;
    return 0;
}

static bool known_protocol(const char *proto)
{
    return !strcmp(proto, "TCP") || !strcmp(proto, "UDP") || !strcmp(proto, "SCTP");
}

/* One container port, when it is one an endpoint lists; *out NULL when not. */
static int port_of(const json_t *cp, json_t **out)
{
    const char *name = json_string_value(json_object_get(cp, "name"));
    const char *proto = json_string_value(json_object_get(cp, "protocol"));
    const char *host_ip = json_string_value(json_object_get(cp, "hostIP"));
    json_int_t number = json_integer_value(json_object_get(cp, "containerPort"));
    json_int_t host = json_integer_value(json_object_get(cp, "hostPort"));

    *out = NULL;
    if (name && !*name)
        name = NULL;
    if (number <= 0 || (!name && host <= 0) || (proto && !known_protocol(proto)))
        return 0;
    *out = json_pack("{s:s, s:I}", "protocol", proto ? proto : "TCP", "port", number);
    if (!*out || (name && json_object_set_new(*out, "name", json_string(name)) < 0) ||
        (host > 0 && json_object_set_new(*out, "hostPort", json_integer(host)) < 0) ||
        (host_ip && *host_ip && json_object_set_new(*out, "hostIP", json_string(host_ip)) < 0))
        return -ENOMEM;
    return 0;
}

static int add_ports(json_t *ports, const json_t *containers)
{
    const json_t *c, *cp;
    size_t i, j;

    json_array_foreach(containers, i, c) {
        json_array_foreach(json_object_get(c, "ports"), j, cp) {
            json_t *port;

            if (port_of(cp, &port) < 0) {
                json_decref(port);
                return -ENOMEM;
            }
            if (port && json_array_append_new(ports, port) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int build_ports(struct cni_k8s_pod *p)
{
    const json_t *spec = json_object_get(p->pod, "spec");

    p->ports = json_array();
    if (!p->ports || add_ports(p->ports, json_object_get(spec, "containers")) < 0 ||
        add_ports(p->ports, json_object_get(spec, "initContainers")) < 0)
        return -ENOMEM;
    return 0;
}

/* ---- annotations --------------------------------------------------------------------------- */

/* What an annotation must hold: a JSON list of non-empty strings, each of which `check`
 * (may be NULL) accepts; `what` says so in messages. */
struct list_rule {
    const char *what;                       /* "a JSON list of CIDRs" */
    int (*check)(const char *item, void *ctx);
    void *ctx;
};

/* Annotation `key` of the pod, else (ns_default) of its namespace: *text its value when
 * there is one and it follows the rule, else NULL. */
static int read_list(const struct cni_k8s_pod *p, const char *key, bool ns_default,
                     const struct list_rule *rule, const char **text, struct tby_error *err)
{
    _cleanup_json_ json_t *list = NULL;
    const json_t *item;
    bool on_ns = false;
    size_t i;

    *text = cni_k8s_annotation(p->pod, key);
    if (!*text && ns_default && p->ns)
        on_ns = (*text = cni_k8s_annotation(p->ns, key)) != NULL;
    if (!*text)
        return 0;
    list = json_loads(*text, JSON_DECODE_ANY, NULL);
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail_on(err, p, on_ns, key, "must be %s, got %s", rule->what, *text);
    json_array_foreach(list, i, item) {
        const char *s = json_string_value(item);
        int r = s && *s ? 0 : -EINVAL;

        if (r == 0 && rule->check)
            r = rule->check(s, rule->ctx);
        if (r == -ENOMEM)
            return tby_error_set(err, r, "out of memory");
        if (r < 0)
            return fail_on(err, p, on_ns, key, "must be %s, got %s", rule->what, *text);
    }
    return 0;
}

/* What tabby-ipam is handed: annotation `key` as `text` (NULL: nothing). */
static int pass_to_ipam(struct cni_k8s_pod *p, const char *key, const char *text,
                        struct tby_error *err)
{
    if (!text)
        return 0;
    if ((!p->ipam_annotations && !(p->ipam_annotations = json_object())) ||
        json_object_set_new(p->ipam_annotations, key, json_string(text)) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int read_pools(struct cni_k8s_pod *p, const char *key, struct tby_error *err)
{
    static const struct list_rule rule = { .what = "a JSON list of IP pool names or CIDRs" };
    const char *text;

    return read_list(p, key, true, &rule, &text, err) < 0 ? err->code
                                                          : pass_to_ipam(p, key, text, err);
}

static int family_item(const char *item, void *ctx)
{
    (void)ctx;
    return strcmp(item, "IPv4") == 0 || strcmp(item, "IPv6") == 0 ? 0 : -EINVAL;
}

static int read_families(struct cni_k8s_pod *p, struct tby_error *err)
{
    static const struct list_rule rule = { .what = "a JSON list of IPv4, IPv6 or both",
                                           .check = family_item };

    return read_list(p, ANN_FAMILIES, true, &rule, &p->ip_families, err) < 0 ? err->code : 0;
}

/* At most one address of each family (a pod has one of each). */
static int address_item(const char *item, void *ctx)
{
    unsigned *seen = ctx;
    struct tby_ip ip;

    if (tby_ip_parse(item, &ip, NULL) < 0 || (*seen & (1u << ip.family)))
        return -EINVAL;
    *seen |= 1u << ip.family;
    return 0;
}

static int read_addresses(struct cni_k8s_pod *p, struct tby_error *err)
{
    unsigned seen = 0;
    const struct list_rule rule = { .what = "a JSON list of at most one IPv4 and one IPv6 "
                                            "address", .check = address_item, .ctx = &seen };
    const char *text;

    return read_list(p, ANN_IPADDRS, false, &rule, &text, err) < 0
               ? err->code
               : pass_to_ipam(p, ANN_IPADDRS, text, err);
}

/* Each prefix, masked as Calico normalises them, into the list ctx. */
static int prefix_item(const char *item, void *ctx)
{
    struct tby_cidr cidr;
    char text[TBY_CIDR_STRLEN];

    if (tby_cidr_parse(item, TBY_CIDR_ALLOW_IP | TBY_CIDR_MASK, &cidr, NULL) < 0)
        return -EINVAL;
    return json_array_append_new(ctx, json_string(tby_cidr_format(&cidr, text))) < 0 ? -ENOMEM
                                                                                   : 0;
}

static int read_source_prefixes(struct cni_k8s_pod *p, struct tby_error *err)
{
    _cleanup_json_ json_t *prefixes = json_array();
    const struct list_rule rule = { .what = "a JSON list of CIDRs", .check = prefix_item,
                                    .ctx = prefixes };
    const char *text;

    if (!prefixes)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (read_list(p, ANN_SOURCE_PREFIXES, false, &rule, &text, err) < 0)
        return err->code;
    if (text)
        p->source_prefixes = TBY_STEAL(prefixes);
    return 0;
}

static int refuse_unsupported(const struct cni_k8s_pod *p, struct tby_error *err)
{
    if (cni_k8s_annotation(p->pod, ANN_NO_IPAM))
        return fail_on(err, p, false, ANN_NO_IPAM, "not supported: tabby gives pods addresses "
                       "through IPAM only (it accepts nothing it does not enforce)");
    if (cni_k8s_annotation(p->pod, ANN_FLOATING))
        return fail_on(err, p, false, ANN_FLOATING, "not supported: tabby does not NAT "
                       "floating IPs to pods (it accepts nothing it does not enforce)");
    return 0;
}

/* ---- the pod ------------------------------------------------------------------------------ */

int cni_k8s_pod_read(json_t *pod, json_t *ns, struct cni_k8s_pod *out, struct tby_error *err)
{
    const json_t *meta = json_object_get(pod, "metadata");
    int r;

    memset(out, 0, sizeof(*out));
    out->pod = json_incref(pod);
    out->ns = json_incref(ns);
    out->namespace = string_at(meta, "namespace", NULL);
    out->name = string_at(meta, "name", NULL);
    out->uid = cni_k8s_uid(pod);
    out->service_account = string_at(json_object_get(pod, "spec"), "serviceAccountName", NULL);
    if (out->service_account && !*out->service_account)
        out->service_account = NULL;
    out->container_id = cni_k8s_annotation(pod, CNI_ANN_CONTAINER_ID);
    if (!out->namespace || !out->name)
        return tby_error_set(err, -EINVAL, "the Kubernetes API's pod has no "
                             "metadata.namespace or metadata.name");
    if (build_labels(out) < 0 || build_ports(out) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if ((r = refuse_unsupported(out, err)) < 0 || (r = read_pools(out, ANN_V4POOLS, err)) < 0 ||
        (r = read_pools(out, ANN_V6POOLS, err)) < 0 || (r = read_families(out, err)) < 0 ||
        (r = read_addresses(out, err)) < 0 || (r = read_source_prefixes(out, err)) < 0)
        return r;
    return 0;
}

void cni_k8s_pod_clear(struct cni_k8s_pod *p)
{
    json_decref(p->pod);
    json_decref(p->ns);
    json_decref(p->labels);
    json_decref(p->ports);
    json_decref(p->source_prefixes);
    json_decref(p->ipam_annotations);
    memset(p, 0, sizeof(*p));
}

bool cni_k8s_pod_has_ipam_wishes(const struct cni_k8s_pod *p)
{
    return p->ipam_annotations || p->ip_families;
}

/* ---- the IPAM plugin's configuration ------------------------------------------------- */

/* obj[key] as an object, made (or replacing a non-object) when needed. */
static json_t *object_in(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_object(v))
        return v;
    v = json_object();
    return v && json_object_set_new(obj, key, v) == 0 ? v : NULL;
}

static int set_families(json_t *ipam, const char *text)
{
    _cleanup_json_ json_t *list = json_loads(text, JSON_DECODE_ANY, NULL);
    bool v4 = false, v6 = false;
    const json_t *item;
    size_t i;

    json_array_foreach(list, i, item) {
        v4 |= strcmp(json_string_value(item), "IPv4") == 0;
        v6 |= strcmp(json_string_value(item), "IPv6") == 0;
    }
    if (json_object_set_new(ipam, "assign_ipv4", json_string(v4 ? "true" : "false")) < 0 ||
        json_object_set_new(ipam, "assign_ipv6", json_string(v6 ? "true" : "false")) < 0)
        return -ENOMEM;
    return 0;
}

int cni_k8s_pod_ipam_conf(const struct cni_k8s_pod *p, const json_t *conf,
                          const char *ipam_type, char **text, size_t *len,
                          struct tby_error *err)
{
    _cleanup_json_ json_t *copy = NULL;
    json_t *cni;

    *text = NULL;
    if (cni_k8s_pod_has_ipam_wishes(p) && strcmp(ipam_type, "tabby-ipam") != 0)
        return tby_error_set(err, -EINVAL, "pod %s/%s: the cni.projectcalico.org/ipv4pools, "
                             "ipv6pools, ipFamilies and ipAddrs annotations (its own or its "
                             "namespace's) need ipam.type tabby-ipam: %s cannot honour them",
                             p->namespace, p->name, ipam_type);
    copy = json_deep_copy(conf);
    cni = copy ? object_in(object_in(copy, "args"), "cni") : NULL;
    if (!cni)
        return tby_error_set(err, -ENOMEM, "out of memory");
    /* The API wins over whatever the configuration said. */
    json_object_del(cni, "annotations");
    if ((p->ipam_annotations &&
         json_object_set(cni, "annotations", p->ipam_annotations) < 0) ||
        (p->ip_families && set_families(object_in(copy, "ipam"), p->ip_families) < 0))
        return tby_error_set(err, -ENOMEM, "out of memory");
    *text = json_dumps(copy, JSON_COMPACT);
    if (!*text)
        return tby_error_set(err, -ENOMEM, "out of memory");
    *len = strlen(*text);
    return 0;
}
