/* test_routes.c — the route manager's plan: which routes, VTEP entries and devices a node
 * wants for its pools, nodes, blocks and workloads; IPIP rendering; natOutgoing CIDRs;
 * VXLAN MACs. No kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/routes.h"

/* ---- a small cluster, built in place ---------------------------------------------------- */

struct world {
    struct tby_ippool pool_specs[4];
    struct tby_routes_pool pools[4];
    struct tby_node node_specs[4];
    struct tby_routes_node nodes[4];
    struct tby_routes_block blocks[8];
    struct tby_wep wep_specs[4];
    struct tby_cidr wep_nets[4];
    const struct tby_wep *weps[4];
    struct tby_routes_input in;
    struct tby_routes_plan plan;
};

static struct tby_cidr cidr(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &c, NULL), 0);
    return c;
}

static struct tby_ip ip(const char *text)
{
    struct tby_ip a;

    assert_int_equal(tby_ip_parse(text, &a, NULL), 0);
    return a;
}

static void add_pool(struct world *w, const char *name, const char *net,
                     enum tby_encap_mode vxlan, enum tby_encap_mode ipip, bool nat)
{
    size_t i = w->in.n_pools++;

    w->pool_specs[i] = (struct tby_ippool){ .cidr = cidr(net), .vxlan_mode = vxlan,
                                            .ipip_mode = ipip, .nat_outgoing = nat };
    w->pools[i] = (struct tby_routes_pool){ name, &w->pool_specs[i] };
    w->in.pools = w->pools;
}

/* tunnel and mac may be NULL; an IPv6 node address sets the IPv6 fields. */
static struct tby_node *add_node(struct world *w, const char *name, const char *addr,
                                 const char *tunnel, const char *mac)
{
    size_t i = w->in.n_nodes++;
    struct tby_node *n = &w->node_specs[i];
    bool v6 = strchr(addr, ':') != NULL;

    memset(n, 0, sizeof(*n));
    if (v6) {
        n->has_ipv6_address = true;
        n->ipv6_address = cidr(addr);
        n->has_vxlan_tunnel_addr_v6 = tunnel != NULL;
        if (tunnel)
            n->vxlan_tunnel_addr_v6 = ip(tunnel);
        n->vxlan_tunnel_mac_v6 = (char *)mac;
    } else {
        n->has_ipv4_address = true;
        n->ipv4_address = cidr(addr);
        n->has_vxlan_tunnel_addr = tunnel != NULL;
        if (tunnel)
            n->vxlan_tunnel_addr = ip(tunnel);
        n->vxlan_tunnel_mac = (char *)mac;
    }
    w->nodes[i] = (struct tby_routes_node){ name, n };
    w->in.nodes = w->nodes;
    return n;
}

static void add_block(struct world *w, const char *net, const char *node)
{
    w->blocks[w->in.n_blocks++] = (struct tby_routes_block){ cidr(net), node };
    w->in.blocks = w->blocks;
}

static void add_wep(struct world *w, const char *node, const char *iface, const char *addr)
{
    size_t i = w->in.n_weps++;

    w->wep_nets[i] = cidr(addr);
    w->wep_specs[i] = (struct tby_wep){ .node = (char *)node, .interface_name = (char *)iface,
                                        .pod = (char *)"pod",
                                        .ip_networks = { &w->wep_nets[i], 1 } };
    w->weps[i] = &w->wep_specs[i];
    w->in.weps = w->weps;
}

/* Three nodes: a (this one) and b share 192.168.1.0/24, c is in 192.168.2.0/24. */
static void three_nodes(struct world *w, enum tby_encap_mode vxlan, enum tby_encap_mode ipip)
{
    memset(w, 0, sizeof(*w));
    w->in.node_name = "a";
    add_pool(w, "default", "10.65.0.0/16", vxlan, ipip, true);
    add_node(w, "a", "192.168.1.11/24", "10.65.0.0", "66:00:00:00:00:0a");
    add_node(w, "b", "192.168.1.12/24", "10.65.1.0", "66:00:00:00:00:0b");
    add_node(w, "c", "192.168.2.13/24", "10.65.2.0", "66:00:00:00:00:0c");
    add_block(w, "10.65.0.0/26", "a");
    add_block(w, "10.65.1.0/26", "b");
    add_block(w, "10.65.2.0/26", "c");
    add_wep(w, "a", "tbyaaa", "10.65.0.5/32");
    add_wep(w, "b", "tbybbb", "10.65.1.5/32");
}

