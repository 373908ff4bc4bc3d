/* ipam.h — IP address management: IP pools carved into per-node blocks, and allocation
 * that never hands out one address twice.
 *
 * Owns: the IPAM records in the datastore, under /tabby/v1/ipam/. Their values are
 * Calico's IPAM objects of the crd.projectcalico.org/v1 group, spec for spec, in a
 * resource-like envelope ({"apiVersion":"crd.projectcalico.org/v1","kind":…,"metadata":…,
 * "spec":{…}}) that carries no name: a store that keeps them as Kubernetes objects (the
 * k8s: backend) names each by Calico's rule from the key, and makes the key from the spec.
 *   blocks/<addr>-<prefix>          IPAMBlock (ipamblocks/10-244-3-0-26): cidr, affinity
 *                                   ("host:<node>"; absent, or "virtual:…", which tabby
 *                                   reads but never allocates from), affinityClaimTime,
 *                                   allocations, unallocated (a FIFO: released addresses
 *                                   are reused last), attributes ({handle_id, secondary:
 *                                   {node, namespace, pod, timestamp} for pods, {node,
 *                                   type} for tunnel addresses}; other members kept),
 *                                   sequenceNumber (+1 on every write; a new block starts
 *                                   at the time in ns) and sequenceNumberForAllocation,
 *                                   deleted (true: read as absent), strictAffinity false.
 *   affinities/<node>/<addr>-<prefix>  BlockAffinity (blockaffinities/<node>-<cidr name>):
 *                                   state pending/confirmed/pendingDeletion, node, type
 *                                   host, cidr, deleted "true"/"false" (a string, as the v1
 *                                   CRD has it); metadata.labels are Calico 3.31's
 *                                   projectcalico.org/hostname-hash (SHA3-256 of the node,
 *                                   base32), /affinity-type and /ip-version, so one node's
 *                                   records are a label query there. On stores with
 *                                   multi-key transactions only, the annotation
 *                                   tabby.dev/free holds the block's free count.
 *   handles/<handle>                IPAMHandle (ipamhandles/<lower-case handle>): handleID
 *                                   (the handle as given), block (map of block CIDR text
 *                                   to the addresses held there), deleted.
 *   claims/<node>                   tabby's own, with no counterpart in Calico: rewritten
 *                                   by each block the node claims, so that two processes
 *                                   of one node claiming at once conflict. Only on stores
 *                                   with multi-key transactions.
 * Records written by tabby before these shapes are not read (a one-time incompatible
 * change: tabby had not been released).
 *
 * Writes, on stores with multi-key transactions (sqlite, etcd): an allocation or release
 * changes its blocks, their affinity records and its handles in one transaction that
 * compares the mod revision of every key it read, so two processes (or nodes) never hand
 * out one address twice and a process killed half way leaves all of a change or none. On
 * a conflict the operation re-reads and tries again. On stores without (the Kubernetes
 * API) the same work is written as Calico orders it, one object at a time, each write a
 * compare-and-swap: an allocation increments its handle before writing the block (and
 * decrements it again when the block write fails), a release writes the block before the
 * handle, a claim writes its affinity pending, then the block, then the affinity
 * confirmed, and giving a block up marks the affinity pendingDeletion before deleting the
 * block and then the affinity. A process killed between two writes leaves at most a
 * handle counting addresses no block gives it, or an affinity that is not confirmed;
 * `ipam check` names either exactly, and the node's next operation finishes or undoes
 * its own half-made claims. There, the processes of one node serialise their operations
 * on a host-local lock file (as Calico's CNI plugin does with /var/run/calico/ipam.lock):
 * tby_ipam_set_lock_file, else $TABBY_IPAM_LOCK_FILE, else /var/run/tabby/ipam.lock.
 * Watchers of affinities/ (the BGP and route drivers) see a put on every allocation in
 * the block where free counts are kept; the set of keys changes only when blocks are
 * claimed or given up.
 *
 * Pools and settings come from the catalog: IPPool (cidr, blockSize, disabled,
 * nodeSelector against the Node's labels, allowedUses) and IPAMConfiguration "default"
 * (strictAffinity, maxBlocksPerHost, autoAllocateBlocks). As in Calico, maxBlocksPerHost
 * 0 means a cap of 20 blocks per node, not "no limit".
 *
 * Allocation order, per address family (Calico's): a free address in a block affine to
 * this node; else claim a new block for this node (unless autoAllocateBlocks is false or
 * the node holds maxBlocksPerHost blocks); else borrow a free address from another node's
 * block (unless strictAffinity is true or the block limit was reached); else fail with
 * -ENOSPC naming the pools tried. Pools are tried in the order requested, or by name when
 * the request names none; requested pools are used whatever their nodeSelector (as
 * Calico does), unrequested ones only when their nodeSelector matches this node.
 *
 * Housekeeping: a block that becomes empty gives up its affinity (and is removed) when
 * its node has no Node resource or no pool contains it any more.
 *
 * Errors (negative errno, message in struct tby_error): -EINVAL bad request (unknown pool,
 * address outside every pool, disabled pool, use not allowed); -ENOENT no pool can serve
 * the request; -ENOSPC the pools are exhausted; -EEXIST a requested address is taken;
 * -EAGAIN the datastore is unreachable, or conflicts went on for too long.
 *
 * Ownership: struct tby_ipam is freed with tby_ipam_free (before its store); results,
 * allocation lists, usage, holders and reports are the caller's, freed with their _clear
 * functions.
 */
