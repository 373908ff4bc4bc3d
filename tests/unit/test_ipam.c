/* test_ipam.c — IPAM semantics on a real sqlite store, with one transaction per change and
 * with the ordered single-object writes of stores without multi-key transactions
 * (ipam_fixture.h): allocation order, settings, pool choice, given addresses, release,
 * housekeeping, usage, Calico's record shapes and the consistency check. */
#include "tabby/cleanup.h"
#include "ipam_fixture.h"

static int setup(void **state)
{
    *state = fx_open();
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

static struct tby_cidr cidr_of(const char *text)
{
    struct tby_cidr c;

    assert_int_equal(tby_cidr_parse(text, TBY_CIDR_STRICT, &c, NULL), 0);
    return c;
}

static bool in_cidr(const struct tby_ip *ip, const char *cidr)
{
    struct tby_cidr c = cidr_of(cidr);

    return tby_cidr_contains(&c, ip);
}

static void set_config(struct store_fx *f, const char *spec)
{
    char yaml[512];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
             "metadata:\n  name: default\nspec:\n%s", spec);
    store_fx_apply(f->store, yaml);
}

/* ---- allocation order --------------------------------------------------------------------- */

static void test_second_address_comes_from_the_same_affine_block(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *ipam;
    struct tby_error err = { 0 };
    struct tby_ip a, b;
    struct tby_ipam_holder h;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    ipam = fx_ipam(f, "n1");
    assert_int_equal(fx_alloc(ipam, "h1", &a, &err), 0);
    assert_int_equal(fx_alloc(ipam, "h2", &b, &err), 0);
    assert_false(tby_ip_equal(&a, &b));
    assert_int_equal(tby_ipam_lookup_ip(ipam, &a, &h, &err), 0);
    assert_true(h.allocated);
    assert_string_equal(h.block_node, "n1");
    assert_true(tby_cidr_contains(&h.block, &b));
    tby_ipam_holder_clear(&h);
    tby_ipam_free(ipam);
}

static void test_full_affine_block_makes_the_node_claim_another(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *ipam;
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    char handle[32];

    fx_pool(f, "p", "10.0.0.0/24", 30, NULL);
    ipam = fx_ipam(f, "n1");
    for (int i = 0; i < 5; i++) {
        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(ipam, handle, NULL, &err), 0);
    }
    assert_int_equal(tby_ipam_usage(ipam, &u, &err), 0);
    assert_int_equal(u.n_blocks, 2);
    assert_string_equal(u.blocks[0].node, "n1");
    assert_string_equal(u.blocks[1].node, "n1");
    assert_int_equal(u.blocks[0].in_use + u.blocks[1].in_use, 5);
    assert_int_equal(u.pools[0].in_use, 5);
    assert_int_equal(u.pools[0].size, 256);
    tby_ipam_usage_clear(&u);
    tby_ipam_free(ipam);
}

