/* model_rule.c — Calico policy rules shared by NetworkPolicy, GlobalNetworkPolicy and
 * Profile: decoded and checked as Calico's validator does, encoded in normal form. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "model_rule.h"
#include "selector_check.h"

static const char *const action_names[] = { "Allow", "Deny", "Log", "Pass", NULL };

static const char *const rule_fields[] = {
    "action", "protocol", "notProtocol", "icmp", "notICMP", "ipVersion", "source",
    "destination", "http", "metadata", NULL
};
static const char *const entity_fields[] = {
    "nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts",
    "serviceAccounts", "services", NULL
};
static const char *const icmp_fields[] = { "type", "code", NULL };
static const char *const account_fields[] = { "names", "selector", NULL };
static const char *const service_fields[] = { "name", "namespace", NULL };
static const char *const metadata_fields[] = { "annotations", NULL };
static const char *const http_fields[] = { "methods", "paths", NULL };
static const char *const http_path_fields[] = { "exact", "prefix", NULL };

static int oom(struct tby_dec *d)
{
    return tby_error_set(d->err, -ENOMEM, "out of memory");
}

/* ---- values shared with Kubernetes policy -------------------------------------------- */

bool tby_json_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15) {
        *out = (int64_t)json_real_value(v);
        return true;
    }
    return false;
}

const char *tby_json_show(const json_t *v, char *buf, size_t size)
{
    int64_t n;

    if (json_is_string(v))
        snprintf(buf, size, "\"%s\"", json_string_value(v));
    else if (tby_json_int(v, &n))
        snprintf(buf, size, "%lld", (long long)n);
    else if (json_is_object(v))
        snprintf(buf, size, "an object");
    else if (json_is_array(v))
        snprintf(buf, size, "a list");
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        snprintf(buf, size, "%s", json_is_real(v) ? "a fraction" : "null");
    return buf;
}

int tby_check_port_number(struct tby_dec *d, int64_t n)
{
    if (n < 1 || n > 65535)
        return tby_dec_fail(d, "port must be 1 to 65535, got %lld", (long long)n);
    return 0;
}

int tby_check_port_name(struct tby_dec *d, const char *s)
{
    if (!tby_valid_port_name(s))
        return tby_dec_fail(d, "\"%s\" is not a valid port name (1 to 15 lower-case letters, "
                               "digits and '-', with at least one letter)", s);
    return 0;
}

int tby_dec_cidr_value(struct tby_dec *d, const json_t *v, unsigned flags,
                       struct tby_cidr *out)
{
    struct tby_error perr = { 0 };
    char shown[64];

    if (!json_is_string(v))
        return tby_dec_fail(d, "must be a CIDR string, got %s",
                            tby_json_show(v, shown, sizeof(shown)));
    if (tby_cidr_parse(json_string_value(v), flags, out, &perr) < 0)
        return tby_dec_fail(d, "%s", tby_error_str(&perr));
    return 0;
}

static int cidr_item(struct tby_dec *d, const json_t *value, void *elem, void *flags)
{
    return tby_dec_cidr_value(d, value, *(unsigned *)flags, elem);
}

int tby_cidr_list_decode(struct tby_dec *d, const json_t *obj, const char *field,
                         unsigned flags, struct tby_cidr_list *out)
{
    void *items;
    int r = tby_dec_list(d, obj, field, sizeof(*out->items), cidr_item, NULL, &flags, &items,
                         &out->n);

    out->items = items;
    return r;
}

json_t *tby_cidr_list_encode(const struct tby_cidr_list *list)
{
    json_t *arr = json_array();
    char buf[TBY_CIDR_STRLEN];

    for (size_t i = 0; i < list->n; i++)
        json_array_append_new(arr, json_string(tby_cidr_format(&list->items[i], buf)));
    return arr;
}

