/* bgp_render.c — struct tby_bgp_input → BIRD 2 configuration text, byte for byte the same
 * for the same input, with every user string checked before it is printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp.h"
#include "tabby/cleanup.h"
#include "tabby/hmap.h"
#include "tabby/validate.h"
#include "bgp_internal.h"

/* The input, sorted: the renderer works on these so input order never shows. */
struct sorted {
    const struct tby_bgp_input *in;
    struct tby_bgp_peer *peers;
    struct tby_bgp_pool *pools;
    struct tby_cidr *blocks;
    struct tby_cidr *services;
    struct tby_bgp_community_rule *communities;
    struct tby_strv ignored;
    struct tby_bgp_filter *filters;
};

static const char *fam_suffix(int family)
{
    return family == 4 ? "v4" : "v6";
}

static const char *fam_channel(int family)
{
    return family == 4 ? "ipv4" : "ipv6";
}

/* ---- sorting ------------------------------------------------------------------------- */

static int cmp_pool(const void *a, const void *b)
{
    return bgp_cidr_cmp(&((const struct tby_bgp_pool *)a)->cidr,
                    &((const struct tby_bgp_pool *)b)->cidr);
}

static int cmp_filter(const void *a, const void *b)
{
    return strcmp(((const struct tby_bgp_filter *)a)->name,
                  ((const struct tby_bgp_filter *)b)->name);
}

static int cmp_rule(const void *a, const void *b)
{
    return bgp_cidr_cmp(&((const struct tby_bgp_community_rule *)a)->cidr,
                    &((const struct tby_bgp_community_rule *)b)->cidr);
}

/* By protocol name's parts: type, then address, then port. */
static int cmp_peer(const void *a, const void *b)
{
    const struct tby_bgp_peer *x = a, *y = b;
    int c = (int)x->type - (int)y->type;

    if (c == 0)
        c = tby_ip_compare(&x->ip, &y->ip);
    return c ? c : (int)x->port - (int)y->port;
}

static void *sorted_copy(const void *items, size_t n, size_t size,
                         int (*cmp)(const void *, const void *))
{
    void *copy;

    if (n == 0)
        return NULL;
    copy = malloc(n * size);
    if (!copy)
        return NULL;
    memcpy(copy, items, n * size);
    qsort(copy, n, size, cmp);
    return copy;
}

static void sorted_clear(struct sorted *s)
{
    free(s->peers);
    free(s->pools);
    free(s->blocks);
    free(s->services);
    free(s->communities);
    free(s->filters);
    tby_strv_clear(&s->ignored);
}

static int sort_input(const struct tby_bgp_input *in, struct sorted *s)
{
    s->in = in;
    s->peers = sorted_copy(in->peers, in->n_peers, sizeof(*in->peers), cmp_peer);
    s->pools = sorted_copy(in->pools, in->n_pools, sizeof(*in->pools), cmp_pool);
    s->blocks = sorted_copy(in->blocks, in->n_blocks, sizeof(*in->blocks), bgp_cidr_cmp);
    s->services = sorted_copy(in->services, in->n_services, sizeof(*in->services), bgp_cidr_cmp);
    s->communities = sorted_copy(in->communities, in->n_communities,
                                 sizeof(*in->communities), cmp_rule);
    s->filters = sorted_copy(in->filters, in->n_filters, sizeof(*in->filters), cmp_filter);
    if ((in->n_peers && !s->peers) || (in->n_pools && !s->pools) ||
        (in->n_blocks && !s->blocks) || (in->n_services && !s->services) ||
        (in->n_communities && !s->communities) || (in->n_filters && !s->filters) ||
        tby_strv_copy(&s->ignored, &in->ignored_interfaces) < 0)
        return -ENOMEM;
    tby_strv_sort(&s->ignored);
    return 0;
}

/* ---- checks --------------------------------------------------------------------------- */

