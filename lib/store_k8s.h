/* store_k8s.h — the k8s: datastore backend's parts (private to lib/store_k8s*.c).
 *
 * On k8s: tabby's keys are views of Kubernetes API objects: /tabby/v1/ippools/pool-a is
 * the custom resource ippools.crd.projectcalico.org/pool-a, a WorkloadEndpoint is a Pod,
 * a Profile kns.prod is the Namespace prod. One table (store_k8s_keys.c) says, for every
 * key space, which API type(s) hold it and which converter turns an object into tabby's
 * (key, value) and a value back into a request. Values are exactly what sqlite and etcd
 * hold (tabby's v3 JSON without resourceVersion, which travels as the key's mod_rev =
 * the object's resourceVersion), so nothing above the store knows the difference.
 *
 * Reading is lenient: fields tabby's model does not know (Calico's newer ones) are left
 * out of the value (logged once per kind and field) but kept in the object; a write
 * applies tabby's value onto the object last read, so they survive (store_k8s_view.c).
 *
 * Files, one concept each:
 *   store_k8s.c          the backend: open, get, range, revision, the raw-object cache
 *   store_k8s_keys.c     the table of key spaces and API types; key parsing
 *   store_k8s_meta.c     Calico CR metadata <-> v3 metadata; UIDs; resourceVersions
 *   store_k8s_view.c     tabby's view of a document, and the fields it skipped
 *   store_k8s_calico.c   Calico's kinds as crd.projectcalico.org/v1 CRs (policy names)
 *   store_k8s_pod.c      Pods -> WorkloadEndpoints (write = the pod status patch)
 *   store_k8s_profile.c  Namespaces, ServiceAccounts -> Profiles kns.*, ksa.* (read-only)
 *   store_k8s_native.c   Kubernetes NetworkPolicies and Namespaces, one to one
 *   store_k8s_node.c     Nodes -> Calico Nodes (projectcalico.org annotations)
 *   store_k8s_ipam.c     IPAM blocks, affinities, handles (specs passed through)
 *   store_k8s_clusterinfo.c  ClusterInformation (read only, the spec passed through)
 *   store_k8s_service.c  EndpointSlices as records for rules naming a Service (read-only)
 *   store_k8s_txn.c      commits: what maps onto one request
 *   store_k8s_sync.c     watches and the native sync: informer reflectors, one per type
 *
 * Ownership: entries and requests hold new references / malloc'd strings, cleared with
 * their _clear functions. A codec (warned-once set) belongs to its store.
 */
#ifndef TABBY_STORE_K8S_H
#define TABBY_STORE_K8S_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/hmap.h"
#include "tabby/kube.h"
#include "tabby/resource.h"
#include "store_backend.h"

/* A converter's answer for an object that is no entry of the key space (a host-network
 * pod, a block marked deleted). */
#define K8S_SKIP 1

/* The profile every Profile list holds first (KDD-LAYOUT §3.4). */
#define K8S_DEFAULT_ALLOW "projectcalico-default-allow"
/* The annotation holding a Calico CR's v3 metadata (KDD-LAYOUT §1.2). */
#define K8S_META_ANNOTATION "projectcalico.org/metadata"

/* What converters share: which unknown fields were logged already. */
struct k8s_codec {
    struct tby_hmap warned;
};

void k8s_codec_init(struct k8s_codec *c);
void k8s_codec_clear(struct k8s_codec *c);

/* ---- the table (store_k8s_keys.c) ------------------------------------------------------- */

struct k8s_map;

/* Where a key's object lives. */
struct k8s_loc {
    const struct tby_kube_resource *res; /* NULL: a constant with no object */
    char *ns;                            /* NULL for a cluster-scoped type */
    char *name;                          /* the object's name */
    char *alt_name;                      /* another name to try (policies' old names) */
};

void k8s_loc_clear(struct k8s_loc *loc);

