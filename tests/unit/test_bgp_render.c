/* test_bgp_render.c — BGP resources → BIRD configuration: golden files (byte for byte, in
 * any input order), Calico's peering rules, and hostile values that must never reach the
 * file. Set TABBY_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/bgp.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/resource.h"

#define DATA TOP_SRCDIR "/tests/data/bgp/"

/* ---- helpers ------------------------------------------------------------------------------ */

struct world {
    struct tby_resource_list all;
    struct tby_resource_list configs, peers, nodes, pools, filters;
};

static void world_clear(struct world *w)
{
    /* The per-kind lists borrow from `all`. */
    free(w->configs.items);
    free(w->peers.items);
    free(w->nodes.items);
    free(w->pools.items);
    free(w->filters.items);
    tby_resource_list_clear(&w->all);
}

static void sort_into(struct world *w)
{
    for (size_t i = 0; i < w->all.n; i++) {
        struct tby_resource *r = w->all.items[i];
        struct tby_resource_list *l = r->info->kind == TBY_KIND_BGPCONFIG ? &w->configs
                                      : r->info->kind == TBY_KIND_BGPPEER ? &w->peers
                                      : r->info->kind == TBY_KIND_NODE    ? &w->nodes
                                      : r->info->kind == TBY_KIND_BGPFILTER ? &w->filters
                                                                          : &w->pools;

        assert_int_equal(tby_resource_list_push(l, r), 0);
    }
}

static void load_world(const char *name, struct world *w)
{
    struct tby_error err = { 0 };
    char path[512];

    memset(w, 0, sizeof(*w));
    snprintf(path, sizeof(path), DATA "%s.yaml", name);
    if (tby_resource_load_file(path, &w->all, &err) < 0)
        fail_msg("%s: %s", path, tby_error_str(&err));
    sort_into(w);
}

/* Adds the resources of a YAML text to a loaded world. */
static void add_docs(struct world *w, const char *yaml)
{
    struct tby_resource_list extra = { 0 };

    assert_int_equal(tby_resource_load(yaml, strlen(yaml), "test", &extra, NULL), 0);
    for (size_t i = 0; i < extra.n; i++)
        assert_int_equal(tby_resource_list_push(&w->all, extra.items[i]), 0);
    free(extra.items);
    free(w->configs.items);
    free(w->peers.items);
    free(w->nodes.items);
    free(w->pools.items);
    free(w->filters.items);
    w->configs = w->peers = w->nodes = w->pools = w->filters = (struct tby_resource_list){ 0 };
    sort_into(w);
}

static struct tby_cidr cidr(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, TBY_CIDR_STRICT, &c, NULL), 0);
    return c;
}

static struct tby_ip ip(const char *text)
{
    struct tby_ip a;

    assert_int_equal(tby_ip_parse(text, &a, NULL), 0);
    return a;
}

/* Gathers `node` from a world with the given blocks and the test secrets. */
static int gather(const struct world *w, const char *node, const char *const *blocks,
                  struct tby_bgp_input *in, struct tby_error *err)
{
    struct tby_cidr parsed[16];
    size_t n = 0;
    struct tby_bgp_resources res = {
        .bgpconfigs = &w->configs, .bgppeers = &w->peers, .nodes = &w->nodes,
        .ippools = &w->pools, .bgpfilters = &w->filters, .blocks = parsed,
        .secret = tby_bgp_secret_from_dir,
        .secret_ctx = (void *)(DATA "secrets"),
    };

    for (; blocks && blocks[n]; n++)
        parsed[n] = cidr(blocks[n]);
    res.n_blocks = n;
    return tby_bgp_gather(node, &res, in, err);
}

static char *render_ok(const struct tby_bgp_input *in)
{
    struct tby_error err = { 0 };
    char *text = NULL;
    size_t len;

    if (tby_bgp_render(in, &text, &len, &err) < 0)
        fail_msg("render: %s", tby_error_str(&err));
    assert_int_equal(strlen(text), len);
    return text;
}

