/* cni_common.h — what tabby's CNI plugins (tabby-ipam, and tabby) share (private to cni/):
 * reading a call (CNI_* environment, the network configuration on stdin), the spec's
 * versions, error codes and result shapes, and reading configuration values. Where the
 * datastore and the node's name come from: cni_datastore.h.
 *
 * Owns: struct cni_call and everything in it (freed with cni_call_clear); results are
 * jansson objects the caller releases. Nothing here prints except the cni_print_*
 * functions, which write the one JSON document a plugin answers on stdout.
 *
 * Spec: CNI 1.1.0 and 1.0.0 (one result shape), with 0.3.0, 0.3.1 and 0.4.0 results when
 * the configuration asks for them (their "ips" entries carry "version"). GC and STATUS
 * (from 1.1.0) carry no attachment: no CNI_CONTAINERID, CNI_IFNAME or CNI_NETNS. Errors:
 * {"cniVersion", "code", "msg", "details"} on stdout and a non-zero exit.
 */
#ifndef TABBY_CNI_COMMON_H
#define TABBY_CNI_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "tabby/error.h"
#include "tabby/net.h"

/* The spec's well-known codes, and tabby's own from 100 on. */
enum cni_code {
    CNI_ERR_INCOMPATIBLE_VERSION = 1,
    CNI_ERR_UNSUPPORTED_FIELD = 2,
    CNI_ERR_UNKNOWN_CONTAINER = 3,
    CNI_ERR_INVALID_ENV = 4,
    CNI_ERR_IO = 5,
    CNI_ERR_DECODE = 6,
    CNI_ERR_INVALID_CONFIG = 7,
    CNI_ERR_TRY_AGAIN = 11,
    /* STATUS: the plugin cannot serve ADD now (its datastore is unreachable). */
    CNI_ERR_NOT_AVAILABLE = 50,
    /* STATUS: it cannot, and existing pods may have limited connectivity (no usable pool). */
    CNI_ERR_LIMITED_CONNECTIVITY = 51,
    /* The request cannot be met: pools exhausted, no usable pool, address taken. */
    CNI_ERR_ALLOCATION = 100,
    /* CHECK found the container's state missing or different. */
    CNI_ERR_CHECK = 101,
    /* The kernel refused a change to the pod's network: veth, address, route, sysctl. */
    CNI_ERR_NETWORK = 102,
};

enum cni_command { CNI_ADD, CNI_DEL, CNI_CHECK, CNI_VERSION, CNI_GC, CNI_STATUS };

/* "ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS". */
const char *cni_command_name(enum cni_command command);

/* A failure on its way to stdout: the CNI code and the message (err). */
struct cni_failure {
    int code;
    struct tby_error err;
};

