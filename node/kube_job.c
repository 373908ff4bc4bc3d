/* kube_job.c — a request a part has to get through to the Kubernetes API once (node.h):
 * the client made from the k8s: datastore's configuration, and the retry with backoff
 * (0.5 s doubling to 30 s) until it works, each distinct error logged once. */
#include <stdio.h>
#include <string.h>

#include "node.h"

int node_kube_job_start(const struct node *n, struct node_kube_job *job, const char *what,
                        struct tby_error *err)
{
    const struct tby_kube_config *cfg = tby_store_kube_config(n->store);

    memset(job, 0, sizeof(*job));
    job->what = what;
    job->backoff = (struct node_backoff){ .first_ms = 500, .max_ms = 30000 };
    return cfg ? tby_kube_client_new(cfg, &job->client, err) : 0;
}

void node_kube_job_stop(struct node_kube_job *job)
{
    tby_kube_client_free(job->client);
    job->client = NULL;
}

bool node_kube_job_due(const struct node_kube_job *job, int64_t now)
{
    return !job->done && now >= job->next_at;
}

void node_kube_job_failed(struct node_kube_job *job, int64_t now, enum tby_log_level level,
                          const struct tby_error *err)
{
    int delay = node_backoff_next(&job->backoff);

    job->failures++;
    if (strcmp(job->last_error, tby_error_str(err)) != 0)
        tby_log(level, "node", "request for %s failed retry_ms=%d error=\"%s\"", job->what, delay,
                tby_error_str(err));
    snprintf(job->last_error, sizeof(job->last_error), "%s", tby_error_str(err));
    job->next_at = now + delay;
}

void node_kube_job_done(struct node_kube_job *job)
{
    job->done = true;
    job->last_error[0] = '\0';
    node_backoff_reset(&job->backoff);
}

int node_kube_job_timeout_ms(const struct node_kube_job *job)
{
    return job->done || job->next_at <= node_now_ms() ? -1 : node_ms_until(job->next_at);
}
