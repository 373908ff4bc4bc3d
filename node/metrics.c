/* metrics.c — tabby-node's /metrics in Prometheus' text format (version 0.0.4), every
 * series named tabby_… with its HELP and TYPE lines: the core's (the node, readiness, the
 * datastore, the process), then each running part's through its metrics hook, written
 * with the helpers here.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "node.h"

static void metric(struct tby_buf *out, const char *name, const char *type, const char *help,
                   double v)
{
    tby_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name,
                   v);
}

void node_gauge(struct tby_buf *out, const char *name, const char *help, double v)
{
    metric(out, name, "gauge", help, v);
}

void node_counter(struct tby_buf *out, const char *name, const char *help, double v)
{
    metric(out, name, "counter", help, v);
}

void node_hist_write(struct tby_buf *out, const char *name, const char *help,
                     const struct node_hist *h)
{
    uint64_t cum = 0;

    tby_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < NODE_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        tby_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, node_hist_bucket_s[i],
                (unsigned long long)cum);
    }
    tby_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
            (unsigned long long)h->n, name, h->sum_s, name, (unsigned long long)h->n);
}

/* Resident memory and CPU time of this process, from /proc. */
static void process(struct tby_buf *out)
{
    FILE *p = fopen("/proc/self/statm", "re");
    unsigned long size = 0, resident = 0, utime = 0, stime = 0;
    double ticks = (double)sysconf(_SC_CLK_TCK);

    if (p) {
        if (fscanf(p, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(p);
    }
    node_gauge(out, "tabby_process_resident_memory_bytes", "Resident memory of tabby-node.",
               (double)resident * (double)sysconf(_SC_PAGESIZE));
    p = fopen("/proc/self/stat", "re");
    if (p) {
        /* utime and stime are fields 14 and 15; the name (field 2) has no spaces here */
        if (fscanf(p, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
            utime = stime = 0;
        fclose(p);
    }
    node_counter(out, "tabby_process_cpu_seconds_total", "CPU time used by tabby-node.",
                 (double)(utime + stime) / ticks);
}

static void datastore(struct tby_buf *out, const struct node *n)
{
    const struct tby_syncer_stats *s;
    struct tby_store_stats st;

    if (!n->syncer) { /* still waiting for the datastore's file */
        node_gauge(out, "tabby_datastore_online", "1 while the datastore answers.", 0);
        return;
    }
    s = tby_syncer_stats(n->syncer);
    st = tby_store_stats(n->store);
    node_gauge(out, "tabby_datastore_online", "1 while the datastore answers.",
               tby_syncer_online(n->syncer));
    node_counter(out, "tabby_datastore_errors_total", "Failed reads or watches of the datastore.",
                 (double)s->errors);
    node_counter(out, "tabby_datastore_listings_total",
                 "Complete listings of the datastore (the first, then relists).",
                 (double)s->reads);
    /* After start, ranges and watches grow only with relists; gets only before writes. */
    tby_buf_printf(out, "# HELP tabby_datastore_reads_total Requests that read the datastore, "
                   "by kind.\n# TYPE tabby_datastore_reads_total counter\n"
                   "tabby_datastore_reads_total{op=\"get\"} %llu\n"
                   "tabby_datastore_reads_total{op=\"range\"} %llu\n"
                   "tabby_datastore_reads_total{op=\"watch\"} %llu\n",
                   (unsigned long long)st.gets, (unsigned long long)st.ranges,
                   (unsigned long long)st.watches);
    node_counter(out, "tabby_datastore_writes_total", "Transactions written to the datastore.",
                 (double)st.commits);
    node_counter(out, "tabby_datastore_events_total", "Resource changes received.",
                 (double)s->events);
    node_gauge(out, "tabby_resources", "Resources and IPAM records held.",
               (double)tby_syncer_count(n->syncer));
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void label_value(struct tby_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            tby_buf_addc(out, '\\');
        if (*s == '\n')
            tby_buf_adds(out, "\\n");
        else
            tby_buf_addc(out, *s);
    }
}

int node_metrics_write(const struct node *n, struct tby_buf *out)
{
    char why[512];

    tby_buf_adds(out, "# HELP tabby_info tabby-node's node and networking backend.\n"
                    "# TYPE tabby_info gauge\ntabby_info{node=\"");
    label_value(out, n->name);
    tby_buf_printf(out, "\",backend=\"%s\",version=\"%s\"} 1\n", node_backend_name(n->cfg.backend),
            PACKAGE_VERSION);
    node_gauge(out, "tabby_ready", "1 once the first complete state is programmed and the "
                                 "datastore answers.", node_ready(n, why, sizeof(why)));
    datastore(out, n);
    for (size_t i = 0; i < n->n_parts; i++)
        if (n->state[i] && n->parts[i]->metrics)
            n->parts[i]->metrics(n->state[i], out);
    process(out);
    return tby_buf_error(out);
}
