/* model_bgp.c — BGPConfiguration and BGPPeer: decode, validate, default, encode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"
#include "selector_check.h"

#define DEFAULT_AS_NUMBER 64512
#define DEFAULT_LISTEN_PORT 179

static const char *const severity_names[] = { "Debug", "Info", "Warning", "Error", "Fatal",
                                              NULL };
static const char *const bind_mode_names[] = { "None", "NodeIP", NULL };

static const char *const bgpconfig_fields[] = {
    "logSeverityScreen", "nodeToNodeMeshEnabled", "asNumber", "listenPort",
    "serviceClusterIPs", "serviceExternalIPs", "serviceLoadBalancerIPs", "communities",
    "prefixAdvertisements", "nodeMeshPassword", "nodeMeshMaxRestartTime", "bindMode",
    "ignoredInterfaces", "serviceLoadBalancerAggregation", "localWorkloadPeeringIPV4",
    "localWorkloadPeeringIPV6", NULL
};

/* Calico keeps these cluster-wide: a per-node configuration ("node.<name>") may not set
 * them (calicoctl refuses them the same way). */
/* Calico's BGP peering with pods and the per-/32 load balancer routes: not done by tabby,
 * whose aggregation (serviceLoadBalancerAggregation Enabled) is Calico's default. */
static int refuse_workload_peering(struct tby_dec *d, const json_t *spec)
{
    const json_t *agg = tby_dec_get(spec, "serviceLoadBalancerAggregation");
    int r = 0;

    if (tby_dec_get(spec, "localWorkloadPeeringIPV4"))
        r = tby_dec_refuse_at(d, "localWorkloadPeeringIPV4", "is not enforced by tabby: "
                              "peering with pods would change what is routed");
    if (r >= 0 && tby_dec_get(spec, "localWorkloadPeeringIPV6"))
        r = tby_dec_refuse_at(d, "localWorkloadPeeringIPV6", "is not enforced by tabby: "
                              "peering with pods would change what is routed");
    if (r >= 0 && agg && !(json_is_string(agg) && strcmp(json_string_value(agg), "Enabled") == 0))
        r = tby_dec_refuse_at(d, "serviceLoadBalancerAggregation", "only Enabled is taken: "
                              "tabby advertises the load balancer ranges as given, not each "
                              "address");
    return r < 0 ? r : 0;
}

static const char *const default_only_fields[] = {
    "nodeToNodeMeshEnabled", "asNumber", "serviceClusterIPs", "serviceExternalIPs",
    "serviceLoadBalancerIPs", "nodeMeshPassword", "nodeMeshMaxRestartTime", NULL
};

/* Service CIDRs are networks: host bits are an error, a bare address is its /32. */
#define SERVICE_CIDR_FLAGS (TBY_CIDR_STRICT | TBY_CIDR_ALLOW_IP)

static void bgpconfig_free(void *spec)
{
    struct tby_bgpconfig *c = spec;

    if (!c)
        return;
    free(c->log_severity_screen);
    free(c->service_cluster_ips.items);
    free(c->service_external_ips.items);
    free(c->service_loadbalancer_ips.items);
    for (size_t i = 0; i < c->n_communities; i++) {
        free(c->communities[i].name);
        free(c->communities[i].value);
    }
    free(c->communities);
    for (size_t i = 0; i < c->n_prefix_advertisements; i++)
        tby_strv_clear(&c->prefix_advertisements[i].communities);
    free(c->prefix_advertisements);
    tby_secret_ref_free(c->node_mesh_password);
    free(c->bind_mode);
    tby_strv_clear(&c->ignored_interfaces);
    free(c);
}

static bool is_default(const struct tby_resource *res)
{
    return strcmp(res->meta.name, "default") == 0;
}

static int check_default_only(struct tby_dec *d, const json_t *spec,
                              const struct tby_resource *res)
{
    if (is_default(res))
        return 0;
    for (size_t i = 0; default_only_fields[i]; i++)
        if (tby_dec_get(spec, default_only_fields[i]))
            return tby_dec_fail_at(d, default_only_fields[i],
                                   "can only be set on the BGPConfiguration named \"default\", "
                                   "not on \"%s\"", res->meta.name);
    return 0;
}

/* ---- communities -------------------------------------------------------------------- */

/* Fails at the current path when `text` is of the community form but out of range, or
 * (unless `may_be_name`) not of the form. Returns 1 for a possible name. */
