/* tabby_add.c — the tabby plugin's ADD: in Kubernetes mode the pod from the API first,
 * then addresses from the IPAM plugin, the veth pair and its routes, the
 * WorkloadEndpoint, then the result. A failure on the way undoes what was
 * done, in reverse: the veth (which takes its routes with it), then the IPAM allocation,
 * so that nothing is left behind; the endpoint record is written last of all. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "cni_delegate.h"
#include "cni_link.h"
#include "cni_mtu.h"
#include "cni_netns.h"
#include "cni_result.h"
#include "tabby_plugin.h"

enum { IFACE_HOST, IFACE_POD };

/* What ADD has done so far, to undo on failure. */
struct add {
    bool ipam;
    bool veth_made;
    int netns_fd;
    int host_ifindex;
    json_t *ipam_answer;            /* res borrows its dns */
    struct cni_result res;          /* what the pod gets, and the answer */
    struct cni_veth veth;
    struct cni_pod pod;
};

/* ---- the pod's result from the IPAM plugin's ------------------------------------------- */

static bool has_route(const struct cni_result *res, const struct tby_cidr *dst)
{
    for (size_t i = 0; i < res->n_routes; i++)
        if (tby_cidr_equal(&res->routes[i].dst, dst))
            return true;
    return false;
}

/* dst (once) for a family the pod has an address in, via the family's gateway. */
static void add_route(struct cni_result *res, const struct tby_cidr *dst)
{
    struct cni_route *rt;

    if (has_route(res, dst) || !cni_result_first_ip(res, dst->ip.family) ||
        res->n_routes >= CNI_MAX_ROUTES)
        return;
    rt = &res->routes[res->n_routes++];
    rt->dst = *dst;
    /* IPv6's gateway, the host side's link-local address, is known once the veth is up. */
    rt->has_gw = dst->ip.family == 4;
    if (rt->has_gw)
        tby_ip_parse(CNI_GATEWAY_V4, &rt->gw, NULL);
}

static void add_default_routes(struct cni_result *res)
{
    struct tby_cidr any;

    tby_cidr_parse("0.0.0.0/0", 0, &any, NULL);
    add_route(res, &any);
    tby_cidr_parse("::/0", 0, &any, NULL);
    add_route(res, &any);
}

/* In Calico's routed model every address is a host address behind the one gateway, so
 * the IPAM plugin's prefix lengths and gateways (host-local's 10.1.0.1/24) do not apply;
 * its routes' destinations do. */
static int pod_result(struct plugin *p, const struct cni_result *ipam, struct cni_result *res,
                      struct cni_failure *f)
{
    memset(res, 0, sizeof(*res));
    if (ipam->n_ips == 0)
        return cni_fail(f, CNI_ERR_ALLOCATION, "the IPAM plugin %s gave no address",
                        p->conf.ipam_type);
    strcpy(res->ifaces[IFACE_HOST].name, p->host);
    strcpy(res->ifaces[IFACE_HOST].mac, CNI_HOST_MAC);
    strcpy(res->ifaces[IFACE_POD].name, p->call.ifname);
    res->ifaces[IFACE_POD].sandbox = p->call.netns;
    res->n_ifaces = 2;
    for (size_t i = 0; i < ipam->n_ips; i++) {
        struct cni_ip *ip = &res->ips[res->n_ips++];

        ip->address.ip = ipam->ips[i].address.ip;
        ip->address.prefix_len = (uint8_t)tby_ip_bits(&ip->address.ip);
        ip->interface = IFACE_POD;
        ip->has_gateway = ip->address.ip.family == 4;
        if (ip->has_gateway)
            tby_ip_parse(CNI_GATEWAY_V4, &ip->gateway, NULL);
    }
    for (size_t i = 0; i < ipam->n_routes; i++)
        add_route(res, &ipam->routes[i].dst);
    add_default_routes(res);
    res->dns = json_object_get(p->call.conf, "dns") ? json_object_get(p->call.conf, "dns")
                                                    : ipam->dns;
    return 0;
}

static int run_ipam(struct plugin *p, struct add *a, struct cni_failure *f)
{
    struct cni_result ipam;
    struct tby_error err = { 0 };

    a->ipam = true;
    if (plugin_ipam(p, "ADD", &a->ipam_answer, f) < 0)
        return -1;
    if (cni_result_parse(a->ipam_answer, &ipam, &err) < 0)
        return cni_fail(f, CNI_ERR_DECODE, "the IPAM plugin %s's result: %s", p->conf.ipam_type,
                        tby_error_str(&err));
    return pod_result(p, &ipam, &a->res, f);
}

/* ---- the pod in the Kubernetes API ---------------------------------------------------- */

/* Kubernetes mode: the pod and its namespace, before anything is changed; their labels,
 * ports and annotations replace what the configuration's args.cni says. */
