/* policy_sync.c — `policy-sync`: what programming policy costs, tabby's libnftnl batch
 * against the same ruleset loaded as an `nft -f` script (the text path of kube-proxy's
 * and Calico's nftables modes), for the full ruleset and for one-pod changes, and the
 * engine's resident memory. Runs only in a network namespace it makes itself (unshare);
 * needs root and the nft program.
 *
 *   policy-sync                     the matrix: N 1k, 10k endpoints x M 100, 1k policies,
 *                                   one-pod changes at N=100 and N=10k, then 10k x 10k of
 *                                   both workloads and the growth from 1k policies
 *   policy-sync -n N -m M           one size
 *   policy-sync --shared            pods of a deployment share labels (few distinct policy
 *                                   lists); the default gives nearly every pod its own list
 *   policy-sync --calc [--runs R] [-n N -m M] [--shared]
 *                                   the calculation alone (no kernel, no root), each run in
 *                                   a process of its own: time (wall, CPU), engine RSS and
 *                                   the table's size, ranges over R runs (3); without -n,
 *                                   1k x 1k, 10k x 1k, 3k and 10k, both workloads, and how
 *                                   time and RSS grow from 1k to 10k
 *   policy-sync --calc --churn R -n N -m M [--shared]
 *                                   then R rounds of churn (a tenth of the policies and of
 *                                   the endpoints deleted and added back, another tenth
 *                                   relabelled and back), the engine's RSS after each: an
 *                                   engine that keeps what it let go grows round by round
 *   policy-sync --emit -n N -m M [--pod IF,IP]...
 *                                   print the table as nft text (for policy-throughput.sh)
 *   policy-sync --emit --worst ...  the pods' allowing policy is their last one, after a tier
 *   policy-sync --load ...          the same, programmed into the current namespace
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include <jansson.h>

#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/nft.h"
#include "tabby/resource.h"

#define NAMESPACES 10
#define APPS 100
#define REPEAT 11

struct opts {
    int n, m;
    bool shared, emit, load, calc;
    int runs;                 /* --calc: runs per size */
    int churn;                /* --calc --churn: rounds of churn after the workload */
    bool worst;               /* real pods: their allowing policy last, a tier first */
    const char *pods[8];      /* "ifname,ip" of real pods (for the throughput bench) */
    int n_pods;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const struct tby_error *err)
{
    fprintf(stderr, "policy-sync: %s: %s\n", what, err ? tby_error_str(err) : strerror(errno));
    exit(1);
}

/* ---- the workload, as documents through the real decoder -------------------------------- */

static void feed_or_remove(struct tby_calc *c, json_t *doc, bool remove)
{
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };

    if (tby_resource_decode(doc, &res, &err) < 0 ||
        (remove ? tby_calc_remove(c, res, &err) : tby_calc_update(c, res, &err)) < 0)
        die("workload", &err);
    tby_resource_free(res);
    json_decref(doc);
}

static void feed(struct tby_calc *c, json_t *doc)
{
    feed_or_remove(c, doc, false);
}

/* Added to the first port of policy_doc's rules: a policy change. */
static int port_bump;

static json_t *namespace_doc(int k)
{
    char name[16], team[16];

    snprintf(name, sizeof(name), "ns%d", k);
    snprintf(team, sizeof(team), "t%d", k);
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace",
                     "metadata", "name", name, "labels", "team", team);
}

/* Labels of endpoint i: its app, and for the distinct workload two policy groups. */
static json_t *endpoint_labels(int i, const struct opts *o)
{
    json_t *l = json_object();
    char v[32];

    snprintf(v, sizeof(v), "app%d", i % APPS);
    json_object_set_new(l, "app", json_string(v));
    if (!o->shared) {
        snprintf(v, sizeof(v), "p%d", i % o->m);
        json_object_set_new(l, "pa", json_string(v));
        snprintf(v, sizeof(v), "p%d", (i / o->m * 7 + i / 3) % o->m);
        json_object_set_new(l, "pb", json_string(v));
    }
    return l;
}

