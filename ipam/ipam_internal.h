/* ipam_internal.h — what the files of ipam/ share (private to ipam/): the records kept in
 * the datastore, the pool and settings cache, and the working set of one attempt. */
#ifndef TABBY_IPAM_INTERNAL_H
#define TABBY_IPAM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"
#include "tabby/resource.h"
#include "tabby/selector.h"

#define IPAM_BLOCKS TBY_IPAM_BLOCK_PREFIX
#define IPAM_AFFINITIES TBY_IPAM_AFFINITY_PREFIX
#define IPAM_HANDLES TBY_IPAM_PREFIX "handles/"
/* claims/<node>: rewritten by every block claim of the node, so two processes of one
 * node claiming at once conflict (and maxBlocksPerHost holds) instead of both claiming.
 * Only on stores with multi-key transactions; elsewhere a host-local lock does it. */
#define IPAM_CLAIMS TBY_IPAM_PREFIX "claims/"
/* Room for "<address>-<prefix>". */
#define IPAM_NAME_MAX TBY_CIDR_STRLEN
/* The group and version of Calico's IPAM objects, whose spec shapes the records take. */
#define IPAM_API_VERSION "crd.projectcalico.org/v1"
/* The tabby-only free count an affinity record carries on stores with multi-key
 * transactions (an annotation, so it would survive a Calico round trip as one). */
#define IPAM_FREE_ANNOTATION "tabby.dev/free"
/* Calico's default cap when IPAMConfiguration's maxBlocksPerHost is 0. */
#define IPAM_DEFAULT_MAX_BLOCKS 20
/* Where a node's claims are serialised on stores without multi-key transactions. */
#define IPAM_DEFAULT_LOCK_FILE "/var/run/tabby/ipam.lock"

/* ---- names and keys (ipam_keys.c) -------------------------------------------------- */

/* "10.0.0.0-26": a block's name in keys. Returns buf. */
char *ipam_block_name(const struct tby_cidr *cidr, char buf[IPAM_NAME_MAX]);
int ipam_block_name_parse(const char *name, struct tby_cidr *out);
/* Keys; the caller frees. */
char *ipam_block_key(const struct tby_cidr *cidr);
char *ipam_affinity_key(const char *node, const struct tby_cidr *cidr);
char *ipam_affinity_prefix(const char *node);
char *ipam_handle_key(const char *handle);
char *ipam_claims_key(const char *node);
/* Handles and node names end up inside keys: printable ASCII, no '/'. */
int ipam_check_name(const char *what, const char *name, struct tby_error *err);
/* The block of a pool that holds ip. */
struct tby_cidr ipam_block_of(const struct tby_ip *ip, int block_size);
/* Addresses in a block of that prefix. */
uint32_t ipam_cidr_size(const struct tby_cidr *cidr);

/* ---- time texts (ipam_keys.c) ------------------------------------------------------- */

/* Wall clock in nanoseconds since the epoch (a new block's first sequence number). */
uint64_t ipam_now_ns(void);
/* RFC 3339 in UTC to the second, as Kubernetes writes metav1.Time: "2026-08-20T07:31:02Z".
 * buf holds at least 32 bytes. */
char *ipam_time_rfc3339(uint64_t ns, char *buf);
/* Go's time.Time.String() of a UTC time, as Calico's CNI stamps a pod's allocation:
 * "2026-08-22 13:45:07.123456789 +0000 UTC" (trailing zeros of the fraction dropped).
 * buf holds at least 48 bytes. */
char *ipam_time_go(uint64_t ns, char *buf);
/* Parses RFC 3339 (what ipam_time_rfc3339 writes, with or without a fraction, Z or an
 * offset); -EINVAL otherwise. */
int ipam_time_parse(const char *text, int64_t *seconds);

/* ---- hand-made JSON text (ipam_text.c) ---------------------------------------------- */

void ipam_out_uint(struct tby_buf *o, uint64_t v);
/* A string's characters with JSON's escapes, and the same within quotes. */
void ipam_out_json_chars(struct tby_buf *o, const char *s);
void ipam_out_json_string(struct tby_buf *o, const char *s);

