/* conn_rate.c — `conn-rate`: new TCP connections per second, for policy_throughput.sh (a
 * new connection is what meets policy: its SYN walks the dispatch, the rest is
 * conntrack's). Each connection is opened, answered (accept), and closed with a reset
 * (SO_LINGER 0) so that no TIME_WAIT fills the port range.
 *
 *   conn-rate --serve PORT            accepts and closes, for ever (run in the server pod)
 *   conn-rate --connect IP PORT SECS  prints connections per second, and this process's CPU
 *                                     time per connection in microseconds (in the client pod)
 *
 * On veth pairs a connection's SYN crosses the node (forward hook, the dispatch) and is
 * answered in the softirq of the client's own connect(), so the client's CPU time per
 * connection holds the cost of the table; on a busy machine it is the steadier figure
 * (the rate counts the waits for a CPU too). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void close_reset(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static int serve(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
        perror("conn-rate: listen");
        return 1;
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);

        if (c >= 0)
            close_reset(c);
    }
}

static int connect_loop(const char *ip, int port, double secs)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    long n = 0, failed = 0;
    double t0 = now_s(), t;

    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "conn-rate: bad address %s\n", ip);
        return 2;
    }
    while ((t = now_s() - t0) < secs) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0) {
            perror("conn-rate: socket");
            return 1;
        }
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            n++;
        else
            failed++;
        close_reset(fd);
    }
    if (failed > n / 100) {
        fprintf(stderr, "conn-rate: %ld of %ld connections failed\n", failed, n + failed);
        return 1;
    }
    {
        struct rusage ru;
        double cpu_us;

        getrusage(RUSAGE_SELF, &ru);
        cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
                 ru.ru_stime.tv_usec;
        printf("%.0f %.1f\n", n / t, n ? cpu_us / n : 0.0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(atoi(argv[2]));
    if (argc == 5 && strcmp(argv[1], "--connect") == 0)
        return connect_loop(argv[2], atoi(argv[3]), atof(argv[4]));
    fprintf(stderr, "usage: conn-rate --serve PORT | --connect IP PORT SECONDS\n");
    return 2;
}
