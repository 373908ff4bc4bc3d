/* model_endpoint.c — WorkloadEndpoint and HostEndpoint: decode, validate, encode. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

/* A Linux interface name; a host endpoint may also say "*": every interface of its node
 * (a pod's endpoint is always one interface, so "*" means nothing there). */
static int decode_interface_name(struct tby_dec *d, const json_t *spec, bool allow_all,
                                 char **out)
{
    int r = tby_dec_string(d, spec, "interfaceName", false, out);

    if (r < 0 || !*out || (allow_all && strcmp(*out, "*") == 0))
        return r;
    if (!tby_valid_interface_name(*out) || strcmp(*out, "*") == 0)
        return tby_dec_fail_at(d, "interfaceName", "\"%s\" is not a valid interface name "
                               "(1 to 15 characters, no '/', ':' or white space)%s", *out,
                               allow_all ? ", or \"*\" for all of the node's interfaces" : "");
    return 0;
}

/* ---- WorkloadEndpoint ---------------------------------------------------------------- */

static const char *const wep_fields[] = {
    "orchestrator", "workload", "node", "containerID", "pod", "endpoint",
    "serviceAccountName", "ipNetworks", "ipNATs", "ipv4Gateway", "ipv6Gateway", "profiles",
    "interfaceName", "mac", "ports", "allowSpoofedSourcePrefixes", NULL
};

static void wep_free(void *spec)
{
    struct tby_wep *w = spec;

    if (!w)
        return;
    free(w->orchestrator);
    free(w->workload);
    free(w->node);
    free(w->container_id);
    free(w->pod);
    free(w->endpoint);
    free(w->service_account_name);
    free(w->ip_networks.items);
    free(w->ip_nats);
    tby_strv_clear(&w->profiles);
    free(w->interface_name);
    free(w->mac);
    tby_endpoint_ports_free(w->ports, w->n_ports);
    free(w->allow_spoofed_source_prefixes.items);
    free(w);
}

/* Letters, digits and inner '-' (Docker and containerd IDs are hex). */
static bool valid_container_id(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static int decode_identity(struct tby_dec *d, const json_t *spec, struct tby_wep *w)
{
    int r = tby_dec_name(d, spec, "orchestrator", &w->orchestrator);

    if (r == 0)
        r = tby_dec_name(d, spec, "workload", &w->workload);
    if (r == 0)
        r = tby_dec_name(d, spec, "node", &w->node);
    if (r == 0)
        r = tby_dec_string(d, spec, "containerID", false, &w->container_id);
    if (r == 0 && w->container_id && !valid_container_id(w->container_id))
        r = tby_dec_fail_at(d, "containerID", "\"%s\" is not a container ID (letters, "
                                              "digits and '-')", w->container_id);
    if (r == 0)
        r = tby_dec_name(d, spec, "pod", &w->pod);
    if (r == 0)
        r = tby_dec_name(d, spec, "endpoint", &w->endpoint);
    if (r == 0)
        r = tby_dec_name(d, spec, "serviceAccountName", &w->service_account_name);
    return r;
}

/* Felix routes each of an endpoint's networks as a host route, so, as in Calico, each is
 * one address. */
static int decode_ip_networks(struct tby_dec *d, const json_t *spec, struct tby_wep *w)
{
    size_t mark;
    int r = tby_dec_cidrs(d, spec, "ipNetworks", TBY_CIDR_STRICT | TBY_CIDR_ALLOW_IP,
                          &w->ip_networks);

    mark = tby_dec_enter(d, "ipNetworks");
    for (size_t i = 0; i < w->ip_networks.n && r == 0; i++) {
        const struct tby_cidr *c = &w->ip_networks.items[i];
        char buf[TBY_CIDR_STRLEN];

        if (c->prefix_len != tby_ip_bits(&c->ip)) {
            tby_dec_enter_index(d, i);
            r = tby_dec_fail(d, "%s has more than one address: an endpoint's networks are "
                                "single addresses (/32 or /128)", tby_cidr_format(c, buf));
        }
    }
    tby_dec_leave(d, mark);
    return r;
}

static bool in_networks(const struct tby_wep *w, const struct tby_ip *ip)
{
    for (size_t i = 0; i < w->ip_networks.n; i++)
        if (tby_cidr_contains(&w->ip_networks.items[i], ip))
            return true;
    return false;
}

static int required_ip(struct tby_dec *d, const json_t *item, const char *field,
                       struct tby_ip *out)
{
    bool present;
    int r = tby_dec_ip(d, item, field, 0, out, &present);

    if (r == 0 && !present)
        r = tby_dec_fail_at(d, field, "is required");
    return r;
}

static int ip_nat_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "internalIP", "externalIP", NULL };
    struct tby_ip_nat *nat = elem;
    char buf[TBY_IP_STRLEN];
    int r = tby_dec_item_object(d, item, fields);

    if (r == 0)
        r = required_ip(d, item, "internalIP", &nat->internal_ip);
    if (r == 0)
        r = required_ip(d, item, "externalIP", &nat->external_ip);
    if (r < 0)
        return r;
    if (nat->internal_ip.family != nat->external_ip.family)
        return tby_dec_fail_at(d, "externalIP", "is IPv%d but internalIP is IPv%d",
                               nat->external_ip.family, nat->internal_ip.family);
    if (!in_networks(ctx, &nat->internal_ip))
        return tby_dec_fail_at(d, "internalIP", "%s is not one of the endpoint's ipNetworks",
                               tby_ip_format(&nat->internal_ip, buf));
    return 0;
}