/* BIRD itself must accept every golden file, when it is installed. */
static void assert_bird_parses(const char *path)
{
    char cmd[600];
    int status;

    if (access("/usr/sbin/bird", X_OK) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "/usr/sbin/bird -p -c '%s'", path);
    status = system(cmd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("bird -p refused %s", path);
}

static void assert_golden(const char *golden, const char *text)
{
    _cleanup_free_ char *want = NULL;
    char path[512];
    const char *update = getenv("TABBY_UPDATE_GOLDEN");

    snprintf(path, sizeof(path), DATA "%s.conf", golden);
    if (update && *update == '1') {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    if (tby_read_file(path, 0, &want, NULL) < 0)
        fail_msg("%s missing (TABBY_UPDATE_GOLDEN=1 writes it)", path);
    if (strcmp(want, text) != 0) {
        fprintf(stderr, "---- rendered ----\n%s---- end ----\n", text);
        fail_msg("%s differs from the rendering", path);
    }
    assert_bird_parses(path);
}

static void check_golden(const char *world, const char *node, const char *const *blocks,
                         const char *golden)
{
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };

    load_world(world, &w);
    if (gather(&w, node, blocks, &in, &err) < 0)
        fail_msg("gather %s: %s", node, tby_error_str(&err));
    assert_int_equal(in.warnings.n, 0);
    text = render_ok(&in);
    assert_golden(golden, text);
}

static const struct tby_bgp_peer *peer_at(const struct tby_bgp_input *in, const char *addr)
{
    struct tby_ip a = ip(addr);

    for (size_t i = 0; i < in->n_peers; i++)
        if (tby_ip_equal(&in->peers[i].ip, &a))
            return &in->peers[i];
    return NULL;
}

/* ---- golden files ------------------------------------------------------------------------- */

static void test_mesh_renders_its_golden_file(void **state)
{
    static const char *const blocks[] = { "10.244.1.64/26", "10.244.1.0/26", NULL };

    (void)state;
    check_golden("mesh", "node-1", blocks, "mesh-node-1");
}

static void test_tor_peers_render_their_golden_file(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", "10.250.0.0/26", "10.251.0.0/26",
                                          NULL };

    (void)state;
    check_golden("tor", "node-1", blocks, "tor-node-1");
}

static void test_route_reflector_and_client_render_their_golden_files(void **state)
{
    static const char *const rr_blocks[] = { "10.244.0.0/26", NULL };
    static const char *const client_blocks[] = { "10.244.1.0/26", NULL };

    (void)state;
    check_golden("rr", "rr-1", rr_blocks, "rr-reflector");
    check_golden("rr", "client-1", client_blocks, "rr-client");
}

static void test_encapsulated_pools_render_tunnel_next_hops(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", "10.245.1.0/26", "10.246.1.0/26",
                                          "10.247.1.0/26", NULL };
    _cleanup_free_ char *text = NULL;

    (void)state;
    check_golden("encap", "node-1", blocks, "encap-node-1");
    assert_int_equal(tby_read_file(DATA "encap-node-1.conf", 0, &text, NULL), 0);
    /* IPIP always: through tunl0 onlink; cross-subnet: only off the node's subnet; VXLAN:
     * never to the kernel (tabby-node routes it). */
    assert_non_null(strstr(text, "    if net ~ [ 10.245.0.0/16+ ] then {\n"
                                 "        ifname = \"tunl0\";\n        onlink = true;\n"
                                 "        gw = bgp_next_hop;\n        accept;\n"));
    assert_non_null(strstr(text, "        if bgp_next_hop !~ 10.0.0.0/24 then {\n"));
    assert_non_null(strstr(text, "    if net ~ [ 10.247.0.0/16+ ] then reject;\n"
                                 "    if proto = \"Blocks_v4\" then accept;\n"));
}

static void test_dual_stack_renders_both_families(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", "fd00:244::/122", NULL };

    (void)state;
    check_golden("dualstack", "node-1", blocks, "dualstack-node-1");
}

/* BGPFilters: a function per filter and list the peers use, called in each peer's order
 * before tabby's own import and export; reachableBy a host route the kernel gets too. */
