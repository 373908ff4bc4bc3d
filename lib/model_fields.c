/* model_fields.c — fields several kinds share: AS numbers, addresses, CIDR lists,
 * durations, secret references, names and endpoint ports. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

static int oom(struct tby_dec *d)
{
    return tby_error_set(d->err, -ENOMEM, "out of memory");
}

/* ---- lists ------------------------------------------------------------------------- */

int tby_fields_list(struct tby_dec *d, const json_t *obj, const char *field, size_t size,
                 tby_fields_item_fn fn, void *ctx, void **items, size_t *n)
{
    const json_t *arr, *item;
    size_t i, mark;
    int r = tby_dec_array(d, obj, field, &arr);

    if (r < 0 || !arr || json_array_size(arr) == 0)
        return r;
    *items = calloc(json_array_size(arr), size);
    if (!*items)
        return oom(d);
    *n = json_array_size(arr);
    mark = tby_dec_enter(d, field);
    json_array_foreach(arr, i, item) {
        size_t m = tby_dec_enter_index(d, i);

        r = fn(d, item, (char *)*items + i * size, ctx);
        tby_dec_leave(d, m);
        if (r < 0)
            break;
    }
    tby_dec_leave(d, mark);
    return r;
}

int tby_dec_item_object(struct tby_dec *d, const json_t *item, const char *const *fields)
{
    int r = tby_dec_expect_object(d, item);

    return r < 0 ? r : tby_dec_known_fields(d, item, fields);
}

/* ---- scalars ----------------------------------------------------------------------- */

/* The shortest text that reads back as v: 70000.1, not 70000.100000000006. */
static void real_text(double v, char *buf, size_t size)
{
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int tby_dec_asn(struct tby_dec *d, const json_t *obj, const char *field, uint32_t *out,
                bool *present)
{
    const json_t *v = tby_dec_get(obj, field);
    struct tby_error perr = { 0 };
    char text[64];
    uint32_t asn;

    if (present)
        *present = v != NULL;
    if (!v)
        return 0;
    if (json_is_integer(v))
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        real_text(json_real_value(v), text, sizeof(text));
    else if (json_is_string(v))
        snprintf(text, sizeof(text), "%s", json_string_value(v));
    else
        return tby_dec_fail_at(d, field, "must be an AS number (like 64512, or \"1.10\")");
    if (tby_asn_parse(text, &asn, &perr) < 0)
        return tby_dec_fail_at(d, field, "%s", tby_error_str(&perr));
    if (json_is_real(v) && strchr(text, '.'))
        return tby_dec_fail_at(d, field, "write a dotted AS number in quotes (\"%s\"): "
                               "unquoted, YAML reads it as a decimal number and drops "
                               "trailing zeros (1.10 becomes 1.1)", text);
    if (asn == 0)
        return tby_dec_fail_at(d, field, "AS number 0 is reserved and cannot be used");
    *out = asn;
    return 0;
}

static const char *family_text(int family)
{
    return family == 4 ? "an IPv4 address" : family == 6 ? "an IPv6 address" : "an IP address";
}

/* text as an address of `family`, failing at the current path. */
static int ip_value(struct tby_dec *d, const char *text, int family, struct tby_ip *out)
{
    if (tby_ip_parse(text, out, NULL) < 0 || (family && out->family != family))
        return tby_dec_fail(d, "\"%s\" is not %s", text, family_text(family));
    return 0;
}

int tby_dec_ip(struct tby_dec *d, const json_t *obj, const char *field, int family,
               struct tby_ip *out, bool *present)
{
    _cleanup_free_ char *text = NULL;
    size_t mark;
    int r = tby_dec_string(d, obj, field, false, &text);

    if (present)
        *present = text != NULL;
    if (r < 0 || !text)
        return r;
    mark = tby_dec_enter(d, field);
    r = ip_value(d, text, family, out);
    tby_dec_leave(d, mark);
    return r;
}

void tby_enc_ip(json_t *obj, const char *key, bool has, const struct tby_ip *ip)
{
    char buf[TBY_IP_STRLEN];

    if (has)
        tby_enc_string(obj, key, tby_ip_format(ip, buf));
}

static int ip_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    if (!json_is_string(item))
        return tby_dec_fail(d, "must be an IP address string");
    return ip_value(d, json_string_value(item), 0, elem);
}

int tby_dec_ips(struct tby_dec *d, const json_t *obj, const char *field,
                struct tby_ip **items, size_t *n)
{
    void *list = NULL;
    int r = tby_fields_list(d, obj, field, sizeof(**items), ip_item, NULL, &list, n);

    *items = list;
    return r;
}

