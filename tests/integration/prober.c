/* prober.c — servers and a probe engine for the connectivity matrix of policy_matrix.sh:
 * every probe of a matrix fires at once, so a matrix costs one timeout, not hundreds.
 *
 *   prober serve NETNS:PORT[,PORT...]...
 *       In each network namespace, on each port, a TCP server (accepts, answers "ok",
 *       closes) and a UDP server (answers each datagram with "ok"). Prints "ready" once
 *       every socket is bound; runs until SIGTERM or SIGINT.
 *   prober probe [-t MS] [-b PORT] SRC... -- DST...
 *       SRC: NAME=NETNS, DST: NAME=IP:PORT/PROTO[,PORT/PROTO...][@NETNS], PROTO one of
 *       tcp, udp, sctp, icmp, icmpv6 (the port of icmp is the type: 8, an echo request;
 *       of icmpv6 128, its echo request). IP is IPv4, or IPv6 in brackets
 *       ("[fd00::1]:80/tcp"); the servers listen on both families.
 *       From every source to every destination port, all at once, for at most MS
 *       milliseconds (default 400): a TCP connect; a UDP datagram waiting for its reply;
 *       an ICMP echo request waiting for the reply (raw socket); an SCTP INIT that must
 *       arrive in the destination's namespace NETNS (raw sockets on both ends, so no SCTP
 *       in the kernel is needed; one way only, which is where policy decides).
 *       Prints "SRC DST PORT/PROTO RESULT" per probe, sources then destinations in the
 *       order given; RESULT is ok, blocked (no answer in time), refused or error.
 *       Each source's probes leave from ports PORT, PORT+1, … (default 20000; the ICMP
 *       echo identifier likewise): give every round its own range, or a probe may ride on
 *       a conntrack entry of an earlier round's allowed flow.
 *
 * NETNS is a name under /run/netns or a path. The sockets live in the namespaces they were
 * made in; the prober itself changes nothing in any namespace. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

#include "tabby/cleanup.h"

#define MAX_PORTS 16

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("prober: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int enter_netns(const char *name)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;

    snprintf(path, sizeof(path), strchr(name, '/') ? "%s" : "/run/netns/%s", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("%s: %s", path, strerror(errno));
    if (setns(fd, CLONE_NEWNET) < 0)
        return fail("setns %s: %s", path, strerror(errno));
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- ports ------------------------------------------------------------------------------ */

enum proto { P_TCP, P_UDP, P_SCTP, P_ICMP, P_ICMP6 };
static const char *const proto_names[] = { "tcp", "udp", "sctp", "icmp", "icmpv6" };

/* An address of either family, and how to reach PORT there. */
struct addr {
    int af;
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } u;
};

static socklen_t sockaddr_of(const struct addr *a, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->af == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

        *s6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(port),
                                     .sin6_addr = a->u.v6 };
        return sizeof(*s6);
    }
    *(struct sockaddr_in *)ss = (struct sockaddr_in){ .sin_family = AF_INET,
                                                      .sin_port = htons(port),
                                                      .sin_addr = a->u.v4 };
    return sizeof(struct sockaddr_in);
}

static bool is_icmp(enum proto p)
{
    return p == P_ICMP || p == P_ICMP6;
}

struct port {
    uint16_t num;             /* the ICMP type for P_ICMP */
    enum proto proto;
};

static int sock_type(enum proto p)
{
    return p == P_TCP ? SOCK_STREAM : p == P_UDP ? SOCK_DGRAM : SOCK_RAW;
}