static int check_community(struct tby_dec *d, const char *text, bool may_be_name)
{
    int r = tby_community_parse(text, NULL);

    if (r == -ERANGE)
        return tby_dec_fail(d, "\"%s\" is not a community: each part is 0 to 65535 in a "
                               "standard community aa:nn, 0 to 4294967295 in a large one "
                               "aa:nn:mm", text);
    if (r == -EINVAL && !may_be_name)
        return tby_dec_fail(d, "\"%s\" is not a community (aa:nn, or aa:nn:mm for a large "
                               "community)", text);
    return r == -EINVAL ? 1 : 0;
}

static int community_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "name", "value", NULL };
    struct tby_community *c = elem;
    size_t mark;
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = tby_dec_name(d, item, "name", &c->name);
    if (r == 0 && !c->name)
        r = tby_dec_fail_at(d, "name", "is required");
    if (r == 0)
        r = tby_dec_string(d, item, "value", true, &c->value);
    if (r < 0)
        return r;
    mark = tby_dec_enter(d, "value");
    r = check_community(d, c->value, false);
    tby_dec_leave(d, mark);
    return r;
}

static int check_unique_names(struct tby_dec *d, const struct tby_bgpconfig *c)
{
    for (size_t i = 0; i < c->n_communities; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->communities[i].name, c->communities[j].name) == 0) {
                size_t mark = tby_dec_enter(d, "communities");
                int r;

                tby_dec_enter_index(d, i);
                r = tby_dec_fail_at(d, "name", "\"%s\" is already the name of "
                                               "communities[%zu]", c->communities[i].name, j);
                tby_dec_leave(d, mark);
                return r;
            }
        }
    }
    return 0;
}

static bool community_defined(const struct tby_bgpconfig *c, const char *name)
{
    for (size_t i = 0; i < c->n_communities; i++)
        if (strcmp(c->communities[i].name, name) == 0)
            return true;
    return false;
}

static int advertised_communities(struct tby_dec *d, const struct tby_bgpconfig *c,
                                  const struct tby_strv *names)
{
    int r = 0;

    if (!names->n)
        return tby_dec_fail(d, "is required: names from spec.communities, or values like "
                               "65000:100");
    for (size_t i = 0; i < names->n && r == 0; i++) {
        size_t mark = tby_dec_enter_index(d, i);

        r = check_community(d, names->items[i], true);
        if (r == 1)
            r = community_defined(c, names->items[i])
                    ? 0
                    : tby_dec_fail(d, "\"%s\" is neither a community value (aa:nn or "
                                      "aa:nn:mm) nor the name of one in spec.communities",
                                   names->items[i]);
        tby_dec_leave(d, mark);
    }
    return r;
}

static int prefix_advertisement_item(struct tby_dec *d, const json_t *item, void *elem,
                                     void *ctx)
{
    static const char *const fields[] = { "cidr", "communities", NULL };
    struct tby_prefix_advertisement *pa = elem;
    size_t mark;
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = tby_dec_cidr(d, item, "cidr", SERVICE_CIDR_FLAGS, &pa->cidr);
    if (r == 0)
        r = tby_dec_strv(d, item, "communities", &pa->communities);
    if (r < 0)
        return r;
    mark = tby_dec_enter(d, "communities");
    r = advertised_communities(d, ctx, &pa->communities);
    tby_dec_leave(d, mark);
    return r;
}

static int decode_communities(struct tby_dec *d, const json_t *spec, struct tby_bgpconfig *c)
{
    void *items = NULL;
    int r = tby_fields_list(d, spec, "communities", sizeof(*c->communities), community_item,
                         NULL, &items, &c->n_communities);

    c->communities = items;
    if (r == 0)
        r = check_unique_names(d, c);
    if (r < 0)
        return r;
    items = NULL;
    r = tby_fields_list(d, spec, "prefixAdvertisements", sizeof(*c->prefix_advertisements),
                     prefix_advertisement_item, c, &items, &c->n_prefix_advertisements);
    c->prefix_advertisements = items;
    if (r == 0 && c->n_communities && !c->n_prefix_advertisements)
        r = tby_dec_fail_at(d, "communities", "are defined but no prefixAdvertisements use "
                                              "them");
    return r;
}

/* ---- BGPConfiguration --------------------------------------------------------------- */