static void test_filters_and_reachable_by_render_their_golden_file(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", "10.244.2.0/26", "fd00:244::/122",
                                          NULL };
    _cleanup_free_ char *text = NULL;

    (void)state;
    check_golden("filters", "node-1", blocks, "filters-node-1");
    assert_int_equal(tby_read_file(DATA "filters-node-1.conf", 0, &text, NULL), 0);
    assert_non_null(strstr(text, "    if (net ~ [ 10.244.0.0/16{25,32} ]) then reject;\n"));
    assert_non_null(strstr(text, "    if (net = 10.244.7.0/24) && (defined(ifname) && "
                                 "ifname ~ \"eth*\") then reject;\n"));
    assert_non_null(strstr(text, "    if (defined(source) && source = RTS_BGP) then reject;\n"));
    assert_non_null(strstr(text, "    if (net !~ [ fd00:244::/48{56,120} ]) then accept;\n"));
    assert_non_null(strstr(text, "            'tabby_filter_no-default-route_import_v4'();\n"
                                 "            'tabby_filter_tor-policy_import_v4'();\n"
                                 "            if net ~ [ 10.244.0.0/16+ ] then accept;\n"));
    assert_non_null(strstr(text, "    route 192.168.50.2/32 via 10.0.0.253;\n"));
    assert_non_null(strstr(text, "    if proto = \"Reach_v4\" then accept;\n"));
    /* a filter no peer uses is not rendered */
    assert_null(strstr(text, "unused"));
}

/* A peer's protocol block, from "protocol bgp" to its closing brace. */
static const char *protocol_of(const char *text, const char *neighbor, char *out, size_t size)
{
    const char *at = strstr(text, neighbor), *start, *end;

    assert_non_null(at);
    for (start = at; start > text && strncmp(start, "protocol bgp", 12) != 0; start--)
        ;
    end = strstr(at, "\n}\n");
    assert_non_null(end);
    snprintf(out, size, "%.*s", (int)(end - start), start);
    return out;
}

/* localASNumber is the node's AS on that session; nextHopMode Self and Keep render as
 * Calico renders them, and beat keepOriginalNextHop; Auto leaves BIRD's default. */
static void test_local_as_number_and_next_hop_mode_render(void **state)
{
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };
    char block[2048];

    (void)state;
    load_world("tor", &w);
    add_docs(&w, "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: self}\n"
                 "spec: {peerIP: 10.0.0.250, asNumber: 65002, localASNumber: 65010, "
                 "nextHopMode: Self}\n---\n"
                 "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: keep}\n"
                 "spec: {peerIP: 10.0.0.251, asNumber: 64512, nextHopMode: Keep}\n---\n"
                 "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: auto}\n"
                 "spec: {peerIP: 10.0.0.252, asNumber: 65003, keepOriginalNextHop: true, "
                 "nextHopMode: Auto}\n");
    if (gather(&w, "node-1", NULL, &in, &err) < 0)
        fail_msg("gather: %s", tby_error_str(&err));
    text = render_ok(&in);
    protocol_of(text, "neighbor 10.0.0.250 ", block, sizeof(block));
    assert_non_null(strstr(block, " as 65010;\n"));
    assert_non_null(strstr(block, "next hop self;"));
    protocol_of(text, "neighbor 10.0.0.251 ", block, sizeof(block));
    assert_non_null(strstr(block, " as 64512;\n"));
    assert_non_null(strstr(block, "next hop keep;"));    /* iBGP too, as asked */
    protocol_of(text, "neighbor 10.0.0.252 ", block, sizeof(block));
    assert_null(strstr(block, "next hop"));              /* Auto beats keepOriginalNextHop */
}

/* A peer whose filter is missing would be sent routes the filter may reject: it is left out,
 * with a warning, until the filter is there. */
static void test_peer_with_a_missing_filter_is_left_out(void **state)
{
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    struct tby_error err = { 0 };

    (void)state;
    load_world("tor", &w);
    add_docs(&w, "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: filtered}\n"
                 "spec: {peerIP: 10.0.0.9, asNumber: 65009, filters: [absent]}\n");
    assert_int_equal(gather(&w, "node-1", NULL, &in, &err), 0);
    assert_null(peer_at(&in, "10.0.0.9"));
    assert_int_equal(in.warnings.n, 1);
    assert_non_null(strstr(in.warnings.items[0], "BGPPeer filtered: filter absent: no such "
                                                 "BGPFilter"));
}

/* ---- determinism -------------------------------------------------------------------------- */

static void reverse_peers(struct tby_bgp_input *in)
{
    for (size_t i = 0; i < in->n_peers / 2; i++) {
        struct tby_bgp_peer t = in->peers[i];

        in->peers[i] = in->peers[in->n_peers - 1 - i];
        in->peers[in->n_peers - 1 - i] = t;
    }
}

