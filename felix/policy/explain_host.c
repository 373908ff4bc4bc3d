/* explain_host.c — what explain says of the node's own side of a flow (explain_internal.h):
 * a pod's packet to its own node meets defaultEndpointToHostAction (FelixConfiguration
 * "default" and "node.<name>", Calico's default Drop), which explain evaluates; a packet to
 * or from a node that has a policed HostEndpoint (one naming its interface) meets that
 * endpoint's policy, which explain does not evaluate (it does not know the interface a
 * packet crosses), so it says the verdict is unknown rather than guess. */
#include <string.h>

#include "tabby/felix_settings.h"
#include "explain_internal.h"

static bool node_has(const struct tby_node *n, const struct tby_ip *a)
{
    struct tby_ip ip;

    if ((n->has_ipv4_address && tby_ip_equal(&n->ipv4_address.ip, a)) ||
        (n->has_ipv6_address && tby_ip_equal(&n->ipv6_address.ip, a)) ||
        (n->has_ipip_tunnel_addr && tby_ip_equal(&n->ipip_tunnel_addr, a)) ||
        (n->has_vxlan_tunnel_addr && tby_ip_equal(&n->vxlan_tunnel_addr, a)) ||
        (n->has_vxlan_tunnel_addr_v6 && tby_ip_equal(&n->vxlan_tunnel_addr_v6, a)))
        return true;
    for (size_t i = 0; i < n->n_addresses; i++) {
        const char *s = n->addresses[i].address;
        char buf[TBY_CIDR_STRLEN];
        const char *slash = s ? strchr(s, '/') : NULL;

        if (slash && (size_t)(slash - s) < sizeof(buf)) {
            memcpy(buf, s, (size_t)(slash - s));
            buf[slash - s] = '\0';
            s = buf;
        }
        if (s && tby_ip_parse(s, &ip, NULL) == 0 && tby_ip_equal(&ip, a))
            return true;
    }
    return false;
}

bool explain_node_has(const struct tby_explain *x, const char *node, const struct tby_ip *a)
{
    for (size_t i = 0; node && i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];

        if (r->info->kind == TBY_KIND_NODE && strcmp(r->meta.name, node) == 0)
            return node_has(r->spec.node, a);
    }
    return false;
}

const char *explain_host_of(const struct tby_explain *x, const struct tby_ip *a)
{
    for (size_t i = 0; i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];

        if (r->info->kind == TBY_KIND_NODE && node_has(r->spec.node, a))
            return r->meta.name;
        if (r->info->kind != TBY_KIND_HOSTENDPOINT)
            continue;
        for (size_t j = 0; j < r->spec.hep->n_expected_ips; j++)
            if (tby_ip_equal(&r->spec.hep->expected_ips[j], a))
                return r->spec.hep->node;
    }
    return NULL;
}

bool explain_host_policed(const struct tby_explain *x, const char *node)
{
    for (size_t i = 0; node && i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];

        if (r->info->kind == TBY_KIND_HOSTENDPOINT && r->spec.hep->node &&
            strcmp(r->spec.hep->node, node) == 0)
            return true;
    }
    return false;
}

/* The settings node's FelixConfigurations ("node.<node>" over "default") give it, merged
 * as tabby-node merges them (felix_settings.h); the node's FELIX_* variables are not in
 * the datastore, so explain cannot see them. */
static void settings_of(const struct tby_explain *x, const char *node,
                        struct tby_felix_settings *out)
{
    const struct tby_felixconfig *layers[2] = { NULL, NULL }; /* the node's, default */

    for (size_t i = 0; i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];

        if (r->info->kind != TBY_KIND_FELIXCONFIG)
            continue;
        if (strcmp(r->meta.name, "default") == 0)
            layers[1] = r->spec.felixconfig;
        else if (node && strncmp(r->meta.name, "node.", 5) == 0 &&
                 strcmp(r->meta.name + 5, node) == 0)
            layers[0] = r->spec.felixconfig;
    }
    memset(out, 0, sizeof(*out));
    tby_felix_settings_merge(layers, 2, out);
}

enum tby_felix_to_host explain_endpoint_to_host(const struct tby_explain *x, const char *node)
{
    struct tby_felix_settings s;

    settings_of(x, node, &s);
    return s.to_host;
}

bool explain_spoofing_any(const struct tby_explain *x, const char *node)
{
    struct tby_felix_settings s;

    settings_of(x, node, &s);
    return s.spoofing_any;
}
