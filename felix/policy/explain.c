/* explain.c — the explain model (explain.h): endpoints with the labels the dataplane gives
 * them, policies read as the dataplane reads them, and one packet taken through them in
 * Calico's order (FROM's egress, TO's ingress; tiers, policies, rules), every step
 * written into a JSON trace. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "tabby/enforce.h"
#include "explain_internal.h"

/* The default tier, and its order when no Tier resource gives one (Calico's). */
#define DEFAULT_TIER "default"
#define DEFAULT_TIER_ORDER 1000000.0

/* ---- tiers ------------------------------------------------------------------------------ */

static const struct xtier *tier_find(const struct tby_explain *x, const char *name)
{
    for (size_t i = 0; i < x->n_tiers; i++)
        if (strcmp(x->tiers[i].name, name) == 0)
            return &x->tiers[i];
    return NULL;
}

int tby_explain_add_tier(struct tby_explain *x, const char *name, bool has_order, double order,
                         bool default_pass)
{
    struct xtier *t = (struct xtier *)tier_find(x, name);

    if (!t) {
        if (TBY_GROW(x->tiers, x->cap_tiers, x->n_tiers + 1) < 0)
            return -ENOMEM;
        t = &x->tiers[x->n_tiers];
        if (!(t->name = strdup(name)))
            return -ENOMEM;
        x->n_tiers++;
    }
    t->order = has_order ? order : INFINITY;
    t->default_action = default_pass ? TBY_ACTION_PASS : TBY_ACTION_DENY;
    x->dirty = true;
    return 0;
}

/* A Tier resource, read from its document (spec.order, spec.defaultAction), so that the
 * model needs nothing of the kind's struct. */
static int add_tier_resource(struct tby_explain *x, const struct tby_resource *res)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    const json_t *spec = json_object_get(doc, "spec");
    const json_t *order = json_object_get(spec, "order");
    const char *action = json_string_value(json_object_get(spec, "defaultAction"));

    if (!doc)
        return -ENOMEM;
    return tby_explain_add_tier(x, res->meta.name, json_is_number(order),
                                json_number_value(order), action && strcmp(action, "Pass") == 0);
}

/* The tier a policy is placed in: its spec.tier when the model knows that tier, else the
 * default tier (where a dataplane without that tier evaluates it). */
static const char *policy_tier(const struct tby_explain *x, const char *tier)
{
    return tier && tier_find(x, tier) ? tier : DEFAULT_TIER;
}

static double tier_order(const struct tby_explain *x, const char *tier)
{
    const struct xtier *t = tier_find(x, tier);

    return t ? t->order : DEFAULT_TIER_ORDER;
}

static enum tby_action tier_default_action(const struct tby_explain *x, const char *tier)
{
    const struct xtier *t = tier_find(x, tier);

    return t ? t->default_action : TBY_ACTION_DENY;
}

/* ---- the model ------------------------------------------------------------------------- */

static void sets_clear(struct tby_explain *x);

static void xpol_clear(struct xpol *p)
{
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < p->n[d]; i++)
            crule_clear(&p->rules[d][i]);
        free(p->rules[d]);
        free(p->origin[d]);
    }
    tby_sel_free(p->applies);
    tby_resource_free(p->res);
    free(p->note);
    free(p->display);
    free(p->tier);
    free(p->error);
}

int tby_explain_new(struct tby_explain **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void tby_explain_free(struct tby_explain *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n_eps; i++) {
        tby_resource_free(x->eps[i].res);
        free(x->eps[i].name);
        json_decref(x->eps[i].labels);
    }
    for (size_t i = 0; i < x->n_pols; i++)
        xpol_clear(&x->pols[i]);
    sets_clear(x);
    free(x->sets);
    for (size_t i = 0; i < x->n_tiers; i++)
        free(x->tiers[i].name);
    free(x->tiers);
    free(x->eps);
    free(x->pols);
    tby_resource_list_clear(&x->others);
    tby_resource_list_clear(&x->policies);
    for (size_t i = 0; i < x->n_slices; i++)
        tby_eps_free(x->slices[i]);
    free(x->slices);
    free(x);
}

int tby_explain_add_endpointslice(struct tby_explain *x, struct tby_eps *eps)
{
    if (TBY_GROW(x->slices, x->cap_slices, x->n_slices + 1) < 0) {
        tby_eps_free(eps);
        return -ENOMEM;
    }
    x->slices[x->n_slices++] = eps;
    tby_explain_set_caps(x, x->caps | TBY_ENFORCE_SERVICES);
    return 0;
}

void tby_explain_set_caps(struct tby_explain *x, unsigned caps)
{
    x->caps = caps;
    x->dirty = true;
}

static int add_endpoint(struct tby_explain *x, struct tby_resource *res)
{
    const char *pod = res->spec.wep->pod ? res->spec.wep->pod : res->meta.name;
    struct xep *e;

    if (TBY_GROW(x->eps, x->cap_eps, x->n_eps + 1) < 0)
        return -ENOMEM;
    e = &x->eps[x->n_eps];
    *e = (struct xep){ .res = res };
    if (asprintf(&e->name, "%s/%s", res->meta.namespace, pod) < 0)
        return -ENOMEM;
    x->n_eps++;
    x->dirty = true;
    return 0;
}

/* The rules of one direction of a Calico policy; a rule the dataplane cannot read is left
 * out, as the dataplane leaves it out. */