#ifndef TABBY_IPAM_H
#define TABBY_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/model.h"
#include "tabby/net.h"
#include "tabby/store.h"
#include "tabby/strv.h"

#define TBY_IPAM_PREFIX "/tabby/v1/ipam/"

struct tby_ipam;

/* The context of every IPAM operation: the store (borrowed; it must outlive the
 * context) and the node allocations are made for (may be NULL for tools that only
 * look, release or check). Caches pools and settings between operations, re-reading
 * them when the store says they changed. */
int tby_ipam_new(struct tby_store *store, const char *node, struct tby_ipam **out,
                 struct tby_error *err);
void tby_ipam_free(struct tby_ipam *ipam);
TBY_DEFINE_FREEP(struct tby_ipam, tby_ipam_free)
const char *tby_ipam_node(const struct tby_ipam *ipam);
/* The host-local lock file that serialises this node's operations on stores without
 * multi-key transactions (copied; its folder is made when missing). -ENOMEM. */
int tby_ipam_set_lock_file(struct tby_ipam *ipam, const char *path);

/* Who an allocation is for, as the allocation's attributes say (with this node, and for
 * pods the time). namespace and pod are NULL for addresses that are not a pod's; type is
 * Calico's kind of a tunnel address ("vxlanTunnelAddress", "vxlanV6TunnelAddress", …). */
struct tby_ipam_attrs {
    const char *namespace;
    const char *pod;
    const char *type;
};

struct tby_ipam_request {
    const char *handle;             /* "k8s-pod-network.<container id>" for pods */
    struct tby_ipam_attrs attrs;
    unsigned num_v4;
    unsigned num_v6;
    /* Pool names or CIDRs to use, in order; NULL or empty: every pool. */
    const struct tby_strv *v4_pools;
    const struct tby_strv *v6_pools;
    unsigned use;                   /* TBY_POOL_USE_WORKLOAD (0 means it) or _TUNNEL */
    /* Addresses the handle already holds of a family satisfy that family's request
     * (an ADD repeated for one container gets its addresses back). */
    bool reuse_handle;
};

struct tby_ipam_addr {
    struct tby_ip ip;
    struct tby_cidr block;
    bool existing;                  /* held by the handle before this request */
};

/* IPv4 addresses first, then IPv6. */
struct tby_ipam_result {
    struct tby_ipam_addr *items;
    size_t n;
};

void tby_ipam_result_clear(struct tby_ipam_result *result);

/* Allocates req->num_v4 + req->num_v6 addresses for the handle, all in one transaction:
 * every address or none. */
int tby_ipam_auto_assign(struct tby_ipam *ipam, const struct tby_ipam_request *req,
                         struct tby_ipam_result *out, struct tby_error *err);

/* Whether tby_ipam_auto_assign would allocate the request now: the same attempt, whose
 * changes are thrown away instead of committed, so nothing is written (a CNI STATUS
 * asks it). 0, or the error the allocation would give (-ENOENT, -ENOSPC, -EINVAL,
 * -EAGAIN). */
int tby_ipam_try_assign(struct tby_ipam *ipam, const struct tby_ipam_request *req,
                        struct tby_error *err);