/* Reads text exactly as the writers above make it; every function fails on anything
 * else, leaving the caller to parse the text with jansson. */
struct ipam_cursor {
    const char *p;
    const char *end;
};

bool ipam_take_n(struct ipam_cursor *c, const char *lit, size_t n);
/* Inline, so the length of a literal is known when compiling. */
static inline bool ipam_take(struct ipam_cursor *c, const char *lit)
{
    return ipam_take_n(c, lit, strlen(lit));
}
/* A string after its opening quote, without escapes: a copy (NULL: not one), or into buf. */
char *ipam_take_string(struct ipam_cursor *c);
bool ipam_take_string_into(struct ipam_cursor *c, char *buf, size_t size);
bool ipam_take_u64(struct ipam_cursor *c, uint64_t *out);
/* At most INT32_MAX. */
bool ipam_take_uint(struct ipam_cursor *c, uint32_t *out);

/* ---- blocks (ipam_block.c, stored form in ipam_block_codec.c) ------------------------- */

/* One entry of a block's "attributes": who holds the addresses pointing at it. */
struct ipam_attr {
    char *handle;           /* handle_id; NULL: none given (Calico allows it) */
    char *node;             /* secondary.node */
    char *namespace;        /* secondary.namespace: NULL when not a pod's */
    char *pod;              /* secondary.pod */
    char *timestamp;        /* secondary.timestamp (Go's time text), pods */
    char *type;             /* secondary.type, tunnel addresses */
    char *more_secondary;   /* other members of secondary, JSON text without braces */
    char *more;             /* other members (alternateOwnerAttrs, releasedAt…), likewise */
    bool released;          /* has releasedAt: in Calico's cooldown, neither free nor held */
    int64_t released_at;    /* its time, seconds since the epoch */
};

#define IPAM_NO_SEQ UINT64_MAX

struct ipam_block {
    struct tby_cidr cidr;
    char *node;             /* affinity host:<node>; NULL: none, or another kind */
    char *other_affinity;   /* an affinity that is not host:… (virtual:…), as stored */
    char *claim_time;       /* affinityClaimTime, as stored; NULL: none */
    uint64_t seq;           /* sequenceNumber: +1 on every write */
    uint64_t *seq_for;      /* sequenceNumberForAllocation per ordinal; IPAM_NO_SEQ: none */
    bool deleted;           /* marked deleted (Calico's delete in two steps): absent */
    uint32_t size;
    int32_t *owner;         /* per ordinal: -1 free, else an index into attrs */
    uint32_t *free_list;    /* free ordinals, the next to hand out first (released ones last) */
    uint32_t n_free;
    struct ipam_attr *attrs; /* may hold unreferenced entries; encode drops them */
    size_t n_attrs;
};

int ipam_strdup_or_null(const char *str, char **out);
/* dst gets copies of src's strings; -ENOMEM leaves dst empty. */
int ipam_attr_copy(struct ipam_attr *dst, const struct ipam_attr *src);
void ipam_attr_clear(struct ipam_attr *a);
bool ipam_same_str(const char *a, const char *b);

/* A new empty block, affine to node (NULL: to none): its sequence number starts at the
 * current time in nanoseconds, as Calico's do, so a block made again never repeats one. */
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
/* A block addresses may be handed out from: not a virtual (load-balancer) block. */
static inline bool ipam_block_usable(const struct ipam_block *b)
{
    return !b->other_affinity;
}
/* The ordinal of ip in the block; false when outside it. */
bool ipam_block_ordinal(const struct ipam_block *b, const struct tby_ip *ip, uint32_t *ord);
struct tby_ip ipam_block_ip(const struct ipam_block *b, uint32_t ord);
/* The allocation's attributes, or NULL when ord is free or cooling down. */
const struct ipam_attr *ipam_block_owner(const struct ipam_block *b, uint32_t ord);
bool ipam_block_is_free(const struct ipam_block *b, uint32_t ord);
/* Allocates the next free ordinal (-ENOSPC when full) or a given free one (-EEXIST when
 * taken), recording the block's sequence number for it. */