static int calico_rules(struct xpol *p, int d)
{
    const struct tby_rule_list *l = d == DIR_IN ? &p->res->spec.policy->ingress
                                                : &p->res->spec.policy->egress;
    const char *ns = p->res->info->kind == TBY_KIND_NETWORKPOLICY ? p->res->meta.namespace
                                                                   : NULL;

    p->rules[d] = calloc(l->n + 1, sizeof(*p->rules[d]));
    p->origin[d] = calloc(l->n + 1, sizeof(*p->origin[d]));
    if (!p->rules[d] || !p->origin[d])
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        struct tby_error err = { 0 };
        struct crule *r = &p->rules[d][p->n[d]];
        int rc = calc_calico_rule(&l->items[i], ns, r, &err);

        if (rc == -ENOMEM) {
            crule_clear(r);
            return rc;
        }
        if (rc < 0) {
            crule_clear(r);
            continue;
        }
        p->origin[d][p->n[d]++] = i;
    }
    return 0;
}

static int read_policy(const struct tby_explain *x, struct xpol *p)
{
    const struct tby_resource *res = p->res;
    struct tby_error err = { 0 };
    int r;

    p->display = calc_policy_display(res);
    if (!p->display)
        return -ENOMEM;
    if (res->info->kind == TBY_KIND_K8S_NETWORKPOLICY) {
        const struct tby_k8s_policy *kp = res->spec.k8s_policy;

        p->types = kp->types;
        p->has_order = true;
        p->order = 1000;
        p->tier = strdup(DEFAULT_TIER);
        p->tier_order = tier_order(x, DEFAULT_TIER);
        r = calc_k8s_selector(kp, res->meta.namespace, &p->applies, &err);
        for (int d = 0; r == 0 && d < 2; d++)
            r = calc_k8s_rules(d == DIR_IN ? kp->ingress : kp->egress,
                               d == DIR_IN ? kp->n_ingress : kp->n_egress, d == DIR_IN,
                               res->meta.namespace, &p->rules[d], &p->origin[d], &p->n[d], &err);
    } else {
        const struct tby_policy *sp = res->spec.policy;

        p->types = sp->types;
        p->has_order = sp->has_order;
        p->order = sp->order;
        p->tier = strdup(policy_tier(x, sp->tier));
        p->tier_order = tier_order(x, policy_tier(x, sp->tier));
        r = calc_calico_applies(res, &p->applies, &err);
        for (int d = 0; r == 0 && d < 2; d++)
            r = calico_rules(p, d);
    }
    if (!p->tier || r == -ENOMEM)
        return -ENOMEM;
    if (r < 0) {
        /* The dataplane does not enforce a policy it cannot read: it selects nothing. */
        tby_sel_free(p->applies);
        p->applies = NULL;
        p->error = strdup(tby_error_str(&err));
    }
    return 0;
}

/* Takes res (and why: what is not enforced as written, or ""). */
static int add_policy(struct tby_explain *x, struct tby_resource *res, const char *why)
{
    struct xpol *p;
    int r;

    if (TBY_GROW(x->pols, x->cap_pols, x->n_pols + 1) < 0) {
        tby_resource_free(res);
        return -ENOMEM;
    }
    p = &x->pols[x->n_pols++];
    *p = (struct xpol){ .res = res };
    r = why[0] && !(p->note = strdup(why)) ? -ENOMEM : read_policy(x, p);
    if (r < 0) {
        xpol_clear(p);
        x->n_pols--;
    }
    return r;
}

int tby_explain_add(struct tby_explain *x, const struct tby_resource *res)
{
    struct tby_resource_list *to = &x->others;
    struct tby_resource *copy;

    if (strcmp(res->info->name, "Tier") == 0)
        return add_tier_resource(x, res);
    switch (res->info->kind) {
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
        to = &x->policies;
        break;
    case TBY_KIND_WORKLOADENDPOINT:
    case TBY_KIND_NAMESPACE:
    case TBY_KIND_PROFILE:
    case TBY_KIND_NETWORKSET:
    case TBY_KIND_GLOBALNETWORKSET:
    case TBY_KIND_HOSTENDPOINT:
    case TBY_KIND_NODE:
    case TBY_KIND_FELIXCONFIG:
        break;
    default:
        return 0;
    }
    if (!(copy = tby_resource_copy(res)))
        return -ENOMEM;
    x->dirty = true;
    if (res->info->kind == TBY_KIND_WORKLOADENDPOINT ? add_endpoint(x, copy) < 0
                                                     : tby_resource_list_push(to, copy) < 0) {
        tby_resource_free(copy);
        return -ENOMEM;
    }
    return 0;
}

/* What tabby-node programs for one policy or Profile (enforce.h's plan): the policy as
 * written or its fail-closed stand-in; nothing here for what never polices a workload. */
