/* ipam.h — IP address management: IP pools carved into per-node blocks, and allocation
 * that never hands out one address twice.
 *
 * Owns: the IPAM records in the datastore, under /tabby/v1/ipam/:
 *   blocks/<network>-<prefix>        one block of a pool: its CIDR, the node it is affine
 *                                    to, and per address whether it is allocated, to which
 *                                    handle and with which attributes (node, namespace, pod)
 *   affinities/<node>/<block name>   one per block, so a node's blocks are one range read;
 *                                    holds the block's CIDR and its count of free addresses,
 *                                    so finding space never needs every block read
 *   handles/<handle>                 per block, how many addresses the handle holds there
 *   claims/<node>                    rewritten by each block the node claims, so that two
 *                                    processes of one node claiming at once conflict
 * Watchers of affinities/ (the BGP and route drivers) see a put on every allocation
 * in the block (the free count); the set of keys changes only when blocks are claimed
 * or given up. tby_ipam_usage lists every block with its node.
 * A block and its affinity record always change together, in one transaction; an
 * allocation or release changes its blocks, their affinity records and its handles in one
 * transaction that compares the mod revision of every key it read, so two processes (or
 * nodes) never hand out one address twice and a process killed half way leaves either all
 * of a change or none of it. On a conflict the operation re-reads and tries again.
 *
 * Pools and settings come from the catalog: IPPool (cidr, blockSize, disabled,
 * nodeSelector against the Node's labels, allowedUses) and IPAMConfiguration "default"
 * (strictAffinity, maxBlocksPerHost (0: no limit), autoAllocateBlocks).
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

/* Who an allocation is for. Both NULL for addresses that are not a pod's. */
struct tby_ipam_attrs {
    const char *namespace;
    const char *pod;
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

/* The blocks affine to `node`, sorted by address: one range read of its affinity records,
 * with no IPAM context, so a driver can call it on every change it watches. Records whose
 * names are not blocks are skipped. Caller frees *out (NULL when *n is 0). */
int tby_ipam_node_blocks(struct tby_store *store, const char *node, struct tby_cidr **out,
                         size_t *n, struct tby_error *err);

/* Where the affinity records live, for watchers (the syncer's record_prefix). */
#define TBY_IPAM_AFFINITY_PREFIX TBY_IPAM_PREFIX "affinities/"

/* Splits an affinity record's key, TBY_IPAM_AFFINITY_PREFIX "<node>/<block name>", into
 * the node (*node points into key, *node_len bytes) and the block. -EINVAL for any other
 * key. */
int tby_ipam_affinity_key_parse(const char *key, const char **node, size_t *node_len,
                                struct tby_cidr *block);
/* Where the blocks live, for watchers (IPAM upkeep works from the syncer's copy). */
#define TBY_IPAM_BLOCK_PREFIX TBY_IPAM_PREFIX "blocks/"

/* What a watcher needs of a block record. */
struct tby_ipam_block_info {
    struct tby_cidr cidr;
    char *node;                     /* its host affinity; NULL: none */
    uint32_t size;
    uint32_t in_use;                /* addresses allocated */
};

/* Reads a block record (a key under TBY_IPAM_BLOCK_PREFIX and its value); -EINVAL when it
 * is none or malformed, -ENOMEM. Clear *out with tby_ipam_block_info_clear. */
int tby_ipam_block_record(const struct tby_kv *kv, struct tby_ipam_block_info *out);
void tby_ipam_block_info_clear(struct tby_ipam_block_info *info);
/* Whether the block record has ip allocated to handle (false for any other record). */
bool tby_ipam_block_record_holds(const struct tby_kv *kv, const struct tby_ip *ip,
                                 const char *handle);

/* What a watcher (the syncer's cache) needs of an affinity record: the node (*node points
 * into kv's key or value, *node_len bytes) and the block it routes. -EINVAL for a record
 * that is no affinity, or one whose block is not (or no longer) the node's to route. */
int tby_ipam_affinity_record(const struct tby_kv *kv, const char **node, size_t *node_len,
                             struct tby_cidr *block);

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
 * alone — no pools, no Node — and, while it is still empty and still the node's, removes
 * it and its affinity record in one compare-and-swap (retried on conflict); with
 * forget_claims, the node's claims record too (the last block of a deleted node).
 * *removed (may be NULL) says whether it went. */
int tby_ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *block, const char *node,
                          bool forget_claims, bool *removed, struct tby_error *err);

/* Sets IPAMConfiguration default's strictAffinity, creating it when missing. */
int tby_ipam_set_strict_affinity(struct tby_ipam *ipam, bool strict, struct tby_error *err);

/* ---- consistency check (tabbyctl ipam check) ------------------------------------------ */

enum tby_ipam_problem_kind {
    /* A pod's address that no WorkloadEndpoint uses. */
    TBY_IPAM_LEAKED_ADDRESS,
    /* A block no pool contains (any more). */
    TBY_IPAM_BLOCK_WITHOUT_POOL,
    /* A handle record whose blocks hold nothing for it. */
    TBY_IPAM_HANDLE_WITHOUT_ADDRESSES,
    /* Records that disagree: a handle record's counts and its blocks, a block and its
     * affinity record. Transactions make these impossible; the check proves it. */
    TBY_IPAM_HANDLE_MISMATCH,
    TBY_IPAM_AFFINITY_MISMATCH,
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

/* Reads every IPAM record (one consistent snapshot) and the WorkloadEndpoints, and
 * reports what is wrong. With `repair`: releases leaked addresses (only while the same
 * handle still holds them), removes empty blocks without a pool, deletes handles without
 * addresses and rewrites records that disagree from the blocks, each as a
 * compare-and-swap against the snapshot (a record that changed meanwhile is left for
 * the next check). */
int tby_ipam_check(struct tby_ipam *ipam, bool repair, struct tby_ipam_report *out,
                   struct tby_error *err);
void tby_ipam_report_clear(struct tby_ipam_report *report);
const char *tby_ipam_problem_name(enum tby_ipam_problem_kind kind);

#endif
