/* cni_result.c — reading and writing CNI results in every version tabby speaks (see
 * cni_result.h). */
#include <errno.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "cni_common.h"
#include "cni_result.h"

/* ---- reading ---------------------------------------------------------------------------- */

/* An optional string field; "" when absent. */
static int opt_string(const json_t *obj, const char *field, const char *where, size_t i,
                      const char **out, struct tby_error *err)
{
    const json_t *v = json_object_get(obj, field);

    *out = "";
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return tby_error_set(err, -EINVAL, "%s[%zu].%s: must be a string", where, i, field);
    *out = json_string_value(v);
    return 0;
}

/* The array `field` of doc (absent: empty), no longer than max. */
static int get_array(const json_t *doc, const char *field, size_t max, const json_t **out,
                     struct tby_error *err)
{
    const json_t *v = json_object_get(doc, field);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return tby_error_set(err, -EINVAL, "%s: must be a list", field);
    if (json_array_size(v) > max)
        return tby_error_set(err, -EINVAL, "%s: more than %zu entries", field, max);
    *out = v;
    return 0;
}

static int parse_iface(const json_t *item, size_t i, struct cni_iface *out,
                       struct tby_error *err)
{
    const char *name, *mac, *sandbox;
    int r = opt_string(item, "name", "interfaces", i, &name, err);

    if (r == 0)
        r = opt_string(item, "mac", "interfaces", i, &mac, err);
    if (r == 0)
        r = opt_string(item, "sandbox", "interfaces", i, &sandbox, err);
    if (r < 0)
        return r;
    if (!*name || strlen(name) >= IFNAMSIZ)
        return tby_error_set(err, -EINVAL, "interfaces[%zu].name: must be an interface name "
                             "(1 to %d characters)", i, IFNAMSIZ - 1);
    if (strlen(mac) >= CNI_MAC_STRLEN)
        return tby_error_set(err, -EINVAL, "interfaces[%zu].mac: \"%s\" is not a MAC "
                             "address", i, mac);
    strcpy(out->name, name);
    strcpy(out->mac, mac);
    out->sandbox = *sandbox ? sandbox : NULL;
    return 0;
}

static int parse_gateway(const char *text, const char *where, size_t i, bool *has,
                         struct tby_ip *out, struct tby_error *err)
{
    *has = *text != '\0';
    if (*has && tby_ip_parse(text, out, NULL) < 0)
        return tby_error_set(err, -EINVAL, "%s[%zu]: \"%s\" is not an IP address", where, i,
                             text);
    return 0;
}

static int parse_ip(const json_t *item, size_t i, struct cni_ip *out, struct tby_error *err)
{
    const json_t *index = json_object_get(item, "interface");
    const char *address, *gateway;
    int r = opt_string(item, "address", "ips", i, &address, err);

    if (r == 0)
        r = opt_string(item, "gateway", "ips", i, &gateway, err);
    if (r < 0)
        return r;
    if (tby_cidr_parse(address, 0, &out->address, NULL) < 0)
        return tby_error_set(err, -EINVAL, "ips[%zu].address: \"%s\" is not an address with "
                             "its prefix length", i, address);
    out->interface = -1;
    if (index && !json_is_null(index)) {
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) >= CNI_MAX_IFACES)
            return tby_error_set(err, -EINVAL, "ips[%zu].interface: must be an index into "
                                 "interfaces", i);
        out->interface = (int)json_integer_value(index);
    }
    return parse_gateway(gateway, "ips.gateway", i, &out->has_gateway, &out->gateway, err);
}

static int parse_route(const json_t *item, size_t i, struct cni_route *out,
                       struct tby_error *err)
{
    const char *dst, *gw;
    int r = opt_string(item, "dst", "routes", i, &dst, err);

    if (r == 0)
        r = opt_string(item, "gw", "routes", i, &gw, err);
    if (r < 0)
        return r;
    if (tby_cidr_parse(dst, TBY_CIDR_MASK, &out->dst, NULL) < 0)
        return tby_error_set(err, -EINVAL, "routes[%zu].dst: \"%s\" is not a CIDR", i, dst);
    return parse_gateway(gw, "routes.gw", i, &out->has_gw, &out->gw, err);
}

