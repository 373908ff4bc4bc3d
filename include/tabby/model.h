/* model.h — the typed specs of every resource kind tabby reads, in Calico's terms.
 *
 * Owns nothing by itself: each struct is owned by the struct tby_resource it hangs off
 * (resource.h) and freed with it. Values here are already validated and defaulted: CIDRs
 * are parsed (rule nets masked as Calico does), enums are enums, absent optional values
 * have a `has_` flag or a NULL pointer. Selectors are kept as the user wrote them (they
 * were checked by parsing); the policy engine parses them again into its index.
 *
 * Field names follow the YAML field names (camelCase → snake_case).
 */
#ifndef TABBY_MODEL_H
#define TABBY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/net.h"
#include "tabby/strv.h"

/* ---- shared pieces ------------------------------------------------------------------ */

enum tby_encap_mode { TBY_ENCAP_NEVER, TBY_ENCAP_ALWAYS, TBY_ENCAP_CROSS_SUBNET };

/* IANA protocol numbers with names in Calico's spelling. */
enum {
    TBY_PROTO_ICMP = 1,
    TBY_PROTO_TCP = 6,
    TBY_PROTO_UDP = 17,
    TBY_PROTO_ICMPV6 = 58,
    TBY_PROTO_SCTP = 132,
    TBY_PROTO_UDPLITE = 136,
};

/* A port, a range "first:last", or a named port (name != NULL, first = last = 0). */
struct tby_port {
    uint16_t first;
    uint16_t last;
    char *name;
};

struct tby_secret_ref {
    char *name;
    char *key;
};

/* ---- IPPool ------------------------------------------------------------------------- */

enum tby_pool_use {
    TBY_POOL_USE_WORKLOAD = 1 << 0,
    TBY_POOL_USE_TUNNEL = 1 << 1,
    TBY_POOL_USE_LOADBALANCER = 1 << 2,
};

enum tby_assignment_mode { TBY_ASSIGN_AUTOMATIC, TBY_ASSIGN_MANUAL };

struct tby_ippool {
    struct tby_cidr cidr;
    int block_size;                     /* default 26 (IPv4) / 122 (IPv6) */
    enum tby_encap_mode ipip_mode;      /* default Never */
    enum tby_encap_mode vxlan_mode;     /* default Never */
    bool nat_outgoing;
    bool disabled;
    bool disable_bgp_export;
    char *node_selector;                /* default "all()" */
    unsigned allowed_uses;              /* default Workload | Tunnel */
    enum tby_assignment_mode assignment_mode; /* default Automatic */
};

/* ---- IPAMConfiguration (name "default") --------------------------------------------- */

struct tby_ipamconfig {
    bool strict_affinity;
    int max_blocks_per_host;            /* 0: no limit */
    bool auto_allocate_blocks;          /* default true */
    int kubevirt_persistence;           /* kubeVirtVMAddressPersistence: 0 unset, 1 Enabled,
                                         * 2 Disabled; kept, not applied: tabby's IPAM knows
                                         * no KubeVirt VMs */
};

/* ---- Calico policy: NetworkPolicy, GlobalNetworkPolicy, Profile rules --------------- */

enum tby_action { TBY_ACTION_ALLOW, TBY_ACTION_DENY, TBY_ACTION_LOG, TBY_ACTION_PASS };

enum tby_policy_type { TBY_POLICY_INGRESS = 1 << 0, TBY_POLICY_EGRESS = 1 << 1 };

struct tby_icmp_match {
    bool has_type;
    bool has_code;
    uint8_t type;
    uint8_t code;
};

struct tby_cidr_list {
    struct tby_cidr *items;
    size_t n;
};

struct tby_port_list {
    struct tby_port *items;
    size_t n;
};

struct tby_service_accounts {
    struct tby_strv names;
    char *selector;
};

struct tby_service_match {
    char *name;
    char *namespace;
};

/* A rule's source or destination. */
struct tby_entity_rule {
    struct tby_cidr_list nets;
    struct tby_cidr_list not_nets;
    char *selector;
    char *not_selector;
    char *namespace_selector;
    struct tby_port_list ports;
    struct tby_port_list not_ports;
    struct tby_service_accounts *service_accounts; /* NULL: not set */
    struct tby_service_match *services;            /* NULL: not set */
};

