/* explain_match.c — one rule (as the dataplane reads it, struct crule) against one packet,
 * saying which match decided. The nftables compiler (calc_rules.c) turns the same rule
 * into set lookups; here each lookup is answered from the model: a selector's address set
 * holds the addresses of the endpoints it selects, a named port's set the (address,
 * protocol, port) of the endpoints it selects that declare the name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "explain_internal.h"

/* Whether endpoint e holds address a (the dataplane's sets hold /32 and /128 only). */
static bool ep_has_addr(const struct xep *e, const struct tby_ip *a)
{
    const struct tby_cidr_list *l = &e->res->spec.wep->ip_networks;

    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].prefix_len == tby_ip_bits(&l->items[i].ip) &&
            tby_ip_equal(&l->items[i].ip, a))
            return true;
    return false;
}

static bool in_nets(const struct tby_cidr_list *l, const struct tby_ip *a);

/* The name of the first endpoint holding a, or network set whose nets hold it, that sel
 * selects (NULL sel: any), or NULL. */
static const char *selected_at(const struct tby_explain *x, const struct tby_sel *sel,
                               const struct tby_ip *a)
{
    for (size_t i = 0; i < x->n_eps; i++) {
        const struct xep *e = &x->eps[i];
        struct tby_labels view = tby_labels_from_json(e->labels);

        if (ep_has_addr(e, a) && (!sel || tby_sel_match(sel, &view)))
            return e->name;
    }
    for (size_t i = 0; sel && i < x->n_sets; i++) {
        const struct xset *s = &x->sets[i];
        struct tby_labels view = tby_labels_from_json(s->labels);

        if (in_nets(&s->res->spec.networkset->nets, a) && tby_sel_match(sel, &view))
            return s->name;
    }
    return NULL;
}

static bool in_nets(const struct tby_cidr_list *l, const struct tby_ip *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (tby_cidr_contains(&l->items[i], a))
            return true;
    return false;
}

/* Whether the named port `name` of protocol proto is `port` on an endpoint at a that sel
 * selects (NULL: any). */
static bool named_port_at(const struct tby_explain *x, const struct tby_sel *sel,
                          const struct tby_ip *a, int proto, const char *name, uint16_t port)
{
    for (size_t i = 0; i < x->n_eps; i++) {
        const struct xep *e = &x->eps[i];
        const struct tby_wep *w = e->res->spec.wep;
        struct tby_labels view = tby_labels_from_json(e->labels);

        if (!ep_has_addr(e, a) || (sel && !tby_sel_match(sel, &view)))
            continue;
        for (size_t k = 0; k < w->n_ports; k++)
            if (w->ports[k].name && strcmp(w->ports[k].name, name) == 0 &&
                w->ports[k].protocol == proto && w->ports[k].port == port)
                return true;
    }
    return false;
}

static void print_ports(struct tby_buf *b, const void *list)
{
    const struct tby_port_list *l = list;

    for (size_t i = 0; i < l->n; i++) {
        const struct tby_port *p = &l->items[i];

        if (i)
            tby_buf_adds(b, ",");
        if (p->name)
            tby_buf_adds(b, p->name);
        else if (p->first == p->last)
            tby_buf_printf(b, "%u", p->first);
        else
            tby_buf_printf(b, "%u:%u", p->first, p->last);
    }
}

static void print_nets(struct tby_buf *b, const void *list)
{
    const struct tby_cidr_list *l = list;
    char buf[TBY_CIDR_STRLEN];

    for (size_t i = 0; i < l->n; i++)
        tby_buf_printf(b, "%s%s", i ? "," : "", tby_cidr_format(&l->items[i], buf));
}

/* One list of a rule's entity (nets, ports and their not-forms): whether the packet's
 * value being in it (in) is what the rule asks, written into held or fail. */
static bool list_test(bool in, bool negated, const char *side, const char *field,
                      void (*print)(struct tby_buf *b, const void *list), const void *list,
                      const char *value, struct tby_buf *held, struct tby_buf *fail)
{
    bool ok = in != negated;
    struct tby_buf *b = ok ? held : fail;

    tby_buf_printf(b, "%s%s %s [", ok ? "; " : "", side, field);
    print(b, list);
    tby_buf_printf(b, "] %s %s", in ? "hold" : "do not hold", value);
    return ok;
}