static int decode_mesh(struct tby_dec *d, const json_t *spec, struct tby_bgpconfig *c)
{
    int r = tby_dec_bool(d, spec, "nodeToNodeMeshEnabled", &c->node_to_node_mesh_enabled);

    if (r == 0)
        r = tby_dec_secret_ref(d, spec, "nodeMeshPassword", &c->node_mesh_password);
    if (r == 0)
        r = tby_dec_duration(d, spec, "nodeMeshMaxRestartTime", &c->node_mesh_max_restart_ms,
                             &c->has_node_mesh_max_restart);
    if (r < 0 || c->node_to_node_mesh_enabled)
        return r;
    if (c->node_mesh_password)
        return tby_dec_fail_at(d, "nodeMeshPassword", "cannot be set when "
                                                      "nodeToNodeMeshEnabled is false");
    if (c->has_node_mesh_max_restart)
        return tby_dec_fail_at(d, "nodeMeshMaxRestartTime", "cannot be set when "
                                                            "nodeToNodeMeshEnabled is false");
    return 0;
}

/* A node's interfaces to leave out of route reading; '*' is a wildcard within a name. */
static int decode_ignored_interfaces(struct tby_dec *d, const json_t *spec,
                                     struct tby_bgpconfig *c)
{
    struct tby_strv *v = &c->ignored_interfaces;
    size_t mark;
    int r = tby_dec_strv(d, spec, "ignoredInterfaces", v);

    mark = tby_dec_enter(d, "ignoredInterfaces");
    for (size_t i = 0; i < v->n && r == 0; i++) {
        size_t len = strlen(v->items[i]);

        if (len == 0 || len > 15 || strcmp(v->items[i], "*") == 0 ||
            strspn(v->items[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_.*-") != len) {
            tby_dec_enter_index(d, i);
            r = tby_dec_fail(d, "\"%s\" is not an interface name or pattern (up to 15 "
                                "letters, digits, '_', '.', '-' and '*'; not \"*\" alone)",
                             v->items[i]);
        }
    }
    tby_dec_leave(d, mark);
    return r;
}

static int decode_enums(struct tby_dec *d, const json_t *spec, struct tby_bgpconfig *c)
{
    int severity = 1, bind = -1;
    int r = tby_dec_enum(d, spec, "logSeverityScreen", severity_names, &severity);

    if (r == 0)
        r = tby_dec_enum(d, spec, "bindMode", bind_mode_names, &bind);
    if (r < 0)
        return r;
    c->log_severity_screen = strdup(severity_names[severity]);
    if (bind >= 0)
        c->bind_mode = strdup(bind_mode_names[bind]);
    if (!c->log_severity_screen || (bind >= 0 && !c->bind_mode))
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    return 0;
}

static int decode_services(struct tby_dec *d, const json_t *spec, struct tby_bgpconfig *c)
{
    int r = tby_dec_cidr_blocks(d, spec, "serviceClusterIPs", SERVICE_CIDR_FLAGS,
                                &c->service_cluster_ips);

    if (r == 0)
        r = tby_dec_cidr_blocks(d, spec, "serviceExternalIPs", SERVICE_CIDR_FLAGS,
                                &c->service_external_ips);
    if (r == 0)
        r = tby_dec_cidr_blocks(d, spec, "serviceLoadBalancerIPs", SERVICE_CIDR_FLAGS,
                                &c->service_loadbalancer_ips);
    return r;
}

/* Defaults go on the "default" configuration only: on a per-node one an unset value
 * means "as the default configuration says", and a default would override it. The log
 * severity is the exception: Calico's CRD defaults it to Info everywhere. */
static int bgpconfig_decode_spec(struct tby_dec *d, const json_t *spec,
                                 const struct tby_resource *res, void *out)
{
    struct tby_bgpconfig *c = out;
    int64_t port = is_default(res) ? DEFAULT_LISTEN_PORT : 0;
    int r = tby_dec_known_fields(d, spec, bgpconfig_fields);

    if (r == 0)
        r = refuse_workload_peering(d, spec);
    c->node_to_node_mesh_enabled = true;
    c->has_as_number = is_default(res);
    c->as_number = is_default(res) ? DEFAULT_AS_NUMBER : 0;
    if (r == 0)
        r = check_default_only(d, spec, res);
    if (r == 0)
        r = decode_enums(d, spec, c);
    if (r == 0)
        r = tby_dec_asn(d, spec, "asNumber", &c->as_number, NULL);
    if (r == 0)
        r = tby_dec_int(d, spec, "listenPort", 1, 65535, &port, NULL);
    c->listen_port = (uint16_t)port;
    if (r == 0)
        r = decode_services(d, spec, c);
    if (r == 0)
        r = decode_communities(d, spec, c);
    if (r == 0)
        r = decode_mesh(d, spec, c);
    if (r == 0)
        r = decode_ignored_interfaces(d, spec, c);
    return r;
}

static int bgpconfig_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_bgpconfig),
                                bgpconfig_decode_spec);
}

