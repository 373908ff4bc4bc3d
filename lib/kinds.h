/* kinds.h — what each resource kind implements (private to lib/).
 *
 * resource.c owns the envelope (apiVersion, kind, metadata) and calls a kind's ops for
 * the rest. Copy and equality are derived from encode + decode, so a kind writes only
 * these three functions and they cannot disagree with each other.
 */
#ifndef TABBY_KINDS_H
#define TABBY_KINDS_H

#include "tabby/codec.h"
#include "tabby/resource.h"

struct tby_kind_ops {
    /* Decodes doc's spec (and status, where the kind keeps one) into res->spec, with the
     * metadata already in res->meta. On failure leaves nothing allocated. */
    int (*decode)(struct tby_dec *d, const json_t *doc, struct tby_resource *res);
    /* Adds "spec" (and "status") to the document being written. */
    void (*encode)(const struct tby_resource *res, json_t *doc);
    void (*free)(void *spec);
    /* Optional: adds to out one line per field accepted though tabby only keeps it (it
     * tunes something tabby does not have), "spec.<field>: why". -ENOMEM. */
    int (*ignored)(const struct tby_resource *res, struct tby_strv *out);
};

extern const struct tby_kind_ops tby_ippool_ops;
extern const struct tby_kind_ops tby_ipamconfig_ops;
extern const struct tby_kind_ops tby_networkpolicy_ops;
extern const struct tby_kind_ops tby_globalnetworkpolicy_ops;
extern const struct tby_kind_ops tby_profile_ops;
extern const struct tby_kind_ops tby_k8s_networkpolicy_ops;
extern const struct tby_kind_ops tby_namespace_ops;
extern const struct tby_kind_ops tby_bgpconfig_ops;
extern const struct tby_kind_ops tby_bgppeer_ops;
extern const struct tby_kind_ops tby_bgpfilter_ops;
extern const struct tby_kind_ops tby_felixconfig_ops;
extern const struct tby_kind_ops tby_networkset_ops;
extern const struct tby_kind_ops tby_ipreservation_ops;
extern const struct tby_kind_ops tby_node_ops;
extern const struct tby_kind_ops tby_wep_ops;
extern const struct tby_kind_ops tby_hep_ops;
extern const struct tby_kind_ops tby_tier_ops;

/* doc["spec"], which must be an object when present; NULL when absent (the getters of
 * codec.h treat a NULL object as one with no fields). */
int tby_kind_spec(struct tby_dec *d, const json_t *doc, const json_t **spec);

/* The usual decode of a kind: a zeroed spec struct of `size` bytes, filled by
 * decode_spec(d, spec, res, out) with the path at "spec" (spec may be NULL: absent), set
 * as res->spec on success and freed with the kind's free on failure. */
typedef int (*tby_spec_decode_fn)(struct tby_dec *d, const json_t *spec,
                                  const struct tby_resource *res, void *out);
int tby_kind_decode_spec(struct tby_dec *d, const json_t *doc, struct tby_resource *res,
                         size_t size, tby_spec_decode_fn decode_spec);

#endif