void tby_cidr_list_clear(struct tby_cidr_list *list)
{
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* ---- selectors ------------------------------------------------------------------------ */

/* "global()" with only blanks around it: Calico's tokenizer sees just that token. */
static bool is_only_global(const char *s)
{
    size_t len;

    s += strspn(s, " \t");
    len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len == strlen("global()") && strncmp(s, "global()", len) == 0;
}

int tby_dec_selector(struct tby_dec *d, const json_t *obj, const char *field,
                     enum tby_global_use global, char **out)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_dec_string(d, obj, field, false, &text);

    /* "" selects as an absent selector does (Go's omitempty); the normal form omits it. */
    if (r < 0 || !text || !text[0])
        return r;
    r = tby_check_selector(d, field, text);
    if (r < 0)
        return r;
    if (strstr(text, "global(")) {
        if (global == TBY_GLOBAL_FORBIDDEN)
            return tby_dec_fail_at(d, field, "global() can only be used in a rule's "
                                             "namespaceSelector");
        if (!is_only_global(text))
            return tby_dec_fail_at(d, field, "global() cannot be combined with other "
                                             "selectors");
    }
    free(*out);
    *out = TBY_STEAL(text);
    return 0;
}

/* ---- protocols ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    int number;
} protocol_names[] = {
    { "TCP", TBY_PROTO_TCP },   { "UDP", TBY_PROTO_UDP },       { "ICMP", TBY_PROTO_ICMP },
    { "ICMPv6", TBY_PROTO_ICMPV6 }, { "SCTP", TBY_PROTO_SCTP }, { "UDPLite", TBY_PROTO_UDPLITE },
};

bool tby_protocol_from_string(const char *s, int64_t *out)
{
    char *end;

    for (size_t i = 0; i < TBY_ARRAY_SIZE(protocol_names); i++) {
        if (strcasecmp(protocol_names[i].name, s) == 0) {
            *out = protocol_names[i].number;
            return true;
        }
    }
    if (!isdigit((unsigned char)s[0]) || strlen(s) > 6)
        return false;
    *out = strtoll(s, &end, 10);
    return *end == '\0';
}

static int decode_protocol(struct tby_dec *d, const json_t *rule, const char *field, int *out)
{
    const json_t *v = tby_dec_get(rule, field);
    size_t mark;
    int64_t n;
    int r = 0;

    if (!v)
        return 0;
    mark = tby_dec_enter(d, field);
    if (!tby_json_int(v, &n) &&
        !(json_is_string(v) && tby_protocol_from_string(json_string_value(v), &n))) {
        char shown[64];

        r = tby_dec_fail(d, "must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a protocol "
                            "number 1 to 255, got %s", tby_json_show(v, shown, sizeof(shown)));
    } else if (n < 1 || n > 255) {
        r = tby_dec_fail(d, "protocol number must be 1 to 255, got %lld", (long long)n);
    } else {
        *out = (int)n;
    }
    tby_dec_leave(d, mark);
    return r;
}

static json_t *encode_protocol(int number)
{
    const char *name = tby_protocol_name(number);

    return name ? json_string(name) : json_integer(number);
}

/* ---- ports ---------------------------------------------------------------------------- */

/* Digits only, as a number; longer runs saturate (they are out of range anyway). */
static bool parse_digits(const char *s, size_t len, int64_t *out)
{
    int64_t n = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        n = n > 1000000 ? n : n * 10 + (s[i] - '0');
    }
    *out = n;
    return true;
}

static int decode_port_range(struct tby_dec *d, const char *s, const char *colon,
                             struct tby_port *out)
{
    int64_t first, last;

    if (!parse_digits(s, (size_t)(colon - s), &first) ||
        !parse_digits(colon + 1, strlen(colon + 1), &last))
        return tby_dec_fail(d, "\"%s\" is not a port, a range \"first:last\" or a port name",
                            s);
    if (first < 1 || first > 65535 || last < 1 || last > 65535)
        return tby_dec_fail(d, "port range \"%s\": ports must be 1 to 65535", s);
    if (first > last)
        return tby_dec_fail(d, "port range \"%s\" is backwards (the first port must not be "
                               "above the last)", s);
    out->first = (uint16_t)first;
    out->last = (uint16_t)last;
    return 0;
}

