/* model_node.c — Node: decode, validate and encode, accepting what `calicoctl get node
 * -o yaml` prints so that such output applies unchanged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

static const char *const node_fields[] = {
    "bgp", "ipv4VXLANTunnelAddr", "vxlanTunnelMACAddr", "ipv6VXLANTunnelAddr",
    "vxlanTunnelMACAddrV6", "orchRefs", "addresses", "wireguard", "interfaces", NULL
};
static const char *const bgp_fields[] = { "asNumber", "ipv4Address", "ipv6Address",
                                          "ipv4IPIPTunnelAddr", "routeReflectorClusterID",
                                          NULL };
static const char *const address_type_names[] = { "CalicoNodeIP", "InternalIP", "ExternalIP",
                                                  NULL };

static void node_free(void *spec)
{
    struct tby_node *n = spec;

    if (!n)
        return;
    free(n->vxlan_tunnel_mac);
    free(n->vxlan_tunnel_mac_v6);
    for (size_t i = 0; i < n->n_addresses; i++) {
        free(n->addresses[i].address);
        free(n->addresses[i].type);
    }
    free(n->addresses);
    for (size_t i = 0; i < n->n_orch_refs; i++) {
        free(n->orch_refs[i].node_name);
        free(n->orch_refs[i].orchestrator);
    }
    free(n->orch_refs);
    for (size_t i = 0; i < n->n_interfaces; i++) {
        free(n->interfaces[i].name);
        free(n->interfaces[i].addresses);
    }
    free(n->interfaces);
    json_decref(n->status);
    free(n);
}

/* ---- spec.bgp ----------------------------------------------------------------------- */

/* The node's address with its subnet ("10.0.0.5/24"): the subnet tells which peers and
 * tunnels are on-link, so host bits are expected and a bare address is refused. */
static int bgp_address(struct tby_dec *d, const json_t *bgp, const char *field, int family,
                       struct tby_cidr *out, bool *has)
{
    _cleanup_free_ char *text = NULL;
    struct tby_ip ip;
    int r = tby_dec_string(d, bgp, field, false, &text);

    if (r < 0 || !text)
        return r;
    if (!strchr(text, '/') && tby_ip_parse(text, &ip, NULL) == 0 && ip.family == family)
        return tby_dec_fail_at(d, field, "\"%s\" has no prefix length: give the node's "
                               "address with its subnet, like %s/%d", text, text,
                               family == 4 ? 24 : 64);
    if (tby_cidr_parse(text, 0, out, NULL) < 0 || out->ip.family != family)
        return tby_dec_fail_at(d, field, "\"%s\" is not an IPv%d address with its prefix "
                               "length (like %s)", text, family,
                               family == 4 ? "10.0.0.5/24" : "fd00::5/64");
    *has = true;
    return 0;
}

static int decode_bgp_fields(struct tby_dec *d, const json_t *bgp, struct tby_node *n)
{
    int r = tby_dec_known_fields(d, bgp, bgp_fields);

    if (r == 0)
        r = tby_dec_asn(d, bgp, "asNumber", &n->as_number, &n->has_as_number);
    if (r == 0)
        r = bgp_address(d, bgp, "ipv4Address", 4, &n->ipv4_address, &n->has_ipv4_address);
    if (r == 0)
        r = bgp_address(d, bgp, "ipv6Address", 6, &n->ipv6_address, &n->has_ipv6_address);
    if (r == 0)
        r = tby_dec_ip(d, bgp, "ipv4IPIPTunnelAddr", 4, &n->ipip_tunnel_addr,
                       &n->has_ipip_tunnel_addr);
    if (r == 0)
        r = tby_dec_ip(d, bgp, "routeReflectorClusterID", 4, &n->rr_cluster_id,
                       &n->has_rr_cluster_id);
    return r;
}

static int decode_bgp(struct tby_dec *d, const json_t *spec, struct tby_node *n)
{
    const json_t *bgp;
    size_t mark;
    int r = tby_dec_object(d, spec, "bgp", &bgp);

    if (r < 0 || !bgp)
        return r;
    /* Calico refuses an empty bgp section too: it would say "BGP" and mean nothing. */
    if (json_object_size(bgp) == 0)
        return tby_dec_fail_at(d, "bgp", "must not be empty: give at least the node's "
                                         "ipv4Address or ipv6Address, or leave bgp out");
    mark = tby_dec_enter(d, "bgp");
    r = decode_bgp_fields(d, bgp, n);
    tby_dec_leave(d, mark);
    n->has_bgp = r == 0;
    return r;
}