struct tby_rule {
    enum tby_action action;
    int protocol;                /* IANA number; 0: any */
    int not_protocol;            /* 0: not set */
    struct tby_icmp_match icmp;
    struct tby_icmp_match not_icmp;
    int ip_version;              /* 0 (both), 4 or 6 */
    struct tby_entity_rule source;
    struct tby_entity_rule destination;
    json_t *annotations;         /* rule metadata annotations, object or NULL */
    json_t *http;                /* Calico's HTTPMatch as written, or NULL (never enforced) */
};

struct tby_rule_list {
    struct tby_rule *items;
    size_t n;
};

/* Exactly one rule, an Allow with no match: what a profile of Calico's namespaces says. */
bool tby_rule_list_allows_all(const struct tby_rule_list *l);

/* NetworkPolicy (namespaced) and GlobalNetworkPolicy. */
struct tby_policy {
    bool has_order;
    double order;                /* lower first; unset sorts last */
    char *tier;                  /* default "default" */
    char *selector;              /* NULL: all() */
    char *namespace_selector;    /* GlobalNetworkPolicy only */
    char *service_account_selector;
    unsigned types;              /* TBY_POLICY_*; defaulted from the rules as Calico does */
    struct tby_rule_list ingress;
    struct tby_rule_list egress;
    bool do_not_track;           /* GlobalNetworkPolicy only */
    bool pre_dnat;               /* GlobalNetworkPolicy only */
    bool apply_on_forward;       /* GlobalNetworkPolicy only */
    bool assume_needed_on_every_node; /* performanceHints: [AssumeNeededOnEveryNode] */
};

struct tby_profile {
    struct tby_rule_list ingress;
    struct tby_rule_list egress;
    json_t *labels_to_apply;     /* object of strings; never NULL after decode */
};

/* ---- Kubernetes NetworkPolicy (networking.k8s.io/v1) --------------------------------- */

/* A Kubernetes LabelSelector, kept as its validated JSON ({} selects everything). */
struct tby_k8s_ip_block {
    struct tby_cidr cidr;
    struct tby_cidr_list except;
};

struct tby_k8s_peer {
    json_t *pod_selector;        /* NULL: not given */
    json_t *namespace_selector;  /* NULL: not given */
    struct tby_k8s_ip_block *ip_block; /* NULL: not given; exclusive with the selectors */
};

struct tby_k8s_port {
    int protocol;                /* TCP (default), UDP or SCTP */
    bool has_port;               /* false: every port of the protocol */
    uint16_t port;
    char *port_name;             /* a named port instead of a number */
    uint16_t end_port;           /* 0: no range */
};

struct tby_k8s_rule {
    struct tby_k8s_peer *peers;  /* `from` / `to`; none: every peer */
    size_t n_peers;
    struct tby_k8s_port *ports;  /* none: every port */
    size_t n_ports;
};

struct tby_k8s_policy {
    json_t *pod_selector;        /* never NULL after decode; {} selects every pod */
    unsigned types;              /* TBY_POLICY_*; Ingress always, Egress when egress rules */
    struct tby_k8s_rule *ingress;
    size_t n_ingress;
    struct tby_k8s_rule *egress;
    size_t n_egress;
};

/* ---- Namespace (v1): only its labels matter, and those live in the metadata ---------- */

struct tby_namespace {
    int unused;
};

/* ---- BGPConfiguration ----------------------------------------------------------------- */

struct tby_community {
    char *name;
    char *value;                 /* "aa:nn" or large "aa:nn:mm" */
};

struct tby_prefix_advertisement {
    struct tby_cidr cidr;
    struct tby_strv communities; /* names of `communities`, or literal values */
};

struct tby_bgpconfig {
    char *log_severity_screen;   /* Debug, Info (default), Warning, Error, Fatal */
    bool node_to_node_mesh_enabled; /* default true */
    /* The defaults below apply to the configuration named "default". A per-node one
     * ("node.<name>") cannot set the AS number, and its listen_port 0 means "as the
     * default configuration says". */
    bool has_as_number;
    uint32_t as_number;          /* default 64512 */
    uint16_t listen_port;        /* default 179 */
    struct tby_cidr_list service_cluster_ips;
    struct tby_cidr_list service_external_ips;
    struct tby_cidr_list service_loadbalancer_ips;
    struct tby_community *communities;
    size_t n_communities;
    struct tby_prefix_advertisement *prefix_advertisements;
    size_t n_prefix_advertisements;
    struct tby_secret_ref *node_mesh_password; /* NULL: not set */
    bool has_node_mesh_max_restart;
    uint64_t node_mesh_max_restart_ms;
    char *bind_mode;             /* NULL, "None" or "NodeIP" */
    struct tby_strv ignored_interfaces;
};

