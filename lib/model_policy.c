/* model_policy.c — Calico NetworkPolicy, GlobalNetworkPolicy and Profile: decode,
 * validate, default and encode (the rules themselves are model_rule.c's). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"
#include "model_rule.h"

#define DEFAULT_TIER "default"

static const char *const type_names[] = { "Ingress", "Egress", NULL };
static const char *const hint_names[] = { "AssumeNeededOnEveryNode", NULL };

static const char *const np_fields[] = {
    "order", "tier", "selector", "serviceAccountSelector", "types", "ingress", "egress",
    "performanceHints", NULL
};
static const char *const gnp_fields[] = {
    "order", "tier", "selector", "serviceAccountSelector", "types", "ingress", "egress",
    "performanceHints", "namespaceSelector", "doNotTrack", "preDNAT", "applyOnForward", NULL
};
static const char *const profile_fields[] = { "ingress", "egress", "labelsToApply", NULL };

static void policy_free(void *spec)
{
    struct tby_policy *p = spec;

    if (!p)
        return;
    free(p->tier);
    free(p->selector);
    free(p->namespace_selector);
    free(p->service_account_selector);
    tby_rule_list_clear(&p->ingress);
    tby_rule_list_clear(&p->egress);
    free(p);
}

/* ---- names and tiers ----------------------------------------------------------------- */

/* Kubernetes and OpenStack policies converted by Calico carry these prefixes and keep
 * their tier out of the name. */
static bool has_converted_prefix(const char *name)
{
    return strncmp(name, "knp.default.", 12) == 0 || strncmp(name, "ossg.default.", 13) == 0;
}

/* A DNS-1123 label, or two joined by one '.': Calico's policy name pattern. */
static bool valid_policy_name(const char *name)
{
    const char *dot = strchr(name, '.');
    char first[64];

    if (!dot)
        return tby_valid_dns1123_label(name);
    if ((size_t)(dot - name) >= sizeof(first))
        return false;
    memcpy(first, name, (size_t)(dot - name));
    first[dot - name] = '\0';
    return tby_valid_dns1123_label(first) && tby_valid_dns1123_label(dot + 1);
}

/* A policy of tier t is named "<name>" or "t.<name>" (Calico before 3.31 required the
 * prefix outside the default tier); a prefix naming another tier is refused. */
static int check_name_and_tier(struct tby_dec *d, const char *name, const char *tier,
                               bool namespaced)
{
    const char *dot = strchr(name, '.');

    if (!tby_valid_dns1123_label(tier))
        return tby_dec_fail_at(d, "spec.tier", "\"%s\" is not a valid tier name (lower-case "
                                               "letters, digits and '-')", tier);
    if (namespaced && has_converted_prefix(name))
        return 0;
    if (!valid_policy_name(name))
        return tby_dec_fail_at(d, "metadata.name", "\"%s\" is not a valid policy name (a "
                                                   "DNS label, optionally prefixed by its "
                                                   "tier and '.')", name);
    if (!dot)
        return 0;
    if (dot && strncmp(name, tier, strlen(tier)) == 0 && name + strlen(tier) == dot)
        return 0;
    return tby_dec_fail_at(d, "metadata.name", "\"%s\" names tier \"%.*s\" but the "
                                               "policy is in tier \"%s\" (spec.tier)",
                           name, (int)(dot - name), name, tier);
}

/* ---- types and hints ---------------------------------------------------------------- */

/* Calico's default when types is absent or empty: Egress alone for a policy with only
 * egress rules, both for one with both, otherwise Ingress. */
static unsigned default_types(const struct tby_policy *p)
{
    if (p->egress.n && p->ingress.n)
        return TBY_POLICY_INGRESS | TBY_POLICY_EGRESS;
    return p->egress.n ? TBY_POLICY_EGRESS : TBY_POLICY_INGRESS;
}

static int decode_hints(struct tby_dec *d, const json_t *spec, struct tby_policy *p)
{
    unsigned hints = 0;
    int r = tby_dec_enum_set(d, spec, "performanceHints", hint_names, true, &hints);

    p->assume_needed_on_every_node = hints & 1u;
    return r;
}

/* ---- NetworkPolicy and GlobalNetworkPolicy ------------------------------------------ */

/* spec.ingress and spec.egress, of a policy or a profile. */
static int decode_rules(struct tby_dec *d, const json_t *spec, bool global,
                        struct tby_rule_list *ingress, struct tby_rule_list *egress)
{
    struct tby_rule_place in = { .ingress = true, .global = global };
    struct tby_rule_place out = { .ingress = false, .global = global };
    int r = tby_rule_list_decode(d, spec, "ingress", in, ingress);

    if (r == 0)
        r = tby_rule_list_decode(d, spec, "egress", out, egress);
    return r;
}

static int decode_common(struct tby_dec *d, const json_t *spec, bool global,
                         struct tby_policy *p)
{
    int r = tby_dec_order(d, spec, "order", &p->order, &p->has_order);

