/* test_bgp_driver.c — the sync tabby-node's loop runs: from a datastore to a fake BIRD,
 * reloading only on change, keeping refused configurations out, backing off while BIRD
 * is away, and counting every outcome. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/bgp_driver.h"
#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/syncer.h"
#include "fake_bird.h"
#include "store_fixture.h"

static const char resources[] =
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool}\n"
    "spec: {cidr: 10.244.0.0/16}\n---\n"
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-1}\n"
    "spec: {bgp: {ipv4Address: 10.0.0.1/24}}\n---\n"
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-2}\n"
    "spec: {bgp: {ipv4Address: 10.0.0.2/24}}\n";

static const char tor_peer[] =
    "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: tor}\n"
    "spec: {peerIP: 10.0.0.254, asNumber: 65001}\n";

struct world {
    struct fake bird;
    struct store_fx fx;
    char conf[160];
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));

    assert_non_null(w);
    fake_start(&w->bird, FAKE_NORMAL);
    snprintf(w->conf, sizeof(w->conf), "%s/bird.conf", w->bird.dir);
    store_fx_open(&w->fx, "bgp-driver", false);
    store_fx_apply(w->fx.store, resources);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;

    store_fx_close(&w->fx);
    fake_remove(&w->bird);
    free(w);
    return 0;
}

static struct tby_bgp_driver *driver(struct world *w, const char *node, const char *socket)
{
    struct tby_cidr block;
    struct tby_bgp_driver_config cfg = { .node = node, .bird_config = w->conf,
                                         .bird_socket = socket ? socket : w->bird.path,
                                         .extra_blocks = &block, .n_extra_blocks = 1 };
    struct tby_bgp_driver *d = NULL;

    assert_int_equal(tby_cidr_parse("10.244.1.0/26", TBY_CIDR_STRICT, &block, NULL), 0);
    assert_int_equal(tby_bgp_driver_new(w->fx.store, &cfg, &d, NULL), 0);
    return d;
}

static void test_sync_reloads_once_then_leaves_bird_alone(void **state)
{
    struct world *w = *state;
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = driver(w, "node-1", NULL);
    const struct tby_bgp_stats *st = tby_bgp_driver_stats(d);
    struct tby_error err = { 0 };
    bool reloaded;

    assert_int_equal(tby_bgp_driver_sync(d, 1000, &reloaded, &err), 0);
    assert_true(reloaded);
    assert_int_equal(w->bird.commands, 2); /* configure check, configure */
    assert_int_equal(tby_bgp_driver_sync(d, 2000, &reloaded, &err), 0);
    assert_false(reloaded);
    assert_int_equal(w->bird.commands, 2);
    assert_int_equal(st->reloads, 1);
    assert_int_equal(st->unchanged, 1);
    assert_int_equal(st->peers, 1);
    assert_int_equal(st->blocks, 1);
    assert_string_equal(st->last_error, "");
    /* A new BGPPeer is a new configuration. */
    store_fx_apply(w->fx.store, tor_peer);
    assert_int_equal(tby_bgp_driver_sync(d, 3000, &reloaded, &err), 0);
    assert_true(reloaded);
    assert_int_equal(st->peers, 2);
}