static int decode_addressing(struct tby_dec *d, const json_t *spec, struct tby_wep *w)
{
    void *items = NULL;
    int r = decode_ip_networks(d, spec, w);

    if (r == 0)
        r = tby_fields_list(d, spec, "ipNATs", sizeof(*w->ip_nats), ip_nat_item, w, &items,
                         &w->n_ip_nats);
    w->ip_nats = items;
    if (r == 0)
        r = tby_dec_ip(d, spec, "ipv4Gateway", 4, &w->ipv4_gateway, &w->has_ipv4_gateway);
    if (r == 0)
        r = tby_dec_ip(d, spec, "ipv6Gateway", 6, &w->ipv6_gateway, &w->has_ipv6_gateway);
    if (r == 0)
        r = tby_dec_cidrs(d, spec, "allowSpoofedSourcePrefixes",
                          TBY_CIDR_ALLOW_IP | TBY_CIDR_MASK, &w->allow_spoofed_source_prefixes);
    return r;
}

static int wep_decode_spec(struct tby_dec *d, const json_t *spec,
                           const struct tby_resource *res, void *out)
{
    struct tby_wep *w = out;
    int r = tby_dec_known_fields(d, spec, wep_fields);

    if (r == 0)
        r = decode_identity(d, spec, w);
    if (r == 0)
        r = decode_addressing(d, spec, w);
    if (r == 0)
        r = tby_dec_names(d, spec, "profiles", &w->profiles);
    if (r == 0)
        r = decode_interface_name(d, spec, false, &w->interface_name);
    if (r == 0)
        r = tby_dec_mac(d, spec, "mac", &w->mac);
    if (r == 0)
        r = tby_dec_endpoint_ports(d, spec, true, &w->ports, &w->n_ports);
    return r;
}

static int wep_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_wep), wep_decode_spec);
}

static json_t *encode_ip_nats(const struct tby_wep *w)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < w->n_ip_nats; i++) {
        json_t *nat = json_object();

        tby_enc_ip(nat, "internalIP", true, &w->ip_nats[i].internal_ip);
        tby_enc_ip(nat, "externalIP", true, &w->ip_nats[i].external_ip);
        json_array_append_new(arr, nat);
    }
    return arr;
}

