/* calc_k8s.c — a Kubernetes NetworkPolicy read as the Calico policy Calico converts it to:
 * order 1000, name knp.default.<name>, pod selectors ANDed with
 * projectcalico.org/orchestrator == 'k8s', one Allow rule per (protocol, peer) with the
 * protocol's ports, ipBlock as nets / notNets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "calc_policy_internal.h"

static int sel_k8s_pods(const json_t *pod_selector, struct tby_sel **out, struct tby_error *err)
{
    struct tby_sel *orch = NULL, *pods = NULL;
    int r = tby_sel_parse("projectcalico.org/orchestrator == 'k8s'", &orch, err);

    if (r == 0 && pod_selector)
        r = tby_sel_from_k8s(pod_selector, &pods, err);
    if (r < 0) {
        tby_sel_free(orch);
        return r;
    }
    if (!pods) {
        *out = orch;
        return 0;
    }
    return sel_and_take(orch, pods, out, err);
}

int calc_k8s_selector(const struct tby_k8s_policy *kp, const char *ns, struct tby_sel **out,
                      struct tby_error *err)
{
    struct tby_sel *scope = NULL, *pods = NULL;
    int r = sel_namespace(ns, &scope, err);

    if (r == 0)
        r = sel_k8s_pods(kp->pod_selector, &pods, err);
    if (r < 0) {
        tby_sel_free(scope);
        return r;
    }
    return sel_and_take(scope, pods, out, err);
}

/* ---- ports grouped by protocol ---------------------------------------------------------- */

struct group {
    int protocol;             /* 0: any protocol, every port */
    bool all_ports;
    struct tby_port_list ports;
    size_t cap;               /* of ports.items */
};

/* Calico's order of protocols (by name): SCTP, TCP, UDP. */
static const int proto_order[] = { TBY_PROTO_SCTP, TBY_PROTO_TCP, TBY_PROTO_UDP };

static int group_add(struct group *g, const struct tby_k8s_port *kp)
{
    struct tby_port *v;

    if (!kp->has_port) {
        g->all_ports = true;
        return 0;
    }
    if (TBY_GROW(g->ports.items, g->cap, g->ports.n + 1) < 0)
        return -ENOMEM;
    v = &g->ports.items[g->ports.n];
    *v = (struct tby_port){ .first = kp->port, .last = kp->end_port ? kp->end_port : kp->port };
    if (kp->port_name && !(v->name = strdup(kp->port_name)))
        return -ENOMEM;
    g->ports.n++;
    return 0;
}

static void groups_clear(struct group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < g[i].ports.n; k++)
            free(g[i].ports.items[k].name);
        free(g[i].ports.items);
    }
}

/* Fills g[0..3) (by proto_order) from the rule's ports; *any when the rule has none. */
static int group_ports(const struct tby_k8s_rule *rule, struct group g[3], bool *any)
{
    *any = rule->n_ports == 0;
    for (size_t k = 0; k < 3; k++)
        g[k] = (struct group){ .protocol = proto_order[k] };
    for (size_t i = 0; i < rule->n_ports; i++)
        for (size_t k = 0; k < 3; k++)
            if (rule->ports[i].protocol == g[k].protocol && group_add(&g[k], &rule->ports[i]) < 0)
                return -ENOMEM;
    return 0;
}

/* ---- peers ------------------------------------------------------------------------------ */

static int peer_entity(const struct tby_k8s_peer *peer, const char *ns, struct centity *e,
                       struct tby_error *err)
{
    struct tby_sel *pods = NULL, *nss = NULL;
    int r;

    if (!peer)
        return 0;
    if (peer->ip_block) {
        struct tby_cidr_list one = { .items = (struct tby_cidr *)&peer->ip_block->cidr, .n = 1 };
        struct tby_entity_rule src = { .nets = one, .not_nets = peer->ip_block->except };

        return centity_copy_lists(e, &src) < 0 ? tby_error_set(err, -ENOMEM, "out of memory")
                                               : 0;
    }
    r = sel_k8s_pods(peer->pod_selector, &pods, err);
    if (r == 0 && peer->namespace_selector)
        r = tby_sel_from_k8s(peer->namespace_selector, &nss, err);
    if (r < 0) {
        tby_sel_free(pods);
        return r;
    }
    return centity_scope(e, pods, nss, ns, err);
}

struct out {
    struct crule *v;
    size_t *origin;
    size_t n, cap_v, cap_origin;
};

static int emit(struct out *o, const struct group *g, const struct tby_k8s_peer *peer,
                bool ingress, const char *ns, size_t index, struct tby_error *err)
{
    struct crule *r;
    int rc;

    if (TBY_GROW(o->v, o->cap_v, o->n + 1) < 0 ||
        TBY_GROW(o->origin, o->cap_origin, o->n + 1) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = &o->v[o->n];
    memset(r, 0, sizeof(*r));
    o->origin[o->n++] = index;
    r->action = TBY_ACTION_ALLOW;
    r->protocol = g ? g->protocol : 0;
    rc = peer_entity(peer, ns, ingress ? &r->src : &r->dst, err);
    if (rc == 0 && g && !g->all_ports && port_list_copy(&r->dst.ports, &g->ports) < 0)
        rc = tby_error_set(err, -ENOMEM, "out of memory");
    return rc;
}

static int emit_rule(struct out *o, const struct tby_k8s_rule *rule, bool ingress, const char *ns,
                     size_t index, struct tby_error *err)
{
    struct group g[3];
    bool any;
    int r = group_ports(rule, g, &any);

    if (r < 0) {
        groups_clear(g, 3);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    for (size_t k = 0; r == 0 && k < (any ? 1 : 3); k++) {
        if (!any && !g[k].all_ports && !g[k].ports.n)
            continue;
        for (size_t p = 0; r == 0 && p < (rule->n_peers ? rule->n_peers : 1); p++)
            r = emit(o, any ? NULL : &g[k], rule->n_peers ? &rule->peers[p] : NULL, ingress, ns,
                     index, err);
    }
    groups_clear(g, 3);
    return r;
}

int calc_k8s_rules(const struct tby_k8s_rule *rules, size_t n, bool ingress, const char *ns,
                   struct crule **out, size_t **origin, size_t *n_out, struct tby_error *err)
{
    struct out o = { 0 };
    int r = 0;

    for (size_t i = 0; r == 0 && i < n; i++)
        r = emit_rule(&o, &rules[i], ingress, ns, i, err);
    if (r < 0) {
        for (size_t i = 0; i < o.n; i++)
            crule_clear(&o.v[i]);
        free(o.v);
        free(o.origin);
        return r;
    }
    *out = o.v;
    *origin = o.origin;
    *n_out = o.n;
    return 0;
}