/* Calico's numorstring.Port from a string: "80", "8000:9000" or a named port. */
static int decode_port_string(struct tby_dec *d, const char *s, struct tby_port *out)
{
    const char *colon = strchr(s, ':');
    int64_t n;
    int r;

    if (colon)
        return decode_port_range(d, s, colon, out);
    if (parse_digits(s, strlen(s), &n)) {
        if (n < 1 || n > 65535)
            return tby_dec_fail(d, "port must be 1 to 65535, got %s", s);
        out->first = out->last = (uint16_t)n;
        return 0;
    }
    r = tby_check_port_name(d, s);
    if (r < 0)
        return r;
    out->name = strdup(s);
    return out->name ? 0 : oom(d);
}

static int decode_port(struct tby_dec *d, const json_t *v, void *elem, void *ctx)
{
    struct tby_port *out = elem;
    char shown[64];
    int64_t n;
    int r;

    if (json_is_string(v))
        return decode_port_string(d, json_string_value(v), out);
    if (!tby_json_int(v, &n))
        return tby_dec_fail(d, "must be a port number, a range \"first:last\" or a port name, "
                               "got %s", tby_json_show(v, shown, sizeof(shown)));
    r = tby_check_port_number(d, n);
    if (r == 0)
        out->first = out->last = (uint16_t)n;
    return r;
}

static void port_clear(void *elem)
{
    free(((struct tby_port *)elem)->name);
}

static void port_list_clear(struct tby_port_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        port_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static int decode_port_list(struct tby_dec *d, const json_t *obj, const char *field,
                            struct tby_port_list *out)
{
    void *items;
    int r = tby_dec_list(d, obj, field, sizeof(*out->items), decode_port, port_clear, NULL,
                         &items, &out->n);

    out->items = items;
    return r;
}

static json_t *encode_port_list(const struct tby_port_list *list)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < list->n; i++) {
        const struct tby_port *p = &list->items[i];
        char range[16];

        if (p->name) {
            json_array_append_new(arr, json_string(p->name));
        } else if (p->first == p->last) {
            json_array_append_new(arr, json_integer(p->first));
        } else {
            snprintf(range, sizeof(range), "%u:%u", p->first, p->last);
            json_array_append_new(arr, json_string(range));
        }
    }
    return arr;
}

/* ---- ICMP ----------------------------------------------------------------------------- */

static int decode_icmp(struct tby_dec *d, const json_t *rule, const char *field,
                       struct tby_icmp_match *out)
{
    const json_t *icmp;
    int64_t type = 0, code = 0;
    size_t mark;
    int r = tby_dec_object(d, rule, field, &icmp);

    if (r < 0 || !icmp)
        return r;
    mark = tby_dec_enter(d, field);
    r = tby_dec_known_fields(d, icmp, icmp_fields);
    if (r == 0)
        r = tby_dec_int(d, icmp, "type", 0, 254, &type, &out->has_type);
    if (r == 0)
        r = tby_dec_int(d, icmp, "code", 0, 255, &code, &out->has_code);
    /* The kernel matches an ICMP code only together with its type. */
    if (r == 0 && out->has_code && !out->has_type)
        r = tby_dec_fail_at(d, "code", "needs %s.type (an ICMP code is matched only together "
                                       "with its type)", field);
    tby_dec_leave(d, mark);
    out->type = (uint8_t)type;
    out->code = (uint8_t)code;
    return r;
}

static bool icmp_set(const struct tby_icmp_match *m)
{
    return m->has_type || m->has_code;
}

static json_t *encode_icmp(const struct tby_icmp_match *m)
{
    json_t *obj = json_object();

    if (m->has_type)
        tby_enc_int(obj, "type", m->type);
    if (m->has_code)
        tby_enc_int(obj, "code", m->code);
    return obj;
}

/* ---- entity rules (source, destination) ----------------------------------------------- */

static void service_accounts_free(struct tby_service_accounts *sa)
{
    if (!sa)
        return;
    tby_strv_clear(&sa->names);
    free(sa->selector);
    free(sa);
}

static void services_free(struct tby_service_match *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->namespace);
    free(s);
}