/* Whether one of the ports (numbers or names) holds the packet's port. */
static bool port_in(const struct tby_explain *x, const struct centity *e,
                    const struct tby_port_list *l, const struct tby_ip *a, int proto,
                    uint16_t port)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct tby_port *p = &l->items[i];

        if (p->name ? named_port_at(x, e->sel, a, proto, p->name, port)
                    : port >= p->first && port <= p->last)
            return true;
    }
    return false;
}

/* The test of one entity; on failure `fail` says which match failed, else `held` gets
 * the matches that held. Returns whether it matched. */
/* Whether a slice of service key ("<ns>/<name>") lists address a (and, with want_port, the
 * port proto/port). */
static bool in_service(const struct tby_explain *x, const char *key, const struct tby_ip *a,
                       bool want_port, int proto, bool has_port, uint16_t port)
{
    const char *slash = strchr(key, '/');
    size_t ns_len = (size_t)(slash - key);

    for (size_t i = 0; i < x->n_slices; i++) {
        const struct tby_eps *eps = x->slices[i];
        bool addr = false, p = !want_port;

        if (!eps->service || strlen(eps->namespace) != ns_len ||
            strncmp(eps->namespace, key, ns_len) != 0 || strcmp(eps->service, slash + 1) != 0)
            continue;
        for (size_t k = 0; !addr && k < eps->n_addrs; k++)
            addr = tby_ip_equal(&eps->addrs[k], a);
        for (size_t k = 0; !p && has_port && k < eps->n_ports; k++)
            p = eps->ports[k].proto == proto && eps->ports[k].port == port;
        if (addr && p)
            return true;
    }
    return false;
}

/* A source service: an endpoint address of its slices; a destination service: one with a
 * port of that slice (as calc_services.c programs them). */
static bool service_test(const struct tby_explain *x, const struct centity *e, const char *side,
                         const struct tby_ip *a, int proto, bool has_port, uint16_t port,
                         struct tby_buf *held, struct tby_buf *fail)
{
    bool dst = strcmp(side, "destination") == 0;
    char ab[TBY_IP_STRLEN];

    tby_ip_format(a, ab);
    if (!in_service(x, e->svc, a, dst, proto, has_port, port)) {
        if (dst)
            tby_buf_printf(fail, "destination services %s: %s port %s%u is no endpoint of it",
                           e->svc, ab, has_port ? "" : "(unknown) ", has_port ? port : 0);
        else
            tby_buf_printf(fail, "source services %s: %s is no endpoint of it", e->svc, ab);
        return false;
    }
    tby_buf_printf(held, "; %s services %s: %s is an endpoint", side, e->svc, ab);
    return true;
}

static bool entity_match(const struct tby_explain *x, const struct centity *e, const char *side,
                         const struct xpkt *pkt, int proto, bool has_port, uint16_t port,
                         struct tby_buf *held, struct tby_buf *fail)
{
    const struct tby_ip *a = strcmp(side, "source") == 0 ? &pkt->src : &pkt->dst;
    char ab[TBY_IP_STRLEN], pb[32];
    const char *ep;

    tby_ip_format(a, ab);
    if (e->sel) {
        if (!(ep = selected_at(x, e->sel, a))) {
            tby_buf_printf(fail, "%s selector %s: %s is no endpoint it selects", side,
                           tby_sel_canonical(e->sel), ab);
            return false;
        }
        tby_buf_printf(held, "; %s selector %s selects %s", side, tby_sel_canonical(e->sel),
                       ep);
    }
    if (e->not_sel) {
        if ((ep = selected_at(x, e->not_sel, a))) {
            tby_buf_printf(fail, "%s notSelector %s selects %s", side,
                           tby_sel_canonical(e->not_sel), ep);
            return false;
        }
        tby_buf_printf(held, "; %s notSelector %s: %s not selected", side,
                       tby_sel_canonical(e->not_sel), ab);
    }
    if (e->svc && !service_test(x, e, side, a, pkt->protocol, has_port, port, held, fail))
        return false;
    if (e->nets.n && !list_test(in_nets(&e->nets, a), false, side, "nets", print_nets,
                                &e->nets, ab, held, fail))
        return false;
    if (e->not_nets.n && !list_test(in_nets(&e->not_nets, a), true, side, "notNets",
                                    print_nets, &e->not_nets, ab, held, fail))
        return false;
    if (!has_port)
        snprintf(pb, sizeof(pb), "the port (unknown)");
    else
        snprintf(pb, sizeof(pb), "%u", port);
    if (e->ports.n && !list_test(has_port && port_in(x, e, &e->ports, a, proto, port), false,
                                 side, "ports", print_ports, &e->ports, pb, held, fail))
        return false;
    if (e->not_ports.n &&
        !list_test(has_port && port_in(x, e, &e->not_ports, a, proto, port), true, side,
                   "notPorts", print_ports, &e->not_ports, pb, held, fail))
        return false;
    return true;
}

