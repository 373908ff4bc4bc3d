/* test_node_register.c — this node's Node: what it should say given the addresses found
 * and the pools (the plan, without a datastore), and the registration part against a
 * sqlite datastore: registered with an address given, the Node's other fields kept, the
 * VXLAN and IPIP tunnel addresses from IPAM (from the pools Calico takes them from), and a
 * failed autodetection said as the reason the node is not ready. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "node_fixture.h"
#include "register_plan.h"

/* ---- the plan ----------------------------------------------------------------------------- */

/* The one resource of a YAML document (the caller's). */
static struct tby_resource *resource(const char *yaml)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };
    struct tby_resource *res;

    if (tby_resource_load(yaml, strlen(yaml), "test", &list, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    assert_int_equal(list.n, 1);
    res = TBY_STEAL(list.items[0]);
    tby_resource_list_clear(&list);
    return res;
}

static struct tby_resource *plan(const struct tby_resource *old, const struct node_reg_facts *f)
{
    struct tby_resource *out = NULL;
    struct tby_error err = { 0 };

    if (node_register_plan(old, f, &out, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    return out;
}

static void ip(const char *text, struct tby_ip *out)
{
    assert_int_equal(tby_ip_parse(text, out, NULL), 0);
}

static void cidr(const char *text, struct tby_cidr *out)
{
    assert_int_equal(tby_cidr_parse(text, 0, out, NULL), 0);
}

static void ip_is(const struct tby_ip *got, const char *want)
{
    char buf[TBY_IP_STRLEN];

    assert_string_equal(tby_ip_format(got, buf), want);
}

static void test_new_node_says_its_address_and_pins_its_vxlan_mac(void **state)
{
    struct node_reg_facts f = { .node = "n1", .has_addr = { true } };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    char buf[TBY_CIDR_STRLEN];

    cidr("10.0.0.5/24", &f.addr[0]);
    res = plan(NULL, &f);
    assert_non_null(res);
    assert_string_equal(res->meta.name, "n1");
    assert_true(res->spec.node->has_ipv4_address);
    assert_string_equal(tby_cidr_format(&res->spec.node->ipv4_address, buf), "10.0.0.5/24");
    assert_false(res->spec.node->has_ipv6_address);
    assert_false(res->spec.node->has_as_number);
    /* the IPv4 VTEP's MAC always (every node derives it from the name); IPv6's only with an
     * IPv6 VXLAN pool */
    assert_non_null(res->spec.node->vxlan_tunnel_mac);
    assert_null(res->spec.node->vxlan_tunnel_mac_v6);
    assert_false(res->spec.node->has_vxlan_tunnel_addr);
}

static void test_vxlan_tunnel_addresses_and_as_are_said(void **state)
{
    struct node_reg_facts f = { .node = "n1", .has_addr = { true, true },
                                .vxlan = { true, true }, .has_tunnel = { true, true },
                                .has_as = true, .as_number = 64512 };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;

    cidr("10.0.0.5/24", &f.addr[0]);
    cidr("fd00::5/64", &f.addr[1]);
    ip("10.66.0.1", &f.tunnel[0]);
    ip("fd66::1", &f.tunnel[1]);
    res = plan(NULL, &f);
    assert_true(res->spec.node->has_ipv6_address);
    assert_true(res->spec.node->has_vxlan_tunnel_addr);
    ip_is(&res->spec.node->vxlan_tunnel_addr, "10.66.0.1");
    assert_true(res->spec.node->has_vxlan_tunnel_addr_v6);
    ip_is(&res->spec.node->vxlan_tunnel_addr_v6, "fd66::1");
    assert_non_null(res->spec.node->vxlan_tunnel_mac_v6);
    assert_int_equal(res->spec.node->as_number, 64512);
}

static const char *const existing =
    "apiVersion: projectcalico.org/v3\nkind: Node\n"
    "metadata: {name: n1, labels: {rack: r7}}\n"
    "spec:\n"
    "  bgp: {ipv4Address: 10.0.0.5/24, routeReflectorClusterID: 224.0.0.1, asNumber: 65000}\n"
    "  ipv4VXLANTunnelAddr: 10.66.0.9\n"
    "  vxlanTunnelMACAddr: 66:00:00:00:00:01\n";

static void test_fields_others_own_are_kept(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *old = resource(existing);
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct node_reg_facts f = { .node = "n1", .has_addr = { true }, .vxlan = { true },
                                .has_tunnel = { true } };
    char buf[TBY_CIDR_STRLEN];

    cidr("10.0.0.6/24", &f.addr[0]); /* the address moved */
    ip("10.66.0.9", &f.tunnel[0]);
    res = plan(old, &f);
    assert_non_null(res);
    assert_string_equal(tby_cidr_format(&res->spec.node->ipv4_address, buf), "10.0.0.6/24");
    assert_string_equal(json_string_value(json_object_get(res->meta.labels, "rack")), "r7");
    assert_true(res->spec.node->has_rr_cluster_id);
    assert_int_equal(res->spec.node->as_number, 65000); /* AS not configured here: kept */
    /* a MAC already there stays, whatever this node would derive */
    assert_string_equal(res->spec.node->vxlan_tunnel_mac, "66:00:00:00:00:01");
}

static void test_unchanged_node_plans_no_write(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *old = resource(existing);
    struct node_reg_facts f = { .node = "n1", .has_addr = { true }, .vxlan = { true },
                                .has_tunnel = { true } };

    cidr("10.0.0.5/24", &f.addr[0]);
    ip("10.66.0.9", &f.tunnel[0]);
    assert_null(plan(old, &f));
}

static void test_tunnel_address_goes_with_the_vxlan_pools(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *old = resource(existing);
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct node_reg_facts f = { .node = "n1", .has_addr = { true } };

    cidr("10.0.0.5/24", &f.addr[0]);
    res = plan(old, &f);
    assert_non_null(res);
    assert_false(res->spec.node->has_vxlan_tunnel_addr);
}

static void test_nothing_for_bgp_leaves_no_empty_bgp_section(void **state)
{
    struct node_reg_facts f = { .node = "n1" }; /* IP none, no AS */
    _cleanup_(tby_resource_freep) struct tby_resource *res = plan(NULL, &f);

    assert_non_null(res);
    assert_false(res->spec.node->has_bgp);
}

static void test_tunnel_pools_are_vxlan_enabled_and_for_tunnels(void **state)
{
    struct tby_ippool p = { .vxlan_mode = TBY_ENCAP_ALWAYS, .node_selector = "all()",
                            .allowed_uses = TBY_POOL_USE_WORKLOAD | TBY_POOL_USE_TUNNEL };

    cidr("10.66.0.0/16", &p.cidr);
    assert_true(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, NULL));
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN6, NULL)); /* family */
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, NULL));
    p.vxlan_mode = TBY_ENCAP_CROSS_SUBNET;
    assert_true(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, NULL));
    p.vxlan_mode = TBY_ENCAP_NEVER;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, NULL));
    p.vxlan_mode = TBY_ENCAP_ALWAYS;
    p.disabled = true;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, NULL));
    p.disabled = false;
    p.allowed_uses = TBY_POOL_USE_WORKLOAD;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, NULL));
}