static void plan(struct world *w)
{
    struct tby_error err = { 0 };

    assert_int_equal(tby_routes_plan(&w->in, &w->plan, &err), 0);
}

/* Every route of the plan, one per line, in the plan's order. */
static void assert_routes(const struct tby_routes_plan *p, const char *expected)
{
    char text[4096] = "", buf[TBY_ROUTE_STRLEN];

    for (size_t i = 0; i < p->n_routes; i++) {
        strcat(text, tby_route_format(&p->routes[i], buf));
        strcat(text, "\n");
    }
    assert_string_equal(text, expected);
}

static bool has_warning(const struct tby_routes_plan *p, const char *fragment)
{
    for (size_t i = 0; i < p->warnings.n; i++)
        if (strstr(p->warnings.items[i], fragment))
            return true;
    return false;
}

static void assert_mac(const uint8_t mac[6], const char *text)
{
    char buf[TBY_MAC_STRLEN];

    assert_string_equal(tby_mac_format(mac, buf), text);
}

static int teardown(void **state)
{
    struct world *w = *state;

    tby_routes_plan_clear(&w->plan);
    free(w);
    return 0;
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct world));
    return *state ? 0 : -1;
}

/* ---- VXLAN ------------------------------------------------------------------------------ */

static void test_vxlan_always_routes_remote_blocks_through_their_vtep(void **state)
{
    struct world *w = *state;
    char buf[TBY_IP_STRLEN];

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    plan(w);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink\n"
                            "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink\n");
    assert_true(w->plan.vxlan[0].wanted);
    assert_false(w->plan.vxlan[1].wanted);
    assert_string_equal(tby_ip_format(&w->plan.vxlan[0].local, buf), "192.168.1.11");
    assert_true(w->plan.vxlan[0].has_tunnel_addr);
    assert_string_equal(tby_ip_format(&w->plan.vxlan[0].tunnel_addr, buf), "10.65.0.0");
    assert_mac(w->plan.vxlan[0].mac, "66:00:00:00:00:0a");
    assert_null(w->plan.ipip_pool);
    assert_int_equal(w->plan.warnings.n, 0);
}

/* FelixConfiguration's device settings reach the plan; without them Calico's defaults.
 * ipv6Support false leaves every IPv6 route out. */
static void test_felix_settings_set_the_devices_and_ipv6(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_wep(w, "a", "tbyaa6", "fd00:65::5/128");
    plan(w);
    assert_int_equal(w->plan.vxlan[0].vni, TBY_VXLAN_VNI);
    assert_int_equal(w->plan.vxlan[0].port, TBY_VXLAN_PORT);
    assert_int_equal(w->plan.vxlan[0].mtu, 0);
    assert_int_equal(w->plan.ipip_mtu, 0);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink\n"
                            "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink\n"
                            "fd00:65::5/128 dev tbyaa6 scope link\n");
    tby_routes_plan_clear(&w->plan);
    w->in.vxlan_vni = 5000;
    w->in.vxlan_port = 8472;
    w->in.vxlan_mtu[0] = 1400;
    w->in.vxlan_mtu[1] = 1380;
    w->in.ipip_mtu = 1440;
    w->in.no_ipv6 = true;
    plan(w);
    assert_int_equal(w->plan.vxlan[0].vni, 5000);
    assert_int_equal(w->plan.vxlan[0].port, 8472);
    assert_int_equal(w->plan.vxlan[0].mtu, 1400);
    assert_int_equal(w->plan.vxlan[1].mtu, 1380);
    assert_int_equal(w->plan.ipip_mtu, 1440);
    assert_false(w->plan.vxlan[1].wanted);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink\n"
                            "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink\n");
}