/* A /29 pool of /30 blocks: n1 and n2 take one block each and fill them. */
static void two_full_nodes(struct store_fx *f, struct tby_ipam *n1, struct tby_ipam *n2)
{
    struct tby_error err = { 0 };
    char handle[32];

    fx_pool(f, "p", "10.0.0.0/29", 30, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(handle, sizeof(handle), "a%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
        snprintf(handle, sizeof(handle), "b%d", i);
        assert_int_equal(fx_alloc(n2, handle, NULL, &err), 0);
    }
    assert_int_equal(tby_ipam_release_handle(n2, "b2", NULL, &err), 0);
}

static void test_node_borrows_from_another_nodes_block_when_no_block_is_left(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_error err = { 0 };
    struct tby_ipam_holder h;
    struct tby_ip ip;

    two_full_nodes(f, n1, n2);
    assert_int_equal(fx_alloc(n1, "borrower", &ip, &err), 0);
    assert_int_equal(tby_ipam_lookup_ip(n1, &ip, &h, &err), 0);
    assert_string_equal(h.block_node, "n2");    /* the block stays n2's */
    assert_string_equal(h.node, "n1");          /* the allocation is n1's */
    assert_string_equal(h.handle, "borrower");
    tby_ipam_holder_clear(&h);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static void test_node_allocations_follow_the_allocation_not_the_block(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_ipam_alloc_list mine, theirs, some;
    struct tby_error err = { 0 };
    struct tby_ip borrowed;

    two_full_nodes(f, n1, n2);
    assert_int_equal(fx_alloc(n1, "borrower", &borrowed, &err), 0);
    assert_int_equal(tby_ipam_node_allocations(n1, "n1", NULL, &mine, &err), 0);
    assert_int_equal(mine.n, 5);
    assert_string_equal(mine.items[0].handle, "a0");
    assert_string_equal(mine.items[4].handle, "borrower");
    assert_true(tby_ip_equal(&mine.items[4].ip, &borrowed));
    /* n2's block holds the borrowed address, but it is n1's allocation. */
    assert_int_equal(tby_ipam_node_allocations(n2, "n2", NULL, &theirs, &err), 0);
    assert_int_equal(theirs.n, 3);
    for (size_t i = 0; i < theirs.n; i++)
        assert_int_equal(theirs.items[i].handle[0], 'b');
    assert_int_equal(tby_ipam_node_allocations(n1, "n1", "bor", &some, &err), 0);
    assert_int_equal(some.n, 1);
    tby_ipam_alloc_list_clear(&mine);
    tby_ipam_alloc_list_clear(&theirs);
    tby_ipam_alloc_list_clear(&some);
    assert_int_equal(tby_ipam_node_allocations(n1, "nobody", NULL, &some, &err), 0);
    assert_int_equal(some.n, 0);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static void test_trial_assignment_writes_nothing_and_fails_as_assignment_would(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_ipam_request req = { .handle = "trial", .num_v4 = 1 };
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    int64_t before, after;

    assert_int_equal(tby_ipam_try_assign(n1, &req, &err), -ENOENT);
    fx_pool(f, "p", "10.0.0.0/30", 30, NULL);
    assert_int_equal(tby_store_revision(f->store, &before, &err), 0);
    assert_int_equal(tby_ipam_try_assign(n1, &req, &err), 0);
    assert_int_equal(tby_store_revision(f->store, &after, &err), 0);
    assert_int_equal(before, after);
    assert_int_equal(tby_ipam_usage(n1, &u, &err), 0);
    assert_int_equal(u.n_blocks, 0);
    tby_ipam_usage_clear(&u);
    for (int i = 0; i < 4; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(tby_ipam_try_assign(n1, &req, &err), -ENOSPC);
    tby_ipam_free(n1);
}

static void test_strict_affinity_forbids_borrowing(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_error err = { 0 };

    two_full_nodes(f, n1, n2);
    assert_int_equal(tby_ipam_set_strict_affinity(n1, true, &err), 0);
    assert_int_equal(fx_alloc(n1, "borrower", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "strictAffinity"));
    assert_non_null(strstr(err.msg, "IPPool p (10.0.0.0/29)"));
    /* n2 still gets its own block's free address. */
    assert_int_equal(fx_alloc(n2, "own", NULL, &err), 0);
    assert_int_equal(tby_ipam_set_strict_affinity(n1, false, &err), 0);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static void test_max_blocks_per_host_stops_claiming_and_borrowing(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    char handle[32];

    fx_pool(f, "p", "10.0.0.0/28", 30, NULL);
    set_config(f, "  strictAffinity: true\n  maxBlocksPerHost: 2\n");
    for (int i = 0; i < 8; i++) {
        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(fx_alloc(n1, "ninth", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "maxBlocksPerHost (2)"));
    tby_ipam_free(n1);
}

static void test_auto_allocate_blocks_false_uses_only_blocks_held(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };

    fx_pool(f, "p", "10.0.0.0/28", 30, NULL);
    set_config(f, "  strictAffinity: true\n  autoAllocateBlocks: false\n");
    assert_int_equal(fx_alloc(n1, "h", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "autoAllocateBlocks is false"));
    tby_ipam_free(n1);
}

static void test_exhausted_pools_fail_with_their_names(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    char handle[32];

    fx_pool(f, "a", "10.0.0.0/30", 30, NULL);
    fx_pool(f, "b", "10.0.1.0/30", 30, NULL);
    for (int i = 0; i < 8; i++) {
        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(fx_alloc(n1, "one-more", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "IPPool a (10.0.0.0/30), IPPool b (10.0.1.0/30)"));
    assert_non_null(strstr(err.msg, "exhausted"));
    tby_ipam_free(n1);
}

/* ---- which pools ----------------------------------------------------------------------------- */

static void test_disabled_pool_is_never_used(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_strv want = { 0 };
    struct tby_ipam_request req = { .handle = "h", .num_v4 = 1, .v4_pools = &want };
    struct tby_ipam_result res;
    struct tby_ip ip;

    fx_pool(f, "a", "10.0.0.0/24", 26, "  disabled: true\n");
    fx_pool(f, "b", "10.0.1.0/24", 26, NULL);
    for (int i = 0; i < 3; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, &ip, &err), 0);
        assert_true(in_cidr(&ip, "10.0.1.0/24"));
    }
    tby_strv_push(&want, "a");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "IPPool a is disabled"));
    fx_pool(f, "b", "10.0.1.0/24", 26, "  disabled: true\n");
    assert_int_equal(fx_alloc(n1, "none", NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "IPPool b is disabled"));
    tby_strv_clear(&want);
    tby_ipam_free(n1);
}

/* A context allocating again trusts what it read last time (pools, settings, its block,
 * a new handle taken as absent) and reads nothing where a transaction can prove it in its
 * commit; a pool created meanwhile, or the node's labels changed, count from the next
 * allocation all the same. */
static void test_warm_allocation_reads_nothing_yet_sees_every_change(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_store *ipam_store = fx_single ? fx_single_store : f->store;
    struct tby_store_stats before, after;
    struct tby_error err = { 0 };
    struct tby_ipam_result res;
    struct tby_ip ip;

    fx_pool(f, "m", "10.0.1.0/24", 30, NULL);
    fx_node(f, "n1", "{zone: a}");
    assert_int_equal(fx_alloc(n1, "w0", &ip, &err), 0);
    assert_int_equal(fx_alloc(n1, "w1", &ip, &err), 0);
    before = tby_store_stats(ipam_store);
    assert_int_equal(fx_alloc(n1, "w2", &ip, &err), 0);
    after = tby_store_stats(ipam_store);
    assert_true(in_cidr(&ip, "10.0.1.0/24"));
    if (!fx_single) {
        assert_int_equal(after.gets - before.gets, 0);
        assert_int_equal(after.ranges - before.ranges, 0);
        assert_int_equal(after.commits - before.commits, 1);
    }
    assert_int_equal(fx_alloc(n1, "w3", &ip, &err), 0);
    /* the block is full; a pool created meanwhile, sorting first and selecting the node,
     * gives the next block */
    fx_pool(f, "a", "10.0.0.0/24", 30, "  nodeSelector: zone == 'a'\n");
    assert_int_equal(fx_alloc(n1, "w4", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.0.0/24"));
    /* the node leaves the zone: that block, with room, is no longer its to use */
    fx_node(f, "n1", "{zone: b}");
    assert_int_equal(fx_alloc(n1, "w5", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.1.0/24"));
    /* an existing handle is not new: the address goes to it as a second one */
    assert_int_equal(fx_alloc(n1, "w5", &ip, &err), 0);
    assert_int_equal(tby_ipam_ips_by_handle(n1, "w5", &res, &err), 0);
    assert_int_equal(res.n, 2);
    tby_ipam_result_clear(&res);
    tby_ipam_free(n1);
}

static void test_node_selector_limits_which_nodes_use_a_pool(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n3 = fx_ipam(f, "n3");
    struct tby_error err = { 0 };
    struct tby_strv want = { 0 };
    struct tby_ipam_request req = { .handle = "asked", .num_v4 = 1, .v4_pools = &want };
    struct tby_ipam_result res;
    struct tby_ip ip;

    fx_pool(f, "zone-a", "10.0.0.0/24", 26, "  nodeSelector: zone == 'a'\n");
    fx_pool(f, "zone-b", "10.0.1.0/24", 26, "  nodeSelector: zone == 'b'\n");
    fx_node(f, "n1", "{zone: b}");
    assert_int_equal(fx_alloc(n1, "h1", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.1.0/24"));
    /* A node without a Node resource has no labels: neither pool selects it. */
    assert_int_equal(fx_alloc(n3, "h3", NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "does not select node n3"));
    /* Asked for by name, a pool is used whatever its selector (as in Calico). */
    tby_strv_push(&want, "zone-a");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_true(in_cidr(&res.items[0].ip, "10.0.0.0/24"));
    tby_ipam_result_clear(&res);
    /* Labels changing are seen by the cached context. */
    fx_node(f, "n1", "{zone: a}");
    assert_int_equal(fx_alloc(n1, "h4", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.0.0/24"));
    tby_strv_clear(&want);
    tby_ipam_free(n1);
    tby_ipam_free(n3);
}

static void test_allowed_uses_separate_tunnel_and_workload_pools(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_request req = { .handle = "ipip-tunnel-addr-n1", .num_v4 = 1,
                                    .use = TBY_POOL_USE_TUNNEL };
    struct tby_ipam_result res;
    struct tby_ip ip = fx_parse_ip("10.0.0.9");

    fx_pool(f, "tunnels", "10.0.0.0/24", 26, "  allowedUses: [Tunnel]\n");
    fx_pool(f, "pods", "10.0.1.0/24", 26, "  allowedUses: [Workload]\n");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_true(in_cidr(&res.items[0].ip, "10.0.0.0/24"));
    tby_ipam_result_clear(&res);
    assert_int_equal(fx_alloc(n1, "pod", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.1.0/24"));
    ip = fx_parse_ip("10.0.0.9");
    assert_int_equal(tby_ipam_assign_ips(n1, &ip, 1, "pod2", NULL, TBY_POOL_USE_WORKLOAD, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "does not allow Workload"));
    tby_ipam_free(n1);
}

static void test_requested_pools_are_tried_in_order_by_name_or_cidr(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_error err = { 0 };
    struct tby_strv want = { 0 };
    struct tby_ipam_request req = { .handle = "h", .num_v4 = 1, .v4_pools = &want };
    struct tby_ipam_result res;

    fx_pool(f, "a", "10.0.0.0/24", 26, NULL);
    fx_pool(f, "b", "10.0.1.0/24", 26, NULL);
    fx_pool(f, "six", "fd00::/120", 122, NULL);
    tby_strv_push(&want, "10.0.1.0/24");
    tby_strv_push(&want, "a");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_true(in_cidr(&res.items[0].ip, "10.0.1.0/24"));
    tby_ipam_result_clear(&res);
    tby_strv_clear(&want);
    tby_strv_push(&want, "nope");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "IPPool \"nope\" not found"));
    tby_strv_clear(&want);
    tby_strv_push(&want, "six");
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "IPv6 pool, requested for IPv4"));
    tby_strv_clear(&want);
    /* No pools named: every pool, by name, for a node without blocks: "a" first. (A
     * node with blocks fills those first, whatever their pool, as Calico does.) */
    assert_int_equal(tby_ipam_auto_assign(n2, &req, &res, &err), 0);
    assert_true(in_cidr(&res.items[0].ip, "10.0.0.0/24"));
    tby_ipam_result_clear(&res);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_true(in_cidr(&res.items[0].ip, "10.0.1.0/24"));
    tby_ipam_result_clear(&res);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static void test_manual_pool_is_used_only_when_requested(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };

    fx_pool(f, "manual", "10.0.0.0/24", 26, "  assignmentMode: Manual\n");
    assert_int_equal(fx_alloc(n1, "h", NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "Manual"));
    tby_ipam_free(n1);
}

/* ---- given addresses ---------------------------------------------------------------------- */

static void test_given_address_is_allocated_when_free_in_an_enabled_pool(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_attrs attrs = { .namespace = "default", .pod = "web-0" };
    struct tby_ip ip = fx_parse_ip("10.0.0.77");
    struct tby_ipam_holder h;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_assign_ips(n1, &ip, 1, "h1", &attrs, 0, &err), 0);
    assert_int_equal(tby_ipam_lookup_ip(n1, &ip, &h, &err), 0);
    assert_true(h.allocated);
    assert_string_equal(h.handle, "h1");
    assert_string_equal(h.pod, "web-0");
    assert_string_equal(h.namespace, "default");
    assert_string_equal(h.node, "n1");
    assert_string_equal(h.pool, "p");
    tby_ipam_holder_clear(&h);
    /* The same handle asking again is fine (a repeated ADD). */
    assert_int_equal(tby_ipam_assign_ips(n1, &ip, 1, "h1", &attrs, 0, &err), 0);
    tby_ipam_free(n1);
}

static void test_given_address_that_is_taken_fails_and_allocates_nothing(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_attrs attrs = { .namespace = "default", .pod = "web-0" };
    struct tby_ip ips[2] = { fx_parse_ip("10.0.0.5"), fx_parse_ip("10.0.0.6") };
    struct tby_ipam_result res;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_assign_ips(n1, &ips[1], 1, "first", &attrs, 0, &err), 0);
    assert_int_equal(tby_ipam_assign_ips(n1, ips, 2, "second", NULL, 0, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "10.0.0.6 is already in use (handle first, pod "
                                    "default/web-0, node n1)"));
    /* All or nothing: 10.0.0.5 stayed free. */
    assert_int_equal(tby_ipam_ips_by_handle(n1, "second", &res, &err), 0);
    assert_int_equal(res.n, 0);
    tby_ipam_result_clear(&res);
    tby_ipam_free(n1);
}

static void test_given_address_outside_enabled_pools_is_refused(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ip outside = fx_parse_ip("192.168.9.9"), off = fx_parse_ip("10.0.1.9");

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_pool(f, "switched-off", "10.0.1.0/24", 26, "  disabled: true\n");
    assert_int_equal(tby_ipam_assign_ips(n1, &outside, 1, "h", NULL, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "192.168.9.9 is not in any IPPool");
    assert_int_equal(tby_ipam_assign_ips(n1, &off, 1, "h", NULL, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "10.0.1.9 is in IPPool switched-off, which is disabled");
    tby_ipam_free(n1);
}

/* ---- release ------------------------------------------------------------------------------ */

static void alloc_three(struct tby_ipam *ipam, const char *handle, struct tby_ipam_result *res)
{
    struct tby_ipam_request req = { .handle = handle, .num_v4 = 3,
                                    .attrs = { "default", "pod" } };
    struct tby_error err = { 0 };

    assert_int_equal(tby_ipam_auto_assign(ipam, &req, res, &err), 0);
    assert_int_equal(res->n, 3);
}

static void test_release_by_handle_frees_all_of_its_addresses(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_result res, after;
    size_t released;

    fx_pool(f, "p", "10.0.0.0/24", 30, NULL);
    fx_node(f, "n1", NULL);
    alloc_three(n1, "h", &res);
    assert_int_equal(tby_ipam_release_handle(n1, "h", &released, &err), 0);
    assert_int_equal(released, 3);
    assert_int_equal(tby_ipam_ips_by_handle(n1, "h", &after, &err), 0);
    assert_int_equal(after.n, 0);
    for (size_t i = 0; i < res.n; i++) {
        struct tby_ipam_holder h;

        assert_int_equal(tby_ipam_lookup_ip(n1, &res.items[i].ip, &h, &err), 0);
        assert_false(h.allocated);
        tby_ipam_holder_clear(&h);
    }
    tby_ipam_result_clear(&res);
    tby_ipam_result_clear(&after);
    tby_ipam_free(n1);
}

static void test_release_by_address_keeps_the_handles_other_addresses(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_result res, after;
    struct tby_ipam_report rep;
    size_t released;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    alloc_three(n1, "h", &res);
    assert_int_equal(tby_ipam_release_ips(n1, &res.items[1].ip, 1, &released, &err), 0);
    assert_int_equal(released, 1);
    assert_int_equal(tby_ipam_ips_by_handle(n1, "h", &after, &err), 0);
    assert_int_equal(after.n, 2);
    assert_true(tby_ip_equal(&after.items[0].ip, &res.items[0].ip));
    assert_true(tby_ip_equal(&after.items[1].ip, &res.items[2].ip));
    /* The handle record still agrees with the block. */
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(fx_structural_problems(&rep), 0);
    tby_ipam_report_clear(&rep);
    tby_ipam_result_clear(&res);
    tby_ipam_result_clear(&after);
    tby_ipam_free(n1);
}

static void test_releasing_what_is_free_is_a_no_op(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ip free_ip = fx_parse_ip("10.0.0.200"), outside = fx_parse_ip("172.16.0.1");
    struct tby_ip ip;
    size_t released = 99;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_release_handle(n1, "never-seen", &released, &err), 0);
    assert_int_equal(released, 0);
    assert_int_equal(tby_ipam_release_ips(n1, &free_ip, 1, &released, &err), 0);
    assert_int_equal(released, 0);
    assert_int_equal(tby_ipam_release_ips(n1, &outside, 1, &released, &err), 0);
    assert_int_equal(released, 0);
    assert_int_equal(fx_alloc(n1, "h", &ip, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "h", &released, &err), 0);
    assert_int_equal(released, 1);
    assert_int_equal(tby_ipam_release_handle(n1, "h", &released, &err), 0);
    assert_int_equal(released, 0);
    assert_int_equal(tby_ipam_release_ips(n1, &ip, 1, &released, &err), 0);
    assert_int_equal(released, 0);
    tby_ipam_free(n1);
}

static void test_release_of_a_handle_leaves_addresses_others_hold(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ip ips[2];
    struct tby_ipam_holder h;
    struct tby_ipam_report rep;
    size_t released = 99;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(fx_alloc(n1, "mine", &ips[0], &err), 0);
    assert_int_equal(fx_alloc(n1, "theirs", &ips[1], &err), 0);
    assert_int_equal(tby_ipam_release_ips_of(n1, "mine", ips, 2, &released, &err), 0);
    assert_int_equal(released, 1);
    assert_int_equal(tby_ipam_lookup_ip(n1, &ips[1], &h, &err), 0);
    assert_true(h.allocated);
    assert_string_equal(h.handle, "theirs");
    tby_ipam_holder_clear(&h);
    assert_int_equal(tby_ipam_release_ips_of(n1, "mine", ips, 2, &released, &err), 0);
    assert_int_equal(released, 0);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(fx_structural_problems(&rep), 0);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(n1);
}

static void test_released_address_is_reused_last(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ip first, second, third;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "a", &first, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "a", NULL, &err), 0);
    assert_int_equal(fx_alloc(n1, "b", &second, &err), 0);
    assert_int_equal(fx_alloc(n1, "c", &third, &err), 0);
    assert_false(tby_ip_equal(&first, &second));
    assert_false(tby_ip_equal(&first, &third));
    tby_ipam_free(n1);
}

/* ---- families, reuse ----------------------------------------------------------------------- */

static void test_dual_stack_request_gets_both_families_in_one_go(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_request req = { .handle = "h", .num_v4 = 1, .num_v6 = 1 };
    struct tby_ipam_result res;

    fx_pool(f, "v6", "fd00:10::/120", 122, NULL);
    fx_pool(f, "v4", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_int_equal(res.n, 2);
    assert_int_equal(res.items[0].ip.family, 4);
    assert_int_equal(res.items[1].ip.family, 6);
    assert_true(in_cidr(&res.items[1].ip, "fd00:10::/120"));
    assert_int_equal(res.items[1].block.prefix_len, 122);
    tby_ipam_result_clear(&res);
    tby_ipam_free(n1);
}

static void test_dual_stack_failure_of_one_family_allocates_neither(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_request req = { .handle = "h", .num_v4 = 1, .num_v6 = 1 };
    struct tby_ipam_result res;
    struct tby_ipam_usage u;

    fx_pool(f, "v4", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "IPv6"));
    assert_int_equal(tby_ipam_usage(n1, &u, &err), 0);
    assert_int_equal(u.n_blocks, 0);
    assert_int_equal(u.pools[0].in_use, 0);
    tby_ipam_usage_clear(&u);
    tby_ipam_free(n1);
}

static void test_repeated_request_with_reuse_returns_the_handles_addresses(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_request req = { .handle = "k8s-pod-network.abc", .num_v4 = 1,
                                    .reuse_handle = true };
    struct tby_ipam_result a, b;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &a, &err), 0);
    assert_false(a.items[0].existing);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &b, &err), 0);
    assert_int_equal(b.n, 1);
    assert_true(b.items[0].existing);
    assert_true(tby_ip_equal(&a.items[0].ip, &b.items[0].ip));
    tby_ipam_result_clear(&a);
    tby_ipam_result_clear(&b);
    tby_ipam_free(n1);
}

/* ---- housekeeping --------------------------------------------------------------------------- */

static size_t block_count(struct tby_ipam *ipam)
{
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    size_t n;

    assert_int_equal(tby_ipam_usage(ipam, &u, &err), 0);
    n = u.n_blocks;
    tby_ipam_usage_clear(&u);
    return n;
}

static void test_empty_block_of_a_live_node_keeps_its_affinity(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "h", NULL, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "h", NULL, &err), 0);
    assert_int_equal(block_count(n1), 1);
    tby_ipam_free(n1);
}