/* As Calico: IPv4 pools whose ipipMode is not Never, enabled, for tunnels, and whose
 * nodeSelector selects the node. */
static void test_ipip_tunnel_pools_are_ipv4_ipip_pools_selecting_the_node(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *node = resource(existing);
    struct tby_ippool p = { .ipip_mode = TBY_ENCAP_ALWAYS, .node_selector = "all()",
                            .allowed_uses = TBY_POOL_USE_WORKLOAD | TBY_POOL_USE_TUNNEL };

    cidr("10.67.0.0/16", &p.cidr);
    assert_true(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_VXLAN, node));
    p.ipip_mode = TBY_ENCAP_CROSS_SUBNET;
    assert_true(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    p.node_selector = "rack == 'r7'";
    assert_true(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, NULL)); /* no labels yet */
    p.node_selector = "rack == 'r8'";
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    p.node_selector = "all()";
    p.ipip_mode = TBY_ENCAP_NEVER;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    p.ipip_mode = TBY_ENCAP_ALWAYS;
    p.disabled = true;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
    p.disabled = false;
    p.allowed_uses = TBY_POOL_USE_WORKLOAD;
    assert_false(node_register_tunnel_pool(&p, NODE_TUNNEL_IPIP, node));
}

/* spec.bgp.ipv4IPIPTunnelAddr is set with the IPIP address, and goes with it; a bgp
 * section left empty goes too. */