static void test_vxlan_vteps_name_every_remote_node(void **state)
{
    struct world *w = *state;
    char buf[TBY_IP_STRLEN];

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    plan(w);
    assert_int_equal(w->plan.n_vteps, 2);
    assert_string_equal(w->plan.vteps[0].node, "b");
    assert_string_equal(tby_ip_format(&w->plan.vteps[0].tunnel_addr, buf), "10.65.1.0");
    assert_string_equal(tby_ip_format(&w->plan.vteps[0].node_ip, buf), "192.168.1.12");
    assert_mac(w->plan.vteps[0].mac, "66:00:00:00:00:0b");
    assert_string_equal(w->plan.vteps[1].node, "c");
    assert_mac(w->plan.vteps[1].mac, "66:00:00:00:00:0c");
}

static void test_crosssubnet_routes_same_subnet_nodes_directly(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_CROSS_SUBNET, TBY_ENCAP_NEVER);
    plan(w);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 192.168.1.12\n"
                            "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink\n");
    /* b's VTEP entries stay: harmless, and ready if b moves to another subnet. */
    assert_int_equal(w->plan.n_vteps, 2);
}

static void test_crosssubnet_without_own_address_encapsulates(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_CROSS_SUBNET, TBY_ENCAP_NEVER);
    w->node_specs[0].has_ipv4_address = false;
    plan(w);
    /* No address: no VXLAN device either, so no remote routes at all, and it says so. */
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n10.65.0.5/32 dev tbyaaa scope link\n");
    assert_false(w->plan.vxlan[0].wanted);
    assert_true(has_warning(&w->plan, "node a has no IPv4 address"));
}

static void test_remote_node_without_tunnel_address_gets_no_route_and_a_warning(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    w->node_specs[2].has_vxlan_tunnel_addr = false;
    plan(w);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink\n");
    assert_int_equal(w->plan.n_vteps, 1);
    assert_true(has_warning(&w->plan, "node c has no IPv4 VXLAN tunnel address yet: no route "
                                      "to 10.65.2.0/26"));
}

static void test_block_of_unknown_node_is_warned(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_block(w, "10.65.3.0/26", "gone");
    plan(w);
    assert_true(has_warning(&w->plan, "10.65.3.0/26 is on node gone, which has no Node "
                                      "resource"));
}

static void test_block_outside_every_pool_is_warned(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_block(w, "10.99.0.0/26", "b");
    plan(w);
    assert_true(has_warning(&w->plan, "block 10.99.0.0/26 of node b is in no IP pool"));
    assert_int_equal(w->plan.n_routes, 4);
}

static void test_own_tunnel_address_missing_leaves_device_bare(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    w->node_specs[0].has_vxlan_tunnel_addr = false;
    plan(w);
    assert_true(w->plan.vxlan[0].wanted);
    assert_false(w->plan.vxlan[0].has_tunnel_addr);
    assert_true(has_warning(&w->plan, "vxlan.tabby gets no address"));
}

static void test_missing_macs_are_derived_from_node_names(void **state)
{
    struct world *w = *state;
    uint8_t mac[6];

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    w->node_specs[0].vxlan_tunnel_mac = NULL;
    w->node_specs[1].vxlan_tunnel_mac = NULL;
    plan(w);
    tby_vxlan_mac_for_node("a", 4, mac);
    assert_memory_equal(w->plan.vxlan[0].mac, mac, 6);
    tby_vxlan_mac_for_node("b", 4, mac);
    assert_memory_equal(w->plan.vteps[0].mac, mac, 6);
}

static void test_vteps_sharing_a_mac_keep_the_first(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    w->node_specs[2].vxlan_tunnel_mac = (char *)"66:00:00:00:00:0b";
    plan(w);
    assert_int_equal(w->plan.n_vteps, 1);
    assert_string_equal(w->plan.vteps[0].node, "b");
    assert_true(has_warning(&w->plan, "nodes b and c share a VXLAN tunnel address or MAC"));
}

