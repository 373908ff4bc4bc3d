/* tabby.c — the tabby CNI plugin (Calico's "calico" plugin's counterpart): a container
 * runtime runs it for every pod. ADD gives the pod a veth pair, its addresses (from the
 * IPAM plugin of ipam.type) and routes, and records its WorkloadEndpoint so tabby-node
 * enforces policy on it; DEL undoes all of it and is idempotent; CHECK verifies the
 * pod's network against prevResult; GC removes what ADD made for attachments the runtime
 * no longer holds; STATUS says whether ADD can work now; VERSION lists the spec versions
 * (0.3.0 to 1.1.0).
 *
 * On Kubernetes (the configuration names the API and CNI_ARGS the pod) ADD takes the
 * pod's labels, ports, account and annotations from the API, and DEL leaves alone an
 * endpoint the pod says a newer sandbox holds (tabby_plugin.h, cni_k8s.h).
 *
 * This file reads the call and runs DEL and CHECK; ADD is in tabby_add.c, GC and STATUS
 * in tabby_gc.c. The configuration keys are in cni_conf.h (tabby's and Calico's) and
 * cni_datastore.h, the wiring in cni_link.h, the endpoint in cni_wep.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "cni_delegate.h"
#include "cni_link.h"
#include "tabby/endpoint_names.h"
#include "cni_netns.h"
#include "cni_result.h"
#include "tabby_plugin.h"

static void plugin_clear(struct plugin *p)
{
    cni_k8s_pod_clear(&p->pod);
    cni_k8s_close(&p->k8s);
    free(p->ipam_conf);
    tby_store_close(p->store);
    if (p->sk)
        nl_socket_free(p->sk);
    free(p->wep_name);
    cni_conf_clear(&p->conf);
    cni_call_clear(&p->call);
}

/* ---- shared by the commands ------------------------------------------------------------- */

int plugin_get_wep(struct plugin *p, struct tby_resource **out, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r = tby_catalog_get(p->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT),
                            p->wep_namespace, p->wep_name, out, &err);

    if (r == -ENOENT)
        return r;
    return r < 0 ? cni_fail_from(f, &err) : 0;
}

int plugin_ipam(struct plugin *p, const char *command, json_t **out, struct cni_failure *f)
{
    if (p->ipam_conf)
        return cni_delegate(p->conf.ipam_type, command, p->ipam_conf, p->ipam_conf_len, out, f);
    return cni_delegate(p->conf.ipam_type, command, p->call.conf_text, p->call.conf_len, out,
                        f);
}

/* The pod, once: on a k8s: store of the same API server, the store's own reads of it (the
 * endpoint is the pod) take this one until it writes. */
int plugin_get_pod(struct plugin *p, json_t **pod, struct cni_failure *f)
{
    int r;

    *pod = NULL;
    if (!p->k8s.client && cni_k8s_open(&p->conf.kube, &p->k8s, f) < 0)
        return -1;
    r = cni_k8s_get_pod(&p->k8s, p->call.args.pod_namespace, p->call.args.pod_name, pod, f);
    if (r == 0)
        tby_store_offer(p->store, p->k8s.cfg->server, &tby_kube_pods, *pod);
    return r;
}

/* ---- DEL -------------------------------------------------------------------------------- */

/* The pod's veth: by the host side's name, which needs no namespace (containerd calls DEL
 * with an empty CNI_NETNS), else CNI_IFNAME inside the namespace. A namespace that is
 * gone took the pair with it. */
static int del_veth(struct plugin *p, struct cni_failure *f)
{
    struct cni_veth veth = { .host = p->host, .ifname = p->call.ifname };
    struct cni_pod pod = { .veth = &veth };
    struct tby_error err = { 0 };
    bool deleted = false;
    int fd = -1, r = cni_veth_delete(p->sk, p->host, &deleted, &err);

    if (r == 0 && !deleted && p->call.netns &&
        cni_netns_open(p->call.netns, &fd, &err) == 0) {
        r = cni_netns_run(fd, cni_pod_delete, &pod, &err);
        close(fd);
    }
    if (r < 0)
        return cni_fail(f, CNI_ERR_NETWORK, "%s", tby_error_str(&err));
    tby_log(TBY_LOG_INFO, "cni", "veth removed dev=%s was_there=%s", p->host,
            deleted || pod.deleted ? "yes" : "no");
    return 0;
}

