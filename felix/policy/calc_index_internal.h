/* calc_index_internal.h — the label index's own structures, shared by its two files:
 * calc_index.c (endpoints, their labels, namespaces, profiles) and calc_select.c
 * (selector entries and their members). Private to them; the layers above use
 * calc_index.h.
 *
 * Ownership: struct calc_index owns every entry. An endpoint is owned by the endpoint map,
 * a selector entry by the selector map (freed when its last hold goes), a member by its
 * selector entry. Members point at endpoints: an endpoint leaves every selector before it
 * goes.
 */
#ifndef TABBY_CALC_INDEX_INTERNAL_H
#define TABBY_CALC_INDEX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tabby/hmap.h"
#include "tabby/strv.h"
#include "calc_index.h"
#include "calc_strings.h"

struct ep {
    struct calc_ep v;                 /* what the layers above read */
    struct tby_hnode node;            /* in x->eps, by key */
    char *key;                        /* "<namespace>/<name>"; network sets:
                                       * "~netset/<namespace>/<name>", "~gnetset/<name>" */
    char *ns;                         /* NULL: a GlobalNetworkSet */
    struct tby_label *own;            /* metadata.labels: one block, pairs then strings */
    size_t n_own;
    struct tby_strv profiles;
    char *orchestrator;
    char *service_account;
    struct tby_label *labels;         /* effective labels, sorted by key: a shared block */
    size_t n_labels;
    struct ep *ns_next, *ns_prev;     /* the endpoints of one namespace */
    bool told_local;                  /* the local hook was told it came */
    bool netset;                      /* a NetworkSet or GlobalNetworkSet */
};

struct member {
    struct tby_hnode node;            /* by endpoint pointer */
    struct ep *ep;
};

struct selent {
    struct calc_sel v;                /* what the layers above read */
    struct tby_hnode node;            /* in x->sels, by v.hash */
    struct tby_sel *sel;
    uint32_t refs;                    /* holds */
    struct tby_hmap members;          /* struct member */
    uint64_t seen;                    /* de-duplicates visits within one event */
    bool indexed;                     /* by its required label pairs (else: unindexed) */
    size_t unindexed_at;              /* its place in x->unindexed */
};

/* An index term and its selectors (calc_select.c). A selector that can only match label
 * sets holding one of some pairs (tby_sel_required) is filed under "key=value" for each,
 * and evaluated only for endpoints holding one; any other selector is filed under each key
 * it reads (evaluated again when one changes) and kept on x->unindexed (evaluated for
 * every new endpoint). Keys hold no '=', so the two kinds of term never meet. */
struct keyent {
    struct tby_hnode node;
    struct selent **sels;             /* grown one by one: most terms file one selector */
    size_t n, cap;
    char key[];
};

struct calc_index {
    char *node_name;
    struct calc_index_hooks hooks;
    struct tby_hmap eps;              /* struct ep, by key */
    struct tby_hmap nss, profs;       /* namespaces' and profiles' labels (calc_index.c) */
    struct tby_hmap labelsets;        /* endpoints' effective labels, shared (calc_index.c) */
    struct calc_strs label_strs;      /* the label sets' keys and values */
    struct tby_hmap sels;             /* struct selent, by canonical text */
    struct tby_hmap keys;             /* struct keyent, by term */
    struct selent **unindexed;        /* selectors without required label pairs */
    size_t n_unindexed, cap_unindexed;
    size_t n_local;
    size_t n_netsets;                 /* of x->eps, the network sets */
    uint64_t visit;                   /* event counter for selent->seen */
};

/* ---- calc_select.c ----------------------------------------------------------------------- */

/* A new endpoint joins every selector it matches; a leaving one leaves them all. */
int sels_join_all(struct calc_index *x, struct ep *ep);
void sels_leave_all(struct calc_index *x, struct ep *ep);
/* Re-evaluates the selectors reading a key whose value differs between the label sets. */
int sels_relabel(struct calc_index *x, struct ep *ep, const struct tby_label *old, size_t n_old);
/* Frees the entries left (when the index goes). */
void sels_free_all(struct calc_index *x);

#endif
