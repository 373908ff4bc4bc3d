/* test_node_reads.c — tabby-node reads the datastore to start and then only to write: a
 * core with registration, BGP (to a fake BIRD) and IPAM upkeep, a cluster that churns
 * around it (pods come and go, policies change, a node joins, a node and a pool go, empty
 * blocks are given up), and the node's store counters: after start no range read and no
 * new watch (nothing was compacted, so nothing to relist), and a get only before each
 * write of its own. Twice: on a sqlite datastore, and on k8s: against the Kubernetes API
 * server test double (tests/k8s/apiserver.py, started here; skipped without python3 or
 * openssl), where the server's own log of the node's requests must say the same: no
 * LIST, no new WATCH, a GET per write. The policy engine and the route manager need a
 * kernel (and only ever read the syncer's cache); the node tests run them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/buf.h"
#include "tabby/ipam.h"
#include "fake_bird.h"
#include "kapi_fixture.h"
#include "node_fixture.h"

#define DEADLINE_MS 60000

struct world {
    struct node_fixture f;
    struct fake bird;
    char conf[160];
    struct kapi *api;              /* on k8s: the API server; NULL on sqlite */
    struct tby_store *cluster;     /* everyone else's writes: tabbyctl, the CNI plugins */
    struct tby_ipam *cni[4];       /* IPAM as node n1..n3's CNI plugin */
};

static void cluster_apply(struct world *w, const char *yaml)
{
    store_fx_apply(w->cluster, yaml);
}

/* On k8s: a Node goes as the Kubernetes Node does (its Calico Node is a view of it). */
static void cluster_delete(struct world *w, enum tby_kind kind, const char *ns,
                           const char *name)
{
    struct tby_error err = { 0 };

    if (w->api && kind == TBY_KIND_NODE)
        kapi_delete(w->api, &tby_kube_nodes, NULL, name);
    else if (tby_catalog_delete_one(w->cluster, tby_kind_info(kind), ns, name, &err) < 0)
        fail_msg("%s: %s", name, tby_error_str(&err));
}

/* A pod on node n<node>: an address from IPAM and its endpoint. */
static void pod_add(struct world *w, int node, int i, const char *pool)
{
    struct tby_strv pools = { 0 };
    struct tby_ipam_request req = { .num_v4 = 1, .v4_pools = &pools };
    struct tby_ipam_result res = { 0 };
    struct tby_error err = { 0 };
    char handle[64], ip[TBY_IP_STRLEN], yaml[1024];

    snprintf(handle, sizeof(handle), "k8s-pod-network.n%d-%d", node, i);
    req.handle = handle;
    if (pool)
        assert_int_equal(tby_strv_push(&pools, pool), 0);
    if (tby_ipam_auto_assign(w->cni[node], &req, &res, &err) < 0)
        fail_msg("%s: %s", handle, tby_error_str(&err));
    tby_ip_format(&res.items[0].ip, ip);
    if (w->api) { /* the endpoint is the pod, as the CNI plugin annotates it */
        snprintf(yaml, sizeof(yaml),
                 "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {"
                 "\"name\": \"pod%d-n%d\", \"namespace\": \"default\", "
                 "\"labels\": {\"app\": \"a%d\"}, \"annotations\": "
                 "{\"cni.projectcalico.org/podIP\": \"%s/32\"}}, \"spec\": {"
                 "\"nodeName\": \"n%d\", \"containers\": [{\"name\": \"c\", "
                 "\"image\": \"busybox\"}]}}", i, node, i % 3, ip, node);
        kapi_create(w->api, &tby_kube_pods, yaml);
        tby_ipam_result_clear(&res);
        tby_strv_clear(&pools);
        return;
    }
    snprintf(yaml, sizeof(yaml),
             "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n"
             "metadata: {name: n%d-k8s-pod%d-eth0, namespace: default,\n"
             "  labels: {app: a%d, projectcalico.org/namespace: default}}\n"
             "spec: {node: n%d, orchestrator: k8s, pod: pod%d, endpoint: eth0,\n"
             "  interfaceName: cali%d%04d, ipNetworks: [%s/32]}\n",
             node, i, i % 3, node, i, node, i, ip);
    cluster_apply(w, yaml);
    tby_ipam_result_clear(&res);
    tby_strv_clear(&pools);
}