static int parse_lists(const json_t *doc, struct cni_result *out, struct tby_error *err)
{
    const json_t *ifaces, *ips, *routes, *item;
    size_t i;
    int r = get_array(doc, "interfaces", CNI_MAX_IFACES, &ifaces, err);

    if (r == 0)
        r = get_array(doc, "ips", CNI_MAX_IPS, &ips, err);
    if (r == 0)
        r = get_array(doc, "routes", CNI_MAX_ROUTES, &routes, err);
    json_array_foreach(ifaces, i, item) {
        if (r == 0)
            r = parse_iface(item, i, &out->ifaces[out->n_ifaces++], err);
    }
    json_array_foreach(ips, i, item) {
        if (r == 0)
            r = parse_ip(item, i, &out->ips[out->n_ips++], err);
    }
    json_array_foreach(routes, i, item) {
        if (r == 0)
            r = parse_route(item, i, &out->routes[out->n_routes++], err);
    }
    return r;
}

int cni_result_parse(const json_t *doc, struct cni_result *out, struct tby_error *err)
{
    const json_t *dns = json_object_get(doc, "dns");
    int r;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        return tby_error_set(err, -EINVAL, "not a JSON object");
    r = parse_lists(doc, out, err);
    for (size_t i = 0; r == 0 && i < out->n_ips; i++)
        if (out->n_ifaces && out->ips[i].interface >= (int)out->n_ifaces)
            r = tby_error_set(err, -EINVAL, "ips[%zu].interface: %d is not an index into "
                              "interfaces (%zu entries)", i, out->ips[i].interface,
                              out->n_ifaces);
    if (r < 0)
        return r;
    out->dns = json_is_object(dns) ? dns : NULL;
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

static json_t *encode_iface(const struct cni_iface *iface)
{
    json_t *obj = json_pack("{s:s}", "name", iface->name);

    if (obj && iface->mac[0])
        json_object_set_new(obj, "mac", json_string(iface->mac));
    if (obj && iface->sandbox && *iface->sandbox)
        json_object_set_new(obj, "sandbox", json_string(iface->sandbox));
    return obj;
}

static int encode_ips(json_t *doc, const struct cni_result *res, const char *version)
{
    json_t *list = json_object_get(doc, "ips");

    for (size_t i = 0; i < res->n_ips; i++) {
        const struct cni_ip *ip = &res->ips[i];
        int r = cni_result_add_ip(doc, version, &ip->address,
                                  ip->has_gateway ? &ip->gateway : NULL);

        if (r < 0)
            return r;
        if (ip->interface >= 0 &&
            json_object_set_new(json_array_get(list, json_array_size(list) - 1), "interface",
                                json_integer(ip->interface)) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int encode_routes(json_t *doc, const struct cni_result *res)
{
    for (size_t i = 0; i < res->n_routes; i++) {
        char dst[TBY_CIDR_STRLEN], gw[TBY_IP_STRLEN];
        const struct cni_route *rt = &res->routes[i];
        int r = cni_result_add_route(doc, tby_cidr_format(&rt->dst, dst),
                                     rt->has_gw ? tby_ip_format(&rt->gw, gw) : NULL);

        if (r < 0)
            return r;
    }
    return 0;
}

json_t *cni_result_encode(const struct cni_result *res, const char *version)
{
    _cleanup_json_ json_t *doc = cni_result_new(version);
    json_t *ifaces = json_array();
    int r = doc && ifaces ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < res->n_ifaces; i++)
        r = json_array_append_new(ifaces, encode_iface(&res->ifaces[i]));
    /* An IPAM answer has no interfaces; a plugin's always has some. */
    if (r == 0 && res->n_ifaces)
        r = json_object_set(doc, "interfaces", ifaces);
    json_decref(ifaces);
    if (r == 0)
        r = encode_ips(doc, res, version);
    if (r == 0)
        r = encode_routes(doc, res);
    if (r == 0 && res->dns)
        r = json_object_set_new(doc, "dns", json_deep_copy(res->dns));
    return r == 0 ? TBY_STEAL(doc) : NULL;
}

const struct cni_ip *cni_result_first_ip(const struct cni_result *res, int family)
{
    for (size_t i = 0; i < res->n_ips; i++)
        if (res->ips[i].address.ip.family == family)
            return &res->ips[i];
    return NULL;
}
