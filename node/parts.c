/* parts.c — the table of tabby-node's parts (node.h explains parts).
 *
 * One line per part: X(name) stands for `node_name_part`, defined in the part's own file.
 * The order is the order of dependency, and everything follows it: parts start and run in
 * this order and stop in reverse, and the first part that is not ready names why the node
 * is not. The pid file comes first, so that it goes last; the settings of the datastore's
 * FelixConfigurations next, which the parts after read; the CNI plugins' token needs
 * nothing but the API; the nodename file and (on k8s:) ClusterInformation come before
 * everything that programs, as calico-node sees to them before Felix starts, and so do
 * the default IP pools (made when there are none, before anything reads them); registration
 * comes before the routes and BIRD, which are made from every node's Node; the
 * interfaces' addresses before the policy, which resolves host endpoints by them; the Node's
 * NetworkUnavailable condition (k8s:) follows every part it waits for; the denied flows
 * follow the policy, which names the denies they log; the HTTP server
 * comes last, so that a turn of the loop answers with what the parts before it just did.
 */
#include "tabby/cleanup.h"
#include "node.h"

#define NODE_PARTS(X) \
    X(pidfile)        \
    X(felix)          \
    X(cni_token)      \
    X(nodename)       \
    X(clusterinfo)    \
    X(pools)          \
    X(register)       \
    X(host_addrs)     \
    X(policy)         \
    X(flows)          \
    X(routes)         \
    X(bgp)            \
    X(housekeeping)   \
    X(condition)      \
    X(http)

#define DECLARE(name) extern const struct node_part node_##name##_part;
NODE_PARTS(DECLARE)

#define ENTRY(name) &node_##name##_part,
const struct node_part *const node_parts[] = { NODE_PARTS(ENTRY) };
const size_t node_n_parts = TBY_ARRAY_SIZE(node_parts);

_Static_assert(TBY_ARRAY_SIZE(node_parts) <= NODE_PARTS_MAX, "raise NODE_PARTS_MAX");