static void entity_clear(struct tby_entity_rule *e)
{
    tby_cidr_list_clear(&e->nets);
    tby_cidr_list_clear(&e->not_nets);
    free(e->selector);
    free(e->not_selector);
    free(e->namespace_selector);
    port_list_clear(&e->ports);
    port_list_clear(&e->not_ports);
    service_accounts_free(e->service_accounts);
    services_free(e->services);
    memset(e, 0, sizeof(*e));
}

static int decode_service_accounts(struct tby_dec *d, const json_t *entity,
                                   struct tby_entity_rule *e)
{
    const json_t *obj;
    struct tby_service_accounts *sa;
    size_t mark;
    int r = tby_dec_object(d, entity, "serviceAccounts", &obj);

    if (r < 0 || !obj)
        return r;
    sa = calloc(1, sizeof(*sa));
    if (!sa)
        return oom(d);
    mark = tby_dec_enter(d, "serviceAccounts");
    r = tby_dec_known_fields(d, obj, account_fields);
    if (r == 0)
        r = tby_dec_strv(d, obj, "names", &sa->names);
    if (r == 0)
        r = tby_dec_selector(d, obj, "selector", TBY_GLOBAL_FORBIDDEN, &sa->selector);
    tby_dec_leave(d, mark);
    /* {} matches like no serviceAccounts at all; the normal form drops it. */
    if (r < 0 || (!sa->names.n && !sa->selector))
        service_accounts_free(sa);
    else
        e->service_accounts = sa;
    return r;
}

static int check_service_name(struct tby_dec *d, const char *field, const char *value)
{
    if (value && !tby_valid_dns1123_subdomain(value))
        return tby_dec_fail_at(d, field, "\"%s\" is not a valid name (lower-case letters, "
                                         "digits, '-' and '.')", value);
    return 0;
}

static int decode_services(struct tby_dec *d, const json_t *entity, struct tby_entity_rule *e)
{
    const json_t *obj;
    struct tby_service_match *s;
    size_t mark;
    int r = tby_dec_object(d, entity, "services", &obj);

    if (r < 0 || !obj)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return oom(d);
    mark = tby_dec_enter(d, "services");
    r = tby_dec_known_fields(d, obj, service_fields);
    if (r == 0)
        r = tby_dec_string(d, obj, "name", true, &s->name);
    if (r == 0)
        r = check_service_name(d, "name", s->name);
    if (r == 0)
        r = tby_dec_string(d, obj, "namespace", false, &s->namespace);
    if (r == 0)
        r = check_service_name(d, "namespace", s->namespace);
    tby_dec_leave(d, mark);
    if (r < 0)
        services_free(s);
    else
        e->services = s;
    return r;
}

/* A service match uses the service's own endpoints, so nothing else may pick peers. */
static int check_services_alone(struct tby_dec *d, const struct tby_entity_rule *e)
{
    const char *other = e->selector             ? "selector"
                        : e->not_selector       ? "notSelector"
                        : e->namespace_selector ? "namespaceSelector"
                        : e->service_accounts   ? "serviceAccounts"
                        : e->nets.n             ? "nets"
                        : e->not_nets.n         ? "notNets"
                                                : NULL;

    if (e->services && other)
        return tby_dec_fail_at(d, "services", "cannot be combined with %s", other);
    return 0;
}

static int decode_entity_fields(struct tby_dec *d, const json_t *obj, struct tby_entity_rule *e)
{
    unsigned net_flags = TBY_CIDR_MASK | TBY_CIDR_ALLOW_IP;
    int r = tby_dec_known_fields(d, obj, entity_fields);

    if (r == 0)
        r = tby_cidr_list_decode(d, obj, "nets", net_flags, &e->nets);
    if (r == 0)
        r = tby_cidr_list_decode(d, obj, "notNets", net_flags, &e->not_nets);
    if (r == 0)
        r = tby_dec_selector(d, obj, "selector", TBY_GLOBAL_FORBIDDEN, &e->selector);
    if (r == 0)
        r = tby_dec_selector(d, obj, "notSelector", TBY_GLOBAL_FORBIDDEN, &e->not_selector);
    if (r == 0)
        r = tby_dec_selector(d, obj, "namespaceSelector", TBY_GLOBAL_ALONE,
                             &e->namespace_selector);
    if (r == 0)
        r = decode_port_list(d, obj, "ports", &e->ports);
    if (r == 0)
        r = decode_port_list(d, obj, "notPorts", &e->not_ports);
    if (r == 0)
        r = decode_service_accounts(d, obj, e);
    if (r == 0)
        r = decode_services(d, obj, e);
    if (r == 0)
        r = check_services_alone(d, e);
    return r;
}

