/* bench_bgp.c — what a BGP change costs: rendering the configuration for 10, 100 and 500
 * peers, and putting it in force through BIRD's socket (write + `configure check` +
 * `configure`), against BIRD's own reload (`configure` alone) as the baseline.
 *
 *   bench_bgp [ITERATIONS]
 *
 * As root it runs BIRD in a private network namespace of its own (unshare), so the
 * sessions it configures reach nothing; otherwise it measures rendering only. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tabby/bgp.h"
#include "tabby/bird.h"
#include "tabby/cleanup.h"

static const size_t peer_counts[] = { 10, 100, 500 };

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static struct tby_ip ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    struct tby_ip ip = { .family = 4, .bytes = { (uint8_t)a, (uint8_t)b, (uint8_t)c,
                                                 (uint8_t)d } };

    return ip;
}

/* A node in a mesh of n_peers other nodes, with `blocks` blocks (the variant shifts one
 * block so that two inputs differ by one announcement, as after an allocation). */
static int make_input(size_t n_peers, size_t blocks, int variant, struct tby_bgp_input *in)
{
    memset(in, 0, sizeof(*in));
    in->node = strdup("bench-node");
    in->router_id = ip4(10, 0, 0, 1);
    in->has_ipv4 = true;
    in->ipv4 = (struct tby_cidr){ .ip = ip4(10, 0, 0, 1), .prefix_len = 16 };
    in->as_number = 64512;
    in->pools = calloc(1, sizeof(*in->pools));
    if (!in->node || !in->pools)
        return -ENOMEM;
    in->pools[0].cidr = (struct tby_cidr){ .ip = ip4(10, 244, 0, 0), .prefix_len = 16 };
    in->n_pools = 1;
    for (size_t i = 0; i < n_peers; i++) {
        struct tby_bgp_peer p = { .type = TBY_BGP_PEER_MESH, .as_number = 64512,
                                  .use_node_ip = true, .has_max_restart = true,
                                  .max_restart_ms = 120000, .description = "Node bench" };

        p.ip = ip4(10, 0, (unsigned)(2 + i) / 250, 2 + (unsigned)(2 + i) % 250);
        p.passive = i % 2;
        if (tby_bgp_input_add_peer(in, &p) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < blocks; i++) {
        struct tby_cidr b = { .ip = ip4(10, 244, (unsigned)(i + (size_t)variant), 0),
                              .prefix_len = 26 };

        if (tby_bgp_input_add_block(in, &b) < 0)
            return -ENOMEM;
    }
    return 0;
}

static double bench_render(const struct tby_bgp_input *in, int iterations, size_t *bytes)
{
    double start = now_ms();

    for (int i = 0; i < iterations; i++) {
        char *text = NULL;
        size_t len;

        if (tby_bgp_render(in, &text, &len, NULL) < 0)
            return -1;
        *bytes = len;
        free(text);
    }
    return (now_ms() - start) / iterations;
}

/* ---- BIRD ------------------------------------------------------------------------------- */

struct bird_run {
    char dir[64];
    char socket[96];
    char conf[96];
    pid_t pid;
};

static int start_bird(struct bird_run *b)
{
    FILE *f;

    snprintf(b->dir, sizeof(b->dir), "/tmp/tby-bench-bgp-XXXXXX");
    if (!mkdtemp(b->dir))
        return -errno;
    snprintf(b->socket, sizeof(b->socket), "%s/bird.ctl", b->dir);
    snprintf(b->conf, sizeof(b->conf), "%s/bird.conf", b->dir);
    f = fopen(b->conf, "we");
    if (!f)
        return -errno;
    fputs("router id 10.0.0.1;\nprotocol device {}\n", f);
    fclose(f);
    b->pid = fork();
    if (b->pid == 0) {
        char log[128];
        FILE *out;

        /* BIRD logs to stderr: keep it out of the figures. */
        snprintf(log, sizeof(log), "%s/bird.log", b->dir);
        out = fopen(log, "we");
        if (out) {
            dup2(fileno(out), STDOUT_FILENO);
            dup2(fileno(out), STDERR_FILENO);
        }
        execlp("bird", "bird", "-f", "-c", b->conf, "-s", b->socket, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && access(b->socket, F_OK) != 0; i++)
        usleep(50000);
    return access(b->socket, F_OK) == 0 ? 0 : -ENOENT;
}

static void stop_bird(struct bird_run *b)
{
    char cmd[128];

    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_bgp: could not remove %s\n", b->dir);
}

static int render_text(size_t peers, int variant, char **text, size_t *len)
{
    _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in;
    int r = make_input(peers, 50, variant, &in);

    return r < 0 ? r : tby_bgp_render(&in, text, len, NULL);
}

static int write_plain(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "we");
    int ok = f && fwrite(text, 1, len, f) == len;

    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -EIO;
}

/* BIRD's own reload of a changed file, as a plain `configure` after an unchecked write
 * (what running birdc configure on an edited file costs): the baseline. */
static double reload_baseline(struct tby_bird *bird, const char *dir, size_t peers,
                              int iterations)
{
    struct tby_error err = { 0 };
    char path[128];
    double total = 0;

    snprintf(path, sizeof(path), "%s/baseline.conf", dir);
    for (int i = 0; i < iterations; i++) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        double t0;

        if (render_text(peers, i % 2 + 1, &text, &len) < 0 ||
            write_plain(path, text, len) < 0)
            return -1;
        t0 = now_ms();
        if (tby_bird_configure(bird, path, &err) < 0)
            return fprintf(stderr, "bench_bgp: %s\n", tby_error_str(&err)), -1;
        total += now_ms() - t0;
    }
    return total / iterations;
}

