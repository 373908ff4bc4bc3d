/* model_k8s_policy.c — Kubernetes NetworkPolicy (networking.k8s.io/v1): decode, validate
 * as the API server does, default, encode.
 *
 * The struct keeps what the policy engine needs to tell "every peer" from "nothing": a
 * rule without peers (absent or empty from/to) admits every peer; an empty rule list
 * admits nothing for a direction in policyTypes; a rule {} admits everything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/selector.h"
#include "kinds.h"
#include "model_rule.h"

static const char *const spec_fields[] = { "podSelector", "policyTypes", "ingress", "egress",
                                           NULL };
static const char *const ingress_fields[] = { "from", "ports", NULL };
static const char *const egress_fields[] = { "to", "ports", NULL };
static const char *const peer_fields[] = { "podSelector", "namespaceSelector", "ipBlock",
                                           NULL };
static const char *const ip_block_fields[] = { "cidr", "except", NULL };
static const char *const port_fields[] = { "protocol", "port", "endPort", NULL };
static const char *const type_names[] = { "Ingress", "Egress", NULL };
static const char *const protocol_names[] = { "TCP", "UDP", "SCTP", NULL };
static const int protocol_numbers[] = { TBY_PROTO_TCP, TBY_PROTO_UDP, TBY_PROTO_SCTP };

static int oom(struct tby_dec *d)
{
    return tby_error_set(d->err, -ENOMEM, "out of memory");
}

/* ---- freeing -------------------------------------------------------------------------- */

static void peer_clear(void *elem)
{
    struct tby_k8s_peer *peer = elem;

    json_decref(peer->pod_selector);
    json_decref(peer->namespace_selector);
    if (peer->ip_block) {
        tby_cidr_list_clear(&peer->ip_block->except);
        free(peer->ip_block);
    }
    memset(peer, 0, sizeof(*peer));
}

static void port_clear(void *elem)
{
    struct tby_k8s_port *port = elem;

    free(port->port_name);
    memset(port, 0, sizeof(*port));
}

static void rule_clear(void *elem)
{
    struct tby_k8s_rule *rule = elem;

    for (size_t i = 0; i < rule->n_peers; i++)
        peer_clear(&rule->peers[i]);
    free(rule->peers);
    for (size_t i = 0; i < rule->n_ports; i++)
        port_clear(&rule->ports[i]);
    free(rule->ports);
    memset(rule, 0, sizeof(*rule));
}

static void rules_free(struct tby_k8s_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rule_clear(&rules[i]);
    free(rules);
}

static void k8s_policy_free(void *spec)
{
    struct tby_k8s_policy *p = spec;

    if (!p)
        return;
    json_decref(p->pod_selector);
    rules_free(p->ingress, p->n_ingress);
    rules_free(p->egress, p->n_egress);
    free(p);
}

/* ---- label selectors ------------------------------------------------------------------ */

/* A copy without empty matchLabels / matchExpressions, which select nothing extra. */
static json_t *normal_label_selector(const json_t *v)
{
    json_t *copy = json_deep_copy(v);
    json_t *labels = copy ? json_object_get(copy, "matchLabels") : NULL;
    json_t *exprs = copy ? json_object_get(copy, "matchExpressions") : NULL;

    if (json_is_null(labels) || (json_is_object(labels) && json_object_size(labels) == 0))
        json_object_del(copy, "matchLabels");
    if (json_is_null(exprs) || (json_is_array(exprs) && json_array_size(exprs) == 0))
        json_object_del(copy, "matchExpressions");
    return copy;
}

/* obj[field] as a Kubernetes LabelSelector, validated by converting it; *out is a new
 * reference to it in normal form, NULL when absent. */
static int decode_label_selector(struct tby_dec *d, const json_t *obj, const char *field,
                                 json_t **out)
{
    const json_t *v = tby_dec_get(obj, field);
    struct tby_sel *sel = NULL;
    size_t mark;
    int r;

    *out = NULL;
    if (!v)
        return 0;
    mark = tby_dec_enter(d, field);
    r = tby_sel_decode_k8s(d, v, &sel);
    tby_dec_leave(d, mark);
    if (r < 0)
        return r;
    tby_sel_free(sel);
    *out = normal_label_selector(v);
    return *out ? 0 : oom(d);
}