static int plan_policy(struct tby_explain *x, const struct tby_resource *res)
{
    struct tby_resource *stand_in = NULL, *copy;
    char why[TBY_ERROR_MAX] = "";
    int plan = x->as_written ? TBY_ENFORCE_AS_IS
                             : tby_enforce_plan(res, x->caps, &stand_in, why, sizeof(why));

    switch (plan) {
    case TBY_ENFORCE_AS_IS:
        /* preDNAT and doNotTrack policies apply to host endpoints only, never to a
         * workload (their applyOnForward makes explain say "unknown" where a host
         * endpoint may police a flow) */
        if (res->info->kind == TBY_KIND_PROFILE ||
            (res->info->kind == TBY_KIND_GLOBALNETWORKPOLICY &&
             (res->spec.policy->pre_dnat || res->spec.policy->do_not_track)))
            return 0;
        return (copy = tby_resource_copy(res)) ? add_policy(x, copy, why) : -ENOMEM;
    case TBY_ENFORCE_REPLACE:
        return add_policy(x, stand_in, why);
    default:
        tby_resource_free(stand_in);
        return plan < 0 ? plan : -ENOMEM;
    }
}

static int plan_policies(struct tby_explain *x)
{
    int r = 0;

    for (size_t i = 0; i < x->n_pols; i++)
        xpol_clear(&x->pols[i]);
    x->n_pols = 0;
    for (size_t i = 0; r == 0 && i < x->policies.n; i++)
        r = plan_policy(x, x->policies.items[i]);
    for (size_t i = 0; r == 0 && i < x->others.n; i++)
        if (x->others.items[i]->info->kind == TBY_KIND_PROFILE)
            r = plan_policy(x, x->others.items[i]);
    return r;
}

void tby_explain_as_written(struct tby_explain *x, bool as_written)
{
    x->as_written = as_written;
    x->dirty = true;
}

const char *tby_explain_endpoint_name(const struct tby_explain *x, int i)
{
    return i >= 0 && (size_t)i < x->n_eps ? x->eps[i].name : NULL;
}

/* ---- effective labels ------------------------------------------------------------------ */

static const struct tby_resource *other(const struct tby_explain *x, enum tby_kind kind,
                                        const char *name)
{
    for (size_t i = 0; i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];

        if (r->info->kind == kind && strcmp(r->meta.name, name) == 0)
            return r;
    }
    return NULL;
}

static int set_str(json_t *obj, const char *prefix, const char *key, const char *value)
{
    _cleanup_free_ char *k = NULL;

    if (!value)
        return 0;
    if (asprintf(&k, "%s%s", prefix, key) < 0)
        return -ENOMEM;
    return json_object_set_new(obj, k, json_string(value));
}

static int set_all(json_t *obj, const char *prefix, const json_t *labels)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)labels, k, v)
        if (json_is_string(v) && set_str(obj, prefix, k, json_string_value(v)) < 0)
            return -ENOMEM;
    return 0;
}

/* The labels selectors see, in the dataplane's precedence (later wins): profiles'
 * labelsToApply, the namespace's under pcns., the endpoint's own, Calico's own. */
static json_t *effective_labels(const struct tby_explain *x, const struct tby_resource *res)
{
    bool wep = res->info->kind == TBY_KIND_WORKLOADENDPOINT;
    const struct tby_wep *w = wep ? res->spec.wep : NULL;
    const char *ns = res->info->namespaced ? res->meta.namespace : NULL;
    const struct tby_resource *nsres = ns ? other(x, TBY_KIND_NAMESPACE, ns) : NULL;
    _cleanup_free_ char *kns = NULL;
    char *one[1];
    /* a NetworkSet has its namespace's profile, as Calico gives it */
    struct tby_strv netset_profiles = { .items = one, .n = 0 };
    const struct tby_strv *profiles = w ? &w->profiles : &netset_profiles;
    _cleanup_json_ json_t *l = json_object();
    int r = l ? 0 : -ENOMEM;

    if (!w && ns) {
        if (asprintf(&kns, "kns.%s", ns) < 0)
            return NULL;
        one[0] = kns;
        netset_profiles.n = 1;
    }
    for (size_t i = 0; r == 0 && i < profiles->n; i++) {
        const struct tby_resource *pr = other(x, TBY_KIND_PROFILE, profiles->items[i]);

        if (pr && pr->spec.profile->labels_to_apply)
            r = set_all(l, "", pr->spec.profile->labels_to_apply);
    }
    if (r == 0 && ns)
        r = set_str(l, "pcns.", "kubernetes.io/metadata.name", ns);
    if (r == 0 && ns)
        r = set_str(l, "pcns.", "projectcalico.org/name", ns);
    if (r == 0 && nsres)
        r = set_all(l, "pcns.", nsres->meta.labels);
    if (r == 0)
        r = set_all(l, "", res->meta.labels);
    if (r == 0)
        r = set_str(l, "", "projectcalico.org/namespace", ns);
    if (r == 0 && w)
        r = set_str(l, "", "projectcalico.org/orchestrator", w->orchestrator);
    if (r == 0 && w)
        r = set_str(l, "", "projectcalico.org/serviceaccount", w->service_account_name);
    return r == 0 ? TBY_STEAL(l) : NULL;
}

static void sets_clear(struct tby_explain *x)
{
    for (size_t i = 0; i < x->n_sets; i++) {
        free(x->sets[i].name);
        json_decref(x->sets[i].labels);
    }
    x->n_sets = 0;
}

