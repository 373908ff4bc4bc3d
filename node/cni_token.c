/* cni_token.c — the CNI plugins' token, a part of tabby-node (node.h): in a pod whose
 * install-cni wrote the plugins' kubeconfig (TABBY_CNI_KUBECONFIG names it), a new token
 * is asked for and the file rewritten at start and then between a quarter and a half of
 * the token's life later, as calico-node does, so that the plugins never hold an expired
 * one. It needs no datastore (early): the plugins need their token on etcd as well. A
 * failure is retried (5 s doubling to a minute) and leaves the node degraded, not
 * unready: pods already wired keep working, and new ones work until the old token
 * expires. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tabby/log.h"
#include "cni_kubeconfig.h"
#include "node.h"

#define RETRY_MAX_MS 60000

struct node_cni_token {
    struct node_cni_kubeconfig k;
    int64_t due;              /* monotonic ms */
    int64_t expires;          /* the token written last, epoch seconds; 0: none */
    struct node_backoff backoff;
    uint64_t renewals, failures;
    struct tby_error last;    /* code 0: the last attempt worked */
};

static void cni_token_stop(void *state)
{
    struct node_cni_token *t = state;

    if (!t)
        return;
    node_cni_kubeconfig_close(&t->k);
    free(t);
}

static int cni_token_start(struct node *n, void **state, struct tby_error *err)
{
    const struct node_config *cfg = &n->cfg;
    struct node_cni_token *t;
    int r;

    if (!cfg->v[NODE_CNI_KUBECONFIG] || !*cfg->v[NODE_CNI_KUBECONFIG])
        return 0;
    t = calloc(1, sizeof(*t));
    if (!t)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = node_cni_kubeconfig_open(&t->k, cfg->v[NODE_SA_DIR], cfg->v[NODE_CNI_ACCOUNT],
                                 cfg->v[NODE_CNI_KUBECONFIG], cfg->cni_token_seconds, err);
    if (r < 0) {
        free(t);
        return tby_error_prefix(err, "TABBY_CNI_KUBECONFIG");
    }
    t->backoff = (struct node_backoff){ .first_ms = NODE_CNI_TOKEN_RETRY_MS,
                                        .max_ms = RETRY_MAX_MS };
    t->due = node_now_ms();
    *state = t;
    return 0;
}

static double random01(void)
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = (uint32_t)node_now_ms();
    return (double)v / 4294967296.0;
}

static void cni_token_run(void *state, const struct node *n)
{
    struct node_cni_token *t = state;
    int64_t now = node_now_ms();
    int r;

    if (now < t->due)
        return;
    r = node_cni_kubeconfig_write(&t->k, &t->expires, &t->last);
    now = node_now_ms(); /* the request may have taken seconds: wait from its end */
    if (r < 0) {
        t->failures++;
        t->due = now + node_backoff_next(&t->backoff);
        tby_log(TBY_LOG_WARNING, "cni-token", "the CNI plugins' token was not renewed "
                "path=%s error=\"%s\"", t->k.path, tby_error_str(&t->last));
        return;
    }
    t->last = (struct tby_error){ 0 };
    t->renewals++;
    node_backoff_reset(&t->backoff);
    t->due = now + node_cni_token_refresh_ms(t->expires, (int64_t)time(NULL), random01());
    tby_log(TBY_LOG_INFO, "cni-token", "renewed the CNI plugins' token path=%s account=%s/%s "
            "expires=%lld next_s=%lld", t->k.path, t->k.cfg->namespace, t->k.account,
            (long long)t->expires, (long long)((t->due - now) / 1000));
}

static int cni_token_timeout_ms(const void *state)
{
    return node_ms_until(((const struct node_cni_token *)state)->due);
}

static bool cni_token_degraded(const void *state, char *why, size_t size)
{
    const struct node_cni_token *t = state;

    if (!t->last.code)
        return false;
    snprintf(why, size, "the CNI plugins' token: %s", tby_error_str(&t->last));
    return true;
}

static void cni_token_metrics(const void *state, struct tby_buf *out)
{
    const struct node_cni_token *t = state;

    node_gauge(out, "tabby_cni_token_expiry_timestamp_seconds",
               "When the CNI plugins' token expires (0: none written yet).",
               (double)t->expires);
    node_counter(out, "tabby_cni_token_renewals_total", "CNI plugins' tokens written.",
                 (double)t->renewals);
    node_counter(out, "tabby_cni_token_failures_total",
                 "Failed attempts to renew the CNI plugins' token.", (double)t->failures);
}

const struct node_part node_cni_token_part = {
    .name = "cni-token",
    .early = true,
    .start = cni_token_start,
    .stop = cni_token_stop,
    .timeout_ms = cni_token_timeout_ms,
    .run = cni_token_run,
    .degraded = cni_token_degraded,
    .metrics = cni_token_metrics,
};
