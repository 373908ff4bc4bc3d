/* timing.h — the clock, retry backoff, debounced triggers and duration histograms that
 * tabby-node's parts share (timing.c). Everything here is plain data the caller owns;
 * nothing allocates.
 */
#ifndef TABBY_NODE_TIMING_H
#define TABBY_NODE_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/syncer.h"

/* Monotonic milliseconds. */
int64_t node_now_ms(void);
/* ms until `at` (monotonic), 0 when due, at most an hour; -1 for at < 0 (nothing pending). */
int node_ms_until(int64_t at);
/* The earlier of two timeouts, -1 meaning none. */
int node_min_timeout(int a, int b);

/* Durations, for a Prometheus histogram in seconds (node_hist_write in metrics.c). */
#define NODE_HIST_BUCKETS 12
struct node_hist {
    uint64_t counts[NODE_HIST_BUCKETS + 1]; /* per bucket, the last for +Inf */
    uint64_t n;
    double sum_s;
};
extern const double node_hist_bucket_s[NODE_HIST_BUCKETS]; /* upper bounds */
void node_hist_add(struct node_hist *h, double ms);

/* Exponential backoff between retries. */
struct node_backoff {
    int first_ms, max_ms, cur_ms;
};
/* The delay before the next retry (first_ms, doubling to max_ms). */
int node_backoff_next(struct node_backoff *b);
void node_backoff_reset(struct node_backoff *b);

/* A debounced "something this part reads has changed": set by a syncer consumer for the
 * kinds `reads` accepts, for records under a prefix, and after every complete read (so
 * that an empty cluster is acted on too). Changes come in bursts (a pod is an IPAM write,
 * then its endpoint): the part acts once, debounce_ms after the first. */
struct node_trigger {
    bool dirty;
    int64_t due;
    int debounce_ms;
    bool (*reads)(enum tby_kind kind);
};
void node_trigger_set(struct node_trigger *t);
bool node_trigger_due(const struct node_trigger *t, int64_t now);
int node_trigger_timeout_ms(const struct node_trigger *t);
/* A consumer that sets t; record_prefix may be NULL (no records). */
struct tby_syncer_consumer node_trigger_consumer(struct node_trigger *t, const char *name,
                                                 const char *record_prefix);

#endif
