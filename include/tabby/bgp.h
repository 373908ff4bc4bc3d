/* bgp.h — what one node's BIRD 2 should do, and the configuration text that says it.
 *
 * Two steps, so that rendering can be tested (and benchmarked) without a datastore:
 *   gather: BGPConfiguration, Node, BGPPeer and IPPool resources + this node's affine
 *           IPAM blocks + BGPPeer passwords  →  struct tby_bgp_input (plain values);
 *   render: struct tby_bgp_input  →  BIRD 2 configuration text.
 *
 * The renderer is deterministic: it sorts everything it prints, so the same input (in
 * any order) gives the same bytes, and an unchanged cluster never reloads BIRD. It
 * prints no user string unchecked: addresses, prefixes, AS numbers and communities are
 * printed from parsed numbers; protocol names are made from addresses; names and
 * descriptions must be DNS-1123-like; passwords must be printable ASCII without '"' or
 * '\' (BIRD's strings have no escapes). Anything else fails the render with -EINVAL and
 * a message naming the value, so a hostile BGPPeer cannot add configuration.
 *
 * What the configuration does (one BIRD for both families; IPv6 parts only when the
 * node has an IPv6 address):
 *   - `protocol static Blocks_v4`: a blackhole route per affine block, which BGP
 *     announces and the kernel gets (unallocated addresses of a block are dropped, not
 *     sent to the default route);
 *   - `protocol static Services_v4`: the service CIDRs to advertise (never to the kernel);
 *   - one `protocol bgp` per peer, named Mesh_<ip>, Global_<ip> or Node_<ip>
 *     (`_port_<n>` added to the last two for a non-default port), which `tabbyctl node
 *     status` reads back;
 *   - filter tabby_export_v4: announces local blocks and re-announces BGP routes inside
 *     enabled pools without disableBGPExport, plus the service CIDRs, with the configured
 *     communities; nothing else;
 *   - filter tabby_import_v4: accepts only routes inside IP pools (no default route or
 *     fabric prefixes from a router);
 *   - per BGPFilter a peer uses, a function per list it has rules in
 *     ('tabby_filter_<name>_import_v4'); a peer with filters calls them, in its order,
 *     before the import and export rules above, so that the first rule that matches a
 *     route accepts or rejects it (Calico's semantics);
 *   - `protocol static Reach_v4`: a host route to each peer with reachableBy through that
 *     gateway, which the kernel gets too;
 *   - filter tabby_kernel_v4: installs learned blocks of native pools with the BGP next
 *     hop, of IPIP pools through tunl0 with an onlink next hop (CrossSubnet: only for
 *     next hops outside the node's subnet), and nothing of VXLAN pools (tabby-node routes
 *     those). BIRD learns nothing from the kernel and only touches its own routes.
 *
 * Ownership: a tby_bgp_input owns every array and string hanging off it and is released
 * with tby_bgp_input_clear(); render output is a malloc'd string the caller frees.
 */
#ifndef TABBY_BGP_H
#define TABBY_BGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/net.h"
#include "tabby/store.h"
#include "tabby/strv.h"

#define TBY_BGP_DEFAULT_PORT 179
#define TBY_BGP_DEFAULT_MESH_RESTART_MS 120000
#define TBY_BGP_IPIP_DEVICE "tunl0"
/* BIRD passes passwords to the kernel as TCP-MD5 keys, which hold at most 80 bytes. */
#define TBY_BGP_PASSWORD_MAX 80

enum tby_bgp_peer_type {
    TBY_BGP_PEER_NODE,   /* a BGPPeer for this node (node, nodeSelector, peerSelector) */
    TBY_BGP_PEER_GLOBAL, /* a BGPPeer for every node */
    TBY_BGP_PEER_MESH,   /* the node-to-node mesh */
};

/* "node specific", "global", "node-to-node mesh" (calicoctl's words). */
const char *tby_bgp_peer_type_name(enum tby_bgp_peer_type type);
/* The peer type a protocol name generated here stands for; -1 for other names. */
int tby_bgp_peer_type_of_protocol(const char *protocol);

