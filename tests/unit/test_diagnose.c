/* test_diagnose.c — node diagnose's checks on states built by hand (no root, no kernel): a
 * cluster from YAML, a kernel's links, addresses, routes and neighbours as arrays, /proc as
 * a scratch tree, tabby-node's /status as JSON. Each case breaks one thing and checks that
 * the check says FAIL (or WARN) naming exactly that, and OK when nothing is broken; and
 * how the report prints (text wrapped, JSON for scripts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "diagnose.h"
#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"

/* Two nodes on 10.99.1.0/24, a pool (encapsulation per test), pod a on n1, pod b on n2. */
static const char *const cluster_yaml =
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n"
    "spec: {bgp: {ipv4Address: 10.99.1.11/24}, ipv4VXLANTunnelAddr: 10.244.1.0,\n"
    "       vxlanTunnelMACAddr: \"66:00:00:00:00:01\"}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\n"
    "spec: {bgp: {ipv4Address: 10.99.1.12/24}, ipv4VXLANTunnelAddr: 10.244.2.0,\n"
    "       vxlanTunnelMACAddr: \"66:00:00:00:00:02\"}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
    "metadata: {name: n1-k8s-a-eth0, namespace: default}\n"
    "spec: {orchestrator: k8s, node: n1, pod: a, endpoint: eth0, interfaceName: tbya,\n"
    "       ipNetworks: [10.244.1.1/32]}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
    "metadata: {name: n2-k8s-b-eth0, namespace: default}\n"
    "spec: {orchestrator: k8s, node: n2, pod: b, endpoint: eth0, interfaceName: tbyb,\n"
    "       ipNetworks: [10.244.2.1/32]}\n";

enum { LO = 1, ETH0, TBYA, VXLAN };

struct fx {
    struct diag d;
    char proc[64];
};

/* ---- building the state ------------------------------------------------------------------- */

static void load(struct fx *fx, const char *yaml)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_resource_load(yaml, strlen(yaml), "test", &list, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    for (size_t i = 0; i < list.n; i++)
        assert_int_equal(diag_cluster_take(&fx->d.cluster, list.items[i]), 0);
    free(list.items);
}

static void pool(struct fx *fx, const char *vxlan_mode)
{
    char yaml[256];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: IPPool\n"
             "metadata: {name: p}\nspec: {cidr: 10.244.0.0/16, vxlanMode: %s}\n", vxlan_mode);
    load(fx, yaml);
}

/* A BlockAffinity record as Calico writes it; block is its CIDR. */
static void affinity(struct fx *fx, const char *node, const char *block, const char *state)
{
    char key[128], value[256], name[64];
    struct tby_kv kv = { .key = key, .value = value };

    snprintf(name, sizeof(name), "%s", block);
    *strchr(name, '/') = '-';
    snprintf(key, sizeof(key), TBY_IPAM_AFFINITY_PREFIX "%s/%s", node, name);
    kv.value_len = (size_t)snprintf(value, sizeof(value), "{\"spec\": {\"node\": \"%s\", "
                                    "\"cidr\": \"%s\", \"state\": \"%s\", \"deleted\": "
                                    "\"false\"}}", node, block, state);
    assert_int_equal(diag_cluster_add_affinity(&fx->d.cluster, &kv), 0);
}

static struct tby_ip ip_of(const char *text)
{
    struct tby_ip ip;

    assert_int_equal(tby_ip_parse(text, &ip, NULL), 0);
    return ip;
}

static struct tby_cidr cidr_of(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &c, NULL), 0);
    return c;
}

static void link_add(struct fx *fx, int index, const char *name, unsigned mtu, bool up)
{
    struct diag_kernel *k = &fx->d.kernel;
    struct diag_link *l;

    assert_int_equal(TBY_GROW(k->links, k->cap_links, k->n_links + 1), 0);
    l = &k->links[k->n_links++];
    *l = (struct diag_link){ .index = index, .mtu = mtu, .up = up, .lower_up = up };
    snprintf(l->name, sizeof(l->name), "%s", name);
}

