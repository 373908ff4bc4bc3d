/* clusterinfo.c — Calico's ClusterInformation "default" on k8s: (clusterinfo.h), a part
 * (node.h): made or completed once the datastore is open, as calico-node does at start
 * (GET; a missing one is created, a race lost to another node read again; a present one
 * gets what it lacks through a PUT conditional on what was read, again on a conflict).
 * Until that worked, and whenever datastoreReady says false (a Calico upgrade under way:
 * checked again every RECHECK_MS at start, then followed through the syncer's watch of
 * ClusterInformation), the node is not ready and says why, and, as Felix stops (and waits
 * at start) while it is false, the other parts hold: what they programmed stays, changes
 * wait until it is true again. Only on the k8s: datastore: elsewhere the part has no
 * place. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tabby/cleanup.h"
#include "tabby/digest.h"
#include "tabby/kube.h"
#include "tabby/log.h"
#include "clusterinfo.h"
#include "node.h"

#define NAME "default"
#define RECHECK_MS 10000
/* The syncer's record of it (lib/store_k8s_clusterinfo.c: the spec). */
#define RECORDS "/tabby/v1/clusterinformations/"

static const struct tby_kube_resource clusterinformations = {
    "crd.projectcalico.org", "v1", "clusterinformations", "ClusterInformation", false, false,
};

/* ---- the plan (clusterinfo.h) ------------------------------------------------------------ */

void node_clusterinfo_guid(char out[33])
{
    uint8_t b[16] = { 0 };

    /* 16 bytes from a seeded pool never come short; a kernel without getrandom gives
     * zeros here, and still a valid GUID */
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        memset(b, 0, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    tby_hex(b, sizeof(b), out);
}

static bool set_string_if_empty(json_t *spec, const char *key, const char *value)
{
    const char *now = json_string_value(json_object_get(spec, key));

    if (now && *now)
        return false;
    json_object_set_new(spec, key, json_string(value));
    return true;
}

/* Whether the comma-separated `list` holds `item` (len bytes). */
static bool list_has(const char *list, const char *item, size_t len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");

        if (n == len && strncmp(p, item, len) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* clusterType with what `want` ("a,b") names and it lacks appended. */
static bool add_types(json_t *spec, const char *want)
{
    const char *now = json_string_value(json_object_get(spec, "clusterType"));
    struct tby_buf out = { 0 };
    bool changed = false;

    tby_buf_adds(&out, now ? now : "");
    for (const char *p = want; *p;) {
        size_t n = strcspn(p, ",");

        if (n && !list_has(out.data ? out.data : "", p, n)) {
            if (out.len)
                tby_buf_addc(&out, ',');
            tby_buf_add(&out, p, n);
            changed = true;
        }
        p += n + (p[n] == ',');
    }
    if (changed && !tby_buf_error(&out))
        json_object_set_new(spec, "clusterType", json_string(out.data));
    tby_buf_clear(&out);
    return changed;
}

bool node_clusterinfo_fill(json_t *obj, const char *guid, const char *types)
{
    json_t *spec = json_object_get(obj, "spec");
    _cleanup_free_ char *want = NULL;
    bool changed = false;

    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    changed |= set_string_if_empty(spec, "clusterGUID", guid);
    changed |= set_string_if_empty(spec, "calicoVersion", NODE_CLUSTERINFO_VERSION);
    if (!json_is_boolean(json_object_get(spec, "datastoreReady"))) {
        json_object_set_new(spec, "datastoreReady", json_true());
        changed = true;
    }
    /* "kdd" comes last, after the types given, as Calico orders them */
    if (asprintf(&want, "%s%skdd", types ? types : "", types && *types ? "," : "") >= 0)
        changed |= add_types(spec, want);
    return changed;
}

json_t *node_clusterinfo_new(void)
{
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{}}", "apiVersion",
                     "crd.projectcalico.org/v1", "kind", "ClusterInformation", "metadata",
                     "name", NAME, "annotations", "projectcalico.org/metadata",
                     "{\"creationTimestamp\":null}", "spec");
}

bool node_clusterinfo_ready(const json_t *obj)
{
    return !json_is_false(json_object_get(json_object_get(obj, "spec"), "datastoreReady"));
}

/* ---- the part ------------------------------------------------------------------------------ */

struct node_clusterinfo {
    struct node_kube_job job;   /* done: made or completed, and datastoreReady */
    const char *types;          /* CLUSTER_TYPE (borrowed from the settings) */
    char guid[33];              /* for a cluster that has none yet */
    bool not_ready;             /* the last look said datastoreReady: false */
};

/* The watched ClusterInformation changed (kv NULL: deleted, which counts as ready). */
static int on_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    struct node_clusterinfo *c = ctx;
    _cleanup_json_ json_t *spec = NULL;
    bool ready;

    if (strcmp(key, RECORDS NAME) != 0)
        return 0;
    spec = kv ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
    ready = !json_is_false(json_object_get(spec, "datastoreReady"));
    if (ready == !c->not_ready)
        return 0;
    c->not_ready = !ready;
    if (ready) {
        tby_log(TBY_LOG_INFO, "node", "ClusterInformation says datastoreReady: true");
        c->job.next_at = 0; /* a start still waiting looks again now */
    } else {
        tby_log(TBY_LOG_WARNING, "node", "ClusterInformation says datastoreReady: false, "
                "holding what is programmed (an upgrade is under way)");
    }
    return 0;
}

