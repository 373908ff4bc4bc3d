/* catalog.h — resources kept in the datastore: create, replace, apply, delete, get and
 * list, with the checks that need what is already stored.
 *
 * Owns: the mapping between resources and datastore keys and values
 * (/tabby/v1/<plural>/[<namespace>/]<name> → the resource's JSON without its
 * resourceVersion, which is the key's mod revision). A write of several resources is one
 * datastore transaction that compares every key it touches: it all applies or none of it
 * does, and a concurrent writer makes it fail rather than be overwritten.
 *
 * On a store without multi-key transactions (k8s:, tby_store_has_multi_txn) every
 * document is still decoded, checked and planned against what is stored before anything
 * is written (bad input changes nothing); then the resources are written one by one,
 * each a compare-and-swap, as calicoctl writes to Kubernetes. A conflict stops the write
 * there: the message says what was written before it, and the outcomes say it per
 * resource.
 *
 * Checks across resources: two documents of one write naming the same resource; IP pools
 * overlapping each other (stored or in the write); an IP pool's cidr and blockSize, which
 * cannot change once created.
 *
 * Ownership: resources returned by get/list belong to the caller. Writes fill in the
 * resources they are given (uid, creationTimestamp, resourceVersion).
 */
#ifndef TABBY_CATALOG_H
#define TABBY_CATALOG_H

#include "tabby/resource.h"
#include "tabby/store.h"

enum tby_write_mode {
    TBY_WRITE_CREATE,   /* each must not exist yet */
    TBY_WRITE_REPLACE,  /* each must exist (and match its resourceVersion when it has one) */
    TBY_WRITE_APPLY,    /* create or replace; a resource equal to the stored one is left be */
};

enum tby_write_outcome {
    TBY_OUTCOME_CREATED,
    TBY_OUTCOME_CONFIGURED,
    TBY_OUTCOME_UNCHANGED,
    TBY_OUTCOME_NOT_WRITTEN, /* a failed write left it as it was */
};

const char *tby_write_outcome_name(enum tby_write_outcome outcome);

/* Writes every resource of `list` in one transaction. outcomes (may be NULL) receives
 * one entry per resource. On failure nothing is written; the message names the
 * resource ("IPPool pool-b: spec.cidr: 10.0.0.0/16 overlaps IPPool pool-a (10.0.0.0/8)").
 * Without multi-key transactions a failure after the planning may leave the resources
 * before it written: outcomes then say which (TBY_OUTCOME_NOT_WRITTEN for the rest). */
int tby_catalog_write(struct tby_store *store, struct tby_resource_list *list,
                      enum tby_write_mode mode, enum tby_write_outcome *outcomes,
                      struct tby_error *err);

/* Deletes every resource named by `list` (kind, namespace, name) in one transaction.
 * A missing one fails the whole delete unless ignore_missing; *deleted (may be NULL)
 * counts what was removed (without multi-key transactions, also on a failure after the
 * first deletes, which the message names). */
int tby_catalog_delete(struct tby_store *store, const struct tby_resource_list *list,
                       bool ignore_missing, size_t *deleted, struct tby_error *err);
int tby_catalog_delete_one(struct tby_store *store, const struct tby_kind_info *info,
                           const char *namespace, const char *name, struct tby_error *err);

/* -ENOENT with "IPPool x not found" when missing. */
int tby_catalog_get(struct tby_store *store, const struct tby_kind_info *info,
                    const char *namespace, const char *name, struct tby_resource **out,
                    struct tby_error *err);
/* Every resource of a kind, in one namespace or (namespace NULL) all, sorted by
 * namespace then name. */
int tby_catalog_list(struct tby_store *store, const struct tby_kind_info *info,
                     const char *namespace, struct tby_resource_list *out,
                     struct tby_error *err);

/* Decodes a stored value (for watchers of the datastore): the kind comes from the key,
 * resourceVersion from kv->mod_rev. */
int tby_catalog_decode_kv(const struct tby_kv *kv, struct tby_resource **out,
                          struct tby_error *err);
/* The same for a value already parsed (`doc` is only read). */
int tby_catalog_decode_doc(const char *key, const json_t *doc, int64_t mod_rev,
                           struct tby_resource **out, struct tby_error *err);
/* Which kind a datastore key belongs to; NULL for keys outside the catalog. */
const struct tby_kind_info *tby_catalog_kind_of_key(const char *key);

#endif