static json_t *encode_communities(const struct tby_bgpconfig *c)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < c->n_communities; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "name", c->communities[i].name,
                                             "value", c->communities[i].value));
    return arr;
}

static json_t *encode_prefix_advertisements(const struct tby_bgpconfig *c)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < c->n_prefix_advertisements; i++) {
        const struct tby_prefix_advertisement *pa = &c->prefix_advertisements[i];
        char cidr[TBY_CIDR_STRLEN];
        json_t *item = json_pack("{s:s}", "cidr", tby_cidr_format(&pa->cidr, cidr));

        tby_enc_strv(item, "communities", &pa->communities);
        json_array_append_new(arr, item);
    }
    return arr;
}

static void bgpconfig_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_bgpconfig *c = res->spec.bgpconfig;
    json_t *spec = json_object();

    tby_enc_string(spec, "logSeverityScreen", c->log_severity_screen);
    if (is_default(res))
        tby_enc_bool(spec, "nodeToNodeMeshEnabled", c->node_to_node_mesh_enabled);
    if (c->has_as_number)
        tby_enc_int(spec, "asNumber", c->as_number);
    if (c->listen_port)
        tby_enc_int(spec, "listenPort", c->listen_port);
    tby_enc_take(spec, "serviceClusterIPs", tby_enc_cidr_blocks(&c->service_cluster_ips));
    tby_enc_take(spec, "serviceExternalIPs", tby_enc_cidr_blocks(&c->service_external_ips));
    tby_enc_take(spec, "serviceLoadBalancerIPs",
                 tby_enc_cidr_blocks(&c->service_loadbalancer_ips));
    tby_enc_take(spec, "communities", encode_communities(c));
    tby_enc_take(spec, "prefixAdvertisements", encode_prefix_advertisements(c));
    tby_enc_take(spec, "nodeMeshPassword", tby_enc_secret_ref(c->node_mesh_password));
    tby_enc_duration(spec, "nodeMeshMaxRestartTime", c->has_node_mesh_max_restart,
                     c->node_mesh_max_restart_ms);
    tby_enc_string(spec, "bindMode", c->bind_mode);
    tby_enc_strv(spec, "ignoredInterfaces", &c->ignored_interfaces);
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_bgpconfig_ops = {
    .decode = bgpconfig_decode,
    .encode = bgpconfig_encode,
    .free = bgpconfig_free,
};

/* ---- BGPPeer ------------------------------------------------------------------------ */

static const char *const source_address_names[] = { "UseNodeIP", "None", NULL };

static const char *const bgppeer_fields[] = {
    "node", "nodeSelector", "peerIP", "peerSelector", "asNumber", "keepOriginalNextHop",
    "password", "sourceAddress", "maxRestartTime", "numAllowedLocalASNumbers", "ttlSecurity",
    "reachableBy", "filters", "localASNumber", "nextHopMode", "localWorkloadSelector",
    "reversePeering", NULL
};

static const char *const next_hop_names[] = { "", "Auto", "Self", "Keep", NULL };

static void bgppeer_free(void *spec)
{
    struct tby_bgppeer *p = spec;

    if (!p)
        return;
    free(p->node);
    free(p->node_selector);
    free(p->peer_selector);
    tby_secret_ref_free(p->password);
    tby_strv_clear(&p->filters);
    free(p);
}

/* "10.0.0.1", "fd00::1", "10.0.0.1:1790" or "[fd00::1]:1790", as Calico's peerIP.
 * -ERANGE for a bad port, -EINVAL for anything else. */
static int parse_peer_ip(const char *text, struct tby_ip *ip, uint16_t *port)
{
    const char *host = text, *port_text = NULL, *colon = strchr(text, ':');
    char buf[TBY_IP_STRLEN];
    size_t host_len = strlen(text);
    unsigned long n;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (!close || close[1] != ':')
            return -EINVAL;
        host = text + 1;
        host_len = (size_t)(close - host);
        port_text = close + 2;
    } else if (colon && !strchr(colon + 1, ':')) {
        host_len = (size_t)(colon - text);
        port_text = colon + 1;
    }
    if (host_len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, host, host_len);
    buf[host_len] = '\0';
    if (tby_ip_parse(buf, ip, NULL) < 0 || (text[0] == '[' && ip->family != 6))
        return -EINVAL;
    *port = 0;
    if (!port_text)
        return 0;
    if (!*port_text || strspn(port_text, "0123456789") != strlen(port_text) ||
        strlen(port_text) > 5 || (n = strtoul(port_text, NULL, 10)) < 1 || n > 65535)
        return -ERANGE;
    *port = (uint16_t)n;
    return 0;
}