static void pod_remove(struct world *w, int node, int i)
{
    struct tby_error err = { 0 };
    char handle[64], name[64];

    snprintf(handle, sizeof(handle), "k8s-pod-network.n%d-%d", node, i);
    if (w->api) {
        snprintf(name, sizeof(name), "pod%d-n%d", i, node);
        kapi_delete(w->api, &tby_kube_pods, "default", name);
    } else {
        snprintf(name, sizeof(name), "n%d-k8s-pod%d-eth0", node, i);
        cluster_delete(w, TBY_KIND_WORKLOADENDPOINT, "default", name);
    }
    if (tby_ipam_release_handle(w->cni[node], handle, NULL, &err) < 0)
        fail_msg("%s: %s", handle, tby_error_str(&err));
}

/* On k8s: the Kubernetes Node, with the address calico-node would have annotated. */
static void node_add(struct world *w, int node)
{
    char yaml[256];

    if (w->api) {
        snprintf(yaml, sizeof(yaml), "{\"apiVersion\": \"v1\", \"kind\": \"Node\", "
                 "\"metadata\": {\"name\": \"n%d\", \"annotations\": "
                 "{\"projectcalico.org/IPv4Address\": \"10.0.0.%d/24\"}}}", node, node);
        kapi_create(w->api, &tby_kube_nodes, yaml);
        return;
    }
    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: Node\n"
             "metadata: {name: n%d}\nspec: {bgp: {ipv4Address: 10.0.0.%d/24}}\n", node, node);
    cluster_apply(w, yaml);
}

static void policy(struct world *w, const char *name, int port)
{
    char yaml[512];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
             "metadata: {name: %s}\nspec:\n  selector: app == 'a1'\n  ingress:\n"
             "  - {action: Allow, protocol: TCP, destination: {ports: [%d]}}\n", name, port);
    cluster_apply(w, yaml);
}

/* ---- what the node says ------------------------------------------------------------------ */

static bool bird_has(struct world *w, const char *text)
{
    _cleanup_free_ char *conf = NULL;

    return tby_read_file(w->conf, 0, &conf, NULL) == 0 && strstr(conf, text);
}

static bool metric_is(struct world *w, const char *line)
{
    struct tby_buf out = { 0 };
    bool found;

    assert_int_equal(node_metrics_write(&w->f.n, &out), 0);
    found = strstr(out.data, line) != NULL;
    tby_buf_clear(&out);
    return found;
}

/* What the node says, then the failure: where to look when it did not get there. */
static void not_reached(struct world *w, const char *what)
{
    struct tby_buf out = { 0 };

    if (node_metrics_write(&w->f.n, &out) == 0)
        print_message("%s", out.data);
    tby_buf_clear(&out);
    fail_msg("not reached: %s", what);
}

