/* model_bgpfilter.c — BGPFilter: ordered Accept/Reject rules on the routes a BGPPeer's
 * session exports and imports, per direction and family; decode, validate, encode.
 *
 * Calico 3.30's rule: cidr with matchOperator (both or neither), prefixLength (needs cidr),
 * source (RemotePeers), interface (a name or a pattern with '*'), action. Calico's newer
 * match fields and operations are unknown fields here, refused as any other. Beyond
 * Calico's validator, what BIRD could not take is refused too: a cidr with host bits, a
 * prefixLength with Equal or NotEqual (BIRD cannot compare a prefix with a range), and a
 * range that ends up empty. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

static const char *const list_fields[TBY_BGPF_LISTS] = {
    [TBY_BGPF_EXPORT_V4] = "exportV4",
    [TBY_BGPF_IMPORT_V4] = "importV4",
    [TBY_BGPF_EXPORT_V6] = "exportV6",
    [TBY_BGPF_IMPORT_V6] = "importV6",
};
static const char *const spec_fields[] = { "exportV4", "importV4", "exportV6", "importV6",
                                           NULL };
static const char *const rule_fields[] = { "cidr", "matchOperator", "prefixLength", "source",
                                           "interface", "action", NULL };
static const char *const length_fields[] = { "min", "max", NULL };
static const char *const op_names[] = { "Equal", "NotEqual", "In", "NotIn", NULL };
static const char *const action_names[] = { "Accept", "Reject", NULL };
static const char *const source_names[] = { "RemotePeers", NULL };

int tby_bgpfilter_list_family(enum tby_bgpfilter_list list)
{
    return list == TBY_BGPF_EXPORT_V4 || list == TBY_BGPF_IMPORT_V4 ? 4 : 6;
}

bool tby_bgpfilter_list_is_import(enum tby_bgpfilter_list list)
{
    return list == TBY_BGPF_IMPORT_V4 || list == TBY_BGPF_IMPORT_V6;
}

bool tby_bgpfilter_interface_valid(const char *s)
{
    size_t len = strlen(s);

    return len >= 1 && len <= 15 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.*-") ==
               len;
}

static void bgpfilter_free(void *spec)
{
    struct tby_bgpfilter *f = spec;

    if (!f)
        return;
    for (int l = 0; l < TBY_BGPF_LISTS; l++) {
        for (size_t i = 0; i < f->n[l]; i++)
            free(f->rules[l][i].interface);
        free(f->rules[l]);
    }
    free(f);
}

struct rule_ctx {
    int family;
};

static int decode_prefix_length(struct tby_dec *d, const json_t *rule, int family,
                                struct tby_bgpfilter_rule *r)
{
    int64_t min = 0, max = 0;
    const json_t *obj;
    size_t mark;
    int ret = tby_dec_object(d, rule, "prefixLength", &obj);

    if (ret < 0 || !obj)
        return ret;
    mark = tby_dec_enter(d, "prefixLength");
    ret = tby_dec_known_fields(d, obj, length_fields);
    if (ret == 0)
        ret = tby_dec_int(d, obj, "min", 0, family == 4 ? 32 : 128, &min, &r->has_min);
    if (ret == 0)
        ret = tby_dec_int(d, obj, "max", 0, family == 4 ? 32 : 128, &max, &r->has_max);
    tby_dec_leave(d, mark);
    r->min = (int)min;
    r->max = (int)max;
    return ret;
}

/* The range of prefix lengths a rule with prefixLength matches, as Calico computes it: at
 * least the CIDR's own length, at most the family's. */
void tby_bgpfilter_rule_lengths(const struct tby_bgpfilter_rule *r, int *min, int *max)
{
    *min = r->cidr.prefix_len;
    *max = r->cidr.ip.family == 4 ? 32 : 128;
    if (r->has_min && r->min > *min)
        *min = r->min;
    if (r->has_max && r->max < *max)
        *max = r->max;
}

static int check_rule(struct tby_dec *d, const json_t *rule, struct tby_bgpfilter_rule *r)
{
    int min, max;

    if (r->has_cidr != !!tby_dec_get(rule, "matchOperator"))
        return tby_dec_fail_at(d, r->has_cidr ? "matchOperator" : "cidr",
                               "cidr and matchOperator must both be set or both be left out");
    if ((r->has_min || r->has_max || tby_dec_get(rule, "prefixLength")) && !r->has_cidr)
        return tby_dec_fail_at(d, "prefixLength", "needs cidr");
    if (!r->has_min && !r->has_max)
        return 0;
    if (r->op == TBY_BGPF_EQUAL || r->op == TBY_BGPF_NOT_EQUAL)
        return tby_dec_fail_at(d, "prefixLength", "needs matchOperator In or NotIn (Equal and "
                                                  "NotEqual compare the CIDR itself)");
    tby_bgpfilter_rule_lengths(r, &min, &max);
    if (min > max)
        return tby_dec_fail_at(d, "prefixLength", "matches no route: lengths from /%d (the "
                                                  "CIDR's or min) to /%d (max)", min, max);
    return 0;
}