static struct tby_syncer_consumer clusterinfo_consumer(void *state)
{
    return (struct tby_syncer_consumer){ .name = "clusterinfo", .ctx = state,
                                         .record_prefix = RECORDS, .record = on_record };
}

static bool clusterinfo_holds(const void *state)
{
    return ((const struct node_clusterinfo *)state)->not_ready;
}

static void clusterinfo_stop(void *state)
{
    struct node_clusterinfo *c = state;

    if (c)
        node_kube_job_stop(&c->job);
    free(c);
}

/* Only on the k8s: datastore (no client elsewhere: no state, the part has no place). */
static int clusterinfo_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_clusterinfo *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = node_kube_job_start(n, &c->job, "ClusterInformation", err);
    if (r < 0 || !c->job.client) {
        clusterinfo_stop(c);
        return r;
    }
    c->types = n->cfg.v[NODE_CLUSTER_TYPE];
    node_clusterinfo_guid(c->guid);
    *state = c;
    return 0;
}

static int fill_read(json_t *obj, void *ctx, struct tby_error *err)
{
    const struct node_clusterinfo *c = ctx;

    (void)err;
    return node_clusterinfo_fill(obj, c->guid, c->types) ? 0 : TBY_KUBE_UNCHANGED;
}

/* The object as it is once made or completed (*out). A create lost to another node is read
 * again, once. */
static int ensure(struct node_clusterinfo *c, json_t **out, bool *created, struct tby_error *err)
{
    int r = 0;

    *created = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        _cleanup_json_ json_t *obj = NULL;

        r = tby_kube_modify(c->job.client, &clusterinformations, NULL, NAME, fill_read, c, 0,
                            out, err);
        if (r != -ENOENT)
            return r;
        if (!(obj = node_clusterinfo_new()))
            return tby_error_set(err, -ENOMEM, "out of memory");
        node_clusterinfo_fill(obj, c->guid, c->types);
        r = tby_kube_create(c->job.client, &clusterinformations, NULL, obj, out, err);
        if (r != -EEXIST) {
            *created = r == 0;
            return r;
        }
    }
    return r;
}

static void clusterinfo_run(void *state, const struct node *n)
{
    struct node_clusterinfo *c = state;
    _cleanup_json_ json_t *obj = NULL;
    struct tby_error err = { 0 };
    int64_t now = node_now_ms();
    bool created;

    (void)n;
    if (!node_kube_job_due(&c->job, now))
        return;
    if (ensure(c, &obj, &created, &err) < 0) {
        node_kube_job_failed(&c->job, now, TBY_LOG_ERROR, &err);
        return;
    }
    if (created)
        tby_log(TBY_LOG_INFO, "node", "ClusterInformation created guid=%s version=%s",
                c->guid, NODE_CLUSTERINFO_VERSION);
    if (!node_clusterinfo_ready(obj)) {
        if (!c->not_ready)
            tby_log(TBY_LOG_WARNING, "node", "ClusterInformation says datastoreReady: false, "
                    "waiting (an upgrade is under way)");
        c->not_ready = true;
        c->job.last_error[0] = '\0';
        c->job.next_at = now + RECHECK_MS;
        return;
    }
    if (c->not_ready)
        tby_log(TBY_LOG_INFO, "node", "ClusterInformation says datastoreReady: true");
    c->not_ready = false;
    node_kube_job_done(&c->job);
}

static int clusterinfo_timeout_ms(const void *state)
{
    return node_kube_job_timeout_ms(&((const struct node_clusterinfo *)state)->job);
}

static bool clusterinfo_ready(const void *state, char *why, size_t size)
{
    const struct node_clusterinfo *c = state;

    if (c->not_ready)
        return node_not_ready(why, size, "ClusterInformation default",
                              "datastoreReady is false (an upgrade is under way)");
    if (c->job.done)
        return true;
    return node_not_ready(why, size, "ClusterInformation default not ensured",
                          c->job.last_error);
}

const struct node_part node_clusterinfo_part = {
    .name = "clusterinfo",
    .start = clusterinfo_start,
    .stop = clusterinfo_stop,
    .consumer = clusterinfo_consumer,
    .timeout_ms = clusterinfo_timeout_ms,
    .run = clusterinfo_run,
    .ready = clusterinfo_ready,
    .holds = clusterinfo_holds,
};