int ipam_block_take_next(struct ipam_block *b, const struct ipam_attr *attr, uint32_t *ord);
int ipam_block_take(struct ipam_block *b, uint32_t ord, const struct ipam_attr *attr);
/* Frees ord (no-op when free or cooling down); returns whether it was allocated. */
bool ipam_block_release(struct ipam_block *b, uint32_t ord);
/* Frees every ordinal of the handle; returns how many. */
uint32_t ipam_block_release_handle(struct ipam_block *b, const char *handle);
uint32_t ipam_block_count_handle(const struct ipam_block *b, const char *handle);
/* Before a write: frees the ordinals whose cooldown ended by `now` (seconds; tabby knows
 * no ipCooldownSeconds, so that is when they were released) and counts the write in the
 * sequence number. */
void ipam_block_prepare_write(struct ipam_block *b, int64_t now);

/* ---- affinity and handle records (ipam_records.c) ---------------------------------- */

enum ipam_aff_state {
    IPAM_AFF_CONFIRMED,
    IPAM_AFF_PENDING,
    IPAM_AFF_PENDING_DELETION,
};

#define IPAM_FREE_UNKNOWN UINT32_MAX

/* An affinity record, or (on stores without multi-key transactions, where records hold
 * no free count) a block standing for one in a list of every block. */
struct ipam_aff {
    struct tby_cidr cidr;
    char *node;             /* NULL: a block affine to no node */
    uint32_t free;          /* IPAM_FREE_UNKNOWN: the record holds no count */
    enum ipam_aff_state state;
    bool deleted;
    bool usable;            /* type host (not virtual) */
    int64_t mod_rev;
};

struct ipam_aff_list {
    struct ipam_aff *items;
    size_t n;
};

/* The affinity records of one node (node non-NULL) or of all, those marked deleted left
 * out. */
int ipam_aff_list_read(struct tby_store *store, const char *node, struct ipam_aff_list *out,
                       struct tby_error *err);
/* Every block with its node and free addresses: the affinity records where they carry
 * free counts, else every block read. */
int ipam_space_read(const struct tby_ipam *ipam, struct ipam_aff_list *out,
                    struct tby_error *err);
/* One record from its key and value; -EINVAL when malformed. */
int ipam_aff_decode(const struct tby_kv *kv, struct ipam_aff *out);
void ipam_aff_list_clear(struct ipam_aff_list *list);
/* The BlockAffinity record (free: IPAM_FREE_UNKNOWN writes no count). Caller frees. */
char *ipam_aff_encode(const char *node, const struct tby_cidr *cidr, enum ipam_aff_state state,
                      uint32_t free_count, size_t *len);
const char *ipam_aff_state_name(enum ipam_aff_state state);

struct ipam_handle_count {
    struct tby_cidr block;
    uint32_t count;
};

struct ipam_handle_rec {
    struct ipam_handle_count *items;
    size_t n;
    bool deleted;           /* marked deleted: absent */
};

int ipam_handle_decode(const char *text, size_t len, const char *what,
                       struct ipam_handle_rec *out, struct tby_error *err);
char *ipam_handle_encode(const char *handle, const struct ipam_handle_rec *rec, size_t *len);
/* Adds delta to the block's count (dropping it at zero). */
int ipam_handle_add(struct ipam_handle_rec *rec, const struct tby_cidr *block, int64_t delta);
/* The count of one block (0 when not named). */
uint32_t ipam_handle_count(const struct ipam_handle_rec *rec, const struct tby_cidr *block);
uint64_t ipam_handle_total(const struct ipam_handle_rec *rec);
int ipam_handle_rec_copy(struct ipam_handle_rec *dst, const struct ipam_handle_rec *src);
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
    int max_blocks_per_host;        /* as configured; 0: Calico's default cap */
    bool auto_allocate_blocks;
};

