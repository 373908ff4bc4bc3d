/* catalog.c — resources in the datastore: keys, values, all-or-nothing writes, and the
 * checks that span resources. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tabby/buf.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/enforce.h"
#include "tabby/model.h"

/* Every write of IP pools also bumps this key, comparing its revision: two concurrent
 * writes of pools then conflict, so an overlap check cannot race with another. */
#define POOLS_GUARD_KEY "/tabby/v1/guards/ippools"
#define KEY_PREFIX "/tabby/v1/"
#define MAX_ATTEMPTS 8

const char *tby_write_outcome_name(enum tby_write_outcome outcome)
{
    static const char *const names[] = { "created", "configured", "unchanged",
                                         "not written" };

    return names[outcome];
}

/* "IPPool pool-a" or "NetworkPolicy prod/allow-dns", for messages. */
static const char *describe(const struct tby_kind_info *info, const char *ns, const char *name,
                            char *buf, size_t size)
{
    snprintf(buf, size, "%s %s%s%s", info->name, info->namespaced && ns ? ns : "",
             info->namespaced && ns ? "/" : "", name);
    return buf;
}

static const char *describe_res(const struct tby_resource *res, char *buf, size_t size)
{
    return describe(res->info, res->meta.namespace, res->meta.name, buf, size);
}

/* ---- keys and values ---------------------------------------------------------------- */

const struct tby_kind_info *tby_catalog_kind_of_key(const char *key)
{
    const char *plural = key + strlen(KEY_PREFIX);
    const char *slash;

    if (strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
        return NULL;
    slash = strchr(plural, '/');
    if (!slash)
        return NULL;
    for (int k = 0; k < TBY_KIND_COUNT; k++) {
        const struct tby_kind_info *info = tby_kind_info((enum tby_kind)k);

        if (strlen(info->plural) == (size_t)(slash - plural) &&
            strncmp(info->plural, plural, (size_t)(slash - plural)) == 0)
            return info;
    }
    return NULL;
}

int tby_catalog_decode_doc(const char *key, const json_t *doc, int64_t mod_rev,
                           struct tby_resource **out, struct tby_error *err)
{
    const struct tby_kind_info *info = tby_catalog_kind_of_key(key);
    int r;

    if (!info)
        return tby_error_set(err, -EINVAL, "%s: not a resource key", key);
    r = tby_resource_decode(doc, out, err);
    if (r < 0)
        return tby_error_prefix(err, "%s: stored value", key);
    if ((*out)->info != info) {
        tby_resource_freep(out);
        return tby_error_set(err, -EINVAL, "%s: stored value is a %s", key, info->name);
    }
    (*out)->meta.resource_version = mod_rev;
    return 0;
}

int tby_catalog_decode_kv(const struct tby_kv *kv, struct tby_resource **out,
                          struct tby_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    json_error_t jerr;

    if (!tby_catalog_kind_of_key(kv->key))
        return tby_error_set(err, -EINVAL, "%s: not a resource key", kv->key);
    doc = json_loadb(kv->value, kv->value_len, 0, &jerr);
    if (!doc)
        return tby_error_set(err, -EINVAL, "%s: stored value is not JSON: %s", kv->key,
                             jerr.text);
    return tby_catalog_decode_doc(kv->key, doc, kv->mod_rev, out, err);
}

static char *encode_value(const struct tby_resource *res, size_t *len)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    json_t *meta = doc ? json_object_get(doc, "metadata") : NULL;
    char *text;

    if (!meta)
        return NULL;
    json_object_del(meta, "resourceVersion");
    text = json_dumps(doc, JSON_COMPACT);
    if (text)
        *len = strlen(text);
    return text;
}

static char *res_key(const struct tby_resource *res)
{
    return tby_resource_key(res->info, res->meta.namespace, res->meta.name);
}

/* ---- reads -------------------------------------------------------------------------- */