/* "80" (when bare is allowed: TCP), "80/tcp", "53/udp", "80/sctp", "8/icmp". */
static int parse_port(const char *s, bool bare, struct port *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    size_t k;

    if (end == s || v > 65535)
        return fail("bad port '%s'", s);
    out->num = (uint16_t)v;
    out->proto = P_TCP;
    if (*end == '\0' && bare && v > 0)
        return 0;
    for (k = 0; k < TBY_ARRAY_SIZE(proto_names); k++)
        if (*end == '/' && strcasecmp(end + 1, proto_names[k]) == 0)
            break;
    if (k == TBY_ARRAY_SIZE(proto_names) || bare)
        return fail("bad port '%s': want %s", s, bare ? "a number" : "PORT/PROTO");
    out->proto = (enum proto)k;
    if (out->proto == P_ICMP ? v != ICMP_ECHO : out->proto == P_ICMP6 ? v != ICMP6_ECHO_REQUEST
                                                                     : v == 0)
        return fail("bad port '%s'%s", s,
                    is_icmp(out->proto) ? ": only 8/icmp and 128/icmpv6 (echo)" : "");
    return 0;
}

/* A comma-separated list into v[MAX_PORTS]; returns the count, or -1. */
static int parse_ports(const char *list, bool bare, struct port *v)
{
    _cleanup_free_ char *copy = strdup(list);
    char *save = NULL;
    int n = 0;

    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == MAX_PORTS) {
            fail("more than %d ports in '%s'", MAX_PORTS, list);
            return -1;
        }
        if (parse_port(t, bare, &v[n++]) != 0)
            return -1;
    }
    return n;
}

/* ---- serve ------------------------------------------------------------------------------ */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* A server of one family: IPv6's only IPv6 (the IPv4 one beside it answers IPv4). */
static int server_socket(int af, int type, uint16_t port)
{
    struct addr any = { .af = af };
    struct sockaddr_storage a;
    socklen_t len = sockaddr_of(&any, port, &a);
    int one = 1;
    _cleanup_close_ int fd = socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&a, len) < 0 ||
        (type == SOCK_STREAM && listen(fd, 512) < 0))
        return -1;
    return TBY_STEAL_FD(fd);
}

struct servers {
    struct pollfd *fds;
    int *types;
    size_t n;
};

static void servers_clear(struct servers *s)
{
    for (size_t i = 0; i < s->n; i++)
        close(s->fds[i].fd);
    free(s->fds);
    free(s->types);
}

static int servers_add(struct servers *s, int af, int type, uint16_t port)
{
    struct pollfd *fds = realloc(s->fds, (s->n + 1) * sizeof(*fds));
    int *types;

    if (fds)
        s->fds = fds;
    types = fds ? realloc(s->types, (s->n + 1) * sizeof(*types)) : NULL;
    if (!types)
        return fail("out of memory");
    s->types = types;
    s->fds[s->n] = (struct pollfd){ .fd = server_socket(af, type, port), .events = POLLIN };
    if (s->fds[s->n].fd < 0)
        return fail("port %u/%s (IPv%d): %s", port, type == SOCK_STREAM ? "tcp" : "udp",
                    af == AF_INET6 ? 6 : 4, strerror(errno));
    s->types[s->n++] = type;
    return 0;
}

/* "NETNS:PORT,PORT": TCP and UDP servers on each port inside NETNS. */
static int servers_open(struct servers *s, const char *spec)
{
    _cleanup_free_ char *copy = strdup(spec);
    struct port ports[MAX_PORTS];
    char *colon = copy ? strrchr(copy, ':') : NULL;
    int n;

    if (!colon)
        return fail("want NETNS:PORT[,PORT...], got '%s'", spec);
    *colon = '\0';
    n = parse_ports(colon + 1, true, ports);
    if (n < 0 || enter_netns(copy) != 0)
        return 1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++)
            if (servers_add(s, k ? AF_INET6 : AF_INET, SOCK_STREAM, ports[i].num) != 0 ||
                servers_add(s, k ? AF_INET6 : AF_INET, SOCK_DGRAM, ports[i].num) != 0)
                return 1;
    return 0;
}

static void answer_tcp(int lfd)
{
    int fd;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        (void)send(fd, "ok\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
    }
}