static int check_peers(const struct sorted *s, struct tby_error *err)
{
    char name[TBY_BGP_PROTO_STRLEN], prev[TBY_BGP_PROTO_STRLEN] = "";

    for (size_t i = 0; i < s->in->n_peers; i++) {
        const struct tby_bgp_peer *p = &s->peers[i];
        bool family_ok = p->ip.family == 4 ? s->in->has_ipv4 : s->in->has_ipv6;

        tby_bgp_protocol_name(p, name);
        if (strcmp(name, prev) == 0)
            return tby_error_set(err, -EINVAL, "peer %s: two peers with one address", name);
        strcpy(prev, name);
        if (!family_ok)
            return tby_error_set(err, -EINVAL, "peer %s: the node has no IPv%d address",
                                 name, p->ip.family);
        if (p->password && !tby_bgp_password_valid(p->password))
            return tby_error_set(err, -EINVAL, "peer %s: password: BIRD cannot take it "
                                 "(1 to %d printable ASCII characters, no '\"' or '\\')",
                                 name, TBY_BGP_PASSWORD_MAX);
        if (p->description && !bgp_text_valid(p->description))
            return tby_error_set(err, -EINVAL, "peer %s: description: only letters, "
                                 "digits, spaces and ._:/- are allowed", name);
        if (p->has_reachable_by && p->reachable_by.family != p->ip.family)
            return tby_error_set(err, -EINVAL, "peer %s: reachableBy is IPv%d", name,
                                 p->reachable_by.family);
        if (p->ttl_security < 0 || p->ttl_security > 255 || p->allow_local_as < 0)
            return tby_error_set(err, -EINVAL, "peer %s: ttlSecurity or "
                                 "numAllowedLocalASNumbers out of range", name);
    }
    return 0;
}

static const struct tby_bgp_filter *filter_named(const struct sorted *s, const char *name)
{
    for (size_t i = 0; i < s->in->n_filters; i++)
        if (strcmp(s->filters[i].name, name) == 0)
            return &s->filters[i];
    return NULL;
}

static int check_filters(const struct sorted *s, struct tby_error *err)
{
    for (size_t i = 0; i < s->in->n_filters; i++) {
        const struct tby_bgp_filter *f = &s->filters[i];

        if (!bgp_name_valid(f->name) || (i && strcmp(s->filters[i - 1].name, f->name) == 0))
            return tby_error_set(err, -EINVAL, "BGPFilter \"%s\": not a name, or given twice",
                                 f->name);
        for (int l = 0; l < TBY_BGPF_LISTS; l++) {
            for (size_t j = 0; j < f->n[l]; j++) {
                const struct tby_bgpfilter_rule *r = &f->rules[l][j];
                int min, max;

                tby_bgpfilter_rule_lengths(r, &min, &max);
                if ((r->interface && !bgp_interface_pattern_valid(r->interface)) ||
                    (r->has_cidr && (r->cidr.ip.family != tby_bgpfilter_list_family(l) ||
                                     tby_cidr_has_host_bits(&r->cidr))) ||
                    (r->has_cidr && (r->has_min || r->has_max) &&
                     (min > max || r->op == TBY_BGPF_EQUAL || r->op == TBY_BGPF_NOT_EQUAL)))
                    return tby_error_set(err, -EINVAL, "BGPFilter %s: rule %zu: BIRD cannot "
                                         "take it", f->name, j);
            }
        }
    }
    for (size_t i = 0; i < s->in->n_peers; i++)
        for (size_t j = 0; j < s->peers[i].filters.n; j++)
            if (!filter_named(s, s->peers[i].filters.items[j]))
                return tby_error_set(err, -EINVAL, "peer uses BGPFilter %s, which is not in "
                                     "the input", s->peers[i].filters.items[j]);
    return 0;
}