static void test_ipv6_vxlan_uses_its_own_device(void **state)
{
    struct world *w = *state;

    memset(w, 0, sizeof(*w));
    w->in.node_name = "a";
    add_pool(w, "v6", "fd65::/48", TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER, false);
    add_node(w, "a", "fd00:1::11/64", "fd65::", NULL);
    add_node(w, "b", "fd00:1::12/64", "fd65:0:0:1::", NULL);
    add_block(w, "fd65::/122", "a");
    add_block(w, "fd65:0:0:1::/122", "b");
    plan(w);
    assert_routes(&w->plan, "blackhole fd65::/122\n"
                            "fd65:0:0:1::/122 via fd65:0:0:1:: dev vxlan-v6.tabby onlink\n");
    assert_false(w->plan.vxlan[0].wanted);
    assert_true(w->plan.vxlan[1].wanted);
    assert_int_equal(w->plan.n_vteps, 1);
    assert_int_equal(w->plan.vteps[0].tunnel_addr.family, 6);
}

/* ---- workloads -------------------------------------------------------------------------- */

static void test_native_pool_leaves_remote_blocks_to_bird(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_NEVER);
    plan(w);
    assert_routes(&w->plan, "10.65.0.5/32 dev tbyaaa scope link\n");
    assert_false(w->plan.vxlan[0].wanted);
    assert_int_equal(w->plan.n_vteps, 0);
    assert_null(w->plan.ipip_pool);
}

static void test_borrowed_remote_address_gets_its_own_route(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_wep(w, "b", "tbyb2", "10.65.2.9/32"); /* b borrowed it from c's block */
    plan(w);
    assert_routes(&w->plan, "blackhole 10.65.0.0/26\n"
                            "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink\n"
                            "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink\n"
                            "10.65.2.9/32 via 10.65.1.0 dev vxlan.tabby onlink\n");
}

static void test_local_workload_wins_a_clashing_destination(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_wep(w, "b", "tbyb2", "10.65.0.5/32"); /* the same address as a's workload */
    plan(w);
    assert_int_equal(w->plan.n_routes, 4);
    assert_true(has_warning(&w->plan, "keeping \"10.65.0.5/32 dev tbyaaa scope link\", not "
                                      "\"10.65.0.5/32 via 10.65.1.0 dev vxlan.tabby onlink\""));
}

static void test_workload_without_interface_is_warned(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_NEVER);
    w->wep_specs[0].interface_name = NULL;
    plan(w);
    assert_int_equal(w->plan.n_routes, 0);
    assert_true(has_warning(&w->plan, "workload pod on this node has no usable interface"));
}

/* ---- IPIP ----------------------------------------------------------------------------- */

static void test_ipip_always_routes_via_tunl0_to_node_addresses(void **state)
{
    struct world *w = *state;
    char buf[TBY_IP_STRLEN];

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_ALWAYS);
    w->node_specs[0].has_ipip_tunnel_addr = true;
    w->node_specs[0].ipip_tunnel_addr = ip("10.65.0.1");
    plan(w);
    /* No blackhole: with IPIP, BIRD announces and blackholes this node's blocks. */
    assert_routes(&w->plan, "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 192.168.1.12 dev tunl0 onlink\n"
                            "10.65.2.0/26 via 192.168.2.13 dev tunl0 onlink\n");
    assert_string_equal(w->plan.ipip_pool, "default");
    assert_string_equal(tby_ip_format(&w->plan.ipip_tunnel_addr, buf), "10.65.0.1");
    assert_false(has_warning(&w->plan, "IPIP tunnel address"));
    assert_false(w->plan.vxlan[0].wanted);
}

/* tunl0 is still checked for (the pool needs it), bare until registration says its
 * address. */
static void test_ipip_without_own_tunnel_address_leaves_tunl0_bare(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_ALWAYS);
    plan(w);
    assert_string_equal(w->plan.ipip_pool, "default");
    assert_int_equal(w->plan.ipip_tunnel_addr.family, 0);
    assert_true(has_warning(&w->plan, "node a has no IPIP tunnel address yet: tunl0 gets no "
                                      "address"));
    assert_int_equal(w->plan.n_routes, 3); /* routes go on */
}