static int read_pod(struct plugin *p, struct cni_failure *f)
{
    _cleanup_json_ json_t *pod = NULL, *ns = NULL;
    struct tby_error err = { 0 };
    const char *uid;

    if (!p->k8s_mode)
        return 0;
    if (plugin_get_pod(p, &pod, f) < 0 || cni_k8s_check_ready(&p->k8s, f) < 0 ||
        cni_k8s_get_namespace(&p->k8s, p->call.args.pod_namespace, &ns, f) < 0)
        return -1;
    uid = cni_k8s_uid(pod);
    if (p->call.args.pod_uid && uid && strcmp(uid, p->call.args.pod_uid) != 0)
        return cni_fail(f, CNI_ERR_UNKNOWN_CONTAINER, "pod %s/%s is another pod now (uid %s, "
                        "CNI_ARGS K8S_POD_UID %s): the one this sandbox is for was deleted",
                        p->call.args.pod_namespace, p->call.args.pod_name, uid,
                        p->call.args.pod_uid);
    if (cni_k8s_pod_read(pod, ns, &p->pod, &err) < 0 ||
        cni_k8s_pod_ipam_conf(&p->pod, p->call.conf, p->conf.ipam_type, &p->ipam_conf,
                              &p->ipam_conf_len, &err) < 0)
        return cni_fail(f, err.code == -ENOMEM ? CNI_ERR_IO : CNI_ERR_INVALID_CONFIG, "%s",
                        tby_error_str(&err));
    if (json_object_size(p->conf.labels) || p->conf.ports)
        tby_log(TBY_LOG_INFO, "cni", "args.cni.labels and ports are not used: the pod's come "
                "from the Kubernetes API pod=%s/%s", p->pod.namespace, p->pod.name);
    tby_log(TBY_LOG_DEBUG, "cni", "pod read pod=%s/%s labels=%zu ports=%zu "
            "service_account=%s ipam_annotations=%zu", p->pod.namespace, p->pod.name,
            json_object_size(p->pod.labels), json_array_size(p->pod.ports),
            p->pod.service_account ? p->pod.service_account : "",
            json_object_size(p->pod.ipam_annotations));
    return 0;
}

/* ---- the veth ---------------------------------------------------------------------------- */

static int network_failure(struct cni_failure *f, const struct tby_error *err)
{
    return cni_fail(f, err->code == -EAGAIN ? CNI_ERR_TRY_AGAIN : CNI_ERR_NETWORK, "%s",
                    tby_error_str(err));
}

static int choose_mtu(struct plugin *p, struct add *a, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    unsigned from_file;

    /* As Calico: a required file must be there even when mtu names the MTU. */
    if (cni_mtu_from_file(p->conf.mtu_file, p->conf.require_mtu_file, &from_file, &err) < 0)
        return cni_fail(f, err.code == -ENOENT ? CNI_ERR_TRY_AGAIN : CNI_ERR_INVALID_CONFIG,
                        "%s", tby_error_str(&err));
    a->veth.mtu = p->conf.mtu ? p->conf.mtu : from_file;
    if (a->veth.mtu)
        return 0;
    if (cni_mtu_detect(p->sk, p->store, &a->res, &a->veth.mtu, &err) < 0)
        return cni_fail_from(f, &err);
    return 0;
}

static int open_netns(struct plugin *p, struct add *a, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r = cni_netns_open(p->call.netns, &a->netns_fd, &err);

    if (r == -ENOENT || r == -EINVAL)
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_NETNS: %s", tby_error_str(&err));
    return r < 0 ? network_failure(f, &err) : 0;
}

/* IPv6 routes go via the host side's link-local address, which exists only now. */
static int pod_ipv6_routes(struct plugin *p, struct add *a, struct tby_error *err)
{
    struct tby_ip ll;
    int r = cni_veth_host_ll(p->sk, a->host_ifindex, &ll, err);

    if (r < 0)
        return r;
    for (size_t i = 0; i < a->res.n_routes; i++) {
        if (a->res.routes[i].dst.ip.family == 6) {
            a->res.routes[i].gw = ll;
            a->res.routes[i].has_gw = true;
        }
    }
    for (size_t i = 0; i < a->res.n_ips; i++) {
        if (a->res.ips[i].address.ip.family == 6) {
            a->res.ips[i].gateway = ll;
            a->res.ips[i].has_gateway = true;
        }
    }
    a->pod.routes_v6 = true;
    return cni_netns_run(a->netns_fd, cni_pod_configure, &a->pod, err);
}