/* Allocates exactly these addresses (all or none). Each must lie in an enabled pool that
 * allows `use` (0: Workload) and be free, or already belong to `handle`. */
int tby_ipam_assign_ips(struct tby_ipam *ipam, const struct tby_ip *ips, size_t n,
                        const char *handle, const struct tby_ipam_attrs *attrs, unsigned use,
                        struct tby_error *err);

/* Releases every address of the handle together. A handle holding nothing is a no-op.
 * *released (may be NULL) counts the addresses freed. */
int tby_ipam_release_handle(struct tby_ipam *ipam, const char *handle, size_t *released,
                            struct tby_error *err);
/* Releases these addresses (together); free ones are skipped. */
int tby_ipam_release_ips(struct tby_ipam *ipam, const struct tby_ip *ips, size_t n,
                         size_t *released, struct tby_error *err);
/* The same, but each address only while `handle` holds it: one handed to someone else
 * since the caller looked is left alone. */
int tby_ipam_release_ips_of(struct tby_ipam *ipam, const char *handle, const struct tby_ip *ips,
                            size_t n, size_t *released, struct tby_error *err);

/* The addresses the handle holds (none: an empty result). */
int tby_ipam_ips_by_handle(struct tby_ipam *ipam, const char *handle,
                           struct tby_ipam_result *out, struct tby_error *err);

/* One allocated address and its handle. */
struct tby_ipam_alloc {
    struct tby_ip ip;
    char *handle;
};

struct tby_ipam_alloc_list {
    struct tby_ipam_alloc *items;   /* sorted by handle, then address */
    size_t n;
};

/* The addresses allocated for `node` whose handle starts with handle_prefix (NULL: any):
 * by the allocation's own node, so addresses the node borrowed from other nodes' blocks
 * count and other nodes' allocations in its blocks do not. One range read of every
 * block (a CNI GC asks it). */
int tby_ipam_node_allocations(struct tby_ipam *ipam, const char *node, const char *handle_prefix,
                              struct tby_ipam_alloc_list *out, struct tby_error *err);
void tby_ipam_alloc_list_clear(struct tby_ipam_alloc_list *list);

/* An address allocated by a node other than its block's (calicoctl ipam show
 * --show-borrowed): from another node's block, or from a block affine to none. */
struct tby_ipam_borrowed {
    struct tby_ip ip;
    char *node;                     /* the node that allocated it */
    struct tby_cidr block;
    char *block_node;               /* the block's affinity ("" for none) */
    char *type;                     /* "pod", a tunnel type ("vxlanTunnelAddress"), or NULL */
    char *allocated_to;             /* "namespace/pod" for a pod's, else NULL */
};

struct tby_ipam_borrowed_list {
    struct tby_ipam_borrowed *items;    /* by address */
    size_t n, cap;
    size_t unclassified;            /* allocations that name no node */
};

/* One range read of every block. */
int tby_ipam_borrowed(struct tby_ipam *ipam, struct tby_ipam_borrowed_list *out,
                      struct tby_error *err);
void tby_ipam_borrowed_list_clear(struct tby_ipam_borrowed_list *list);

/* Who holds an address. */
struct tby_ipam_holder {
    bool in_pool;                   /* some IPPool contains the address */
    char *pool;                     /* its name, or NULL */
    bool has_block;                 /* a block covers it */
    struct tby_cidr block;
    char *block_node;               /* the block's affinity */
    bool allocated;
    char *handle;
    char *node;
    char *namespace;
    char *pod;
};

int tby_ipam_lookup_ip(struct tby_ipam *ipam, const struct tby_ip *ip,
                       struct tby_ipam_holder *out, struct tby_error *err);
void tby_ipam_holder_clear(struct tby_ipam_holder *holder);

/* ---- for the drivers that route blocks (BGP, routes) ------------------------------------ */

/* The blocks affine to `node` that its routes follow (affinities confirmed or being given
 * up, as Calico's BGP daemon advertises), sorted by address: one range read of its
 * affinity records, with no IPAM context, so a driver can call it on every change it
 * watches. Malformed records are skipped. Caller frees *out (NULL when *n is 0). */
int tby_ipam_node_blocks(struct tby_store *store, const char *node, struct tby_cidr **out,
                         size_t *n, struct tby_error *err);