/* ---- the rest of the spec ------------------------------------------------------------ */

static int address_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "address", "type", NULL };
    struct tby_node_address *a = elem;
    struct tby_cidr cidr;
    int type = -1;
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = tby_dec_string(d, item, "address", true, &a->address);
    if (r == 0 && tby_cidr_parse(a->address, TBY_CIDR_ALLOW_IP, &cidr, NULL) < 0)
        r = tby_dec_fail_at(d, "address", "\"%s\" is not an IP address or CIDR", a->address);
    if (r == 0)
        r = tby_dec_enum(d, item, "type", address_type_names, &type);
    if (r == 0 && type >= 0 && !(a->type = strdup(address_type_names[type])))
        r = tby_error_set(d->err, -ENOMEM, "out of memory");
    return r;
}

static int orch_ref_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "nodeName", "orchestrator", NULL };
    struct tby_orch_ref *o = elem;
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = tby_dec_string(d, item, "nodeName", false, &o->node_name);
    if (r == 0)
        r = tby_dec_string(d, item, "orchestrator", true, &o->orchestrator);
    return r;
}

static int interface_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "name", "addresses", NULL };
    struct tby_node_interface *iface = elem;
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = tby_dec_string(d, item, "name", true, &iface->name);
    if (r == 0 && !tby_valid_interface_name(iface->name))
        r = tby_dec_fail_at(d, "name", "\"%s\" is not an interface name", iface->name);
    if (r == 0)
        r = tby_dec_ips(d, item, "addresses", &iface->addresses, &iface->n_addresses);
    return r;
}

static int decode_wireguard(struct tby_dec *d, const json_t *spec, struct tby_node *n)
{
    static const char *const fields[] = { "interfaceIPv4Address", "interfaceIPv6Address",
                                          NULL };
    const json_t *wg;
    size_t mark;
    int r = tby_dec_object(d, spec, "wireguard", &wg);

    if (r < 0 || !wg)
        return r;
    mark = tby_dec_enter(d, "wireguard");
    r = tby_dec_known_fields(d, wg, fields);
    if (r == 0)
        r = tby_dec_ip(d, wg, "interfaceIPv4Address", 4, &n->wireguard_ipv4,
                       &n->has_wireguard_ipv4);
    if (r == 0)
        r = tby_dec_ip(d, wg, "interfaceIPv6Address", 6, &n->wireguard_ipv6,
                       &n->has_wireguard_ipv6);
    tby_dec_leave(d, mark);
    return r;
}

static int decode_vxlan(struct tby_dec *d, const json_t *spec, struct tby_node *n)
{
    int r = tby_dec_ip(d, spec, "ipv4VXLANTunnelAddr", 4, &n->vxlan_tunnel_addr,
                       &n->has_vxlan_tunnel_addr);

    if (r == 0)
        r = tby_dec_mac(d, spec, "vxlanTunnelMACAddr", &n->vxlan_tunnel_mac);
    if (r == 0)
        r = tby_dec_ip(d, spec, "ipv6VXLANTunnelAddr", 6, &n->vxlan_tunnel_addr_v6,
                       &n->has_vxlan_tunnel_addr_v6);
    if (r == 0)
        r = tby_dec_mac(d, spec, "vxlanTunnelMACAddrV6", &n->vxlan_tunnel_mac_v6);
    return r;
}

static int decode_lists(struct tby_dec *d, const json_t *spec, struct tby_node *n)
{
    void *items = NULL;
    int r = tby_fields_list(d, spec, "addresses", sizeof(*n->addresses), address_item, NULL,
                         &items, &n->n_addresses);

    n->addresses = items;
    if (r < 0)
        return r;
    items = NULL;
    r = tby_fields_list(d, spec, "orchRefs", sizeof(*n->orch_refs), orch_ref_item, NULL, &items,
                     &n->n_orch_refs);
    n->orch_refs = items;
    if (r < 0)
        return r;
    items = NULL;
    r = tby_fields_list(d, spec, "interfaces", sizeof(*n->interfaces), interface_item, NULL,
                     &items, &n->n_interfaces);
    n->interfaces = items;
    return r;
}

