/* cni_result.h — a CNI result as C values (private to cni/): read from what an IPAM
 * plugin answers or from the prevResult of a call, in any of the shapes tabby speaks
 * (0.3.0, 0.3.1, 0.4.0, 1.0.0), and written back in the shape a call's cniVersion asks
 * for. Converting between versions is reading one and writing the other.
 *
 * Owns nothing that needs freeing: fixed-size arrays, and the strings an interface
 * names (sandbox) and the dns object borrowed from the JSON document the result was read
 * from (or set by the caller), which must outlive it.
 */
#ifndef TABBY_CNI_RESULT_H
#define TABBY_CNI_RESULT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tabby/error.h"
#include "tabby/net.h"

#define CNI_MAX_IFACES 8
#define CNI_MAX_IPS 8
#define CNI_MAX_ROUTES 32
#define CNI_MAC_STRLEN 18

struct cni_iface {
    char name[IFNAMSIZ];
    char mac[CNI_MAC_STRLEN];       /* "" when unknown */
    const char *sandbox;            /* NULL or "": on the host (borrowed) */
};

struct cni_ip {
    struct tby_cidr address;        /* host bits kept: 10.0.0.5/24 */
    bool has_gateway;
    struct tby_ip gateway;
    int interface;                  /* index into ifaces, -1: none */
};

struct cni_route {
    struct tby_cidr dst;            /* masked */
    bool has_gw;
    struct tby_ip gw;
};

struct cni_result {
    struct cni_iface ifaces[CNI_MAX_IFACES];
    size_t n_ifaces;
    struct cni_ip ips[CNI_MAX_IPS];
    size_t n_ips;
    struct cni_route routes[CNI_MAX_ROUTES];
    size_t n_routes;
    const json_t *dns;              /* borrowed; NULL: none */
};

/* Reads a result of any version tabby speaks: "ips" entries need "address"; "version",
 * "gateway" and "interface" are optional, as are "interfaces", "routes" and "dns". The
 * message names the field at fault ("ips[1].address: ..."). */
int cni_result_parse(const json_t *doc, struct cni_result *out, struct tby_error *err);

/* The result in the shape of `version`: before 1.0.0 every "ips" entry carries
 * "version". New reference; NULL when out of memory. */
json_t *cni_result_encode(const struct cni_result *res, const char *version);

/* The first address of a family (4 or 6), or NULL. */
const struct cni_ip *cni_result_first_ip(const struct cni_result *res, int family);

#endif