/* ---- peers ---------------------------------------------------------------------------- */

/* Kubernetes parses ipBlock CIDRs loosely (host bits allowed) and matches the network;
 * the normal form is the network. */
static int decode_ip_block(struct tby_dec *d, const json_t *obj, struct tby_k8s_ip_block *b)
{
    const json_t *cidr = tby_dec_get(obj, "cidr");
    char outer[TBY_CIDR_STRLEN], inner[TBY_CIDR_STRLEN];
    size_t mark;
    int r = tby_dec_known_fields(d, obj, ip_block_fields);

    if (r == 0 && !cidr)
        return tby_dec_fail_at(d, "cidr", "is required");
    mark = tby_dec_enter(d, "cidr");
    if (r == 0)
        r = tby_dec_cidr_value(d, cidr, TBY_CIDR_MASK, &b->cidr);
    tby_dec_leave(d, mark);
    if (r == 0)
        r = tby_cidr_list_decode(d, obj, "except", TBY_CIDR_MASK, &b->except);
    for (size_t i = 0; r == 0 && i < b->except.n; i++) {
        const struct tby_cidr *e = &b->except.items[i];

        if (tby_cidr_contains_cidr(&b->cidr, e) && e->prefix_len > b->cidr.prefix_len)
            continue;
        mark = tby_dec_enter(d, "except");
        tby_dec_enter_index(d, i);
        r = tby_dec_fail(d, tby_cidr_contains_cidr(&b->cidr, e)
                                ? "%s is not smaller than %s (except must be a strict subset "
                                  "of cidr)"
                                : "%s is not inside %s (except must be a strict subset of "
                                  "cidr)",
                         tby_cidr_format(e, inner), tby_cidr_format(&b->cidr, outer));
        tby_dec_leave(d, mark);
    }
    return r;
}

static int decode_peer_ip_block(struct tby_dec *d, const json_t *obj, struct tby_k8s_peer *p)
{
    const json_t *block;
    size_t mark;
    int r = tby_dec_object(d, obj, "ipBlock", &block);

    if (r < 0 || !block)
        return r;
    p->ip_block = calloc(1, sizeof(*p->ip_block));
    if (!p->ip_block)
        return oom(d);
    mark = tby_dec_enter(d, "ipBlock");
    r = decode_ip_block(d, block, p->ip_block);
    tby_dec_leave(d, mark);
    return r;
}

static int decode_peer(struct tby_dec *d, const json_t *obj, void *elem, void *ctx)
{
    struct tby_k8s_peer *p = elem;
    int r = tby_dec_expect_object(d, obj);

    if (r == 0)
        r = tby_dec_known_fields(d, obj, peer_fields);
    if (r == 0)
        r = decode_label_selector(d, obj, "podSelector", &p->pod_selector);
    if (r == 0)
        r = decode_label_selector(d, obj, "namespaceSelector", &p->namespace_selector);
    if (r == 0)
        r = decode_peer_ip_block(d, obj, p);
    if (r == 0 && p->ip_block && (p->pod_selector || p->namespace_selector))
        r = tby_dec_fail(d, "ipBlock cannot be combined with podSelector or "
                            "namespaceSelector");
    if (r == 0 && !p->ip_block && !p->pod_selector && !p->namespace_selector)
        r = tby_dec_fail(d, "must specify podSelector, namespaceSelector or ipBlock");
    if (r < 0)
        peer_clear(p);
    return r;
}

/* ---- ports ---------------------------------------------------------------------------- */