static void test_ipip_crosssubnet_encapsulates_only_across_subnets(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_CROSS_SUBNET);
    plan(w);
    assert_routes(&w->plan, "10.65.0.5/32 dev tbyaaa scope link\n"
                            "10.65.1.0/26 via 192.168.1.12\n"
                            "10.65.2.0/26 via 192.168.2.13 dev tunl0 onlink\n");
    assert_string_equal(w->plan.ipip_pool, "default");
}

static void test_ipip_routes_are_left_to_bird_in_bgp_mode(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_NEVER, TBY_ENCAP_CROSS_SUBNET);
    w->in.ipip_routes_by_bgp = true;
    plan(w);
    assert_routes(&w->plan, "10.65.0.5/32 dev tbyaaa scope link\n");
    assert_string_equal(w->plan.ipip_pool, "default");
}

static void test_ipip_pool_is_named_even_with_a_vxlan_pool_first(void **state)
{
    struct world *w = *state;

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_pool(w, "default-ipip", "10.66.0.0/16", TBY_ENCAP_NEVER, TBY_ENCAP_ALWAYS, false);
    add_block(w, "10.66.1.0/26", "b");
    plan(w);
    assert_string_equal(w->plan.ipip_pool, "default-ipip");
    assert_int_equal(w->plan.n_routes, 5);
    assert_string_equal(w->plan.routes[4].ifname, "");
    assert_int_equal(w->plan.routes[4].kind, TBY_ROUTE_IPIP);
}

/* ---- plan bookkeeping --------------------------------------------------------------- */

static void test_plan_needs_this_nodes_name(void **state)
{
    struct world *w = *state;
    struct tby_error err = { 0 };

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    w->in.node_name = "";
    assert_int_equal(tby_routes_plan(&w->in, &w->plan, &err), -EINVAL);
    assert_string_equal(err.msg, "routes: this node's name is not set");
}

static void test_plan_copy_is_deep(void **state)
{
    struct world *w = *state;
    struct tby_routes_plan copy = { 0 };
    char buf[TBY_ROUTE_STRLEN];

    three_nodes(w, TBY_ENCAP_ALWAYS, TBY_ENCAP_NEVER);
    add_pool(w, "ipip", "10.66.0.0/16", TBY_ENCAP_NEVER, TBY_ENCAP_ALWAYS, false);
    plan(w);
    assert_int_equal(tby_routes_plan_copy(&copy, &w->plan), 0);
    tby_routes_plan_clear(&w->plan);
    assert_int_equal(copy.n_routes, 4);
    assert_string_equal(tby_route_format(&copy.routes[3], buf),
                        "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink");
    assert_string_equal(copy.vteps[1].node, "c");
    assert_string_equal(copy.ipip_pool, "ipip");
    assert_int_equal(copy.warnings.n, 0);
    assert_true(copy.vxlan[0].wanted);
    tby_routes_plan_clear(&copy);
}

/* ---- MACs ------------------------------------------------------------------------------ */

static void test_derived_macs_are_stable_unicast_and_local(void **state)
{
    uint8_t a1[6], a2[6], b[6], a6[6];

    (void)state;
    tby_vxlan_mac_for_node("node-a", 4, a1);
    tby_vxlan_mac_for_node("node-a", 4, a2);
    tby_vxlan_mac_for_node("node-b", 4, b);
    tby_vxlan_mac_for_node("node-a", 6, a6);
    assert_memory_equal(a1, a2, 6);
    assert_memory_not_equal(a1, b, 6);
    assert_memory_not_equal(a1, a6, 6);
    assert_int_equal(a1[0] & 0x03, 0x02);
    assert_int_equal(b[0] & 0x03, 0x02);
    /* Felix's MACs for these names (0x66, then SHA-1 of the name, "-v6" added for v6). */
    assert_memory_equal(a1, ((uint8_t[]){ 0x66, 0x07, 0x02, 0xc1, 0xcc, 0x60 }), 6);
    assert_memory_equal(a6, ((uint8_t[]){ 0x66, 0xd4, 0xd5, 0x51, 0x3d, 0x42 }), 6);
}