static void test_block_emptied_on_a_deleted_node_gives_up_its_affinity(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    size_t removed;

    fx_pool(f, "p", "10.0.0.0/24", 30, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "a", NULL, &err), 0);
    for (int i = 0; i < 5; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "b%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    /* Two blocks: one full (b0..b3 reuse order aside), one with one address. */
    assert_int_equal(block_count(n1), 2);
    assert_int_equal(tby_ipam_release_handle(n1, "b4", NULL, &err), 0);
    assert_int_equal(block_count(n1), 2);
    fx_delete_node(f, "n1");
    /* Deleting the Node releases its empty blocks now ... */
    assert_int_equal(tby_ipam_release_node(n1, "n1", &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(block_count(n1), 1);
    /* ... and the others as they empty. */
    for (int i = 0; i < 4; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "b%d", i);
        assert_int_equal(tby_ipam_release_handle(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(block_count(n1), 0);
    tby_ipam_free(n1);
}

static void test_block_that_lost_its_pool_gives_up_affinity_when_empty(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    assert_int_equal(fx_alloc(n1, "b", NULL, &err), 0);
    fx_delete(f, TBY_KIND_IPPOOL, "p");
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.items[0].kind, TBY_IPAM_BLOCK_WITHOUT_POOL);
    assert_non_null(strstr(rep.items[0].detail, "/26 (node n1, 2 in use): no IPPool"));
    tby_ipam_report_clear(&rep);
    assert_int_equal(tby_ipam_release_handle(n1, "a", NULL, &err), 0);
    assert_int_equal(block_count(n1), 1);
    assert_int_equal(tby_ipam_release_handle(n1, "b", NULL, &err), 0);
    assert_int_equal(block_count(n1), 0);
    tby_ipam_free(n1);
}

static void test_gc_removes_empty_blocks_of_nodes_that_are_gone(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_error err = { 0 };
    size_t removed;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    fx_node(f, "n2", NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    assert_int_equal(fx_alloc(n2, "b", NULL, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "a", NULL, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n2, "b", NULL, &err), 0);
    fx_delete_node(f, "n2");
    assert_int_equal(tby_ipam_gc_blocks(n1, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(block_count(n1), 1);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static struct tby_cidr block_of(const struct tby_ip *ip)
{
    struct tby_cidr block = { .ip = *ip, .prefix_len = 26 };

    tby_cidr_mask(&block);
    return block;
}

/* What tabby-node's upkeep acts with, having decided from its watched copy: the one block
 * read, and removed only while it is empty and still the node's. */
static void test_retire_block_reads_that_block_alone_and_only_takes_an_empty_one(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_store *ipam_store = fx_single ? fx_single_store : f->store;
    struct tby_store_stats before, after;
    struct tby_ipam_block_info info;
    struct tby_kv_list kvs;
    struct tby_error err = { 0 };
    struct tby_ip a, b;
    struct tby_cidr block_a, block_b;
    bool removed = true;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    fx_node(f, "n2", NULL);
    assert_int_equal(fx_alloc(n1, "a", &a, &err), 0);
    assert_int_equal(fx_alloc(n2, "b", &b, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n2, "b", NULL, &err), 0);
    block_a = block_of(&a);
    block_b = block_of(&b);
    /* what a watcher sees of a block */
    assert_int_equal(tby_store_range(f->store, TBY_IPAM_BLOCK_PREFIX, &kvs, &err), 0);
    assert_int_equal(kvs.n, 2);
    for (size_t i = 0; i < kvs.n; i++) {
        assert_int_equal(tby_ipam_block_info_decode(&kvs.items[i], &info), 0);
        assert_int_equal(info.size, 64);
        assert_int_equal(info.in_use, tby_cidr_equal(&info.cidr, &block_a) ? 1 : 0);
        assert_string_equal(info.node, tby_cidr_equal(&info.cidr, &block_a) ? "n1" : "n2");
        tby_ipam_block_info_clear(&info);
    }
    assert_int_equal(tby_ipam_block_info_decode(&(struct tby_kv){
                         .key = "/tabby/v1/ipam/handles/a", .value = "{}" }, &info), -EINVAL);
    tby_kv_list_clear(&kvs);
    /* in use, or another node's: left alone */
    assert_int_equal(tby_ipam_retire_block(n1, &block_a, "n1", false, &removed, &err), 0);
    assert_false(removed);
    assert_int_equal(tby_ipam_retire_block(n1, &block_b, "n1", false, &removed, &err), 0);
    assert_false(removed);
    before = tby_store_stats(ipam_store);
    assert_int_equal(tby_ipam_retire_block(n1, &block_b, "n2", false, &removed, &err), 0);
    assert_true(removed);
    after = tby_store_stats(ipam_store);
    /* one transaction; or Calico's give-up: the affinity pendingDeletion (read, written),
     * the block deleted, the affinity deleted (read, deleted) */
    assert_int_equal(after.gets - before.gets, fx_single ? 3 : 1);
    assert_int_equal(after.ranges - before.ranges, 0);
    assert_int_equal(after.commits - before.commits, fx_single ? 3 : 1);
    assert_int_equal(block_count(n1), 1);
    /* its affinity went with it: n1's is the one left */
    assert_int_equal(tby_store_range(f->store, TBY_IPAM_AFFINITY_PREFIX, &kvs, &err), 0);
    assert_int_equal(kvs.n, 1);
    assert_non_null(strstr(kvs.items[0].key, "/n1/"));
    tby_kv_list_clear(&kvs);
    /* gone already: nothing to do */
    assert_int_equal(tby_ipam_retire_block(n1, &block_b, "n2", false, &removed, &err), 0);
    assert_false(removed);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

static void test_new_blocks_never_overlap_blocks_of_a_resized_pool(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    struct tby_ip old, inside;
    char handle[32];
    int n = 0;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "old", &old, &err), 0);
    fx_delete(f, TBY_KIND_IPPOOL, "p");
    fx_pool(f, "p2", "10.0.0.0/24", 28, NULL);
    for (;; n++) {
        snprintf(handle, sizeof(handle), "h%d", n);
        if (fx_alloc(n1, handle, NULL, &err) < 0)
            break;
    }
    /* The old /26 keeps its 64 addresses out of the new /28 blocks. */
    assert_int_equal(err.code, -ENOSPC);
    assert_int_equal(n, 256 - 64);
    assert_int_equal(tby_ipam_usage(n1, &u, &err), 0);
    for (size_t i = 0; i < u.n_blocks; i++)
        for (size_t j = i + 1; j < u.n_blocks; j++)
            assert_false(tby_cidr_overlaps(&u.blocks[i].cidr, &u.blocks[j].cidr));
    tby_ipam_usage_clear(&u);
    /* A given address inside the old block is allocated there, not in a new block. */
    inside = tby_ip_add(&old, 1);
    assert_int_equal(tby_ipam_assign_ips(n1, &inside, 1, "given", NULL, 0, &err), 0);
    assert_int_equal(block_count(n1), 13);
    tby_ipam_free(n1);
}


/* ---- records as stored ---------------------------------------------------------------------- */

/* Records as Calico's objects, for breaking the store by hand. */
#define HANDLE_JSON(id, blocks)                                                               \
    "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"IPAMHandle\",\"spec\":{"       \
    "\"handleID\":\"" id "\",\"block\":{" blocks "},\"deleted\":false}}"
#define AFF_JSON(node, cidr, state, annotations)                                              \
    "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":\"BlockAffinity\",\"metadata\":{" \
    "\"labels\":{}" annotations "},\"spec\":{\"state\":\"" state "\",\"node\":\"" node     \
    "\",\"type\":\"host\",\"cidr\":\"" cidr "\",\"deleted\":\"false\"}}"

static void put_raw(struct store_fx *f, const char *key, const char *value)
{
    struct tby_error err = { 0 };

    assert_int_equal(tby_store_put(f->store, key, value, strlen(value), NULL, &err), 0);
}

/* The stored value of key (the caller frees), or NULL when absent. */
static char *get_raw(struct store_fx *f, const char *key)
{
    struct tby_error err = { 0 };
    struct tby_kv kv;
    char *value;

    if (tby_store_get(f->store, key, &kv, &err) == -ENOENT)
        return NULL;
    value = strdup(kv.value);
    tby_kv_clear(&kv);
    assert_non_null(value);
    return value;
}

static void assert_has(const char *text, const char *fragment)
{
    if (!text || !strstr(text, fragment))
        fail_msg("\"%s\" lacks \"%s\"", text ? text : "(absent)", fragment);
}

static size_t count_kind(const struct tby_ipam_report *rep, enum tby_ipam_problem_kind kind)
{
    size_t n = 0;

    for (size_t i = 0; i < rep->n; i++)
        n += rep->items[i].kind == kind;
    return n;
}

/* ---- Calico's shapes ------------------------------------------------------------------------ */

/* What another reader of the records (Calico, the Kubernetes backend) finds. */
static void test_records_take_calicos_shapes(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "node-1");
    struct tby_ipam_request pod = { .handle = "k8s-pod-network.abc", .num_v4 = 1,
                                    .attrs = { .namespace = "prod", .pod = "db-0" } };
    struct tby_ipam_request tunnel = { .handle = "vxlan-tunnel-addr-node-1", .num_v4 = 1,
                                       .attrs = { .type = "vxlanTunnelAddress" } };
    struct tby_ipam_result res;
    struct tby_error err = { 0 };
    _cleanup_free_ char *block = NULL, *aff = NULL, *handle = NULL;

    fx_pool(f, "p", "10.244.3.0/26", 26, NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &pod, &res, &err), 0);
    tby_ipam_result_clear(&res);
    assert_int_equal(tby_ipam_auto_assign(n1, &tunnel, &res, &err), 0);
    tby_ipam_result_clear(&res);
    block = get_raw(f, "/tabby/v1/ipam/blocks/10.244.3.0-26");
    assert_has(block, "\"kind\":\"IPAMBlock\",\"spec\":{\"cidr\":\"10.244.3.0/26\","
                      "\"affinity\":\"host:node-1\",\"affinityClaimTime\":\"20");
    assert_has(block, "\"allocations\":[0,1,null,");
    assert_has(block, "{\"handle_id\":\"k8s-pod-network.abc\",\"secondary\":{\"namespace\":"
                      "\"prod\",\"node\":\"node-1\",\"pod\":\"db-0\",\"timestamp\":\"20");
    assert_has(block, " +0000 UTC\"}},{\"handle_id\":\"vxlan-tunnel-addr-node-1\","
                      "\"secondary\":{\"node\":\"node-1\",\"type\":\"vxlanTunnelAddress\"}}]");
    assert_has(block, "\"sequenceNumberForAllocation\":{\"0\":");
    assert_has(block, "\"deleted\":false,\"strictAffinity\":false}}");
    aff = get_raw(f, "/tabby/v1/ipam/affinities/node-1/10.244.3.0-26");
    assert_has(aff, "\"kind\":\"BlockAffinity\",\"metadata\":{\"labels\":{"
                    "\"projectcalico.org/affinity-type\":\"host\","
                    "\"projectcalico.org/hostname-hash\":"
                    "\"A3XPYDATRKB7Q4SM2O5FN4RXIHBFIL2PITFX26BAIP5XAB2X74CA\","
                    "\"projectcalico.org/ip-version\":\"4\"}");
    assert_has(aff, "\"spec\":{\"state\":\"confirmed\",\"node\":\"node-1\",\"type\":\"host\","
                    "\"cidr\":\"10.244.3.0/26\",\"deleted\":\"false\"}}");
    /* The free count is tabby's own, kept only where transactions keep it true. */
    assert_int_equal(strstr(aff, "\"tabby.dev/free\":\"62\"") != NULL, !fx_single);
    handle = get_raw(f, "/tabby/v1/ipam/handles/k8s-pod-network.abc");
    assert_string_equal(handle, "{\"apiVersion\":\"crd.projectcalico.org/v1\",\"kind\":"
                                "\"IPAMHandle\",\"spec\":{\"handleID\":\"k8s-pod-network.abc\","
                                "\"block\":{\"10.244.3.0/26\":1},\"deleted\":false}}");
    tby_ipam_free(n1);
}

/* As in Calico, maxBlocksPerHost 0 caps a node at 20 blocks; it does not mean "no
 * limit". */
static void test_max_blocks_per_host_zero_means_calicos_twenty(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    char handle[32];

    fx_pool(f, "p", "10.0.0.0/24", 30, NULL);
    for (int i = 0; i < 20 * 4; i++) {
        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(block_count(n1), 20);
    assert_int_equal(fx_alloc(n1, "one-more", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "maxBlocksPerHost (20)"));
    tby_ipam_free(n1);
}

/* calicoctl's rules for the setting: maxBlocksPerHost needs strictAffinity, and both
 * strictAffinity and autoAllocateBlocks cannot be off. */
static void test_strict_affinity_off_is_refused_where_calico_refuses_it(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };

    set_config(f, "  strictAffinity: true\n  maxBlocksPerHost: 3\n");
    assert_int_equal(tby_ipam_set_strict_affinity(n1, false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "maxBlocksPerHost (3) requires strictAffinity"));
    set_config(f, "  strictAffinity: true\n  autoAllocateBlocks: false\n");
    assert_int_equal(tby_ipam_set_strict_affinity(n1, false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "cannot both be false"));
    assert_int_equal(tby_ipam_set_strict_affinity(n1, true, &err), 0);
    tby_ipam_free(n1);
}

/* calicoctl ipam configure --max-blocks-per-host: set with strictAffinity in one write,
 * refused without it or out of Calico's bounds, and then the cap claims stop at. */
static void test_configure_sets_max_blocks_and_the_cap_holds(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_ipam_settings max_only = { .has_max_blocks = true, .max_blocks_per_host = 1 };
    struct tby_ipam_settings both = { .has_strict_affinity = true, .strict_affinity = true,
                                      .has_max_blocks = true, .max_blocks_per_host = 1 };
    struct tby_ipam_settings too_many = { .has_max_blocks = true,
                                          .max_blocks_per_host = 1000001 };
    struct tby_error err = { 0 };
    char handle[16];

    fx_pool(f, "p", "10.0.0.0/24", 28, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(tby_ipam_configure(n1, &max_only, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "maxBlocksPerHost (1) requires strictAffinity"));
    assert_int_equal(tby_ipam_configure(n1, &too_many, &err), -EINVAL);
    assert_int_equal(tby_ipam_configure(n1, &both, &err), 0);
    /* one block of 16: the 17th address would need a second block */
    for (int i = 0; i < 16; i++) {
        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    assert_int_equal(fx_alloc(n1, "over", NULL, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "maxBlocksPerHost (1)"));
    assert_int_equal(block_count(n1), 1);
    tby_ipam_free(n1);
}

/* Objects Calico marked deleted (the first of its two delete steps) are absent; a
 * virtual (load-balancer) block is read but never allocated from. */
static void test_deleted_and_virtual_objects_are_not_used(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_result res;
    struct tby_ipam_holder h;
    struct tby_ip ip = fx_parse_ip("10.0.0.1");
    struct tby_ipam_block_info info;
    struct tby_cidr block;
    struct tby_kv kv;
    bool removed = true;

    fx_pool(f, "p", "10.0.0.0/29", 30, NULL);
    put_raw(f, "/tabby/v1/ipam/blocks/10.0.0.0-30",
            "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"virtual:load-balancer\","
            "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],"
            "\"attributes\":[]}}");
    put_raw(f, "/tabby/v1/ipam/handles/gone", "{\"spec\":{\"handleID\":\"gone\",\"block\":"
                                              "{\"10.0.0.0/30\":1},\"deleted\":true}}");
    assert_int_equal(tby_ipam_ips_by_handle(n1, "gone", &res, &err), 0);
    assert_int_equal(res.n, 0);
    tby_ipam_result_clear(&res);
    for (int i = 0; i < 4; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "h%d", i);
        assert_int_equal(fx_alloc(n1, handle, NULL, &err), 0);
    }
    /* The other block is full; the virtual one is never borrowed from, nor given up
     * by upkeep, empty and affine to no node as it is. */
    assert_int_equal(fx_alloc(n1, "h4", NULL, &err), -ENOSPC);
    block = cidr_of("10.0.0.0/30");
    assert_int_equal(tby_ipam_retire_block(n1, &block, NULL, false, &removed, &err), 0);
    assert_false(removed);
    assert_int_equal(tby_store_get(f->store, "/tabby/v1/ipam/blocks/10.0.0.0-30", &kv, &err), 0);
    assert_int_equal(tby_ipam_block_info_decode(&kv, &info), 0);
    assert_false(info.usable);
    assert_null(info.node);
    tby_ipam_block_info_clear(&info);
    tby_kv_clear(&kv);
    assert_int_equal(tby_ipam_lookup_ip(n1, &ip, &h, &err), 0);
    assert_true(h.has_block);
    assert_false(h.allocated);
    assert_null(h.block_node);
    tby_ipam_holder_clear(&h);
    put_raw(f, "/tabby/v1/ipam/blocks/10.0.0.0-30",
            "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"allocations\":[null,null,null,null],"
            "\"unallocated\":[0,1,2,3],\"attributes\":[],\"deleted\":true}}");
    assert_int_equal(tby_ipam_lookup_ip(n1, &ip, &h, &err), 0);
    assert_false(h.has_block);
    tby_ipam_holder_clear(&h);
    /* Marked deleted, the block is free to claim. */
    assert_int_equal(fx_alloc(n1, "h4", &ip, &err), 0);
    assert_true(in_cidr(&ip, "10.0.0.0/30"));
    tby_ipam_free(n1);
}

/* What a watcher of affinity records sees: node, block and state; a pending claim is not
 * routed yet, a block being given up still is. */
static void test_affinity_records_decode_for_watchers(void **state)
{
    struct store_fx *f = *state;
    struct tby_kv kv = { .key = "/tabby/v1/ipam/affinities/node-1/10.0.0.0-26" };
    struct tby_ipam_affinity aff;
    struct tby_kv_list blocks;
    struct tby_ipam_block_info info;
    struct tby_error err = { 0 };
    struct tby_cidr *routed = NULL;
    struct tby_ipam *n1 = fx_ipam(f, "node-1");
    size_t n = 0;

    kv.value = AFF_JSON("node-1", "10.0.0.0/26", "pending", "");
    kv.value_len = strlen(kv.value);
    assert_int_equal(tby_ipam_affinity_decode(&kv, &aff), 0);
    assert_int_equal(aff.node_len, 6);
    assert_memory_equal(aff.node, "node-1", 6);
    assert_int_equal(aff.state, TBY_IPAM_AFFINITY_PENDING);
    assert_false(tby_ipam_affinity_routable(&aff));
    kv.value = AFF_JSON("node-1", "10.0.0.0/26", "pendingDeletion", "");
    kv.value_len = strlen(kv.value);
    assert_int_equal(tby_ipam_affinity_decode(&kv, &aff), 0);
    assert_true(tby_ipam_affinity_routable(&aff));
    kv.value = AFF_JSON("node-2", "10.0.0.0/26", "confirmed", "");
    kv.value_len = strlen(kv.value);
    assert_int_equal(tby_ipam_affinity_decode(&kv, &aff), -EINVAL); /* not the key's node */

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    put_raw(f, "/tabby/v1/ipam/affinities/node-1/10.0.0.192-26",
            AFF_JSON("node-1", "10.0.0.192/26", "pending", ""));
    assert_int_equal(tby_ipam_node_blocks(f->store, "node-1", &routed, &n, &err), 0);
    assert_int_equal(n, 1);
    free(routed);
    assert_int_equal(tby_store_range(f->store, "/tabby/v1/ipam/blocks/", &blocks, &err), 0);
    assert_int_equal(blocks.n, 1);
    assert_int_equal(tby_ipam_block_info_decode(&blocks.items[0], &info), 0);
    assert_string_equal(info.node, "node-1");
    assert_int_equal(info.size, 64);
    assert_int_equal(info.in_use, 1);
    tby_ipam_block_info_clear(&info);
    tby_kv_list_clear(&blocks);
    tby_ipam_free(n1);
}

/* Without multi-key transactions a claim or give-up cut short leaves an affinity not
 * confirmed; the node's next allocation (holding the node's lock) finishes or undoes
 * it. With them (where only another writer leaves one), an allocation in the block
 * confirms its record, and the check deals with the rest. */
static void test_half_made_claims_are_finished_by_the_nodes_next_allocation(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ip ip;
    _cleanup_free_ char *claimed = NULL, *stale = NULL;

    fx_pool(f, "p", "10.0.0.0/26", 26, NULL);
    assert_int_equal(fx_alloc(n1, "a", &ip, &err), 0);
    /* The block made, its affinity still pending; another claim that made no block. */
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26",
            AFF_JSON("n1", "10.0.0.0/26", "pending", ""));
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.9.0-26",
            AFF_JSON("n1", "10.0.9.0/26", "pending", ""));
    tby_ipam_free(n1);
    n1 = fx_ipam(f, "n1");
    assert_int_equal(fx_alloc(n1, "b", NULL, &err), 0);
    claimed = get_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26");
    assert_has(claimed, "\"state\":\"confirmed\"");
    stale = get_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.9.0-26");
    assert_true(fx_single ? stale == NULL : stale != NULL);
    assert_int_equal(block_count(n1), 1);
    tby_ipam_free(n1);
}

/* ---- the check ------------------------------------------------------------------------------ */


static void test_check_finds_leaks_and_broken_records_and_repairs_them(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_request req = { .handle = "k8s-pod-network.1", .num_v4 = 1,
                                    .attrs = { "default", "web" } };
    struct tby_ipam_result res;
    struct tby_ipam_report rep;
    struct tby_ip ip;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &req, &res, &err), 0);
    assert_int_equal(fx_alloc(n1, "tunnel", &ip, &err), 0);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    /* The pod's address has no WorkloadEndpoint: leaked. The other is not a pod's. */
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.items[0].kind, TBY_IPAM_LEAKED_ADDRESS);
    assert_string_equal(rep.items[0].handle, "k8s-pod-network.1");
    assert_true(tby_ip_equal(&rep.items[0].ip, &res.items[0].ip));
    assert_int_equal(rep.n_allocations, 2);
    tby_ipam_report_clear(&rep);
    /* Break records by hand. */
    put_raw(f, "/tabby/v1/ipam/handles/ghost", HANDLE_JSON("ghost", "\"10.0.0.0/26\":1"));
    assert_int_equal(tby_store_delete(f->store, "/tabby/v1/ipam/handles/tunnel", NULL, &err), 0);
    /* A free count gone wrong where one is kept, a claim cut short where none is. */
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26",
            fx_single ? AFF_JSON("n1", "10.0.0.0/26", "pending", "")
                      : AFF_JSON("n1", "10.0.0.0/26", "confirmed",
                                 ",\"annotations\":{\"tabby.dev/free\":\"1\"}"));
    put_raw(f, "/tabby/v1/ipam/affinities/n9/10.0.0.64-26",
            AFF_JSON("n9", "10.0.0.64/26", "confirmed", ""));
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(count_kind(&rep, TBY_IPAM_LEAKED_ADDRESS), 1);
    assert_int_equal(count_kind(&rep, TBY_IPAM_HANDLE_WITHOUT_ADDRESSES), 1);
    assert_int_equal(count_kind(&rep, TBY_IPAM_HANDLE_MISMATCH), 1);
    assert_int_equal(count_kind(&rep, TBY_IPAM_AFFINITY_MISMATCH), fx_single ? 1 : 2);
    assert_int_equal(count_kind(&rep, TBY_IPAM_AFFINITY_NOT_CONFIRMED), fx_single);
    for (size_t i = 0; i < rep.n; i++)
        assert_true(rep.items[i].fixed);
    tby_ipam_report_clear(&rep);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.n_allocations, 1);
    tby_ipam_report_clear(&rep);
    tby_ipam_result_clear(&res);
    tby_ipam_free(n1);
}

