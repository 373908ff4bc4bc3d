/* tabby_ipam.c — the tabby-ipam CNI IPAM plugin (calico-ipam's counterpart): ADD
 * allocates a pod's addresses from tabby's IP pools, DEL releases them, CHECK verifies
 * them, GC releases this node's addresses of containers the runtime no longer holds,
 * STATUS says whether an ADD could get addresses now, VERSION lists the spec versions.
 *
 * Configuration (the "ipam" object of the network configuration, as calico-ipam's):
 *   "type": "tabby-ipam", "assign_ipv4": "true", "assign_ipv6": "false",
 *   "ipv4_pools": ["default-pool"], "ipv6_pools": [...]   (names or CIDRs)
 *   "datastore": "sqlite:/var/lib/tabby/tabby.db", "nodename": "node1",
 *   "ipam_lock_file": "/var/run/tabby/ipam.lock"
 * ("datastore", "nodename" and "ipam_lock_file" are also read from the top level, then
 * Calico's keys (cni_datastore.h), then the node's defaults: $TABBY_STORE or
 * /etc/tabby/tabbyctl.cfg, the host name, and $TABBY_IPAM_LOCK_FILE or
 * /var/run/tabby/ipam.lock.)
 *
 * tabby-ipam does not ask the Kubernetes API for a pod's annotations: the tabby plugin in
 * front of it does (in Kubernetes mode, with the namespace's pool annotations as defaults)
 * and passes them in the network configuration as args.cni.annotations, a map, as a
 * runtime may too. Pools come from the pod's cni.projectcalico.org/ipv4pools
 * and ipv6pools annotations, else the Namespace resource's (K8S_POD_NAMESPACE), else
 * ipv4_pools / ipv6_pools, else every pool. Given addresses come from the pod's
 * cni.projectcalico.org/ipAddrs, else CNI_ARGS IP=, else runtimeConfig.ips, else
 * args.cni.ips. The handle is "<network name>.<CNI_CONTAINERID>"
 * (k8s-pod-network.<id> for Kubernetes' default network); DEL also releases Calico's old
 * "<namespace>.<pod>" handle.
 *
 * Addresses are returned as /32 and /128 without a gateway: in Calico's routed model a
 * pod's address is a host route and its next hop is supplied by the main plugin, so a
 * block-wide prefix or a gateway inside it would be wrong (another node may hold the
 * rest of the block). Routes: a default route per family.
 *
 * GC (cni.dev/valid-attachments) looks only at this node's allocations (the node each
 * was made for, wherever its block is) whose handle is "<network name>.<container ID>":
 * those of container IDs the list does not hold are released, each address only while
 * that handle still holds it. Other handles (tunnel addresses, other networks, other
 * nodes) are never touched. STATUS tries an allocation as ADD would for a pod without
 * annotations, writing nothing: 50 when the datastore is unreachable, 51 when no pool
 * this node may use has room.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/log.h"
#include "cni_common.h"
#include "cni_datastore.h"

#define ANN_V4POOLS "cni.projectcalico.org/ipv4pools"
#define ANN_V6POOLS "cni.projectcalico.org/ipv6pools"
#define ANN_IPADDRS "cni.projectcalico.org/ipAddrs"
#define MAX_GIVEN 16

struct plugin {
    struct cni_call call;
    struct tby_store *store;
    struct tby_ipam *ipam;
    char *node;
    char *handle;
    json_t *ns_annotations;         /* the pod's Namespace's, or NULL */
};

/* What ADD asks IPAM for. */
struct wish {
    bool v4;
    bool v6;
    struct tby_strv v4_pools;
    struct tby_strv v6_pools;
    struct tby_ip given[MAX_GIVEN];
    size_t n_given;
};

static void plugin_clear(struct plugin *p)
{
    tby_ipam_free(p->ipam);
    tby_store_close(p->store);
    free(p->node);
    free(p->handle);
    json_decref(p->ns_annotations);
    cni_call_clear(&p->call);
}

static void wish_clear(struct wish *w)
{
    tby_strv_clear(&w->v4_pools);
    tby_strv_clear(&w->v6_pools);
}

/* ---- opening IPAM ---------------------------------------------------------------------- */

