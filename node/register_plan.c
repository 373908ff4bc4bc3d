/* register_plan.c — what this node's Node should say (register_plan.h): the fields it owns
 * set in a copy of the Node (its JSON document, so that whatever else it holds goes
 * through untouched), decoded again, and compared with what is stored. */
#include <errno.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/routes.h"
#include "tabby/selector.h"
#include "register_plan.h"

const struct node_tunnel_kind node_tunnel_kinds[NODE_TUNNELS] = {
    [NODE_TUNNEL_VXLAN] = { "VXLAN", 4, "vxlan-tunnel-addr-", "vxlanTunnelAddress",
                            "spec.ipv4VXLANTunnelAddr" },
    [NODE_TUNNEL_VXLAN6] = { "IPv6 VXLAN", 6, "vxlan-v6-tunnel-addr-", "vxlanV6TunnelAddress",
                             "spec.ipv6VXLANTunnelAddr" },
    [NODE_TUNNEL_IPIP] = { "IPIP", 4, "ipip-tunnel-addr-", "ipipTunnelAddress",
                           "spec.bgp.ipv4IPIPTunnelAddr" },
};

static json_t *object_at(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);

    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

static void set_or_del(json_t *o, const char *key, bool set, const char *value)
{
    if (set)
        json_object_set_new(o, key, json_string(value));
    else
        json_object_del(o, key);
}

/* The fields this node owns, set in the document of its Node. */
static void fill_spec(json_t *doc, const struct node_reg_facts *f)
{
    static const char *const addr_key[2] = { "ipv4Address", "ipv6Address" };
    static const char *const mac_key[2] = { "vxlanTunnelMACAddr", "vxlanTunnelMACAddrV6" };
    json_t *spec = object_at(doc, "spec"), *bgp = object_at(spec, "bgp");
    char buf[TBY_CIDR_STRLEN];
    uint8_t mac[6];

    for (int i = 0; i < 2; i++) {
        if (f->has_addr[i])
            json_object_set_new(bgp, addr_key[i], json_string(tby_cidr_format(&f->addr[i], buf)));
        /* Every node derives the same MAC from a name, so writing it only pins it. */
        if ((i == 0 || f->vxlan[i]) && !json_is_string(json_object_get(spec, mac_key[i]))) {
            tby_vxlan_mac_for_node(f->node, i ? 6 : 4, mac);
            json_object_set_new(spec, mac_key[i], json_string(tby_mac_format(mac, buf)));
        }
    }
    for (int t = 0; t < NODE_TUNNELS; t++) {
        const char *field = strrchr(node_tunnel_kinds[t].field, '.') + 1;

        set_or_del(t == NODE_TUNNEL_IPIP ? bgp : spec, field, f->has_tunnel[t],
                   f->has_tunnel[t] ? tby_ip_format(&f->tunnel[t], buf) : NULL);
    }
    if (f->has_as)
        json_object_set_new(bgp, "asNumber", json_integer(f->as_number));
    if (json_object_size(bgp) == 0)
        json_object_del(spec, "bgp"); /* an empty bgp section means nothing, and is refused */
}

static json_t *skeleton(const char *name)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "projectcalico.org/v3", "kind",
                     "Node", "metadata", "name", name, "spec");
}

int node_register_plan(const struct tby_resource *old, const struct node_reg_facts *f,
                       struct tby_resource **out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = old ? tby_resource_encode(old) : skeleton(f->node);
    struct tby_resource *res = NULL;
    int r;

    *out = NULL;
    if (!doc)
        return tby_error_set(err, -ENOMEM, "out of memory");
    fill_spec(doc, f);
    r = tby_resource_decode(doc, &res, err);
    if (r < 0)
        return tby_error_prefix(err, "Node %s", f->node);
    if (old && tby_resource_equal(old, res))
        tby_resource_free(res);
    else
        *out = res;
    return 0;
}

bool node_register_tunnel_pool(const struct tby_ippool *p, enum node_tunnel t,
                               const struct tby_resource *node)
{
    enum tby_encap_mode mode = t == NODE_TUNNEL_IPIP ? p->ipip_mode : p->vxlan_mode;

    return p->cidr.ip.family == node_tunnel_kinds[t].family && mode != TBY_ENCAP_NEVER &&
           !p->disabled && (p->allowed_uses & TBY_POOL_USE_TUNNEL) &&
           tby_sel_text_matches(p->node_selector, node ? node->meta.labels : NULL) == 1;
}

const struct tby_ip *node_register_tunnel_addr(const struct tby_node *spec, enum node_tunnel t)
{
    switch (t) {
    case NODE_TUNNEL_VXLAN:
        return spec->has_vxlan_tunnel_addr ? &spec->vxlan_tunnel_addr : NULL;
    case NODE_TUNNEL_VXLAN6:
        return spec->has_vxlan_tunnel_addr_v6 ? &spec->vxlan_tunnel_addr_v6 : NULL;
    case NODE_TUNNEL_IPIP:
        return spec->has_ipip_tunnel_addr ? &spec->ipip_tunnel_addr : NULL;
    default:
        return NULL;
    }
}
