/* calc_policy.c — the policy layer (calc_policy.h): Calico NetworkPolicy,
 * GlobalNetworkPolicy and Kubernetes NetworkPolicy become one chain per direction, shared
 * by every endpoint they apply to; which endpoints those are (their applies-to selector)
 * and their order go to the layer above through the hooks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "calc_policy_internal.h"

/* ---- identity --------------------------------------------------------------------------- */

static char *policy_id(const struct tby_resource *res)
{
    char *s = NULL;
    int r;

    switch (res->info->kind) {
    case TBY_KIND_GLOBALNETWORKPOLICY:
        r = asprintf(&s, "gnp/%s", res->meta.name);
        break;
    case TBY_KIND_PROFILE:
        r = asprintf(&s, "pr/%s", res->meta.name);
        break;
    case TBY_KIND_K8S_NETWORKPOLICY:
        r = asprintf(&s, "knp/%s/%s", res->meta.namespace, res->meta.name);
        break;
    default:
        r = asprintf(&s, "np/%s/%s", res->meta.namespace, res->meta.name);
        break;
    }
    return r < 0 ? NULL : s;
}

char *calc_policy_display(const struct tby_resource *res)
{
    char *s = NULL;
    int r;

    switch (res->info->kind) {
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_PROFILE:
        r = asprintf(&s, "%s", res->meta.name);
        break;
    case TBY_KIND_K8S_NETWORKPOLICY:
        r = asprintf(&s, "%s/knp.default.%s", res->meta.namespace, res->meta.name);
        break;
    default:
        r = asprintf(&s, "%s/%s", res->meta.namespace, res->meta.name);
        break;
    }
    return r < 0 ? NULL : s;
}

static const char *pol_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct pol, node)->id;
}

static struct pol *pol_find(const struct calc_policies *pl, const char *id)
{
    struct tby_hnode *n = tby_hmap_find_str(&pl->pols, id, pol_find_key);

    return n ? TBY_CONTAINER_OF(n, struct pol, node) : NULL;
}