static void route_add(struct fx *fx, const char *dst, enum diag_route_type type, int oif,
                      const char *gw)
{
    struct diag_kernel *k = &fx->d.kernel;

    assert_int_equal(TBY_GROW(k->routes, k->cap_routes, k->n_routes + 1), 0);
    k->routes[k->n_routes++] = (struct diag_route){ .dst = cidr_of(dst), .type = type,
                                                    .oif = oif, .has_gateway = gw != NULL,
                                                    .gateway = gw ? ip_of(gw)
                                                                  : (struct tby_ip){ 0 } };
}

static void neigh_add(struct fx *fx, bool fdb, const char *ip, const char *mac)
{
    struct diag_kernel *k = &fx->d.kernel;
    struct diag_neigh *n;

    assert_int_equal(TBY_GROW(k->neighs, k->cap_neighs, k->n_neighs + 1), 0);
    n = &k->neighs[k->n_neighs++];
    *n = (struct diag_neigh){ .ifindex = VXLAN, .fdb = fdb, .ip = ip_of(ip), .has_mac = true };
    assert_int_equal(tby_mac_parse(mac, n->mac), 0);
}

/* A healthy n1 of a native pool: uplink, pod a's veth and route, a route to n2's block. */
static void healthy(struct fx *fx, const char *vxlan_mode)
{
    struct diag_kernel *k = &fx->d.kernel;

    load(fx, cluster_yaml);
    pool(fx, vxlan_mode);
    affinity(fx, "n1", "10.244.1.0/26", "confirmed");
    affinity(fx, "n2", "10.244.2.0/26", "confirmed");
    affinity(fx, "n2", "10.244.3.0/26", "pending"); /* a claim under way routes nothing */
    diag_cluster_done(&fx->d.cluster, "n1");
    fx->d.cluster.read = true;
    link_add(fx, LO, "lo", 65536, true);
    link_add(fx, ETH0, "eth0", 1500, true);
    link_add(fx, TBYA, "tbya", strcmp(vxlan_mode, "Never") ? 1450 : 1500, true);
    assert_int_equal(TBY_GROW(k->addrs, k->cap_addrs, 1), 0);
    k->addrs[k->n_addrs++] = (struct diag_addr){ ETH0, ip_of("10.99.1.11") };
    route_add(fx, "10.244.1.1", DIAG_ROUTE_UNICAST, TBYA, NULL);
    route_add(fx, "0.0.0.0/0", DIAG_ROUTE_UNICAST, ETH0, "10.99.1.254");
    if (strcmp(vxlan_mode, "Never") == 0) {
        route_add(fx, "10.244.2.0/26", DIAG_ROUTE_UNICAST, ETH0, "10.99.1.12");
    } else {
        link_add(fx, VXLAN, TBY_VXLAN_DEVICE, 1450, true);
        route_add(fx, "10.244.2.0/26", DIAG_ROUTE_UNICAST, VXLAN, "10.244.2.0");
        neigh_add(fx, false, "10.244.2.0", "66:00:00:00:00:02");
        neigh_add(fx, true, "10.99.1.12", "66:00:00:00:00:02");
    }
    fx->d.kernel.read = true;
    fx->d.set.backend = strcmp(vxlan_mode, "Never") ? "vxlan" : "bird";
    assert_int_equal(diag_make_plan(&fx->d), 0);
}

static void proc_file(struct fx *fx, const char *path, const char *value)
{
    char file[256], cmd[320];
    FILE *f;

    snprintf(file, sizeof(file), "%s/sys/%s", fx->proc, path);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", file);
    assert_int_equal(system(cmd), 0);
    assert_non_null(f = fopen(file, "w"));
    fprintf(f, "%s\n", value);
    fclose(f);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    snprintf(fx->proc, sizeof(fx->proc), "/tmp/tby-diagnose-XXXXXX");
    assert_non_null(mkdtemp(fx->proc));
    fx->d.set = (struct diag_settings){ .node = "n1", .health = "127.0.0.1:9099",
                                        .backend = "bird", .store_uri = "sqlite:/x.db",
                                        .proc = fx->proc, .timeout_ms = 100,
                                        .bird_config = "/nowhere/bird.conf" };
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->proc);
    assert_int_equal(system(cmd), 0);
    diag_clear(&fx->d);
    free(fx);
    return 0;
}