static void test_check_names_exactly_the_addresses_no_workload_endpoint_uses(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;
    struct tby_ipam_result a, b;
    struct tby_ipam_request ra = { .handle = "k8s-pod-network.aaa", .num_v4 = 1, .num_v6 = 1,
                                   .attrs = { "prod", "web-0" } };
    struct tby_ipam_request rb = { .handle = "k8s-pod-network.bbb", .num_v4 = 1,
                                   .attrs = { "prod", "web-1" } };
    char ips[128];

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_pool(f, "six", "fd00::/120", 122, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(tby_ipam_auto_assign(n1, &ra, &a, &err), 0);
    assert_int_equal(tby_ipam_auto_assign(n1, &rb, &b, &err), 0);
    snprintf(ips, sizeof(ips), "%s, '%s'", fx_ip(&a.items[0].ip), fx_ip(&a.items[1].ip));
    fx_wep(f, "n1", "prod", "web-0", ips);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.items[0].kind, TBY_IPAM_LEAKED_ADDRESS);
    assert_string_equal(rep.items[0].handle, "k8s-pod-network.bbb");
    assert_true(tby_ip_equal(&rep.items[0].ip, &b.items[0].ip));
    tby_ipam_report_clear(&rep);
    /* The pod's endpoint goes: both its addresses are leaks now. */
    fx_delete_wep(f, "prod", "n1-k8s-web-0-eth0");
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(rep.n, 3);
    tby_ipam_report_clear(&rep);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.n_allocations, 0);
    tby_ipam_report_clear(&rep);
    tby_ipam_result_clear(&a);
    tby_ipam_result_clear(&b);
    tby_ipam_free(n1);
}