/* One key and its value, as tabby stores it. */
struct k8s_entry {
    char *key;
    json_t *value;
    int64_t rev;
    const struct tby_kube_resource *res; /* the type it was read from; NULL: a constant */
};

void k8s_entry_clear(struct k8s_entry *e);

/* The request a write becomes. */
enum k8s_verb {
    K8S_POST,         /* create */
    K8S_PUT,          /* update; conditional when the body has a resourceVersion */
    K8S_PUT_STATUS,   /* update through the status subresource (Nodes) */
    K8S_PATCH_STATUS, /* strategic-merge patch of the status subresource (Pods) */
    K8S_DELETE,       /* delete with the preconditions below */
};

struct k8s_request {
    enum k8s_verb verb;
    json_t *body;           /* none for K8S_DELETE */
    char *uid;              /* K8S_DELETE preconditions (NULL: none) */
    char *resource_version;
};

void k8s_request_clear(struct k8s_request *req);

enum k8s_access {
    K8S_READ_WRITE,   /* create, update, delete */
    K8S_READ_ONLY,    /* Profiles */
    K8S_UPDATE_ONLY,  /* Nodes: the Kubernetes Node must exist and stays */
};

/* What the write of one key needs to know. `raw` is the object as last read (NULL: not
 * there, or not read for a create); `expect` the compared revision (0: must be absent;
 * -1: not compared). */
struct k8s_write {
    const char *key;
    const struct k8s_map *map;
    const struct k8s_loc *loc;
    const json_t *value;    /* tabby's JSON; NULL for a delete */
    const json_t *raw;
    int64_t expect;
};

struct k8s_conv {
    enum k8s_access access;
    const char *refusal;    /* why writes are refused (READ_ONLY, and UPDATE_ONLY's create
                             * and delete) */
    /* The object a key's namespace and name stand for. -ENOENT when no object can be
     * (a name that does not parse). */
    int (*locate)(const struct k8s_map *m, const char *ns, const char *name,
                  struct k8s_loc *loc, struct tby_error *err);
    /* An object of `res` (one of m->types) as tabby's entry, or K8S_SKIP. */
    int (*read)(struct k8s_codec *c, const struct k8s_map *m,
                const struct tby_kube_resource *res, const json_t *obj,
                struct k8s_entry *out, struct tby_error *err);
    /* The request for a put. */
    int (*put)(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
               struct tby_error *err);
    /* The request for a delete; NULL: DELETE with the object's uid and the compared
     * resourceVersion as preconditions. */
    int (*remove)(struct k8s_codec *c, const struct k8s_write *w, struct k8s_request *out,
                  struct tby_error *err);
    /* Constant entries of the key space (the default-allow Profile); may be NULL. */
    int (*constants)(struct k8s_codec *c, const struct k8s_map *m, struct k8s_entry **out,
                     size_t *n, struct tby_error *err);
    /* A put compares against a fresh read of the object, whatever is cached (Nodes). */
    bool fresh_read;
};

#define K8S_MAX_TYPES 2

struct k8s_map {
    const char *prefix;       /* "/tabby/v1/ippools/" */
    bool namespaced;          /* keys are prefix<ns>/<name> */
    int kind;                 /* enum tby_kind; -1 for IPAM records */
    const struct tby_kube_resource *types[K8S_MAX_TYPES]; /* the API types read */
    const struct k8s_conv *conv;
};

/* Every key space, and every API type behind them (each once). */
const struct k8s_map *k8s_maps(size_t *n);
const struct tby_kube_resource *const *k8s_types(size_t *n);
/* The key space of a key, with its namespace and name (pointing into `key`, not
 * NUL-terminated at the namespace: ns_len says). NULL when no key space holds it. */
const struct k8s_map *k8s_map_of_key(const char *key, const char **ns, size_t *ns_len,
                                     const char **name);