/* Turns the node's loop until `done` holds (failing after DEADLINE_MS). */
#define TURN_UNTIL(w, done)                                                         \
    do {                                                                            \
        int64_t until_ = node_now_ms() + DEADLINE_MS;                               \
        while (!(done)) {                                                           \
            if (node_now_ms() > until_)                                             \
                not_reached((w), #done);                                            \
            node_turn(&(w)->f.n, 20);                                               \
        }                                                                           \
    } while (0)

static void turn_for(struct world *w, int ms)
{
    int64_t until = node_now_ms() + ms;

    while (node_now_ms() < until)
        node_turn(&w->f.n, 20);
}

/* ---- the run -------------------------------------------------------------------------- */

/* The node n1 (on k8s: a Kubernetes Node for it to register as, and IPAM's host-local
 * lock files in the scratch folder), the cluster's pool, node n2 with a block it no longer
 * uses. */
static void start(struct world *w, struct kapi *api)
{
    const char *parts[] = { "register", "bgp", "housekeeping", NULL };
    struct tby_error err = { 0 };
    char lock[192];

    w->api = api;
    fake_start_concurrent(&w->bird, FAKE_NORMAL);
    snprintf(w->conf, sizeof(w->conf), "%s/bird.conf", w->bird.dir);
    /* periodic work every second, so that its turns fall inside the run */
    fixture_init_on(&w->f, api ? api->uri : NULL,
                    (const char *[]){ "--ip", "10.0.0.1/24", "--bird-socket", w->bird.path,
                                      "--bird-config", w->conf, "--autodetect-interval", "1",
                                      "--ipam-gc-interval", "1", NULL });
    if (api) {
        kapi_create(api, &tby_kube_nodes, "{\"apiVersion\": \"v1\", \"kind\": \"Node\", "
                                          "\"metadata\": {\"name\": \"n1\"}}");
        snprintf(lock, sizeof(lock), "%s/ipam-node.lock", w->f.store.dir);
        setenv("TABBY_IPAM_LOCK_FILE", lock, 1);
    }
    fixture_start(&w->f, parts);
    if (tby_store_open(api ? api->admin_uri : w->f.store.uri, &w->cluster, &err) < 0)
        fail_msg("%s", tby_error_str(&err));
    for (int node = 1; node <= 3; node++) {
        char name[8];

        snprintf(name, sizeof(name), "n%d", node);
        assert_int_equal(tby_ipam_new(w->cluster, name, &w->cni[node], &err), 0);
        snprintf(lock, sizeof(lock), "%s/ipam-cni-%s.lock", w->f.store.dir, name);
        assert_int_equal(tby_ipam_set_lock_file(w->cni[node], lock), 0);
    }
    cluster_apply(w, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\n"
                     "spec: {cidr: 10.244.0.0/16, blockSize: 26}\n");
    node_add(w, 2);
    /* n2 holds a block it no longer uses */
    pod_add(w, 2, 0, NULL);
    assert_int_equal(tby_ipam_release_handle(w->cni[2], "k8s-pod-network.n2-0", NULL, &err), 0);
}

static void stop(struct world *w)
{
    for (int node = 1; node <= 3; node++)
        tby_ipam_free(w->cni[node]);
    tby_store_close(w->cluster);
    fixture_stop(&w->f);
    fake_remove(&w->bird);
    unsetenv("TABBY_IPAM_LOCK_FILE");
}

/* The run, the same on every datastore: the node starts, the cluster churns around it.
 * What the node asked of its datastore meanwhile comes back; `mark` (on k8s) is where the
 * server's request log stood when the churn began. */
static struct tby_store_stats churn(struct world *w, long *mark)
{
    struct tby_store_stats at_start, delta, now;
    uint64_t lists;
    char why[512], line[128];

    TURN_UNTIL(w, node_ready(&w->f.n, why, sizeof(why)) && bird_has(w, "10.0.0.2") &&
                      metric_is(w, "\ntabby_ipam_blocks 0\n"));
    turn_for(w, 200);
    at_start = tby_store_stats(w->f.n.store);
    lists = tby_syncer_stats(w->f.n.syncer)->reads;
    *mark = w->api ? kapi_seq(w->api) : 0;

    /* pods come (one block for n1), policies change, a node joins with pods of its own */
    for (int i = 1; i <= 10; i++)
        pod_add(w, 1, i, NULL);
    policy(w, "web", 80);
    policy(w, "db", 5432);
    TURN_UNTIL(w, metric_is(w, "\ntabby_ipam_addresses_in_use 10\n") &&
                      metric_is(w, "\ntabby_bgp_blocks 1\n"));
    policy(w, "web", 8080);
    node_add(w, 3);
    pod_add(w, 3, 1, NULL);
    pod_add(w, 3, 2, NULL);
    TURN_UNTIL(w, bird_has(w, "10.0.0.3"));
    /* pods go; n2 goes and its empty block with it */
    for (int i = 1; i <= 5; i++)
        pod_remove(w, 1, i);
    cluster_delete(w, TBY_KIND_GLOBALNETWORKPOLICY, NULL, "db");
    cluster_delete(w, TBY_KIND_NODE, NULL, "n2");
    TURN_UNTIL(w, metric_is(w, "\ntabby_ipam_blocks_released_total 1\n") &&
                      metric_is(w, "\ntabby_ipam_addresses_in_use 5\n") &&
                      !bird_has(w, "10.0.0.2"));
    /* a pool comes and goes, leaving n3 an empty block in it: the collection gives it up */
    cluster_apply(w, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: q}\n"
                     "spec: {cidr: 10.245.0.0/16, blockSize: 26}\n");
    pod_add(w, 3, 3, "q");
    pod_remove(w, 3, 3);
    cluster_delete(w, TBY_KIND_IPPOOL, NULL, "q");
    TURN_UNTIL(w, metric_is(w, "\ntabby_ipam_blocks_released_total 2\n"));
    /* and time for the periodic passes (registration, collection) over a quiet cluster */
    turn_for(w, 2500);

    now = tby_store_stats(w->f.n.store);
    delta = (struct tby_store_stats){ .gets = now.gets - at_start.gets,
                                      .ranges = now.ranges - at_start.ranges,
                                      .watches = now.watches - at_start.watches,
                                      .commits = now.commits - at_start.commits };
    print_message("at start: gets=%llu ranges=%llu watches=%llu commits=%llu\n",
                  (unsigned long long)at_start.gets, (unsigned long long)at_start.ranges,
                  (unsigned long long)at_start.watches, (unsigned long long)at_start.commits);
    print_message("over the churn: gets=%llu ranges=%llu watches=%llu commits=%llu\n",
                  (unsigned long long)delta.gets, (unsigned long long)delta.ranges,
                  (unsigned long long)delta.watches, (unsigned long long)delta.commits);
    assert_int_equal(tby_syncer_stats(w->f.n.syncer)->reads, lists); /* no relist */
    snprintf(line, sizeof(line), "\ntabby_datastore_reads_total{op=\"range\"} %llu\n",
             (unsigned long long)now.ranges);
    assert_true(metric_is(w, line));
    assert_int_equal(delta.ranges, 0);
    assert_int_equal(delta.watches, 0);
    return delta;
}