/* The network sets, which rule selectors match as they match endpoints (by their nets). */
static int build_sets(struct tby_explain *x)
{
    sets_clear(x);
    for (size_t i = 0; i < x->others.n; i++) {
        const struct tby_resource *r = x->others.items[i];
        struct xset *s;
        int rc;

        if (r->info->kind != TBY_KIND_NETWORKSET && r->info->kind != TBY_KIND_GLOBALNETWORKSET)
            continue;
        if (TBY_GROW(x->sets, x->cap_sets, x->n_sets + 1) < 0)
            return -ENOMEM;
        s = &x->sets[x->n_sets];
        *s = (struct xset){ .res = r };
        rc = r->info->namespaced
                 ? asprintf(&s->name, "NetworkSet %s/%s", r->meta.namespace, r->meta.name)
                 : asprintf(&s->name, "GlobalNetworkSet %s", r->meta.name);
        if (rc < 0) {
            s->name = NULL;
            return -ENOMEM;
        }
        x->n_sets++;
        if (!(s->labels = effective_labels(x, r)))
            return -ENOMEM;
    }
    return 0;
}

static int prepare(struct tby_explain *x)
{
    if (!x->dirty)
        return 0;
    if (plan_policies(x) < 0 || build_sets(x) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < x->n_eps; i++) {
        json_decref(x->eps[i].labels);
        if (!(x->eps[i].labels = effective_labels(x, x->eps[i].res)))
            return -ENOMEM;
    }
    x->dirty = false;
    return 0;
}

/* ---- reading the command line ------------------------------------------------------------ */

static bool ep_holds(const struct xep *e, const struct tby_ip *a)
{
    const struct tby_cidr_list *l = &e->res->spec.wep->ip_networks;

    for (size_t i = 0; i < l->n; i++)
        if (tby_cidr_contains(&l->items[i], a) && l->items[i].prefix_len == tby_ip_bits(a))
            return true;
    return false;
}

/* A HostEndpoint by name: its first expected address (tabby does not police host
 * endpoints yet, so only the address counts). */
static int host_endpoint(const struct tby_explain *x, const char *name,
                         struct tby_explain_peer *out, struct tby_error *err)
{
    const struct tby_resource *r = other(x, TBY_KIND_HOSTENDPOINT, name);

    if (!r)
        return tby_error_set(err, -EINVAL, "\"%s\": no such endpoint (expected NAMESPACE/POD, "
                             "a WorkloadEndpoint's name, a HostEndpoint's or an IP address)",
                             name);
    if (!r->spec.hep->n_expected_ips)
        return tby_error_set(err, -EINVAL, "\"%s\": the HostEndpoint has no expectedIPs to "
                             "take as its address", name);
    out->has_addr = true;
    out->addr = r->spec.hep->expected_ips[0];
    out->host_endpoint = name;
    return 0;
}

/* "PEER@ADDR": the workload endpoint PEER sending from ADDR, which need not be its own (the
 * anti-spoofing check then decides, see tby_explain_flow). */
static int peer_with_source(const struct tby_explain *x, const char *text, const char *at,
                            struct tby_explain_peer *out, struct tby_error *err)
{
    char name[256];
    int r;

    if ((size_t)(at - text) >= sizeof(name))
        return tby_error_set(err, -EINVAL, "\"%s\": name too long", text);
    snprintf(name, sizeof(name), "%.*s", (int)(at - text), text);
    if ((r = tby_explain_peer_parse(x, name, out, err)) < 0)
        return r;
    if (out->endpoint < 0)
        return tby_error_set(err, -EINVAL, "\"%s\": a source address (@ADDR) is for a workload "
                             "endpoint sending", text);
    if (tby_ip_parse(at + 1, &out->addr, NULL) < 0)
        return tby_error_set(err, -EINVAL, "\"%s\": \"%s\" is not an IP address", text, at + 1);
    out->has_addr = true;
    return 0;
}

int tby_explain_peer_parse(const struct tby_explain *x, const char *text,
                           struct tby_explain_peer *out, struct tby_error *err)
{
    const char *slash = strchr(text, '/');
    const char *at = strchr(text, '@');
    int found = -1;

    *out = (struct tby_explain_peer){ .endpoint = -1 };
    if (at)
        return peer_with_source(x, text, at, out, err);
    if (tby_ip_parse(text, &out->addr, NULL) == 0) {
        out->has_addr = true;
        for (size_t i = 0; i < x->n_eps; i++)
            if (ep_holds(&x->eps[i], &out->addr)) {
                out->endpoint = (int)i;
                break;
            }
        return 0;
    }
    for (size_t i = 0; i < x->n_eps; i++) {
        const struct tby_resource *r = x->eps[i].res;
        size_t nslen = slash ? (size_t)(slash - text) : 0;
        bool hit;

        if (slash)
            hit = strlen(r->meta.namespace) == nslen &&
                  strncmp(r->meta.namespace, text, nslen) == 0 &&
                  ((r->spec.wep->pod && strcmp(r->spec.wep->pod, slash + 1) == 0) ||
                   strcmp(r->meta.name, slash + 1) == 0);
        else
            hit = strcmp(r->meta.name, text) == 0;
        if (!hit)
            continue;
        if (found >= 0)
            return tby_error_set(err, -EINVAL, "\"%s\": names more than one endpoint (%s and "
                                 "%s): give NAMESPACE/POD", text, x->eps[found].name,
                                 x->eps[i].name);
        found = (int)i;
    }
    if (found < 0 && !slash)
        return host_endpoint(x, text, out, err);
    if (found < 0)
        return tby_error_set(err, -EINVAL, "\"%s\": no such endpoint (expected NAMESPACE/POD, "
                             "a WorkloadEndpoint's name, a HostEndpoint's or an IP address)",
                             text);
    out->endpoint = found;
    return 0;
}