static void answer_udp(int fd)
{
    struct sockaddr_storage from;
    socklen_t len = sizeof(from);
    char buf[512];

    while (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len) >= 0) {
        (void)sendto(fd, "ok\n", 3, MSG_DONTWAIT, (struct sockaddr *)&from, len);
        len = sizeof(from);
    }
}

static int serve(int argc, char **argv)
{
    struct servers s = { 0 };
    struct sigaction sa = { .sa_handler = on_signal };
    int rc = 0;

    if (argc < 1)
        return fail("serve: want NETNS:PORT[,PORT...]...");
    for (int i = 0; rc == 0 && i < argc; i++)
        rc = servers_open(&s, argv[i]);
    if (rc == 0) {
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        printf("ready\n");
        fflush(stdout);
    }
    while (rc == 0 && !stopping) {
        if (poll(s.fds, s.n, -1) < 0 && errno != EINTR)
            rc = fail("poll: %s", strerror(errno));
        for (size_t i = 0; rc == 0 && i < s.n; i++) {
            if (!(s.fds[i].revents & POLLIN))
                continue;
            if (s.types[i] == SOCK_STREAM)
                answer_tcp(s.fds[i].fd);
            else
                answer_udp(s.fds[i].fd);
        }
    }
    servers_clear(&s);
    return rc;
}

/* ---- probe ------------------------------------------------------------------------------ */

enum result { PENDING, OK, BLOCKED, REFUSED, ERROR };
static const char *const result_names[] = { "pending", "ok", "blocked", "refused", "error" };

struct probe {
    const char *src, *dst;    /* names, pointing into argv */
    struct addr ip;
    struct port port;
    uint16_t sport;           /* the source port; the echo identifier for ICMP */
    uint32_t tag;             /* SCTP: the INIT's initiate tag, unique in the round */
    int rx;                   /* SCTP: the destination's receiver */
    int fd;
    enum result res;
};

/* The probes, and per destination probed over SCTP one raw socket in its namespace that
 * sees every INIT arriving there. */
struct plan {
    struct probe *v;
    size_t n;
    int rx[64];
    int rx_af[64];            /* an IPv6 receiver sees no IP header */
    size_t n_rx;
};

static void plan_clear(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].fd >= 0)
            close(p->v[i].fd);
    for (size_t i = 0; i < p->n_rx; i++)
        close(p->rx[i]);
    free(p->v);
}

/* Splits "NAME=REST" in place. */
static char *split_name(char *arg)
{
    char *eq = strchr(arg, '=');

    if (!eq || eq == arg)
        return NULL;
    *eq = '\0';
    return eq + 1;
}

struct dest {
    const char *name;
    const char *netns;        /* NULL when not given */
    struct addr ip;
    struct port ports[MAX_PORTS];
    int n;
    int rx;                   /* index into plan.rx, or -1 */
};

/* "NAME=IP:PORT/PROTO[,...][@NETNS]" or "NAME=[IPV6]:…", split in place. */
static int parse_dest(char *arg, struct dest *d)
{
    char *addr = split_name(arg);
    bool v6 = addr && addr[0] == '[';
    char *close = v6 ? strchr(addr, ']') : NULL;
    char *colon = v6 ? (close && close[1] == ':' ? close + 1 : NULL)
                     : addr ? strchr(addr, ':') : NULL;
    char *at = colon ? strrchr(colon, '@') : NULL;

    if (!colon)
        return fail("want NAME=IP:PORT/PROTO[,...][@NETNS] (IPv6 in brackets), got '%s'", arg);
    *colon = '\0';
    if (v6) {
        *close = '\0';
        addr++;
    }
    if (at)
        *at = '\0';
    d->ip.af = v6 ? AF_INET6 : AF_INET;
    if (inet_pton(d->ip.af, addr, &d->ip.u) != 1)
        return fail("bad IPv%d address '%s'", v6 ? 6 : 4, addr);
    d->name = arg;
    d->netns = at ? at + 1 : NULL;
    d->rx = -1;
    d->n = parse_ports(colon + 1, false, d->ports);
    for (int i = 0; i < d->n; i++) {
        if (d->ports[i].proto == P_SCTP && !d->netns)
            return fail("%s: SCTP needs the destination's namespace (@NETNS)", arg);
        if (is_icmp(d->ports[i].proto) && (d->ports[i].proto == P_ICMP6) != v6)
            return fail("%s: %s echo to an IPv%d address", arg,
                        proto_names[d->ports[i].proto], v6 ? 6 : 4);
    }
    return d->n < 0;
}