/* Where the affinity records live, for watchers (the syncer's record_prefix). */
#define TBY_IPAM_AFFINITY_PREFIX TBY_IPAM_PREFIX "affinities/"

/* Splits an affinity record's key, TBY_IPAM_AFFINITY_PREFIX "<node>/<block name>", into
 * the node (*node points into key, *node_len bytes) and the block. -EINVAL for any other
 * key. */
int tby_ipam_affinity_key_parse(const char *key, const char **node, size_t *node_len,
                                struct tby_cidr *block);

enum tby_ipam_affinity_state {
    TBY_IPAM_AFFINITY_CONFIRMED,
    TBY_IPAM_AFFINITY_PENDING,          /* a claim under way: not the node's yet */
    TBY_IPAM_AFFINITY_PENDING_DELETION, /* being given up: still the node's */
};

/* An affinity record, as a watcher holding the record's key and value sees it. */
struct tby_ipam_affinity {
    const char *node;                   /* points into the key; node_len bytes */
    size_t node_len;
    struct tby_cidr block;
    enum tby_ipam_affinity_state state;
    bool deleted;                       /* marked deleted: to be read as absent */
};

/* Decodes an affinity record (key and value); -EINVAL when it is not one. */
int tby_ipam_affinity_decode(const struct tby_kv *kv, struct tby_ipam_affinity *out);
/* Whether the block is the node's for routing: confirmed or pendingDeletion, not deleted
 * (a pending claim may still fail; Calico's BGP daemon ignores it too). */
bool tby_ipam_affinity_routable(const struct tby_ipam_affinity *aff);

/* Where the blocks live, for watchers (tabby-node's IPAM upkeep and registration work
 * from the syncer's copy). */
#define TBY_IPAM_BLOCK_PREFIX TBY_IPAM_PREFIX "blocks/"

/* A block record, summed up. */
struct tby_ipam_block_info {
    struct tby_cidr cidr;
    char *node;                         /* its host affinity; NULL: none, or not a host's */
    bool usable;                        /* not a virtual (load-balancer) block */
    bool deleted;                       /* marked deleted: to be read as absent */
    uint32_t size;
    uint32_t in_use;                    /* allocated (or cooling down) addresses */
};

/* Decodes a block record (key and value); -EINVAL when it is not one, -ENOMEM. */
int tby_ipam_block_info_decode(const struct tby_kv *kv, struct tby_ipam_block_info *out);
void tby_ipam_block_info_clear(struct tby_ipam_block_info *info);
/* Whether the block record (not marked deleted) has ip allocated to handle; false for
 * any other record. */
bool tby_ipam_block_holds(const struct tby_kv *kv, const struct tby_ip *ip, const char *handle);

/* ---- usage (tabbyctl ipam show) --------------------------------------------------- */

struct tby_ipam_pool_usage {
    char *name;
    struct tby_cidr cidr;
    bool disabled;
    uint64_t size;                  /* saturates at UINT64_MAX for huge IPv6 pools */
    uint64_t in_use;
};

struct tby_ipam_block_usage {
    struct tby_cidr cidr;
    char *node;
    char *pool;                     /* NULL: no pool contains the block */
    uint32_t size;
    uint32_t in_use;
};

struct tby_ipam_usage {
    struct tby_ipam_pool_usage *pools;  /* by name */
    size_t n_pools;
    struct tby_ipam_block_usage *blocks; /* by address */
    size_t n_blocks;
};

int tby_ipam_usage(struct tby_ipam *ipam, struct tby_ipam_usage *out, struct tby_error *err);
void tby_ipam_usage_clear(struct tby_ipam_usage *usage);

/* ---- housekeeping ------------------------------------------------------------------- */

/* For a deleted Node: removes its empty blocks now (the others go when they empty).
 * *removed (may be NULL) counts the blocks removed. */
int tby_ipam_release_node(struct tby_ipam *ipam, const char *node, size_t *removed,
                          struct tby_error *err);
