/* ipam_fixture.h — what the IPAM tests share: a scratch store (store_fixture.h) wiped
 * for them, pools, Node records and endpoints applied from YAML, and a one-address
 * allocation helper. */
#ifndef TABBY_TEST_IPAM_FIXTURE_H
#define TABBY_TEST_IPAM_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/catalog.h"
#include "tabby/ipam.h"
#include "tabby/store.h"
#include "store_fixture.h"

/* Deletes every tabby key: an external store starts each test empty. */
static inline void fx_wipe(struct tby_store *store)
{
    struct tby_kv_list kvs;
    struct tby_error err = { 0 };

    assert_int_equal(tby_store_range(store, "/tabby/", &kvs, &err), 0);
    for (size_t i = 0; i < kvs.n; i++)
        assert_int_equal(tby_store_delete(store, kvs.items[i].key, NULL, &err), 0);
    tby_kv_list_clear(&kvs);
}

/* A scratch sqlite store, or the one TABBY_TEST_STORE names (etcd:…), wiped. */
static inline struct store_fx *fx_open(void)
{
    struct store_fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    store_fx_open(f, "ipam", true);
    if (!store_fx_is_sqlite(f))
        fx_wipe(f->store);
    return f;
}

static inline void fx_close(struct store_fx *f)
{
    store_fx_close(f);
    free(f);
}

static inline void fx_pool(struct store_fx *f, const char *name, const char *cidr, int block_size,
                           const char *extra)
{
    char yaml[1024];

    snprintf(yaml, sizeof(yaml),
             "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: %s\n"
             "spec:\n  cidr: %s\n  blockSize: %d\n%s", name, cidr, block_size,
             extra ? extra : "");
    store_fx_apply(f->store, yaml);
}

static inline void fx_delete(struct store_fx *f, enum tby_kind kind, const char *name)
{
    struct tby_error err = { 0 };

    if (tby_catalog_delete_one(f->store, tby_kind_info(kind), NULL, name, &err) < 0)
        fail_msg("delete %s: %s", name, tby_error_str(&err));
}

/* A Node resource with labels ("{zone: b}", YAML flow; NULL: none). */
static inline void fx_node(struct store_fx *f, const char *name, const char *labels)
{
    char yaml[1024];

    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n"
             "  name: %s\n  labels: %s\nspec: {}\n", name, labels ? labels : "{}");
    store_fx_apply(f->store, yaml);
}

static inline void fx_delete_node(struct store_fx *f, const char *name)
{
    fx_delete(f, TBY_KIND_NODE, name);
}

static inline void fx_delete_wep(struct store_fx *f, const char *ns, const char *name)
{
    struct tby_error err = { 0 };

    if (tby_catalog_delete_one(f->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT), ns, name,
                               &err) < 0)
        fail_msg("delete %s/%s: %s", ns, name, tby_error_str(&err));
}

/* A pod's WorkloadEndpoint holding ip, as the tabby CNI plugin writes one. */
static inline void fx_wep_yaml(char *buf, size_t size, const char *node, const char *ns,
                               const char *pod, const char *ip)
{
    snprintf(buf, size, "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n"
             "  name: %s-k8s-%s-eth0\n  namespace: %s\nspec:\n  node: %s\n  pod: %s\n"
             "  orchestrator: k8s\n  endpoint: eth0\n  ipNetworks: [%s]\n---\n", node, pod,
             ns, node, pod, ip);
}

static inline void fx_wep(struct store_fx *f, const char *node, const char *ns, const char *pod,
                          const char *ip)
{
    char yaml[1024];

    fx_wep_yaml(yaml, sizeof(yaml), node, ns, pod, ip);
    store_fx_apply(f->store, yaml);
}

static inline struct tby_ipam *fx_ipam(struct store_fx *f, const char *node)
{
    struct tby_ipam *ipam = NULL;
    struct tby_error err = { 0 };

    assert_int_equal(tby_ipam_new(f->store, node, &ipam, &err), 0);
    return ipam;
}

/* One IPv4 address for the handle; returns the error code, *ip and err filled. */
static inline int fx_alloc(struct tby_ipam *ipam, const char *handle, struct tby_ip *ip,
                           struct tby_error *err)
{
    struct tby_ipam_request req = { .handle = handle, .num_v4 = 1 };
    struct tby_ipam_result res;
    int r = tby_ipam_auto_assign(ipam, &req, &res, err);

    if (r == 0) {
        assert_int_equal(res.n, 1);
        if (ip)
            *ip = res.items[0].ip;
    }
    tby_ipam_result_clear(&res);
    return r;
}

static inline const char *fx_ip(const struct tby_ip *ip)
{
    static char buf[4][TBY_IP_STRLEN];
    static int slot;

    slot = (slot + 1) % 4;
    return tby_ip_format(ip, buf[slot]);
}

static inline struct tby_ip fx_parse_ip(const char *text)
{
    struct tby_ip ip;

    assert_int_equal(tby_ip_parse(text, &ip, NULL), 0);
    return ip;
}

/* Problems of the check that must never happen, whatever was killed when. */
static inline size_t fx_structural_problems(const struct tby_ipam_report *rep)
{
    size_t n = 0;

    for (size_t i = 0; i < rep->n; i++) {
        if (rep->items[i].kind != TBY_IPAM_LEAKED_ADDRESS &&
            rep->items[i].kind != TBY_IPAM_BLOCK_WITHOUT_POOL) {
            print_message("structural problem: %s\n", rep->items[i].detail);
            n++;
        }
    }
    return n;
}

#endif