/* Raw SCTP sockets in the namespaces of the destinations probed over SCTP. */
static int open_receivers(struct plan *p, struct dest *d, int n_dst)
{
    for (int k = 0; k < n_dst; k++) {
        bool sctp = false;

        for (int i = 0; i < d[k].n; i++)
            sctp = sctp || d[k].ports[i].proto == P_SCTP;
        if (!sctp)
            continue;
        if (p->n_rx == TBY_ARRAY_SIZE(p->rx))
            return fail("more than %zu destinations probed over SCTP", p->n_rx);
        if (enter_netns(d[k].netns) != 0)
            return 1;
        p->rx[p->n_rx] = socket(d[k].ip.af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                IPPROTO_SCTP);
        if (p->rx[p->n_rx] < 0)
            return fail("raw SCTP socket in %s: %s", d[k].netns, strerror(errno));
        p->rx_af[p->n_rx] = d[k].ip.af;
        d[k].rx = (int)p->n_rx++;
    }
    return 0;
}

static int plan_dest(struct plan *p, const char *src, const struct dest *d)
{
    struct probe *v = realloc(p->v, (p->n + (size_t)d->n) * sizeof(*v));

    if (!v)
        return fail("out of memory");
    p->v = v;
    for (int i = 0; i < d->n; i++)
        v[p->n++] = (struct probe){ .src = src, .dst = d->name, .ip = d->ip,
                                    .port = d->ports[i], .rx = d->rx, .fd = -1 };
    return 0;
}