static void test_input_order_does_not_change_the_bytes(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", "10.244.1.64/26", "10.244.2.0/26",
                                          NULL };
    static const char *const shuffled[] = { "10.244.2.0/26", "10.244.1.64/26",
                                            "10.244.1.0/26", NULL };
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input a = { 0 };
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input b = { 0 };
    _cleanup_free_ char *ta = NULL, *tb = NULL, *again = NULL;
    struct tby_bgp_pool pool;

    (void)state;
    load_world("tor", &w);
    assert_int_equal(gather(&w, "node-1", blocks, &a, NULL), 0);
    assert_int_equal(gather(&w, "node-1", shuffled, &b, NULL), 0);
    reverse_peers(&b);
    pool = b.pools[0];
    b.pools[0] = b.pools[b.n_pools - 1];
    b.pools[b.n_pools - 1] = pool;
    ta = render_ok(&a);
    tb = render_ok(&b);
    again = render_ok(&a);
    assert_string_equal(ta, tb);
    assert_string_equal(ta, again);
}

/* ---- peering rules ------------------------------------------------------------------------ */

static void test_mesh_peers_every_other_node_and_one_side_listens(void **state)
{
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    const struct tby_bgp_peer *p2, *p3;

    (void)state;
    load_world("mesh", &w);
    assert_int_equal(gather(&w, "node-2", NULL, &in, NULL), 0);
    assert_int_equal(in.n_peers, 2);
    p2 = peer_at(&in, "10.0.0.1");
    p3 = peer_at(&in, "10.0.0.3");
    assert_non_null(p2);
    assert_non_null(p3);
    assert_int_equal(p2->type, TBY_BGP_PEER_MESH);
    assert_false(p2->passive);  /* 10.0.0.1 < 10.0.0.2: node-2 connects */
    assert_true(p3->passive);   /* 10.0.0.3 > 10.0.0.2: node-3 connects */
    assert_int_equal(p3->as_number, 64513);
    assert_int_equal(p3->port, 1791); /* node-3's own BGPConfiguration */
    assert_int_equal(p2->port, 0);
    assert_string_equal(p2->password, "mesh-secret");
    assert_int_equal(p2->max_restart_ms, 90000);
}

static void test_route_reflectors_stay_out_of_the_mesh_and_reflect_to_clients(void **state)
{
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input rr = { 0 };
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input client = { 0 };

    (void)state;
    load_world("rr", &w);
    assert_int_equal(gather(&w, "rr-1", NULL, &rr, NULL), 0);
    assert_int_equal(gather(&w, "client-1", NULL, &client, NULL), 0);
    /* The reflector peers back with every node the BGPPeer is for. */
    assert_int_equal(rr.n_peers, 2);
    assert_true(peer_at(&rr, "10.0.0.11")->rr_client);
    assert_true(peer_at(&rr, "10.0.0.12")->rr_client);
    assert_int_equal(peer_at(&rr, "10.0.0.11")->type, TBY_BGP_PEER_NODE);
    /* A client peers only with the reflector (the mesh is off). */
    assert_int_equal(client.n_peers, 1);
    assert_non_null(peer_at(&client, "10.0.0.10"));
    assert_false(client.peers[0].rr_client);
}

static void test_one_session_per_address_node_specific_first(void **state)
{
    static const char doc[] =
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: to-node-2}\n"
        "spec: {node: node-1, peerIP: 10.0.0.2, asNumber: 64512}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: to-self}\n"
        "spec: {peerIP: 10.0.0.1, asNumber: 64512}\n";
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };

    (void)state;
    load_world("mesh", &w);
    add_docs(&w, doc);
    assert_int_equal(gather(&w, "node-1", NULL, &in, NULL), 0);
    /* node-2 once (node specific wins over the mesh), node-3 by the mesh, never itself. */
    assert_int_equal(in.n_peers, 2);
    assert_int_equal(peer_at(&in, "10.0.0.2")->type, TBY_BGP_PEER_NODE);
    assert_int_equal(peer_at(&in, "10.0.0.3")->type, TBY_BGP_PEER_MESH);
    assert_null(peer_at(&in, "10.0.0.1"));
}