static void test_blocks_come_from_ipam(void **state)
{
    struct world *w = *state;
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = driver(w, "node-1", NULL);
    _cleanup_(tby_ipam_freep) struct tby_ipam *ipam = NULL;
    struct tby_ipam_request req = { .handle = "pod-a", .num_v4 = 1 };
    struct tby_ipam_result res = { 0 };
    struct tby_error err = { 0 };
    struct tby_cidr *blocks = NULL;
    size_t n = 0;
    bool reloaded;

    assert_int_equal(tby_ipam_new(w->fx.store, "node-1", &ipam, &err), 0);
    assert_int_equal(tby_ipam_auto_assign(ipam, &req, &res, &err), 0);
    assert_int_equal(tby_ipam_node_blocks(w->fx.store, "node-1", &blocks, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(tby_cidr_equal(&blocks[0], &res.items[0].block));
    free(blocks);
    assert_int_equal(tby_ipam_node_blocks(w->fx.store, "node-2", &blocks, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(blocks);
    tby_ipam_result_clear(&res);
    /* The extra block and IPAM's. */
    assert_int_equal(tby_bgp_driver_sync(d, 1000, &reloaded, &err), 0);
    assert_int_equal(tby_bgp_driver_stats(d)->blocks, 2);
}

static void test_refused_configuration_is_counted_and_kept_out(void **state)
{
    struct world *w = *state;
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = driver(w, "node-1", NULL);
    const struct tby_bgp_stats *st = tby_bgp_driver_stats(d);
    struct tby_error err = { 0 };
    _cleanup_free_ char *before = NULL;

    assert_int_equal(tby_bgp_driver_sync(d, 1000, NULL, &err), 0);
    w->bird.reject_config = true;
    store_fx_apply(w->fx.store, tor_peer);
    assert_int_equal(tby_bgp_driver_sync(d, 2000, NULL, &err), -EINVAL);
    assert_int_equal(st->failures, 1);
    assert_non_null(strstr(st->last_error, "BIRD refused the configuration"));
    assert_int_equal(tby_read_file(w->conf, 0, &before, NULL), 0);
    assert_null(strstr(before, "10.0.0.254")); /* the refused peer never reached the file */
}

static void test_missing_node_is_a_failure_not_a_crash(void **state)
{
    struct world *w = *state;
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = driver(w, "node-9", NULL);
    struct tby_error err = { 0 };

    assert_int_equal(tby_bgp_driver_sync(d, 1000, NULL, &err), -ENOENT);
    assert_int_equal(tby_bgp_driver_stats(d)->failures, 1);
    assert_non_null(strstr(tby_bgp_driver_stats(d)->last_error, "Node node-9 not found"));
    assert_int_equal(w->bird.commands, 0);
}

static void test_absent_bird_backs_off(void **state)
{
    struct world *w = *state;
    char missing[200];
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *d = NULL;
    struct tby_error err = { 0 };

    snprintf(missing, sizeof(missing), "%s/none.ctl", w->bird.dir);
    d = driver(w, "node-1", missing);
    assert_int_equal(tby_bgp_driver_sync(d, 1000, NULL, &err), -EAGAIN);
    assert_int_equal(tby_bgp_driver_retry_at(d), 1100);
    assert_int_equal(tby_bgp_driver_sync(d, 1050, NULL, &err), -EAGAIN);
    assert_int_equal(tby_bgp_driver_stats(d)->unreachable, 2);
    assert_int_equal(tby_bgp_driver_stats(d)->syncs, 0);
    assert_non_null(strstr(tby_bgp_driver_stats(d)->last_error, "none.ctl"));
    assert_int_equal(access(w->conf, F_OK), -1); /* nothing written while BIRD is away */
}

static struct tby_bgp_driver *driver_on(struct world *w, const struct tby_syncer *s,
                                        const char *conf)
{
    struct tby_bgp_driver_config cfg = { .node = "node-1", .bird_config = conf,
                                         .bird_socket = w->bird.path, .syncer = s };
    struct tby_bgp_driver *d = NULL;

    assert_int_equal(tby_bgp_driver_new(s ? NULL : w->fx.store, &cfg, &d, NULL), 0);
    return d;
}

static int aff_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    (void)ctx;
    (void)key;
    (void)kv;
    return 0;
}

/* tabby-node's driver works from the syncer's cache: the same configuration, byte for
 * byte, as from the datastore, and not one read of the datastore to make it. */
static void test_from_the_syncer_the_same_text_and_no_reads(void **state)
{
    struct world *w = *state;
    _cleanup_(tby_syncer_freep) struct tby_syncer *s = NULL;
    _cleanup_(tby_ipam_freep) struct tby_ipam *ipam = NULL;
    _cleanup_(tby_bgp_driver_freep) struct tby_bgp_driver *from_store = NULL, *cached = NULL;
    struct tby_syncer_consumer c = { .name = "bgp", .record_prefix = TBY_IPAM_AFFINITY_PREFIX,
                                     .record = aff_record };
    struct tby_ipam_request req = { .handle = "pod-a", .num_v4 = 1 };
    struct tby_ipam_result res = { 0 };
    _cleanup_free_ char *a = NULL, *b = NULL;
    struct tby_store_stats before;
    struct tby_error err = { 0 };
    char conf2[200];

    store_fx_apply(w->fx.store, tor_peer);
    store_fx_apply(w->fx.store, "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\n"
                                "metadata: {name: default}\nspec: {asNumber: 64600}\n");
    assert_int_equal(tby_ipam_new(w->fx.store, "node-1", &ipam, &err), 0);
    assert_int_equal(tby_ipam_auto_assign(ipam, &req, &res, &err), 0);
    tby_ipam_result_clear(&res);
    req.handle = "pod-b"; /* and a block of node-2, not announced here */
    tby_ipam_free(TBY_STEAL(ipam));
    assert_int_equal(tby_ipam_new(w->fx.store, "node-2", &ipam, &err), 0);
    assert_int_equal(tby_ipam_auto_assign(ipam, &req, &res, &err), 0);
    tby_ipam_result_clear(&res);
    assert_int_equal(tby_syncer_new(w->fx.store, &s), 0);
    assert_int_equal(tby_syncer_add_consumer(s, &c), 0);
    if (tby_syncer_poll(s, &err) < 0)
        fail_msg("%s", tby_error_str(&err));

    from_store = driver_on(w, NULL, w->conf);
    assert_int_equal(tby_bgp_driver_sync(from_store, 1000, NULL, &err), 0);
    tby_bgp_driver_free(TBY_STEAL(from_store)); /* the fake serves one connection at a time */
    snprintf(conf2, sizeof(conf2), "%s/cached.conf", w->bird.dir);
    cached = driver_on(w, s, conf2);
    before = tby_store_stats(w->fx.store);
    assert_int_equal(tby_bgp_driver_sync(cached, 1000, NULL, &err), 0);
    assert_int_equal(tby_store_stats(w->fx.store).gets, before.gets);
    assert_int_equal(tby_store_stats(w->fx.store).ranges, before.ranges);
    assert_int_equal(tby_read_file(w->conf, 0, &a, NULL), 0);
    assert_int_equal(tby_read_file(conf2, 0, &b, NULL), 0);
    assert_string_equal(a, b);
    assert_int_equal(tby_bgp_driver_stats(cached)->blocks, 1);
    assert_int_equal(tby_bgp_driver_stats(cached)->peers, 2);
}

static void test_driver_needs_its_paths(void **state)
{
    struct world *w = *state;
    struct tby_bgp_driver_config cfg = { .node = "node-1" };
    struct tby_bgp_driver *d = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_bgp_driver_new(w->fx.store, &cfg, &d, &err), -EINVAL);
    assert_null(d);
    cfg.bird_socket = w->bird.path;
    cfg.bird_config = w->conf;
    assert_int_equal(tby_bgp_driver_new(NULL, &cfg, &d, &err), -EINVAL); /* no input */
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_reloads_once_then_leaves_bird_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blocks_come_from_ipam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_configuration_is_counted_and_kept_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_node_is_a_failure_not_a_crash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_absent_bird_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_the_syncer_the_same_text_and_no_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_driver_needs_its_paths, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