/* "pi-<id>" / "po-<id>" when that is a plain nft name, else hashed. */
char *calc_policy_chain_name(const char *id, int d)
{
    const char *prefix = d == DIR_IN ? "pi" : "po";
    char *s = NULL, buf[TBY_RS_HASHED_NAME_SIZE];
    bool plain = strlen(id) + 3 <= TBY_RS_NAME_MAX;

    for (const char *p = id; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("._/-", *p);
    if (plain)
        return asprintf(&s, "%s-%s", prefix, id) < 0 ? NULL : s;
    return strdup(tby_rs_hashed_name(buf, prefix, id));
}

/* ---- applies-to selectors --------------------------------------------------------------- */

static int parse_or_all(const char *text, struct tby_sel **out, struct tby_error *err)
{
    return tby_sel_parse(text ? text : "all()", out, err);
}

/* A selector over service accounts' labels as one over endpoints: keys prefixed pcsa.,
 * the labels their ksa.<namespace>.<account> profiles apply. */
static int sel_service_accounts(const char *text, struct tby_sel **out, struct tby_error *err)
{
    struct tby_sel *labels = NULL;
    int r = tby_sel_parse(text, &labels, err);

    if (r == 0)
        r = tby_sel_prefix_keys(labels, "pcsa.", out, err);
    tby_sel_free(labels);
    return r;
}

/* spec.selector, scoped as Calico scopes it (a NetworkPolicy's namespace, a
 * GlobalNetworkPolicy's namespaceSelector), and spec.serviceAccountSelector ANDed in. */
int calc_calico_applies(const struct tby_resource *res, struct tby_sel **out,
                        struct tby_error *err)
{
    const struct tby_policy *p = res->spec.policy;
    struct tby_sel *sel = NULL, *more = NULL, *accounts = NULL;
    int r = parse_or_all(p->selector, &sel, err);

    if (r == 0 && p->service_account_selector) {
        r = sel_service_accounts(p->service_account_selector, &accounts, err);
        if (r == 0)
            r = sel_and_take(sel, accounts, &sel, err);
    }

    if (r == 0 && res->info->kind == TBY_KIND_NETWORKPOLICY)
        r = sel_namespace(res->meta.namespace, &more, err);
    else if (r == 0 && p->namespace_selector) {
        struct centity e = { 0 };
        struct tby_sel *nss = NULL;

        /* the same reading as a rule's namespaceSelector */
        r = tby_sel_parse(p->namespace_selector, &nss, err);
        if (r == 0)
            r = centity_scope(&e, NULL, nss, NULL, err);
        more = e.sel;
    }
    if (r == 0 && more) {
        r = sel_and_take(more, sel, out, err);
        sel = NULL;
    } else if (r == 0) {
        *out = TBY_STEAL(sel);
    }
    tby_sel_free(sel);
    return r;
}

/* ---- rules ------------------------------------------------------------------------------ */

/* serviceAccounts: names become projectcalico.org/serviceaccount in {…}, the selector
 * reads the accounts' labels (pcsa.), both ANDed with the entity's selector. */
static int service_accounts(const struct tby_service_accounts *sa, struct tby_sel **sel,
                            struct tby_error *err)
{
    _cleanup_buf_ struct tby_buf text = { 0 };
    struct tby_sel *names = NULL, *prefixed = NULL;
    int r = 0;

    if (sa->names.n) {
        tby_buf_adds(&text, "projectcalico.org/serviceaccount in {");
        for (size_t i = 0; i < sa->names.n; i++)
            tby_buf_printf(&text, "%s'%s'", i ? ", " : "", sa->names.items[i]);
        if (tby_buf_addc(&text, '}') < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        r = tby_sel_parse(text.data, &names, err);
        if (r == 0)
            r = sel_and_take(*sel, names, sel, err);
    }
    if (r == 0 && sa->selector) {
        r = sel_service_accounts(sa->selector, &prefixed, err);
        if (r == 0)
            r = sel_and_take(*sel, prefixed, sel, err);
    }
    return r;
}

/* The Service a rule names, "<ns>/<name>": without a namespace, the policy's own (Calico's
 * documented default; global policies and profiles must name one). */
static int service_key(const struct tby_service_match *m, const char *ns, char **out,
                       struct tby_error *err)
{
    const char *where = m->namespace ? m->namespace : ns;

    if (!where)
        return tby_error_set(err, -EINVAL, "services.namespace: is required here");
    if (asprintf(out, "%s/%s", where, m->name) < 0) {
        *out = NULL;
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int calico_entity(const struct tby_entity_rule *src, const char *ns, struct centity *e,
                         struct tby_error *err)
{
    struct tby_sel *sel = NULL, *nss = NULL;
    int r = centity_copy_lists(e, src) < 0 ? tby_error_set(err, -ENOMEM, "out of memory") : 0;

    if (r == 0 && src->not_selector)
        r = tby_sel_parse(src->not_selector, &e->not_sel, err);
    if (r == 0 && (src->selector || src->service_accounts))
        r = parse_or_all(src->selector, &sel, err);
    if (r == 0 && src->service_accounts)
        r = service_accounts(src->service_accounts, &sel, err);
    if (r == 0 && src->namespace_selector)
        r = tby_sel_parse(src->namespace_selector, &nss, err);
    if (r == 0 && src->services)
        r = service_key(src->services, ns, &e->svc, err);
    if (r < 0) {
        tby_sel_free(sel);
        tby_sel_free(nss);
        return r;
    }
    return centity_scope(e, sel, nss, ns, err);
}

int calc_calico_rule(const struct tby_rule *src, const char *ns, struct crule *r,
                     struct tby_error *err)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->action = src->action;
    r->protocol = src->protocol;
    r->not_protocol = src->not_protocol;
    r->icmp = src->icmp;
    r->not_icmp = src->not_icmp;
    r->ip_version = src->ip_version;
    rc = calico_entity(&src->source, ns, &r->src, err);
    if (rc == 0)
        rc = calico_entity(&src->destination, ns, &r->dst, err);
    return rc;
}

struct compiled {
    struct tby_rs_rules rules[2];
    struct holds holds;
};

static void compiled_clear(struct calc_policies *pl, struct compiled *k)
{
    for (int d = 0; d < 2; d++)
        tby_rs_rules_clear(&k->rules[d]);
    holds_release(pl, &k->holds);
}

/* One rule; a rule that cannot be compiled is left out and logged (the rest of the
 * policy still applies, so that a policy fails towards denying). */
static int compile_one(struct calc_policies *pl, struct pol *p, int d, struct crule *r,
                       size_t index, struct compiled *k)
{
    char comment[TBY_RS_COMMENT_MAX + 1];

    snprintf(comment, sizeof(comment), "%s %s %zu", p->v.display,
             d == DIR_IN ? "ingress" : "egress", index);
    return calc_compile_rule(pl, r, comment, &k->holds, &k->rules[d]);
}

/* Calico rules (of a policy or a profile), their selectors scoped to ns (NULL: global). */
static int compile_lists(struct calc_policies *pl, struct pol *p,
                         const struct tby_rule_list *ingress, const struct tby_rule_list *egress,
                         const char *ns, struct compiled *k)
{
    for (int d = 0; d < 2; d++) {
        const struct tby_rule_list *l = d == DIR_IN ? ingress : egress;

        for (size_t i = 0; i < l->n; i++) {
            struct tby_error err = { 0 };
            struct crule r;
            int rc = calc_calico_rule(&l->items[i], ns, &r, &err);

            if (rc == 0)
                rc = compile_one(pl, p, d, &r, i, k);
            else if (rc != -ENOMEM)
                tby_log(TBY_LOG_ERROR, "felix", "rule left out policy=%s rule=%zu error=\"%s\"",
                        p->v.display, i, tby_error_str(&err));
            crule_clear(&r);
            if (rc == -ENOMEM)
                return rc;
        }
    }
    return 0;
}

static int compile_calico(struct calc_policies *pl, struct pol *p, const struct tby_resource *res,
                          struct compiled *k)
{
    const struct tby_policy *sp = res->spec.policy;
    const char *ns = res->info->kind == TBY_KIND_NETWORKPOLICY ? res->meta.namespace : NULL;

    return compile_lists(pl, p, &sp->ingress, &sp->egress, ns, k);
}

static int compile_k8s(struct calc_policies *pl, struct pol *p, const struct tby_resource *res,
                       struct compiled *k, struct tby_error *err)
{
    const struct tby_k8s_policy *kp = res->spec.k8s_policy;

    for (int d = 0; d < 2; d++) {
        struct crule *v = NULL;
        size_t *origin = NULL, n = 0;
        int r = d == DIR_IN ? calc_k8s_rules(kp->ingress, kp->n_ingress, true,
                                             res->meta.namespace, &v, &origin, &n, err)
                            : calc_k8s_rules(kp->egress, kp->n_egress, false,
                                             res->meta.namespace, &v, &origin, &n, err);

        for (size_t i = 0; r == 0 && i < n; i++)
            r = compile_one(pl, p, d, &v[i], origin[i], k);
        for (size_t i = 0; i < n; i++)
            crule_clear(&v[i]);
        free(v);
        free(origin);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- applying ---------------------------------------------------------------------------- */

/* p stops applying to its selector (the layer above hears it) and lets go of it. */
static void unapply(struct calc_policies *pl, struct pol *p)
{
    if (!p->applies)
        return;
    pl->hooks.applies(pl->hooks.ctx, &p->v, p->applies, false);
    calc_sel_put(pl->index, p->applies);
    p->applies = NULL;
}

static int program_chains(struct calc_policies *pl, struct pol *p, unsigned types,
                          struct compiled *k)
{
    for (int d = 0; d < 2; d++) {
        struct tby_rs_chain *chain = tby_rs_chain_find(pl->rs, p->v.chain[d]);

        if (!(types & calc_dir_type(d))) {
            if (chain)
                tby_rs_chain_del(pl->rs, chain);
            continue;
        }
        if (!chain && !(chain = tby_rs_chain_add(pl->rs, p->v.chain[d], TBY_RS_HOOK_NONE)))
            return -ENOMEM;
        tby_rs_chain_take_rules(pl->rs, chain, &k->rules[d]);
    }
    return 0;
}

static void pol_release(struct calc_policies *pl, struct pol *p)
{
    for (int d = 0; d < 2; d++) {
        struct tby_rs_chain *chain = tby_rs_chain_find(pl->rs, p->v.chain[d]);

        if (chain)
            tby_rs_chain_del(pl->rs, chain);
        free(p->v.chain[d]);
    }
    free(p->v.tier);
    holds_release(pl, &p->holds);
    free(p->id);
    free(p->v.display);
    free(p);
}

static void pol_drop(struct calc_policies *pl, struct pol *p)
{
    unapply(pl, p);
    tby_hmap_remove(&pl->pols, &p->node);
    pol_release(pl, p);
}

static struct pol *pol_new(struct calc_policies *pl, const struct tby_resource *res)
{
    struct pol *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->id = policy_id(res);
    p->v.display = calc_policy_display(res);
    if (p->id) {
        p->v.chain[DIR_IN] = calc_policy_chain_name(p->id, DIR_IN);
        p->v.chain[DIR_OUT] = calc_policy_chain_name(p->id, DIR_OUT);
    }
    if (!p->id || !p->v.display || !p->v.chain[0] || !p->v.chain[1] ||
        tby_hmap_insert(&pl->pols, &p->node, tby_hash_str(p->id)) < 0) {
        pol_release(pl, p);
        return NULL;
    }
    return p;
}

/* The new selector (taking the hold on it), types, tier and order; the layer above hears
 * that the policy applies elsewhere only when the selector, the types or the tier change,
 * that it moved when the order does. */
static int pol_reapply(struct calc_policies *pl, struct pol *p, struct calc_sel *applies,
                       unsigned types, const char *tier, bool has_order, double order)
{
    bool same_order = p->v.has_order == has_order && (!has_order || p->v.order == order);
    char *new_tier = NULL;

    if (!p->v.tier || strcmp(p->v.tier, tier) != 0) {
        if (!(new_tier = strdup(tier))) {
            calc_sel_put(pl->index, applies);
            return -ENOMEM;
        }
        unapply(pl, p); /* the layer above places it in its tier when it starts applying */
        free(p->v.tier);
        p->v.tier = new_tier;
    }

    if (!same_order) {
        p->v.has_order = has_order;
        p->v.order = order;
        pl->hooks.reordered(pl->hooks.ctx);
    }
    if (p->applies == applies && p->v.types == types) {
        calc_sel_put(pl->index, applies);
        return 0;
    }
    unapply(pl, p);
    p->applies = applies;
    p->v.types = types;
    return pl->hooks.applies(pl->hooks.ctx, &p->v, applies, true);
}

static int applies_of(const struct tby_resource *res, struct tby_sel **sel, unsigned *types,
                      const char **tier, bool *has_order, double *order, struct tby_error *err)
{
    *tier = TBY_TIER_DEFAULT;
    if (res->info->kind == TBY_KIND_K8S_NETWORKPOLICY) {
        *types = res->spec.k8s_policy->types;
        *has_order = true;
        *order = 1000;
        return calc_k8s_selector(res->spec.k8s_policy, res->meta.namespace, sel, err);
    }
    *types = res->spec.policy->types;
    *has_order = res->spec.policy->has_order;
    *order = res->spec.policy->order;
    if (res->spec.policy->tier)
        *tier = res->spec.policy->tier;
    return calc_calico_applies(res, sel, err);
}

static int policy_update(struct calc_policies *pl, const struct tby_resource *res,
                         struct tby_error *err)
{
    _cleanup_free_ char *id = policy_id(res);
    struct compiled k = { 0 };
    struct tby_sel *sel = NULL;
    struct calc_sel *applies;
    const char *tier;
    struct pol *p;
    unsigned types;
    bool has_order;
    double order;
    int r;

    if (!id)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = applies_of(res, &sel, &types, &tier, &has_order, &order, err);
    p = pol_find(pl, id);
    if (r < 0) {
        /* Which endpoints it applies to is unknown: it cannot be enforced at all. */
        if (r != -ENOMEM)
            tby_log(TBY_LOG_ERROR, "felix", "policy not enforced policy=%s error=\"%s\"", id,
                    tby_error_str(err));
        if (p)
            pol_drop(pl, p);
        return r == -ENOMEM ? r : 0;
    }
    if (!p && !(p = pol_new(pl, res))) {
        tby_sel_free(sel);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (!(applies = calc_sel_get(pl->index, sel)))
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = res->info->kind == TBY_KIND_K8S_NETWORKPOLICY ? compile_k8s(pl, p, res, &k, err)
                                                       : compile_calico(pl, p, res, &k);
    /* Chains first, so that no dispatch rule ever jumps to a chain not yet there. */
    if (r == 0)
        r = program_chains(pl, p, types, &k);
    /* preDNAT and doNotTrack change where it runs: it stops applying, then starts again */
    if (r == 0 && res->info->kind != TBY_KIND_K8S_NETWORKPOLICY &&
        (p->v.pre_dnat != res->spec.policy->pre_dnat ||
         p->v.do_not_track != res->spec.policy->do_not_track)) {
        unapply(pl, p);
        p->v.pre_dnat = res->spec.policy->pre_dnat;
        p->v.do_not_track = res->spec.policy->do_not_track;
    }
    if (r == 0)
        r = pol_reapply(pl, p, applies, types, tier, has_order, order);
    else
        calc_sel_put(pl->index, applies);
    if (r == 0 && res->info->kind != TBY_KIND_K8S_NETWORKPOLICY &&
        p->v.apply_on_forward != res->spec.policy->apply_on_forward) {
        p->v.apply_on_forward = res->spec.policy->apply_on_forward;
        pl->hooks.reordered(pl->hooks.ctx); /* where it runs changed, not whom */
    }
    holds_release(pl, &p->holds);
    p->holds = k.holds;
    k.holds = (struct holds){ 0 };
    compiled_clear(pl, &k);
    return r < 0 ? tby_error_set(err, r, "out of memory") : 0;
}

/* A Profile: its rules become a chain per direction (pi-pr/<name>, po-pr/<name>), which
 * the dispatch runs after the tiers for the endpoints listing it (calc_chains.c); it
 * applies through their lists, not a selector. */
static int profile_update(struct calc_policies *pl, const struct tby_resource *res,
                          struct tby_error *err)
{
    _cleanup_free_ char *id = policy_id(res);
    const struct tby_profile *sp = res->spec.profile;
    struct compiled k = { 0 };
    struct pol *p;
    int r;

    if (!id)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (!(p = pol_find(pl, id))) {
        if (!(p = pol_new(pl, res)))
            return tby_error_set(err, -ENOMEM, "out of memory");
        pl->n_profiles++;
    }
    r = compile_lists(pl, p, &sp->ingress, &sp->egress, NULL, &k);
    if (r == 0)
        r = program_chains(pl, p, TBY_POLICY_INGRESS | TBY_POLICY_EGRESS, &k);
    holds_release(pl, &p->holds);
    p->holds = k.holds;
    k.holds = (struct holds){ 0 };
    compiled_clear(pl, &k);
    return r < 0 ? tby_error_set(err, r, "out of memory") : 0;
}

static bool is_policy(const struct tby_resource *res)
{
    switch (res->info->kind) {
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
    case TBY_KIND_PROFILE:
        return true;
    default:
        return false;
    }
}

int calc_policies_update(struct calc_policies *pl, const struct tby_resource *res,
                         struct tby_error *err)
{
    if (res->info->kind == TBY_KIND_PROFILE)
        return profile_update(pl, res, err);
    return is_policy(res) ? policy_update(pl, res, err) : 0;
}

void calc_policies_remove(struct calc_policies *pl, const struct tby_resource *res)
{
    _cleanup_free_ char *id = is_policy(res) ? policy_id(res) : NULL;
    struct pol *p = id ? pol_find(pl, id) : NULL;

    if (p && res->info->kind == TBY_KIND_PROFILE)
        pl->n_profiles--;
    if (p)
        pol_drop(pl, p);
}

size_t calc_policies_count(const struct calc_policies *pl)
{
    return tby_hmap_count(&pl->pols) - pl->n_profiles;
}

int calc_policies_new(struct tby_rs *rs, struct calc_index *index,
                      const struct calc_policy_hooks *hooks, struct calc_policies **out)
{
    struct calc_policies *pl = calloc(1, sizeof(*pl));

    *out = pl;
    if (!pl)
        return -ENOMEM;
    pl->rs = rs;
    pl->index = index;
    pl->hooks = *hooks;
    tby_hmap_init(&pl->pols);
    tby_hmap_init(&pl->fixsets);
    tby_hmap_init(&pl->npsets);
    tby_hmap_init(&pl->psels);
    tby_hmap_init(&pl->slices);
    tby_hmap_init(&pl->svcs);
    return 0;
}

void calc_policies_free(struct calc_policies *pl)
{
    struct tby_hnode *n, *next;

    if (!pl)
        return;
    for (n = tby_hmap_first(&pl->pols); n; n = next) {
        next = tby_hmap_next(&pl->pols, n);
        pol_drop(pl, TBY_CONTAINER_OF(n, struct pol, node));
    }
    tby_hmap_destroy(&pl->pols);
    tby_hmap_destroy(&pl->fixsets);  /* empty: every policy let go */
    tby_hmap_destroy(&pl->npsets);
    tby_hmap_destroy(&pl->psels);
    calc_services_free(pl);
    free(pl);
}

const char *calc_policies_tier_of(const struct calc_policies *pl, const char *display)
{
    for (struct tby_hnode *n = tby_hmap_first(&pl->pols); n; n = tby_hmap_next(&pl->pols, n)) {
        const struct pol *p = TBY_CONTAINER_OF(n, struct pol, node);

        if (p->v.display && strcmp(p->v.display, display) == 0)
            return p->v.tier;
    }
    return NULL;
}