static uint16_t inet_csum(const void *data, size_t len)
{
    const uint8_t *b = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (len & 1)
        sum += (uint32_t)b[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* CRC32c as SCTP's common header carries it (RFC 9260 appendix A). */
static uint32_t crc32c(const uint8_t *b, size_t n)
{
    uint32_t c = 0xffffffff;

    for (size_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78 & -(c & 1));
    }
    return ~c;
}

static void put16(uint8_t *b, uint16_t v)
{
    v = htons(v);
    memcpy(b, &v, 2);
}

static void put32(uint8_t *b, uint32_t v)
{
    v = htonl(v);
    memcpy(b, &v, 4);
}

static uint32_t get32(const uint8_t *b)
{
    uint32_t v;

    memcpy(&v, b, 4);
    return ntohl(v);
}

/* An INIT chunk alone, verification tag 0: what conntrack takes for a new association. */
static int send_sctp_init(int fd, const struct probe *p)
{
    uint8_t pkt[32] = { 0 };
    uint32_t crc;

    put16(pkt, p->sport);
    put16(pkt + 2, p->port.num);
    pkt[12] = 1;                      /* INIT */
    put16(pkt + 14, 20);              /* chunk length */
    put32(pkt + 16, p->tag);          /* initiate tag */
    put32(pkt + 20, 65536);           /* a_rwnd */
    put16(pkt + 24, 1);               /* outbound streams */
    put16(pkt + 26, 1);               /* inbound streams */
    put32(pkt + 28, p->tag);          /* initial TSN */
    crc = crc32c(pkt, sizeof(pkt));
    for (int i = 0; i < 4; i++)       /* little endian, as the RFC's code stores it */
        pkt[8 + i] = (uint8_t)(crc >> (8 * i));
    return send(fd, pkt, sizeof(pkt), 0) < 0 ? -1 : 0;
}

static int send_echo6(int fd, const struct probe *p)
{
    struct {
        struct icmp6_hdr h;
        char data[8];
    } echo = { .h = { .icmp6_type = ICMP6_ECHO_REQUEST }, .data = "probe" };

    /* the kernel fills in ICMPv6's checksum (over its pseudo-header) */
    echo.h.icmp6_id = htons(p->sport);
    echo.h.icmp6_seq = htons(1);
    return send(fd, &echo, sizeof(echo), 0) < 0 ? -1 : 0;
}

static int send_echo(int fd, const struct probe *p)
{
    if (p->port.proto == P_ICMP6)
        return send_echo6(fd, p);

    struct {
        struct icmphdr h;
        char data[8];
    } echo = { .h = { .type = ICMP_ECHO }, .data = "probe" };

    echo.h.un.echo.id = htons(p->sport);
    echo.h.un.echo.sequence = htons(1);
    echo.h.checksum = inet_csum(&echo, sizeof(echo));
    return send(fd, &echo, sizeof(echo), 0) < 0 ? -1 : 0;
}

/* Opens one probe's socket in the current namespace and sends what it sends. */
static enum result probe_open(struct probe *p)
{
    static const int raw_proto[] = { [P_SCTP] = IPPROTO_SCTP, [P_ICMP] = IPPROTO_ICMP,
                                     [P_ICMP6] = IPPROTO_ICMPV6 };
    struct addr any = { .af = p->ip.af };
    struct sockaddr_storage src, dst;
    socklen_t src_len = sockaddr_of(&any, p->sport, &src);
    socklen_t dst_len = sockaddr_of(&p->ip, p->port.num, &dst);
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    int type = sock_type(p->port.proto), one = 1;
    _cleanup_close_ int fd = socket(p->ip.af, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                    type == SOCK_RAW ? raw_proto[p->port.proto] : 0);

    if (fd < 0)
        return ERROR;
    if (type == SOCK_RAW) {
        /* connected: the socket sees only what the destination sends back */
        dst_len = sockaddr_of(&p->ip, 0, &dst);
        if (connect(fd, (struct sockaddr *)&dst, dst_len) < 0)
            return ERROR;
        if ((p->port.proto == P_SCTP ? send_sctp_init : send_echo)(fd, p) < 0)
            return ERROR;
        /* the SCTP INIT's arrival is seen by the destination's receiver */
        if (is_icmp(p->port.proto))
            p->fd = TBY_STEAL_FD(fd);
        return PENDING;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&src, src_len) < 0)
        return ERROR;
    /* closed with a reset: no TIME_WAIT holding the source port for the next round */
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)) < 0)
        return ERROR;
    if (connect(fd, (struct sockaddr *)&dst, dst_len) < 0 && errno != EINPROGRESS)
        return errno == ECONNREFUSED ? REFUSED : ERROR;
    if (type == SOCK_DGRAM && send(fd, "probe\n", 6, 0) < 0)
        return ERROR;
    p->fd = TBY_STEAL_FD(fd);
    return PENDING;
}

/* Opens the probes of one source (v[0..n)) inside its namespace. */
static int open_source(struct probe *v, size_t n, const char *netns, uint16_t base,
                       size_t first_index)
{
    if (enter_netns(netns) != 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (base + i > 65535)
            return fail("source ports beyond 65535: lower -b");
        v[i].sport = (uint16_t)(base + i);
        /* the round (its base port) and the probe's place: no INIT of an earlier round
         * still on its way is taken for one of this round */
        v[i].tag = (uint32_t)base << 16 | (uint32_t)(first_index + i + 1);
        v[i].res = probe_open(&v[i]);
    }
    return 0;
}

static enum result settle_error(int e)
{
    if (e == 0)
        return OK;
    if (e == EAGAIN || e == EINPROGRESS)
        return PENDING;
    return e == ECONNREFUSED ? REFUSED : ERROR;
}

/* The echo reply among what arrived from the destination (an echo request it sends
 * us at the same time arrives too). */
