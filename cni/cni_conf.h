/* cni_conf.h — the tabby plugin's own keys in the network configuration (private to
 * cni/), read and checked before anything is changed:
 *
 *   "mtu": 1450                        the veth's MTU; absent or 0: detected
 *   "nodename": "node1"                else $NODENAME, else the host name
 *   "datastore": "sqlite:/var/lib/tabby/tabby.db"   else the node's (settings.h)
 *   "container_settings": {"allow_ip_forwarding": false}   as Calico's
 *   "log_level": "warning"             error, warning, info or debug, on standard error
 *   "ipam": {"type": "tabby-ipam", …}  the IPAM plugin (required), run from CNI_PATH
 *   "args": {"cni": {                  the CNI conventions' runtime arguments:
 *       "labels": [{"key": "app", "value": "web"}],      (a {"app": "web"} map too)
 *       "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}}
 *
 * Owns: the strings of struct cni_conf it allocates (node, store_uri) and the labels
 * object; free with cni_conf_clear. Other pointers borrow from the call's JSON.
 */
#ifndef TABBY_CNI_CONF_H
#define TABBY_CNI_CONF_H

#include <stdbool.h>

#include <jansson.h>

#include "tabby/log.h"
#include "cni_common.h"

struct cni_conf {
    unsigned mtu;                   /* 0: detect */
    bool allow_ip_forwarding;
    bool has_log_level;
    enum tby_log_level log_level;
    const char *ipam_type;          /* borrowed */
    char *node;
    char *store_uri;
    json_t *labels;                 /* {key: value}, from args.cni.labels; never NULL */
    const json_t *ports;            /* args.cni.ports, or NULL (borrowed) */
};

/* Reads and checks the keys above (store_uri and node only when need_store). Errors are
 * code 7 naming the key. */
int cni_conf_read(const struct cni_call *call, bool need_store, struct cni_conf *out,
                  struct cni_failure *f);
void cni_conf_clear(struct cni_conf *conf);

/* Only the log level, read before anything else so that what follows is logged. */
int cni_conf_log_level(const json_t *conf, bool *has, enum tby_log_level *out,
                       struct cni_failure *f);

#endif
