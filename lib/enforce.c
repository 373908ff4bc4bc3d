/* enforce.c — what tabby does not enforce of what it decodes (enforce.h): the table of
 * those fields, their refusal at apply, and the fail-closed stand-ins tabby-node programs
 * when it meets one in a datastore.
 *
 * Every entry of `gaps` is a field tabby decodes and keeps (so that it can say what it
 * met) but does not enforce. An audit walks a resource and notes each gap it sets, with
 * the field's path and what the gap does to the resource's meaning: refusing it is enough
 * (nothing would change for workloads), the whole policy cannot be placed, or one rule
 * cannot be programmed. Enforcing a field means
 * removing its entry and the place that notes it. */
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/enforce.h"
#include "tabby/store.h"

enum gap {
    GAP_SERVICES,
    GAP_HTTP,
    GAP_IP_NATS,
    GAP_COUNT
};

/* What a gap does to the resource's meaning, and so what tabby-node does with it. */
enum effect {
    FX_REFUSE,      /* nothing for workloads changes: refused at apply, programmed as is */
    FX_WHOLE,       /* the policy cannot be placed: Deny in every direction of its types */
    FX_RULE,        /* one rule cannot be programmed: the rules before it, then Deny */
};

static const struct {
    enum effect effect;
    const char *reason;
} gaps[GAP_COUNT] = {
    [GAP_SERVICES] = { FX_RULE, "matching a Kubernetes Service needs a datastore that knows "
                                "Services (the Kubernetes API, k8s:); on this one, match the "
                                "service's pods with a selector and its ports instead" },
    [GAP_HTTP] = { FX_RULE, "HTTP match rules need an L7 proxy (Calico's application layer "
                            "policy), which tabby does not have" },
    [GAP_IP_NATS] = { FX_REFUSE, "floating IPs (1:1 NAT) are not programmed by tabby" },
};

enum { DIR_IN, DIR_OUT };

static const char *const dir_field[2] = { "ingress", "egress" };

struct audit {
    unsigned caps;            /* what the datastore lets tabby enforce */
    bool any;
    char field[320];          /* the first gap's field and reason, for messages */
    enum gap first;
    bool whole;
    bool rule_bad[2];         /* a rule tabby cannot program, in this direction */
    size_t rule_at[2];        /* the first such rule */
};

static void note(struct audit *a, enum gap gap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(struct audit *a, enum gap gap, const char *fmt, ...)
{
    va_list ap;

    if (gaps[gap].effect == FX_WHOLE)
        a->whole = true;
    if (a->any)
        return;
    a->any = true;
    a->first = gap;
    va_start(ap, fmt);
    vsnprintf(a->field, sizeof(a->field), fmt, ap);
    va_end(ap);
}

/* ---- the audit ----------------------------------------------------------------------------- */

/* The first rule of a list tabby cannot program; its field noted. */
static void audit_rules(struct audit *a, const struct tby_rule_list *l, int d)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct tby_rule *r = &l->items[i];
        enum gap gap = r->http ? GAP_HTTP : GAP_SERVICES;
        const char *side = r->source.services ? "source" : "destination";
        bool services = (r->source.services || r->destination.services) &&
                        !(a->caps & TBY_ENFORCE_SERVICES);

        if (!r->http && !services)
            continue;
        if (r->http)
            note(a, gap, "spec.%s[%zu].http", dir_field[d], i);
        else
            note(a, gap, "spec.%s[%zu].%s.services", dir_field[d], i, side);
        a->rule_bad[d] = true;
        a->rule_at[d] = i;
        return;
    }
}

static void audit_policy(struct audit *a, const struct tby_policy *p)
{
    audit_rules(a, &p->ingress, DIR_IN);
    audit_rules(a, &p->egress, DIR_OUT);
}

static void audit(const struct tby_resource *res, unsigned caps, struct audit *a)
{
    memset(a, 0, sizeof(*a));
    a->caps = caps;
    switch (res->info->kind) {
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
        audit_policy(a, res->spec.policy);
        break;
    case TBY_KIND_WORKLOADENDPOINT:
        if (res->spec.wep->n_ip_nats)
            note(a, GAP_IP_NATS, "spec.ipNATs");
        break;
    default:
        break;
    }
}

unsigned tby_enforce_caps(const struct tby_store *store)
{
    return tby_store_knows_services(store) ? TBY_ENFORCE_SERVICES : 0;
}