static const char *proto_text(int proto, char *buf, size_t size)
{
    const char *name = tby_protocol_name(proto);

    if (name)
        return name;
    snprintf(buf, size, "%d", proto);
    return buf;
}

static bool is_icmp(int proto)
{
    return proto == TBY_PROTO_ICMP || proto == TBY_PROTO_ICMPV6;
}

/* The ICMP type and code test: whether the packet (an echo request: code 0) is of it. */
static bool icmp_is(const struct tby_icmp_match *m, const struct xpkt *p)
{
    return is_icmp(p->protocol) && p->has_port && m->type == p->port &&
           (!m->has_code || m->code == 0);
}

static bool head_match(const struct crule *r, const struct xpkt *p, struct tby_buf *held,
                       struct tby_buf *fail)
{
    char b1[16], b2[16];

    if (r->ip_version && r->ip_version != p->dst.family) {
        tby_buf_printf(fail, "ipVersion %d (the packet is IPv%d)", r->ip_version, p->dst.family);
        return false;
    }
    if (!crule_nets_fit(r, p->dst.family)) {
        tby_buf_printf(fail, "nets or notNets of IPv%d only (the packet is IPv%d)",
                       p->dst.family == 4 ? 6 : 4, p->dst.family);
        return false;
    }
    if (r->protocol && r->protocol != p->protocol) {
        tby_buf_printf(fail, "protocol %s (the packet is %s)",
                       proto_text(r->protocol, b1, sizeof(b1)),
                       proto_text(p->protocol, b2, sizeof(b2)));
        return false;
    }
    if (r->protocol)
        tby_buf_printf(held, "; protocol %s", proto_text(r->protocol, b1, sizeof(b1)));
    if (r->not_protocol && r->not_protocol == p->protocol) {
        tby_buf_printf(fail, "notProtocol %s", proto_text(r->not_protocol, b1, sizeof(b1)));
        return false;
    }
    if (r->not_protocol)
        tby_buf_printf(held, "; notProtocol %s", proto_text(r->not_protocol, b1, sizeof(b1)));
    if (r->icmp.has_type && !icmp_is(&r->icmp, p)) {
        tby_buf_printf(fail, "icmp type %u%s", r->icmp.type,
                       p->has_port ? " (the packet's differs)" : "");
        return false;
    }
    if (r->icmp.has_type)
        tby_buf_printf(held, "; icmp type %u", r->icmp.type);
    if (r->not_icmp.has_type && icmp_is(&r->not_icmp, p)) {
        tby_buf_printf(fail, "notICMP type %u", r->not_icmp.type);
        return false;
    }
    if (r->not_icmp.has_type)
        tby_buf_printf(held, "; notICMP type %u", r->not_icmp.type);
    return true;
}

int xrule_match(const struct tby_explain *x, const struct crule *r, const struct xpkt *p,
                bool *match, char **why)
{
    _cleanup_buf_ struct tby_buf held = { 0 }, fail = { 0 };
    bool ok;

    if (r->skip) {
        ok = false;
        tby_buf_adds(&fail, "the rule cannot be enforced, it is left out");
    } else {
        ok = head_match(r, p, &held, &fail) &&
             entity_match(x, &r->src, "source", p, r->protocol, p->has_src_port,
                          p->src_port, &held, &fail) &&
             entity_match(x, &r->dst, "destination", p, r->protocol,
                          p->has_port && !is_icmp(p->protocol), p->port, &held, &fail);
    }
    *match = ok;
    if (ok && !held.len)
        tby_buf_adds(&held, "; every packet");
    if (tby_buf_error(&held) < 0 || tby_buf_error(&fail) < 0)
        return -ENOMEM;
    *why = strdup(ok ? held.data + 2 : fail.data ? fail.data : "");
    return *why ? 0 : -ENOMEM;
}