static int check_input(const struct sorted *s, struct tby_error *err)
{
    const struct tby_bgp_input *in = s->in;
    int r;

    if (!in->node || !bgp_name_valid(in->node))
        return tby_error_set(err, -EINVAL, "node name \"%s\" is not a DNS-1123 name",
                             in->node ? in->node : "");
    if (!in->has_ipv4 && !in->has_ipv6)
        return tby_error_set(err, -EINVAL, "node %s has no BGP address (spec.bgp."
                             "ipv4Address or ipv6Address)", in->node);
    if (in->router_id.family != 4)
        return tby_error_set(err, -EINVAL, "node %s: the router id must be IPv4-formatted",
                             in->node);
    for (size_t i = 0; i < s->ignored.n; i++)
        if (!bgp_interface_pattern_valid(s->ignored.items[i]))
            return tby_error_set(err, -EINVAL, "ignored interface \"%s\": not an interface "
                                 "name or pattern", s->ignored.items[i]);
    for (size_t i = 0; i < in->n_communities; i++)
        for (size_t j = 0; j < s->communities[i].values.n; j++)
            if (tby_community_parse(s->communities[i].values.items[j], NULL) < 0)
                return tby_error_set(err, -EINVAL, "community \"%s\": not aa:nn or aa:nn:mm",
                                     s->communities[i].values.items[j]);
    r = check_filters(s, err);
    return r < 0 ? r : check_peers(s, err);
}

/* ---- pieces ------------------------------------------------------------------------- */

enum pool_set {
    SET_ROUTED,   /* every pool: import from peers */
    SET_EXPORTED, /* enabled, BGP export allowed */
    SET_VXLAN,
    SET_IPIP_ALWAYS,
    SET_IPIP_CROSS,
};

static bool in_set(const struct tby_bgp_pool *p, enum pool_set set)
{
    switch (set) {
    case SET_ROUTED:
        return true;
    case SET_EXPORTED:
        return !p->disabled && !p->disable_bgp_export;
    case SET_VXLAN:
        return p->vxlan_mode != TBY_ENCAP_NEVER;
    case SET_IPIP_ALWAYS:
        return p->ipip_mode == TBY_ENCAP_ALWAYS;
    case SET_IPIP_CROSS:
        return p->ipip_mode == TBY_ENCAP_CROSS_SUBNET;
    }
    return false;
}

/* Prints "[ a+, b+ ]" for the pools of `family` in `set`; false (nothing printed) when
 * there are none, since BIRD has no empty prefix set. */
static bool print_pool_set(FILE *f, const struct sorted *s, int family, enum pool_set set,
                           bool dry)
{
    char buf[TBY_CIDR_STRLEN];
    bool any = false;

    for (size_t i = 0; i < s->in->n_pools; i++) {
        const struct tby_bgp_pool *p = &s->pools[i];

        if (p->cidr.ip.family != family || !in_set(p, set))
            continue;
        if (!dry)
            fprintf(f, "%s%s+", any ? ", " : "[ ", tby_cidr_format(&p->cidr, buf));
        any = true;
    }
    if (any && !dry)
        fputs(" ]", f);
    return any;
}

static bool has_pool_set(const struct sorted *s, int family, enum pool_set set)
{
    return print_pool_set(NULL, s, family, set, true);
}

static void print_header(FILE *f, const struct sorted *s)
{
    static const char *const log_classes[] = {
        [TBY_BGP_LOG_DEBUG] = "all",
        [TBY_BGP_LOG_INFO] = "{ info, remote, warning, error, auth, fatal, bug }",
        [TBY_BGP_LOG_WARNING] = "{ warning, error, auth, fatal, bug }",
        [TBY_BGP_LOG_ERROR] = "{ error, auth, fatal, bug }",
        [TBY_BGP_LOG_FATAL] = "{ fatal, bug }",
    };
    enum tby_bgp_log log = s->in->log <= TBY_BGP_LOG_FATAL ? s->in->log : TBY_BGP_LOG_INFO;
    char id[TBY_IP_STRLEN];

    fprintf(f, "# BIRD 2 configuration of tabby node %s. Rendered by tabby; edits are "
               "overwritten.\n\n", s->in->node);
    fprintf(f, "router id %s;\n", tby_ip_format(&s->in->router_id, id));
    /* A full date and time, so the SINCE column of node status is unambiguous. */
    fputs("timeformat protocol iso long;\n", f);
    fprintf(f, "log stderr %s;\n", log_classes[log]);
    fprintf(f, "debug protocols %s;\n\n", log == TBY_BGP_LOG_DEBUG ? "all" : "{ states }");
}