static void test_check_removes_an_empty_block_without_a_pool(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    assert_int_equal(tby_ipam_release_handle(n1, "a", NULL, &err), 0);
    fx_pool(f, "q", "10.1.0.0/24", 26, NULL);
    fx_delete(f, TBY_KIND_IPPOOL, "p");
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    assert_true(rep.items[0].fixed);
    tby_ipam_report_clear(&rep);
    assert_int_equal(block_count(n1), 0);
    tby_ipam_free(n1);
}

/* Calico's "in use but not allocated": an address a pod or a node's tunnel uses, inside
 * a pool, that no block gives out. Named, never repaired. */
static void test_check_names_addresses_in_use_but_not_allocated(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;
    struct tby_ip ip;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(fx_alloc(n1, "used", &ip, &err), 0);
    fx_wep(f, "n1", "prod", "web-0", "10.0.0.9");   /* in n1's block, not allocated */
    fx_wep(f, "n1", "prod", "web-1", "10.0.0.200"); /* no block */
    fx_wep(f, "n1", "prod", "web-2", "192.168.0.1"); /* outside every pool */
    store_fx_apply(f->store, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n"
                   "  name: n1\nspec:\n  ipv4VXLANTunnelAddr: 10.0.0.77\n");
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(count_kind(&rep, TBY_IPAM_NOT_ALLOCATED), 3);
    for (size_t i = 0; i < rep.n; i++)
        if (rep.items[i].kind == TBY_IPAM_NOT_ALLOCATED)
            assert_false(rep.items[i].fixed);
    assert_has(rep.items[rep.n - 1].detail, "10.0.0.200: WorkloadEndpoint prod/n1-k8s-web-1-eth0 "
                                            "uses it, but no block holds it");
    tby_ipam_report_clear(&rep);
    tby_ipam_free(n1);
}