/* Removes every empty block whose node has no Node resource or that no pool contains. */
int tby_ipam_gc_blocks(struct tby_ipam *ipam, size_t *removed, struct tby_error *err);
/* For a caller that decided from a watched copy of the records (tabby-node's upkeep) that
 * the empty block at `block`, affine to `node` (NULL: to none), is to go: reads that block
 * alone — no pools, no Node — and, while it is still empty and still the node's, gives it
 * up as any IPAM change is committed (retried on conflict): the block and its affinity
 * record in one transaction, with forget_claims the node's claims record too (the last
 * block of a deleted node); or, on stores without multi-key transactions, Calico's
 * sequence (the affinity pendingDeletion, the block deleted, the affinity deleted).
 * Virtual blocks are never given up. *removed (may be NULL) says whether it went. */
int tby_ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *block, const char *node,
                          bool forget_claims, bool *removed, struct tby_error *err);

/* What `tabbyctl ipam configure` (calicoctl's) changes; a has_ flag false leaves it. */
struct tby_ipam_settings {
    bool has_strict_affinity, strict_affinity;
    bool has_max_blocks;
    int max_blocks_per_host;        /* 0..1000000 (Calico's bounds); 0: the default cap */
};

/* Sets IPAMConfiguration default's fields, creating it when missing, with a compare on
 * what it read (retried on conflict). As Calico's SetIPAMConfig, refuses (-EINVAL) a
 * result with maxBlocksPerHost set and strictAffinity false, or strictAffinity and
 * autoAllocateBlocks both false. */
int tby_ipam_configure(struct tby_ipam *ipam, const struct tby_ipam_settings *settings,
                       struct tby_error *err);
/* tby_ipam_configure of strictAffinity alone. */
int tby_ipam_set_strict_affinity(struct tby_ipam *ipam, bool strict, struct tby_error *err);

/* ---- consistency check (tabbyctl ipam check) ------------------------------------------ */

enum tby_ipam_problem_kind {
    /* A pod's address that no WorkloadEndpoint uses (Calico's leaked addresses). */
    TBY_IPAM_LEAKED_ADDRESS,
    /* A block no pool contains (any more). */
    TBY_IPAM_BLOCK_WITHOUT_POOL,
    /* A handle record whose blocks hold nothing for it (Calico's leaked handles). */
    TBY_IPAM_HANDLE_WITHOUT_ADDRESSES,
    /* A handle record whose counts disagree with its blocks, or a handle the blocks
     * name with no record (Calico's missing handles). */
    TBY_IPAM_HANDLE_MISMATCH,
    /* A block affine to a node without that node's affinity record (or with a wrong free
     * count), or an affinity record without its block. */
    TBY_IPAM_AFFINITY_MISMATCH,
    /* An affinity left pending or pendingDeletion (a claim or give-up cut short). */
    TBY_IPAM_AFFINITY_NOT_CONFIRMED,
    /* An address a pod's endpoint or a node's tunnel uses, inside a pool, that no block
     * allocates. Never repaired. */
    TBY_IPAM_NOT_ALLOCATED,
    /* A block that cannot be read (never repaired), or with attributes no allocation
     * points at, or released in the future. */
    TBY_IPAM_INVALID_BLOCK,
};

struct tby_ipam_problem {
    enum tby_ipam_problem_kind kind;
    char *handle;                   /* NULL when not about a handle */
    bool has_ip;
    struct tby_ip ip;
    bool has_block;
    struct tby_cidr block;
    char *detail;                   /* one line, for people */
    bool fixed;                     /* repaired by this check */
};

struct tby_ipam_report {
    size_t n_blocks;
    size_t n_handles;
    size_t n_allocations;
    struct tby_ipam_problem *items;
    size_t n, cap;
};

/* Reads every IPAM record (one consistent snapshot), the WorkloadEndpoints and the
 * Nodes, and reports what is wrong, as calicoctl ipam check does and more. With
 * `repair`: releases leaked addresses (only while the same handle still holds them),
 * gives up empty blocks without a pool, deletes handles without addresses, rewrites
 * handle and affinity records that disagree from the blocks, confirms or deletes
 * affinities left unconfirmed, and rewrites blocks holding unused attributes. Each repair
 * writes the one record repaired, compared with the snapshot's revision; the records the
 * decision read are compared in the same transaction where the store has multi-key
 * transactions, else read again just before. A record that changed meanwhile is left
 * for the next check. */
int tby_ipam_check(struct tby_ipam *ipam, bool repair, struct tby_ipam_report *out,
                   struct tby_error *err);
void tby_ipam_report_clear(struct tby_ipam_report *report);
const char *tby_ipam_problem_name(enum tby_ipam_problem_kind kind);

#endif