/* The key of an object's entry: prefix, namespace and name. NULL when out of memory. */
char *k8s_key(const struct k8s_map *m, const char *ns, const char *name);
/* The same for an object read from the API: K8S_SKIP (logged) when its name, or for a
 * namespaced type its namespace, is missing or cannot be part of a key; -ENOMEM. */
int k8s_key_of_object(const struct k8s_map *m, const char *ns, const char *name, char **out);
/* Whether key spaces under `prefix` hold m's keys, and which namespace the prefix
 * narrows to (a new string, NULL: all). */
bool k8s_map_under(const struct k8s_map *m, const char *prefix, char **ns);
/* Whether any key space under one of `prefixes` reads `res`, and the one namespace a list
 * of it can be narrowed to (a new string; NULL: all namespaces). */
bool k8s_type_wanted(const struct tby_kube_resource *res, const char *const *prefixes,
                     size_t n_prefixes, char **ns);
/* Whether `key` lies under one of `prefixes`. */
bool k8s_under_any(const char *key, const char *const *prefixes, size_t n_prefixes);
const struct tby_kind_info *k8s_map_kind(const struct k8s_map *m);

/* The Calico CRDs (crd.projectcalico.org/v1) by plural, for the tests and tools. */
extern const struct tby_kube_resource k8s_crd_ippools, k8s_crd_ipamconfigs,
    k8s_crd_networkpolicies, k8s_crd_globalnetworkpolicies, k8s_crd_bgpconfigurations,
    k8s_crd_bgppeers, k8s_crd_bgpfilters, k8s_crd_felixconfigurations, k8s_crd_networksets,
    k8s_crd_globalnetworksets, k8s_crd_tiers, k8s_crd_ipreservations, k8s_crd_hostendpoints,
    k8s_crd_ipamblocks, k8s_crd_blockaffinities, k8s_crd_ipamhandles,
    k8s_crd_clusterinformations;

/* The converters. */
extern const struct k8s_conv k8s_conv_calico, k8s_conv_pod, k8s_conv_profile,
    k8s_conv_native, k8s_conv_node, k8s_conv_ipam_block, k8s_conv_ipam_affinity,
    k8s_conv_ipam_handle, k8s_conv_clusterinfo, k8s_conv_endpointslice;

/* The locate of a key space whose keys are its one type's objects, namespace and name as
 * they are (store_k8s_native.c). */
int k8s_locate_object(const struct k8s_map *m, const char *ns, const char *name,
                      struct k8s_loc *loc, struct tby_error *err);

/* Reads an object of `res` for every key space `res` backs whose keys lie under `prefix`
 * (NULL: all): appends entries to *out (grown with TBY_GROW), their `res` set. */
int k8s_read_object(struct k8s_codec *c, const struct tby_kube_resource *res,
                    const json_t *obj, const char *prefix, struct k8s_entry **out, size_t *n,
                    size_t *cap, struct tby_error *err);

/* ---- metadata (store_k8s_meta.c) ------------------------------------------------------ */

#define K8S_UID_LEN 37

/* Calico's UID conversion between a CR and its v3 object: the bits of each byte
 * reversed, bytes 6 and 8 (version, variant) kept. Its own inverse. false (out = "") for
 * text that is not a UUID. */
bool k8s_uid_convert(const char *in, char out[K8S_UID_LEN]);

/* A resourceVersion as a revision: -EINVAL with a message naming `what` for one that is
 * not a decimal number (never a guess). */
int k8s_rev_parse(const char *rv, const char *what, int64_t *out, struct tby_error *err);
/* The object's metadata.resourceVersion as a revision. */
int k8s_obj_rev(const json_t *obj, int64_t *out, struct tby_error *err);
/* Sets meta.resourceVersion to `rev` when it is a revision (> 0), else removes it. */
void k8s_meta_set_rev(json_t *meta, int64_t rev);

/* A v1-group CR's metadata as its v3 object's (labels and annotations merged from the
 * metadata annotation, uid converted); `policy` applies the policy name rule (§2.3),
 * reading the tier from `spec`. New reference. */