static enum result settle_echo6(const struct probe *p)
{
    struct icmp6_hdr h;
    ssize_t len;

    /* an IPv6 raw socket gets the ICMPv6 message without the IP header */
    while ((len = recv(p->fd, &h, sizeof(h), 0)) >= 0)
        if ((size_t)len >= sizeof(h) && h.icmp6_type == ICMP6_ECHO_REPLY &&
            ntohs(h.icmp6_id) == p->sport)
            return OK;
    return settle_error(errno);
}

static enum result settle_echo(const struct probe *p)
{
    uint8_t buf[256];
    ssize_t len;

    if (p->port.proto == P_ICMP6)
        return settle_echo6(p);
    while ((len = recv(p->fd, buf, sizeof(buf), 0)) >= 0) {
        size_t ihl = (size_t)(buf[0] & 0xf) * 4;
        struct icmphdr h;

        if ((size_t)len < ihl + sizeof(h))
            continue;
        memcpy(&h, buf + ihl, sizeof(h));
        if (h.type == ICMP_ECHOREPLY && ntohs(h.un.echo.id) == p->sport)
            return OK;
    }
    return settle_error(errno);
}

/* What a readable (UDP, ICMP) or writable (TCP) probe socket says. */
static enum result probe_settle(const struct probe *p)
{
    char buf[64];
    int e = 0;
    socklen_t len = sizeof(e);

    if (is_icmp(p->port.proto))
        return settle_echo(p);
    if (p->port.proto == P_TCP) {
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            return ERROR;
        return settle_error(e);
    }
    if (recv(p->fd, buf, sizeof(buf), 0) >= 0)
        return OK;
    return settle_error(errno);
}

/* Whether an INIT that reached receiver rx was sent to probe q's address: IPv4's header
 * says; an IPv6 receiver sees no header, and is its destination's alone. */
static bool init_to(const struct plan *p, size_t rx, const uint8_t *buf, const struct probe *q)
{
    return p->rx_af[rx] == AF_INET6 || memcmp(&q->ip.u.v4, buf + 16, 4) == 0;
}

/* Marks the SCTP probes whose INIT reached receiver rx. */
static void drain_receiver(struct plan *p, size_t rx)
{
    uint8_t buf[256];
    ssize_t len;

    while ((len = recv(p->rx[rx], buf, sizeof(buf), 0)) >= 0) {
        size_t ihl = p->rx_af[rx] == AF_INET6 ? 0 : (size_t)(buf[0] & 0xf) * 4, i;
        uint32_t tag;

        if ((size_t)len < ihl + 32 || buf[ihl + 12] != 1)
            continue;
        tag = get32(buf + ihl + 16);
        i = (tag & 0xffff) - 1;
        if (i < p->n && p->v[i].tag == tag && p->v[i].port.proto == P_SCTP &&
            p->v[i].rx == (int)rx && init_to(p, rx, buf, &p->v[i]) &&
            get32(buf + ihl) == ((uint32_t)p->v[i].sport << 16 | p->v[i].port.num) &&
            p->v[i].res == PENDING)
            p->v[i].res = OK;
    }
}