static int open_ipam(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    _cleanup_free_ char *uri = NULL;
    struct tby_error err = { 0 };
    const char *lock = NULL;

    if (!cni_ipam_conf(&p->call))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam: missing from the network "
                        "configuration (or not an object)");
    if (cni_store_uri(&p->call, &uri, f) < 0 || cni_node_name(&p->call, &p->node, f) < 0)
        return -1;
    /* A store that cannot be opened now (a file being replaced, etcd down) is worth
     * another try later, so the runtime is told to retry rather than to give up. */
    if (cni_store_open(&p->call, uri, &p->store, f) < 0)
        return -1;
    if (tby_ipam_new(p->store, p->node, &p->ipam, &err) < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "nodename: %s", tby_error_str(&err));
    /* Calico's key: where the node's processes take turns on stores without multi-key
     * transactions. */
    if (cni_conf_string(cni_ipam_conf(&p->call), "ipam_lock_file", &lock, f) < 0 ||
        (!lock && cni_conf_string(p->call.conf, "ipam_lock_file", &lock, f) < 0))
        return -1;
    if (lock && tby_ipam_set_lock_file(p->ipam, lock) < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    /* GC and STATUS are about no container. */
    if (p->call.container_id &&
        asprintf(&p->handle, "%s.%s", p->call.name, p->call.container_id) < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    return 0;
}

/* ---- annotations ------------------------------------------------------------------------ */

static int pod_annotations(const struct plugin *p, const json_t **out, struct cni_failure *f)
{
    const json_t *ann = cni_runtime_arg(&p->call, "annotations");

    *out = json_is_object(ann) ? ann : NULL;
    if (ann && !json_is_null(ann) && !*out)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "args.cni.annotations: must be a map of "
                        "strings");
    return 0;
}

static int load_ns_annotations(struct plugin *p, struct cni_failure *f)
{
    _cleanup_(tby_resource_freep) struct tby_resource *ns = NULL;
    struct tby_error err = { 0 };
    int r;

    if (!p->call.args.pod_namespace)
        return 0;
    r = tby_catalog_get(p->store, tby_kind_info(TBY_KIND_NAMESPACE), NULL,
                        p->call.args.pod_namespace, &ns, &err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return cni_fail_from(f, &err);
    p->ns_annotations = json_incref(ns->meta.annotations);
    return 0;
}

/* An annotation whose value is a JSON list of strings, as Calico's are. */
static int annotation_list(const json_t *ann, const char *key, const char *whose,
                           struct tby_strv *out, bool *found, struct cni_failure *f)
{
    const char *text = json_string_value(json_object_get(ann, key));
    _cleanup_json_ json_t *list = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *item;
    size_t i;

    *found = text != NULL;
    if (!text)
        return 0;
    if (!json_is_array(list))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "annotation %s on the %s: must be a JSON "
                        "list of strings, got %s", key, whose, text);
    json_array_foreach(list, i, item) {
        if (!json_is_string(item))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "annotation %s on the %s: item %zu is "
                            "not a string", key, whose, i + 1);
        if (tby_strv_push(out, json_string_value(item)) < 0)
            return cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    return 0;
}

static int conf_list(const json_t *ipam, const char *field, struct tby_strv *out,
                     struct cni_failure *f)
{
    const json_t *list = json_object_get(ipam, field), *item;
    size_t i;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.%s: must be a list of pool names or "
                        "CIDRs", field);
    json_array_foreach(list, i, item) {
        if (!json_is_string(item))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.%s[%zu]: must be a string",
                            field, i);
        if (tby_strv_push(out, json_string_value(item)) < 0)
            return cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    return 0;
}

/* One family's pools: the pod's annotation, the namespace's, the configuration's. */
static int pools_for(struct plugin *p, const json_t *pod, const char *ann, const char *field,
                     struct tby_strv *out, struct cni_failure *f)
{
    bool found;
    int r = annotation_list(pod, ann, "pod", out, &found, f);

    if (r < 0 || found)
        return r;
    r = annotation_list(p->ns_annotations, ann, "namespace", out, &found, f);
    if (r < 0 || found)
        return r;
    return conf_list(cni_ipam_conf(&p->call), field, out, f);
}

/* ---- given addresses --------------------------------------------------------------------- */

static int wish_address(struct wish *w, const char *text, const char *where,
                        struct cni_failure *f)
{
    struct tby_cidr cidr;

    if (w->n_given >= MAX_GIVEN)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: more than %d addresses", where,
                        MAX_GIVEN);
    /* runtimeConfig.ips carries CIDRs ("10.0.0.5/24"); the others plain addresses. */
    if (tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &cidr, NULL) < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: \"%s\" is not an IP address", where,
                        text);
    w->given[w->n_given++] = cidr.ip;
    return 0;
}

static int given_from_json(struct wish *w, const json_t *list, const char *where,
                           struct cni_failure *f)
{
    const json_t *item;
    size_t i;

