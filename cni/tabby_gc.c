/* tabby_gc.c — the tabby plugin's GC and STATUS (CNI 1.1.0).
 *
 * GC removes what ADD made on this node for attachments the runtime no longer holds: the
 * WorkloadEndpoints of this node and network (ADD's tabby/network annotation; endpoints
 * written by anything else have none and are left alone) whose containerID and endpoint
 * (CNI_IFNAME) are not in cni.dev/valid-attachments, each after its host veth if that
 * is still there; then it runs the IPAM plugin's GC, which releases their addresses. A
 * failure does not stop the rest: it is reported at the end. An endpoint whose veth
 * could not be removed is kept, so that the next GC finds the veth again.
 *
 * STATUS: the datastore answers, then the IPAM plugin's STATUS decides (the spec: a
 * plugin that delegates ADD's work asks its delegate).
 */
#include <errno.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "cni_link.h"
#include "tabby/endpoint_names.h"
#include "tabby_plugin.h"

/* GC's tally, and its first failure. */
struct gc {
    size_t stale;
    size_t veths;
    size_t failed;
    struct tby_error first;
};

static bool is_stale(const struct plugin *p, const struct tby_resource *res)
{
    const struct tby_wep *wep = res->spec.wep;
    const char *network = json_string_value(json_object_get(res->meta.annotations,
                                                            CNI_ANNOTATION_NETWORK));

    return network && strcmp(network, p->call.name) == 0 && wep->node &&
           strcmp(wep->node, p->conf.node) == 0 && wep->container_id && wep->endpoint &&
           !cni_attachment_valid(&p->call, wep->container_id, wep->endpoint);
}

/* Only a name ADD gives (the veth prefix) is deleted: never another interface of the node
 * that a hand-written endpoint might name. */
static int remove_stale(struct plugin *p, const struct tby_resource *res, struct gc *gc,
                        struct tby_error *err)
{
    const struct tby_wep *wep = res->spec.wep;
    const char *dev = wep->interface_name;
    bool ours = dev && strncmp(dev, TBY_VETH_PREFIX, strlen(TBY_VETH_PREFIX)) == 0;
    bool deleted = false;
    int r = ours ? cni_veth_delete(p->sk, dev, &deleted, err) : 0;

    if (r == 0) {
        r = tby_catalog_delete_one(p->store, res->info, res->meta.namespace, res->meta.name,
                                   err);
        r = r == -ENOENT ? 0 : r;
    }
    if (r < 0)
        return tby_error_prefix(err, "WorkloadEndpoint %s/%s", res->meta.namespace,
                                res->meta.name);
    gc->veths += deleted;
    tby_log(TBY_LOG_INFO, "cni", "stale endpoint removed endpoint=%s/%s container=%s "
            "ifname=%s dev=%s veth_was_there=%s", res->meta.namespace, res->meta.name,
            wep->container_id, wep->endpoint, dev ? dev : "", deleted ? "yes" : "no");
    return 0;
}

static void gc_failed(struct gc *gc, const struct tby_error *err)
{
    if (gc->failed++ == 0)
        gc->first = *err;
}

static void gc_endpoints(struct plugin *p, struct gc *gc)
{
    struct tby_resource_list weps;
    struct tby_error err = { 0 };

    if (tby_catalog_list(p->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT), NULL, &weps,
                         &err) < 0) {
        tby_error_prefix(&err, "listing WorkloadEndpoints");
        gc_failed(gc, &err);
        return;
    }
    for (size_t i = 0; i < weps.n; i++) {
        if (!is_stale(p, weps.items[i]))
            continue;
        gc->stale++;
        if (remove_stale(p, weps.items[i], gc, &err) < 0)
            gc_failed(gc, &err);
    }
    tby_resource_list_clear(&weps);
}

int cmd_gc(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct cni_failure ipam = { 0 };
    _cleanup_json_ json_t *answer = NULL;
    struct gc gc = { 0 };
    int r;

    gc_endpoints(p, &gc);
    /* The spec: GC goes on to the delegated plugins whatever happened here. */
    r = plugin_ipam(p, "GC", &answer, &ipam);
    tby_log(TBY_LOG_INFO, "cni", "gc node=%s network=%s valid=%zu stale_endpoints=%zu "
            "veths_removed=%zu failed=%zu ipam=%s", p->conf.node, p->call.name,
            p->call.n_valid, gc.stale, gc.veths, gc.failed, r < 0 ? "failed" : "ok");
    if (gc.failed) {
        struct cni_failure own = { 0 };

        tby_error_prefix(&gc.first, "GC: %zu of %zu stale endpoints could not be removed",
                         gc.failed, gc.stale);
        cni_fail_from(&own, &gc.first);
        return cni_fail(f, own.code, "%s%s%s", tby_error_str(&own.err), r < 0 ? "; and " : "",
                        r < 0 ? tby_error_str(&ipam.err) : "");
    }
    if (r < 0) {
        *f = ipam;
        return -1;
    }
    return 0;
}

int cmd_status(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    _cleanup_json_ json_t *answer = NULL;
    struct tby_error err = { 0 };
    int64_t rev;

    /* Opening a store contacts nothing (etcd): a read proves it answers. */
    if (tby_store_revision(p->store, &rev, &err) < 0)
        return cni_fail_unreachable(f, &p->call, p->conf.store_uri, &err);
    return plugin_ipam(p, "STATUS", &answer, f);
}
