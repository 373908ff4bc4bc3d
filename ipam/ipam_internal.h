/* ipam_internal.h — what the files of ipam/ share (private to ipam/): the records kept in
 * the datastore, the pool and settings cache, and the working set of one attempt. */
#ifndef TABBY_IPAM_INTERNAL_H
#define TABBY_IPAM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/resource.h"
#include "tabby/selector.h"

#define IPAM_BLOCKS TBY_IPAM_PREFIX "blocks/"
#define IPAM_AFFINITIES TBY_IPAM_PREFIX "affinities/"
#define IPAM_HANDLES TBY_IPAM_PREFIX "handles/"
/* claims/<node>: rewritten by every block claim of the node, so two processes of one
 * node claiming at once conflict (and maxBlocksPerHost holds) instead of both claiming. */
#define IPAM_CLAIMS TBY_IPAM_PREFIX "claims/"
/* Room for "<address>-<prefix>". */
#define IPAM_NAME_MAX TBY_CIDR_STRLEN

/* ---- names and keys (ipam_keys.c) -------------------------------------------------- */

/* "10.0.0.0-26": a block's name in keys and handle records. Returns buf. */
char *ipam_block_name(const struct tby_cidr *cidr, char buf[IPAM_NAME_MAX]);
int ipam_block_name_parse(const char *name, struct tby_cidr *out);
/* Keys; the caller frees. */
char *ipam_block_key(const struct tby_cidr *cidr);
char *ipam_affinity_key(const char *node, const struct tby_cidr *cidr);
char *ipam_affinity_prefix(const char *node);
char *ipam_handle_key(const char *handle);
/* Handles and node names end up inside keys (and names in records): printable ASCII,
 * no '/'. */
int ipam_check_name(const char *what, const char *name, struct tby_error *err);
/* The block of a pool that holds ip. */
struct tby_cidr ipam_block_of(const struct tby_ip *ip, int block_size);

/* ---- blocks (ipam_block.c, stored form in ipam_block_codec.c) ---------------------------------------------------------- */

struct ipam_attr {
    char *handle;
    char *node;
    char *namespace;    /* NULL: not a pod's */
    char *pod;
};

struct ipam_block {
    struct tby_cidr cidr;
    char *node;         /* the affinity; every stored block has one */
    uint32_t size;
    int32_t *owner;     /* per ordinal: -1 free, else an index into attrs */
    uint32_t *free_list; /* free ordinals, the next to hand out first (released ones last) */
    uint32_t n_free;
    struct ipam_attr *attrs; /* may hold unreferenced entries; encode drops them */
    size_t n_attrs;
};

int ipam_strdup_or_null(const char *str, char **out);
/* dst gets copies of src's strings; -ENOMEM leaves dst empty. */
int ipam_attr_copy(struct ipam_attr *dst, const struct ipam_attr *src);
void ipam_attr_clear(struct ipam_attr *a);

struct ipam_block *ipam_block_new(const struct tby_cidr *cidr, const char *node);
struct ipam_block *ipam_block_clone(const struct ipam_block *b);
void ipam_block_free(struct ipam_block *b);
TBY_DEFINE_FREEP(struct ipam_block, ipam_block_free)
/* `what` names the record in messages (its key). */
int ipam_block_decode(const char *text, size_t len, const char *what, struct ipam_block **out,
                      struct tby_error *err);
/* The stored form; NULL when out of memory. Caller frees. */
char *ipam_block_encode(const struct ipam_block *b, size_t *len);
static inline uint32_t ipam_block_in_use(const struct ipam_block *b)
{
    return b->size - b->n_free;
}
/* The ordinal of ip in the block; false when outside it. */
bool ipam_block_ordinal(const struct ipam_block *b, const struct tby_ip *ip, uint32_t *ord);
struct tby_ip ipam_block_ip(const struct ipam_block *b, uint32_t ord);
/* The allocation's attributes, or NULL when ord is free. */
const struct ipam_attr *ipam_block_owner(const struct ipam_block *b, uint32_t ord);
/* Allocates the next free ordinal (-ENOSPC when full) or a given free one (-EEXIST when
 * taken). */