/* ---- BGPPeer -------------------------------------------------------------------------- */

enum tby_source_address { TBY_SOURCE_USE_NODE_IP, TBY_SOURCE_NONE };

/* nextHopMode; unset: keepOriginalNextHop decides (Keep when true, else Auto). */
enum tby_next_hop_mode { TBY_NEXT_HOP_UNSET, TBY_NEXT_HOP_AUTO, TBY_NEXT_HOP_SELF,
                         TBY_NEXT_HOP_KEEP };

struct tby_bgppeer {
    char *node;                  /* only this node peers; NULL: every node */
    char *node_selector;         /* exclusive with node */
    bool has_peer_ip;
    struct tby_ip peer_ip;
    uint16_t peer_port;          /* 0: 179 */
    char *peer_selector;         /* exclusive with peer_ip: peer with these nodes */
    uint32_t as_number;
    uint32_t local_as_number;    /* localASNumber: this node's AS on these sessions; 0: its
                                  * own */
    bool keep_original_next_hop;
    enum tby_next_hop_mode next_hop_mode;
    struct tby_secret_ref *password; /* NULL: none */
    enum tby_source_address source_address; /* default UseNodeIP */
    bool has_max_restart;
    uint64_t max_restart_ms;
    int num_allowed_local_as_numbers;
    int ttl_security;            /* 0: off */
    bool has_reachable_by;
    struct tby_ip reachable_by;
    struct tby_strv filters;
};

/* ---- BGPFilter ------------------------------------------------------------------------ */

enum tby_bgpfilter_op { TBY_BGPF_EQUAL, TBY_BGPF_NOT_EQUAL, TBY_BGPF_IN, TBY_BGPF_NOT_IN };

enum tby_bgpfilter_list {
    TBY_BGPF_EXPORT_V4,
    TBY_BGPF_IMPORT_V4,
    TBY_BGPF_EXPORT_V6,
    TBY_BGPF_IMPORT_V6,
    TBY_BGPF_LISTS
};

/* One rule: every condition given must hold; the first rule that holds decides. */
struct tby_bgpfilter_rule {
    bool has_cidr;
    struct tby_cidr cidr;        /* no host bits; of the list's family */
    enum tby_bgpfilter_op op;    /* with cidr */
    bool has_min, has_max;       /* prefixLength (In and NotIn only) */
    int min, max;
    bool remote_peers_only;      /* source: RemotePeers (routes learned over BGP) */
    char *interface;             /* NULL, a name, or a pattern with '*' */
    bool accept;                 /* Accept, else Reject */
};

struct tby_bgpfilter {
    struct tby_bgpfilter_rule *rules[TBY_BGPF_LISTS]; /* exportV4, importV4, exportV6, … */
    size_t n[TBY_BGPF_LISTS];
};

/* 4 or 6; whether the list is an import list. */
int tby_bgpfilter_list_family(enum tby_bgpfilter_list list);
bool tby_bgpfilter_list_is_import(enum tby_bgpfilter_list list);
/* The prefix lengths a rule with a cidr and prefixLength matches: [*min, *max]. */
void tby_bgpfilter_rule_lengths(const struct tby_bgpfilter_rule *r, int *min, int *max);
/* An interface name or pattern a rule may hold: 1 to 15 of letters, digits and _.-* . */
bool tby_bgpfilter_interface_valid(const char *s);

/* ---- Tier ---------------------------------------------------------------------------- */

/* The tier every policy without spec.tier is in; it exists without being written. */
#define TBY_TIER_DEFAULT "default"
/* Calico's order of the default tier. */
#define TBY_TIER_DEFAULT_ORDER 1000000.0

enum tby_tier_action {
    TBY_TIER_DENY,               /* default */
    TBY_TIER_PASS,
};

struct tby_tier {
    bool has_order;              /* unset: after every ordered tier; the default tier's is */
    double order;                /* always set (TBY_TIER_DEFAULT_ORDER) */
    enum tby_tier_action default_action;
};

/* ---- NetworkSet and GlobalNetworkSet -------------------------------------------------- */

struct tby_networkset {
    struct tby_cidr_list nets;   /* masked; a bare address is its /32 or /128 */
};