static int decode_entity(struct tby_dec *d, const json_t *rule, const char *field,
                         struct tby_entity_rule *e)
{
    const json_t *obj;
    size_t mark;
    int r = tby_dec_object(d, rule, field, &obj);

    if (r < 0 || !obj)
        return r;
    mark = tby_dec_enter(d, field);
    r = decode_entity_fields(d, obj, e);
    tby_dec_leave(d, mark);
    if (r < 0)
        entity_clear(e);
    return r;
}

static json_t *encode_entity(const struct tby_entity_rule *e)
{
    json_t *obj = json_object();

    tby_enc_take(obj, "nets", tby_cidr_list_encode(&e->nets));
    tby_enc_take(obj, "notNets", tby_cidr_list_encode(&e->not_nets));
    tby_enc_string(obj, "selector", e->selector);
    tby_enc_string(obj, "notSelector", e->not_selector);
    tby_enc_string(obj, "namespaceSelector", e->namespace_selector);
    tby_enc_take(obj, "ports", encode_port_list(&e->ports));
    tby_enc_take(obj, "notPorts", encode_port_list(&e->not_ports));
    if (e->service_accounts) {
        json_t *sa = json_object();

        tby_enc_strv(sa, "names", &e->service_accounts->names);
        tby_enc_string(sa, "selector", e->service_accounts->selector);
        tby_enc_take(obj, "serviceAccounts", sa);
    }
    if (e->services) {
        json_t *s = json_object();

        tby_enc_string(s, "name", e->services->name);
        tby_enc_string(s, "namespace", e->services->namespace);
        tby_enc_take(obj, "services", s);
    }
    return obj;
}

/* ---- checks across a rule's fields ---------------------------------------------------- */

static bool protocol_has_ports(int protocol)
{
    return protocol == TBY_PROTO_TCP || protocol == TBY_PROTO_UDP ||
           protocol == TBY_PROTO_SCTP || protocol == TBY_PROTO_UDPLITE;
}

static const char *ports_field(const struct tby_rule *r)
{
    return r->source.ports.n            ? "source.ports"
           : r->source.not_ports.n      ? "source.notPorts"
           : r->destination.ports.n     ? "destination.ports"
           : r->destination.not_ports.n ? "destination.notPorts"
                                        : NULL;
}

static int check_ports_protocol(struct tby_dec *d, const struct tby_rule *r)
{
    const char *field = ports_field(r);
    char proto[32];

    if (!field || protocol_has_ports(r->protocol))
        return 0;
    if (r->protocol == 0)
        snprintf(proto, sizeof(proto), "not set");
    else if (tby_protocol_name(r->protocol))
        snprintf(proto, sizeof(proto), "%s", tby_protocol_name(r->protocol));
    else
        snprintf(proto, sizeof(proto), "%d", r->protocol);
    return tby_dec_fail(d, "ports need protocol TCP, UDP, SCTP or UDPLite (%s is set, "
                           "protocol is %s)", field, proto);
}

static bool is_icmp(int protocol)
{
    return protocol == TBY_PROTO_ICMP || protocol == TBY_PROTO_ICMPV6;
}