static void print_communities_function(FILE *f, const struct sorted *s, int family)
{
    char buf[TBY_CIDR_STRLEN];

    fprintf(f, "function tabby_communities_%s()\n{\n", fam_suffix(family));
    for (size_t i = 0; i < s->in->n_communities; i++) {
        const struct tby_bgp_community_rule *r = &s->communities[i];

        if (r->cidr.ip.family != family || r->values.n == 0)
            continue;
        fprintf(f, "    if net ~ %s then {\n", tby_cidr_format(&r->cidr, buf));
        for (size_t j = 0; j < r->values.n; j++) {
            uint32_t v[3];
            int n = tby_community_parse(r->values.items[j], v);

            if (n == 2)
                fprintf(f, "        bgp_community.add((%u, %u));\n", v[0], v[1]);
            else
                fprintf(f, "        bgp_large_community.add((%u, %u, %u));\n", v[0], v[1],
                        v[2]);
        }
        fputs("    }\n", f);
    }
    fputs("}\n\n", f);
}

/* The statements of tabby's import filter, each line starting with `in`. */
static void print_import_body(FILE *f, const struct sorted *s, int family, const char *in)
{
    if (has_pool_set(s, family, SET_ROUTED)) {
        fprintf(f, "%sif net ~ ", in);
        print_pool_set(f, s, family, SET_ROUTED, false);
        fputs(" then accept;\n", f);
    }
    fprintf(f, "%sreject;\n", in);
}

static void print_import_filter(FILE *f, const struct sorted *s, int family)
{
    fprintf(f, "# Only pod addresses from peers: a router's default route or fabric prefixes\n"
               "# stay out of this node's tables.\nfilter tabby_import_%s\n{\n",
            fam_suffix(family));
    print_import_body(f, s, family, "    ");
    fputs("}\n\n", f);
}

static void print_export_body(FILE *f, const struct sorted *s, int family, const char *in)
{
    const char *sfx = fam_suffix(family);

    if (has_pool_set(s, family, SET_EXPORTED)) {
        fprintf(f, "%sif (proto = \"Blocks_%s\" || source = RTS_BGP) && net ~ ", in, sfx);
        print_pool_set(f, s, family, SET_EXPORTED, false);
        fprintf(f, " then {\n%s    tabby_communities_%s();\n%s    accept;\n%s}\n", in, sfx,
                in, in);
    }
    fprintf(f, "%sif proto = \"Services_%s\" then {\n%s    tabby_communities_%s();\n"
               "%s    accept;\n%s}\n%sreject;\n", in, sfx, in, sfx, in, in, in);
}

static void print_export_filter(FILE *f, const struct sorted *s, int family)
{
    fprintf(f, "# Announce this node's blocks (and reflect learned ones) of enabled pools that\n"
               "# allow BGP export, and the service CIDRs; nothing else.\n"
               "filter tabby_export_%s\n{\n", fam_suffix(family));
    print_export_body(f, s, family, "    ");
    fputs("}\n\n", f);
}

/* ---- BGPFilters ------------------------------------------------------------------------- */

#define FILTER_SYM_MAX 64 /* BIRD's longest symbol */

/* 'tabby_filter_<name>_import_v4' (quoted: names hold '-' and '.'); a name too long for
 * BIRD is cut and told apart by a hash of the whole. */
static void filter_symbol(const char *name, bool import, int family, char *buf, size_t size)
{
    const char *dir = import ? "import" : "export";
    size_t room = FILTER_SYM_MAX - strlen("tabby_filter___v4") - strlen(dir);

    if (strlen(name) <= room)
        snprintf(buf, size, "'tabby_filter_%s_%s_%s'", name, dir, fam_suffix(family));
    else
        snprintf(buf, size, "'tabby_filter_%.*s-%016llx_%s_%s'", (int)(room - 17), name,
                 (unsigned long long)tby_hash_str(name), dir, fam_suffix(family));
}

static enum tby_bgpfilter_list filter_list(bool import, int family)
{
    if (family == 4)
        return import ? TBY_BGPF_IMPORT_V4 : TBY_BGPF_EXPORT_V4;
    return import ? TBY_BGPF_IMPORT_V6 : TBY_BGPF_EXPORT_V6;
}