/* Polls the pending probes until all have answered or the deadline passes. */
static int wait_all(struct plan *p, int timeout_ms)
{
    size_t cap = p->n + p->n_rx + 1;
    _cleanup_free_ struct pollfd *fds = calloc(cap, sizeof(*fds));
    _cleanup_free_ size_t *idx = calloc(cap, sizeof(*idx));
    int64_t deadline = now_ms() + timeout_ms;

    if (!fds || !idx)
        return fail("out of memory");
    for (;;) {
        size_t m = 0, sctp = 0;
        int64_t left = deadline - now_ms();

        for (size_t i = 0; i < p->n; i++) {
            if (p->v[i].res != PENDING)
                continue;
            if (p->v[i].port.proto == P_SCTP) {
                sctp++;
                continue;
            }
            fds[m] = (struct pollfd){ .fd = p->v[i].fd,
                                      .events = p->v[i].port.proto == P_TCP ? POLLOUT : POLLIN };
            idx[m++] = i;
        }
        if (m + sctp == 0 || left <= 0)
            break;
        for (size_t r = 0; sctp && r < p->n_rx; r++) {
            fds[m] = (struct pollfd){ .fd = p->rx[r], .events = POLLIN };
            idx[m++] = SIZE_MAX - r;
        }
        if (poll(fds, m, (int)left) < 0 && errno != EINTR)
            return fail("poll: %s", strerror(errno));
        for (size_t k = 0; k < m; k++) {
            if (!fds[k].revents)
                continue;
            if (idx[k] >= p->n)
                drain_receiver(p, SIZE_MAX - idx[k]);
            else
                p->v[idx[k]].res = probe_settle(&p->v[idx[k]]);
        }
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].res == PENDING)
            p->v[i].res = BLOCKED;
    return 0;
}

struct probe_opts {
    int timeout_ms;
    long base;
    int first;                /* argv index of the first source */
};

static int probe_options(int argc, char **argv, struct probe_opts *o)
{
    int c;

    *o = (struct probe_opts){ .timeout_ms = 400, .base = 20000 };
    optind = 1;
    while ((c = getopt(argc, argv, "+t:b:")) != -1) {
        if (c == 't')
            o->timeout_ms = atoi(optarg);
        else if (c == 'b')
            o->base = strtol(optarg, NULL, 10);
        else
            return 1;
    }
    if (o->timeout_ms <= 0 || o->base < 1024 || o->base > 65535)
        return fail("probe: bad -t or -b");
    o->first = optind;
    return 0;
}

/* Plans every source against every destination, opening each source's probes. */
static int plan_all(struct plan *p, char **srcs, int n_src, struct dest *d, int n_dst,
                    long base)
{
    if (open_receivers(p, d, n_dst) != 0)
        return 1;
    for (int s = 0; s < n_src; s++) {
        size_t first = p->n;
        char *netns = split_name(srcs[s]);

        if (!netns)
            return fail("want NAME=NETNS, got '%s'", srcs[s]);
        for (int k = 0; k < n_dst; k++)
            if (plan_dest(p, srcs[s], &d[k]) != 0)
                return 1;
        if (p->n >= 0xffff)
            return fail("more than %d probes", 0xffff - 1);
        if (open_source(p->v + first, p->n - first, netns, (uint16_t)base, first) != 0)
            return 1;
    }
    return 0;
}

static int probe(int argc, char **argv)
{
    struct probe_opts o;
    struct plan p = { 0 };
    _cleanup_free_ struct dest *d = NULL;
    int sep, n_dst, rc = 0;

    if (probe_options(argc, argv, &o) != 0)
        return 1;
    for (sep = o.first; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
        ;
    if (sep == o.first || sep >= argc - 1)
        return fail("probe: want SRC... -- DST...");
    n_dst = argc - sep - 1;
    if (!(d = calloc((size_t)n_dst, sizeof(*d))))
        return fail("out of memory");
    for (int k = 0; rc == 0 && k < n_dst; k++)
        rc = parse_dest(argv[sep + 1 + k], &d[k]);
    if (rc == 0)
        rc = plan_all(&p, argv + o.first, sep - o.first, d, n_dst, o.base);
    if (rc == 0)
        rc = wait_all(&p, o.timeout_ms);
    for (size_t i = 0; rc == 0 && i < p.n; i++)
        printf("%s %s %u/%s %s\n", p.v[i].src, p.v[i].dst, p.v[i].port.num,
               proto_names[p.v[i].port.proto], result_names[p.v[i].res]);
    plan_clear(&p);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "probe") == 0)
        return probe(argc - 1, argv + 1);
    return fail("usage: prober serve NETNS:PORT[,PORT...]... | prober probe [-t MS] "
                "[-b PORT] NAME=NETNS... -- NAME=IP:PORT/PROTO[,...][@NETNS]...");
}