/* ---- asserting on the report -------------------------------------------------------------- */

static const struct diag_result *result(const struct fx *fx, const char *check)
{
    for (size_t i = 0; i < fx->d.report.n; i++)
        if (strcmp(fx->d.report.v[i].check, check) == 0)
            return &fx->d.report.v[i];
    fail_msg("no result for %s", check);
    return NULL;
}

/* The check's status, and its items joined by ",". */
static void expect(const struct fx *fx, const char *check, enum diag_status status,
                   const char *items)
{
    const struct diag_result *r = result(fx, check);
    char joined[512] = "";

    for (size_t i = 0; i < r->items.n; i++)
        snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", i ? "," : "",
                 r->items.items[i]);
    if (r->status != status || strcmp(joined, items) != 0)
        fail_msg("%s: %s [%s], want %s [%s]: %s", check, diag_status_name(r->status), joined,
                 diag_status_name(status), items, r->found);
}

static void has_detail(const struct fx *fx, const char *check, const char *piece)
{
    const struct diag_result *r = result(fx, check);

    for (size_t i = 0; i < r->details.n; i++)
        if (strstr(r->details.items[i], piece))
            return;
    fail_msg("%s: no detail holds \"%s\" (%zu details)", check, piece, r->details.n);
}

static void daemon_says(struct fx *fx, const char *json)
{
    json_error_t jerr;

    fx->d.daemon.status = json_loads(json, 0, &jerr);
    if (!fx->d.daemon.status)
        fail_msg("%s", jerr.text);
    fx->d.daemon.answered = true;
}

/* ---- the report ----------------------------------------------------------------------------- */

static void test_text_wraps_and_counts_json_names(void **state)
{
    struct fx *fx = *state;
    struct diag_result *r;
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ json_t *doc = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    diag_add(&fx->d.report, "kernel", "ip-forward", DIAG_OK, "forwarding is on");
    r = diag_add(&fx->d.report, "kernel", "mtu", DIAG_FAIL, "%s", "word word word word word "
                 "word word word word word word word word word word word word word");
    diag_detail(r, "tbya: MTU 1500");
    diag_item(r, "tbya");
    diag_action(r, "lower it");
    diag_add(&fx->d.report, "node", "tabby-node", DIAG_WARN, "degraded");
    assert_int_equal(diag_worst(&fx->d.report), DIAG_FAIL);
    assert_int_equal(diag_print_text(out, &fx->d.report, "Node n1"), 0);
    fclose(out);
    assert_non_null(strstr(text, "FAIL  kernel/mtu              word word"));
    assert_non_null(strstr(text, "\n                              word word"));
    assert_non_null(strstr(text, "\n                              - tbya: MTU 1500\n"));
    assert_non_null(strstr(text, "\n                              do: lower it\n"));
    assert_non_null(strstr(text, "\n1 FAIL, 1 WARN, 1 OK\n"));
    for (char *line = text; *line; line += strcspn(line, "\n") + 1)
        assert_true(strcspn(line, "\n") <= 100);
    doc = diag_report_json(&fx->d.report, "n1");
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "FAIL");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "counts"), "warn")),
                     1);
    r = NULL;
    assert_string_equal(json_string_value(json_array_get(json_object_get(
                            json_array_get(json_object_get(doc, "checks"), 1), "items"), 0)),
                        "tbya");
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(doc, "checks"), 0),
                                             "action")));
}

static void test_first_difference_names_the_line(void **state)
{
    char a[32], b[32];

    (void)state;
    assert_int_equal(diag_first_difference("x\ny\n", "x\ny\n", a, b, sizeof(a)), 0);
    assert_int_equal(diag_first_difference("x\ny\nz\n", "x\nY\nz\n", a, b, sizeof(a)), 2);
    assert_string_equal(a, "y");
    assert_string_equal(b, "Y");
    assert_int_equal(diag_first_difference("x\n# hand\n", "x\n", a, b, sizeof(a)), 2);
    assert_string_equal(a, "# hand");
    assert_string_equal(b, "");
}

/* ---- sysctl --------------------------------------------------------------------------------- */