int tby_enforce_check(const struct tby_resource *res, unsigned caps, struct tby_error *err)
{
    struct audit a;

    audit(res, caps, &a);
    if (!a.any)
        return 0;
    return tby_error_set(err, -EOPNOTSUPP, "%s: %s", a.field, gaps[a.first].reason);
}

/* ---- stand-ins -------------------------------------------------------------------------- */

static json_t *deny_rules(void)
{
    return json_pack("[{s:s}]", "action", "Deny");
}

static int annotate(json_t *doc, const char *why)
{
    json_t *meta = json_object_get(doc, "metadata");
    json_t *ann = json_object_get(meta, "annotations");

    if (!ann) {
        ann = json_object();
        if (!ann || json_object_set_new(meta, "annotations", ann) < 0)
            return -ENOMEM;
    }
    return json_object_set_new(ann, TBY_ENFORCE_ANNOTATION, json_string(why)) < 0 ? -ENOMEM
                                                                                  : 0;
}

/* Decodes a stand-in's document; with `name`, the stand-in takes that name afterwards (a
 * name no user could write, which decoding would refuse). */
static int decode_stand_in(const json_t *doc, const char *name, struct tby_resource **out)
{
    struct tby_error err = { 0 };
    char *copy;
    int r = tby_resource_decode(doc, out, &err);

    if (r < 0)
        return r;
    if (!name)
        return 0;
    if (!(copy = strdup(name))) {
        tby_resource_freep(out);
        return -ENOMEM;
    }
    free((*out)->meta.name);
    (*out)->meta.name = copy;
    return 0;
}

static bool has_type(const struct tby_resource *res, int d)
{
    return res->spec.policy->types & (d == DIR_IN ? TBY_POLICY_INGRESS : TBY_POLICY_EGRESS);
}

/* The policy with Deny from where it stops being enforceable, in each direction. */
static int policy_stand_in(const struct tby_resource *res, const struct audit *a,
                           const char *why, struct tby_resource **out)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    json_t *spec = json_object_get(doc, "spec");

    if (!spec)
        return -ENOMEM;
    for (int d = 0; d < 2; d++) {
        json_t *rules = json_object_get(spec, dir_field[d]);
        json_t *kept;

        if (!has_type(res, d) || (!a->whole && !a->rule_bad[d]))
            continue;
        kept = json_array();
        for (size_t i = 0; !a->whole && i < a->rule_at[d]; i++)
            json_array_append(kept, json_array_get(rules, i));
        if (!kept || json_array_append_new(kept, json_pack("{s:s}", "action", "Deny")) < 0 ||
            json_object_set_new(spec, dir_field[d], kept) < 0)
            return -ENOMEM;
    }
    if (annotate(doc, why) < 0)
        return -ENOMEM;
    return decode_stand_in(doc, NULL, out);
}

int tby_enforce_plan(const struct tby_resource *res, unsigned caps,
                     struct tby_resource **stand_in, char *why, size_t size)
{
    const char *said = json_string_value(json_object_get(res->meta.annotations,
                                                         TBY_ENFORCE_ANNOTATION));
    bool policy = res->info->kind == TBY_KIND_NETWORKPOLICY ||
                  res->info->kind == TBY_KIND_GLOBALNETWORKPOLICY;
    struct audit a;
    int r;

    *stand_in = NULL;
    why[0] = '\0';
    audit(res, caps, &a);
    /* A rule in a direction the policy does not apply in is never programmed. */
    for (int d = 0; policy && d < 2; d++)
        a.rule_bad[d] = a.rule_bad[d] && has_type(res, d);
    if (policy && (a.whole || a.rule_bad[0] || a.rule_bad[1])) {
        snprintf(why, size, "%s: %s; %s", a.field, gaps[a.first].reason,
                 a.whole ? "denied instead for every endpoint it selects"
                         : "enforced up to that rule, then denied");
        r = policy_stand_in(res, &a, why, stand_in);
        return r < 0 ? r : TBY_ENFORCE_REPLACE;
    }
    /* A stand-in made by tby_enforce_unreadable: programmed as it is, said as it is. */
    if (said)
        snprintf(why, size, "%s", said);
    return TBY_ENFORCE_AS_IS;
}

/* ---- unreadable policies -------------------------------------------------------------------- */