static json_t *endpoint_doc(int i, const char *ifname, const char *ip, json_t *labels)
{
    char name[64], ns[16], net[64];

    snprintf(name, sizeof(name), "node-k8s-pod%d-eth0", i);
    snprintf(ns, sizeof(ns), "ns%d", i % NAMESPACES);
    snprintf(net, sizeof(net), "%s/32", ip);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:s, s:s, s:s, s:s, s:[s], "
                     "s:[{s:s, s:s, s:i}]}}",
                     "apiVersion", "projectcalico.org/v3", "kind", "WorkloadEndpoint",
                     "metadata", "name", name, "namespace", ns, "labels", labels,
                     "spec", "orchestrator", "k8s", "node", "node", "pod", name + 10,
                     "endpoint", "eth0", "interfaceName", ifname, "ipNetworks", net,
                     "ports", "name", "http", "protocol", "TCP", "port", 8080);
}

static void endpoint_names(int i, char ifname[16], char ip[32])
{
    snprintf(ifname, 16, "b%x", i);
    snprintf(ip, 32, "10.%d.%d.%d", 1 + (i >> 16), (i >> 8) & 255, i & 255);
}

static void add_endpoint(struct tby_calc *c, int i, const struct opts *o, int like)
{
    char ifname[16], ip[32];

    endpoint_names(i, ifname, ip);
    feed(c, endpoint_doc(i, ifname, ip, endpoint_labels(like, o)));
}

/* Kubernetes policies by app (shared workload) or Calico policies by policy group
 * (distinct workload); each allows TCP 80 and 443 and the named port from another app. */
static json_t *policy_doc(int j, const struct opts *o)
{
    char name[32], ns[16], app[16], peer[64], sel[96];

    snprintf(name, sizeof(name), "pol%d", j);
    snprintf(ns, sizeof(ns), "ns%d", j % NAMESPACES);
    snprintf(app, sizeof(app), "app%d", j % APPS);
    if (o->shared) {
        snprintf(peer, sizeof(peer), "app%d", (j + 1) % APPS);
        return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:s}}, s:[{s:[{s:{s:{s:s}}}], "
                         "s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:s}]}]}}",
                         "apiVersion", "networking.k8s.io/v1", "kind", "NetworkPolicy",
                         "metadata", "name", name, "namespace", ns,
                         "spec", "podSelector", "matchLabels", "app", app,
                         "ingress", "from", "podSelector", "matchLabels", "app", peer,
                         "ports", "protocol", "TCP", "port", 80 + port_bump, "protocol", "TCP", "port", 443,
                         "protocol", "TCP", "port", "http");
    }
    snprintf(sel, sizeof(sel), "pa == 'p%d' || pb == 'p%d'", j, j);
    snprintf(peer, sizeof(peer), "app == 'app%d'", (j + 1) % APPS);
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:[{s:s, s:s, s:{s:s}, s:{s:[i,i]}}], "
                     "s:[{s:s, s:s, s:{s:[s], s:[i]}}]}}",
                     "apiVersion", "projectcalico.org/v3", "kind", "GlobalNetworkPolicy",
                     "metadata", "name", name,
                     "spec", "selector", sel,
                     "ingress", "action", "Allow", "protocol", "TCP", "source", "selector", peer,
                     "destination", "ports", 80 + port_bump, 443,
                     "egress", "action", "Allow", "protocol", "UDP", "destination", "nets",
                     "10.0.0.0/8", "ports", 53);
}

/* --worst: a tier "security" (order 100, defaultAction Pass) before the default tier, with
 * TIER_POLICIES policies: one selects the real pods and decides nothing for their
 * traffic, the others select apps; so the pods' packets walk that tier and pass. */
#define TIER_POLICIES 16

static void add_tier(struct tby_calc *c)
{
    feed(c, json_pack("{s:s, s:s, s:{s:s}, s:{s:f, s:s}}", "apiVersion", "projectcalico.org/v3",
                      "kind", "Tier", "metadata", "name", "security", "spec", "order", 100.0,
                      "defaultAction", "Pass"));
    for (int j = 0; j < TIER_POLICIES; j++) {
        char name[48], sel[64];

        snprintf(name, sizeof(name), "security.sec%d", j);
        if (j == 0)
            snprintf(sel, sizeof(sel), "role == 'bench'");
        else
            snprintf(sel, sizeof(sel), "app == 'app%d'", j);
        feed(c, json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:[{s:s, s:s, s:{s:[i]}}], "
                          "s:[{s:s, s:s, s:{s:[i]}}]}}",
                          "apiVersion", "projectcalico.org/v3", "kind", "GlobalNetworkPolicy",
                          "metadata", "name", name, "spec", "tier", "security", "selector", sel,
                          "ingress", "action", "Deny", "protocol", "UDP", "destination", "ports",
                          9999, "egress", "action", "Deny", "protocol", "UDP", "destination",
                          "ports", 9999));
    }
}