static int decode_port_value(struct tby_dec *d, const json_t *obj, struct tby_k8s_port *p)
{
    const json_t *v = tby_dec_get(obj, "port");
    char shown[64];
    size_t mark;
    int64_t n;
    int r;

    if (!v)
        return 0;
    p->has_port = true;
    mark = tby_dec_enter(d, "port");
    if (json_is_string(v)) {
        r = tby_check_port_name(d, json_string_value(v));
        if (r == 0 && !(p->port_name = strdup(json_string_value(v))))
            r = oom(d);
    } else if (tby_json_int(v, &n)) {
        r = tby_check_port_number(d, n);
        p->port = (uint16_t)n;
    } else {
        r = tby_dec_fail(d, "must be a port number or a port name, got %s",
                         tby_json_show(v, shown, sizeof(shown)));
    }
    tby_dec_leave(d, mark);
    return r;
}

static int decode_end_port(struct tby_dec *d, const json_t *obj, struct tby_k8s_port *p)
{
    int64_t end = 0;
    bool present = false;
    int r = tby_dec_int(d, obj, "endPort", 1, 65535, &end, &present);

    if (r < 0 || !present)
        return r;
    if (!p->has_port)
        return tby_dec_fail_at(d, "endPort", "needs port (the first port of the range)");
    if (p->port_name)
        return tby_dec_fail_at(d, "endPort", "needs a numeric port, not the named port "
                                             "\"%s\"", p->port_name);
    if (end < p->port)
        return tby_dec_fail_at(d, "endPort", "must not be less than port (%u)", p->port);
    p->end_port = (uint16_t)end;
    return 0;
}

static int decode_k8s_port(struct tby_dec *d, const json_t *obj, void *elem, void *ctx)
{
    struct tby_k8s_port *p = elem;
    int proto = 0;
    int r = tby_dec_expect_object(d, obj);

    if (r == 0)
        r = tby_dec_known_fields(d, obj, port_fields);
    if (r == 0)
        r = tby_dec_enum(d, obj, "protocol", protocol_names, &proto);
    p->protocol = protocol_numbers[proto];
    if (r == 0)
        r = decode_port_value(d, obj, p);
    if (r == 0)
        r = decode_end_port(d, obj, p);
    if (r < 0)
        port_clear(p);
    return r;
}

/* ---- rules ---------------------------------------------------------------------------- */

static int decode_rule(struct tby_dec *d, const json_t *obj, void *elem, void *ctx)
{
    bool ingress = *(const bool *)ctx;
    struct tby_k8s_rule *rule = elem;
    void *peers = NULL, *ports = NULL;
    int r = tby_dec_expect_object(d, obj);

    if (r == 0)
        r = tby_dec_known_fields(d, obj, ingress ? ingress_fields : egress_fields);
    if (r == 0)
        r = tby_dec_list(d, obj, ingress ? "from" : "to", sizeof(*rule->peers), decode_peer,
                         peer_clear, NULL, &peers, &rule->n_peers);
    rule->peers = peers;
    if (r == 0)
        r = tby_dec_list(d, obj, "ports", sizeof(*rule->ports), decode_k8s_port, port_clear,
                         NULL, &ports, &rule->n_ports);
    rule->ports = ports;
    if (r < 0)
        rule_clear(rule);
    return r;
}

static int decode_rules(struct tby_dec *d, const json_t *spec, bool ingress,
                        struct tby_k8s_rule **out, size_t *n)
{
    void *rules;
    int r = tby_dec_list(d, spec, ingress ? "ingress" : "egress", sizeof(**out), decode_rule,
                         rule_clear, &ingress, &rules, n);

    *out = rules;
    return r;
}

/* ---- the policy ----------------------------------------------------------------------- */

static int decode_policy_types(struct tby_dec *d, const json_t *spec, unsigned *types)
{
    const json_t *arr;
    int r = tby_dec_array(d, spec, "policyTypes", &arr);

    /* Kubernetes refuses more than two entries but lets a type repeat. */
    if (r == 0 && arr && json_array_size(arr) > 2)
        return tby_dec_fail_at(d, "policyTypes", "may not list more than two types");
    if (r == 0)
        r = tby_dec_enum_set(d, spec, "policyTypes", type_names, false, types);
    return r;
}