int ipam_block_take_next(struct ipam_block *b, const struct ipam_attr *attr, uint32_t *ord);
int ipam_block_take(struct ipam_block *b, uint32_t ord, const struct ipam_attr *attr);
/* Frees ord (no-op when free); returns whether it was allocated. */
bool ipam_block_release(struct ipam_block *b, uint32_t ord);
/* Frees every ordinal of the handle; returns how many. */
uint32_t ipam_block_release_handle(struct ipam_block *b, const char *handle);
uint32_t ipam_block_count_handle(const struct ipam_block *b, const char *handle);

/* ---- affinity and handle records (ipam_records.c) ---------------------------------- */

struct ipam_aff {
    struct tby_cidr cidr;
    char *node;
    uint32_t free;
};

struct ipam_aff_list {
    struct ipam_aff *items;
    size_t n;
};

/* The affinity records of one node (node non-NULL) or of all. */
int ipam_aff_list_read(struct tby_store *store, const char *node, struct ipam_aff_list *out,
                       struct tby_error *err);
/* One record from its key and value; -EINVAL when malformed. */
int ipam_aff_decode(const struct tby_kv *kv, struct ipam_aff *out);
void ipam_aff_list_clear(struct ipam_aff_list *list);
char *ipam_aff_encode(const struct ipam_block *b, size_t *len);

struct ipam_handle_count {
    struct tby_cidr block;
    uint32_t count;
};

struct ipam_handle_rec {
    struct ipam_handle_count *items;
    size_t n;
};

int ipam_handle_decode(const char *text, size_t len, const char *what,
                       struct ipam_handle_rec *out, struct tby_error *err);
char *ipam_handle_encode(const char *handle, const struct ipam_handle_rec *rec, size_t *len);
/* Adds delta to the block's count (dropping it at zero). */
int ipam_handle_add(struct ipam_handle_rec *rec, const struct tby_cidr *block, int64_t delta);
uint64_t ipam_handle_total(const struct ipam_handle_rec *rec);
void ipam_handle_rec_clear(struct ipam_handle_rec *rec);

/* ---- pools and settings (ipam_pools.c) --------------------------------------------- */

struct ipam_pool {
    const char *name;               /* owned by res */
    const struct tby_ippool *spec;  /* owned by res */
    struct tby_resource *res;
    struct tby_sel *sel;            /* the parsed nodeSelector */
    char *key;
    int64_t mod_rev;
};

struct ipam_config {
    bool strict_affinity;
    int max_blocks_per_host;        /* 0: no limit */
    bool auto_allocate_blocks;
};

/* Pools a request may use, in the order to try them. */
struct ipam_cands {
    const struct ipam_pool **items;
    size_t n;
    char why[512];                  /* when none: why each pool was passed over */
};

/* Decoded blocks by mod revision: a block this process wrote (or read) last is not
 * parsed again while nobody else changes it. */
#define IPAM_BLOCK_CACHE 8

struct ipam_cached_block {
    struct ipam_block *blk;
    int64_t mod_rev;
};

struct tby_ipam {
    struct tby_store *store;
    char *node;
    struct ipam_pool *pools;        /* sorted by name */
    size_t n_pools;
    bool pools_read;
    struct ipam_config config;
    int64_t config_rev;             /* -1: never read; 0: absent */
    json_t *node_labels;            /* this node's labels (object), cached */
    int64_t node_rev;               /* -1: never read; 0: no Node resource */
    unsigned rand_state;
    struct ipam_cached_block cache[IPAM_BLOCK_CACHE];
    unsigned cache_next;
    bool has_hint[2];               /* per family: the affine block used last */
    struct tby_cidr hint[2];
};

void ipam_cache_clear(struct tby_ipam *ipam);

/* Re-reads pools and settings when they changed since the last operation. */
int ipam_refresh(struct tby_ipam *ipam, struct tby_error *err);
const struct ipam_pool *ipam_pool_for_ip(const struct tby_ipam *ipam, const struct tby_ip *ip);
const struct ipam_pool *ipam_pool_for_block(const struct tby_ipam *ipam,
                                            const struct tby_cidr *block);