int tby_catalog_get(struct tby_store *store, const struct tby_kind_info *info,
                    const char *namespace, const char *name, struct tby_resource **out,
                    struct tby_error *err)
{
    _cleanup_free_ char *key = tby_resource_key(info, namespace, name);
    struct tby_kv kv;
    char what[300];
    int r;

    if (!key)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_store_get(store, key, &kv, err);
    if (r == -ENOENT)
        return tby_error_set(err, -ENOENT, "%s not found",
                             describe(info, namespace ? namespace : "default", name, what,
                                      sizeof(what)));
    if (r < 0)
        return r;
    r = tby_catalog_decode_kv(&kv, out, err);
    tby_kv_clear(&kv);
    return r;
}

int tby_catalog_list(struct tby_store *store, const struct tby_kind_info *info,
                     const char *namespace, struct tby_resource_list *out,
                     struct tby_error *err)
{
    _cleanup_free_ char *prefix = tby_resource_prefix(info, namespace);
    struct tby_kv_list kvs;
    int r;

    memset(out, 0, sizeof(*out));
    if (!prefix)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_store_range(store, prefix, &kvs, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < kvs.n && r == 0; i++) {
        struct tby_resource *res = NULL;

        r = tby_catalog_decode_kv(&kvs.items[i], &res, err);
        if (r == 0 && tby_resource_list_push(out, res) < 0) {
            tby_resource_free(res);
            r = tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    tby_kv_list_clear(&kvs);
    if (r < 0)
        tby_resource_list_clear(out);
    return r;
}

/* ---- checks across resources -------------------------------------------------------- */

static int check_no_duplicates(const struct tby_resource_list *list, struct tby_error *err)
{
    char what[300];

    for (size_t i = 0; i < list->n; i++) {
        const struct tby_resource *a = list->items[i];

        for (size_t j = i + 1; j < list->n; j++) {
            const struct tby_resource *b = list->items[j];

            if (a->info == b->info && strcmp(a->meta.name, b->meta.name) == 0 &&
                (!a->info->namespaced || strcmp(a->meta.namespace, b->meta.namespace) == 0))
                return tby_error_set(err, -EINVAL, "%s is given twice",
                                     describe_res(a, what, sizeof(what)));
        }
    }
    return 0;
}

static bool list_has_kind(const struct tby_resource_list *list, enum tby_kind kind)
{
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->info->kind == kind)
            return true;
    return false;
}

static const struct tby_resource *find_named(const struct tby_resource_list *list,
                                             const struct tby_resource *like)
{
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->info == like->info &&
            strcmp(list->items[i]->meta.name, like->meta.name) == 0)
            return list->items[i];
    return NULL;
}

static int pool_overlap_error(const struct tby_resource *a, const struct tby_resource *b,
                              struct tby_error *err)
{
    char ca[TBY_CIDR_STRLEN], cb[TBY_CIDR_STRLEN];

    return tby_error_set(err, -EINVAL, "IPPool %s: spec.cidr: %s overlaps IPPool %s (%s)",
                         a->meta.name, tby_cidr_format(&a->spec.ippool->cidr, ca),
                         b->meta.name, tby_cidr_format(&b->spec.ippool->cidr, cb));
}

/* Pools of the write against each other and against stored pools they do not replace. */
static int check_pool_overlaps(const struct tby_resource_list *list,
                               const struct tby_resource_list *stored, struct tby_error *err)
{
    for (size_t i = 0; i < list->n; i++) {
        const struct tby_resource *a = list->items[i];

        if (a->info->kind != TBY_KIND_IPPOOL)
            continue;
        for (size_t j = i + 1; j < list->n; j++) {
            const struct tby_resource *b = list->items[j];

            if (b->info->kind == TBY_KIND_IPPOOL &&
                tby_cidr_overlaps(&a->spec.ippool->cidr, &b->spec.ippool->cidr))
                return pool_overlap_error(b, a, err);
        }
        for (size_t j = 0; j < stored->n; j++) {
            const struct tby_resource *b = stored->items[j];

            if (!find_named(list, b) &&
                tby_cidr_overlaps(&a->spec.ippool->cidr, &b->spec.ippool->cidr))
                return pool_overlap_error(a, b, err);
        }
    }
    return 0;
}