static void test_after_start_the_node_reads_only_to_write(void **state)
{
    struct world w = { 0 };
    struct tby_store_stats delta;
    long mark;

    (void)state;
    start(&w, NULL);
    delta = churn(&w, &mark);
    /* the two empty blocks given up: one read of each, then its write */
    assert_int_equal(delta.commits, 2);
    assert_int_equal(delta.gets, delta.commits);
    stop(&w);
}

/* On k8s: one LIST and one WATCH per type at start, and then, over the same churn, the
 * API server hears from the node only to give up the two empty blocks — Calico's three
 * single-object steps each (the affinity marked pendingDeletion, the block deleted, the
 * affinity deleted), each after a GET of its object — and no LIST, no new WATCH. */
static void test_on_k8s_the_node_asks_the_api_only_to_write(void **state)
{
    struct world w = { 0 };
    struct tby_store_stats delta;
    struct kapi api;
    char what[4096];
    int64_t until;
    long mark;
    int total = 0, lists, gets;

    (void)state;
    if (!kapi_start(&api, "node-reads", (const char *[]){ "--bookmark-interval", "1", NULL })) {
        printf("SKIP test_on_k8s_the_node_asks_the_api_only_to_write: %s\n", api.why);
        skip();
    }
    start(&w, &api);
    delta = churn(&w, &mark);
    assert_int_equal(delta.commits, 6);
    assert_int_equal(delta.gets, delta.commits);
    /* the server logs a request once it has answered it */
    for (until = node_now_ms() + DEADLINE_MS; node_now_ms() < until;) {
        total = kapi_count(&api, mark, KAPI_USER, NULL, NULL);
        if (total >= (int)(delta.gets + delta.commits))
            break;
        usleep(20 * 1000);
    }
    lists = kapi_count(&api, mark, KAPI_USER, "list", NULL);
    gets = kapi_count(&api, mark, KAPI_USER, "get", NULL);
    kapi_describe(&api, mark, KAPI_USER, what, sizeof(what));
    print_message("the API server, over the churn: %d requests of the node's (%d LIST, %d GET, "
                  "%d writes):\n%s", total, lists, gets, total - lists - gets, what);
    assert_int_equal(lists, 0);
    assert_int_equal(gets, (int)delta.gets);
    assert_int_equal(total, (int)(delta.gets + delta.commits));
    stop(&w);
    kapi_stop(&api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_after_start_the_node_reads_only_to_write),
        cmocka_unit_test(test_on_k8s_the_node_asks_the_api_only_to_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