int ipam_candidates(struct tby_ipam *ipam, int family, unsigned use,
                    const struct tby_strv *requested, struct ipam_cands *out,
                    struct tby_error *err);
void ipam_cands_clear(struct ipam_cands *c);
/* Whether a Node resource of that name exists. */
int ipam_node_exists(struct tby_ipam *ipam, const char *node, bool *out, struct tby_error *err);
/* "IPv4" / "IPv6". */
const char *ipam_family_name(int family);

/* ---- the working set of one attempt (ipam_work.c) ---------------------------------- */

struct work_block {
    struct ipam_block *blk;         /* NULL: the key is absent */
    struct tby_cidr cidr;
    int64_t mod_rev;                /* 0: absent when read */
    char *read_node;                /* the affinity when read (its record is replaced) */
    bool dirty;
    bool removed;                   /* give up affinity: delete block and record */
};

struct work_handle {
    char *id;
    int64_t mod_rev;
    struct ipam_handle_rec rec;
    bool dirty;
};

/* Everything one attempt read and changed; committed as one transaction that compares
 * every changed key's mod revision with the one read. */
struct work {
    struct tby_ipam *ipam;
    struct work_block **blocks;     /* each allocated alone: pointers stay valid */
    size_t n_blocks;
    struct work_handle **handles;
    size_t n_handles;
    bool claims_read;               /* this node's claims record, read before its blocks */
    int64_t claims_rev;
    bool claimed;                   /* a block was claimed: rewrite the record */
    const char *forget_claims_of;   /* a node whose last block went: delete its record */
    bool trial;                     /* a trial: its changes are thrown away, not committed */
};

/* The block at cidr, read once per attempt; (*out)->blk is NULL when absent. */
int work_block(struct work *w, const struct tby_cidr *cidr, struct work_block **out,
               struct tby_error *err);
/* Makes an absent block exist, affine to node (this context's node: it is a claim). */
int work_create_block(struct work *w, struct work_block *wb, const char *node);
/* Reads this node's claims record; must come before reading the node's blocks, so that a
 * claim committed by another process after that read makes this attempt's claim fail. */
int work_read_claims(struct work *w, struct tby_error *err);
/* The handle's record, read once per attempt (empty when absent). */
int work_handle(struct work *w, const char *id, struct work_handle **out,
                struct tby_error *err);
/* Appends the addresses the handle holds (as `existing`) to out. */
int work_handle_ips(struct work *w, const char *handle, struct tby_ipam_result *out,
                    struct tby_error *err);
/* Records `delta` addresses of the handle in the block. */
int work_count(struct work *w, const char *handle, const struct tby_cidr *block, int64_t delta,
               struct tby_error *err);
/* After a release: an empty block on a node without a Node resource, or outside every
 * pool, gives up its affinity. */
int work_retire_if_empty(struct work *w, struct work_block *wb, struct tby_error *err);
/* Finds the block covering ip: through its pool's block size, else among every block. */
int work_block_for_ip(struct work *w, const struct tby_ip *ip, struct work_block **out,
                      struct tby_error *err);

/* Runs attempt() until its transaction commits without conflict: each run starts from a
 * fresh working set, reads, decides and fills it; then it is committed (unless the
 * attempt marked it a trial). attempt() must keep its results in ctx and reset them at
 * its start. */
typedef int (*ipam_attempt_fn)(struct work *w, void *ctx, struct tby_error *err);
int ipam_run(struct tby_ipam *ipam, const char *what, ipam_attempt_fn attempt, void *ctx,
             struct tby_error *err);
/* The same without refreshing pools and settings first, for an attempt that needs
 * neither: it reads only what it reads itself. */
int ipam_run_unrefreshed(struct tby_ipam *ipam, const char *what, ipam_attempt_fn attempt,
                         void *ctx, struct tby_error *err);

/* ---- shared helpers ----------------------------------------------------------------- */

int ipam_result_push(struct tby_ipam_result *res, const struct tby_ip *ip,
                     const struct tby_cidr *block, bool existing);
int ipam_oom(struct tby_error *err);

#endif
