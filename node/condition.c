/* condition.c — the Kubernetes Node's NetworkUnavailable condition, a part (node.h), on the
 * k8s: datastore only: set to False once this node is ready for the first time (the
 * datastore read, its Node registered, policy and routes programmed), as calico-node sets
 * it once Felix and BIRD are ready, so that the scheduler (where a cloud route controller
 * marks new nodes unavailable) places pods here only when their network can work. A
 * strategic-merge patch of nodes/<name>/status, which touches no other condition; tried
 * again with backoff until it works, once per start.
 *
 * Calico sets the condition True again when calico-node is shut down. tabby-node does not:
 * what it programmed stays when it stops (fail-static), so the node's network is not
 * unavailable then. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tabby/cleanup.h"
#include "tabby/kube.h"
#include "tabby/log.h"
#include "node.h"

#define REASON "TabbyIsUp"
#define MESSAGE "tabby-node is running on this node, its routes and policy programmed"

struct node_condition {
    struct node_kube_job job;
    const char *node;
};

static void condition_stop(void *state)
{
    struct node_condition *c = state;

    if (c)
        node_kube_job_stop(&c->job);
    free(c);
}

/* Only on the k8s: datastore (no client elsewhere: no state, the part has no place). */
static int condition_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_condition *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = node_kube_job_start(n, &c->job, "NetworkUnavailable condition", err);
    if (r < 0 || !c->job.client) {
        condition_stop(c);
        return r;
    }
    c->node = n->name;
    *state = c;
    return 0;
}

/* {"status":{"conditions":[{"type":"NetworkUnavailable","status":"False",…}]}}: conditions
 * merge by type. */
static json_t *patch_body(void)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;

    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    return json_pack("{s:{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type",
                     "NetworkUnavailable", "status", "False", "reason", REASON, "message",
                     MESSAGE, "lastTransitionTime", now, "lastHeartbeatTime", now);
}

static void condition_run(void *state, const struct node *n)
{
    struct node_condition *c = state;
    _cleanup_json_ json_t *patch = NULL;
    struct tby_error err = { 0 };
    int64_t now = node_now_ms();
    char why[256];
    int r;

    if (!node_kube_job_due(&c->job, now) || !node_ready(n, why, sizeof(why)))
        return;
    if (!(patch = patch_body()))
        r = tby_error_set(&err, -ENOMEM, "out of memory");
    else
        r = tby_kube_patch(c->job.client, &tby_kube_nodes, NULL, c->node,
                           TBY_KUBE_PATCH_STRATEGIC, patch, "status", NULL, &err);
    if (r < 0) {
        node_kube_job_failed(&c->job, now, TBY_LOG_WARNING, &err);
        return;
    }
    node_kube_job_done(&c->job);
    tby_log(TBY_LOG_INFO, "node", "NetworkUnavailable condition set to False node=%s "
            "reason=" REASON, c->node);
}

/* While it waits for the node to be ready, the turn that makes it so runs this part after
 * the parts it waits for. */
static int condition_timeout_ms(const void *state)
{
    return node_kube_job_timeout_ms(&((const struct node_condition *)state)->job);
}

static bool condition_degraded(const void *state, char *why, size_t size)
{
    const struct node_condition *c = state;

    if (c->job.done || !c->job.last_error[0])
        return false;
    snprintf(why, size, "Node %s's NetworkUnavailable condition not set: %s", c->node,
             c->job.last_error);
    return true;
}

static void condition_metrics(const void *state, struct tby_buf *out)
{
    const struct node_condition *c = state;

    node_gauge(out, "tabby_node_network_available", "1 once the Kubernetes Node's "
               "NetworkUnavailable condition says False.", c->job.done);
}

const struct node_part node_condition_part = {
    .name = "condition",
    .start = condition_start,
    .stop = condition_stop,
    .timeout_ms = condition_timeout_ms,
    .run = condition_run,
    .degraded = condition_degraded,
    .metrics = condition_metrics,
};