/* The namespace and name a resource key ends with: [<namespace>/]<name>. */
static int key_names(const char *key, const struct tby_kind_info *info, char **ns, char **name)
{
    const char *rest = key + strlen("/tabby/v1/") + strlen(info->plural) + 1;
    const char *slash = strchr(rest, '/');

    *ns = NULL;
    if (info->namespaced != !!slash || (slash && strchr(slash + 1, '/')))
        return -EINVAL;
    if (slash && !(*ns = strndup(rest, (size_t)(slash - rest))))
        return -ENOMEM;
    *name = strdup(slash ? slash + 1 : rest);
    return *name ? 0 : -ENOMEM;
}

/* What can be read of a Calico policy's spec; each piece is tried on its own. */
static void readable_calico(json_t *spec, const json_t *given, bool global)
{
    static const char *const pieces[] = { "selector", "order", "namespaceSelector", NULL };

    for (size_t i = 0; pieces[i]; i++) {
        const json_t *v = json_object_get(given, pieces[i]);

        if (!v || (!global && strcmp(pieces[i], "namespaceSelector") == 0))
            continue;
        if (strcmp(pieces[i], "order") == 0 ? json_is_number(v) : json_is_string(v))
            json_object_set(spec, pieces[i], (json_t *)v);
    }
}

static json_t *unreadable_doc(const struct tby_kind_info *info, const char *ns,
                              const json_t *given, bool with_given)
{
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", info->api_version, "kind",
                            info->name, "metadata", "name", "unreadable");
    json_t *spec = json_object();

    if (!doc || !spec || json_object_set_new(doc, "spec", spec) < 0 ||
        (ns && json_object_set_new(json_object_get(doc, "metadata"), "namespace",
                                   json_string(ns)) < 0))
        goto oom;
    if (info->kind == TBY_KIND_K8S_NETWORKPOLICY) {
        const json_t *pod = json_object_get(given, "podSelector");

        if (json_object_set_new(spec, "podSelector", with_given && json_is_object(pod)
                                                         ? json_deep_copy(pod)
                                                         : json_object()) < 0 ||
            json_object_set_new(spec, "policyTypes",
                                json_pack("[s, s]", "Ingress", "Egress")) < 0)
            goto oom;
        return doc;
    }
    if (json_object_set_new(spec, "ingress", deny_rules()) < 0 ||
        json_object_set_new(spec, "egress", deny_rules()) < 0)
        goto oom;
    if (info->kind == TBY_KIND_PROFILE)
        return doc;
    if (with_given)
        readable_calico(spec, given, info->kind == TBY_KIND_GLOBALNETWORKPOLICY);
    if (!json_object_get(spec, "order") &&
        json_object_set_new(spec, "order", json_real(-DBL_MAX)) < 0)
        goto oom;
    if (json_object_set_new(spec, "types", json_pack("[s, s]", "Ingress", "Egress")) < 0)
        goto oom;
    return doc;
oom:
    json_decref(doc);
    return NULL;
}

int tby_enforce_unreadable(const char *key, const char *value, size_t len, const char *error,
                           struct tby_resource **out)
{
    const struct tby_kind_info *info = tby_catalog_kind_of_key(key);
    _cleanup_json_ json_t *given = NULL;
    _cleanup_free_ char *ns = NULL, *name = NULL, *why = NULL;
    const json_t *spec;
    int r;

    *out = NULL;
    if (!info || (info->kind != TBY_KIND_NETWORKPOLICY &&
                  info->kind != TBY_KIND_GLOBALNETWORKPOLICY &&
                  info->kind != TBY_KIND_PROFILE && info->kind != TBY_KIND_K8S_NETWORKPOLICY))
        return -EINVAL;
    r = key_names(key, info, &ns, &name);
    if (r < 0)
        return r;
    if (asprintf(&why, "the stored value does not decode (%s); denied for every endpoint it "
                       "may select", error) < 0)
        return -ENOMEM;
    given = value ? json_loadb(value, len, 0, NULL) : NULL;
    spec = json_object_get(given, "spec");
    /* What the value says, if it is usable; else the widest reading. */
    for (int attempt = 0; attempt < 2 && !*out; attempt++) {
        _cleanup_json_ json_t *doc = unreadable_doc(info, ns, spec, attempt == 0);

        if (!doc || annotate(doc, why) < 0)
            return -ENOMEM;
        r = decode_stand_in(doc, name, out);
        if (r == -ENOMEM)
            return r;
    }
    return *out ? 0 : -EINVAL;
}