static bool is_policy(enum tby_kind kind)
{
    return kind == TBY_KIND_NETWORKPOLICY || kind == TBY_KIND_GLOBALNETWORKPOLICY;
}

static bool same_resource(const struct tby_resource *a, const struct tby_resource *b)
{
    return a->info == b->info && strcmp(a->meta.name, b->meta.name) == 0 &&
           (!a->info->namespaced || strcmp(a->meta.namespace, b->meta.namespace) == 0);
}

/* ---- tiers ------------------------------------------------------------------------- */

static bool names_tier(const struct tby_resource *res, const char *tier)
{
    return is_policy(res->info->kind) && res->spec.policy->tier &&
           strcmp(res->spec.policy->tier, tier) == 0;
}

/* A policy's tier must exist, stored or written with it ("default" always does). */
static int check_tier_exists(struct tby_store *store, const struct tby_resource_list *list,
                             const struct tby_resource *pol, struct tby_error *err)
{
    const char *tier = pol->spec.policy->tier;
    struct tby_resource *stored = NULL;
    char what[300];
    int r;

    if (!tier || strcmp(tier, TBY_TIER_DEFAULT) == 0)
        return 0;
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->info->kind == TBY_KIND_TIER &&
            strcmp(list->items[i]->meta.name, tier) == 0)
            return 0;
    r = tby_catalog_get(store, tby_kind_info(TBY_KIND_TIER), NULL, tier, &stored, err);
    tby_resource_free(stored);
    if (r == -ENOENT)
        r = tby_error_set(err, -ENOENT, "spec.tier: tier \"%s\" does not exist (apply its "
                                        "Tier first)", tier);
    return r < 0 ? tby_error_prefix(err, "%s", describe_res(pol, what, sizeof(what))) : 0;
}

static int check_policy_tiers(struct tby_store *store, const struct tby_resource_list *list,
                              struct tby_error *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < list->n; i++)
        if (is_policy(list->items[i]->info->kind))
            r = check_tier_exists(store, list, list->items[i], err);
    return r;
}

/* A tier is deleted only when no policy names it but those deleted with it; "default"
 * never. */
static int check_tier_unused(struct tby_store *store, const struct tby_resource_list *list,
                             const struct tby_resource *tier, struct tby_error *err)
{
    static const enum tby_kind kinds[2] = { TBY_KIND_NETWORKPOLICY,
                                            TBY_KIND_GLOBALNETWORKPOLICY };
    char what[300], user[300];
    int r = 0;

    if (strcmp(tier->meta.name, TBY_TIER_DEFAULT) == 0)
        return tby_error_set(err, -EPERM, "Tier default: the default tier cannot be deleted");
    for (int k = 0; k < 2 && r == 0; k++) {
        struct tby_resource_list pols;

        r = tby_catalog_list(store, tby_kind_info(kinds[k]), NULL, &pols, err);
        for (size_t i = 0; r == 0 && i < pols.n; i++) {
            bool going = false;

            if (!names_tier(pols.items[i], tier->meta.name))
                continue;
            for (size_t j = 0; j < list->n && !going; j++)
                going = same_resource(pols.items[i], list->items[j]);
            if (!going)
                r = tby_error_set(err, -EBUSY, "%s: used by %s; delete or move its policies "
                                               "first",
                                  describe_res(tier, what, sizeof(what)),
                                  describe_res(pols.items[i], user, sizeof(user)));
        }
        tby_resource_list_clear(&pols);
    }
    return r;
}

static int check_tiers_deletable(struct tby_store *store, const struct tby_resource_list *list,
                                 struct tby_error *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < list->n; i++)
        if (list->items[i]->info->kind == TBY_KIND_TIER)
            r = check_tier_unused(store, list, list->items[i], err);
    return r;
}

