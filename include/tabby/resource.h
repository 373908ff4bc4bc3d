/* resource.h — the resource envelope: kinds, metadata, decode/validate/default/encode of
 * whole documents, and reading files of documents.
 *
 * Owns: struct tby_resource and everything hanging off it (metadata, the kind's spec
 * struct of model.h). tby_resource_free releases all of it.
 *
 * A document is a jansson tree, whether it came from YAML or JSON. tby_resource_decode
 * checks apiVersion and kind, validates metadata and spec as Calico (or Kubernetes)
 * would, and fills in Calico's defaults, so that every consumer sees one normal form.
 * tby_resource_encode writes that normal form back, defaults included; decoding it again
 * gives an equal resource (tby_resource_equal).
 */
#ifndef TABBY_RESOURCE_H
#define TABBY_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "tabby/error.h"
#include "tabby/model.h"

enum tby_kind {
    TBY_KIND_IPPOOL,
    TBY_KIND_IPAMCONFIG,
    TBY_KIND_NETWORKPOLICY,        /* projectcalico.org/v3 */
    TBY_KIND_GLOBALNETWORKPOLICY,
    TBY_KIND_BGPCONFIG,
    TBY_KIND_BGPPEER,
    TBY_KIND_NODE,
    TBY_KIND_WORKLOADENDPOINT,
    TBY_KIND_HOSTENDPOINT,
    TBY_KIND_PROFILE,
    TBY_KIND_K8S_NETWORKPOLICY,    /* networking.k8s.io/v1 */
    TBY_KIND_NAMESPACE,            /* v1, labels only */
    TBY_KIND_BGPFILTER,
    TBY_KIND_FELIXCONFIG,
    TBY_KIND_NETWORKSET,           /* namespaced */
    TBY_KIND_GLOBALNETWORKSET,
    TBY_KIND_TIER,
    TBY_KIND_IPRESERVATION,
    TBY_KIND_COUNT
};

struct tby_kind_info {
    enum tby_kind kind;
    const char *name;           /* as in documents: "IPPool" */
    const char *api_version;    /* "projectcalico.org/v3" */
    const char *plural;         /* lower case, the datastore key segment: "ippools" */
    const char *const *aliases; /* other names on the command line, NULL-terminated */
    bool namespaced;
    /* A one-line description for `tabbyctl` help. */
    const char *summary;
};

const struct tby_kind_info *tby_kind_info(enum tby_kind kind);
/* By name, plural or alias, case-insensitively ("ippool", "IPPools", "gnp", "wep").
 * "networkpolicy" is Calico's; Kubernetes' is "networkpolicy.networking.k8s.io" or
 * "knp". NULL when unknown. */
const struct tby_kind_info *tby_kind_lookup(const char *name);
/* By a document's apiVersion and kind. NULL when unknown. */
const struct tby_kind_info *tby_kind_from_document(const char *api_version, const char *kind);

struct tby_meta {
    char *name;
    char *namespace;             /* namespaced kinds only; "default" when a document omits it */
    json_t *labels;              /* object of strings; never NULL after decode; an empty */
    json_t *annotations;         /* one may be shared: copy before changing (cmd_label.c) */
    char *uid;                   /* set by the datastore layer on create */
    char *creation_timestamp;    /* RFC 3339, set by the datastore layer on create */
    int64_t resource_version;    /* the datastore's mod revision; 0 = not stored */
};

struct tby_resource {
    const struct tby_kind_info *info;
    struct tby_meta meta;
    union {
        void *any;
        struct tby_ippool *ippool;
        struct tby_ipamconfig *ipamconfig;
        struct tby_ipreservation *ipreservation;
        struct tby_policy *policy;          /* NetworkPolicy and GlobalNetworkPolicy */
        struct tby_bgpconfig *bgpconfig;
        struct tby_bgppeer *bgppeer;
        struct tby_bgpfilter *bgpfilter;
        struct tby_felixconfig *felixconfig;
        struct tby_networkset *networkset;  /* NetworkSet and GlobalNetworkSet */
        struct tby_node *node;
        struct tby_wep *wep;
        struct tby_hep *hep;
        struct tby_profile *profile;
        struct tby_k8s_policy *k8s_policy;
        struct tby_namespace *ns;
        struct tby_tier *tier;
    } spec;
};