/* ICMP matches need an ICMP protocol, and its IP version must be the rule's. */
static int check_icmp(struct tby_dec *d, const struct tby_rule *r)
{
    static const char *const fields[] = { "protocol", "notProtocol" };
    const int protos[] = { r->protocol, r->not_protocol };

    if (icmp_set(&r->icmp) && !is_icmp(r->protocol))
        return tby_dec_fail_at(d, "icmp", "needs protocol ICMP or ICMPv6");
    if (icmp_set(&r->not_icmp) && !is_icmp(r->protocol))
        return tby_dec_fail_at(d, "notICMP", "needs protocol ICMP or ICMPv6");
    for (size_t i = 0; i < 2 && r->ip_version; i++) {
        int want = protos[i] == TBY_PROTO_ICMP ? 4 : protos[i] == TBY_PROTO_ICMPV6 ? 6 : 0;

        if (want && want != r->ip_version)
            return tby_dec_fail_at(d, "ipVersion", "%s %s needs ipVersion %d, got %d",
                                   fields[i], tby_protocol_name(protos[i]), want,
                                   r->ip_version);
    }
    return 0;
}

/* All of a rule's nets are of one IP family, and that of ipVersion when it is set. */
static int check_net_family(struct tby_dec *d, const struct tby_rule *r)
{
    const struct {
        const char *field;
        const struct tby_cidr_list *list;
    } lists[] = {
        { "source.nets", &r->source.nets },
        { "source.notNets", &r->source.not_nets },
        { "destination.nets", &r->destination.nets },
        { "destination.notNets", &r->destination.not_nets },
    };
    int family = r->ip_version;
    char buf[TBY_CIDR_STRLEN];

    for (size_t l = 0; l < TBY_ARRAY_SIZE(lists); l++) {
        for (size_t i = 0; i < lists[l].list->n; i++) {
            const struct tby_cidr *c = &lists[l].list->items[i];
            size_t mark;
            int r2;

            if (!family)
                family = c->ip.family;
            if (c->ip.family == family)
                continue;
            mark = tby_dec_enter(d, lists[l].field);
            tby_dec_enter_index(d, i);
            r2 = tby_dec_fail(d, r->ip_version ? "%s is IPv%d but ipVersion is %d"
                                               : "%s is IPv%d but an earlier net is IPv%d "
                                                 "(a rule cannot mix IPv4 and IPv6)",
                              tby_cidr_format(c, buf), (int)c->ip.family, family);
            tby_dec_leave(d, mark);
            return r2;
        }
    }
    return 0;
}

/* Which side may name a service follows Calico: the peer, never the policy's own side. */
static int check_services(struct tby_dec *d, const struct tby_rule *r,
                          struct tby_rule_place place)
{
    const struct tby_entity_rule *peer = place.ingress ? &r->source : &r->destination;
    const struct tby_entity_rule *own = place.ingress ? &r->destination : &r->source;
    const char *own_name = place.ingress ? "destination" : "source";
    const char *peer_name = place.ingress ? "source" : "destination";
    char field[48];

    if (own->services) {
        snprintf(field, sizeof(field), "%s.services", own_name);
        return tby_dec_fail_at(d, field, "not allowed in an %s rule (services can only be "
                                         "matched in the %s)",
                               place.ingress ? "ingress" : "egress", peer_name);
    }
    if (r->destination.services && (r->destination.ports.n || r->destination.not_ports.n))
        return tby_dec_fail_at(d, r->destination.ports.n ? "destination.ports"
                                                         : "destination.notPorts",
                               "cannot be combined with destination.services (the service's "
                               "own ports are used)");
    if (place.global && peer->services && !peer->services->namespace) {
        snprintf(field, sizeof(field), "%s.services.namespace", peer_name);
        return tby_dec_fail_at(d, field, "is required here (a service name is only unique "
                                         "within its namespace)");
    }
    return 0;
}

/* ---- rules ---------------------------------------------------------------------------- */

static void rule_clear(void *elem)
{
    struct tby_rule *r = elem;

    entity_clear(&r->source);
    entity_clear(&r->destination);
    json_decref(r->annotations);
    json_decref(r->http);
    memset(r, 0, sizeof(*r));
}

static int decode_action(struct tby_dec *d, const json_t *rule, struct tby_rule *r)
{
    int action = TBY_ACTION_ALLOW;
    int ret;

    if (!tby_dec_get(rule, "action"))
        return tby_dec_fail_at(d, "action", "is required (Allow, Deny, Log or Pass)");
    ret = tby_dec_enum(d, rule, "action", action_names, &action);
    r->action = (enum tby_action)action;
    return ret;
}