static int decode_peer_ip(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_dec_string(d, spec, "peerIP", false, &text);

    if (r < 0 || !text)
        return r;
    r = parse_peer_ip(text, &p->peer_ip, &p->peer_port);
    if (r == -ERANGE)
        return tby_dec_fail_at(d, "peerIP", "\"%s\": the port must be 1 to 65535", text);
    if (r < 0)
        return tby_dec_fail_at(d, "peerIP", "\"%s\" is not an IP address (like 10.0.0.1, "
                                            "10.0.0.1:1790 or [fd00::1]:1790)", text);
    p->has_peer_ip = true;
    return 0;
}

static int decode_nodes(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    int r = tby_dec_name(d, spec, "node", &p->node);

    if (r == 0)
        r = tby_dec_string(d, spec, "nodeSelector", false, &p->node_selector);
    if (r == 0)
        r = tby_check_selector(d, "nodeSelector", p->node_selector);
    if (r == 0 && p->node && p->node_selector)
        r = tby_dec_fail_at(d, "nodeSelector", "cannot be combined with node");
    return r;
}

/* Who the peer is: a router by address (with its AS number), or the nodes a selector
 * picks (each with its own AS number). */
static int decode_peers(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    bool has_asn = false;
    int r = decode_peer_ip(d, spec, p);

    if (r == 0)
        r = tby_dec_string(d, spec, "peerSelector", false, &p->peer_selector);
    if (r == 0)
        r = tby_check_selector(d, "peerSelector", p->peer_selector);
    if (r == 0 && p->has_peer_ip && p->peer_selector)
        r = tby_dec_fail_at(d, "peerSelector", "cannot be combined with peerIP");
    if (r == 0 && !p->has_peer_ip && !p->peer_selector)
        r = tby_dec_fail_at(d, "peerIP", "is required unless peerSelector is given (peer "
                                         "with a router by address, or with selected nodes)");
    if (r == 0)
        r = tby_dec_asn(d, spec, "asNumber", &p->as_number, &has_asn);
    if (r == 0 && p->has_peer_ip && !has_asn)
        r = tby_dec_fail_at(d, "asNumber", "is required with peerIP");
    if (r == 0 && p->peer_selector && has_asn)
        r = tby_dec_fail_at(d, "asNumber", "must not be set with peerSelector: each selected "
                                           "node's own AS number is used");
    return r;
}

static int decode_reachable_by(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    int r = tby_dec_ip(d, spec, "reachableBy", 0, &p->reachable_by, &p->has_reachable_by);

    if (r < 0 || !p->has_reachable_by)
        return r;
    if (!p->has_peer_ip)
        return tby_dec_fail_at(d, "reachableBy", "can only be set with peerIP");
    if (p->reachable_by.family != p->peer_ip.family)
        return tby_dec_fail_at(d, "reachableBy", "is IPv%d but peerIP is IPv%d",
                               p->reachable_by.family, p->peer_ip.family);
    return 0;
}

static int decode_session(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    int64_t local_as = 0, ttl = 0;
    int source = TBY_SOURCE_USE_NODE_IP;
    int r = tby_dec_bool(d, spec, "keepOriginalNextHop", &p->keep_original_next_hop);

    if (r == 0)
        r = tby_dec_secret_ref(d, spec, "password", &p->password);
    if (r == 0)
        r = tby_dec_enum(d, spec, "sourceAddress", source_address_names, &source);
    if (r == 0)
        r = tby_dec_duration(d, spec, "maxRestartTime", &p->max_restart_ms,
                             &p->has_max_restart);
    if (r == 0)
        r = tby_dec_int(d, spec, "numAllowedLocalASNumbers", 0, INT32_MAX, &local_as, NULL);
    if (r == 0)
        r = tby_dec_int(d, spec, "ttlSecurity", 0, 255, &ttl, NULL);
    p->source_address = (enum tby_source_address)source;
    p->num_allowed_local_as_numbers = (int)local_as;
    p->ttl_security = (int)ttl;
    return r;
}