/* Decodes, validates and defaults one document. On failure the message starts at the
 * field ("spec.blockSize: must be ..."); callers add document context with
 * tby_resource_describe. */
int tby_resource_decode(const json_t *doc, struct tby_resource **out, struct tby_error *err);
/* The same for a document another program wrote: a field the model does not know is
 * reported to `unknown` (codec.h) and skipped, not an error. Encoding the result gives
 * the document as tabby knows it. */
int tby_resource_decode_lenient(const json_t *doc, tby_dec_unknown_fn unknown, void *ctx,
                                struct tby_resource **out, struct tby_error *err);
/* Decodes as tby_resource_decode, reporting every list of known fields to `survey`
 * (codec.h): for the test of every field's enforcement (test_model_fields). */
int tby_resource_decode_survey(const json_t *doc, tby_dec_survey_fn survey, void *ctx,
                               struct tby_resource **out, struct tby_error *err);
/* The fields of res tabby accepts but does not apply, because they only tune something
 * tabby does not have: one "spec.<field>: why" line each, added to out (the caller's),
 * for tabbyctl apply's warnings. Every other field tabby accepts is enforced. -ENOMEM. */
int tby_resource_ignored(const struct tby_resource *res, struct tby_strv *out);
/* The whole document in normal form, defaults included. New reference. */
json_t *tby_resource_encode(const struct tby_resource *res);
/* Same kind, metadata (name, namespace, labels, annotations) and spec. The datastore's
 * bookkeeping (uid, creation time, resource version) is not compared. */
bool tby_resource_equal(const struct tby_resource *a, const struct tby_resource *b);
struct tby_resource *tby_resource_copy(const struct tby_resource *res);
void tby_resource_free(struct tby_resource *res);
TBY_DEFINE_FREEP(struct tby_resource, tby_resource_free)

/* "IPPool default-pool" (or "NetworkPolicy prod/allow-dns") from a raw document, as far
 * as it can be read; for error context. Writes into buf and returns it. */
const char *tby_resource_describe(const json_t *doc, char *buf, size_t size);

/* A resource's datastore key: /tabby/v1/<plural>/[<namespace>/]<name>. Caller frees. */
char *tby_resource_key(const struct tby_kind_info *info, const char *namespace,
                       const char *name);
/* The prefix under which all resources of a kind (in one namespace, when given) live. */
char *tby_resource_prefix(const struct tby_kind_info *info, const char *namespace);

/* ---- files of documents ------------------------------------------------------------ */

struct tby_resource_list {
    struct tby_resource **items;
    size_t n, cap;
};

/* Reads YAML or JSON text holding one or more documents (`---`, `kind: List` /
 * `kind: XList` with `items`, and a sequence of resources as a document, as calicoctl
 * takes them; a sequence's resources are numbered as a list's items). Every document is
 * decoded; the first failure fails the whole list and its message names the source, the
 * document number (1-based; an item of a list also by its 1-based position) and
 * kind/name:
 *   pool.yaml: document 2 (IPPool default-pool): spec.blockSize: must be ...
 *   all.yaml: document 1 item 3 (BGPPeer rack1): spec.peerIP: ... */
int tby_resource_load(const char *text, size_t len, const char *source,
                      struct tby_resource_list *out, struct tby_error *err);
/* Reads a file ("-" is standard input) with tby_resource_load. */
int tby_resource_load_file(const char *path, struct tby_resource_list *out,
                           struct tby_error *err);
int tby_resource_list_push(struct tby_resource_list *list, struct tby_resource *res);
void tby_resource_list_clear(struct tby_resource_list *list);

#endif
