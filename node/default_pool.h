/* default_pool.h — the default IP pools calico-node makes at start: the
 * CALICO_IPV4POOL_* / CALICO_IPV6POOL_* and NO_DEFAULT_POOLS settings, read and checked
 * with the others (node_config.c) by default_pool.c; the pools part (pools.c) creates
 * default-ipv4-ippool / default-ipv6-ippool when the datastore holds no pool of that
 * family.
 *
 * Owns nothing past a call: the resource it builds is the caller's. */
#ifndef TABBY_NODE_DEFAULT_POOL_H
#define TABBY_NODE_DEFAULT_POOL_H

#include "tabby/error.h"
#include "tabby/resource.h"
#include "node_config.h"

/* Reads the pool settings of c->v[] into c->pool[]. A bad value fails, the message naming
 * its variable; so does NO_DEFAULT_POOLS=true beside a pool CIDR, as in calico-node. */
int node_default_pool_config(struct node_config *c, struct tby_error *err);

/* The IPPool resource ("default-ipv4-ippool", family 4, or IPv6's) with pool's settings
 * and `cidr` (pool->cidr when pool->has_cidr), checked as tabbyctl checks it. *out is the
 * caller's. The error names the variables. */
int node_default_pool_resource(const struct node_default_pool *pool, int family,
                               const struct tby_cidr *cidr, struct tby_resource **out,
                               struct tby_error *err);

/* "default-ipv4-ippool" (i 0) or "default-ipv6-ippool" (i 1). */
const char *node_default_pool_name(int i);
/* An encapsulation mode as an IPPool spells it: "Never", "Always", "CrossSubnet". */
const char *node_default_pool_mode(int mode);

/* Calico's choice of the IPv4 pool when CALICO_IPV4POOL_CIDR is unset: 192.168.0.0/16,
 * else the first 172.N.0.0/16 (N 16 to 31) none of `addrs` lies in, else 192.168.0.0/16
 * all the same. */
void node_default_pool_pick4(const struct tby_ip *addrs, size_t n, struct tby_cidr *out);

/* The pod subnets kubeadm was given, which calico-node takes for a pool whose CIDR is unset:
 * `text` (len bytes) is the ClusterConfiguration of the kubeadm-config ConfigMap (YAML),
 * whose networking.podSubnet is "10.244.0.0/16", or on a dual-stack cluster
 * "10.244.0.0/16,fd00:10:244::/56". The first CIDR of each family goes to out[0] (IPv4)
 * or out[1] (IPv6), host bits cleared as calico-node clears them, found[] saying which
 * there was. No networking or podSubnet (or an empty one): 0 and none found. Text that is
 * not YAML, or an entry that is not a CIDR: -EINVAL and none found, the error naming the
 * field ("ClusterConfiguration: networking.podSubnet: …"). */
int node_default_pool_kubeadm(const char *text, size_t len, struct tby_cidr out[2],
                              bool found[2], struct tby_error *err);

#endif