struct tby_bgp_peer {
    enum tby_bgp_peer_type type;
    struct tby_ip ip;
    uint16_t port;               /* 0: 179 */
    uint32_t as_number;
    char *password;              /* NULL: none */
    bool use_node_ip;            /* sourceAddress UseNodeIP: bind to the node's address */
    bool keep_next_hop;          /* keepOriginalNextHop (eBGP only) */
    int next_hop_mode;           /* nextHopMode (enum tby_next_hop_mode): beats keep_next_hop */
    uint32_t local_as;           /* localASNumber; 0: the node's */
    bool has_max_restart;
    uint64_t max_restart_ms;     /* graceful restart time */
    bool passive;                /* wait for the peer to connect (one side of the mesh) */
    bool rr_client;              /* this node is a route reflector and the peer its client */
    int ttl_security;            /* 0: off; else the hops allowed */
    int allow_local_as;          /* numAllowedLocalASNumbers */
    char *description;           /* where the peer came from: "BGPPeer rack1" / "Node n2" */
    struct tby_strv filters;     /* BGPFilters, in order; each must be in the input */
    bool has_reachable_by;       /* a /32 (/128) route to the peer through this gateway */
    struct tby_ip reachable_by;
};

/* A BGPFilter a peer uses: its rules per list (model.h), copied. */
struct tby_bgp_filter {
    char *name;
    struct tby_bgpfilter_rule *rules[TBY_BGPF_LISTS];
    size_t n[TBY_BGPF_LISTS];
};

struct tby_bgp_pool {
    struct tby_cidr cidr;
    enum tby_encap_mode ipip_mode;
    enum tby_encap_mode vxlan_mode;
    bool disabled;               /* still routed (blocks may be in use), not announced */
    bool disable_bgp_export;
};

struct tby_bgp_community_rule {
    struct tby_cidr cidr;        /* routes inside this prefix get the communities */
    struct tby_strv values;      /* "aa:nn" or "aa:nn:mm", names already resolved */
};

enum tby_bgp_log { TBY_BGP_LOG_DEBUG, TBY_BGP_LOG_INFO, TBY_BGP_LOG_WARNING,
                   TBY_BGP_LOG_ERROR, TBY_BGP_LOG_FATAL };

struct tby_bgp_input {
    char *node;
    struct tby_ip router_id;     /* IPv4-formatted */
    bool has_ipv4;
    struct tby_cidr ipv4;        /* the node's address with its subnet: 10.0.0.1/24 */
    bool has_ipv6;
    struct tby_cidr ipv6;
    uint32_t as_number;
    uint16_t listen_port;        /* 0: 179 */
    bool strict_bind;            /* bindMode NodeIP: listen on the node's address only */
    bool has_rr_cluster_id;
    struct tby_ip rr_cluster_id;
    enum tby_bgp_log log;
    struct tby_bgp_peer *peers;
    size_t n_peers, cap_peers;
    struct tby_bgp_pool *pools;
    size_t n_pools;
    struct tby_cidr *blocks;     /* this node's affine blocks */
    size_t n_blocks, cap_blocks;
    struct tby_cidr *services;   /* service CIDRs to advertise */
    size_t n_services;
    struct tby_bgp_community_rule *communities;
    size_t n_communities;
    struct tby_strv ignored_interfaces; /* left out of `protocol direct` (patterns) */
    struct tby_bgp_filter *filters;     /* those the peers use */
    size_t n_filters, cap_filters;
    /* Peers gather left out, one line each ("BGPPeer x: password secret y/z: ..."),
     * for the caller to log; not rendered. */
    struct tby_strv warnings;
};

void tby_bgp_input_clear(struct tby_bgp_input *in);

/* Appends a copy of *peer (strings copied). */
int tby_bgp_input_add_peer(struct tby_bgp_input *in, const struct tby_bgp_peer *peer);
/* Appends a copy of the BGPFilter `name`'s rules. */
int tby_bgp_input_add_filter(struct tby_bgp_input *in, const char *name,
                             const struct tby_bgpfilter *spec);
