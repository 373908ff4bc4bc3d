/* cni_add.c — ADD and DEL latency of CNI plugins as a container runtime sees it: each
 * call is one run of the plugin (spawn to exit), with the CNI_* variables and the network
 * configuration on its standard input, for one pod namespace of its own.
 *
 * Several plugins are measured side by side in one run, interleaved pod by pod (pod 1 of
 * each, then pod 2 of each, …) so that the node's growing number of interfaces and
 * whatever else the machine does weighs on all of them alike. Prints p50 / p99 of wall
 * clock and CPU time (the plugin and what it runs, its IPAM plugin) per call and the
 * ratio of the first plugin to each other one. Goal (issue 5): tabby's ADD p50 no slower
 * than the reference bridge + host-local.
 *
 * bench/cni_add.sh makes the node and pod namespaces and the configurations, then runs
 * this inside the node namespace:
 *
 *   cni_add --pods N --netns-prefix PREFIX --cni-path DIR NAME=PLUGIN:CONF_FILE …
 *
 * Pod i of NAME uses /run/netns/PREFIX-NAME-i, container ID NAME-i and pod NAME-i in
 * namespace "bench" (CNI_ARGS). A failed call stops the run with the plugin's answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PLUGINS 4
#define MAX_ENV 16

extern char **environ;

struct plugin {
    const char *name;
    char *path;
    char *conf_file;
    double *add_ms, *del_ms, *add_cpu, *del_cpu;
};

struct opts {
    int pods;
    const char *prefix;
    const char *cni_path;
    struct plugin plugins[MAX_PLUGINS];
    int n_plugins;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "cni_add: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* The environment of one call: ours, then the CNI variables. */
static char **call_env(const struct opts *o, const struct plugin *p, const char *command,
                       int pod, char vars[][160])
{
    static char *env[1024 + MAX_ENV];
    size_t n = 0;

    for (char **e = environ; *e && n < 1024; e++)
        if (strncmp(*e, "CNI_", 4) != 0)
            env[n++] = *e;
    snprintf(vars[0], 160, "CNI_COMMAND=%s", command);
    snprintf(vars[1], 160, "CNI_CONTAINERID=%s-%d", p->name, pod);
    snprintf(vars[2], 160, "CNI_NETNS=/run/netns/%s-%s-%d", o->prefix, p->name, pod);
    snprintf(vars[3], 160, "CNI_IFNAME=eth0");
    snprintf(vars[4], 160, "CNI_PATH=%s", o->cni_path);
    snprintf(vars[5], 160, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=%s-%d",
             p->name, pod);
    for (int i = 0; i < 6; i++)
        env[n++] = vars[i];
    env[n] = NULL;
    return env;
}