static void test_ip_forward_off_is_named(void **state)
{
    struct fx *fx = *state;

    proc_file(fx, "net/ipv4/ip_forward", "0");
    diag_check_ip_forward(&fx->d);
    expect(fx, "ip-forward", DIAG_FAIL, "net.ipv4.ip_forward");
    diag_report_clear(&fx->d.report);
    proc_file(fx, "net/ipv4/ip_forward", "1");
    diag_check_ip_forward(&fx->d);
    expect(fx, "ip-forward", DIAG_OK, "");
}

static void test_strict_rp_filter_names_the_interface(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Always");
    proc_file(fx, "net/ipv4/conf/all/rp_filter", "0");
    proc_file(fx, "net/ipv4/conf/tbya/rp_filter", "1");
    proc_file(fx, "net/ipv4/conf/" TBY_VXLAN_DEVICE "/rp_filter", "2");
    diag_check_rp_filter(&fx->d);
    expect(fx, "rp-filter", DIAG_FAIL, "tbya");
    diag_report_clear(&fx->d.report);
    proc_file(fx, "net/ipv4/conf/all/rp_filter", "1"); /* the larger one applies */
    proc_file(fx, "net/ipv4/conf/tbya/rp_filter", "0");
    diag_check_rp_filter(&fx->d);
    expect(fx, "rp-filter", DIAG_FAIL, "tbya");
    diag_report_clear(&fx->d.report);
    proc_file(fx, "net/ipv4/conf/all/rp_filter", "2");
    diag_check_rp_filter(&fx->d);
    expect(fx, "rp-filter", DIAG_OK, "");
}

static void test_conntrack_warns_above_80_percent_and_fails_full(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *count;
        enum diag_status want;
    } cases[] = { { "800", DIAG_OK }, { "801", DIAG_WARN }, { "1000", DIAG_FAIL } };

    diag_check_conntrack(&fx->d); /* nothing to read */
    expect(fx, "conntrack", DIAG_WARN, "");
    proc_file(fx, "net/netfilter/nf_conntrack_max", "1000");
    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        diag_report_clear(&fx->d.report);
        proc_file(fx, "net/netfilter/nf_conntrack_count", cases[i].count);
        diag_check_conntrack(&fx->d);
        expect(fx, "conntrack", cases[i].want, cases[i].want == DIAG_OK ? "" : "nf_conntrack");
    }
}

/* ---- MTU ------------------------------------------------------------------------------------ */