/* Real pods (throughput bench): local endpoints allowed to reach each other on any port.
 * --worst: the allowing policy is the last of theirs (unordered, named last), after two
 * policies of the workload that select them and do not allow that traffic, and a tier
 * before the default one (add_tier). */
static void add_real_pods(struct tby_calc *c, const struct opts *o)
{
    for (int k = 0; k < o->n_pods; k++) {
        char ifname[16] = "", ip[32] = "";
        json_t *labels = json_pack("{s:s}", "role", "bench");

        if (o->worst) {
            json_t *like = endpoint_labels(k, o);

            json_object_update(labels, like);
            json_decref(like);
        }
        sscanf(o->pods[k], "%15[^,],%31s", ifname, ip);
        feed(c, endpoint_doc(1000000 + k, ifname, ip, labels));
    }
    if (o->n_pods && o->worst)
        add_tier(c);
    if (o->n_pods && o->worst)
        feed(c, json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:[{s:s, s:{s:s}}], s:[{s:s}]}}",
                          "apiVersion", "projectcalico.org/v3", "kind", "GlobalNetworkPolicy",
                          "metadata", "name", "zz-bench-pods", "spec", "selector",
                          "role == 'bench'", "ingress", "action", "Allow",
                          "source", "selector", "role == 'bench'", "egress", "action", "Allow"));
    else if (o->n_pods)
        feed(c, json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:f, s:[{s:s, s:{s:s}}], "
                          "s:[{s:s}]}}",
                          "apiVersion", "projectcalico.org/v3", "kind", "GlobalNetworkPolicy",
                          "metadata", "name", "bench-pods", "spec", "selector",
                          "role == 'bench'", "order", 1.0, "ingress", "action", "Allow",
                          "source", "selector", "role == 'bench'", "egress", "action", "Allow"));
}

static struct tby_calc *workload(const struct opts *o, double *ms)
{
    struct tby_calc *c = NULL;
    struct tby_error err = { 0 };
    double t0 = now_ms();

    if (tby_calc_new("node", &c) < 0)
        die("calc", NULL);
    for (int k = 0; k < NAMESPACES; k++)
        feed(c, namespace_doc(k));
    for (int j = 0; j < o->m; j++)
        feed(c, policy_doc(j, o));
    for (int i = 0; i < o->n; i++)
        add_endpoint(c, i, o, i);
    add_real_pods(c, o);
    if (tby_calc_settle(c, &err) < 0)
        die("settle", &err);
    *ms = now_ms() - t0;
    return c;
}

/* ---- the text path ---------------------------------------------------------------------- */

/* CPU time (user + system) of nft's last run, ms: on a busy machine the figure to set
 * against tabby's kernel_cpu_ms. */
static double nft_cpu_ms;

/* Runs `nft -f path` here; its wall time in ms. posix_spawn, not fork: a fork would make
 * every page of this process copy-on-write and bill tabby's next update for the faults. */
static double nft_file(struct tby_nft *nft, const char *path)
{
    char *argv[] = { "nft", "-f", (char *)path, NULL };
    double t0 = now_ms();
    struct rusage ru;
    pid_t pid;
    int status;

    /* no listener for nft's commit either, as for tabby's own */
    tby_nft_monitor_listen(nft, false);
    if (posix_spawnp(&pid, "nft", NULL, NULL, argv, environ) != 0 ||
        wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "policy-sync: nft -f %s failed\n", path);
        exit(1);
    }
    t0 = now_ms() - t0;
    nft_cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    tby_nft_monitor_listen(nft, true);
    return t0;
}

static void write_text(struct tby_rs *rs, const char *path, bool journal)
{
    FILE *f = fopen(path, "w");

    if (!f || (journal ? tby_rs_render_journal(rs, f) : tby_rs_render(rs, f)) < 0 ||
        fclose(f) != 0)
        die(path, NULL);
}