static int decode_ip_version(struct tby_dec *d, const json_t *rule, struct tby_rule *r)
{
    int64_t v = 0;
    int ret = tby_dec_int(d, rule, "ipVersion", INT32_MIN, INT32_MAX, &v, NULL);

    if (ret == 0 && v != 0 && v != 4 && v != 6)
        ret = tby_dec_fail_at(d, "ipVersion", "must be 4 or 6, got %lld", (long long)v);
    r->ip_version = (int)v;
    return ret;
}

/* Rule annotations: keys as Calico checks them (qualified names, in any case). */
static int check_annotation_keys(struct tby_dec *d, const json_t *annotations)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)annotations, key, value) {
        char lower[320];
        size_t i;

        for (i = 0; key[i] && i + 1 < sizeof(lower); i++)
            lower[i] = (char)tolower((unsigned char)key[i]);
        lower[i] = '\0';
        if (key[i] || !tby_valid_label_key(lower))
            return tby_dec_fail_at(d, key, "invalid annotation key (a name of up to 63 "
                                           "letters, digits, '-', '_' or '.', optionally "
                                           "prefixed by a DNS subdomain and '/')");
    }
    return 0;
}

static int decode_metadata(struct tby_dec *d, const json_t *rule, struct tby_rule *r)
{
    const json_t *meta;
    json_t *annotations = NULL;
    size_t mark;
    int ret = tby_dec_object(d, rule, "metadata", &meta);

    if (ret < 0 || !meta)
        return ret;
    mark = tby_dec_enter(d, "metadata");
    ret = tby_dec_known_fields(d, meta, metadata_fields);
    if (ret == 0)
        ret = tby_dec_string_map(d, meta, "annotations", false, &annotations);
    if (ret == 0) {
        size_t m = tby_dec_enter(d, "annotations");

        ret = check_annotation_keys(d, annotations);
        tby_dec_leave(d, m);
    }
    tby_dec_leave(d, mark);
    /* No annotations and an empty map say the same; the normal form has neither. */
    if (ret < 0 || json_object_size(annotations) == 0)
        json_decref(annotations);
    else
        r->annotations = annotations;
    return ret;
}

/* One of http.paths: exactly one of exact and prefix, a string. */
static int decode_http_path(struct tby_dec *d, const json_t *v, void *elem, void *ctx)
{
    _cleanup_free_ char *exact = NULL, *prefix = NULL;
    int r = tby_dec_expect_object(d, v);

    (void)elem;
    (void)ctx;
    if (r == 0)
        r = tby_dec_known_fields(d, v, http_path_fields);
    if (r == 0)
        r = tby_dec_string(d, v, "exact", false, &exact);
    if (r == 0)
        r = tby_dec_string(d, v, "prefix", false, &prefix);
    if (r == 0 && !exact == !prefix)
        r = tby_dec_fail(d, "needs exactly one of exact and prefix");
    return r;
}

/* Calico's HTTPMatch, checked as its validator does and kept as written: tabby refuses it
 * at apply (enforce.h), and tabby-node fails closed on one it meets in a datastore. */
static int decode_http(struct tby_dec *d, const json_t *rule, struct tby_rule *r)
{
    const json_t *http;
    struct tby_strv methods = { 0 };
    void *paths = NULL;
    size_t n_paths = 0, mark;
    int ret = tby_dec_object(d, rule, "http", &http);

    if (ret < 0 || !http)
        return ret;
    mark = tby_dec_enter(d, "http");
    ret = tby_dec_known_fields(d, http, http_fields);
    if (ret == 0)
        ret = tby_dec_strv(d, http, "methods", &methods);
    if (ret == 0)
        ret = tby_dec_list(d, http, "paths", 1, decode_http_path, NULL, NULL, &paths,
                           &n_paths);
    tby_dec_leave(d, mark);
    tby_strv_clear(&methods);
    free(paths);
    if (ret == 0 && !(r->http = json_deep_copy(http)))
        ret = oom(d);
    return ret;
}

