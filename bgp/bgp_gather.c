/* bgp_gather.c — Calico's BGP resources (BGPConfiguration, Node, BGPPeer, IPPool) and a
 * node's blocks → the plain input the renderer takes: who this node peers with, as what
 * AS, and what it announces. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp.h"
#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "tabby/resource.h"
#include "tabby/selector.h"
#include "bgp_internal.h"

#define DEFAULT_AS 64512

struct gather {
    const char *node;
    const struct tby_bgp_resources *res;
    const struct tby_resource *self;
    const struct tby_bgpconfig *defcfg;   /* "default"; NULL: Calico's defaults */
    const struct tby_bgpconfig *nodecfg;  /* "node.<name>"; may be NULL */
    struct tby_bgp_input *out;
    struct tby_error *err;
};

static int oom(struct gather *g)
{
    return tby_error_set(g->err, -ENOMEM, "out of memory");
}

static int warn(struct gather *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int warn(struct gather *g, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0 || tby_strv_push_take(&g->out->warnings, line) < 0)
        return oom(g);
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------- */

static const struct tby_resource *find(const struct tby_resource_list *list, const char *name)
{
    for (size_t i = 0; list && i < list->n; i++)
        if (strcmp(list->items[i]->meta.name, name) == 0)
            return list->items[i];
    return NULL;
}

static const struct tby_cidr *node_addr(const struct tby_resource *node, int family)
{
    const struct tby_node *n = node->spec.node;

    if (family == 4)
        return n->has_ipv4_address ? &n->ipv4_address : NULL;
    return n->has_ipv6_address ? &n->ipv6_address : NULL;
}

static uint32_t default_as(const struct gather *g)
{
    return g->defcfg && g->defcfg->has_as_number ? g->defcfg->as_number : DEFAULT_AS;
}

static uint32_t node_as(const struct gather *g, const struct tby_resource *node)
{
    return node->spec.node->has_as_number ? node->spec.node->as_number : default_as(g);
}

/* The node whose BGP address is `ip`, or NULL. */
static const struct tby_resource *node_by_ip(const struct gather *g, const struct tby_ip *ip)
{
    const struct tby_resource_list *nodes = g->res->nodes;

    for (size_t i = 0; nodes && i < nodes->n; i++) {
        const struct tby_cidr *a = node_addr(nodes->items[i], ip->family);

        if (a && tby_ip_equal(&a->ip, ip))
            return nodes->items[i];
    }
    return NULL;
}

static bool is_self_ip(const struct gather *g, const struct tby_ip *ip)
{
    const struct tby_cidr *a = node_addr(g->self, ip->family);

    return a && tby_ip_equal(&a->ip, ip);
}

static int selects(const char *selector, const struct tby_resource *node)
{
    return tby_sel_text_matches(selector, node->meta.labels);
}

/* Whether a BGPPeer is for `node`: named, selected, or (neither given) every node. */
static bool peer_is_for(const struct tby_bgppeer *p, const struct tby_resource *node)
{
    if (p->node)
        return strcmp(p->node, node->meta.name) == 0;
    if (p->node_selector)
        return selects(p->node_selector, node) == 1;
    return true;
}

/* The port `node` listens on: its own BGPConfiguration "node.<name>", else the default
 * one's listenPort (0: 179). */
static uint16_t listen_port(const struct gather *g, const struct tby_resource *node)
{
    char name[300];
    const struct tby_resource *cfg;

    snprintf(name, sizeof(name), "node.%s", node->meta.name);
    cfg = find(g->res->bgpconfigs, name);
    if (cfg && cfg->spec.bgpconfig->listen_port)
        return cfg->spec.bgpconfig->listen_port;
    return g->defcfg ? g->defcfg->listen_port : 0;
}

static bool is_reflector_of(const struct tby_resource *node, const struct tby_ip *cluster)
{
    const struct tby_node *n = node->spec.node;

    return n->has_rr_cluster_id && tby_ip_equal(&n->rr_cluster_id, cluster);
}

/* ---- passwords ------------------------------------------------------------------------ */

/* 0 with *out set (NULL: no password); 1 when the peer must be left out (warned). */
static int password(struct gather *g, const struct tby_secret_ref *ref, const char *who,
                    char **out)
{
    struct tby_error e = { 0 };
    int r;

    *out = NULL;
    if (!ref)
        return 0;
    if (!g->res->secret)
        return warn(g, "%s: password: no secret store configured; peer left out", who) ?: 1;
    r = g->res->secret(g->res->secret_ctx, ref, out, &e);
    if (r == -ENOMEM)
        return oom(g);
    if (r < 0)
        return warn(g, "%s: password: secret %s key %s: %s; peer left out", who, ref->name,
                    ref->key, tby_error_str(&e)) ?: 1;
    if (!tby_bgp_password_valid(*out)) {
        free(*out);
        *out = NULL;
        return warn(g, "%s: password: secret %s key %s: BIRD cannot take it (1 to %d "
                    "printable ASCII characters, no '\"' or '\\'); peer left out", who,
                    ref->name, ref->key, TBY_BGP_PASSWORD_MAX) ?: 1;
    }
    return 0;
}

/* ---- filters ------------------------------------------------------------------------- */

/* A peer whose filters are not all there would be sent and taken routes they may
 * reject: it is left out until they are (1, warned), which Calico does not do. */
static int filters_present(struct gather *g, const struct tby_bgppeer *p, const char *who)
{
    for (size_t i = 0; i < p->filters.n; i++)
        if (!find(g->res->bgpfilters, p->filters.items[i]))
            return warn(g, "%s: filter %s: no such BGPFilter (or it does not decode); peer "
                        "left out", who, p->filters.items[i]) ?: 1;
    return 0;
}

/* The filters the peers use, each once. */
static int gather_filters(struct gather *g)
{
    struct tby_bgp_input *in = g->out;

    for (size_t i = 0; i < in->n_peers; i++) {
        for (size_t j = 0; j < in->peers[i].filters.n; j++) {
            const char *name = in->peers[i].filters.items[j];
            const struct tby_resource *f = find(g->res->bgpfilters, name);
            bool have = false;

            for (size_t k = 0; k < in->n_filters && !have; k++)
                have = strcmp(in->filters[k].name, name) == 0;
            if (!have && f && tby_bgp_input_add_filter(in, name, f->spec.bgpfilter) < 0)
                return oom(g);
        }
    }
    return 0;
}

/* ---- peers ----------------------------------------------------------------------------- */

static bool wants_rr_client(const struct gather *g, const struct tby_bgp_peer *peer)
{
    const struct tby_node *self = g->self->spec.node;
    const struct tby_resource *other;

    if (!self->has_rr_cluster_id || peer->as_number != g->out->as_number)
        return false;
    other = node_by_ip(g, &peer->ip);
    return !other || !is_reflector_of(other, &self->rr_cluster_id);
}

static int add_peer(struct gather *g, struct tby_bgp_peer *peer)
{
    if (is_self_ip(g, &peer->ip))
        return 0;
    if (!node_addr(g->self, peer->ip.family))
        return 0;
    if (peer->port == TBY_BGP_DEFAULT_PORT)
        peer->port = 0; /* one spelling, so that sessions to one address are one */
    peer->rr_client = wants_rr_client(g, peer);
    return tby_bgp_input_add_peer(g->out, peer) < 0 ? oom(g) : 0;
}

static uint64_t mesh_restart_ms(const struct gather *g)
{
    if (g->defcfg && g->defcfg->has_node_mesh_max_restart)
        return g->defcfg->node_mesh_max_restart_ms;
    return TBY_BGP_DEFAULT_MESH_RESTART_MS;
}

static int add_mesh_peer(struct gather *g, const struct tby_resource *other, const char *pw)
{
    char description[300];

    snprintf(description, sizeof(description), "Node %s", other->meta.name);
    for (int family = 4; family <= 6; family += 2) {
        const struct tby_cidr *mine = node_addr(g->self, family);
        const struct tby_cidr *theirs = node_addr(other, family);
        struct tby_bgp_peer peer = {
            .type = TBY_BGP_PEER_MESH, .as_number = node_as(g, other), .use_node_ip = true,
            .port = listen_port(g, other),
            .has_max_restart = true, .max_restart_ms = mesh_restart_ms(g),
            .password = (char *)pw, .description = description,
        };
        int r;

        if (!mine || !theirs)
            continue;
        peer.ip = theirs->ip;
        /* One side connects, the other listens: two nodes opening at once would abort
         * each other's graceful restart. */
        peer.passive = tby_ip_compare(&theirs->ip, &mine->ip) > 0;
        r = add_peer(g, &peer);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool mesh_enabled(const struct gather *g)
{
    return !g->defcfg || g->defcfg->node_to_node_mesh_enabled;
}

/* Calico leaves route reflectors out of the mesh: they peer through BGPPeers. */
static int gather_mesh(struct gather *g)
{
    const struct tby_resource_list *nodes = g->res->nodes;
    _cleanup_free_ char *pw = NULL;
    int r;

    if (!mesh_enabled(g) || g->self->spec.node->has_rr_cluster_id)
        return 0;
    r = password(g, g->defcfg ? g->defcfg->node_mesh_password : NULL,
                 "BGPConfiguration default (nodeMeshPassword)", &pw);
    if (r != 0)
        return r < 0 ? r : 0;
    for (size_t i = 0; nodes && i < nodes->n; i++) {
        const struct tby_resource *other = nodes->items[i];

        if (other == g->self || other->spec.node->has_rr_cluster_id)
            continue;
        r = add_mesh_peer(g, other, pw);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The BGPPeer's settings on a session (its strings borrowed, as add_peer copies them). */
static void peer_from_bgppeer(const struct tby_bgppeer *p, struct tby_bgp_peer *out)
{
    out->filters = p->filters;
    out->has_reachable_by = p->has_reachable_by && p->reachable_by.family == out->ip.family;
    out->reachable_by = p->reachable_by;
    out->use_node_ip = p->source_address == TBY_SOURCE_USE_NODE_IP;
    out->keep_next_hop = p->keep_original_next_hop;
    out->next_hop_mode = p->next_hop_mode;
    out->local_as = p->local_as_number;
    out->has_max_restart = p->has_max_restart;
    out->max_restart_ms = p->max_restart_ms;
    out->ttl_security = p->ttl_security;
    out->allow_local_as = p->num_allowed_local_as_numbers;
}

/* A BGPPeer's session with another node (peerSelector, either direction). */
static int add_node_sessions(struct gather *g, const struct tby_resource *bp,
                             const struct tby_resource *other, const char *pw)
{
    char description[300];

    snprintf(description, sizeof(description), "BGPPeer %s with Node %s", bp->meta.name,
             other->meta.name);
    for (int family = 4; family <= 6; family += 2) {
        const struct tby_cidr *theirs = node_addr(other, family);
        struct tby_bgp_peer peer = { .type = TBY_BGP_PEER_NODE, .password = (char *)pw,
                                     .as_number = node_as(g, other),
                                     .port = listen_port(g, other),
                                     .description = description };
        int r;

        if (!theirs)
            continue;
        peer.ip = theirs->ip;
        peer_from_bgppeer(bp->spec.bgppeer, &peer);
        r = add_peer(g, &peer);
        if (r < 0)
            return r;
    }
    return 0;
}

/* peerSelector: this node peers with the selected nodes when the BGPPeer is for it, and
 * with the nodes the BGPPeer is for when it is itself selected (the other half of those
 * sessions). */
static int gather_selected(struct gather *g, const struct tby_resource *bp, const char *pw)
{
    const struct tby_bgppeer *p = bp->spec.bgppeer;
    const struct tby_resource_list *nodes = g->res->nodes;
    bool for_me = peer_is_for(p, g->self);
    bool picked = selects(p->peer_selector, g->self) == 1;

    for (size_t i = 0; nodes && i < nodes->n; i++) {
        const struct tby_resource *other = nodes->items[i];
        int r = 0;

        if (other == g->self)
            continue;
        if ((for_me && selects(p->peer_selector, other) == 1) ||
            (picked && peer_is_for(p, other)))
            r = add_node_sessions(g, bp, other, pw);
        if (r < 0)
            return r;
    }
    return 0;
}

static int gather_bgppeer(struct gather *g, const struct tby_resource *bp)
{
    const struct tby_bgppeer *p = bp->spec.bgppeer;
    _cleanup_free_ char *pw = NULL;
    char who[300], description[300];
    struct tby_bgp_peer peer = { 0 };
    int r;

    snprintf(who, sizeof(who), "BGPPeer %s", bp->meta.name);
    if (!p->peer_selector && !peer_is_for(p, g->self))
        return 0;
    r = filters_present(g, p, who);
    if (r == 0)
        r = password(g, p->password, who, &pw);
    if (r != 0)
        return r < 0 ? r : 0;
    if (p->peer_selector)
        return gather_selected(g, bp, pw);
    snprintf(description, sizeof(description), "BGPPeer %s", bp->meta.name);
    peer.type = p->node || p->node_selector ? TBY_BGP_PEER_NODE : TBY_BGP_PEER_GLOBAL;
    peer.ip = p->peer_ip;
    peer.port = p->peer_port;
    peer.as_number = p->as_number;
    peer.password = pw;
    peer.description = description;
    peer_from_bgppeer(p, &peer);
    return add_peer(g, &peer);
}

/* One session per address and port: node specific before global before mesh. */
static int cmp_session(const void *a, const void *b)
{
    const struct tby_bgp_peer *x = a, *y = b;
    int c = tby_ip_compare(&x->ip, &y->ip);

    if (c == 0)
        c = (int)x->port - (int)y->port;
    return c ? c : (int)x->type - (int)y->type;
}

static void dedupe_peers(struct tby_bgp_input *in)
{
    size_t kept = 0;

    if (in->n_peers)
        qsort(in->peers, in->n_peers, sizeof(*in->peers), cmp_session);
    for (size_t i = 0; i < in->n_peers; i++) {
        struct tby_bgp_peer *p = &in->peers[i];

        if (kept && tby_ip_equal(&in->peers[kept - 1].ip, &p->ip) &&
            in->peers[kept - 1].port == p->port) {
            bgp_peer_clear(p);
            continue;
        }
        in->peers[kept++] = *p;
    }
    in->n_peers = kept;
}

static int gather_peers(struct gather *g)
{
    const struct tby_resource_list *peers = g->res->bgppeers;
    int r = gather_mesh(g);

    for (size_t i = 0; r == 0 && peers && i < peers->n; i++)
        r = gather_bgppeer(g, peers->items[i]);
    if (r == 0)
        dedupe_peers(g->out);
    if (r == 0)
        r = gather_filters(g);
    return r;
}

/* ---- what is announced ------------------------------------------------------------------ */

static int gather_pools(struct gather *g)
{
    const struct tby_resource_list *pools = g->res->ippools;
    size_t n = pools ? pools->n : 0;

    if (n == 0)
        return 0;
    g->out->pools = calloc(n, sizeof(*g->out->pools));
    if (!g->out->pools)
        return oom(g);
    for (size_t i = 0; i < n; i++) {
        const struct tby_ippool *p = pools->items[i]->spec.ippool;
        struct tby_bgp_pool *o = &g->out->pools[i];

        o->cidr = p->cidr;
        o->ipip_mode = p->ipip_mode;
        o->vxlan_mode = p->vxlan_mode;
        o->disabled = p->disabled;
        o->disable_bgp_export = p->disable_bgp_export;
    }
    g->out->n_pools = n;
    return 0;
}

static int append_cidrs(struct gather *g, const struct tby_cidr_list *list)
{
    struct tby_bgp_input *in = g->out;
    struct tby_cidr *grown;

    if (!list->n)
        return 0;
    grown = reallocarray(in->services, in->n_services + list->n, sizeof(*grown));
    if (!grown)
        return oom(g);
    memcpy(grown + in->n_services, list->items, list->n * sizeof(*grown));
    in->services = grown;
    in->n_services += list->n;
    return 0;
}

static int gather_services(struct gather *g)
{
    int r;

    if (!g->defcfg)
        return 0;
    r = append_cidrs(g, &g->defcfg->service_cluster_ips);
    if (r == 0)
        r = append_cidrs(g, &g->defcfg->service_external_ips);
    if (r == 0)
        r = append_cidrs(g, &g->defcfg->service_loadbalancer_ips);
    return r;
}

/* A community name from `communities` of the node's configuration, then the default's;
 * a value stays as it is. */
static const char *community_value(const struct gather *g, const char *name)
{
    const struct tby_bgpconfig *cfgs[] = { g->nodecfg, g->defcfg };

    for (size_t c = 0; c < 2; c++)
        for (size_t i = 0; cfgs[c] && i < cfgs[c]->n_communities; i++)
            if (strcmp(cfgs[c]->communities[i].name, name) == 0)
                return cfgs[c]->communities[i].value;
    return name;
}

/* The node's own prefixAdvertisements replace the default's, as in Calico. */
static int gather_communities(struct gather *g)
{
    const struct tby_bgpconfig *cfg =
        g->nodecfg && g->nodecfg->n_prefix_advertisements ? g->nodecfg : g->defcfg;
    struct tby_bgp_input *in = g->out;

    if (!cfg || !cfg->n_prefix_advertisements)
        return 0;
    in->communities = calloc(cfg->n_prefix_advertisements, sizeof(*in->communities));
    if (!in->communities)
        return oom(g);
    in->n_communities = cfg->n_prefix_advertisements;
    for (size_t i = 0; i < cfg->n_prefix_advertisements; i++) {
        const struct tby_prefix_advertisement *pa = &cfg->prefix_advertisements[i];

        in->communities[i].cidr = pa->cidr;
        for (size_t j = 0; j < pa->communities.n; j++)
            if (tby_strv_push(&in->communities[i].values,
                              community_value(g, pa->communities.items[j])) < 0)
                return oom(g);
    }
    return 0;
}

/* ---- this node -------------------------------------------------------------------------- */

/* A node without IPv4 still needs an IPv4-formatted router id: a hash of its name. */
static struct tby_ip router_id(const struct tby_resource *self)
{
    struct tby_ip id = { .family = 4 };
    uint32_t h = (uint32_t)tby_hash_str(self->meta.name);

    if (self->spec.node->has_ipv4_address)
        return self->spec.node->ipv4_address.ip;
    memcpy(id.bytes, &h, 4);
    return id;
}

static enum tby_bgp_log log_level(const struct gather *g)
{
    static const char *const names[] = { "Debug", "Info", "Warning", "Error", "Fatal" };
    const struct tby_bgpconfig *cfg = g->nodecfg ? g->nodecfg : g->defcfg;

    for (size_t i = 0; cfg && cfg->log_severity_screen && i < 5; i++)
        if (strcmp(cfg->log_severity_screen, names[i]) == 0)
            return (enum tby_bgp_log)i;
    return TBY_BGP_LOG_INFO;
}

static int gather_self(struct gather *g)
{
    const struct tby_node *n = g->self->spec.node;
    struct tby_bgp_input *in = g->out;
    const struct tby_bgpconfig *cfg;
    const char *bind;

    if (!n->has_ipv4_address && !n->has_ipv6_address)
        return tby_error_set(g->err, -EINVAL, "Node %s has no spec.bgp.ipv4Address or "
                             "ipv6Address: BGP cannot run on it", g->node);
    in->node = strdup(g->node);
    if (!in->node)
        return oom(g);
    in->router_id = router_id(g->self);
    in->has_ipv4 = n->has_ipv4_address;
    in->ipv4 = n->ipv4_address;
    in->has_ipv6 = n->has_ipv6_address;
    in->ipv6 = n->ipv6_address;
    in->as_number = node_as(g, g->self);
    in->has_rr_cluster_id = n->has_rr_cluster_id;
    in->rr_cluster_id = n->rr_cluster_id;
    in->listen_port = listen_port(g, g->self);
    bind = g->nodecfg && g->nodecfg->bind_mode ? g->nodecfg->bind_mode
           : g->defcfg ? g->defcfg->bind_mode : NULL;
    in->strict_bind = bind && strcmp(bind, "NodeIP") == 0;
    in->log = log_level(g);
    cfg = g->nodecfg && g->nodecfg->ignored_interfaces.n ? g->nodecfg : g->defcfg;
    if (cfg && tby_strv_copy(&in->ignored_interfaces, &cfg->ignored_interfaces) < 0)
        return oom(g);
    return 0;
}

static int gather_blocks(struct gather *g)
{
    for (size_t i = 0; i < g->res->n_blocks; i++)
        if (tby_bgp_input_add_block(g->out, &g->res->blocks[i]) < 0)
            return oom(g);
    return 0;
}

static const struct tby_bgpconfig *config_named(const struct tby_bgp_resources *res,
                                                const char *name)
{
    const struct tby_resource *r = find(res->bgpconfigs, name);

    return r ? r->spec.bgpconfig : NULL;
}

int tby_bgp_gather(const char *node, const struct tby_bgp_resources *res,
                   struct tby_bgp_input *out, struct tby_error *err)
{
    struct gather g = { .node = node, .res = res, .out = out, .err = err };
    char nodecfg[300];
    int r;

    memset(out, 0, sizeof(*out));
    g.self = find(res->nodes, node);
    if (!g.self)
        return tby_error_set(err, -ENOENT, "Node %s not found", node);
    snprintf(nodecfg, sizeof(nodecfg), "node.%s", node);
    g.defcfg = config_named(res, "default");
    g.nodecfg = config_named(res, nodecfg);
    r = gather_self(&g);
    if (r == 0)
        r = gather_pools(&g);
    if (r == 0)
        r = gather_blocks(&g);
    if (r == 0)
        r = gather_services(&g);
    if (r == 0)
        r = gather_communities(&g);
    if (r == 0)
        r = gather_peers(&g);
    if (r < 0)
        tby_bgp_input_clear(out);
    return r;
}