static int decode_spec(struct tby_dec *d, const json_t *spec, const struct tby_resource *res,
                       void *out)
{
    struct tby_k8s_policy *p = out;
    int r = tby_dec_known_fields(d, spec, spec_fields);

    if (r == 0)
        r = decode_label_selector(d, spec, "podSelector", &p->pod_selector);
    /* podSelector is required by the API, but an absent one can only mean "every pod". */
    if (r == 0 && !p->pod_selector && !(p->pod_selector = json_object()))
        r = oom(d);
    if (r == 0)
        r = decode_policy_types(d, spec, &p->types);
    if (r == 0)
        r = decode_rules(d, spec, true, &p->ingress, &p->n_ingress);
    if (r == 0)
        r = decode_rules(d, spec, false, &p->egress, &p->n_egress);
    /* Kubernetes' default: Ingress always, Egress when there are egress rules. */
    if (r == 0 && !p->types)
        p->types = TBY_POLICY_INGRESS | (p->n_egress ? TBY_POLICY_EGRESS : 0);
    return r;
}

static int k8s_policy_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_k8s_policy), decode_spec);
}

/* ---- encoding ------------------------------------------------------------------------- */

static json_t *encode_peer(const struct tby_k8s_peer *peer)
{
    json_t *obj = json_object();

    /* An empty selector ({}) selects everything and must stay: set, not tby_enc_take. */
    if (peer->pod_selector)
        json_object_set_new(obj, "podSelector", json_deep_copy(peer->pod_selector));
    if (peer->namespace_selector)
        json_object_set_new(obj, "namespaceSelector",
                            json_deep_copy(peer->namespace_selector));
    if (peer->ip_block) {
        json_t *block = json_object();
        char buf[TBY_CIDR_STRLEN];

        tby_enc_string(block, "cidr", tby_cidr_format(&peer->ip_block->cidr, buf));
        tby_enc_take(block, "except", tby_cidr_list_encode(&peer->ip_block->except));
        json_object_set_new(obj, "ipBlock", block);
    }
    return obj;
}

static json_t *encode_port(const struct tby_k8s_port *port)
{
    json_t *obj = json_object();

    tby_enc_string(obj, "protocol", tby_protocol_name(port->protocol));
    if (port->port_name)
        tby_enc_string(obj, "port", port->port_name);
    else if (port->has_port)
        tby_enc_int(obj, "port", port->port);
    if (port->end_port)
        tby_enc_int(obj, "endPort", port->end_port);
    return obj;
}

static json_t *encode_rules(const struct tby_k8s_rule *rules, size_t n, bool ingress)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_object();
        json_t *peers = json_array();
        json_t *ports = json_array();

        for (size_t j = 0; j < rules[i].n_peers; j++)
            json_array_append_new(peers, encode_peer(&rules[i].peers[j]));
        for (size_t j = 0; j < rules[i].n_ports; j++)
            json_array_append_new(ports, encode_port(&rules[i].ports[j]));
        tby_enc_take(obj, ingress ? "from" : "to", peers);
        tby_enc_take(obj, "ports", ports);
        json_array_append_new(arr, obj);
    }
    return arr;
}

static void k8s_policy_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_k8s_policy *p = res->spec.k8s_policy;
    json_t *spec = json_object();
    json_t *types = json_array();

    json_object_set_new(spec, "podSelector", json_deep_copy(p->pod_selector));
    for (int i = 0; type_names[i]; i++)
        if (p->types & (1u << i))
            json_array_append_new(types, json_string(type_names[i]));
    json_object_set_new(spec, "policyTypes", types);
    tby_enc_take(spec, "ingress", encode_rules(p->ingress, p->n_ingress, true));
    tby_enc_take(spec, "egress", encode_rules(p->egress, p->n_egress, false));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_k8s_networkpolicy_ops = {
    .decode = k8s_policy_decode,
    .encode = k8s_policy_encode,
    .free = k8s_policy_free,
};