/* tabby's way for the same changes: render, then write + fsync + rename, `configure
 * check`, `configure`. */
static int bench_apply(struct tby_bird *bird, const char *dir, const char *conf, size_t peers,
                       int iterations)
{
    double t_apply = 0, t_render = 0, t0, reload;
    struct tby_error err = { 0 };

    for (int i = 0; i < iterations; i++) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        bool changed;

        t0 = now_ms();
        if (render_text(peers, i % 2 + 1, &text, &len) < 0)
            return -1;
        t_render += now_ms() - t0;
        t0 = now_ms();
        if (tby_bird_apply(bird, conf, text, len, &changed, &err) < 0 || !changed)
            return fprintf(stderr, "bench_bgp: %s\n", tby_error_str(&err)), -1;
        t_apply += now_ms() - t0;
    }
    t_render /= iterations;
    t_apply /= iterations;
    reload = reload_baseline(bird, dir, peers, iterations);
    if (reload <= 0)
        return -1;
    printf("%5zu peers: render %6.3f ms + apply %7.2f ms (write, fsync, check, configure)"
           " = %7.2f ms | BIRD reload alone %7.2f ms | ratio %.2f\n", peers, t_render,
           t_apply, t_render + t_apply, reload, (t_render + t_apply) / reload);
    return 0;
}

static double first_load(struct tby_bird *bird, const char *conf, size_t peers)
{
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };
    size_t len;
    double t0;

    if (render_text(peers, 0, &text, &len) < 0)
        return -1;
    t0 = now_ms();
    if (tby_bird_apply(bird, conf, text, len, NULL, &err) < 0) {
        fprintf(stderr, "bench_bgp: %s\n", tby_error_str(&err));
        return -1;
    }
    return now_ms() - t0;
}

static int bench_bird(int iterations)
{
    struct bird_run run = { 0 };
    struct tby_bird *bird = NULL;
    int r = 0;

    if (unshare(CLONE_NEWNET) < 0) {
        printf("\nconfigure: skipped (a private network namespace needs root: %s)\n",
               strerror(errno));
        return 0;
    }
    if (start_bird(&run) < 0 || tby_bird_new(run.socket, &bird, NULL) < 0) {
        printf("\nconfigure: skipped (BIRD did not start)\n");
        stop_bird(&run);
        return 0;
    }
    if (tby_bird_connect(bird, NULL) < 0) {
        printf("\nconfigure: skipped (BIRD does not answer)\n");
        tby_bird_free(bird);
        stop_bird(&run);
        return 0;
    }
    printf("\nPutting it in force through BIRD %s's socket (average of %d changes, each "
           "one block moved):\n", tby_bird_version(bird), iterations);
    for (size_t i = 0; i < sizeof(peer_counts) / sizeof(peer_counts[0]) && r == 0; i++) {
        double first = first_load(bird, run.conf, peer_counts[i]);

        printf("%5zu peers: first load (new sessions) %.2f ms\n", peer_counts[i], first);
        r = first < 0 ? -1 : bench_apply(bird, run.dir, run.conf, peer_counts[i], iterations);
    }
    tby_bird_free(bird);
    stop_bird(&run);
    return r;
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 20;

    if (iterations < 1)
        iterations = 1;
    printf("Rendering the BIRD configuration (50 blocks, average of %d):\n", iterations * 10);
    for (size_t i = 0; i < sizeof(peer_counts) / sizeof(peer_counts[0]); i++) {
        _cleanup_(tby_bgp_input_clear) struct tby_bgp_input in;
        size_t bytes = 0;
        double ms;

        if (make_input(peer_counts[i], 50, 0, &in) < 0)
            return 1;
        ms = bench_render(&in, iterations * 10, &bytes);
        if (ms < 0)
            return 1;
        printf("%5zu peers: %8.3f ms, %zu bytes\n", peer_counts[i], ms, bytes);
    }
    return bench_bird(iterations) < 0 ? 1 : 0;
}