    if (!json_is_array(list))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: must be a list of addresses", where);
    json_array_foreach(list, i, item) {
        if (!json_is_string(item))
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s: item %zu is not a string", where,
                            i + 1);
        if (wish_address(w, json_string_value(item), where, f) < 0)
            return -1;
    }
    return 0;
}

/* The first source that names addresses wins. */
static int given_addresses(struct plugin *p, const json_t *pod, struct wish *w,
                           struct cni_failure *f)
{
    struct tby_strv ann = { 0 };
    const json_t *runtime_ips = json_object_get(json_object_get(p->call.conf, "runtimeConfig"),
                                                "ips");
    const json_t *arg_ips = cni_runtime_arg(&p->call, "ips");
    bool found;
    int r = annotation_list(pod, ANN_IPADDRS, "pod", &ann, &found, f);

    for (size_t i = 0; r == 0 && i < ann.n; i++)
        r = wish_address(w, ann.items[i], "annotation " ANN_IPADDRS, f);
    tby_strv_clear(&ann);
    if (r < 0 || found)
        return r;
    if (p->call.args.ip)
        return wish_address(w, p->call.args.ip, "CNI_ARGS IP", f);
    if (runtime_ips && !json_is_null(runtime_ips))
        return given_from_json(w, runtime_ips, "runtimeConfig.ips", f);
    if (arg_ips && !json_is_null(arg_ips))
        return given_from_json(w, arg_ips, "args.cni.ips", f);
    return 0;
}

/* assign_ipv4 and assign_ipv6. */
static int read_families(const struct plugin *p, struct wish *w, struct cni_failure *f)
{
    const json_t *ipam = cni_ipam_conf(&p->call);

    w->v4 = true;
    w->v6 = false;
    if (cni_conf_bool(ipam, "assign_ipv4", &w->v4, f) < 0 ||
        cni_conf_bool(ipam, "assign_ipv6", &w->v6, f) < 0)
        return -1;
    return 0;
}

/* The pools of the families asked for (pod: the pod's annotations, or NULL). */
static int read_pools(struct plugin *p, const json_t *pod, struct wish *w, struct cni_failure *f)
{
    if (!w->v4 && !w->v6)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam: assign_ipv4 and assign_ipv6 are both "
                        "false: nothing to assign");
    if (pools_for(p, pod, ANN_V4POOLS, "ipv4_pools", &w->v4_pools, f) < 0 ||
        pools_for(p, pod, ANN_V6POOLS, "ipv6_pools", &w->v6_pools, f) < 0)
        return -1;
    return 0;
}

static int read_wish(struct plugin *p, struct wish *w, struct cni_failure *f)
{
    const json_t *pod;

    if (read_families(p, w, f) < 0 || pod_annotations(p, &pod, f) < 0 ||
        given_addresses(p, pod, w, f) < 0)
        return -1;
    if (w->n_given)
        return 0;
    if (load_ns_annotations(p, f) < 0)
        return -1;
    return read_pools(p, pod, w, f);
}

/* ---- ADD ------------------------------------------------------------------------------------- */

/* Prints the result; -1 (f filled) when it cannot be built. */
static int answer(const struct plugin *p, const struct tby_ip *ips, size_t n,
                  struct cni_failure *f)
{
    _cleanup_json_ json_t *result = cni_result_new(p->call.version);
    bool v4 = false, v6 = false;
    int r = result ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < n; i++) {
        struct tby_cidr host = { .ip = ips[i], .prefix_len = (uint8_t)tby_ip_bits(&ips[i]) };

        r = cni_result_add_ip(result, p->call.version, &host, NULL);
        v4 |= ips[i].family == 4;
        v6 |= ips[i].family == 6;
    }
    if (r == 0 && v4)
        r = cni_result_add_route(result, "0.0.0.0/0", NULL);
    if (r == 0 && v6)
        r = cni_result_add_route(result, "::/0", NULL);
    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    cni_print_result(stdout, result);
    return 0;
}

static int add_given(struct plugin *p, const struct wish *w, struct cni_failure *f)
{
    struct tby_ipam_attrs attrs = { .namespace = p->call.args.pod_namespace,
                                    .pod = p->call.args.pod_name };
    struct tby_error err = { 0 };

    if (tby_ipam_assign_ips(p->ipam, w->given, w->n_given, p->handle, &attrs,
                            TBY_POOL_USE_WORKLOAD, &err) < 0)
        return cni_fail_from(f, &err);
    tby_log(TBY_LOG_INFO, "tabby-ipam", "assigned given addresses handle=%s addresses=%zu",
            p->handle, w->n_given);
    return answer(p, w->given, w->n_given, f);
}