    if (r == 0)
        r = tby_dec_string(d, spec, "tier", false, &p->tier);
    if (r == 0 && (!p->tier || !p->tier[0])) {
        free(p->tier);
        p->tier = strdup(DEFAULT_TIER);
        if (!p->tier)
            r = tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    if (r == 0)
        r = tby_dec_selector(d, spec, "selector", TBY_GLOBAL_FORBIDDEN, &p->selector);
    if (r == 0)
        r = tby_dec_selector(d, spec, "serviceAccountSelector", TBY_GLOBAL_FORBIDDEN,
                             &p->service_account_selector);
    if (r == 0)
        r = tby_dec_enum_set(d, spec, "types", type_names, true, &p->types);
    if (r == 0)
        r = decode_rules(d, spec, global, &p->ingress, &p->egress);
    if (r == 0 && !p->types)
        p->types = default_types(p);
    if (r == 0)
        r = decode_hints(d, spec, p);
    return r;
}

/* Calico's rules for policies applied before conntrack or before DNAT. */
static int check_gnp_flags(struct tby_dec *d, const struct tby_policy *p)
{
    if (p->pre_dnat && p->do_not_track)
        return tby_dec_fail_at(d, "preDNAT", "preDNAT and doNotTrack cannot both be true");
    if (p->pre_dnat && p->egress.n)
        return tby_dec_fail_at(d, "egress", "a preDNAT policy cannot have egress rules");
    if (p->pre_dnat && (p->types & TBY_POLICY_EGRESS))
        return tby_dec_fail_at(d, "types", "a preDNAT policy cannot have type Egress");
    if ((p->pre_dnat || p->do_not_track) && !p->apply_on_forward)
        return tby_dec_fail_at(d, "applyOnForward", "must be true when %s is true",
                               p->pre_dnat ? "preDNAT" : "doNotTrack");
    return 0;
}

static int decode_gnp_only(struct tby_dec *d, const json_t *spec, struct tby_policy *p)
{
    int r = tby_dec_selector(d, spec, "namespaceSelector", TBY_GLOBAL_FORBIDDEN,
                             &p->namespace_selector);

    if (r == 0)
        r = tby_dec_bool(d, spec, "doNotTrack", &p->do_not_track);
    if (r == 0)
        r = tby_dec_bool(d, spec, "preDNAT", &p->pre_dnat);
    if (r == 0)
        r = tby_dec_bool(d, spec, "applyOnForward", &p->apply_on_forward);
    if (r == 0)
        r = check_gnp_flags(d, p);
    return r;
}

static int policy_decode_spec(struct tby_dec *d, const json_t *spec,
                              const struct tby_resource *res, void *out)
{
    bool global = res->info->kind == TBY_KIND_GLOBALNETWORKPOLICY;
    int r = tby_dec_known_fields(d, spec, global ? gnp_fields : np_fields);

    if (r == 0)
        r = decode_common(d, spec, global, out);
    if (r == 0 && global)
        r = decode_gnp_only(d, spec, out);
    return r;
}

static int policy_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    int r = tby_kind_decode_spec(d, doc, res, sizeof(struct tby_policy), policy_decode_spec);

    /* The name is checked against the decoded tier, from the top of the document. */
    if (r == 0)
        r = check_name_and_tier(d, res->meta.name, res->spec.policy->tier,
                                res->info->kind == TBY_KIND_NETWORKPOLICY);
    if (r < 0 && res->spec.policy) {
        policy_free(res->spec.policy);
        res->spec.policy = NULL;
    }
    return r;
}

static json_t *encode_enum_set(unsigned set, const char *const *names)
{
    json_t *arr = json_array();

    for (int i = 0; names[i]; i++)
        if (set & (1u << i))
            json_array_append_new(arr, json_string(names[i]));
    return arr;
}

static void policy_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_policy *p = res->spec.policy;
    json_t *spec = json_object();

    tby_enc_string(spec, "tier", p->tier);
    tby_enc_order(spec, "order", p->has_order, p->order);
    tby_enc_string(spec, "selector", p->selector);
    tby_enc_string(spec, "namespaceSelector", p->namespace_selector);
    tby_enc_string(spec, "serviceAccountSelector", p->service_account_selector);
    json_object_set_new(spec, "types", encode_enum_set(p->types, type_names));
    tby_enc_take(spec, "ingress", tby_rule_list_encode(&p->ingress));
    tby_enc_take(spec, "egress", tby_rule_list_encode(&p->egress));
    tby_enc_true(spec, "doNotTrack", p->do_not_track);
    tby_enc_true(spec, "preDNAT", p->pre_dnat);
    tby_enc_true(spec, "applyOnForward", p->apply_on_forward);
    tby_enc_take(spec, "performanceHints",
                 encode_enum_set(p->assume_needed_on_every_node ? 1u : 0u, hint_names));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_networkpolicy_ops = {
    .decode = policy_decode,
    .encode = policy_encode,
    .free = policy_free,
};

const struct tby_kind_ops tby_globalnetworkpolicy_ops = {
    .decode = policy_decode,
    .encode = policy_encode,
    .free = policy_free,
};

/* ---- Profile ------------------------------------------------------------------------- */

static void profile_free(void *spec)
{
    struct tby_profile *p = spec;

    if (!p)
        return;
    tby_rule_list_clear(&p->ingress);
    tby_rule_list_clear(&p->egress);
    json_decref(p->labels_to_apply);
    free(p);
}

static int profile_decode_spec(struct tby_dec *d, const json_t *spec,
                               const struct tby_resource *res, void *out)
{
    struct tby_profile *p = out;
    int r = tby_dec_known_fields(d, spec, profile_fields);

    /* Profiles are cluster-wide: a service they name needs its namespace. */
    if (r == 0)
        r = decode_rules(d, spec, true, &p->ingress, &p->egress);
    if (r == 0)
        r = tby_dec_string_map(d, spec, "labelsToApply", true, &p->labels_to_apply);
    return r;
}

static int profile_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    return tby_kind_decode_spec(d, doc, res, sizeof(struct tby_profile), profile_decode_spec);
}

static void profile_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_profile *p = res->spec.profile;
    json_t *spec = json_object();

    tby_enc_take(spec, "ingress", tby_rule_list_encode(&p->ingress));
    tby_enc_take(spec, "egress", tby_rule_list_encode(&p->egress));
    tby_enc_take(spec, "labelsToApply", json_deep_copy(p->labels_to_apply));
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_profile_ops = {
    .decode = profile_decode,
    .encode = profile_encode,
    .free = profile_free,
};