static double tabby_sync(struct tby_nft *nft, struct tby_rs *rs, struct tby_nft_stats *st)
{
    struct tby_error err = { 0 };
    double t0 = now_ms();

    if (tby_nft_sync(nft, rs, st, &err) < 0)
        die("sync", &err);
    return now_ms() - t0;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %lf", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb / 1024;
}

/* ---- measurements ----------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* One kind of one-pod change, REPEAT times by each path; `change` edits the calculation
 * for the k-th time. */
static void one_change(struct tby_calc *c, struct tby_nft *nft, const char *what, const char *dir,
                       void (*change)(struct tby_calc *c, int k, const struct opts *o),
                       const struct opts *o)
{
    double t[REPEAT], x[REPEAT], kern[REPEAT], kcpu[REPEAT], calc[REPEAT], msgs = 0;
    char path[512];

    for (int k = 0; k < REPEAT; k++) {
        struct tby_nft_stats st;
        double t0 = now_ms();

        change(c, 2 * k, o);
        tby_calc_settle(c, NULL); /* the calculation's part: nothing left for the sync */
        calc[k] = now_ms() - t0;
        tabby_sync(nft, tby_calc_ruleset(c), &st);
        t[k] = now_ms() - t0;
        kern[k] = st.kernel_ms;
        kcpu[k] = st.kernel_cpu_ms;
        msgs = (double)st.messages;
        change(c, 2 * k + 1, o);
        snprintf(path, sizeof(path), "%s/change-%d.nft", dir, k);
        write_text(tby_calc_ruleset(c), path, true);
        x[k] = nft_file(nft, path);
        tby_rs_journal_done(tby_calc_ruleset(c));
    }
    printf("  %-9s tabby %7.3f ms (calculation %.3f, kernel %.3f, its CPU %.3f; %2.0f messages)   "
           "nft -f %6.1f ms   ratio %5.0fx\n", what, median(t, REPEAT), median(calc, REPEAT),
           median(kern, REPEAT), median(kcpu, REPEAT), msgs, median(x, REPEAT),
           median(x, REPEAT) / median(t, REPEAT));
}

static void pod_add(struct tby_calc *c, int k, const struct opts *o)
{
    add_endpoint(c, o->n + 100 + k, o, k * 13);
}

static void pod_relabel(struct tby_calc *c, int k, const struct opts *o)
{
    add_endpoint(c, k, o, k + 37);
}

/* One policy: a new one (the k-th), a change of an existing one's rules, and back. */
static void policy_add(struct tby_calc *c, int k, const struct opts *o)
{
    feed(c, policy_doc(o->m + 100 + k, o));
}

static void policy_change(struct tby_calc *c, int k, const struct opts *o)
{
    port_bump = 1 + k;
    feed(c, policy_doc(k * 7 % o->m, o));
    port_bump = 0;
}

/* Deletes policy k / 2 and adds it back (each other call). */
static void policy_delete(struct tby_calc *c, int k, const struct opts *o)
{
    feed_or_remove(c, policy_doc(k / 2 * 13 % o->m, o), k % 2 == 0);
}

/* Each path loads the table twice (deleting it in between) and the second load counts:
 * the kernel's first load of a big table pays for growing its caches (a notification is
 * built per element), which would otherwise bill whichever path went first. */
static void full(struct tby_calc *c, struct tby_nft *nft, const char *dir)
{
    struct tby_rs *rs = tby_calc_ruleset(c);
    struct tby_nft_stats st;
    size_t sets, elems, chains, rules;
    char path[512];
    double tabby = 0, text = 0;

    tby_rs_counts(rs, &sets, &elems, &chains, &rules);
    snprintf(path, sizeof(path), "%s/full.nft", dir);
    write_text(rs, path, false);
    for (int round = 0; round < 2; round++) {
        tby_nft_delete_table(nft, NULL);
        tby_rs_forget_kernel(rs);
        tabby = tabby_sync(nft, rs, &st);
        if (tby_nft_delete_table(nft, NULL) < 0)
            die("delete table", NULL);
        text = nft_file(nft, path);
    }
    tby_nft_delete_table(nft, NULL);
    tby_rs_forget_kernel(rs);
    tabby_sync(nft, rs, NULL); /* tabby owns the table again, state known */
    printf("  table: %zu chains, %zu rules, %zu sets, %zu elements\n", chains, rules, sets, elems);
    printf("  full      tabby %8.1f ms (kernel %.1f ms, its CPU %.1f; %zu messages, %.1f MB)   "
           "nft -f %8.1f ms (CPU %.1f)   ratio %5.2fx   (goal >= 1.5x)\n", tabby, st.kernel_ms,
           st.kernel_cpu_ms, st.messages, st.bytes / 1048576.0, text, nft_cpu_ms, text / tabby);
}