/* Nothing is written that tabby would not enforce (enforce.h). */
static int check_enforced(struct tby_store *store, const struct tby_resource_list *list,
                          struct tby_error *err)
{
    unsigned caps = tby_enforce_caps(store);
    char what[300];

    for (size_t i = 0; i < list->n; i++)
        if (tby_enforce_check(list->items[i], caps, err) < 0)
            return tby_error_prefix(err, "%s", describe_res(list->items[i], what, sizeof(what)));
    return 0;
}

/* What may not change once a resource exists. */
static int check_immutable(const struct tby_resource *old, const struct tby_resource *res,
                           struct tby_error *err)
{
    char was[TBY_CIDR_STRLEN], now[TBY_CIDR_STRLEN];

    if (res->info->kind != TBY_KIND_IPPOOL)
        return 0;
    if (!tby_cidr_equal(&old->spec.ippool->cidr, &res->spec.ippool->cidr))
        return tby_error_set(err, -EINVAL, "IPPool %s: spec.cidr: cannot change from %s to %s "
                             "(create a new pool and disable this one instead)",
                             res->meta.name, tby_cidr_format(&old->spec.ippool->cidr, was),
                             tby_cidr_format(&res->spec.ippool->cidr, now));
    if (old->spec.ippool->block_size != res->spec.ippool->block_size)
        return tby_error_set(err, -EINVAL, "IPPool %s: spec.blockSize: cannot change from %d "
                             "to %d once the pool exists", res->meta.name,
                             old->spec.ippool->block_size, res->spec.ippool->block_size);
    return 0;
}

/* ---- writes ------------------------------------------------------------------------- */

static int set_string(char **field, const char *value)
{
    char *copy = value ? strdup(value) : NULL;

    if (value && !copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int new_uid(char **out)
{
    uint8_t b[16];

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -EIO;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return asprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                    b[12], b[13], b[14], b[15]) < 0 ? -ENOMEM : 0;
}

static int stamp_new(struct tby_resource *res)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    free(res->meta.uid);
    res->meta.uid = NULL;
    if (new_uid(&res->meta.uid) < 0)
        return -ENOMEM;
    return set_string(&res->meta.creation_timestamp, now);
}

/* One resource's part of the transaction: decides create/replace/unchanged against what
 * is stored, and adds the compare and (unless unchanged) the put. */
static int plan_one(struct tby_store *store, struct tby_resource *res, enum tby_write_mode mode,
                    struct tby_txn *txn, enum tby_write_outcome *outcome,
                    struct tby_error *err)
{
    _cleanup_free_ char *key = res_key(res);
    _cleanup_(tby_resource_freep) struct tby_resource *old = NULL;
    _cleanup_free_ char *value = NULL;
    struct tby_kv kv = { 0 };
    char what[300];
    size_t len = 0;
    int r;