static void test_ipip_tunnel_address_is_said_in_spec_bgp(void **state)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    _cleanup_(tby_resource_freep) struct tby_resource *gone = NULL;
    struct node_reg_facts f = { .node = "n1" };

    f.has_tunnel[NODE_TUNNEL_IPIP] = true;
    ip("10.67.3.1", &f.tunnel[NODE_TUNNEL_IPIP]);
    res = plan(NULL, &f);
    assert_true(res->spec.node->has_bgp);
    assert_true(res->spec.node->has_ipip_tunnel_addr);
    ip_is(&res->spec.node->ipip_tunnel_addr, "10.67.3.1");
    assert_false(res->spec.node->has_vxlan_tunnel_addr);
    assert_null(plan(res, &f)); /* said already */
    f.has_tunnel[NODE_TUNNEL_IPIP] = false;
    gone = plan(res, &f);
    assert_non_null(gone);
    assert_false(gone->spec.node->has_ipip_tunnel_addr);
    assert_false(gone->spec.node->has_bgp);
}

/* ---- the part ------------------------------------------------------------------------------ */

static struct tby_resource *stored_node(struct node_fixture *f)
{
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };

    if (tby_catalog_get(f->n.store, tby_kind_info(TBY_KIND_NODE), NULL, "n1", &res, &err) < 0)
        fail_msg("Node n1: %s", tby_error_str(&err));
    return res;
}

static void test_registers_the_address_given_and_keeps_the_labels(void **state)
{
    struct node_fixture f = { 0 };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    const char *registering[] = { "register", NULL };
    char why[512], buf[TBY_CIDR_STRLEN];

    fixture_init(&f, (const char *[]){ "--ip", "10.0.0.5/24", NULL });
    fixture_start(&f, registering);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: Node\n"
                      "metadata: {name: n1, labels: {rack: r7}}\nspec: {}\n");
    assert_false(node_ready(&f.n, why, sizeof(why)));
    assert_string_equal(why, "datastore not read yet");
    node_turn(&f.n, 0);
    assert_true(node_ready(&f.n, why, sizeof(why)));
    res = stored_node(&f);
    assert_string_equal(tby_cidr_format(&res->spec.node->ipv4_address, buf), "10.0.0.5/24");
    assert_string_equal(json_string_value(json_object_get(res->meta.labels, "rack")), "r7");
    fixture_stop(&f);
}

static void test_vxlan_tunnel_address_comes_from_ipam(void **state)
{
    struct node_fixture f = { 0 };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    const char *registering[] = { "register", NULL };
    struct tby_cidr pool;
    char why[512];

    fixture_init(&f, (const char *[]){ "--ip", "10.0.0.5/24", "--networking-backend", "vxlan",
                                       NULL });
    fixture_start(&f, registering);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: p}\nspec: {cidr: 10.66.0.0/16, vxlanMode: Always}\n");
    node_turn(&f.n, 0);
    assert_true(node_ready(&f.n, why, sizeof(why)));
    res = stored_node(&f);
    cidr("10.66.0.0/16", &pool);
    assert_true(res->spec.node->has_vxlan_tunnel_addr);
    assert_true(tby_cidr_contains(&pool, &res->spec.node->vxlan_tunnel_addr));
    fixture_stop(&f);
}

/* handle's one address, which lies in `pool`; false when it holds none. */
static bool handle_holds_in(struct node_fixture *f, const char *handle, const char *pool,
                            const struct tby_ip *want)
{
    struct tby_ipam *ipam = NULL;
    struct tby_ipam_result held = { 0 };
    struct tby_cidr net;
    bool holds;

    cidr(pool, &net);
    assert_int_equal(tby_ipam_new(f->n.store, NULL, &ipam, NULL), 0);
    assert_int_equal(tby_ipam_ips_by_handle(ipam, handle, &held, NULL), 0);
    holds = held.n == 1 && tby_cidr_contains(&net, &held.items[0].ip) &&
            (!want || tby_ip_equal(want, &held.items[0].ip));
    tby_ipam_result_clear(&held);
    tby_ipam_free(ipam);
    return holds;
}

/* Whether the stored Node's IPIP address lies in `pool` (NULL: whether it has none). */
static bool stored_ipip_in(struct node_fixture *f, const char *pool)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = stored_node(f);
    struct tby_cidr net;

    if (!pool)
        return !res->spec.node->has_ipip_tunnel_addr;
    cidr(pool, &net);
    return res->spec.node->has_ipip_tunnel_addr &&
           tby_cidr_contains(&net, &res->spec.node->ipip_tunnel_addr);
}