/* What one size cost the calculation (growth lines compare two). */
struct size_cost {
    double ms, rss;
};

static struct size_cost run_size(const struct opts *o, bool changes, const char *dir)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    double base = rss_mb(), build_ms, rss;
    struct tby_calc *c;

    if (tby_nft_open(&nft, &err) < 0)
        die("nft", &err);
    c = workload(o, &build_ms);
    malloc_trim(0);
    rss = rss_mb();
    printf("N=%d endpoints x M=%d policies (%s): calculation %.0f ms, engine RSS %.1f MB "
           "(process %.1f MB; goal < 30 MB)\n", o->n, o->m,
           o->shared ? "shared labels" : "a policy list per pod", build_ms, rss - base, rss);
    full(c, nft, dir);
    if (changes) {
        one_change(c, nft, "pod add", dir, pod_add, o);
        one_change(c, nft, "relabel", dir, pod_relabel, o);
        one_change(c, nft, "pol add", dir, policy_add, o);
        one_change(c, nft, "pol change", dir, policy_change, o);
        one_change(c, nft, "pol delete", dir, policy_delete, o);
    }
    tby_nft_delete_table(nft, NULL);
    tby_calc_free(c);
    malloc_trim(0);
    fflush(stdout);
    return (struct size_cost){ build_ms, rss - base };
}

/* ---- the calculation alone, and how it grows --------------------------------------------- */

struct calc_run {
    double ms, cpu, rss;
    size_t sets, elems, chains, rules;    /* the table's size */
};

static double cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One calculation in a child process of its own, so that each run starts from the same
 * small heap and its RSS is its own. */
static struct calc_run calc_once(const struct opts *o)
{
    struct calc_run r = { 0 };
    int fd[2], status;
    pid_t pid;