static int add_auto(struct plugin *p, const struct wish *w, struct cni_failure *f)
{
    struct tby_ipam_request req = {
        .handle = p->handle,
        .attrs = { .namespace = p->call.args.pod_namespace, .pod = p->call.args.pod_name },
        .num_v4 = w->v4,
        .num_v6 = w->v6,
        .v4_pools = &w->v4_pools,
        .v6_pools = &w->v6_pools,
        .use = TBY_POOL_USE_WORKLOAD,
        /* A repeated ADD for one container gets its addresses back, as with Calico. */
        .reuse_handle = true,
    };
    struct tby_ipam_result res;
    struct tby_error err = { 0 };
    struct tby_ip ips[4];
    size_t n = 0;

    if (tby_ipam_auto_assign(p->ipam, &req, &res, &err) < 0)
        return cni_fail_from(f, &err);
    for (size_t i = 0; i < res.n && n < TBY_ARRAY_SIZE(ips); i++)
        ips[n++] = res.items[i].ip;
    tby_log(TBY_LOG_INFO, "tabby-ipam", "assigned handle=%s addresses=%zu reused=%s", p->handle,
            res.n, res.n && res.items[0].existing ? "yes" : "no");
    tby_ipam_result_clear(&res);
    return answer(p, ips, n, f);
}

static int cmd_add(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct wish w = { 0 };
    int r = read_wish(p, &w, f);

    if (r == 0)
        r = w.n_given ? add_given(p, &w, f) : add_auto(p, &w, f);
    wish_clear(&w);
    return r;
}

/* ---- DEL, CHECK -------------------------------------------------------------------------------- */

/* Calico before 3.0 named a pod's handle "<namespace>.<pod>"; its IPAM plugin still
 * releases that one too, so a pod from then leaves nothing behind. */
static int release_legacy_handle(struct plugin *p, struct cni_failure *f)
{
    _cleanup_free_ char *handle = NULL;
    struct tby_error err = { 0 };
    size_t released;

    if (!p->call.args.pod_namespace || !p->call.args.pod_name)
        return 0;
    if (asprintf(&handle, "%s.%s", p->call.args.pod_namespace, p->call.args.pod_name) < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (tby_ipam_release_handle(p->ipam, handle, &released, &err) < 0)
        return cni_fail_from(f, &err);
    if (released)
        tby_log(TBY_LOG_INFO, "tabby-ipam", "released a legacy handle handle=%s addresses=%zu",
                handle, released);
    return 0;
}

/* Releasing a handle that holds nothing succeeds: DEL may come twice, or after a failed
 * ADD. */
static int cmd_del(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct tby_error err = { 0 };
    size_t released;

    if (!cni_ipam_conf(&p->call))
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam: missing from the network "
                        "configuration (or not an object)");
    if (tby_ipam_release_handle(p->ipam, p->handle, &released, &err) < 0)
        return cni_fail_from(f, &err);
    tby_log(TBY_LOG_INFO, "tabby-ipam", "released handle=%s addresses=%zu", p->handle, released);
    return release_legacy_handle(p, f);
}

static bool held(const struct tby_ipam_result *res, const struct tby_ip *ip)
{
    for (size_t i = 0; i < res->n; i++)
        if (tby_ip_equal(&res->items[i].ip, ip))
            return true;
    return false;
}

/* Every address of prevResult must still be the container's. */
static int check_prev(const struct plugin *p, const struct tby_ipam_result *res,
                      struct cni_failure *f)
{
    const json_t *ips = json_object_get(json_object_get(p->call.conf, "prevResult"), "ips");
    const json_t *item;
    size_t i;

    json_array_foreach(ips, i, item) {
        const char *text = json_string_value(json_object_get(item, "address"));
        struct tby_cidr cidr;

        if (!text || tby_cidr_parse(text, TBY_CIDR_ALLOW_IP, &cidr, NULL) < 0)
            return cni_fail(f, CNI_ERR_INVALID_CONFIG, "prevResult.ips[%zu].address: not an "
                            "address", i);
        if (!held(res, &cidr.ip))
            return cni_fail(f, CNI_ERR_CHECK, "%s is not allocated to container %s (handle "
                            "%s)", text, p->call.container_id, p->handle);
    }
    return 0;
}

static int cmd_check(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct tby_ipam_result res;
    struct tby_error err = { 0 };
    int r;

    if (tby_ipam_ips_by_handle(p->ipam, p->handle, &res, &err) < 0)
        return cni_fail_from(f, &err);
    r = res.n ? check_prev(p, &res, f)
              : cni_fail(f, CNI_ERR_CHECK, "container %s holds no address (handle %s)",
                         p->call.container_id, p->handle);
    tby_ipam_result_clear(&res);
    return r;
}