static void print_cidr_match(FILE *f, const struct tby_bgpfilter_rule *r)
{
    static const char *const ops[] = { [TBY_BGPF_EQUAL] = "=", [TBY_BGPF_NOT_EQUAL] = "!=",
                                       [TBY_BGPF_IN] = "~", [TBY_BGPF_NOT_IN] = "!~" };
    char buf[TBY_CIDR_STRLEN];
    int min, max;

    tby_cidr_format(&r->cidr, buf);
    if (!r->has_min && !r->has_max) {
        fprintf(f, "net %s %s", ops[r->op], buf);
        return;
    }
    tby_bgpfilter_rule_lengths(r, &min, &max);
    fprintf(f, "net %s [ %s{%d,%d} ]", ops[r->op], buf, min, max);
}

/* One rule: "if <every condition> then accept;", or the bare action without any. */
static void print_filter_rule(FILE *f, const struct tby_bgpfilter_rule *r)
{
    const char *action = r->accept ? "accept" : "reject";
    bool any = false;

    fputs("    ", f);
    if (r->has_cidr) {
        fputs("if (", f);
        print_cidr_match(f, r);
        any = true;
    }
    if (r->remote_peers_only) {
        fputs(any ? ") && (" : "if (", f);
        fputs("defined(source) && source = RTS_BGP", f);
        any = true;
    }
    if (r->interface) {
        fputs(any ? ") && (" : "if (", f);
        fprintf(f, "defined(ifname) && ifname ~ \"%s\"", r->interface);
        any = true;
    }
    fprintf(f, any ? ") then %s;\n" : "%s;\n", action);
}

static void print_filter_functions(FILE *f, const struct sorted *s, int family)
{
    char sym[FILTER_SYM_MAX + 8];

    for (size_t i = 0; i < s->in->n_filters; i++) {
        const struct tby_bgp_filter *flt = &s->filters[i];

        for (int import = 1; import >= 0; import--) {
            enum tby_bgpfilter_list l = filter_list(import, family);

            if (!flt->n[l])
                continue;
            filter_symbol(flt->name, import, family, sym, sizeof(sym));
            fprintf(f, "# BGPFilter %s, %s%s: the first rule that matches decides.\n"
                       "function %s()\n{\n", flt->name, import ? "import" : "export",
                    family == 4 ? "V4" : "V6", sym);
            for (size_t j = 0; j < flt->n[l]; j++)
                print_filter_rule(f, &flt->rules[l][j]);
            fputs("}\n\n", f);
        }
    }
}

/* Whether a peer's filters have rules for this direction (and so a channel filter). */
static bool peer_filters(const struct sorted *s, const struct tby_bgp_peer *p, bool import)
{
    enum tby_bgpfilter_list l = filter_list(import, p->ip.family);

    for (size_t i = 0; i < p->filters.n; i++) {
        const struct tby_bgp_filter *flt = filter_named(s, p->filters.items[i]);

        if (flt && flt->n[l])
            return true;
    }
    return false;
}

/* "import filter { <the peer's filters>; <tabby's import>; };" in a peer's channel. */
static void print_peer_filter(FILE *f, const struct sorted *s, const struct tby_bgp_peer *p,
                              bool import)
{
    enum tby_bgpfilter_list l = filter_list(import, p->ip.family);
    char sym[FILTER_SYM_MAX + 8];

    fprintf(f, "        %s filter {\n", import ? "import" : "export");
    for (size_t i = 0; i < p->filters.n; i++) {
        const struct tby_bgp_filter *flt = filter_named(s, p->filters.items[i]);

        if (!flt || !flt->n[l])
            continue;
        filter_symbol(flt->name, import, p->ip.family, sym, sizeof(sym));
        fprintf(f, "            %s();\n", sym);
    }
    if (import)
        print_import_body(f, s, p->ip.family, "            ");
    else
        print_export_body(f, s, p->ip.family, "            ");
    fputs("        };\n", f);
}

/* The tunnel is reached "onlink": the next hop is another node's address, which is not
 * on tunl0's (nonexistent) subnet. ifname clears the gateway, so it goes first. */