json_t *k8s_meta_from_cr(const json_t *cr, bool policy);
/* The CR metadata for v3 metadata `meta`: name `cr_name`, only Calico's own labels and
 * annotations in place, the rest in the metadata annotation (with the v3 name for
 * policies); what tabby does not model (ownerReferences, finalizers, generateName) is
 * taken from `raw` (the CR last read, may be NULL), as is its uid. */
json_t *k8s_meta_to_cr(const json_t *meta, const char *cr_name, bool policy, const json_t *raw);
/* "labels" and "annotations" of the metadata a Kubernetes object has (no conversion),
 * name, namespace, uid, creationTimestamp: tabby's v3 metadata of a native object. */
json_t *k8s_meta_native(const json_t *obj);
/* The v3 WorkloadEndpoint of a Pod (store_k8s_pod.c), already in tabby's view's normal
 * form (test_store_k8s proves it) but with the pod's resourceVersion; its name in
 * *wep_name. NULL: *skip when the pod makes no endpoint, else out of memory. */
json_t *k8s_pod_to_wep(const json_t *pod, char **wep_name, bool *skip);

/* ---- tabby's view (store_k8s_view.c) ---------------------------------------------------- */

/* A hash of a value's content, members in their order (what its compact text says, without
 * writing the text): a sync tells a key again only when it changed. */
uint64_t k8s_value_hash(const json_t *value, uint64_t seed);

/* Where skipped fields were: the holding object's path and the field's name. */
struct k8s_skipped_field {
    char *path;     /* "spec", "spec.ingress[0]"; "" at the top */
    char *field;
};

struct k8s_skipped {
    struct k8s_skipped_field *items;
    size_t n, cap;
};

void k8s_skipped_clear(struct k8s_skipped *s);

/* A v3 document as tabby sees it: decoded leniently, encoded back (normal form, defaults
 * included), without resourceVersion. Skipped fields go to `skipped` (may be NULL) and
 * are logged once per kind and field. A document tabby's decoder refuses is handed on as
 * it is (minus resourceVersion), so its reader gets the decoder's message. */
int k8s_view(struct k8s_codec *c, const json_t *doc, json_t **out, struct k8s_skipped *skipped,
             struct tby_error *err);
/* Fills `out` with the key prefix<ns>/<name> of m (name NULL: the name and namespace of
 * doc's metadata; K8S_SKIP when it has none), tabby's view of `doc`, and the revision of
 * `obj` (NULL: 1, for constants). Cleared on failure. */
int k8s_entry_make(struct k8s_codec *c, const struct k8s_map *m, const json_t *obj,
                   const json_t *doc, const char *ns, const char *name, struct k8s_entry *out,
                   struct tby_error *err);
/* k8s_entry_make for a `doc` already in the view's normal form (a converter's own
 * output): the value is doc itself, its resourceVersion removed. */
int k8s_entry_take(const struct k8s_map *m, const json_t *obj, json_t *doc, const char *ns,
                   const char *name, struct k8s_entry *out, struct tby_error *err);
/* Puts back into `value` what tabby's view of `doc` skipped (where value has nothing at
 * that place): the write keeps fields tabby does not know. */
void k8s_restore_skipped(json_t *value, const json_t *doc, const struct k8s_skipped *skipped);
/* tabby's value of a write, with what tabby's view of `doc` (the raw object's v3 form,
 * may be NULL) skipped put back. New reference, NULL when out of memory. */
json_t *k8s_value_onto(struct k8s_codec *c, const json_t *value, const json_t *doc);

/* ---- the store (store_k8s.c) ------------------------------------------------------------ */

/* What a range handed out: a watch from its revision + 1 starts from it, so a key gone
 * between the range and the watch's own first lists is told as deleted. */
struct k8s_snapshot_item {
    char *key;
    uint64_t hash;                       /* k8s_value_hash of the value */
    int64_t rev;
    const struct tby_kube_resource *res; /* NULL: a constant */
};