    if (!key)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_store_get(store, key, &kv, err);
    if (r < 0 && r != -ENOENT)
        return r;
    describe_res(res, what, sizeof(what));
    if (r == -ENOENT) {
        if (mode == TBY_WRITE_REPLACE)
            return tby_error_set(err, -ENOENT, "%s not found (use create or apply)", what);
        *outcome = TBY_OUTCOME_CREATED;
        tby_txn_compare(txn, key, 0);
        r = stamp_new(res);
    } else {
        int64_t mod_rev = kv.mod_rev;

        r = tby_catalog_decode_kv(&kv, &old, err);
        tby_kv_clear(&kv);
        if (r < 0)
            return r;
        if (mode == TBY_WRITE_CREATE)
            return tby_error_set(err, -EEXIST, "%s already exists (use replace or apply)", what);
        if (res->meta.resource_version && res->meta.resource_version != mod_rev)
            return tby_error_set(err, -ECANCELED, "%s: changed since it was read "
                                 "(resourceVersion %lld, now %lld): get it again",
                                 what, (long long)res->meta.resource_version,
                                 (long long)mod_rev);
        r = check_immutable(old, res, err);
        if (r < 0)
            return r;
        tby_txn_compare(txn, key, mod_rev);
        *outcome = tby_resource_equal(old, res) ? TBY_OUTCOME_UNCHANGED
                                                : TBY_OUTCOME_CONFIGURED;
        if (set_string(&res->meta.uid, old->meta.uid) < 0 ||
            set_string(&res->meta.creation_timestamp, old->meta.creation_timestamp) < 0)
            r = -ENOMEM;
        res->meta.resource_version = mod_rev;
    }
    if (r < 0)
        return tby_error_set(err, r, "out of memory");
    if (*outcome == TBY_OUTCOME_UNCHANGED)
        return 0;
    value = encode_value(res, &len);
    if (!value || tby_txn_put(txn, key, value, len) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int guard_pools(struct tby_store *store, struct tby_txn *txn, struct tby_error *err)
{
    struct tby_kv kv;
    int64_t mod_rev = 0;
    int r = tby_store_get(store, POOLS_GUARD_KEY, &kv, err);

    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0) {
        mod_rev = kv.mod_rev;
        tby_kv_clear(&kv);
    }
    if (tby_txn_compare(txn, POOLS_GUARD_KEY, mod_rev) < 0 ||
        tby_txn_put(txn, POOLS_GUARD_KEY, "{}", 2) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Pools against each other and what is stored; with a txn, the write also bumps the
 * guard key (a store without multi-key transactions has none: its check races). */
static int check_pools(struct tby_store *store, const struct tby_resource_list *list,
                       struct tby_txn *txn, struct tby_error *err)
{
    struct tby_resource_list stored;
    int r;

    if (!list_has_kind(list, TBY_KIND_IPPOOL))
        return 0;
    r = txn ? guard_pools(store, txn, err) : 0;
    if (r < 0)
        return r;
    r = tby_catalog_list(store, tby_kind_info(TBY_KIND_IPPOOL), NULL, &stored, err);
    if (r < 0)
        return r;
    r = check_pool_overlaps(list, &stored, err);
    tby_resource_list_clear(&stored);
    return r;
}

static int write_attempt(struct tby_store *store, struct tby_resource_list *list,
                         enum tby_write_mode mode, enum tby_write_outcome *outcomes,
                         struct tby_error *err)
{
    _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
    int64_t rev = 0;
    int r;

    if (!txn)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = check_pools(store, list, txn, err);
    for (size_t i = 0; i < list->n && r == 0; i++)
        r = plan_one(store, list->items[i], mode, txn, &outcomes[i], err);
    if (r < 0)
        return r;
    r = tby_store_commit(store, txn, &rev, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < list->n; i++)
        if (outcomes[i] != TBY_OUTCOME_UNCHANGED)
            list->items[i]->meta.resource_version = rev;
    return 0;
}

/* A resource without a resourceVersion is written on top of whatever is current, so a
 * conflict with a concurrent writer is retried; one with a resourceVersion is not. */
static bool may_retry(const struct tby_resource_list *list, const int64_t *asked)
{
    for (size_t i = 0; i < list->n; i++)
        if (asked[i])
            return false;
    return true;
}

/* ---- one resource at a time (stores without multi-key transactions) ------------------- */

/* "IPPool a created, IPPool b configured" for the resources [from, to) of the list that
 * have an outcome other than `not`; "none" when none. */
static void say_outcomes(struct tby_buf *out, const struct tby_resource_list *list,
                         const enum tby_write_outcome *outcomes, size_t from, size_t to,
                         bool with_outcome)
{
    size_t said = 0;
    char what[300];

    for (size_t i = from; i < to; i++) {
        if (with_outcome && outcomes[i] == TBY_OUTCOME_NOT_WRITTEN)
            continue;
        tby_buf_printf(out, "%s%s%s%s", said++ ? ", " : "",
                       describe_res(list->items[i], what, sizeof(what)),
                       with_outcome ? " " : "",
                       with_outcome ? tby_write_outcome_name(outcomes[i]) : "");
    }
    if (!said)
        tby_buf_adds(out, "none");
}

/* The message of a write that stopped at resource `at`: what went before it and what not. */
static int stopped_at(const struct tby_resource_list *list, const enum tby_write_outcome *own,
                      size_t at, int r, struct tby_error *err)
{
    _cleanup_buf_ struct tby_buf done = { 0 };
    char what[300], inner[TBY_ERROR_MAX];

    if (r == -ECANCELED)
        snprintf(inner, sizeof(inner), "changed since it was read (another writer)");
    else
        snprintf(inner, sizeof(inner), "%s", tby_error_str(err));
    say_outcomes(&done, list, own, 0, at, true);
    tby_buf_adds(&done, "; not written: ");
    say_outcomes(&done, list, own, at, list->n, false);
    if (tby_buf_error(&done) < 0 || list->n == 1)
        return tby_error_set(err, r, "%s: %s", describe_res(list->items[at], what, sizeof(what)),
                             inner);
    return tby_error_set(err, r, "stopped at %s: %s (written before it: %s)",
                         describe_res(list->items[at], what, sizeof(what)), inner, done.data);
}

/* Plans one resource into its own transaction (a compare and a put of one key), and asks
 * the store whether it will take that change at all. */
static int plan_single(struct tby_store *store, struct tby_resource *res,
                       enum tby_write_mode mode, struct tby_txn **txn,
                       enum tby_write_outcome *outcome, struct tby_error *err)
{
    _cleanup_free_ char *key = res_key(res);
    char what[300];
    int r;

    tby_txn_free(*txn);
    *txn = tby_txn_new();
    if (!*txn || !key)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = plan_one(store, res, mode, *txn, outcome, err);
    if (r < 0 || *outcome == TBY_OUTCOME_UNCHANGED)
        return r;
    r = tby_store_check_change(store, key, *outcome == TBY_OUTCOME_CREATED ? TBY_CHANGE_CREATE
                                                                           : TBY_CHANGE_UPDATE,
                               err);
    return r < 0 ? tby_error_prefix(err, "%s", describe_res(res, what, sizeof(what))) : 0;
}

static void txns_free(struct tby_txn **txns, size_t n)
{
    for (size_t i = 0; txns && i < n; i++)
        tby_txn_free(txns[i]);
    free(txns);
}

/* Commits resource i's transaction; a conflict on a resource given without a
 * resourceVersion plans it again on what is there now (as apply does) a few times. */
static int write_single(struct tby_store *store, struct tby_resource *res,
                        enum tby_write_mode mode, int64_t asked, struct tby_txn **txn,
                        enum tby_write_outcome *planned, struct tby_error *err)
{
    int64_t rev = 0;
    int r = 0;

    for (int attempt = 0; *planned != TBY_OUTCOME_UNCHANGED; attempt++) {
        r = tby_store_commit(store, *txn, &rev, err);
        if (r != -ECANCELED || asked || attempt + 1 >= MAX_ATTEMPTS)
            break;
        res->meta.resource_version = 0;
        r = plan_single(store, res, mode, txn, planned, err);
        if (r < 0)
            return r;
    }
    if (r == 0 && *planned != TBY_OUTCOME_UNCHANGED)
        res->meta.resource_version = rev;
    return r;
}

static int write_each(struct tby_store *store, struct tby_resource_list *list,
                      enum tby_write_mode mode, enum tby_write_outcome *outcomes,
                      struct tby_error *err)
{
    struct tby_txn **txns = calloc(list->n + 1, sizeof(*txns));
    _cleanup_free_ enum tby_write_outcome *planned = calloc(list->n + 1, sizeof(*planned));
    _cleanup_free_ int64_t *asked = calloc(list->n + 1, sizeof(*asked));
    int r = txns && planned && asked ? 0 : tby_error_set(err, -ENOMEM, "out of memory");

    for (size_t i = 0; i < list->n; i++) {
        outcomes[i] = TBY_OUTCOME_NOT_WRITTEN;
        asked[i] = list->items[i]->meta.resource_version;
    }
    if (r == 0)
        r = check_pools(store, list, NULL, err);
    for (size_t i = 0; i < list->n && r == 0; i++)
        r = plan_single(store, list->items[i], mode, &txns[i], &planned[i], err);
    for (size_t i = 0; i < list->n && r == 0; i++) {
        r = write_single(store, list->items[i], mode, asked[i], &txns[i], &planned[i], err);
        if (r < 0)
            r = stopped_at(list, outcomes, i, r, err);
        else
            outcomes[i] = planned[i];
    }
    txns_free(txns, list->n);
    return r;
}

int tby_catalog_write(struct tby_store *store, struct tby_resource_list *list,
                      enum tby_write_mode mode, enum tby_write_outcome *outcomes,
                      struct tby_error *err)
{
    _cleanup_free_ enum tby_write_outcome *own = NULL;
    _cleanup_free_ int64_t *asked = NULL;
    int r;

    r = check_no_duplicates(list, err);
    if (r == 0)
        r = check_enforced(store, list, err);
    if (r == 0)
        r = check_policy_tiers(store, list, err);
    if (r < 0)
        return r;
    own = calloc(list->n + 1, sizeof(*own));
    asked = calloc(list->n + 1, sizeof(*asked));
    if (!own || !asked)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (!tby_store_has_multi_txn(store)) {
        r = write_each(store, list, mode, own, err);
        if (outcomes)
            memcpy(outcomes, own, list->n * sizeof(*own));
        return r;
    }
    for (size_t i = 0; i < list->n; i++)
        asked[i] = list->items[i]->meta.resource_version;
    for (int attempt = 0;; attempt++) {
        r = write_attempt(store, list, mode, own, err);
        if (r != -ECANCELED || attempt + 1 >= MAX_ATTEMPTS || !may_retry(list, asked))
            break;
        for (size_t i = 0; i < list->n; i++)
            list->items[i]->meta.resource_version = asked[i];
    }
    if (r == -ECANCELED && may_retry(list, asked))
        tby_error_prefix(err, "the datastore kept changing during the write; try again");
    if (r == 0 && outcomes)
        memcpy(outcomes, own, list->n * sizeof(*own));
    return r;
}

/* ---- deletes ------------------------------------------------------------------------ */

static int plan_delete(struct tby_store *store, const struct tby_resource *res,
                       bool ignore_missing, struct tby_txn *txn, size_t *count,
                       struct tby_error *err)
{
    _cleanup_free_ char *key = res_key(res);
    struct tby_kv kv;
    char what[300];
    int r;

    if (!key)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_store_get(store, key, &kv, err);
    if (r == -ENOENT)
        return ignore_missing ? 0 : tby_error_set(err, -ENOENT, "%s not found",
                                                  describe_res(res, what, sizeof(what)));
    if (r < 0)
        return r;
    if (tby_txn_compare(txn, key, kv.mod_rev) < 0 || tby_txn_delete(txn, key) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    tby_kv_clear(&kv);
    (*count)++;
    return r;
}

/* Deletes one resource's key, compared at *rev; a conflict reads it again (a resource
 * gone meanwhile is not counted: *rev 0). */
static int delete_single(struct tby_store *store, const char *key, int64_t *rev,
                         struct tby_error *err)
{
    int r = 0;

    for (int attempt = 0; attempt < MAX_ATTEMPTS && *rev; attempt++) {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
        struct tby_kv kv;

        if (!txn || tby_txn_compare(txn, key, *rev) < 0 || tby_txn_delete(txn, key) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
        r = tby_store_commit(store, txn, NULL, err);
        if (r != -ECANCELED)
            return r;
        r = tby_store_get(store, key, &kv, err);
        *rev = r == 0 ? kv.mod_rev : 0;
        tby_kv_clear(&kv);
        if (r < 0 && r != -ENOENT)
            return r;
        r = -ECANCELED;
    }
    return *rev ? r : 0;
}

static int delete_each(struct tby_store *store, const struct tby_resource_list *list,
                       bool ignore_missing, size_t *deleted, struct tby_error *err)
{
    _cleanup_free_ int64_t *revs = calloc(list->n + 1, sizeof(*revs));
    _cleanup_buf_ struct tby_buf done = { 0 };
    size_t count = 0;
    char what[300];
    int r = revs ? 0 : tby_error_set(err, -ENOMEM, "out of memory");

    for (size_t i = 0; i < list->n && r == 0; i++) {
        _cleanup_free_ char *key = res_key(list->items[i]);
        struct tby_kv kv;

        describe_res(list->items[i], what, sizeof(what));
        r = key ? tby_store_get(store, key, &kv, err) : -ENOMEM;
        if (r == 0) {
            revs[i] = kv.mod_rev;
            tby_kv_clear(&kv);
            r = tby_store_check_change(store, key, TBY_CHANGE_DELETE, err);
            if (r < 0)
                tby_error_prefix(err, "%s", what);
        } else if (r == -ENOENT) {
            r = ignore_missing ? 0 : tby_error_set(err, -ENOENT, "%s not found", what);
        }
    }
    for (size_t i = 0; i < list->n && r == 0; i++) {
        _cleanup_free_ char *key = res_key(list->items[i]);

        describe_res(list->items[i], what, sizeof(what));
        r = key ? delete_single(store, key, &revs[i], err) : -ENOMEM;
        if (r < 0) {
            char inner[TBY_ERROR_MAX];

            snprintf(inner, sizeof(inner), "%s", r == -ECANCELED ? "it kept changing; try again"
                                                                 : tby_error_str(err));
            r = tby_error_set(err, r, "stopped at %s: %s (deleted before it: %s)", what, inner,
                              count && done.data ? done.data : "none");
        } else if (revs[i]) {
            tby_buf_printf(&done, "%s%s", count ? ", " : "", what);
            count++;
        }
    }
    if (deleted)
        *deleted = count;
    return r;
}

int tby_catalog_delete(struct tby_store *store, const struct tby_resource_list *list,
                       bool ignore_missing, size_t *deleted, struct tby_error *err)
{
    int r;

    r = check_no_duplicates(list, err);
    if (r == 0)
        r = check_tiers_deletable(store, list, err);
    if (r == 0 && !tby_store_has_multi_txn(store))
        return delete_each(store, list, ignore_missing, deleted, err);
    for (int attempt = 0; r == 0 && attempt < MAX_ATTEMPTS; attempt++) {
        _cleanup_(tby_txn_freep) struct tby_txn *txn = tby_txn_new();
        size_t count = 0;

        if (!txn)
            return tby_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < list->n && r == 0; i++)
            r = plan_delete(store, list->items[i], ignore_missing, txn, &count, err);
        if (r == 0)
            r = tby_store_commit(store, txn, NULL, err);
        if (r == 0 && deleted)
            *deleted = count;
        if (r != -ECANCELED)
            return r;
        r = 0;
    }
    return r ? r : tby_error_set(err, -ECANCELED, "the datastore kept changing during the "
                                                  "delete; try again");
}

int tby_catalog_delete_one(struct tby_store *store, const struct tby_kind_info *info,
                           const char *namespace, const char *name, struct tby_error *err)
{
    struct tby_resource res = { .info = info };
    struct tby_resource *items[1] = { &res };
    struct tby_resource_list list = { .items = items, .n = 1 };

    res.meta.namespace = (char *)(namespace ? namespace : "default");
    res.meta.name = (char *)name;
    return tby_catalog_delete(store, &list, false, NULL, err);
}