json_t *tby_enc_ips(const struct tby_ip *items, size_t n)
{
    json_t *arr = json_array();
    char buf[TBY_IP_STRLEN];

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(tby_ip_format(&items[i], buf)));
    return arr;
}

int tby_dec_duration(struct tby_dec *d, const json_t *obj, const char *field,
                     uint64_t *ms, bool *present)
{
    _cleanup_free_ char *text = NULL;
    struct tby_error perr = { 0 };
    int r = tby_dec_string(d, obj, field, false, &text);

    if (present)
        *present = text != NULL;
    if (r < 0 || !text)
        return r;
    if (tby_duration_parse(text, ms, &perr) < 0)
        return tby_dec_fail_at(d, field, "%s", tby_error_str(&perr));
    return 0;
}

void tby_enc_duration(json_t *obj, const char *key, bool has, uint64_t ms)
{
    char buf[TBY_DURATION_STRLEN];

    if (has)
        tby_enc_string(obj, key, tby_duration_format(ms, buf));
}

static int name_value(struct tby_dec *d, const char *name)
{
    if (!tby_valid_dns1123_subdomain(name))
        return tby_dec_fail(d, "\"%s\" is not a valid name (lower-case letters, digits, '-' "
                               "and '.'; starting and ending with a letter or digit)", name);
    return 0;
}

int tby_dec_name(struct tby_dec *d, const json_t *obj, const char *field, char **out)
{
    size_t mark;
    int r = tby_dec_string(d, obj, field, false, out);

    if (r < 0 || !*out)
        return r;
    mark = tby_dec_enter(d, field);
    r = name_value(d, *out);
    tby_dec_leave(d, mark);
    return r;
}

int tby_dec_names(struct tby_dec *d, const json_t *obj, const char *field,
                  struct tby_strv *out)
{
    size_t mark;
    int r = tby_dec_strv(d, obj, field, out);

    if (r < 0)
        return r;
    mark = tby_dec_enter(d, field);
    for (size_t i = 0; i < out->n && r == 0; i++) {
        size_t m = tby_dec_enter_index(d, i);

        r = name_value(d, out->items[i]);
        tby_dec_leave(d, m);
    }
    tby_dec_leave(d, mark);
    return r;
}

int tby_dec_mac(struct tby_dec *d, const json_t *obj, const char *field, char **out)
{
    int r = tby_dec_string(d, obj, field, false, out);

    if (r < 0 || !*out)
        return r;
    if (!tby_valid_mac(*out))
        return tby_dec_fail_at(d, field, "\"%s\" is not a MAC address (like "
                               "ee:ee:ee:ee:ee:ee)", *out);
    for (char *p = *out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* ---- CIDR lists -------------------------------------------------------------------- */

static int cidr_value(struct tby_dec *d, const char *text, unsigned flags,
                      struct tby_cidr *out)
{
    struct tby_error perr = { 0 };

    if (tby_cidr_parse(text, flags, out, &perr) < 0)
        return tby_dec_fail(d, "%s", tby_error_str(&perr));
    return 0;
}

static int cidr_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    if (!json_is_string(item))
        return tby_dec_fail(d, "must be a CIDR string (like 10.0.0.0/8)");
    return cidr_value(d, json_string_value(item), *(unsigned *)ctx, elem);
}

int tby_dec_cidrs(struct tby_dec *d, const json_t *obj, const char *field, unsigned flags,
                  struct tby_cidr_list *out)
{
    void *items = NULL;
    int r = tby_fields_list(d, obj, field, sizeof(*out->items), cidr_item, &flags, &items,
                         &out->n);

    out->items = items;
    return r;
}

int tby_dec_cidr(struct tby_dec *d, const json_t *obj, const char *field, unsigned flags,
                 struct tby_cidr *out)
{
    _cleanup_free_ char *text = NULL;
    size_t mark;
    int r = tby_dec_string(d, obj, field, true, &text);

    if (r < 0)
        return r;
    mark = tby_dec_enter(d, field);
    r = cidr_value(d, text, flags, out);
    tby_dec_leave(d, mark);
    return r;
}

/* An entry without a CIDR (`{}` or `cidr: ""`) is valid in Calico's schema, which made
 * the field optional, and Calico skips it: it is left zeroed (family 0) and dropped. */
static int cidr_block_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const fields[] = { "cidr", NULL };
    const json_t *cidr;
    int r = tby_dec_item_object(d, item, fields);

    if (r < 0)
        return r;
    cidr = tby_dec_get(item, "cidr");
    if (!cidr || (json_is_string(cidr) && json_string_length(cidr) == 0))
        return 0;
    return tby_dec_cidr(d, item, "cidr", *(unsigned *)ctx, elem);
}

