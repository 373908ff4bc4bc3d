/* metrics.c — what tabby-node's HTTP endpoints say: whether it is ready (and why not),
 * and its state and counters in Prometheus' text format, all named tabby_…. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tabby/bgp_driver.h"
#include "tabby/ruleset.h"
#include "node.h"

/* ---- readiness ------------------------------------------------------------------------- */

/* What keeps the node from being ready, or NULL. Checked in the order the pieces depend
 * on each other, so that the reason named is the cause, not a consequence: the datastore
 * first (nothing runs without it), then this node's Node (the routes and BGP of every
 * node are made from it), then the policy and the routes programmed from the cluster. A
 * piece not tried yet says "yet"; one that failed says why. */
static const char *not_ready(const struct node *n, char *buf, size_t size)
{
    const struct tby_syncer_stats *ss;
    const struct node_register_stats *rs;
    const struct node_policy_stats *ps;

    if (!n->syncer) {
        snprintf(buf, size, "datastore file missing, waiting for it: %s", n->cfg.v[NODE_STORE]);
        return buf;
    }
    ss = tby_syncer_stats(n->syncer);
    if (!tby_syncer_online(n->syncer) && ss->last_error[0]) {
        snprintf(buf, size, "datastore unreachable: %s", ss->last_error);
        return buf;
    }
    if (!tby_syncer_online(n->syncer) || !tby_syncer_in_sync(n->syncer))
        return "datastore not read yet";
    rs = n->reg ? node_register_stats(n->reg) : NULL;
    if (rs && !rs->registered && !rs->last_error[0])
        return "node not registered yet";
    if (rs && !rs->registered) {
        snprintf(buf, size, "node not registered: %s", rs->last_error);
        return buf;
    }
    ps = node_policy_stats(n->policy);
    if (!ps->programmed && !ps->last_error[0])
        return "policy not programmed yet";
    if (!ps->programmed) {
        snprintf(buf, size, "policy not programmed: %s", ps->last_error);
        return buf;
    }
    if (n->routes && !node_routes_stats(n->routes)->applied)
        return "routes not programmed yet";
    return NULL;
}

/* What works, if not fully: said by a ready node. */
static void degraded(const struct node *n, char *why, size_t size)
{
    const char *routes = n->routes ? node_routes_stats(n->routes)->last_error : "";
    const char *policy = node_policy_stats(n->policy)->last_error;
    struct node_bgp_status bgp = { 0 };

    if (n->bgp)
        node_bgp_status(n->bgp, &bgp);
    if (routes[0])
        snprintf(why, size, "degraded: routes: %s", routes);
    else if (policy[0])
        snprintf(why, size, "degraded: policy: %s", policy);
    else if (n->bgp && !bgp.bird_up)
        snprintf(why, size, "degraded: BIRD not reachable");
    else if (n->bgp && bgp.driver->last_error[0])
        snprintf(why, size, "degraded: BGP: %s", bgp.driver->last_error);
    else
        why[0] = '\0';
}