int tby_bgp_input_add_block(struct tby_bgp_input *in, const struct tby_cidr *block);

/* ---- render ------------------------------------------------------------------------- */

/* Renders the configuration. *out (NUL-terminated, *len bytes) is the caller's.
 * -EINVAL with a message naming the value when the input holds something that cannot be
 * printed safely or makes no sense (two peers with one protocol name, no address). */
int tby_bgp_render(const struct tby_bgp_input *in, char **out, size_t *len,
                   struct tby_error *err);

/* The protocol name for a peer ("Mesh_10_0_0_2", "Global_fd00__1_port_1790") in buf
 * (at least TBY_BGP_PROTO_STRLEN bytes); returns buf. */
#define TBY_BGP_PROTO_STRLEN 80
char *tby_bgp_protocol_name(const struct tby_bgp_peer *peer, char *buf);

/* Whether BIRD can take `password` inside a quoted string (see above). */
bool tby_bgp_password_valid(const char *password);

/* ---- gather ------------------------------------------------------------------------- */

/* Reads a BGPPeer's password. Returns 0 and a malloc'd *out, or a negative errno with a
 * message (the peer is then left out with a warning). */
typedef int (*tby_bgp_secret_fn)(void *ctx, const struct tby_secret_ref *ref, char **out,
                                 struct tby_error *err);

/* Passwords from files laid out as a Kubernetes Secret volume: <dir>/<name>/<key>, one
 * trailing newline dropped. ctx is the folder (const char *). */
int tby_bgp_secret_from_dir(void *ctx, const struct tby_secret_ref *ref, char **out,
                            struct tby_error *err);

#define TBY_BGP_SECRETS_DIR "/etc/tabby/secrets"

struct tby_resource_list;

/* Everything gather reads, as resource lists (borrowed). */
struct tby_bgp_resources {
    const struct tby_resource_list *bgpconfigs;
    const struct tby_resource_list *bgppeers;
    const struct tby_resource_list *nodes;
    const struct tby_resource_list *ippools;
    const struct tby_resource_list *bgpfilters;
    const struct tby_cidr *blocks;   /* this node's affine blocks */
    size_t n_blocks;
    tby_bgp_secret_fn secret;        /* NULL: peers with passwords are left out */
    void *secret_ctx;
};

/* Computes what `node` peers with and announces (Calico's rules): the mesh with every
 * other node that has a BGP address unless nodeToNodeMeshEnabled is false or either
 * node is a route reflector; BGPPeers for every node, for this node (node or
 * nodeSelector) and with the nodes a peerSelector picks, in both directions (a node a
 * peerSelector picks peers back with the nodes the BGPPeer is for); one session per peer
 * address (node specific before global before mesh); `rr client` where this node is a
 * route reflector and an iBGP peer is not in its cluster. -ENOENT when the node has no
 * Node resource, -EINVAL when it has no BGP address. */
int tby_bgp_gather(const char *node, const struct tby_bgp_resources *res,
                   struct tby_bgp_input *out, struct tby_error *err);

/* Reads the resources gather needs from the datastore and this node's affine blocks
 * (tby_ipam_node_blocks), adds `extra_blocks`, and gathers. */
int tby_bgp_gather_from_store(struct tby_store *store, const char *node,
                              const struct tby_cidr *extra_blocks, size_t n_extra,
                              tby_bgp_secret_fn secret, void *secret_ctx,
                              struct tby_bgp_input *out, struct tby_error *err);

struct tby_syncer;

/* The same from what a syncer holds (its resources and this node's affinity records,
 * which its consumers must have asked for): reads nothing from the datastore. */
int tby_bgp_gather_from_syncer(const struct tby_syncer *syncer, const char *node,
                               const struct tby_cidr *extra_blocks, size_t n_extra,
                               tby_bgp_secret_fn secret, void *secret_ctx,
                               struct tby_bgp_input *out, struct tby_error *err);

#endif
