/* clusterinfo.h — what tabby-node fills in Calico's ClusterInformation "default" on k8s:
 * (clusterinfo.c, a part), kept pure so that it is tested without an API server.
 *
 * calico-node makes sure at start that the cluster has one ClusterInformation, named
 * "default" (crd.projectcalico.org/v1 clusterinformations): a cluster GUID (32 hex digits),
 * the version of what wrote it, the cluster's types (CLUSTER_TYPE, and "kdd" on the
 * Kubernetes datastore) and datastoreReady, which Calico's CNI plugin and Felix read: false
 * means an upgrade is under way, and nothing may be changed meanwhile. tabby-node does the
 * same, with one difference: the version field is set only when there is none, so that on
 * a cluster Calico shares it keeps saying which Calico runs.
 */
#ifndef TABBY_NODE_CLUSTERINFO_H
#define TABBY_NODE_CLUSTERINFO_H

#include <stdbool.h>

#include <jansson.h>

/* The version tabby writes into an empty calicoVersion. */
#define NODE_CLUSTERINFO_VERSION "tabby-" PACKAGE_VERSION

/* A cluster GUID: 32 hex digits of a random (version 4) UUID, into out (33 bytes). */
void node_clusterinfo_guid(char out[33]);

/* Fills `obj` (the object as read, or a new skeleton from node_clusterinfo_new) as
 * calico-node does: a GUID (`guid`) where there is none, datastoreReady true where it is
 * absent (false stays false: it is someone's upgrade), the version where there is none,
 * and every type of `types` ("k8s,bgp"; NULL or "") plus "kdd" the clusterType lacks,
 * appended in order. true when it changed anything. */
bool node_clusterinfo_fill(json_t *obj, const char *guid, const char *types);

/* A new ClusterInformation "default" with an empty spec and Calico's metadata annotation,
 * to be filled; NULL when out of memory. */
json_t *node_clusterinfo_new(void);

/* What spec.datastoreReady says: true unless it is false (absent counts as ready, as for
 * Calico's plugin). */
bool node_clusterinfo_ready(const json_t *obj);

#endif
