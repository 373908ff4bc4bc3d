/* endpointslice.h — a Kubernetes EndpointSlice (discovery.k8s.io/v1) as policy reads it: the
 * Service it belongs to (its label kubernetes.io/service-name), the addresses of its
 * endpoints and its ports. Rules that name a Service (`services` in a rule's source or
 * destination) match these, as Calico's felix does: a destination service is every endpoint
 * address with every port of the service's slices (address . protocol . port), a source
 * service every endpoint address. Only the Kubernetes datastore knows Services
 * (tby_store_knows_services); it holds each slice under TBY_EPS_PREFIX<ns>/<name> in the
 * normal form tby_eps_encode writes, which tabby-node's syncer keeps as records.
 *
 * Reading follows the API server's object leniently where Kubernetes adds fields (only the
 * fields above are read; an address that is not an IP, as an FQDN slice's, and a port
 * without a number match nothing, as for felix) and strictly where a field is of the wrong
 * type, naming it.
 *
 * Owns: struct tby_eps and its arrays; tby_eps_free releases them.
 */
#ifndef TABBY_ENDPOINTSLICE_H
#define TABBY_ENDPOINTSLICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"

/* Where the Kubernetes datastore holds EndpointSlices, as records (no resource kind). */
#define TBY_EPS_PREFIX "/tabby/v1/k8s/endpointslices/"
/* The label naming a slice's Service. */
#define TBY_EPS_SERVICE_LABEL "kubernetes.io/service-name"

struct tby_eps_port {
    uint8_t proto;          /* TCP (the default), UDP or SCTP */
    uint16_t port;
};

struct tby_eps {
    char *namespace;
    char *name;
    char *service;          /* NULL: the slice belongs to no Service */
    struct tby_ip *addrs;   /* sorted, each once */
    size_t n_addrs;
    struct tby_eps_port *ports; /* sorted, each once; only ports with a number */
    size_t n_ports;
};

/* An EndpointSlice object (the API server's, or tby_eps_encode's) as a slice. -EINVAL
 * with a message naming the field ("endpoints[2].addresses: …"), -ENOMEM. */
int tby_eps_decode(const json_t *obj, struct tby_eps **out, struct tby_error *err);
/* The slice as a minimal EndpointSlice object: metadata (name, namespace, the service
 * label), addressType, one endpoint with every address, the ports; equal slices give
 * equal text. New reference, NULL when out of memory. */
json_t *tby_eps_encode(const struct tby_eps *eps);
void tby_eps_free(struct tby_eps *eps);
TBY_DEFINE_FREEP(struct tby_eps, tby_eps_free)

#endif