static void print_ipip_route(FILE *f, const char *indent)
{
    fprintf(f, "%sifname = \"%s\";\n%sonlink = true;\n%sgw = bgp_next_hop;\n", indent,
            TBY_BGP_IPIP_DEVICE, indent, indent);
}

static void print_kernel_ipip(FILE *f, const struct sorted *s, int family)
{
    const struct tby_cidr *subnet = family == 4 ? &s->in->ipv4 : &s->in->ipv6;
    struct tby_cidr net = *subnet;
    char buf[TBY_CIDR_STRLEN];

    if (has_pool_set(s, family, SET_IPIP_ALWAYS)) {
        fputs("    if net ~ ", f);
        print_pool_set(f, s, family, SET_IPIP_ALWAYS, false);
        fputs(" then {\n", f);
        print_ipip_route(f, "        ");
        fputs("        accept;\n    }\n", f);
    }
    if (!has_pool_set(s, family, SET_IPIP_CROSS))
        return;
    tby_cidr_mask(&net);
    fputs("    if net ~ ", f);
    print_pool_set(f, s, family, SET_IPIP_CROSS, false);
    fprintf(f, " then {\n        if bgp_next_hop !~ %s then {\n",
            tby_cidr_format(&net, buf));
    print_ipip_route(f, "            ");
    fputs("        }\n        accept;\n    }\n", f);
}

static bool has_reach(const struct sorted *s, int family)
{
    for (size_t i = 0; i < s->in->n_peers; i++)
        if (s->peers[i].ip.family == family && s->peers[i].has_reachable_by)
            return true;
    return false;
}

/* reachableBy: a host route to the peer through its gateway, as Calico makes it, so that
 * the session never follows a route learned over BGP (or none). */
static void print_reach(FILE *f, const struct sorted *s, int family)
{
    char ip[TBY_IP_STRLEN], gw[TBY_IP_STRLEN];

    if (!has_reach(s, family))
        return;
    fprintf(f, "protocol static Reach_%s {\n    %s;\n", fam_suffix(family),
            fam_channel(family));
    for (size_t i = 0; i < s->in->n_peers; i++) {
        const struct tby_bgp_peer *p = &s->peers[i];

        bool again = false;

        for (size_t j = 0; j < i && !again; j++)
            again = s->peers[j].has_reachable_by && tby_ip_equal(&s->peers[j].ip, &p->ip);
        if (p->ip.family == family && p->has_reachable_by && !again)
            fprintf(f, "    route %s/%d via %s;\n", tby_ip_format(&p->ip, ip),
                    family == 4 ? 32 : 128, tby_ip_format(&p->reachable_by, gw));
    }
    fputs("}\n\n", f);
}

static void print_kernel_filter(FILE *f, const struct sorted *s, int family)
{
    const char *sfx = fam_suffix(family);
    bool has_ip = family == 4 ? s->in->has_ipv4 : s->in->has_ipv6;

    fprintf(f, "# What BIRD installs in the kernel: this node's blocks as blackholes (their\n"
               "# pods have more specific routes) and other nodes' blocks; VXLAN pools are\n"
               "# tabby-node's to route.\nfilter tabby_kernel_%s\n{\n", sfx);
    if (has_pool_set(s, family, SET_VXLAN)) {
        fputs("    if net ~ ", f);
        print_pool_set(f, s, family, SET_VXLAN, false);
        fputs(" then reject;\n", f);
    }
    fprintf(f, "    if proto = \"Blocks_%s\" then accept;\n", sfx);
    if (has_reach(s, family))
        fprintf(f, "    if proto = \"Reach_%s\" then accept;\n", sfx);
    fputs("    if source != RTS_BGP then reject;\n", f);
    if (family == 4 && has_ip)
        print_kernel_ipip(f, s, family);
    if (has_pool_set(s, family, SET_ROUTED)) {
        fputs("    if net ~ ", f);
        print_pool_set(f, s, family, SET_ROUTED, false);
        fputs(" then accept;\n", f);
    }
    fputs("    reject;\n}\n\n", f);
}

