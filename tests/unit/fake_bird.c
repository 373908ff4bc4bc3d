/* fake_bird.c — the fake BIRD of fake_bird.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_bird.h"

static const char *answer(struct fake *f, const char *cmd)
{
    if (strcmp(cmd, "show status") == 0)
        return "1000-BIRD 2.0.12\n1011-Router ID is 10.0.0.1\n0013 Daemon is up and running\n";
    if (strncmp(cmd, "configure check ", 16) == 0)
        return f->reject_config ? "0002-Reading configuration\n8002 x.conf:3:1 syntax error\n"
                                : "0002-Reading configuration\n0020 Configuration OK\n";
    if (strncmp(cmd, "configure ", 10) == 0)
        return "0002-Reading configuration\n0003 Reconfigured\n";
    if (strncmp(cmd, "show route", 10) == 0)
        return "1007-7 of 7 routes for 7 networks in table master4\n0000 \n";
    return "9001 syntax error, unexpected CF_SYM_UNDEFINED\n";
}

static void serve(struct fake *f, int fd)
{
    char buf[1024];
    size_t len = 0;
    ssize_t n;

    if (f->mode == FAKE_BAD_GREETING) {
        (void)!write(fd, "hello\n", 6);
        return;
    }
    (void)!write(fd, "0001 BIRD 2.0.12 ready.\n", 24);
    while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        char *nl;

        len += (size_t)n;
        buf[len] = '\0';
        while ((nl = strchr(buf, '\n'))) {
            const char *reply;

            *nl = '\0';
            snprintf(f->last, sizeof(f->last), "%s", buf);
            __atomic_add_fetch(&f->commands, 1, __ATOMIC_SEQ_CST);
            reply = answer(f, buf);
            if (f->mode == FAKE_CLOSE_MID_REPLY) {
                (void)!write(fd, "1000-partial\n", 13);
                return;
            }
            if (f->mode != FAKE_SILENT)
                (void)!write(fd, reply, strlen(reply));
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
    }
}

struct conn_arg {
    struct fake *f;
    int fd;
};

static void *conn_main(void *arg)
{
    struct conn_arg *c = arg;

    serve(c->f, c->fd);
    free(c);
    return NULL;
}

/* Serves fd on a thread of its own; fake_stop ends it. */
static void serve_apart(struct fake *f, int fd)
{
    struct conn_arg *c = malloc(sizeof(*c));

    if (!c || f->n_conns == 8) {
        free(c);
        close(fd);
        return;
    }
    *c = (struct conn_arg){ f, fd };
    f->conns[f->n_conns] = fd;
    if (pthread_create(&f->conn_threads[f->n_conns], NULL, conn_main, c) != 0) {
        free(c);
        close(fd);
        return;
    }
    f->n_conns++;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd;

    while ((fd = accept(f->listen_fd, NULL, NULL)) >= 0) {
        __atomic_add_fetch(&f->connections, 1, __ATOMIC_SEQ_CST);
        if (f->concurrent) {
            serve_apart(f, fd);
            continue;
        }
        __atomic_store_n(&f->conn_fd, fd, __ATOMIC_SEQ_CST);
        serve(f, fd);
        __atomic_store_n(&f->conn_fd, -1, __ATOMIC_SEQ_CST);
        close(fd);
    }
    return NULL;
}

void fake_listen(struct fake *f)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    f->conn_fd = -1;
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->listen_fd >= 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(f->listen_fd, 4), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void start(struct fake *f, enum fake_mode mode, bool concurrent)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/tby-bird-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/bird.ctl", f->dir);
    f->mode = mode;
    f->concurrent = concurrent;
    fake_listen(f);
}

void fake_start(struct fake *f, enum fake_mode mode)
{
    start(f, mode, false);
}

void fake_start_concurrent(struct fake *f, enum fake_mode mode)
{
    start(f, mode, true);
}

void fake_stop(struct fake *f)
{
    int conn = __atomic_load_n(&f->conn_fd, __ATOMIC_SEQ_CST);

    shutdown(f->listen_fd, SHUT_RDWR);
    if (conn >= 0)
        shutdown(conn, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    for (int i = 0; i < f->n_conns; i++) {
        shutdown(f->conns[i], SHUT_RDWR);
        pthread_join(f->conn_threads[i], NULL);
        close(f->conns[i]);
    }
    f->n_conns = 0;
    close(f->listen_fd);
    unlink(f->path);
}

void fake_remove(struct fake *f)
{
    char cmd[128];

    fake_stop(f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}