    fflush(stdout);
    if (pipe(fd) < 0 || (pid = fork()) < 0)
        die("fork", NULL);
    if (pid == 0) {
        double base = rss_mb(), cpu0 = cpu_ms();

        struct tby_calc *c = workload(o, &r.ms); /* the process's end frees it */

        r.cpu = cpu_ms() - cpu0;
        malloc_trim(0);
        r.rss = rss_mb() - base;
        tby_rs_counts(tby_calc_ruleset(c), &r.sets, &r.elems, &r.chains, &r.rules);
        _exit(write(fd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
    }
    close(fd[1]);
    if (read(fd[0], &r, sizeof(r)) != sizeof(r) || waitpid(pid, &status, 0) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("calculation run", NULL);
    close(fd[0]);
    return r;
}

/* Issue 18: the engine's RSS at 10,000 endpoints x 10,000 policies, both workloads. */
#define RSS_GOAL_MB 40.0

struct calc_range {
    double ms[2], cpu[2], rss[2];     /* min, max over the runs */
    struct calc_run last;
};

static void widen(double g[2], double v)
{
    g[0] = v < g[0] ? v : g[0];
    g[1] = v > g[1] ? v : g[1];
}

static struct calc_range calc_size(const struct opts *o, int runs)
{
    struct calc_range g = { .ms = { 1e300, 0 }, .cpu = { 1e300, 0 }, .rss = { 1e300, 0 } };

    for (int k = 0; k < runs; k++) {
        struct calc_run r = calc_once(o);

        widen(g.ms, r.ms);
        widen(g.cpu, r.cpu);
        widen(g.rss, r.rss);
        g.last = r;
    }
    printf("N=%5d x M=%5d (%s): calculation %.0f-%.0f ms (CPU %.0f-%.0f ms), engine RSS "
           "%.1f-%.1f MB (x%.2f-%.2f of issue 18's 40 MB at 10k x 10k); %d runs\n", o->n, o->m,
           o->shared ? "shared labels" : "distinct", g.ms[0], g.ms[1], g.cpu[0], g.cpu[1],
           g.rss[0], g.rss[1], g.rss[0] / RSS_GOAL_MB, g.rss[1] / RSS_GOAL_MB, runs);
    printf("  table: %zu chains, %zu rules, %zu sets, %zu elements\n", g.last.chains,
           g.last.rules, g.last.sets, g.last.elems);
    fflush(stdout);
    return g;
}

/* How much more from size a to size b: the range of the ratio over the runs, beside the
 * ratio of endpoints + policies (linear growth). */
static void growth(const char *what, const struct opts *a, const struct calc_range *ga,
                   const struct opts *b, const struct calc_range *gb)
{
    const struct calc_run *ta = &ga->last, *tb = &gb->last;

    printf("  growth %-27s calculation x%.2f-%.2f (CPU x%.2f-%.2f), RSS x%.2f-%.2f; endpoints "
           "x%.0f, policies x%.0f, table (chains + rules + sets + elements) x%.2f\n", what,
           gb->ms[0] / ga->ms[1], gb->ms[1] / ga->ms[0], gb->cpu[0] / ga->cpu[1],
           gb->cpu[1] / ga->cpu[0], gb->rss[0] / ga->rss[1], gb->rss[1] / ga->rss[0],
           (double)b->n / a->n, (double)b->m / a->m,
           (double)(tb->chains + tb->rules + tb->sets + tb->elems) /
               (double)(ta->chains + ta->rules + ta->sets + ta->elems));
}

/* One round of churn: a tenth of the policies and of the endpoints go and come back,
 * another tenth of the endpoints take other labels and their own again. */
static void churn_round(struct tby_calc *c, const struct opts *o, int round)
{
    char ifname[16], ip[32];

    for (int j = round % 10; j < o->m; j += 10) {
        feed_or_remove(c, policy_doc(j, o), true);
        feed(c, policy_doc(j, o));
    }
    for (int i = round % 10; i < o->n; i += 10) {
        endpoint_names(i, ifname, ip);
        feed_or_remove(c, endpoint_doc(i, ifname, ip, endpoint_labels(i, o)), true);
        add_endpoint(c, i, o, i);
        add_endpoint(c, (i + 5) % o->n, o, i + 1);
        add_endpoint(c, (i + 5) % o->n, o, (i + 5) % o->n);
    }
    if (tby_calc_settle(c, NULL) < 0)
        die("settle", NULL);
    tby_rs_journal_done(tby_calc_ruleset(c)); /* as a sync does */
}

/* Bytes malloc holds for the process, MB: beside RSS, it tells growth from fragmentation. */
static double heap_mb(void)
{
    return (double)mallinfo2().uordblks / 1048576;
}

/* --churn: the engine's RSS after the workload and after each round of churn. */
static void churn(const struct opts *o)
{
    double base = rss_mb(), ms, cpu0 = cpu_ms();
    struct tby_calc *c = workload(o, &ms);

    tby_rs_journal_done(tby_calc_ruleset(c));
    malloc_trim(0);
    printf("N=%d x M=%d (%s): engine RSS %.1f MB after the workload (heap in use %.2f MB)\n",
           o->n, o->m, o->shared ? "shared labels" : "distinct", rss_mb() - base, heap_mb());
    for (int r = 0; r < o->churn; r++) {
        churn_round(c, o, r);
        malloc_trim(0);
        printf("  churn round %2d: engine RSS %.1f MB (heap in use %.2f MB)\n", r + 1,
               rss_mb() - base, heap_mb());
        fflush(stdout);
    }
    printf("  CPU %.0f ms in all\n", cpu_ms() - cpu0);
    tby_calc_free(c);
}

/* --calc: the calculation's time and memory (no kernel, no root). With -n, one size;
 * else per workload 1k x 1k, 10k x 1k, 10k x 3k and 10k x 10k, and the growth. */
static void calc_matrix(struct opts o)
{
    static const int sizes[][2] = { { 1000, 1000 }, { 10000, 1000 }, { 10000, 3000 },
                                    { 10000, 10000 } };
    struct calc_range g[TBY_ARRAY_SIZE(sizes)];
    struct opts s[TBY_ARRAY_SIZE(sizes)];
    int runs = o.runs > 0 ? o.runs : 3;

    if (o.n && o.churn > 0) {
        churn(&o);
        return;
    }
    if (o.n) {
        calc_size(&o, runs);
        return;
    }
    for (int shared = 0; shared < 2; shared++) {
        for (size_t i = 0; i < TBY_ARRAY_SIZE(sizes); i++) {
            s[i] = o;
            s[i].shared = shared;
            s[i].n = sizes[i][0];
            s[i].m = sizes[i][1];
            g[i] = calc_size(&s[i], runs);
        }
        growth("policies 1k -> 10k (N=10k):", &s[1], &g[1], &s[3], &g[3]);
        growth("both 1k -> 10k:", &s[0], &g[0], &s[3], &g[3]);
    }
}

/* ---- main ------------------------------------------------------------------------------- */

/* The kernel's first network namespace has a fixed inode (PROC_NET_INIT_INO). */
static bool in_host_netns(void)
{
    struct stat st;

    return stat("/proc/self/ns/net", &st) < 0 || st.st_ino == 0xEFFFFFF9u;
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option opts[] = {
        { "shared", no_argument, NULL, 's' }, { "emit", no_argument, NULL, 'e' },
        { "load", no_argument, NULL, 'l' }, { "pod", required_argument, NULL, 'p' },
        { "calc", no_argument, NULL, 'c' }, { "runs", required_argument, NULL, 'r' },
        { "worst", no_argument, NULL, 'w' }, { "churn", required_argument, NULL, 'u' },
        { 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "n:m:", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': o->n = atoi(optarg); break;
        case 'm': o->m = atoi(optarg); break;
        case 's': o->shared = true; break;
        case 'e': o->emit = true; break;
        case 'l': o->load = true; break;
        case 'c': o->calc = true; break;
        case 'r': o->runs = atoi(optarg); break;
        case 'w': o->worst = true; break;
        case 'u': o->churn = atoi(optarg); break;
        case 'p':
            if (o->n_pods < 8)
                o->pods[o->n_pods++] = optarg;
            break;
        default: exit(2);
        }
    }
}

/* --emit / --load: one table, printed or programmed here. */
static int one_table(const struct opts *o)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    struct tby_nft_stats st;
    double ms;
    struct tby_calc *c = workload(o, &ms);

    if (o->emit)
        tby_rs_render(tby_calc_ruleset(c), stdout);
    else if (tby_nft_open(&nft, &err) < 0 || tby_nft_sync(nft, tby_calc_ruleset(c), &st, &err) < 0)
        die("load", &err);
    tby_calc_free(c);
    return 0;
}

static void matrix(struct opts o, const char *dir)
{
    static const int sizes[][2] = { { 1000, 100 }, { 1000, 1000 }, { 10000, 100 },
                                    { 10000, 1000 } };

    if (o.n) {
        run_size(&o, true, dir);
        return;
    }
    o.n = 100;
    o.m = 1000;
    run_size(&o, true, dir);
    for (size_t i = 0; i < TBY_ARRAY_SIZE(sizes); i++) {
        o.n = sizes[i][0];
        o.m = sizes[i][1];
        run_size(&o, o.n == 10000 && o.m == 1000, dir);
    }
    /* 10k policies, both workloads: how the calculation grows from 1k (one run each;
     * --calc gives ranges over runs) */
    for (int shared = 0; shared < 2; shared++) {
        struct size_cost small, big;

        o.shared = shared;
        o.n = 10000;
        o.m = 1000;
        small = run_size(&o, false, dir);
        o.m = 10000;
        big = run_size(&o, false, dir);
        printf("  growth policies 1k -> 10k (N=10k, %s): calculation x%.2f, RSS x%.2f\n",
               shared ? "shared labels" : "distinct", big.ms / small.ms, big.rss / small.rss);
    }
}

int main(int argc, char **argv)
{
    struct opts o = { 0 };
    char dir[] = "/tmp/tby-policy-sync-XXXXXX", cmd[64];

    parse(argc, argv, &o);
    tby_log_set_level(TBY_LOG_ERROR);
    if (!o.m)
        o.m = o.n ? 100 : 0;
    if (o.load && in_host_netns()) {
        fprintf(stderr, "policy-sync: --load refuses the host's network namespace\n");
        return 2;
    }
    if (o.emit || o.load)
        return one_table(&o);
    if (o.calc) {
        calc_matrix(o);
        return 0;
    }
    /* Never the host's tables: a namespace of our own, and nft runs in it too. */
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "policy-sync: needs root (it makes a network namespace of its own)\n");
        return 77;
    }
    if (!mkdtemp(dir))
        die("mkdtemp", NULL);
    matrix(o, dir);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
