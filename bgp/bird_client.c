/* bird_client.c — one connection to BIRD's control socket: connect and greeting, a command
 * and its reply (with a time limit), reconnection with backoff, and the commands tabby
 * uses. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tabby/bird.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define READ_CHUNK 65536

struct tby_bird {
    char *path;
    int fd;
    int timeout_ms;
    char version[64];
    struct tby_buf in;      /* bytes read past the last complete line */
    unsigned backoff_ms;    /* 0: no failure since the last success */
    uint64_t retry_at_ms;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tby_bird_new(const char *socket_path, struct tby_bird **out, struct tby_error *err)
{
    struct tby_bird *b;

    if (!socket_path || strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return tby_error_set(err, -EINVAL, "BIRD socket path \"%s\" is too long (at most "
                             "107 bytes)", socket_path ? socket_path : "");
    b = calloc(1, sizeof(*b));
    if (!b || !(b->path = strdup(socket_path))) {
        free(b);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    b->fd = -1;
    b->timeout_ms = TBY_BIRD_DEFAULT_TIMEOUT_MS;
    *out = b;
    return 0;
}

void tby_bird_free(struct tby_bird *bird)
{
    if (!bird)
        return;
    tby_bird_disconnect(bird);
    tby_buf_clear(&bird->in);
    free(bird->path);
    free(bird);
}

const char *tby_bird_socket_path(const struct tby_bird *bird)
{
    return bird->path;
}

void tby_bird_set_timeout(struct tby_bird *bird, int timeout_ms)
{
    bird->timeout_ms = timeout_ms;
}

bool tby_bird_connected(const struct tby_bird *bird)
{
    return bird->fd >= 0;
}

const char *tby_bird_version(const struct tby_bird *bird)
{
    return bird->version;
}

void tby_bird_disconnect(struct tby_bird *bird)
{
    if (bird->fd >= 0)
        close(bird->fd);
    bird->fd = -1;
    tby_buf_reset(&bird->in);
}

/* ---- reading ------------------------------------------------------------------------------ */

static int fill(struct tby_bird *b, uint64_t deadline, struct tby_error *err)
{
    struct pollfd pfd = { .fd = b->fd, .events = POLLIN };
    uint64_t now = now_ms();
    ssize_t n;
    int r;

    if (tby_buf_reserve(&b->in, READ_CHUNK) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
    if (r < 0)
        return tby_error_set(err, -errno, "BIRD %s: %s", b->path, strerror(errno));
    if (r == 0)
        return tby_error_set(err, -ETIMEDOUT, "BIRD %s: no reply within %d ms", b->path,
                             b->timeout_ms);
    n = tby_buf_read_fd(&b->in, b->fd);
    if (n < 0)
        return tby_error_set(err, (int)n, "BIRD %s: %s", b->path, strerror((int)-n));
    if (n == 0)
        return tby_error_set(err, -ENOTCONN, "BIRD %s: connection closed", b->path);
    return 0;
}

/* Feeds complete lines to the reply; keeps a partial last line for the next read. */
static int feed_lines(struct tby_bird *b, struct tby_bird_reply *reply, struct tby_error *err)
{
    const char *text = b->in.data;
    size_t pos = 0;
    int r = 0;

    while (r == 0 && pos < b->in.len) {
        const char *nl = memchr(text + pos, '\n', b->in.len - pos);

        if (!nl)
            break;
        r = tby_bird_reply_feed(reply, text + pos, (size_t)(nl - (text + pos)), err);
        pos = (size_t)(nl - text) + 1;
    }
    tby_buf_consume(&b->in, pos);
    if (r == 0 && b->in.len > TBY_BIRD_LINE_MAX)
        r = tby_error_set(err, -EPROTO, "BIRD reply: a line longer than %d bytes",
                          TBY_BIRD_LINE_MAX);
    return r;
}

/* Any failure leaves the connection in an unknown state: close it. */
static int read_reply(struct tby_bird *b, struct tby_bird_reply *reply, struct tby_error *err)
{
    uint64_t deadline = now_ms() + (uint64_t)b->timeout_ms;
    int r;

    memset(reply, 0, sizeof(*reply));
    for (;;) {
        r = feed_lines(b, reply, err);
        if (r == 1)
            return 0;
        if (r == 0)
            r = fill(b, deadline, err);
        if (r < 0) {
            tby_bird_reply_clear(reply);
            tby_bird_disconnect(b);
            return r;
        }
    }
}

/* ---- connecting -------------------------------------------------------------------------- */

static int read_greeting(struct tby_bird *b, struct tby_error *err)
{
    struct tby_bird_reply reply;
    const char *msg;
    int r = read_reply(b, &reply, err);

    if (r < 0)
        return r;
    msg = tby_bird_reply_message(&reply);
    if (reply.code != 1) {
        tby_error_set(err, -EPROTO, "BIRD %s: unexpected greeting %04d %s", b->path,
                      reply.code, msg);
        tby_bird_reply_clear(&reply);
        tby_bird_disconnect(b);
        return -EPROTO;
    }
    /* "BIRD 2.0.12 ready." */
    if (sscanf(msg, "BIRD %63s", b->version) != 1)
        b->version[0] = '\0';
    tby_bird_reply_clear(&reply);
    return 0;
}

int tby_bird_connect(struct tby_bird *bird, struct tby_error *err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    tby_bird_disconnect(bird);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", bird->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tby_error_set(err, -errno, "BIRD %s: socket: %s", bird->path, strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;

        close(fd);
        return tby_error_set(err, -e, "BIRD %s: %s", bird->path, strerror(e));
    }
    bird->fd = fd;
    return read_greeting(bird, err);
}

int tby_bird_ensure(struct tby_bird *bird, uint64_t now, struct tby_error *err)
{
    int r;

    if (bird->fd >= 0)
        return 0;
    if (bird->backoff_ms && now < bird->retry_at_ms)
        return tby_error_set(err, -EAGAIN, "BIRD %s: next attempt in %llu ms", bird->path,
                             (unsigned long long)(bird->retry_at_ms - now));
    r = tby_bird_connect(bird, err);
    if (r == 0) {
        bird->backoff_ms = 0;
        return 0;
    }
    bird->backoff_ms = bird->backoff_ms ? bird->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (bird->backoff_ms > BACKOFF_MAX_MS)
        bird->backoff_ms = BACKOFF_MAX_MS;
    bird->retry_at_ms = now + bird->backoff_ms;
    return r;
}

uint64_t tby_bird_retry_at(const struct tby_bird *bird)
{
    return bird->backoff_ms ? bird->retry_at_ms : 0;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int send_all(struct tby_bird *b, const char *data, size_t len, struct tby_error *err)
{
    while (len) {
        ssize_t n = send(b->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            tby_bird_disconnect(b);
            return tby_error_set(err, -e, "BIRD %s: %s", b->path, strerror(e));
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int tby_bird_command(struct tby_bird *bird, const char *command, struct tby_bird_reply *out,
                     struct tby_error *err)
{
    _cleanup_free_ char *line = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if (strchr(command, '\n'))
        return tby_error_set(err, -EINVAL, "BIRD command holds a newline");
    if (bird->fd < 0 && (r = tby_bird_connect(bird, err)) < 0)
        return r;
    if (asprintf(&line, "%s\n", command) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = send_all(bird, line, strlen(line), err);
    if (r == 0)
        r = read_reply(bird, out, err);
    if (r < 0)
        return r;
    if (tby_bird_code_is_error(out->code))
        return tby_error_set(err, -EREMOTEIO, "BIRD: %s: %s", command,
                             tby_bird_reply_message(out));
    return 0;
}

int tby_bird_show_status(struct tby_bird *bird, struct tby_bird_status *out,
                         struct tby_error *err)
{
    struct tby_bird_reply reply;
    int r = tby_bird_command(bird, "show status", &reply, err);

    if (r == 0)
        r = tby_bird_status_parse(&reply, out, err);
    tby_bird_reply_clear(&reply);
    return r;
}

int tby_bird_show_protocols(struct tby_bird *bird, struct tby_bird_protocols *out,
                            struct tby_error *err)
{
    struct tby_bird_reply reply;
    int r = tby_bird_command(bird, "show protocols all", &reply, err);

    if (r == 0)
        r = tby_bird_protocols_parse(&reply, out, err);
    tby_bird_reply_clear(&reply);
    return r;
}

int tby_bird_route_count(struct tby_bird *bird, const char *args, uint64_t *routes,
                         struct tby_error *err)
{
    struct tby_bird_reply reply;
    _cleanup_free_ char *cmd = NULL;
    int r;

    if (asprintf(&cmd, "show route %s%scount", args ? args : "", args ? " " : "") < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_bird_command(bird, cmd, &reply, err);
    if (r == 0)
        r = tby_bird_route_count_parse(&reply, routes, err);
    tby_bird_reply_clear(&reply);
    return r;
}

/* BIRD's strings have no escapes: a path with '"' cannot be named. */
static int configure_cmd(const char *verb, const char *path, char **out, struct tby_error *err)
{
    if (strpbrk(path, "\"\n\\"))
        return tby_error_set(err, -EINVAL, "%s: BIRD cannot be given a path with '\"', '\\' "
                             "or a newline", path);
    if (asprintf(out, "%s \"%s\"", verb, path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Runs `VERB "PATH"`; a reply code other than those in `ok` (ended by 0) is an error. */
static int configure_run(struct tby_bird *bird, const char *verb, const char *path,
                         const int *ok, struct tby_error *err)
{
    struct tby_bird_reply reply;
    _cleanup_free_ char *cmd = NULL;
    bool accepted = false;
    int r = configure_cmd(verb, path, &cmd, err);

    if (r < 0)
        return r;
    r = tby_bird_command(bird, cmd, &reply, err);
    for (const int *c = ok; *c && r == 0; c++)
        accepted = accepted || reply.code == *c;
    if (r == -EREMOTEIO)
        r = tby_error_set(err, -EINVAL, "BIRD refused the configuration: %s",
                          tby_bird_reply_message(&reply));
    else if (r == 0 && !accepted)
        r = tby_error_set(err, -EAGAIN, "BIRD: %s: unexpected reply %04d %s", verb,
                          reply.code, tby_bird_reply_message(&reply));
    tby_bird_reply_clear(&reply);
    return r;
}

int tby_bird_configure_check(struct tby_bird *bird, const char *path, struct tby_error *err)
{
    static const int ok[] = { 20, 0 }; /* Configuration OK */

    return configure_run(bird, "configure check", path, ok, err);
}

int tby_bird_configure(struct tby_bird *bird, const char *path, struct tby_error *err)
{
    /* 3 reconfigured, 4 in progress (protocols shutting down), 5 queued after one in
     * progress: each means the new file will be in force. */
    static const int ok[] = { 3, 4, 5, 0 };

    return configure_run(bird, "configure", path, ok, err);
}