static void test_mtu_follows_the_uplink_and_the_pools_overhead(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Never");
    diag_check_mtu(&fx->d);
    expect(fx, "mtu", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.links[1].mtu = 1400; /* the uplink shrank */
    diag_check_mtu(&fx->d);
    expect(fx, "mtu", DIAG_FAIL, "tbya");
}

static void test_mtu_counts_vxlan_overhead_for_veths_and_the_device(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Always");
    diag_check_mtu(&fx->d);
    expect(fx, "mtu", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.links[1].mtu = 1480; /* 1450 + 50 > 1480 for both */
    diag_check_mtu(&fx->d);
    expect(fx, "mtu", DIAG_FAIL, TBY_VXLAN_DEVICE ",tbya");
    has_detail(fx, "mtu", "more than 1480 - 50");
}

/* ---- routes --------------------------------------------------------------------------------- */

static void test_bgp_block_needs_a_route_that_is_not_default_or_blackhole(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Never");
    diag_check_routes(&fx->d);
    expect(fx, "routes", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.routes[2] = (struct diag_route){ .dst = cidr_of("10.244.2.0/26"),
                                                  .type = DIAG_ROUTE_BLACKHOLE };
    diag_check_routes(&fx->d);
    expect(fx, "routes", DIAG_FAIL, "10.244.2.0/26");
    has_detail(fx, "routes", "(n2's): \"blackhole 10.244.2.0/26\" drops its packets");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.n_routes = 2; /* only the default route is left for it */
    diag_check_routes(&fx->d);
    expect(fx, "routes", DIAG_FAIL, "10.244.2.0/26");
    has_detail(fx, "routes", "10.244.2.0/26 (n2's): no route");
}

static void test_vxlan_route_must_be_tabbys_own(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Always");
    diag_check_routes(&fx->d);
    expect(fx, "routes", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.routes[2].gateway = ip_of("10.99.1.12"); /* a route, but not through VXLAN */
    fx->d.kernel.routes[2].oif = ETH0;
    diag_check_routes(&fx->d);
    expect(fx, "routes", DIAG_FAIL, "10.244.2.0/26");
    has_detail(fx, "routes", "the kernel has \"10.244.2.0/26 via 10.99.1.12 dev eth0\"");
}

static void test_vxlan_names_the_vtep_missing_an_entry(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Always");
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.n_neighs = 1; /* the FDB entry of n2 is gone */
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_FAIL, "n2");
    has_detail(fx, "vxlan", "n2's VTEP: no FDB entry 66:00:00:00:00:02 dst 10.99.1.12");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.n_links = 3; /* and the device */
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_FAIL, TBY_VXLAN_DEVICE);
}

/* Dual stack: n1 and n2 with IPv6 addresses and VXLAN tunnels of both families, pools of
 * both (VXLAN Always); n1's kernel as tabby-node leaves it, the IPv6 VTEP on
 * vxlan-v6.tabby (index VXLAN6), its FDB entry sending to n2's IPv6 address. */
static const char *const dual_stack_yaml =
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n"
    "spec: {bgp: {ipv4Address: 10.99.1.11/24, ipv6Address: \"fd99:1::11/64\"},\n"
    "       ipv4VXLANTunnelAddr: 10.244.1.0, vxlanTunnelMACAddr: \"66:00:00:00:00:01\",\n"
    "       ipv6VXLANTunnelAddr: \"fd10:244::100\", vxlanTunnelMACAddrV6: \"66:00:00:00:06:01\"}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\n"
    "spec: {bgp: {ipv4Address: 10.99.1.12/24, ipv6Address: \"fd99:1::12/64\"},\n"
    "       ipv4VXLANTunnelAddr: 10.244.2.0, vxlanTunnelMACAddr: \"66:00:00:00:00:02\",\n"
    "       ipv6VXLANTunnelAddr: \"fd10:244::200\", vxlanTunnelMACAddrV6: \"66:00:00:00:06:02\"}\n"
    "---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p6}\n"
    "spec: {cidr: \"fd10:244::/48\", blockSize: 122, vxlanMode: Always}\n";

enum { VXLAN6 = VXLAN + 1 };

static void dual_stack(struct fx *fx)
{
    struct diag_kernel *k = &fx->d.kernel;

    load(fx, dual_stack_yaml);
    pool(fx, "Always");
    affinity(fx, "n1", "10.244.1.0/26", "confirmed");
    affinity(fx, "n2", "10.244.2.0/26", "confirmed");
    affinity(fx, "n1", "fd10:244::100/122", "confirmed");
    affinity(fx, "n2", "fd10:244::200/122", "confirmed");
    diag_cluster_done(&fx->d.cluster, "n1");
    fx->d.cluster.read = true;
    link_add(fx, ETH0, "eth0", 1500, true);
    link_add(fx, VXLAN, TBY_VXLAN_DEVICE, 1450, true);
    link_add(fx, VXLAN6, TBY_VXLAN6_DEVICE, 1430, true);
    assert_int_equal(TBY_GROW(k->addrs, k->cap_addrs, 2), 0);
    k->addrs[k->n_addrs++] = (struct diag_addr){ ETH0, ip_of("10.99.1.11") };
    k->addrs[k->n_addrs++] = (struct diag_addr){ ETH0, ip_of("fd99:1::11") };
    neigh_add(fx, false, "10.244.2.0", "66:00:00:00:00:02");
    neigh_add(fx, true, "10.99.1.12", "66:00:00:00:00:02");
    neigh_add(fx, false, "fd10:244::200", "66:00:00:00:06:02");
    neigh_add(fx, true, "fd99:1::12", "66:00:00:00:06:02");
    k->neighs[2].ifindex = k->neighs[3].ifindex = VXLAN6;
    fx->d.kernel.read = true;
    fx->d.set.backend = "vxlan";
    assert_int_equal(diag_make_plan(&fx->d), 0);
}

/* The IPv6 VTEP is checked on vxlan-v6.tabby: its FDB entry must send to n2's IPv6
 * address, and the OK line names both devices. */
static void test_vxlan_checks_ipv6_vteps_on_their_device(void **state)
{
    struct fx *fx = *state;

    dual_stack(fx);
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_OK, "");
    assert_non_null(strstr(result(fx, "vxlan")->found, TBY_VXLAN_DEVICE " and " TBY_VXLAN6_DEVICE
                                                      " up, neighbour and FDB entries for all "
                                                      "2 remote VTEPs"));
    diag_report_clear(&fx->d.report);
    fx->d.kernel.neighs[3].ip = ip_of("10.99.1.12"); /* the IPv6 VTEP's FDB sends over IPv4 */
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_FAIL, "n2");
    has_detail(fx, "vxlan", "FDB entry 66:00:00:00:06:02 sends to 10.99.1.12, not fd99:1::12");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.n_links = 2; /* vxlan-v6.tabby gone */
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_FAIL, TBY_VXLAN6_DEVICE);
}