/* localASNumber and nextHopMode, as Calico renders them into BIRD; what tabby does not do
 * (peering with local workloads, a reverse peering left to the user) refused. */
static int decode_bird_options(struct tby_dec *d, const json_t *spec, struct tby_bgppeer *p)
{
    _cleanup_free_ char *reverse = NULL;
    int mode = 0;
    int r = tby_dec_asn(d, spec, "localASNumber", &p->local_as_number, NULL);

    if (r == 0 && tby_dec_get(spec, "nextHopMode"))
        r = tby_dec_enum(d, spec, "nextHopMode", next_hop_names + 1, &mode);
    if (r == 0 && tby_dec_get(spec, "nextHopMode"))
        p->next_hop_mode = (enum tby_next_hop_mode)(mode + 1);
    if (r == 0 && tby_dec_get(spec, "localWorkloadSelector"))
        r = tby_dec_refuse_at(d, "localWorkloadSelector", "is not enforced by tabby: peering "
                              "with pods on this node would change what is routed");
    if (r == 1)     /* reported by a lenient decoder: the rest still decodes */
        r = 0;
    if (r == 0)
        r = tby_dec_string(d, spec, "reversePeering", false, &reverse);
    if (r == 0 && reverse && *reverse && strcmp(reverse, "Auto") != 0)
        r = tby_dec_refuse_at(d, "reversePeering", "only Auto is taken: tabby always makes "
                              "the reverse peering between nodes (Manual is not enforced)");
    return r < 0 ? r : 0;
}

static int bgppeer_decode_spec(struct tby_dec *d, const json_t *spec,
                               const struct tby_resource *res, void *out)
{
    struct tby_bgppeer *p = out;
    int r = tby_dec_known_fields(d, spec, bgppeer_fields);

    if (r == 0)
        r = decode_nodes(d, spec, p);
    if (r == 0)
        r = decode_peers(d, spec, p);
    if (r == 0)
        r = decode_session(d, spec, p);
    if (r == 0)
        r = decode_reachable_by(d, spec, p);
    if (r == 0)
        r = tby_dec_names(d, spec, "filters", &p->filters);
    if (r == 0)
        r = decode_bird_options(d, spec, p);
    return r;
}

static int bgppeer_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_bgppeer), bgppeer_decode_spec);
}

static void encode_peer_ip(json_t *spec, const struct tby_bgppeer *p)
{
    char ip[TBY_IP_STRLEN], text[TBY_IP_STRLEN + 8];

    if (!p->has_peer_ip)
        return;
    tby_ip_format(&p->peer_ip, ip);
    if (!p->peer_port)
        snprintf(text, sizeof(text), "%s", ip);
    else
        snprintf(text, sizeof(text), p->peer_ip.family == 6 ? "[%s]:%u" : "%s:%u", ip,
                 p->peer_port);
    tby_enc_string(spec, "peerIP", text);
}

static void bgppeer_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_bgppeer *p = res->spec.bgppeer;
    json_t *spec = json_object();

    tby_enc_string(spec, "node", p->node);
    tby_enc_string(spec, "nodeSelector", p->node_selector);
    encode_peer_ip(spec, p);
    tby_enc_string(spec, "peerSelector", p->peer_selector);
    if (p->as_number)
        tby_enc_int(spec, "asNumber", p->as_number);
    if (p->local_as_number)
        tby_enc_int(spec, "localASNumber", p->local_as_number);
    tby_enc_true(spec, "keepOriginalNextHop", p->keep_original_next_hop);
    if (p->next_hop_mode)
        tby_enc_string(spec, "nextHopMode", next_hop_names[p->next_hop_mode]);
    tby_enc_take(spec, "password", tby_enc_secret_ref(p->password));
    tby_enc_string(spec, "sourceAddress", source_address_names[p->source_address]);
    tby_enc_duration(spec, "maxRestartTime", p->has_max_restart, p->max_restart_ms);
    if (p->num_allowed_local_as_numbers)
        tby_enc_int(spec, "numAllowedLocalASNumbers", p->num_allowed_local_as_numbers);
    if (p->ttl_security)
        tby_enc_int(spec, "ttlSecurity", p->ttl_security);
    tby_enc_ip(spec, "reachableBy", p->has_reachable_by, &p->reachable_by);
    tby_enc_strv(spec, "filters", &p->filters);
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_bgppeer_ops = {
    .decode = bgppeer_decode,
    .encode = bgppeer_encode,
    .free = bgppeer_free,
};
