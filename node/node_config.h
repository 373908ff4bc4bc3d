/* node_config.h — tabby-node's settings: every one a flag, an environment variable (Calico's
 * name where Calico has one) and a key of a YAML config file; a flag beats the
 * environment, which beats the file, which beats the default (node_config.c).
 *
 * Owns: the settings' text (struct node_config's v[]), freed by node_config_clear.
 * Borrows: config_path (argv's or the environment's).
 */
#ifndef TABBY_NODE_NODE_CONFIG_H
#define TABBY_NODE_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tabby/error.h"
#include "tabby/felix_settings.h"
#include "tabby/host_addrs.h"
#include "tabby/log.h"
#include "tabby/net.h"
#include "tabby/resource.h"

#define TBY_NODE_CONFIG_PATH "/etc/tabby/tabby-node.cfg"

enum node_setting {
    NODE_NODENAME,
    NODE_STORE,
    NODE_DATASTORE_TYPE,
    NODE_KUBECONFIG,
    NODE_IP,
    NODE_IP_METHOD,
    NODE_IP6,
    NODE_IP6_METHOD,
    NODE_AS,
    NODE_BACKEND,
    NODE_BIRD_SOCKET,
    NODE_BIRD_CONFIG,
    NODE_SECRETS_DIR,
    NODE_HEALTH_PORT,
    NODE_HEALTH_HOST,
    NODE_METRICS_PORT,
    NODE_METRICS_HOST,
    NODE_LOG_LEVEL,
    NODE_RESYNC,
    NODE_AUTODETECT_INTERVAL,
    NODE_IPAM_GC_INTERVAL,
    NODE_PID_FILE,
    NODE_CNI_KUBECONFIG,
    NODE_CNI_ACCOUNT,
    NODE_CNI_TOKEN_SECONDS,
    NODE_SA_DIR,
    NODE_NODENAME_FILE,
    NODE_CLUSTER_TYPE,
    NODE_NO_DEFAULT_POOLS,
    NODE_POOL4_CIDR,        /* the default pools' CALICO_IPV{4,6}POOL_* (default_pool.c) */
    NODE_POOL4_IPIP,
    NODE_POOL4_VXLAN,
    NODE_POOL4_NAT,
    NODE_POOL4_BLOCK_SIZE,
    NODE_POOL4_NODE_SELECTOR,
    NODE_POOL4_NO_BGP_EXPORT,
    NODE_POOL6_CIDR,
    NODE_POOL6_VXLAN,
    NODE_POOL6_NAT,
    NODE_POOL6_BLOCK_SIZE,
    NODE_POOL6_NODE_SELECTOR,
    NODE_POOL6_NO_BGP_EXPORT,
    NODE_SETTING_COUNT
};

/* What carries pod traffic between nodes (Calico's CALICO_NETWORKING_BACKEND). */
enum node_backend {
    NODE_BACKEND_BIRD,   /* BGP through BIRD for native and IPIP pools; VXLAN by tabby */
    NODE_BACKEND_VXLAN,  /* no BIRD: tabby routes VXLAN (and IPIP) pools itself */
    NODE_BACKEND_NONE,   /* policy only: routes are someone else's */
};

/* A default pool as the CALICO_IPV{4,6}POOL_* variables describe it (default_pool.c). */
struct node_default_pool {
    bool enabled;             /* the CIDR is not "none" (and NO_DEFAULT_POOLS is not true) */
    bool has_cidr;            /* else chosen at start: Calico's 192.168.0.0/16 or a
                               * 172.16-31.0.0/16 no address of the node is in; a random
                               * ULA /48 for IPv6 */
    struct tby_cidr cidr;
    int block_size;
    int ipip_mode, vxlan_mode;  /* enum tby_encap_mode */
    bool nat_outgoing;
    bool disable_bgp_export;
    const char *node_selector;  /* borrowed from v[] */
};

/* Where tabby-node writes the node's name for the CNI plugins (CALICO_NODENAME_FILE), and
 * install-cni's built-in network configuration names it: calico-node's place. */
#define NODE_NODENAME_FILE_DEFAULT "/var/lib/calico/nodename"

struct node_config {
    char *v[NODE_SETTING_COUNT]; /* every setting as text, defaults filled in */
    bool explicit[NODE_SETTING_COUNT]; /* given by a flag, the environment or the file */
    enum node_backend backend;
    int health_port;
    int metrics_port;             /* 0: /metrics only on the health port */
    enum tby_log_level log_level;
    int resync_s;
    /* The read-backs of the table and of the routes: resync_s, unless a FelixConfiguration
     * says otherwise (felix.c) and TABBY_RESYNC_INTERVAL was not given. */
    int policy_resync_s;
    int route_resync_s;
    /* The dataplane's settings from FelixConfiguration and FELIX_* (felix.c), with
     * Calico's defaults when neither says. The parts that use them compare `generation`
     * with the one they last applied and apply again when it moved: no restart. */
    struct tby_felix_settings dp;
    /* The node's interfaces' addresses but its workloads' (host_addrs.c, which owns them;
     * NULL while it does not run), for host endpoints given by their expectedIPs; the
     * generation moves when they change. */
    const struct tby_host_addr *host_addrs;
    size_t n_host_addrs;
    uint64_t host_addrs_generation;
    int autodetect_interval_s;
    int ipam_gc_interval_s;
    int cni_token_seconds;
    bool has_as;
    uint32_t as_number;
    struct node_default_pool pool[2]; /* IPv4, IPv6 */
    const char *config_path;  /* from --config or $TABBY_NODE_CONFIG (borrowed) */
    bool dump, cleanup, uninstall, allow_root_netns, help;
};

/* Reads flags, environment and config file into c, which it clears first. An error names
 * the setting (its variable's name) or the file and key. c is to be cleared either way. */
int node_config_load(struct node_config *c, int argc, char **argv, struct tby_error *err);
void node_config_clear(struct node_config *c);
/* Sets setting i to `value` as if it had been given, checking it as at start: for the
 * datastore's layer of the settings (FelixConfiguration, felix.c). The error names it. */
int node_config_set(struct node_config *c, enum node_setting i, const char *value,
                    struct tby_error *err);
/* A boolean as calico-node and Felix spell it: true, t, 1, yes, y and their opposites, in
 * any case. -EINVAL for anything else. */
int node_config_bool(const char *text, bool *out);
/* The FELIX_* variables of the environment as a FelixConfiguration (felix.c): *out NULL
 * when there are none, else the caller's. A variable that names no field, or a value the
 * field does not take, fails with the variable named. */
int node_felix_env(char **envp, struct tby_resource **out, struct tby_error *err);
/* The setting's environment variable (and config file key). */
const char *node_config_name(enum node_setting i);
void node_config_usage(FILE *out);
const char *node_backend_name(enum node_backend backend);

#endif