static void wep_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_wep *w = res->spec.wep;
    json_t *spec = json_object();

    tby_enc_string(spec, "orchestrator", w->orchestrator);
    tby_enc_string(spec, "workload", w->workload);
    tby_enc_string(spec, "node", w->node);
    tby_enc_string(spec, "containerID", w->container_id);
    tby_enc_string(spec, "pod", w->pod);
    tby_enc_string(spec, "endpoint", w->endpoint);
    tby_enc_string(spec, "serviceAccountName", w->service_account_name);
    tby_enc_take(spec, "ipNetworks", tby_enc_cidrs(&w->ip_networks));
    tby_enc_take(spec, "ipNATs", encode_ip_nats(w));
    tby_enc_ip(spec, "ipv4Gateway", w->has_ipv4_gateway, &w->ipv4_gateway);
    tby_enc_ip(spec, "ipv6Gateway", w->has_ipv6_gateway, &w->ipv6_gateway);
    tby_enc_strv(spec, "profiles", &w->profiles);
    tby_enc_string(spec, "interfaceName", w->interface_name);
    tby_enc_string(spec, "mac", w->mac);
    tby_enc_take(spec, "ports", tby_enc_endpoint_ports(w->ports, w->n_ports));
    tby_enc_take(spec, "allowSpoofedSourcePrefixes",
                 tby_enc_cidrs(&w->allow_spoofed_source_prefixes));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_wep_ops = {
    .decode = wep_decode,
    .encode = wep_encode,
    .free = wep_free,
};

/* ---- HostEndpoint -------------------------------------------------------------------- */

static const char *const hep_fields[] = { "node", "interfaceName", "expectedIPs", "profiles",
                                          "ports", NULL };

static void hep_free(void *spec)
{
    struct tby_hep *h = spec;

    if (!h)
        return;
    free(h->node);
    free(h->interface_name);
    free(h->expected_ips);
    tby_strv_clear(&h->profiles);
    tby_endpoint_ports_free(h->ports, h->n_ports);
    free(h);
}

static int hep_decode_spec(struct tby_dec *d, const json_t *spec,
                           const struct tby_resource *res, void *out)
{
    struct tby_hep *h = out;
    int r = tby_dec_known_fields(d, spec, hep_fields);

    if (r == 0)
        r = tby_dec_name(d, spec, "node", &h->node);
    if (r == 0 && !h->node)
        r = tby_dec_fail_at(d, "node", "is required (the node the interface is on)");
    if (r == 0)
        r = decode_interface_name(d, spec, true, &h->interface_name);
    if (r == 0)
        r = tby_dec_ips(d, spec, "expectedIPs", &h->expected_ips, &h->n_expected_ips);
    /* Without either, nothing says which interface the endpoint is. */
    if (r == 0 && !h->interface_name && !h->n_expected_ips)
        r = tby_dec_fail_at(d, "interfaceName", "is required unless expectedIPs are given");
    if (r == 0)
        r = tby_dec_names(d, spec, "profiles", &h->profiles);
    if (r == 0)
        r = tby_dec_endpoint_ports(d, spec, false, &h->ports, &h->n_ports);
    return r;
}

static int hep_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_hep), hep_decode_spec);
}

static void hep_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_hep *h = res->spec.hep;
    json_t *spec = json_object();

    tby_enc_string(spec, "node", h->node);
    tby_enc_string(spec, "interfaceName", h->interface_name);
    tby_enc_take(spec, "expectedIPs", tby_enc_ips(h->expected_ips, h->n_expected_ips));
    tby_enc_strv(spec, "profiles", &h->profiles);
    tby_enc_take(spec, "ports", tby_enc_endpoint_ports(h->ports, h->n_ports));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_hep_ops = {
    .decode = hep_decode,
    .encode = hep_encode,
    .free = hep_free,
};