int tby_dec_cidr_blocks(struct tby_dec *d, const json_t *obj, const char *field,
                        unsigned flags, struct tby_cidr_list *out)
{
    void *items = NULL;
    size_t kept = 0;
    int r = tby_fields_list(d, obj, field, sizeof(*out->items), cidr_block_item, &flags,
                         &items, &out->n);

    out->items = items;
    for (size_t i = 0; r == 0 && i < out->n; i++)
        if (out->items[i].ip.family)
            out->items[kept++] = out->items[i];
    if (r == 0)
        out->n = kept;
    if (r == 0 && kept == 0) {
        free(out->items);
        out->items = NULL;
    }
    return r;
}

static json_t *cidr_json(const struct tby_cidr *cidr, bool block)
{
    char buf[TBY_CIDR_STRLEN];
    json_t *text = json_string(tby_cidr_format(cidr, buf));

    return block ? json_pack("{s:o}", "cidr", text) : text;
}

static json_t *encode_cidrs(const struct tby_cidr_list *list, bool block)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < list->n; i++)
        json_array_append_new(arr, cidr_json(&list->items[i], block));
    return arr;
}

json_t *tby_enc_cidrs(const struct tby_cidr_list *list)
{
    return encode_cidrs(list, false);
}

json_t *tby_enc_cidr_blocks(const struct tby_cidr_list *list)
{
    return encode_cidrs(list, true);
}

/* ---- secret references ------------------------------------------------------------- */

void tby_secret_ref_free(struct tby_secret_ref *ref)
{
    if (!ref)
        return;
    free(ref->name);
    free(ref->key);
    free(ref);
}