/* ---- IPReservation ------------------------------------------------------------------- */

struct tby_ipreservation {
    struct tby_cidr_list reserved_cidrs;  /* masked; a bare address is its /32 or /128 */
};

/* ---- FelixConfiguration ("default", "node.<name>") ----------------------------------- */

enum tby_felix_severity {
    TBY_FELIX_SEVERITY_UNSET,
    TBY_FELIX_SEVERITY_TRACE,
    TBY_FELIX_SEVERITY_DEBUG,
    TBY_FELIX_SEVERITY_INFO,
    TBY_FELIX_SEVERITY_WARNING,
    TBY_FELIX_SEVERITY_ERROR,
    TBY_FELIX_SEVERITY_FATAL,
};

/* defaultEndpointToHostAction: what happens to a pod's traffic to its own node once the
 * pod's egress policy allowed it (Calico's default: Drop). */
enum tby_felix_to_host {
    TBY_FELIX_TO_HOST_UNSET,
    TBY_FELIX_TO_HOST_DROP,
    TBY_FELIX_TO_HOST_ACCEPT,
    TBY_FELIX_TO_HOST_RETURN,
};

/* workloadSourceSpoofing: whether endpoints' allowSpoofedSourcePrefixes count (Any); with
 * Disabled (Calico's default) an endpoint that has some is treated as missing. */
enum tby_felix_spoofing {
    TBY_FELIX_SPOOFING_UNSET,
    TBY_FELIX_SPOOFING_DISABLED,
    TBY_FELIX_SPOOFING_ANY,
};

/* One failsafe port: traffic to (inbound) or from (outbound) the host on it always passes
 * host endpoint policy. */
struct tby_felix_port {
    int protocol;               /* TBY_PROTO_TCP or TBY_PROTO_UDP */
    uint16_t port;
    bool has_net;               /* else every address */
    struct tby_cidr net;        /* masked */
};

/* The failsafe ports a list may hold (tabby-node keeps them in fixed arrays). */
#define TBY_FELIX_PORTS_MAX 64

struct tby_felix_ports {
    bool set;                   /* given (an empty list: no failsafe ports at all) */
    struct tby_felix_port *items;
    size_t n;
};

/* What tabby-node applies; has_*, 0 and NULL: not set (tabby-node's own setting stays). */
struct tby_felixconfig {
    enum tby_felix_severity log_severity;  /* logSeverityScreen */
    bool has_health_enabled, health_enabled;
    char *health_host;                     /* an IP address or "localhost" */
    bool has_health_port;
    uint16_t health_port;
    bool has_metrics_enabled, metrics_enabled; /* prometheusMetrics* */
    char *metrics_host;                    /* "" for every address */
    bool has_metrics_port;
    uint16_t metrics_port;
    bool has_route_refresh;
    uint64_t route_refresh_ms;             /* routeRefreshInterval: read-back of routes */
    bool has_nftables_refresh;
    uint64_t nftables_refresh_ms;          /* nftablesRefreshInterval: of the table */
    bool has_iptables_refresh;
    uint64_t iptables_refresh_ms;          /* iptablesRefreshInterval: the same, older name */
    /* the dataplane's (felix.c hands them to the parts) */
    bool has_ipv6_support, ipv6_support;   /* false: no IPv6 routes (policy still applies) */
    char *interface_prefix;                /* "tby" (the only prefix taken) */
    enum tby_felix_to_host to_host;        /* defaultEndpointToHostAction */
    enum tby_felix_spoofing spoofing;      /* workloadSourceSpoofing */
    struct tby_felix_ports failsafe_in, failsafe_out;
    uint32_t vxlan_vni;                    /* 0: not set (4096) */
    uint16_t vxlan_port;                   /* 0: not set (4789) */
    bool has_vxlan_mtu, has_vxlan_mtu6, has_ipip_mtu;
    uint32_t vxlan_mtu, vxlan_mtu6, ipip_mtu; /* 0: from the uplink's */
    bool has_nat_address;
    struct tby_ip nat_address;             /* natOutgoingAddress: SNAT to it, not masquerade */
    json_t *given;                         /* every field but the typed ones above it, as
                                            * given: written back as it came */
};

/* The fields of a FelixConfiguration tabby accepts though they only tune a part of
 * Calico's dataplane tabby does not have: one "spec.<field>: <why>" line each, for
 * tabbyctl apply's warnings (into out, which the caller clears). */
