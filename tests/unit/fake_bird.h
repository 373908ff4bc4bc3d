/* fake_bird.h — a fake BIRD for the unit tests: a thread serving BIRD's control-socket
 * protocol on a unix socket in a scratch folder, with scripted answers and failure modes
 * (silence, a connection closed mid-reply, a bad greeting, refused configurations). One
 * connection at a time, unless `concurrent` is set before fake_listen (tabby-node's BGP
 * part holds two: the driver's and the one for `show protocols`). */
#ifndef TABBY_TEST_FAKE_BIRD_H
#define TABBY_TEST_FAKE_BIRD_H

#include <pthread.h>
#include <stdbool.h>

enum fake_mode { FAKE_NORMAL, FAKE_SILENT, FAKE_CLOSE_MID_REPLY, FAKE_BAD_GREETING };

struct fake {
    char dir[64];
    char path[96];
    int listen_fd;
    int conn_fd;            /* the connection being served, -1 between them */
    pthread_t thread;
    bool concurrent;        /* each connection served by a thread of its own */
    int conns[8];           /* their sockets, closed by fake_stop */
    pthread_t conn_threads[8];
    int n_conns;
    enum fake_mode mode;
    bool reject_config;     /* configure check answers 8002 */
    int connections;
    int commands;
    char last[1024];
};

/* Makes the scratch folder and starts serving on <folder>/bird.ctl. */
void fake_start(struct fake *f, enum fake_mode mode);
/* The same, each connection served at once by a thread of its own (at most 8). */
void fake_start_concurrent(struct fake *f, enum fake_mode mode);
/* Starts serving again on the same path (BIRD is back). */
void fake_listen(struct fake *f);
/* Stops serving; the socket file goes, as when BIRD exits. */
void fake_stop(struct fake *f);
/* Stops and removes the scratch folder. */
void fake_remove(struct fake *f);

#endif