/* One run of the plugin; its wall clock and CPU time in ms. */
static void run(const struct opts *o, const struct plugin *p, const char *command, int pod,
                double *wall, double *cpu)
{
    char vars[6][160], out[4096] = "";
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    int pipefd[2], status;
    size_t len = 0;
    ssize_t got;
    double start;
    pid_t pid;

    if (pipe(pipefd) < 0)
        die("pipe: %s%s", strerror(errno), "");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, p->conf_file, O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    start = now_ms();
    if (posix_spawn(&pid, p->path, &fa, NULL, (char *[]){ p->path, NULL },
                    call_env(o, p, command, pod, vars)) != 0)
        die("cannot run %s%s", p->path, "");
    close(pipefd[1]);
    while (len < sizeof(out) - 1 && (got = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    wait4(pid, &status, 0, &ru);
    *wall = now_ms() - start;
    *cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    close(pipefd[0]);
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s failed:\n%s", p->name, out);
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of n values, which it sorts. */
static double percentile(double *v, int n, double p)
{
    int rank = (int)(p / 100.0 * n + 0.999999);

    qsort(v, (size_t)n, sizeof(*v), compare);
    return v[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

struct figures {
    double add50, add99, del50, del99, addcpu50, delcpu50;
};

static struct figures figures_of(const struct plugin *p, int n)
{
    return (struct figures){ percentile(p->add_ms, n, 50), percentile(p->add_ms, n, 99),
                             percentile(p->del_ms, n, 50), percentile(p->del_ms, n, 99),
                             percentile(p->add_cpu, n, 50), percentile(p->del_cpu, n, 50) };
}

static void report(const struct opts *o)
{
    struct figures f[MAX_PLUGINS] = { 0 };

    printf("cni_add: ADD then DEL of %d pods per plugin, interleaved, in one node namespace\n"
           "(ms per call, spawn to exit; cpu: the plugin and the plugins it runs)\n\n",
           o->pods);
    printf("%-24s %9s %9s %9s %9s %9s %9s\n", "plugin", "ADD p50", "ADD p99", "DEL p50",
           "DEL p99", "ADD cpu", "DEL cpu");
    for (int i = 0; i < o->n_plugins; i++) {
        f[i] = figures_of(&o->plugins[i], o->pods);
        printf("%-24s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", o->plugins[i].name, f[i].add50,
               f[i].add99, f[i].del50, f[i].del99, f[i].addcpu50, f[i].delcpu50);
    }
    for (int i = 1; i < o->n_plugins; i++) {
        char label[64];

        snprintf(label, sizeof(label), "%s / %s", o->plugins[0].name, o->plugins[i].name);
        printf("%-24s %8.2fx %8.2fx %8.2fx %8.2fx %8.2fx %8.2fx\n", label,
               f[0].add50 / f[i].add50, f[0].add99 / f[i].add99, f[0].del50 / f[i].del50,
               f[0].del99 / f[i].del99, f[0].addcpu50 / f[i].addcpu50,
               f[0].delcpu50 / f[i].delcpu50);
    }
    printf("\n%s ADD p50 is %.2fx the reference's: %s\n", o->plugins[0].name,
           f[0].add50 / f[o->n_plugins - 1].add50,
           f[0].add50 <= f[o->n_plugins - 1].add50 ? "goal met (no slower)" : "SLOWER than the goal");
}

static void add_plugin(struct opts *o, char *arg)
{
    struct plugin *p = &o->plugins[o->n_plugins];
    char *eq = strchr(arg, '='), *colon = eq ? strchr(eq, ':') : NULL;

    if (!colon || o->n_plugins >= MAX_PLUGINS)
        die("\"%s\": give up to 4 of NAME=PLUGIN:CONF_FILE%s", arg, "");
    *eq = *colon = '\0';
    p->name = arg;
    if (asprintf(&p->path, "%s/%s", o->cni_path, eq + 1) < 0)
        exit(1);
    p->conf_file = colon + 1;
    p->add_ms = calloc((size_t)o->pods, sizeof(double));
    p->del_ms = calloc((size_t)o->pods, sizeof(double));
    p->add_cpu = calloc((size_t)o->pods, sizeof(double));
    p->del_cpu = calloc((size_t)o->pods, sizeof(double));
    if (!p->add_ms || !p->del_ms || !p->add_cpu || !p->del_cpu)
        exit(1);
    o->n_plugins++;
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option options[] = {
        { "pods", required_argument, NULL, 'n' },
        { "netns-prefix", required_argument, NULL, 'p' },
        { "cni-path", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    *o = (struct opts){ .pods = 200, .prefix = "bench", .cni_path = "/usr/lib/cni" };
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'n')
            o->pods = atoi(optarg);
        else if (opt == 'p')
            o->prefix = optarg;
        else if (opt == 'c')
            o->cni_path = optarg;
        else
            exit(2);
    }
    if (o->pods < 1)
        die("--pods must be at least 1%s%s", "", "");
    for (int i = optind; i < argc; i++)
        add_plugin(o, argv[i]);
    if (o->n_plugins < 1)
        die("name at least one NAME=PLUGIN:CONF_FILE%s%s", "", "");
}

int main(int argc, char **argv)
{
    struct opts o;

    parse(argc, argv, &o);
    for (int pod = 0; pod < o.pods; pod++)
        for (int i = 0; i < o.n_plugins; i++)
            run(&o, &o.plugins[i], "ADD", pod + 1, &o.plugins[i].add_ms[pod],
                &o.plugins[i].add_cpu[pod]);
    for (int pod = 0; pod < o.pods; pod++)
        for (int i = 0; i < o.n_plugins; i++)
            run(&o, &o.plugins[i], "DEL", pod + 1, &o.plugins[i].del_ms[pod],
                &o.plugins[i].del_cpu[pod]);
    report(&o);
    return 0;
}