static void test_export_respects_disabled_and_disable_bgp_export(void **state)
{
    static const char *const blocks[] = { "10.244.1.0/26", NULL };
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    _cleanup_free_ char *text = NULL;
    const char *exp, *kern;

    (void)state;
    load_world("tor", &w);
    assert_int_equal(gather(&w, "node-1", blocks, &in, NULL), 0);
    text = render_ok(&in);
    exp = strstr(text, "filter tabby_export_v4");
    kern = strstr(text, "filter tabby_kernel_v4");
    assert_non_null(exp);
    assert_non_null(kern);
    /* Only the enabled, exportable pool is announced; all three are routed. */
    assert_non_null(strstr(exp, "net ~ [ 10.244.0.0/16+ ] then"));
    assert_true(strstr(exp, "10.250.0.0") == NULL || strstr(exp, "10.250.0.0") > kern);
    assert_true(strstr(exp, "10.251.0.0") == NULL || strstr(exp, "10.251.0.0") > kern);
    assert_non_null(strstr(kern, "[ 10.244.0.0/16+, 10.250.0.0/16+, 10.251.0.0/16+ ]"));
}

static void test_missing_node_and_node_without_address_are_errors(void **state)
{
    static const char doc[] = "apiVersion: projectcalico.org/v3\nkind: Node\n"
                              "metadata: {name: bare}\nspec: {}\n";
    _cleanup_(world_clear) struct world w;
    struct tby_bgp_input in = { 0 };
    struct tby_error err = { 0 };

    (void)state;
    load_world("mesh", &w);
    assert_int_equal(gather(&w, "node-9", NULL, &in, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "Node node-9 not found"));
    tby_resource_list_clear(&w.all);
    free(w.nodes.items);
    w.nodes = (struct tby_resource_list){ 0 };
    assert_int_equal(tby_resource_load(doc, strlen(doc), "test", &w.all, NULL), 0);
    w.nodes.items = calloc(1, sizeof(*w.nodes.items));
    w.nodes.items[0] = w.all.items[0];
    w.nodes.n = 1;
    free(w.configs.items);
    free(w.pools.items);
    w.configs = w.pools = (struct tby_resource_list){ 0 };
    assert_int_equal(gather(&w, "bare", NULL, &in, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "Node bare has no spec.bgp.ipv4Address"));
}

/* ---- hostile values ------------------------------------------------------------------------ */

static const char *const hostile[] = {
    "a\"b", "line\nbreak", "x\"; } include \"/etc/passwd\"; protocol bgp y { #",
    "back\\slash", "tab\there", "\x7f", "", "n\xc3\xa9",
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901",
};

static void base_input(struct tby_bgp_input *in)
{
    struct tby_bgp_peer peer = { .type = TBY_BGP_PEER_GLOBAL, .as_number = 65001 };

    memset(in, 0, sizeof(*in));
    in->node = strdup("node-1");
    in->router_id = ip("10.0.0.1");
    in->has_ipv4 = true;
    in->ipv4 = (struct tby_cidr){ .ip = ip("10.0.0.1"), .prefix_len = 24 };
    in->as_number = 64512;
    peer.ip = ip("10.0.0.254");
    assert_int_equal(tby_bgp_input_add_peer(in, &peer), 0);
}

static void assert_render_refuses(const struct tby_bgp_input *in, const char *fragment)
{
    struct tby_error err = { 0 };
    char *text = NULL;
    size_t len;

    assert_int_equal(tby_bgp_render(in, &text, &len, &err), -EINVAL);
    assert_null(text);
    if (!strstr(err.msg, fragment))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
}

static void test_hostile_passwords_never_reach_the_file(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in;

        base_input(&in);
        in.peers[0].password = strdup(hostile[i]);
        assert_render_refuses(&in, "peer Global_10_0_0_254: password: BIRD cannot take it");
    }
}

static void test_hostile_names_descriptions_and_patterns_are_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        _cleanup_(tby_bgp_input_clear) struct tby_bgp_input a, b, c;

        base_input(&a);
        free(a.node);
        a.node = strdup(hostile[i]);
        assert_render_refuses(&a, "is not a DNS-1123 name");
        base_input(&b);
        b.peers[0].description = strdup(hostile[i]);
        /* Empty and long plain text are fine as descriptions; the rest is not. */
        if (*hostile[i] && strspn(hostile[i], "0123456789") != strlen(hostile[i]))
            assert_render_refuses(&b, "description: only letters");
        base_input(&c);
        assert_int_equal(tby_strv_push(&c.ignored_interfaces, hostile[i]), 0);
        assert_render_refuses(&c, "ignored interface");
    }
}