static int wire(struct plugin *p, struct add *a, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r;

    a->veth = (struct cni_veth){ .host = p->host, .ifname = p->call.ifname,
                                 .netns_fd = a->netns_fd, .mtu = a->veth.mtu,
                                 .v4 = cni_result_first_ip(&a->res, 4) != NULL,
                                 .v6 = cni_result_first_ip(&a->res, 6) != NULL,
                                 .allow_ip_forwarding = p->conf.allow_ip_forwarding };
    a->pod = (struct cni_pod){ .veth = &a->veth, .res = &a->res };
    if ((r = cni_veth_create(p->sk, &a->veth, &err)) < 0)
        return network_failure(f, &err);
    a->veth_made = true;
    r = cni_veth_host_setup(p->sk, &a->veth, &a->host_ifindex, &err);
    if (r == 0)
        r = cni_netns_run(a->netns_fd, cni_pod_configure, &a->pod, &err);
    if (r == 0 && a->veth.v6)
        r = pod_ipv6_routes(p, a, &err);
    if (r == 0)
        r = cni_veth_host_routes(p->sk, a->host_ifindex, &a->res, &err);
    if (r < 0)
        return network_failure(f, &err);
    strcpy(a->res.ifaces[IFACE_POD].mac, a->pod.mac);
    return 0;
}

/* ---- the endpoint record --------------------------------------------------------------- */

static int record(struct plugin *p, struct add *a, struct cni_failure *f)
{
    struct tby_resource_list list = { 0 };
    struct tby_resource *wep = NULL;
    struct tby_error err = { 0 };
    int r;

    p->wep.network = p->call.name;
    p->wep.host_ifname = p->host;
    p->wep.mac = a->pod.mac;
    p->wep.res = &a->res;
    p->wep.labels = p->k8s_mode ? p->pod.labels : p->conf.labels;
    p->wep.ports = p->k8s_mode ? p->pod.ports : p->conf.ports;
    p->wep.service_account = p->pod.service_account;
    p->wep.source_prefixes = p->pod.source_prefixes;
    if (cni_wep_build(&p->wep, &wep, &err) < 0)
        return cni_fail_from(f, &err);
    r = tby_resource_list_push(&list, wep);
    if (r == 0)
        r = tby_catalog_write(p->store, &list, TBY_WRITE_APPLY, NULL, &err);
    else
        tby_resource_free(wep);
    tby_resource_list_clear(&list);
    if (r == -ENOMEM && !err.msg[0])
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    return r < 0 ? cni_fail_from(f, &err) : 0;
}

/* ---- ADD ---------------------------------------------------------------------------------- */

static void undo(struct plugin *p, struct add *a)
{
    struct cni_failure ignored = { 0 };
    struct tby_error err = { 0 };
    json_t *answer = NULL;
    bool deleted;

    if (a->veth_made && cni_veth_delete(p->sk, p->host, &deleted, &err) < 0)
        tby_log(TBY_LOG_ERROR, "cni", "cannot undo the veth dev=%s: %s", p->host,
                tby_error_str(&err));
    /* The spec: a plugin whose delegate failed on ADD calls it again with DEL. */
    if (a->ipam && plugin_ipam(p, "DEL", &answer, &ignored) < 0)
        tby_log(TBY_LOG_ERROR, "cni", "cannot release the addresses container=%s: %s",
                p->call.container_id, tby_error_str(&ignored.err));
    json_decref(answer);
}

static int answer(const struct plugin *p, const struct add *a, struct cni_failure *f)
{
    _cleanup_json_ json_t *doc = cni_result_encode(&a->res, p->call.version);

    if (!doc)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    tby_log(TBY_LOG_INFO, "cni", "pod added container=%s dev=%s mtu=%u", p->call.container_id,
            p->host, a->veth.mtu);
    return cni_print_result(stdout, doc) == 0 ? 0 : cni_fail(f, CNI_ERR_IO, "writing the result");
}

int cmd_add(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    _cleanup_(tby_resource_freep) struct tby_resource *old = NULL;
    struct add a = { .netns_fd = -1 };
    int r;

    /* The Kubernetes API and the datastore are asked first: when either is down, or the
     * pod is not there, nothing is done at all. The pod first: on k8s: it is the endpoint
     * too, read once. */
    if (read_pod(p, f) < 0)
        return -1;
    r = plugin_get_wep(p, &old, f);
    if (r < 0 && r != -ENOENT)
        return -1;
    r = open_netns(p, &a, f);
    if (r == 0)
        r = run_ipam(p, &a, f);
    if (r == 0)
        r = choose_mtu(p, &a, f);
    if (r == 0)
        r = wire(p, &a, f);
    if (r == 0)
        r = record(p, &a, f);
    if (r == 0)
        r = answer(p, &a, f);
    if (r < 0)
        undo(p, &a);
    if (a.netns_fd >= 0)
        close(a.netns_fd);
    json_decref(a.ipam_answer);
    return r;
}