/* The cap on blocks per node: maxBlocksPerHost, or Calico's 20 when that is 0. */
int ipam_max_blocks(const struct ipam_config *config);

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
    bool multi;                     /* the store has multi-key transactions */
    char *lock_file;                /* host-local claims lock (stores without them) */
    int lock_fd;                    /* -1: not held */
    struct ipam_pool *pools;        /* sorted by name */
    size_t n_pools;
    bool pools_read;
    struct ipam_config config;
    int64_t config_rev;             /* -1: never read; 0: absent */
    json_t *node_labels;            /* this node's labels (object), cached */
    int64_t node_rev;               /* -1: never read; 0: no Node resource */
    int64_t pools_rev;              /* the store's revision when the pools were read */
    /* During an optimistic attempt: pools, settings and labels are not read again but
     * compared in its commit (node_labels_used: the labels were consulted). */
    bool settings_trusted;
    bool node_labels_used;
    unsigned rand_state;
    struct ipam_cached_block cache[IPAM_BLOCK_CACHE];
    unsigned cache_next;
    bool has_hint[2];               /* per family: the affine block used last */
    struct tby_cidr hint[2];
    struct tby_cidr *reserved;      /* every IPReservation's reservedCIDRs, read per */
    size_t n_reserved;              /* automatic assignment */
    bool reserved_read;
    int64_t reserved_rev;           /* the store's revision when they were read */
};

void ipam_cache_clear(struct tby_ipam *ipam);

/* Re-reads pools and settings when they changed since the last operation. */
int ipam_refresh(struct tby_ipam *ipam, struct tby_error *err);
/* Reads the IPReservations again, as Calico does for each automatic assignment (and only
 * there: an address asked for by name is given even when reserved, as Calico's is); an
 * optimistic attempt trusts those last read, and its commit compares them. */
int ipam_refresh_reservations(struct tby_ipam *ipam, struct tby_error *err);
/* Whether a reservation holds ip; whether one holds any address of block; whether one
 * holds the whole block (Calico claims no such block). */
bool ipam_reserved(const struct tby_ipam *ipam, const struct tby_ip *ip);
bool ipam_reserved_in(const struct tby_ipam *ipam, const struct tby_cidr *block);
bool ipam_reserved_whole(const struct tby_ipam *ipam, const struct tby_cidr *block);
/* Compares proving the pools, settings, reservations and (when consulted) node labels
 * this context holds are still the store's, for a commit that trusted them. */
int ipam_settings_compares(const struct tby_ipam *ipam, struct tby_txn *txn);
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
    struct ipam_block *blk;         /* NULL: the key is absent (or marked deleted) */
    struct tby_cidr cidr;
    int64_t mod_rev;                /* 0: absent when read (else also a deleted mark's) */
    char *read_node;                /* the affinity when read (its record is replaced) */
    bool dirty;
    bool removed;                   /* give up affinity: delete block and record */
    bool created;                   /* claimed by this attempt */
    uint32_t *taken;                /* ordinals allocated by this attempt */
    size_t n_taken, cap_taken;
    uint32_t released;              /* addresses freed by this attempt */
};

struct work_handle {
    char *id;
    int64_t mod_rev;
    struct ipam_handle_rec read;    /* as read (empty when absent) */
    struct ipam_handle_rec rec;     /* as it is to be */
    bool dirty;
};

/* Everything one attempt read and changed. Committed as one transaction that compares
 * every changed key's mod revision with the one read where the store has multi-key
 * transactions; elsewhere as Calico's ordered single-object writes (ipam_ordered.c). */
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
    /* The first attempt on a store with multi-key transactions may trust what this context
     * knows without reading it again: the commit compares every record it writes with the
     * revision trusted, so a stale one only costs a conflict and a second attempt, which
     * reads everything. */
    bool optimistic;
    bool new_handles;               /* optimistic: a handle not read is taken to be absent */
    size_t *carried;                /* releases an ordered commit made before a conflict */
};