static void test_vxlan_is_not_used_by_a_native_pool(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Never");
    diag_check_vxlan(&fx->d);
    expect(fx, "vxlan", DIAG_OK, "");
}

/* ---- workloads ------------------------------------------------------------------------------ */

static void test_workload_down_missing_or_unrouted_is_named(void **state)
{
    struct fx *fx = *state;

    healthy(fx, "Never");
    diag_check_workloads(&fx->d);
    expect(fx, "workloads", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.routes[0].oif = ETH0;
    diag_check_workloads(&fx->d);
    expect(fx, "workloads", DIAG_FAIL, "default/a");
    has_detail(fx, "workloads", "default/a: no route to 10.244.1.1/32 dev tbya");
    diag_report_clear(&fx->d.report);
    fx->d.kernel.links[2].up = false;
    diag_check_workloads(&fx->d);
    has_detail(fx, "workloads", "default/a: tbya is down");
    diag_report_clear(&fx->d.report);
    snprintf(fx->d.kernel.links[2].name, IFNAMSIZ, "other");
    diag_check_workloads(&fx->d);
    has_detail(fx, "workloads", "default/a: tbya is missing");
}

/* ---- what tabby-node says ------------------------------------------------------------------- */

static void test_daemon_ready_degraded_not_ready_or_another_node(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *json;
        enum diag_status want;
        const char *found;
    } cases[] = {
        { "{\"node\": \"n1\", \"ready\": true, \"degraded\": \"\"}", DIAG_OK, "is ready" },
        { "{\"node\": \"n1\", \"ready\": true, \"degraded\": \"BIRD not reachable\"}", DIAG_WARN,
          "works only in part: BIRD not reachable" },
        { "{\"node\": \"n1\", \"ready\": false, \"reason\": \"policy not programmed yet\"}",
          DIAG_FAIL, "not ready: policy not programmed yet" },
        { "{\"node\": \"n2\", \"ready\": true}", DIAG_FAIL, "is node n2's, not n1's" },
    };

    for (size_t i = 0; i < TBY_ARRAY_SIZE(cases); i++) {
        diag_daemon_clear(&fx->d.daemon);
        diag_report_clear(&fx->d.report);
        daemon_says(fx, cases[i].json);
        diag_check_daemon(&fx->d);
        assert_int_equal(result(fx, "tabby-node")->status, cases[i].want);
        assert_non_null(strstr(result(fx, "tabby-node")->found, cases[i].found));
    }
}