bool node_ready(const struct node *n, char *why, size_t size)
{
    const char *reason = not_ready(n, why, size);

    if (reason) {
        if (reason != why)
            snprintf(why, size, "%s", reason);
        return false;
    }
    degraded(n, why, size);
    return true;
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void metric(FILE *f, const char *name, const char *type, const char *help, double v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    metric(f, name, "gauge", help, v);
}

static void counter(FILE *f, const char *name, const char *help, double v)
{
    metric(f, name, "counter", help, v);
}

/* Resident memory and CPU time of this process, from /proc. */
static void process(FILE *f)
{
    FILE *p = fopen("/proc/self/statm", "re");
    unsigned long size = 0, resident = 0, utime = 0, stime = 0;
    double ticks = (double)sysconf(_SC_CLK_TCK);

    if (p) {
        if (fscanf(p, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(p);
    }
    gauge(f, "tabby_process_resident_memory_bytes", "Resident memory of tabby-node.",
          (double)resident * (double)sysconf(_SC_PAGESIZE));
    p = fopen("/proc/self/stat", "re");
    if (p) {
        /* utime and stime are fields 14 and 15; the name (field 2) has no spaces here */
        if (fscanf(p, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
            utime = stime = 0;
        fclose(p);
    }
    counter(f, "tabby_process_cpu_seconds_total", "CPU time used by tabby-node.",
            (double)(utime + stime) / ticks);
}

static void datastore(FILE *f, const struct node *n)
{
    const struct tby_syncer_stats *s = tby_syncer_stats(n->syncer);

    gauge(f, "tabby_datastore_online", "1 while the datastore answers.",
          tby_syncer_online(n->syncer));
    counter(f, "tabby_datastore_errors_total", "Failed reads or watches of the datastore.",
            (double)s->errors);
    counter(f, "tabby_datastore_reads_total", "Complete reads of the datastore.",
            (double)s->reads);
    counter(f, "tabby_datastore_events_total", "Resource changes received.", (double)s->events);
    gauge(f, "tabby_resources", "Resources and IPAM records held.",
          (double)tby_syncer_count(n->syncer));
}

static void policy(FILE *f, const struct node *n)
{
    struct tby_calc *calc = node_policy_calc(n->policy);
    const struct node_policy_stats *ps = node_policy_stats(n->policy);
    struct tby_calc_stats cs;
    size_t sets, elems, chains, rules;

    tby_calc_stats(calc, &cs);
    tby_rs_counts(tby_calc_ruleset(calc), &sets, &elems, &chains, &rules);
    fprintf(f, "# HELP tabby_endpoints Workload endpoints known, this node's and all.\n"
               "# TYPE tabby_endpoints gauge\ntabby_endpoints{scope=\"local\"} %zu\n"
               "tabby_endpoints{scope=\"total\"} %zu\n", cs.local_endpoints, cs.endpoints);
    gauge(f, "tabby_policies", "Policies known (Calico and Kubernetes).", (double)cs.policies);
    gauge(f, "tabby_selectors", "Distinct selectors indexed.", (double)cs.selectors);
    gauge(f, "tabby_nft_sets", "Sets and maps in table inet tabby.", (double)sets);
    gauge(f, "tabby_nft_set_elements", "Set and map elements in table inet tabby.",
          (double)elems);
    gauge(f, "tabby_nft_chains", "Chains in table inet tabby.", (double)chains);
    gauge(f, "tabby_nft_rules", "Rules in table inet tabby.", (double)rules);
    counter(f, "tabby_nft_commits_total", "nftables transactions committed.",
            (double)ps->syncs);
    counter(f, "tabby_nft_commit_failures_total", "nftables transactions refused.",
            (double)ps->failures);
    node_hist_write(f, "tabby_policy_sync_seconds", "Time to program a policy change.",
                    &ps->sync_hist);
}

static void routes(FILE *f, const struct node *n)
{
    const struct node_routes_stats *rs = node_routes_stats(n->routes);

    gauge(f, "tabby_routes", "Routes tabby-node programs (protocol 80).", (double)rs->routes);
    gauge(f, "tabby_vxlan_vteps", "Remote VXLAN tunnel endpoints programmed.",
          (double)rs->vteps);
    gauge(f, "tabby_route_warnings", "What the last route plan had to leave out.",
          (double)rs->warnings);
    gauge(f, "tabby_routes_degraded", "1 while part of the routes could not be applied.",
          rs->last_error[0] != '\0');
    counter(f, "tabby_route_applies_total", "Route plans applied or repaired.",
            (double)rs->applies);
    counter(f, "tabby_route_changes_total", "Kernel writes of routes, neighbours, FDB, links.",
            (double)rs->changes);
    counter(f, "tabby_route_failures_total", "Route applies that failed in part.",
            (double)rs->failures);
    node_hist_write(f, "tabby_routes_apply_seconds", "Time to apply a route plan.",
                    &rs->apply_hist);
}

static void bgp(FILE *f, const struct node *n)
{
    struct node_bgp_status st;

    node_bgp_status(n->bgp, &st);
    gauge(f, "tabby_bird_up", "1 while BIRD answers on its control socket.", st.bird_up);
    fprintf(f, "# HELP tabby_bgp_peers BGP sessions, established and configured.\n"
               "# TYPE tabby_bgp_peers gauge\ntabby_bgp_peers{state=\"established\"} %zu\n"
               "tabby_bgp_peers{state=\"configured\"} %zu\n", st.peers_up, st.peers);
    gauge(f, "tabby_bgp_blocks", "Blocks announced.", (double)st.driver->blocks);
    counter(f, "tabby_bgp_syncs_total", "BIRD configurations rendered.",
            (double)st.driver->syncs);
    counter(f, "tabby_bgp_reloads_total", "BIRD reloads.", (double)st.driver->reloads);
    counter(f, "tabby_bgp_failures_total", "BIRD configurations not applied.",
            (double)st.driver->failures);
    counter(f, "tabby_bgp_unreachable_total", "Times BIRD could not be reached.",
            (double)st.driver->unreachable);
}

static void ipam(FILE *f, const struct node *n)
{
    const struct node_ipam_stats *is = node_housekeeping_stats(n->housekeeping);

    gauge(f, "tabby_ipam_blocks", "IPAM blocks affine to this node.", (double)is->blocks);
    gauge(f, "tabby_ipam_addresses", "Addresses in this node's blocks.",
          (double)is->addresses);
    gauge(f, "tabby_ipam_addresses_in_use", "Allocated addresses in this node's blocks.",
          (double)is->in_use);
    counter(f, "tabby_ipam_blocks_released_total", "Empty blocks given up by housekeeping.",
            (double)is->blocks_released);
    counter(f, "tabby_ipam_gc_runs_total", "IPAM block collections.", (double)is->gc_runs);
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

int node_metrics_write(const struct node *n, FILE *f)
{
    char why[512];

    fputs("# HELP tabby_info tabby-node's node and networking backend.\n"
          "# TYPE tabby_info gauge\ntabby_info{node=\"", f);
    label_value(f, n->name);
    fprintf(f, "\",backend=\"%s\",version=\"%s\"} 1\n", node_backend_name(n->cfg.backend),
            PACKAGE_VERSION);
    gauge(f, "tabby_ready", "1 once the first complete state is programmed and the "
                            "datastore answers.", node_ready(n, why, sizeof(why)));
    if (n->reg) {
        gauge(f, "tabby_node_registered", "1 while the Node resource holds what this node "
                                          "detected.", node_register_stats(n->reg)->registered);
        counter(f, "tabby_node_registration_failures_total", "Failed Node registrations.",
                (double)node_register_stats(n->reg)->failures);
    }
    if (n->syncer) { /* else still waiting for the datastore: nothing else runs yet */
        datastore(f, n);
        policy(f, n);
        if (n->routes)
            routes(f, n);
        if (n->bgp)
            bgp(f, n);
        ipam(f, n);
    } else {
        gauge(f, "tabby_datastore_online", "1 while the datastore answers.", 0);
    }
    process(f);
    return ferror(f) ? -1 : 0;
}
