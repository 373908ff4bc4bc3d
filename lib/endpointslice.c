/* endpointslice.c — a Kubernetes EndpointSlice as policy reads it (endpointslice.h): decoded
 * from the API server's object (or from its own normal form, which is one too), and
 * encoded in that normal form. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/codec.h"
#include "tabby/endpointslice.h"
#include "tabby/model.h"

/* Kubernetes' protocol names, by IANA number. */
static const struct {
    const char *name;
    uint8_t number;
} protocols[] = { { "TCP", TBY_PROTO_TCP }, { "UDP", TBY_PROTO_UDP }, { "SCTP", TBY_PROTO_SCTP } };

void tby_eps_free(struct tby_eps *eps)
{
    if (!eps)
        return;
    free(eps->namespace);
    free(eps->name);
    free(eps->service);
    free(eps->addrs);
    free(eps->ports);
    free(eps);
}

static int oom(struct tby_dec *d)
{
    tby_error_set(d->err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* ---- reading ---------------------------------------------------------------------------- */

static int decode_meta(struct tby_dec *d, const json_t *obj, struct tby_eps *eps)
{
    const json_t *meta, *labels;
    size_t mark;
    int r = tby_dec_object(d, obj, "metadata", &meta);

    if (r < 0)
        return r;
    mark = tby_dec_enter(d, "metadata");
    r = tby_dec_string(d, meta, "name", true, &eps->name);
    if (r == 0)
        r = tby_dec_string(d, meta, "namespace", true, &eps->namespace);
    if (r == 0)
        r = tby_dec_object(d, meta, "labels", &labels);
    if (r == 0 && labels) {
        size_t m2 = tby_dec_enter(d, "labels");

        r = tby_dec_string(d, labels, TBY_EPS_SERVICE_LABEL, false, &eps->service);
        tby_dec_leave(d, m2);
    }
    tby_dec_leave(d, mark);
    return r;
}

/* An address that is no IP (an FQDN slice's) matches nothing and is left out. */
static int decode_addresses(struct tby_dec *d, const json_t *ep, struct tby_eps *eps,
                            size_t *cap)
{
    const json_t *list, *v;
    size_t i, mark;
    int r = tby_dec_array(d, ep, "addresses", &list);

    if (r < 0 || !list)
        return r;
    mark = tby_dec_enter(d, "addresses");
    json_array_foreach(list, i, v) {
        size_t m2 = tby_dec_enter_index(d, i);
        const char *text;
        struct tby_ip ip;

        r = tby_dec_string_value(d, v, &text);
        tby_dec_leave(d, m2);
        if (r < 0)
            break;
        if (tby_ip_parse(text, &ip, NULL) < 0)
            continue;
        if (TBY_GROW(eps->addrs, *cap, eps->n_addrs + 1) < 0) {
            r = oom(d);
            break;
        }
        eps->addrs[eps->n_addrs++] = ip;
    }
    tby_dec_leave(d, mark);
    return r;
}

/* Calls fn on each object of the list obj[field] (absent: none), the path at field[i]. */
static int each_object(struct tby_dec *d, const json_t *obj, const char *field,
                       int (*fn)(struct tby_dec *d, const json_t *item, struct tby_eps *eps,
                                 size_t *cap),
                       struct tby_eps *eps)
{
    const json_t *list, *item;
    size_t i, cap = 0, mark;
    int r = tby_dec_array(d, obj, field, &list);

    if (r < 0 || !list)
        return r;
    mark = tby_dec_enter(d, field);
    json_array_foreach(list, i, item) {
        size_t m2 = tby_dec_enter_index(d, i);

        r = tby_dec_expect_object(d, item);
        if (r == 0)
            r = fn(d, item, eps, &cap);
        tby_dec_leave(d, m2);
        if (r < 0)
            break;
    }
    tby_dec_leave(d, mark);
    return r;
}

static int decode_protocol(struct tby_dec *d, const json_t *port, uint8_t *out)
{
    const json_t *v = tby_dec_get(port, "protocol");
    const char *text;
    size_t mark;
    int r;

    *out = TBY_PROTO_TCP;
    if (!v)
        return 0;
    mark = tby_dec_enter(d, "protocol");
    r = tby_dec_string_value(d, v, &text);
    for (size_t i = 0; r == 0 && i < TBY_ARRAY_SIZE(protocols); i++) {
        if (strcmp(text, protocols[i].name) == 0) {
            *out = protocols[i].number;
            tby_dec_leave(d, mark);
            return 0;
        }
    }
    if (r == 0)
        r = tby_dec_fail(d, "\"%s\" is no protocol of Kubernetes (TCP, UDP or SCTP)", text);
    tby_dec_leave(d, mark);
    return r;
}

/* A port without a number stands for every port in Kubernetes; felix (and tabby) match
 * nothing for it. */
static int decode_port(struct tby_dec *d, const json_t *p, struct tby_eps *eps, size_t *cap)
{
    struct tby_eps_port port = { 0 };
    int64_t number = 0;
    bool present = false;
    int r = tby_dec_int(d, p, "port", 1, 65535, &number, &present);

    if (r == 0)
        r = decode_protocol(d, p, &port.proto);
    if (r < 0 || !present)
        return r;
    port.port = (uint16_t)number;
    if (TBY_GROW(eps->ports, *cap, eps->n_ports + 1) < 0)
        return oom(d);
    eps->ports[eps->n_ports++] = port;
    return 0;
}

static int addr_cmp(const void *a, const void *b)
{
    return tby_ip_compare(a, b);
}

static int port_cmp(const void *a, const void *b)
{
    const struct tby_eps_port *x = a, *y = b;

    if (x->proto != y->proto)
        return x->proto < y->proto ? -1 : 1;
    return x->port < y->port ? -1 : x->port > y->port;
}

/* Sorts and drops repeats: one element of size `size` per distinct value. */
static size_t sort_unique(void *items, size_t n, size_t size, int (*cmp)(const void *,
                                                                         const void *))
{
    char *base = items;
    size_t out = 0;

    if (n == 0)
        return 0;
    qsort(base, n, size, cmp);
    for (size_t i = 1; i < n; i++)
        if (cmp(base + out * size, base + i * size) != 0)
            memmove(base + ++out * size, base + i * size, size);
    return out + 1;
}

int tby_eps_decode(const json_t *obj, struct tby_eps **out, struct tby_error *err)
{
    _cleanup_(tby_eps_freep) struct tby_eps *eps = calloc(1, sizeof(*eps));
    struct tby_dec d;
    int r;

    *out = NULL;
    tby_dec_init(&d, err);
    if (!eps)
        return oom(&d);
    r = tby_dec_expect_object(&d, obj);
    if (r == 0)
        r = decode_meta(&d, obj, eps);
    if (r == 0)
        r = each_object(&d, obj, "endpoints", decode_addresses, eps);
    if (r == 0)
        r = each_object(&d, obj, "ports", decode_port, eps);
    if (r < 0)
        return r;
    eps->n_addrs = sort_unique(eps->addrs, eps->n_addrs, sizeof(*eps->addrs), addr_cmp);
    eps->n_ports = sort_unique(eps->ports, eps->n_ports, sizeof(*eps->ports), port_cmp);
    *out = TBY_STEAL(eps);
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

static const char *protocol_name(uint8_t number)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(protocols); i++)
        if (protocols[i].number == number)
            return protocols[i].name;
    return "TCP";
}

json_t *tby_eps_encode(const struct tby_eps *eps)
{
    json_t *obj = json_object(), *meta = json_object(), *addrs = json_array();
    json_t *ports = json_array();
    char buf[TBY_IP_STRLEN];

    if (!obj || !meta || !addrs || !ports)
        goto oom;
    json_object_set_new(obj, "apiVersion", json_string("discovery.k8s.io/v1"));
    json_object_set_new(obj, "kind", json_string("EndpointSlice"));
    tby_enc_string(meta, "name", eps->name);
    tby_enc_string(meta, "namespace", eps->namespace);
    if (eps->service)
        json_object_set_new(meta, "labels",
                            json_pack("{s:s}", TBY_EPS_SERVICE_LABEL, eps->service));
    json_object_set_new(obj, "metadata", TBY_STEAL(meta));
    json_object_set_new(obj, "addressType",
                        json_string(eps->n_addrs && eps->addrs[0].family == 6 ? "IPv6"
                                                                              : "IPv4"));
    for (size_t i = 0; i < eps->n_addrs; i++)
        json_array_append_new(addrs, json_string(tby_ip_format(&eps->addrs[i], buf)));
    json_object_set_new(obj, "endpoints", json_pack("[{s:o}]", "addresses", TBY_STEAL(addrs)));
    for (size_t i = 0; i < eps->n_ports; i++)
        json_array_append_new(ports, json_pack("{s:s, s:i}", "protocol",
                                               protocol_name(eps->ports[i].proto), "port",
                                               (int)eps->ports[i].port));
    json_object_set_new(obj, "ports", TBY_STEAL(ports));
    return obj;
oom:
    json_decref(obj);
    json_decref(meta);
    json_decref(addrs);
    json_decref(ports);
    return NULL;
}