static int decode_rule(struct tby_dec *d, const json_t *rule, void *elem, void *ctx)
{
    const struct rule_ctx *c = ctx;
    struct tby_bgpfilter_rule *r = elem;
    int op = 0, action = 0, source = -1;
    int ret = tby_dec_item_object(d, rule, rule_fields);

    if (ret == 0 && tby_dec_get(rule, "cidr")) {
        ret = tby_dec_cidr(d, rule, "cidr", TBY_CIDR_STRICT, &r->cidr);
        r->has_cidr = ret == 0;
        if (ret == 0 && r->cidr.ip.family != c->family)
            ret = tby_dec_fail_at(d, "cidr", "is IPv%d in an IPv%d list", r->cidr.ip.family,
                                  c->family);
    }
    if (ret == 0)
        ret = tby_dec_enum(d, rule, "matchOperator", op_names, &op);
    if (ret == 0)
        ret = decode_prefix_length(d, rule, c->family, r);
    if (ret == 0 && tby_dec_get(rule, "source"))
        ret = tby_dec_enum(d, rule, "source", source_names, &source);
    if (ret == 0)
        ret = tby_dec_string(d, rule, "interface", false, &r->interface);
    if (ret == 0 && r->interface && !tby_bgpfilter_interface_valid(r->interface))
        ret = tby_dec_fail_at(d, "interface", "\"%s\" is not an interface name or pattern (1 "
                                              "to 15 letters, digits and _.-*)", r->interface);
    if (ret == 0 && !tby_dec_get(rule, "action"))
        ret = tby_dec_fail_at(d, "action", "is required (Accept or Reject)");
    if (ret == 0)
        ret = tby_dec_enum(d, rule, "action", action_names, &action);
    r->op = (enum tby_bgpfilter_op)op;
    r->remote_peers_only = source == 0;
    r->accept = action == 0;
    if (ret == 0)
        ret = check_rule(d, rule, r);
    return ret;
}

static int bgpfilter_decode_spec(struct tby_dec *d, const json_t *spec,
                                 const struct tby_resource *res, void *out)
{
    struct tby_bgpfilter *f = out;
    int r = tby_dec_known_fields(d, spec, spec_fields);

    (void)res;
    for (int l = 0; r == 0 && l < TBY_BGPF_LISTS; l++) {
        struct rule_ctx ctx = { tby_bgpfilter_list_family((enum tby_bgpfilter_list)l) };
        void *items = NULL;

        r = tby_fields_list(d, spec, list_fields[l], sizeof(*f->rules[l]), decode_rule, &ctx,
                            &items, &f->n[l]);
        f->rules[l] = items;
    }
    return r;
}

static int bgpfilter_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_bgpfilter),
                                bgpfilter_decode_spec);
}

static json_t *encode_rule(const struct tby_bgpfilter_rule *r)
{
    json_t *obj = json_object();
    char buf[TBY_CIDR_STRLEN];

    if (r->has_cidr) {
        tby_enc_string(obj, "cidr", tby_cidr_format(&r->cidr, buf));
        tby_enc_string(obj, "matchOperator", op_names[r->op]);
    }
    if (r->has_min || r->has_max) {
        json_t *len = json_object();

        if (r->has_min)
            tby_enc_int(len, "min", r->min);
        if (r->has_max)
            tby_enc_int(len, "max", r->max);
        json_object_set_new(obj, "prefixLength", len);
    }
    if (r->remote_peers_only)
        tby_enc_string(obj, "source", source_names[0]);
    tby_enc_string(obj, "interface", r->interface);
    tby_enc_string(obj, "action", action_names[r->accept ? 0 : 1]);
    return obj;
}

static void bgpfilter_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_bgpfilter *f = res->spec.bgpfilter;
    json_t *spec = json_object();

    for (int l = 0; l < TBY_BGPF_LISTS; l++) {
        json_t *arr = json_array();

        for (size_t i = 0; i < f->n[l]; i++)
            json_array_append_new(arr, encode_rule(&f->rules[l][i]));
        tby_enc_take(spec, list_fields[l], arr);
    }
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_bgpfilter_ops = {
    .decode = bgpfilter_decode,
    .encode = bgpfilter_encode,
    .free = bgpfilter_free,
};
