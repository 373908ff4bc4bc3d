/* cni_datastore.h — where tabby's CNI plugins find their datastore and their node's name
 * (private to cni/), from tabby's own keys and from Calico's, so that Calico's network
 * configuration works as it is:
 *
 *   "datastore": "sqlite:/var/lib/tabby/tabby.db"   tabby's URI (in ipam, else at the
 *                           top level); when given it wins over Calico's keys
 *   "datastore_type": "kubernetes"   Calico's: the k8s: store, with the kubeconfig of
 *                           kubernetes.kubeconfig (else in-cluster, $KUBECONFIG,
 *                           ~/.kube/config)
 *   "datastore_type": "etcdv3"       etcd: at etcd_endpoints ("http://a:2379,…"), else
 *                           etcd_scheme://etcd_authority, else $ETCD_ENDPOINTS; Calico's
 *                           default type, so etcd_endpoints alone means etcd too
 *   "etcd_ca_cert_file", "etcd_cert_file", "etcd_key_file"   over $ETCD_CA_CERT_FILE, …
 *   none of them: the node's default (settings.h: $TABBY_STORE, the config file)
 *
 *   "nodename"              (in ipam, else at the top level)
 *   "nodename_file"         a file holding it (as calico-node's /var/lib/calico/nodename);
 *                           while it is missing ADD and DEL fail (code 11), unless
 *                           "nodename_file_optional": true
 *   "hostname"              Calico's deprecated spelling of nodename
 *   else $NODENAME, else the host name.
 *
 * Owns nothing but the strings it hands out (the caller frees them).
 */
#ifndef TABBY_CNI_DATASTORE_H
#define TABBY_CNI_DATASTORE_H

#include "tabby/store.h"
#include "cni_common.h"

/* The datastore's URI, as above. Caller frees. */
int cni_store_uri(const struct cni_call *call, char **out, struct cni_failure *f);

/* What one request to the datastore may take (and of it, the connection). */
#define CNI_STORE_TIMEOUT_MS 5000
#define CNI_STORE_CONNECT_MS 2000

/* Opens the store at `uri` with the configuration's etcd files over the environment's
 * and the timeouts above (the k8s: store does not take them yet: its client waits 30 s).
 * A store that cannot be opened now: cni_fail_unreachable; a URI that makes no sense:
 * code 7. */
int cni_store_open(const struct cni_call *call, const char *uri, struct tby_store **out,
                   struct cni_failure *f);

/* The failure of a datastore that cannot be reached: try again later (11), or for STATUS
 * not available (50). */
int cni_fail_unreachable(struct cni_failure *f, const struct cni_call *call, const char *uri,
                         const struct tby_error *err);

/* The node's name, as above. Caller frees. */
int cni_node_name(const struct cni_call *call, char **out, struct cni_failure *f);

#endif