int tby_explain_port_parse(const char *text, struct tby_explain_packet *pkt,
                           struct tby_error *err)
{
    const char *slash = strchr(text, '/');
    const char *proto = slash ? slash + 1 : text;
    int64_t number;
    bool icmp;
    char *end;
    long port;

    if (!tby_protocol_from_string(proto, &number) || number < 1 || number > 255)
        return tby_error_set(err, -EINVAL, "\"%s\": unknown protocol \"%s\" (expected TCP, "
                             "UDP, SCTP, ICMP or ICMPv6, as PORT/PROTO)", text, proto);
    pkt->protocol = (int)number;
    icmp = pkt->protocol == TBY_PROTO_ICMP || pkt->protocol == TBY_PROTO_ICMPV6;
    pkt->has_port = slash || icmp;
    pkt->port = pkt->protocol == TBY_PROTO_ICMP ? 8 : 128; /* echo request */
    if (!slash)
        return 0;
    errno = 0;
    port = strtol(text, &end, 10);
    if (end != slash || end == text || errno || port < 0 || port > (icmp ? 255 : 65535))
        return tby_error_set(err, -EINVAL, "\"%s\": the %s before \"/\" must be a number "
                             "from 0 to %d", text, icmp ? "ICMP type" : "port",
                             icmp ? 255 : 65535);
    pkt->port = (uint16_t)port;
    return 0;
}

/* ---- evaluation -------------------------------------------------------------------------- */

static double order_key(bool has, double order)
{
    return has ? order : INFINITY;
}