/* Calico's invalid blocks: one that cannot be read is named and the check goes on; one
 * keeping attributes no allocation points at is written again without them. */
static void test_check_names_invalid_blocks(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;

    fx_pool(f, "p", "10.0.0.0/24", 30, NULL);
    put_raw(f, "/tabby/v1/ipam/blocks/10.0.0.0-30",
            "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"allocations\":[null,null,null,null],"
            "\"unallocated\":[0,1,2,2],\"attributes\":[]}}");
    put_raw(f, "/tabby/v1/ipam/blocks/10.0.0.4-30",
            "{\"spec\":{\"cidr\":\"10.0.0.4/30\",\"allocations\":[0,null,null,null],"
            "\"unallocated\":[1,2,3],\"attributes\":[{\"handle_id\":\"h\"},"
            "{\"handle_id\":\"old\"}]}}");
    put_raw(f, "/tabby/v1/ipam/handles/h", HANDLE_JSON("h", "\"10.0.0.4/30\":1"));
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(count_kind(&rep, TBY_IPAM_INVALID_BLOCK), 2);
    assert_has(rep.items[0].detail, "/tabby/v1/ipam/blocks/10.0.0.0-30: stored block is "
                                    "malformed: unallocated lists");
    assert_false(rep.items[0].fixed);
    tby_ipam_report_clear(&rep);
    put_raw(f, "/tabby/v1/ipam/blocks/10.0.0.0-30",
            "{\"spec\":{\"cidr\":\"10.0.0.0/30\",\"allocations\":[null,null,null,null],"
            "\"unallocated\":[0,1,2,3],\"attributes\":[]}}");
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(n1);
}