static void test_mac_parse_accepts_either_case_and_refuses_junk(void **state)
{
    const char *bad[] = { "", "66:de:a2:00:12", "66:de:a2:00:12:3", "66-de-a2-00-12-34",
                          "66:de:a2:00:12:345", "g6:de:a2:00:12:34", " 6:de:a2:00:12:34",
                          "66:de:a2:00:12:34:" };
    uint8_t mac[6];

    (void)state;
    assert_int_equal(tby_mac_parse("66:DE:a2:00:12:34", mac), 0);
    assert_mac(mac, "66:de:a2:00:12:34");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tby_mac_parse(bad[i], mac), -EINVAL);
}

/* ---- natOutgoing ---------------------------------------------------------------------- */

static void test_nat_cidrs_masquerade_nat_pools_to_outside_every_pool(void **state)
{
    struct world *w = *state;
    struct tby_nat_cidrs nat;
    char buf[TBY_CIDR_STRLEN];

    memset(w, 0, sizeof(*w));
    add_pool(w, "nat", "10.65.0.0/16", TBY_ENCAP_NEVER, TBY_ENCAP_NEVER, true);
    add_pool(w, "plain", "10.66.0.0/16", TBY_ENCAP_NEVER, TBY_ENCAP_NEVER, false);
    add_pool(w, "nat6", "fd65::/48", TBY_ENCAP_NEVER, TBY_ENCAP_NEVER, true);
    w->pool_specs[2].disabled = true;
    assert_int_equal(tby_routes_nat_cidrs(w->pools, w->in.n_pools, &nat), 0);
    assert_int_equal(nat.masquerade.n, 2);
    assert_string_equal(tby_cidr_format(&nat.masquerade.items[0], buf), "10.65.0.0/16");
    assert_string_equal(tby_cidr_format(&nat.masquerade.items[1], buf), "fd65::/48");
    assert_int_equal(nat.pools.n, 3);
    assert_string_equal(tby_cidr_format(&nat.pools.items[1], buf), "10.66.0.0/16");
    tby_nat_cidrs_clear(&nat);
    assert_int_equal(tby_routes_nat_cidrs(NULL, 0, &nat), 0);
    assert_int_equal(nat.pools.n + nat.masquerade.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_felix_settings_set_the_devices_and_ipv6),
        T(test_vxlan_always_routes_remote_blocks_through_their_vtep),
        T(test_vxlan_vteps_name_every_remote_node),
        T(test_crosssubnet_routes_same_subnet_nodes_directly),
        T(test_crosssubnet_without_own_address_encapsulates),
        T(test_remote_node_without_tunnel_address_gets_no_route_and_a_warning),
        T(test_block_of_unknown_node_is_warned),
        T(test_block_outside_every_pool_is_warned),
        T(test_own_tunnel_address_missing_leaves_device_bare),
        T(test_missing_macs_are_derived_from_node_names),
        T(test_vteps_sharing_a_mac_keep_the_first),
        T(test_ipv6_vxlan_uses_its_own_device),
        T(test_native_pool_leaves_remote_blocks_to_bird),
        T(test_borrowed_remote_address_gets_its_own_route),
        T(test_local_workload_wins_a_clashing_destination),
        T(test_workload_without_interface_is_warned),
        T(test_ipip_always_routes_via_tunl0_to_node_addresses),
        T(test_ipip_without_own_tunnel_address_leaves_tunl0_bare),
        T(test_ipip_crosssubnet_encapsulates_only_across_subnets),
        T(test_ipip_routes_are_left_to_bird_in_bgp_mode),
        T(test_ipip_pool_is_named_even_with_a_vxlan_pool_first),
        T(test_plan_needs_this_nodes_name),
        T(test_plan_copy_is_deep),
        T(test_derived_macs_are_stable_unicast_and_local),
        T(test_mac_parse_accepts_either_case_and_refuses_junk),
        T(test_nat_cidrs_masquerade_nat_pools_to_outside_every_pool),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