int tby_felixconfig_ignored(const struct tby_felixconfig *c, struct tby_strv *out);

/* A FelixConfiguration field (any of Calico's, taken or not) by its name in any case, as
 * Felix matches FELIX_<NAME> variables: its spelling in the spec ("logSeverityScreen"), or
 * NULL for none. */
const char *tby_felixconfig_field(const char *name);

/* Calico's failsafe ports, where no layer sets them: SSH, DHCP, BGP, etcd, Typha and the
 * Kubernetes API in (outbound false); DNS, DHCP, BGP, etcd, Typha and the Kubernetes API
 * out. Static; *n set to their count. */
const struct tby_felix_port *tby_felix_default_failsafe(bool outbound, size_t *n);

/* ---- Node ----------------------------------------------------------------------------- */

struct tby_node_address {
    char *address;
    char *type;                  /* InternalIP, ExternalIP, CalicoNodeIP */
};

struct tby_orch_ref {
    char *node_name;
    char *orchestrator;
};

/* An interface calico-node found on the node, with its addresses. */
struct tby_node_interface {
    char *name;
    struct tby_ip *addresses;
    size_t n_addresses;
};

struct tby_node {
    bool has_bgp;
    bool has_ipv4_address;
    struct tby_cidr ipv4_address;    /* the node's address with its subnet: 10.0.0.1/24 */
    bool has_ipv6_address;
    struct tby_cidr ipv6_address;
    bool has_as_number;
    uint32_t as_number;
    bool has_rr_cluster_id;
    struct tby_ip rr_cluster_id;     /* an IPv4-formatted id */
    bool has_ipip_tunnel_addr;
    struct tby_ip ipip_tunnel_addr;
    bool has_vxlan_tunnel_addr;
    struct tby_ip vxlan_tunnel_addr;
    char *vxlan_tunnel_mac;
    bool has_vxlan_tunnel_addr_v6;
    struct tby_ip vxlan_tunnel_addr_v6;
    char *vxlan_tunnel_mac_v6;
    struct tby_node_address *addresses;
    size_t n_addresses;
    struct tby_orch_ref *orch_refs;
    size_t n_orch_refs;
    bool has_wireguard_ipv4;         /* spec.wireguard: the WireGuard interfaces' addresses */
    struct tby_ip wireguard_ipv4;
    bool has_wireguard_ipv6;
    struct tby_ip wireguard_ipv6;
    struct tby_node_interface *interfaces;
    size_t n_interfaces;
    json_t *status;                  /* written by tabby-node; kept as given, or NULL */
};

/* ---- WorkloadEndpoint and HostEndpoint ------------------------------------------------ */

struct tby_endpoint_port {
    char *name;
    int protocol;                /* TCP, UDP or SCTP */
    uint16_t port;
    uint16_t host_port;          /* 0: none */
    bool has_host_ip;
    struct tby_ip host_ip;
};

struct tby_ip_nat {
    struct tby_ip internal_ip;
    struct tby_ip external_ip;
};

struct tby_wep {
    char *orchestrator;
    char *workload;
    char *node;
    char *container_id;
    char *pod;
    char *endpoint;
    char *service_account_name;
    struct tby_cidr_list ip_networks;   /* /32 and /128 as a rule */
    struct tby_ip_nat *ip_nats;
    size_t n_ip_nats;
    bool has_ipv4_gateway;
    struct tby_ip ipv4_gateway;
    bool has_ipv6_gateway;
    struct tby_ip ipv6_gateway;
    struct tby_strv profiles;
    char *interface_name;
    char *mac;
    struct tby_endpoint_port *ports;
    size_t n_ports;
    struct tby_cidr_list allow_spoofed_source_prefixes;
};

struct tby_hep {
    char *node;
    char *interface_name;        /* "*" for all of the node's interfaces */
    struct tby_ip *expected_ips;
    size_t n_expected_ips;
    struct tby_strv profiles;
    struct tby_endpoint_port *ports;
    size_t n_ports;
};

/* ---- helpers shared by the kinds ------------------------------------------------------- */

/* "TCP" for 6, … ; NULL for a number without a Calico name. */
const char *tby_protocol_name(int number);
/* Calico's numorstring.Protocol: a name in any case (ProtocolFromString folds case), or
 * digits, which Calico reads as the number. */
bool tby_protocol_from_string(const char *s, int64_t *out);

#endif
