/* policy_enforce.c — what the calculation gets of each resource (policy_enforce.h): the
 * resource itself, or the plan of enforce.h for one tabby cannot program as written, with
 * a record of each of those so that the node says it in its log, metrics and status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/enforce.h"
#include "tabby/hmap.h"
#include "tabby/log.h"
#include "policy_enforce.h"

struct not_enforced {
    struct tby_hnode node;
    char *why;
    char id[];                    /* "GlobalNetworkPolicy shop", "NetworkPolicy ns/x" */
};

struct policy_enforce {
    char *node;
    unsigned caps;                /* what the datastore lets tabby enforce (enforce.h) */
    struct tby_hmap list;
};

static const char *entry_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct not_enforced, node)->id;
}

static void describe(const struct tby_resource *res, char *buf, size_t size)
{
    snprintf(buf, size, "%s %s%s%s", res->info->name,
             res->info->namespaced ? res->meta.namespace : "",
             res->info->namespaced ? "/" : "", res->meta.name);
}

static struct not_enforced *find(const struct policy_enforce *e, const char *id)
{
    struct tby_hnode *n = tby_hmap_find_str(&e->list, id, entry_key);

    return n ? TBY_CONTAINER_OF(n, struct not_enforced, node) : NULL;
}

static void entry_free(struct not_enforced *x)
{
    free(x->why);
    free(x);
}

int policy_enforce_new(const char *node, unsigned caps, struct policy_enforce **out)
{
    struct policy_enforce *e = calloc(1, sizeof(*e));

    *out = NULL;
    if (!e || !(e->node = strdup(node))) {
        free(e);
        return -ENOMEM;
    }
    e->caps = caps;
    tby_hmap_init(&e->list);
    *out = e;
    return 0;
}

void policy_enforce_free(struct policy_enforce *e)
{
    struct tby_hnode *n, *next;

    if (!e)
        return;
    for (n = tby_hmap_first(&e->list); n; n = next) {
        next = tby_hmap_next(&e->list, n);
        entry_free(TBY_CONTAINER_OF(n, struct not_enforced, node));
    }
    tby_hmap_destroy(&e->list);
    free(e->node);
    free(e);
}

/* Forgets what was recorded for id. A stand-in has res's kind and name, so the
 * calculation's update or removal of res already replaced or removed it. */
static void forget(struct policy_enforce *e, const char *id)
{
    struct not_enforced *x = find(e, id);

    if (!x)
        return;
    tby_hmap_remove(&e->list, &x->node);
    entry_free(x);
}

/* Records why res is not enforced as written; logs it when that is news. */
static int record(struct policy_enforce *e, const char *id, const char *why, bool news)
{
    struct not_enforced *x = calloc(1, sizeof(*x) + strlen(id) + 1);

    if (!x || !(x->why = strdup(why))) {
        free(x);
        return -ENOMEM;
    }
    strcpy(x->id, id);
    if (tby_hmap_insert(&e->list, &x->node, tby_hash_str(id)) < 0) {
        entry_free(x);
        return -ENOMEM;
    }
    if (news)
        tby_log(TBY_LOG_ERROR, "policy", "not enforced as written %s reason=\"%s\"", id, why);
    return 0;
}

/* A host endpoint matters to the node it is on. */
static bool is_foreign_hep(const struct policy_enforce *e, const struct tby_resource *res)
{
    return res->info->kind == TBY_KIND_HOSTENDPOINT &&
           (!res->spec.hep->node || strcmp(res->spec.hep->node, e->node) != 0);
}

int policy_enforce_update(struct policy_enforce *e, struct tby_calc *calc,
                          const struct tby_resource *res, struct tby_error *err)
{
    _cleanup_(tby_resource_freep) struct tby_resource *stand_in = NULL;
    const struct not_enforced *was;
    char id[600], why[TBY_ERROR_MAX];
    bool news;
    int plan, r;
    describe(res, id, sizeof(id));
    plan = is_foreign_hep(e, res) ? TBY_ENFORCE_AS_IS
                                  : tby_enforce_plan(res, e->caps, &stand_in, why,
                                                                   sizeof(why));
    if (plan < 0)
        return tby_error_set(err, plan, "out of memory");
    if (is_foreign_hep(e, res))
        why[0] = '\0';
    switch (plan) {
    case TBY_ENFORCE_REPLACE:
        r = tby_calc_update(calc, stand_in, err);
        break;
    default:
        r = tby_calc_update(calc, res, err);
        break;
    }
    was = find(e, id);
    news = why[0] && (!was || strcmp(was->why, why) != 0);
    if (was && !why[0])
        tby_log(TBY_LOG_INFO, "policy", "enforced as written %s", id);
    if (r == 0)
        forget(e, id);
    if (r == 0 && why[0])
        r = record(e, id, why, news);
    return r == -ENOMEM ? tby_error_set(err, r, "out of memory") : r;
}

int policy_enforce_remove(struct policy_enforce *e, struct tby_calc *calc,
                          const struct tby_resource *res, struct tby_error *err)
{
    char id[600];

    describe(res, id, sizeof(id));
    forget(e, id);
    return tby_calc_remove(calc, res, err);
}

void policy_enforce_counts(const struct policy_enforce *e, struct policy_enforce_counts *out)
{
    memset(out, 0, sizeof(*out));
    out->fail_closed = tby_hmap_count(&e->list);
}

bool policy_enforce_example(const struct policy_enforce *e, char *buf, size_t size)
{
    const struct not_enforced *pick = NULL;

    /* The same one every time: the least id. */
    for (struct tby_hnode *n = tby_hmap_first(&e->list); n; n = tby_hmap_next(&e->list, n)) {
        const struct not_enforced *x = TBY_CONTAINER_OF(n, struct not_enforced, node);

        if (!pick || strcmp(x->id, pick->id) < 0)
            pick = x;
    }
    if (pick)
        snprintf(buf, size, "%s: %s", pick->id, pick->why);
    return pick != NULL;
}