/* A Secret's data key: letters, digits, '-', '_' and '.' (Kubernetes' rule). */
static bool valid_secret_key(const char *key)
{
    if (!*key || strlen(key) > 253)
        return false;
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

static int secret_key_ref(struct tby_dec *d, const json_t *sel, struct tby_secret_ref *ref)
{
    static const char *const fields[] = { "name", "key", NULL };
    int r = tby_dec_known_fields(d, sel, fields);

    if (r == 0)
        r = tby_dec_string(d, sel, "name", true, &ref->name);
    if (r == 0 && !tby_valid_dns1123_subdomain(ref->name))
        r = tby_dec_fail_at(d, "name", "\"%s\" is not a valid Secret name", ref->name);
    if (r == 0)
        r = tby_dec_string(d, sel, "key", true, &ref->key);
    if (r == 0 && !valid_secret_key(ref->key))
        r = tby_dec_fail_at(d, "key", "\"%s\" is not a valid Secret key (letters, digits, "
                                      "'-', '_' and '.')", ref->key);
    return r;
}

static int secret_ref_in(struct tby_dec *d, const json_t *pw, struct tby_secret_ref *ref)
{
    static const char *const fields[] = { "secretKeyRef", NULL };
    const json_t *sel;
    size_t mark;
    int r = tby_dec_known_fields(d, pw, fields);

    if (r == 0)
        r = tby_dec_object(d, pw, "secretKeyRef", &sel);
    if (r < 0)
        return r;
    if (!sel)
        return tby_dec_fail_at(d, "secretKeyRef", "is required (the name and key of a Secret "
                                                  "in calico-node's namespace)");
    mark = tby_dec_enter(d, "secretKeyRef");
    r = secret_key_ref(d, sel, ref);
    tby_dec_leave(d, mark);
    return r;
}

int tby_dec_secret_ref(struct tby_dec *d, const json_t *obj, const char *field,
                       struct tby_secret_ref **out)
{
    struct tby_secret_ref *ref;
    const json_t *pw;
    size_t mark;
    int r = tby_dec_object(d, obj, field, &pw);

    if (r < 0 || !pw)
        return r;
    ref = calloc(1, sizeof(*ref));
    if (!ref)
        return oom(d);
    mark = tby_dec_enter(d, field);
    r = secret_ref_in(d, pw, ref);
    tby_dec_leave(d, mark);
    if (r < 0) {
        tby_secret_ref_free(ref);
        return r;
    }
    tby_secret_ref_free(*out);
    *out = ref;
    return 0;
}

json_t *tby_enc_secret_ref(const struct tby_secret_ref *ref)
{
    if (!ref)
        return NULL;
    return json_pack("{s:{s:s,s:s}}", "secretKeyRef", "name", ref->name, "key", ref->key);
}

/* ---- endpoint ports ---------------------------------------------------------------- */

/* Calico's spellings: TCP, UDP and SCTP, the lower-case ones of its v1 API, or numbers. */
static int port_protocol(struct tby_dec *d, const json_t *port, int *out)
{
    static const struct {
        const char *name;
        int number;
    } protocols[] = {
        { "TCP", TBY_PROTO_TCP }, { "UDP", TBY_PROTO_UDP }, { "SCTP", TBY_PROTO_SCTP },
        { "tcp", TBY_PROTO_TCP }, { "udp", TBY_PROTO_UDP }, { "sctp", TBY_PROTO_SCTP },
    };
    const json_t *v = tby_dec_get(port, "protocol");

    if (!v)
        return tby_dec_fail_at(d, "protocol", "is required (TCP, UDP or SCTP)");
    for (size_t i = 0; i < TBY_ARRAY_SIZE(protocols); i++) {
        if ((json_is_string(v) && strcmp(json_string_value(v), protocols[i].name) == 0) ||
            (json_is_integer(v) && json_integer_value(v) == protocols[i].number)) {
            *out = protocols[i].number;
            return 0;
        }
    }
    return tby_dec_fail_at(d, "protocol", "must be TCP, UDP or SCTP: only those have ports");
}

static int port_name(struct tby_dec *d, const json_t *port, bool required, char **out)
{
    int r = tby_dec_string(d, port, "name", required, out);

    if (r < 0 || !*out)
        return r;
    if (!tby_valid_port_name(*out))
        return tby_dec_fail_at(d, "name", "\"%s\" is not a valid port name (up to 15 "
                               "lower-case letters, digits and '-', with at least one "
                               "letter)", *out);
    return 0;
}

static int host_mapping(struct tby_dec *d, const json_t *port, struct tby_endpoint_port *p)
{
    int64_t host_port = 0;
    int r = tby_dec_int(d, port, "hostPort", 0, 65535, &host_port, NULL);

    if (r == 0)
        r = tby_dec_ip(d, port, "hostIP", 0, &p->host_ip, &p->has_host_ip);
    p->host_port = (uint16_t)host_port;
    if (r == 0 && !p->name && !p->host_port)
        r = tby_dec_fail_at(d, "name", "is required unless the port maps a hostPort");
    return r;
}

static int port_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const host_fields[] = { "name", "protocol", "port", NULL };
    static const char *const workload_fields[] = { "name", "protocol", "port", "hostPort",
                                                   "hostIP", NULL };
    struct tby_endpoint_port *p = elem;
    bool workload = *(bool *)ctx;
    int64_t number = 0;
    bool present;
    int r = tby_dec_item_object(d, item, workload ? workload_fields : host_fields);

    if (r == 0)
        r = port_name(d, item, !workload, &p->name);
    if (r == 0)
        r = port_protocol(d, item, &p->protocol);
    if (r == 0)
        r = tby_dec_int(d, item, "port", 1, 65535, &number, &present);
    if (r == 0 && !present)
        r = tby_dec_fail_at(d, "port", "is required (1 to 65535)");
    p->port = (uint16_t)number;
    if (r == 0 && workload)
        r = host_mapping(d, item, p);
    return r;
}

int tby_dec_endpoint_ports(struct tby_dec *d, const json_t *obj, bool workload,
                           struct tby_endpoint_port **ports, size_t *n)
{
    void *items = NULL;
    int r = tby_fields_list(d, obj, "ports", sizeof(**ports), port_item, &workload, &items, n);

    *ports = items;
    return r;
}

json_t *tby_enc_endpoint_ports(const struct tby_endpoint_port *ports, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *port = json_object();

        tby_enc_string(port, "name", ports[i].name);
        tby_enc_string(port, "protocol", tby_protocol_name(ports[i].protocol));
        tby_enc_int(port, "port", ports[i].port);
        if (ports[i].host_port)
            tby_enc_int(port, "hostPort", ports[i].host_port);
        tby_enc_ip(port, "hostIP", ports[i].has_host_ip, &ports[i].host_ip);
        json_array_append_new(arr, port);
    }
    return arr;
}

void tby_endpoint_ports_free(struct tby_endpoint_port *ports, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ports[i].name);
    free(ports);
}

int tby_dec_order(struct tby_dec *d, const json_t *obj, const char *field, double *out,
                  bool *present)
{
    int r = tby_dec_number(d, obj, field, out, present);

    if (r == 0 && *present && !isfinite(*out))
        r = tby_dec_fail_at(d, field, "must be a finite number");
    return r;
}

void tby_enc_order(json_t *obj, const char *key, bool has, double order)
{
    if (!has)
        return;
    if (order == floor(order) && fabs(order) < 9e15)
        json_object_set_new(obj, key, json_integer((json_int_t)order));
    else
        json_object_set_new(obj, key, json_real(order));
}