/* ---- GC ------------------------------------------------------------------------------------- */

/* One stale handle's addresses on this node, [items, items + n). */
static int release_stale(struct plugin *p, const struct tby_ipam_alloc *items, size_t n,
                         size_t *released, struct tby_error *err)
{
    _cleanup_free_ struct tby_ip *ips = calloc(n, sizeof(*ips));
    size_t count = 0;
    int r;

    if (!ips)
        return tby_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        ips[i] = items[i].ip;
    r = tby_ipam_release_ips_of(p->ipam, items[0].handle, ips, n, &count, err);
    if (r < 0)
        return tby_error_prefix(err, "releasing handle %s", items[0].handle);
    tby_log(TBY_LOG_INFO, "tabby-ipam", "released a stale handle handle=%s addresses=%zu",
            items[0].handle, count);
    *released += count;
    return 0;
}

/* The spec: remove as much as possible and report what could not be removed. */
static int cmd_gc(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    _cleanup_free_ char *prefix = NULL;
    struct tby_ipam_alloc_list allocs;
    struct tby_error err = { 0 }, first = { 0 };
    size_t stale = 0, failed = 0, released = 0, next;

    if (asprintf(&prefix, "%s.", p->call.name) < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    if (tby_ipam_node_allocations(p->ipam, p->node, prefix, &allocs, &err) < 0)
        return cni_fail_from(f, &err);
    /* Sorted by handle: each handle's addresses are one run. */
    for (size_t i = 0; i < allocs.n; i = next) {
        const char *handle = allocs.items[i].handle;

        for (next = i + 1; next < allocs.n && strcmp(allocs.items[next].handle, handle) == 0;)
            next++;
        /* "<network>.<containerID>": a dot after the prefix means another network whose
         * name starts with ours ("a.b" when we are "a"); container IDs hold no dots. */
        if (strchr(handle + strlen(prefix), '.') ||
            cni_attachment_valid(&p->call, handle + strlen(prefix), NULL))
            continue;
        stale++;
        if (release_stale(p, &allocs.items[i], next - i, &released, &err) < 0 && !failed++)
            first = err;
    }
    tby_ipam_alloc_list_clear(&allocs);
    tby_log(TBY_LOG_INFO, "tabby-ipam", "gc node=%s network=%s stale_handles=%zu released=%zu "
            "failed=%zu", p->node, p->call.name, stale, released, failed);
    if (failed) {
        tby_error_prefix(&first, "GC: %zu of %zu stale handles could not be released", failed,
                         stale);
        return cni_fail_from(f, &first);
    }
    return 0;
}

/* ---- STATUS --------------------------------------------------------------------------------- */

/* Ready when an ADD for a pod without annotations could get its addresses now. The
 * allocation is tried and thrown away: nothing is written. */
static int cmd_status(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct wish w = { 0 };
    struct tby_error err = { 0 };
    int r = read_families(p, &w, f);

    if (r == 0)
        r = read_pools(p, NULL, &w, f);
    if (r == 0) {
        struct tby_ipam_request req = {
            .handle = "status", .num_v4 = w.v4, .num_v6 = w.v6, .v4_pools = &w.v4_pools,
            .v6_pools = &w.v6_pools, .use = TBY_POOL_USE_WORKLOAD,
        };

        r = tby_ipam_try_assign(p->ipam, &req, &err);
        if (r == -EAGAIN)
            r = cni_fail_unreachable(f, &p->call, tby_store_uri(p->store), &err);
        else if (r == -ENOENT || r == -ENOSPC || r == -EINVAL)
            r = cni_fail(f, CNI_ERR_LIMITED_CONNECTIVITY, "no address can be assigned on node "
                         "%s: %s", p->node, tby_error_str(&err));
        else if (r < 0)
            r = cni_fail(f, CNI_ERR_NOT_AVAILABLE, "%s", tby_error_str(&err));
    }
    wish_clear(&w);
    return r;
}

/* ---- main -------------------------------------------------------------------------------------- */

int main(void)
{
    static const struct cni_plugin_ops ops = { open_ipam, cmd_add, cmd_del, cmd_check, cmd_gc,
                                               cmd_status };
    struct plugin p = { 0 };
    int status;

    tby_log_set_level(TBY_LOG_WARNING);
    status = cni_plugin_main(&p.call, &ops, &p);
    plugin_clear(&p);
    return status;
}
