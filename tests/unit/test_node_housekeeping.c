/* test_node_housekeeping.c — IPAM upkeep, a part of tabby-node, on a sqlite datastore:
 * this node's usage counted from the syncer's copy of the blocks, a deleted node's empty
 * blocks (and its claims record) given up at once, blocks whose pool went collected on
 * the next collection, and blocks in use left alone. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "tabby/ipam.h"
#include "node_fixture.h"

#define DEADLINE_MS 20000

static bool metric_is(struct node_fixture *f, const char *line)
{
    struct tby_buf out = { 0 };
    bool found;

    assert_int_equal(node_metrics_write(&f->n, &out), 0);
    found = strstr(out.data, line) != NULL;
    tby_buf_clear(&out);
    return found;
}

static void turn_until(struct node_fixture *f, const char *line)
{
    int64_t until = node_now_ms() + DEADLINE_MS;

    while (!metric_is(f, line)) {
        if (node_now_ms() > until)
            fail_msg("not reached: %s", line + 1);
        node_turn(&f->n, 20);
    }
}

static struct tby_ip alloc(struct tby_ipam *ipam, const char *handle, const char *pool)
{
    struct tby_strv pools = { 0 };
    struct tby_ipam_request req = { .handle = handle, .num_v4 = 1, .v4_pools = &pools };
    struct tby_ipam_result res = { 0 };
    struct tby_error err = { 0 };
    struct tby_ip ip;

    if (pool)
        assert_int_equal(tby_strv_push(&pools, pool), 0);
    if (tby_ipam_auto_assign(ipam, &req, &res, &err) < 0)
        fail_msg("%s: %s", handle, tby_error_str(&err));
    ip = res.items[0].ip;
    tby_ipam_result_clear(&res);
    tby_strv_clear(&pools);
    return ip;
}

static void release(struct tby_ipam *ipam, const char *handle)
{
    assert_int_equal(tby_ipam_release_handle(ipam, handle, NULL, NULL), 0);
}

static size_t blocks_of(struct tby_store *store, const char *node)
{
    struct tby_cidr *blocks = NULL;
    size_t n = 0;

    assert_int_equal(tby_ipam_node_blocks(store, node, &blocks, &n, NULL), 0);
    free(blocks);
    return n;
}

static void test_upkeep_counts_releases_and_collects_from_the_cache(void **state)
{
    struct node_fixture f = { 0 };
    const char *parts[] = { "housekeeping", NULL };
    struct tby_ipam *n1 = NULL, *n2 = NULL;
    struct tby_kv kv;

    (void)state;
    fixture_init(&f, (const char *[]){ "--ipam-gc-interval", "1", NULL });
    fixture_start(&f, parts);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\n"
                      "spec: {cidr: 10.244.0.0/16, blockSize: 26}\n---\n"
                      "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: q}\n"
                      "spec: {cidr: 10.245.0.0/16, blockSize: 26}\n---\n"
                      "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n"
                      "spec: {}\n---\n"
                      "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\n"
                      "spec: {}\n");
    assert_int_equal(tby_ipam_new(f.n.store, "n1", &n1, NULL), 0);
    assert_int_equal(tby_ipam_new(f.n.store, "n2", &n2, NULL), 0);
    alloc(n1, "a", "p");
    alloc(n1, "b", "p");
    alloc(n1, "c", "q");
    release(n1, "c");          /* n1's empty block in q */
    alloc(n2, "d", "p");
    release(n2, "d");          /* n2's empty block */
    alloc(n2, "e", "q");       /* n2's block in q, in use */
    turn_until(&f, "\ntabby_ipam_addresses_in_use 2\n");
    assert_true(metric_is(&f, "\ntabby_ipam_blocks 2\n"));
    assert_true(metric_is(&f, "\ntabby_ipam_addresses 128\n"));

    /* n2 goes: its empty block at once (and its claims record), the one in use stays */
    assert_int_equal(tby_catalog_delete_one(f.n.store, tby_kind_info(TBY_KIND_NODE), NULL,
                                            "n2", NULL), 0);
    turn_until(&f, "\ntabby_ipam_blocks_released_total 1\n");
    assert_int_equal(blocks_of(f.n.store, "n2"), 1);
    assert_int_equal(tby_store_get(f.n.store, TBY_IPAM_PREFIX "claims/n2", &kv, NULL), 0);
    tby_kv_clear(&kv);
    release(n2, "e");          /* its last block empties: released with it */
    assert_int_equal(blocks_of(f.n.store, "n2"), 0);

    /* q goes: n1's empty block in it is collected; its blocks in use in p stay */
    assert_int_equal(tby_catalog_delete_one(f.n.store, tby_kind_info(TBY_KIND_IPPOOL), NULL,
                                            "q", NULL), 0);
    turn_until(&f, "\ntabby_ipam_blocks_released_total 2\n");
    assert_int_equal(blocks_of(f.n.store, "n1"), 1);
    turn_until(&f, "\ntabby_ipam_blocks 1\n");
    assert_true(metric_is(&f, "\ntabby_ipam_addresses_in_use 2\n"));

    tby_ipam_free(n1);
    tby_ipam_free(n2);
    fixture_stop(&f);
}

/* The last empty block of a deleted node takes its claims record along. */
static void test_deleted_node_loses_its_last_block_and_claims(void **state)
{
    struct node_fixture f = { 0 };
    const char *parts[] = { "housekeeping", NULL };
    struct tby_ipam *n2 = NULL;
    struct tby_kv kv;

    (void)state;
    fixture_init(&f, NULL);
    fixture_start(&f, parts);
    fixture_apply(&f, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\n"
                      "spec: {cidr: 10.244.0.0/16, blockSize: 26}\n---\n"
                      "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\n"
                      "spec: {}\n");
    assert_int_equal(tby_ipam_new(f.n.store, "n2", &n2, NULL), 0);
    alloc(n2, "d", NULL);
    release(n2, "d");
    turn_until(&f, "\ntabby_resources 3\n"); /* the pool, the Node and the block */
    assert_int_equal(tby_catalog_delete_one(f.n.store, tby_kind_info(TBY_KIND_NODE), NULL,
                                            "n2", NULL), 0);
    turn_until(&f, "\ntabby_ipam_blocks_released_total 1\n");
    assert_int_equal(blocks_of(f.n.store, "n2"), 0);
    assert_int_equal(tby_store_get(f.n.store, TBY_IPAM_PREFIX "claims/n2", &kv, NULL), -ENOENT);
    tby_ipam_free(n2);
    fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upkeep_counts_releases_and_collects_from_the_cache),
        cmocka_unit_test(test_deleted_node_loses_its_last_block_and_claims),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
