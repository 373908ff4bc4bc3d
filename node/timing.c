/* timing.c — the clock, retry backoff, debounced triggers and duration histograms the
 * parts of tabby-node share (timing.h). */
#include <time.h>

#include "timing.h"

int64_t node_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int node_ms_until(int64_t at)
{
    int64_t left;

    if (at < 0)
        return -1;
    left = at - node_now_ms();
    return left <= 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
}

int node_min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int node_backoff_next(struct node_backoff *b)
{
    b->cur_ms = b->cur_ms ? b->cur_ms * 2 : b->first_ms;
    if (b->cur_ms > b->max_ms)
        b->cur_ms = b->max_ms;
    return b->cur_ms;
}

void node_backoff_reset(struct node_backoff *b)
{
    b->cur_ms = 0;
}

/* Upper bounds in seconds: from a tenth of a millisecond (an incremental nft batch) to
 * ten seconds (a full table of tens of thousands of endpoints). */
const double node_hist_bucket_s[NODE_HIST_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10,
};

void node_hist_add(struct node_hist *h, double ms)
{
    double s = ms / 1000.0;
    int i = 0;

    while (i < NODE_HIST_BUCKETS && s > node_hist_bucket_s[i])
        i++;
    h->counts[i]++;
    h->n++;
    h->sum_s += s;
}

/* ---- triggers ------------------------------------------------------------------------------ */

void node_trigger_set(struct node_trigger *t)
{
    if (!t->dirty)
        t->due = node_now_ms() + t->debounce_ms;
    t->dirty = true;
}

bool node_trigger_due(const struct node_trigger *t, int64_t now)
{
    return t->dirty && now >= t->due;
}

int node_trigger_timeout_ms(const struct node_trigger *t)
{
    return t->dirty ? node_ms_until(t->due) : -1;
}

static int trigger_update(void *ctx, const struct tby_resource *old,
                          const struct tby_resource *res)
{
    struct node_trigger *t = ctx;

    (void)old;
    if (t->reads && t->reads(res->info->kind))
        node_trigger_set(t);
    return 0;
}

static int trigger_remove(void *ctx, const struct tby_resource *old)
{
    return trigger_update(ctx, NULL, old);
}

static int trigger_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    (void)key;
    (void)kv;
    node_trigger_set(ctx);
    return 0;
}

static void trigger_in_sync(void *ctx)
{
    node_trigger_set(ctx);
}

struct tby_syncer_consumer node_trigger_consumer(struct node_trigger *t, const char *name,
                                                 const char *record_prefix)
{
    return (struct tby_syncer_consumer){ .name = name, .ctx = t, .update = trigger_update,
                                         .remove = trigger_remove, .in_sync = trigger_in_sync,
                                         .record_prefix = record_prefix,
                                         .record = record_prefix ? trigger_record : NULL };
}