static int node_decode_spec(struct tby_dec *d, const json_t *spec,
                            const struct tby_resource *res, void *out)
{
    struct tby_node *n = out;
    int r = tby_dec_known_fields(d, spec, node_fields);

    if (r == 0)
        r = decode_bgp(d, spec, n);
    if (r == 0)
        r = decode_vxlan(d, spec, n);
    if (r == 0)
        r = decode_wireguard(d, spec, n);
    if (r == 0)
        r = decode_lists(d, spec, n);
    return r;
}

/* Status is calico-node's to write (pod CIDRs, WireGuard keys); kept as it is. */
static int node_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    _cleanup_json_ json_t *copy = NULL;
    const json_t *status;
    int r = tby_dec_object(d, doc, "status", &status);

    if (r < 0)
        return r;
    if (status && !(copy = json_deep_copy(status)))
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = tby_kind_decode_spec(d, doc, res, sizeof(struct tby_node), node_decode_spec);
    if (r < 0)
        return r;
    res->spec.node->status = TBY_STEAL(copy);
    return 0;
}

/* ---- encoding ------------------------------------------------------------------------ */

static json_t *encode_bgp(const struct tby_node *n)
{
    json_t *bgp = json_object();
    char buf[TBY_CIDR_STRLEN];

    if (n->has_as_number)
        tby_enc_int(bgp, "asNumber", n->as_number);
    if (n->has_ipv4_address)
        tby_enc_string(bgp, "ipv4Address", tby_cidr_format(&n->ipv4_address, buf));
    if (n->has_ipv6_address)
        tby_enc_string(bgp, "ipv6Address", tby_cidr_format(&n->ipv6_address, buf));
    tby_enc_ip(bgp, "ipv4IPIPTunnelAddr", n->has_ipip_tunnel_addr, &n->ipip_tunnel_addr);
    tby_enc_ip(bgp, "routeReflectorClusterID", n->has_rr_cluster_id, &n->rr_cluster_id);
    return bgp;
}

static json_t *encode_addresses(const struct tby_node *n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n->n_addresses; i++) {
        json_t *a = json_pack("{s:s}", "address", n->addresses[i].address);

        tby_enc_string(a, "type", n->addresses[i].type);
        json_array_append_new(arr, a);
    }
    return arr;
}

static json_t *encode_orch_refs(const struct tby_node *n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n->n_orch_refs; i++) {
        json_t *o = json_object();

        tby_enc_string(o, "nodeName", n->orch_refs[i].node_name);
        tby_enc_string(o, "orchestrator", n->orch_refs[i].orchestrator);
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *encode_interfaces(const struct tby_node *n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n->n_interfaces; i++) {
        json_t *iface = json_pack("{s:s}", "name", n->interfaces[i].name);

        tby_enc_take(iface, "addresses",
                     tby_enc_ips(n->interfaces[i].addresses, n->interfaces[i].n_addresses));
        json_array_append_new(arr, iface);
    }
    return arr;
}

static void node_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_node *n = res->spec.node;
    json_t *spec = json_object();
    json_t *wg = json_object();

    tby_enc_take(spec, "bgp", encode_bgp(n));
    tby_enc_ip(spec, "ipv4VXLANTunnelAddr", n->has_vxlan_tunnel_addr, &n->vxlan_tunnel_addr);
    tby_enc_string(spec, "vxlanTunnelMACAddr", n->vxlan_tunnel_mac);
    tby_enc_ip(spec, "ipv6VXLANTunnelAddr", n->has_vxlan_tunnel_addr_v6,
               &n->vxlan_tunnel_addr_v6);
    tby_enc_string(spec, "vxlanTunnelMACAddrV6", n->vxlan_tunnel_mac_v6);
    tby_enc_take(spec, "orchRefs", encode_orch_refs(n));
    tby_enc_take(spec, "addresses", encode_addresses(n));
    tby_enc_ip(wg, "interfaceIPv4Address", n->has_wireguard_ipv4, &n->wireguard_ipv4);
    tby_enc_ip(wg, "interfaceIPv6Address", n->has_wireguard_ipv6, &n->wireguard_ipv6);
    tby_enc_take(spec, "wireguard", wg);
    tby_enc_take(spec, "interfaces", encode_interfaces(n));
    json_object_set_new(doc, "spec", spec);
    if (n->status)
        tby_enc_take(doc, "status", json_deep_copy(n->status));
}

const struct tby_kind_ops tby_node_ops = {
    .decode = node_decode,
    .encode = node_encode,
    .free = node_free,
};