static int del_wep(struct plugin *p, struct cni_failure *f)
{
    struct tby_error err = { 0 };
    int r = tby_catalog_delete_one(p->store, tby_kind_info(TBY_KIND_WORKLOADENDPOINT),
                                   p->wep_namespace, p->wep_name, &err);

    return r < 0 && r != -ENOENT ? cni_fail_from(f, &err) : 0;
}

/* Kubernetes mode: the container the pod's cni.projectcalico.org/containerID annotation
 * names (*holder, NULL when none or not known). A pod that is gone tells nothing; any
 * other failure to read it stops DEL, which cannot tell whether the pod moved on to a
 * newer sandbox. */
static int pod_holder(struct plugin *p, char **holder, struct cni_failure *f)
{
    _cleanup_json_ json_t *pod = NULL;
    const char *uid, *cid;
    int r;

    *holder = NULL;
    if (!p->k8s_mode)
        return 0;
    r = plugin_get_pod(p, &pod, f);
    if (r == -ENOENT) {
        tby_log(TBY_LOG_INFO, "cni", "the pod is gone, removing what is left pod=%s/%s",
                p->call.args.pod_namespace, p->call.args.pod_name);
        return 0;
    }
    if (r < 0)
        return -1;
    /* A pod of the same name made again is another pod: its annotation is not ours. */
    uid = cni_k8s_uid(pod);
    if (p->call.args.pod_uid && uid && strcmp(uid, p->call.args.pod_uid) != 0)
        return 0;
    cid = cni_k8s_annotation(pod, CNI_ANN_CONTAINER_ID);
    if (cid && !(*holder = strdup(cid)))
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    return 0;
}

/* Which sandbox holds the pod's endpoint: the endpoint's record says so (on k8s: the
 * record is the pod, and its containerID the annotation); without one, the pod's
 * annotation. On another datastore the annotation is not kept up to date by tabby (it
 * may be Calico's, from before): the record wins over it. */
static int del_holder(struct plugin *p, char **holder, struct cni_failure *f)
{
    _cleanup_(tby_resource_freep) struct tby_resource *wep = NULL;
    int r = pod_holder(p, holder, f);

    if (r < 0)
        return -1;
    r = plugin_get_wep(p, &wep, f);
    if (r < 0 && r != -ENOENT)
        return -1;
    if (wep && wep->spec.wep->container_id) {
        free(*holder);
        if (!(*holder = strdup(wep->spec.wep->container_id)))
            return cni_fail(f, CNI_ERR_IO, "out of memory");
    }
    return 0;
}

static int cmd_del(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    _cleanup_json_ json_t *answer = NULL;
    _cleanup_free_ char *holder = NULL;

    if (del_holder(p, &holder, f) < 0)
        return -1;
    /* The pod's endpoint and veth name belong to the pod, not to one sandbox: when a newer
     * sandbox holds them, this DEL (of an older one) releases only its own addresses. */
    if (holder && strcmp(holder, p->call.container_id) != 0) {
        tby_log(TBY_LOG_INFO, "cni", "endpoint belongs to a newer sandbox endpoint=%s "
                "container=%s", p->wep_name, holder);
    } else if (del_veth(p, f) < 0 || del_wep(p, f) < 0) {
        return -1;
    }
    return plugin_ipam(p, "DEL", &answer, f);
}

/* ---- CHECK -------------------------------------------------------------------------------- */

/* prevResult's interfaces: the container side (CNI_IFNAME in CNI_NETNS) and the host side
 * (on the host). Returns the container side's index, or -1. */