static int pol_cmp(const void *pa, const void *pb)
{
    const struct xpol *a = *(const struct xpol *const *)pa, *b = *(const struct xpol *const *)pb;
    double ta = a->tier_order, tb = b->tier_order;
    double oa = order_key(a->has_order, a->order), ob = order_key(b->has_order, b->order);
    int c;

    if (ta != tb)
        return ta < tb ? -1 : 1;
    if ((c = strcmp(a->tier, b->tier)))
        return c;
    if (oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(a->display, b->display);
}

static const char *action_name(enum tby_action a)
{
    switch (a) {
    case TBY_ACTION_ALLOW:
        return "Allow";
    case TBY_ACTION_DENY:
        return "Deny";
    case TBY_ACTION_PASS:
        return "Pass";
    case TBY_ACTION_LOG:
        return "Log";
    }
    return "?";
}

static const char *kind_name(const struct tby_resource *res)
{
    return res->info->kind == TBY_KIND_K8S_NETWORKPOLICY ? "NetworkPolicy (networking.k8s.io)"
                                                        : res->info->name;
}

enum { UNDECIDED = -1 };

/* The rules of p for direction d until the first that decides: its action, or UNDECIDED. */
static int run_policy(const struct tby_explain *x, const struct xpol *p, int d,
                      const struct xpkt *pkt, json_t *rules)
{
    json_int_t part = 0;

    for (size_t i = 0; i < p->n[d]; i++) {
        const struct crule *r = &p->rules[d][i];
        _cleanup_free_ char *why = NULL;
        bool match;

        json_t *rj;

        if (xrule_match(x, r, pkt, &match, &why) < 0 ||
            !(rj = json_pack("{s:I,s:b,s:s,s:s}", "index", (json_int_t)p->origin[d][i],
                             "match", match, "because", why, "action",
                             action_name(r->action))) ||
            json_array_append_new(rules, rj) < 0)
            return -ENOMEM;
        /* A Kubernetes rule is one Calico rule per peer and protocol: say which part. */
        if (((i > 0 && p->origin[d][i - 1] == p->origin[d][i]) ||
             (i + 1 < p->n[d] && p->origin[d][i + 1] == p->origin[d][i])) &&
            json_object_set_new(rj, "part", json_integer((json_int_t)++part)) < 0)
            return -ENOMEM;
        if (i + 1 < p->n[d] && p->origin[d][i + 1] != p->origin[d][i])
            part = 0;
        if (match && r->action != TBY_ACTION_LOG)
            return (int)r->action;
    }
    return UNDECIDED;
}

static json_t *order_json(bool has, double order)
{
    if (!has)
        return json_null();
    return order == (double)(json_int_t)order ? json_integer((json_int_t)order) : json_real(order);
}

/* One tier: the policies pols[0..n) (all of it, in order); its result. */
static int run_tier(const struct tby_explain *x, const struct xpol *const *pols, size_t n, int d,
                    const struct xpkt *pkt, json_t *tier)
{
    json_t *list = json_array();
    int result = UNDECIDED;

    if (!list || json_object_set_new(tier, "policies", list) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n && result == UNDECIDED; i++) {
        json_t *rules = json_array();
        json_t *pj = json_pack("{s:s,s:s,s:o,s:o}", "policy", pols[i]->display, "kind",
                               kind_name(pols[i]->res), "order",
                               order_json(pols[i]->has_order, pols[i]->order), "rules", rules);

        if (!pj || json_array_append_new(list, pj) < 0 ||
            (pols[i]->note && json_object_set_new(pj, "notEnforcedAsWritten",
                                                  json_string(pols[i]->note)) < 0))
            return -ENOMEM;
        result = run_policy(x, pols[i], d, pkt, rules);
        if (result < UNDECIDED)
            return result;
        if (json_object_set_new(pj, "action", json_string(result == UNDECIDED
                                                              ? "no rule matched"
                                                              : action_name(result))) < 0)
            return -ENOMEM;
    }
    if (result == UNDECIDED) {
        result = (int)tier_default_action(x, pols[0]->tier);
        if (json_object_set_new(tier, "defaultAction", json_string(action_name(result))) < 0)
            return -ENOMEM;
    }
    return json_object_set_new(tier, "result", json_string(action_name(result))) < 0 ? -ENOMEM
                                                                                   : result;
}

/* The rules of a stored profile for direction d until one decides (Pass: the next
 * profile): its action, or UNDECIDED. */
static int run_profile(const struct tby_explain *x, const struct tby_rule_list *l,
                       const struct xpkt *pkt)
{
    for (size_t i = 0; i < l->n; i++) {
        struct tby_error err = { 0 };
        _cleanup_free_ char *why = NULL;
        struct crule r;
        bool match = false;
        int rc = calc_calico_rule(&l->items[i], NULL, &r, &err);

        if (rc == 0)
            rc = xrule_match(x, &r, pkt, &match, &why);
        crule_clear(&r);
        if (rc == -ENOMEM)
            return rc;
        if (rc == 0 && match && l->items[i].action != TBY_ACTION_LOG)
            return l->items[i].action == TBY_ACTION_PASS ? UNDECIDED : (int)l->items[i].action;
    }
    return UNDECIDED;
}

/* What the endpoint's profiles decide, as the dataplane does (docs/DISPATCH.md): in its
 * order, a stored profile's rules, an unstored kns.* allows; none allowing: Deny, unless
 * none of them is stored (then Allow, as tabby always had it). */
static int run_profiles(const struct tby_explain *x, const struct tby_strv *names, int d,
                        const struct xpkt *pkt)
{
    bool stored = false;

    for (size_t i = 0; i < names->n; i++) {
        const struct tby_resource *pr = other(x, TBY_KIND_PROFILE, names->items[i]);
        int r;

        if (!pr) {
            if (strncmp(names->items[i], "kns.", 4) == 0)
                return TBY_ACTION_ALLOW;
            continue;
        }
        stored = true;
        r = run_profile(x, d == DIR_IN ? &pr->spec.profile->ingress
                                       : &pr->spec.profile->egress, pkt);
        if (r != UNDECIDED)
            return r;
    }
    return stored ? TBY_ACTION_DENY : TBY_ACTION_ALLOW;
}

/* One direction of one endpoint: 0 with *allowed, or -ENOMEM. */
static int run_direction(const struct tby_explain *x, const struct xep *e, int d,
                         const struct xpkt *pkt, json_t *step, bool *allowed)
{
    _cleanup_free_ const struct xpol **pols = calloc(x->n_pols + 1, sizeof(*pols));
    struct tby_labels view = tby_labels_from_json(e->labels);
    json_t *tiers = json_array();
    int result = UNDECIDED;
    size_t n = 0;

    if (!pols || !tiers || json_object_set_new(step, "tiers", tiers) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < x->n_pols; i++) {
        const struct xpol *p = &x->pols[i];

        if (p->applies && (p->types & calc_dir_type(d)) && tby_sel_match(p->applies, &view))
            pols[n++] = p;
    }
    qsort(pols, n, sizeof(*pols), pol_cmp);
    for (size_t i = 0, j; i < n && (result == UNDECIDED || result == TBY_ACTION_PASS); i = j) {
        json_t *tier = json_pack("{s:s,s:o}", "tier", pols[i]->tier, "order",
                                 order_json(isfinite(pols[i]->tier_order),
                                            pols[i]->tier_order));

        for (j = i + 1; j < n && strcmp(pols[j]->tier, pols[i]->tier) == 0; j++)
            ;
        if (!tier || json_array_append_new(tiers, tier) < 0)
            return -ENOMEM;
        result = run_tier(x, pols + i, j - i, d, pkt, tier);
        if (result < UNDECIDED)
            return result;
    }
    if (result == UNDECIDED || result == TBY_ACTION_PASS) {
        json_t *names = json_array();
        const struct tby_strv *pr = &e->res->spec.wep->profiles;

        for (size_t i = 0; names && i < pr->n; i++)
            json_array_append_new(names, json_string(pr->items[i]));
        result = run_profiles(x, pr, d, pkt);
        if (result < UNDECIDED)
            return result;
        if (!names || json_object_set_new(step, "profiles", json_pack("{s:o,s:s}", "names",
                                                                       names, "action",
                                                                       action_name(result))) < 0)
            return -ENOMEM;
    }
    *allowed = result == TBY_ACTION_ALLOW;
    return json_object_set_new(step, "verdict", json_string(*allowed ? "allow" : "deny")) < 0
               ? -ENOMEM
               : 0;
}

/* The address a side uses: its own, or its endpoint's first of the family. */
static bool side_addr(const struct tby_explain *x, const struct tby_explain_peer *s, int family,
                      struct tby_ip *out)
{
    const struct tby_cidr_list *l;

    if (s->has_addr) {
        *out = s->addr;
        return !family || s->addr.family == family;
    }
    l = &x->eps[s->endpoint].res->spec.wep->ip_networks;
    for (size_t i = 0; i < l->n; i++)
        if ((!family || l->items[i].ip.family == family) &&
            l->items[i].prefix_len == tby_ip_bits(&l->items[i].ip)) {
            *out = l->items[i].ip;
            return true;
        }
    return false;
}

static int addresses(const struct tby_explain *x, const struct tby_explain_packet *p,
                     struct xpkt *k, struct tby_error *err)
{
    static const int families[] = { 4, 6 };

    for (size_t i = 0; i < 2; i++) {
        int f = p->from.has_addr ? p->from.addr.family
              : p->to.has_addr   ? p->to.addr.family
                                 : families[i];

        if (side_addr(x, &p->from, f, &k->src) && side_addr(x, &p->to, f, &k->dst))
            return 0;
    }
    return tby_error_set(err, -EINVAL, "the two sides have no address family in common");
}

static json_t *peer_json(const struct tby_explain *x, const struct tby_explain_peer *s,
                         const struct tby_ip *a)
{
    char buf[TBY_IP_STRLEN];
    json_t *o = json_pack("{s:s}", "address", tby_ip_format(a, buf));

    if (o && s->host_endpoint)
        json_object_set_new(o, "hostEndpoint", json_string(s->host_endpoint));
    if (o && s->endpoint >= 0) {
        const struct tby_resource *r = x->eps[s->endpoint].res;

        json_object_set_new(o, "endpoint", json_string(x->eps[s->endpoint].name));
        json_object_set_new(o, "workloadEndpoint", json_string(r->meta.name));
        if (r->spec.wep->node)
            json_object_set_new(o, "node", json_string(r->spec.wep->node));
    }
    return o;
}

/* Whether a is an address of the node e runs on: tabby lets a node's traffic to its own
 * pods pass without their ingress policy. */
static bool from_own_node(const struct tby_explain *x, const struct tby_ip *a,
                          const struct xep *e)
{
    return explain_node_has(x, e->res->spec.wep->node, a);
}

static const char *const ep_to_host_name[] = { "Drop", "Return", "Accept" };

/* Whether workload e may send from a (calc_spoof.h): an address of its ipNetworks, one inside
 * its allowSpoofedSourcePrefixes, or an IPv6 link-local or unspecified one. */
static bool own_source(const struct tby_explain *x, const struct xep *e,
                       const struct tby_ip *a)
{
    static const struct tby_cidr any[] = {
        { .ip = { .family = 6, .bytes = { 0xfe, 0x80 } }, .prefix_len = 10 },
        { .ip = { .family = 6 }, .prefix_len = 128 },
    };
    const struct tby_cidr_list *l[2] = { &e->res->spec.wep->ip_networks,
                                         &e->res->spec.wep->allow_spoofed_source_prefixes };

    for (size_t i = 0; i < 2; i++)
        if (tby_cidr_contains(&any[i], a))
            return true;
    for (size_t i = 0; i < (explain_spoofing_any(x, e->res->spec.wep->node) ? 2u : 1u); i++)
        for (size_t j = 0; j < l[i]->n; j++)
            if (tby_cidr_contains(&l[i]->items[j], a))
                return true;
    return false;
}

/* A side that is a workload endpoint with allowSpoofedSourcePrefixes while its node's
 * workloadSourceSpoofing is not Any: Calico treats it as missing, tabby-node drops all its
 * traffic (calc_spoof.h). Its index, or -1. */
static int held_side(const struct tby_explain *x, const struct tby_explain_packet *p)
{
    const int sides[2] = { p->from.endpoint, p->to.endpoint };

    for (int i = 0; i < 2; i++) {
        const struct tby_wep *w = sides[i] >= 0 ? x->eps[sides[i]].res->spec.wep : NULL;

        if (w && w->allow_spoofed_source_prefixes.n && !explain_spoofing_any(x, w->node))
            return sides[i];
    }
    return -1;
}

static int held(const struct tby_explain *x, int e, json_t *t, bool *allowed)
{
    char note[256];

    snprintf(note, sizeof(note), "%s has allowSpoofedSourcePrefixes but its node's "
             "workloadSourceSpoofing is not Any (FelixConfiguration): the endpoint is treated "
             "as missing, its traffic dropped", x->eps[e].name);
    *allowed = false;
    return json_object_set_new(t, "note", json_string(note));
}

static int spoofed(const struct tby_explain *x, const struct tby_explain_packet *p,
                   const struct tby_ip *src, json_t *t, bool *allowed)
{
    char note[256], buf[TBY_IP_STRLEN];

    snprintf(note, sizeof(note), "anti-spoofing: %s is not an address of %s (ipNetworks) nor "
             "inside its allowSpoofedSourcePrefixes: dropped before policy",
             tby_ip_format(src, buf), x->eps[p->from.endpoint].name);
    *allowed = false;
    return json_object_set_new(t, "note", json_string(note));
}

/* A node forwarding the packet (a workload side's) whose host endpoints applyOnForward
 * policies may police, when some policy says applyOnForward; else NULL. */
static const char *forwarding_node(const struct tby_explain *x,
                                   const struct tby_explain_packet *p)
{
    const struct tby_explain_peer *sides[2] = { &p->from, &p->to };
    bool forward = false;

    for (size_t i = 0; i < x->policies.n && !forward; i++) {
        const struct tby_resource *r = x->policies.items[i];

        forward = r->info->kind == TBY_KIND_GLOBALNETWORKPOLICY &&
                  r->spec.policy->apply_on_forward;
    }
    for (int i = 0; forward && i < 2; i++) {
        const char *node = sides[i]->endpoint >= 0
                               ? x->eps[sides[i]->endpoint].res->spec.wep->node
                               : NULL;

        if (explain_host_policed(x, node))
            return node;
    }
    return NULL;
}

/* The node's side of a flow the workloads' policies allowed: a pod's packet to its own
 * node meets defaultEndpointToHostAction; a node with a policed host endpoint, its policy,
 * which is not evaluated here: the verdict is then "unknown" (*allowed false). */
static int host_side(const struct tby_explain *x, const struct tby_explain_packet *p,
                     const struct xpkt *k, json_t *t, bool *allowed, bool *unknown)
{
    const char *from_node = p->from.endpoint >= 0 ? x->eps[p->from.endpoint].res->spec.wep->node
                                                  : explain_host_of(x, &k->src);
    const char *to_node = p->to.endpoint >= 0 ? NULL : explain_host_of(x, &k->dst);
    char note[512];

    if (json_object_get(t, "note")) /* within one pod, or a node to its own pods */
        return 0;
    if (p->from.endpoint >= 0 && to_node && from_node && strcmp(to_node, from_node) == 0) {
        enum tby_felix_to_host a = explain_endpoint_to_host(x, to_node);

        snprintf(note, sizeof(note), "to the endpoint's own node %s: defaultEndpointToHostAction "
                 "%s (FelixConfiguration; a FELIX_DEFAULTENDPOINTTOHOSTACTION of the node "
                 "would win)", to_node, ep_to_host_name[a]);
        *allowed = a != TBY_FELIX_TO_HOST_DROP;
        return json_object_set_new(t, "note", json_string(note));
    }
    if (p->from.endpoint >= 0 || !explain_host_policed(x, from_node))
        from_node = NULL; /* a pod's packets leave through no host endpoint */
    if (!explain_host_policed(x, to_node))
        to_node = NULL;
    if (!from_node && !to_node)
        from_node = forwarding_node(x, p);
    if (!from_node && !to_node)
        return 0;
    snprintf(note, sizeof(note), "host endpoint policy of node %s is not evaluated by explain "
             "(a HostEndpoint of that node may police the interface the packet crosses%s)",
             to_node ? to_node : from_node,
             to_node || p->from.endpoint < 0 ? "" : ", with its applyOnForward policies");
    *allowed = false;
    *unknown = true;
    return json_object_set_new(t, "note", json_string(note));
}

int tby_explain_flow(struct tby_explain *x, const struct tby_explain_packet *p, bool *allowed,
                     json_t **trace, struct tby_error *err)
{
    const struct tby_explain_peer *side[2] = { &p->to, &p->from }; /* by DIR_IN, DIR_OUT */
    _cleanup_json_ json_t *t = NULL;
    struct xpkt k = { .protocol = p->protocol, .has_port = p->has_port, .port = p->port,
                      .has_src_port = p->has_src_port, .src_port = p->src_port };
    json_t *steps;
    bool unknown = false;
    char pb[16];
    int r;

    *trace = NULL;
    *allowed = false;
    if ((r = prepare(x)) < 0 || (r = addresses(x, p, &k, err)) < 0)
        return r == -ENOMEM ? tby_error_set(err, r, "out of memory") : r;
    snprintf(pb, sizeof(pb), "%d", p->protocol);
    t = json_pack("{s:o,s:o,s:s,s:o,s:[]}", "from", peer_json(x, &p->from, &k.src), "to",
                  peer_json(x, &p->to, &k.dst), "protocol",
                  tby_protocol_name(p->protocol) ? tby_protocol_name(p->protocol) : pb, "port",
                  p->has_port ? json_integer(p->port) : json_null(), "steps");
    if (!t)
        return tby_error_set(err, -ENOMEM, "out of memory");
    steps = json_object_get(t, "steps");
    *allowed = true;
    if (p->from.endpoint >= 0 && p->from.endpoint == p->to.endpoint) {
        json_object_set_new(t, "note", json_string("the packet never leaves the endpoint"));
    } else if (held_side(x, p) >= 0) {
        if (held(x, held_side(x, p), t, allowed) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    } else if (p->from.endpoint >= 0 && !own_source(x, &x->eps[p->from.endpoint], &k.src)) {
        if (spoofed(x, p, &k.src, t, allowed) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    } else if (p->from.endpoint < 0 && p->to.endpoint >= 0 &&
               from_own_node(x, &k.src, &x->eps[p->to.endpoint])) {
        json_object_set_new(t, "note", json_string("from the endpoint's own node: a node's "
                                                   "traffic to its own pods always passes"));
    } else {
        for (int d = DIR_OUT; d >= DIR_IN && *allowed; d--) {
            json_t *step;

            if (side[d]->endpoint < 0)
                continue;
            step = json_pack("{s:s,s:s}", "direction", d == DIR_IN ? "ingress" : "egress",
                             "endpoint", x->eps[side[d]->endpoint].name);
            if (!step || json_array_append_new(steps, step) < 0 ||
                run_direction(x, &x->eps[side[d]->endpoint], d, &k, step, allowed) < 0)
                return tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    if (*allowed && host_side(x, p, &k, t, allowed, &unknown) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (json_object_set_new(t, "verdict", json_string(unknown    ? "unknown"
                                                      : *allowed ? "allow"
                                                                 : "deny")) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    *trace = TBY_STEAL(t);
    return 0;
}