static bool turn_until_ipip_in(struct node_fixture *f, const char *pool)
{
    int64_t until = node_now_ms() + 10000;

    while (!stored_ipip_in(f, pool) && node_now_ms() < until)
        node_turn(&f->n, 20);
    return stored_ipip_in(f, pool);
}

/* The IPIP address comes from the IPIP pool that selects the node (not from one that does
 * not, nor from a VXLAN pool), is held by handle ipip-tunnel-addr-<node> and said in
 * spec.bgp.ipv4IPIPTunnelAddr; outside every IPIP pool, it is replaced; once no IPIP pool
 * is left it is given back and unsaid. */
static void test_ipip_tunnel_address_comes_from_the_ipip_pool_selecting_the_node(void **state)
{
    struct node_fixture f = { 0 };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    const char *registering[] = { "register", NULL };
    struct tby_error err = { 0 };
    struct tby_cidr pool;
    char why[512];

    fixture_init(&f, (const char *[]){ "--ip", "10.0.0.5/24", "--networking-backend", "vxlan",
                                       NULL });
    fixture_start(&f, registering);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: Node\n"
                      "metadata: {name: n1, labels: {rack: r7}}\nspec: {}\n"
                      "---\napiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: a-other-rack}\n"
                      "spec: {cidr: 10.68.0.0/16, ipipMode: Always, nodeSelector: rack == 'r8'}\n"
                      "---\napiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: b-vxlan}\nspec: {cidr: 10.66.0.0/16, vxlanMode: Always}\n"
                      "---\napiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: c-ipip}\n"
                      "spec: {cidr: 10.67.0.0/16, ipipMode: CrossSubnet,\n"
                      "       nodeSelector: rack == 'r7'}\n");
    node_turn(&f.n, 0);
    assert_true(node_ready(&f.n, why, sizeof(why)));
    res = stored_node(&f);
    cidr("10.67.0.0/16", &pool);
    assert_true(res->spec.node->has_ipip_tunnel_addr);
    assert_true(tby_cidr_contains(&pool, &res->spec.node->ipip_tunnel_addr));
    assert_true(handle_holds_in(&f, "ipip-tunnel-addr-n1", "10.67.0.0/16",
                                &res->spec.node->ipip_tunnel_addr));
    assert_true(handle_holds_in(&f, "vxlan-tunnel-addr-n1", "10.66.0.0/16",
                                &res->spec.node->vxlan_tunnel_addr));
    /* outside every IPIP pool: given back, and one taken from the IPIP pool there is */
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: c-ipip}\nspec: {cidr: 10.67.0.0/16, ipipMode: Never}\n"
                      "---\napiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: d-ipip}\nspec: {cidr: 10.69.0.0/16, ipipMode: Always}\n");
    assert_true(turn_until_ipip_in(&f, "10.69.0.0/16"));
    assert_true(handle_holds_in(&f, "ipip-tunnel-addr-n1", "10.69.0.0/16", NULL));
    /* no IPIP pool left: given back, and the field goes */
    assert_int_equal(tby_catalog_delete_one(f.n.store, tby_kind_info(TBY_KIND_IPPOOL), NULL,
                                            "d-ipip", &err), 0);
    assert_true(turn_until_ipip_in(&f, NULL));
    tby_resource_free(TBY_STEAL(res));
    res = stored_node(&f);
    assert_true(res->spec.node->has_vxlan_tunnel_addr);
    assert_false(handle_holds_in(&f, "ipip-tunnel-addr-n1", "10.69.0.0/16", NULL));
    fixture_stop(&f);
}

static int tunnel_held(void *ctx, const char *key, const struct tby_resource *res)
{
    (void)ctx;
    (void)key;
    return res && res->info->kind == TBY_KIND_NODE && res->spec.node->has_vxlan_tunnel_addr;
}

static void turn_ms(struct node_fixture *f, int ms)
{
    int64_t until = node_now_ms() + ms;

    while (node_now_ms() < until)
        node_turn(&f->n, 20);
}

/* Checks that find nothing changed read nothing: the Node, the pools and the block that
 * holds the tunnel address come from the syncer. A tunnel address given back by someone
 * else is seen in the block, and taken again. */