static void test_policy_table_differences_and_changes_by_others(void **state)
{
    struct fx *fx = *state;

    daemon_says(fx, "{\"parts\": {\"policy\": {\"table\": {\"present\": true, \"equal\": false,"
                    " \"differences\": [\"chain to-wl: its rules differ from the 3 tabby "
                    "wants\", \"set local-wl lacks 1 element\"]}}}}");
    diag_check_policy_table(&fx->d);
    expect(fx, "policy-table", DIAG_FAIL, "chain to-wl,set local-wl");
    diag_daemon_clear(&fx->d.daemon);
    diag_report_clear(&fx->d.report);
    daemon_says(fx, "{\"parts\": {\"policy\": {\"table\": {\"present\": true, \"equal\": true},"
                    " \"changed_outside\": {\"count\": 2, \"seconds_ago\": 5.5, \"differences\":"
                    " [\"chain forward-hook: its rules differ from the 5 tabby wants\"]}}}}");
    diag_check_policy_table(&fx->d);
    expect(fx, "policy-table", DIAG_WARN, "chain forward-hook");
    diag_daemon_clear(&fx->d.daemon);
    diag_report_clear(&fx->d.report);
    daemon_says(fx, "{\"parts\": {\"policy\": {\"table\": {\"present\": false, \"equal\": false,"
                    " \"differences\": [\"table inet tabby is missing\"]}}}}");
    diag_check_policy_table(&fx->d);
    expect(fx, "policy-table", DIAG_FAIL, "table inet tabby");
    diag_daemon_clear(&fx->d.daemon);
    diag_report_clear(&fx->d.report);
    daemon_says(fx, "{\"parts\": {\"policy\": {\"table\": {\"present\": true, "
                    "\"equal\": true}}}}");
    diag_check_policy_table(&fx->d);
    expect(fx, "policy-table", DIAG_OK, "");
}

static void test_datastore_unread_offline_or_without_this_node(void **state)
{
    struct fx *fx = *state;

    snprintf(fx->d.cluster.error, sizeof(fx->d.cluster.error), "connection refused");
    diag_check_datastore(&fx->d);
    expect(fx, "datastore", DIAG_FAIL, "sqlite:/x.db");
    diag_report_clear(&fx->d.report);
    healthy(fx, "Never");
    daemon_says(fx, "{\"settings\": {\"store\": \"sqlite:/x.db\"}, \"datastore\": "
                    "{\"online\": false, \"error\": \"etcd down\"}}");
    diag_check_datastore(&fx->d);
    assert_int_equal(result(fx, "datastore")->status, DIAG_FAIL);
    assert_non_null(strstr(result(fx, "datastore")->found, "tabby-node cannot reach"));
    diag_daemon_clear(&fx->d.daemon);
    diag_report_clear(&fx->d.report);
    diag_check_datastore(&fx->d);
    expect(fx, "datastore", DIAG_OK, "");
    diag_report_clear(&fx->d.report);
    fx->d.set.node = "n9";
    diag_cluster_done(&fx->d.cluster, "n9");
    diag_check_datastore(&fx->d);
    expect(fx, "datastore", DIAG_FAIL, "n9");
}

/* A check whose input is missing says so and does not guess. */
static void test_unread_cluster_or_kernel_is_not_checked(void **state)
{
    struct fx *fx = *state;

    diag_check_routes(&fx->d);
    diag_check_workloads(&fx->d);
    fx->d.cluster.read = true;
    snprintf(fx->d.kernel.error, sizeof(fx->d.kernel.error), "reading links: EPERM");
    diag_check_mtu(&fx->d);
    expect(fx, "routes", DIAG_WARN, "");
    expect(fx, "workloads", DIAG_WARN, "");
    expect(fx, "mtu", DIAG_WARN, "");
    assert_non_null(strstr(result(fx, "mtu")->found, "reading links: EPERM"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_text_wraps_and_counts_json_names),
        T(test_first_difference_names_the_line),
        T(test_ip_forward_off_is_named),
        T(test_strict_rp_filter_names_the_interface),
        T(test_conntrack_warns_above_80_percent_and_fails_full),
        T(test_mtu_follows_the_uplink_and_the_pools_overhead),
        T(test_mtu_counts_vxlan_overhead_for_veths_and_the_device),
        T(test_bgp_block_needs_a_route_that_is_not_default_or_blackhole),
        T(test_vxlan_route_must_be_tabbys_own),
        T(test_vxlan_names_the_vtep_missing_an_entry),
        T(test_vxlan_checks_ipv6_vteps_on_their_device),
        T(test_vxlan_is_not_used_by_a_native_pool),
        T(test_workload_down_missing_or_unrouted_is_named),
        T(test_daemon_ready_degraded_not_ready_or_another_node),
        T(test_policy_table_differences_and_changes_by_others),
        T(test_datastore_unread_offline_or_without_this_node),
        T(test_unread_cluster_or_kernel_is_not_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