static void test_hostile_communities_are_refused(void **state)
{
    static const char *const bad[] = { "1:2)); bgp_community.delete((1,2", "65536:1", "1:2:3:4",
                                       "1", "a:b", "1:4294967296:1", "1:2\n" };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in;

        base_input(&in);
        in.communities = calloc(1, sizeof(*in.communities));
        in.n_communities = 1;
        in.communities[0].cidr = cidr("10.244.0.0/16");
        assert_int_equal(tby_strv_push(&in.communities[0].values, bad[i]), 0);
        assert_render_refuses(&in, "community");
    }
}

static void test_hostile_secret_leaves_the_peer_out_with_a_warning(void **state)
{
    static const char doc[] =
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: evil}\n"
        "spec: {peerIP: 10.0.0.200, asNumber: 65001, password: {secretKeyRef: "
        "{name: bgp-secrets, key: hostile}}}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: lost}\n"
        "spec: {peerIP: 10.0.0.201, asNumber: 65001, password: {secretKeyRef: "
        "{name: bgp-secrets, key: missing}}}\n";
    _cleanup_(world_clear) struct world w;
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in = { 0 };
    _cleanup_free_ char *text = NULL;

    (void)state;
    load_world("mesh", &w);
    add_docs(&w, doc);
    assert_int_equal(gather(&w, "node-1", NULL, &in, NULL), 0);
    assert_int_equal(in.warnings.n, 2);
    assert_non_null(strstr(in.warnings.items[0], "BGPPeer evil: password"));
    assert_non_null(strstr(in.warnings.items[1], "BGPPeer lost: password"));
    assert_null(peer_at(&in, "10.0.0.200"));
    assert_null(peer_at(&in, "10.0.0.201"));
    text = render_ok(&in);
    assert_null(strstr(text, "include"));
    assert_null(strstr(text, "shadow"));
}

static void test_protocol_names_carry_type_address_and_port(void **state)
{
    struct tby_bgp_peer p = { .type = TBY_BGP_PEER_GLOBAL, .port = 1790 };
    char buf[TBY_BGP_PROTO_STRLEN];

    (void)state;
    p.ip = ip("fd00::1");
    assert_string_equal(tby_bgp_protocol_name(&p, buf), "Global_fd00__1_port_1790");
    p.type = TBY_BGP_PEER_MESH;
    p.ip = ip("10.0.0.2");
    /* One mesh session per node: its name needs no port (as in Calico). */
    assert_string_equal(tby_bgp_protocol_name(&p, buf), "Mesh_10_0_0_2");
    assert_int_equal(tby_bgp_peer_type_of_protocol("Node_10_0_0_9"), TBY_BGP_PEER_NODE);
    assert_int_equal(tby_bgp_peer_type_of_protocol("Mesh_10_0_0_2"), TBY_BGP_PEER_MESH);
    assert_int_equal(tby_bgp_peer_type_of_protocol("kernel4"), -1);
    assert_string_equal(tby_bgp_peer_type_name(TBY_BGP_PEER_MESH), "node-to-node mesh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mesh_renders_its_golden_file),
        cmocka_unit_test(test_tor_peers_render_their_golden_file),
        cmocka_unit_test(test_route_reflector_and_client_render_their_golden_files),
        cmocka_unit_test(test_encapsulated_pools_render_tunnel_next_hops),
        cmocka_unit_test(test_dual_stack_renders_both_families),
        cmocka_unit_test(test_filters_and_reachable_by_render_their_golden_file),
        cmocka_unit_test(test_peer_with_a_missing_filter_is_left_out),
        cmocka_unit_test(test_local_as_number_and_next_hop_mode_render),
        cmocka_unit_test(test_input_order_does_not_change_the_bytes),
        cmocka_unit_test(test_mesh_peers_every_other_node_and_one_side_listens),
        cmocka_unit_test(test_route_reflectors_stay_out_of_the_mesh_and_reflect_to_clients),
        cmocka_unit_test(test_one_session_per_address_node_specific_first),
        cmocka_unit_test(test_export_respects_disabled_and_disable_bgp_export),
        cmocka_unit_test(test_missing_node_and_node_without_address_are_errors),
        cmocka_unit_test(test_hostile_passwords_never_reach_the_file),
        cmocka_unit_test(test_hostile_names_descriptions_and_patterns_are_refused),
        cmocka_unit_test(test_hostile_communities_are_refused),
        cmocka_unit_test(test_hostile_secret_leaves_the_peer_out_with_a_warning),
        cmocka_unit_test(test_protocol_names_carry_type_address_and_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