static void test_checks_read_nothing_until_something_is_to_change(void **state)
{
    struct node_fixture f = { 0 };
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    const char *registering[] = { "register", NULL };
    struct tby_store_stats before;
    struct tby_ipam *other = NULL;
    int64_t until;
    char why[512];

    fixture_init(&f, (const char *[]){ "--ip", "10.0.0.5/24", "--networking-backend", "vxlan",
                                       "--autodetect-interval", "1", NULL });
    fixture_start(&f, registering);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
                      "metadata: {name: p}\nspec: {cidr: 10.66.0.0/16, vxlanMode: Always}\n");
    until = node_now_ms() + 10000;
    while (!(node_ready(&f.n, why, sizeof(why)) &&
             tby_syncer_foreach(f.n.syncer, tunnel_held, NULL) == 1) &&
           node_now_ms() < until)
        node_turn(&f.n, 20);
    res = stored_node(&f);
    assert_true(res->spec.node->has_vxlan_tunnel_addr);
    before = tby_store_stats(f.n.store);
    turn_ms(&f, 2500); /* two checks at least */
    assert_int_equal(tby_store_stats(f.n.store).gets, before.gets);
    assert_int_equal(tby_store_stats(f.n.store).ranges, before.ranges);
    assert_int_equal(tby_store_stats(f.n.store).commits, before.commits);
    /* given back behind its back (tabbyctl ipam release, say) */
    assert_int_equal(tby_ipam_new(f.n.store, NULL, &other, NULL), 0);
    assert_int_equal(tby_ipam_release_handle(other, "vxlan-tunnel-addr-n1", NULL, NULL), 0);
    tby_ipam_free(other);
    before = tby_store_stats(f.n.store);
    until = node_now_ms() + 10000;
    while (tby_store_stats(f.n.store).commits == before.commits && node_now_ms() < until)
        node_turn(&f.n, 20);
    assert_true(tby_store_stats(f.n.store).commits > before.commits);
    tby_resource_free(TBY_STEAL(res));
    res = stored_node(&f);
    assert_true(res->spec.node->has_vxlan_tunnel_addr);
    fixture_stop(&f);
}

static void test_failed_autodetection_is_why_the_node_is_not_ready(void **state)
{
    struct node_fixture f = { 0 };
    const struct node_part *reg = fixture_part("register");
    const char *registering[] = { "register", NULL };
    struct tby_buf metrics = { 0 };
    char why[512];

    fixture_init(&f, (const char *[]){ "--ip-autodetection-method",
                                       "interface=tbynosuch0", NULL });
    fixture_start(&f, registering);
    /* the part, asked before its first attempt */
    assert_false(reg->ready(f.n.state[0], why, sizeof(why)));
    assert_string_equal(why, "node not registered yet");
    node_turn(&f.n, 0);
    assert_false(node_ready(&f.n, why, sizeof(why)));
    if (!strstr(why, "node not registered: IPv4 autodetection (interface=tbynosuch0)"))
        fail_msg("why: %s", why);
    assert_int_equal(node_metrics_write(&f.n, &metrics), 0);
    assert_non_null(strstr(metrics.data, "\ntabby_node_registered 0\n"));
    assert_non_null(strstr(metrics.data, "\ntabby_node_registration_failures_total 1\n"));
    tby_buf_clear(&metrics);
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_node_says_its_address_and_pins_its_vxlan_mac),
        cmocka_unit_test(test_vxlan_tunnel_addresses_and_as_are_said),
        cmocka_unit_test(test_fields_others_own_are_kept),
        cmocka_unit_test(test_unchanged_node_plans_no_write),
        cmocka_unit_test(test_tunnel_address_goes_with_the_vxlan_pools),
        cmocka_unit_test(test_nothing_for_bgp_leaves_no_empty_bgp_section),
        cmocka_unit_test(test_tunnel_pools_are_vxlan_enabled_and_for_tunnels),
        cmocka_unit_test(test_ipip_tunnel_pools_are_ipv4_ipip_pools_selecting_the_node),
        cmocka_unit_test(test_ipip_tunnel_address_is_said_in_spec_bgp),
        cmocka_unit_test(test_registers_the_address_given_and_keeps_the_labels),
        cmocka_unit_test(test_vxlan_tunnel_address_comes_from_ipam),
        cmocka_unit_test(test_ipip_tunnel_address_comes_from_the_ipip_pool_selecting_the_node),
        cmocka_unit_test(test_checks_read_nothing_until_something_is_to_change),
        cmocka_unit_test(test_failed_autodetection_is_why_the_node_is_not_ready),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