int cni_fail(struct cni_failure *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes a tabby error over: its message, and the code its errno maps to (-EAGAIN and an
 * unreachable store: 11; -EINVAL: 7; -ENOSPC, -ENOENT, -EEXIST: 100; -EIO: 5). */
int cni_fail_from(struct cni_failure *f, const struct tby_error *err);

/* CNI_ARGS as Kubernetes' runtimes send it:
 *   IgnoreUnknown=1;K8S_POD_NAMESPACE=…;K8S_POD_NAME=…;K8S_POD_INFRA_CONTAINER_ID=…;
 *   K8S_POD_UID=…   (and Calico's IP=…)
 * A key tabby does not read is an error unless IgnoreUnknown is 1 or true (the CNI
 * conventions' rule, as libcni's LoadArgs applies it). Empty values count as absent. */
struct cni_args {
    char *pod_namespace;
    char *pod_name;
    char *infra_container_id;
    char *pod_uid;
    char *ip;                       /* a requested address (Calico's IP=) */
    bool ignore_unknown;
};

/* One attachment a runtime holds: GC's cni.dev/valid-attachments lists them. */
struct cni_attachment {
    const char *container_id;       /* borrowed from the configuration */
    const char *ifname;
};

struct cni_call {
    enum cni_command command;
    char *container_id;             /* NULL for GC and STATUS */
    char *netns;
    char *ifname;
    struct cni_args args;
    json_t *conf;                   /* the network configuration */
    char *conf_text;                /* ... exactly as read, for delegated plugins */
    size_t conf_len;
    const char *version;            /* conf's cniVersion (owned by conf) */
    const char *name;               /* conf's name (owned by conf); NULL for VERSION */
    struct cni_attachment *valid;   /* GC: cni.dev/valid-attachments (absent: none) */
    size_t n_valid;
};

/* Reads the environment and the configuration, and refuses a command the configuration's
 * cniVersion does not have (CHECK before 0.4.0, GC and STATUS before 1.1.0: code 1). On
 * failure f says why, and call->version is whatever could be read (NULL: none), for the
 * error document. */
int cni_call_read(FILE *in, struct cni_call *call, struct cni_failure *f);
void cni_call_clear(struct cni_call *call);

/* Whether GC's list holds the attachment; ifname NULL: any attachment of the container. */
bool cni_attachment_valid(const struct cni_call *call, const char *container_id,
                          const char *ifname);

bool cni_version_supported(const char *version);
/* Whether `version` is at least major.minor.patch. */
bool cni_version_at_least(const char *version, int major, int minor, int patch);

/* ---- reading the configuration ---------------------------------------------------------- */

/* conf.ipam (an object), or NULL. */
const json_t *cni_ipam_conf(const struct cni_call *call);
/* A boolean written as JSON true/false or as the strings "true"/"false" (calico-ipam's
 * assign_ipv4). *out keeps its default when absent. */
int cni_conf_bool(const json_t *obj, const char *field, bool *out, struct cni_failure *f);
/* A string; NULL when absent. */
int cni_conf_string(const json_t *obj, const char *field, const char **out,
                    struct cni_failure *f);
/* args.cni.<field> (the runtime's arguments), or NULL. */
const json_t *cni_runtime_arg(const struct cni_call *call, const char *field);

/* The value at a dotted path of the configuration ("kubernetes.kubeconfig"), or NULL
 * when a part is absent or null; -1 (code 7 naming the path) when a part on the way is not
 * an object. */
int cni_conf_at(const json_t *conf, const char *path, const json_t **out,
                struct cni_failure *f);
/* A string there; NULL when absent, null or "" (Calico's keys count "" as unset). */
int cni_conf_str(const json_t *conf, const char *path, const char **out,
                 struct cni_failure *f);
/* A JSON boolean there; false when absent. */
int cni_conf_flag(const json_t *conf, const char *path, bool *out, struct cni_failure *f);

/* ---- answers ---------------------------------------------------------------------------- */

/* {"cniVersion", "ips": [], "routes": [], "dns": {}}. */
json_t *cni_result_new(const char *version);
/* An address (with its prefix) and, when gateway is non-NULL, its gateway. */
int cni_result_add_ip(json_t *result, const char *version, const struct tby_cidr *address,
                      const struct tby_ip *gateway);
int cni_result_add_route(json_t *result, const char *dst, const char *gw);

/* ---- a plugin's main ------------------------------------------------------------------- */

/* A plugin's commands; each gets the plugin's own state (which holds the call). */
struct cni_plugin_ops {
    int (*open)(void *plugin, struct cni_failure *f);   /* before every command but VERSION */
    int (*add)(void *plugin, struct cni_failure *f);
    int (*del)(void *plugin, struct cni_failure *f);
    int (*check)(void *plugin, struct cni_failure *f);
    int (*gc)(void *plugin, struct cni_failure *f);
    int (*status)(void *plugin, struct cni_failure *f);
};

/* The whole of a plugin's main but for its state: reads the call from standard input
 * into *call, answers VERSION, runs open then the command, and prints the failure.
 * Returns the exit status. */
int cni_plugin_main(struct cni_call *call, const struct cni_plugin_ops *ops, void *plugin);

/* Each writes one JSON document and a newline; they return the process's exit status. */
int cni_print_result(FILE *out, const json_t *result);
int cni_print_version(FILE *out, const char *version);
int cni_print_failure(FILE *out, const char *version, const struct cni_failure *f);

#endif