/* The block at cidr, read once per attempt; (*out)->blk is NULL when absent. */
int work_block(struct work *w, const struct tby_cidr *cidr, struct work_block **out,
               struct tby_error *err);
/* The same, but in an optimistic attempt taken from the block cache without reading when
 * the cached copy is this node's and has room (what the caller wants of it). */
int work_block_trusted(struct work *w, const struct tby_cidr *cidr, struct work_block **out,
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
/* Allocation and release in a block of the working set, with the handles' counts. */
int work_take(struct work *w, struct work_block *wb, const struct ipam_attr *attr,
              const uint32_t *ord_given, uint32_t *ord, struct tby_error *err);
int work_release(struct work *w, struct work_block *wb, uint32_t ord, struct tby_error *err);
int work_release_handle(struct work *w, struct work_block *wb, const char *handle,
                        struct tby_error *err);
/* After a release: an empty block on a node without a Node resource, or outside every
 * pool, gives up its affinity. */
int work_retire_if_empty(struct work *w, struct work_block *wb, struct tby_error *err);
/* Gives up the block when it is empty and its node or pool is gone (ipam_release.c). */
int ipam_retire_block(struct tby_ipam *ipam, const struct tby_cidr *cidr, struct tby_error *err);
/* Finds the block covering ip: through its pool's block size, else among every block. */
int work_block_for_ip(struct work *w, const struct tby_ip *ip, struct work_block **out,
                      struct tby_error *err);

/* Runs attempt() until its changes are committed without conflict: each run starts from
 * a fresh working set, reads, decides and fills it; then it is committed (unless the
 * attempt marked it a trial). attempt() must keep its results in ctx and reset them at
 * its start. `writes`: the operation changes records, so on stores without multi-key
 * transactions it holds the node's host-local lock (as Calico's CNI plugin does). */
typedef int (*ipam_attempt_fn)(struct work *w, void *ctx, struct tby_error *err);
int ipam_run(struct tby_ipam *ipam, const char *what, bool writes, ipam_attempt_fn attempt,
             void *ctx, struct tby_error *err);
/* The same without refreshing pools and settings first, for an attempt that needs
 * neither: it reads only what it reads itself. */
int ipam_run_unrefreshed(struct tby_ipam *ipam, const char *what, bool writes,
                         ipam_attempt_fn attempt, void *ctx, struct tby_error *err);

/* The two commits of a working set (ipam_work.c, ipam_ordered.c); 0, -ECANCELED on a
 * conflict (the attempt runs again), or an error. */
int ipam_commit_txn(struct work *w, struct tby_error *err);
int ipam_commit_ordered(struct work *w, struct tby_error *err);
/* After a successful commit: the blocks written become the cache's. */
void ipam_cache_written(struct work *w, int64_t rev);

/* Writes of one record on any store: a compare-and-swap (mod_rev 0: create), a
 * compare-and-delete. -ECANCELED when the record changed. */
/* value is freed; its length is read through len once the encoder that made the value
 * has set it. */
int ipam_cas(struct tby_store *store, const char *key, int64_t mod_rev, char *value,
             const size_t *len, int64_t *rev, struct tby_error *err);
int ipam_cad(struct tby_store *store, const char *key, int64_t mod_rev, struct tby_error *err);

/* The node's host-local lock (ipam_lock.c), waited for; false when it cannot be had (the
 * operation then runs without it, as Calico's does: best effort). */
bool ipam_lock_take(struct tby_ipam *ipam);
void ipam_lock_release(struct tby_ipam *ipam);

/* On stores without multi-key transactions: finishes (or undoes) the claims and give-ups
 * of this node that a process killed half way left pending (ipam_ordered.c). */
int ipam_resume_affinities(struct tby_ipam *ipam, const struct ipam_aff_list *mine,
                           bool *changed, struct tby_error *err);

/* ---- shared helpers ----------------------------------------------------------------- */

int ipam_result_push(struct tby_ipam_result *res, const struct tby_ip *ip,
                     const struct tby_cidr *block, bool existing);
int ipam_oom(struct tby_error *err);

#endif