/* Affinities left pending or pendingDeletion: confirmed when their block is the node's,
 * deleted when it is not there. */
static void test_check_confirms_or_deletes_unconfirmed_affinities(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_report rep;
    _cleanup_free_ char *kept = NULL, *gone = NULL, *going = NULL;

    fx_pool(f, "p", "10.0.0.0/26", 26, NULL);
    fx_node(f, "n1", NULL);
    assert_int_equal(fx_alloc(n1, "a", NULL, &err), 0);
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26",
            AFF_JSON("n1", "10.0.0.0/26", "pending", ""));
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.1.0-26",
            AFF_JSON("n1", "10.0.1.0/26", "pending", ""));
    put_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.2.0-26",
            AFF_JSON("n1", "10.0.2.0/26", "pendingDeletion", ""));
    assert_int_equal(tby_ipam_check(n1, true, &rep, &err), 0);
    assert_int_equal(count_kind(&rep, TBY_IPAM_AFFINITY_NOT_CONFIRMED), 3);
    for (size_t i = 0; i < rep.n; i++)
        assert_true(rep.items[i].fixed);
    tby_ipam_report_clear(&rep);
    kept = get_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.0.0-26");
    assert_has(kept, "\"state\":\"confirmed\"");
    gone = get_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.1.0-26");
    going = get_raw(f, "/tabby/v1/ipam/affinities/n1/10.0.2.0-26");
    assert_null(gone);
    assert_null(going);
    assert_int_equal(tby_ipam_check(n1, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(n1);
}

static void test_bad_handles_and_node_names_are_refused(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *bad = NULL;
    struct tby_error err = { 0 };

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(fx_alloc(n1, "a/b", NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "handle \"a/b\""));
    assert_int_equal(fx_alloc(n1, "", NULL, &err), -EINVAL);
    assert_int_equal(tby_ipam_new(f->store, "x/y", &bad, &err), -EINVAL);
    assert_null(bad);
    tby_ipam_free(n1);
}

static void test_allocating_without_a_node_name_is_refused(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *anon = fx_ipam(f, NULL);
    struct tby_error err = { 0 };

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    assert_int_equal(fx_alloc(anon, "h", NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "node name"));
    tby_ipam_free(anon);
}

static void test_affinity_keys_split_into_node_and_block(void **state)
{
    const char *node = NULL;
    size_t len = 0;
    struct tby_cidr block;
    char buf[TBY_CIDR_STRLEN];

    (void)state;
    assert_int_equal(tby_ipam_affinity_key_parse(TBY_IPAM_AFFINITY_PREFIX "node-1/fd00--122",
                                                 &node, &len, &block), -EINVAL);
    assert_int_equal(tby_ipam_affinity_key_parse(TBY_IPAM_AFFINITY_PREFIX "node-1/fd00::-122",
                                                 &node, &len, &block), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(node, "node-1", 6);
    assert_string_equal(tby_cidr_format(&block, buf), "fd00::/122");
    assert_int_equal(tby_ipam_affinity_key_parse(TBY_IPAM_AFFINITY_PREFIX "n/10.0.0.0-26",
                                                 &node, &len, &block), 0);
    assert_string_equal(tby_cidr_format(&block, buf), "10.0.0.0/26");
    assert_int_equal(tby_ipam_affinity_key_parse(TBY_IPAM_PREFIX "blocks/10.0.0.0-26", &node,
                                                 &len, &block), -EINVAL);
    assert_int_equal(tby_ipam_affinity_key_parse(TBY_IPAM_AFFINITY_PREFIX "/10.0.0.0-26",
                                                 &node, &len, &block), -EINVAL);
}

/* IPReservations, as Calico's IPAM reads them for every automatic assignment: a block
 * wholly reserved is never claimed, one reserved in part gives its other addresses, a
 * reserved address is never chosen (from an affine block, a claimed one, or a borrowed
 * one); an address asked for by name is still given, as Calico's ipAddrs annotation is. */
static void test_reserved_addresses_are_never_chosen(void **state)
{
    struct store_fx *f = *state;
    struct tby_ipam *n1 = fx_ipam(f, "n1"), *n2 = fx_ipam(f, "n2");
    struct tby_cidr reserved[4];
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    struct tby_ip ip;
    int given = 0;

    fx_pool(f, "p", "10.0.0.0/24", 26, NULL);
    fx_node(f, "n1", NULL);
    fx_node(f, "n2", NULL);
    store_fx_apply(f->store, "apiVersion: projectcalico.org/v3\nkind: IPReservation\n"
                             "metadata: {name: r1}\nspec:\n  reservedCIDRs: [10.0.0.0/26, "
                             "10.0.0.64/27]\n---\napiVersion: projectcalico.org/v3\n"
                             "kind: IPReservation\nmetadata: {name: r2}\nspec:\n"
                             "  reservedCIDRs: [10.0.0.130, 10.0.0.192/26, 'fd00::/64']\n");
    assert_int_equal(tby_cidr_parse("10.0.0.0/26", TBY_CIDR_STRICT, &reserved[0], NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.0.64/27", TBY_CIDR_STRICT, &reserved[1], NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.0.130/32", TBY_CIDR_STRICT, &reserved[2], NULL), 0);
    assert_int_equal(tby_cidr_parse("10.0.0.192/26", TBY_CIDR_STRICT, &reserved[3], NULL), 0);
    /* n1 and n2 take every address left: the upper half of .64/26 and .128/26 but one */
    for (int i = 0; i < 95; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "h%d", i);
        if (fx_alloc(i % 2 ? n2 : n1, handle, &ip, &err) < 0)
            fail_msg("allocation %d: %s", i, tby_error_str(&err));
        for (size_t k = 0; k < 4; k++)
            if (tby_cidr_contains(&reserved[k], &ip))
                fail_msg("allocation %d got reserved %s", i, fx_ip(&ip));
    }
    assert_int_equal(fx_alloc(n1, "full", NULL, &err), -ENOSPC);
    assert_int_equal(fx_alloc(n2, "full", NULL, &err), -ENOSPC);
    /* the wholly reserved blocks were never claimed */
    assert_int_equal(tby_ipam_usage(n1, &u, &err), 0);
    assert_int_equal(u.n_blocks, 2);
    for (size_t b = 0; b < u.n_blocks; b++)
        assert_false(tby_cidr_equal(&u.blocks[b].cidr, &reserved[0]) ||
                     tby_cidr_equal(&u.blocks[b].cidr, &reserved[3]));
    tby_ipam_usage_clear(&u);
    /* asked for by name, a reserved address is given */
    ip = fx_parse_ip("10.0.0.130");
    assert_int_equal(tby_ipam_assign_ips(n1, &ip, 1, "named", NULL, 0, &err), 0);
    /* a reservation deleted frees its addresses for automatic assignment */
    fx_delete(f, TBY_KIND_IPRESERVATION, "r1");
    for (int i = 0; i < 3; i++) {
        char handle[16];

        snprintf(handle, sizeof(handle), "after%d", i);
        assert_int_equal(fx_alloc(n1, handle, &ip, &err), 0);
        given += tby_cidr_contains(&reserved[1], &ip) || tby_cidr_contains(&reserved[0], &ip);
    }
    assert_int_equal(given, 3);
    tby_ipam_free(n1);
    tby_ipam_free(n2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affinity_keys_split_into_node_and_block),
        cmocka_unit_test_setup_teardown(test_second_address_comes_from_the_same_affine_block,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_affine_block_makes_the_node_claim_another,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_borrows_from_another_nodes_block_when_no_block_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_allocations_follow_the_allocation_not_the_block, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trial_assignment_writes_nothing_and_fails_as_assignment_would, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_affinity_forbids_borrowing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_addresses_are_never_chosen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_configure_sets_max_blocks_and_the_cap_holds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_blocks_per_host_stops_claiming_and_borrowing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_allocate_blocks_false_uses_only_blocks_held,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhausted_pools_fail_with_their_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_disabled_pool_is_never_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_allocation_reads_nothing_yet_sees_every_change,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_selector_limits_which_nodes_use_a_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_allowed_uses_separate_tunnel_and_workload_pools,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_requested_pools_are_tried_in_order_by_name_or_cidr,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_pool_is_used_only_when_requested, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_given_address_is_allocated_when_free_in_an_enabled_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_given_address_that_is_taken_fails_and_allocates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_given_address_outside_enabled_pools_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_by_handle_frees_all_of_its_addresses,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_release_by_address_keeps_the_handles_other_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_releasing_what_is_free_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_of_a_handle_leaves_addresses_others_hold,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_released_address_is_reused_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dual_stack_request_gets_both_families_in_one_go,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dual_stack_failure_of_one_family_allocates_neither,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_repeated_request_with_reuse_returns_the_handles_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_block_of_a_live_node_keeps_its_affinity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_block_emptied_on_a_deleted_node_gives_up_its_affinity, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_block_that_lost_its_pool_gives_up_affinity_when_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_removes_empty_blocks_of_nodes_that_are_gone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_retire_block_reads_that_block_alone_and_only_takes_an_empty_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_new_blocks_never_overlap_blocks_of_a_resized_pool,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_check_finds_leaks_and_broken_records_and_repairs_them, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_check_names_exactly_the_addresses_no_workload_endpoint_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_removes_an_empty_block_without_a_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_check_names_addresses_in_use_but_not_allocated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_names_invalid_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_check_confirms_or_deletes_unconfirmed_affinities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_take_calicos_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_blocks_per_host_zero_means_calicos_twenty,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_strict_affinity_off_is_refused_where_calico_refuses_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_and_virtual_objects_are_not_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_affinity_records_decode_for_watchers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_half_made_claims_are_finished_by_the_nodes_next_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_handles_and_node_names_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_allocating_without_a_node_name_is_refused, setup,
                                        teardown),
    };

    return fx_run_both_modes(tests);
}