static int prev_pod_iface(const struct plugin *p, const struct cni_result *prev,
                          const char **host)
{
    int pod = -1;

    *host = p->host;
    for (size_t i = 0; i < prev->n_ifaces; i++) {
        const struct cni_iface *iface = &prev->ifaces[i];

        if (!iface->sandbox && strncmp(iface->name, TBY_VETH_PREFIX, 3) == 0)
            *host = iface->name;
        else if (iface->sandbox && strcmp(iface->name, p->call.ifname) == 0)
            pod = (int)i;
    }
    return pod;
}

/* Only the addresses on the container side are the pod's. */
static void keep_pod_ips(struct cni_result *prev, int pod)
{
    size_t kept = 0;

    for (size_t i = 0; i < prev->n_ips; i++)
        if (prev->ips[i].interface < 0 || prev->ips[i].interface == pod)
            prev->ips[kept++] = prev->ips[i];
    prev->n_ips = kept;
}

static int check_wep(struct plugin *p, const struct cni_result *prev, struct cni_failure *f)
{
    _cleanup_(tby_resource_freep) struct tby_resource *wep = NULL;
    int r = plugin_get_wep(p, &wep, f);

    if (r == -ENOENT)
        return cni_fail(f, CNI_ERR_CHECK, "the pod has no WorkloadEndpoint %s/%s",
                        p->wep_namespace, p->wep_name);
    if (r < 0)
        return r;
    if (!wep->spec.wep->container_id ||
        strcmp(wep->spec.wep->container_id, p->call.container_id) != 0)
        return cni_fail(f, CNI_ERR_CHECK, "WorkloadEndpoint %s/%s belongs to container %s",
                        p->wep_namespace, p->wep_name, wep->spec.wep->container_id);
    for (size_t i = 0; i < prev->n_ips; i++) {
        const struct tby_cidr_list *nets = &wep->spec.wep->ip_networks;
        char text[TBY_IP_STRLEN];
        bool found = false;

        for (size_t j = 0; j < nets->n && !found; j++)
            found = tby_cidr_contains(&nets->items[j], &prev->ips[i].address.ip);
        if (!found)
            return cni_fail(f, CNI_ERR_CHECK, "WorkloadEndpoint %s/%s does not hold %s",
                            p->wep_namespace, p->wep_name,
                            tby_ip_format(&prev->ips[i].address.ip, text));
    }
    return 0;
}

static int check_network(struct plugin *p, const struct cni_result *prev, int pod,
                         const char *host, struct cni_failure *f)
{
    struct cni_veth veth = { .host = host, .ifname = p->call.ifname,
                             .v4 = cni_result_first_ip(prev, 4) != NULL,
                             .v6 = cni_result_first_ip(prev, 6) != NULL };
    struct cni_pod cpod = { .veth = &veth, .res = prev };
    struct tby_error err = { 0 };
    int fd, r;

    strcpy(cpod.mac, pod >= 0 ? prev->ifaces[pod].mac : "");
    if (cni_veth_host_check(p->sk, host, prev, &err) < 0)
        return cni_fail(f, CNI_ERR_CHECK, "%s", tby_error_str(&err));
    if (cni_netns_open(p->call.netns, &fd, &err) < 0)
        return cni_fail(f, CNI_ERR_CHECK, "%s", tby_error_str(&err));
    r = cni_netns_run(fd, cni_pod_check, &cpod, &err);
    close(fd);
    return r < 0 ? cni_fail(f, CNI_ERR_CHECK, "%s", tby_error_str(&err)) : 0;
}