struct k8s_snapshot {
    char *prefix;
    int64_t rev;
    struct k8s_snapshot_item *items;
    size_t n, cap;
};

void k8s_snapshot_clear(struct k8s_snapshot *snap);

struct k8s_store {
    struct tby_store base;
    struct tby_kube_config *cfg;
    struct tby_kube_client *client;
    struct k8s_codec codec;
    struct tby_hmap raw;    /* struct k8s_raw by key: the objects last read */
    struct k8s_snapshot snapshot; /* of the last range */
    long absent_recheck_s;  /* watches: how soon a type not served is listed again */
    const struct tby_kube_resource *offered_res; /* tby_store_offer's object, until a commit */
    json_t *offered;
};

/* Forgets the object tby_store_offer gave. */
void k8s_offer_drop(struct k8s_store *s);

/* The object last read for `key` (borrowed), or NULL. */
const json_t *k8s_raw_get(struct k8s_store *s, const char *key);
/* Remembers `obj` (a new reference is taken) as `key`'s object; NULL forgets. */
void k8s_raw_put(struct k8s_store *s, const char *key, const json_t *obj);

/* GETs the object at loc (trying loc->alt_name after a 404). */
int k8s_fetch(struct k8s_store *s, const struct k8s_loc *loc, json_t **out,
              struct tby_error *err);
/* What `key` reads as now: its entry and the object it came from. -ENOENT. */
int k8s_get_entry(struct k8s_store *s, const char *key, struct k8s_entry *out, json_t **obj,
                  struct tby_error *err);

int k8s_commit(struct tby_store *store, const struct tby_txn *txn, int64_t *rev,
               struct tby_error *err);
int k8s_check_change(struct tby_store *store, const char *key, enum tby_store_change change,
                     struct tby_error *err);

/* ---- watching (store_k8s_sync.c) --------------------------------------------------------- */

/* The list-and-watch of keys under a set of prefixes (store_k8s_sync.c), the store's
 * native sync: PUTs and DELETEs of keys under the prefixes, each value as a read gives
 * it and told only when it changed; a hook called where a listing is complete (every
 * type listed, then each relist of one); online once every type has listed and while
 * every type's server answers. */
struct k8s_sync;
typedef int (*k8s_sync_hook)(void *ctx, struct tby_event_list *out);

/* Starts reflectors for every type behind `prefixes` (the store and its config must
 * outlive the sync); `from` (may be NULL) is what the caller holds already. With
 * `count`, the informer counts its LIST and WATCH requests into the store's ranges and
 * watches. */
int k8s_sync_start(struct k8s_store *s, const char *const *prefixes, size_t n_prefixes,
                   const struct k8s_snapshot *from, bool count, struct k8s_sync **out,
                   struct tby_error *err);
int k8s_sync_fd(const struct k8s_sync *sync);
int k8s_sync_timeout_ms(const struct k8s_sync *sync);
/* Appends what changed (waiting up to timeout_ms for news), calling hook (may be NULL)
 * at each complete listing. */
int k8s_sync_next(struct k8s_sync *sync, struct tby_event_list *out, int timeout_ms,
                  k8s_sync_hook hook, void *ctx, struct tby_error *err);
bool k8s_sync_online(const struct k8s_sync *sync);
/* How many times a type lost its server so far, and (why, may be NULL) the last reason. */
uint64_t k8s_sync_lost(const struct k8s_sync *sync, const char **why);
void k8s_sync_free(struct k8s_sync *sync);
/* store.h's watch and sync on k8s:, over the same engine. */
int k8s_watch(struct tby_store *store, const char *prefix, int64_t from_rev,
              struct tby_watch **out, struct tby_error *err);
int k8s_sync_open(struct tby_store *store, const char *const *prefixes, size_t n,
                  struct tby_sync **out, struct tby_error *err);

#endif
