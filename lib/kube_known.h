/* kube_known.h — what a reflector has delivered: the namespace/name and resourceVersion
 * of every object, so that a relist delivers exactly the difference and a watch event
 * already delivered is not delivered twice (private to lib/).
 *
 * Owns: its entries (freed by kube_known_clear). Changes it produces take references to
 * the objects they carry.
 */
#ifndef TABBY_KUBE_KNOWN_H
#define TABBY_KUBE_KNOWN_H

#include <jansson.h>

#include "tabby/hmap.h"
#include "tabby/kube_informer.h"
#include "tabby/kube_watch.h"

struct kube_known {
    struct tby_hmap map;
    unsigned listing; /* the number of the listing under way (or the last one) */
};

void kube_known_init(struct kube_known *k);
void kube_known_clear(struct kube_known *k);
size_t kube_known_count(const struct kube_known *k);
/* The resourceVersion delivered for ns/name (ns "" for cluster-scoped), or NULL. */
const char *kube_known_version(const struct kube_known *k, const char *ns, const char *name);

/* A listing, page by page: _list_begin, then _list_page for each page as it comes, then
 * _list_end. Each page appends to `out` the changes its items make against what was
 * delivered (ADDED and MODIFIED, in the page's order; an object listed twice counts once)
 * and records them as delivered; _list_end appends DELETED (metadata only,
 * final_state_unknown) for every object delivered before that this listing did not name.
 * A listing abandoned half-way (its snapshot expired) is simply not ended: the next one
 * begins afresh and its end takes away what the abandoned one delivered and the new one
 * does not name. A page with an item without a name or resourceVersion fails with
 * -EINVAL and changes nothing. */
void kube_known_list_begin(struct kube_known *k);
int kube_known_list_page(struct kube_known *k, const json_t *items, int reflector,
                         struct tby_kube_changes *out, struct tby_error *err);
int kube_known_list_end(struct kube_known *k, int reflector, struct tby_kube_changes *out);

/* A complete list (its items) in one page: begin, page, end. */
int kube_known_relist(struct kube_known *k, const json_t *items, int reflector,
                      struct tby_kube_changes *out, struct tby_error *err);

/* One watch event (ADDED, MODIFIED or DELETED): appends the change it makes, if any. An
 * object already delivered at that resourceVersion is none; ADDED of a known object is
 * a MODIFIED, MODIFIED of an unknown one an ADDED, DELETED of an unknown one nothing. */
int kube_known_event(struct kube_known *k, const struct tby_kube_event *ev, int reflector,
                     struct tby_kube_changes *out);

#endif