static int cmd_check(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    const json_t *doc = json_object_get(p->call.conf, "prevResult");
    _cleanup_json_ json_t *answer = NULL;
    struct tby_error err = { 0 };
    struct cni_result prev;
    const char *host;
    int pod;

    if (!doc)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "prevResult: CHECK needs the result of ADD");
    if (cni_result_parse(doc, &prev, &err) < 0)
        return cni_fail(f, CNI_ERR_DECODE, "prevResult: %s", tby_error_str(&err));
    pod = prev_pod_iface(p, &prev, &host);
    keep_pod_ips(&prev, pod);
    if (check_network(p, &prev, pod, host, f) < 0 || check_wep(p, &prev, f) < 0)
        return -1;
    /* The spec: CHECK runs the delegated plugins' CHECK too. */
    return plugin_ipam(p, "CHECK", &answer, f);
}

/* ---- the call ----------------------------------------------------------------------------- */

static int identify(struct plugin *p, struct cni_failure *f)
{
    struct tby_error err = { 0 };

    p->k8s_mode = p->conf.kube.wanted && p->call.args.pod_namespace && p->call.args.pod_name;
    if (p->conf.kube.wanted && !p->k8s_mode)
        tby_log(TBY_LOG_DEBUG, "cni", "no pod named in CNI_ARGS: the Kubernetes API is not "
                "asked");
    tby_veth_name(p->call.args.pod_namespace, p->call.args.pod_name, p->call.container_id,
                  p->host);
    p->wep = (struct cni_wep_input){ .node = p->conf.node,
                                     .namespace = p->call.args.pod_namespace,
                                     .pod = p->call.args.pod_name,
                                     .container_id = p->call.container_id,
                                     .endpoint = p->call.ifname };
    if (cni_wep_name_of(&p->wep, &p->wep_name, &p->wep_namespace, &err) < 0)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "%s", tby_error_str(&err));
    return 0;
}

/* The attachment's names; GC and STATUS have none. */
static int open_attachment(struct plugin *p, struct cni_failure *f)
{
    if (p->call.command == CNI_GC || p->call.command == CNI_STATUS) {
        tby_log(TBY_LOG_DEBUG, "cni", "call command=%s network=%s valid_attachments=%zu",
                cni_command_name(p->call.command), p->call.name, p->call.n_valid);
        return 0;
    }
    if (identify(p, f) < 0)
        return -1;
    tby_log(TBY_LOG_DEBUG, "cni", "call command=%s container=%s netns=%s ifname=%s "
            "endpoint=%s/%s dev=%s", cni_command_name(p->call.command), p->call.container_id,
            p->call.netns ? p->call.netns : "", p->call.ifname, p->wep_namespace, p->wep_name,
            p->host);
    return 0;
}

static int open_all(void *plugin, struct cni_failure *f)
{
    struct plugin *p = plugin;
    struct tby_error err = { 0 };

    if (!p->call.netns && (p->call.command == CNI_ADD || p->call.command == CNI_CHECK))
        return cni_fail(f, CNI_ERR_INVALID_ENV, "CNI_NETNS is not set: ADD and CHECK need the "
                        "container's network namespace");
    if (cni_conf_read(&p->call, true, &p->conf, f) < 0)
        return -1;
    if (p->conf.has_log_level)
        tby_log_set_level(p->conf.log_level);
    if (open_attachment(p, f) < 0)
        return -1;
    /* A store that cannot be opened now is worth another try later (for STATUS: the
     * plugin is not available). */
    if (cni_store_open(&p->call, p->conf.store_uri, &p->store, f) < 0)
        return -1;
    if (p->call.command != CNI_STATUS && !(p->sk = cni_nl_open(&err)))
        return cni_fail(f, CNI_ERR_NETWORK, "%s", tby_error_str(&err));
    return 0;
}

int main(void)
{
    static const struct cni_plugin_ops ops = { open_all, cmd_add, cmd_del, cmd_check, cmd_gc,
                                               cmd_status };
    struct plugin p = { 0 };
    int status;

    /* A delegated plugin may exit without reading its input: its answer says why. */
    signal(SIGPIPE, SIG_IGN);
    tby_log_set_level(TBY_LOG_WARNING);
    status = cni_plugin_main(&p.call, &ops, &p);
    plugin_clear(&p);
    return status;
}