static void print_basics(FILE *f, const struct sorted *s)
{
    fputs("protocol device {\n    scan time 10;\n}\n\n", f);
    /* Connected subnets resolve the peers' next hops; pod, tunnel and service
     * interfaces are no part of the fabric. */
    fputs("protocol direct {\n", f);
    if (s->in->has_ipv4)
        fputs("    ipv4;\n", f);
    if (s->in->has_ipv6)
        fputs("    ipv6;\n", f);
    fputs("    interface -\"cali*\", -\"kube-ipvs*\", -\"" TBY_BGP_IPIP_DEVICE "\", "
          "-\"vxlan.tabby*\"", f);
    for (size_t i = 0; i < s->ignored.n; i++)
        fprintf(f, ", -\"%s\"", s->ignored.items[i]);
    fputs(", \"*\";\n}\n\n", f);
}

static void print_static(FILE *f, const char *name, int family, const struct tby_cidr *nets,
                         size_t n)
{
    char buf[TBY_CIDR_STRLEN];

    fprintf(f, "protocol static %s_%s {\n    %s;\n", name, fam_suffix(family),
            fam_channel(family));
    for (size_t i = 0; i < n; i++)
        if (nets[i].ip.family == family)
            fprintf(f, "    route %s blackhole;\n", tby_cidr_format(&nets[i], buf));
    fputs("}\n\n", f);
}

static void print_family_protocols(FILE *f, const struct sorted *s, int family)
{
    const char *sfx = fam_suffix(family);

    /* learn off and import none: BIRD reads nothing from the kernel and changes only
     * the routes it made, so it never fights tabby-node or anyone else. persist on: BIRD
     * stopping (its pod replaced in an upgrade) leaves its routes in the kernel, as
     * Calico's BIRD does; started again, it takes back its own and removes the stale. */
    fprintf(f, "protocol kernel Kernel_%s {\n    %s {\n        import none;\n"
               "        export filter tabby_kernel_%s;\n    };\n    learn off;\n"
               "    persist on;\n    merge paths on;\n    graceful restart on;\n"
               "    scan time 10;\n}\n\n",
            sfx, fam_channel(family), sfx);
    print_static(f, "Blocks", family, s->blocks, s->in->n_blocks);
    print_static(f, "Services", family, s->services, s->in->n_services);
    print_reach(f, s, family);
}

static void print_template(FILE *f, const struct sorted *s, int family)
{
    const char *sfx = fam_suffix(family);

    /* multihop with recursive next hops, as Calico: peers need not share a subnet. */
    fprintf(f, "template bgp tabby_%s {\n    local as %u;\n    multihop;\n"
               "    %s {\n        import filter tabby_import_%s;\n"
               "        export filter tabby_export_%s;\n        gateway recursive;\n    };\n"
               "    graceful restart on;\n    connect delay time 1;\n"
               "    connect retry time 3;\n    error wait time 5, 30;\n}\n\n",
            sfx, s->in->as_number, fam_channel(family), sfx, sfx);
}

static void print_local(FILE *f, const struct sorted *s, const struct tby_bgp_peer *p)
{
    const struct tby_cidr *self = p->ip.family == 4 ? &s->in->ipv4 : &s->in->ipv6;
    uint16_t port = s->in->listen_port ? s->in->listen_port : TBY_BGP_DEFAULT_PORT;
    char ip[TBY_IP_STRLEN];

    fputs("    local", f);
    if (p->use_node_ip)
        fprintf(f, " %s", tby_ip_format(&self->ip, ip));
    if (port != TBY_BGP_DEFAULT_PORT)
        fprintf(f, " port %u", port);
    fprintf(f, " as %u;\n", p->local_as ? p->local_as : s->in->as_number);
    if (p->use_node_ip && s->in->strict_bind)
        fputs("    strict bind on;\n", f);
}

/* "next hop keep;", "next hop self;" or nothing (BIRD's default): nextHopMode, else
 * keepOriginalNextHop on eBGP sessions, as Calico renders them. */
static const char *next_hop(const struct sorted *s, const struct tby_bgp_peer *p)
{
    uint32_t local = p->local_as ? p->local_as : s->in->as_number;

    switch (p->next_hop_mode) {
    case TBY_NEXT_HOP_KEEP: return "next hop keep;";
    case TBY_NEXT_HOP_SELF: return "next hop self;";
    case TBY_NEXT_HOP_AUTO: return NULL;
    default: return p->keep_next_hop && p->as_number != local ? "next hop keep;" : NULL;
    }
}