static int decode_rule_fields(struct tby_dec *d, const json_t *rule, struct tby_rule *r)
{
    int ret = tby_dec_known_fields(d, rule, rule_fields);

    if (ret == 0)
        ret = decode_http(d, rule, r);
    if (ret == 0)
        ret = decode_action(d, rule, r);
    if (ret == 0)
        ret = decode_ip_version(d, rule, r);
    if (ret == 0)
        ret = decode_protocol(d, rule, "protocol", &r->protocol);
    if (ret == 0)
        ret = decode_protocol(d, rule, "notProtocol", &r->not_protocol);
    if (ret == 0)
        ret = decode_icmp(d, rule, "icmp", &r->icmp);
    if (ret == 0)
        ret = decode_icmp(d, rule, "notICMP", &r->not_icmp);
    if (ret == 0)
        ret = decode_entity(d, rule, "source", &r->source);
    if (ret == 0)
        ret = decode_entity(d, rule, "destination", &r->destination);
    if (ret == 0)
        ret = decode_metadata(d, rule, r);
    return ret;
}

static int decode_rule(struct tby_dec *d, const json_t *rule, void *elem, void *ctx)
{
    const struct tby_rule_place place = *(const struct tby_rule_place *)ctx;
    struct tby_rule *r = elem;
    int ret = tby_dec_expect_object(d, rule);

    if (ret == 0)
        ret = decode_rule_fields(d, rule, r);
    if (ret == 0)
        ret = check_ports_protocol(d, r);
    if (ret == 0)
        ret = check_icmp(d, r);
    if (ret == 0)
        ret = check_net_family(d, r);
    if (ret == 0)
        ret = check_services(d, r, place);
    if (ret < 0)
        rule_clear(r);
    return ret;
}

int tby_rule_list_decode(struct tby_dec *d, const json_t *obj, const char *field,
                         struct tby_rule_place place, struct tby_rule_list *out)
{
    void *items;
    int r = tby_dec_list(d, obj, field, sizeof(*out->items), decode_rule, rule_clear, &place,
                         &items, &out->n);

    out->items = items;
    return r;
}

static json_t *encode_rule(const struct tby_rule *r)
{
    json_t *obj = json_object();

    tby_enc_string(obj, "action", action_names[r->action]);
    if (r->ip_version)
        tby_enc_int(obj, "ipVersion", r->ip_version);
    if (r->protocol)
        json_object_set_new(obj, "protocol", encode_protocol(r->protocol));
    if (r->not_protocol)
        json_object_set_new(obj, "notProtocol", encode_protocol(r->not_protocol));
    tby_enc_take(obj, "icmp", encode_icmp(&r->icmp));
    tby_enc_take(obj, "notICMP", encode_icmp(&r->not_icmp));
    tby_enc_take(obj, "source", encode_entity(&r->source));
    tby_enc_take(obj, "destination", encode_entity(&r->destination));
    if (r->http)
        json_object_set_new(obj, "http", json_deep_copy(r->http));
    if (r->annotations) {
        json_t *meta = json_object();

        json_object_set_new(meta, "annotations", json_deep_copy(r->annotations));
        json_object_set_new(obj, "metadata", meta);
    }
    return obj;
}

json_t *tby_rule_list_encode(const struct tby_rule_list *list)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < list->n; i++)
        json_array_append_new(arr, encode_rule(&list->items[i]));
    return arr;
}

void tby_rule_list_clear(struct tby_rule_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        rule_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static bool entity_is_empty(const struct tby_entity_rule *e)
{
    return !e->nets.n && !e->not_nets.n && !e->selector && !e->not_selector &&
           !e->namespace_selector && !e->ports.n && !e->not_ports.n && !e->service_accounts &&
           !e->services;
}

bool tby_rule_list_allows_all(const struct tby_rule_list *l)
{
    const struct tby_rule *r = l->items;

    return l->n == 1 && r->action == TBY_ACTION_ALLOW && !r->protocol && !r->not_protocol &&
           !r->icmp.has_type && !r->icmp.has_code && !r->not_icmp.has_type &&
           !r->not_icmp.has_code && !r->ip_version && !r->http &&
           entity_is_empty(&r->source) && entity_is_empty(&r->destination);
}
