/* enforce.h — "nothing accepted that is not enforced": which of the fields tabby decodes it
 * does not enforce yet, their refusal at apply, and what tabby-node does when it meets one
 * anyway, in a datastore someone else wrote (Calico, an older tabby, a hand edit).
 *
 * One table (enforce.c) lists every field tabby decodes but does not enforce; the work that
 * enforces one removes its entry there, and with it the refusal and the stand-in.
 *
 *   - tby_enforce_check refuses a resource that sets one of them, naming the field
 *     ("spec.ingress[0].destination.services: …"). Every write of resources calls it
 *     (catalog.c), so tabbyctl apply, create and replace refuse them.
 *   - tby_enforce_plan tells tabby-node's policy engine what to program for a resource it
 *     cannot program as written: a stand-in that allows nothing the resource would not
 *     (fail closed), never the resource with a rule left out.
 *   - tby_enforce_unreadable makes the same kind of stand-in for a policy whose stored value
 *     does not decode at all, so that an unreadable Deny is not an absent one.
 *
 * Owns nothing: stand-ins are new resources the caller frees with tby_resource_free.
 */
#ifndef TABBY_ENFORCE_H
#define TABBY_ENFORCE_H

#include <stddef.h>

#include "tabby/error.h"
#include "tabby/resource.h"

/* The annotation a stand-in carries: why the resource is not enforced as written. */
#define TBY_ENFORCE_ANNOTATION "tabby.dev/not-enforced"

/* What a datastore lets tabby enforce beyond what every one does (tby_enforce_caps). */
enum tby_enforce_caps {
    TBY_ENFORCE_SERVICES = 1 << 0,  /* rules naming a Service: the store knows Services */
};

struct tby_store;
/* The capabilities of a datastore (store.h): TBY_ENFORCE_SERVICES on k8s:. */
unsigned tby_enforce_caps(const struct tby_store *store);

/* 0 when tabby enforces everything res says in a datastore with `caps`; -EOPNOTSUPP with a
 * message naming the first field it does not ("spec.ingress[0].http: HTTP match rules
 * need …"). */
int tby_enforce_check(const struct tby_resource *res, unsigned caps, struct tby_error *err);

enum tby_enforce_plan {
    TBY_ENFORCE_AS_IS,    /* program res as it is */
    TBY_ENFORCE_REPLACE,  /* program *stand_in (same kind and name) instead of res */
};

/* What tabby-node's policy engine programs for res: the plan, and in *stand_in (else NULL)
 * a new resource for REPLACE. Whenever that is not res as written, why says what tabby
 * does not enforce and what it does instead ("" otherwise). The stand-ins:
 *   - a policy with a rule tabby cannot program (http; services without
 *     TBY_ENFORCE_SERVICES): in that direction, the rules before it, then Deny;
 *   - a stand-in from tby_enforce_unreadable is programmed as it is (AS_IS, with why).
 * -ENOMEM. */
int tby_enforce_plan(const struct tby_resource *res, unsigned caps,
                     struct tby_resource **stand_in, char *why, size_t size);

/* A stand-in for the policy (Calico NetworkPolicy, GlobalNetworkPolicy, Profile, Kubernetes
 * NetworkPolicy) stored at `key` whose value does not decode (`value`, `error`: why): the
 * selector, namespace selector and order it states when they can be read, else every
 * endpoint and first; Deny in both directions. The reason goes into the annotation
 * TBY_ENFORCE_ANNOTATION. -EINVAL when key is not a policy's, -ENOMEM. */
int tby_enforce_unreadable(const char *key, const char *value, size_t len, const char *error,
                           struct tby_resource **out);

#endif