/* What the peer's channel changes of the template's: its next hop, its filters. */
static void print_peer_channel(FILE *f, const struct sorted *s, const struct tby_bgp_peer *p)
{
    const char *hop = next_hop(s, p);
    bool import = peer_filters(s, p, true), export = peer_filters(s, p, false);

    if (!hop && !import && !export)
        return;
    fprintf(f, "    %s {\n", fam_channel(p->ip.family));
    if (hop)
        fprintf(f, "        %s\n", hop);
    if (import)
        print_peer_filter(f, s, p, true);
    if (export)
        print_peer_filter(f, s, p, false);
    fputs("    };\n", f);
}

static void print_peer_options(FILE *f, const struct sorted *s, const struct tby_bgp_peer *p)
{
    char id[TBY_IP_STRLEN];

    if (p->passive)
        fputs("    passive on;\n", f);
    if (p->has_max_restart)
        fprintf(f, "    graceful restart time %llu;\n",
                (unsigned long long)((p->max_restart_ms + 999) / 1000));
    if (p->rr_client && s->in->has_rr_cluster_id)
        fprintf(f, "    rr client;\n    rr cluster id %s;\n",
                tby_ip_format(&s->in->rr_cluster_id, id));
    if (p->ttl_security)
        fprintf(f, "    ttl security on;\n    multihop %d;\n", p->ttl_security);
    if (p->allow_local_as)
        fprintf(f, "    allow local as %d;\n", p->allow_local_as);
    if (p->password)
        fprintf(f, "    password \"%s\";\n", p->password);
    print_peer_channel(f, s, p);
}

static void print_peer(FILE *f, const struct sorted *s, const struct tby_bgp_peer *p)
{
    char name[TBY_BGP_PROTO_STRLEN], ip[TBY_IP_STRLEN];

    fprintf(f, "protocol bgp %s from tabby_%s {\n", tby_bgp_protocol_name(p, name),
            fam_suffix(p->ip.family));
    fprintf(f, "    description \"%s: %s\";\n", tby_bgp_peer_type_name(p->type),
            p->description ? p->description : "");
    print_local(f, s, p);
    fprintf(f, "    neighbor %s", tby_ip_format(&p->ip, ip));
    if (p->port && p->port != TBY_BGP_DEFAULT_PORT)
        fprintf(f, " port %u", p->port);
    fprintf(f, " as %u;\n", p->as_number);
    print_peer_options(f, s, p);
    fputs("}\n\n", f);
}

static void print_family(FILE *f, const struct sorted *s, int family)
{
    fprintf(f, "# ---- IPv%d ----\n\n", family);
    print_communities_function(f, s, family);
    print_filter_functions(f, s, family);
    print_import_filter(f, s, family);
    print_export_filter(f, s, family);
    print_kernel_filter(f, s, family);
    print_family_protocols(f, s, family);
    print_template(f, s, family);
    for (size_t i = 0; i < s->in->n_peers; i++)
        if (s->peers[i].ip.family == family)
            print_peer(f, s, &s->peers[i]);
}

int tby_bgp_render(const struct tby_bgp_input *in, char **out, size_t *len,
                   struct tby_error *err)
{
    _cleanup_(sorted_clear) struct sorted s = { 0 };
    char *text = NULL;
    size_t size = 0;
    FILE *f;
    int r = sort_input(in, &s);

    if (r < 0)
        return tby_error_set(err, r, "out of memory");
    r = check_input(&s, err);
    if (r < 0)
        return r;
    f = open_memstream(&text, &size);
    if (!f)
        return tby_error_set(err, -ENOMEM, "out of memory");
    print_header(f, &s);
    print_basics(f, &s);
    if (in->has_ipv4)
        print_family(f, &s, 4);
    if (in->has_ipv6)
        print_family(f, &s, 6);
    if (fclose(f) != 0 || !text) {
        free(text);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    *out = text;
    *len = size;
    return 0;
}
